//! Integration tests of the network service: the real router against a
//! fresh database (SQLite, and PostgreSQL when configured).

mod bulk;
mod compute;
mod ipam;
mod networks;
mod routers;
mod support;
