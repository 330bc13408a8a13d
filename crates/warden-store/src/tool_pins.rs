//! MCP tools pinned to the definition that was trusted: what the gateway saw of each tool
//! of an MCP upstream, and whether the definition it serves now is the accepted one.
//!
//! The first definition seen is accepted (trust on first use); a later, different one
//! moves the pin to `changed`, recorded in the audit trail, until an administrator accepts
//! it (also recorded). A tool that changes back to its accepted definition is accepted
//! again by itself.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use warden_core::Timestamp;

/// Whether a tool's current definition is the accepted one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PinState {
    /// The definition served is the accepted one.
    Accepted,
    /// The definition changed; the tool is hidden and its calls refused.
    Changed,
}

impl PinState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Changed => "changed",
        }
    }
}

/// One tool of one MCP upstream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ToolPin {
    /// The upstream's name.
    pub upstream: String,
    /// The tool's name.
    pub tool: String,
    /// SHA-256 (hex) of the accepted definition.
    pub accepted_digest: String,
    /// SHA-256 (hex) of the definition last seen.
    pub seen_digest: String,
    pub state: PinState,
    #[schema(value_type = String, format = DateTime)]
    pub first_seen_at: Timestamp,
    /// When the definition last changed away from the accepted one.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub changed_at: Option<Timestamp>,
    #[schema(value_type = String, format = DateTime)]
    pub accepted_at: Timestamp,
    /// Who accepted it; none for the first definition seen.
    pub accepted_by: Option<String>,
}
