//! The Ed25519 key ring that signs Warden's access tokens, and the JWKS that publishes it.
//!
//! One key is active and signs; keys retired by a rotation stay in the ring, and in the
//! JWKS, until every token they could have signed has expired (`retired_at` plus the
//! longest token lifetime), so rotation never invalidates a live token.
//!
//! Keys are held parsed: the private key as an aws-lc-rs `Ed25519KeyPair`, the public key as
//! a `ParsedPublicKey`, and the encoded JWS header as a ready string. Parsing a PKCS#8
//! document costs as much as a signature, so doing it per token would double the cost of
//! issuance (that is what `jsonwebtoken::encode` does, which is why `jwt` signs through
//! aws-lc-rs directly).
//!
//! The JWKS entries are built from the raw 32-byte public key rather than through
//! `jsonwebtoken::jwk::Jwk::from_encoding_key`, which rejects the PKCS#8 v2 documents
//! aws-lc-rs generates.

use std::fmt;

use aws_lc_rs::signature::{ED25519, Ed25519KeyPair, KeyPair as _, ParsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

/// Why a key could not be made, imported or exported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("could not generate an Ed25519 key")]
    Generate,
    #[error("not an Ed25519 PKCS#8 private key: {0}")]
    InvalidPkcs8(String),
    #[error("could not export the private key as PKCS#8")]
    Export,
    #[error("a key ring needs exactly one active (unretired) key, found {0}")]
    ActiveKeyCount(usize),
    #[error("two keys in the ring share the key id {0}")]
    DuplicateKid(String),
}

/// One Ed25519 token-signing key with its life times (unix seconds).
pub struct SigningKey {
    kid: String,
    created_at: i64,
    retired_at: Option<i64>,
    not_after: Option<i64>,
    pair: Ed25519KeyPair,
    public: [u8; 32],
    verifier: ParsedPublicKey,
    /// `base64url({"alg":"EdDSA","typ":"at+jwt","kid":…})`: the same for every token this
    /// key signs, so it is encoded once.
    encoded_header: String,
}

impl SigningKey {
    /// A fresh key, created at `now`.
    pub fn generate(now: i64) -> Result<Self, KeyError> {
        // aws-lc-rs draws from its own CSPRNG here (the `rng` argument is ignored), which
        // is the OS-seeded generator of the same library that does the signing.
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let document = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| KeyError::Generate)?;
        Self::from_pkcs8(document.as_ref(), now)
    }

    /// Restores a key from the PKCS#8 (v1 or v2) bytes that `export_pkcs8` gave. The key id
    /// is derived from the public key, so it comes back the same.
    pub fn from_pkcs8(pkcs8: &[u8], created_at: i64) -> Result<Self, KeyError> {
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8)
            .map_err(|rejected| KeyError::InvalidPkcs8(rejected.to_string()))?;
        let public: [u8; 32] = pair
            .public_key()
            .as_ref()
            .try_into()
            .map_err(|_| KeyError::InvalidPkcs8("public key is not 32 bytes".into()))?;
        let verifier = ParsedPublicKey::new(&ED25519, public)
            .map_err(|rejected| KeyError::InvalidPkcs8(rejected.to_string()))?;
        let kid = kid_for(&public);
        let encoded_header = URL_SAFE_NO_PAD
            .encode(serde_json::json!({ "alg": "EdDSA", "typ": "at+jwt", "kid": kid }).to_string());
        Ok(Self {
            kid,
            created_at,
            retired_at: None,
            not_after: None,
            pair,
            public,
            verifier,
            encoded_header,
        })
    }

    /// The private key as a PKCS#8 v2 document, for the server to seal and store.
    pub fn export_pkcs8(&self) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        let document = self.pair.to_pkcs8().map_err(|_| KeyError::Export)?;
        Ok(Zeroizing::new(document.as_ref().to_vec()))
    }

    /// Marks the key retired at `retired_at`; its public key may leave the JWKS after
    /// `not_after`. Used when restoring a ring from storage and by `KeyRing::rotate`.
    pub fn retire(&mut self, retired_at: i64, not_after: i64) {
        self.retired_at = Some(retired_at);
        self.not_after = Some(not_after);
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn created_at(&self) -> i64 {
        self.created_at
    }

    pub fn retired_at(&self) -> Option<i64> {
        self.retired_at
    }

    pub fn not_after(&self) -> Option<i64> {
        self.not_after
    }

    pub fn is_active(&self) -> bool {
        self.retired_at.is_none()
    }

    /// The raw 32-byte Ed25519 public key.
    pub fn public_key(&self) -> &[u8; 32] {
        &self.public
    }

    /// This key's JWKS entry (RFC 8037 `OKP` key).
    pub fn jwk(&self) -> serde_json::Value {
        serde_json::json!({
            "kty": "OKP",
            "crv": "Ed25519",
            "x": URL_SAFE_NO_PAD.encode(self.public),
            "kid": self.kid,
            "alg": "EdDSA",
            "use": "sig",
        })
    }

    pub(crate) fn encoded_header(&self) -> &str {
        &self.encoded_header
    }

    pub(crate) fn sign(&self, message: &[u8]) -> aws_lc_rs::signature::Signature {
        self.pair.sign(message)
    }

    pub(crate) fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        self.verifier.verify_sig(message, signature).is_ok()
    }

    /// The private seed, only to check in tests that export and import agree.
    #[cfg(test)]
    fn seed_bytes(&self) -> Vec<u8> {
        use aws_lc_rs::encoding::AsBigEndian as _;
        self.pair
            .seed()
            .and_then(|seed| seed.as_be_bytes())
            .map(|bytes| bytes.as_ref().to_vec())
            .unwrap_or_default()
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("created_at", &self.created_at)
            .field("retired_at", &self.retired_at)
            .field("not_after", &self.not_after)
            .field("private_key", &"[redacted]")
            .finish()
    }
}

/// The key id: base64url of the first 12 bytes of the SHA-256 of the public key. Derived,
/// not random, so every node computes the same id for the same key.
pub fn kid_for(public_key: &[u8; 32]) -> String {
    let digest = Sha256::digest(public_key);
    URL_SAFE_NO_PAD.encode(&digest[..12])
}

/// The active signing key and the retired keys still needed for verification.
#[derive(Debug)]
pub struct KeyRing {
    active: SigningKey,
    /// Oldest first; every one has `retired_at` set.
    retired: Vec<SigningKey>,
    max_token_lifetime_secs: i64,
}

impl KeyRing {
    /// A ring with one fresh active key. `max_token_lifetime_secs` is how long a retired
    /// key stays published: the longest lifetime of a token plus any verification leeway.
    pub fn generate(now: i64, max_token_lifetime_secs: i64) -> Result<Self, KeyError> {
        Ok(Self {
            active: SigningKey::generate(now)?,
            retired: Vec::new(),
            max_token_lifetime_secs,
        })
    }

    /// A ring from keys restored from storage; exactly one of them must be active.
    pub fn from_keys(
        keys: Vec<SigningKey>,
        max_token_lifetime_secs: i64,
    ) -> Result<Self, KeyError> {
        for (index, key) in keys.iter().enumerate() {
            if keys[..index].iter().any(|other| other.kid == key.kid) {
                return Err(KeyError::DuplicateKid(key.kid.clone()));
            }
        }
        let (mut active, mut retired): (Vec<SigningKey>, Vec<SigningKey>) =
            keys.into_iter().partition(SigningKey::is_active);
        if active.len() != 1 {
            return Err(KeyError::ActiveKeyCount(active.len()));
        }
        let Some(active) = active.pop() else {
            return Err(KeyError::ActiveKeyCount(0));
        };
        retired.sort_by_key(|key| key.retired_at);
        Ok(Self {
            active,
            retired,
            max_token_lifetime_secs,
        })
    }

    /// The key that signs new tokens.
    pub fn active(&self) -> &SigningKey {
        &self.active
    }

    /// The key with this id, active or retired.
    pub fn get(&self, kid: &str) -> Option<&SigningKey> {
        self.keys().find(|key| key.kid == kid)
    }

    /// Every key, the active one first.
    pub fn keys(&self) -> impl Iterator<Item = &SigningKey> {
        std::iter::once(&self.active).chain(self.retired.iter().rev())
    }

    pub fn max_token_lifetime_secs(&self) -> i64 {
        self.max_token_lifetime_secs
    }

    /// Makes a fresh key active and retires the previous one at `now`; the previous key
    /// stays verifiable and published until `now + max_token_lifetime_secs`. Returns the
    /// new active key.
    pub fn rotate(&mut self, now: i64) -> Result<&SigningKey, KeyError> {
        let fresh = SigningKey::generate(now)?;
        let mut previous = std::mem::replace(&mut self.active, fresh);
        previous.retire(now, now.saturating_add(self.max_token_lifetime_secs));
        self.retired.push(previous);
        Ok(&self.active)
    }

    /// Drops retired keys whose `not_after` has passed; returns their key ids so the caller
    /// can delete them from storage too. The active key is never dropped.
    pub fn prune(&mut self, now: i64) -> Vec<String> {
        let mut removed = Vec::new();
        self.retired.retain(|key| {
            let expired = key.not_after.is_some_and(|end| end <= now);
            if expired {
                removed.push(key.kid.clone());
            }
            !expired
        });
        removed
    }

    /// The JWKS document: `{"keys":[…]}`, the active key first.
    pub fn jwks(&self) -> serde_json::Value {
        let keys: Vec<serde_json::Value> = self.keys().map(SigningKey::jwk).collect();
        serde_json::json!({ "keys": keys })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(now: i64) -> KeyRing {
        KeyRing::generate(now, 600).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn pkcs8_round_trips_to_the_same_key_and_kid() -> Result<(), KeyError> {
        let key = SigningKey::generate(100)?;
        let restored = SigningKey::from_pkcs8(&key.export_pkcs8()?, 100)?;
        assert_eq!(restored.kid(), key.kid());
        assert_eq!(restored.public_key(), key.public_key());
        assert_eq!(restored.seed_bytes(), key.seed_bytes());
        assert_eq!(restored.seed_bytes().len(), 32);
        Ok(())
    }

    #[test]
    fn garbage_is_not_a_key() {
        assert!(matches!(
            SigningKey::from_pkcs8(b"not a key", 0),
            Err(KeyError::InvalidPkcs8(_))
        ));
    }

    #[test]
    fn kid_is_12_bytes_of_sha256_in_base64url() -> Result<(), KeyError> {
        let key = SigningKey::generate(0)?;
        assert_eq!(key.kid().len(), 16);
        let digest = Sha256::digest(key.public_key());
        assert_eq!(
            URL_SAFE_NO_PAD.decode(key.kid()).ok(),
            Some(digest[..12].to_vec())
        );
        Ok(())
    }

    #[test]
    fn rotation_retires_the_old_key_until_tokens_it_signed_expire() -> Result<(), KeyError> {
        let mut ring = ring(1_000);
        let first = ring.active().kid().to_owned();
        let second = ring.rotate(2_000)?.kid().to_owned();
        assert_ne!(first, second);
        assert_eq!(ring.active().kid(), second);
        let old = ring
            .get(&first)
            .unwrap_or_else(|| panic!("old key missing"));
        assert_eq!(old.retired_at(), Some(2_000));
        assert_eq!(old.not_after(), Some(2_600));

        assert!(ring.prune(2_599).is_empty());
        assert_eq!(ring.keys().count(), 2);
        assert_eq!(ring.prune(2_600), vec![first.clone()]);
        assert!(ring.get(&first).is_none());
        assert_eq!(ring.active().kid(), second);
        Ok(())
    }

    #[test]
    fn prune_never_drops_the_active_key() {
        let mut ring = ring(0);
        assert!(ring.prune(i64::MAX).is_empty());
        assert_eq!(ring.keys().count(), 1);
    }

    #[test]
    fn restored_rings_need_exactly_one_active_key() -> Result<(), KeyError> {
        let a = SigningKey::generate(0)?;
        let b = SigningKey::generate(0)?;
        assert_eq!(
            KeyRing::from_keys(vec![a, b], 600).err(),
            Some(KeyError::ActiveKeyCount(2))
        );
        let mut retired = SigningKey::generate(0)?;
        retired.retire(10, 610);
        assert_eq!(
            KeyRing::from_keys(vec![retired], 600).err(),
            Some(KeyError::ActiveKeyCount(0))
        );
        let a = SigningKey::generate(0)?;
        let pkcs8 = a.export_pkcs8()?;
        let mut twin = SigningKey::from_pkcs8(&pkcs8, 0)?;
        twin.retire(1, 2);
        assert!(matches!(
            KeyRing::from_keys(vec![a, twin], 600),
            Err(KeyError::DuplicateKid(_))
        ));
        Ok(())
    }

    #[test]
    fn jwks_has_the_rfc_8037_shape() -> Result<(), KeyError> {
        let mut ring = ring(0);
        ring.rotate(10)?;
        let jwks = ring.jwks();
        let keys = jwks["keys"]
            .as_array()
            .unwrap_or_else(|| panic!("keys is not an array"));
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[0]["kid"], ring.active().kid());
        for (jwk, key) in keys.iter().zip(ring.keys()) {
            let object = jwk
                .as_object()
                .unwrap_or_else(|| panic!("jwk is not an object"));
            let mut names: Vec<&str> = object.keys().map(String::as_str).collect();
            names.sort_unstable();
            assert_eq!(names, ["alg", "crv", "kid", "kty", "use", "x"]);
            assert_eq!(jwk["kty"], "OKP");
            assert_eq!(jwk["crv"], "Ed25519");
            assert_eq!(jwk["alg"], "EdDSA");
            assert_eq!(jwk["use"], "sig");
            assert_eq!(jwk["kid"], key.kid());
            let x = jwk["x"].as_str().unwrap_or_default();
            assert_eq!(
                URL_SAFE_NO_PAD.decode(x).ok(),
                Some(key.public_key().to_vec())
            );
        }
        Ok(())
    }

    #[test]
    fn debug_never_shows_the_private_key() -> Result<(), KeyError> {
        let key = SigningKey::generate(0)?;
        let printed = format!("{key:?}");
        assert!(printed.contains("[redacted]"));
        let seed = key.seed_bytes();
        assert!(!printed.contains(&URL_SAFE_NO_PAD.encode(&seed)));
        assert!(!printed.contains(&format!("{seed:?}")));
        Ok(())
    }
}
