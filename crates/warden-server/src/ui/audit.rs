//! `/ui/audit`: the audit trail. The filters are `warden audit query`'s (kind, actor, owner,
//! user, upstream, action, decision, task, since, until) and go to `GET /v1/audit/events`'s
//! handler under the same names. The page opens on the newest events; oldest first it pages
//! forward by sequence number (`after`), as the CLI does. Above them, whether the chain
//! verifies (`GET /v1/audit/verify`'s handler), and the export and public key, downloaded
//! through the handlers of `GET /v1/audit/export` and `GET /v1/audit/public-key`, so the
//! file verifies offline with `warden audit verify --export … --public-key …`.

use askama::Template;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use warden_core::DomainError;

use super::guard::SignedIn;
use super::view::{Chain, EventRow};
use super::{Chrome, render};
use crate::api::audit;
use crate::error::ApiError;
use crate::extract::QueryPairs;
use crate::state::AppState;

/// The CLI's filters, each passed to the API under the same name.
const FILTERS: &[&str] = &[
    "kind", "actor", "owner", "user", "upstream", "action", "decision", "task", "since", "until",
];
const PAGE_SIZE: usize = 50;
const NEWEST: &str = "newest";
const OLDEST: &str = "oldest";

#[derive(Template)]
#[template(path = "ui/audit.html")]
struct AuditPage {
    chrome: Chrome,
    fields: Vec<Field>,
    decisions: Vec<Choice>,
    oldest_first: bool,
    after: String,
    events: Vec<EventRow>,
    next_page: Option<String>,
    filtered: bool,
    chain: Chain,
}

/// A text filter of the form, with what was asked.
struct Field {
    name: &'static str,
    label: &'static str,
    hint: &'static str,
    value: String,
}

struct Choice {
    value: &'static str,
    selected: bool,
}

/// The text filters, in the order `warden audit query --help` lists them.
const TEXT_FIELDS: &[(&str, &str, &str)] = &[
    ("kind", "Kind", "e.g. identity.created"),
    ("actor", "Actor", "agent or admin name"),
    ("owner", "Owner", "email"),
    ("user", "On behalf of", "user"),
    ("upstream", "Upstream", ""),
    ("action", "Action", "e.g. tickets.read"),
    ("task", "Task", "task id"),
    ("since", "Since", "RFC 3339, inclusive"),
    ("until", "Until", "RFC 3339, exclusive"),
];

/// What a page was asked for: the filters as its links keep them, and the API's query.
#[derive(Debug, PartialEq, Eq)]
struct Asked {
    given: Vec<(String, String)>,
    oldest_first: bool,
    after: Option<String>,
    api: Vec<(String, String)>,
}

fn asked(url_query: &QueryPairs) -> Result<Asked, ApiError> {
    let mut known = FILTERS.to_vec();
    known.extend(["order", "after"]);
    url_query.only(&known)?;
    for key in &known {
        // Each is asked once; a repeated one is refused, as the API refuses it.
        url_query.one(key)?;
    }
    let oldest_first = match url_query.one("order")? {
        None | Some("") | Some(NEWEST) => false,
        Some(OLDEST) => true,
        Some(other) => {
            return Err(ApiError::bad_request(
                "invalid_query",
                format!("`order` must be {NEWEST} or {OLDEST}, not `{other}`"),
            ));
        }
    };
    let after = url_query
        .one("after")?
        .map(str::trim)
        .filter(|after| !after.is_empty())
        .map(str::to_string);
    if after.is_some() && !oldest_first {
        return Err(DomainError::invalid(
            "after",
            "paging by sequence number goes oldest first; choose oldest first with it",
        )
        .into());
    }
    // A filter left empty in the form is no filter, not a filter for "".
    let given: Vec<(String, String)> = url_query
        .0
        .iter()
        .filter(|(key, value)| FILTERS.contains(&key.as_str()) && !value.trim().is_empty())
        .map(|(key, value)| (key.clone(), value.trim().to_string()))
        .collect();
    let mut api = given.clone();
    api.push(("limit".into(), PAGE_SIZE.to_string()));
    if oldest_first {
        if let Some(after) = &after {
            api.push(("after".into(), after.clone()));
        }
    } else {
        api.push(("newest".into(), "true".into()));
    }
    Ok(Asked {
        given,
        oldest_first,
        after,
        api,
    })
}

/// The next page oldest first: the same filters, after the last sequence shown.
fn next_page(given: &[(String, String)], last: Option<&str>) -> Result<Option<String>, ApiError> {
    let Some(last) = last else {
        return Ok(None);
    };
    let mut pairs = given.to_vec();
    pairs.push(("order".into(), OLDEST.into()));
    pairs.push(("after".into(), last.to_string()));
    let encoded = serde_urlencoded::to_string(&pairs)
        .map_err(|error| ApiError::Internal(format!("a page link does not encode: {error}")))?;
    Ok(Some(format!("/ui/audit?{encoded}")))
}

/// `GET /ui/audit`.
pub async fn page(
    State(state): State<AppState>,
    signed_in: SignedIn,
    url_query: QueryPairs,
) -> Result<Response, ApiError> {
    let Asked {
        given,
        oldest_first,
        after,
        api,
    } = asked(&url_query)?;
    let Json(found) = audit::list_events(State(state.clone()), QueryPairs(api)).await?;
    let mut events: Vec<EventRow> = found.items.iter().map(EventRow::from_json).collect();
    let next = if oldest_first && events.len() == PAGE_SIZE {
        next_page(&given, events.last().map(|event| event.sequence.as_str()))?
    } else {
        None
    };
    if !oldest_first {
        events.reverse();
    }
    let Json(verification) = audit::verify(State(state.clone())).await?;
    let value = |name: &str| {
        given
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
            .unwrap_or_default()
    };
    let decision = value("decision");
    render(&AuditPage {
        chrome: Chrome::new(&signed_in, "audit"),
        fields: TEXT_FIELDS
            .iter()
            .map(|&(name, label, hint)| Field {
                name,
                label,
                hint,
                value: value(name),
            })
            .collect(),
        decisions: ["allow", "deny", "hold"]
            .into_iter()
            .map(|value| Choice {
                value,
                selected: decision == value,
            })
            .collect(),
        oldest_first,
        after: after.unwrap_or_default(),
        events,
        next_page: next,
        filtered: !given.is_empty(),
        chain: Chain::of(&verification),
    })
}

fn attachment(mut response: Response, filename: &'static str) -> Response {
    if response.status().is_success() {
        let disposition = format!("attachment; filename=\"{filename}\"");
        if let Ok(value) = HeaderValue::from_str(&disposition) {
            response
                .headers_mut()
                .insert(header::CONTENT_DISPOSITION, value);
        }
    }
    response
}

/// `GET /ui/audit/export?format=jsonl|ocsf`: the whole trail as a download, from the API's
/// export handler; `jsonl` verifies offline with the public key.
pub async fn export(
    State(state): State<AppState>,
    _signed_in: SignedIn,
    url_query: QueryPairs,
) -> Result<Response, ApiError> {
    let filename = match url_query.one("format")? {
        Some("ocsf") => "warden-audit-ocsf.jsonl",
        _ => "warden-audit.jsonl",
    };
    let exported = audit::export(State(state), url_query).await?;
    Ok(attachment(exported, filename))
}

/// `GET /ui/audit/public-key`: the key an export verifies with, as a download.
pub async fn public_key(State(state): State<AppState>, _signed_in: SignedIn) -> Response {
    attachment(audit::public_key(State(state)).await, "warden-audit.pem")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(items: &[(&str, &str)]) -> QueryPairs {
        super::super::query(items)
    }

    fn owned(items: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs(items).0
    }

    #[test]
    fn a_page_opens_on_the_newest_events() {
        assert_eq!(
            asked(&pairs(&[])).ok(),
            Some(Asked {
                given: vec![],
                oldest_first: false,
                after: None,
                api: owned(&[("limit", "50"), ("newest", "true")]),
            })
        );
    }

    #[test]
    fn oldest_first_pages_after_a_sequence_with_the_filters_kept() {
        let asked = asked(&pairs(&[
            ("kind", "finding.suppressed"),
            ("actor", ""),
            ("decision", "deny"),
            ("order", "oldest"),
            ("after", "120"),
        ]))
        .ok();
        assert_eq!(
            asked,
            Some(Asked {
                given: owned(&[("kind", "finding.suppressed"), ("decision", "deny")]),
                oldest_first: true,
                after: Some("120".into()),
                api: owned(&[
                    ("kind", "finding.suppressed"),
                    ("decision", "deny"),
                    ("limit", "50"),
                    ("after", "120"),
                ]),
            })
        );
        let next = next_page(&owned(&[("kind", "finding.suppressed")]), Some("170"));
        assert_eq!(
            next.ok().flatten().as_deref(),
            Some("/ui/audit?kind=finding.suppressed&order=oldest&after=170")
        );
        assert_eq!(next_page(&[], None).ok(), Some(None));
    }

    #[test]
    fn an_unknown_filter_a_bad_order_or_after_without_oldest_first_is_refused() {
        for (query, named) in [
            (vec![("colour", "red")], "colour"),
            (vec![("order", "sideways")], "`order`"),
            (vec![("after", "3")], "oldest first"),
            (vec![("kind", "a"), ("kind", "b")], "only once"),
        ] {
            let refused = asked(&pairs(&query)).err().map(|e| e.to_string());
            assert!(
                refused.as_deref().is_some_and(|m| m.contains(named)),
                "{query:?}: {refused:?}"
            );
        }
    }

    #[test]
    fn a_download_is_named_only_when_it_succeeded() {
        use axum::response::IntoResponse;
        let named = attachment("x".into_response(), "warden-audit.jsonl");
        assert_eq!(
            named.headers()[header::CONTENT_DISPOSITION],
            "attachment; filename=\"warden-audit.jsonl\""
        );
        let failed = attachment(
            (axum::http::StatusCode::BAD_REQUEST, "no").into_response(),
            "warden-audit.jsonl",
        );
        assert!(failed.headers().get(header::CONTENT_DISPOSITION).is_none());
    }
}
