//! `nimbus serve` (being built; see the issue tracker).

use std::process::ExitCode;

/// Arguments of `nimbus serve`.
#[derive(clap::Args)]
pub struct Args {}

/// Runs `nimbus serve`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`nimbus serve` is not built yet")
}
