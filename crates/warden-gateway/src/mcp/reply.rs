//! Refusals an MCP client can read: a JSON-RPC error response for each request the
//! refused body carried, with the request's own `id`, a stable code, the refusal's message,
//! and the refusal itself (its code, rule, policy ids, approval id and link) as
//! `error.data`.
//!
//! A refusal of what a request asks (a policy said no, a human must approve, the method is
//! not one the gateway passes) is a JSON-RPC error in a `200` answer, because that is where
//! an MCP client looks for a failed call: SDKs surface it to the agent as an MCP error with
//! its message, where a 4xx would be a transport failure the agent cannot read. A refusal of
//! the message itself (it is not JSON-RPC, too large, of the wrong revision's shape) keeps
//! its HTTP status and carries the JSON-RPC error as its body. Authentication problems are
//! never written here: they stay `401` with `WWW-Authenticate`, as the MCP authorization
//! specification asks, so a client knows to get a token.

use http::StatusCode;
use serde_json::{Value, json};

use crate::refusal::{Refusal, RefusalCode};

/// JSON-RPC's own codes.
pub const PARSE_ERROR: i64 = -32700;
pub const INVALID_REQUEST: i64 = -32600;
pub const METHOD_NOT_FOUND: i64 = -32601;
/// The stateless revision's code for routing headers that disagree with the body (or are
/// missing where it requires them).
pub const HEADER_MISMATCH: i64 = -32020;

/// Warden's codes, stable across releases, one per kind of refusal.
pub const REFUSED_BY_POLICY: i64 = -32030;
pub const APPROVAL_REQUIRED: i64 = -32031;
pub const APPROVAL_NOT_USABLE: i64 = -32032;
pub const OUT_OF_TASK_SCOPE: i64 = -32033;
pub const TOO_MANY_PENDING_APPROVALS: i64 = -32034;
pub const TOOL_CHANGED: i64 = -32035;
pub const UPSTREAM_UNAVAILABLE: i64 = -32036;
pub const GATEWAY_UNAVAILABLE: i64 = -32037;

/// The JSON-RPC code of a refusal.
pub fn code(refusal: &Refusal) -> i64 {
    if refusal.rule == Some("mcp_headers") {
        return HEADER_MISMATCH;
    }
    match refusal.code {
        RefusalCode::Forbidden | RefusalCode::InsufficientScope => REFUSED_BY_POLICY,
        RefusalCode::ApprovalRequired => APPROVAL_REQUIRED,
        RefusalCode::ApprovalDenied | RefusalCode::ApprovalInvalid => APPROVAL_NOT_USABLE,
        RefusalCode::OutOfTaskScope => OUT_OF_TASK_SCOPE,
        RefusalCode::TooManyPendingApprovals => TOO_MANY_PENDING_APPROVALS,
        RefusalCode::ToolChanged => TOOL_CHANGED,
        RefusalCode::UnknownMethod => METHOD_NOT_FOUND,
        RefusalCode::UpstreamUnavailable => UPSTREAM_UNAVAILABLE,
        RefusalCode::Unavailable => GATEWAY_UNAVAILABLE,
        RefusalCode::InvalidToken
        | RefusalCode::Revoked
        | RefusalCode::WrongAudience
        | RefusalCode::UnknownRoute
        | RefusalCode::UnknownUpstream
        | RefusalCode::BadRequest
        | RefusalCode::BodyTooLarge
        | RefusalCode::MethodNotAllowed => INVALID_REQUEST,
    }
}

/// Whether a refusal is of what the request asks, answered `200` with JSON-RPC errors.
pub fn is_decision(refusal: &Refusal) -> bool {
    matches!(
        refusal.code,
        RefusalCode::Forbidden
            | RefusalCode::ApprovalRequired
            | RefusalCode::ApprovalDenied
            | RefusalCode::ApprovalInvalid
            | RefusalCode::OutOfTaskScope
            | RefusalCode::TooManyPendingApprovals
            | RefusalCode::ToolChanged
            | RefusalCode::UnknownMethod
    )
}

/// One JSON-RPC error response.
pub fn error_response(id: &Value, code: i64, refusal: &Refusal) -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": {
            "code": code,
            "message": refusal.message,
            "data": refusal.to_json(),
        },
    })
}

/// The answer to a refused MCP body: its status and its JSON body. `ids` are the ids of
/// the requests the body carried (none when it could not be read, or carried only
/// notifications), `batch` whether it was an array; `parse_error` whether it was not JSON;
/// `stateless` whether it spoke the stateless revision, which answers a method it does not
/// serve with `404` rather than in a `200`.
pub fn refusal_answer(
    ids: &[Value],
    batch: bool,
    refusal: &Refusal,
    parse_error: bool,
    stateless: bool,
) -> (StatusCode, Value) {
    let rpc_code = if parse_error {
        PARSE_ERROR
    } else {
        code(refusal)
    };
    let status = if stateless && refusal.code == RefusalCode::UnknownMethod {
        StatusCode::NOT_FOUND
    } else if is_decision(refusal) && !ids.is_empty() {
        StatusCode::OK
    } else {
        refusal.status()
    };
    let body = match ids {
        [] => error_response(&Value::Null, rpc_code, refusal),
        [one] if !batch => error_response(one, rpc_code, refusal),
        many => Value::Array(
            many.iter()
                .map(|id| error_response(id, rpc_code, refusal))
                .collect(),
        ),
    };
    (status, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn denied() -> Refusal {
        Refusal {
            policy_ids: vec!["no-deletes".into()],
            ..Refusal::new(RefusalCode::Forbidden, "a policy forbids this request")
                .with_rule("forbid")
        }
    }

    #[test]
    fn a_denied_request_is_an_error_with_its_id() {
        let (status, body) = refusal_answer(&[json!(7)], false, &denied(), false, false);
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["id"], json!(7));
        assert_eq!(body["error"]["code"], json!(REFUSED_BY_POLICY));
        assert_eq!(
            body["error"]["message"],
            json!("a policy forbids this request")
        );
        assert_eq!(body["error"]["data"]["rule"], json!("forbid"));
        assert_eq!(body["error"]["data"]["policy_ids"], json!(["no-deletes"]));
    }

    #[test]
    fn a_batch_gets_one_error_per_request() {
        let (status, body) = refusal_answer(&[json!("a"), json!(2)], true, &denied(), false, false);
        assert_eq!(status, StatusCode::OK);
        let ids: Vec<Value> = body
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| e["id"].clone())
            .collect();
        assert_eq!(ids, [json!("a"), json!(2)]);
    }

    #[test]
    fn malformed_bodies_keep_their_status() {
        let bad = Refusal::new(RefusalCode::BadRequest, "the body is not valid JSON: x");
        let (status, body) = refusal_answer(&[], false, &bad, true, false);
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["id"], Value::Null);
        assert_eq!(body["error"]["code"], json!(PARSE_ERROR));
        let (status, body) = refusal_answer(&[json!(1)], false, &bad, false, false);
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"]["code"], json!(INVALID_REQUEST));
    }

    #[test]
    fn a_refused_notification_has_no_id_to_answer() {
        let (status, body) = refusal_answer(&[], false, &denied(), false, false);
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(body["id"], Value::Null);
    }

    #[test]
    fn the_stateless_revision_answers_unserved_methods_with_404() {
        let unknown = Refusal::new(RefusalCode::UnknownMethod, "not passed");
        let (status, body) = refusal_answer(&[json!(9)], false, &unknown, false, true);
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body["error"]["code"], json!(METHOD_NOT_FOUND));
        let (status, _) = refusal_answer(&[json!(9)], false, &unknown, false, false);
        assert_eq!(status, StatusCode::OK);
        let mismatch = Refusal::new(RefusalCode::BadRequest, "headers").with_rule("mcp_headers");
        let (status, body) = refusal_answer(&[json!(9)], false, &mismatch, false, true);
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"]["code"], json!(HEADER_MISMATCH));
    }

    #[test]
    fn holds_carry_the_approval() {
        let held = Refusal::new(
            RefusalCode::ApprovalRequired,
            "this request needs a human's approval",
        )
        .with_approval_id("apr_1")
        .with_approval_url("https://warden.example/ui/approvals/apr_1");
        let (status, body) = refusal_answer(&[json!(1)], false, &held, false, false);
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["error"]["code"], json!(APPROVAL_REQUIRED));
        assert_eq!(body["error"]["data"]["approval_id"], json!("apr_1"));
    }
}
