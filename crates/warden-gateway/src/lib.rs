//! The pure pieces of Warden's enforcement gateway: everything about a request that can be
//! decided without a socket.
//!
//! Architecture invariant: no I/O and no async. The listener, forwarding and the in-memory
//! state the gateway reads on the hot path live elsewhere and call these functions, so
//! each check here is tested (and fuzzed) on plain values.
//!
//! The order of a request's checks, as the wiring will run them:
//! 1. [`path::vet`] the request target: upstream name, route path, forward path;
//! 2. [`framing::check_framing`] and the body limit;
//! 3. (token, revocation and audience checks, outside this crate);
//! 4. for MCP, [`origin::check_origin`] (DNS-rebinding protection); route match
//!    (`warden_policy::RouteMap`) or, for MCP, [`mcp::parse_request`] and
//!    [`mcp::check_headers`];
//! 5. task bounds and the policy decision (`warden_policy`);
//! 6. [`headers::prepare_upstream_headers`], then forward; for MCP answers,
//!    [`mcp::filter_answer_json`] or [`mcp::SseFilter`]; [`answer_headers::rewrite_answer_headers`] for
//!    answers that point into the upstream.
//!
//! Any refusal on the way becomes a [`refusal::Refusal`].

pub mod agent_headers;
pub mod answer_headers;
pub mod framing;
pub mod headers;
pub mod mcp;
pub mod origin;
pub mod overrides;
pub mod path;
pub mod refusal;
pub mod sniff;
pub mod strict_json;

pub use agent_headers::{
    MAX_REASON_BYTES, REASON_HEADER, bearer_token, content_codings, content_type_is, reason,
};
pub use answer_headers::{PublicBase, UpstreamAddress, rewrite_answer_headers};
pub use framing::{BodyFraming, BodyLimit, FramingError, check_declared_size, check_framing};
pub use headers::{
    HeaderError, Injection, prepare_upstream_headers, strip_agent_headers, strip_hop_by_hop,
};
pub use mcp::{Envelope, McpError, Message, MessageKind, Operation, SseFilter, ToolCall};
pub use origin::check_origin;
pub use overrides::{OverrideError, check_agent_headers, set_forwarding_headers};
pub use path::{PathError, VettedPath, vet};
pub use refusal::{Refusal, RefusalCode};
pub use sniff::{FramingSniffer, LostTrack, Suspicion};
