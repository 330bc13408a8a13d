//! Strict validation of a policy set that stays fast when the catalog is large.
//!
//! Cedar's validator typechecks every policy in every request environment of the schema:
//! each action, times each principal type, times each resource type the action applies
//! to. A catalog of 1,000 upstreams with 50 routes each declares 50,000 route actions, so
//! 400,000 environments per policy, and a set of 10,000 policies would take most of an
//! hour on two cores. This runs inside the write that stores a policy and on every
//! catalog reload, so it has to be fast.
//!
//! Most of those environments cannot tell the validator anything new about a policy.
//! Where a policy does not name an environment's action (in its scope or anywhere in its
//! body), the typechecker's conclusion depends only on the environment's principal type,
//! resource type and context type: the `action` variable is only ever compared with
//! action literals, and Warden declares no action groups. Every route action applies to
//! the same principal types with the same context type, so among the route actions a
//! policy does not name, one for each distinct set of resource types stands for all the
//! others: the same errors, the same warnings, the same "impossible policy" verdict. The one
//! difference is in the wording: a diagnostic Cedar words per action ("unsafe access to
//! `context.reason` for Action::\"tickets.read\"") is given once for each kind of action,
//! naming the representative, instead of once for each of 50,000 actions.
//!
//! So each policy is validated against a schema made of Warden's entity types, the
//! context types, the MCP actions, one representative route action per set of resource
//! types, and the route actions the policy itself names. Policies that name the same
//! actions share one such schema. A policy that names an action the schema does not
//! declare is validated against the whole schema, so that Cedar's "did you mean" hint is
//! drawn from every action as before. Tests compare the diagnostics with those of a
//! whole-schema validation over policies chosen to produce each kind, and over random sets
//! of them.

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use cedar_policy::{
    EntityTypeName, Policy, PolicySet, Schema, SchemaFragment, ValidationMode, ValidationResult,
    Validator,
};

use crate::schema::{GeneratedSchema, SchemaError, render_route_action};

/// What a policy is validated against.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Scope {
    /// The shared part of the schema plus these route actions (none: the shared part).
    Named(BTreeSet<String>),
    /// The whole schema: the policy names an action that is not declared.
    Whole,
}

/// Validates `policies` in strict mode against `schema`, returning one result per group of
/// policies that share a validation schema.
pub(crate) fn validate(
    schema: &GeneratedSchema,
    policies: &PolicySet,
) -> Result<Vec<ValidationResult>, SchemaError> {
    let action_type = EntityTypeName::from_str("Action").map_err(cedar_error)?;
    let representatives = representatives(schema);
    let mut groups: BTreeMap<Scope, PolicySet> = BTreeMap::new();
    for policy in policies.policies() {
        let scope = scope_of(policy, schema, &representatives, &action_type);
        groups
            .entry(scope)
            .or_default()
            .add(policy.clone())
            .map_err(cedar_error)?;
    }
    if groups.is_empty() {
        return Ok(Vec::new());
    }

    let shared = shared_fragment(schema, &representatives)?;
    let mut results = Vec::with_capacity(groups.len());
    for (scope, set) in groups {
        let cedar = match scope {
            Scope::Whole => schema.cedar().clone(),
            Scope::Named(named) if named.is_empty() => {
                Schema::from_schema_fragments([shared.clone()]).map_err(cedar_error)?
            }
            Scope::Named(named) => {
                let mut text = String::new();
                for action in &named {
                    if let Some(types) = schema.route_actions().get(action) {
                        render_route_action(&mut text, action, types);
                    }
                }
                let (extra, _warnings) =
                    SchemaFragment::from_cedarschema_str(&text).map_err(cedar_error)?;
                Schema::from_schema_fragments([shared.clone(), extra]).map_err(cedar_error)?
            }
        };
        results.push(Validator::new(cedar).validate(&set, ValidationMode::Strict));
    }
    Ok(results)
}

/// One route action for each distinct set of resource types: the first in name order.
fn representatives(schema: &GeneratedSchema) -> BTreeSet<&str> {
    let mut seen: BTreeSet<&BTreeSet<String>> = BTreeSet::new();
    schema
        .route_actions()
        .iter()
        .filter(|(_, types)| seen.insert(types))
        .map(|(action, _)| action.as_str())
        .collect()
}

/// The route actions `policy` names beyond the representatives, or [`Scope::Whole`] when
/// it names an action the schema does not declare.
fn scope_of(
    policy: &Policy,
    schema: &GeneratedSchema,
    representatives: &BTreeSet<&str>,
    action_type: &EntityTypeName,
) -> Scope {
    let mut named = BTreeSet::new();
    for uid in policy.entity_literals() {
        if uid.type_name() != action_type {
            continue;
        }
        let action: &str = uid.id().unescaped();
        if crate::mcp::MCP_ACTIONS.contains(&action) || representatives.contains(action) {
            continue;
        }
        if !schema.route_actions().contains_key(action) {
            return Scope::Whole;
        }
        named.insert(action.to_owned());
    }
    Scope::Named(named)
}

/// The schema every policy is validated against, before the actions it names: the
/// declarations and the representative route actions.
fn shared_fragment(
    schema: &GeneratedSchema,
    representatives: &BTreeSet<&str>,
) -> Result<SchemaFragment, SchemaError> {
    let mut text = schema.declarations();
    for action in representatives {
        if let Some(types) = schema.route_actions().get(*action) {
            render_route_action(&mut text, action, types);
        }
    }
    SchemaFragment::from_cedarschema_str(&text)
        .map(|(fragment, _warnings)| fragment)
        .map_err(cedar_error)
}

fn cedar_error(e: impl std::fmt::Display) -> SchemaError {
    SchemaError::Cedar(e.to_string())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::routes::RouteMap;
    use crate::schema::{SchemaInput, UpstreamKind, UpstreamSchemaInput};

    /// Three upstreams whose actions cover several resource-type sets: one type, another
    /// type, and two actions that share a name across upstreams (so two types).
    fn schema() -> GeneratedSchema {
        let http = |name: &str, routes: &[(&str, &str, &str)]| {
            let mut text = String::new();
            for (path, action, resource) in routes {
                text.push_str(&format!(
                    "[[route]]\nmethod = \"GET\"\npath = \"{path}\"\naction = \"{action}\"\nresource = \"{resource}\"\n"
                ));
            }
            UpstreamSchemaInput {
                name: name.into(),
                kind: UpstreamKind::Http {
                    routes: RouteMap::from_toml(&text).unwrap_or_else(|e| panic!("{e}")),
                },
            }
        };
        let input = SchemaInput {
            upstreams: vec![
                http(
                    "crm",
                    &[
                        ("/tickets/{id}", "tickets.read", "Ticket::{id}"),
                        ("/tickets/{id}/x", "tickets.update", "Ticket::{id}"),
                        ("/export", "shared.export", "Ticket::all"),
                    ],
                ),
                http(
                    "billing",
                    &[
                        ("/invoices/{id}", "invoices.read", "Invoice::{id}"),
                        ("/invoices/{id}/pay", "invoices.pay", "Invoice::{id}"),
                        ("/export", "shared.export", "Invoice::all"),
                    ],
                ),
                http("deploy", &[("/run", "deploy.run", "Pipeline::main")]),
                UpstreamSchemaInput {
                    name: "gh".into(),
                    kind: UpstreamKind::Mcp {
                        tools: vec!["create_issue".into()],
                    },
                },
            ],
        };
        GeneratedSchema::generate(&input).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Every diagnostic, as text with its help, in a stable order, each route action it
    /// names replaced by the representative of its kind (the one difference the grouping
    /// makes), duplicates dropped.
    fn diagnostics<'a>(
        schema: &GeneratedSchema,
        results: impl IntoIterator<Item = &'a ValidationResult>,
    ) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for result in results {
            for e in result.validation_errors() {
                out.push(format!("error {} {e} {:?}", e.policy_id(), help(e)));
            }
            for w in result.validation_warnings() {
                out.push(format!("warning {} {w} {:?}", w.policy_id(), help(w)));
            }
        }
        let kinds = representatives(schema);
        let mut out: Vec<String> = out
            .into_iter()
            .map(|mut line| {
                for (action, types) in schema.route_actions() {
                    let stands_for = kinds
                        .iter()
                        .find(|rep| schema.route_actions().get(**rep) == Some(types))
                        .copied()
                        .unwrap_or(action.as_str());
                    line = line.replace(
                        &format!("Action::\"{action}\""),
                        &format!("Action::\"{stands_for}\""),
                    );
                }
                line
            })
            .collect();
        out.sort();
        out.dedup();
        out
    }

    fn help(d: &dyn miette::Diagnostic) -> Option<String> {
        d.help().map(|h| h.to_string())
    }

    fn both_ways(schema: &GeneratedSchema, text: &str) -> (Vec<String>, Vec<String>) {
        let set = PolicySet::from_str(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        let grouped = validate(schema, &set).unwrap_or_else(|e| panic!("{e}"));
        let whole = Validator::new(schema.cedar().clone()).validate(&set, ValidationMode::Strict);
        (diagnostics(schema, &grouped), diagnostics(schema, [&whole]))
    }

    const PRINCIPALS: [&str; 4] = [
        "principal",
        "principal == Agent::\"bot\"",
        "principal in Owner::\"a@example.com\"",
        "principal is ServiceAccount",
    ];
    const ACTIONS: [&str; 9] = [
        "action",
        "action == Action::\"tickets.read\"",
        "action == Action::\"invoices.pay\"",
        "action == Action::\"shared.export\"",
        "action == Action::\"call_tool\"",
        "action == Action::\"tickets.raed\"",
        "action in [Action::\"tickets.update\", Action::\"deploy.run\"]",
        "action in [Action::\"read_resource\", Action::\"invoices.read\"]",
        "action in Action::\"deploy.run\"",
    ];
    const RESOURCES: [&str; 6] = [
        "resource",
        "resource is Ticket",
        "resource is Invoice in Upstream::\"billing\"",
        "resource in Upstream::\"crm\"",
        "resource is Tool",
        "resource is Tikcet",
    ];
    const CONDITIONS: [&str; 12] = [
        "",
        " when { context.reason == \"x\" }",
        " when { context has reason && context.reason == \"x\" }",
        " when { resource.uri == \"x\" }",
        " when { resource is Resource && resource.scheme == \"file\" }",
        " when { context.arguments.hasTag(\"repo\") }",
        " when { false }",
        " when { 1 == \"one\" }",
        " when { action == Action::\"invoices.pay\" && resource is Invoice }",
        " unless { action == Action::\"deploy.run\" || action == Action::\"nope\" }",
        " when { context has task && context.task.labels.contains(\"pii\") }",
        " when { context.scopes.contains(\"x\") && principal in Owner::\"a@example.com\" }",
    ];

    #[test]
    fn every_kind_of_diagnostic_matches_whole_schema_validation() {
        let schema = schema();
        let mut checked = 0;
        let mut with_diagnostics = 0;
        for principal in PRINCIPALS {
            for action in ACTIONS {
                for resource in RESOURCES {
                    for condition in CONDITIONS {
                        let text = format!("permit({principal}, {action}, {resource}){condition};");
                        let (grouped, whole) = both_ways(&schema, &text);
                        assert_eq!(grouped, whole, "{text}");
                        checked += 1;
                        with_diagnostics += usize::from(!whole.is_empty());
                    }
                }
            }
        }
        // The fixture is only worth something if it produces diagnostics of each kind.
        assert_eq!(checked, 4 * 9 * 6 * 12);
        assert!(
            with_diagnostics > checked / 2,
            "{with_diagnostics} of {checked}"
        );
    }

    #[test]
    fn the_fixture_hits_errors_warnings_and_hints() {
        let schema = schema();
        let (_, unknown_action) = both_ways(
            &schema,
            "permit(principal, action == Action::\"tickets.raed\", resource);",
        );
        assert!(
            unknown_action
                .iter()
                .any(|d| d.starts_with("error") && d.contains("tickets.read"))
        );
        let (_, impossible) = both_ways(
            &schema,
            "permit(principal, action, resource) when { false };",
        );
        assert!(impossible.iter().any(|d| d.starts_with("warning")));
        let (_, attribute) = both_ways(
            &schema,
            "permit(principal, action, resource) when { resource.uri == \"x\" };",
        );
        assert!(
            attribute.iter().any(|d| d.contains("Ticket")),
            "{attribute:?}"
        );
        assert!(
            attribute.iter().any(|d| d.contains("Invoice")),
            "{attribute:?}"
        );
    }

    proptest! {
        /// Sets of several policies, grouped however their actions fall, give the same
        /// diagnostics as validating the set against the whole schema.
        #[test]
        fn sets_of_policies_match_whole_schema_validation(
            picks in proptest::collection::vec((0..4usize, 0..9usize, 0..6usize, 0..12usize, any::<bool>()), 1..8)
        ) {
            let schema = schema();
            let mut text = String::new();
            for (n, (p, a, r, c, forbid)) in picks.iter().enumerate() {
                let effect = if *forbid { "forbid" } else { "permit" };
                text.push_str(&format!(
                    "@id(\"p{n}\") {effect}({}, {}, {}){};\n",
                    PRINCIPALS[*p], ACTIONS[*a], RESOURCES[*r], CONDITIONS[*c]
                ));
            }
            let (grouped, whole) = both_ways(&schema, &text);
            prop_assert_eq!(grouped, whole, "{}", text);
        }
    }
}
