//! Arbitrary bytes through the `k8s` parser: it must read them or refuse them, never panic.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = warden_import::k8s::parse("fuzz", data);
});
