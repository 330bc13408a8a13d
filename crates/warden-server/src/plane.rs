//! The credential plane put together: token service, lifetimes, trusted issuers, the data
//! key that seals the signing keys, the failed-authentication limiter, and the background
//! refresh that keeps revocation state and the key ring current on every node.

use std::collections::HashMap;
use std::sync::Mutex;

use anyhow::Context;
use warden_core::Timestamp;
use warden_crypto::{DataKey, ExternalVerifier};
use warden_store::{Store, StoreResult};

use crate::config::CredentialConfig;
use crate::ratelimit::FailureLimiter;
use crate::revocation::{RevocationState, Revocations};
use crate::tokens::{self, LEEWAY_SECS, TokenService, TokenSettings};

pub const DEFAULT_TOKEN_TTL_SECS: i64 = 300;
pub const DEFAULT_TOKEN_MAX_TTL_SECS: i64 = 3600;
pub const DEFAULT_CREDENTIAL_MAX_TTL_DAYS: i64 = 90;
pub const DEFAULT_ROTATION_OVERLAP_SECS: i64 = 86_400;

/// An external issuer whose tokens may be exchanged.
#[derive(Debug)]
pub struct TrustedIssuer {
    pub issuer: String,
    pub verifier: ExternalVerifier,
}

/// Lifetimes and trust, resolved.
#[derive(Debug)]
pub struct PlaneSettings {
    pub tokens: TokenSettings,
    pub credential_max_ttl_secs: i64,
    pub rotation_overlap_secs: i64,
    pub trusted_issuers: Vec<TrustedIssuer>,
}

impl PlaneSettings {
    /// Resolves `[credentials]` against the bound addresses; reads the trusted issuers'
    /// JWKS files.
    pub fn resolve(
        config: &CredentialConfig,
        api_url: &str,
        gateway_url: &str,
    ) -> anyhow::Result<Self> {
        let default_ttl = config.token_ttl_secs.unwrap_or(DEFAULT_TOKEN_TTL_SECS);
        let max_ttl = config
            .token_max_ttl_secs
            .unwrap_or(DEFAULT_TOKEN_MAX_TTL_SECS);
        anyhow::ensure!(
            default_ttl > 0 && max_ttl >= default_ttl,
            "credentials.token_ttl_secs must be positive and at most credentials.token_max_ttl_secs"
        );
        let days = config
            .credential_max_ttl_days
            .unwrap_or(DEFAULT_CREDENTIAL_MAX_TTL_DAYS);
        anyhow::ensure!(
            days > 0,
            "credentials.credential_max_ttl_days must be positive"
        );
        let overlap = config
            .rotation_overlap_secs
            .unwrap_or(DEFAULT_ROTATION_OVERLAP_SECS);
        anyhow::ensure!(
            overlap >= 0,
            "credentials.rotation_overlap_secs cannot be negative"
        );
        let mut trusted_issuers = Vec::new();
        for trusted in &config.trusted_issuers {
            let jwks = std::fs::read_to_string(&trusted.jwks_file).with_context(|| {
                format!(
                    "cannot read the JWKS of trusted issuer {} from {}",
                    trusted.issuer,
                    trusted.jwks_file.display()
                )
            })?;
            let verifier = ExternalVerifier::from_jwks(&jwks).with_context(|| {
                format!(
                    "the JWKS of trusted issuer {} is not usable",
                    trusted.issuer
                )
            })?;
            trusted_issuers.push(TrustedIssuer {
                issuer: trusted.issuer.clone(),
                verifier,
            });
        }
        let trim = |url: &str| url.trim_end_matches('/').to_string();
        Ok(Self {
            tokens: TokenSettings {
                issuer: trim(config.public_url.as_deref().unwrap_or(api_url)),
                gateway_url: trim(config.gateway_url.as_deref().unwrap_or(gateway_url)),
                default_ttl_secs: default_ttl,
                max_ttl_secs: max_ttl,
            },
            credential_max_ttl_secs: days.saturating_mul(86_400),
            rotation_overlap_secs: overlap,
            trusted_issuers,
        })
    }

    /// How long a retired signing key stays published: the longest token plus leeway.
    pub fn key_publication_secs(&self) -> i64 {
        self.tokens.max_ttl_secs + LEEWAY_SECS
    }
}

/// Everything the OAuth endpoints and the credential admin API share.
#[derive(Debug)]
pub struct CredentialPlane {
    pub settings: PlaneSettings,
    pub tokens: TokenService,
    pub data_key: DataKey,
    pub limiter: FailureLimiter,
    /// `jti`s of client assertions already used, with their expiry (unix seconds), so an
    /// assertion cannot be replayed.
    assertions: Mutex<HashMap<String, i64>>,
}

impl CredentialPlane {
    /// Loads (or creates) the key ring and the revocation state.
    pub async fn start(
        store: &dyn Store,
        data_key: DataKey,
        settings: PlaneSettings,
        now: Timestamp,
    ) -> anyhow::Result<Self> {
        let ring =
            tokens::load_or_create_ring(store, &data_key, settings.key_publication_secs(), now)
                .await
                .context("cannot load the token-signing keys")?;
        let snapshot = store
            .revocation_snapshot(now)
            .await
            .context("cannot load the revocation state")?;
        let revocations = RevocationState::new(Revocations::from_snapshot(snapshot));
        Ok(Self {
            tokens: TokenService::new(settings.tokens.clone(), ring, revocations),
            settings,
            data_key,
            limiter: FailureLimiter::default(),
            assertions: Mutex::new(HashMap::new()),
        })
    }

    /// Re-reads revocation state; called after every local change, before answering.
    pub async fn refresh(&self, store: &dyn Store, now: Timestamp) -> StoreResult<()> {
        self.tokens.revocations.reload(store, now).await
    }

    /// Re-reads the key ring when another node rotated it.
    pub async fn reload_ring(&self, store: &dyn Store) -> Result<(), tokens::RingError> {
        let stored = store.signing_keys().await?;
        let current = self.tokens.ring();
        let same = stored.len() == current.keys().count()
            && stored.iter().all(|key| current.get(&key.kid).is_some())
            && stored
                .iter()
                .any(|key| key.retired_at.is_none() && key.kid == current.active().kid());
        if same {
            return Ok(());
        }
        if let Some(ring) =
            tokens::load_ring(store, &self.data_key, self.settings.key_publication_secs()).await?
        {
            self.tokens.set_ring(ring);
        }
        Ok(())
    }

    /// Remembers a client assertion's `jti`; false when it was seen before.
    pub fn first_use_of_assertion(&self, jti: &str, exp: i64, now_secs: i64) -> bool {
        let mut seen = match self.assertions.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        seen.retain(|_, expiry| *expiry + LEEWAY_SECS > now_secs);
        if seen.contains_key(jti) {
            return false;
        }
        seen.insert(jti.to_string(), exp);
        true
    }

    /// One round of background upkeep: revocations, key ring, cache.
    pub async fn tick(&self, store: &dyn Store, now: Timestamp) {
        if let Err(error) = self.refresh(store, now).await {
            tracing::warn!(%error, "cannot refresh the revocation state; keeping the last one");
        }
        if let Err(error) = self.reload_ring(store).await {
            tracing::warn!(%error, "cannot reload the key ring; keeping the last one");
        }
        self.tokens.purge_cache(now);
    }
}
