//! `nimbus configdrive` (being built; see the issue tracker).

use std::process::ExitCode;

/// Subcommands of `nimbus configdrive`.
#[derive(clap::Subcommand)]
pub enum Command {}

/// Runs `nimbus configdrive`.
pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {}
}
