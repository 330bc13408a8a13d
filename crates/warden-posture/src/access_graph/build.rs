//! Building an agent's access graph from facts: the identities, credentials, issuers,
//! upstreams with their actions and injected identities, and the uses the audit trail shows,
//! with each action's standing asked of the compiled engine ([`PolicyEngine::standing`]).

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, VecDeque};

use warden_core::{Environment, IdentityKind, IdentityStatus, Timestamp};
use warden_policy::mcp::CALL_TOOL;
use warden_policy::{
    IdentityStanding, PolicyEngine, PrincipalKind, RouteMap, StandingRequest, resource_uid_text,
};

use super::{AccessGraph, Basis, Edge, EdgeKind, Facts, Node, NodeKind, Why};

/// The deepest cut accepted.
pub const MAX_DEPTH: u32 = 8;
/// The longest window accepted for "used", in days.
pub const MAX_DAYS: u32 = 3650;

/// The graph cannot be built as asked; nothing was read past the check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    #[error("depth {0} is out of range: give 1 to {MAX_DEPTH} hops from the agent")]
    Depth(u32),
    #[error("days {0} is out of range: give 1 to {MAX_DAYS} days of audit trail to look back on")]
    Days(u32),
    #[error("`{0}` cannot be a policy principal, so it has no access graph")]
    NotAPrincipal(String),
}

/// An identity of Warden's inventory, as the graph shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityFacts {
    pub id: String,
    pub kind: IdentityKind,
    pub name: String,
    pub owner: String,
    pub environment: Option<Environment>,
    /// The status as seen now (an identity past its expiry reads expired).
    pub status: IdentityStatus,
    pub parent_id: Option<String>,
    pub created_at: Timestamp,
}

impl IdentityFacts {
    fn reference(&self) -> String {
        format!("{}:{}", self.kind, self.name)
    }
}

/// A Warden credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialFacts {
    pub id: String,
    pub identity_id: String,
    /// `client_secret`, `private_key_jwt`.
    pub kind: String,
    /// `active`, `rotated`, `revoked` (expired is read from `expires_at`).
    pub status: String,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
}

/// One route action or MCP tool of an upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionFacts {
    /// `GET /tickets/{id}`, or the tool's name.
    pub name: String,
    /// The Cedar action: `tickets.read`, `call_tool`.
    pub action: String,
    pub resource_type: String,
    /// A representative resource id: the route's template id (`{id}`), `UPSTREAM/TOOL`.
    pub resource_id: String,
    /// The tool's name, for an MCP tool.
    pub tool: Option<String>,
    /// The route's or tool's own labels, sorted.
    pub labels: Vec<String>,
}

impl ActionFacts {
    /// The actions of a route map, in file order.
    pub fn routes(routes: &RouteMap) -> Vec<Self> {
        routes
            .routes()
            .iter()
            .map(|route| {
                let template = route.resource.as_str();
                let id = template
                    .split_once("::")
                    .map_or(template, |(_, id)| id)
                    .trim_matches('"');
                Self {
                    name: format!("{} {}", route.method, route.path),
                    action: route.action.clone(),
                    resource_type: route.resource.entity_type().to_owned(),
                    resource_id: id.to_owned(),
                    tool: None,
                    labels: route.labels.clone(),
                }
            })
            .collect()
    }

    /// One MCP tool of `upstream`.
    pub fn tool(upstream: &str, tool: &str, labels: Vec<String>) -> Self {
        Self {
            name: tool.to_owned(),
            action: CALL_TOOL.to_owned(),
            resource_type: "Tool".to_owned(),
            resource_id: format!("{upstream}/{tool}"),
            tool: Some(tool.to_owned()),
            labels,
        }
    }
}

/// One entitlement of an injected identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntitlementFacts {
    pub value: String,
    /// Where it applies when narrower than the source.
    pub scope: Option<String>,
    /// The object that granted it (`ClusterRoleBinding/ci-admin`).
    pub via: Option<String>,
}

/// The identity whose secret an upstream's gateway injects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InjectedFacts {
    /// Its id in the inventory it lives in.
    pub id: String,
    /// `registered` (Warden's inventory) or `imported`.
    pub source: String,
    /// `KIND:NAME` as people refer to it.
    pub reference: String,
    /// For an imported identity: the import's source (`aws-iam`, `k8s:prod`...).
    pub import_source: Option<String>,
    pub status: Option<String>,
    pub entitlements: Vec<EntitlementFacts>,
}

/// An upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamFacts {
    pub name: String,
    /// `http`, `mcp`, `mcp-stdio`.
    pub kind: String,
    pub labels: Vec<String>,
    pub actions: Vec<ActionFacts>,
    pub injects: Option<InjectedFacts>,
}

/// One use the audit trail shows: an allowed gateway decision, a token issued with a
/// credential, an exchange for a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UseFacts {
    /// The identity that acted.
    pub identity_id: String,
    pub at: Timestamp,
    pub upstream: Option<String>,
    pub action: Option<String>,
    /// The resource as Cedar writes it (`Tool::"docs/search"`).
    pub resource: Option<String>,
    pub credential_id: Option<String>,
    pub on_behalf_of: Option<String>,
}

/// Everything the graph is built from.
#[derive(Debug, Clone)]
pub struct GraphInput {
    pub agent: IdentityFacts,
    pub parent: Option<IdentityFacts>,
    /// Every identity below the agent, each naming its parent.
    pub sub_agents: Vec<IdentityFacts>,
    /// The credentials of the agent and its sub-agents.
    pub credentials: Vec<CredentialFacts>,
    /// `iss` of each trusted external issuer.
    pub trusted_issuers: Vec<String>,
    pub upstreams: Vec<UpstreamFacts>,
    /// Uses of the agent and its sub-agents; those older than the window are ignored.
    pub uses: Vec<UseFacts>,
    /// Identities whose uses were read only in part (newest first, up to a cap): for them
    /// an edge with no use found is "cannot say", never "unused".
    pub uses_cut: Vec<String>,
    /// Leave out every action and tool no identity of the graph can reach, and the denied
    /// standings, counting them on each `reaches` edge instead: what the path rules read
    /// and what a reader of a large catalog's graph wants by default.
    pub reach_only: bool,
    pub now: Timestamp,
    pub days: u32,
    pub depth: u32,
}

const DAY_MS: i64 = 86_400_000;

/// The last use of each thing, within the window.
#[derive(Default)]
struct Usage<'a> {
    upstreams: HashMap<(&'a str, &'a str), Timestamp>,
    actions: HashMap<(&'a str, &'a str, &'a str), Timestamp>,
    resources: HashMap<(&'a str, &'a str, &'a str), Timestamp>,
    credentials: HashMap<&'a str, Timestamp>,
    users: BTreeMap<(&'a str, &'a str), Timestamp>,
    upstream_by_anyone: HashMap<&'a str, Timestamp>,
}

fn latest<K: Eq + std::hash::Hash>(map: &mut HashMap<K, Timestamp>, key: K, at: Timestamp) {
    let slot = map.entry(key).or_insert(at);
    *slot = (*slot).max(at);
}

impl<'a> Usage<'a> {
    fn new(uses: &'a [UseFacts], since: Timestamp) -> Self {
        let mut usage = Self::default();
        for used in uses.iter().filter(|used| used.at >= since) {
            let who = used.identity_id.as_str();
            if let Some(credential) = &used.credential_id {
                latest(&mut usage.credentials, credential.as_str(), used.at);
            }
            if let Some(user) = &used.on_behalf_of {
                let slot = usage.users.entry((who, user.as_str())).or_insert(used.at);
                *slot = (*slot).max(used.at);
            }
            let Some(upstream) = used.upstream.as_deref() else {
                continue;
            };
            latest(&mut usage.upstreams, (who, upstream), used.at);
            latest(&mut usage.upstream_by_anyone, upstream, used.at);
            if let Some(action) = &used.action {
                latest(
                    &mut usage.actions,
                    (who, upstream, action.as_str()),
                    used.at,
                );
            }
            if let Some(resource) = &used.resource {
                latest(
                    &mut usage.resources,
                    (who, upstream, resource.as_str()),
                    used.at,
                );
            }
        }
        usage
    }
}

/// Nodes and edges as they are added, nodes deduplicated by id.
#[derive(Default)]
struct Draft {
    nodes: Vec<Node>,
    index: HashMap<String, usize>,
    edges: Vec<Edge>,
    /// The node indices each edge joins, beside `edges` so that the edges need no copy
    /// when the cut keeps them all.
    ends: Vec<(usize, usize)>,
}

impl Draft {
    fn node(&mut self, id: String, kind: NodeKind, name: String) -> (usize, &mut Node) {
        let at = match self.index.get(&id) {
            Some(at) => *at,
            None => {
                let at = self.push(id.clone(), kind, name, Facts::default());
                self.index.insert(id, at);
                at
            }
        };
        (at, &mut self.nodes[at])
    }

    /// A node that no other part of the graph looks up by id: an upstream's action or tool,
    /// deduplicated by its upstream's own table.
    fn unindexed_node(&mut self, id: String, kind: NodeKind, name: String) -> usize {
        // An action's two facts: its Cedar action and its resource.
        self.push(id, kind, name, Facts::with_capacity(2))
    }

    fn push(&mut self, id: String, kind: NodeKind, name: String, facts: Facts) -> usize {
        self.nodes.push(Node {
            id,
            kind,
            name,
            depth: u32::MAX,
            labels: Vec::new(),
            facts,
        });
        self.nodes.len() - 1
    }

    fn edge(&mut self, from: usize, to: usize, kind: EdgeKind, why: Why) -> &mut Edge {
        let edge = Edge {
            from: self.nodes[from].id.clone(),
            to: self.nodes[to].id.clone(),
            kind,
            why,
            standing: None,
            principal: None,
            denied_actions: None,
            used: None,
            last_used_at: None,
        };
        self.edges.push(edge);
        self.ends.push((from, to));
        let last = self.edges.len() - 1;
        &mut self.edges[last]
    }

    /// Sets every node's depth (hops from node 0, edges read both ways) and drops what lies
    /// beyond `limit`.
    fn cut(mut self, limit: u32) -> (Vec<Node>, Vec<Edge>) {
        // Adjacency as one flat list with an offset per node: a graph of a large catalog
        // has a node per action, and a list of its own for each would be as many
        // allocations.
        let mut offsets = vec![0usize; self.nodes.len() + 1];
        for &(from, to) in &self.ends {
            offsets[from + 1] += 1;
            offsets[to + 1] += 1;
        }
        for at in 1..offsets.len() {
            offsets[at] += offsets[at - 1];
        }
        let mut filled = offsets.clone();
        let mut adjacent = vec![0usize; offsets[self.nodes.len()]];
        for &(from, to) in &self.ends {
            adjacent[filled[from]] = to;
            filled[from] += 1;
            adjacent[filled[to]] = from;
            filled[to] += 1;
        }
        let mut queue = VecDeque::from([0usize]);
        if let Some(root) = self.nodes.first_mut() {
            root.depth = 0;
        }
        while let Some(at) = queue.pop_front() {
            let next = self.nodes[at].depth.saturating_add(1);
            if next > limit {
                continue;
            }
            for &neighbour in &adjacent[offsets[at]..offsets[at + 1]] {
                if self.nodes[neighbour].depth == u32::MAX {
                    self.nodes[neighbour].depth = next;
                    queue.push_back(neighbour);
                }
            }
        }
        let nodes = &self.nodes;
        let mut ends = self.ends.iter();
        self.edges.retain(|_| {
            ends.next()
                .is_some_and(|&(from, to)| nodes[from].depth <= limit && nodes[to].depth <= limit)
        });
        self.nodes.retain(|node| node.depth <= limit);
        (self.nodes, self.edges)
    }
}

/// Marks an edge used at `at`, or unused when the trail it was looked up in is `complete`;
/// otherwise the trail cannot say.
fn used_edge(edge: &mut Edge, at: Option<Timestamp>, complete: bool) {
    edge.used = match at {
        Some(_) => Some(true),
        None if complete => Some(false),
        None => None,
    };
    edge.last_used_at = at;
}

fn identity_node(
    draft: &mut Draft,
    identity: &IdentityFacts,
    kind: NodeKind,
    now: Timestamp,
) -> usize {
    let (at, node) = draft.node(
        format!("identity:{}", identity.id),
        kind,
        identity.reference(),
    );
    node.facts.insert("status", identity.status.to_string());
    node.facts.insert("owner", identity.owner.clone());
    node.facts
        .insert("age_days", age_days(identity.created_at, now).to_string());
    if let Some(environment) = identity.environment {
        node.facts.insert("environment", environment.to_string());
    }
    at
}

fn age_days(since: Timestamp, now: Timestamp) -> i64 {
    (now.as_millis() - since.as_millis()).max(0) / DAY_MS
}

fn why(basis: Basis, detail: Option<String>) -> Why {
    Why {
        basis,
        policy_ids: Vec::new(),
        detail: detail.map(Cow::Owned),
    }
}

/// Checks a depth and a window before anything is gathered for them.
pub fn check_bounds(depth: u32, days: u32) -> Result<(), GraphError> {
    if !(1..=MAX_DEPTH).contains(&depth) {
        return Err(GraphError::Depth(depth));
    }
    if !(1..=MAX_DAYS).contains(&days) {
        return Err(GraphError::Days(days));
    }
    Ok(())
}

/// Builds the access graph of `input.agent` with the standing of every action decided by
/// `engine`.
pub fn build(input: &GraphInput, engine: &PolicyEngine) -> Result<AccessGraph, GraphError> {
    check_bounds(input.depth, input.days)?;
    let principal_kind = |identity: &IdentityFacts| {
        PrincipalKind::from_identity_kind(identity.kind.as_str())
            .ok_or_else(|| GraphError::NotAPrincipal(identity.reference()))
    };
    let root_kind = principal_kind(&input.agent)?;
    let now = input.now;
    let since = now.plus_secs(-i64::from(input.days) * 86_400);
    let usage = Usage::new(&input.uses, since);
    let complete = |identity_id: &str| !input.uses_cut.iter().any(|cut| cut == identity_id);
    let mut draft = Draft::default();
    // A graph of a large catalog is mostly its actions: one node each, and an edge for each
    // identity that can hold a standing on it.
    let actions: usize = input.upstreams.iter().map(|u| u.actions.len()).sum();
    draft.nodes.reserve(actions + input.upstreams.len() + 16);
    let edges = actions * (1 + input.sub_agents.len()) + input.upstreams.len();
    draft.edges.reserve(edges);
    draft.ends.reserve(edges);

    // Identities: the agent first (node 0, the root of the cut), its parent, its sub-agents.
    let root = identity_node(&mut draft, &input.agent, NodeKind::Agent, now);
    if let Some(parent) = &input.parent {
        let at = identity_node(&mut draft, parent, NodeKind::Parent, now);
        draft.edge(at, root, EdgeKind::SubAgent, why(Basis::Hierarchy, None));
    }
    let mut principals = vec![(root, &input.agent, root_kind)];
    for sub in &input.sub_agents {
        let at = identity_node(&mut draft, sub, NodeKind::SubAgent, now);
        // A sub-agent of a kind that cannot be a principal still shows, without reach.
        if let Ok(kind) = principal_kind(sub) {
            principals.push((at, sub, kind));
        }
    }
    for sub in &input.sub_agents {
        let Some(parent) = sub
            .parent_id
            .as_ref()
            .and_then(|id| draft.index.get(&format!("identity:{id}")).copied())
        else {
            continue;
        };
        if let Some(&child) = draft.index.get(&format!("identity:{}", sub.id)) {
            draft.edge(
                parent,
                child,
                EdgeKind::SubAgent,
                why(Basis::Hierarchy, None),
            );
        }
    }

    // Credentials.
    for credential in &input.credentials {
        let Some(&holder) = draft
            .index
            .get(&format!("identity:{}", credential.identity_id))
        else {
            continue;
        };
        let expired = credential.expires_at.is_some_and(|at| at <= now);
        let status = if expired && credential.status == "active" {
            "expired".to_owned()
        } else {
            credential.status.clone()
        };
        let (at, node) = draft.node(
            format!("credential:{}", credential.id),
            NodeKind::Credential,
            format!("{} {}", credential.kind, credential.id),
        );
        node.facts.insert("kind", credential.kind.clone());
        node.facts.insert("status", status);
        node.facts
            .insert("age_days", age_days(credential.created_at, now).to_string());
        if let Some(expires) = credential.expires_at {
            node.facts.insert("expires_at", expires.to_rfc3339());
        }
        let last = usage.credentials.get(credential.id.as_str()).copied();
        let edge = draft.edge(holder, at, EdgeKind::Holds, why(Basis::Credential, None));
        used_edge(edge, last, complete(&credential.identity_id));
    }

    // Users: whom it may act for (trusted issuers), whom it did act for (the trail).
    for (principal, identity, _) in &principals {
        if identity.kind != IdentityKind::Agent && *principal != root {
            continue;
        }
        for issuer in &input.trusted_issuers {
            let (at, _) = draft.node(format!("issuer:{issuer}"), NodeKind::Issuer, issuer.clone());
            draft.edge(
                *principal,
                at,
                EdgeKind::MayActFor,
                why(
                    Basis::TrustedIssuer,
                    Some("its users' tokens may be exchanged; a token's may_act narrows it".into()),
                ),
            );
        }
    }
    for ((who, user), last) in &usage.users {
        let Some(&principal) = draft.index.get(&format!("identity:{who}")) else {
            continue;
        };
        let (at, _) = draft.node(format!("user:{user}"), NodeKind::User, (*user).to_owned());
        let edge = draft.edge(principal, at, EdgeKind::ActedFor, why(Basis::Audit, None));
        used_edge(edge, Some(*last), true);
    }

    // Upstreams, their actions with each principal's standing, their injected identity.
    let standings: Vec<IdentityStanding<'_>> = principals
        .iter()
        .map(|(_, identity, kind)| {
            IdentityStanding::new(engine, *kind, &identity.name, &identity.owner)
        })
        .collect();
    for upstream in &input.upstreams {
        let (up, node) = draft.node(
            format!("upstream:{}", upstream.name),
            NodeKind::Upstream,
            upstream.name.clone(),
        );
        node.labels = upstream.labels.clone();
        node.facts.insert("kind", upstream.kind.clone());
        // Each identity's `reaches` edge, where a graph within reach counts what it leaves out.
        let mut reaches = Vec::with_capacity(principals.len());
        for (principal, identity, _) in &principals {
            let last = usage
                .upstreams
                .get(&(identity.id.as_str(), upstream.name.as_str()))
                .copied();
            let edge = draft.edge(
                *principal,
                up,
                EdgeKind::Reaches,
                why(Basis::Audience, None),
            );
            used_edge(edge, last, complete(&identity.id));
            reaches.push(draft.edges.len() - 1);
        }
        let mut denied = vec![0u32; principals.len()];
        let mut verdicts = Vec::with_capacity(principals.len());
        let mut actions_here: HashMap<(bool, &str), usize> =
            HashMap::with_capacity(upstream.actions.len());
        for action in &upstream.actions {
            verdicts.clear();
            verdicts.extend(principals.iter().zip(&standings).map(
                |((_, identity, principal_kind), standing)| {
                    standing.standing(&StandingRequest {
                        kind: *principal_kind,
                        name: &identity.name,
                        owner: &identity.owner,
                        environment: identity.environment.map(Environment::as_str),
                        upstream: &upstream.name,
                        action: &action.action,
                        resource_type: &action.resource_type,
                        resource_id: &action.resource_id,
                    })
                },
            ));
            if input.reach_only {
                for (count, verdict) in denied.iter_mut().zip(&verdicts) {
                    *count += u32::from(!verdict.standing.reachable());
                }
                if !verdicts.iter().any(|v| v.standing.reachable()) {
                    continue;
                }
            }
            let key = (action.tool.is_some(), action.name.as_str());
            let target = match actions_here.get(&key) {
                Some(&at) => at,
                None => {
                    let (kind, id) = match &action.tool {
                        Some(tool) => (NodeKind::Tool, format!("tool:{}/{tool}", upstream.name)),
                        None => (
                            NodeKind::Action,
                            format!("action:{}:{}", upstream.name, action.name),
                        ),
                    };
                    let at = draft.unindexed_node(id, kind, action.name.clone());
                    actions_here.insert(key, at);
                    at
                }
            };
            let node = &mut draft.nodes[target];
            let mut labels = upstream.labels.clone();
            labels.extend(action.labels.iter().cloned());
            labels.sort();
            labels.dedup();
            node.labels = labels;
            node.facts.insert("action", action.action.clone());
            node.facts.insert(
                "resource",
                format!("{}::{}", action.resource_type, action.resource_id),
            );
            let resource = action
                .tool
                .as_ref()
                .and_then(|_| resource_uid_text(&action.resource_type, &action.resource_id));
            for ((principal, identity, _), verdict) in principals.iter().zip(verdicts.drain(..)) {
                if input.reach_only && !verdict.standing.reachable() {
                    continue;
                }
                let who = identity.id.as_str();
                let last = match &resource {
                    Some(resource) => usage
                        .resources
                        .get(&(who, upstream.name.as_str(), resource.as_str()))
                        .copied(),
                    None => usage
                        .actions
                        .get(&(who, upstream.name.as_str(), action.action.as_str()))
                        .copied(),
                };
                let principal_id = draft.nodes[*principal].id.clone();
                let edge = draft.edge(
                    up,
                    target,
                    EdgeKind::Permits,
                    Why {
                        basis: Basis::Policy,
                        policy_ids: verdict.policy_ids,
                        detail: Some(Cow::Borrowed(verdict.reason)),
                    },
                );
                edge.standing = Some(verdict.standing);
                edge.principal = Some(principal_id);
                used_edge(edge, last, complete(who));
            }
        }
        if input.reach_only {
            for (&edge, count) in reaches.iter().zip(denied) {
                draft.edges[edge].denied_actions = Some(count);
            }
        }
        if let Some(injected) = &upstream.injects {
            let (nhi, node) = draft.node(
                format!("nhi:{}:{}", injected.source, injected.id),
                NodeKind::InjectedIdentity,
                injected.reference.clone(),
            );
            node.facts.insert("source", injected.source.clone());
            if let Some(source) = &injected.import_source {
                node.facts.insert("import_source", source.clone());
            }
            if let Some(status) = &injected.status {
                node.facts.insert("status", status.clone());
            }
            let last = usage
                .upstream_by_anyone
                .get(upstream.name.as_str())
                .copied();
            let edge = draft.edge(
                up,
                nhi,
                EdgeKind::Injects,
                why(Basis::Binding, Some(injected.reference.clone())),
            );
            // Anyone of the graph's identities counts, so every trail must be whole.
            used_edge(edge, last, input.uses_cut.is_empty());
            for entitlement in &injected.entitlements {
                let (at, node) = draft.node(
                    format!(
                        "entitlement:{}:{}:{}",
                        injected.source, injected.id, entitlement.value
                    ),
                    NodeKind::Entitlement,
                    entitlement.value.clone(),
                );
                if let Some(scope) = &entitlement.scope {
                    node.facts.insert("scope", scope.clone());
                }
                let detail = match (&injected.import_source, &entitlement.via) {
                    (Some(source), Some(via)) => Some(format!("{source} via {via}")),
                    (Some(source), None) => Some(source.clone()),
                    (None, via) => via.clone(),
                };
                let basis = if injected.source == "imported" {
                    Basis::Import
                } else {
                    Basis::Binding
                };
                draft.edge(nhi, at, EdgeKind::Entitled, why(basis, detail));
            }
        }
    }

    let (nodes, edges) = draft.cut(input.depth);
    Ok(AccessGraph {
        agent: format!("identity:{}", input.agent.id),
        depth: input.depth,
        days: input.days,
        nodes,
        edges,
    })
}
