//! Integration tests of nimbus-disk against the real qemu-img / qemu-io.

mod support;

mod chain;
mod interop;
mod readonly;
mod security;
