//! Arbitrary bytes through the `gcp_sa_keys` parser: it must read them or refuse them, never panic.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = warden_import::gcp_sa_keys::parse("fuzz", data);
});
