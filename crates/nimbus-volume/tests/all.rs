//! The volume service's one integration-test binary.

mod api;
mod attachments;
mod iscsi;
mod legacy_attach;
mod lists;
mod snapshot_metadata;
mod support;
