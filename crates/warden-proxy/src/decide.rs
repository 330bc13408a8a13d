//! The decision for one request, without I/O: task bounds first, then Cedar on the
//! indexed slice of the policy set, for every action the request asks for (one route, or
//! every `tools/call` in an MCP batch). Kept synchronous and separate from the listener so
//! that it can be benchmarked on its own.

use serde_json::{Map, Value};
use warden_crypto::AccessClaims;
use warden_gateway::{Refusal, RefusalCode};
use warden_policy::mcp::{CALL_TOOL, TOOL_TYPE};
use warden_policy::{
    DecisionReason, DecisionRequest, Effect, PolicyEngine, PrincipalKind, RequestContext, RouteMap,
    TaskBounds, TaskContext, TaskStep, TaskWindow, resource_uid_text, within_task,
};

/// One thing the request asks to do: an action on a resource, with a tool call's arguments.
#[derive(Debug, Clone)]
pub struct Ask {
    pub action: String,
    pub resource_type: String,
    pub resource_id: String,
    pub arguments: Option<Map<String, Value>>,
    /// The labels of what the ask touches: its upstream's, and its route's or tool's,
    /// sorted and without duplicates.
    pub labels: Vec<String>,
}

impl Ask {
    /// What an HTTP request asks of an upstream: the route its method and path match, or
    /// `None` when no route does (the gateway refuses such a request as `unknown_route`).
    /// Methods are compared exactly, so `get` is not `GET`.
    pub fn route(routes: &RouteMap, method: &str, path: &str) -> Option<Self> {
        let matched = routes.match_request(method, path)?;
        Some(Self {
            action: matched.action.to_string(),
            resource_type: matched.resource_type.to_string(),
            resource_id: matched.resource_id,
            arguments: None,
            labels: matched.route.labels.clone(),
        })
    }

    /// What a `tools/call` of `tool` on the MCP upstream `upstream` asks: `call_tool` on
    /// `Tool::"UPSTREAM/TOOL"`, with its arguments for policies to read. The labels are the
    /// pipeline's to add, as it knows the upstream's.
    pub fn tool_call(upstream: &str, tool: &str, arguments: Option<&Map<String, Value>>) -> Self {
        Self {
            action: CALL_TOOL.to_owned(),
            resource_type: TOOL_TYPE.to_owned(),
            resource_id: format!("{upstream}/{tool}"),
            arguments: arguments.cloned(),
            labels: Vec::new(),
        }
    }

    /// What this ask adds to its task's window once allowed.
    pub fn task_step(&self) -> TaskStep {
        TaskStep {
            action: self.action.clone(),
            tool: (self.action == CALL_TOOL).then(|| self.resource_id.clone()),
            labels: self.labels.clone(),
        }
    }

    /// The resource as Cedar writes it, e.g. `Ticket::"42"`.
    pub fn resource_text(&self) -> String {
        resource_uid_text(&self.resource_type, &self.resource_id)
            .unwrap_or_else(|| format!("{}::{:?}", self.resource_type, self.resource_id))
    }
}

/// The identity behind a verified token, as policies see it: its kind and name are the
/// principal (`Agent::"NAME"`, `ServiceAccount::"NAME"`, …), so a name shared across kinds
/// never shares permits.
#[derive(Debug, Clone)]
pub struct Caller {
    pub agent_id: String,
    pub kind: PrincipalKind,
    pub agent_name: String,
    pub owner_email: String,
    pub environment: Option<String>,
    /// The user the agent acts for (the token's subject when it is not the agent).
    pub on_behalf_of: Option<String>,
    /// The scopes the token was granted, as `context.scopes`.
    pub scopes: Vec<String>,
}

/// What was decided for the whole request.
#[derive(Debug, Clone)]
pub struct Verdict {
    pub effect: Effect,
    /// The rule that decided, as the refusal and the audit trail name it.
    pub rule: &'static str,
    pub policy_ids: Vec<String>,
    /// The task whose bounds the request fell within, when the token carries tasks.
    pub task_id: Option<String>,
    /// The refusal to answer with, for a deny or a hold.
    pub refusal: Option<Refusal>,
}

impl Verdict {
    fn refused(refusal: Refusal, rule: &'static str, task_id: Option<String>) -> Self {
        Self {
            effect: Effect::Deny,
            rule,
            policy_ids: refusal.policy_ids.clone(),
            task_id,
            refusal: Some(refusal),
        }
    }
}

/// The task bounds a token carries; empty when it names no task.
pub fn task_bounds(claims: &AccessClaims) -> Vec<TaskBounds> {
    claims
        .tasks()
        .map(|task| TaskBounds {
            task_id: task.task_id.clone(),
            actions: task.actions.clone(),
            resources: task.resources.clone(),
        })
        .collect()
}

/// What an agent already did in its task, for policies: the node's window and the time.
#[derive(Debug, Clone, Copy)]
pub struct History<'a> {
    pub window: &'a TaskWindow,
    pub now_ms: i64,
}

/// Decides `asks` for `caller` on `upstream`. `approved` says a human approved this exact
/// request, which turns a hold into an allow (and nothing else). Inside a task, policies
/// see what the agent was already allowed in it (`context.task`) from `history`.
#[allow(clippy::too_many_arguments)]
pub fn decide(
    engine: &PolicyEngine,
    upstream: &str,
    caller: &Caller,
    tasks: &[TaskBounds],
    asks: &[Ask],
    reason: Option<&str>,
    approved: bool,
    history: History<'_>,
) -> Verdict {
    let mut task_id = None;
    if !tasks.is_empty() {
        for ask in asks {
            let resource = ask.resource_text();
            let Some(task) = tasks
                .iter()
                .find(|task| within_task(task, &ask.action, &resource))
            else {
                let refusal = Refusal::new(
                    RefusalCode::OutOfTaskScope,
                    format!(
                        "the token's task does not cover {} on {resource}",
                        ask.action
                    ),
                )
                .with_rule("task_bounds");
                return Verdict::refused(refusal, "task_bounds", None);
            };
            task_id.get_or_insert_with(|| task.task_id.clone());
        }
    }

    let seen = task_id
        .as_deref()
        .map(|task| history.window.seen(&caller.agent_id, task, history.now_ms));
    let task = task_id
        .as_deref()
        .zip(seen.as_deref())
        .map(|(id, seen)| TaskContext { id, seen });
    let mut held = false;
    let mut policy_ids: Vec<String> = Vec::new();
    let mut reason_seen = DecisionReason::Permit;
    for ask in asks {
        let request = DecisionRequest {
            kind: caller.kind,
            name: &caller.agent_name,
            owner: &caller.owner_email,
            on_behalf_of: caller.on_behalf_of.as_deref(),
            upstream,
            action: &ask.action,
            resource_type: &ask.resource_type,
            resource_id: &ask.resource_id,
            context: RequestContext {
                reason,
                task,
                environment: caller.environment.as_deref(),
                arguments: ask.arguments.as_ref(),
                scopes: &caller.scopes,
            },
            approved,
        };
        let decision = engine.decide(&request);
        match decision.effect {
            Effect::Deny => {
                if !decision.errors.is_empty() {
                    tracing::warn!(errors = ?decision.errors, action = %ask.action, "a policy decision failed; denying");
                }
                if decision.reason == DecisionReason::NoPermit {
                    let missing = engine.missing_scopes(&request);
                    if !missing.is_empty() {
                        let refusal = Refusal {
                            required_scopes: Some(Box::new(missing.clone())),
                            ..Refusal::new(
                                RefusalCode::InsufficientScope,
                                format!(
                                    "the token lacks the scope {} that a policy needs for {} on {}; ask for a token with scope=\"{}\"",
                                    missing.join(" "),
                                    ask.action,
                                    ask.resource_text(),
                                    missing.join(" ")
                                ),
                            )
                            .with_rule("insufficient_scope")
                        };
                        return Verdict::refused(refusal, "insufficient_scope", task_id);
                    }
                }
                let mut refusal = Refusal::from_decision(&decision).unwrap_or_else(|| {
                    Refusal::new(RefusalCode::Forbidden, "the request is refused")
                });
                // Say what was refused: an agent reading the error learns which of its
                // asks (a tool, a resource, a prompt) the policy turned down.
                refusal.message = format!(
                    "{}: {} on {}",
                    refusal.message,
                    ask.action,
                    ask.resource_text()
                );
                return Verdict::refused(refusal, decision.reason.as_str(), task_id);
            }
            Effect::Hold => held = true,
            Effect::Allow => {}
        }
        if decision.reason != DecisionReason::Permit {
            reason_seen = decision.reason;
        }
        policy_ids.extend(decision.policy_ids);
    }
    policy_ids.sort();
    policy_ids.dedup();
    if held {
        let refusal = Refusal {
            policy_ids: policy_ids.clone(),
            ..Refusal::new(
                RefusalCode::ApprovalRequired,
                "this request needs a human's approval",
            )
            .with_rule("approval_required")
        };
        return Verdict {
            effect: Effect::Hold,
            rule: "approval_required",
            policy_ids,
            task_id,
            refusal: Some(refusal),
        };
    }
    Verdict {
        effect: Effect::Allow,
        rule: if asks.is_empty() {
            "mcp_passthrough"
        } else {
            reason_seen.as_str()
        },
        policy_ids,
        task_id,
        refusal: None,
    }
}

/// Whether `caller` may see an entry of a list (a tool, a resource, a prompt): when using
/// it with no arguments would not be denied, or when only its arguments could decide (a
/// policy that reads an argument the empty request lacks fails to evaluate). The use
/// itself is still decided on its own.
pub fn may_list(
    engine: &PolicyEngine,
    upstream: &str,
    caller: &Caller,
    action: &str,
    resource_type: &str,
    resource_id: &str,
) -> bool {
    let empty = Map::new();
    let decision = engine.decide(&DecisionRequest {
        kind: caller.kind,
        name: &caller.agent_name,
        owner: &caller.owner_email,
        on_behalf_of: caller.on_behalf_of.as_deref(),
        upstream,
        action,
        resource_type,
        resource_id,
        context: RequestContext {
            reason: None,
            task: None,
            environment: caller.environment.as_deref(),
            arguments: Some(&empty),
            scopes: &caller.scopes,
        },
        approved: false,
    });
    decision.effect != Effect::Deny || decision.reason == DecisionReason::EvaluationError
}
