//! Access graphs of fixtures with known paths, as golden JSON, and what the cut, the reach
//! and the dot rendering keep of them.

use warden_core::{Environment, IdentityKind, IdentityStatus};
use warden_policy::{
    PolicyDocument, PolicyEngine, RouteMap, SchemaInput, Standing, UpstreamKind,
    UpstreamSchemaInput,
};
use warden_posture::access_graph::{
    AccessGraph, ActionFacts, CredentialFacts, EdgeKind, EntitlementFacts, GraphError, GraphInput,
    IdentityFacts, InjectedFacts, NodeKind, UpstreamFacts, UseFacts, build, dot,
};

use crate::{NOW, days_ago};

const CRM_ROUTES: &str = r#"
[[route]]
method = "GET"
path = "/tickets/{id}"
action = "tickets.read"
resource = "Ticket::{id}"
labels = ["customer_records"]

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
"#;

const POLICIES: &str = r#"
permit(principal == Agent::"support-bot", action == Action::"tickets.read", resource in Upstream::"crm");
permit(principal == Agent::"support-bot", action == Action::"tickets.close", resource in Upstream::"crm")
    when { context has reason };
@approval("refunds")
permit(principal == Agent::"support-bot", action == Action::"refunds.create", resource in Upstream::"crm");
permit(principal == Agent::"triage-bot", action == Action::"call_tool", resource == Tool::"docs/search");
forbid(principal, action == Action::"tickets.delete", resource);
"#;

fn engine() -> PolicyEngine {
    let routes = RouteMap::from_toml(CRM_ROUTES).unwrap();
    let input = SchemaInput {
        upstreams: vec![
            UpstreamSchemaInput {
                name: "crm".into(),
                kind: UpstreamKind::Http { routes },
            },
            UpstreamSchemaInput {
                name: "docs".into(),
                kind: UpstreamKind::Mcp {
                    tools: vec!["search".into(), "publish".into()],
                },
            },
        ],
    };
    PolicyEngine::new(&input, &[PolicyDocument::new("support", POLICIES)]).unwrap()
}

fn identity(id: &str, name: &str, parent: Option<&str>) -> IdentityFacts {
    IdentityFacts {
        id: id.into(),
        kind: IdentityKind::Agent,
        name: name.into(),
        owner: "alice@example.com".into(),
        environment: Some(Environment::Prod),
        status: IdentityStatus::Active,
        parent_id: parent.map(Into::into),
        created_at: days_ago(100),
    }
}

fn used(who: &str, days: i64, upstream: &str, action: &str, resource: &str) -> UseFacts {
    UseFacts {
        identity_id: who.into(),
        at: days_ago(days),
        upstream: Some(upstream.into()),
        action: Some(action.into()),
        resource: Some(resource.into()),
        credential_id: Some(format!("cred-{who}")),
        on_behalf_of: None,
    }
}

/// orchestrator → support-bot → triage-bot; crm (sensitive) injects the imported
/// `github-ci` with two entitlements; docs (MCP) has `search` (external) and `publish`.
fn fixture(depth: u32) -> GraphInput {
    let routes = RouteMap::from_toml(CRM_ROUTES).unwrap();
    let mut read = used("a1", 2, "crm", "tickets.read", "Ticket::\"42\"");
    read.on_behalf_of = Some("user-7".into());
    GraphInput {
        agent: identity("a1", "support-bot", Some("p0")),
        parent: Some(identity("p0", "orchestrator", None)),
        sub_agents: vec![identity("s1", "triage-bot", Some("a1"))],
        credentials: vec![
            CredentialFacts {
                id: "cred-a1".into(),
                identity_id: "a1".into(),
                kind: "client_secret".into(),
                status: "active".into(),
                created_at: days_ago(10),
                expires_at: Some(days_ago(-80)),
            },
            CredentialFacts {
                id: "cred-old".into(),
                identity_id: "a1".into(),
                kind: "client_secret".into(),
                status: "active".into(),
                created_at: days_ago(120),
                expires_at: Some(days_ago(30)),
            },
            CredentialFacts {
                id: "cred-s1".into(),
                identity_id: "s1".into(),
                kind: "private_key_jwt".into(),
                status: "active".into(),
                created_at: days_ago(5),
                expires_at: None,
            },
        ],
        trusted_issuers: vec!["https://idp.example.com".into()],
        upstreams: vec![
            UpstreamFacts {
                name: "crm".into(),
                kind: "http".into(),
                labels: vec!["sensitive".into()],
                actions: ActionFacts::routes(&routes),
                injects: Some(InjectedFacts {
                    id: "imp-9".into(),
                    source: "imported".into(),
                    reference: "service_account:github-ci".into(),
                    import_source: Some("github".into()),
                    status: Some("present".into()),
                    entitlements: vec![
                        EntitlementFacts {
                            value: "github:repository/contents:write".into(),
                            scope: None,
                            via: None,
                        },
                        EntitlementFacts {
                            value: "k8s:clusterrole/cluster-admin".into(),
                            scope: Some("namespace/prod".into()),
                            via: Some("RoleBinding/ci".into()),
                        },
                    ],
                }),
            },
            UpstreamFacts {
                name: "docs".into(),
                kind: "mcp".into(),
                labels: Vec::new(),
                actions: vec![
                    ActionFacts::tool("docs", "search", vec!["external".into()]),
                    ActionFacts::tool("docs", "publish", Vec::new()),
                ],
                injects: None,
            },
        ],
        uses: vec![
            read,
            // Outside the 30-day window: the close is not "used".
            used("a1", 40, "crm", "tickets.close", "Ticket::\"42\""),
            used("s1", 1, "docs", "call_tool", "Tool::\"docs/search\""),
        ],
        uses_cut: Vec::new(),
        reach_only: false,
        now: NOW,
        days: 30,
        depth,
    }
}

fn permits<'g>(graph: &'g AccessGraph, principal: &str) -> Vec<(&'g str, Standing, bool)> {
    graph
        .edges
        .iter()
        .filter(|edge| edge.kind == EdgeKind::Permits)
        .filter(|edge| edge.principal.as_deref() == Some(principal))
        .map(|edge| {
            let name = graph.node(&edge.to).map_or("", |node| node.name.as_str());
            (name, edge.standing.unwrap(), edge.used == Some(true))
        })
        .collect()
}

#[test]
fn the_fixture_graph_is_the_golden_one() {
    let graph = build(&fixture(3), &engine()).unwrap();
    insta::assert_json_snapshot!("access_graph_fixture", graph);
}

#[test]
fn each_action_carries_the_standing_and_use_of_each_principal() {
    let graph = build(&fixture(3), &engine()).unwrap();
    assert_eq!(
        permits(&graph, "identity:a1"),
        vec![
            ("GET /tickets/{id}", Standing::Allowed, true),
            ("POST /tickets/{id}/close", Standing::Conditional, false),
            ("POST /refunds", Standing::AfterApproval, false),
            ("DELETE /tickets/{id}", Standing::Denied, false),
            ("search", Standing::Denied, false),
            ("publish", Standing::Denied, false),
        ]
    );
    assert_eq!(
        permits(&graph, "identity:s1"),
        vec![
            ("GET /tickets/{id}", Standing::Denied, false),
            ("POST /tickets/{id}/close", Standing::Denied, false),
            ("POST /refunds", Standing::Denied, false),
            ("DELETE /tickets/{id}", Standing::Denied, false),
            ("search", Standing::Allowed, true),
            ("publish", Standing::Denied, false),
        ]
    );
    let delete = graph
        .edges
        .iter()
        .find(|edge| edge.to == "action:crm:DELETE /tickets/{id}")
        .unwrap();
    assert_eq!(delete.why.policy_ids, vec!["support#5".to_string()]);
    assert_eq!(delete.why.detail.as_deref(), Some("forbid"));
    let acted = graph
        .edges
        .iter()
        .find(|edge| edge.kind == EdgeKind::ActedFor)
        .unwrap();
    assert_eq!(
        (acted.from.as_str(), acted.to.as_str()),
        ("identity:a1", "user:user-7")
    );
    let expired = graph.node("credential:cred-old").unwrap();
    assert_eq!(expired.facts.get("status"), Some("expired"));
    assert_eq!(expired.facts.get("age_days"), Some("120"));
}

/// (principal, upstream, [(action, standing)]).
type Reached = (String, String, Vec<(String, Standing)>);

#[test]
fn the_reach_lists_what_some_request_can_get_through_per_principal() {
    let graph = build(&fixture(3), &engine()).unwrap();
    let reach: Vec<Reached> = graph
        .reach()
        .into_iter()
        .map(|r| {
            (
                r.principal,
                r.upstream,
                r.actions
                    .into_iter()
                    .map(|a| (a.name, a.standing))
                    .collect(),
            )
        })
        .collect();
    assert_eq!(
        reach,
        vec![
            (
                "agent:support-bot".into(),
                "crm".into(),
                vec![
                    ("GET /tickets/{id}".into(), Standing::Allowed),
                    ("POST /tickets/{id}/close".into(), Standing::Conditional),
                    ("POST /refunds".into(), Standing::AfterApproval),
                ]
            ),
            (
                "agent:triage-bot".into(),
                "docs".into(),
                vec![("search".into(), Standing::Allowed)]
            ),
        ]
    );
}

#[test]
fn the_depth_cuts_the_graph_at_that_many_hops() {
    let engine = engine();
    let shallow = build(&fixture(1), &engine).unwrap();
    let kinds: std::collections::BTreeSet<NodeKind> =
        shallow.nodes.iter().map(|node| node.kind).collect();
    assert!(kinds.contains(&NodeKind::Upstream));
    assert!(!kinds.contains(&NodeKind::Action), "{kinds:?}");
    assert!(!kinds.contains(&NodeKind::InjectedIdentity));
    assert!(shallow.nodes.iter().all(|node| node.depth <= 1));
    let ids: std::collections::HashSet<&str> =
        shallow.nodes.iter().map(|node| node.id.as_str()).collect();
    assert!(
        shallow
            .edges
            .iter()
            .all(|edge| ids.contains(edge.from.as_str()) && ids.contains(edge.to.as_str()))
    );
    let two = build(&fixture(2), &engine).unwrap();
    assert!(two.node("nhi:imported:imp-9").is_some());
    assert!(
        two.nodes
            .iter()
            .all(|node| node.kind != NodeKind::Entitlement)
    );
    let three = build(&fixture(3), &engine).unwrap();
    let admin = three
        .node("entitlement:imported:imp-9:k8s:clusterrole/cluster-admin")
        .unwrap();
    assert_eq!(admin.depth, 3);
}

#[test]
fn out_of_range_depth_and_days_are_refused() {
    let engine = engine();
    assert_eq!(
        build(&fixture(0), &engine).unwrap_err(),
        GraphError::Depth(0)
    );
    assert_eq!(
        build(&fixture(9), &engine).unwrap_err(),
        GraphError::Depth(9)
    );
    let mut input = fixture(3);
    input.days = 0;
    assert_eq!(build(&input, &engine).unwrap_err(), GraphError::Days(0));
    assert!(GraphError::Depth(0).to_string().contains("1 to 8"));
}

#[test]
fn dot_escapes_names_from_the_inventory() {
    let mut input = fixture(3);
    input.upstreams[1].actions.push(ActionFacts::tool(
        "docs",
        "evil\"];\ninjected [label=\"x",
        Vec::new(),
    ));
    let graph = build(&input, &engine()).unwrap();
    let text = dot::render(&graph);
    assert!(text.starts_with("digraph "));
    assert!(text.trim_end().ends_with('}'));
    assert!(!text.contains("\ninjected"), "{text}");
    assert!(text.contains(r#"evil\"];\ninjected [label=\"x"#));
    assert!(text.contains("color=darkgreen"));
    assert!(text.contains("style=dashed"));
}

#[test]
fn within_reach_the_denied_actions_are_counted_on_each_reaches_edge() {
    let listed = build(&fixture(3), &engine()).unwrap();
    let folded = build(
        &GraphInput {
            reach_only: true,
            ..fixture(3)
        },
        &engine(),
    )
    .unwrap();
    for reaches in folded.edges.iter().filter(|e| e.kind == EdgeKind::Reaches) {
        let principal = reaches.from.as_str();
        let upstream = reaches.to.as_str();
        let denied_when_listed = listed
            .edges
            .iter()
            .filter(|e| {
                e.from == upstream
                    && e.principal.as_deref() == Some(principal)
                    && e.standing == Some(Standing::Denied)
            })
            .count();
        assert_eq!(
            reaches.denied_actions,
            Some(u32::try_from(denied_when_listed).unwrap()),
            "{principal} on {upstream}"
        );
        assert!(
            folded
                .edges
                .iter()
                .all(|e| e.standing != Some(Standing::Denied)),
            "no denied standing is listed within reach"
        );
    }
    // The drawing says how many were left out.
    let drawn = dot::render(&folded);
    let mut counted = 0;
    for reaches in folded.edges.iter().filter(|e| e.kind == EdgeKind::Reaches) {
        if let Some(denied) = reaches.denied_actions.filter(|&n| n > 0) {
            assert!(drawn.contains(&format!("{denied} denied")), "{drawn}");
            counted += 1;
        }
    }
    assert!(counted > 0, "the fixture denies something within reach");
    // The listed graph counts nothing: every denial is an edge of its own.
    assert!(listed.edges.iter().all(|e| e.denied_actions.is_none()));
    // What is within reach is the same either way.
    assert_eq!(folded.reach(), listed.reach());
}
