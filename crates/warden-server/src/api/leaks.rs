//! `/v1/leaks`: report a leaked secret (by the secret or its fingerprint, with where it was
//! seen), learn what it is, and have Warden switch it off; list and read the reports.
//!
//! The matching and the response live in `crate::leaks`; this is the HTTP face. A secret in
//! a request is checked, hashed and dropped: no answer, error, log line or record carries it.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use warden_core::{DomainError, Page};
use warden_crypto::Secret;
use warden_scan::Fingerprint;
use warden_store::findings::{FindingFilter, LEAK_RULE, StoredFinding};
use warden_store::leaks::{LeakLocation, LeakReport};

use super::owners::page_request;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, QueryPairs};
use crate::leaks::{Reported, handle};
use crate::state::AppState;

/// The longest secret a report may carry (a PEM private key fits many times over).
const MAX_SECRET_BYTES: usize = 16 * 1024;
/// The longest text of any location field.
const MAX_LOCATION_FIELD: usize = 2048;

/// A leaked secret and where it was seen. Give the secret, its fingerprint, or both.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportLeak {
    /// The secret itself; hashed and dropped, never stored or returned. Needed to match a
    /// Warden client secret (looked up by its keyed hash) and an AWS access key id.
    #[serde(default)]
    pub secret: Option<String>,
    /// Its leak fingerprint, `sha256:` and 64 hex digits, as `warden scan` prints it:
    /// enough to match an upstream's secret or a fingerprint recorded at import.
    #[serde(default)]
    pub fingerprint: Option<String>,
    /// What the scanner called it (`aws_access_key_id`, `warden_client_secret`, …).
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub location: LeakLocation,
    /// Switch the secret off now if Warden knows it (as `[leaks] auto_revoke` does for
    /// every report).
    #[serde(default)]
    pub revoke: bool,
}

impl std::fmt::Debug for ReportLeak {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReportLeak")
            .field("secret", &self.secret.as_ref().map(|_| "[redacted]"))
            .field("kind", &self.kind)
            .field("revoke", &self.revoke)
            .finish_non_exhaustive()
    }
}

/// What Warden made of a report.
#[derive(Debug, Serialize, ToSchema)]
pub struct LeakOutcome {
    /// Warden knows the secret (its `matched` is not `unknown`).
    pub known: bool,
    /// This is the first report of this secret.
    pub first_report: bool,
    /// This report revoked the credential or suspended the identity.
    pub switched_off: bool,
    pub report: LeakReport,
    /// The open NHI2 finding, with the exact command to switch the credential off at its
    /// source; absent when Warden does not know the secret or it no longer works.
    pub finding: Option<StoredFinding>,
}

/// A body of the wrong shape, refused without repeating any value: serde's "invalid type"
/// messages quote the value, which here may be the secret.
fn shape_error(error: serde_json::Error) -> ApiError {
    let detail = error.to_string();
    if detail.contains("unknown field") {
        ApiError::bad_request(
            "unknown_field",
            format!("the body does not match the expected shape: {detail}"),
        )
    } else {
        ApiError::bad_request(
            "wrong_type",
            "the body does not match the expected shape: `secret`, `fingerprint` and `kind` are strings, `revoke` a boolean, `location` an object of `path`, `commit`, `url` and `source` (strings) and `line` and `column` (whole numbers); the value at fault is not repeated, since it may be a secret",
        )
    }
}

fn check_fingerprint(text: &str) -> Result<Fingerprint, ApiError> {
    Fingerprint::parse(text).ok_or_else(|| {
        DomainError::invalid(
            "fingerprint",
            "must be `sha256:` followed by 64 lowercase hex digits, as `warden scan` prints it",
        )
        .into()
    })
}

fn check_location(location: &LeakLocation) -> Result<(), ApiError> {
    for (field, value) in [
        ("location.path", &location.path),
        ("location.commit", &location.commit),
        ("location.url", &location.url),
        ("location.source", &location.source),
    ] {
        if let Some(value) = value
            && (value.len() > MAX_LOCATION_FIELD || value.chars().any(char::is_control))
        {
            return Err(DomainError::invalid(
                field,
                format!("must be at most {MAX_LOCATION_FIELD} bytes without control characters"),
            )
            .into());
        }
    }
    Ok(())
}

fn check(body: ReportLeak) -> Result<Reported, ApiError> {
    check_location(&body.location)?;
    if let Some(kind) = &body.kind
        && (kind.is_empty()
            || kind.len() > 64
            || !kind
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'))
    {
        return Err(DomainError::invalid(
            "kind",
            "must be 1 to 64 letters, digits, `_` or `-` (a scanner's kind, e.g. aws_access_key_id)",
        )
        .into());
    }
    let secret = match body.secret {
        Some(secret) if secret.is_empty() || secret.len() > MAX_SECRET_BYTES => {
            return Err(DomainError::invalid(
                "secret",
                format!("must be 1 to {MAX_SECRET_BYTES} bytes"),
            )
            .into());
        }
        Some(secret) => Some(Secret::new(secret)),
        None => None,
    };
    let fingerprint = match (&secret, &body.fingerprint) {
        (None, None) => {
            return Err(DomainError::invalid(
                "secret",
                "give the secret, its fingerprint, or both; nothing was reported",
            )
            .into());
        }
        (Some(secret), None) => Fingerprint::of(secret.expose().as_bytes()),
        (None, Some(text)) => check_fingerprint(text)?,
        (Some(secret), Some(text)) => {
            let given = check_fingerprint(text)?;
            if given != Fingerprint::of(secret.expose().as_bytes()) {
                return Err(DomainError::invalid(
                    "fingerprint",
                    "is not the fingerprint of the secret given with it; send one of them, or both as the scanner printed them",
                )
                .into());
            }
            given
        }
    };
    Ok(Reported {
        secret,
        fingerprint,
        secret_kind: body.kind,
        location: body.location,
        revoke: body.revoke,
    })
}

/// Report a leaked secret: Warden says what it is, opens an NHI2 finding on its identity,
/// and with `revoke` (or `[leaks] auto_revoke`) revokes a Warden credential with every
/// token derived from it, or suspends an imported identity. Reporting again is harmless.
#[utoipa::path(post, path = "/v1/leaks", tag = "leaks", request_body = ReportLeak,
    responses((status = 201, body = LeakOutcome, description = "first report of this secret"),
              (status = 200, body = LeakOutcome, description = "a secret reported before"),
              (status = 400, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn report_leak(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> Result<(StatusCode, Json<LeakOutcome>), ApiError> {
    let body: ReportLeak = serde_json::from_value(body).map_err(shape_error)?;
    let reported = check(body)?;
    let handled = handle(&state, reported).await?;
    let finding = leak_finding(&state, &handled.report).await?;
    let status = if handled.first_report {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(LeakOutcome {
            known: handled.report.subject.matched != warden_store::leaks::LeakMatch::Unknown,
            first_report: handled.first_report,
            switched_off: handled.switched_off,
            report: handled.report,
            finding,
        }),
    ))
}

/// The open finding a report raised, if any.
async fn leak_finding(
    state: &AppState,
    report: &LeakReport,
) -> Result<Option<StoredFinding>, ApiError> {
    let (Some(subject), Some(credential)) =
        (&report.subject.subject_id, &report.subject.credential_id)
    else {
        return Ok(None);
    };
    let filter = FindingFilter {
        rule: Some(LEAK_RULE.to_string()),
        identity: Some(subject.clone()),
        status: Some(warden_store::findings::FindingStatus::Open),
        ..FindingFilter::default()
    };
    let page = warden_core::PageRequest::new(Some(500), None)?;
    let findings = state
        .store
        .list_findings(&filter, &page, state.clock.now())
        .await?;
    Ok(findings
        .items
        .into_iter()
        .find(|finding| finding.credential.as_deref() == Some(credential.as_str())))
}

const LIST_PARAMS: &[&str] = &["limit", "cursor"];

/// List leak reports, oldest first.
#[utoipa::path(get, path = "/v1/leaks", tag = "leaks",
    params(
        ("limit" = Option<u32>, Query, description = "page size, 1-500, default 50"),
        ("cursor" = Option<String>, Query, description = "next_cursor from the previous page"),
    ),
    responses((status = 200, body = Page<LeakReport>), (status = 400, body = ErrorBody)))]
pub async fn list_leaks(
    State(state): State<AppState>,
    query: QueryPairs,
) -> Result<Json<Page<LeakReport>>, ApiError> {
    query.only(LIST_PARAMS)?;
    let page = page_request(&query)?;
    Ok(Json(state.store.list_leaks(&page).await?))
}

/// Read one leak report.
#[utoipa::path(get, path = "/v1/leaks/{id}", tag = "leaks",
    params(("id" = String, Path, description = "the report's id")),
    responses((status = 200, body = LeakReport), (status = 404, body = ErrorBody)))]
pub async fn get_leak(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<LeakReport>, ApiError> {
    Ok(Json(state.store.get_leak(&id).await?))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn body(
        secret: Option<String>,
        fingerprint: Option<String>,
        kind: Option<String>,
        path: Option<String>,
    ) -> serde_json::Value {
        serde_json::json!({
            "secret": secret,
            "fingerprint": fingerprint,
            "kind": kind,
            "location": { "path": path },
        })
    }

    fn message(error: &ApiError) -> String {
        format!("{error} {error:?}")
    }

    proptest! {
        /// Whatever arrives, a report is either refused, with a message that does not
        /// repeat the secret, or accepted with the secret's own fingerprint.
        #[test]
        fn a_report_is_refused_without_the_secret_or_keyed_by_its_fingerprint(
            secret in proptest::option::of("[ -~]{0,80}"),
            fingerprint in proptest::option::of(prop_oneof![
                "[ -~]{0,80}",
                "sha256:[0-9a-f]{64}",
            ]),
            kind in proptest::option::of("[a-z_ -]{0,70}"),
            path in proptest::option::of("[ -~\n]{0,40}"),
        ) {
            let given_fingerprint = fingerprint.clone();
            let raw = body(secret.clone(), fingerprint, kind, path);
            let parsed: Result<ReportLeak, _> = serde_json::from_value(raw).map_err(shape_error);
            match parsed.and_then(check) {
                Ok(reported) => {
                    if let Some(secret) = &secret {
                        prop_assert_eq!(&reported.fingerprint, &Fingerprint::of(secret.as_bytes()));
                    } else {
                        prop_assert_eq!(Some(reported.fingerprint.as_str().to_string()), given_fingerprint);
                    }
                }
                Err(error) => {
                    if let Some(secret) = secret.filter(|s| s.len() >= 8) {
                        prop_assert!(!message(&error).contains(&secret), "{}", message(&error));
                    }
                }
            }
        }
    }

    #[test]
    fn a_secret_in_the_wrong_place_is_not_quoted_back() {
        let secret = "sk_live_51Hq8rTzKp2VmX7nLc4WdY9eB3uJsQa6";
        for raw in [
            serde_json::json!({ "revoke": secret }),
            serde_json::json!({ "location": { "line": secret } }),
            serde_json::json!({ "secret": [secret] }),
        ] {
            let refused = serde_json::from_value::<ReportLeak>(raw).map_err(shape_error);
            let Err(error) = refused else {
                panic!("a body of the wrong shape was accepted");
            };
            assert!(!message(&error).contains(secret), "{}", message(&error));
        }
    }
}
