//! A bounded memory of tokens already verified, so that a token presented again skips the
//! signature check (the dominant cost of verification) and the claims parse.
//!
//! Entries are keyed by the SHA-256 of the whole token, never by the token itself, so the
//! cache holds no bearer credential. A hit is not a free pass: the issuer, audience and
//! times are checked again against the caller's expectations, and the signing key must
//! still be in the ring, so removing a key (say, after a compromise) also disowns what the
//! cache remembers of it. The cache is plain data; callers share it behind a lock.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use sha2::{Digest as _, Sha256};

use crate::jwt::{self, AccessClaims, Expectations, TokenError};
use crate::signing::KeyRing;

struct Entry {
    claims: Arc<AccessClaims>,
    kid: String,
}

/// Claims of recently verified tokens, at most `capacity` of them.
pub struct VerifiedCache {
    capacity: usize,
    entries: HashMap<[u8; 32], Entry>,
    /// Insertion order, oldest first, for eviction once expired entries are gone.
    order: VecDeque<[u8; 32]>,
}

impl VerifiedCache {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            entries: HashMap::with_capacity(capacity.min(1 << 16)),
            order: VecDeque::with_capacity(capacity.min(1 << 16)),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Forgets everything, for when keys are withdrawn or revocations must take effect at
    /// once.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.order.clear();
    }

    /// `jwt::verify`, answered from memory when this token verified before. Refusals are
    /// not remembered: a bad token costs its sender a full verification every time, which
    /// is what it costs us too.
    pub fn verify(
        &mut self,
        ring: &KeyRing,
        token: &str,
        expect: &Expectations<'_>,
    ) -> Result<Arc<AccessClaims>, TokenError> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(entry) = self.entries.get(&digest) {
            if ring.get(&entry.kid).is_none() {
                return Err(TokenError::UnknownKey);
            }
            jwt::check_claims(&entry.claims, expect)?;
            return Ok(Arc::clone(&entry.claims));
        }
        let (claims, kid) = jwt::verify_with_kid(ring, token, expect)?;
        let claims = Arc::new(claims);
        self.insert(
            digest,
            Entry {
                claims: Arc::clone(&claims),
                kid,
            },
        );
        Ok(claims)
    }

    /// Drops the entries of tokens expired at `now`; callers run it now and then, so that
    /// eviction rarely has to drop live entries. Costs one pass over the cache.
    pub fn purge_expired(&mut self, now: i64) {
        self.entries.retain(|_, entry| entry.claims.exp > now);
        let entries = &self.entries;
        self.order.retain(|digest| entries.contains_key(digest));
    }

    /// Inserts a digest known to be absent. Eviction is first in, first out: tokens live
    /// minutes and are mostly used soon after issue, so the oldest insert is nearly always
    /// the least useful, and finding it costs nothing.
    fn insert(&mut self, digest: [u8; 32], entry: Entry) {
        if self.capacity == 0 {
            return;
        }
        while self.entries.len() >= self.capacity {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            self.entries.remove(&oldest);
        }
        self.entries.insert(digest, entry);
        self.order.push_back(digest);
    }
}

impl std::fmt::Debug for VerifiedCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedCache")
            .field("capacity", &self.capacity)
            .field("len", &self.entries.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwt::issue;

    const NOW: i64 = 1_750_000_000;

    fn claims(jti: &str, exp: i64) -> AccessClaims {
        AccessClaims {
            iss: "iss".into(),
            sub: "agent".into(),
            aud: "aud".into(),
            exp,
            iat: NOW,
            nbf: None,
            jti: jti.into(),
            client_id: "client".into(),
            cred: None,
            scope: None,
            act: None,
            may_act: None,
            authorization_details: None,
            owner: None,
            env: None,
            ancestors: Vec::new(),
        }
    }

    fn expect(now: i64) -> Expectations<'static> {
        Expectations {
            issuer: "iss",
            audience: Some("aud"),
            now,
            leeway_secs: 0,
        }
    }

    fn token(ring: &KeyRing, jti: &str, exp: i64) -> String {
        issue(ring, &claims(jti, exp)).unwrap_or_else(|e| panic!("{e}"))
    }

    fn ring() -> KeyRing {
        KeyRing::generate(NOW, 600).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_hit_returns_the_same_claims_and_still_checks_them() -> Result<(), TokenError> {
        let ring = ring();
        let mut cache = VerifiedCache::new(8);
        let token = token(&ring, "a", NOW + 60);
        let first = cache.verify(&ring, &token, &expect(NOW))?;
        let second = cache.verify(&ring, &token, &expect(NOW + 1))?;
        assert!(Arc::ptr_eq(&first, &second));
        assert_eq!(cache.len(), 1);
        assert_eq!(
            cache.verify(&ring, &token, &expect(NOW + 60)).err(),
            Some(TokenError::Expired)
        );
        let elsewhere = Expectations {
            audience: Some("other"),
            ..expect(NOW)
        };
        assert_eq!(
            cache.verify(&ring, &token, &elsewhere).err(),
            Some(TokenError::WrongAudience)
        );
        Ok(())
    }

    #[test]
    fn refusals_are_not_remembered() {
        let ring = ring();
        let mut cache = VerifiedCache::new(8);
        let token = token(&ring, "a", NOW + 60);
        let tampered = format!("{token}A");
        assert!(cache.verify(&ring, &tampered, &expect(NOW)).is_err());
        assert!(cache.is_empty());
    }

    #[test]
    fn a_hit_needs_its_key_still_in_the_ring() -> Result<(), Box<dyn std::error::Error>> {
        let mut ring = ring();
        let mut cache = VerifiedCache::new(8);
        let token = token(&ring, "a", NOW + 60);
        cache.verify(&ring, &token, &expect(NOW))?;
        ring.rotate(NOW)?;
        cache.verify(&ring, &token, &expect(NOW + 1))?;
        ring.prune(NOW + 600);
        assert_eq!(
            cache.verify(&ring, &token, &expect(NOW + 1)).err(),
            Some(TokenError::UnknownKey)
        );
        Ok(())
    }

    #[test]
    fn the_cache_stays_bounded_dropping_the_oldest() -> Result<(), TokenError> {
        let ring = ring();
        let mut cache = VerifiedCache::new(2);
        let digest = |t: &str| -> [u8; 32] { Sha256::digest(t.as_bytes()).into() };
        let tokens: Vec<String> = ["a", "b", "c"]
            .into_iter()
            .map(|jti| token(&ring, jti, NOW + 100))
            .collect();
        for token in &tokens {
            cache.verify(&ring, token, &expect(NOW))?;
        }
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.order.len(), 2);
        assert!(!cache.entries.contains_key(&digest(&tokens[0])));
        assert!(cache.entries.contains_key(&digest(&tokens[2])));
        Ok(())
    }

    #[test]
    fn purging_drops_only_expired_entries() -> Result<(), TokenError> {
        let ring = ring();
        let mut cache = VerifiedCache::new(8);
        cache.verify(&ring, &token(&ring, "short", NOW + 10), &expect(NOW))?;
        cache.verify(&ring, &token(&ring, "long", NOW + 100), &expect(NOW))?;
        cache.purge_expired(NOW + 9);
        assert_eq!(cache.len(), 2);
        cache.purge_expired(NOW + 10);
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.order.len(), 1);
        Ok(())
    }

    #[test]
    fn a_zero_capacity_cache_remembers_nothing() -> Result<(), TokenError> {
        let ring = ring();
        let mut cache = VerifiedCache::new(0);
        cache.verify(&ring, &token(&ring, "a", NOW + 60), &expect(NOW))?;
        assert!(cache.is_empty());
        cache.clear();
        Ok(())
    }
}
