//! What the store keeps of upstream secrets: sealed bytes and the version they are bound to.
//! Sealing and opening happen in the server, which holds the data key; the store never sees
//! a plaintext secret.

/// An upstream secret sealed under the data key, bound to the upstream's id and `version`.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedSecret {
    pub bytes: Vec<u8>,
    pub version: i64,
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
