//! `nimbus inject` (being built; see the issue tracker).

use std::process::ExitCode;

/// Arguments of `nimbus inject`.
#[derive(clap::Args)]
pub struct Args {}

/// Runs `nimbus inject`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`nimbus inject` is not built yet")
}
