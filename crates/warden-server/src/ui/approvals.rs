//! `/ui/approvals`: the queue of requests the gateway holds for a human. Each shows the
//! exact request held (as `GET /v1/approvals/{id}` does: credentials redacted, the body
//! whole) and is approved or denied with a comment, decided as the signed-in person and
//! audited as theirs. The page reloads itself while nobody is typing (`assets/warden.js`).

use askama::Template;
use axum::Json;
use axum::extract::{Path, State};
use axum::response::Response;
use serde::Deserialize;
use warden_core::{BodyEncoding, HeldRequest};

use super::guard::{CheckedForm, Everyone, SignedIn};
use super::view::when;
use super::{Chrome, query, render, see_other};
use crate::api::approvals::{self, DecideApproval};
use crate::error::ApiError;
use crate::extract::OptionalApiJson;
use crate::state::AppState;

const QUEUE_SHOWN: &str = "50";

#[derive(Template)]
#[template(path = "ui/approvals.html")]
struct ApprovalsPage {
    chrome: Chrome,
    pending: Vec<Pending>,
    more: bool,
}

struct Pending {
    id: String,
    agent: String,
    owner: String,
    on_behalf_of: String,
    upstream: String,
    action: String,
    resource: String,
    reason: String,
    policies: String,
    requested: String,
    expires: String,
    request: Option<Shown>,
    problem: Option<String>,
}

/// The held request as an approver reads it.
struct Shown {
    line: String,
    content_type: String,
    body: String,
    body_note: String,
    tool_calls: Vec<(String, String)>,
    redacted: String,
}

impl Shown {
    fn of(request: &HeldRequest) -> Self {
        let line = match &request.query {
            Some(query) => format!("{} {}?{query}", request.method, request.path),
            None => format!("{} {}", request.method, request.path),
        };
        let body_note = match request.body.encoding {
            BodyEncoding::Text => format!("{} bytes", request.body.size),
            BodyEncoding::Base64 => {
                format!("{} bytes, not text: shown as base64", request.body.size)
            }
        };
        Self {
            line,
            content_type: request.content_type.clone().unwrap_or_default(),
            body: request.body.content.clone(),
            body_note,
            tool_calls: request
                .tool_calls
                .iter()
                .map(|call| {
                    let arguments = serde_json::to_string_pretty(&call.arguments)
                        .unwrap_or_else(|_| call.arguments.to_string());
                    (call.name.clone(), arguments)
                })
                .collect(),
            redacted: request.redacted.join(", "),
        }
    }
}

#[derive(Deserialize)]
pub struct Decision {
    #[serde(default)]
    comment: String,
}

/// `GET /ui/approvals`: the pending queue, oldest first.
pub async fn page(
    State(state): State<AppState>,
    signed_in: SignedIn<Everyone>,
) -> Result<Response, ApiError> {
    let mut pairs = vec![("status", "pending"), ("limit", QUEUE_SHOWN)];
    // An owner's queue holds the requests of the agents they are accountable for.
    if let Some(email) = signed_in.session.owner_email() {
        pairs.push(("owner", email));
    }
    let Json(listed) = approvals::list_approvals(State(state.clone()), query(&pairs)).await?;
    let mut pending = Vec::with_capacity(listed.items.len());
    for approval in &listed.items {
        // One held request that cannot be opened must not hide the rest of the queue; it
        // is shown without its request, and can only be denied.
        let (request, problem) =
            match approvals::get_approval(State(state.clone()), Path(approval.id.clone())).await {
                Ok(Json(detail)) => match detail.request {
                    Some(request) => (Some(Shown::of(&request)), None),
                    None => (None, Some("the held request is no longer kept".to_string())),
                },
                Err(error) => (
                    None,
                    Some(format!("the held request cannot be shown: {error}")),
                ),
            };
        pending.push(Pending {
            id: approval.id.clone(),
            agent: approval.agent_name.clone(),
            owner: approval.owner_email.clone(),
            on_behalf_of: approval.on_behalf_of.clone().unwrap_or_default(),
            upstream: approval.binding.upstream.clone(),
            action: approval.action.clone(),
            resource: approval.resource.clone(),
            reason: approval.reason.clone().unwrap_or_default(),
            policies: approval.policy_ids.join(", "),
            requested: when(approval.requested_at),
            expires: when(approval.expires_at),
            request,
            problem,
        });
    }
    render(&ApprovalsPage {
        chrome: Chrome::new(&signed_in, "approvals"),
        pending,
        more: listed.next_cursor.is_some(),
    })
}

/// `POST /ui/approvals/{id}/approve`.
pub async fn approve(
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: CheckedForm<Decision, Everyone>,
) -> Result<Response, ApiError> {
    decide(state, id, true, form).await
}

/// `POST /ui/approvals/{id}/deny`.
pub async fn deny(
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: CheckedForm<Decision, Everyone>,
) -> Result<Response, ApiError> {
    decide(state, id, false, form).await
}

async fn decide(
    state: AppState,
    id: String,
    approve: bool,
    CheckedForm { signed_in, form }: CheckedForm<Decision, Everyone>,
) -> Result<Response, ApiError> {
    let comment = form.comment.trim();
    let approver = match signed_in.session.owner_email() {
        // An owner decides only for their own agents, and the decision is theirs: the
        // store checks the owner is active as it records it.
        Some(email) => {
            let Json(approval) =
                approvals::get_approval(State(state.clone()), Path(id.clone())).await?;
            if approval.approval.owner_email != email {
                return Err(warden_core::DomainError::UnknownApproval(id).into());
            }
            Some(email.to_string())
        }
        // An administrator decides in their own name: the API's code path records the
        // acting actor's name.
        None => None,
    };
    let body = DecideApproval {
        approver,
        comment: (!comment.is_empty()).then(|| comment.to_string()),
    };
    let acting = signed_in.acting(&state);
    let handler = if approve {
        approvals::approve(State(acting), Path(id), OptionalApiJson(Some(body))).await
    } else {
        approvals::deny(State(acting), Path(id), OptionalApiJson(Some(body))).await
    };
    let Json(decided) = handler?;
    tracing::info!(
        person = %signed_in.session.person(),
        approval = %decided.id,
        status = %decided.status,
        "approval decided from the dashboard"
    );
    Ok(see_other("/ui/approvals"))
}
