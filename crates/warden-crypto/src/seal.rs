//! Sealing upstream secrets at rest with XChaCha20-Poly1305 under the server's data key.
//!
//! A sealed value is `version (1 byte) ‖ nonce (24 bytes) ‖ ciphertext ‖ tag (16 bytes)`.
//! Nonces are random: 24 bytes make collisions negligible however many secrets are sealed
//! under one key, with no counter to keep. The caller's associated data (the secret's owner
//! id and version, see `associated_data`) is authenticated but not stored, so a sealed value
//! copied onto another row, or an old version replayed, fails to open. The format version
//! byte is authenticated too, so it cannot be swapped for a future format's.

use chacha20poly1305::aead::{Aead as _, KeyInit as _, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::{Digest as _, Sha256};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// The format written by `seal`.
pub const FORMAT_VERSION: u8 = 1;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
/// The bytes `seal` adds to the plaintext.
pub const OVERHEAD: usize = 1 + NONCE_LEN + TAG_LEN;

/// The server's data key: 32 bytes, zeroized on drop, never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct DataKey([u8; 32]);

impl DataKey {
    pub const LEN: usize = 32;

    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    pub fn generate() -> Self {
        Self(crate::random::random_bytes())
    }

    /// The key bytes, for the server's bootstrap to write to the key file.
    pub fn expose_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// A short public fingerprint (16 hex characters) that says which key sealed what, or
    /// whether two nodes hold the same key, without revealing anything about it.
    pub fn fingerprint(&self) -> String {
        let mut hasher = Sha256::new();
        hasher.update(b"warden.datakey.fingerprint\0");
        hasher.update(self.0);
        hasher.finalize()[..8]
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect()
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(&self.0.into())
    }
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey([redacted])")
    }
}

/// Why a value could not be sealed or opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("sealed value is too short to be one")]
    Truncated,
    #[error("sealed value has unknown format version {0}")]
    UnknownVersion(u8),
    /// Wrong key, wrong associated data, or altered bytes: AEAD cannot tell which, and an
    /// attacker should not learn which either.
    #[error("sealed value does not open: wrong key or associated data, or altered")]
    Open,
    #[error("value is too large to seal")]
    TooLarge,
}

/// The associated data that binds a sealed secret to its owner and version:
/// `len(owner_id) as u32 BE ‖ owner_id ‖ version as u64 BE`. The length prefix keeps
/// `("a1", 2)` and `("a", 12)` apart.
pub fn associated_data(owner_id: &str, version: u64) -> Vec<u8> {
    let mut data = Vec::with_capacity(4 + owner_id.len() + 8);
    let len = u32::try_from(owner_id.len()).unwrap_or(u32::MAX);
    data.extend_from_slice(&len.to_be_bytes());
    data.extend_from_slice(owner_id.as_bytes());
    data.extend_from_slice(&version.to_be_bytes());
    data
}

/// The AEAD's associated data: the format version, then the caller's. The version has a
/// fixed length, so the concatenation is unambiguous.
fn aead_data(version: u8, associated_data: &[u8]) -> Vec<u8> {
    let mut data = Vec::with_capacity(1 + associated_data.len());
    data.push(version);
    data.extend_from_slice(associated_data);
    data
}

/// Seals `plaintext` under `key`, bound to `associated_data`, with a fresh random nonce.
pub fn seal(key: &DataKey, plaintext: &[u8], associated_data: &[u8]) -> Result<Vec<u8>, SealError> {
    let nonce: [u8; NONCE_LEN] = crate::random::random_bytes();
    let aad = aead_data(FORMAT_VERSION, associated_data);
    let ciphertext = key
        .cipher()
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad: &aad,
            },
        )
        .map_err(|_| SealError::TooLarge)?;
    let mut sealed = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
    sealed.push(FORMAT_VERSION);
    sealed.extend_from_slice(&nonce);
    sealed.extend_from_slice(&ciphertext);
    Ok(sealed)
}

/// Opens a value sealed by `seal` with the same key and associated data.
pub fn open(
    key: &DataKey,
    sealed: &[u8],
    associated_data: &[u8],
) -> Result<Zeroizing<Vec<u8>>, SealError> {
    let (&version, rest) = sealed.split_first().ok_or(SealError::Truncated)?;
    if version != FORMAT_VERSION {
        return Err(SealError::UnknownVersion(version));
    }
    if rest.len() < NONCE_LEN + TAG_LEN {
        return Err(SealError::Truncated);
    }
    let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
    let aad = aead_data(version, associated_data);
    key.cipher()
        .decrypt(
            XNonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad: &aad,
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| SealError::Open)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"sk_live_upstream_token";

    fn ad() -> Vec<u8> {
        associated_data("upstream-crm", 3)
    }

    fn sealed(key: &DataKey) -> Vec<u8> {
        seal(key, SECRET, &ad()).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn round_trip() -> Result<(), SealError> {
        let key = DataKey::generate();
        let sealed = sealed(&key);
        assert_eq!(sealed.len(), SECRET.len() + OVERHEAD);
        assert_eq!(sealed[0], FORMAT_VERSION);
        assert_eq!(open(&key, &sealed, &ad())?.as_slice(), SECRET);
        let empty = seal(&key, b"", b"")?;
        assert!(open(&key, &empty, b"")?.is_empty());
        Ok(())
    }

    #[test]
    fn the_same_plaintext_seals_differently_each_time() {
        let key = DataKey::generate();
        assert_ne!(sealed(&key), sealed(&key));
    }

    #[test]
    fn wrong_associated_data_fails() {
        let key = DataKey::generate();
        let sealed = sealed(&key);
        for other in [
            associated_data("upstream-crm", 2),
            associated_data("upstream-billing", 3),
            Vec::new(),
        ] {
            assert_eq!(open(&key, &sealed, &other), Err(SealError::Open));
        }
    }

    #[test]
    fn tampering_anywhere_fails() {
        let key = DataKey::generate();
        let sealed = sealed(&key);
        for index in 1..sealed.len() {
            let mut altered = sealed.clone();
            altered[index] ^= 0x01;
            assert_eq!(
                open(&key, &altered, &ad()),
                Err(SealError::Open),
                "byte {index}"
            );
        }
        assert_eq!(
            open(&key, &sealed[..sealed.len() - 1], &ad()),
            Err(SealError::Open)
        );
    }

    #[test]
    fn wrong_key_fails() {
        let sealed = sealed(&DataKey::generate());
        assert_eq!(
            open(&DataKey::generate(), &sealed, &ad()),
            Err(SealError::Open)
        );
    }

    #[test]
    fn truncated_and_unknown_versions_are_told_apart() {
        let key = DataKey::generate();
        let sealed = sealed(&key);
        assert_eq!(open(&key, &[], &ad()), Err(SealError::Truncated));
        assert_eq!(
            open(&key, &sealed[..OVERHEAD - 1], &ad()),
            Err(SealError::Truncated)
        );
        let mut future = sealed.clone();
        future[0] = 2;
        assert_eq!(
            open(&key, &future, &ad()),
            Err(SealError::UnknownVersion(2))
        );
    }

    #[test]
    fn associated_data_is_unambiguous() {
        assert_ne!(associated_data("a1", 2), associated_data("a", 12));
        assert_ne!(associated_data("", 0), associated_data("\0\0\0\0", 0));
    }

    #[test]
    fn fingerprints_identify_keys_without_showing_them() {
        let key = DataKey::from_bytes([0x5a; 32]);
        let fingerprint = key.fingerprint();
        assert_eq!(fingerprint.len(), 16);
        assert_eq!(fingerprint, DataKey::from_bytes([0x5a; 32]).fingerprint());
        assert_ne!(fingerprint, DataKey::from_bytes([0x5b; 32]).fingerprint());
        assert!(!fingerprint.contains("5a5a"));
        assert_eq!(format!("{key:?}"), "DataKey([redacted])");
    }
}
