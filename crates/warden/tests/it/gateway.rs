//! The gateway through the real binary, with a real upstream behind it: the secret is
//! injected and the agent's token never forwarded; bad input is refused without reaching
//! the upstream; a kill ends a streaming response; an audit store that refuses writes
//! refuses requests; and a crash loses no decision a client saw succeed.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::harness::{RunningServer, warden};
use crate::upstream::TestUpstream;

pub const SECRET: &str = "crm-upstream-secret-8d41f0c2a9e7b365";

pub const ROUTES: &str = r#"[[route]]
method = "GET"
path = "/tickets/{id}"
action = "tickets.read"
resource = "Ticket::{id}"

[[route]]
method = "POST"
path = "/tickets/{id}/refund"
action = "tickets.refund"
resource = "Ticket::{id}"

[[route]]
method = "GET"
path = "/stream"
action = "stream.read"
resource = "Stream::\"feed\""

[[route]]
method = "GET"
path = "/admin/{name}"
action = "admin.read"
resource = "Admin::{name}"
"#;

pub const POLICY: &str = r#"permit(
    principal == Agent::"support-bot",
    action in [Action::"tickets.read", Action::"stream.read"],
    resource
);

@approval("refunds need a human")
permit(
    principal == Agent::"support-bot",
    action == Action::"tickets.refund",
    resource
);
"#;

/// A running Warden with the `crm` upstream, the `support` policy and an agent token.
pub struct Rig {
    pub dir: tempfile::TempDir,
    pub server: RunningServer,
    pub admin: String,
    pub upstream: TestUpstream,
    pub client_id: String,
    pub client_secret: String,
    pub token: String,
}

impl Rig {
    /// Starts everything; `config` is extra TOML for the server's settings file.
    pub async fn start(config: &str) -> Self {
        let upstream = TestUpstream::start().await;
        let dir = tempfile::tempdir().unwrap();
        let config_file = dir.path().join("warden.toml");
        std::fs::write(&config_file, config).unwrap();
        let server = RunningServer::start(
            &dir.path().join("data"),
            &["--config", config_file.to_str().unwrap()],
            &[],
        );
        let admin = server.printed_token.clone().unwrap();
        server
            .cli(
                &admin,
                &["owner", "add", "alice@example.com", "--name", "Alice"],
            )
            .ok();
        let agent = server
            .cli(
                &admin,
                &[
                    "agent",
                    "create",
                    "support-bot",
                    "--owner",
                    "alice@example.com",
                    "--env",
                    "prod",
                    "-o",
                    "json",
                ],
            )
            .json();
        let client_id = agent["client_id"].as_str().unwrap().to_string();
        let client_secret = agent["client_secret"].as_str().unwrap().to_string();
        add_upstream(&server, &admin, dir.path(), "crm", &upstream.url(), ROUTES);
        let policy = dir.path().join("support.cedar");
        std::fs::write(&policy, POLICY).unwrap();
        server
            .cli(&admin, &["policy", "add", policy.to_str().unwrap()])
            .ok();
        let token = access_token(&server, &client_id, &client_secret, "crm").await;
        Self {
            dir,
            server,
            admin,
            upstream,
            client_id,
            client_secret,
            token,
        }
    }

    pub fn gateway(&self, path: &str) -> String {
        format!("{}{path}", self.server.gateway)
    }

    /// Gateway decisions recorded for `upstream`, oldest first.
    pub async fn decisions(&self, upstream: &str) -> Vec<Value> {
        audit_events(&self.server, &self.admin, upstream, "gateway.decision").await
    }
}

impl Rig {
    /// A request the policy allows must now be refused with 503 `unavailable`.
    pub async fn assert_unavailable(&self) {
        let response = reqwest::Client::new()
            .get(self.gateway("/crm/tickets/1"))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 503);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "unavailable");
    }

    /// Stops the server, runs `sql` on its SQLite database behind its back, and starts it
    /// again on the same addresses (tokens name their issuer and audience by address).
    pub async fn restart_after(self, sql: &'static str) -> Self {
        let Self {
            dir,
            server,
            admin,
            upstream,
            client_id,
            client_secret,
            token,
        } = self;
        let data_dir = server.data_dir.clone();
        let (api, gateway) = (server.api.clone(), server.gateway.clone());
        assert!(server.stop().success());
        let mut connection = <sqlx::SqliteConnection as sqlx::Connection>::connect(&format!(
            "sqlite://{}",
            data_dir.join("warden.db").display()
        ))
        .await
        .unwrap();
        sqlx::query(sql).execute(&mut connection).await.unwrap();
        drop(connection);
        let server = RunningServer::start_on(
            &data_dir,
            api.trim_start_matches("http://"),
            gateway.trim_start_matches("http://"),
            &[],
            &[],
        );
        Self {
            dir,
            server,
            admin,
            upstream,
            client_id,
            client_secret,
            token,
        }
    }
}

/// Registers an HTTP upstream whose secret is [`SECRET`], injected as `X-Api-Key`.
pub fn add_upstream(
    server: &RunningServer,
    admin: &str,
    dir: &Path,
    name: &str,
    url: &str,
    routes: &str,
) {
    let file = dir.join(format!("{name}-routes.toml"));
    std::fs::write(&file, routes).unwrap();
    let added = warden()
        .env("WARDEN_ADDR", &server.api)
        .env("WARDEN_TOKEN", admin)
        .env("CRM_TOKEN", SECRET)
        .args([
            "upstream",
            "add",
            name,
            "--url",
            url,
            "--auth",
            "header:X-Api-Key",
            "--secret-env",
            "CRM_TOKEN",
            "--routes",
        ])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        added.status.success(),
        "upstream add failed: {}",
        String::from_utf8_lossy(&added.stderr)
    );
}

/// A token for `resource` by client credentials.
pub async fn access_token(
    server: &RunningServer,
    id: &str,
    secret: &str,
    resource: &str,
) -> String {
    let response = reqwest::Client::new()
        .post(format!("{}/oauth/token", server.api))
        .basic_auth(id, Some(secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("grant_type=client_credentials&resource={resource}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_string()
}

/// Audit events of `kind` for `upstream`, oldest first.
pub async fn audit_events(
    server: &RunningServer,
    admin: &str,
    upstream: &str,
    kind: &str,
) -> Vec<Value> {
    let response = reqwest::Client::new()
        .get(format!("{}/v1/audit/events", server.api))
        .bearer_auth(admin)
        .query(&[("upstream", upstream), ("kind", kind), ("limit", "1000")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["items"].as_array().cloned().unwrap_or_default()
}

/// Polls `check` until it holds or `deadline` passes.
pub async fn eventually<F, Fut>(what: &str, deadline: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let until = Instant::now() + deadline;
    while !check().await {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Sends `request` as raw bytes (so nothing normalizes it) and returns the status and
/// body of the answer.
pub async fn raw(gateway: &str, request: String) -> (u16, String) {
    let addr = gateway.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "no answer to {request:?}");
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let body = text
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_string();
    (status, body)
}

#[tokio::test(flavor = "multi_thread")]
async fn an_allowed_request_carries_the_upstream_secret_and_never_the_agent_token() {
    let rig = Rig::start("").await;
    let response = reqwest::Client::new()
        .get(rig.gateway("/crm/tickets/42?expand=history"))
        .bearer_auth(&rig.token)
        .header("Warden-Reason", "the customer asked about ticket 42")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["target"], "/api/tickets/42?expand=history");

    let seen = rig.upstream.seen();
    assert_eq!(seen.len(), 1);
    let headers = &seen[0].headers;
    assert_eq!(headers.get("x-api-key").unwrap(), SECRET);
    assert!(
        headers.get("authorization").is_none(),
        "the agent's token was forwarded"
    );
    assert!(headers.get("warden-reason").is_none());
    for value in headers.values() {
        assert!(!value.to_str().unwrap_or_default().contains(&rig.token));
    }

    // A body streams through, byte for byte, to an upstream route the policy allows.
    let (status, _) = raw(
        &rig.server.gateway,
        format!(
            "GET /crm/tickets/7 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
            rig.token
        ),
    )
    .await;
    assert_eq!(status, 200);
    let seen = rig.upstream.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(&seen[1].body[..], b"hello world");

    let decisions = rig.decisions("crm").await;
    assert_eq!(decisions.len(), 2, "{decisions:?}");
    let first = &decisions[0];
    assert_eq!(first["decision"], "allow");
    assert_eq!(first["actor"]["name"], "support-bot");
    assert_eq!(first["owner"], "alice@example.com");
    assert_eq!(first["action"], "tickets.read");
    assert_eq!(first["resource"], "Ticket::\"42\"");
    assert_eq!(first["policy_ids"], serde_json::json!(["support#1"]));
    assert_eq!(first["reason"], "the customer asked about ticket 42");
    assert_eq!(first["request"]["path"], "/crm/tickets/42");
    assert!(first["request"]["query_hmac"].is_string());
    let exported = serde_json::to_string(&decisions).unwrap();
    assert!(
        !exported.contains("expand=history"),
        "the query string reached the audit trail"
    );
    assert!(!exported.contains(&rig.token));
    assert!(!exported.contains(SECRET));

    eventually("both outcomes", Duration::from_secs(5), || async {
        audit_events(&rig.server, &rig.admin, "crm", "gateway.outcome")
            .await
            .len()
            == 2
    })
    .await;
    let outcomes = audit_events(&rig.server, &rig.admin, "crm", "gateway.outcome").await;
    assert_eq!(outcomes[0]["outcome"]["status"], 200);
    assert_eq!(outcomes[1]["request"]["body_bytes"], 11);
    assert!(outcomes[1]["request"]["body_hmac"].is_string());

    // The gateway's metrics count what happened.
    let metrics = reqwest::get(format!("{}/metrics", rig.server.api))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("warden_gateway_requests_total{upstream=\"crm\",outcome=\"forwarded\"} 2"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_requests_are_refused_without_reaching_the_upstream() {
    let rig = Rig::start("[gateway]\nmax_body_bytes = 1024\n").await;
    let token = &rig.token;
    let auth = format!("Authorization: Bearer {token}\r\n");
    let cases: Vec<(&str, String, u16, &str)> = vec![
        ("dot segments", format!("GET /crm/tickets/../admin/x HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n"), 400, "bad_request"),
        ("encoded dot segments", format!("GET /crm/tickets/%2e%2e/admin/x HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n"), 400, "bad_request"),
        ("mixed-case encoded dots", format!("GET /crm/tickets/.%2E/admin/x HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n"), 400, "bad_request"),
        ("encoded slash", format!("GET /crm/tickets%2f42 HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n"), 400, "bad_request"),
        ("double slash", format!("GET /crm//tickets/42 HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n"), 400, "bad_request"),
        ("double encoding", format!("GET /crm/tickets/%252e%252e/x HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n"), 400, "bad_request"),
        ("two content lengths", format!("GET /crm/tickets/1 HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: 3\r\nContent-Length: 5\r\nConnection: close\r\n\r\nabcde"), 400, ""),
        ("length and chunked", format!("GET /crm/tickets/1 HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: 3\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n"), 400, ""),
        ("declared body over the limit", format!("GET /crm/tickets/1 HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: 4096\r\nConnection: close\r\n\r\n"), 413, "body_too_large"),
        ("no token", "GET /crm/tickets/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_string(), 401, "invalid_token"),
        ("a forged token", "GET /crm/tickets/1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer eyJhbGciOiJFZERTQSJ9.e30.c2ln\r\nConnection: close\r\n\r\n".to_string(), 401, "invalid_token"),
        ("no route", format!("GET /crm/secrets HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n"), 404, "unknown_route"),
        ("no policy permits", format!("GET /crm/admin/root HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n"), 403, "forbidden"),
        ("another upstream's audience", format!("GET /billing/x HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n"), 401, "wrong_audience"),
        ("a long reason", format!("GET /crm/tickets/1 HTTP/1.1\r\nHost: x\r\n{auth}Warden-Reason: {}\r\nConnection: close\r\n\r\n", "r".repeat(2000)), 400, "bad_request"),
    ];
    for (what, request, status, code) in cases {
        let (got, body) = raw(&rig.server.gateway, request).await;
        assert_eq!(got, status, "{what}: {body}");
        if !code.is_empty() {
            let body: Value =
                serde_json::from_str(&body).unwrap_or_else(|_| panic!("{what}: not JSON: {body}"));
            assert_eq!(body["error"], code, "{what}: {body}");
            assert!(!body.to_string().contains(token.as_str()), "{what}");
        }
    }
    // A chunked body that grows past the limit is cut off, not forwarded whole.
    let big = "x".repeat(2048);
    let (status, _) = raw(
        &rig.server.gateway,
        format!("GET /crm/tickets/1 HTTP/1.1\r\nHost: x\r\n{auth}Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n800\r\n{big}\r\n0\r\n\r\n"),
    )
    .await;
    assert!(status == 413 || status == 502, "got {status}");
    assert!(
        rig.upstream
            .seen()
            .iter()
            .all(|seen| seen.body.len() <= 1024),
        "an oversized body reached the upstream"
    );
    assert!(
        rig.upstream
            .seen()
            .iter()
            .all(|seen| seen.method != "GET" || !seen.target.contains("admin")),
        "a refused request reached the upstream"
    );
    assert!(rig.upstream.seen().len() <= 1, "{:?}", rig.upstream.seen());

    // A 401 points at the resource metadata (RFC 9728), which names the issuer.
    let response = reqwest::get(rig.gateway("/crm/tickets/1")).await.unwrap();
    assert_eq!(response.status(), 401);
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(challenge.starts_with("Bearer "), "{challenge}");
    let metadata_url = challenge
        .split("resource_metadata=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_string();
    let metadata: Value = reqwest::get(&metadata_url)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(metadata["resource"], format!("{}/crm", rig.server.gateway));
    assert_eq!(metadata["authorization_servers"][0], rig.server.api);

    // Refusals after authentication are audited as denials naming the agent, the policy's
    // and the others alike; nothing was forwarded.
    let denials: Vec<Value> = rig
        .decisions("crm")
        .await
        .into_iter()
        .filter(|event| event["decision"] == "deny")
        .collect();
    let rules: Vec<&str> = denials
        .iter()
        .map(|event| event["details"]["rule"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(rules, ["route", "no_permit", "reason"], "{denials:?}");
    assert_eq!(denials[1]["action"], "admin.read");
    assert!(
        denials
            .iter()
            .all(|event| event["actor"]["name"] == "support-bot")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upstream_removed_after_the_token_was_issued_is_unknown() {
    let rig = Rig::start("").await;
    add_upstream(
        &rig.server,
        &rig.admin,
        rig.dir.path(),
        "billing",
        &rig.upstream.url(),
        ROUTES,
    );
    let token = access_token(&rig.server, &rig.client_id, &rig.client_secret, "billing").await;
    rig.server
        .cli(&rig.admin, &["upstream", "remove", "billing"])
        .ok();
    let response = reqwest::Client::new()
        .get(rig.gateway("/billing/tickets/1"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "unknown_upstream");
    assert!(rig.upstream.seen().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kill_ends_a_streaming_response_and_refuses_what_follows() {
    let rig = Rig::start("").await;
    let mut response = reqwest::Client::new()
        .get(rig.gateway("/crm/stream"))
        .bearer_auth(&rig.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let first = response.chunk().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("tick"));

    let admin = rig.admin.clone();
    let api = rig.server.api.clone();
    let killed = tokio::task::spawn_blocking(move || {
        let output = warden()
            .env("WARDEN_ADDR", api)
            .env("WARDEN_TOKEN", admin)
            .args(["kill", "agent", "support-bot"])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        Instant::now()
    })
    .await
    .unwrap();

    // The stream ends (with an error: it is cut, not completed) soon after the kill.
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match response.chunk().await {
                Ok(Some(_)) => {}
                Ok(None) => return "completed",
                Err(_) => return "cut",
            }
        }
    })
    .await
    .expect("the stream outlived the kill");
    assert_eq!(ended, "cut");
    assert!(killed.elapsed() < Duration::from_secs(5));

    let next = reqwest::Client::new()
        .get(rig.gateway("/crm/tickets/1"))
        .bearer_auth(&rig.token)
        .send()
        .await
        .unwrap();
    assert_eq!(next.status(), 401);
    let body: Value = next.json().await.unwrap();
    assert_eq!(body["error"], "revoked");
    assert!(
        rig.upstream
            .seen()
            .iter()
            .all(|seen| seen.target.ends_with("/stream"))
    );
    // The killed agent's attempt is on the record, with who tried.
    let refused = rig
        .decisions("crm")
        .await
        .into_iter()
        .find(|event| event["details"]["rule"] == "revoked")
        .expect("the refused attempt is not audited");
    assert_eq!(refused["decision"], "deny");
    assert_eq!(refused["actor"]["name"], "support-bot");

    eventually(
        "the killed stream's outcome",
        Duration::from_secs(5),
        || async {
            audit_events(&rig.server, &rig.admin, "crm", "gateway.outcome")
                .await
                .iter()
                .any(|event| event["outcome"]["error"] == "killed")
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_audit_store_that_refuses_writes_refuses_requests() {
    let rig = Rig::start("")
        .await
        .restart_after("CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events BEGIN SELECT RAISE(ABORT, 'audit refused'); END")
        .await;
    rig.assert_unavailable().await;
    assert!(
        rig.upstream.seen().is_empty(),
        "a request went through without its audit record"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn every_request_a_client_saw_succeed_survives_a_crash() {
    let rig = Rig::start("").await;
    let Rig {
        server,
        admin,
        token,
        dir,
        upstream,
        ..
    } = rig;
    let gateway = server.gateway.clone();
    let (succeeded_tx, mut succeeded_rx) = tokio::sync::mpsc::unbounded_channel();
    let mut clients = Vec::new();
    for client in 0..4u32 {
        let gateway = gateway.clone();
        let token = token.clone();
        let succeeded = succeeded_tx.clone();
        clients.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            for n in 0..10_000u32 {
                let id = format!("{client}-{n}");
                match http
                    .get(format!("{gateway}/crm/tickets/{id}"))
                    .bearer_auth(&token)
                    .send()
                    .await
                {
                    Ok(response) if response.status() == 200 => {
                        if succeeded.send(id).is_err() {
                            return;
                        }
                    }
                    _ => return,
                }
            }
        }));
    }
    drop(succeeded_tx);
    let mut seen = Vec::new();
    while seen.len() < 40 {
        seen.push(succeeded_rx.recv().await.unwrap());
    }
    let data_dir = server.data_dir.clone();
    let addresses = (server.api.clone(), server.gateway.clone());
    server.kill();
    for client in clients {
        let _ = client.await;
    }
    while let Ok(id) = succeeded_rx.try_recv() {
        seen.push(id);
    }

    let server = RunningServer::start_on(
        &data_dir,
        addresses.0.trim_start_matches("http://"),
        addresses.1.trim_start_matches("http://"),
        &[],
        &[],
    );
    let decisions = audit_events(&server, &admin, "crm", "gateway.decision").await;
    let allowed: std::collections::HashSet<String> = decisions
        .iter()
        .filter(|event| event["decision"] == "allow")
        .filter_map(|event| event["resource"].as_str().map(str::to_string))
        .collect();
    for id in &seen {
        assert!(
            allowed.contains(&format!("Ticket::\"{id}\"")),
            "request {id} succeeded but its decision is not in the audit trail"
        );
    }
    assert!(upstream.seen().len() >= seen.len());
    server.cli(&admin, &["audit", "verify"]).ok();
    drop(dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_policy_set_that_cannot_load_refuses_requests() {
    // Edited behind Warden's back: the stored policy no longer compiles.
    let rig = Rig::start("")
        .await
        .restart_after("UPDATE policies SET text = 'permit(principal == Agent::\"support-bot\", action, resource) when { nonsense };'")
        .await;
    rig.assert_unavailable().await;
    assert!(rig.upstream.seen().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn rotating_the_data_key_reseals_every_secret() {
    let rig = Rig::start("").await;
    let Rig {
        server,
        upstream,
        token,
        admin,
        dir,
        ..
    } = rig;
    let data_dir = server.data_dir.clone();
    let (api, gateway) = (server.api.clone(), server.gateway.clone());
    let before = std::fs::read(data_dir.join("keys/data.key")).unwrap();
    assert!(server.stop().success());

    let rotated = warden()
        .args(["keys", "rotate-data-key", "--data-dir"])
        .arg(&data_dir)
        .args(["-o", "json"])
        .output()
        .unwrap();
    assert!(
        rotated.status.success(),
        "{}",
        String::from_utf8_lossy(&rotated.stderr)
    );
    let report: Value = serde_json::from_slice(&rotated.stdout).unwrap();
    assert_eq!(report["resealed_upstream_secrets"], 1);
    assert!(report["resealed_signing_keys"].as_u64().unwrap() >= 1);
    let after = std::fs::read(data_dir.join("keys/data.key")).unwrap();
    assert_ne!(before, after);
    assert_eq!(
        std::fs::read(data_dir.join("keys/data.key.previous")).unwrap(),
        before
    );
    assert!(!String::from_utf8_lossy(&rotated.stdout).contains(SECRET));

    // The old key no longer opens this database: a node still holding it refuses to start.
    let stale = tempfile::tempdir().unwrap();
    let stale_dir = stale.path().join("data");
    std::fs::create_dir_all(stale_dir.join("keys")).unwrap();
    for file in ["pepper.key", "audit.key"] {
        std::fs::copy(
            data_dir.join("keys").join(file),
            stale_dir.join("keys").join(file),
        )
        .unwrap();
    }
    std::fs::write(stale_dir.join("keys/data.key"), &before).unwrap();
    let refused = warden()
        .args([
            "serve",
            "--api-listen",
            "127.0.0.1:0",
            "--gateway-listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(&stale_dir)
        .arg("--database-url")
        .arg(format!("sqlite://{}", data_dir.join("warden.db").display()))
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("data key"));

    // With the new key, the token signed before still verifies (the signing keys opened)
    // and the upstream still gets its secret (the upstream secret opened).
    let server = RunningServer::start_on(
        &data_dir,
        api.trim_start_matches("http://"),
        gateway.trim_start_matches("http://"),
        &[],
        &[],
    );
    let response = reqwest::Client::new()
        .get(format!("{gateway}/crm/tickets/9"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let seen = upstream.seen();
    assert_eq!(
        seen.last().unwrap().headers.get("x-api-key").unwrap(),
        SECRET
    );
    let rotations = audit_events_of_kind(&server, &admin, "key.rotated").await;
    assert!(
        rotations
            .iter()
            .any(|event| event["target"]["kind"] == "data_key"),
        "{rotations:?}"
    );
    drop(dir);
}

async fn audit_events_of_kind(server: &RunningServer, admin: &str, kind: &str) -> Vec<Value> {
    let response = reqwest::Client::new()
        .get(format!("{}/v1/audit/events", server.api))
        .bearer_auth(admin)
        .query(&[("kind", kind), ("limit", "1000")])
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    body["items"].as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn stopping_the_server_ends_open_streams() {
    let rig = Rig::start("").await;
    let mut response = reqwest::Client::new()
        .get(rig.gateway("/crm/stream"))
        .bearer_auth(&rig.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.chunk().await.unwrap().is_some());
    let Rig { server, dir, .. } = rig;
    // SIGTERM: the server stops accepting, ends the endless stream and exits 0 (`stop`
    // fails the test if it is still running after its deadline).
    let status = tokio::task::spawn_blocking(move || server.stop())
        .await
        .unwrap();
    assert!(status.success());
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match response.chunk().await {
                Ok(Some(_)) => {}
                Ok(None) => return "completed",
                Err(_) => return "cut",
            }
        }
    })
    .await
    .expect("the stream outlived the server");
    assert_eq!(ended, "cut");
    drop(dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mislabelled_tools_list_answer_is_filtered_all_the_same() {
    let rig = Rig::start("").await;
    let added = warden()
        .env("WARDEN_ADDR", &rig.server.api)
        .env("WARDEN_TOKEN", &rig.admin)
        .env("MCP_TOKEN", SECRET)
        .args([
            "upstream",
            "add",
            "tools",
            "--kind",
            "mcp",
            "--url",
            &rig.upstream.url(),
            "--auth",
            "bearer",
            "--secret-env",
            "MCP_TOKEN",
        ])
        .output()
        .unwrap();
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let policy = rig.dir.path().join("tools.cedar");
    std::fs::write(
        &policy,
        r#"permit(principal == Agent::"support-bot", action == Action::"call_tool", resource == Tool::"tools/echo");"#,
    )
    .unwrap();
    rig.server
        .cli(&rig.admin, &["policy", "add", policy.to_str().unwrap()])
        .ok();
    let token = access_token(&rig.server, &rig.client_id, &rig.client_secret, "tools").await;
    let response = reqwest::Client::new()
        .post(rig.gateway("/tools/mislabelled"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let answer: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    assert_eq!(
        answer["result"]["tools"],
        serde_json::json!([{"name": "echo"}])
    );
}
