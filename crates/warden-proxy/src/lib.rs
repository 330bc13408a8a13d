//! The gateway runtime: `/{upstream}/{path…}`, the boundary between agents and the
//! systems they call, and the RFC 9728 protected-resource metadata of each upstream.
//!
//! What the gateway needs from the rest of the node is named field by field in
//! [`Dependencies`]; `warden-server` builds it at start and mounts [`router`] on the
//! gateway listener. Pure checks of headers, framing and MCP envelopes are in
//! `warden-gateway`; tokens and revocation state in `warden-plane`.
//!
//! The request pipeline is in `pipeline`; the decision (task bounds, Cedar) in `decide`;
//! what the gateway knows of upstreams and policies, in memory, in `catalog`; bodies in
//! `body`; the upstream client in `forward`; held requests in `hold`.
//!
//! Architecture invariant: the hot path reads no database. Tokens are verified against the
//! key ring and revocation state in memory, decisions against the catalog in memory; the
//! only store calls are the audit records (the decision, durable before anything is
//! forwarded, and the outcome after) and, for held requests, the approvals.

pub mod body;
pub mod catalog;
pub mod decide;
mod forward;
pub mod held_view;
mod hold;
pub mod listener;
pub mod mcp;
pub mod pins;
mod pipeline;
pub mod task_window_sync;

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;
use tokio::sync::Notify;
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use warden_audit::AuditHmacKey;
use warden_core::Clock;
use warden_crypto::{DataKey, Pepper};
use warden_plane::{CredentialPlane, Freshness};
use warden_policy::TaskWindow;
use warden_store::Store;

pub use catalog::CatalogState;
pub use listener::{GatewayPeer, sniffed};
pub use pins::ToolPins;
pub use warden_gateway::REASON_HEADER;

/// The gateway's limits and timeouts.
#[derive(Debug, Clone)]
pub struct GatewaySettings {
    /// The largest request body forwarded, in bytes.
    pub max_body_bytes: u64,
    /// The largest MCP request body (read whole, to be parsed), in bytes.
    pub mcp_max_body_bytes: u64,
    /// How long to wait for an upstream's response headers.
    pub upstream_timeout: Duration,
    /// How long a held request waits for a human before its approval expires.
    pub approval_ttl_secs: i64,
    /// The longest `Prefer: wait=N` honoured, in seconds.
    pub max_wait_secs: u64,

    /// How many approvals one agent may have pending; a held request beyond it is refused.
    pub max_pending_approvals_per_agent: u32,
}

pub const DEFAULT_MAX_BODY_BYTES: u64 = 10 * 1024 * 1024;
pub const DEFAULT_MCP_MAX_BODY_BYTES: u64 = 1024 * 1024;
pub const DEFAULT_UPSTREAM_TIMEOUT_SECS: u64 = 60;
pub const DEFAULT_APPROVAL_TTL_SECS: i64 = 900;
pub const DEFAULT_MAX_WAIT_SECS: u64 = 300;

impl Default for GatewaySettings {
    fn default() -> Self {
        Self {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            mcp_max_body_bytes: DEFAULT_MCP_MAX_BODY_BYTES,
            upstream_timeout: Duration::from_secs(DEFAULT_UPSTREAM_TIMEOUT_SECS),
            approval_ttl_secs: DEFAULT_APPROVAL_TTL_SECS,
            max_wait_secs: DEFAULT_MAX_WAIT_SECS,
            max_pending_approvals_per_agent:
                warden_core::approval::DEFAULT_MAX_PENDING_APPROVALS_PER_AGENT,
        }
    }
}

/// What the gateway uses of the node it runs in, each part named: the gateway reads the
/// catalog, the credential plane and the task window in memory, and writes to the store
/// only the audit records and approvals.
#[derive(Debug, Clone)]
pub struct Dependencies {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    /// Derives the key that hashes queries and bodies in audit records and approvals.
    pub pepper: Pepper,
    /// Tokens, keys, revocation state.
    pub credentials: Arc<CredentialPlane>,
    /// Opens upstream secrets and held requests' sealed copies.
    pub data_key: Arc<DataKey>,
    /// Woken after every approval decision, so requests waiting on one look again.
    pub approvals_changed: Arc<Notify>,
    /// Upstreams and the compiled policy engine.
    pub catalog: Arc<CatalogState>,
    /// Pinned MCP tool definitions.
    pub tool_pins: Arc<ToolPins>,
    /// What each agent was already allowed in each task, for `context.task`.
    pub task_window: Arc<TaskWindow>,
    /// Whether this node still knows it is current with the others.
    pub freshness: Arc<Freshness>,
}

/// Everything a gateway request needs.
pub struct Gateway {
    deps: Dependencies,
    client: forward::UpstreamClient,
    settings: GatewaySettings,
    /// Keys the hashes of queries and bodies in audit records and approval bindings.
    digest_key: AuditHmacKey,
    /// Turns true when the server stops: open streams end rather than hold shutdown up.
    stopping: tokio::sync::watch::Receiver<bool>,
    /// The host and scheme agents reach the gateway at, for the forwarding headers the
    /// gateway writes itself.
    forwarded_host: String,
    forwarded_proto: String,
    /// The MCP tasks created through this node, to decide their later methods.
    tasks: Arc<mcp::TaskLedger>,
}

impl Gateway {
    pub fn new(
        deps: Dependencies,
        settings: GatewaySettings,
        stopping: tokio::sync::watch::Receiver<bool>,
    ) -> anyhow::Result<Self> {
        let digest_key = AuditHmacKey::new(
            deps.pepper
                .hash("warden.gateway-request-digest", b"")
                .as_bytes(),
        );
        let gateway_url: http::Uri = deps
            .credentials
            .settings
            .tokens
            .gateway_url
            .parse()
            .map_err(|error| anyhow::anyhow!("the gateway URL is not a URL: {error}"))?;
        let forwarded_host = gateway_url
            .authority()
            .map_or_else(String::new, |authority| authority.to_string());
        let forwarded_proto = gateway_url.scheme_str().unwrap_or("http").to_string();
        Ok(Self {
            client: forward::client()?,
            deps,
            settings,
            digest_key,
            stopping,
            forwarded_host,
            forwarded_proto,
            tasks: Arc::default(),
        })
    }

    fn gateway_url(&self) -> &str {
        &self.deps.credentials.settings.tokens.gateway_url
    }
}

/// The gateway router; `stopping` turns true when the server begins to stop.
pub fn router(
    deps: Dependencies,
    settings: GatewaySettings,
    stopping: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<Router> {
    let gateway = Arc::new(Gateway::new(deps, settings, stopping)?);
    Ok(Router::new()
        .route(
            "/.well-known/oauth-protected-resource/{upstream}",
            get(resource_metadata),
        )
        .fallback(pipeline::handle)
        .with_state(Arc::clone(&gateway))
        .layer(axum::middleware::from_fn_with_state(
            gateway,
            listener::refuse_untrusted_connections,
        ))
        .layer(SetSensitiveRequestHeadersLayer::new([
            http::header::AUTHORIZATION,
        ])))
}

/// RFC 9728 metadata for one upstream: the resource URL tokens must name as their
/// audience, and the authorization server that issues them.
async fn resource_metadata(
    State(gateway): State<Arc<Gateway>>,
    Path(upstream): Path<String>,
) -> Response {
    let known = gateway
        .deps
        .catalog
        .current()
        .is_ok_and(|catalog| catalog.upstreams.contains_key(&upstream));
    if !known {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "unknown_upstream", "message": "no upstream has this name"})),
        )
            .into_response();
    }
    let tokens = &gateway.deps.credentials.settings.tokens;
    Json(json!({
        "resource": tokens.audience_for(&upstream),
        "authorization_servers": [tokens.issuer],
        "bearer_methods_supported": ["header"],
        "resource_name": upstream,
    }))
    .into_response()
}
