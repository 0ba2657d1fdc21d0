//! `nimbus img`: qemu-img for the operations a cloud needs, in-process.

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use nimbus_disk::{BackingPolicy, ConvertOptions, Format, Qcow2Options, SizeChange};

/// Subcommands of `nimbus img`.
#[derive(clap::Subcommand)]
pub enum Command {
    /// Show an image's format, sizes, backing file and qcow2 details.
    Info {
        /// Image format (probed from the header when omitted).
        #[arg(short = 'f')]
        format: Option<String>,
        /// `human` or `json` (qemu-img's JSON keys).
        #[arg(long, default_value = "human")]
        output: String,
        /// Also describe every backing file.
        #[arg(long)]
        backing_chain: bool,
        /// The image.
        file: PathBuf,
    },
    /// Create a raw or qcow2 image, optionally as an overlay.
    Create {
        /// raw or qcow2.
        #[arg(short = 'f', default_value = "raw")]
        format: String,
        /// Backing file (qcow2 only).
        #[arg(short = 'b')]
        backing: Option<String>,
        /// Backing file format (required with -b).
        #[arg(short = 'F')]
        backing_format: Option<String>,
        /// Options: cluster_size=N, backing_file=, backing_fmt=.
        #[arg(short = 'o')]
        options: Option<String>,
        /// The new image.
        file: PathBuf,
        /// Virtual size (k/M/G/T suffixes); defaults to the backing file's.
        size: Option<String>,
    },
    /// Grow (or, with --shrink, shrink) an image.
    Resize {
        /// Image format (probed when omitted).
        #[arg(short = 'f')]
        format: Option<String>,
        /// Allow shrinking.
        #[arg(long)]
        shrink: bool,
        /// Directories backing files may come from (default: anywhere).
        #[arg(long = "backing-dir")]
        backing_dirs: Vec<PathBuf>,
        /// The image.
        file: PathBuf,
        /// New size, or +SIZE / -SIZE.
        #[arg(allow_hyphen_values = true)]
        size: String,
    },
    /// Copy an image into a new standalone image, flattening its chain.
    Convert {
        /// Source format (probed when omitted).
        #[arg(short = 'f')]
        format: Option<String>,
        /// Output format.
        #[arg(short = 'O', default_value = "raw")]
        output_format: String,
        /// Compress the output (qcow2).
        #[arg(short = 'c')]
        compress: bool,
        /// Show progress on a terminal.
        #[arg(short = 'p')]
        progress: bool,
        /// Output cache mode as qemu-img: `unsafe` (default, no fsync at the
        /// end, like qemu-img) or `writeback`/`none`/`directsync` (fsync).
        #[arg(short = 't', default_value = "unsafe")]
        cache: String,
        /// Output options: cluster_size=N.
        #[arg(short = 'o')]
        options: Option<String>,
        /// Directories backing files may come from (default: anywhere).
        #[arg(long = "backing-dir")]
        backing_dirs: Vec<PathBuf>,
        /// Source image.
        src: PathBuf,
        /// Destination image.
        dst: PathBuf,
    },
    /// Check a qcow2 image's metadata (exit 0 clean, 2 corrupt, 3 leaks).
    Check {
        /// Image format (probed when omitted).
        #[arg(short = 'f')]
        format: Option<String>,
        /// The image.
        file: PathBuf,
    },
    /// Detect a file's real format and whether it is safe to use.
    Inspect {
        /// Also refuse when the content is not this format.
        #[arg(long)]
        declared: Option<String>,
        /// The file.
        file: PathBuf,
    },
}

/// Runs `nimbus img`.
pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Info {
            format,
            output,
            backing_chain,
            file,
        } => info(format, &output, backing_chain, &file),
        Command::Create {
            format,
            backing,
            backing_format,
            options,
            file,
            size,
        } => create(
            &format,
            backing,
            backing_format,
            options.as_deref(),
            &file,
            size.as_deref(),
        ),
        Command::Resize {
            format,
            shrink,
            backing_dirs,
            file,
            size,
        } => {
            let fmt = format_or_probe(format.as_deref(), &file)?;
            let change = match size.as_bytes().first() {
                Some(b'+') => SizeChange::Grow(parse_size(&size[1..])?),
                Some(b'-') => SizeChange::Shrink(parse_size(&size[1..])?),
                _ => SizeChange::To(parse_size(&size)?),
            };
            nimbus_disk::resize(&file, fmt, &policy(backing_dirs), change, shrink)?;
            println!("Image resized.");
            Ok(ExitCode::SUCCESS)
        }
        Command::Convert {
            format,
            output_format,
            compress,
            progress,
            cache,
            options,
            backing_dirs,
            src,
            dst,
        } => {
            let fmt = format_or_probe(format.as_deref(), &src)?;
            let out: Format = output_format.parse()?;
            let cluster_size = options
                .as_deref()
                .map(parse_options)
                .transpose()?
                .and_then(|o| o.cluster_size);
            let skip_sync = match cache.as_str() {
                "unsafe" => true,
                "writeback" | "none" | "directsync" | "writethrough" => false,
                other => bail!("invalid cache mode '{other}'"),
            };
            let opts = ConvertOptions {
                compress,
                cluster_size,
                skip_sync,
            };
            let show = progress && std::io::stdout().is_terminal();
            let mut last = u64::MAX;
            let mut cb = |done: u64, total: u64| {
                if !show {
                    return;
                }
                let pct = (done.saturating_mul(10000))
                    .checked_div(total)
                    .unwrap_or(10000);
                if pct != last {
                    last = pct;
                    print!("    ({}.{:02}/100%)\r", pct / 100, pct % 100);
                    let _ = std::io::stdout().flush();
                }
            };
            nimbus_disk::convert(&src, fmt, &policy(backing_dirs), &dst, out, &opts, &mut cb)?;
            if show {
                println!();
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Check { format, file } => check(format.as_deref(), &file),
        Command::Inspect { declared, file } => inspect(declared.as_deref(), &file),
    }
}

fn policy(dirs: Vec<PathBuf>) -> BackingPolicy {
    if dirs.is_empty() {
        BackingPolicy::allow_dirs([PathBuf::from("/")])
    } else {
        BackingPolicy::allow_dirs(dirs)
    }
}

fn format_or_probe(format: Option<&str>, file: &Path) -> anyhow::Result<Format> {
    Ok(match format {
        Some(f) => f.parse()?,
        None => nimbus_disk::probe(file)?,
    })
}

fn info(
    format: Option<String>,
    output: &str,
    chain: bool,
    file: &Path,
) -> anyhow::Result<ExitCode> {
    let fmt = format.as_deref().map(str::parse::<Format>).transpose()?;
    let infos = if chain {
        nimbus_disk::info_chain(file, fmt)?
    } else {
        vec![nimbus_disk::info(file, fmt)?]
    };
    match output {
        "json" if chain => {
            let items: Vec<String> = infos.iter().map(|i| i.to_json(1)).collect();
            println!("[\n{}\n]", items.join(",\n"));
        }
        "json" => println!("{}", infos[0].to_json(0)),
        "human" => {
            let items: Vec<String> = infos.iter().map(|i| i.to_human()).collect();
            print!("{}", items.join("\n"));
        }
        other => bail!("--output must be human or json, not '{other}'"),
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Default)]
struct CreateOpts {
    cluster_size: Option<u64>,
    backing_file: Option<String>,
    backing_fmt: Option<String>,
}

fn parse_options(s: &str) -> anyhow::Result<CreateOpts> {
    let mut o = CreateOpts::default();
    for kv in s.split(',').filter(|x| !x.is_empty()) {
        let (k, v) = kv
            .split_once('=')
            .with_context(|| format!("option '{kv}' has no value"))?;
        match k {
            "cluster_size" => o.cluster_size = Some(parse_size(v)?),
            "backing_file" => o.backing_file = Some(v.to_string()),
            "backing_fmt" => o.backing_fmt = Some(v.to_string()),
            other => bail!("unsupported option '{other}'"),
        }
    }
    Ok(o)
}

fn create(
    format: &str,
    backing: Option<String>,
    backing_format: Option<String>,
    options: Option<&str>,
    file: &Path,
    size: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let fmt: Format = format.parse()?;
    let opts = options.map(parse_options).transpose()?.unwrap_or_default();
    let size = size.map(parse_size).transpose()?;
    let backing = backing.or(opts.backing_file);
    let backing_format = backing_format.or(opts.backing_fmt);
    match fmt {
        Format::Raw => {
            if backing.is_some() {
                bail!("raw images cannot have a backing file");
            }
            let size = size.context("a size is required for raw images")?;
            nimbus_disk::create_raw(file, size)?;
            println!("Formatting '{}', fmt=raw size={size}", file.display());
        }
        Format::Qcow2 => {
            let backing = match backing {
                Some(b) => {
                    let f = backing_format.context("-F (backing format) is required with -b")?;
                    Some((b, f.parse::<Format>()?))
                }
                None => None,
            };
            let q = Qcow2Options {
                backing,
                cluster_size: opts.cluster_size,
            };
            nimbus_disk::create_qcow2(file, size, &q)?;
            let info = nimbus_disk::info(file, Some(Format::Qcow2))?;
            println!(
                "Formatting '{}', fmt=qcow2 cluster_size={} size={}",
                file.display(),
                info.cluster_size.unwrap_or(0),
                info.virtual_size
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn check(format: Option<&str>, file: &Path) -> anyhow::Result<ExitCode> {
    let fmt = format_or_probe(format, file)?;
    if fmt == Format::Raw {
        eprintln!("nimbus: This image format does not support checks");
        return Ok(ExitCode::from(63));
    }
    let r = match nimbus_disk::check(file, fmt) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("nimbus: Check failed: {e}");
            return Ok(ExitCode::from(1));
        }
    };
    for m in &r.messages {
        println!("{m}");
    }
    if r.corruptions == 0 && r.leaks == 0 {
        println!("No errors were found on the image.");
    }
    if r.corruptions > 0 {
        println!(
            "\n{} errors were found on the image.\nData may be corrupted, or further writes to the image may corrupt it.",
            r.corruptions
        );
    }
    if r.leaks > 0 {
        println!(
            "\n{} leaked clusters were found on the image.\nThis means waste of disk space, but no harm to data.",
            r.leaks
        );
    }
    if r.total_clusters != 0 && r.allocated_clusters != 0 {
        let pct = |n: u64, d: u64| n as f64 * 100.0 / d as f64;
        println!(
            "{}/{} = {:.2}% allocated, {:.2}% fragmented, {:.2}% compressed clusters",
            r.allocated_clusters,
            r.total_clusters,
            pct(r.allocated_clusters, r.total_clusters),
            pct(r.fragmented_clusters, r.allocated_clusters),
            pct(r.compressed_clusters, r.allocated_clusters)
        );
    }
    println!("Image end offset: {}", r.image_end_offset);
    Ok(ExitCode::from(r.exit_code()))
}

fn inspect(declared: Option<&str>, file: &Path) -> anyhow::Result<ExitCode> {
    let mut f = std::fs::File::open(file).with_context(|| format!("open {}", file.display()))?;
    let mut inspector = nimbus_disk::Inspector::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f
            .read(&mut buf)
            .with_context(|| format!("read {}", file.display()))?;
        if n == 0 {
            break;
        }
        inspector.feed(&buf[..n]);
    }
    let report = inspector.finish();
    println!("format: {}", report.format);
    println!("virtual size: {}", report.virtual_size);
    let refusal = match declared {
        Some(d) => report.refusal(d),
        None => report
            .unsafe_reason
            .as_ref()
            .map(|r| format!("image is unsafe: {r}")),
    };
    match refusal {
        None => {
            println!("safe: yes");
            Ok(ExitCode::SUCCESS)
        }
        Some(r) => {
            println!("safe: no ({r})");
            Ok(ExitCode::from(2))
        }
    }
}

/// qemu-img sizes: bytes, or a k/K/M/G/T/P/E suffix (powers of 1024).
fn parse_size(s: &str) -> anyhow::Result<u64> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let m: u64 = match c.to_ascii_uppercase() {
                'B' => 1,
                'K' => 1 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                'T' => 1 << 40,
                'P' => 1 << 50,
                'E' => 1 << 60,
                _ => bail!("invalid size suffix in '{s}'"),
            };
            (&s[..i], m)
        }
        _ => (s, 1),
    };
    let n: f64 = num.parse().with_context(|| format!("invalid size '{s}'"))?;
    let v = n * mult as f64;
    if !(0.0..1.8e19).contains(&v) {
        bail!("size '{s}' out of range");
    }
    Ok(v as u64)
}
