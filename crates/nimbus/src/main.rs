//! The `nimbus` binary: every OpenStack service on one port, and the disk
//! tools (`img`, `inject`, `configdrive`) that the services use in-process.

mod cmd;
mod config;
mod serve;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "nimbus",
    version,
    about = "An OpenStack-compatible compute cloud in one binary"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve every OpenStack API (identity, image, compute, volume, network) on one address.
    Serve(cmd::serve::Args),
    /// Inspect, create, resize, convert and check disk images (a qemu-img for clouds).
    #[command(subcommand)]
    Img(cmd::img::Command),
    /// Inject keys, passwords, metadata and files into a guest disk without mounting it.
    Inject(cmd::inject::Args),
    /// Build config drives and the metadata tree they carry.
    #[command(subcommand)]
    Configdrive(cmd::configdrive::Command),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => cmd::serve::run(args),
        Command::Img(command) => cmd::img::run(command),
        Command::Inject(args) => cmd::inject::run(args),
        Command::Configdrive(command) => cmd::configdrive::run(command),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("nimbus: {err:#}");
            ExitCode::FAILURE
        }
    }
}
