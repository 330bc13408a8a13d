//! The toxic-combination rules over a fleet of 100,000 agents, within the posture
//! evaluation's budget (a full evaluation in at most 10 s).
//!
//! Every agent's graph spans 100 upstreams of 20 routes (2,000 actions, each with its
//! standing), labelled as a real catalog is (a tenth sensitive, a tenth external, half prod,
//! the rest staging; every tenth upstream injecting an identity with entitlements); each
//! agent holds 30 permits spread over them, half of them used in the window. The graphs are
//! built as the posture pass builds them (within reach only), once, for 100 distinct agents,
//! and the 100,000 evaluations cycle through them: the rules are pure, so an evaluation
//! costs the same whichever agent it reads.
//!
//! - `rules_100000_agents`: [`evaluate_paths`] with the built-in rules over every agent.
//! - `baseline_walk_100000_agents`: the floor, in the same run: one pass over the same
//!   graphs' edges counting the permits within reach, which any rule over a path must read.
//! - `build_one_agent_reach_only`: what the pass spends per agent before the rules, the
//!   graph within reach (every action's standing asked of the engine); not the store reads.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fmt::Write as _;

use criterion::{Criterion, criterion_group, criterion_main};
use warden_core::{Environment, IdentityKind, IdentityStatus, Timestamp};
use warden_policy::{
    PolicyDocument, PolicyEngine, RouteMap, SchemaInput, UpstreamKind, UpstreamSchemaInput,
};
use warden_posture::access_graph::{
    AccessGraph, ActionFacts, EdgeKind, EntitlementFacts, GraphInput, IdentityFacts, InjectedFacts,
    UpstreamFacts, UseFacts, build,
};
use warden_posture::toxic::{PathInput, builtin_rules, evaluate_paths};

const AGENTS: usize = 100_000;
const DISTINCT: usize = 100;
const UPSTREAMS: usize = 100;
const ROUTES: usize = 20;
const PERMITS: usize = 30;

fn routes(upstream: usize) -> RouteMap {
    let mut text = String::new();
    for route in 0..ROUTES {
        let method = ["GET", "POST", "PUT", "DELETE"][route % 4];
        let label = match route % 10 {
            0 => "labels = [\"request\"]\n",
            1 => "labels = [\"approve\"]\n",
            _ => "",
        };
        let _ = write!(
            text,
            "[[route]]\nmethod = \"{method}\"\npath = \"/r{route}/{{id}}\"\naction = \"u{upstream}.a{route}\"\nresource = \"Item::{{id}}\"\n{label}"
        );
    }
    RouteMap::from_toml(&text).unwrap()
}

fn labels(upstream: usize) -> Vec<String> {
    let mut labels = vec![
        if upstream.is_multiple_of(2) {
            "prod"
        } else {
            "staging"
        }
        .to_string(),
    ];
    match upstream % 10 {
        0 => labels.push("sensitive".into()),
        1 => labels.push("external".into()),
        _ => {}
    }
    labels
}

/// Agent `bot-K` holds [`PERMITS`] permits, spread by K over the catalog.
fn policies() -> Vec<PolicyDocument> {
    (0..DISTINCT)
        .flat_map(|agent| {
            (0..PERMITS).map(move |p| {
                let upstream = (agent * 7 + p * 13) % UPSTREAMS;
                let route = (agent + p * 3) % ROUTES;
                PolicyDocument::new(
                    format!("p{agent}-{p}"),
                    format!(
                        r#"permit(principal == Agent::"bot-{agent}", action == Action::"u{upstream}.a{route}", resource);"#
                    ),
                )
            })
        })
        .collect()
}

fn graphs(now: Timestamp) -> (Vec<AccessGraph>, PolicyEngine, GraphInput) {
    let maps: Vec<RouteMap> = (0..UPSTREAMS).map(routes).collect();
    let schema = SchemaInput {
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
    let engine = PolicyEngine::new(&schema, &policies()).unwrap();
    let upstreams: Vec<UpstreamFacts> = maps
        .iter()
        .enumerate()
        .map(|(i, routes)| UpstreamFacts {
            name: format!("u{i}"),
            kind: "http".into(),
            labels: labels(i),
            actions: ActionFacts::routes(routes),
            injects: (i % 10 == 5).then(|| InjectedFacts {
                id: format!("imp-{i}"),
                source: "imported".into(),
                reference: format!("service_account:deployer-{i}"),
                import_source: Some("k8s".into()),
                status: Some("present".into()),
                entitlements: ["k8s:rule/core/pods/list", "k8s:clusterrole/cluster-admin"]
                    .iter()
                    .map(|value| EntitlementFacts {
                        value: (*value).into(),
                        scope: None,
                        via: None,
                    })
                    .collect(),
            }),
        })
        .collect();
    let inputs: Vec<GraphInput> = (0..DISTINCT)
        .map(|agent| {
            let id = format!("a{agent}");
            let uses = (0..PERMITS / 2)
                .map(|p| UseFacts {
                    identity_id: id.clone(),
                    at: now.plus_secs(-3_600),
                    upstream: Some(format!("u{}", (agent * 7 + p * 13) % UPSTREAMS)),
                    action: Some(format!(
                        "u{}.a{}",
                        (agent * 7 + p * 13) % UPSTREAMS,
                        (agent + p * 3) % ROUTES
                    )),
                    resource: None,
                    credential_id: None,
                    on_behalf_of: None,
                })
                .collect();
            GraphInput {
                agent: IdentityFacts {
                    id,
                    kind: IdentityKind::Agent,
                    name: format!("bot-{agent}"),
                    owner: "owner@example.com".into(),
                    environment: Some(Environment::Prod),
                    status: IdentityStatus::Active,
                    parent_id: None,
                    created_at: now.plus_secs(-200 * 86_400),
                },
                parent: None,
                sub_agents: Vec::new(),
                credentials: Vec::new(),
                trusted_issuers: Vec::new(),
                upstreams: upstreams.clone(),
                uses,
                uses_cut: Vec::new(),
                reach_only: true,
                now,
                days: 90,
                depth: 8,
            }
        })
        .collect();
    let graphs = inputs
        .iter()
        .map(|input| build(input, &engine).unwrap())
        .collect();
    let first = inputs.into_iter().next().unwrap();
    (graphs, engine, first)
}

fn bench(c: &mut Criterion) {
    let now = Timestamp::from_millis(1_763_769_600_000);
    let (graphs, engine, one) = graphs(now);
    let rules = builtin_rules().unwrap();
    let created = now.plus_secs(-200 * 86_400);
    let findings: usize = graphs
        .iter()
        .map(|graph| {
            evaluate_paths(
                &PathInput {
                    graph,
                    agent_created_at: created,
                    now,
                },
                rules,
            )
            .len()
        })
        .sum();
    assert!(findings > DISTINCT, "the fleet raises findings: {findings}");
    let mut group = c.benchmark_group("toxic_paths_100_upstreams_x20");
    group.sample_size(10);
    group.bench_function("rules_100000_agents", |b| {
        b.iter(|| {
            let mut raised = 0usize;
            for agent in 0..AGENTS {
                let input = PathInput {
                    graph: &graphs[agent % DISTINCT],
                    agent_created_at: created,
                    now,
                };
                raised += evaluate_paths(&input, rules).len();
            }
            raised
        })
    });
    group.bench_function("baseline_walk_100000_agents", |b| {
        b.iter(|| {
            let mut within = 0usize;
            for agent in 0..AGENTS {
                within += graphs[agent % DISTINCT]
                    .edges
                    .iter()
                    .filter(|edge| {
                        edge.kind == EdgeKind::Permits
                            && edge.standing.is_some_and(|standing| standing.reachable())
                    })
                    .count();
            }
            within
        })
    });
    group.bench_function("build_one_agent_reach_only", |b| {
        b.iter(|| build(&one, &engine).unwrap())
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
