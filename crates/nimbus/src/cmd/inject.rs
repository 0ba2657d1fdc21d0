//! `nimbus inject`: nova's file injection (key, password, network,
//! metadata, files) into a guest disk without mounting it.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use nimbus_guestfs::{InjectPartition, InjectRequest, Item, NetworkInfo};

/// The most bytes read from a `--key` or `--net` file.
const MAX_SMALL_FILE: u64 = 64 * 1024;

/// Arguments of `nimbus inject`.
#[derive(clap::Args)]
#[command(after_help = "\
Items not named in --mandatory are optional, as in nova: when one fails it is \
reported on stderr and skipped, and the command still succeeds. A mandatory \
item that fails aborts the injection with a non-zero exit.

--net reads JSON: {\"interfaces\": [{\"address\": \"10.0.0.5\", \"netmask\": \
\"255.255.255.0\", \"broadcast\": \"10.0.0.255\", \"gateway\": \"10.0.0.1\", \
\"dns\": [\"10.0.0.2\"], \"hwaddress\": \"fa:16:3e:00:00:01\", \"routes\": \
[{\"cidr\": \"192.168.0.0/16\", \"gateway\": \"10.0.0.254\"}], \"address_v6\": \
\"2001:db8::5\", \"netmask_v6\": \"64\", \"gateway_v6\": \"2001:db8::1\", \
\"dns_v6\": [], \"dhcp\": false}]}; every field is optional; interfaces are \
eth0, eth1, ... in order.")]
pub struct Args {
    /// The disk image to edit in place.
    image: PathBuf,
    /// The image's format (never probed: a guest can write any header into its disk).
    #[arg(long, short = 'f', value_enum, default_value = "raw")]
    format: Format,
    /// Directories a qcow2 overlay's backing files may come from (default:
    /// anywhere); backing files are only read.
    #[arg(long = "backing-dir", value_name = "DIR")]
    backing_dirs: Vec<PathBuf>,
    /// nova's inject_partition: -1 find the OS root (default), 0 the whole disk
    /// is a filesystem, N partition N (MBR logicals from 5).
    #[arg(long, default_value = "-1", allow_hyphen_values = true)]
    partition: i64,
    /// A file holding an ssh public key for root.
    #[arg(long, value_name = "FILE")]
    key: Option<PathBuf>,
    /// root's new password (SHA-512 crypt in /etc/shadow).
    #[arg(
        long,
        value_name = "PW",
        env = "NIMBUS_ADMIN_PASSWORD",
        hide_env_values = true
    )]
    admin_password: Option<String>,
    /// A metadata pair for /meta.js; repeatable.
    #[arg(long = "meta", value_name = "KEY=VALUE")]
    meta: Vec<String>,
    /// A host file to place in the guest; repeatable.
    #[arg(long = "file", value_name = "/GUEST/PATH=LOCAL")]
    files: Vec<String>,
    /// Network settings (JSON) to render as /etc/network/interfaces.
    #[arg(long, value_name = "FILE.json")]
    net: Option<PathBuf>,
    /// Items whose failure fails the command: key, net, metadata, admin_password, files.
    #[arg(long, value_delimiter = ',')]
    mandatory: Vec<String>,
}

/// Image formats `nimbus inject` opens.
#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    /// Raw bytes.
    Raw,
    /// A qcow2 image or overlay (only the overlay is written).
    Qcow2,
}

/// Runs `nimbus inject`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let partition = InjectPartition::from_nova(args.partition)?;
    let request = request(&args)?;
    let disk = open(&args.image, args.format, &args.backing_dirs)?;
    let report = nimbus_guestfs::inject_data(disk, partition, &request)
        .with_context(|| format!("injecting into {}", args.image.display()))?;
    for (item, err) in &report.skipped {
        eprintln!("nimbus: warning: {} not injected: {err}", item.name());
    }
    let names: Vec<&str> = report.injected.iter().map(|i| i.name()).collect();
    match &report.location {
        Some(location) if !names.is_empty() => {
            println!(
                "injected {} into {location} of {}",
                names.join(", "),
                args.image.display()
            );
        }
        _ => println!("nothing injected into {}", args.image.display()),
    }
    Ok(ExitCode::SUCCESS)
}

fn request(args: &Args) -> anyhow::Result<InjectRequest> {
    let key = match &args.key {
        Some(path) => Some(read_text(path, MAX_SMALL_FILE, "--key")?),
        None => None,
    };
    let net = match &args.net {
        Some(path) => {
            let text = read_text(path, MAX_SMALL_FILE, "--net")?;
            let net: NetworkInfo = serde_json::from_str(&text)
                .with_context(|| format!("--net {}: not the network JSON", path.display()))?;
            Some(net)
        }
        None => None,
    };
    let mut metadata = Vec::new();
    for pair in &args.meta {
        let Some((k, v)) = pair.split_once('=') else {
            bail!("--meta {pair:?}: expected KEY=VALUE");
        };
        metadata.push((k.to_string(), v.to_string()));
    }
    let mut files = Vec::new();
    for spec in &args.files {
        let Some((guest, local)) = spec.split_once('=') else {
            bail!("--file {spec:?}: expected /GUEST/PATH=LOCAL");
        };
        nimbus_guestfs::path::components(guest).with_context(|| format!("--file {spec:?}"))?;
        let content = read_capped(Path::new(local), nimbus_guestfs::MAX_FILE_BYTES, "--file")?;
        files.push((guest.to_string(), content));
    }
    let mut mandatory = Vec::new();
    for name in &args.mandatory {
        let Some(item) = Item::from_name(name) else {
            bail!("--mandatory: unknown item {name:?} (key, net, metadata, admin_password, files)");
        };
        mandatory.push(item);
    }
    Ok(InjectRequest {
        key,
        net,
        metadata,
        admin_password: args.admin_password.clone(),
        files,
        mandatory,
        libvirt_virt_type: None,
    })
}

fn read_capped(path: &Path, cap: u64, flag: &str) -> anyhow::Result<Vec<u8>> {
    let file = std::fs::File::open(path).with_context(|| format!("{flag} {}", path.display()))?;
    let mut data = Vec::new();
    file.take(cap + 1)
        .read_to_end(&mut data)
        .with_context(|| format!("{flag} {}", path.display()))?;
    if data.len() as u64 > cap {
        bail!("{flag} {}: larger than {cap} bytes", path.display());
    }
    Ok(data)
}

fn read_text(path: &Path, cap: u64, flag: &str) -> anyhow::Result<String> {
    String::from_utf8(read_capped(path, cap, flag)?)
        .with_context(|| format!("{flag} {}: not UTF-8 text", path.display()))
}

fn open(
    path: &Path,
    format: Format,
    backing_dirs: &[PathBuf],
) -> anyhow::Result<Arc<dyn nimbus_disk::BlockDevice>> {
    let format = match format {
        Format::Raw => nimbus_disk::Format::Raw,
        Format::Qcow2 => nimbus_disk::Format::Qcow2,
    };
    let policy = if backing_dirs.is_empty() {
        nimbus_disk::BackingPolicy::allow_dirs([PathBuf::from("/")])
    } else {
        nimbus_disk::BackingPolicy::allow_dirs(backing_dirs.iter().cloned())
    };
    let disk = nimbus_disk::open(path, format, &policy, true)
        .with_context(|| format!("opening {}", path.display()))?;
    Ok(Arc::new(disk))
}
