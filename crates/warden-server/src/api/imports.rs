//! `/v1/imports` and `/v1/imported-identities`: hand Warden the exports of other systems, and
//! read, filter and assign owners to what they held.
//!
//! An import parses every file first (`warden-import`), off the async threads; a file that
//! does not parse refuses the whole import, naming the file, the place and the field. The
//! store then applies all of it in one transaction, and the identities it changed are
//! re-evaluated before the answer, so the findings are current when the caller looks.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use warden_core::{DomainError, Environment, OwnerRef, Page};
use warden_import::{ImportFile, SourceFormat};
use warden_store::findings::ReconcileOutcome;
use warden_store::inventory::{
    ImportOptions, ImportSummary, ImportedFilter, ImportedRecord, PresenceStatus,
};

use super::owners::page_request;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, QueryPairs};
use crate::state::AppState;

/// One exported file.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportFileBody {
    /// The file's name, used in errors and provenance.
    pub name: String,
    /// aws-credential-report, aws-access-keys, k8s, gcp-sa-keys, github-pats or csv;
    /// detected from the content when absent.
    pub format: Option<String>,
    /// The file's text. Exactly one of `content` and `content_base64`.
    pub content: Option<String>,
    /// The file's bytes, base64-encoded, for files that are not UTF-8.
    pub content_base64: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportRequest {
    pub files: Vec<ImportFileBody>,
    /// The source's name in Warden (`aws-prod`); the format's name when absent.
    pub source: Option<String>,
    /// Owner (email or id) of identities whose source names no registered owner.
    pub owner: Option<String>,
    /// Environment of identities whose source names none.
    pub environment: Option<Environment>,
    /// Whether the files list everything at the source, so that identities missing from
    /// them are gone; the format's usual answer when absent.
    pub full_export: Option<bool>,
    /// Check and count, change nothing.
    #[serde(default)]
    pub dry_run: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ImportResponse {
    #[serde(flatten)]
    pub summary: ImportSummary,
    /// What re-evaluating the changed identities did; absent on a dry run.
    pub findings: Option<ReconcileOutcome>,
}

/// Import exports of other systems.
#[utoipa::path(post, path = "/v1/imports", tag = "imports", request_body = ImportRequest,
    responses((status = 201, body = ImportResponse), (status = 200, body = ImportResponse, description = "dry run"),
              (status = 404, body = ErrorBody, description = "unknown_owner"),
              (status = 413, body = ErrorBody),
              (status = 422, body = ErrorBody, description = "invalid_import (names the file, the place and the field) or invalid_field")))]
pub async fn create_import(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<ImportRequest>,
) -> Result<(StatusCode, Json<ImportResponse>), ApiError> {
    if body.files.is_empty() {
        return Err(DomainError::invalid("files", "give at least one exported file").into());
    }
    let mut files = Vec::with_capacity(body.files.len());
    for file in body.files {
        let format = file
            .format
            .as_deref()
            .map(str::parse::<SourceFormat>)
            .transpose()
            .map_err(|error| invalid_import(format!("{}: {error}", file.name)))?;
        let bytes = match (file.content, file.content_base64) {
            (Some(text), None) => text.into_bytes(),
            (None, Some(encoded)) => base64::engine::general_purpose::STANDARD
                .decode(encoded.as_bytes())
                .map_err(|_| {
                    invalid_import(format!("{}: `content_base64` is not base64", file.name))
                })?,
            _ => {
                return Err(invalid_import(format!(
                    "{}: give exactly one of `content` and `content_base64`",
                    file.name
                )));
            }
        };
        files.push((file.name, bytes, format));
    }
    // Parsing a large export is CPU work; keep it off the threads that serve requests.
    let batches = tokio::task::spawn_blocking(move || {
        let views: Vec<ImportFile<'_>> = files
            .iter()
            .map(|(name, bytes, format)| ImportFile {
                name,
                bytes,
                format: *format,
            })
            .collect();
        warden_import::parse_files(&views).map_err(|error| invalid_import(error.to_string()))
    })
    .await
    .map_err(|error| ApiError::Internal(error.to_string()))??;
    let options = ImportOptions {
        source: body.source,
        default_owner: body
            .owner
            .as_deref()
            .map(|text| {
                OwnerRef::parse(text).map_err(|_| DomainError::UnknownOwner(text.to_string()))
            })
            .transpose()?,
        environment: body.environment,
        full_export: body.full_export,
        dry_run: body.dry_run,
    };
    let now = state.clock.now();
    let summary = state
        .store
        .apply_import(&state.actor, batches, options, now)
        .await?;
    if summary.dry_run {
        return Ok((
            StatusCode::OK,
            Json(ImportResponse {
                summary,
                findings: None,
            }),
        ));
    }
    let findings = state
        .posture
        .evaluate_identities(&*state.store, &summary.changed, state.clock.now())
        .await?;
    // The export may list a leaked key inactive now, which resolves its leak finding.
    let findings = findings.plus(
        state
            .posture
            .evaluate_leaks(&*state.store, state.clock.now())
            .await?,
    );
    Ok((
        StatusCode::CREATED,
        Json(ImportResponse {
            summary,
            findings: Some(findings),
        }),
    ))
}

fn invalid_import(message: String) -> ApiError {
    ApiError::Unprocessable {
        code: "invalid_import",
        message: format!("{message}; nothing was imported"),
    }
}

const LIST_PARAMS: &[&str] = &[
    "source", "kind", "status", "orphaned", "owner", "limit", "cursor",
];

/// List imported identities, oldest first; every filter narrows.
#[utoipa::path(get, path = "/v1/imported-identities", tag = "imports",
    params(
        ("source" = Option<String>, Query, description = "the source's name, e.g. aws-credential-report or aws-prod"),
        ("kind" = Option<String>, Query, description = "service_account, api_key, token, …"),
        ("status" = Option<String>, Query, description = "present or gone"),
        ("orphaned" = Option<bool>, Query, description = "true: only those without an owner"),
        ("owner" = Option<String>, Query, description = "owner email"),
        ("limit" = Option<u32>, Query, description = "page size, 1-500, default 50"),
        ("cursor" = Option<String>, Query, description = "next_cursor from the previous page"),
    ),
    responses((status = 200, body = Page<ImportedRecord>), (status = 400, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list_imported(
    State(state): State<AppState>,
    query: QueryPairs,
) -> Result<Json<Page<ImportedRecord>>, ApiError> {
    query.only(LIST_PARAMS)?;
    let status = match query.one("status")? {
        None => None,
        Some("present") => Some(PresenceStatus::Present),
        Some("gone") => Some(PresenceStatus::Gone),
        Some(other) => {
            return Err(DomainError::invalid(
                "status",
                format!("`{other}` is not one of: present, gone"),
            )
            .into());
        }
    };
    let orphaned = match query.one("orphaned")? {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(other) => {
            return Err(DomainError::invalid(
                "orphaned",
                format!("`{other}` is not one of: true, false"),
            )
            .into());
        }
    };
    let filter = ImportedFilter {
        source: query.one("source")?.map(str::to_string),
        kind: query.one("kind")?.map(str::parse).transpose()?,
        status,
        orphaned,
        owner: query.one("owner")?.map(str::to_string),
    };
    let page = page_request(&query)?;
    Ok(Json(state.store.list_imported(&filter, &page).await?))
}

/// Read one imported identity.
#[utoipa::path(get, path = "/v1/imported-identities/{id}", tag = "imports",
    params(("id" = String, Path, description = "the imported identity's id")),
    responses((status = 200, body = ImportedRecord), (status = 404, body = ErrorBody)))]
pub async fn get_imported(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ImportedRecord>, ApiError> {
    Ok(Json(state.store.get_imported(&id).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReassignImported {
    /// The email or id of the active owner who becomes accountable for it.
    pub owner: String,
}

/// Assign an owner to an imported identity; later imports keep the assignment.
#[utoipa::path(post, path = "/v1/imported-identities/{id}/reassign", tag = "imports", request_body = ReassignImported,
    params(("id" = String, Path, description = "the imported identity's id")),
    responses((status = 200, body = ImportedRecord), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "owner_offboarded")))]
pub async fn reassign_imported(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ReassignImported>,
) -> Result<Json<ImportedRecord>, ApiError> {
    let owner =
        OwnerRef::parse(&body.owner).map_err(|_| DomainError::UnknownOwner(body.owner.clone()))?;
    let now = state.clock.now();
    let record = state
        .store
        .reassign_imported(&state.actor, &id, &owner, now)
        .await?;
    state
        .posture
        .evaluate_identities(
            &*state.store,
            std::slice::from_ref(&record.id),
            state.clock.now(),
        )
        .await?;
    Ok(Json(record))
}
