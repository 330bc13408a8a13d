//! What every request handler shares: the store, the clock, the keys.

use std::sync::Arc;

use tokio::sync::Notify;
use warden_audit::{Actor, AuditPublicKey};
use warden_core::Clock;
use warden_crypto::{DataKey, KeyedHash, Pepper};
use warden_plane::CredentialPlane;
use warden_proxy::CatalogState;
use warden_store::Store;

use crate::posture::Posture;

#[derive(Debug, Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub pepper: Pepper,
    pub admin_token_hash: KeyedHash,
    /// Who admin API requests act as in the audit trail.
    pub actor: Actor,
    /// The audit key's public half, for verification and exports.
    pub audit_public_key: AuditPublicKey,
    /// Tokens, keys, revocation state: the credential plane.
    pub credentials: Arc<CredentialPlane>,
    /// Seals upstream secrets before they reach the store.
    pub data_key: Arc<DataKey>,
    /// Woken after every approval decision, so requests waiting on one look again.
    pub approvals_changed: Arc<Notify>,
    /// Upstreams and the compiled policy engine, in memory, for the gateway.
    pub catalog: Arc<CatalogState>,
    /// The posture evaluator.
    pub posture: Arc<Posture>,
    /// The largest import request accepted.
    pub max_import_bytes: usize,
    /// `[leaks] auto_revoke`: every known leaked secret is switched off when reported.
    pub leaks_auto_revoke: bool,
    /// Pinned MCP tool definitions, for the gateway and the API that accepts them.
    pub tool_pins: Arc<warden_proxy::ToolPins>,
    /// Webhook and Shared Signals delivery settings, and the issuer of security events.
    pub signals: Arc<crate::signals::SignalSettings>,
    /// What each agent was already allowed in each task, for `context.task`.
    pub task_window: Arc<warden_policy::TaskWindow>,
    /// Whether this node still knows it is current with the others (see `cluster`).
    pub freshness: Arc<warden_plane::Freshness>,
    /// How owners sign in to the dashboard (`[dashboard.oidc]`), when configured.
    pub owner_sign_in: Option<Arc<crate::ui::owner_sign_in::OwnerSignIn>>,
}

impl AppState {
    /// The parts of this node the gateway uses, and nothing else.
    pub fn gateway_dependencies(&self) -> warden_proxy::Dependencies {
        warden_proxy::Dependencies {
            store: Arc::clone(&self.store),
            clock: Arc::clone(&self.clock),
            pepper: self.pepper.clone(),
            credentials: Arc::clone(&self.credentials),
            data_key: Arc::clone(&self.data_key),
            approvals_changed: Arc::clone(&self.approvals_changed),
            catalog: Arc::clone(&self.catalog),
            tool_pins: Arc::clone(&self.tool_pins),
            task_window: Arc::clone(&self.task_window),
            freshness: Arc::clone(&self.freshness),
        }
    }
}
