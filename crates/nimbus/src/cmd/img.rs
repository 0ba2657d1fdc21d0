//! `nimbus img` (being built; see the issue tracker).

use std::process::ExitCode;

/// Subcommands of `nimbus img`.
#[derive(clap::Subcommand)]
pub enum Command {}

/// Runs `nimbus img`.
pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {}
}
