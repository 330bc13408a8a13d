//! End to end: the real `warden` binary serving on ephemeral ports from a temporary data
//! directory, driven by the real `warden` CLI.

// Test support code reports failure by panicking, like the tests themselves.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr
)]

mod access_graph;
mod approvals;
mod audit;
mod browser;
mod cluster;
mod contract;
mod credentials;
mod fault_disk;
mod fault_kill;
mod fault_postgres;
mod gateway;
mod hardening_approvals;
mod hardening_gateway;
mod hardening_listeners;
mod hardening_plane;
mod harness;
mod held;
mod interop;
mod leaks;
mod lifecycle;
mod mcp;
mod mcp_governance;
mod policy;
mod posture;
mod races;
mod scan;
mod serve;
mod signals;
mod stdio;
mod task_window;
mod toxic_paths;
mod ui;
mod ui_browser;
mod ui_owner;
mod upstream;
