//! The API in process: the real router over a real SQLite store, driven request by request.

// Test support code reports failure by panicking, like the tests themselves.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr
)]

mod approvals;
mod audit;
mod bad_input;
mod harness;
mod oauth;
mod openapi;
mod posture;
mod standard_client;
