//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

/// Runs a tool and returns stdout; panics with stderr on failure.
pub fn run(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd} not runnable: {e}"));
    assert!(
        out.status.success(),
        "{cmd} {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Exit code of a tool.
pub fn status(cmd: &str, args: &[&str]) -> i32 {
    Command::new(cmd)
        .args(args)
        .output()
        .unwrap()
        .status
        .code()
        .unwrap_or(-1)
}

pub fn qemu_img(args: &[&str]) -> String {
    run("qemu-img", args)
}

pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Deterministic, compressible-but-not-trivial content (xorshift).
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut v = Vec::with_capacity(len);
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        // Half text-like bytes, half random, so compression has something to do.
        let b = x.to_le_bytes();
        for (i, byte) in b.iter().enumerate() {
            v.push(if i % 2 == 0 {
                b'a' + (byte % 26)
            } else {
                *byte
            });
        }
    }
    v.truncate(len);
    v
}

/// Writes `data` at `off` into an image via qemu-io (format given).
pub fn qemu_io_write(path: &Path, fmt: &str, off: u64, len: u64, pattern_byte: u8) {
    run(
        "qemu-io",
        &[
            "-f",
            fmt,
            "-c",
            &format!("write -P {pattern_byte} {off} {len}"),
            s(path),
        ],
    );
}

/// The guest-visible bytes of an image, as qemu-img sees them.
pub fn qemu_flatten(path: &Path, fmt: &str, dir: &Path) -> Vec<u8> {
    let out = dir.join(format!(
        "flat-{}.raw",
        path.file_name().unwrap().to_string_lossy()
    ));
    qemu_img(&["convert", "-f", fmt, "-O", "raw", s(path), s(&out)]);
    std::fs::read(out).unwrap()
}

pub fn sha(data: &[u8]) -> u64 {
    // FNV-1a is enough to notice a change.
    let mut h: u64 = 0xcbf29ce484222325;
    for b in data {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}
