//! The volume service's one integration-test binary.

mod api;
mod attachments;
mod iscsi;
mod support;
