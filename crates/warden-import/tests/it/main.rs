//! Integration tests of the importers: each format read from fixtures written in its real
//! shape, refusals of malformed files, detection, and arbitrary input.

// Test helpers report failures by panicking; that is how a test fails.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod detection;
mod properties;
mod refusals;
mod round_trips;

use std::path::PathBuf;

/// A fixture's bytes and the name an import would give it.
pub fn fixture(relative: &str) -> (String, Vec<u8>) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(relative);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (relative.to_string(), bytes)
}
