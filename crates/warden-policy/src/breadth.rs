//! How broad a permit is: the permits that allow every action, for the posture rule that
//! reports them (OWASP NHI5, over-privileged identities).
//!
//! A `permit` with no action constraint allows whatever a route map or MCP tool list will
//! ever define on its resources, including actions added later. This reads each statement's
//! scope the way the engine's index does and reports those whose resource is one upstream
//! (`resource in Upstream::"NAME"` or `==`) or anything; scopes on a narrower resource type
//! are left out, since they do not reach every action. Statement ids follow the engine:
//! `ID` for a one-statement document, `ID#N` otherwise.

use std::str::FromStr;

use cedar_policy::{
    ActionConstraint, Effect, EntityUid, PolicySet, PrincipalConstraint, ResourceConstraint,
};

use crate::policy_set::{PolicyDocument, statements_in_source_order};
use crate::principal::PrincipalKind;

/// One permit that allows every action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EveryActionPermit {
    pub policy_id: String,
    /// `Agent::"etl-bot"`, `Owner::"a@example.com"`, `Agent` (any agent), or `None` for
    /// any principal at all.
    pub principal: Option<String>,
    /// When the principal is one identity: its inventory kind (`agent`) and name.
    pub identity: Option<(String, String)>,
    /// The upstream's name, or `None` when the permit reaches every resource.
    pub upstream: Option<String>,
    /// `when`/`unless` conditions narrow it.
    pub conditional: bool,
}

/// The permits among `documents` that allow every action. Documents that do not parse are
/// skipped: the engine refuses them before they are stored.
pub fn every_action_permits(documents: &[PolicyDocument]) -> Vec<EveryActionPermit> {
    let mut out = Vec::new();
    for doc in documents {
        let Ok(parsed) = PolicySet::from_str(&doc.text) else {
            continue;
        };
        let statements = statements_in_source_order(&parsed, &doc.text);
        let many = statements.len() > 1;
        for (n, (_, policy)) in statements.into_iter().enumerate() {
            if policy.effect() != Effect::Permit
                || policy.action_constraint() != ActionConstraint::Any
            {
                continue;
            }
            let upstream = match policy.resource_constraint() {
                ResourceConstraint::Any => None,
                ResourceConstraint::In(uid) | ResourceConstraint::Eq(uid) => {
                    match upstream_name(&uid) {
                        Some(name) => Some(name),
                        None => continue,
                    }
                }
                ResourceConstraint::Is(_) | ResourceConstraint::IsIn(..) => continue,
            };
            let principal = match policy.principal_constraint() {
                PrincipalConstraint::Any => None,
                PrincipalConstraint::Eq(uid) | PrincipalConstraint::In(uid) => {
                    Some(uid.to_string())
                }
                PrincipalConstraint::Is(kind) => Some(kind.to_string()),
                PrincipalConstraint::IsIn(kind, uid) => Some(format!("{kind} in {uid}")),
            };
            let identity = match policy.principal_constraint() {
                PrincipalConstraint::Eq(uid) => {
                    PrincipalKind::from_cedar_type(&uid.type_name().to_string()).map(|kind| {
                        (
                            kind.identity_kind().to_string(),
                            uid.id().unescaped().to_string(),
                        )
                    })
                }
                _ => None,
            };
            let policy_id = if many {
                format!("{}#{}", doc.id, n + 1)
            } else {
                doc.id.clone()
            };
            out.push(EveryActionPermit {
                policy_id,
                principal,
                identity,
                upstream,
                conditional: policy.has_non_scope_constraint(),
            });
        }
    }
    out
}

fn upstream_name(uid: &EntityUid) -> Option<String> {
    (uid.type_name().to_string() == "Upstream").then(|| uid.id().unescaped().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn permits(text: &str) -> Vec<EveryActionPermit> {
        every_action_permits(&[PolicyDocument::new("doc", text)])
    }

    #[test]
    fn a_permit_without_an_action_constraint_on_an_upstream_is_reported() {
        let found = permits(
            r#"permit(principal == Agent::"etl-bot", action, resource in Upstream::"github");"#,
        );
        assert_eq!(
            found,
            vec![EveryActionPermit {
                policy_id: "doc".into(),
                principal: Some(r#"Agent::"etl-bot""#.into()),
                identity: Some(("agent".into(), "etl-bot".into())),
                upstream: Some("github".into()),
                conditional: false,
            }]
        );
    }

    #[test]
    fn named_actions_forbids_and_narrow_resource_types_are_not_reported() {
        let text = r#"
            permit(principal == Agent::"a", action == Action::"read", resource in Upstream::"github");
            permit(principal == Agent::"a", action in [Action::"read", Action::"list"], resource);
            forbid(principal, action, resource in Upstream::"github");
            permit(principal, action, resource is Tool in Upstream::"github");
        "#;
        assert!(permits(text).is_empty(), "{:?}", permits(text));
    }

    #[test]
    fn statement_ids_and_conditions_follow_the_engine() {
        let text = r#"
            permit(principal == Agent::"a", action == Action::"read", resource);
            permit(principal, action, resource) when { context.environment == "dev" };
        "#;
        let found = permits(text);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].policy_id, "doc#2");
        assert_eq!(found[0].principal, None);
        assert_eq!(found[0].upstream, None);
        assert!(found[0].conditional);
    }
}
