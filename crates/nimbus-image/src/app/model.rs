//! The image records as the logic layer sees them, and Glance's status machine.

use std::collections::BTreeMap;

/// Glance v2 image status (`glance/domain/__init__.py`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// Record exists, no data yet.
    Queued,
    /// Data is being uploaded.
    Saving,
    /// Data is stored and served.
    Active,
    /// Legacy: an upload failed (Glance v2 returns failed uploads to queued).
    Killed,
    /// Data is being staged for an interoperable import.
    Uploading,
    /// Staged data is being imported into a store.
    Importing,
    /// Data download is forbidden to non-admins.
    Deactivated,
    /// Scheduled for deletion.
    PendingDelete,
    /// Deleted.
    Deleted,
}

impl Status {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::Saving => "saving",
            Status::Active => "active",
            Status::Killed => "killed",
            Status::Uploading => "uploading",
            Status::Importing => "importing",
            Status::Deactivated => "deactivated",
            Status::PendingDelete => "pending_delete",
            Status::Deleted => "deleted",
        }
    }

    /// Parses a wire name.
    pub fn parse(text: &str) -> Option<Status> {
        Some(match text {
            "queued" => Status::Queued,
            "saving" => Status::Saving,
            "active" => Status::Active,
            "killed" => Status::Killed,
            "uploading" => Status::Uploading,
            "importing" => Status::Importing,
            "deactivated" => Status::Deactivated,
            "pending_delete" => Status::PendingDelete,
            "deleted" => Status::Deleted,
            _ => return None,
        })
    }

    /// Whether Glance's state machine allows `self -> to`
    /// (`glance/domain/__init__.py`, `Image._validate_status_transition` and
    /// the upload/import flows). A failed upload goes back to queued.
    pub fn may_become(self, to: Status) -> bool {
        use Status::*;
        matches!(
            (self, to),
            (Queued, Saving)
                | (Queued, Uploading)
                | (Queued, Importing)
                | (Queued, Active)
                | (Saving, Active)
                | (Saving, Queued)
                | (Saving, Killed)
                | (Uploading, Importing)
                | (Uploading, Queued)
                | (Importing, Active)
                | (Importing, Queued)
                | (Importing, Uploading)
                | (Active, Deactivated)
                | (Deactivated, Active)
                | (
                    Queued | Saving | Active | Killed | Uploading | Importing | Deactivated,
                    PendingDelete | Deleted
                )
                | (PendingDelete, Deleted)
        )
    }
}

/// Who may see an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Visibility {
    /// Everyone.
    Public,
    /// The owner only.
    Private,
    /// The owner and accepted members.
    Shared,
    /// Everyone who asks for it; listed only on request.
    Community,
}

impl Visibility {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Public => "public",
            Visibility::Private => "private",
            Visibility::Shared => "shared",
            Visibility::Community => "community",
        }
    }

    /// Parses a wire name.
    pub fn parse(text: &str) -> Option<Visibility> {
        Some(match text {
            "public" => Visibility::Public,
            "private" => Visibility::Private,
            "shared" => Visibility::Shared,
            "community" => Visibility::Community,
            _ => return None,
        })
    }
}

/// Disk formats Glance accepts (`disk_formats` in glance-api.conf).
pub const DISK_FORMATS: [&str; 11] = [
    "ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop",
];

/// Container formats Glance accepts (`container_formats`).
pub const CONTAINER_FORMATS: [&str; 8] = [
    "ami",
    "ari",
    "aki",
    "bare",
    "ovf",
    "ova",
    "docker",
    "compressed",
];

/// An image record with its properties and tags.
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    /// UUID.
    pub id: String,
    /// Display name (not unique).
    pub name: Option<String>,
    /// Where the image is in its life.
    pub status: Status,
    /// Who may see it.
    pub visibility: Visibility,
    /// Owning project.
    pub owner: Option<String>,
    /// Declared disk format.
    pub disk_format: Option<String>,
    /// Declared container format.
    pub container_format: Option<String>,
    /// Bytes of data.
    pub size: Option<i64>,
    /// Size of the disk the data describes, from the format inspector.
    pub virtual_size: Option<i64>,
    /// MD5 of the data (legacy `checksum`).
    pub checksum: Option<String>,
    /// `sha512` once data is stored.
    pub os_hash_algo: Option<String>,
    /// Hex digest of the data under `os_hash_algo`.
    pub os_hash_value: Option<String>,
    /// Minimum root disk in GiB.
    pub min_disk: i64,
    /// Minimum RAM in MiB.
    pub min_ram: i64,
    /// Protected images cannot be deleted.
    pub protected: bool,
    /// Hidden from default listings.
    pub os_hidden: bool,
    /// Store location of the data (`file://...`, `s3://...`); never shown to non-admins.
    pub location: Option<String>,
    /// Which store holds the data (`file`, `s3`).
    pub store: Option<String>,
    /// Microseconds since the epoch.
    pub created_at: i64,
    /// Microseconds since the epoch.
    pub updated_at: i64,
    /// Custom properties (string values).
    pub properties: BTreeMap<String, String>,
    /// Tags, sorted.
    pub tags: Vec<String>,
}

/// A member's answer to a share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberStatus {
    /// Not answered yet.
    Pending,
    /// Shown in the member's listings.
    Accepted,
    /// Hidden from the member's listings.
    Rejected,
}

impl MemberStatus {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            MemberStatus::Pending => "pending",
            MemberStatus::Accepted => "accepted",
            MemberStatus::Rejected => "rejected",
        }
    }

    /// Parses a wire name.
    pub fn parse(text: &str) -> Option<MemberStatus> {
        Some(match text {
            "pending" => MemberStatus::Pending,
            "accepted" => MemberStatus::Accepted,
            "rejected" => MemberStatus::Rejected,
            _ => return None,
        })
    }
}

/// A project an image is shared with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The shared image.
    pub image_id: String,
    /// The member project.
    pub member_id: String,
    /// Its answer.
    pub status: MemberStatus,
    /// Microseconds since the epoch.
    pub created_at: i64,
    /// Microseconds since the epoch.
    pub updated_at: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in [
            Status::Queued,
            Status::Saving,
            Status::Active,
            Status::Killed,
            Status::Uploading,
            Status::Importing,
            Status::Deactivated,
            Status::PendingDelete,
            Status::Deleted,
        ] {
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
        assert_eq!(Status::parse("Active"), None);
        assert_eq!(Visibility::parse("community"), Some(Visibility::Community));
        assert_eq!(
            MemberStatus::parse("accepted"),
            Some(MemberStatus::Accepted)
        );
    }

    #[test]
    fn status_machine_follows_glance() {
        assert!(Status::Queued.may_become(Status::Saving));
        assert!(Status::Saving.may_become(Status::Queued));
        assert!(Status::Saving.may_become(Status::Active));
        assert!(!Status::Active.may_become(Status::Saving));
        assert!(!Status::Queued.may_become(Status::Deactivated));
        assert!(Status::Active.may_become(Status::Deactivated));
        assert!(Status::Deactivated.may_become(Status::Active));
        assert!(!Status::Deleted.may_become(Status::Active));
        assert!(Status::Uploading.may_become(Status::Importing));
    }
}
