//! The decision path of one gateway request (route match, then the engine's decision) with
//! 10, 1,000 and 10,000 policies loaded. Policies are spread over many agents, owners and
//! actions, as a real fleet's are, so the index decides how many Cedar evaluates.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use warden_policy::{
    DecisionRequest, Effect, PolicyDocument, PolicyEngine, PrincipalKind, RequestContext, RouteMap,
    SchemaInput, UpstreamKind, UpstreamSchemaInput,
};

const ACTIONS: [&str; 4] = [
    "tickets.read",
    "tickets.update",
    "tickets.delete",
    "customers.read",
];

fn input() -> (SchemaInput, RouteMap) {
    let routes = RouteMap::from_toml(
        r#"
[[route]]
method = "GET"
path = "/tickets/{id}"
action = "tickets.read"
resource = "Ticket::{id}"
[[route]]
method = "PUT"
path = "/tickets/{id}"
action = "tickets.update"
resource = "Ticket::{id}"
[[route]]
method = "DELETE"
path = "/tickets/{id}"
action = "tickets.delete"
resource = "Ticket::{id}"
[[route]]
method = "GET"
path = "/customers/{id}"
action = "customers.read"
resource = "Customer::{id}"
"#,
    )
    .unwrap();
    let input = SchemaInput {
        upstreams: vec![UpstreamSchemaInput {
            name: "crm".into(),
            kind: UpstreamKind::Http {
                routes: routes.clone(),
            },
        }],
    };
    (input, routes)
}

/// `n` policies: mostly per-agent permits over varied actions, some per-owner ones, and a
/// few global forbids that every request must be checked against.
fn policies(n: usize) -> Vec<PolicyDocument> {
    (0..n)
        .map(|i| {
            let action = ACTIONS[i % ACTIONS.len()];
            let text = match i % 10 {
                0 => format!(
                    "permit(principal in Owner::\"owner-{}@example.com\", action == Action::\"{action}\", resource in Upstream::\"crm\");",
                    i / 10
                ),
                1 if i % 1000 == 1 => format!(
                    "forbid(principal, action == Action::\"tickets.delete\", resource == Ticket::\"locked-{i}\");"
                ),
                _ => format!(
                    "permit(principal == Agent::\"agent-{}\", action == Action::\"{action}\", resource)\nwhen {{ context has reason }};",
                    i / 4
                ),
            };
            PolicyDocument::new(format!("p{i}"), text)
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let (input, routes) = input();
    let mut group = c.benchmark_group("decide");
    for n in [10usize, 1_000, 10_000] {
        let engine = PolicyEngine::new(&input, &policies(n)).unwrap();
        // agent-1 holds policies p4..p7 (tickets.read is p4 when n allows it).
        let agent = "agent-1";
        let run = || {
            let m = routes.match_request("GET", "/tickets/42").unwrap();
            engine.decide(&DecisionRequest {
                kind: PrincipalKind::Agent,
                name: agent,
                owner: "owner-0@example.com",
                on_behalf_of: None,
                upstream: "crm",
                action: m.action,
                resource_type: m.resource_type,
                resource_id: &m.resource_id,
                context: RequestContext {
                    reason: Some("customer asked"),
                    ..RequestContext::default()
                },
                approved: false,
            })
        };
        assert_eq!(run().effect, Effect::Allow, "n = {n}");
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| b.iter(run));
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
