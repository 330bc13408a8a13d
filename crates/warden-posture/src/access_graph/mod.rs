//! The access graph of one agent: everything it can reach through every identity it holds,
//! as nodes and edges, each edge saying why it exists and whether it was used lately.
//!
//! The agent, its parent and its sub-agents are identity nodes; each holds credentials; it
//! may act for users (through the trusted issuers of token exchange) and did act for some
//! (from the audit trail); it reaches upstreams (it can get a token for any); on each
//! upstream every route action and MCP tool carries the standing the compiled Cedar engine
//! gives it for that identity (allowed, after approval, conditional, denied); the upstream
//! injects the secret of an NHI of its own (registered or imported), which holds
//! entitlements.
//!
//! The model is plain data, built by [`build()`] from facts the caller gathered, with no I/O,
//! so rules over paths (toxic combinations: a sensitive read and an external write in one
//! agent's reach, request and approve, prod and non-prod, an admin entitlement at the end of
//! a path, actions permitted but never used) are pure functions over an [`AccessGraph`]:
//! nodes carry their access labels and kind, edges their [`EdgeKind`], standing and use.
//!
//! - [`build()`]: the facts ([`GraphInput`]) and the engine into an [`AccessGraph`].
//! - [`dot`]: the graph as Graphviz.

mod build;
pub mod dot;
mod facts;
pub mod svg;

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
pub use warden_policy::Standing;

pub use facts::Facts;

pub use build::{
    ActionFacts, CredentialFacts, EntitlementFacts, GraphError, GraphInput, IdentityFacts,
    InjectedFacts, MAX_DAYS, MAX_DEPTH, UpstreamFacts, UseFacts, build, check_bounds,
};

/// What a node stands for.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum NodeKind {
    /// The agent the graph is about.
    Agent,
    /// Its parent identity.
    Parent,
    /// One of its sub-agents (at any depth below it).
    SubAgent,
    /// A Warden credential of one of those identities.
    Credential,
    /// An external issuer whose users' tokens it may exchange (RFC 8693).
    Issuer,
    /// A user it acted for, from the audit trail.
    User,
    /// An upstream it can get a token for.
    Upstream,
    /// A route action of an HTTP upstream (one `METHOD PATH`).
    Action,
    /// An MCP tool.
    Tool,
    /// The identity whose secret the gateway injects for an upstream.
    InjectedIdentity,
    /// One entitlement of that identity.
    Entitlement,
}

impl NodeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Agent => "agent",
            Self::Parent => "parent",
            Self::SubAgent => "sub_agent",
            Self::Credential => "credential",
            Self::Issuer => "issuer",
            Self::User => "user",
            Self::Upstream => "upstream",
            Self::Action => "action",
            Self::Tool => "tool",
            Self::InjectedIdentity => "injected_identity",
            Self::Entitlement => "entitlement",
        }
    }
}

/// One node. `facts` are what a reader wants to see of it (status, kind, age, method and
/// path...); `labels` are the access labels rules read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Node {
    /// Stable within a graph: `identity:ID`, `credential:ID`, `upstream:NAME`,
    /// `action:UPSTREAM:METHOD PATH`, `tool:UPSTREAM/TOOL`, `user:SUB`, `issuer:ISS`,
    /// `nhi:SOURCE:ID`, `entitlement:SOURCE:ID:VALUE`.
    pub id: String,
    pub kind: NodeKind,
    /// What people call it: `agent:support-bot`, `crm`, `GET /tickets/{id}`, ...
    pub name: String,
    /// Hops from the agent.
    pub depth: u32,
    /// Access labels (`sensitive`, `external`, `prod`...): an upstream's, and a route's or
    /// tool's together with its upstream's; sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    /// Facts by name, sorted by name.
    #[serde(default, skip_serializing_if = "Facts::is_empty")]
    #[schema(value_type = std::collections::BTreeMap<String, String>)]
    pub facts: Facts,
}

/// What an edge means.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum EdgeKind {
    /// Parent to sub-agent.
    SubAgent,
    /// Identity to a credential it holds.
    Holds,
    /// Identity to an issuer whose users it may act for.
    MayActFor,
    /// Identity to a user it acted for.
    ActedFor,
    /// Identity to an upstream it can get a token for.
    Reaches,
    /// Upstream to one of its actions or tools, with the standing for one identity.
    Permits,
    /// Upstream to the identity whose secret it injects.
    Injects,
    /// Injected identity to an entitlement.
    Entitled,
}

impl EdgeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SubAgent => "sub_agent",
            Self::Holds => "holds",
            Self::MayActFor => "may_act_for",
            Self::ActedFor => "acted_for",
            Self::Reaches => "reaches",
            Self::Permits => "permits",
            Self::Injects => "injects",
            Self::Entitled => "entitled",
        }
    }
}

/// Where an edge comes from.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// The identities' parent links.
    Hierarchy,
    /// A credential record.
    Credential,
    /// `[credentials] trusted_issuers` (the user's own token's `may_act` narrows it).
    TrustedIssuer,
    /// The audit trail.
    Audit,
    /// Token issuance: any identity may ask for a token whose audience is an upstream.
    Audience,
    /// The compiled policies (the standing and its policy ids).
    Policy,
    /// The upstream's `--identity` binding.
    Binding,
    /// An inventory import.
    Import,
}

/// Why an edge exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Why {
    pub basis: Basis,
    /// The policies behind a standing, sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policy_ids: Vec<String>,
    /// What else explains it: the issuer, the binding's reference, the import's source, the
    /// decision code of a standing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub detail: Option<Cow<'static, str>>,
}

/// One edge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Edge {
    pub from: String,
    pub to: String,
    pub kind: EdgeKind,
    pub why: Why,
    /// For [`EdgeKind::Permits`]: what the policies let `principal` do with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub standing: Option<Standing>,
    /// For [`EdgeKind::Permits`]: the identity node the standing is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    /// For [`EdgeKind::Reaches`] in a graph within reach: how many of the upstream's actions
    /// and tools are denied to this identity, counted instead of listed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub denied_actions: Option<u32>,
    /// Whether it was used in the window (`None`: the trail cannot say).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub used: Option<bool>,
    /// The last use the trail shows, within the window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_used_at: Option<warden_core::Timestamp>,
}

/// One agent's access graph.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AccessGraph {
    /// The agent's node id.
    pub agent: String,
    /// The depth the graph was cut at.
    pub depth: u32,
    /// The window "used" looks back over, in days.
    pub days: u32,
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

/// What an identity could do on one upstream: the actions and tools not denied to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UpstreamReach {
    pub upstream: String,
    /// The identity (`KIND:NAME`) the standing is for: the agent or a sub-agent.
    pub principal: String,
    pub actions: Vec<ReachedAction>,
}

/// One action or tool within reach.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReachedAction {
    /// `GET /tickets/{id}` or the tool's name.
    pub name: String,
    /// The Cedar action (`tickets.read`, `call_tool`).
    pub action: String,
    #[schema(value_type = String)]
    pub standing: Standing,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
}

impl AccessGraph {
    /// The node with this id.
    pub fn node(&self, id: &str) -> Option<&Node> {
        self.nodes.iter().find(|node| node.id == id)
    }

    /// The blast radius: per identity and upstream, every action and tool some request
    /// could get through (possibly after approval or under conditions), in graph order.
    pub fn reach(&self) -> Vec<UpstreamReach> {
        let by_id: std::collections::HashMap<&str, &Node> = self
            .nodes
            .iter()
            .map(|node| (node.id.as_str(), node))
            .collect();
        let mut out: Vec<UpstreamReach> = Vec::new();
        for edge in &self.edges {
            let (Some(standing), Some(principal)) = (edge.standing, edge.principal.as_deref())
            else {
                continue;
            };
            if !standing.reachable() {
                continue;
            }
            let (Some(upstream), Some(target), Some(principal)) = (
                by_id.get(edge.from.as_str()),
                by_id.get(edge.to.as_str()),
                by_id.get(principal),
            ) else {
                continue;
            };
            let action = ReachedAction {
                name: target.name.clone(),
                action: target.facts.get("action").unwrap_or_default().to_owned(),
                standing,
                labels: target.labels.clone(),
            };
            match out
                .iter_mut()
                .find(|r| r.upstream == upstream.name && r.principal == principal.name)
            {
                Some(reach) => reach.actions.push(action),
                None => out.push(UpstreamReach {
                    upstream: upstream.name.clone(),
                    principal: principal.name.clone(),
                    actions: vec![action],
                }),
            }
        }
        out
    }
}
