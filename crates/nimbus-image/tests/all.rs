//! Integration tests of the image service: the real router against a fresh
//! database, real stores and the real format inspector, with hostile files
//! built by the tests (qemu-img or by hand).

mod api;
mod metadefs;
mod s3;
mod security;
mod support;
mod web_download;
