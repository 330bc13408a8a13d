//! Arbitrary bytes through detection and then the parser it picks (the path of an upload whose
//! format is not named): read or refused, never a panic.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = warden_import::parse("fuzz", data, None);
});
