//! End-to-end tests: the real `nimbus` binary driven by real clients and tools.
//! One module per area; `support` holds what they share.

mod compute;
mod compute_proxies;
mod compute_resources;
mod configdrive;
mod identity;
mod identity_credentials;
mod image;
mod image_metadefs;
mod img;
mod inject;
mod network;
mod server_extras;
mod server_network;
mod server_volume;
mod support;
mod volume;
