//! `/v1/audit`: read, verify and export the audit trail, and publish the key that signs its
//! checkpoints.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use warden_audit::verify::VerifyReport;
use warden_audit::{Decision, EventKind, ExportHeader};
use warden_core::Timestamp;
use warden_store::{AuditFilter, AuditQuery, AuditVerifyError};

use crate::error::{ApiError, ErrorBody};
use crate::extract::QueryPairs;
use crate::state::AppState;

const DEFAULT_LIMIT: u32 = 100;
pub(super) const MAX_LIMIT: u32 = 1000;
/// Events read per round trip while exporting.
const EXPORT_CHUNK: u32 = 1000;

const QUERY_PARAMS: &[&str] = &[
    "kind", "actor", "owner", "user", "upstream", "action", "decision", "task", "since", "until",
    "after", "limit", "newest",
];

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEvents {
    /// Audit events, oldest first.
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<Value>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditVerification {
    /// True only when every record and checkpoint checks out.
    pub intact: bool,
    /// What the intact trail holds, when intact.
    pub report: Option<AuditVerifyReport>,
    /// The first problem found, when not intact.
    pub failure: Option<AuditFailure>,
}

/// What an intact trail holds, and how much of it signed checkpoints vouch for.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditVerifyReport {
    /// Records whose hash and link to their predecessor were checked.
    pub events_verified: u64,
    /// Sequence of the first record; absent for an empty trail.
    pub first_sequence: Option<u64>,
    /// Sequence of the last record (0 for an empty trail).
    pub last_sequence: u64,
    /// Hash of the last record, hex.
    pub last_hash: String,
    /// Signed checkpoints whose signature and hash were checked.
    pub checkpoints_verified: u64,
    /// The highest sequence a verified checkpoint covers; absent when none does.
    pub last_checkpoint: Option<u64>,
    /// Records after the last verified checkpoint, which no signature covers: the chain
    /// shows them intact, but they could be cut off the end undetected. A node signs a
    /// checkpoint on a timer and when it stops cleanly, so this is 0 after a clean stop.
    pub unanchored_events: u64,
}

impl From<VerifyReport> for AuditVerifyReport {
    fn from(report: VerifyReport) -> Self {
        Self {
            events_verified: report.events_verified,
            first_sequence: report.first_sequence,
            last_sequence: report.last_sequence,
            last_hash: report.last_hash.to_hex(),
            checkpoints_verified: report.checkpoints_verified,
            last_checkpoint: report.last_checkpoint,
            unanchored_events: report.unanchored_events,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditFailure {
    /// The first bad sequence number.
    pub sequence: u64,
    /// edited, deleted, inserted, reordered, truncated after checkpoint, …
    pub problem: String,
    pub message: String,
}

fn bad(message: String) -> ApiError {
    ApiError::bad_request("invalid_query", message)
}

fn time(text: &str, name: &str) -> Result<Timestamp, ApiError> {
    Timestamp::parse_rfc3339(text).map_err(|error| bad(format!("`{name}`: {error}")))
}

fn audit_query(query: &QueryPairs) -> Result<AuditQuery, ApiError> {
    query.only(QUERY_PARAMS)?;
    let text =
        |key: &str| -> Result<Option<String>, ApiError> { Ok(query.one(key)?.map(str::to_string)) };
    let kind = query
        .one("kind")?
        .map(|kind| {
            kind.parse::<EventKind>()
                .map_err(|error| bad(format!("`kind`: {error}")))
        })
        .transpose()?;
    let decision = match query.one("decision")? {
        None => None,
        Some("allow") => Some(Decision::Allow),
        Some("deny") => Some(Decision::Deny),
        Some("hold") => Some(Decision::Hold),
        Some(other) => {
            return Err(bad(format!(
                "`decision` must be allow, deny or hold, not `{other}`"
            )));
        }
    };
    let limit = match query.one("limit")? {
        None => DEFAULT_LIMIT,
        Some(text) => match text.parse::<u32>() {
            Ok(limit) if (1..=MAX_LIMIT).contains(&limit) => limit,
            _ => {
                return Err(bad(format!(
                    "`limit` must be a whole number from 1 to {MAX_LIMIT}"
                )));
            }
        },
    };
    let after = query
        .one("after")?
        .map(|text| {
            // Sequence numbers are stored as signed 64-bit integers, so a larger number
            // cannot name one.
            text.parse::<u64>()
                .ok()
                .filter(|after| i64::try_from(*after).is_ok())
                .ok_or_else(|| {
                    bad(format!(
                        "`after` must be a sequence number from 0 to {}",
                        i64::MAX
                    ))
                })
        })
        .transpose()?;
    let newest = match query.one("newest")? {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(bad(format!(
                "`newest` must be true or false, not `{other}`"
            )));
        }
    };
    Ok(AuditQuery {
        filter: AuditFilter {
            kind,
            actor: text("actor")?,
            owner: text("owner")?,
            on_behalf_of: text("user")?,
            upstream: text("upstream")?,
            action: text("action")?,
            decision,
            task_id: text("task")?,
            since: query.one("since")?.map(|t| time(t, "since")).transpose()?,
            until: query.one("until")?.map(|t| time(t, "until")).transpose()?,
        },
        after,
        limit,
        newest,
    })
}

/// Audit events matching every given filter, oldest first.
#[utoipa::path(get, path = "/v1/audit/events", tag = "audit",
    params(
        ("kind" = Option<String>, Query, description = "event kind, e.g. identity.created, gateway.decision"),
        ("actor" = Option<String>, Query, description = "who performed it: an agent's or admin's name"),
        ("owner" = Option<String>, Query, description = "owner email"),
        ("user" = Option<String>, Query, description = "the user an agent acted for"),
        ("upstream" = Option<String>, Query), ("action" = Option<String>, Query),
        ("decision" = Option<String>, Query, description = "allow, deny or hold"),
        ("task" = Option<String>, Query, description = "task id"),
        ("since" = Option<String>, Query, description = "RFC 3339, inclusive"),
        ("until" = Option<String>, Query, description = "RFC 3339, exclusive"),
        ("after" = Option<u64>, Query, description = "only events after this sequence number"),
        ("limit" = Option<u32>, Query, description = "1-1000, default 100"),
        ("newest" = Option<bool>, Query, description = "the newest `limit` events instead of the oldest"),
    ),
    responses((status = 200, body = AuditEvents), (status = 400, body = ErrorBody)))]
pub async fn list_events(
    State(state): State<AppState>,
    query: QueryPairs,
) -> Result<Json<AuditEvents>, ApiError> {
    let request = audit_query(&query)?;
    let events = state.store.audit_events(&request).await?;
    let items = events
        .iter()
        .map(serde_json::to_value)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| ApiError::Internal(error.to_string()))?;
    Ok(Json(AuditEvents { items }))
}

/// Verify the whole chain and its signed checkpoints.
#[utoipa::path(get, path = "/v1/audit/verify", tag = "audit",
    responses((status = 200, body = AuditVerification)))]
pub async fn verify(State(state): State<AppState>) -> Result<Json<AuditVerification>, ApiError> {
    match state.store.verify_audit(&state.audit_public_key).await {
        Ok(report) => Ok(Json(AuditVerification {
            intact: true,
            report: Some(report.into()),
            failure: None,
        })),
        Err(AuditVerifyError::Broken(failure)) => {
            tracing::error!(
                sequence = failure.sequence,
                problem = failure.problem.as_str(),
                "audit chain verification failed"
            );
            Ok(Json(AuditVerification {
                intact: false,
                report: None,
                failure: Some(AuditFailure {
                    sequence: failure.sequence,
                    problem: failure.problem.as_str().to_string(),
                    message: failure.to_string(),
                }),
            }))
        }
        Err(AuditVerifyError::Store(error)) => Err(error.into()),
    }
}

/// The public half of the audit key, as PEM: what an auditor verifies exports with.
#[utoipa::path(get, path = "/v1/audit/public-key", tag = "audit",
    responses((status = 200, description = "PEM (SubjectPublicKeyInfo)", content_type = "application/x-pem-file", body = String)))]
pub async fn public_key(State(state): State<AppState>) -> Response {
    let mut response = state.audit_public_key.to_pem().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-pem-file"),
    );
    response
}

/// Export the whole trail: `jsonl` (verifiable offline with the public key) or `ocsf`.
#[utoipa::path(get, path = "/v1/audit/export", tag = "audit",
    params(("format" = Option<String>, Query, description = "jsonl (default) or ocsf")),
    responses((status = 200, description = "JSON lines", content_type = "application/x-ndjson", body = String),
              (status = 400, body = ErrorBody)))]
pub async fn export(
    State(state): State<AppState>,
    query: QueryPairs,
) -> Result<Response, ApiError> {
    query.only(&["format"])?;
    let ocsf = match query.one("format")? {
        None | Some("jsonl") => false,
        Some("ocsf") => true,
        Some(other) => {
            return Err(bad(format!(
                "`format` must be jsonl or ocsf, not `{other}`"
            )));
        }
    };
    let mut events = Vec::new();
    let mut after = None;
    loop {
        let request = AuditQuery {
            filter: AuditFilter::default(),
            after,
            limit: EXPORT_CHUNK,
            newest: false,
        };
        let chunk = state.store.audit_events(&request).await?;
        let full = chunk.len() == EXPORT_CHUNK as usize;
        after = chunk.last().map(|event| event.sequence).or(after);
        events.extend(chunk);
        if !full {
            break;
        }
    }
    let mut body = Vec::new();
    let written = if ocsf {
        warden_audit::ocsf::write_ocsf(&mut body, &events).map(|_| ())
    } else {
        let checkpoints = state.store.audit_checkpoints().await?;
        let mut nodes: Vec<String> = events.iter().map(|event| event.node.clone()).collect();
        nodes.sort();
        nodes.dedup();
        let header = ExportHeader::new(nodes, state.audit_public_key);
        warden_audit::write_export(&mut body, &header, &events, &checkpoints).map(|_| ())
    };
    written.map_err(|error| ApiError::Internal(error.to_string()))?;
    let mut response = body.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    Ok(response)
}
