//! `/v1/findings` and `/v1/posture`: what is wrong with the identities Warden knows, by OWASP
//! NHI risk and severity; suppressing a finding with a reason and an end; the OCSF export.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::ToSchema;
use warden_core::{DomainError, Page, Timestamp};
use warden_posture::{OwaspNhi, Severity};
use warden_store::findings::{
    FindingFilter, FindingStatus, PostureSummary, ReconcileOutcome, StoredFinding, Suppression,
};

use super::owners::page_request;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, QueryPairs};
use crate::state::AppState;

/// The longest a finding may be suppressed for: a risk accepted for ever is a risk forgotten.
const MAX_SUPPRESSION_DAYS: i64 = 366;

const LIST_PARAMS: &[&str] = &[
    "owasp", "severity", "status", "identity", "rule", "limit", "cursor",
];

fn filter_from(query: &QueryPairs) -> Result<FindingFilter, ApiError> {
    let owasp = query
        .one("owasp")?
        .map(|text| {
            OwaspNhi::parse(text)
                .map(|risk| risk.id().to_string())
                .ok_or_else(|| {
                    DomainError::invalid(
                        "owasp",
                        format!("`{text}` is not an OWASP NHI risk; use NHI1 to NHI10"),
                    )
                })
        })
        .transpose()?;
    let min_severity_rank = query
        .one("severity")?
        .map(|text| {
            Severity::parse(text).map(Severity::rank).ok_or_else(|| {
                DomainError::invalid(
                    "severity",
                    format!("`{text}` is not one of: low, medium, high, critical"),
                )
            })
        })
        .transpose()?;
    Ok(FindingFilter {
        owasp,
        min_severity_rank,
        status: query.one("status")?.map(FindingStatus::parse).transpose()?,
        identity: query.one("identity")?.map(str::to_string),
        rule: query.one("rule")?.map(str::to_string),
    })
}

/// List findings, oldest first; every filter narrows.
#[utoipa::path(get, path = "/v1/findings", tag = "findings",
    params(
        ("owasp" = Option<String>, Query, description = "NHI1 … NHI10 (or NHI5:2025)"),
        ("severity" = Option<String>, Query, description = "at least this severity: low, medium, high, critical"),
        ("status" = Option<String>, Query, description = "open, resolved or suppressed"),
        ("identity" = Option<String>, Query, description = "an imported identity's id, a subject (upstream:NAME, policy:ID) or an identity's name"),
        ("rule" = Option<String>, Query, description = "a rule id, e.g. secret-too-old"),
        ("limit" = Option<u32>, Query, description = "page size, 1-500, default 50"),
        ("cursor" = Option<String>, Query, description = "next_cursor from the previous page"),
    ),
    responses((status = 200, body = Page<StoredFinding>), (status = 400, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list_findings(
    State(state): State<AppState>,
    query: QueryPairs,
) -> Result<Json<Page<StoredFinding>>, ApiError> {
    query.only(LIST_PARAMS)?;
    let filter = filter_from(&query)?;
    let page = page_request(&query)?;
    Ok(Json(
        state
            .store
            .list_findings(&filter, &page, state.clock.now())
            .await?,
    ))
}

/// Read one finding.
#[utoipa::path(get, path = "/v1/findings/{id}", tag = "findings",
    params(("id" = String, Path, description = "the finding's id")),
    responses((status = 200, body = StoredFinding), (status = 404, body = ErrorBody)))]
pub async fn get_finding(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<StoredFinding>, ApiError> {
    Ok(Json(state.store.get_finding(&id, state.clock.now()).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SuppressFinding {
    /// Why the risk is accepted, for whoever reads it next.
    pub reason: String,
    /// When the suppression ends (RFC 3339); at most 366 days away.
    pub until: Timestamp,
}

/// Suppress an open finding until a time, with a reason.
#[utoipa::path(post, path = "/v1/findings/{id}/suppress", tag = "findings", request_body = SuppressFinding,
    params(("id" = String, Path, description = "the finding's id")),
    responses((status = 200, body = StoredFinding), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "invalid_state: the finding is resolved"),
              (status = 422, body = ErrorBody, description = "invalid_field: no reason, or an end in the past or too far away")))]
pub async fn suppress_finding(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<SuppressFinding>,
) -> Result<Json<StoredFinding>, ApiError> {
    let now = state.clock.now();
    if body.until > now.plus_secs(MAX_SUPPRESSION_DAYS * 86_400) {
        return Err(DomainError::invalid(
            "until",
            format!("a suppression may last at most {MAX_SUPPRESSION_DAYS} days; suppress it again when it ends if the reason still holds"),
        )
        .into());
    }
    let suppression = Suppression {
        reason: body.reason,
        until: body.until,
        by: match &state.actor {
            warden_audit::Actor::Admin { name, .. } | warden_audit::Actor::Agent { name, .. } => {
                name.clone()
            }
            warden_audit::Actor::System { component } => component.clone(),
        },
    };
    Ok(Json(
        state
            .store
            .suppress_finding(&state.actor, &id, Some(suppression), now)
            .await?,
    ))
}

/// Lift a finding's suppression.
#[utoipa::path(post, path = "/v1/findings/{id}/unsuppress", tag = "findings",
    params(("id" = String, Path, description = "the finding's id")),
    responses((status = 200, body = StoredFinding), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "invalid_state: not suppressed")))]
pub async fn unsuppress_finding(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<StoredFinding>, ApiError> {
    Ok(Json(
        state
            .store
            .suppress_finding(&state.actor, &id, None, state.clock.now())
            .await?,
    ))
}

/// Every finding matching the filters, as JSON lines: OCSF Detection Findings (`format=ocsf`,
/// the default) or Warden's own shape (`format=json`).
#[utoipa::path(get, path = "/v1/findings/export", tag = "findings",
    params(
        ("format" = Option<String>, Query, description = "ocsf (default) or json"),
        ("owasp" = Option<String>, Query, description = "NHI1 … NHI10"),
        ("severity" = Option<String>, Query, description = "at least this severity"),
        ("status" = Option<String>, Query, description = "open, resolved or suppressed"),
        ("identity" = Option<String>, Query, description = "subject or identity name"),
        ("rule" = Option<String>, Query, description = "a rule id"),
    ),
    responses((status = 200, content_type = "application/x-ndjson", body = String), (status = 400, body = ErrorBody)))]
pub async fn export_findings(
    State(state): State<AppState>,
    query: QueryPairs,
) -> Result<Response, ApiError> {
    query.only(&["format", "owasp", "severity", "status", "identity", "rule"])?;
    let ocsf = match query.one("format")? {
        None | Some("ocsf") => true,
        Some("json") => false,
        Some(other) => {
            return Err(ApiError::bad_request(
                "invalid_query",
                format!("`format` must be ocsf or json, got `{other}`"),
            ));
        }
    };
    let filter = filter_from(&query)?;
    let now = state.clock.now();
    let mut out = Vec::new();
    for finding in state.store.all_findings(now).await? {
        if !matches(&filter, &finding) {
            continue;
        }
        let line = if ocsf {
            serde_json::to_vec(&crate::posture::ocsf::detection_finding(&finding))
        } else {
            serde_json::to_vec(&finding)
        }
        .map_err(|error| ApiError::Internal(error.to_string()))?;
        out.extend_from_slice(&line);
        out.push(b'\n');
    }
    let mut response = Body::from(out).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    Ok(response)
}

fn matches(filter: &FindingFilter, finding: &StoredFinding) -> bool {
    let severity_rank = Severity::parse(&finding.severity).map_or(0, Severity::rank);
    filter.owasp.as_ref().is_none_or(|o| *o == finding.owasp)
        && filter.min_severity_rank.is_none_or(|r| severity_rank >= r)
        && filter.status.is_none_or(|s| s == finding.status)
        && filter.rule.as_ref().is_none_or(|r| *r == finding.rule)
        && filter.identity.as_ref().is_none_or(|i| {
            *i == finding.subject || finding.identity.as_ref().is_some_and(|id| id.name == *i)
        })
}

/// Counts of open findings by OWASP risk and severity, and the worst identities first.
#[utoipa::path(get, path = "/v1/posture", tag = "findings",
    responses((status = 200, body = PostureSummary)))]
pub async fn posture(State(state): State<AppState>) -> Result<Json<PostureSummary>, ApiError> {
    Ok(Json(state.store.posture_summary(state.clock.now()).await?))
}

/// Evaluate every rule over everything now, instead of waiting for the timer.
#[utoipa::path(post, path = "/v1/posture/evaluate", tag = "findings",
    responses((status = 200, body = ReconcileOutcome)))]
pub async fn evaluate(State(state): State<AppState>) -> Result<Json<ReconcileOutcome>, ApiError> {
    let now = state.clock.now();
    let outcome = state.posture.evaluate_all(&*state.store, now).await?;
    let leaks = state.posture.evaluate_leaks(&*state.store, now).await?;
    Ok(Json(outcome.plus(leaks)))
}
