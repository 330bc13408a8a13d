//! `/v1/identities`: register, list, read, edit, suspend, restore, revoke and reassign
//! identities of every kind.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;
use warden_core::{
    DomainError, Environment, Identity, IdentityFilter, IdentityKind, IdentityPatch, IdentityRef,
    Labels, NewIdentity, OwnerRef, Page, Source, SuspensionReason, Timestamp,
};
use warden_store::IdentityChange;

use super::owners::page_request;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, QueryPairs};
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateIdentity {
    pub kind: IdentityKind,
    /// Unique within its kind: 1-64 of a-z, 0-9, '.', '_', '-'.
    pub name: String,
    /// The accountable owner's email or id; the owner must be active.
    pub owner: String,
    #[serde(default)]
    pub purpose: Option<String>,
    #[serde(default)]
    pub environment: Option<Environment>,
    #[serde(default)]
    pub labels: Labels,
    #[serde(default)]
    pub expires_at: Option<Timestamp>,
    /// The parent identity's id or KIND:NAME (a sub-agent's agent).
    #[serde(default)]
    pub parent: Option<String>,
    /// `issued` (the default) or `imported`.
    #[serde(default)]
    pub source: Option<Source>,
    #[serde(default)]
    pub source_detail: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReassignIdentity {
    /// The email or id of the active owner who takes over.
    pub owner: String,
}

fn identity_ref(text: &str) -> Result<IdentityRef, ApiError> {
    // A name no identity can have (an unknown kind) names no identity: 404, like any other.
    IdentityRef::parse(text).map_err(|_| DomainError::UnknownIdentity(text.to_string()).into())
}

/// Register an identity of any kind under an active owner.
#[utoipa::path(post, path = "/v1/identities", tag = "identities", request_body = CreateIdentity,
    responses((status = 201, body = Identity), (status = 404, body = ErrorBody, description = "unknown_owner or unknown_parent"),
              (status = 409, body = ErrorBody, description = "duplicate_name or owner_offboarded"),
              (status = 422, body = ErrorBody, description = "invalid_field")))]
pub async fn create_identity(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CreateIdentity>,
) -> Result<(StatusCode, Json<Identity>), ApiError> {
    let owner =
        OwnerRef::parse(&body.owner).map_err(|_| DomainError::UnknownOwner(body.owner.clone()))?;
    let parent = body
        .parent
        .as_deref()
        .map(|text| {
            IdentityRef::parse(text).map_err(|_| DomainError::UnknownParent(text.to_string()))
        })
        .transpose()?;
    let new = NewIdentity {
        kind: body.kind,
        name: body.name,
        purpose: body.purpose,
        environment: body.environment,
        labels: body.labels,
        expires_at: body.expires_at,
        source: body.source.unwrap_or(Source::Issued),
        source_detail: body.source_detail,
    };
    let now = state.clock.now();
    let identity = state
        .store
        .create_identity(&state.actor, new, &owner, parent.as_ref(), now)
        .await?;
    tracing::info!(identity = %identity.reference(), owner = %identity.owner, "identity created");
    Ok((StatusCode::CREATED, Json(identity.as_seen_at(now))))
}

const LIST_PARAMS: &[&str] = &[
    "kind",
    "owner",
    "status",
    "environment",
    "source",
    "parent",
    "name",
    "label",
    "limit",
    "cursor",
];

/// List identities, oldest first; every filter narrows.
#[utoipa::path(get, path = "/v1/identities", tag = "identities",
    params(
        ("kind" = Option<String>, Query, description = "agent, service_account, api_key, oauth_app, token, certificate, webhook, workload"),
        ("owner" = Option<String>, Query, description = "owner email or id"),
        ("status" = Option<String>, Query, description = "active, suspended, revoked or expired"),
        ("environment" = Option<String>, Query, description = "prod, staging or dev"),
        ("source" = Option<String>, Query, description = "issued or imported"),
        ("parent" = Option<String>, Query, description = "parent id or KIND:NAME"),
        ("name" = Option<String>, Query, description = "exact name"),
        ("label" = Option<Vec<String>>, Query, description = "KEY=VALUE; repeat to require several"),
        ("limit" = Option<u32>, Query, description = "page size, 1-500, default 50"),
        ("cursor" = Option<String>, Query, description = "next_cursor from the previous page"),
    ),
    responses((status = 200, body = Page<Identity>), (status = 400, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list_identities(
    State(state): State<AppState>,
    query: QueryPairs,
) -> Result<Json<Page<Identity>>, ApiError> {
    query.only(LIST_PARAMS)?;
    let labels = query
        .all("label")
        .map(|pair| match pair.split_once('=') {
            Some((key, value)) => Ok((key.to_string(), value.to_string())),
            None => Err(ApiError::bad_request(
                "invalid_query",
                format!("label filter `{pair}` must be KEY=VALUE"),
            )),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let filter = IdentityFilter {
        kind: query.one("kind")?.map(str::parse).transpose()?,
        owner: query.one("owner")?.map(OwnerRef::parse).transpose()?,
        status: query.one("status")?.map(str::parse).transpose()?,
        environment: query.one("environment")?.map(str::parse).transpose()?,
        source: query.one("source")?.map(str::parse).transpose()?,
        parent: query.one("parent")?.map(IdentityRef::parse).transpose()?,
        name: query.one("name")?.map(str::to_string),
        labels,
    };
    let page = page_request(&query)?;
    let now = state.clock.now();
    let mut found = state.store.list_identities(&filter, &page, now).await?;
    found.items = found
        .items
        .into_iter()
        .map(|identity| identity.as_seen_at(now))
        .collect();
    Ok(Json(found))
}

/// Read one identity by id or KIND:NAME.
#[utoipa::path(get, path = "/v1/identities/{identity}", tag = "identities",
    params(("identity" = String, Path, description = "id or KIND:NAME, e.g. agent:support-bot")),
    responses((status = 200, body = Identity), (status = 404, body = ErrorBody)))]
pub async fn get_identity(
    State(state): State<AppState>,
    Path(identity): Path<String>,
) -> Result<Json<Identity>, ApiError> {
    let found = state.store.get_identity(&identity_ref(&identity)?).await?;
    Ok(Json(found.as_seen_at(state.clock.now())))
}

/// Edit purpose, environment, labels, expiry or parent. Absent fields stay; `null` clears.
#[utoipa::path(patch, path = "/v1/identities/{identity}", tag = "identities", request_body = IdentityPatch,
    params(("identity" = String, Path, description = "id or KIND:NAME")),
    responses((status = 200, body = Identity), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "identity_revoked"),
              (status = 422, body = ErrorBody, description = "invalid_field or cyclic_parent")))]
pub async fn update_identity(
    State(state): State<AppState>,
    Path(identity): Path<String>,
    ApiJson(patch): ApiJson<IdentityPatch>,
) -> Result<Json<Identity>, ApiError> {
    let now = state.clock.now();
    // A new expiry or a new parent changes which tokens verification honours.
    let affects_tokens = patch.expires_at.is_some() || patch.parent.is_some();
    let updated = state
        .store
        .update_identity(&state.actor, &identity_ref(&identity)?, patch, now)
        .await?;
    if affects_tokens {
        state.credentials.refresh(&*state.store, now).await?;
    }
    Ok(Json(updated.as_seen_at(now)))
}

async fn change(
    state: &AppState,
    identity: &str,
    change: IdentityChange,
) -> Result<Json<Identity>, ApiError> {
    let now = state.clock.now();
    let what = format!("{change:?}");
    let changed = state
        .store
        .change_identity(&state.actor, &identity_ref(identity)?, change, now)
        .await?;
    state.credentials.refresh(&*state.store, now).await?;
    tracing::info!(identity = %changed.reference(), change = %what, "identity changed");
    Ok(Json(changed.as_seen_at(now)))
}

/// Suspend an identity; reversible with restore.
#[utoipa::path(post, path = "/v1/identities/{identity}/suspend", tag = "identities",
    params(("identity" = String, Path, description = "id or KIND:NAME")),
    responses((status = 200, body = Identity), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn suspend_identity(
    State(state): State<AppState>,
    Path(identity): Path<String>,
) -> Result<Json<Identity>, ApiError> {
    change(
        &state,
        &identity,
        IdentityChange::Suspend(SuspensionReason::Manual),
    )
    .await
}

/// Lift a suspension. Refused while the owner is offboarded (reassign instead).
#[utoipa::path(post, path = "/v1/identities/{identity}/restore", tag = "identities",
    params(("identity" = String, Path, description = "id or KIND:NAME")),
    responses((status = 200, body = Identity), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn restore_identity(
    State(state): State<AppState>,
    Path(identity): Path<String>,
) -> Result<Json<Identity>, ApiError> {
    change(&state, &identity, IdentityChange::Restore).await
}

/// Revoke an identity for good.
#[utoipa::path(post, path = "/v1/identities/{identity}/revoke", tag = "identities",
    params(("identity" = String, Path, description = "id or KIND:NAME")),
    responses((status = 200, body = Identity), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn revoke_identity(
    State(state): State<AppState>,
    Path(identity): Path<String>,
) -> Result<Json<Identity>, ApiError> {
    change(&state, &identity, IdentityChange::Revoke).await
}

/// Move one identity to another, active owner.
#[utoipa::path(post, path = "/v1/identities/{identity}/reassign", tag = "identities", request_body = ReassignIdentity,
    params(("identity" = String, Path, description = "id or KIND:NAME")),
    responses((status = 200, body = Identity), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn reassign_identity(
    State(state): State<AppState>,
    Path(identity): Path<String>,
    ApiJson(body): ApiJson<ReassignIdentity>,
) -> Result<Json<Identity>, ApiError> {
    let owner =
        OwnerRef::parse(&body.owner).map_err(|_| DomainError::UnknownOwner(body.owner.clone()))?;
    change(&state, &identity, IdentityChange::Reassign(owner)).await
}
