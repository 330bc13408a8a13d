//! The credential plane put together: token service, lifetimes, trusted issuers, the data
//! key that seals the signing keys, the failed-authentication limiter, the record of used
//! client assertions, and the background refresh that keeps revocation state and the key
//! ring current on every node.

use std::sync::atomic::{AtomicI64, Ordering};

use anyhow::Context;
use warden_core::{IdentityRef, Timestamp};
use warden_crypto::{DataKey, ExternalVerifier};
use warden_store::{IdentityState, Store, StoreResult};

use crate::config::CredentialConfig;
use crate::delegation::{DEFAULT_MAX_DELEGATION_DEPTH, MAX_DELEGATION_DEPTH_LIMIT};
use crate::ratelimit::FailureLimiter;
use crate::revocation::{RevocationState, Revocations, Rules};
use crate::tokens::{self, DEFAULT_LEEWAY_SECS, MAX_LEEWAY_SECS, TokenService, TokenSettings};

/// How often expired rows of used client assertions are purged, in seconds.
const ASSERTION_PURGE_SECS: i64 = 60;

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
    /// The most actors one token's delegation chain may hold.
    pub max_delegation_depth: usize,
    /// Clients that may introspect tokens issued to others.
    pub introspectors: Vec<IdentityRef>,
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
        let leeway = config.clock_leeway_secs.unwrap_or(DEFAULT_LEEWAY_SECS);
        anyhow::ensure!(
            (0..=MAX_LEEWAY_SECS).contains(&leeway),
            "credentials.clock_leeway_secs must be between 0 and {MAX_LEEWAY_SECS} seconds"
        );
        let max_delegation_depth = config
            .max_delegation_depth
            .map_or(DEFAULT_MAX_DELEGATION_DEPTH, |depth| depth as usize);
        anyhow::ensure!(
            (1..=MAX_DELEGATION_DEPTH_LIMIT).contains(&max_delegation_depth),
            "credentials.max_delegation_depth must be between 1 and {MAX_DELEGATION_DEPTH_LIMIT}"
        );
        let introspectors = config
            .introspectors
            .iter()
            .map(|entry| {
                IdentityRef::parse(entry).map_err(|error| {
                    anyhow::anyhow!(
                        "credentials.introspectors: `{entry}` is not an identity id or KIND:NAME ({error})"
                    )
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
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
                leeway_secs: leeway,
            },
            credential_max_ttl_secs: days.saturating_mul(86_400),
            rotation_overlap_secs: overlap,
            trusted_issuers,
            max_delegation_depth,
            introspectors,
        })
    }

    /// How long a retired signing key stays published: the longest token plus leeway.
    pub fn key_publication_secs(&self) -> i64 {
        self.tokens.max_ttl_secs + self.tokens.leeway_secs
    }

    /// What the revocation state enforces.
    pub fn revocation_rules(&self) -> Rules {
        Rules {
            leeway_secs: self.tokens.leeway_secs,
            max_delegation_depth: self.max_delegation_depth,
        }
    }

    /// Whether `caller` may introspect tokens issued to other clients.
    pub fn may_introspect_others(&self, caller: &IdentityState) -> bool {
        self.introspectors.iter().any(|allowed| match allowed {
            IdentityRef::Id(id) => id.to_string() == caller.id,
            IdentityRef::Name { kind, name } => {
                kind.as_str() == caller.kind && *name == caller.name
            }
        })
    }
}

/// Everything the OAuth endpoints and the credential admin API share.
#[derive(Debug)]
pub struct CredentialPlane {
    pub settings: PlaneSettings,
    pub tokens: TokenService,
    pub data_key: DataKey,
    pub limiter: FailureLimiter,
    /// When expired used-assertion rows were last purged (unix seconds).
    last_assertion_purge: AtomicI64,
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
        let revocations =
            RevocationState::with_rules(Revocations::default(), settings.revocation_rules());
        revocations
            .reload(store, now)
            .await
            .context("cannot load the revocation state")?;
        Ok(Self {
            tokens: TokenService::new(settings.tokens.clone(), ring, revocations),
            settings,
            data_key,
            limiter: FailureLimiter::default(),
            last_assertion_purge: AtomicI64::new(0),
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

    /// Marks a client assertion as used, in the database, until it could no longer be
    /// valid (`exp` plus the leeway); `false` when it was used before, on any node.
    pub async fn first_use_of_assertion(
        &self,
        store: &dyn Store,
        client_id: &str,
        jti: &str,
        exp_secs: i64,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let valid_until = exp_secs.saturating_add(self.settings.tokens.leeway_secs);
        store
            .use_client_assertion(
                client_id,
                jti,
                Timestamp::from_millis(valid_until.saturating_mul(1000)),
                now,
            )
            .await
    }

    /// Drops used-assertion rows that can no longer matter, at most once a minute.
    async fn purge_assertions(&self, store: &dyn Store, now: Timestamp) {
        let last = self.last_assertion_purge.load(Ordering::Relaxed);
        if now.as_secs() - last < ASSERTION_PURGE_SECS {
            return;
        }
        self.last_assertion_purge
            .store(now.as_secs(), Ordering::Relaxed);
        if let Err(error) = store.purge_client_assertions(now).await {
            tracing::warn!(%error, "cannot purge expired client assertions");
        }
    }

    /// One round of background upkeep: revocations, key ring, cache.
    pub async fn tick(&self, store: &dyn Store, now: Timestamp) {
        if let Err(error) = self.refresh(store, now).await {
            tracing::warn!(%error, "cannot refresh the revocation state; keeping the last one");
        }
        if let Err(error) = self.reload_ring(store).await {
            tracing::warn!(%error, "cannot reload the key ring; keeping the last one");
        }
        self.purge(store, now).await;
    }

    /// Drops what has expired: cached token checks and used client assertions.
    pub async fn purge(&self, store: &dyn Store, now: Timestamp) {
        self.tokens.purge_cache(now);
        self.purge_assertions(store, now).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(config: CredentialConfig) -> anyhow::Result<PlaneSettings> {
        PlaneSettings::resolve(&config, "http://127.0.0.1:1", "http://127.0.0.1:2")
    }

    #[test]
    fn the_leeway_defaults_to_five_seconds_and_the_chain_to_three_actors() -> anyhow::Result<()> {
        let settings = resolve(CredentialConfig::default())?;
        assert_eq!(settings.tokens.leeway_secs, 5);
        assert_eq!(settings.max_delegation_depth, 3);
        assert!(settings.introspectors.is_empty());
        let settings = resolve(CredentialConfig {
            clock_leeway_secs: Some(0),
            max_delegation_depth: Some(1),
            ..CredentialConfig::default()
        })?;
        assert_eq!(
            settings.revocation_rules(),
            Rules {
                leeway_secs: 0,
                max_delegation_depth: 1,
            }
        );
        Ok(())
    }

    #[test]
    fn out_of_range_limits_and_unreadable_introspectors_are_refused_by_name() {
        for (config, named) in [
            (
                CredentialConfig {
                    clock_leeway_secs: Some(-1),
                    ..CredentialConfig::default()
                },
                "clock_leeway_secs",
            ),
            (
                CredentialConfig {
                    max_delegation_depth: Some(0),
                    ..CredentialConfig::default()
                },
                "max_delegation_depth",
            ),
            (
                CredentialConfig {
                    introspectors: vec!["nobody".into()],
                    ..CredentialConfig::default()
                },
                "introspectors",
            ),
        ] {
            let error = resolve(config).err().map(|error| error.to_string());
            assert!(
                error.as_deref().is_some_and(|text| text.contains(named)),
                "{error:?}"
            );
        }
    }

    #[test]
    fn introspectors_match_by_id_or_by_kind_and_name() -> anyhow::Result<()> {
        let id = "0190a0b0-0000-7000-8000-000000000001";
        let settings = resolve(CredentialConfig {
            introspectors: vec!["agent:auditor".into(), id.into()],
            ..CredentialConfig::default()
        })?;
        let caller = |id: &str, kind: &str, name: &str| IdentityState {
            id: id.into(),
            kind: kind.into(),
            name: name.into(),
            owner_id: "o".into(),
            owner_email: "o@example.com".into(),
            parent_id: None,
            status: "active".into(),
            suspension_reason: None,
            expires_at: None,
            environment: None,
        };
        assert!(settings.may_introspect_others(&caller("x", "agent", "auditor")));
        assert!(settings.may_introspect_others(&caller(id, "agent", "other")));
        assert!(!settings.may_introspect_others(&caller("x", "service", "auditor")));
        assert!(!settings.may_introspect_others(&caller("x", "agent", "helper")));
        Ok(())
    }
}
