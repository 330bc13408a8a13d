//! Refusals: the one shape in which the gateway says no.
//!
//! Every refusal is JSON `{"error": CODE, "message": TEXT, ...}` with a machine-readable
//! code, an HTTP status chosen in one exhaustive `match`, and, where a policy decided, the
//! ids of the policies that did (never their text). Messages are written here or come from
//! this crate's own error types, none of which carries a secret, a token, a query string or
//! policy text.

use http::StatusCode;
use serde::Serialize;
use warden_policy::{Decision, DecisionReason, Effect};

use crate::framing::FramingError;
use crate::mcp::McpError;
use crate::overrides::OverrideError;
use crate::path::PathError;

/// Why the gateway refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RefusalCode {
    /// No token, or one that does not verify.
    InvalidToken,
    /// The token, its agent or something above it was revoked or switched off.
    Revoked,
    /// The token was issued for another audience.
    WrongAudience,
    /// The token's task bounds do not cover this action and resource.
    OutOfTaskScope,
    /// Policy denies the request.
    Forbidden,
    /// Policy permits the request once a human approves it.
    ApprovalRequired,
    /// A human denied the approval the request carried.
    ApprovalDenied,
    /// The approval the request carried is unknown, used, expired or for another request.
    ApprovalInvalid,
    /// No route of the upstream matches the method and path.
    UnknownRoute,
    /// No upstream has this name.
    UnknownUpstream,
    /// The upstream could not be reached or failed.
    UpstreamUnavailable,
    /// Warden itself cannot decide or record right now; failing closed.
    Unavailable,
    /// The request is malformed or ambiguous.
    BadRequest,
    /// The request body is over the limit.
    BodyTooLarge,
    /// The upstream does not accept this method through the gateway (an MCP upstream takes
    /// only POST, GET and DELETE).
    MethodNotAllowed,
    /// The agent already has as many approvals waiting for a human as it may.
    TooManyPendingApprovals,
    /// The token lacks a scope a policy needs (RFC 6750 `insufficient_scope`).
    InsufficientScope,
    /// An MCP tool's definition changed since an administrator accepted it.
    ToolChanged,
    /// An MCP method the gateway does not pass, since no policy can govern it.
    UnknownMethod,
}

impl RefusalCode {
    /// The code on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidToken => "invalid_token",
            Self::Revoked => "revoked",
            Self::WrongAudience => "wrong_audience",
            Self::OutOfTaskScope => "out_of_task_scope",
            Self::Forbidden => "forbidden",
            Self::ApprovalRequired => "approval_required",
            Self::ApprovalDenied => "approval_denied",
            Self::ApprovalInvalid => "approval_invalid",
            Self::UnknownRoute => "unknown_route",
            Self::UnknownUpstream => "unknown_upstream",
            Self::UpstreamUnavailable => "upstream_unavailable",
            Self::Unavailable => "unavailable",
            Self::BadRequest => "bad_request",
            Self::BodyTooLarge => "body_too_large",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::TooManyPendingApprovals => "too_many_pending_approvals",
            Self::InsufficientScope => "insufficient_scope",
            Self::ToolChanged => "tool_changed",
            Self::UnknownMethod => "unknown_method",
        }
    }

    /// The HTTP status. Token problems are 401 (RFC 6750 `invalid_token` covers revoked and
    /// wrong-audience tokens too); decisions are 403; a hold is 403 as well, with an
    /// approval id to wait on.
    pub fn status(self) -> StatusCode {
        match self {
            Self::InvalidToken | Self::Revoked | Self::WrongAudience => StatusCode::UNAUTHORIZED,
            Self::OutOfTaskScope
            | Self::Forbidden
            | Self::ApprovalRequired
            | Self::ApprovalDenied
            | Self::ApprovalInvalid
            | Self::InsufficientScope
            | Self::ToolChanged => StatusCode::FORBIDDEN,
            Self::UnknownMethod => StatusCode::BAD_REQUEST,
            Self::UnknownRoute | Self::UnknownUpstream => StatusCode::NOT_FOUND,
            Self::UpstreamUnavailable => StatusCode::BAD_GATEWAY,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::BadRequest => StatusCode::BAD_REQUEST,
            Self::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::TooManyPendingApprovals => StatusCode::TOO_MANY_REQUESTS,
        }
    }
}

/// A refusal, ready to be written as a response body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refusal {
    /// The code.
    #[serde(rename = "error")]
    pub code: RefusalCode,
    /// What was wrong, for a person.
    pub message: String,
    /// The rule that refused: a decision reason (`forbid`, `no_permit`, …) or a check
    /// (`path`, `framing`, `mcp_envelope`, `task_bounds`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<&'static str>,
    /// The policies that decided, by id.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub policy_ids: Vec<String>,
    /// For `approval_required`, the approval to wait on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval_id: Option<String>,
    /// Where a human decides the held request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval_url: Option<Box<str>>,
    /// For `insufficient_scope`, the scopes a token needs (boxed: refusals travel in
    /// `Result`s, and this is rarely there).
    #[serde(rename = "scopes", skip_serializing_if = "Option::is_none")]
    pub required_scopes: Option<Box<Vec<String>>>,
}

impl Refusal {
    /// A refusal with a code and a message.
    pub fn new(code: RefusalCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            rule: None,
            policy_ids: Vec::new(),
            approval_id: None,
            approval_url: None,
            required_scopes: None,
        }
    }

    /// Names the rule that refused.
    pub fn with_rule(mut self, rule: &'static str) -> Self {
        self.rule = Some(rule);
        self
    }

    /// Attaches the approval id of a hold.
    pub fn with_approval_id(mut self, id: impl Into<String>) -> Self {
        self.approval_id = Some(id.into());
        self
    }

    pub fn with_approval_url(mut self, url: impl Into<String>) -> Self {
        self.approval_url = Some(url.into().into_boxed_str());
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.code.status()
    }

    /// The JSON body.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_else(|_| {
            // Serializing plain strings cannot fail; answer with the code alone if it did.
            serde_json::json!({ "error": self.code.as_str(), "message": "refused" })
        })
    }

    /// The refusal for a policy decision, or `None` when the decision allows.
    pub fn from_decision(decision: &Decision) -> Option<Self> {
        let (code, message) = match (decision.effect, decision.reason) {
            (Effect::Allow, _) => return None,
            (Effect::Hold, _) => (
                RefusalCode::ApprovalRequired,
                "this request needs a human's approval",
            ),
            (Effect::Deny, DecisionReason::Forbid) => {
                (RefusalCode::Forbidden, "a policy forbids this request")
            }
            (Effect::Deny, DecisionReason::NoPermit) => {
                (RefusalCode::Forbidden, "no policy permits this request")
            }
            (Effect::Deny, DecisionReason::EvaluationError) => (
                RefusalCode::Forbidden,
                "a policy could not be evaluated, so the request is refused",
            ),
            (Effect::Deny, DecisionReason::InvalidRequest) => (
                RefusalCode::Forbidden,
                "the request does not fit the policy schema",
            ),
            // A deny for an allowing reason cannot be built by the engine; refuse anyway.
            (
                Effect::Deny,
                DecisionReason::Permit
                | DecisionReason::Approved
                | DecisionReason::ApprovalRequired,
            ) => (RefusalCode::Forbidden, "the request is refused"),
        };
        Some(Self {
            code,
            message: message.to_owned(),
            rule: Some(decision.reason.as_str()),
            policy_ids: decision.policy_ids.clone(),
            approval_id: None,
            approval_url: None,
            required_scopes: None,
        })
    }
}

impl From<&PathError> for Refusal {
    fn from(e: &PathError) -> Self {
        match e {
            PathError::UnknownUpstreamName(_) => {
                Self::new(RefusalCode::UnknownUpstream, "no upstream has this name")
                    .with_rule("path")
            }
            PathError::NotAbsolute
            | PathError::TooLong
            | PathError::MissingUpstream
            | PathError::DotSegment
            | PathError::EncodedSeparator
            | PathError::EmptySegment
            | PathError::ControlCharacter
            | PathError::BadPercentEncoding
            | PathError::DoubleEncoding
            | PathError::NotUtf8
            | PathError::Fragment => {
                Self::new(RefusalCode::BadRequest, e.to_string()).with_rule("path")
            }
        }
    }
}

impl From<&FramingError> for Refusal {
    fn from(e: &FramingError) -> Self {
        let code = match e {
            FramingError::BodyTooLarge { .. } => RefusalCode::BodyTooLarge,
            FramingError::DuplicateContentLength
            | FramingError::InvalidContentLength
            | FramingError::ContentLengthWithTransferEncoding
            | FramingError::UnsupportedTransferEncoding(_) => RefusalCode::BadRequest,
        };
        Self::new(code, e.to_string()).with_rule("framing")
    }
}

impl From<&McpError> for Refusal {
    fn from(e: &McpError) -> Self {
        let code = match e {
            McpError::EventTooLarge | McpError::Ambiguous(_) => RefusalCode::UpstreamUnavailable,
            McpError::Json(_)
            | McpError::NotJsonRpc(_)
            | McpError::EmptyBatch
            | McpError::MissingToolName
            | McpError::BadArguments
            | McpError::MissingParam { .. }
            | McpError::BadParam { .. }
            | McpError::MissingHeader { .. }
            | McpError::BatchNotAllowed(_)
            | McpError::HeaderMismatch { .. } => RefusalCode::BadRequest,
        };
        let rule = match e {
            McpError::MissingHeader { .. } | McpError::HeaderMismatch { .. } => "mcp_headers",
            _ => "mcp_envelope",
        };
        Self::new(code, e.to_string()).with_rule(rule)
    }
}

impl From<&OverrideError> for Refusal {
    fn from(e: &OverrideError) -> Self {
        let rule = match e {
            OverrideError::UnderscoreHeader(_) | OverrideError::OverrideHeader(_) => "headers",
            OverrideError::MethodParameter(_) => "method_override",
        };
        Self::new(RefusalCode::BadRequest, e.to_string()).with_rule(rule)
    }
}
