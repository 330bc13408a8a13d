//! Arbitrary bytes through the `aws_credential_report` parser: it must read them or refuse them, never panic.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = warden_import::aws_credential_report::parse("fuzz", data);
});
