//! Standing: what the loaded policies let one identity do with one action on one upstream,
//! whatever a single request would carry. The access graph asks it of every route action
//! and MCP tool an agent can reach.
//!
//! The engine evaluates a request with no reason, no task, no scopes, no user and no
//! approval (the identity's environment included), built and evaluated as
//! [`PolicyEngine::decide`] builds and evaluates one, over the same principal and action
//! keys. A policy whose `when` or `unless` reads `context` or `resource` is
//! *request-dependent*: the baseline request says nothing about what it does for a real
//! one, so such policies are indexed by their scope alone (conditions dropped), permits and
//! forbids apart (Cedar reports only the forbids of a set that denies), and the question
//! is whether that scope matches. The other policies are *settled* and keep their own
//! index. From the answers:
//!
//! - a satisfied `forbid` that reads nothing of the request, or a policy that fails to
//!   evaluate, makes the action [`Standing::Denied`] (failing closed);
//! - a satisfied `permit` that reads nothing of the request makes it
//!   [`Standing::Allowed`], or [`Standing::Conditional`] when a request-dependent `forbid`
//!   could still refuse it;
//! - a satisfied `@approval` permit makes it [`Standing::AfterApproval`];
//! - otherwise a request-dependent `permit` whose scope matches makes it
//!   [`Standing::Conditional`] (allowed when its conditions hold);
//! - otherwise it is [`Standing::Denied`] (no permit).
//!
//! A request whose buckets hold no policy at all is denied without building a Cedar
//! request, which is what makes a graph of tens of thousands of actions cheap.

use cedar_policy::Policy;
use serde::{Deserialize, Serialize};

use std::collections::BTreeMap;

use cedar_policy::{Effect as CedarEffect, PolicySet};

use crate::mcp::takes_arguments;
use rustc_hash::FxHashSet;

use crate::policy_set::{
    DecisionReason, DecisionRequest, Index, Loaded, Outcome, PolicyEngine, PrincipalBuckets,
    RequestContext, file,
};
use crate::principal::PrincipalKind;

/// What an identity may do with an action, whatever the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Standing {
    /// A permit with no request-dependent condition allows it, and nothing can refuse it.
    Allowed,
    /// Only `@approval` permits allow it: each request waits for a human.
    AfterApproval,
    /// Allowed or refused depending on the request (a `when`/`unless` on the context).
    Conditional,
    /// No request can be allowed.
    Denied,
}

impl Standing {
    /// The standing as the wire and the CLI write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allowed => "allowed",
            Self::AfterApproval => "after_approval",
            Self::Conditional => "conditional",
            Self::Denied => "denied",
        }
    }

    /// Whether some request can get through (possibly after approval).
    pub fn reachable(self) -> bool {
        match self {
            Self::Allowed | Self::AfterApproval | Self::Conditional => true,
            Self::Denied => false,
        }
    }
}

/// One identity, one action on one upstream's resource.
#[derive(Debug, Clone, Copy)]
pub struct StandingRequest<'a> {
    pub kind: PrincipalKind,
    pub name: &'a str,
    pub owner: &'a str,
    /// The identity's environment, as `context.environment`.
    pub environment: Option<&'a str>,
    pub upstream: &'a str,
    pub action: &'a str,
    pub resource_type: &'a str,
    /// A representative resource id (a route's template id, `UPSTREAM/TOOL` for a tool).
    pub resource_id: &'a str,
}

/// The standing and the policies behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StandingVerdict {
    pub standing: Standing,
    /// Why, as the decision codes name it: `permit`, `approval_required`, `conditional`,
    /// `forbid`, `no_permit`, `evaluation_error`, `invalid_request`.
    pub reason: &'static str,
    /// The policies that decide it (sorted): the permits that allow it, the forbids that
    /// refuse it, the request-dependent policies that make it conditional.
    pub policy_ids: Vec<String>,
}

impl StandingVerdict {
    fn new(standing: Standing, reason: &'static str, mut policy_ids: Vec<String>) -> Self {
        policy_ids.sort();
        policy_ids.dedup();
        Self {
            standing,
            reason,
            policy_ids,
        }
    }

    fn denied(reason: DecisionReason, policy_ids: Vec<String>) -> Self {
        Self::new(Standing::Denied, reason.as_str(), policy_ids)
    }
}

/// The policies indexed for standing: the settled ones as they are, and the scopes of
/// the request-dependent ones, permits and forbids apart.
#[derive(Debug, Default)]
pub(crate) struct StandingIndex {
    settled: Index,
    dependent_permits: Index,
    dependent_forbids: Index,
}

impl StandingIndex {
    /// Files every policy of `all`; an error names the policy that could not be filed.
    pub(crate) fn build(
        all: &PolicySet,
        loaded: &BTreeMap<String, Loaded>,
    ) -> Result<Self, (String, String)> {
        let mut index = Self::default();
        for policy in all.policies() {
            let id = policy.id().to_string();
            let dependent = loaded
                .get(&id)
                .is_some_and(|loaded| loaded.request_dependent);
            let filed = if !dependent {
                file(&mut index.settled, policy)
            } else {
                let target = match policy.effect() {
                    CedarEffect::Permit => &mut index.dependent_permits,
                    CedarEffect::Forbid => &mut index.dependent_forbids,
                };
                scope_only(policy).and_then(|scope| file(target, &scope))
            };
            filed.map_err(|message| (id, message))?;
        }
        Ok(index)
    }
}

/// The standings of one identity, asked action after action (the access graph asks tens
/// of thousands). The actions any policy that could match the identity names are gathered
/// once, so an action none names is denied with one lookup, where
/// [`PolicyEngine::standing`] looks the identity up in every index first.
pub struct IdentityStanding<'e> {
    engine: &'e PolicyEngine,
    kind: PrincipalKind,
    name: String,
    owner: String,
    /// Some policy that can match the identity applies to every action.
    any_action: bool,
    named: FxHashSet<&'e str>,
}

impl<'e> IdentityStanding<'e> {
    /// Gathers what the engine's policies name for this identity.
    pub fn new(engine: &'e PolicyEngine, kind: PrincipalKind, name: &str, owner: &str) -> Self {
        let ix = &engine.standing;
        let buckets = [
            ix.settled.principal_buckets(kind, name, owner),
            ix.dependent_permits.principal_buckets(kind, name, owner),
            ix.dependent_forbids.principal_buckets(kind, name, owner),
        ];
        Self {
            engine,
            kind,
            name: name.to_owned(),
            owner: owner.to_owned(),
            any_action: buckets.iter().any(PrincipalBuckets::any_action),
            named: buckets.iter().flat_map(PrincipalBuckets::actions).collect(),
        }
    }

    /// The same verdict as [`PolicyEngine::standing`] gives `req`.
    pub fn standing(&self, req: &StandingRequest<'_>) -> StandingVerdict {
        let same_identity =
            req.kind == self.kind && req.name == self.name && req.owner == self.owner;
        if same_identity && !self.any_action && !self.named.contains(req.action) {
            return StandingVerdict::denied(DecisionReason::NoPermit, Vec::new());
        }
        self.engine.standing(req)
    }
}

impl PolicyEngine {
    /// What `req`'s identity may do with its action, whatever the request carries.
    pub fn standing(&self, req: &StandingRequest<'_>) -> StandingVerdict {
        let ix = &self.standing;
        let settled = ix
            .settled
            .candidates(req.kind, req.name, req.owner, req.action);
        let permit_scopes = ix
            .dependent_permits
            .candidates(req.kind, req.name, req.owner, req.action);
        let forbid_scopes = ix
            .dependent_forbids
            .candidates(req.kind, req.name, req.owner, req.action);
        if settled.is_empty() && permit_scopes.is_empty() && forbid_scopes.is_empty() {
            return StandingVerdict::denied(DecisionReason::NoPermit, Vec::new());
        }
        let Ok(resource_type) = self.resource_type_for(req.action, req.resource_type) else {
            return StandingVerdict::denied(DecisionReason::InvalidRequest, Vec::new());
        };
        let empty = serde_json::Map::new();
        let baseline = DecisionRequest {
            kind: req.kind,
            name: req.name,
            owner: req.owner,
            on_behalf_of: None,
            upstream: req.upstream,
            action: req.action,
            resource_type: req.resource_type,
            resource_id: req.resource_id,
            context: RequestContext {
                reason: None,
                task: None,
                environment: req.environment,
                arguments: takes_arguments(req.action).then_some(&empty),
                scopes: &[],
            },
            approved: false,
        };
        let Ok((request, entities)) = self.build(&baseline, resource_type) else {
            return StandingVerdict::denied(DecisionReason::InvalidRequest, Vec::new());
        };
        let approval = |id: &String| self.policies.get(id).is_some_and(|loaded| loaded.approval);
        let Outcome {
            forbids,
            permits,
            errored,
            errors: _,
        } = self.evaluate(&request, &entities, &settled);
        if !errored.is_empty() {
            return StandingVerdict::denied(DecisionReason::EvaluationError, errored);
        }
        if !forbids.is_empty() {
            return StandingVerdict::denied(DecisionReason::Forbid, forbids);
        }
        // Scope-only copies: a satisfied one means its policy could apply to some request.
        let soft_forbids = self.evaluate(&request, &entities, &forbid_scopes).forbids;
        let soft_permits = self.evaluate(&request, &entities, &permit_scopes).permits;
        let (held, plain): (Vec<String>, Vec<String>) =
            permits.into_iter().partition(|id| approval(id));
        if !plain.is_empty() {
            if soft_forbids.is_empty() {
                return StandingVerdict::new(Standing::Allowed, "permit", plain);
            }
            let mut ids = plain;
            ids.extend(soft_forbids);
            return StandingVerdict::new(Standing::Conditional, "conditional", ids);
        }
        if !held.is_empty() {
            return StandingVerdict::new(Standing::AfterApproval, "approval_required", held);
        }
        if !soft_permits.is_empty() {
            return StandingVerdict::new(Standing::Conditional, "conditional", soft_permits);
        }
        StandingVerdict::denied(DecisionReason::NoPermit, Vec::new())
    }
}

/// Whether a policy's conditions read the request (`context`, or the resource beyond its
/// scope). Read from Cedar's JSON form, where every variable is `{"Var": NAME}`; a policy
/// that cannot be written as JSON is treated as request-dependent, which only ever makes
/// its actions conditional rather than settled.
pub(crate) fn reads_request(policy: &Policy) -> bool {
    if !policy.has_non_scope_constraint() {
        return false;
    }
    let Ok(json) = policy.to_json() else {
        return true;
    };
    json.get("conditions").is_none_or(reads_var)
}

fn reads_var(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::Object(map) => map.iter().any(|(key, inner)| {
            (key == "Var" && matches!(inner.as_str(), Some("context" | "resource")))
                || reads_var(inner)
        }),
        serde_json::Value::Array(items) => items.iter().any(reads_var),
        _ => false,
    }
}

/// The policy with its conditions dropped, under the same id and effect.
pub(crate) fn scope_only(policy: &Policy) -> Result<Policy, String> {
    let mut json = policy.to_json().map_err(|e| e.to_string())?;
    if let Some(map) = json.as_object_mut() {
        map.insert(
            "conditions".to_owned(),
            serde_json::Value::Array(Vec::new()),
        );
    }
    Policy::from_json(Some(policy.id().clone()), json).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy_set::PolicyDocument;
    use crate::routes::RouteMap;
    use crate::schema::{SchemaInput, UpstreamKind, UpstreamSchemaInput};

    const ROUTES: &str = r#"
[[route]]
method = "GET"
path = "/tickets/{id}"
action = "tickets.read"
resource = "Ticket::{id}"

[[route]]
method = "POST"
path = "/tickets/{id}/close"
action = "tickets.close"
resource = "Ticket::{id}"

[[route]]
method = "POST"
path = "/refunds"
action = "refunds.create"
resource = "Refund::new"

[[route]]
method = "DELETE"
path = "/tickets/{id}"
action = "tickets.delete"
resource = "Ticket::{id}"

[[route]]
method = "POST"
path = "/export"
action = "tickets.export"
resource = "Ticket::all"
"#;

    fn engine(policies: &str) -> PolicyEngine {
        let routes = RouteMap::from_toml(ROUTES).unwrap_or_else(|e| panic!("{e}"));
        let input = SchemaInput {
            upstreams: vec![
                UpstreamSchemaInput {
                    name: "crm".into(),
                    kind: UpstreamKind::Http { routes },
                },
                UpstreamSchemaInput {
                    name: "docs".into(),
                    kind: UpstreamKind::Mcp { tools: Vec::new() },
                },
            ],
        };
        PolicyEngine::new(&input, &[PolicyDocument::new("p", policies)])
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn standing_of(engine: &PolicyEngine, action: &str) -> StandingVerdict {
        let (resource_type, resource_id) = match action {
            "call_tool" => ("Tool", "docs/search"),
            "refunds.create" => ("Refund", "new"),
            _ => ("Ticket", "{id}"),
        };
        let upstream = if action == "call_tool" { "docs" } else { "crm" };
        engine.standing(&StandingRequest {
            kind: PrincipalKind::Agent,
            name: "support-bot",
            owner: "alice@example.com",
            environment: Some("prod"),
            upstream,
            action,
            resource_type,
            resource_id,
        })
    }

    #[test]
    fn an_identitys_standings_match_the_engines_for_every_action() {
        let engine = engine(POLICIES);
        let actions = [
            "tickets.read",
            "tickets.close",
            "refunds.create",
            "tickets.delete",
            "tickets.export",
            "call_tool",
        ];
        for (name, owner) in [
            ("support-bot", "alice@example.com"),
            ("other-bot", "alice@example.com"),
            ("other-bot", "bob@example.com"),
        ] {
            let prepared = IdentityStanding::new(&engine, PrincipalKind::Agent, name, owner);
            for action in actions {
                let (resource_type, resource_id) = match action {
                    "call_tool" => ("Tool", "docs/search"),
                    "refunds.create" => ("Refund", "new"),
                    _ => ("Ticket", "{id}"),
                };
                let req = StandingRequest {
                    kind: PrincipalKind::Agent,
                    name,
                    owner,
                    environment: Some("prod"),
                    upstream: if action == "call_tool" { "docs" } else { "crm" },
                    action,
                    resource_type,
                    resource_id,
                };
                assert_eq!(
                    prepared.standing(&req),
                    engine.standing(&req),
                    "{name} {action}"
                );
            }
        }
        // The shortcut is taken: an identity no policy names has nothing gathered.
        let stranger = IdentityStanding::new(&engine, PrincipalKind::Agent, "x", "x@example.com");
        assert!(!stranger.any_action);
        assert_eq!(
            stranger.named.len(),
            1,
            "only the forbid on every principal"
        );
    }

    const POLICIES: &str = r#"
permit(principal == Agent::"support-bot", action == Action::"tickets.read", resource in Upstream::"crm");
@approval("refunds")
permit(principal == Agent::"support-bot", action == Action::"refunds.create", resource in Upstream::"crm");
permit(principal == Agent::"support-bot", action == Action::"tickets.close", resource in Upstream::"crm")
    when { context has reason };
permit(principal in Owner::"alice@example.com", action == Action::"tickets.export", resource);
forbid(principal, action == Action::"tickets.export", resource) unless { context.scopes.contains("export") };
permit(principal == Agent::"support-bot", action == Action::"call_tool", resource == Tool::"docs/search")
    when { context has environment && context.environment == "prod" };
"#;

    #[test]
    fn each_standing_is_decided_with_the_policies_behind_it() {
        let engine = engine(POLICIES);
        let table: Vec<(&str, Standing, &str, Vec<String>)> = [
            "tickets.read",
            "refunds.create",
            "tickets.close",
            "tickets.export",
            "tickets.delete",
            "call_tool",
        ]
        .into_iter()
        .map(|action| {
            let verdict = standing_of(&engine, action);
            (action, verdict.standing, verdict.reason, verdict.policy_ids)
        })
        .collect();
        assert_eq!(
            table,
            vec![
                (
                    "tickets.read",
                    Standing::Allowed,
                    "permit",
                    vec!["p#1".into()]
                ),
                (
                    "refunds.create",
                    Standing::AfterApproval,
                    "approval_required",
                    vec!["p#2".into()]
                ),
                (
                    "tickets.close",
                    Standing::Conditional,
                    "conditional",
                    vec!["p#3".into()]
                ),
                (
                    "tickets.export",
                    Standing::Conditional,
                    "conditional",
                    vec!["p#4".into(), "p#5".into()]
                ),
                ("tickets.delete", Standing::Denied, "no_permit", vec![]),
                // The environment is the identity's own, so a permit that reads only it
                // is still request-dependent: it reads `context`.
                (
                    "call_tool",
                    Standing::Conditional,
                    "conditional",
                    vec!["p#6".into()]
                ),
            ]
        );
    }

    #[test]
    fn a_forbid_that_reads_nothing_of_the_request_denies_outright() {
        let engine = engine(
            r#"
permit(principal, action, resource in Upstream::"crm");
forbid(principal == Agent::"support-bot", action == Action::"tickets.delete", resource);
"#,
        );
        let verdict = standing_of(&engine, "tickets.delete");
        assert_eq!(verdict.standing, Standing::Denied);
        assert_eq!(verdict.reason, "forbid");
        assert_eq!(verdict.policy_ids, vec!["p#2".to_string()]);
        assert_eq!(
            standing_of(&engine, "tickets.read").standing,
            Standing::Allowed
        );
    }

    #[test]
    fn policies_of_other_identities_leave_the_action_denied() {
        let engine = engine(
            r#"permit(principal == Agent::"other-bot", action == Action::"tickets.read", resource);"#,
        );
        let verdict = standing_of(&engine, "tickets.read");
        assert_eq!(verdict.standing, Standing::Denied);
        assert_eq!(verdict.reason, "no_permit");
        assert!(!verdict.standing.reachable());
    }

    #[test]
    fn the_standing_agrees_with_a_decision_for_settled_policies() {
        let engine = engine(POLICIES);
        let decide = |action: &str, resource_type: &str, resource_id: &str| {
            engine.decide(&DecisionRequest {
                kind: PrincipalKind::Agent,
                name: "support-bot",
                owner: "alice@example.com",
                on_behalf_of: None,
                upstream: "crm",
                action,
                resource_type,
                resource_id,
                context: RequestContext::default(),
                approved: false,
            })
        };
        assert_eq!(
            decide("tickets.read", "Ticket", "42").effect,
            crate::Effect::Allow
        );
        assert_eq!(
            decide("refunds.create", "Refund", "new").effect,
            crate::Effect::Hold
        );
        assert_eq!(
            decide("tickets.delete", "Ticket", "42").effect,
            crate::Effect::Deny
        );
    }
}
