//! `/ui/findings`: what is wrong with the identities Warden knows. The filters (OWASP NHI
//! risk, at least a severity, status, identity) go to `GET /v1/findings`'s own handler under
//! the same names, and page by its cursor; the page opens on the open findings. An open
//! finding is suppressed with a reason and an end, and a suppression lifted, through the
//! handlers of `POST /v1/findings/{id}/suppress` and `…/unsuppress`, as the signed-in person.

use askama::Template;
use axum::Json;
use axum::extract::{Path, State};
use axum::response::Response;
use serde::Deserialize;
use warden_core::{DomainError, Timestamp};
use warden_posture::{OwaspNhi, Severity};
use warden_store::findings::{FindingStatus, StoredFinding};

use super::guard::{CheckedForm, SignedIn};
use super::view::when;
use super::{Chrome, render, see_other};
use crate::api::findings::{self, SuppressFinding};
use crate::error::ApiError;
use crate::extract::{ApiJson, QueryPairs};
use crate::state::AppState;

/// The filters the page offers, each passed to the API under the same name.
const FILTERS: &[&str] = &["owasp", "severity", "status", "identity"];
const PAGE_SIZE: &str = "50";
/// The status a page without one shows: what still needs someone.
const DEFAULT_STATUS: &str = "open";
/// The status choice that means "every status", passed to the API as no filter.
const ANY_STATUS: &str = "any";
/// The end a suppression form proposes, in days from now.
const PROPOSED_DAYS: i64 = 30;
/// The latest end the form's date field offers; the API refuses more than 366 days.
const LATEST_DAYS: i64 = 365;

#[derive(Template)]
#[template(path = "ui/findings.html")]
struct FindingsPage {
    chrome: Chrome,
    risks: Vec<Choice>,
    severities: Vec<Choice>,
    statuses: Vec<Choice>,
    identity: String,
    rows: Vec<Row>,
    next_page: Option<String>,
    filtered: bool,
    /// The query string this page was asked with, so a change returns to the same view.
    back: String,
    proposed_until: String,
    earliest_until: String,
    latest_until: String,
}

struct Choice {
    value: &'static str,
    label: String,
    selected: bool,
}

struct Row {
    id: String,
    owasp: String,
    risk: String,
    severity: String,
    rule: String,
    status: String,
    subject: String,
    /// The name the identity filter finds this finding's identity by.
    filter_by: String,
    credential: String,
    evidence: String,
    remediation: String,
    first_seen: String,
    last_seen: String,
    suppression: String,
    can_suppress: bool,
    can_unsuppress: bool,
}

#[derive(Deserialize)]
pub struct Suppress {
    #[serde(default)]
    reason: String,
    #[serde(default)]
    until: String,
    #[serde(default)]
    back: String,
}

#[derive(Deserialize)]
pub struct Unsuppress {
    #[serde(default)]
    back: String,
}

/// The filters a page was asked for, as the page keeps them in its links (empty fields
/// dropped, the default status filled in) and as the API is asked (`any` status dropped).
#[derive(Debug, PartialEq, Eq)]
struct Asked {
    given: Vec<(String, String)>,
    api: Vec<(String, String)>,
}

fn asked(url_query: &QueryPairs) -> Result<Asked, ApiError> {
    let mut known = FILTERS.to_vec();
    known.push("cursor");
    url_query.only(&known)?;
    // A filter left empty in the form is no filter, not a filter for "".
    let mut given: Vec<(String, String)> = url_query
        .0
        .iter()
        .filter(|(_, value)| !value.trim().is_empty())
        .map(|(key, value)| (key.clone(), value.trim().to_string()))
        .collect();
    if !given.iter().any(|(key, _)| key == "status") {
        given.push(("status".into(), DEFAULT_STATUS.into()));
    }
    let mut api: Vec<(String, String)> = given
        .iter()
        .filter(|(key, value)| !(key == "status" && value == ANY_STATUS))
        .cloned()
        .collect();
    api.push(("limit".into(), PAGE_SIZE.into()));
    Ok(Asked { given, api })
}

fn encode(pairs: &[(String, String)]) -> Result<String, ApiError> {
    serde_urlencoded::to_string(pairs)
        .map_err(|error| ApiError::Internal(format!("a page link does not encode: {error}")))
}

/// Where a change returns to: the findings page with the filters it was made from, read
/// again so that nothing but those filters can be sent back in the redirect.
fn back_to(back: &str) -> String {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(back).unwrap_or_default();
    let mut known = FILTERS.to_vec();
    known.push("cursor");
    let kept: Vec<(String, String)> = pairs
        .into_iter()
        .filter(|(key, value)| known.contains(&key.as_str()) && !value.is_empty())
        .collect();
    match serde_urlencoded::to_string(&kept) {
        Ok(query) if !query.is_empty() => format!("/ui/findings?{query}"),
        _ => "/ui/findings".into(),
    }
}

/// The end of a suppression as the form gives it: a date (`YYYY-MM-DD`, to the end of that
/// day in UTC) or a full RFC 3339 time.
fn suppression_end(text: &str) -> Result<Timestamp, ApiError> {
    let text = text.trim();
    let invalid = || {
        DomainError::invalid(
            "until",
            "give the end of the suppression as a date, YYYY-MM-DD",
        )
    };
    if text.is_empty() {
        return Err(invalid().into());
    }
    let full = if text.len() == 10 {
        format!("{text}T23:59:59Z")
    } else {
        text.to_string()
    };
    Timestamp::parse_rfc3339(&full).map_err(|_| invalid().into())
}

/// A date as the form's date field reads it.
fn date(at: Timestamp) -> String {
    at.to_rfc3339().chars().take(10).collect()
}

fn row(finding: &StoredFinding) -> Row {
    let risk = OwaspNhi::parse(&finding.owasp)
        .map(|risk| risk.title().to_string())
        .unwrap_or_default();
    let (subject, filter_by) = match &finding.identity {
        Some(identity) => (
            format!("{}:{}", identity.kind, identity.name),
            identity.name.clone(),
        ),
        None => (finding.subject.clone(), finding.subject.clone()),
    };
    let suppression = match &finding.suppression {
        Some(suppression) => format!(
            "until {} by {}: {}",
            when(suppression.until),
            suppression.by,
            suppression.reason
        ),
        None => String::new(),
    };
    Row {
        id: finding.id.clone(),
        owasp: finding.owasp.clone(),
        risk,
        severity: finding.severity.clone(),
        rule: finding.rule.clone(),
        status: finding.status.as_str().to_string(),
        subject,
        filter_by,
        credential: finding.credential.clone().unwrap_or_default(),
        evidence: finding.evidence.clone(),
        remediation: finding.remediation.clone(),
        first_seen: when(finding.first_seen),
        last_seen: when(finding.last_seen),
        suppression,
        can_suppress: finding.status == FindingStatus::Open,
        can_unsuppress: finding.status == FindingStatus::Suppressed,
    }
}

/// `GET /ui/findings`.
pub async fn page(
    State(state): State<AppState>,
    signed_in: SignedIn,
    url_query: QueryPairs,
) -> Result<Response, ApiError> {
    let Asked { given, api } = asked(&url_query)?;
    let Json(found) = findings::list_findings(State(state.clone()), QueryPairs(api)).await?;
    let next_page = match &found.next_cursor {
        Some(cursor) => {
            let mut pairs: Vec<(String, String)> = given
                .iter()
                .filter(|(key, _)| key != "cursor")
                .cloned()
                .collect();
            pairs.push(("cursor".into(), cursor.clone()));
            Some(format!("/ui/findings?{}", encode(&pairs)?))
        }
        None => None,
    };
    let filters = QueryPairs(given.clone());
    let chosen = |key: &str| filters.one(key).ok().flatten();
    let risk_chosen = chosen("owasp").and_then(OwaspNhi::parse);
    let now = state.clock.now();
    render(&FindingsPage {
        chrome: Chrome::new(&signed_in, "findings"),
        risks: OwaspNhi::ALL
            .iter()
            .map(|risk| Choice {
                value: risk.id(),
                label: format!("{} {}", risk.id(), risk.title()),
                selected: risk_chosen == Some(*risk),
            })
            .collect(),
        severities: Severity::ALL
            .iter()
            .map(|severity| Choice {
                value: severity.as_str(),
                label: format!("{} or worse", severity.as_str()),
                selected: chosen("severity") == Some(severity.as_str()),
            })
            .collect(),
        statuses: ["open", "suppressed", "resolved", ANY_STATUS]
            .into_iter()
            .map(|status| Choice {
                value: status,
                label: status.to_string(),
                selected: chosen("status") == Some(status),
            })
            .collect(),
        identity: chosen("identity").unwrap_or_default().to_string(),
        rows: found.items.iter().map(row).collect(),
        next_page,
        filtered: given
            .iter()
            .any(|(key, value)| key != "cursor" && !(key == "status" && value == DEFAULT_STATUS)),
        back: encode(&given)?,
        proposed_until: date(now.plus_secs(PROPOSED_DAYS * 86_400)),
        earliest_until: date(now),
        latest_until: date(now.plus_secs(LATEST_DAYS * 86_400)),
    })
}

/// `POST /ui/findings/{id}/suppress`: through the API's suppress handler, as the signed-in
/// person, who is recorded as the one who accepted the risk.
pub async fn suppress(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CheckedForm { signed_in, form }: CheckedForm<Suppress>,
) -> Result<Response, ApiError> {
    let until = suppression_end(&form.until)?;
    let acting = signed_in.acting(&state);
    let Json(suppressed) = findings::suppress_finding(
        State(acting),
        Path(id),
        ApiJson(SuppressFinding {
            reason: form.reason.trim().to_string(),
            until,
        }),
    )
    .await?;
    tracing::info!(
        person = %signed_in.session.person(),
        finding = %suppressed.id,
        rule = %suppressed.rule,
        "finding suppressed from the dashboard"
    );
    Ok(see_other(&back_to(&form.back)))
}

/// `POST /ui/findings/{id}/unsuppress`: lifts a suppression, as the signed-in person.
pub async fn unsuppress(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CheckedForm { signed_in, form }: CheckedForm<Unsuppress>,
) -> Result<Response, ApiError> {
    let acting = signed_in.acting(&state);
    let Json(lifted) = findings::unsuppress_finding(State(acting), Path(id)).await?;
    tracing::info!(
        person = %signed_in.session.person(),
        finding = %lifted.id,
        "finding suppression lifted from the dashboard"
    );
    Ok(see_other(&back_to(&form.back)))
}

#[cfg(test)]
mod tests {
    use warden_store::findings::{FindingIdentity, Suppression};

    use super::*;

    fn pairs(items: &[(&str, &str)]) -> QueryPairs {
        super::super::query(items)
    }

    fn owned(items: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs(items).0
    }

    #[test]
    fn a_page_without_a_status_asks_for_open_findings() {
        let asked = asked(&pairs(&[])).ok();
        assert_eq!(
            asked,
            Some(Asked {
                given: owned(&[("status", "open")]),
                api: owned(&[("status", "open"), ("limit", "50")]),
            })
        );
    }

    #[test]
    fn empty_fields_are_no_filter_and_any_status_is_not_sent() {
        let asked = asked(&pairs(&[
            ("owasp", "NHI5"),
            ("severity", ""),
            ("status", "any"),
            ("identity", "  support-bot "),
        ]))
        .ok();
        assert_eq!(
            asked,
            Some(Asked {
                given: owned(&[
                    ("owasp", "NHI5"),
                    ("status", "any"),
                    ("identity", "support-bot")
                ]),
                api: owned(&[
                    ("owasp", "NHI5"),
                    ("identity", "support-bot"),
                    ("limit", "50")
                ]),
            })
        );
    }

    #[test]
    fn an_unknown_filter_is_refused_by_name() {
        let refused = asked(&pairs(&[("colour", "red")])).err();
        assert!(
            refused.is_some_and(|error| error.to_string().contains("colour")),
            "an unknown filter passed"
        );
    }

    #[test]
    fn a_change_returns_only_to_the_findings_page_with_its_filters() {
        assert_eq!(
            back_to("owasp=NHI5%3A2025&status=open"),
            "/ui/findings?owasp=NHI5%3A2025&status=open"
        );
        assert_eq!(back_to(""), "/ui/findings");
        assert_eq!(back_to("next=https://evil.example"), "/ui/findings");
        assert_eq!(
            back_to("identity=a&redirect=//evil.example"),
            "/ui/findings?identity=a"
        );
    }

    #[test]
    fn a_date_ends_at_the_end_of_that_day_in_utc() {
        let end = suppression_end("2027-01-31").ok().map(when);
        assert_eq!(end.as_deref(), Some("2027-01-31 23:59:59 UTC"));
        let full = suppression_end("2027-01-31T08:00:00Z").ok().map(when);
        assert_eq!(full.as_deref(), Some("2027-01-31 08:00:00 UTC"));
        for bad in ["", "  ", "tomorrow", "2027-13-40", "31/01/2027"] {
            let refused = suppression_end(bad).err().map(|error| error.to_string());
            assert!(
                refused.as_deref().is_some_and(|m| m.contains("YYYY-MM-DD")),
                "{bad:?}: {refused:?}"
            );
        }
        assert_eq!(
            date(Timestamp::from_millis(1_800_000_000_000)),
            "2027-01-15"
        );
    }

    #[test]
    fn a_row_names_the_risk_the_identity_and_the_suppression() {
        let at = Timestamp::from_millis(1_800_000_000_000);
        let finding = StoredFinding {
            id: "f1".into(),
            rule: "secret-no-expiry".into(),
            owasp: "NHI7:2025".into(),
            severity: "low".into(),
            status: FindingStatus::Suppressed,
            subject: "imp-1".into(),
            identity: Some(FindingIdentity {
                id: Some("imp-1".into()),
                kind: "api_key".into(),
                name: "stripe-payouts".into(),
            }),
            credential: Some("sk-id-0001".into()),
            evidence: "it never expires".into(),
            remediation: "set an expiry".into(),
            first_seen: at,
            last_seen: at,
            resolved_at: None,
            suppression: Some(Suppression {
                reason: "rotated by hand".into(),
                until: at.plus_secs(86_400),
                by: "dana@example.com".into(),
            }),
        };
        let row = row(&finding);
        assert_eq!(row.risk, "Long-Lived Secrets");
        assert_eq!(row.subject, "api_key:stripe-payouts");
        assert_eq!(row.filter_by, "stripe-payouts");
        assert!(
            row.suppression
                .contains("dana@example.com: rotated by hand")
        );
        assert!(!row.can_suppress && row.can_unsuppress);
        let open = super::row(&StoredFinding {
            status: FindingStatus::Open,
            identity: None,
            suppression: None,
            ..finding
        });
        assert_eq!(
            (open.subject.as_str(), open.filter_by.as_str()),
            ("imp-1", "imp-1")
        );
        assert!(open.can_suppress && !open.can_unsuppress);
    }
}
