//! SQL, and only SQL: one file per resource. Statements use `$n`
//! placeholders and the types that mean the same on SQLite and PostgreSQL
//! (see `nimbus-db`). Status changes that must not race are conditional
//! updates (`... WHERE status IN (...)`): the database decides who wins.

pub mod attachments;
pub mod quotas;
pub mod snapshots;
pub mod types;
pub mod volumes;

use std::collections::BTreeMap;

use crate::error::VolumeError;

/// A JSON object column as a map.
fn map_from(text: &str, what: &str) -> Result<BTreeMap<String, String>, VolumeError> {
    serde_json::from_str(text).map_err(|_| VolumeError::corrupt(format!("{what} {text}")))
}

/// A map as a JSON object column.
fn map_to(map: &BTreeMap<String, String>) -> String {
    serde_json::to_string(map).unwrap_or_else(|_| "{}".into())
}

/// `$first, $first+1, ...` for `n` values.
fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}
