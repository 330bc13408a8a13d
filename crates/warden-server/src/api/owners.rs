//! `/v1/owners`: register, list, read, rename, offboard and reassign owners.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use warden_core::{
    Identity, NewOwner, Owner, OwnerFilter, OwnerPatch, OwnerRef, Page, PageRequest,
};

use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, QueryPairs};
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOwner {
    /// The owner's email; also how they are referred to.
    pub email: String,
    /// A display name.
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OffboardResult {
    pub owner: Owner,
    /// The identities suspended by this offboarding.
    pub suspended: Vec<Identity>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReassignOwner {
    /// The email or id of the active owner who takes over.
    pub to: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReassignResult {
    /// The identities that moved to the new owner.
    pub moved: Vec<Identity>,
}

pub(super) fn page_request(query: &QueryPairs) -> Result<PageRequest, ApiError> {
    let limit = query
        .one("limit")?
        .map(|text| {
            text.parse::<u32>().map_err(|_| {
                ApiError::bad_request(
                    "invalid_query",
                    format!("`limit` must be a whole number, got `{text}`"),
                )
            })
        })
        .transpose()?;
    Ok(PageRequest::new(
        limit,
        query.one("cursor")?.map(str::to_string),
    )?)
}

fn owner_ref(text: &str) -> Result<OwnerRef, ApiError> {
    OwnerRef::parse(text)
        .map_err(|_| warden_core::DomainError::UnknownOwner(text.to_string()).into())
}

/// Register an accountable owner.
#[utoipa::path(post, path = "/v1/owners", tag = "owners", request_body = CreateOwner,
    responses((status = 201, body = Owner), (status = 409, body = ErrorBody, description = "duplicate_owner"),
              (status = 422, body = ErrorBody, description = "invalid_email or invalid_field")))]
pub async fn create_owner(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CreateOwner>,
) -> Result<(StatusCode, Json<Owner>), ApiError> {
    let new = NewOwner::new(&body.email, &body.name)?;
    let owner = state
        .store
        .create_owner(&state.actor, new, state.clock.now())
        .await?;
    tracing::info!(owner = %owner.email, "owner created");
    Ok((StatusCode::CREATED, Json(owner)))
}

/// List owners, oldest first.
#[utoipa::path(get, path = "/v1/owners", tag = "owners",
    params(
        ("status" = Option<String>, Query, description = "active or offboarded"),
        ("limit" = Option<u32>, Query, description = "page size, 1-500, default 50"),
        ("cursor" = Option<String>, Query, description = "next_cursor from the previous page"),
    ),
    responses((status = 200, body = Page<Owner>), (status = 400, body = ErrorBody)))]
pub async fn list_owners(
    State(state): State<AppState>,
    query: QueryPairs,
) -> Result<Json<Page<Owner>>, ApiError> {
    query.only(&["status", "limit", "cursor"])?;
    let filter = OwnerFilter {
        status: query.one("status")?.map(str::parse).transpose()?,
    };
    let page = page_request(&query)?;
    Ok(Json(state.store.list_owners(&filter, &page).await?))
}

/// Read one owner by email or id.
#[utoipa::path(get, path = "/v1/owners/{owner}", tag = "owners",
    params(("owner" = String, Path, description = "email or id")),
    responses((status = 200, body = Owner), (status = 404, body = ErrorBody)))]
pub async fn get_owner(
    State(state): State<AppState>,
    Path(owner): Path<String>,
) -> Result<Json<Owner>, ApiError> {
    Ok(Json(state.store.get_owner(&owner_ref(&owner)?).await?))
}

/// Change an owner's display name.
#[utoipa::path(patch, path = "/v1/owners/{owner}", tag = "owners", request_body = OwnerPatch,
    params(("owner" = String, Path, description = "email or id")),
    responses((status = 200, body = Owner), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_owner(
    State(state): State<AppState>,
    Path(owner): Path<String>,
    ApiJson(patch): ApiJson<OwnerPatch>,
) -> Result<Json<Owner>, ApiError> {
    let owner = state
        .store
        .update_owner(&state.actor, &owner_ref(&owner)?, patch, state.clock.now())
        .await?;
    Ok(Json(owner))
}

/// Offboard an owner: every active identity they own is suspended until reassigned.
#[utoipa::path(post, path = "/v1/owners/{owner}/offboard", tag = "owners",
    params(("owner" = String, Path, description = "email or id")),
    responses((status = 200, body = OffboardResult), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "already offboarded")))]
pub async fn offboard_owner(
    State(state): State<AppState>,
    Path(owner): Path<String>,
) -> Result<Json<OffboardResult>, ApiError> {
    let outcome = state
        .store
        .offboard_owner(&state.actor, &owner_ref(&owner)?, state.clock.now())
        .await?;
    tracing::info!(owner = %outcome.owner.email, suspended = outcome.suspended.len(), "owner offboarded");
    let now = state.clock.now();
    state.credentials.refresh(&*state.store, now).await?;
    // Imported identities of an offboarded owner raise `owner-offboarded`.
    state.posture.request_full();
    Ok(Json(OffboardResult {
        owner: outcome.owner,
        suspended: outcome
            .suspended
            .into_iter()
            .map(|identity| identity.as_seen_at(now))
            .collect(),
    }))
}

/// Move every identity of this owner to another, active owner. Suspensions caused by the
/// previous owner's offboarding are lifted.
#[utoipa::path(post, path = "/v1/owners/{owner}/reassign", tag = "owners", request_body = ReassignOwner,
    params(("owner" = String, Path, description = "email or id of the current owner")),
    responses((status = 200, body = ReassignResult), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn reassign_owner(
    State(state): State<AppState>,
    Path(owner): Path<String>,
    ApiJson(body): ApiJson<ReassignOwner>,
) -> Result<Json<ReassignResult>, ApiError> {
    let now = state.clock.now();
    let moved = state
        .store
        .reassign_identities(
            &state.actor,
            &owner_ref(&owner)?,
            &owner_ref(&body.to)?,
            now,
        )
        .await?;
    tracing::info!(from = %owner, to = %body.to, moved = moved.len(), "identities reassigned");
    state.credentials.refresh(&*state.store, now).await?;
    Ok(Json(ReassignResult {
        moved: moved
            .into_iter()
            .map(|identity| identity.as_seen_at(now))
            .collect(),
    }))
}
