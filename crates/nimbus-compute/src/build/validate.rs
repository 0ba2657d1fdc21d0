//! The API-time checks of an image against a flavor (nova's
//! `_validate_flavor_image` and `_validate_flavor_image_nostatus` in
//! `nova/compute/api.py`), with nova's messages.

use nimbus_common::ApiError;
use nimbus_image::app::model::{Image, Status};

const GIB: u64 = 1 << 30;

/// The flavor numbers the pipeline uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlavorSpec {
    /// Flavor name (the EC2 `instance-type`).
    pub name: String,
    /// vCPUs.
    pub vcpus: u32,
    /// RAM in MiB.
    pub memory_mb: u64,
    /// Root disk in GiB; 0 means "the image's size".
    pub root_gb: u64,
    /// Ephemeral disk in GiB; 0 means none.
    pub ephemeral_gb: u64,
    /// Swap in MiB; 0 means none.
    pub swap_mb: u64,
}

/// Why nova's API refuses an image/flavor pair.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildRefusal {
    /// `ImageNotActive`.
    #[error("Image {image_id} is not active.")]
    ImageNotActive {
        /// The image.
        image_id: String,
    },
    /// `InvalidImageConfigDrive`.
    #[error("Image's config drive option '{value}' is invalid")]
    InvalidImageConfigDrive {
        /// The `img_config_drive` property.
        value: String,
    },
    /// `FlavorMemoryTooSmall`.
    #[error("Flavor's memory is too small for requested image.")]
    FlavorMemoryTooSmall,
    /// `FlavorDiskSmallerThanImage`.
    #[error(
        "Flavor's disk is too small for requested image. Flavor disk is {flavor_size} bytes, image is {image_size} bytes."
    )]
    FlavorDiskSmallerThanImage {
        /// root_gb in bytes.
        flavor_size: u64,
        /// The image's size (or virtual size) in bytes.
        image_size: u64,
    },
    /// `FlavorDiskSmallerThanMinDisk`.
    #[error(
        "Flavor's disk is smaller than the minimum size specified in image metadata. Flavor disk is {flavor_size} bytes, minimum size is {image_min_disk} bytes."
    )]
    FlavorDiskSmallerThanMinDisk {
        /// root_gb in bytes.
        flavor_size: u64,
        /// min_disk in bytes.
        image_min_disk: u64,
    },
    /// `BootFromVolumeRequiredForZeroDiskFlavor` (a 403 in nova).
    #[error("Only volume-backed servers are allowed for flavors with zero disk.")]
    BootFromVolumeRequiredForZeroDiskFlavor,
    /// `ImageUnacceptable`.
    #[error("Image {image_id} is unacceptable: {reason}")]
    ImageUnacceptable {
        /// The image.
        image_id: String,
        /// Why.
        reason: String,
    },
}

impl From<BuildRefusal> for ApiError {
    fn from(refusal: BuildRefusal) -> ApiError {
        match refusal {
            BuildRefusal::BootFromVolumeRequiredForZeroDiskFlavor => {
                ApiError::forbidden(refusal.to_string())
            }
            other => ApiError::bad_request(other.to_string()),
        }
    }
}

/// The disk formats the pipeline boots from (`ami` is a raw machine image).
pub(crate) fn root_format_supported(disk_format: Option<&str>) -> bool {
    matches!(disk_format, Some("raw" | "qcow2" | "ami"))
}

/// Checks `image` as a root disk for `flavor`, as nova's API does before
/// the 202. `allow_zero_disk` is the outcome of nova's
/// `os_compute_api:servers:create:zero_disk_flavor` policy for the caller.
///
/// Beyond nova's API (which compares the flavor with the image's `size`),
/// the image's `virtual_size` is compared too when the image service knows
/// it: nova's libvirt driver refuses it later (`verify_base_size`) with the
/// same error, after the server already went to BUILD.
pub fn validate(
    image: &Image,
    flavor: &FlavorSpec,
    allow_zero_disk: bool,
) -> Result<(), BuildRefusal> {
    if image.status != Status::Active {
        return Err(BuildRefusal::ImageNotActive {
            image_id: image.id.clone(),
        });
    }
    if let Some(value) = image.properties.get("img_config_drive")
        && value != "optional"
        && value != "mandatory"
    {
        return Err(BuildRefusal::InvalidImageConfigDrive {
            value: value.clone(),
        });
    }
    if !root_format_supported(image.disk_format.as_deref()) {
        return Err(BuildRefusal::ImageUnacceptable {
            image_id: image.id.clone(),
            reason: format!(
                "disk format {} cannot be booted (raw and qcow2 can)",
                image.disk_format.as_deref().unwrap_or("None")
            ),
        });
    }
    if flavor.memory_mb < u64::try_from(image.min_ram).unwrap_or(0) {
        return Err(BuildRefusal::FlavorMemoryTooSmall);
    }
    let image_min_disk = u64::try_from(image.min_disk)
        .unwrap_or(0)
        .saturating_mul(GIB);
    let image_size = u64::try_from(image.size.unwrap_or(0)).unwrap_or(0);
    let virtual_size = u64::try_from(image.virtual_size.unwrap_or(0)).unwrap_or(0);
    let dest_size = flavor.root_gb.saturating_mul(GIB);
    if dest_size == 0 {
        if !allow_zero_disk {
            return Err(BuildRefusal::BootFromVolumeRequiredForZeroDiskFlavor);
        }
        return Ok(());
    }
    for size in [image_size, virtual_size] {
        if size > dest_size {
            return Err(BuildRefusal::FlavorDiskSmallerThanImage {
                flavor_size: dest_size,
                image_size: size,
            });
        }
    }
    if image_min_disk > dest_size {
        return Err(BuildRefusal::FlavorDiskSmallerThanMinDisk {
            flavor_size: dest_size,
            image_min_disk,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image() -> Image {
        Image {
            id: "img".into(),
            name: None,
            status: Status::Active,
            visibility: nimbus_image::app::model::Visibility::Public,
            owner: None,
            disk_format: Some("qcow2".into()),
            container_format: Some("bare".into()),
            size: Some(300 << 20),
            virtual_size: Some(2 << 30),
            checksum: None,
            os_hash_algo: None,
            os_hash_value: None,
            min_disk: 0,
            min_ram: 0,
            protected: false,
            os_hidden: false,
            location: None,
            store: None,
            created_at: 0,
            updated_at: 0,
            properties: Default::default(),
            tags: vec![],
        }
    }

    fn flavor(root_gb: u64) -> FlavorSpec {
        FlavorSpec {
            name: "m1".into(),
            vcpus: 1,
            memory_mb: 512,
            root_gb,
            ephemeral_gb: 0,
            swap_mb: 0,
        }
    }

    #[test]
    fn nova_refusals_and_messages() {
        assert_eq!(validate(&image(), &flavor(2), false), Ok(()));
        let err = validate(&image(), &flavor(1), false).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Flavor's disk is too small for requested image. Flavor disk is 1073741824 bytes, image is 2147483648 bytes."
        );
        let mut img = image();
        img.min_disk = 5;
        assert!(matches!(
            validate(&img, &flavor(2), false),
            Err(BuildRefusal::FlavorDiskSmallerThanMinDisk {
                image_min_disk: 5368709120,
                ..
            })
        ));
        let mut img = image();
        img.min_ram = 1024;
        assert_eq!(
            validate(&img, &flavor(2), false),
            Err(BuildRefusal::FlavorMemoryTooSmall)
        );
        let mut img = image();
        img.status = Status::Queued;
        assert_eq!(
            validate(&img, &flavor(2), false).unwrap_err().to_string(),
            "Image img is not active."
        );
        let mut img = image();
        img.disk_format = Some("vmdk".into());
        assert!(matches!(
            validate(&img, &flavor(2), false),
            Err(BuildRefusal::ImageUnacceptable { .. })
        ));
        let refusal = validate(&image(), &flavor(0), false).unwrap_err();
        assert_eq!(ApiError::from(refusal).status().as_u16(), 403);
        assert_eq!(validate(&image(), &flavor(0), true), Ok(()));
        let mut img = image();
        img.properties
            .insert("img_config_drive".into(), "always".into());
        assert!(matches!(
            validate(&img, &flavor(2), false),
            Err(BuildRefusal::InvalidImageConfigDrive { .. })
        ));
    }
}
