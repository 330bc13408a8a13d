//! What the store keeps sealed: upstream secrets (bytes and the version they are bound to)
//! and held requests awaiting approval. Sealing and opening happen in the server, which
//! holds the data key; the store never sees a plaintext secret or request.

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
