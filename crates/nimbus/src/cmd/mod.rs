//! One module per subcommand; each exposes its clap arguments and `run`.

pub mod configdrive;
pub mod img;
pub mod inject;
pub mod serve;
