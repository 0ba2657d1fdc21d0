//! Domain types: volumes and their status machine, snapshots, attachments,
//! volume types.

use std::collections::BTreeMap;

use serde_json::Value;

macro_rules! wire_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vdoc])* $variant),+ }
        impl $name {
            /// The wire name.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
            /// Parses a wire name.
            pub fn parse(text: &str) -> Option<$name> {
                match text { $($text => Some($name::$variant),)+ _ => None }
            }
        }
    };
}

wire_enum! {
    /// Where a volume is in its life (`cinder/objects/fields.py`).
    VolumeStatus {
        /// The backend is creating it.
        Creating = "creating",
        /// Ready to attach.
        Available = "available",
        /// Claimed by an attachment without a connector yet.
        Reserved = "reserved",
        /// A connector was given; the host is connecting.
        Attaching = "attaching",
        /// Attached.
        InUse = "in-use",
        /// Being detached.
        Detaching = "detaching",
        /// Being deleted.
        Deleting = "deleting",
        /// Creation failed.
        Error = "error",
        /// Deletion failed.
        ErrorDeleting = "error_deleting",
        /// Being grown.
        Extending = "extending",
        /// Growing failed.
        ErrorExtending = "error_extending",
        /// Image data is being written into it.
        Downloading = "downloading",
        /// Its data is being uploaded to the image service.
        Uploading = "uploading",
    }
}

wire_enum! {
    /// An attachment's state (`VolumeAttachStatus`).
    AttachStatus {
        /// Claimed, no connector yet.
        Reserved = "reserved",
        /// Connection info handed out, waiting for `os-complete`.
        Attaching = "attaching",
        /// The host completed the attach.
        Attached = "attached",
        /// Detached (volumes only).
        Detached = "detached",
        /// Being detached.
        Detaching = "detaching",
        /// The connection could not be made.
        ErrorAttaching = "error_attaching",
    }
}

wire_enum! {
    /// Where a snapshot is in its life.
    SnapshotStatus {
        /// Being copied.
        Creating = "creating",
        /// Usable.
        Available = "available",
        /// Being deleted.
        Deleting = "deleting",
        /// Creation failed.
        Error = "error",
        /// Deletion failed.
        ErrorDeleting = "error_deleting",
    }
}

/// A volume.
#[derive(Debug, Clone, PartialEq)]
pub struct Volume {
    /// UUID.
    pub id: String,
    /// Owning project.
    pub project_id: String,
    /// Creating user.
    pub user_id: String,
    /// Display name.
    pub name: Option<String>,
    /// Display description.
    pub description: Option<String>,
    /// Size in GiB.
    pub size: i64,
    /// Status.
    pub status: VolumeStatus,
    /// `attached` / `detached` / `reserved` / `attaching`.
    pub attach_status: AttachStatus,
    /// Volume type id.
    pub volume_type_id: String,
    /// Availability zone.
    pub availability_zone: String,
    /// Whether it may be booted from.
    pub bootable: bool,
    /// Snapshot it was created from.
    pub snapshot_id: Option<String>,
    /// Volume it was cloned from.
    pub source_volid: Option<String>,
    /// User metadata.
    pub metadata: BTreeMap<String, String>,
    /// Properties of the image it was created from (`volume_image_metadata`).
    pub image_metadata: Option<BTreeMap<String, String>>,
    /// Cinder's admin metadata (`readonly`, `attached_mode`); the two keys
    /// show in the volume's `metadata` (see [`Volume::visible_metadata`]).
    pub admin_metadata: BTreeMap<String, String>,
    /// Where the backend exported it (e.g. `127.0.0.1:3260,1 iqn... 1`).
    pub provider_location: Option<String>,
    /// Backend credentials (`CHAP user password`); never shown to users.
    pub provider_auth: Option<String>,
    /// Microseconds since the epoch.
    pub created_at: i64,
    /// Microseconds since the epoch.
    pub updated_at: i64,
}

impl Volume {
    /// The size in bytes.
    pub fn size_bytes(&self) -> u64 {
        u64::try_from(self.size).unwrap_or(0) << 30
    }

    /// Whether `os-update_readonly_flag` made it read-only.
    pub fn readonly(&self) -> bool {
        self.admin_metadata
            .get(READONLY)
            .is_some_and(|v| v == "True")
    }

    /// The user metadata with the admin keys users may see laid over it, as
    /// Cinder's `add_visible_admin_metadata` builds the `metadata` of views.
    pub fn visible_metadata(&self) -> BTreeMap<String, String> {
        let mut all = self.metadata.clone();
        for key in [READONLY, ATTACHED_MODE] {
            if let Some(v) = self.admin_metadata.get(key) {
                all.insert(key.to_string(), v.clone());
            }
        }
        all
    }
}

/// Admin metadata key: `"True"` or `"False"`.
pub const READONLY: &str = "readonly";
/// Admin metadata key: the mode (`rw`/`ro`) of the current attachment.
pub const ATTACHED_MODE: &str = "attached_mode";

/// A snapshot of a volume.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// UUID.
    pub id: String,
    /// Owning project.
    pub project_id: String,
    /// Creating user.
    pub user_id: String,
    /// The volume it copies.
    pub volume_id: String,
    /// Display name.
    pub name: Option<String>,
    /// Display description.
    pub description: Option<String>,
    /// Status.
    pub status: SnapshotStatus,
    /// Size in GiB (the volume's when taken).
    pub size: i64,
    /// User metadata.
    pub metadata: BTreeMap<String, String>,
    /// Microseconds since the epoch.
    pub created_at: i64,
    /// Microseconds since the epoch.
    pub updated_at: i64,
}

/// An attachment of a volume to an instance.
#[derive(Debug, Clone, PartialEq)]
pub struct Attachment {
    /// UUID.
    pub id: String,
    /// The volume.
    pub volume_id: String,
    /// The volume's project.
    pub project_id: String,
    /// The instance it is attached to.
    pub instance_uuid: Option<String>,
    /// State.
    pub attach_status: AttachStatus,
    /// `rw` or `ro`.
    pub attach_mode: String,
    /// The host connector the connection was made for.
    pub connector: Option<Value>,
    /// What the host needs to connect (`driver_volume_type`, `data`).
    pub connection_info: Option<Value>,
    /// Device name in the guest, set on completion.
    pub mountpoint: Option<String>,
    /// The host an `os-attach` named (legacy API); else the connector's.
    pub attached_host: Option<String>,
    /// When the attach completed.
    pub attached_at: Option<i64>,
    /// When it was detached.
    pub detached_at: Option<i64>,
    /// Microseconds since the epoch.
    pub created_at: i64,
}

/// A volume type.
#[derive(Debug, Clone, PartialEq)]
pub struct VolumeType {
    /// UUID.
    pub id: String,
    /// Unique name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Visible to every project.
    pub is_public: bool,
    /// Backend hints.
    pub extra_specs: BTreeMap<String, String>,
}

/// Name of the type every volume without one gets.
pub const DEFAULT_TYPE: &str = "__DEFAULT__";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip() {
        for s in ["creating", "in-use", "error_deleting", "uploading"] {
            assert_eq!(VolumeStatus::parse(s).unwrap().as_str(), s);
        }
        assert_eq!(VolumeStatus::parse("in_use"), None);
        assert_eq!(
            AttachStatus::parse("attached"),
            Some(AttachStatus::Attached)
        );
    }
}
