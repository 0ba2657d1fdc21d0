//! SQL, and only SQL: one file per resource. Statements use `$n`
//! placeholders and the types that mean the same on SQLite and PostgreSQL
//! (see `nimbus-db`).

pub mod bdms;
pub mod extras;
pub mod flavors;
pub mod instance_actions;
pub mod instance_networks;
pub mod instances;
pub mod keypairs;
pub mod quotas;
pub mod server_groups;
pub mod server_passwords;
pub mod services;
pub mod tags;
pub mod usage;
