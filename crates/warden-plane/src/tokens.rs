//! The token service: the signing key ring (shared by every node through the store, each
//! private key sealed under the data key), issuing access tokens, and the verification API
//! the gateway uses: given a bearer token and the upstream it is presented to, the
//! authenticated principal or the reason it is refused.
//!
//! Verification never reads the database: signatures are checked against the ring in
//! memory (a `VerifiedCache` answers for tokens seen before), and revocation against the
//! in-memory `RevocationState`.

use std::sync::{Arc, Mutex, RwLock};

use warden_audit::Actor;
use warden_core::Timestamp;
use warden_crypto::jwt::{self, Expectations};
use warden_crypto::seal::{self, DataKey};
use warden_crypto::{AccessClaims, KeyRing, SigningKey, TaskDetail, TokenError, VerifiedCache};
use warden_store::{Store, StoreError, StoredSigningKey};

use crate::revocation::{RevocationState, Revoked};

/// The default `[credentials] clock_leeway_secs`: tolerated clock skew, in seconds.
pub const DEFAULT_LEEWAY_SECS: i64 = 5;
/// The largest `clock_leeway_secs` accepted.
pub const MAX_LEEWAY_SECS: i64 = 300;
/// How many verified tokens each node remembers.
const CACHE_CAPACITY: usize = 100_000;

/// Why the key ring could not be loaded or saved.
#[derive(Debug, thiserror::Error)]
pub enum RingError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("signing key `{kid}` cannot be opened with this node's data key: {detail}")]
    Unseal { kid: String, detail: String },
    #[error("key ring: {0}")]
    Key(String),
}

/// The refusal of a presented token. The wire says only "invalid token"; this is for logs
/// and the audit trail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error(transparent)]
    Revoked(#[from] Revoked),
}

/// Who is behind a verified token, as the gateway needs it.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The agent's identity id (the token's `client_id`).
    pub agent: String,
    /// The user the agent acts for, when the token came from a token exchange.
    pub on_behalf_of: Option<String>,
    /// The task bounds (RFC 9396 `warden_task` details); empty means no task bound.
    pub tasks: Vec<TaskDetail>,
    /// The token's audience, the upstream's gateway URL.
    pub audience: String,
    pub scopes: Vec<String>,
    pub jti: String,
    /// Unix seconds.
    pub expires_at: i64,
    pub claims: Arc<AccessClaims>,
}

/// Where tokens come from and what they may be for.
#[derive(Debug, Clone)]
pub struct TokenSettings {
    /// `iss` of every token, and the base of the OAuth endpoints.
    pub issuer: String,
    /// Base URL of the gateway; a token's audience is `GATEWAY/UPSTREAM`.
    pub gateway_url: String,
    pub default_ttl_secs: i64,
    pub max_ttl_secs: i64,
    /// Tolerated clock skew on `exp`, `nbf` and `iat`, in seconds.
    pub leeway_secs: i64,
}

impl TokenSettings {
    /// The audience of tokens for `upstream`.
    pub fn audience_for(&self, upstream: &str) -> String {
        format!("{}/{upstream}", self.gateway_url)
    }
}

/// Keys, cache and revocation state, shared by the OAuth endpoints and the gateway.
#[derive(Debug)]
pub struct TokenService {
    pub settings: TokenSettings,
    ring: RwLock<Arc<KeyRing>>,
    cache: Mutex<VerifiedCache>,
    pub revocations: RevocationState,
}

impl TokenService {
    pub fn new(settings: TokenSettings, ring: KeyRing, revocations: RevocationState) -> Self {
        Self {
            settings,
            ring: RwLock::new(Arc::new(ring)),
            cache: Mutex::new(VerifiedCache::new(CACHE_CAPACITY)),
            revocations,
        }
    }

    pub fn ring(&self) -> Arc<KeyRing> {
        match self.ring.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Swaps in a new ring; cached verifications made under removed keys die with them
    /// (the cache checks the key is still in the ring on every hit).
    pub fn set_ring(&self, ring: KeyRing) {
        let fresh = Arc::new(ring);
        match self.ring.write() {
            Ok(mut guard) => *guard = fresh,
            Err(poisoned) => *poisoned.into_inner() = fresh,
        }
    }

    /// Signs `claims` with the active key.
    pub fn sign(&self, claims: &AccessClaims) -> Result<String, jwt::IssueError> {
        jwt::issue(&self.ring(), claims)
    }

    /// Checks signature, type, issuer, times and (when `audience` is given) audience, then
    /// revocation, answering from memory.
    pub fn verify_token(
        &self,
        token: &str,
        audience: Option<&str>,
        now: Timestamp,
    ) -> Result<Arc<AccessClaims>, Refusal> {
        let claims = self.authenticate(token, audience, now)?;
        self.revocations.current().check_claims(&claims, now)?;
        Ok(claims)
    }

    /// Signature, type, issuer, times and (when given) audience, without revocation: who
    /// presents the token, for callers that must record who was refused.
    pub fn authenticate(
        &self,
        token: &str,
        audience: Option<&str>,
        now: Timestamp,
    ) -> Result<Arc<AccessClaims>, TokenError> {
        let ring = self.ring();
        let expect = Expectations {
            issuer: &self.settings.issuer,
            audience,
            now: now.as_secs(),
            leeway_secs: self.settings.leeway_secs,
        };
        let claims = {
            let mut cache = match self.cache.lock() {
                Ok(guard) => guard,
                Err(poisoned) => poisoned.into_inner(),
            };
            cache.verify(&ring, token, &expect)?
        };
        Ok(claims)
    }

    /// The verification API for the gateway: `token` presented to `upstream`.
    pub fn verify(
        &self,
        token: &str,
        upstream: &str,
        now: Timestamp,
    ) -> Result<Principal, Refusal> {
        let audience = self.settings.audience_for(upstream);
        let claims = self.verify_token(token, Some(&audience), now)?;
        Ok(principal(claims))
    }

    /// Drops cached verifications of expired tokens; run now and then.
    pub fn purge_cache(&self, now: Timestamp) {
        let mut cache = match self.cache.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        cache.purge_expired(now.as_secs());
    }
}

/// The principal a verified token stands for.
pub fn principal(claims: Arc<AccessClaims>) -> Principal {
    Principal {
        agent: claims.client_id.clone(),
        on_behalf_of: (claims.sub != claims.client_id).then(|| claims.sub.clone()),
        tasks: claims.tasks().cloned().collect(),
        audience: claims.aud.clone(),
        scopes: claims.scopes().map(str::to_string).collect(),
        jti: claims.jti.clone(),
        expires_at: claims.exp,
        claims,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|index| u8::from_str_radix(text.get(index..index + 2)?, 16).ok())
        .collect()
}

/// The associated data binding a sealed signing key to its key id.
fn key_binding(kid: &str) -> Vec<u8> {
    seal::associated_data(&format!("signing-key:{kid}"), 1)
}

fn to_stored(key: &SigningKey, data_key: &DataKey) -> Result<StoredSigningKey, RingError> {
    let pkcs8 = key
        .export_pkcs8()
        .map_err(|error| RingError::Key(error.to_string()))?;
    let sealed = seal::seal(data_key, &pkcs8, &key_binding(key.kid()))
        .map_err(|error| RingError::Key(error.to_string()))?;
    Ok(StoredSigningKey {
        kid: key.kid().to_string(),
        sealed: hex(&sealed),
        created_at: key.created_at(),
        retired_at: key.retired_at(),
        not_after: key.not_after(),
    })
}

fn from_stored(stored: &StoredSigningKey, data_key: &DataKey) -> Result<SigningKey, RingError> {
    let unseal = |detail: String| RingError::Unseal {
        kid: stored.kid.clone(),
        detail,
    };
    let sealed = unhex(&stored.sealed).ok_or_else(|| unseal("not hex".into()))?;
    let pkcs8 = seal::open(data_key, &sealed, &key_binding(&stored.kid))
        .map_err(|error| unseal(error.to_string()))?;
    let mut key = SigningKey::from_pkcs8(&pkcs8, stored.created_at)
        .map_err(|error| unseal(error.to_string()))?;
    if key.kid() != stored.kid {
        return Err(unseal("the key does not match its id".into()));
    }
    if let Some(retired_at) = stored.retired_at {
        key.retire(retired_at, stored.not_after.unwrap_or(retired_at));
    }
    Ok(key)
}

/// A stored signing key sealed again under `new` (for a data key rotation).
pub fn reseal_signing_key(
    stored: &StoredSigningKey,
    old: &DataKey,
    new: &DataKey,
) -> Result<StoredSigningKey, RingError> {
    let unseal = |detail: String| RingError::Unseal {
        kid: stored.kid.clone(),
        detail,
    };
    let sealed = unhex(&stored.sealed).ok_or_else(|| unseal("not hex".into()))?;
    let binding = key_binding(&stored.kid);
    let pkcs8 = seal::open(old, &sealed, &binding).map_err(|error| unseal(error.to_string()))?;
    let resealed =
        seal::seal(new, &pkcs8, &binding).map_err(|error| RingError::Key(error.to_string()))?;
    Ok(StoredSigningKey {
        sealed: hex(&resealed),
        ..stored.clone()
    })
}

/// Reads the ring from the store; `None` when there is none yet.
pub async fn load_ring(
    store: &dyn Store,
    data_key: &DataKey,
    max_lifetime_secs: i64,
) -> Result<Option<KeyRing>, RingError> {
    let stored = store.signing_keys().await?;
    if stored.is_empty() {
        return Ok(None);
    }
    let keys = stored
        .iter()
        .map(|key| from_stored(key, data_key))
        .collect::<Result<Vec<_>, _>>()?;
    KeyRing::from_keys(keys, max_lifetime_secs)
        .map(Some)
        .map_err(|error| RingError::Key(error.to_string()))
}

/// The stored ring, or a fresh one stored for every node (the first node to start wins).
pub async fn load_or_create_ring(
    store: &dyn Store,
    data_key: &DataKey,
    max_lifetime_secs: i64,
    now: Timestamp,
) -> Result<KeyRing, RingError> {
    if let Some(ring) = load_ring(store, data_key, max_lifetime_secs).await? {
        return Ok(ring);
    }
    let ring = KeyRing::generate(now.as_secs(), max_lifetime_secs)
        .map_err(|error| RingError::Key(error.to_string()))?;
    let stored = ring
        .keys()
        .map(|key| to_stored(key, data_key))
        .collect::<Result<Vec<_>, _>>()?;
    if store.init_signing_keys(stored).await? {
        return Ok(ring);
    }
    load_ring(store, data_key, max_lifetime_secs)
        .await?
        .ok_or_else(|| RingError::Key("the key ring vanished while starting".into()))
}

/// `warden keys rotate`: a new active key; the previous one stays published until the last
/// token it signed has expired; keys past that are dropped. Returns the new ring.
pub async fn rotate_ring(
    store: &dyn Store,
    actor: &Actor,
    data_key: &DataKey,
    max_lifetime_secs: i64,
    now: Timestamp,
) -> Result<KeyRing, RingError> {
    let mut ring = load_or_create_ring(store, data_key, max_lifetime_secs, now).await?;
    ring.rotate(now.as_secs())
        .map_err(|error| RingError::Key(error.to_string()))?;
    ring.prune(now.as_secs());
    let stored = ring
        .keys()
        .map(|key| to_stored(key, data_key))
        .collect::<Result<Vec<_>, _>>()?;
    store.replace_signing_keys(actor, stored, now).await?;
    Ok(ring)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips() {
        let bytes = [0u8, 1, 254, 255, 16];
        assert_eq!(unhex(&hex(&bytes)), Some(bytes.to_vec()));
        assert_eq!(unhex("abc"), None);
        assert_eq!(unhex("zz"), None);
    }

    #[test]
    fn sealed_keys_open_only_under_their_own_id() -> Result<(), RingError> {
        let data_key = DataKey::from_bytes([7; 32]);
        let key = SigningKey::generate(100).map_err(|error| RingError::Key(error.to_string()))?;
        let stored = to_stored(&key, &data_key)?;
        assert!(!stored.sealed.is_empty());
        assert_eq!(from_stored(&stored, &data_key)?.kid(), key.kid());
        let moved = StoredSigningKey {
            kid: "another".into(),
            ..stored.clone()
        };
        assert!(from_stored(&moved, &data_key).is_err());
        assert!(from_stored(&stored, &DataKey::from_bytes([8; 32])).is_err());
        Ok(())
    }
}
