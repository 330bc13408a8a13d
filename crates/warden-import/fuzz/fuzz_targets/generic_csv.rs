//! Arbitrary bytes through the `generic_csv` parser: it must read them or refuse them, never panic.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = warden_import::generic_csv::parse("fuzz", data);
});
