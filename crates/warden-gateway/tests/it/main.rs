//! Integration tests of warden-gateway: every refusal the gateway can give, produced by
//! the check that gives it, with its status and JSON body snapshotted.

// Test helpers report failures by panicking; that is how a test fails.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod refusals;
