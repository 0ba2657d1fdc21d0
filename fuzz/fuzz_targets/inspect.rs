//! The streaming inspector on arbitrary bytes, in arbitrary chunkings:
//! never panics, never holds more than 512 KiB.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nimbus_disk::Inspector;

fuzz_target!(|data: &[u8]| {
    let (chunk, body) = match data.split_first() {
        Some((c, rest)) => (usize::from(*c) * 37 + 1, rest),
        None => return,
    };
    let mut i = Inspector::new();
    for c in body.chunks(chunk) {
        i.feed(c);
        assert!(i.held_bytes() < 512 * 1024);
        let _ = i.early_refusal("qcow2");
    }
    let r = i.finish();
    let _ = r.refusal("raw");
});
