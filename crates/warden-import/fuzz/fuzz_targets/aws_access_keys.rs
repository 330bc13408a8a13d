//! Arbitrary bytes through the `aws_access_keys` parser: it must read them or refuse them, never panic.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = warden_import::aws_access_keys::parse("fuzz", data);
});
