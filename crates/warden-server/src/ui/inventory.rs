//! `/ui/identities`: the inventory. Filters by name, kind, owner, status, environment,
//! source and label go to the API's own list handler unchanged, so a page pages the way the API does: by
//! keyset (`cursor` is the last id seen), which stays as fast on the thousandth page as on
//! the first.

use askama::Template;
use axum::Json;
use axum::extract::State;
use axum::response::Response;
use warden_core::{Environment, IdentityKind, IdentityStatus, Source};

use super::guard::{Everyone, SignedIn};
use super::view::{age, when};
use super::{Chrome, render};
use crate::api::identities;
use crate::error::ApiError;
use crate::extract::QueryPairs;
use crate::state::AppState;

/// The filters the page offers, each passed to the API under the same name.
const FILTERS: &[&str] = &[
    "name",
    "kind",
    "owner",
    "status",
    "environment",
    "source",
    "label",
];
const PAGE_SIZE: &str = "50";

#[derive(Template)]
#[template(path = "ui/inventory.html")]
struct InventoryPage {
    chrome: Chrome,
    name: String,
    owner: String,
    kinds: Vec<Choice>,
    statuses: Vec<Choice>,
    environments: Vec<Choice>,
    sources: Vec<Choice>,
    /// `KEY=VALUE`, as typed.
    label: String,
    rows: Vec<Row>,
    next_page: Option<String>,
    filtered: bool,
}

struct Choice {
    value: &'static str,
    selected: bool,
}

struct Row {
    id: String,
    name: String,
    kind: String,
    owner: String,
    status: String,
    environment: String,
    created: String,
    last_used: String,
}

fn choices(values: impl Iterator<Item = &'static str>, chosen: Option<&str>) -> Vec<Choice> {
    values
        .map(|value| Choice {
            value,
            selected: chosen == Some(value),
        })
        .collect()
}

pub async fn page(
    State(state): State<AppState>,
    signed_in: SignedIn<Everyone>,
    url_query: QueryPairs,
) -> Result<Response, ApiError> {
    let mut known = FILTERS.to_vec();
    known.push("cursor");
    url_query.only(&known)?;
    // A filter left empty in the form is no filter, not a filter for "".
    let given: Vec<(String, String)> = url_query
        .0
        .iter()
        .filter(|(_, value)| !value.trim().is_empty())
        .map(|(key, value)| (key.clone(), value.trim().to_string()))
        .collect();
    let filters = QueryPairs(given.clone());
    let mut api_query = given.clone();
    // An owner sees what they own, whatever the owner filter says.
    if let Some(email) = signed_in.session.owner_email() {
        api_query.retain(|(key, _)| key != "owner");
        api_query.push(("owner".into(), email.to_string()));
    }
    api_query.push(("limit".into(), PAGE_SIZE.into()));
    let Json(found) =
        identities::list_identities(State(state.clone()), QueryPairs(api_query)).await?;
    let now = state.clock.now();
    let next_page = match &found.next_cursor {
        Some(cursor) => {
            let mut pairs: Vec<(String, String)> = given
                .iter()
                .filter(|(key, _)| key != "cursor")
                .cloned()
                .collect();
            pairs.push(("cursor".into(), cursor.clone()));
            let encoded = serde_urlencoded::to_string(&pairs).map_err(|error| {
                ApiError::Internal(format!("a page link does not encode: {error}"))
            })?;
            Some(format!("/ui/identities?{encoded}"))
        }
        None => None,
    };
    let rows = found
        .items
        .iter()
        .map(|identity| Row {
            id: identity.id.to_string(),
            name: identity.name.clone(),
            kind: identity.kind.to_string(),
            owner: identity.owner.clone(),
            status: identity.status.to_string(),
            environment: identity
                .environment
                .map(|environment| environment.to_string())
                .unwrap_or_default(),
            created: when(identity.created_at),
            last_used: identity
                .last_used_at
                .map(|at| format!("{} ago", age(at, now)))
                .unwrap_or_else(|| "never".into()),
        })
        .collect();
    let chosen = |key: &str| filters.one(key).ok().flatten();
    render(&InventoryPage {
        chrome: Chrome::new(&signed_in, "inventory"),
        name: chosen("name").unwrap_or_default().to_string(),
        owner: chosen("owner").unwrap_or_default().to_string(),
        kinds: choices(
            IdentityKind::ALL.iter().map(|kind| kind.as_str()),
            chosen("kind"),
        ),
        statuses: choices(
            IdentityStatus::ALL.iter().map(|status| status.as_str()),
            chosen("status"),
        ),
        environments: choices(
            Environment::ALL
                .iter()
                .map(|environment| environment.as_str()),
            chosen("environment"),
        ),
        sources: choices(
            Source::ALL.iter().map(|source| source.as_str()),
            chosen("source"),
        ),
        label: chosen("label").unwrap_or_default().to_string(),
        rows,
        next_page,
        filtered: given.iter().any(|(key, _)| key != "cursor"),
    })
}
