//! Keyed hashes (HMAC-SHA-256 under a server pepper): how Warden stores the secrets it
//! issues. Secrets are high-entropy, so a slow password hash would add nothing but a
//! denial-of-service lever; the pepper means a stolen database alone cannot test guesses.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

type HmacSha256 = Hmac<Sha256>;

/// Plain SHA-256, for values a protocol defines as such (an RFC 7636 PKCE challenge is the
/// SHA-256 of its verifier). Secrets at rest are never stored this way: they get a keyed
/// hash ([`Pepper::hash`]).
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes).into()
}

/// The server's secret key for keyed hashes. Never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Pepper([u8; 32]);

impl Pepper {
    pub const LEN: usize = 32;

    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    pub fn generate() -> Self {
        Self(crate::random::random_bytes())
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The keyed hash of `value` under this pepper and a domain label, so the same secret
    /// hashed for two purposes gives unrelated results.
    pub fn hash(&self, domain: &str, value: &[u8]) -> KeyedHash {
        // HMAC zero-pads keys shorter than the hash's 64-byte block, so handing it the
        // padded block is the same key, through the constructor that cannot fail.
        let mut block = zeroize::Zeroizing::new([0u8; 64]);
        block[..32].copy_from_slice(&self.0);
        let mut mac = <HmacSha256 as hmac::digest::KeyInit>::new(&(*block).into());
        mac.update(domain.as_bytes());
        mac.update(&[0]);
        mac.update(value);
        KeyedHash(mac.finalize().into_bytes().into())
    }

    /// A short public fingerprint of the pepper, to check that several nodes share one.
    pub fn fingerprint(&self) -> String {
        self.hash("warden.pepper.fingerprint", b"").to_hex()[..16].to_string()
    }
}

impl std::fmt::Debug for Pepper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pepper([redacted])")
    }
}

/// The result of `Pepper::hash`; compared only in constant time.
#[derive(Clone, Copy)]
pub struct KeyedHash([u8; 32]);

impl KeyedHash {
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|byte| format!("{byte:02x}")).collect()
    }

    pub fn from_hex(text: &str) -> Option<Self> {
        if text.len() != 64 {
            return None;
        }
        let mut bytes = [0u8; 32];
        for (slot, pair) in bytes.iter_mut().zip(text.as_bytes().chunks(2)) {
            let pair = std::str::from_utf8(pair).ok()?;
            *slot = u8::from_str_radix(pair, 16).ok()?;
        }
        Some(Self(bytes))
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl PartialEq for KeyedHash {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for KeyedHash {}

impl std::fmt::Debug for KeyedHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyedHash({})", &self.to_hex()[..12])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_depend_on_pepper_domain_and_value() {
        let pepper = Pepper::from_bytes([7; 32]);
        let base = pepper.hash("admin", b"secret");
        assert_eq!(base, pepper.hash("admin", b"secret"));
        assert_ne!(base, pepper.hash("client", b"secret"));
        assert_ne!(base, pepper.hash("admin", b"secret2"));
        assert_ne!(base, Pepper::from_bytes([8; 32]).hash("admin", b"secret"));
    }

    #[test]
    fn the_padded_key_equals_the_rfc_2104_key() {
        let pepper = Pepper::from_bytes([9; 32]);
        let mut reference =
            <HmacSha256 as Mac>::new_from_slice(&[9; 32]).unwrap_or_else(|e| panic!("{e}"));
        reference.update(b"d\0v");
        let expected: [u8; 32] = reference.finalize().into_bytes().into();
        assert_eq!(pepper.hash("d", b"v").as_bytes(), &expected);
    }

    #[test]
    fn hex_round_trips_and_rejects_garbage() {
        let hash = Pepper::from_bytes([1; 32]).hash("d", b"v");
        assert_eq!(KeyedHash::from_hex(&hash.to_hex()), Some(hash));
        assert!(KeyedHash::from_hex("zz").is_none());
        assert!(KeyedHash::from_hex(&"g".repeat(64)).is_none());
    }

    #[test]
    fn debug_never_shows_the_pepper() {
        let pepper = Pepper::from_bytes([0xab; 32]);
        assert_eq!(format!("{pepper:?}"), "Pepper([redacted])");
    }
}
