//! The audit side of the store: what a caller asks for when it records, reads or verifies
//! the trail.

use std::sync::Arc;

use warden_audit::{AuditSigner, CheckpointPolicy, Decision, EventKind};
use warden_core::Timestamp;

/// How this node writes the audit trail.
#[derive(Debug, Clone)]
pub struct AuditSettings {
    /// This node's name, written into every record.
    pub node: String,
    /// Signs checkpoints; without one the chain is written but never anchored.
    pub signer: Option<Arc<AuditSigner>>,
    pub checkpoints: CheckpointPolicy,
}

impl AuditSettings {
    /// Settings that write the chain without checkpoints, for tools and tests.
    pub fn unsigned(node: impl Into<String>) -> Self {
        Self {
            node: node.into(),
            signer: None,
            checkpoints: CheckpointPolicy::default(),
        }
    }
}

/// Which audit events a query returns; every field narrows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub kind: Option<EventKind>,
    /// Actor name (agent name or admin name).
    pub actor: Option<String>,
    pub owner: Option<String>,
    pub on_behalf_of: Option<String>,
    pub upstream: Option<String>,
    pub action: Option<String>,
    pub decision: Option<Decision>,
    pub task_id: Option<String>,
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
}

/// A slice of the trail in sequence order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditQuery {
    pub filter: AuditFilter,
    /// Only records after this sequence number.
    pub after: Option<u64>,
    pub limit: u32,
    /// The newest `limit` records (still returned oldest first), for `tail`.
    pub newest: bool,
}

/// Why the stored trail failed verification, or could not be read for it.
#[derive(Debug, thiserror::Error)]
pub enum AuditVerifyError {
    #[error(transparent)]
    Broken(#[from] warden_audit::verify::VerifyFailure),
    #[error(transparent)]
    Store(#[from] crate::StoreError),
}
