//! Local MCP servers (`mcp-stdio` upstreams): Warden runs the server's command, speaks
//! newline-delimited JSON-RPC to it on stdin and stdout, and offers it to the gateway as a
//! streamable-HTTP MCP endpoint that only the gateway can reach, so it is governed exactly
//! like an MCP server over HTTP.
//!
//! `frame` reads the child's output (pure, bounded, property-tested); `child` runs one
//! process and matches answers to requests; `bridge` is its streamable-HTTP face;
//! `supervisor` keeps one child and bridge per upstream, restarting and stopping them.
//!
//! Architecture invariant: the child's secret reaches it only through its environment; it
//! is never in its arguments, a log line, an error or an answer (stderr lines and answers
//! have it redacted).

pub mod bridge;
pub mod child;
pub mod frame;
pub mod supervisor;

pub use child::resolve_program;
pub use supervisor::{Settings, StdioUpstream, Supervisor};
