//! The streaming format inspector (the equivalent of oslo.utils'
//! `imageutils.format_inspector`, re-implemented): fed an upload chunk by
//! chunk, it detects the format from the leading bytes, reports the
//! virtual size, and decides whether the image is safe to hand to QEMU.
//!
//! Every format probe runs over the same stream and keeps only the byte
//! ranges it needs (bounded; see [`Inspector::held_bytes`]). A file that
//! matches two formats, or whose parser hits an internal error, is unsafe.

mod probes;
mod region;
mod vmdk;

use probes::{Gpt, Iso, Luks, Qcow2Probe, Qed, Vdi, Vhd, Vhdx};
use vmdk::Vmdk;

/// Where a probe stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum State {
    /// Needs more bytes.
    Pending,
    /// Certainly not this format.
    NoMatch,
    /// This format; `Err(reason)` when it is unsafe.
    Match(std::result::Result<(), String>),
}

/// One format's detector.
pub(crate) trait Probe: Send {
    fn name(&self) -> &'static str;
    /// `pos` is the stream offset of `chunk[0]`.
    fn feed(&mut self, pos: u64, chunk: &[u8]);
    /// The stream ended after `total` bytes.
    fn finish(&mut self, total: u64);
    fn state(&self) -> State;
    /// Whether the verdict still depends on the end of the stream.
    fn needs_end(&self) -> bool {
        false
    }
    fn virtual_size(&self) -> Option<u64>;
    fn held(&self) -> usize;
}

/// Limits the verdict enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Larger virtual sizes are unsafe (a tiny compressed image must not
    /// expand to fill the host). Default 512 GiB.
    pub max_virtual_size: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_virtual_size: 512 << 30,
        }
    }
}

/// The inspector's conclusion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// "raw", "qcow2", "vmdk", "vhd", "vhdx", "vdi", "qed", "luks", "iso"
    /// or "gpt" (a partitioned raw disk).
    pub format: &'static str,
    /// The virtual size the headers claim (the stream length for raw).
    pub virtual_size: u64,
    /// Bytes inspected.
    pub actual_size: u64,
    /// `None` when safe, else why not.
    pub unsafe_reason: Option<String>,
}

impl Report {
    /// Whether the image is safe to use.
    pub fn is_safe(&self) -> bool {
        self.unsafe_reason.is_none()
    }

    /// Whether the detected format is what a client declared as the
    /// Glance `disk_format` (a partitioned disk counts as raw).
    pub fn matches_declared(&self, declared: &str) -> bool {
        self.format == declared || (declared == "raw" && self.format == "gpt")
    }

    /// The reason to refuse an upload declared as `declared`, if any.
    pub fn refusal(&self, declared: &str) -> Option<String> {
        if let Some(r) = &self.unsafe_reason {
            return Some(format!("image is unsafe: {r}"));
        }
        if !self.matches_declared(declared) {
            return Some(format!(
                "image content is '{}', but the declared disk_format is '{declared}'",
                self.format
            ));
        }
        None
    }
}

/// Streaming format detector and safety check.
pub struct Inspector {
    probes: Vec<Box<dyn Probe>>,
    total: u64,
    limits: Limits,
}

impl std::fmt::Debug for Inspector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inspector")
            .field("total", &self.total)
            .field("held", &self.held_bytes())
            .finish()
    }
}

impl Default for Inspector {
    fn default() -> Self {
        Self::new()
    }
}

impl Inspector {
    /// An inspector with the default limits.
    pub fn new() -> Self {
        Self::with_limits(Limits::default())
    }

    /// An inspector enforcing `limits`.
    pub fn with_limits(limits: Limits) -> Self {
        let probes: Vec<Box<dyn Probe>> = vec![
            Box::new(Qcow2Probe::default()),
            Box::new(Vmdk::default()),
            Box::new(Vhd::default()),
            Box::new(Vhdx::default()),
            Box::new(Vdi::default()),
            Box::new(Qed::default()),
            Box::new(Luks::default()),
            Box::new(Iso::default()),
            Box::new(Gpt::default()),
        ];
        Inspector {
            probes,
            total: 0,
            limits,
        }
    }

    /// Presents the next chunk of the stream.
    pub fn feed(&mut self, chunk: &[u8]) {
        for p in &mut self.probes {
            if p.state() == State::Pending || p.needs_end() {
                p.feed(self.total, chunk);
            }
        }
        self.total += chunk.len() as u64;
    }

    /// Bytes the inspector currently holds (bounded below 512 KiB).
    pub fn held_bytes(&self) -> usize {
        self.probes.iter().map(|p| p.held()).sum()
    }

    /// Bytes fed so far.
    pub fn position(&self) -> u64 {
        self.total
    }

    /// The format, once every probe has decided from the leading bytes
    /// (raw when none matches). The safety verdict may still need the end.
    pub fn detected(&self) -> Option<&'static str> {
        if self.probes.iter().any(|p| p.state() == State::Pending) {
            return None;
        }
        let matches: Vec<&'static str> = self
            .probes
            .iter()
            .filter(|p| matches!(p.state(), State::Match(_)))
            .map(|p| p.name())
            .collect();
        match matches.as_slice() {
            [] => Some("raw"),
            [one] => Some(one),
            _ => Some("multiple"),
        }
    }

    /// Why an upload declared as `declared` can already be refused,
    /// before the rest of the stream arrives.
    pub fn early_refusal(&self, declared: &str) -> Option<String> {
        let detected = self.detected()?;
        let matched: Vec<_> = self
            .probes
            .iter()
            .filter(|p| matches!(p.state(), State::Match(_)))
            .collect();
        if matched.len() > 1 {
            return Some(multiple(&matched));
        }
        if let Some(p) = matched.first()
            && let State::Match(Err(r)) = p.state()
            && !p.needs_end()
        {
            return Some(format!("image is unsafe: {r}"));
        }
        let ok = detected == declared || (declared == "raw" && detected == "gpt");
        (!ok).then(|| {
            format!("image content is '{detected}', but the declared disk_format is '{declared}'")
        })
    }

    /// Ends the stream and gives the verdict.
    pub fn finish(mut self) -> Report {
        let total = self.total;
        for p in &mut self.probes {
            p.finish(total);
        }
        let matched: Vec<&Box<dyn Probe>> = self
            .probes
            .iter()
            .filter(|p| matches!(p.state(), State::Match(_)))
            .collect();
        let mut report = match matched.as_slice() {
            [] => Report {
                format: "raw",
                virtual_size: total,
                actual_size: total,
                unsafe_reason: None,
            },
            [p] => {
                let verdict = match p.state() {
                    State::Match(v) => v,
                    _ => Err("internal error: probe state changed".to_string()),
                };
                let virtual_size = p.virtual_size();
                let mut unsafe_reason = verdict.err();
                if unsafe_reason.is_none() && virtual_size.is_none() {
                    unsafe_reason = Some("could not determine the virtual size".to_string());
                }
                Report {
                    format: p.name(),
                    virtual_size: virtual_size.unwrap_or(0),
                    actual_size: total,
                    unsafe_reason,
                }
            }
            many => Report {
                format: many[0].name(),
                virtual_size: many[0].virtual_size().unwrap_or(0),
                actual_size: total,
                unsafe_reason: Some(multiple(many)),
            },
        };
        if report.unsafe_reason.is_none() && report.virtual_size > self.limits.max_virtual_size {
            report.unsafe_reason = Some(format!(
                "virtual size {} exceeds the limit of {} bytes",
                report.virtual_size, self.limits.max_virtual_size
            ));
        }
        report
    }
}

#[allow(clippy::borrowed_box)]
fn multiple(matched: &[&Box<dyn Probe>]) -> String {
    let names: Vec<&str> = matched.iter().map(|p| p.name()).collect();
    format!(
        "the content matches several formats at once: {}",
        names.join(", ")
    )
}

/// Inspects a whole byte slice (tests and small files).
pub fn inspect_bytes(data: &[u8], chunk: usize) -> Report {
    let mut i = Inspector::new();
    for c in data.chunks(chunk.max(1)) {
        i.feed(c);
    }
    i.finish()
}
