//! `/v1/approvals`: requests the gateway held for a human, and the human's decision.
//!
//! Only the admin token reaches these endpoints (they sit behind `require_admin`), so an
//! agent can never approve its own request with its own credentials; the store also refuses
//! an approver who is the agent or the user it acts for.
//!
//! Reading one approval shows the exact request that was held (see
//! `warden_proxy::held_view`), opened from its sealed copy, for as long as the approval can
//! still be used; afterwards the copy is gone and `request` is absent.

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use warden_audit::Actor;
use warden_core::{
    Approval, ApprovalFilter, ApprovalStatus, DomainError, HeldRequest, IdentityKind, IdentityRef,
    OwnerRef, Page,
};
use warden_store::{ApprovalVerdict, Approver, StoreError};

use super::owners::page_request;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{OptionalApiJson, QueryPairs};
use crate::state::AppState;

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecideApproval {
    /// The email (or id) of the active owner deciding; defaults to the admin.
    #[serde(default)]
    pub approver: Option<String>,
    /// Why; kept with the approval and in the audit trail.
    #[serde(default)]
    pub comment: Option<String>,
}

/// One approval with the request it is about.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApprovalDetail {
    #[serde(flatten)]
    pub approval: Approval,
    /// The exact request that was held: method, path, query, content type and whole body
    /// (base64 when not UTF-8 text), for MCP each tool call with its arguments; credentials
    /// redacted and listed in `redacted`. Present only while the approval is pending or
    /// approved and unexpired: it is purged once used, denied or expired.
    pub request: Option<HeldRequest>,
}

const LIST_PARAMS: &[&str] = &["status", "agent", "owner", "limit", "cursor"];

/// An agent named in a filter: its id, `KIND:NAME`, or just its name.
fn agent_ref(text: &str) -> Result<IdentityRef, ApiError> {
    if text.contains(':') || uuid::Uuid::parse_str(text).is_ok() {
        Ok(IdentityRef::parse(text)?)
    } else {
        Ok(IdentityRef::Name {
            kind: IdentityKind::Agent,
            name: text.to_string(),
        })
    }
}

/// List approvals, oldest first; statuses as of now (a pending one past its expiry reads
/// `expired`).
#[utoipa::path(get, path = "/v1/approvals", tag = "approvals",
    params(
        ("status" = Option<String>, Query, description = "pending, approved, denied, used or expired"),
        ("agent" = Option<String>, Query, description = "the agent's name, id or KIND:NAME"),
        ("owner" = Option<String>, Query, description = "the accountable owner's email"),
        ("limit" = Option<u32>, Query, description = "page size, 1-500, default 50"),
        ("cursor" = Option<String>, Query, description = "next_cursor from the previous page"),
    ),
    responses((status = 200, body = Page<Approval>), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody, description = "unknown_identity"),
              (status = 422, body = ErrorBody)))]
pub async fn list_approvals(
    State(state): State<AppState>,
    query: QueryPairs,
) -> Result<Json<Page<Approval>>, ApiError> {
    query.only(LIST_PARAMS)?;
    let page = page_request(&query)?;
    let status: Option<ApprovalStatus> = query.one("status")?.map(str::parse).transpose()?;
    let agent_id = match query.one("agent")? {
        Some(agent) => Some(
            state
                .store
                .get_identity(&agent_ref(agent)?)
                .await?
                .id
                .to_string(),
        ),
        None => None,
    };
    let owner_email = query
        .one("owner")?
        .map(warden_core::validate::normalize_email)
        .transpose()?;
    let filter = ApprovalFilter {
        status,
        agent_id,
        owner_email,
        limit: page.limit,
        cursor: page.after,
    };
    let now = state.clock.now();
    Ok(Json(state.store.list_approvals(&filter, now).await?))
}

/// Read one approval, with the exact request it is about while it can still be used.
#[utoipa::path(get, path = "/v1/approvals/{id}", tag = "approvals",
    params(("id" = String, Path, description = "the approval id the gateway answered with")),
    responses((status = 200, body = ApprovalDetail), (status = 404, body = ErrorBody, description = "unknown_approval")))]
pub async fn get_approval(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ApprovalDetail>, ApiError> {
    let now = state.clock.now();
    let approval = state.store.get_approval(&id, now).await?;
    let request = match state.store.approval_request(&id, now).await? {
        Some(sealed) if approval.is_open_at(now) => Some(open_request(&state, &id, &sealed)?),
        _ => None,
    };
    Ok(Json(ApprovalDetail { approval, request }))
}

/// Opens a held request sealed for approval `id`. One that does not open is an error, not
/// an approval shown without its request: the approver must not decide blind.
fn open_request(state: &AppState, id: &str, sealed: &[u8]) -> Result<HeldRequest, ApiError> {
    let associated = warden_proxy::held_view::associated_data(id);
    let plain = zeroize::Zeroizing::new(
        warden_crypto::seal::open(&state.data_key, sealed, &associated).map_err(|error| {
            ApiError::Internal(format!(
                "the held request of approval `{id}` does not open: {error}"
            ))
        })?,
    );
    serde_json::from_slice(&plain).map_err(|error| {
        ApiError::Internal(format!(
            "the held request of approval `{id}` is unreadable: {error}"
        ))
    })
}

/// Approve a pending request; the agent's next identical request goes through, once.
#[utoipa::path(post, path = "/v1/approvals/{id}/approve", tag = "approvals",
    request_body = Option<DecideApproval>,
    params(("id" = String, Path, description = "the approval id")),
    responses((status = 200, body = Approval),
              (status = 403, body = ErrorBody, description = "self_approval"),
              (status = 404, body = ErrorBody, description = "unknown_approval or unknown_owner"),
              (status = 409, body = ErrorBody, description = "approval_decided or owner_offboarded"),
              (status = 410, body = ErrorBody, description = "approval_expired")))]
pub async fn approve(
    State(state): State<AppState>,
    Path(id): Path<String>,
    OptionalApiJson(body): OptionalApiJson<DecideApproval>,
) -> Result<Json<Approval>, ApiError> {
    decide(&state, &id, true, body.unwrap_or_default()).await
}

/// Deny a pending request; the agent's retries with this approval are refused.
#[utoipa::path(post, path = "/v1/approvals/{id}/deny", tag = "approvals",
    request_body = Option<DecideApproval>,
    params(("id" = String, Path, description = "the approval id")),
    responses((status = 200, body = Approval),
              (status = 403, body = ErrorBody, description = "self_approval"),
              (status = 404, body = ErrorBody, description = "unknown_approval or unknown_owner"),
              (status = 409, body = ErrorBody, description = "approval_decided or owner_offboarded"),
              (status = 410, body = ErrorBody, description = "approval_expired")))]
pub async fn deny(
    State(state): State<AppState>,
    Path(id): Path<String>,
    OptionalApiJson(body): OptionalApiJson<DecideApproval>,
) -> Result<Json<Approval>, ApiError> {
    decide(&state, &id, false, body.unwrap_or_default()).await
}

/// The name an actor is recorded under when it decides without naming an approver.
fn actor_name(actor: &Actor) -> String {
    match actor {
        Actor::Admin { name, .. } | Actor::Agent { name, .. } => name.clone(),
        Actor::System { component } => component.clone(),
    }
}

async fn decide(
    state: &AppState,
    id: &str,
    approve: bool,
    body: DecideApproval,
) -> Result<Json<Approval>, ApiError> {
    // An owner's being active is checked by the store inside the decision's transaction,
    // so an offboarding on another node at the same moment cannot be decided past.
    let approver = match body.approver {
        Some(text) => {
            Approver::Owner(OwnerRef::parse(&text).map_err(|_| DomainError::UnknownOwner(text))?)
        }
        None => Approver::Caller(actor_name(&state.actor)),
    };
    let verdict = ApprovalVerdict {
        approver,
        approve,
        comment: body.comment,
    };
    let now = state.clock.now();
    let decided = state
        .store
        .decide_approval(&state.actor, id, verdict, now)
        .await;
    match decided {
        Ok(approval) => {
            state.approvals_changed.notify_waiters();
            tracing::info!(
                approval = %approval.id,
                status = %approval.status,
                agent = %approval.agent_name,
                "approval decided"
            );
            Ok(Json(approval))
        }
        Err(error) => {
            // A late decision records the approval as expired; waiters should see that too.
            if matches!(error, StoreError::Domain(DomainError::ApprovalExpired(_))) {
                state.approvals_changed.notify_waiters();
            }
            Err(error.into())
        }
    }
}
