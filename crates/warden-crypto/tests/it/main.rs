//! Integration tests of warden-crypto through its public API only: what the server and
//! third-party clients see.

// Test helpers outside `#[test]` functions fail the test by panicking, which clippy's
// `allow-panic-in-tests` does not cover in an integration-test crate.
#![allow(clippy::panic)]

mod jwks_clients;
mod untrusted_input;
