//! `/v1/identities/{identity}/graph`: the access graph of one agent (or any identity that
//! can be a policy principal): what it can reach through every identity it holds, what the
//! compiled policies let it do there, and the NHI behind each upstream.

use axum::Json;
use axum::extract::{Path, State};
use warden_core::{DomainError, IdentityRef};
use warden_posture::access_graph::AccessGraph;

use crate::error::{ApiError, ErrorBody};
use crate::extract::QueryPairs;
use crate::state::AppState;

/// The depth a graph is cut at when none is asked for: the agent's upstreams, their
/// actions and injected identities, and those identities' entitlements.
pub const DEFAULT_DEPTH: u32 = 3;
/// The window "used" looks back over when none is asked for, in days.
pub const DEFAULT_DAYS: u32 = 30;

/// How a graph shows the actions and tools denied to an identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum DeniedView {
    /// Counted on each `reaches` edge (`denied_actions`).
    Count,
    /// Each one a node, with a `denied` permits edge.
    List,
}

fn number(query: &QueryPairs, key: &'static str, default: u32) -> Result<u32, ApiError> {
    match query.one(key)? {
        None => Ok(default),
        Some(text) => text.parse().map_err(|_| {
            DomainError::invalid(key, format!("`{text}` is not a whole number")).into()
        }),
    }
}

/// The access graph of an identity: nodes (the identity, its parent and sub-agents, their
/// credentials, the users it may act for and did, the upstreams it can get a token for,
/// their route actions and MCP tools, the identity each upstream's secret belongs to and
/// its entitlements) and edges, each with why it exists and whether it was used in the
/// last `days` days. Every action's and tool's standing (allowed, after_approval,
/// conditional, denied) is decided by the compiled Cedar policies for that identity. By
/// default the denied ones are counted on each `reaches` edge rather than listed.
#[utoipa::path(get, path = "/v1/identities/{identity}/graph", tag = "identities",
    params(
        ("identity" = String, Path, description = "id or KIND:NAME, e.g. agent:support-bot"),
        ("depth" = Option<u32>, Query, description = "hops from the identity, 1-8, default 3"),
        ("days" = Option<u32>, Query, description = "days of audit trail that count as used, 1-3650, default 30"),
        ("denied" = inline(Option<DeniedView>), Query, description = "`count` (default): each reaches edge counts the actions and tools denied to its identity in denied_actions; `list`: every denied action and tool is a node with a denied permits edge"),
    ),
    responses((status = 200, body = AccessGraph), (status = 404, body = ErrorBody),
              (status = 422, body = ErrorBody, description = "invalid_field: depth or days out of range")))]
pub async fn identity_graph(
    State(state): State<AppState>,
    Path(identity): Path<String>,
    query: QueryPairs,
) -> Result<Json<AccessGraph>, ApiError> {
    query.only(&["depth", "days", "denied"])?;
    let depth = number(&query, "depth", DEFAULT_DEPTH)?;
    let days = number(&query, "days", DEFAULT_DAYS)?;
    let denied = match query.one("denied")? {
        None | Some("count") => DeniedView::Count,
        Some("list") => DeniedView::List,
        Some(other) => {
            return Err(DomainError::invalid(
                "denied",
                format!("`{other}` is not `count` or `list`"),
            )
            .into());
        }
    };
    let reach_only = denied == DeniedView::Count;
    let reference = IdentityRef::parse(&identity)
        .map_err(|_| ApiError::from(DomainError::UnknownIdentity(identity.clone())))?;
    Ok(Json(
        crate::access_graph::graph_of(&state, &reference, depth, days, reach_only).await?,
    ))
}
