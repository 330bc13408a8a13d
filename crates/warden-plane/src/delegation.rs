//! The rules of delegation (RFC 8693 token exchange), as pure functions over claims, applied
//! at every exchange and at every verification.
//!
//! A token obtained by exchange carries everything the next exchange needs to enforce the
//! original subject's limits: its `act` chain (every actor, the latest outermost), the
//! subject's `may_act` (narrowed to the one client it named, by id), and its `ancestors`
//! (the Warden tokens it descends from, which revocation checks). So the limits of the
//! first hop hold at the last: an actor the subject did not allow is refused however many
//! hops away it is, and no chain grows past `[credentials] max_delegation_depth` actors.

use warden_crypto::{AccessClaims, Actor, Ancestor};

/// The default `[credentials] max_delegation_depth`: actors in one token's chain.
pub const DEFAULT_MAX_DELEGATION_DEPTH: usize = 3;
/// The highest `max_delegation_depth` accepted.
pub const MAX_DELEGATION_DEPTH_LIMIT: usize = 16;

/// Why a delegation chain is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DelegationError {
    #[error("the delegation chain would hold {depth} actors, more than the {max} allowed")]
    TooDeep { depth: usize, max: usize },
    #[error("the token's client `{client}` is not its latest actor `{actor}`")]
    ClientIsNotTheActor { client: String, actor: String },
    #[error("actor `{0}` is not the party the subject allowed to act for it (may_act)")]
    NotPermitted(String),
    #[error("the token names more ancestor tokens than its delegation chain has actors")]
    Ancestry,
}

/// The actors of a chain, latest first.
pub fn actors(act: Option<&Actor>) -> impl Iterator<Item = &Actor> {
    std::iter::successors(act, |actor| actor.act.as_deref())
}

/// How many actors a chain holds.
pub fn depth(act: Option<&Actor>) -> usize {
    actors(act).count()
}

/// Whether a verified token's chain holds together: no deeper than `max_depth`, its
/// client the latest actor, every actor the one its subject allowed, no more ancestors
/// than hops.
pub fn check_chain(claims: &AccessClaims, max_depth: usize) -> Result<(), DelegationError> {
    let depth = depth(claims.act.as_ref());
    if depth > max_depth {
        return Err(DelegationError::TooDeep {
            depth,
            max: max_depth,
        });
    }
    if let Some(latest) = &claims.act
        && latest.sub != claims.client_id
    {
        return Err(DelegationError::ClientIsNotTheActor {
            client: claims.client_id.clone(),
            actor: latest.sub.clone(),
        });
    }
    if claims.ancestors.len() > depth {
        return Err(DelegationError::Ancestry);
    }
    if let Some(allowed) = &claims.may_act
        && let Some(stranger) = actors(claims.act.as_ref()).find(|actor| actor.sub != allowed.sub)
    {
        return Err(DelegationError::NotPermitted(stranger.sub.clone()));
    }
    Ok(())
}

/// What a subject token hands on to an exchange.
#[derive(Debug, Clone, Default)]
pub struct Lineage {
    pub act: Option<Actor>,
    pub may_act: Option<Actor>,
    /// The Warden tokens the exchanged token descends from, the subject itself included.
    pub ancestors: Vec<Ancestor>,
}

/// The client performing an exchange: its id and its `KIND:NAME`.
#[derive(Debug, Clone, Copy)]
pub struct Exchanger<'a> {
    pub id: &'a str,
    pub reference: &'a str,
}

/// The lineage of the token an exchange by `client` gives: `client` becomes the latest
/// actor; the subject's `may_act` is kept, naming the client by id, so that the next
/// exchange (and verification) refuses any other actor.
pub fn next_hop(
    subject: Lineage,
    client: Exchanger<'_>,
    max_depth: usize,
) -> Result<Lineage, DelegationError> {
    let allowed = |sub: &str| sub == client.id || sub == client.reference;
    if let Some(may_act) = &subject.may_act
        && !allowed(&may_act.sub)
    {
        return Err(DelegationError::NotPermitted(client.id.to_string()));
    }
    let depth = depth(subject.act.as_ref()) + 1;
    if depth > max_depth {
        return Err(DelegationError::TooDeep {
            depth,
            max: max_depth,
        });
    }
    let may_act = subject.may_act.map(|_| Actor {
        sub: client.id.to_string(),
        iss: None,
        act: None,
    });
    Ok(Lineage {
        act: Some(Actor {
            sub: client.id.to_string(),
            iss: None,
            act: subject.act.map(Box::new),
        }),
        may_act,
        ancestors: subject.ancestors,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor(sub: &str, act: Option<Actor>) -> Actor {
        Actor {
            sub: sub.into(),
            iss: None,
            act: act.map(Box::new),
        }
    }

    fn claims(client: &str, act: Option<Actor>, may_act: Option<&str>) -> AccessClaims {
        AccessClaims {
            iss: "i".into(),
            sub: "alice@example.com".into(),
            aud: "a".into(),
            exp: 10,
            iat: 0,
            nbf: None,
            jti: "j".into(),
            client_id: client.into(),
            scope: None,
            act,
            may_act: may_act.map(|sub| actor(sub, None)),
            authorization_details: None,
            owner: None,
            env: None,
            cred: None,
            ancestors: Vec::new(),
        }
    }

    const HELPER: Exchanger<'static> = Exchanger {
        id: "helper-id",
        reference: "agent:helper-bot",
    };
    const SUPPORT: Exchanger<'static> = Exchanger {
        id: "support-id",
        reference: "agent:support-bot",
    };

    #[test]
    fn may_act_holds_at_every_hop_not_only_the_first() {
        let user = Lineage {
            may_act: Some(actor("agent:helper-bot", None)),
            ..Lineage::default()
        };
        assert_eq!(
            next_hop(user.clone(), SUPPORT, 3).err(),
            Some(DelegationError::NotPermitted("support-id".into()))
        );
        let first = next_hop(user, HELPER, 3).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            first.may_act.as_ref().map(|a| a.sub.as_str()),
            Some("helper-id")
        );
        // The second hop by another agent is refused: the subject named only helper-bot.
        assert_eq!(
            next_hop(first.clone(), SUPPORT, 3).err(),
            Some(DelegationError::NotPermitted("support-id".into()))
        );
        // helper-bot may re-delegate to itself.
        let again = next_hop(first, HELPER, 3).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(depth(again.act.as_ref()), 2);
    }

    #[test]
    fn a_chain_never_grows_past_the_limit() {
        let mut lineage = Lineage::default();
        for hop in 1..=3 {
            lineage = next_hop(lineage, HELPER, 3).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(depth(lineage.act.as_ref()), hop);
        }
        assert_eq!(
            next_hop(lineage, SUPPORT, 3).err(),
            Some(DelegationError::TooDeep { depth: 4, max: 3 })
        );
    }

    #[test]
    fn verification_refuses_a_chain_that_breaks_any_rule() {
        let chain = actor("support-id", Some(actor("helper-id", None)));
        assert_eq!(
            check_chain(&claims("support-id", Some(chain.clone()), None), 3),
            Ok(())
        );
        // An actor the subject did not allow, anywhere in the chain.
        assert_eq!(
            check_chain(
                &claims("support-id", Some(chain.clone()), Some("helper-id")),
                3
            ),
            Err(DelegationError::NotPermitted("support-id".into()))
        );
        let inner = actor("helper-id", Some(actor("support-id", None)));
        assert_eq!(
            check_chain(&claims("helper-id", Some(inner), Some("helper-id")), 3),
            Err(DelegationError::NotPermitted("support-id".into()))
        );
        // Deeper than allowed (a limit lowered since the token was issued).
        assert!(matches!(
            check_chain(&claims("support-id", Some(chain.clone()), None), 1),
            Err(DelegationError::TooDeep { depth: 2, max: 1 })
        ));
        // The client must be the latest actor.
        assert!(matches!(
            check_chain(&claims("someone-else", Some(chain), None), 3),
            Err(DelegationError::ClientIsNotTheActor { .. })
        ));
        // Ancestors without hops.
        let mut orphan = claims("helper-id", None, None);
        orphan.ancestors.push(Ancestor {
            jti: "x".into(),
            cred: None,
        });
        assert_eq!(check_chain(&orphan, 3), Err(DelegationError::Ancestry));
    }
}
