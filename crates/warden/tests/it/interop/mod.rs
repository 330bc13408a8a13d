//! Interoperability end to end: the official MCP conformance suite and the official MCP SDK
//! clients (Python and TypeScript) through the real `warden` gateway, against MCP servers
//! written with the official SDKs. The third-party tools are installed by
//! `tests/interop/setup.sh`.

mod conformance;
mod sdk_clients;
mod tools;
