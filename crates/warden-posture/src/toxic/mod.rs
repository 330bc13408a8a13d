//! Toxic combinations: what one agent's access path must not hold at once, as rules read
//! from data ([`rules.toml`](self) beside this file) and judged over an [`AccessGraph`].
//!
//! A credential can be fine on its own and dangerous beside another: reading customer records
//! is a job, sending mail is a job, both in one agent is an exfiltration path. These rules look
//! at everything within the agent's reach at once, through its sub-agents too, and each
//! finding's evidence is the path: who reaches which upstream, which action, with what
//! standing, under which policies.
//!
//! - [`builtin_rules`]: the shipped rules, parsed once.
//! - [`parse_rules`]: rules from TOML text, checked; [`merge_rules`]: a deployment's own
//!   rules beside the built-in ones (`[posture] toxic_rules`).
//! - [`evaluate_paths`]: the findings of some rules over one agent's graph.
//! - [`glob_matches`]: the `*` patterns entitlement rules use.

mod glob;
mod parse;

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use warden_core::Timestamp;
use warden_policy::Standing;

pub use glob::glob_matches;
pub use parse::{ActionMatch, Effect, RuleError, parse_rules};

use crate::access_graph::{AccessGraph, Edge, EdgeKind, Node, NodeKind};
use crate::finding::{Finding, OwaspNhi, Severity};

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// Evidence lists at most this many items of a kind; the rest are counted.
const MAX_LISTED: usize = 20;

/// One toxic-combination rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToxicRule {
    /// Stable id, `path-exfiltration`.
    pub id: String,
    pub owasp: OwaspNhi,
    /// The OWASP Top 10 for Agentic Applications entry, `ASI03`.
    pub agentic: String,
    pub severity: Severity,
    /// What the agent can do, completing "agent:X …".
    pub summary: String,
    pub remediation: String,
    pub pattern: Pattern,
}

/// What a rule looks for in a graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pattern {
    /// Every match met by some action or tool within reach.
    Reaches(Vec<ActionMatch>),
    /// An entitlement matching one of these patterns, held by an identity that an upstream
    /// within reach injects.
    Entitlements(Vec<String>),
    /// Actions within reach that the trail shows unused over the graph's window.
    Unused,
}

static BUILTIN: LazyLock<Result<Vec<ToxicRule>, RuleError>> =
    LazyLock::new(|| parse_rules(include_str!("rules.toml")));

/// The rules Warden ships (`rules.toml`). An error here is a defect of the build, which the
/// tests catch; callers report it rather than evaluate nothing silently.
pub fn builtin_rules() -> Result<&'static [ToxicRule], &'static RuleError> {
    BUILTIN.as_ref().map(Vec::as_slice)
}

/// The built-in rules with `custom` ones added; a custom rule with a built-in's id takes
/// its place (to change its severity or its matches).
pub fn merge_rules(builtin: &[ToxicRule], custom: Vec<ToxicRule>) -> Vec<ToxicRule> {
    let mut out: Vec<ToxicRule> = builtin
        .iter()
        .filter(|rule| !custom.iter().any(|mine| mine.id == rule.id))
        .cloned()
        .collect();
    out.extend(custom);
    out
}

/// What [`evaluate_paths`] reads.
#[derive(Debug, Clone, Copy)]
pub struct PathInput<'a> {
    pub graph: &'a AccessGraph,
    /// When the agent was registered: an agent younger than the window has had no chance
    /// to use what it was given, so the unused rule stays quiet.
    pub agent_created_at: Timestamp,
    pub now: Timestamp,
}

/// One action or tool within reach of an identity in the graph.
struct Reached<'g> {
    principal: &'g Node,
    upstream: &'g Node,
    target: &'g Node,
    standing: Standing,
    policy_ids: &'g [String],
    used: Option<bool>,
}

impl Reached<'_> {
    /// `agent:x → crm → GET /customers [sensitive] (allowed; policy p1)`.
    fn describe(&self) -> String {
        let labels = if self.target.labels.is_empty() {
            String::new()
        } else {
            format!(" [{}]", self.target.labels.join(", "))
        };
        let policies = if self.policy_ids.is_empty() {
            String::new()
        } else {
            format!("; policy {}", self.policy_ids.join(", "))
        };
        format!(
            "{} → {} → {}{labels} ({}{policies})",
            self.principal.name,
            self.upstream.name,
            self.target.name,
            self.standing.as_str()
        )
    }

    /// What the action does: a route's by its method; a tool's by its `read` or `write`
    /// label, and both when it carries neither.
    fn effects(&self) -> (bool, bool) {
        match self.target.kind {
            NodeKind::Action => {
                let method = self.target.name.split(' ').next().unwrap_or_default();
                let read = matches!(method, "GET" | "HEAD" | "OPTIONS");
                (read, !read)
            }
            _ => {
                let has = |label: &str| self.target.labels.iter().any(|l| l == label);
                match (has("read"), has("write")) {
                    (false, false) => (true, true),
                    marked => marked,
                }
            }
        }
    }

    fn meets(&self, wanted: &ActionMatch) -> bool {
        let has = |label: &String| self.target.labels.contains(label);
        let (reads, writes) = self.effects();
        wanted.labels.iter().all(has)
            && (wanted.any_labels.is_empty() || wanted.any_labels.iter().any(has))
            && match wanted.effect {
                Effect::Any => true,
                Effect::Read => reads,
                Effect::Write => writes,
            }
    }
}

/// What of a graph the rules read: the actions and tools within reach, and the paths from
/// the upstreams they are on to the entitlements of the identities those inject.
struct Reach<'g> {
    agent: Option<&'g Node>,
    reached: Vec<Reached<'g>>,
    /// Upstream name, injected identity, entitlement.
    entitlements: Vec<(&'g Node, &'g Node, &'g Node)>,
}

/// The graph's reach, reading only the nodes it needs: a fleet-wide pass evaluates every
/// agent, and most of a graph's nodes are actions out of reach.
fn reach(graph: &AccessGraph) -> Reach<'_> {
    let permits: Vec<(&Edge, Standing, &str)> = graph
        .edges
        .iter()
        .filter(|edge| edge.kind == EdgeKind::Permits)
        .filter_map(|edge| {
            let standing = edge.standing.filter(|standing| standing.reachable())?;
            Some((edge, standing, edge.principal.as_deref()?))
        })
        .collect();
    let mut needed: HashSet<&str> = HashSet::with_capacity(permits.len() * 3 + 1);
    needed.insert(graph.agent.as_str());
    for (edge, _, principal) in &permits {
        needed.extend([edge.from.as_str(), edge.to.as_str(), principal]);
    }
    let injects: Vec<&Edge> = graph
        .edges
        .iter()
        .filter(|edge| edge.kind == EdgeKind::Injects && needed.contains(edge.from.as_str()))
        .collect();
    let injected: HashSet<&str> = injects.iter().map(|edge| edge.to.as_str()).collect();
    let entitled: Vec<&Edge> = if injected.is_empty() {
        Vec::new()
    } else {
        graph
            .edges
            .iter()
            .filter(|edge| edge.kind == EdgeKind::Entitled && injected.contains(edge.from.as_str()))
            .collect()
    };
    needed.extend(injected.iter().copied());
    needed.extend(entitled.iter().map(|edge| edge.to.as_str()));
    let by_id: HashMap<&str, &Node> = graph
        .nodes
        .iter()
        .filter(|node| needed.contains(node.id.as_str()))
        .map(|node| (node.id.as_str(), node))
        .collect();
    let reached = permits
        .iter()
        .filter_map(|(edge, standing, principal)| {
            Some(Reached {
                principal: by_id.get(principal).copied()?,
                upstream: by_id.get(edge.from.as_str()).copied()?,
                target: by_id.get(edge.to.as_str()).copied()?,
                standing: *standing,
                policy_ids: &edge.why.policy_ids,
                used: edge.used,
            })
        })
        .collect();
    let mut entitlements = Vec::new();
    for injects in &injects {
        let (Some(upstream), Some(nhi)) = (
            by_id.get(injects.from.as_str()),
            by_id.get(injects.to.as_str()),
        ) else {
            continue;
        };
        for edge in entitled.iter().filter(|edge| edge.from == injects.to) {
            if let Some(entitlement) = by_id.get(edge.to.as_str()) {
                entitlements.push((*upstream, *nhi, *entitlement));
            }
        }
    }
    Reach {
        agent: by_id.get(graph.agent.as_str()).copied(),
        reached,
        entitlements,
    }
}

/// The findings `rules` raise over one agent's access graph: at most one per rule.
pub fn evaluate_paths(input: &PathInput<'_>, rules: &'static [ToxicRule]) -> Vec<Finding> {
    let graph = input.graph;
    let Reach {
        agent,
        reached,
        entitlements,
    } = reach(graph);
    let Some(agent) = agent else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for rule in rules {
        let steps = match &rule.pattern {
            Pattern::Reaches(matches) => combination(&reached, matches),
            Pattern::Entitlements(patterns) => admin_at_the_end(&reached, &entitlements, patterns),
            Pattern::Unused => {
                let window_ms = i64::from(graph.days).saturating_mul(DAY_MS);
                let old_enough =
                    input.now.as_millis() - input.agent_created_at.as_millis() >= window_ms;
                if old_enough {
                    unused(agent, &reached)
                } else {
                    Vec::new()
                }
            }
        };
        if steps.is_empty() {
            continue;
        }
        let over = match rule.pattern {
            Pattern::Unused => format!(" in the last {} days", graph.days),
            _ => String::new(),
        };
        out.push(Finding {
            rule: &rule.id,
            owasp: rule.owasp,
            severity: rule.severity,
            identity: agent.name.clone(),
            credential: None,
            evidence: format!(
                "{} {}{over}: {} (OWASP agentic {})",
                agent.name,
                rule.summary,
                listed(steps),
                rule.agentic
            ),
            remediation: &rule.remediation,
        });
    }
    out
}

/// One path per match when every match is met, none otherwise.
fn combination(reached: &[Reached<'_>], matches: &[ActionMatch]) -> Vec<String> {
    let mut steps = Vec::with_capacity(matches.len());
    for wanted in matches {
        match reached.iter().find(|item| item.meets(wanted)) {
            Some(item) => steps.push(item.describe()),
            None => return Vec::new(),
        }
    }
    steps
}

/// The paths that end in an entitlement matching a pattern: through an upstream on which
/// something is within reach, to the identity it injects, to that identity's entitlement.
fn admin_at_the_end(
    reached: &[Reached<'_>],
    entitlements: &[(&Node, &Node, &Node)],
    patterns: &[String],
) -> Vec<String> {
    let mut steps = Vec::new();
    for (upstream, nhi, entitlement) in entitlements {
        let Some(via) = reached.iter().find(|item| item.upstream.id == upstream.id) else {
            continue;
        };
        if patterns
            .iter()
            .any(|pattern| glob_matches(pattern, &entitlement.name))
        {
            steps.push(format!(
                "{} → {} → {} → {}",
                via.principal.name, upstream.name, nhi.name, entitlement.name
            ));
        }
    }
    steps
}

/// The agent's own actions within reach that the trail shows unused: what to remove.
fn unused(agent: &Node, reached: &[Reached<'_>]) -> Vec<String> {
    reached
        .iter()
        .filter(|item| item.principal.id == agent.id && item.used == Some(false))
        .map(|item| {
            format!(
                "{} {} ({})",
                item.upstream.name,
                item.target.name,
                item.standing.as_str()
            )
        })
        .collect()
}

/// The steps joined, the first [`MAX_LISTED`] of them and a count of the rest.
fn listed(mut steps: Vec<String>) -> String {
    let more = steps.len().saturating_sub(MAX_LISTED);
    steps.truncate(MAX_LISTED);
    let mut text = steps.join("; ");
    if more > 0 {
        text.push_str(&format!("; and {more} more"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_custom_rule_replaces_the_builtin_of_its_id_and_others_are_added() {
        let builtin = builtin_rules().map_err(|e| e.to_string());
        let builtin = builtin.as_deref().unwrap_or_default();
        let custom = parse_rules(
            r#"
[[rule]]
id = "path-exfiltration"
owasp = "NHI5"
agentic = "ASI03"
severity = "low"
summary = "s"
remediation = "r"
reaches = [{ labels = ["pii"] }, { labels = ["llm"], effect = "write" }]

[[rule]]
id = "path-pii-to-llm"
owasp = "NHI5"
agentic = "ASI03"
severity = "high"
summary = "s"
remediation = "r"
unused = true
"#,
        )
        .map_err(|e| e.to_string());
        let merged = merge_rules(builtin, custom.clone().unwrap_or_default());
        assert_eq!(merged.len(), builtin.len() + 1, "{custom:?}");
        let replaced = merged
            .iter()
            .filter(|r| r.id == "path-exfiltration")
            .count();
        assert_eq!(replaced, 1);
        assert!(
            merged
                .iter()
                .any(|r| r.id == "path-exfiltration" && r.severity == Severity::Low)
        );
        assert_eq!(
            merged.last().map(|r| r.id.as_str()),
            Some("path-pii-to-llm")
        );
    }

    #[test]
    fn the_builtin_rules_parse_and_keep_their_ids() {
        let rules = builtin_rules().map_err(|e| e.to_string());
        let ids: Vec<&str> = rules
            .as_deref()
            .unwrap_or_default()
            .iter()
            .map(|rule| rule.id.as_str())
            .collect();
        assert_eq!(
            ids,
            [
                "path-exfiltration",
                "path-request-and-approve",
                "path-change-and-deploy",
                "path-prod-and-non-prod",
                "path-admin-entitlement",
                "path-permitted-unused",
            ],
            "{rules:?}"
        );
    }
}
