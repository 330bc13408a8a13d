//! MCP (streamable HTTP) as the gateway reads it: the JSON-RPC envelope of a request and what
//! each message asks ([`operation`]), the protocol revision it speaks ([`revision`]), the
//! answers filtered to what the agent may see ([`answer`]), the digest a tool's definition
//! is pinned by ([`pin`]), and refusals written as JSON-RPC
//! errors an MCP client can read ([`reply`]).
//!
//! The gateway reads only the envelope; it does not terminate MCP sessions. Every function
//! takes bytes or values and returns a value or an [`McpError`]; none panics on any input,
//! which is what the property tests check. Lists are filtered wherever a response carries
//! them (`result.tools`, `result.resources`, `result.resourceTemplates`, `result.prompts`),
//! whatever request it answers: over-filtering an unusual answer is harmless, missing a real
//! one is not. An entry without its string key (`name`, `uri`, `uriTemplate`) is dropped for
//! the same reason.

pub mod answer;
pub mod envelope;
pub mod operation;
pub mod pin;
pub mod reply;
pub mod revision;

pub use answer::{Listed, SseFilter, filter_answer_json, filter_answer_sse};
pub use envelope::{Envelope, Message, MessageKind, check_headers, parse_request};
pub use operation::{Completed, ListKind, Operation, ToolCall, uri_parts};
pub use revision::Revision;

/// The largest single SSE event the filter buffers, in bytes.
pub const MAX_SSE_EVENT: usize = 4 * 1024 * 1024;

/// The method whose calls are authorized per tool.
pub const TOOLS_CALL: &str = "tools/call";

/// Why an MCP message was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum McpError {
    #[error("the body is not valid JSON: {0}")]
    Json(String),
    #[error("the body is not a JSON-RPC 2.0 message: {0}")]
    NotJsonRpc(&'static str),
    #[error("the batch is empty")]
    EmptyBatch,
    #[error("tools/call needs params.name as a string")]
    MissingToolName,
    #[error("tools/call params.arguments must be an object")]
    BadArguments,
    #[error("{method} needs params.{param} as a non-empty string")]
    MissingParam { method: String, param: &'static str },
    #[error("{method} needs params.{param} to be {expected}")]
    BadParam {
        method: String,
        param: &'static str,
        expected: &'static str,
    },
    #[error("the {header} header says {header_value:?} but the body says {body_value:?}")]
    HeaderMismatch {
        header: &'static str,
        header_value: String,
        body_value: String,
    },
    #[error(
        "protocol revision {revision} requires the {header} header on {method}; send it with the message's {what}"
    )]
    MissingHeader {
        revision: &'static str,
        header: &'static str,
        method: String,
        what: &'static str,
    },
    #[error("protocol revision {0} has no batches; send one message per request")]
    BatchNotAllowed(&'static str),
    #[error("an event in the event stream is larger than {MAX_SSE_EVENT} bytes")]
    EventTooLarge,
    /// JSON that a lenient parser reads but the strict one refuses (a key twice): the
    /// gateway and the client could read different answers.
    #[error("the answer is ambiguous JSON: {0}")]
    Ambiguous(String),
}

#[cfg(test)]
mod tests;
