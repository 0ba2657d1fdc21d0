//! The compute service (Nova v2.1 at `/compute`): the API, the server state
//! machine, the build pipeline with its `_base` image cache, and the QEMU
//! driver that runs one `qemu-system-x86_64` per instance.

pub mod api;
pub mod app;
pub mod build;
pub mod config;
pub mod driver;
pub mod error;
pub mod store;

pub use api::router;
pub use app::{ComputeService, Peers};
pub use config::ComputeConfig;
