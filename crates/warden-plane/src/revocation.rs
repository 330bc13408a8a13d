//! Revocation and suspension state, in memory, so that verifying a token never reads the
//! database.
//!
//! The state is an immutable `Revocations` value behind an `RwLock<Arc<…>>`: readers take
//! the `Arc` and check without holding the lock; a reload builds a new value from a store
//! snapshot and swaps it in. A node reloads synchronously after every revocation, kill or
//! lifecycle change it makes itself (before answering), and every second in the background,
//! which is how nodes sharing PostgreSQL learn of each other's changes.
//!
//! A token is refused when its `jti` is revoked, when the credential it was obtained with
//! is revoked, when any token it was exchanged from (its `ancestors`) or that token's
//! credential is revoked, when its delegation chain breaks the rules of `delegation`, or
//! when any Warden identity it names (its client, every actor in its `act` chain, and its
//! subject when that is a Warden identity), or any ancestor of those, is suspended,
//! revoked, expired, unknown, or owned by an offboarded owner.
//!
//! Revoked `jti`s are kept until their token's expiry plus the clock leeway, since a token
//! is accepted that long.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use warden_core::{Timestamp, identity::MAX_PARENT_DEPTH};
use warden_crypto::AccessClaims;
use warden_store::{IdentityState, RevocationSnapshot, Store, StoreResult};

use crate::delegation::{self, DEFAULT_MAX_DELEGATION_DEPTH, DelegationError};
use crate::tokens::DEFAULT_LEEWAY_SECS;

/// Why an otherwise valid token is no longer honoured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Revoked {
    #[error("token `{0}` is revoked")]
    Token(String),
    #[error("credential `{0}` is revoked")]
    Credential(String),
    #[error("identity `{0}` is unknown")]
    UnknownIdentity(String),
    #[error("identity `{0}` is suspended")]
    Suspended(String),
    #[error("identity `{0}` is revoked")]
    IdentityRevoked(String),
    #[error("identity `{0}` has expired")]
    Expired(String),
    #[error("the owner of identity `{0}` is offboarded")]
    OwnerOffboarded(String),
    #[error("the hierarchy above identity `{0}` is too deep or cyclic")]
    Hierarchy(String),
    #[error("token `{0}`, which this token was exchanged from, is revoked")]
    AncestorRevoked(String),
    #[error(transparent)]
    Delegation(#[from] DelegationError),
}

/// What the revocation state enforces besides the revocations themselves, from
/// `[credentials]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    /// Clock leeway on token expiry, seconds: a revoked `jti` is kept this long past it.
    pub leeway_secs: i64,
    /// The most actors a token's `act` chain may hold.
    pub max_delegation_depth: usize,
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            leeway_secs: DEFAULT_LEEWAY_SECS,
            max_delegation_depth: DEFAULT_MAX_DELEGATION_DEPTH,
        }
    }
}

/// One consistent view of what is revoked.
#[derive(Debug)]
pub struct Revocations {
    tokens: HashMap<String, i64>,
    credentials: HashSet<String>,
    identities: HashMap<String, IdentityState>,
    offboarded_owners: HashSet<String>,
    children: HashMap<String, Vec<String>>,
    max_delegation_depth: usize,
}

impl Default for Revocations {
    fn default() -> Self {
        Self::from_snapshot(RevocationSnapshot::default())
    }
}

impl Revocations {
    pub fn from_snapshot(snapshot: RevocationSnapshot) -> Self {
        let mut children: HashMap<String, Vec<String>> = HashMap::new();
        for identity in &snapshot.identities {
            if let Some(parent) = &identity.parent_id {
                children
                    .entry(parent.clone())
                    .or_default()
                    .push(identity.id.clone());
            }
        }
        Self {
            tokens: snapshot
                .revoked_tokens
                .into_iter()
                .map(|(jti, exp)| (jti, exp.as_millis()))
                .collect(),
            credentials: snapshot.revoked_credentials.into_iter().collect(),
            identities: snapshot
                .identities
                .into_iter()
                .map(|identity| (identity.id.clone(), identity))
                .collect(),
            offboarded_owners: snapshot.offboarded_owners.into_iter().collect(),
            children,
            max_delegation_depth: DEFAULT_MAX_DELEGATION_DEPTH,
        }
    }

    /// The same view, enforcing `rules`.
    pub fn with_rules(mut self, rules: Rules) -> Self {
        self.max_delegation_depth = rules.max_delegation_depth;
        self
    }

    pub fn identity(&self, id: &str) -> Option<&IdentityState> {
        self.identities.get(id)
    }

    pub fn is_token_revoked(&self, jti: &str) -> bool {
        self.tokens.contains_key(jti)
    }

    /// Whether this identity and every ancestor may act at `now`.
    pub fn check_identity(&self, id: &str, now: Timestamp) -> Result<(), Revoked> {
        let mut cursor = Some(id);
        let mut depth = 0;
        while let Some(current) = cursor {
            if depth > MAX_PARENT_DEPTH {
                return Err(Revoked::Hierarchy(id.to_string()));
            }
            let Some(state) = self.identities.get(current) else {
                return Err(Revoked::UnknownIdentity(current.to_string()));
            };
            match state.status.as_str() {
                "active" => {}
                "suspended" => return Err(Revoked::Suspended(current.to_string())),
                _ => return Err(Revoked::IdentityRevoked(current.to_string())),
            }
            if state.expires_at.is_some_and(|expiry| expiry <= now) {
                return Err(Revoked::Expired(current.to_string()));
            }
            if self.offboarded_owners.contains(&state.owner_id) {
                return Err(Revoked::OwnerOffboarded(current.to_string()));
            }
            cursor = state.parent_id.as_deref();
            depth += 1;
        }
        Ok(())
    }

    /// Whether a verified token is still honoured at `now`.
    pub fn check_claims(&self, claims: &AccessClaims, now: Timestamp) -> Result<(), Revoked> {
        if self.tokens.contains_key(&claims.jti) {
            return Err(Revoked::Token(claims.jti.clone()));
        }
        if let Some(credential) = &claims.cred
            && self.credentials.contains(credential)
        {
            return Err(Revoked::Credential(credential.clone()));
        }
        // Revoking a token revokes every token exchanged from it, at any remove.
        for ancestor in &claims.ancestors {
            if self.tokens.contains_key(&ancestor.jti) {
                return Err(Revoked::AncestorRevoked(ancestor.jti.clone()));
            }
            if let Some(credential) = &ancestor.cred
                && self.credentials.contains(credential)
            {
                return Err(Revoked::Credential(credential.clone()));
            }
        }
        delegation::check_chain(claims, self.max_delegation_depth)?;
        self.check_identity(&claims.client_id, now)?;
        // A subject that is a Warden identity (a token exchanged from an agent's own
        // token) must still be able to act too.
        if claims.sub != claims.client_id && self.identities.contains_key(&claims.sub) {
            self.check_identity(&claims.sub, now)?;
        }
        let mut actor = claims.act.as_ref();
        let mut depth = 0;
        while let Some(current) = actor {
            if depth > MAX_PARENT_DEPTH {
                return Err(Revoked::Hierarchy(claims.client_id.clone()));
            }
            self.check_identity(&current.sub, now)?;
            actor = current.act.as_deref();
            depth += 1;
        }
        Ok(())
    }

    /// `id` and every identity below it, for kill-switch dry runs.
    pub fn descendants(&self, id: &str) -> Vec<&IdentityState> {
        let mut found = Vec::new();
        let mut stack = vec![id.to_string()];
        let mut seen = HashSet::new();
        while let Some(current) = stack.pop() {
            if !seen.insert(current.clone()) {
                continue;
            }
            if let Some(state) = self.identities.get(&current) {
                found.push(state);
            }
            if let Some(children) = self.children.get(&current) {
                stack.extend(children.iter().cloned());
            }
        }
        found
    }

    /// The identities an owner holds.
    pub fn owned_by(&self, owner_id: &str) -> Vec<&IdentityState> {
        let mut owned: Vec<&IdentityState> = self
            .identities
            .values()
            .filter(|state| state.owner_id == owner_id)
            .collect();
        owned.sort_by(|a, b| a.id.cmp(&b.id));
        owned
    }
}

/// The shared, swappable revocation state.
#[derive(Debug)]
pub struct RevocationState {
    current: RwLock<Arc<Revocations>>,
    rules: Rules,
    /// Bumped on every swap, so work in flight (a streaming response, a request waiting
    /// for approval) can wake up and check its token again.
    generation: tokio::sync::watch::Sender<u64>,
}

impl Default for RevocationState {
    fn default() -> Self {
        Self::new(Revocations::default())
    }
}

impl RevocationState {
    pub fn new(revocations: Revocations) -> Self {
        Self::with_rules(revocations, Rules::default())
    }

    /// A state that enforces `rules` on `revocations` and on every reload.
    pub fn with_rules(revocations: Revocations, rules: Rules) -> Self {
        Self {
            current: RwLock::new(Arc::new(revocations.with_rules(rules))),
            rules,
            generation: tokio::sync::watch::Sender::new(0),
        }
    }

    /// A receiver that changes whenever the state is replaced.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.generation.subscribe()
    }

    /// The current view. A poisoned lock still holds a complete value (writers only swap
    /// an `Arc`), so it is used rather than failing every request.
    pub fn current(&self) -> Arc<Revocations> {
        match self.current.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    pub fn replace(&self, revocations: Revocations) {
        let fresh = Arc::new(revocations);
        match self.current.write() {
            Ok(mut guard) => *guard = fresh,
            Err(poisoned) => *poisoned.into_inner() = fresh,
        }
        self.generation
            .send_modify(|generation| *generation = generation.wrapping_add(1));
    }

    /// Reads a fresh snapshot from the store and swaps it in.
    pub async fn reload(&self, store: &dyn Store, now: Timestamp) -> StoreResult<()> {
        // A token is honoured until `exp` plus the leeway, so its revocation must outlive
        // `exp` by as much.
        let snapshot = store
            .revocation_snapshot(now.plus_secs(-self.rules.leeway_secs))
            .await?;
        self.replace(Revocations::from_snapshot(snapshot).with_rules(self.rules));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(id: &str, parent: Option<&str>, status: &str, owner: &str) -> IdentityState {
        IdentityState {
            id: id.into(),
            kind: "agent".into(),
            name: id.into(),
            owner_id: owner.into(),
            owner_email: format!("{owner}@example.com"),
            parent_id: parent.map(str::to_string),
            status: status.into(),
            suspension_reason: None,
            expires_at: None,
            environment: None,
        }
    }

    fn state(identities: Vec<IdentityState>) -> Revocations {
        Revocations::from_snapshot(RevocationSnapshot {
            identities,
            offboarded_owners: vec!["gone".into()],
            revoked_credentials: vec!["cred-x".into()],
            revoked_tokens: vec![("jti-x".into(), Timestamp::from_millis(10_000))],
        })
    }

    #[test]
    fn an_identity_stops_with_any_ancestor_and_with_its_owner() {
        let now = Timestamp::from_millis(0);
        let revocations = state(vec![
            identity("root", None, "suspended", "o"),
            identity("child", Some("root"), "active", "o"),
            identity("free", None, "active", "o"),
            identity("orphaned", None, "active", "gone"),
            identity("a", Some("b"), "active", "o"),
            identity("b", Some("a"), "active", "o"),
        ]);
        assert_eq!(
            revocations.check_identity("child", now),
            Err(Revoked::Suspended("root".into()))
        );
        assert_eq!(revocations.check_identity("free", now), Ok(()));
        assert_eq!(
            revocations.check_identity("orphaned", now),
            Err(Revoked::OwnerOffboarded("orphaned".into()))
        );
        assert_eq!(
            revocations.check_identity("nobody", now),
            Err(Revoked::UnknownIdentity("nobody".into()))
        );
        // A corrupt, cyclic hierarchy ends and fails closed.
        assert_eq!(
            revocations.check_identity("a", now),
            Err(Revoked::Hierarchy("a".into()))
        );
        let mut below: Vec<&str> = revocations
            .descendants("root")
            .iter()
            .map(|state| state.id.as_str())
            .collect();
        below.sort_unstable();
        assert_eq!(below, ["child", "root"]);
    }

    #[test]
    fn tokens_stop_with_their_jti_credential_and_every_actor() {
        let now = Timestamp::from_millis(0);
        let revocations = state(vec![
            identity("agent", None, "active", "o"),
            identity("upstream-actor", None, "revoked", "o"),
        ]);
        let claims = |jti: &str, cred: Option<&str>, act: Option<&str>| AccessClaims {
            iss: "i".into(),
            sub: "user@example.com".into(),
            aud: "a".into(),
            exp: 10,
            iat: 0,
            nbf: None,
            jti: jti.into(),
            client_id: "agent".into(),
            scope: None,
            act: act.map(|sub| warden_crypto::Actor {
                sub: "agent".into(),
                iss: None,
                act: Some(Box::new(warden_crypto::Actor {
                    sub: sub.into(),
                    iss: None,
                    act: None,
                })),
            }),
            may_act: None,
            authorization_details: None,
            owner: None,
            env: None,
            cred: cred.map(str::to_string),
            ancestors: Vec::new(),
        };
        assert_eq!(
            revocations.check_claims(&claims("ok", None, None), now),
            Ok(())
        );
        assert_eq!(
            revocations.check_claims(&claims("jti-x", None, None), now),
            Err(Revoked::Token("jti-x".into()))
        );
        assert_eq!(
            revocations.check_claims(&claims("ok", Some("cred-x"), None), now),
            Err(Revoked::Credential("cred-x".into()))
        );
        assert_eq!(
            revocations.check_claims(&claims("ok", None, Some("upstream-actor")), now),
            Err(Revoked::IdentityRevoked("upstream-actor".into()))
        );
    }

    #[test]
    fn a_token_stops_with_any_token_it_was_exchanged_from() {
        let now = Timestamp::from_millis(0);
        let revocations = state(vec![identity("agent", None, "active", "o")]);
        let child = |ancestors: Vec<warden_crypto::Ancestor>| AccessClaims {
            iss: "i".into(),
            sub: "user@example.com".into(),
            aud: "a".into(),
            exp: 10,
            iat: 0,
            nbf: None,
            jti: "child".into(),
            client_id: "agent".into(),
            scope: None,
            act: Some(warden_crypto::Actor {
                sub: "agent".into(),
                iss: None,
                act: Some(Box::new(warden_crypto::Actor {
                    sub: "agent".into(),
                    iss: None,
                    act: None,
                })),
            }),
            may_act: None,
            authorization_details: None,
            owner: None,
            env: None,
            cred: None,
            ancestors,
        };
        let ancestor = |jti: &str, cred: Option<&str>| warden_crypto::Ancestor {
            jti: jti.into(),
            cred: cred.map(str::to_string),
        };
        assert_eq!(
            revocations.check_claims(&child(vec![ancestor("live", Some("cred-ok"))]), now),
            Ok(())
        );
        assert_eq!(
            revocations.check_claims(
                &child(vec![ancestor("jti-x", None), ancestor("live", None)]),
                now
            ),
            Err(Revoked::AncestorRevoked("jti-x".into()))
        );
        assert_eq!(
            revocations.check_claims(&child(vec![ancestor("live", Some("cred-x"))]), now),
            Err(Revoked::Credential("cred-x".into()))
        );
        // The delegation rules hold at verification too.
        let strict = state(vec![identity("agent", None, "active", "o")]).with_rules(Rules {
            leeway_secs: 0,
            max_delegation_depth: 1,
        });
        assert!(matches!(
            strict.check_claims(&child(Vec::new()), now),
            Err(Revoked::Delegation(DelegationError::TooDeep {
                depth: 2,
                max: 1
            }))
        ));
    }
}
