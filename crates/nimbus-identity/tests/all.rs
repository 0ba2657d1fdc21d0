//! Identity through its router, in-process, on a fresh SQLite database.

mod app_creds;
mod ec2;
mod support;
