//! This host as nova's admin APIs show it: its services (nova-compute and
//! nova-scheduler, both in this process), and its one hypervisor with the
//! resources read from /proc, statvfs of `instances_path`, QEMU's version
//! and the instances table.

use std::path::Path;
use std::sync::OnceLock;

use nimbus_common::{ApiError, RequestContext};
use serde_json::{Value, json};

use crate::app::ComputeService;
use crate::store::services::{self as store, HostUsage, ServiceRow};

/// nova's `reserved_host_memory_mb` default: RAM kept for the host.
pub const RESERVED_HOST_MEMORY_MB: i64 = 512;

/// The services this process runs, with their availability zone.
pub const SERVICES: [(&str, &str); 2] = [("nova-compute", "nova"), ("nova-scheduler", "internal")];

/// The availability zone of servers (nova's `default_availability_zone`).
pub const DEFAULT_ZONE: &str = "nova";

/// This host's name (nova's `CONF.host`: the hostname).
pub fn host_name() -> String {
    static NAME: OnceLock<String> = OnceLock::new();
    NAME.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "localhost".into())
    })
    .clone()
}

/// The zone a service binary is in.
pub fn zone_of(binary: &str) -> &'static str {
    SERVICES
        .iter()
        .find(|(b, _)| *b == binary)
        .map_or("internal", |(_, z)| z)
}

/// The services of this host (rows created on first use).
pub async fn services(svc: &ComputeService) -> Result<Vec<ServiceRow>, ApiError> {
    let host = host_name();
    let now = chrono::Utc::now().timestamp_micros();
    for (binary, _) in SERVICES {
        store::service_ensure(svc.db(), &host, binary, now).await?;
    }
    Ok(store::service_list(svc.db()).await?)
}

/// The nova-compute service of this host.
pub async fn compute_service(svc: &ComputeService) -> Result<ServiceRow, ApiError> {
    services(svc)
        .await?
        .into_iter()
        .find(|s| s.binary == "nova-compute" && s.host == host_name())
        .ok_or_else(|| ApiError::internal("the nova-compute service row is missing"))
}

/// Whether new servers may be scheduled here (nova-compute enabled and not
/// forced down).
pub async fn accepting_servers(svc: &ComputeService) -> Result<bool, ApiError> {
    let compute = compute_service(svc).await?;
    Ok(!compute.disabled && !compute.forced_down)
}

/// Sets a service's status (admin only). Only nova-compute can be changed,
/// as nova says.
pub async fn service_set(
    svc: &ComputeService,
    ctx: &RequestContext,
    service: &ServiceRow,
    disabled: bool,
    disabled_reason: Option<&str>,
    forced_down: bool,
) -> Result<ServiceRow, ApiError> {
    ctx.require_admin("os_compute_api:os-services:update")?;
    if service.binary != "nova-compute" {
        return Err(ApiError::bad_request(format!(
            "Updating a {} service is not supported. Only nova-compute services can be updated.",
            service.binary
        )));
    }
    let now = chrono::Utc::now().timestamp_micros();
    store::service_update(
        svc.db(),
        &service.uuid,
        disabled,
        disabled_reason,
        forced_down,
        now,
    )
    .await?;
    services(svc)
        .await?
        .into_iter()
        .find(|s| s.uuid == service.uuid)
        .ok_or_else(|| ApiError::not_found("Service not found."))
}

/// The hypervisor's resources, measured now.
#[derive(Debug, Clone)]
pub struct HostStats {
    /// Online CPUs.
    pub vcpus: i64,
    /// RAM, MiB.
    pub memory_mb: i64,
    /// Size of the filesystem holding `instances_path`, GiB.
    pub local_gb: i64,
    /// Space available there, GiB.
    pub disk_available_gb: i64,
    /// `QEMU`.
    pub hypervisor_type: &'static str,
    /// QEMU's version as libvirt reports it (7.2.0 -> 7002000).
    pub hypervisor_version: i64,
    /// The address other hosts reach this one at (nova's `my_ip`).
    pub host_ip: String,
    /// libvirt-style CPU description.
    pub cpu_info: Value,
    /// `uptime`'s line.
    pub uptime: String,
    /// What the instances use.
    pub used: HostUsage,
}

/// Measures this host.
pub async fn host_stats(svc: &ComputeService) -> Result<HostStats, ApiError> {
    let used = store::host_usage(svc.db()).await?;
    let path = svc.config().instances_path.clone();
    let version = qemu_version().await;
    tokio::task::spawn_blocking(move || {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let (local_gb, disk_available_gb) = disk_gb(&path);
        HostStats {
            vcpus: cpuinfo
                .lines()
                .filter(|l| l.starts_with("processor"))
                .count()
                .max(1) as i64,
            memory_mb: meminfo_kib(&meminfo, "MemTotal") / 1024,
            local_gb,
            disk_available_gb,
            hypervisor_type: "QEMU",
            hypervisor_version: version,
            host_ip: host_ip(),
            cpu_info: cpu_info(&cpuinfo),
            uptime: uptime_line(),
            used,
        }
    })
    .await
    .map_err(ApiError::internal)
}

fn meminfo_kib(meminfo: &str, key: &str) -> i64 {
    meminfo
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn disk_gb(path: &Path) -> (i64, i64) {
    match nix::sys::statvfs::statvfs(path) {
        Ok(st) => {
            let frag = st.fragment_size() as u128;
            let gib = 1u128 << 30;
            let total = (st.blocks() as u128 * frag / gib) as i64;
            let avail = (st.blocks_available() as u128 * frag / gib) as i64;
            (total, avail)
        }
        Err(_) => (0, 0),
    }
}

/// The local address of the route to the outside (no packet is sent).
fn host_ip() -> String {
    std::net::UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| {
            s.connect("192.0.2.1:9")?;
            s.local_addr()
        })
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|_| "127.0.0.1".into())
}

fn cpu_field<'a>(cpuinfo: &'a str, key: &str) -> Option<&'a str> {
    cpuinfo.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == key).then(|| v.trim())
    })
}

/// nova's `cpu_info` from the libvirt driver: arch, model, vendor, topology
/// and feature flags, here read from /proc/cpuinfo.
fn cpu_info(cpuinfo: &str) -> Value {
    let processors = cpuinfo
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count()
        .max(1);
    let mut sockets: Vec<&str> = cpuinfo
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == "physical id").then(|| v.trim())
        })
        .collect();
    sockets.sort_unstable();
    sockets.dedup();
    let sockets = sockets.len().max(1);
    let cores = cpu_field(cpuinfo, "cpu cores")
        .and_then(|c| c.parse::<usize>().ok())
        .unwrap_or(processors / sockets)
        .max(1);
    let threads = (processors / (sockets * cores)).max(1);
    let vendor = match cpu_field(cpuinfo, "vendor_id") {
        Some("GenuineIntel") => "Intel",
        Some("AuthenticAMD") => "AMD",
        Some(other) => other,
        None => "unknown",
    };
    let mut features: Vec<&str> = cpu_field(cpuinfo, "flags")
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    features.sort_unstable();
    json!({
        "arch": std::env::consts::ARCH,
        "model": cpu_field(cpuinfo, "model name").unwrap_or("unknown"),
        "vendor": vendor,
        "topology": {"cells": 1, "sockets": sockets, "cores": cores, "threads": threads},
        "features": features,
    })
}

/// `uptime`'s output: time, time up, load averages.
fn uptime_line() -> String {
    let up_secs = std::fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .unwrap_or(0.0) as u64;
    let load: Vec<String> = std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .map(str::to_string)
        .collect();
    let days = up_secs / 86400;
    let hours = (up_secs % 86400) / 3600;
    let minutes = (up_secs % 3600) / 60;
    let up = match days {
        0 => format!("{hours:2}:{minutes:02}"),
        1 => format!("1 day, {hours:2}:{minutes:02}"),
        d => format!("{d} days, {hours:2}:{minutes:02}"),
    };
    format!(
        " {} up {up},  load average: {}",
        chrono::Local::now().format("%H:%M:%S"),
        load.join(", ")
    )
}

/// QEMU's version as libvirt encodes it (major * 1e6 + minor * 1e3 +
/// micro), asked once; 0 when QEMU cannot be run.
async fn qemu_version() -> i64 {
    static VERSION: tokio::sync::OnceCell<i64> = tokio::sync::OnceCell::const_new();
    *VERSION
        .get_or_init(|| async {
            let out = tokio::process::Command::new("qemu-system-x86_64")
                .arg("--version")
                .output()
                .await;
            out.ok()
                .and_then(|o| parse_qemu_version(&String::from_utf8_lossy(&o.stdout)))
                .unwrap_or(0)
        })
        .await
}

fn parse_qemu_version(text: &str) -> Option<i64> {
    let rest = text.split("version ").nth(1)?;
    let version = rest.split_whitespace().next()?;
    let mut parts = version.split('.').map(|p| p.parse::<i64>().ok());
    let major = parts.next()??;
    let minor = parts.next().flatten().unwrap_or(0);
    let micro = parts.next().flatten().unwrap_or(0);
    Some(major * 1_000_000 + minor * 1000 + micro)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qemu_versions_encode_as_libvirt() {
        assert_eq!(
            parse_qemu_version("QEMU emulator version 7.2.19 (Debian 1:7.2+dfsg-7+deb12u16)\n"),
            Some(7_002_019)
        );
        assert_eq!(parse_qemu_version("nonsense"), None);
    }

    #[test]
    fn cpu_topology_comes_from_cpuinfo() {
        let text = "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Xeon\nphysical id\t: 0\ncpu cores\t: 2\nflags\t\t: sse2 fpu\n\nprocessor\t: 1\nphysical id\t: 0\ncpu cores\t: 2\n\nprocessor\t: 2\nphysical id\t: 0\n\nprocessor\t: 3\nphysical id\t: 0\n";
        let info = cpu_info(text);
        assert_eq!(info["vendor"], "Intel");
        assert_eq!(info["topology"]["cores"], 2);
        assert_eq!(info["topology"]["threads"], 2);
        assert_eq!(info["features"], json!(["fpu", "sse2"]));
    }
}
