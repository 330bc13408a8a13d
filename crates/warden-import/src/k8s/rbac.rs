//! RBAC: which roles each ServiceAccount is bound to, and which wildcards those roles hold.
//!
//! Subjects (Kubernetes "Using RBAC Authorization"): a `ServiceAccount` subject names its
//! namespace; in a RoleBinding a missing namespace means the binding's own, in a
//! ClusterRoleBinding it is required. A `User` subject named
//! `system:serviceaccount:NS:NAME` is the same ServiceAccount; the groups
//! `system:serviceaccounts:NS` and `system:serviceaccounts` stand for every ServiceAccount of
//! a namespace, or of the cluster, and are applied to those in the export.
//!
//! Entitlements: `k8s:clusterrole/NAME` (scope `namespace/NS` when a RoleBinding grants it),
//! `k8s:role/NS/NAME`, and for every rule of the bound role (when the export has it) that
//! holds a `*`, one marker per combination that involves the wildcard:
//! `k8s:rule/GROUP/RESOURCE/VERB` (the core group written `core`) or
//! `k8s:nonresource/URL/VERB`.

use std::collections::BTreeMap;

use crate::error::{ErrorContext, ImportError, Location};
use crate::model::{Entitlement, Provenance};

use super::objects::PolicyRule;
use super::{Accounts, FIX, Located, name_of, namespace_of};

/// Roles by `NS/NAME` and ClusterRoles by `NAME`, with where each was read.
#[derive(Default)]
pub(crate) struct Roles {
    roles: BTreeMap<String, (Vec<PolicyRule>, Location)>,
    cluster_roles: BTreeMap<String, (Vec<PolicyRule>, Location)>,
}

impl Roles {
    pub fn add(&mut self, ctx: &ErrorContext<'_>, located: &Located) -> Result<(), ImportError> {
        let name = name_of(ctx, located)?;
        let rules = located.object.rules.clone().unwrap_or_default();
        let entry = (rules, located.location.clone());
        if located.object.kind.as_deref() == Some("ClusterRole") {
            self.cluster_roles.insert(name.to_string(), entry);
        } else {
            self.roles
                .insert(format!("{}/{name}", namespace_of(located)), entry);
        }
        Ok(())
    }
}

/// Which ServiceAccounts a subject stands for.
enum Bound {
    One { namespace: String, name: String },
    Namespace(String),
    Cluster,
    NotAServiceAccount,
}

pub(crate) fn apply_binding(
    ctx: &ErrorContext<'_>,
    binding: &Located,
    roles: &Roles,
    accounts: &mut Accounts,
) -> Result<(), ImportError> {
    let name = name_of(ctx, binding)?;
    let is_cluster_binding = binding.object.kind.as_deref() == Some("ClusterRoleBinding");
    let binding_namespace = namespace_of(binding);
    let via = if is_cluster_binding {
        format!("ClusterRoleBinding/{name}")
    } else {
        format!("RoleBinding/{binding_namespace}/{name}")
    };
    let Some(role_ref) = binding.object.role_ref.as_ref() else {
        return Err(ctx.error(
            binding.location.clone(),
            Some("roleRef"),
            format!("{via} has no roleRef"),
            FIX,
        ));
    };
    let scope = (!is_cluster_binding).then(|| format!("namespace/{binding_namespace}"));
    let (role_value, rules) = match role_ref.kind.as_str() {
        "ClusterRole" => (
            format!("k8s:clusterrole/{}", role_ref.name),
            roles.cluster_roles.get(&role_ref.name),
        ),
        "Role" if !is_cluster_binding => (
            format!("k8s:role/{binding_namespace}/{}", role_ref.name),
            roles
                .roles
                .get(&format!("{binding_namespace}/{}", role_ref.name)),
        ),
        other => {
            return Err(ctx.error(
                binding.location.clone(),
                Some("roleRef.kind"),
                format!(
                    "{via} refers to a `{other}`; a {} binds a ClusterRole{}",
                    if is_cluster_binding {
                        "ClusterRoleBinding"
                    } else {
                        "RoleBinding"
                    },
                    if is_cluster_binding { "" } else { " or a Role" }
                ),
                FIX,
            ));
        }
    };
    let mut granted = vec![(role_value, via.clone())];
    if let Some((rules, _)) = rules {
        let role_via = format!("{via} → {}/{}", role_ref.kind, role_ref.name);
        for marker in wildcard_markers(rules) {
            granted.push((marker, role_via.clone()));
        }
    }

    for (index, subject) in binding
        .object
        .subjects
        .as_deref()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let field = format!("subjects[{index}].namespace");
        let bound = match subject.kind.as_str() {
            "ServiceAccount" => {
                let namespace = match (&subject.namespace, is_cluster_binding) {
                    (Some(namespace), _) if !namespace.is_empty() => namespace.clone(),
                    (_, false) => binding_namespace.to_string(),
                    (_, true) => {
                        return Err(ctx.error(
                            binding.location.clone(),
                            Some(&field),
                            format!(
                                "{via} binds ServiceAccount `{}` without a namespace",
                                subject.name
                            ),
                            "a ClusterRoleBinding must name each ServiceAccount's namespace; fix the binding in the cluster and export again",
                        ));
                    }
                };
                Bound::One {
                    namespace,
                    name: subject.name.clone(),
                }
            }
            "User" => match subject
                .name
                .strip_prefix("system:serviceaccount:")
                .and_then(|rest| rest.split_once(':'))
            {
                Some((namespace, name)) => Bound::One {
                    namespace: namespace.to_string(),
                    name: name.to_string(),
                },
                None => Bound::NotAServiceAccount,
            },
            "Group" if subject.name == "system:serviceaccounts" => Bound::Cluster,
            "Group" => match subject.name.strip_prefix("system:serviceaccounts:") {
                Some(namespace) => Bound::Namespace(namespace.to_string()),
                None => Bound::NotAServiceAccount,
            },
            _ => Bound::NotAServiceAccount,
        };
        let targets: Vec<String> = match bound {
            Bound::One { namespace, name } => {
                accounts.entry(ctx, &namespace, &name, &binding.location);
                vec![format!("{namespace}/{name}")]
            }
            Bound::Namespace(namespace) => accounts
                .by_id
                .keys()
                .filter(|id| id.split_once('/').is_some_and(|(ns, _)| ns == namespace))
                .cloned()
                .collect(),
            Bound::Cluster => accounts.by_id.keys().cloned().collect(),
            Bound::NotAServiceAccount => Vec::new(),
        };
        for target in targets {
            if let Some(identity) = accounts.by_id.get_mut(&target) {
                for (value, via) in &granted {
                    identity.entitlements.push(Entitlement {
                        value: value.clone(),
                        scope: scope.clone(),
                        provenance: Provenance {
                            file: ctx.file.to_string(),
                            location: binding.location.clone(),
                            via: Some(via.clone()),
                        },
                    });
                }
            }
        }
    }
    Ok(())
}

/// The wildcard combinations of a role's rules, so posture rules can see `*` grants.
pub(crate) fn wildcard_markers(rules: &[PolicyRule]) -> Vec<String> {
    let mut markers = Vec::new();
    for rule in rules {
        let core = [String::new()];
        let groups: &[String] = if rule.api_groups.is_empty() {
            &core
        } else {
            &rule.api_groups
        };
        for verb in &rule.verbs {
            for group in groups {
                for resource in &rule.resources {
                    if [verb, group, resource]
                        .iter()
                        .any(|part| part.as_str() == "*")
                    {
                        let group = if group.is_empty() { "core" } else { group };
                        markers.push(format!("k8s:rule/{group}/{resource}/{verb}"));
                    }
                }
            }
            for url in &rule.non_resource_urls {
                if verb == "*" || url.ends_with('*') {
                    markers.push(format!("k8s:nonresource/{url}/{verb}"));
                }
            }
        }
    }
    markers.sort();
    markers.dedup();
    markers
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(groups: &[&str], resources: &[&str], verbs: &[&str]) -> PolicyRule {
        let owned = |items: &[&str]| items.iter().map(|s| s.to_string()).collect();
        PolicyRule {
            api_groups: owned(groups),
            resources: owned(resources),
            verbs: owned(verbs),
            non_resource_urls: Vec::new(),
        }
    }

    #[test]
    fn only_rules_holding_a_wildcard_become_markers() {
        let rules = [
            rule(&["*"], &["*"], &["*"]),
            rule(&[""], &["secrets"], &["get", "*"]),
            rule(&["apps"], &["deployments"], &["get"]),
        ];
        assert_eq!(
            wildcard_markers(&rules),
            vec!["k8s:rule/*/*/*", "k8s:rule/core/secrets/*"]
        );
    }
}
