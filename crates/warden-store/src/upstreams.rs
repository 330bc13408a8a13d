//! What the store keeps sealed: upstream secrets (bytes and the version they are bound to)
//! and held requests awaiting approval. Sealing and opening happen in the server, which
//! holds the data key; the store never sees a plaintext secret or request. And the check a
//! change to the policy set must pass before it commits.

use warden_core::{DomainError, StoredPolicy, Upstream};

/// Decides whether a policy set may be stored: every upstream (whose route maps and tools
/// make the schema) and every policy, as a change would leave them.
///
/// The store calls it inside the change's own transaction, after making the change there
/// and under the lock that serialises every change to policies and upstreams across nodes
/// (a PostgreSQL advisory lock; SQLite has one writer), on the rows read in that
/// transaction. A refusal rolls the change back, so no interleaving of two changes, on one
/// node or several, can store a set that does not compile. The server passes the Cedar
/// compiler; the store does not know Cedar.
pub trait PolicySetCheck: Send + Sync {
    fn check(&self, upstreams: &[Upstream], policies: &[StoredPolicy]) -> Result<(), DomainError>;
}

impl<F> PolicySetCheck for F
where
    F: Fn(&[Upstream], &[StoredPolicy]) -> Result<(), DomainError> + Send + Sync,
{
    fn check(&self, upstreams: &[Upstream], policies: &[StoredPolicy]) -> Result<(), DomainError> {
        self(upstreams, policies)
    }
}

/// An upstream secret sealed under the data key, bound to the upstream's id and `version`.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedSecret {
    pub bytes: Vec<u8>,
    pub version: i64,
    /// The keyed hash (hex) of the plaintext's leak fingerprint, stored beside the sealed
    /// value so a reported leak is matched without opening it. Written with a new secret;
    /// re-sealing under a new data key leaves the stored one, which does not depend on it.
    pub leak_fingerprint: Option<String>,
}

impl std::fmt::Debug for SealedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "SealedSecret(version {}, {} bytes)",
            self.version,
            self.bytes.len()
        )
    }
}

/// A held request sealed under the data key, bound to the id of its approval.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedRequest {
    pub approval_id: String,
    pub bytes: Vec<u8>,
}

impl std::fmt::Debug for SealedRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "SealedRequest(approval {}, {} bytes)",
            self.approval_id,
            self.bytes.len()
        )
    }
}
