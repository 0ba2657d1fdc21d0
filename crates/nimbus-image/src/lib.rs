//! Image service: Glance v2 at `/image`. Image metadata, members and tags
//! in the database; data hashed and inspected in one streaming pass, then
//! kept in a store (local files or S3). [`client`] is the in-process API the
//! compute service uses to fetch metadata and data.

pub mod api;
pub mod app;
pub mod backend;
pub mod client;
pub mod config;
pub mod error;
pub mod inspect;
pub mod pipeline;
pub mod store;

pub use api::router;
pub use app::ImageService;
pub use config::ImageConfig;
