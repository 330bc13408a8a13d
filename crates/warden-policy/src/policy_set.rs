//! The policy engine: policies parsed, validated in strict mode, compiled once and indexed,
//! and the decision for one request.
//!
//! **Documents and ids.** Policies arrive as documents `(id, text)`, as `warden policy add`
//! stores them. A document with one statement gives a Cedar policy of the same id; a
//! document with several gives `ID#1`, `ID#2`, … in source order. Document ids use a narrow
//! alphabet without `#`, so the two forms never collide.
//!
//! **Index.** Cedar's cost is linear in the policies it is given, so the engine never gives
//! it all of them. Every policy is filed under a principal key (one identity, by kind and
//! name: `Agent::"NAME"`, `ServiceAccount::"NAME"`, …; `Owner::"EMAIL"`; or *any*) and an
//! action key (one action id, or *any*), read from its scope. A request can only be
//! matched by policies filed under its own identity (kind and name), its owner or
//! *any*, and under its action or *any*: at most six buckets, each a pre-built
//! [`PolicySet`]. Scope shapes the index does not understand precisely go to *any*, which
//! costs time but never correctness. The buckets are evaluated separately and combined the
//! way Cedar combines policies (any satisfied `forbid` denies; otherwise any satisfied
//! `permit` allows; otherwise deny), which gives the same answer as one evaluation over the
//! union because a policy's satisfaction does not depend on which other policies are present.
//!
//! **Approval.** A `permit` annotated `@approval` allows only a request that a human has
//! approved (`approved: true`, which the caller sets after matching a stored approval to
//! this exact request); otherwise the decision is [`Effect::Hold`]. A satisfied `permit`
//! without the annotation allows outright, and a satisfied `forbid` always wins.
//!
//! **Failing closed.** A request that does not fit the schema, or any policy that errors
//! during evaluation, denies the request and says so in the decision.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::str::FromStr;

use cedar_policy::{
    ActionConstraint, Authorizer, Context, Decision as CedarDecision, Effect as CedarEffect,
    Entities, Entity, EntityId, EntityTypeName, EntityUid, Policy, PolicyId, PolicySet,
    PrincipalConstraint, Request, RestrictedExpression, ValidationResult,
};
use miette::Diagnostic;
use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::mcp::{RESOURCE_TYPE, takes_arguments, uri_parts};
use crate::principal::PrincipalKind;
use crate::schema::{GeneratedSchema, SchemaError, SchemaInput};

/// The annotation that turns a `permit` into "permit once approved".
pub const APPROVAL_ANNOTATION: &str = "approval";

/// One stored policy document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyDocument {
    /// The document's id, e.g. `support-read`.
    pub id: String,
    /// Cedar policy text: one or more statements.
    pub text: String,
}

impl PolicyDocument {
    /// A document from an id and its text.
    pub fn new(id: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            text: text.into(),
        }
    }
}

/// One problem found in one policy document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyProblem {
    /// The document at fault.
    pub policy: String,
    /// The 1-based line in the document, where Cedar reports one.
    pub line: Option<usize>,
    /// What is wrong (Cedar's message, with its help where it gives one).
    pub message: String,
}

impl fmt::Display for PolicyProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "policy {} line {line}: {}", self.policy, self.message),
            None => write!(f, "policy {}: {}", self.policy, self.message),
        }
    }
}

/// Policies could not be loaded; nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// The schema could not be generated.
    #[error(transparent)]
    Schema(#[from] SchemaError),
    /// A document id is not usable.
    #[error(
        "policy id {0:?} must be 1 to 128 letters, digits, '.', '_' or '-', starting with a letter or digit"
    )]
    InvalidId(String),
    /// Two documents have the same id.
    #[error("policy id {0:?} is used twice")]
    DuplicateId(String),
    /// Documents do not parse or do not validate; every problem is listed.
    #[error("{}", join_problems(.0))]
    Invalid(Vec<PolicyProblem>),
}

fn join_problems(problems: &[PolicyProblem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// A document's statements in source order, each with its byte offset in the text. Cedar
/// keeps each statement's own text, a slice of the document, so its position orders the
/// statements (their ids are `ID#N` in this order) and gives their lines.
pub(crate) fn statements_in_source_order<'a>(
    parsed: &'a PolicySet,
    text: &str,
) -> Vec<(usize, &'a Policy)> {
    let mut statements: Vec<(usize, &Policy)> = parsed
        .policies()
        .map(|p| {
            let at = p
                .to_cedar()
                .and_then(|t| text.find(t.as_str()))
                .unwrap_or(usize::MAX);
            (at, p)
        })
        .collect();
    statements.sort_by_key(|(at, _)| *at);
    statements
}

/// Whether `id` is a usable policy document id.
pub fn is_policy_id(id: &str) -> bool {
    let mut chars = id.chars();
    id.len() <= 128
        && matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// What the engine decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    /// Forward the request.
    Allow,
    /// Refuse it.
    Deny,
    /// Wait for a human to approve this exact request.
    Hold,
}

/// Why the engine decided as it did, as a stable machine-readable code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DecisionReason {
    /// A `permit` without `@approval` was satisfied and no `forbid` was.
    Permit,
    /// Only `@approval` permits were satisfied, and the request carries an approval.
    Approved,
    /// Only `@approval` permits were satisfied, and there is no approval yet.
    ApprovalRequired,
    /// A `forbid` was satisfied.
    Forbid,
    /// No policy permits the request (the default).
    NoPermit,
    /// A policy failed to evaluate; the engine fails closed.
    EvaluationError,
    /// The request does not fit the schema (an unknown action or resource type, say).
    InvalidRequest,
}

impl DecisionReason {
    /// The code as it appears on the wire and in the audit trail.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Permit => "permit",
            Self::Approved => "approved",
            Self::ApprovalRequired => "approval_required",
            Self::Forbid => "forbid",
            Self::NoPermit => "no_permit",
            Self::EvaluationError => "evaluation_error",
            Self::InvalidRequest => "invalid_request",
        }
    }
}

/// The decision for one request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// Allow, deny or hold.
    pub effect: Effect,
    /// Why.
    pub reason: DecisionReason,
    /// The policies that determined the decision (sorted): the satisfied permits for an
    /// allow or hold, the satisfied forbids for a forbid, the failing policies for an
    /// evaluation error; empty for the default deny.
    pub policy_ids: Vec<String>,
    /// Evaluation or request errors, for the log (never for the agent).
    pub errors: Vec<String>,
}

impl Decision {
    fn deny(reason: DecisionReason, policy_ids: Vec<String>, errors: Vec<String>) -> Self {
        Self {
            effect: Effect::Deny,
            reason,
            policy_ids,
            errors,
        }
    }
}

/// A task as policies see it: `context.task.id`, and what this agent was already allowed
/// in it within the window: `context.task.actions`, `.labels`, `.tools`.
#[derive(Debug, Clone, Copy)]
pub struct TaskContext<'a> {
    pub id: &'a str,
    pub seen: &'a crate::task_window::TaskSeen,
}

/// The request-specific part of the Cedar context.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestContext<'a> {
    /// The reason the agent gave (`Warden-Reason`), as `context.reason`.
    pub reason: Option<&'a str>,
    /// The task of a task token and what it has done, as `context.task`.
    pub task: Option<TaskContext<'a>>,
    /// The agent's environment (`prod`, `staging`, `dev`), as `context.environment`.
    pub environment: Option<&'a str>,
    /// A tool call's arguments, as tags of `context.arguments`; only for `call_tool`.
    pub arguments: Option<&'a serde_json::Map<String, serde_json::Value>>,
    /// The scopes the token was granted, as `context.scopes` (always present, maybe empty).
    pub scopes: &'a [String],
}

/// Everything the engine needs to decide one request.
#[derive(Debug, Clone, Copy)]
pub struct DecisionRequest<'a> {
    /// The principal's kind, which is its Cedar type: `Agent`, `ServiceAccount`, ….
    pub kind: PrincipalKind,
    /// The principal's name: principal `Agent::"NAME"` for an agent.
    pub name: &'a str,
    /// The principal's owner: the principal's parent `Owner::"EMAIL"`.
    pub owner: &'a str,
    /// The user the agent acts for, as `context.on_behalf_of` (`User::"SUB"`).
    pub on_behalf_of: Option<&'a str>,
    /// The upstream: the resource's parent `Upstream::"NAME"`.
    pub upstream: &'a str,
    /// The action id, e.g. `tickets.read` or `call_tool`.
    pub action: &'a str,
    /// The resource's entity type, e.g. `Ticket` or `Tool`.
    pub resource_type: &'a str,
    /// The resource's id, e.g. `123` or `github/create_issue`.
    pub resource_id: &'a str,
    /// The context attributes.
    pub context: RequestContext<'a>,
    /// Whether a human approved this exact request.
    pub approved: bool,
}

/// A policy as the engine keeps it.
#[derive(Debug, Clone)]
pub(crate) struct Loaded {
    document: String,
    pub(crate) approval: bool,
    /// Its `when`/`unless` conditions read `context` or `resource`, so whether it applies
    /// depends on the request, not only on who asks for which action.
    pub(crate) request_dependent: bool,
    /// The scopes the policy tests `context.scopes` for, so that a refusal can name the
    /// scopes a token would need.
    scopes: Vec<String>,
}

/// Policies filed under one principal key, by action. The index's keys are the names
/// policies give (written by administrators, never by a caller), so a fast hash serves it:
/// the access graph asks it three times for each of tens of thousands of actions.
#[derive(Debug, Default)]
struct ActionIndex {
    any: Option<PolicySet>,
    by_action: FxHashMap<String, PolicySet>,
}

impl ActionIndex {
    fn add(&mut self, action: Option<&str>, policy: &Policy) -> Result<(), String> {
        let set = match action {
            None => self.any.get_or_insert_with(PolicySet::new),
            Some(a) => self.by_action.entry(a.to_owned()).or_default(),
        };
        set.add(policy.clone()).map_err(|e| e.to_string())
    }

    fn sets<'s>(&'s self, action: &str, out: &mut Vec<&'s PolicySet>) {
        out.extend(self.any.iter());
        out.extend(self.by_action.get(action));
    }
}

/// The buckets of one index that a principal can be matched by, whatever the action: the
/// *any* principal key's, its own identity's, its owner's.
pub(crate) struct PrincipalBuckets<'i>([Option<&'i ActionIndex>; 3]);

impl<'i> PrincipalBuckets<'i> {
    /// Whether some policy of these buckets applies to every action.
    pub(crate) fn any_action(&self) -> bool {
        self.0.iter().flatten().any(|ix| ix.any.is_some())
    }

    /// Every action some policy of these buckets names.
    pub(crate) fn actions(&self) -> impl Iterator<Item = &'i str> + '_ {
        self.0
            .iter()
            .flatten()
            .flat_map(|ix| ix.by_action.keys().map(String::as_str))
    }
}

/// The index: principal key, then action key.
#[derive(Debug, Default)]
pub(crate) struct Index {
    any: ActionIndex,
    /// Policies naming one identity, by its kind and then its name.
    principals: FxHashMap<PrincipalKind, FxHashMap<String, ActionIndex>>,
    owners: FxHashMap<String, ActionIndex>,
}

impl Index {
    /// The buckets a request of this principal, owner and action can be matched by: at
    /// most six pre-built sets.
    /// The buckets of the principal of this kind, name and owner, for any action.
    pub(crate) fn principal_buckets(
        &self,
        kind: PrincipalKind,
        name: &str,
        owner: &str,
    ) -> PrincipalBuckets<'_> {
        PrincipalBuckets([
            Some(&self.any),
            self.principals.get(&kind).and_then(|named| named.get(name)),
            self.owners.get(owner),
        ])
    }

    pub(crate) fn candidates(
        &self,
        kind: PrincipalKind,
        name: &str,
        owner: &str,
        action: &str,
    ) -> Vec<&PolicySet> {
        // Empty for most of a large catalog's actions, so nothing is allocated up front.
        let mut sets = Vec::new();
        self.any.sets(action, &mut sets);
        if let Some(ix) = self.principals.get(&kind).and_then(|named| named.get(name)) {
            ix.sets(action, &mut sets);
        }
        if let Some(ix) = self.owners.get(owner) {
            ix.sets(action, &mut sets);
        }
        sets
    }
}

/// What Cedar said of each candidate policy for one request.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    /// Satisfied forbids.
    pub(crate) forbids: Vec<String>,
    /// Satisfied permits.
    pub(crate) permits: Vec<String>,
    /// Policies that failed to evaluate.
    pub(crate) errored: Vec<String>,
    /// Their messages.
    pub(crate) errors: Vec<String>,
}

enum PrincipalKey {
    Any,
    Principal(PrincipalKind, String),
    Owner(String),
}

/// The entity type names the engine uses on every request, parsed once.
#[derive(Debug)]
struct Types {
    /// The entity type of each principal kind.
    principals: HashMap<PrincipalKind, EntityTypeName>,
    owner: EntityTypeName,
    user: EntityTypeName,
    upstream: EntityTypeName,
    action: EntityTypeName,
    tool_arguments: EntityTypeName,
    resources: HashMap<String, EntityTypeName>,
    /// Action id -> the resource types it applies to, from the schema. Checking this here
    /// replaces Cedar's request validation, which costs more than the check it performs
    /// for requests this engine builds itself (the context is typed by construction).
    applies_to: HashMap<String, Vec<String>>,
}

fn type_name(name: &str) -> Result<EntityTypeName, SchemaError> {
    EntityTypeName::from_str(name).map_err(|e| SchemaError::Cedar(e.to_string()))
}

impl Types {
    fn new(schema: &GeneratedSchema) -> Result<Self, SchemaError> {
        let mut resources = HashMap::new();
        for ty in schema.cedar().entity_types() {
            resources.insert(ty.to_string(), ty.clone());
        }
        let mut applies_to = HashMap::new();
        for action in schema.cedar().actions() {
            let types = schema
                .cedar()
                .resources_for_action(action)
                .map(|it| it.map(ToString::to_string).collect())
                .unwrap_or_default();
            applies_to.insert(action.id().unescaped().to_owned(), types);
        }
        Ok(Self {
            applies_to,
            principals: PrincipalKind::ALL
                .into_iter()
                .map(|kind| Ok((kind, type_name(kind.cedar_type())?)))
                .collect::<Result<_, SchemaError>>()?,
            owner: type_name("Owner")?,
            user: type_name("User")?,
            upstream: type_name("Upstream")?,
            action: type_name("Action")?,
            tool_arguments: type_name("ToolArguments")?,
            resources,
        })
    }

    fn uid(ty: &EntityTypeName, id: &str) -> EntityUid {
        EntityUid::from_type_name_and_id(ty.clone(), EntityId::new(id))
    }
}

/// Validated, compiled and indexed policies over a generated schema.
#[derive(Debug)]
pub struct PolicyEngine {
    schema: GeneratedSchema,
    pub(crate) policies: BTreeMap<String, Loaded>,
    pub(crate) index: Index,
    /// The same policies indexed for [`PolicyEngine::standing`].
    pub(crate) standing: crate::standing::StandingIndex,
    types: Types,
    warnings: Vec<PolicyProblem>,
    authorizer: Authorizer,
    /// Every scope any policy tests for, sorted, once at load: a refusal that asks which
    /// scopes would help does not walk the policies.
    tested_scopes: Vec<String>,
}

/// The 1-based line of a byte offset.
fn line_of(src: &str, offset: usize) -> usize {
    src.as_bytes()
        .iter()
        .take(offset)
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// Cedar's message for a diagnostic, with its help, and the line of its first label.
fn describe(diag: &dyn Diagnostic, src: &str) -> (Option<usize>, String) {
    let line = diag
        .labels()
        .and_then(|mut labels| labels.next())
        .map(|label| line_of(src, label.offset()));
    let mut message = diag.to_string();
    if let Some(help) = diag.help() {
        message.push_str(" (");
        message.push_str(&help.to_string());
        message.push(')');
    }
    (line, message)
}

impl PolicyEngine {
    /// Generates the schema from `input` and loads `documents` against it.
    pub fn new(input: &SchemaInput, documents: &[PolicyDocument]) -> Result<Self, PolicyError> {
        Self::with_schema(GeneratedSchema::generate(input)?, documents)
    }

    /// Loads `documents` against an already generated schema: parses every document,
    /// validates the whole set in strict mode, and builds the index. Every problem in
    /// every document is reported at once.
    pub fn with_schema(
        schema: GeneratedSchema,
        documents: &[PolicyDocument],
    ) -> Result<Self, PolicyError> {
        let mut problems = Vec::new();
        let mut all = PolicySet::new();
        let mut policies = BTreeMap::new();
        // Cedar policy id -> (document id, document text), to put lines on validator errors.
        let mut sources: HashMap<String, (&str, &str)> = HashMap::new();
        let mut seen = std::collections::HashSet::new();
        for doc in documents {
            if !is_policy_id(&doc.id) {
                return Err(PolicyError::InvalidId(doc.id.clone()));
            }
            if !seen.insert(doc.id.as_str()) {
                return Err(PolicyError::DuplicateId(doc.id.clone()));
            }
            let parsed = match PolicySet::from_str(&doc.text) {
                Ok(set) => set,
                Err(e) => {
                    let (line, message) = describe(&e, &doc.text);
                    problems.push(PolicyProblem {
                        policy: doc.id.clone(),
                        line,
                        message,
                    });
                    continue;
                }
            };
            if parsed.num_of_templates() > 0 {
                problems.push(PolicyProblem {
                    policy: doc.id.clone(),
                    line: None,
                    message: "templates (policies with ?principal or ?resource slots) are not supported; name the entities".into(),
                });
                continue;
            }
            let statements = statements_in_source_order(&parsed, &doc.text);
            if statements.is_empty() {
                problems.push(PolicyProblem {
                    policy: doc.id.clone(),
                    line: None,
                    message: "contains no policy".into(),
                });
                continue;
            }
            let many = statements.len() > 1;
            for (n, (at, policy)) in statements.into_iter().enumerate() {
                let id = if many {
                    format!("{}#{}", doc.id, n + 1)
                } else {
                    doc.id.clone()
                };
                let approval = policy.annotation(APPROVAL_ANNOTATION).is_some();
                if approval && policy.effect() == CedarEffect::Forbid {
                    problems.push(PolicyProblem {
                        policy: doc.id.clone(),
                        line: (at != usize::MAX).then(|| line_of(&doc.text, at)),
                        message: "@approval applies only to permit; a forbid always refuses".into(),
                    });
                    continue;
                }
                let renamed = policy.new_id(PolicyId::new(&id));
                if let Err(e) = all.add(renamed) {
                    problems.push(PolicyProblem {
                        policy: doc.id.clone(),
                        line: None,
                        message: e.to_string(),
                    });
                    continue;
                }
                let scopes = crate::scopes::tested_scopes(policy);
                let request_dependent = crate::standing::reads_request(policy);
                sources.insert(id.clone(), (doc.id.as_str(), doc.text.as_str()));
                policies.insert(
                    id,
                    Loaded {
                        document: doc.id.clone(),
                        approval,
                        request_dependent,
                        scopes,
                    },
                );
            }
        }
        if !problems.is_empty() {
            return Err(PolicyError::Invalid(problems));
        }

        let results = crate::validation::validate(&schema, &all)?;
        let locate = |id: &PolicyId, diag: &dyn Diagnostic| {
            let (doc, text) = sources
                .get(AsRef::<str>::as_ref(id))
                .copied()
                .unwrap_or((AsRef::<str>::as_ref(id), ""));
            let (line, message) = describe(diag, text);
            PolicyProblem {
                policy: doc.to_owned(),
                line,
                message,
            }
        };
        let mut problems: Vec<PolicyProblem> = results
            .iter()
            .flat_map(ValidationResult::validation_errors)
            .map(|e| locate(e.policy_id(), e))
            .collect();
        if !problems.is_empty() {
            problems.sort_by(|a, b| (&a.policy, a.line).cmp(&(&b.policy, b.line)));
            return Err(PolicyError::Invalid(problems));
        }
        let mut warnings: Vec<PolicyProblem> = results
            .iter()
            .flat_map(ValidationResult::validation_warnings)
            .map(|w| locate(w.policy_id(), w))
            .collect();
        for policy in all.policies() {
            for uid in policy.entity_literals() {
                if let Some(message) = unknown_entity(&schema, &uid) {
                    let doc = policies
                        .get(AsRef::<str>::as_ref(policy.id()))
                        .map_or_else(|| policy.id().to_string(), |l| l.document.clone());
                    warnings.push(PolicyProblem {
                        policy: doc,
                        line: None,
                        message,
                    });
                }
            }
        }

        let mut index = Index::default();
        for policy in all.policies() {
            file(&mut index, policy).map_err(|message| {
                PolicyError::Invalid(vec![PolicyProblem {
                    policy: policy.id().to_string(),
                    line: None,
                    message,
                }])
            })?;
        }
        let standing = crate::standing::StandingIndex::build(&all, &policies).map_err(
            |(policy, message)| {
                PolicyError::Invalid(vec![PolicyProblem {
                    policy,
                    line: None,
                    message,
                }])
            },
        )?;
        let types = Types::new(&schema)?;
        let mut tested_scopes: Vec<String> = policies
            .values()
            .flat_map(|loaded| loaded.scopes.iter().cloned())
            .collect();
        tested_scopes.sort();
        tested_scopes.dedup();
        Ok(Self {
            schema,
            policies,
            index,
            standing,
            types,
            warnings,
            authorizer: Authorizer::new(),
            tested_scopes,
        })
    }

    /// The schema the policies were validated against.
    pub fn schema(&self) -> &GeneratedSchema {
        &self.schema
    }

    /// The number of Cedar policies loaded (statements, not documents).
    pub fn len(&self) -> usize {
        self.policies.len()
    }

    /// Whether no policy is loaded (every request is then denied).
    pub fn is_empty(&self) -> bool {
        self.policies.is_empty()
    }

    /// The ids of the loaded Cedar policies, sorted.
    pub fn policy_ids(&self) -> impl Iterator<Item = &str> {
        self.policies.keys().map(String::as_str)
    }

    /// Validator warnings and references to upstreams or tools Warden does not know.
    /// Warnings do not stop policies from loading.
    pub fn warnings(&self) -> &[PolicyProblem] {
        &self.warnings
    }

    /// Decides one request. Never fails: anything unexpected denies.
    pub fn decide(&self, req: &DecisionRequest<'_>) -> Decision {
        let request_error =
            |message: String| Decision::deny(DecisionReason::InvalidRequest, vec![], vec![message]);
        let resource_type = match self.resource_type_for(req.action, req.resource_type) {
            Ok(resource_type) => resource_type,
            Err(message) => return request_error(message),
        };
        let (request, entities) = match self.build(req, resource_type) {
            Ok(built) => built,
            Err(message) => return request_error(message),
        };

        let sets = self
            .index
            .candidates(req.kind, req.name, req.owner, req.action);
        let Outcome {
            mut forbids,
            mut permits,
            mut errored,
            errors,
        } = self.evaluate(&request, &entities, &sets);
        if !errors.is_empty() {
            errored.sort();
            errored.dedup();
            return Decision::deny(DecisionReason::EvaluationError, errored, errors);
        }
        if !forbids.is_empty() {
            forbids.sort();
            forbids.dedup();
            return Decision::deny(DecisionReason::Forbid, forbids, vec![]);
        }
        permits.sort();
        permits.dedup();
        let (held, plain): (Vec<String>, Vec<String>) = permits
            .into_iter()
            .partition(|id| self.policies.get(id).is_some_and(|p| p.approval));
        let (effect, reason, policy_ids) = if !plain.is_empty() {
            (Effect::Allow, DecisionReason::Permit, plain)
        } else if held.is_empty() {
            (Effect::Deny, DecisionReason::NoPermit, held)
        } else if req.approved {
            (Effect::Allow, DecisionReason::Approved, held)
        } else {
            (Effect::Hold, DecisionReason::ApprovalRequired, held)
        };
        Decision {
            effect,
            reason,
            policy_ids,
            errors: vec![],
        }
    }

    /// The Cedar type of a request's resource, when the schema has it and the action
    /// applies to it; otherwise why the request does not fit the schema.
    pub(crate) fn resource_type_for(
        &self,
        action: &str,
        resource_type: &str,
    ) -> Result<&EntityTypeName, String> {
        let Some(ty) = self.types.resources.get(resource_type) else {
            return Err(format!(
                "resource type {resource_type:?} is not in the schema"
            ));
        };
        let applies = self
            .types
            .applies_to
            .get(action)
            .is_some_and(|types| types.iter().any(|t| t == resource_type));
        if !applies {
            return Err(format!(
                "action {action:?} is not in the schema or does not apply to resource type {resource_type:?}"
            ));
        }
        Ok(ty)
    }

    /// Evaluates `request` against each of `sets` and gathers what each policy said.
    pub(crate) fn evaluate(
        &self,
        request: &Request,
        entities: &Entities,
        sets: &[&PolicySet],
    ) -> Outcome {
        let mut outcome = Outcome::default();
        for set in sets {
            let response = self.authorizer.is_authorized(request, set, entities);
            let diagnostics = response.diagnostics();
            for e in diagnostics.errors() {
                outcome.errors.push(e.to_string());
                let cedar_policy::AuthorizationError::PolicyEvaluationError(pe) = e;
                outcome.errored.push(pe.policy_id().to_string());
            }
            let reasons = diagnostics.reason().map(ToString::to_string);
            match response.decision() {
                CedarDecision::Deny => outcome.forbids.extend(reasons),
                CedarDecision::Allow => outcome.permits.extend(reasons),
            }
        }
        outcome
    }

    /// The scopes a token would need for a request that no policy permits: when granting
    /// some of the scopes the policies test for would make a policy permit it (or hold it),
    /// those scopes, sorted; empty when no scope would help. Only called on a refusal.
    pub fn missing_scopes(&self, req: &DecisionRequest<'_>) -> Vec<String> {
        let candidates: Vec<String> = self
            .tested_scopes
            .iter()
            .filter(|scope| !req.context.scopes.contains(scope))
            .cloned()
            .collect();
        if candidates.is_empty() {
            return Vec::new();
        }
        let mut widened: Vec<String> = req.context.scopes.to_vec();
        widened.extend(candidates.iter().cloned());
        let widened_request = DecisionRequest {
            context: RequestContext {
                scopes: &widened,
                ..req.context
            },
            ..*req
        };
        let decision = self.decide(&widened_request);
        if decision.effect == Effect::Deny {
            return Vec::new();
        }
        let mut needed: Vec<String> = decision
            .policy_ids
            .iter()
            .filter_map(|id| self.policies.get(id))
            .flat_map(|loaded| loaded.scopes.iter())
            .filter(|scope| candidates.contains(scope))
            .cloned()
            .collect();
        needed.sort();
        needed.dedup();
        needed
    }

    /// Builds Cedar's request and the request's entities: the agent under its owner, the
    /// resource under its upstream, the task, and the tool arguments.
    pub(crate) fn build(
        &self,
        req: &DecisionRequest<'_>,
        resource_type: &EntityTypeName,
    ) -> Result<(Request, Entities), String> {
        let t = &self.types;
        let owner = Types::uid(&t.owner, req.owner);
        let principal_type = t
            .principals
            .get(&req.kind)
            .ok_or_else(|| format!("no entity type for principal kind {}", req.kind))?;
        let agent = Types::uid(principal_type, req.name);
        let upstream = Types::uid(&t.upstream, req.upstream);
        let resource = Types::uid(resource_type, req.resource_id);
        let action = Types::uid(&t.action, req.action);
        let resource_entity = if req.resource_type == RESOURCE_TYPE {
            // `Resource::"UPSTREAM/URI"`: the URI is what follows the upstream's name.
            let uri = req
                .resource_id
                .split_once('/')
                .map_or(req.resource_id, |(_, uri)| uri);
            let (scheme, host) = uri_parts(uri);
            Entity::new(
                resource.clone(),
                [
                    (
                        "uri".to_owned(),
                        RestrictedExpression::new_string(uri.to_owned()),
                    ),
                    (
                        "scheme".to_owned(),
                        RestrictedExpression::new_string(scheme),
                    ),
                    ("host".to_owned(), RestrictedExpression::new_string(host)),
                ]
                .into(),
                [upstream].into(),
            )
            .map_err(|e| e.to_string())?
        } else {
            Entity::new_no_attrs(resource.clone(), [upstream].into())
        };
        // Only entities with parents or attributes are built. The owner, the upstream and
        // the user have neither, and to Cedar such an entity is the same whether or not it
        // is in the set: `in` reads the ancestors of its left side, `has` is false, and an
        // attribute read is an error either way. Leaving them out halves the set whose
        // transitive closure Cedar computes for every request.
        let mut entities = vec![
            Entity::new_no_attrs(agent.clone(), [owner].into()),
            resource_entity,
        ];
        let mut context = Vec::with_capacity(5);
        if let Some(user) = req.on_behalf_of {
            let user = Types::uid(&t.user, user);
            context.push((
                "on_behalf_of".to_owned(),
                RestrictedExpression::new_entity_uid(user),
            ));
        }
        if let Some(task) = req.context.task {
            let entity = task.seen.entity(task.id)?;
            context.push((
                "task".to_owned(),
                RestrictedExpression::new_entity_uid(entity.uid()),
            ));
            entities.push(entity);
        }
        for (key, value) in [
            ("reason", req.context.reason),
            ("environment", req.context.environment),
        ] {
            if let Some(value) = value {
                context.push((
                    key.to_owned(),
                    RestrictedExpression::new_string(value.to_owned()),
                ));
            }
        }
        context.push((
            "scopes".to_owned(),
            RestrictedExpression::new_set(
                req.context
                    .scopes
                    .iter()
                    .map(|scope| RestrictedExpression::new_string(scope.clone())),
            ),
        ));
        // Only `call_tool` and `get_prompt` declare `arguments`; other actions would fail
        // request validation.
        if takes_arguments(req.action) {
            let uid = Types::uid(&t.tool_arguments, "call");
            let tags = req.context.arguments.into_iter().flatten().map(|(k, v)| {
                let text = match v {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (k.clone(), RestrictedExpression::new_string(text))
            });
            let args =
                Entity::new_with_tags(uid.clone(), [], [], tags).map_err(|e| e.to_string())?;
            entities.push(args);
            context.push((
                "arguments".to_owned(),
                RestrictedExpression::new_entity_uid(uid),
            ));
        }
        let context = Context::from_pairs(context).map_err(|e| e.to_string())?;
        let request =
            Request::new(agent, action, resource, context, None).map_err(|e| e.to_string())?;
        let entities = Entities::from_entities(entities, None).map_err(|e| e.to_string())?;
        Ok((request, entities))
    }
}

/// Files one policy in the index under its principal key and each of its action keys.
pub(crate) fn file(index: &mut Index, policy: &Policy) -> Result<(), String> {
    let principal = match policy.principal_constraint() {
        PrincipalConstraint::Eq(uid) | PrincipalConstraint::In(uid) => key_for(&uid),
        // `principal is T in E`: T is checked by Cedar; E keys the policy as `in E` would.
        PrincipalConstraint::IsIn(ty, uid)
            if PrincipalKind::from_cedar_type(&ty.to_string()).is_some() =>
        {
            key_for(&uid)
        }
        // `is T` or unconstrained: every request is a candidate.
        PrincipalConstraint::Any | PrincipalConstraint::Is(_) | PrincipalConstraint::IsIn(..) => {
            PrincipalKey::Any
        }
    };
    let bucket = match principal {
        PrincipalKey::Any => &mut index.any,
        PrincipalKey::Principal(kind, name) => index
            .principals
            .entry(kind)
            .or_default()
            .entry(name)
            .or_default(),
        PrincipalKey::Owner(email) => index.owners.entry(email).or_default(),
    };
    let actions: Vec<Option<String>> = match policy.action_constraint() {
        ActionConstraint::Any => vec![None],
        ActionConstraint::Eq(uid) => vec![action_key(&uid)],
        ActionConstraint::In(uids) => uids.iter().map(action_key).collect(),
    };
    for action in &actions {
        bucket.add(action.as_deref(), policy)?;
    }
    Ok(())
}

/// The principal key of an entity named in a principal scope. The principal is always an
/// identity whose only ancestor is its owner, so `== Agent::"x"` and `in Agent::"x"` both
/// mean agent x (and only the agent: a service account named x is another key), and
/// `in Owner::"e"` means any identity of e. Anything else stays unindexed.
fn key_for(uid: &EntityUid) -> PrincipalKey {
    let id = uid.id().unescaped().to_owned();
    let type_name = uid.type_name().to_string();
    if let Some(kind) = PrincipalKind::from_cedar_type(&type_name) {
        return PrincipalKey::Principal(kind, id);
    }
    match type_name.as_str() {
        "Owner" => PrincipalKey::Owner(id),
        _ => PrincipalKey::Any,
    }
}

/// The action key of an action uid. Warden's schema has no action groups, so
/// `action in [A, B]` holds exactly for A and B. A non-`Action` uid cannot pass validation;
/// it is filed under *any* rather than trusted.
fn action_key(uid: &EntityUid) -> Option<String> {
    (uid.type_name().to_string() == "Action").then(|| uid.id().unescaped().to_owned())
}

/// A warning for an entity literal that names an upstream or tool Warden does not know.
fn unknown_entity(schema: &GeneratedSchema, uid: &EntityUid) -> Option<String> {
    let id = uid.id().unescaped();
    match uid.type_name().to_string().as_str() {
        "Upstream" if !schema.has_upstream(id) => {
            Some(format!("Upstream::{id:?} is not a known upstream"))
        }
        "Resource" | "Prompt" => {
            let upstream = id.split_once('/').map_or(id, |(u, _)| u);
            (!schema.has_upstream(upstream))
                .then(|| format!("{}::{id:?} names no known upstream", uid.type_name()))
        }
        "Tool" => {
            let upstream = id.split_once('/').map_or(id, |(u, _)| u);
            if !schema.has_upstream(upstream) {
                Some(format!("Tool::{id:?} names no known upstream"))
            } else if schema.lists_tools(upstream) && !schema.has_tool(id) {
                Some(format!(
                    "Tool::{id:?} is not among the tools of {upstream:?}"
                ))
            } else {
                None
            }
        }
        _ => None,
    }
}
