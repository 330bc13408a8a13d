//! Integration tests of warden-policy: decision tables as data, and loading policies.

// Test helpers report failures by panicking; that is how a test fails.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod decisions;
mod loading;
