//! Block storage: Cinder v3 at `/volume`. Volumes, volume types, snapshots,
//! attachments, quotas and limits in the database; volume data behind a
//! [`backend::Driver`] shaped like Cinder's (`local` files, or the same files
//! exported by `tgtd` over iSCSI). [`VolumeService`] is also the in-process
//! API the compute service attaches volumes through.

pub mod api;
pub mod app;
pub mod backend;
pub mod config;
pub mod error;
pub mod store;

pub use api::router;
pub use app::VolumeService;
pub use app::model::{AttachStatus, Attachment, Snapshot, Volume, VolumeStatus, VolumeType};
pub use config::{VolumeConfig, VolumeDriverKind};
