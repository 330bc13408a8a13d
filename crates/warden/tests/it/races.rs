//! Two real `warden serve` nodes on one fresh PostgreSQL database (same keys, same public
//! and gateway URLs), with admins racing on both: a removed or changed upstream against a
//! policy that needs it, an owner offboarded against that owner's decision, two kills of
//! one agent. However the requests interleave, the stored policy set still compiles (both
//! gateways still decide), exactly the requests that lost are refused with a clear error,
//! an offboarded owner never decides, and a kill is recorded exactly once, in the same
//! transaction as the suspension.

use std::time::Duration;

use serde_json::{Value, json};

use crate::gateway::{POLICY, ROUTES, access_token, add_upstream, eventually};
use crate::hardening_plane::{copy_keys, postgres_schema};
use crate::harness::RunningServer;
use crate::upstream::TestUpstream;

const ISSUER: &str = "https://warden.example";
const ROUNDS: usize = 8;

/// Two nodes on one database, the `crm` upstream and its policy, and an agent's token.
struct Nodes {
    _dir: tempfile::TempDir,
    _upstream: TestUpstream,
    a: RunningServer,
    b: RunningServer,
    admin: String,
    token: String,
    agent_id: String,
}

impl Nodes {
    async fn start() -> Option<Self> {
        let database = postgres_schema().await?;
        let upstream = TestUpstream::start().await;
        let dir = tempfile::tempdir().unwrap();
        let first_config = dir.path().join("a.toml");
        std::fs::write(
            &first_config,
            format!("database_url = \"{database}\"\n\n[credentials]\npublic_url = \"{ISSUER}\"\n"),
        )
        .unwrap();
        let a = RunningServer::start(
            &dir.path().join("a"),
            &["--config", first_config.to_str().unwrap()],
            &[],
        );
        copy_keys(&dir.path().join("a"), &dir.path().join("b"));
        let second_config = dir.path().join("b.toml");
        std::fs::write(
            &second_config,
            format!(
                "database_url = \"{database}\"\n\n[credentials]\npublic_url = \"{ISSUER}\"\ngateway_url = \"{}\"\n",
                a.gateway
            ),
        )
        .unwrap();
        let b = RunningServer::start(
            &dir.path().join("b"),
            &["--config", second_config.to_str().unwrap()],
            &[],
        );
        let admin = a.printed_token.clone().unwrap();
        a.cli(
            &admin,
            &["owner", "add", "alice@example.com", "--name", "Alice"],
        )
        .ok();
        let agent = a
            .cli(
                &admin,
                &[
                    "agent",
                    "create",
                    "support-bot",
                    "--owner",
                    "alice@example.com",
                    "-o",
                    "json",
                ],
            )
            .json();
        let client_id = agent["client_id"].as_str().unwrap().to_string();
        let secret = agent["client_secret"].as_str().unwrap().to_string();
        add_upstream(&a, &admin, dir.path(), "crm", &upstream.url(), ROUTES);
        let policy = dir.path().join("support.cedar");
        std::fs::write(&policy, POLICY).unwrap();
        a.cli(&admin, &["policy", "add", policy.to_str().unwrap()])
            .ok();
        let token = access_token(&a, &client_id, &secret, "crm").await;
        Some(Self {
            _dir: dir,
            _upstream: upstream,
            a,
            b,
            admin,
            token,
            agent_id: client_id,
        })
    }

    /// Waits until both gateways decide with the stored policies: the agent's ticket read
    /// answers `expect` on each.
    async fn both_gateways_answer(&self, expect: u16) {
        for gateway in [&self.a.gateway, &self.b.gateway] {
            let (gateway, token) = (gateway.clone(), self.token.clone());
            eventually(
                &format!("{gateway} to answer {expect}"),
                Duration::from_secs(10),
                || {
                    let (gateway, token) = (gateway.clone(), token.clone());
                    async move { read_ticket(&gateway, &token).await == expect }
                },
            )
            .await;
        }
    }
}

async fn read_ticket(gateway: &str, token: &str) -> u16 {
    reqwest::Client::new()
        .get(format!("{gateway}/crm/tickets/1"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// One API call as the admin: its status and JSON body.
async fn call(
    node: &RunningServer,
    admin: &str,
    method: reqwest::Method,
    path: impl AsRef<str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .request(method, format!("{}{}", node.api, path.as_ref()))
        .bearer_auth(admin);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn audit(node: &RunningServer, admin: &str, kind: &str) -> Vec<Value> {
    let path = format!("/v1/audit/events?kind={kind}&limit=1000");
    let (status, body) = call(node, admin, reqwest::Method::GET, &path, None).await;
    assert_eq!(status, 200, "{body}");
    body["items"].as_array().cloned().unwrap_or_default()
}

fn about<'a>(events: &'a [Value], id: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|event| event["target"]["id"] == id)
        .collect()
}

fn routes(actions: &[&str]) -> String {
    actions
        .iter()
        .map(|action| {
            format!(
                "[[route]]\nmethod = \"GET\"\npath = \"/{action}/{{id}}\"\naction = \"{action}\"\nresource = \"Item::{{id}}\"\n"
            )
        })
        .collect()
}

fn permit(action: &str) -> String {
    format!(
        "permit(principal == Agent::\"support-bot\", action == Action::\"{action}\", resource);"
    )
}

/// The outcome of two racing changes, exactly one of which must win: the loser is refused
/// with 422 `invalid_policy`. Returns whether the first won.
fn one_won(round: usize, first: (u16, Value), second: (u16, Value)) -> bool {
    let refused = |answer: &(u16, Value)| answer.0 == 422 && answer.1["error"] == "invalid_policy";
    let won = |answer: &(u16, Value)| (200..300).contains(&answer.0);
    match (won(&first), won(&second)) {
        (true, false) if refused(&second) => true,
        (false, true) if refused(&first) => false,
        _ => panic!("round {round}: exactly one change must win: {first:?} {second:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn racing_admins_on_two_nodes_never_store_a_policy_set_that_does_not_compile() {
    let Some(nodes) = Nodes::start().await else {
        return;
    };
    let (a, b, admin) = (&nodes.a, &nodes.b, nodes.admin.as_str());
    nodes.both_gateways_answer(200).await;
    let (mut removals_won, mut narrowings_won) = (0, 0);
    for round in 0..ROUNDS {
        // An upstream removed on A while B adds a policy naming its action.
        let gone = format!("gone{round}");
        let action = format!("{gone}.read");
        let (status, body) = call(
            a,
            admin,
            reqwest::Method::POST,
            "/v1/upstreams",
            Some(json!({
                "name": gone, "kind": "http", "url": "https://gone.example.com", "auth": "bearer",
                "routes": routes(&[&action]),
            })),
        )
        .await;
        assert_eq!(status, 201, "{body}");
        let (removed, added) = tokio::join!(
            call(
                a,
                admin,
                reqwest::Method::DELETE,
                format!("/v1/upstreams/{gone}"),
                None
            ),
            call(
                b,
                admin,
                reqwest::Method::POST,
                "/v1/policies",
                Some(json!({ "id": gone, "text": permit(&action) })),
            ),
        );
        if one_won(round, removed, added) {
            removals_won += 1;
        }

        // A route map narrowed on B while A adds a policy naming the action it drops.
        let narrow = format!("narrow{round}");
        let (read, write) = (format!("{narrow}.read"), format!("{narrow}.write"));
        let (status, body) = call(
            a,
            admin,
            reqwest::Method::POST,
            "/v1/upstreams",
            Some(json!({
                "name": narrow, "kind": "http", "url": "https://narrow.example.com", "auth": "bearer",
                "routes": routes(&[&read, &write]),
            })),
        )
        .await;
        assert_eq!(status, 201, "{body}");
        let (narrowed, added) = tokio::join!(
            call(
                b,
                admin,
                reqwest::Method::PATCH,
                format!("/v1/upstreams/{narrow}"),
                Some(json!({ "routes": routes(&[&read]) })),
            ),
            call(
                a,
                admin,
                reqwest::Method::POST,
                "/v1/policies",
                Some(json!({ "id": narrow, "text": permit(&write) })),
            ),
        );
        if one_won(round, narrowed, added) {
            narrowings_won += 1;
        }
    }

    // The stored set is exactly what the winners left, and it compiles: both gateways still
    // decide with it, and a dry run builds the engine from it.
    let (status, policies) = call(a, admin, reqwest::Method::GET, "/v1/policies", None).await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = policies
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|policy| policy["id"].as_str())
        .collect();
    let (status, upstreams) = call(a, admin, reqwest::Method::GET, "/v1/upstreams", None).await;
    assert_eq!(status, 200);
    let names: Vec<&str> = upstreams
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|upstream| upstream["name"].as_str())
        .collect();
    for round in 0..ROUNDS {
        let gone = format!("gone{round}");
        assert_eq!(
            names.contains(&gone.as_str()),
            ids.contains(&gone.as_str()),
            "round {round}: the upstream stays exactly when the policy naming it was stored"
        );
    }
    assert_eq!(
        ids.iter().filter(|id| id.starts_with("gone")).count(),
        ROUNDS - removals_won
    );
    assert_eq!(
        ids.iter().filter(|id| id.starts_with("narrow")).count(),
        ROUNDS - narrowings_won
    );
    nodes.both_gateways_answer(200).await;
    for node in [a, b] {
        let (status, verdict) = call(
            node,
            admin,
            reqwest::Method::POST,
            "/v1/policies/test",
            Some(json!({ "agent": "support-bot", "upstream": "crm", "method": "GET", "path": "/tickets/1" })),
        )
        .await;
        assert_eq!(
            (status, verdict["decision"].as_str()),
            (200, Some("allow")),
            "{verdict}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_owner_offboarded_on_one_node_never_decides_on_the_other() {
    let Some(nodes) = Nodes::start().await else {
        return;
    };
    let (a, b, admin) = (&nodes.a, &nodes.b, nodes.admin.as_str());
    nodes.both_gateways_answer(200).await;
    for round in 0..ROUNDS {
        let held = reqwest::Client::new()
            .post(format!("{}/crm/tickets/{round}/refund", a.gateway))
            .bearer_auth(&nodes.token)
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(held.status(), 403);
        let held: Value = held.json().await.unwrap();
        assert_eq!(held["error"], "approval_required", "{held}");
        let id = held["approval_id"].as_str().unwrap().to_string();
        let approver = format!("approver-{round}@example.com");
        a.cli(admin, &["owner", "add", &approver, "--name", "Approver"])
            .ok();

        let (decided, offboarded) = tokio::join!(
            call(
                a,
                admin,
                reqwest::Method::POST,
                format!("/v1/approvals/{id}/approve"),
                Some(json!({ "approver": approver })),
            ),
            call(
                b,
                admin,
                reqwest::Method::POST,
                format!("/v1/owners/{approver}/offboard"),
                None,
            ),
        );
        assert_eq!(offboarded.0, 200, "{}", offboarded.1);
        let offboarding = audit(a, admin, "owner.offboarded").await;
        let offboarding = offboarding
            .iter()
            .find(|event| event["owner"] == approver.as_str())
            .unwrap_or_else(|| panic!("no owner.offboarded for {approver}"))
            .clone();
        let granted = audit(a, admin, "approval.granted").await;
        let granted: Vec<&Value> = granted
            .iter()
            .filter(|event| event["approval_id"] == id.as_str())
            .collect();
        match decided.0 {
            200 => {
                assert_eq!(decided.1["decided_by"], approver.as_str());
                assert_eq!(granted.len(), 1);
                assert!(
                    granted[0]["sequence"].as_u64() < offboarding["sequence"].as_u64(),
                    "round {round}: an owner decided after being offboarded"
                );
            }
            409 => {
                assert_eq!(decided.1["error"], "owner_offboarded", "{}", decided.1);
                assert!(
                    granted.is_empty(),
                    "round {round}: a refused decision was recorded"
                );
                let (_, approval) = call(
                    a,
                    admin,
                    reqwest::Method::GET,
                    format!("/v1/approvals/{id}"),
                    None,
                )
                .await;
                assert_eq!(approval["status"], "pending", "{approval}");
            }
            other => panic!("round {round}: {other} {}", decided.1),
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kill_pulled_on_two_nodes_at_once_is_applied_and_recorded_exactly_once() {
    let Some(nodes) = Nodes::start().await else {
        return;
    };
    let (a, b, admin) = (&nodes.a, &nodes.b, nodes.admin.as_str());
    nodes.both_gateways_answer(200).await;
    let target = json!({ "identity": "agent:support-bot" });
    let (first, second) = tokio::join!(
        call(
            a,
            admin,
            reqwest::Method::POST,
            "/v1/kill",
            Some(target.clone())
        ),
        call(
            b,
            admin,
            reqwest::Method::POST,
            "/v1/kill",
            Some(target.clone())
        ),
    );
    let mut statuses = [first.0, second.0];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409], "{first:?} {second:?}");

    let applied = audit(a, admin, "kill.applied").await;
    let applied = about(&applied, &nodes.agent_id);
    let suspended = audit(a, admin, "identity.suspended").await;
    let suspended = about(&suspended, &nodes.agent_id);
    assert_eq!((applied.len(), suspended.len()), (1, 1), "{applied:?}");
    // Written in the suspension's transaction: the record right after it in the chain.
    assert_eq!(
        applied[0]["sequence"].as_u64(),
        suspended[0]["sequence"]
            .as_u64()
            .map(|sequence| sequence + 1)
    );
    assert_eq!(applied[0]["details"]["reached"], "1");
    // Stopped at both gateways.
    for gateway in [&a.gateway, &b.gateway] {
        let (gateway, token) = (gateway.clone(), nodes.token.clone());
        eventually(
            "the killed agent to be refused",
            Duration::from_secs(10),
            || {
                let (gateway, token) = (gateway.clone(), token.clone());
                async move { matches!(read_ticket(&gateway, &token).await, 401 | 403) }
            },
        )
        .await;
    }

    let (first, second) = tokio::join!(
        call(
            a,
            admin,
            reqwest::Method::POST,
            "/v1/restore",
            Some(target.clone())
        ),
        call(
            b,
            admin,
            reqwest::Method::POST,
            "/v1/restore",
            Some(target.clone())
        ),
    );
    let mut statuses = [first.0, second.0];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409], "{first:?} {second:?}");
    let restored = audit(a, admin, "kill.restored").await;
    let restored = about(&restored, &nodes.agent_id);
    let identity_restored = audit(a, admin, "identity.restored").await;
    let identity_restored = about(&identity_restored, &nodes.agent_id);
    assert_eq!((restored.len(), identity_restored.len()), (1, 1));
    assert_eq!(
        restored[0]["sequence"].as_u64(),
        identity_restored[0]["sequence"]
            .as_u64()
            .map(|sequence| sequence + 1)
    );
    nodes.both_gateways_answer(200).await;
}
