//! One agent's access graph over 1,000 upstreams of 50 routes each (50,000 actions) with
//! 10,000 policies loaded, spread over a fleet as real ones are: most name other agents,
//! some this agent, some its owner, a few every principal. The goal is at most 50 ms.
//!
//! - `graph`: [`build`] as `warden graph agent` runs it by default, every action's standing
//!   decided by the engine through its index, the denied ones counted on each upstream's
//!   `reaches` edge.
//! - `graph_every_denied_action_listed`: the same with `--denied list`, a node and an edge
//!   for each of the actions denied to the agent too.
//! - `naive_decisions`: the baseline, one full [`PolicyEngine::decide`] per route for the
//!   same agent (what a graph would cost asking the gateway's question once per action),
//!   without building any graph.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fmt::Write as _;

use criterion::{Criterion, criterion_group, criterion_main};
use warden_core::{Environment, IdentityKind, IdentityStatus, Timestamp};
use warden_policy::{
    DecisionRequest, PolicyDocument, PolicyEngine, PrincipalKind, RequestContext, RouteMap,
    SchemaInput, UpstreamKind, UpstreamSchemaInput,
};
use warden_posture::access_graph::{
    ActionFacts, GraphInput, IdentityFacts, UpstreamFacts, UseFacts, build,
};

const UPSTREAMS: usize = 1_000;
const ROUTES: usize = 50;
/// The policies loaded, unless `WARDEN_BENCH_POLICIES` says otherwise: compiling 10,000
/// against this catalog takes Cedar's validator most of an hour on the 2-core machine.
const POLICIES: usize = 10_000;

fn policy_count() -> usize {
    std::env::var("WARDEN_BENCH_POLICIES")
        .ok()
        .and_then(|count| count.parse().ok())
        .unwrap_or(POLICIES)
}

fn routes(upstream: usize) -> RouteMap {
    let mut text = String::new();
    for route in 0..ROUTES {
        let method = ["GET", "POST", "PUT", "DELETE"][route % 4];
        let _ = write!(
            text,
            "[[route]]\nmethod = \"{method}\"\npath = \"/r{route}/{{id}}\"\naction = \"u{upstream}.a{route}\"\nresource = \"Item{}::{{id}}\"\n",
            route % 5
        );
    }
    RouteMap::from_toml(&text).unwrap()
}

fn policies() -> Vec<PolicyDocument> {
    (0..policy_count())
        .map(|i| {
            let upstream = i % UPSTREAMS;
            let action = format!("u{upstream}.a{}", i % ROUTES);
            let text = match i % 100 {
                // The agent itself: 2% of the policies, some held for approval, some
                // reading the request.
                0 => format!(
                    r#"permit(principal == Agent::"bench-bot", action == Action::"{action}", resource in Upstream::"u{upstream}");"#
                ),
                1 => format!(
                    r#"@approval("x") permit(principal == Agent::"bench-bot", action == Action::"{action}", resource);"#
                ),
                // Its owner's fleet.
                2 => format!(
                    r#"permit(principal in Owner::"owner@example.com", action == Action::"{action}", resource) when {{ context has reason }};"#
                ),
                // Everyone: a forbid on one action.
                3 => format!(
                    r#"forbid(principal, action == Action::"{action}", resource) unless {{ context.scopes.contains("x") }};"#
                ),
                // The rest of the fleet.
                _ => format!(
                    r#"permit(principal == Agent::"bot-{}", action == Action::"{action}", resource in Upstream::"u{upstream}");"#,
                    i % 997
                ),
            };
            PolicyDocument::new(format!("p{i}"), text)
        })
        .collect()
}

fn setup() -> (PolicyEngine, GraphInput, Vec<RouteMap>) {
    let maps: Vec<RouteMap> = (0..UPSTREAMS).map(routes).collect();
    let input = SchemaInput {
        upstreams: maps
            .iter()
            .enumerate()
            .map(|(i, routes)| UpstreamSchemaInput {
                name: format!("u{i}"),
                kind: UpstreamKind::Http {
                    routes: routes.clone(),
                },
            })
            .collect(),
    };
    let engine = PolicyEngine::new(&input, &policies()).unwrap();
    let now = Timestamp::from_millis(1_763_769_600_000);
    let agent = IdentityFacts {
        id: "a1".into(),
        kind: IdentityKind::Agent,
        name: "bench-bot".into(),
        owner: "owner@example.com".into(),
        environment: Some(Environment::Prod),
        status: IdentityStatus::Active,
        parent_id: None,
        created_at: now.plus_secs(-86_400),
    };
    let graph = GraphInput {
        agent,
        parent: None,
        sub_agents: Vec::new(),
        credentials: Vec::new(),
        trusted_issuers: Vec::new(),
        upstreams: maps
            .iter()
            .enumerate()
            .map(|(i, routes)| UpstreamFacts {
                name: format!("u{i}"),
                kind: "http".into(),
                labels: Vec::new(),
                actions: ActionFacts::routes(routes),
                injects: None,
            })
            .collect(),
        uses: (0..1_000)
            .map(|i| UseFacts {
                identity_id: "a1".into(),
                at: now.plus_secs(-3_600),
                upstream: Some(format!("u{}", i % UPSTREAMS)),
                action: Some(format!("u{}.a{}", i % UPSTREAMS, i % ROUTES)),
                resource: None,
                credential_id: None,
                on_behalf_of: None,
            })
            .collect(),
        uses_cut: Vec::new(),
        reach_only: false,
        now,
        days: 30,
        depth: 3,
    };
    (engine, graph, maps)
}

fn bench(c: &mut Criterion) {
    let (engine, input, maps) = setup();
    let built = build(&input, &engine).unwrap();
    assert_eq!(
        built
            .edges
            .iter()
            .filter(|edge| edge.standing.is_some())
            .count(),
        UPSTREAMS * ROUTES
    );
    let mut group = c.benchmark_group(format!("access_graph_1000x50_{}_policies", policy_count()));
    group.sample_size(10);
    let folded = GraphInput {
        reach_only: true,
        ..input.clone()
    };
    let built = build(&folded, &engine).unwrap();
    let counted: u32 = built.edges.iter().filter_map(|e| e.denied_actions).sum();
    let listed = built.edges.iter().filter(|e| e.standing.is_some()).count();
    assert_eq!(counted as usize + listed, UPSTREAMS * ROUTES);
    group.bench_function("graph", |b| b.iter(|| build(&folded, &engine).unwrap()));
    group.bench_function("graph_every_denied_action_listed", |b| {
        b.iter(|| build(&input, &engine).unwrap())
    });
    group.bench_function("naive_decisions", |b| {
        b.iter(|| {
            let mut allowed = 0usize;
            for (i, routes) in maps.iter().enumerate() {
                let upstream = format!("u{i}");
                for route in routes.routes() {
                    let decision = engine.decide(&DecisionRequest {
                        kind: PrincipalKind::Agent,
                        name: "bench-bot",
                        owner: "owner@example.com",
                        on_behalf_of: None,
                        upstream: &upstream,
                        action: &route.action,
                        resource_type: route.resource.entity_type(),
                        resource_id: "{id}",
                        context: RequestContext {
                            environment: Some("prod"),
                            ..RequestContext::default()
                        },
                        approved: false,
                    });
                    allowed += usize::from(decision.effect != warden_policy::Effect::Deny);
                }
            }
            allowed
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
