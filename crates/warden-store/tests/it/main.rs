//! The store conformance suite: the same tests against SQLite and PostgreSQL.
//!
//! SQLite runs always, on a fresh file per test. PostgreSQL runs against
//! `WARDEN_TEST_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/test`), each test
//! in a schema of its own. Under `CI=true` an unreachable PostgreSQL fails the run; elsewhere
//! the suite says plainly that it skipped PostgreSQL.

// Test support code reports failure by panicking, like the tests themselves.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr
)]

mod approvals;
mod audit;
mod backends;
mod conformance;
mod credentials;
mod evaluation;
mod feed;
mod inventory;
mod leaks;
mod races;
mod signals;
mod tool_pins;
mod upstreams;
