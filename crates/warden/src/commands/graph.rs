//! `warden graph agent NAME`: an agent's access graph, as text for people, JSON as the API
//! returns it, or Graphviz dot.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value;
use warden_posture::access_graph::{AccessGraph, Edge, EdgeKind, Node, NodeKind, Standing, dot};

use crate::cli::{GraphCommand, OutputChoice};
use crate::client::{Client, Failure, segment};
use crate::output;

/// Denied actions named in the text before the rest are only counted.
const DENIED_NAMED: usize = 5;

pub async fn run(
    client: &Client,
    output: OutputChoice,
    command: GraphCommand,
) -> Result<(), Failure> {
    let GraphCommand::Agent {
        name,
        depth,
        days,
        denied,
    } = command;
    // A bare name is an agent's; `KIND:NAME` and ids pass as they are.
    let reference = if name.contains(':') || uuid_like(&name) {
        name
    } else {
        format!("agent:{name}")
    };
    let query = vec![
        ("depth".to_string(), depth.to_string()),
        ("days".to_string(), days.to_string()),
        ("denied".to_string(), denied),
    ];
    let answer = client
        .get(
            &format!("/v1/identities/{}/graph", segment(&reference)),
            &query,
        )
        .await?;
    match output {
        OutputChoice::Json => output::json(&answer),
        OutputChoice::Dot => output::line(dot::render(&parse(answer)?).trim_end()),
        OutputChoice::Table => output::line(text(&parse(answer)?).trim_end()),
    }
    Ok(())
}

fn parse(answer: Value) -> Result<AccessGraph, Failure> {
    serde_json::from_value(answer).map_err(|error| {
        Failure::refused(format!(
            "the server's graph could not be read ({error}); is the CLI the server's version?"
        ))
    })
}

fn uuid_like(text: &str) -> bool {
    text.len() == 36 && text.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}

fn facts(node: &Node, keys: &[&str]) -> String {
    let shown: Vec<String> = keys
        .iter()
        .filter_map(|key| {
            node.facts.get(key).map(|value| match *key {
                "age_days" => format!("{value} days old"),
                "owner" => format!("owner {value}"),
                "expires_at" => format!("expires {value}"),
                _ => value.to_owned(),
            })
        })
        .collect();
    if shown.is_empty() {
        String::new()
    } else {
        format!(" ({})", shown.join(", "))
    }
}

fn labels(node: &Node) -> String {
    if node.labels.is_empty() {
        String::new()
    } else {
        format!(" [{}]", node.labels.join(", "))
    }
}

fn used(edge: &Edge) -> String {
    match (edge.used, edge.last_used_at) {
        (Some(true), Some(at)) => format!("  used {}", at.to_rfc3339()),
        (Some(true), None) => "  used".to_string(),
        (Some(false), _) => "  unused".to_string(),
        (None, _) => String::new(),
    }
}

fn standing_text(standing: Standing) -> &'static str {
    match standing {
        Standing::Allowed => "allowed",
        Standing::AfterApproval => "after approval",
        Standing::Conditional => "conditional",
        Standing::Denied => "denied",
    }
}

/// The graph for people: the agent and what it holds, then each upstream with what each
/// identity may do there, denied actions counted rather than listed.
pub fn text(graph: &AccessGraph) -> String {
    let nodes: BTreeMap<&str, &Node> = graph.nodes.iter().map(|n| (n.id.as_str(), n)).collect();
    let name = |id: &str| nodes.get(id).map_or(id.to_string(), |n| n.name.clone());
    let mut out = String::new();
    let Some(agent) = nodes.get(graph.agent.as_str()) else {
        return "the graph has no agent node".to_string();
    };
    let _ = writeln!(
        out,
        "{}{}",
        agent.name,
        facts(agent, &["status", "environment", "owner", "age_days"])
    );
    let _ = writeln!(
        out,
        "  depth {}, used = seen in the audit trail in the last {} days",
        graph.depth, graph.days
    );
    let of_kind = |kind: EdgeKind| graph.edges.iter().filter(move |e| e.kind == kind);
    for edge in of_kind(EdgeKind::SubAgent) {
        let (Some(from), Some(to)) = (nodes.get(edge.from.as_str()), nodes.get(edge.to.as_str()))
        else {
            continue;
        };
        match (from.kind, to.kind) {
            (NodeKind::Parent, _) => {
                let _ = writeln!(out, "  parent: {}{}", from.name, facts(from, &["status"]));
            }
            _ => {
                let _ = writeln!(
                    out,
                    "  sub-agent: {}{} (under {})",
                    to.name,
                    facts(to, &["status", "environment"]),
                    from.name
                );
            }
        }
    }
    for edge in of_kind(EdgeKind::Holds) {
        if let Some(credential) = nodes.get(edge.to.as_str()) {
            let _ = writeln!(
                out,
                "  credential of {}: {}{}{}",
                name(&edge.from),
                credential.name,
                facts(credential, &["status", "age_days", "expires_at"]),
                used(edge)
            );
        }
    }
    for edge in of_kind(EdgeKind::MayActFor) {
        let _ = writeln!(
            out,
            "  {} may act for users of {} (token exchange; a user's may_act narrows it)",
            name(&edge.from),
            name(&edge.to)
        );
    }
    for edge in of_kind(EdgeKind::ActedFor) {
        let _ = writeln!(
            out,
            "  {} acted for user {}{}",
            name(&edge.from),
            name(&edge.to),
            used(edge)
        );
    }

    let upstreams: Vec<&Node> = graph
        .nodes
        .iter()
        .filter(|n| n.kind == NodeKind::Upstream)
        .collect();
    if upstreams.is_empty() {
        return out;
    }
    out.push_str("upstreams:\n");
    for upstream in upstreams {
        let reached: Vec<&Edge> = of_kind(EdgeKind::Reaches)
            .filter(|e| e.to == upstream.id)
            .collect();
        let used_by: Vec<String> = reached
            .iter()
            .filter(|e| e.used == Some(true))
            .map(|e| name(&e.from))
            .collect();
        let _ = writeln!(
            out,
            "  {}{}{}{}",
            upstream.name,
            labels(upstream),
            facts(upstream, &["kind"]),
            if used_by.is_empty() {
                String::new()
            } else {
                format!("  used by {}", used_by.join(", "))
            }
        );
        for edge in of_kind(EdgeKind::Injects).filter(|e| e.from == upstream.id) {
            let Some(nhi) = nodes.get(edge.to.as_str()) else {
                continue;
            };
            let _ = writeln!(
                out,
                "    injects the secret of {}{}",
                nhi.name,
                facts(nhi, &["source", "import_source", "status"])
            );
            for entitled in of_kind(EdgeKind::Entitled).filter(|e| e.from == nhi.id) {
                if let Some(entitlement) = nodes.get(entitled.to.as_str()) {
                    let via = entitled
                        .why
                        .detail
                        .as_deref()
                        .map(|d| format!(" from {d}"))
                        .unwrap_or_default();
                    let _ = writeln!(
                        out,
                        "      entitled to {}{}{}",
                        entitlement.name,
                        facts(entitlement, &["scope"]),
                        via
                    );
                }
            }
        }
        // Per identity: what it may do here.
        let mut principals: Vec<&str> = Vec::new();
        let counted = |principal: &str| {
            reached
                .iter()
                .find(|e| e.from == principal)
                .and_then(|e| e.denied_actions)
                .unwrap_or(0)
        };
        for edge in reached.iter().filter(|e| e.denied_actions.unwrap_or(0) > 0) {
            principals.push(edge.from.as_str());
        }
        for edge in of_kind(EdgeKind::Permits).filter(|e| e.from == upstream.id) {
            if let Some(principal) = edge.principal.as_deref()
                && !principals.contains(&principal)
            {
                principals.push(principal);
            }
        }
        for principal in principals {
            let edges: Vec<&Edge> = of_kind(EdgeKind::Permits)
                .filter(|e| e.from == upstream.id && e.principal.as_deref() == Some(principal))
                .collect();
            let _ = writeln!(out, "    {}:", name(principal));
            let mut denied = Vec::new();
            for edge in &edges {
                let Some(standing) = edge.standing else {
                    continue;
                };
                let Some(target) = nodes.get(edge.to.as_str()) else {
                    continue;
                };
                if standing == Standing::Denied {
                    denied.push(target.name.clone());
                    continue;
                }
                let policies = if edge.why.policy_ids.is_empty() {
                    String::new()
                } else {
                    format!("  by {}", edge.why.policy_ids.join(", "))
                };
                let _ = writeln!(
                    out,
                    "      {:<14} {}{}{}{}",
                    standing_text(standing),
                    target.name,
                    labels(target),
                    policies,
                    used(edge)
                );
            }
            let uncounted = counted(principal);
            if uncounted > 0 {
                let _ = writeln!(
                    out,
                    "      {:<14} {uncounted} action{} (--denied list names them)",
                    "denied",
                    if uncounted == 1 { "" } else { "s" }
                );
            }
            if !denied.is_empty() {
                let named: Vec<&str> = denied
                    .iter()
                    .take(DENIED_NAMED)
                    .map(String::as_str)
                    .collect();
                let more = denied.len().saturating_sub(DENIED_NAMED);
                let _ = writeln!(
                    out,
                    "      {:<14} {}{}",
                    "denied",
                    named.join(", "),
                    if more > 0 {
                        format!(" and {more} more")
                    } else {
                        String::new()
                    }
                );
            }
        }
    }
    out
}
