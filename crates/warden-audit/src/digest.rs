//! Fixed-size digests shown as lowercase hex: the chain's SHA-256 hashes and the keyed
//! hashes (HMAC-SHA-256) that stand in for any value that could carry a secret.
//!
//! Hex rather than base64 because auditors compare these by eye and paste them into other
//! tools, and hex has exactly one spelling per value (we still accept upper case on input).

use std::fmt;
use std::str::FromStr;

use aws_lc_rs::{digest, hmac};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a piece of hex text could not be read as a digest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HexError {
    #[error("expected {expected} hex characters, found {found}")]
    Length { expected: usize, found: usize },
    #[error("`{0}` is not a hex digit")]
    Digit(char),
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends the lowercase hex form of `bytes` to `out`.
pub(crate) fn push_hex(out: &mut String, bytes: &[u8]) {
    out.reserve(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(HEX[usize::from(byte >> 4)]));
        out.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
}

pub(crate) fn to_hex(bytes: &[u8]) -> String {
    let mut out = String::new();
    push_hex(&mut out, bytes);
    out
}

fn nibble(c: u8) -> Result<u8, HexError> {
    match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        b'A'..=b'F' => Ok(c - b'A' + 10),
        _ => Err(HexError::Digit(char::from(c))),
    }
}

pub(crate) fn from_hex<const N: usize>(text: &str) -> Result<[u8; N], HexError> {
    let bytes = text.as_bytes();
    if bytes.len() != N * 2 {
        return Err(HexError::Length {
            expected: N * 2,
            found: bytes.len(),
        });
    }
    let mut out = [0u8; N];
    for (slot, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        *slot = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Ok(out)
}

macro_rules! hex_digest {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $name(pub [u8; 32]);

        impl $name {
            pub const fn from_bytes(bytes: [u8; 32]) -> Self {
                Self(bytes)
            }

            pub const fn as_bytes(&self) -> &[u8; 32] {
                &self.0
            }

            pub fn to_hex(&self) -> String {
                to_hex(&self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.to_hex())
            }
        }

        impl FromStr for $name {
            type Err = HexError;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                from_hex::<32>(text).map(Self)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let mut buf = [0u8; 64];
                for (i, byte) in self.0.iter().enumerate() {
                    buf[2 * i] = HEX[usize::from(byte >> 4)];
                    buf[2 * i + 1] = HEX[usize::from(byte & 0x0f)];
                }
                // Every byte written above is an ASCII hex digit.
                let text = std::str::from_utf8(&buf).map_err(serde::ser::Error::custom)?;
                serializer.serialize_str(text)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

hex_digest!(
    /// A SHA-256 hash in the audit chain. The genesis predecessor is all zeros.
    ChainHash
);

hex_digest!(
    /// An HMAC-SHA-256 of a value that could carry a secret (a query string, a request
    /// body, a presented credential). Keyed so that low-entropy values cannot be recovered
    /// from an exported log by guessing; equal inputs still give equal outputs, so an
    /// auditor holding the key can test whether a given value was the one seen.
    KeyedHash
);

impl ChainHash {
    /// The predecessor of the first event.
    pub const GENESIS: ChainHash = ChainHash([0u8; 32]);

    /// SHA-256 of `bytes`.
    pub fn sha256(bytes: &[u8]) -> Self {
        let mut out = [0u8; 32];
        out.copy_from_slice(digest::digest(&digest::SHA256, bytes).as_ref());
        Self(out)
    }
}

/// The key for [`KeyedHash`]es. The server derives it from its own secret material and
/// keeps it out of the audit log; its `Debug` form never shows the key.
pub struct AuditHmacKey(hmac::Key);

impl AuditHmacKey {
    /// A key from secret bytes (at least 32 are recommended).
    pub fn new(secret: &[u8]) -> Self {
        Self(hmac::Key::new(hmac::HMAC_SHA256, secret))
    }

    /// The keyed hash of `value`.
    pub fn hash(&self, value: &[u8]) -> KeyedHash {
        let tag = hmac::sign(&self.0, value);
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        KeyedHash(out)
    }

    /// An incremental hasher, for values that arrive in pieces (a streamed body).
    pub fn hasher(&self) -> KeyedHasher {
        KeyedHasher(hmac::Context::with_key(&self.0))
    }
}

/// A [`KeyedHash`] computed piece by piece; equal to [`AuditHmacKey::hash`] of the pieces
/// joined.
pub struct KeyedHasher(hmac::Context);

impl KeyedHasher {
    pub fn update(&mut self, piece: &[u8]) {
        self.0.update(piece);
    }

    pub fn finish(self) -> KeyedHash {
        let tag = self.0.sign();
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        KeyedHash(out)
    }
}

impl fmt::Debug for KeyedHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyedHasher(<redacted>)")
    }
}

impl fmt::Debug for AuditHmacKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuditHmacKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_rejects_bad_text() {
        let hash = ChainHash::sha256(b"abc");
        assert_eq!(
            hash.to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(hash.to_hex().parse::<ChainHash>(), Ok(hash));
        assert_eq!(hash.to_hex().to_uppercase().parse::<ChainHash>(), Ok(hash));
        assert_eq!(
            "abc".parse::<ChainHash>(),
            Err(HexError::Length {
                expected: 64,
                found: 3
            })
        );
        let bad = format!("{}zz", &hash.to_hex()[..62]);
        assert_eq!(bad.parse::<ChainHash>(), Err(HexError::Digit('z')));
        let json = serde_json::to_string(&hash).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(json, format!("\"{hash}\""));
        let back: ChainHash = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, hash);
    }

    #[test]
    fn keyed_hash_depends_on_the_key_and_hides_it() {
        let a = AuditHmacKey::new(b"key one, thirty-two bytes long!!");
        let b = AuditHmacKey::new(b"key two, thirty-two bytes long!!");
        assert_eq!(a.hash(b"secret"), a.hash(b"secret"));
        assert_ne!(a.hash(b"secret"), b.hash(b"secret"));
        assert_eq!(format!("{a:?}"), "AuditHmacKey(<redacted>)");
        let mut pieces = a.hasher();
        pieces.update(b"hel");
        pieces.update(b"lo");
        assert_eq!(pieces.finish(), a.hash(b"hello"));
    }
}
