//! `nimbus configdrive`: pack a directory as a config drive (nova's
//! `ConfigDriveBuilder.make_drive`), and render nova's metadata tree for a described instance.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use nimbus_configdrive::{
    DriveOptions, Format, Instance, InstanceMetadata, MetadataConfig, Purpose, Tree,
};

/// The most bytes read from an INSTANCE.json (user data is 64 KiB in nova; files add more).
const MAX_INSTANCE_JSON: u64 = 16 * 1024 * 1024;
/// The most bytes read from a --random-seed file.
const MAX_SEED: u64 = 4096;

/// Subcommands of `nimbus configdrive`.
#[derive(clap::Subcommand)]
pub enum Command {
    /// Pack SRC_DIR into a config drive image at OUT (which must not exist).
    Make {
        /// `iso9660` (ISO 9660 + Joliet + Rock Ridge, label config-2) or `vfat`.
        #[arg(long, default_value = "iso9660")]
        format: String,
        /// Publisher written in the ISO volume descriptor.
        #[arg(long, default_value = concat!("Nimbus ", env!("CARGO_PKG_VERSION")))]
        publisher: String,
        /// Every ISO time stamp, in seconds since the Unix epoch (default 0: reproducible).
        #[arg(long, default_value_t = 0, env = "SOURCE_DATE_EPOCH")]
        timestamp: i64,
        /// FAT volume serial number, hexadecimal (default: random, as mkfs.vfat).
        #[arg(long, value_name = "HEX")]
        volume_id: Option<String>,
        /// The directory to pack (symlinks and special files are refused).
        src_dir: PathBuf,
        /// The image to create.
        out: PathBuf,
    },
    /// Render nova's metadata tree (openstack/..., ec2/...) for the instance in INSTANCE.json
    /// into OUT_DIR, as it would appear on the instance's config drive.
    #[command(after_help = "INSTANCE.json is described in crates/nimbus-configdrive/README.md.")]
    Render {
        /// nova's dhcp_domain, appended to the hostname.
        #[arg(long)]
        dhcp_domain: Option<String>,
        /// A file whose bytes become every random_seed (nova: 512 fresh random bytes).
        #[arg(long, value_name = "FILE")]
        random_seed: Option<PathBuf>,
        /// The instance description.
        instance: PathBuf,
        /// Where to write the tree (created; existing files are not overwritten).
        out_dir: PathBuf,
    },
}

/// Runs `nimbus configdrive`.
pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Make {
            format,
            publisher,
            timestamp,
            volume_id,
            src_dir,
            out,
        } => {
            let format: Format = format.parse()?;
            let mut options = DriveOptions::default();
            options.iso.publisher = publisher;
            options.iso.timestamp = timestamp;
            if let Some(hex) = volume_id {
                let id =
                    u32::from_str_radix(hex.trim_start_matches("0x"), 16).with_context(|| {
                        format!("--volume-id {hex:?} is not a 32-bit hexadecimal number")
                    })?;
                options.vfat.volume_id = Some(id);
            }
            make(&src_dir, &out, format, &options)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Render {
            dhcp_domain,
            random_seed,
            instance,
            out_dir,
        } => {
            let instance: Instance =
                serde_json::from_slice(&read_limited(&instance, MAX_INSTANCE_JSON)?).with_context(
                    || format!("{} is not a valid instance description", instance.display()),
                )?;
            let config = MetadataConfig {
                dhcp_domain,
                ..MetadataConfig::default()
            };
            let mut md = InstanceMetadata::new(instance, config, Purpose::ConfigDrive);
            if let Some(seed) = random_seed {
                md = md.with_random_seed(read_limited(&seed, MAX_SEED)?);
            }
            let tree = nimbus_configdrive::tree_for(&md)?;
            tree.write_to_dir(&out_dir)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn make(src: &Path, out: &Path, format: Format, options: &DriveOptions) -> anyhow::Result<()> {
    let tree = Tree::from_dir(src)?;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(out)
        .with_context(|| format!("creating {}", out.display()))?;
    if let Err(e) = nimbus_configdrive::make_drive(&tree, format, options, file) {
        // Leave no half-written image behind.
        let _ = std::fs::remove_file(out);
        return Err(e).with_context(|| format!("writing {}", out.display()));
    }
    Ok(())
}

fn read_limited(path: &Path, max: u64) -> anyhow::Result<Vec<u8>> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut data = Vec::new();
    file.take(max + 1)
        .read_to_end(&mut data)
        .with_context(|| format!("reading {}", path.display()))?;
    if data.len() as u64 > max {
        bail!("{} is larger than {max} bytes", path.display());
    }
    Ok(data)
}
