//! `/ui/identities/{id}`: one identity. Its owner and facts, its credentials with their age
//! and state (never a secret: the API's listing holds none), its findings, its access graph
//! drawn as a picture (`warden_posture::access_graph::svg`), and its recent audit events;
//! and the kill switch: a dry-run preview of what a kill stops and what it
//! takes away, then a confirming POST, and restore.

use askama::Template;
use axum::Json;
use axum::extract::{Path, State};
use axum::response::Response;
use serde::Deserialize;
use serde_json::Value;
use warden_core::{IdentityRef, IdentityStatus, Timestamp};
use warden_posture::access_graph::AccessGraph;

use super::guard::{CheckedForm, Everyone, SignedIn};
use super::view::{EventRow, age, json_when, text, when};
use super::{Chrome, query, render, see_other};
use crate::api::credentials::{self, Target};
use crate::api::{audit, findings, identities};
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::state::AppState;

const RECENT_EVENTS: &str = "20";
const FINDINGS_SHOWN: &str = "50";
/// The access graph drawn: hops from the identity, and the days "used" looks back.
const GRAPH_DEPTH: u32 = 3;
const GRAPH_DAYS: u32 = 30;
/// Boxes drawn at most; a larger graph is drawn in part and says so.
const GRAPH_NODES_DRAWN: usize = 200;

#[derive(Template)]
#[template(path = "ui/identity.html")]
struct IdentityPage {
    chrome: Chrome,
    facts: Facts,
    credentials: Vec<CredentialRow>,
    findings: Vec<FindingRow>,
    events: Vec<EventRow>,
    graph: Result<Picture, String>,
    can_kill: bool,
    can_restore: bool,
}

/// The access graph as the page shows it.
struct Picture {
    /// Markup made by the renderer, which escapes every name it draws.
    svg: String,
    nodes: usize,
    edges: usize,
    left_out: usize,
}

impl Picture {
    fn of(graph: &AccessGraph) -> Self {
        let drawn = warden_posture::access_graph::svg::render(graph, GRAPH_NODES_DRAWN);
        Self {
            svg: drawn.svg,
            nodes: graph.nodes.len(),
            edges: graph.edges.len(),
            left_out: drawn.left_out,
        }
    }
}

#[derive(Template)]
#[template(path = "ui/kill_preview.html")]
struct KillPreviewPage {
    chrome: Chrome,
    facts: Facts,
    stops: Vec<Stopped>,
    reaches: Vec<Reached>,
}

struct Facts {
    id: String,
    name: String,
    kind: String,
    owner: String,
    status: String,
    suspension: String,
    environment: String,
    purpose: String,
    source: String,
    labels: String,
    created: String,
    expires: String,
    last_used: String,
}

struct CredentialRow {
    id: String,
    kind: String,
    status: String,
    age: String,
    created: String,
    expires: String,
    revoked: String,
}

struct FindingRow {
    id: String,
    owasp: String,
    severity: String,
    rule: String,
    status: String,
    evidence: String,
    remediation: String,
}

struct Stopped {
    reference: String,
    owner: String,
    status: String,
}

struct Reached {
    upstream: String,
    principal: String,
    actions: String,
}

#[derive(Deserialize)]
pub struct Confirm {}

async fn facts(state: &AppState, id: &str) -> Result<(Facts, IdentityStatus), ApiError> {
    let Json(identity) =
        identities::get_identity(State(state.clone()), Path(id.to_string())).await?;
    let now = state.clock.now();
    let facts = Facts {
        id: identity.id.to_string(),
        name: identity.name.clone(),
        kind: identity.kind.to_string(),
        owner: identity.owner.clone(),
        status: identity.status.to_string(),
        suspension: identity
            .suspension_reason
            .map(|reason| reason.to_string())
            .unwrap_or_default(),
        environment: identity
            .environment
            .map(|environment| environment.to_string())
            .unwrap_or_default(),
        purpose: identity.purpose.clone().unwrap_or_default(),
        source: match &identity.source_detail {
            Some(detail) => format!("{} ({detail})", identity.source),
            None => identity.source.to_string(),
        },
        labels: identity
            .labels
            .iter()
            .map(|(key, value)| format!("{key}={value}"))
            .collect::<Vec<_>>()
            .join(", "),
        created: when(identity.created_at),
        expires: identity
            .expires_at
            .map(when)
            .unwrap_or_else(|| "never".into()),
        last_used: identity
            .last_used_at
            .map(|at| format!("{} ({} ago)", when(at), age(at, now)))
            .unwrap_or_else(|| "never".into()),
    };
    Ok((facts, identity.status))
}

/// `GET /ui/identities/{id}`.
pub async fn page(
    State(state): State<AppState>,
    signed_in: SignedIn<Everyone>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (facts, status) = facts(&state, &id).await?;
    // To an owner, another owner's identity does not exist.
    if signed_in
        .session
        .owner_email()
        .is_some_and(|email| email != facts.owner)
    {
        return Err(warden_core::DomainError::UnknownIdentity(id).into());
    }
    let administrator = signed_in.session.owner_email().is_none();
    let now = state.clock.now();
    let Json(listed) =
        credentials::list_credentials(State(state.clone()), Path(facts.id.clone())).await?;
    let credentials = listed["items"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|credential| credential_row(credential, now))
        .collect();
    let Json(found) = findings::list_findings(
        State(state.clone()),
        query(&[("identity", &facts.name), ("limit", FINDINGS_SHOWN)]),
    )
    .await?;
    let findings = found
        .items
        .iter()
        .map(|finding| FindingRow {
            id: finding.id.clone(),
            owasp: finding.owasp.clone(),
            severity: finding.severity.clone(),
            rule: finding.rule.clone(),
            status: finding.status.as_str().to_string(),
            evidence: finding.evidence.clone(),
            remediation: finding.remediation.clone(),
        })
        .collect();
    let Json(events) = audit::list_events(
        State(state.clone()),
        query(&[
            ("actor", &facts.name),
            ("newest", "true"),
            ("limit", RECENT_EVENTS),
        ]),
    )
    .await?;
    let mut events: Vec<EventRow> = events.items.iter().map(EventRow::from_json).collect();
    events.reverse();
    let graph = access_picture(&state, &facts.id).await;
    render(&IdentityPage {
        chrome: Chrome::new(&signed_in, "inventory"),
        facts,
        credentials,
        findings,
        events,
        graph,
        // The kill switch and its undoing are an administrator's.
        can_kill: administrator && status == IdentityStatus::Active,
        can_restore: administrator && status == IdentityStatus::Suspended,
    })
}

/// The identity's access graph as a picture (what `warden graph` shows, denied actions
/// counted), or why there is none.
async fn access_picture(state: &AppState, id: &str) -> Result<Picture, String> {
    let reference = IdentityRef::parse(id).map_err(|error| error.to_string())?;
    let graph = crate::access_graph::graph_of(state, &reference, GRAPH_DEPTH, GRAPH_DAYS, true)
        .await
        .map_err(|error| match error {
            ApiError::Domain(error) => error.to_string(),
            other => {
                tracing::warn!(error = %other, "an identity's access graph cannot be drawn");
                "the access graph cannot be drawn now; the server log has the detail".to_string()
            }
        })?;
    Ok(Picture::of(&graph))
}

fn credential_row(credential: &Value, now: Timestamp) -> CredentialRow {
    let created = credential["created_at"]
        .as_str()
        .and_then(|text| Timestamp::parse_rfc3339(text).ok());
    CredentialRow {
        id: text(&credential["id"]),
        kind: text(&credential["kind"]),
        status: text(&credential["status"]),
        age: created.map(|at| age(at, now)).unwrap_or_default(),
        created: json_when(&credential["created_at"]),
        expires: json_when(&credential["expires_at"]),
        revoked: json_when(&credential["revoked_at"]),
    }
}

fn target(id: &str, dry_run: bool) -> Target {
    Target {
        identity: Some(id.to_string()),
        owner: None,
        credential: None,
        token: None,
        dry_run,
    }
}

/// `GET /ui/identities/{id}/kill`: the kill's dry run, and the button that confirms it.
pub async fn kill_preview(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (facts, _) = facts(&state, &id).await?;
    let Json(preview) =
        credentials::kill(State(state.clone()), ApiJson(target(&facts.id, true))).await?;
    let stops = preview["stops"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|stopped| Stopped {
            reference: format!("{}:{}", text(&stopped["kind"]), text(&stopped["name"])),
            owner: text(&stopped["owner"]),
            status: text(&stopped["status"]),
        })
        .collect();
    let reaches = preview["reaches"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|reach| Reached {
            upstream: text(&reach["upstream"]),
            principal: text(&reach["principal"]),
            actions: reach["actions"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .map(|action| {
                    format!(
                        "{} ({}, {})",
                        text(&action["name"]),
                        text(&action["action"]),
                        text(&action["standing"])
                    )
                })
                .collect::<Vec<_>>()
                .join(", "),
        })
        .collect();
    render(&KillPreviewPage {
        chrome: Chrome::new(&signed_in, "inventory"),
        facts,
        stops,
        reaches,
    })
}

/// `POST /ui/identities/{id}/kill`: the kill itself, as the signed-in person.
pub async fn kill(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CheckedForm { signed_in, .. }: CheckedForm<Confirm>,
) -> Result<Response, ApiError> {
    let acting = signed_in.acting(&state);
    let Json(identity) = identities::get_identity(State(state.clone()), Path(id.clone())).await?;
    let Json(killed) = credentials::kill(
        State(acting),
        ApiJson(target(&identity.id.to_string(), false)),
    )
    .await?;
    tracing::warn!(
        person = %signed_in.session.person(),
        stopped = killed["stops"].as_array().map_or(0, Vec::len),
        identity = %identity.reference(),
        "kill switch applied from the dashboard"
    );
    Ok(see_other(&format!("/ui/identities/{}", identity.id)))
}

/// `POST /ui/identities/{id}/restore`: lifts the suspension, as the signed-in person.
pub async fn restore(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CheckedForm { signed_in, .. }: CheckedForm<Confirm>,
) -> Result<Response, ApiError> {
    let acting = signed_in.acting(&state);
    let Json(identity) = identities::get_identity(State(state.clone()), Path(id.clone())).await?;
    let Json(restored) = credentials::restore(
        State(acting),
        ApiJson(target(&identity.id.to_string(), false)),
    )
    .await?;
    tracing::info!(
        person = %signed_in.session.person(),
        restored = restored["restored"].as_array().map_or(0, Vec::len),
        identity = %identity.reference(),
        "identity restored from the dashboard"
    );
    Ok(see_other(&format!("/ui/identities/{}", identity.id)))
}
