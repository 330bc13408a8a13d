//! Signed checkpoints: the audit key vouches for "the chain had this hash at this sequence".
//!
//! The hash chain alone proves only that records agree with each other; whoever can write
//! the database could rewrite the whole tail consistently. A checkpoint signed with the
//! audit key (Ed25519, separate from the token-signing keys so that rotating one never
//! touches the other) pins the chain at a point, and because checkpoints are published
//! with the key's public half, an auditor can check a copy of the log without trusting the
//! server that produced it. Everything after the last checkpoint is protected only by the
//! chain, which is why checkpoints are frequent ([`CheckpointPolicy`]).

use std::fmt;
use std::str::FromStr;

use aws_lc_rs::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use warden_core::Timestamp;
use zeroize::Zeroizing;

use crate::chain::ChainHead;
use crate::digest::{ChainHash, from_hex, to_hex};

/// The DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410); the raw key follows.
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];
const PEM_BEGIN: &str = "-----BEGIN PUBLIC KEY-----";
const PEM_END: &str = "-----END PUBLIC KEY-----";
/// Domain separation: a checkpoint signature can never be mistaken for any other
/// signature made with the same key, now or in a later format.
const SIGNING_CONTEXT: &[u8] = b"warden-audit-checkpoint-v1\0";

/// Problems with keys and checkpoint signatures.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    #[error("the audit signing key could not be generated")]
    KeyGeneration,
    #[error("the audit signing key is not a valid Ed25519 PKCS#8 document: {0}")]
    InvalidPrivateKey(String),
    #[error(
        "the audit public key is not readable: {0}; expected a PEM `PUBLIC KEY` block or \
         base64 of the 32-byte Ed25519 key"
    )]
    InvalidPublicKey(String),
    #[error("checkpoint at sequence {sequence} was signed by key {checkpoint_key}, not {key}")]
    WrongKey {
        sequence: u64,
        checkpoint_key: String,
        key: String,
    },
    #[error("checkpoint at sequence {sequence} has a signature that does not verify")]
    BadSignature { sequence: u64 },
}

/// An Ed25519 signature, shown as standard base64.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature(pub [u8; 64]);

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({})", STANDARD.encode(self.0))
    }
}

impl Serialize for Signature {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&STANDARD.encode(self.0))
    }
}

impl<'de> Deserialize<'de> for Signature {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        let bytes = STANDARD
            .decode(text.as_bytes())
            .map_err(serde::de::Error::custom)?;
        let array: [u8; 64] = bytes
            .try_into()
            .map_err(|_| serde::de::Error::custom("an Ed25519 signature is 64 bytes"))?;
        Ok(Signature(array))
    }
}

/// The public half of the audit key, as the auditor holds it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct AuditPublicKey([u8; 32]);

impl AuditPublicKey {
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// A short stable name for the key: hex of the first 8 bytes of SHA-256(key). Each
    /// checkpoint names the key that signed it, so a rotated key is recognised as such
    /// instead of reported as a forgery.
    pub fn key_id(&self) -> String {
        let digest = ChainHash::sha256(&self.0);
        to_hex(&digest.as_bytes()[..8])
    }

    /// Standard base64 of the raw 32 bytes.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    /// The PEM `PUBLIC KEY` (SubjectPublicKeyInfo) form that OpenSSL and most tools read.
    pub fn to_pem(&self) -> String {
        let mut der = Vec::with_capacity(44);
        der.extend_from_slice(&ED25519_SPKI_PREFIX);
        der.extend_from_slice(&self.0);
        format!("{PEM_BEGIN}\n{}\n{PEM_END}\n", STANDARD.encode(der))
    }

    /// Reads a key from text: a PEM `PUBLIC KEY` block, or base64 (standard or URL-safe,
    /// padded or not) of either the raw 32 bytes or the SubjectPublicKeyInfo, or 64 hex
    /// characters.
    pub fn from_text(text: &str) -> Result<Self, CheckpointError> {
        let trimmed = text.trim();
        let body: String = if let Some(rest) = trimmed.strip_prefix(PEM_BEGIN) {
            let inner = rest
                .trim_end()
                .strip_suffix(PEM_END)
                .ok_or_else(|| CheckpointError::InvalidPublicKey(format!("missing `{PEM_END}`")))?;
            inner.split_whitespace().collect()
        } else {
            trimmed.to_owned()
        };
        if body.len() == 64
            && let Ok(raw) = from_hex::<32>(&body)
        {
            return Ok(Self(raw));
        }
        let bytes = [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
            .iter()
            .find_map(|engine| engine.decode(body.as_bytes()).ok())
            .ok_or_else(|| CheckpointError::InvalidPublicKey("not base64".into()))?;
        let raw = match bytes.len() {
            32 => bytes.as_slice(),
            44 if bytes.starts_with(&ED25519_SPKI_PREFIX) => &bytes[12..],
            n => {
                return Err(CheckpointError::InvalidPublicKey(format!(
                    "{n} bytes is neither a raw Ed25519 key nor its SubjectPublicKeyInfo"
                )));
            }
        };
        let mut out = [0u8; 32];
        out.copy_from_slice(raw);
        Ok(Self(out))
    }
}

impl fmt::Debug for AuditPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AuditPublicKey({})", self.to_base64())
    }
}

impl fmt::Display for AuditPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_base64())
    }
}

impl FromStr for AuditPublicKey {
    type Err = CheckpointError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::from_text(text)
    }
}

impl Serialize for AuditPublicKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_base64())
    }
}

impl<'de> Deserialize<'de> for AuditPublicKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::from_text(&text).map_err(serde::de::Error::custom)
    }
}

/// The private audit key. Its `Debug` form shows only the key id.
pub struct AuditSigner {
    pair: Ed25519KeyPair,
    public: AuditPublicKey,
}

impl AuditSigner {
    /// A fresh random key.
    pub fn generate() -> Result<Self, CheckpointError> {
        let pair = Ed25519KeyPair::generate().map_err(|_| CheckpointError::KeyGeneration)?;
        Ok(Self::wrap(pair))
    }

    /// A key from its PKCS#8 document (v1 or v2), as stored sealed by the server.
    pub fn from_pkcs8(pkcs8: &[u8]) -> Result<Self, CheckpointError> {
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8)
            .map_err(|e| CheckpointError::InvalidPrivateKey(e.to_string()))?;
        Ok(Self::wrap(pair))
    }

    /// The PKCS#8 v2 document for storage. The caller must seal it before it touches disk;
    /// the buffer is wiped when dropped.
    pub fn to_pkcs8(&self) -> Result<Zeroizing<Vec<u8>>, CheckpointError> {
        let document = self
            .pair
            .to_pkcs8()
            .map_err(|_| CheckpointError::InvalidPrivateKey("cannot serialise".into()))?;
        Ok(Zeroizing::new(document.as_ref().to_vec()))
    }

    fn wrap(pair: Ed25519KeyPair) -> Self {
        let mut raw = [0u8; 32];
        raw.copy_from_slice(pair.public_key().as_ref());
        Self {
            pair,
            public: AuditPublicKey(raw),
        }
    }

    pub fn public_key(&self) -> AuditPublicKey {
        self.public
    }

    pub fn key_id(&self) -> String {
        self.public.key_id()
    }

    /// Signs the chain at `head`.
    pub fn sign(&self, head: &ChainHead, time: Timestamp, node: &str) -> Checkpoint {
        let key_id = self.key_id();
        let message = signing_message(head.sequence, &head.hash, time, node, &key_id);
        let mut signature = [0u8; 64];
        signature.copy_from_slice(self.pair.sign(&message).as_ref());
        Checkpoint {
            sequence: head.sequence,
            hash: head.hash,
            time,
            node: node.to_owned(),
            key_id,
            signature: Signature(signature),
        }
    }
}

impl fmt::Debug for AuditSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AuditSigner(key_id={})", self.key_id())
    }
}

/// A signed statement that the chain's record `sequence` has hash `hash`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    pub sequence: u64,
    pub hash: ChainHash,
    /// When it was signed.
    pub time: Timestamp,
    /// The node that signed it.
    pub node: String,
    /// [`AuditPublicKey::key_id`] of the signing key.
    pub key_id: String,
    pub signature: Signature,
}

fn signing_message(
    sequence: u64,
    hash: &ChainHash,
    time: Timestamp,
    node: &str,
    key_id: &str,
) -> Vec<u8> {
    let mut message = Vec::with_capacity(SIGNING_CONTEXT.len() + 80 + node.len());
    message.extend_from_slice(SIGNING_CONTEXT);
    message.extend_from_slice(&sequence.to_be_bytes());
    message.extend_from_slice(hash.as_bytes());
    message.extend_from_slice(&time.as_millis().to_be_bytes());
    for text in [node, key_id] {
        message.extend_from_slice(&(text.len() as u64).to_be_bytes());
        message.extend_from_slice(text.as_bytes());
    }
    message
}

impl Checkpoint {
    /// Checks that `key` signed exactly this checkpoint.
    pub fn verify(&self, key: &AuditPublicKey) -> Result<(), CheckpointError> {
        let expected = key.key_id();
        if self.key_id != expected {
            return Err(CheckpointError::WrongKey {
                sequence: self.sequence,
                checkpoint_key: self.key_id.clone(),
                key: expected,
            });
        }
        let message = signing_message(
            self.sequence,
            &self.hash,
            self.time,
            &self.node,
            &self.key_id,
        );
        UnparsedPublicKey::new(&ED25519, key.as_bytes())
            .verify(&message, &self.signature.0)
            .map_err(|_| CheckpointError::BadSignature {
                sequence: self.sequence,
            })
    }
}

/// How often to sign: after `every_events` new records or `every_millis` since the last
/// checkpoint, whichever comes first. Zero switches a trigger off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointPolicy {
    pub every_events: u64,
    pub every_millis: u64,
}

impl Default for CheckpointPolicy {
    /// Every 1,000 events or 10 seconds: a truncation can hide at most that much, at a
    /// cost of well under one signature per second at busy times.
    fn default() -> Self {
        Self {
            every_events: 1_000,
            every_millis: 10_000,
        }
    }
}

impl CheckpointPolicy {
    /// Whether a checkpoint should be signed now. Never when nothing new has been written
    /// since the last one; always for the first records of a chain that has none, so that
    /// a young chain is anchored early.
    pub fn due(&self, last: Option<&Checkpoint>, head: &ChainHead, now: Timestamp) -> bool {
        let Some(last) = last else {
            return head.sequence > 0;
        };
        if head.sequence <= last.sequence {
            return false;
        }
        let by_count = self.every_events > 0 && head.sequence - last.sequence >= self.every_events;
        let elapsed = now.as_millis().saturating_sub(last.time.as_millis());
        let by_time = self.every_millis > 0
            && u64::try_from(elapsed).is_ok_and(|elapsed| elapsed >= self.every_millis);
        by_count || by_time
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> AuditSigner {
        AuditSigner::generate().unwrap_or_else(|e| panic!("{e}"))
    }

    fn head(sequence: u64) -> ChainHead {
        ChainHead {
            sequence,
            hash: ChainHash::sha256(&sequence.to_be_bytes()),
        }
    }

    #[test]
    fn signatures_verify_and_tampering_does_not() {
        let signer = signer();
        let key = signer.public_key();
        let checkpoint = signer.sign(&head(10), Timestamp::from_millis(99), "node-a");
        assert_eq!(checkpoint.verify(&key), Ok(()));

        let mut moved = checkpoint.clone();
        moved.sequence = 11;
        assert_eq!(
            moved.verify(&key),
            Err(CheckpointError::BadSignature { sequence: 11 })
        );
        let mut rehashed = checkpoint.clone();
        rehashed.hash = ChainHash::GENESIS;
        assert!(rehashed.verify(&key).is_err());
        let mut renoded = checkpoint.clone();
        renoded.node = "node-b".into();
        assert!(renoded.verify(&key).is_err());

        let other = self::signer().public_key();
        assert!(matches!(
            checkpoint.verify(&other),
            Err(CheckpointError::WrongKey { sequence: 10, .. })
        ));
    }

    #[test]
    fn keys_round_trip_through_pkcs8_pem_and_base64() {
        let signer = signer();
        let pkcs8 = signer.to_pkcs8().unwrap_or_else(|e| panic!("{e}"));
        let again = AuditSigner::from_pkcs8(&pkcs8).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(again.public_key(), signer.public_key());
        assert_eq!(
            format!("{again:?}"),
            format!("AuditSigner(key_id={})", signer.key_id())
        );

        let key = signer.public_key();
        let pem = key.to_pem();
        assert!(
            pem.starts_with("-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA"),
            "{pem}"
        );
        for text in [
            pem.clone(),
            key.to_base64(),
            URL_SAFE_NO_PAD.encode(key.as_bytes()),
            to_hex(key.as_bytes()),
            format!("  {}\n", key.to_base64()),
        ] {
            assert_eq!(AuditPublicKey::from_text(&text), Ok(key), "{text}");
        }
        assert!(AuditPublicKey::from_text("not a key").is_err());
        assert!(AuditPublicKey::from_text(&STANDARD.encode([1u8; 31])).is_err());
        assert!(AuditSigner::from_pkcs8(b"garbage").is_err());
        assert_eq!(key.key_id().len(), 16);
    }

    #[test]
    fn checkpoints_are_due_by_count_or_by_time() {
        let policy = CheckpointPolicy {
            every_events: 100,
            every_millis: 5_000,
        };
        let signer = signer();
        let t0 = Timestamp::from_millis(1_000_000);
        assert!(!policy.due(None, &ChainHead::GENESIS, t0));
        assert!(policy.due(None, &head(1), t0));

        let last = signer.sign(&head(50), t0, "n");
        assert!(
            !policy.due(Some(&last), &head(50), t0.plus_secs(60)),
            "nothing new"
        );
        assert!(!policy.due(Some(&last), &head(149), t0.plus_secs(4)));
        assert!(policy.due(Some(&last), &head(150), t0), "by count");
        assert!(
            policy.due(Some(&last), &head(51), t0.plus_secs(5)),
            "by time"
        );
        // A clock that went backwards never makes a checkpoint due by time.
        assert!(!policy.due(Some(&last), &head(51), t0.plus_secs(-60)));

        let count_only = CheckpointPolicy {
            every_events: 100,
            every_millis: 0,
        };
        assert!(!count_only.due(Some(&last), &head(51), t0.plus_secs(3_600)));
    }
}
