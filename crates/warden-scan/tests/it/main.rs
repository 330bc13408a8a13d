//! Integration tests of the matcher against the built-in rules.

// Test helpers report failures by panicking; that is how a test fails.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod cases;
mod properties;
mod template;
mod warden_secrets;
