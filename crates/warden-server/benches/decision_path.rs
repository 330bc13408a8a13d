//! The gateway's decision path for one request, as `gateway/pipeline.rs` runs it before
//! anything is written or forwarded: verify a token seen before (cache, revocation state,
//! the audience), look the agent up, match the route, check the task bounds and decide
//! with Cedar on the indexed slice; with 10, 1,000 and 10,000 policies loaded. The
//! baseline in the same run is the engine's decision alone, so the difference is what the
//! rest of the path costs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use warden_core::Timestamp;
use warden_crypto::{AccessClaims, AuthorizationDetail, KeyRing, TaskDetail};
use warden_plane::revocation::{RevocationState, Revocations};
use warden_plane::tokens::{TokenService, TokenSettings};
use warden_policy::{
    DecisionRequest, Effect, PolicyDocument, PolicyEngine, PrincipalKind, RequestContext, RouteMap,
    SchemaInput, TaskContext, TaskSeen, TaskStep, TaskWindow, UpstreamKind, UpstreamSchemaInput,
    WindowLimits,
};
use warden_proxy::decide::{self, Ask, Caller};
use warden_store::{IdentityState, RevocationSnapshot};

const NOW: i64 = 1_750_000_000;
const AGENTS: usize = 10_000;
const ACTIONS: [&str; 4] = [
    "tickets.read",
    "tickets.update",
    "tickets.delete",
    "customers.read",
];

fn routes() -> RouteMap {
    RouteMap::from_toml(
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
    .unwrap()
}

/// `n` policies over many agents, owners and actions, with a few global forbids.
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

fn revocations() -> Revocations {
    let identities = (0..AGENTS)
        .map(|index| IdentityState {
            id: format!("id-{index}"),
            kind: "agent".into(),
            name: format!("agent-{index}"),
            owner_id: format!("owner-{}", index % 100),
            owner_email: format!("owner-{}@example.com", index % 100),
            parent_id: None,
            status: "active".into(),
            suspension_reason: None,
            expires_at: None,
            environment: Some("prod".into()),
        })
        .collect();
    Revocations::from_snapshot(RevocationSnapshot {
        identities,
        offboarded_owners: Vec::new(),
        revoked_credentials: (0..1000).map(|index| format!("cred-{index}")).collect(),
        revoked_tokens: (0..10_000)
            .map(|index| {
                (
                    format!("jti-{index}"),
                    Timestamp::from_millis(NOW * 1000 + 600_000),
                )
            })
            .collect(),
    })
}

fn claims() -> AccessClaims {
    AccessClaims {
        iss: "https://warden.example".into(),
        sub: "id-1".into(),
        aud: "https://gateway.example/crm".into(),
        exp: NOW + 300,
        iat: NOW,
        nbf: None,
        jti: "live-token".into(),
        client_id: "id-1".into(),
        cred: Some("cred-live".into()),
        scope: None,
        act: None,
        may_act: None,
        authorization_details: Some(vec![AuthorizationDetail::WardenTask(TaskDetail {
            task_id: "task-42".into(),
            actions: vec!["tickets.*".into()],
            resources: vec!["Ticket::*".into()],
        })]),
        owner: None,
        env: None,
        ancestors: Vec::new(),
    }
}

fn bench(c: &mut Criterion) {
    let ring = KeyRing::generate(NOW, 900).unwrap();
    let service = TokenService::new(
        TokenSettings {
            issuer: "https://warden.example".into(),
            gateway_url: "https://gateway.example".into(),
            default_ttl_secs: 300,
            max_ttl_secs: 3600,
            leeway_secs: warden_plane::tokens::DEFAULT_LEEWAY_SECS,
        },
        ring,
        RevocationState::new(revocations()),
    );
    let now = Timestamp::from_millis((NOW + 1) * 1000);
    let token = service.sign(&claims()).unwrap();
    let routes = routes();
    let input = SchemaInput {
        upstreams: vec![UpstreamSchemaInput {
            name: "crm".into(),
            kind: UpstreamKind::Http {
                routes: routes.clone(),
            },
        }],
    };
    let audience = service.settings.audience_for("crm");

    // The window off: the decision path as it was before the task window.
    let window = TaskWindow::new(WindowLimits {
        window_ms: 0,
        ..WindowLimits::default()
    });
    let mut path = c.benchmark_group("decision_path");
    for n in [10usize, 1_000, 10_000] {
        let engine = PolicyEngine::new(&input, &policies(n)).unwrap();
        let run = || {
            let claims = service.verify_token(black_box(&token), None, now).unwrap();
            assert!(claims.aud == audience);
            let revocations = service.revocations.current();
            let agent = revocations.identity(&claims.client_id).unwrap();
            let caller = Caller {
                agent_id: agent.id.clone(),
                kind: PrincipalKind::Agent,
                agent_name: agent.name.clone(),
                owner_email: agent.owner_email.clone(),
                environment: agent.environment.clone(),
                on_behalf_of: None,
                scopes: Vec::new(),
            };
            let matched = routes
                .match_request("GET", black_box("/tickets/42"))
                .unwrap();
            let asks = [Ask {
                action: matched.action.to_string(),
                resource_type: matched.resource_type.to_string(),
                resource_id: matched.resource_id,
                arguments: None,
                labels: Vec::new(),
            }];
            let tasks = decide::task_bounds(&claims);
            decide::decide(
                &engine,
                "crm",
                &caller,
                &tasks,
                &asks,
                Some("customer asked"),
                false,
                decide::History {
                    window: &window,
                    now_ms: 0,
                },
            )
        };
        assert_eq!(run().effect, Effect::Allow, "n = {n}");
        path.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| b.iter(run));
    }
    path.finish();

    // The baseline: the engine's decision alone, on the same policies.
    let mut alone = c.benchmark_group("engine_alone");
    for n in [10usize, 10_000] {
        let engine = PolicyEngine::new(&input, &policies(n)).unwrap();
        let run = || {
            engine.decide(&DecisionRequest {
                kind: PrincipalKind::Agent,
                name: "agent-1",
                owner: "owner-1@example.com",
                on_behalf_of: None,
                upstream: "crm",
                action: "tickets.read",
                resource_type: "Ticket",
                resource_id: black_box("42"),
                context: RequestContext {
                    reason: Some("customer asked"),
                    task: Some(TaskContext {
                        id: "task-42",
                        seen: &TaskSeen::default(),
                    }),
                    environment: Some("prod"),
                    arguments: None,
                    scopes: &[],
                },
                approved: false,
            })
        };
        assert_eq!(run().effect, Effect::Allow, "n = {n}");
        alone.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| b.iter(run));
    }
    alone.finish();
}

/// The task window's cost on a gateway decision: the same decision (1,000 policies, one
/// of which reads `context.task.labels`) with the window off, and on with 16 steps of this
/// task and 10,000 other tasks in it.
fn task_window(c: &mut Criterion) {
    let routes = routes();
    let input = SchemaInput {
        upstreams: vec![UpstreamSchemaInput {
            name: "crm".into(),
            kind: UpstreamKind::Http {
                routes: routes.clone(),
            },
        }],
    };
    let mut docs = policies(1_000);
    docs.push(PolicyDocument {
        id: "no-export-after-pii".into(),
        text: "forbid(principal, action, resource) when { context has task && context.task.labels.contains(\"pii\") && context.task.actions.contains(\"tickets.export\") };".into(),
    });
    let engine = PolicyEngine::new(&input, &docs).unwrap();
    let caller = Caller {
        agent_id: "agent-1-id".into(),
        kind: PrincipalKind::Agent,
        agent_name: "agent-1".into(),
        owner_email: "owner-1@example.com".into(),
        environment: Some("prod".into()),
        on_behalf_of: None,
        scopes: Vec::new(),
    };
    let tasks = [warden_policy::TaskBounds {
        task_id: "task-42".into(),
        actions: vec!["tickets.*".into()],
        resources: vec!["*".into()],
    }];
    let asks = [Ask {
        action: "tickets.read".into(),
        resource_type: "Ticket".into(),
        resource_id: "42".into(),
        arguments: None,
        labels: vec!["crm".into()],
    }];
    let off = TaskWindow::new(WindowLimits {
        window_ms: 0,
        ..WindowLimits::default()
    });
    let on = TaskWindow::new(WindowLimits::default());
    let now_ms = 1_000_000_000;
    let steps: Vec<TaskStep> = (0..16)
        .map(|i| TaskStep {
            action: format!("tickets.step{i}"),
            tool: None,
            labels: vec![format!("label{i}"), "crm".into()],
        })
        .collect();
    on.record("agent-1-id", "task-42", now_ms - 1, now_ms, &steps);
    for i in 0..10_000 {
        on.record(
            &format!("other-{i}"),
            "task-42",
            now_ms - 1,
            now_ms,
            &steps[..1],
        );
    }
    let mut group = c.benchmark_group("task_window");
    for (name, window) in [("off", &off), ("on_16_steps", &on)] {
        let run = || {
            decide::decide(
                &engine,
                "crm",
                &caller,
                &tasks,
                black_box(&asks),
                // agent-1's permit of tickets.read asks for a reason.
                Some("customer asked"),
                false,
                decide::History { window, now_ms },
            )
        };
        assert_eq!(run().effect, Effect::Allow, "{name}");
        group.bench_function(name, |b| b.iter(run));
    }
    group.finish();
}

criterion_group!(benches, bench, task_window);
criterion_main!(benches);
