//! Hardening, end to end through the real binary: approvers see the exact request they
//! approve (and it is gone once the approval cannot be used), an approval is bound to the
//! content type too, one agent cannot flood the approvers, an upstream's secret never
//! follows its URL to another host, and a browser on a foreign origin cannot reach an MCP
//! upstream through the gateway.

use std::time::Duration;

use serde_json::{Value, json};

use crate::gateway::{Rig, SECRET, access_token, eventually};
use crate::harness::{RunningServer, warden};
use crate::upstream::TestUpstream;

/// What the agent claims and what it actually sends differ on purpose.
const CLAIM: &str = "refund 5 EUR";
const BODY: &str = r#"{"amount": 999999,   "to": "acct-mallory-7731"}"#;
const MARKER: &str = "acct-mallory-7731";

async fn post(
    rig: &Rig,
    path: &str,
    token: &str,
    content_type: &str,
    body: &str,
    approval: Option<&str>,
    origin: Option<&str>,
) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(rig.gateway(path))
        .bearer_auth(token)
        .header("content-type", content_type)
        .header("Warden-Reason", CLAIM)
        .body(body.to_string());
    if let Some(id) = approval {
        request = request.header("Warden-Approval", id);
    }
    if let Some(origin) = origin {
        request = request.header("Origin", origin);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Holds the refund `BODY` and returns the approval id.
async fn hold_refund(rig: &Rig, content_type: &str) -> String {
    let (status, held) = post(
        rig,
        "/crm/tickets/42/refund?currency=EUR&dry_run=0",
        &rig.token,
        content_type,
        BODY,
        None,
        None,
    )
    .await;
    assert_eq!(status, 403, "{held}");
    assert_eq!(held["error"], "approval_required", "{held}");
    held["approval_id"].as_str().unwrap().to_string()
}

async fn api_get(rig: &Rig, path: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .get(format!("{}{path}", rig.server.api))
        .bearer_auth(&rig.admin)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn database(rig: &Rig) -> std::path::PathBuf {
    rig.server.data_dir.join("warden.db")
}

/// The ids of approvals whose sealed request is still in the database, read from the
/// SQLite file behind the server's back.
async fn kept_requests(rig: &Rig) -> Vec<String> {
    let mut connection = <sqlx::SqliteConnection as sqlx::Connection>::connect(&format!(
        "sqlite://{}?mode=ro",
        database(rig).display()
    ))
    .await
    .unwrap();
    let ids: Vec<(String,)> =
        sqlx::query_as("SELECT id FROM approvals WHERE request_sealed IS NOT NULL")
            .fetch_all(&mut connection)
            .await
            .unwrap();
    ids.into_iter().map(|(id,)| id).collect()
}

/// Whether `needle` is anywhere in the database's files (the main file and its WAL).
fn database_contains(rig: &Rig, needle: &str) -> bool {
    let main = database(rig);
    [main.clone(), main.with_extension("db-wal")]
        .iter()
        .filter_map(|path| std::fs::read(path).ok())
        .any(|bytes| bytes.windows(needle.len()).any(|w| w == needle.as_bytes()))
}

fn refunds_seen(rig: &Rig) -> Vec<Vec<u8>> {
    rig.upstream
        .seen()
        .iter()
        .filter(|seen| seen.target.contains("/refund"))
        .map(|seen| seen.body.to_vec())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_approver_sees_the_exact_held_http_request_and_never_a_secret() {
    let rig = Rig::start("").await;
    let id = hold_refund(&rig, "application/json; charset=utf-8").await;

    let shown = rig
        .server
        .cli(&rig.admin, &["approvals", "show", &id, "-o", "json"])
        .json();
    let (status, read) = api_get(&rig, &format!("/v1/approvals/{id}")).await;
    assert_eq!(status, 200, "{read}");
    for view in [&shown, &read] {
        let request = &view["request"];
        assert_eq!(view["reason"], CLAIM);
        assert_eq!(request["method"], "POST", "{view}");
        assert_eq!(request["path"], "/tickets/42/refund");
        assert_eq!(request["query"], "currency=EUR&dry_run=0");
        assert_eq!(request["content_type"], "application/json; charset=utf-8");
        assert_eq!(
            request["body"]["content"], BODY,
            "the body is shown byte for byte"
        );
        assert_eq!(request["body"]["encoding"], "text");
        assert_eq!(request["body"]["size"], BODY.len());
        let text = view.to_string();
        assert!(!text.contains(SECRET), "the upstream secret was shown");
        assert!(!text.contains(&rig.token), "the agent's token was shown");
    }
    let table = rig.server.cli(&rig.admin, &["approvals", "show", &id]).ok();
    assert!(
        table.contains("999999") && table.contains(MARKER),
        "{table}"
    );

    // Kept sealed: the body is nowhere in the database in the clear.
    assert_eq!(kept_requests(&rig).await, vec![id.clone()]);
    assert!(
        !database_contains(&rig, MARKER),
        "the held body is stored in the clear"
    );
    assert!(refunds_seen(&rig).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_approver_sees_a_body_that_is_not_text_as_base64_with_its_size() {
    let rig = Rig::start("").await;
    let response = reqwest::Client::new()
        .post(rig.gateway("/crm/tickets/42/refund"))
        .bearer_auth(&rig.token)
        .header("content-type", "application/octet-stream")
        .body(vec![0xff_u8, 0x00, 0xfe, 0x10])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let held: Value = response.json().await.unwrap();
    let id = held["approval_id"].as_str().unwrap();
    let (_, read) = api_get(&rig, &format!("/v1/approvals/{id}")).await;
    assert_eq!(
        read["request"]["body"],
        json!({"size": 4, "encoding": "base64", "content": "/wD+EA=="})
    );
}

/// Registers the MCP upstream `tools` on the rig's recording upstream; `origins` are its
/// allowed origins. Returns a token for it.
async fn add_mcp_upstream(rig: &Rig, policy: &str, origins: &[&str]) -> String {
    let mut args = vec![
        "upstream".to_string(),
        "add".into(),
        "tools".into(),
        "--kind".into(),
        "mcp".into(),
        "--url".into(),
        rig.upstream.url(),
        "--auth".into(),
        "bearer".into(),
        "--secret-env".into(),
        "MCP_TOKEN".into(),
    ];
    for origin in origins {
        args.push("--allowed-origin".into());
        args.push((*origin).to_string());
    }
    let added = warden()
        .env("WARDEN_ADDR", &rig.server.api)
        .env("WARDEN_TOKEN", &rig.admin)
        .env("MCP_TOKEN", SECRET)
        .args(&args)
        .output()
        .unwrap();
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let file = rig.dir.path().join("tools.cedar");
    std::fs::write(&file, policy).unwrap();
    rig.server
        .cli(&rig.admin, &["policy", "add", file.to_str().unwrap()])
        .ok();
    access_token(&rig.server, &rig.client_id, &rig.client_secret, "tools").await
}

fn tool_call(name: &str, arguments: &Value) -> String {
    json!({
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": name, "arguments": arguments},
    })
    .to_string()
}

fn mcp_seen(rig: &Rig) -> usize {
    rig.upstream
        .seen()
        .iter()
        .filter(|seen| seen.target.starts_with("/api") && seen.method == "POST")
        .filter(|seen| !seen.target.contains("/refund"))
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_approver_sees_the_exact_tool_arguments_of_a_held_mcp_call() {
    let rig = Rig::start("").await;
    let token = add_mcp_upstream(
        &rig,
        r#"@approval("money moves need a human")
permit(principal == Agent::"support-bot", action == Action::"call_tool", resource == Tool::"tools/transfer_funds");"#,
        &[],
    )
    .await;
    let arguments = json!({"amount": 999999, "currency": "EUR", "to": MARKER});
    let (status, held) = post(
        &rig,
        "/tools",
        &token,
        "application/json",
        &tool_call("transfer_funds", &arguments),
        None,
        None,
    )
    .await;
    // An MCP client reads the hold as a JSON-RPC error with the approval in its data.
    assert_eq!(
        (
            status,
            held["error"]["code"].as_i64(),
            held["error"]["data"]["error"].as_str()
        ),
        (200, Some(-32031), Some("approval_required")),
        "{held}"
    );
    let id = held["error"]["data"]["approval_id"].as_str().unwrap();

    let shown = rig
        .server
        .cli(&rig.admin, &["approvals", "show", id, "-o", "json"])
        .json();
    let (_, read) = api_get(&rig, &format!("/v1/approvals/{id}")).await;
    for view in [&shown, &read] {
        let calls = view["request"]["tool_calls"].as_array().unwrap();
        assert_eq!(calls.len(), 1, "{view}");
        assert_eq!(calls[0]["name"], "transfer_funds");
        assert_eq!(calls[0]["arguments"], arguments);
        assert!(!view.to_string().contains(SECRET));
        assert!(!view.to_string().contains(&token));
    }
    let table = rig.server.cli(&rig.admin, &["approvals", "show", id]).ok();
    assert!(
        table.contains("transfer_funds") && table.contains("999999"),
        "{table}"
    );
    assert!(!database_contains(&rig, MARKER));
    assert_eq!(mcp_seen(&rig), 0, "a held tool call reached the upstream");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_held_request_is_purged_once_its_approval_is_used_or_denied() {
    let rig = Rig::start("").await;
    let used = hold_refund(&rig, "application/json").await;
    let denied = hold_refund(&rig, "application/json").await;
    let mut kept = kept_requests(&rig).await;
    kept.sort();
    let mut both = vec![used.clone(), denied.clone()];
    both.sort();
    assert_eq!(kept, both);

    rig.server
        .cli(
            &rig.admin,
            &[
                "approvals",
                "approve",
                &used,
                "--approver",
                "alice@example.com",
            ],
        )
        .ok();
    let (status, done) = post(
        &rig,
        "/crm/tickets/42/refund?currency=EUR&dry_run=0",
        &rig.token,
        "application/json",
        BODY,
        Some(&used),
        None,
    )
    .await;
    assert_eq!(status, 200, "{done}");
    rig.server
        .cli(&rig.admin, &["approvals", "deny", &denied])
        .ok();

    assert!(
        kept_requests(&rig).await.is_empty(),
        "a spent approval kept its request"
    );
    for id in [&used, &denied] {
        let (_, read) = api_get(&rig, &format!("/v1/approvals/{id}")).await;
        assert!(read["request"].is_null(), "{read}");
    }
    assert!(!database_contains(&rig, MARKER));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_approval_keeps_no_request() {
    let rig = Rig::start("[gateway]\napproval_ttl_secs = 1\n").await;
    let id = hold_refund(&rig, "application/json").await;
    assert!(!database_contains(&rig, MARKER));
    eventually(
        "the expired approval's request to be purged",
        Duration::from_secs(10),
        || async { kept_requests(&rig).await.is_empty() },
    )
    .await;
    let (_, read) = api_get(&rig, &format!("/v1/approvals/{id}")).await;
    assert_eq!(read["status"], "expired");
    assert!(read["request"].is_null(), "{read}");
    let shown = rig.server.cli(&rig.admin, &["approvals", "show", &id]);
    assert!(
        shown.stderr().contains("no longer kept"),
        "{}",
        shown.stderr()
    );
    assert!(!database_contains(&rig, MARKER));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_changed_content_type_with_the_same_body_does_not_spend_the_approval() {
    let rig = Rig::start("").await;
    let id = hold_refund(&rig, "application/json").await;
    rig.server
        .cli(
            &rig.admin,
            &[
                "approvals",
                "approve",
                &id,
                "--approver",
                "alice@example.com",
            ],
        )
        .ok();
    let path = "/crm/tickets/42/refund?currency=EUR&dry_run=0";
    let (status, other) = post(&rig, path, &rig.token, "text/plain", BODY, Some(&id), None).await;
    assert_eq!(status, 403, "{other}");
    assert_eq!(other["rule"], "approval_mismatch");
    assert!(
        other["message"].as_str().unwrap().contains("content type"),
        "{other}"
    );
    assert!(refunds_seen(&rig).is_empty());

    let (status, done) = post(
        &rig,
        path,
        &rig.token,
        "application/json",
        BODY,
        Some(&id),
        None,
    )
    .await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(refunds_seen(&rig), vec![BODY.as_bytes().to_vec()]);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_pending_cap_refuses_the_21st_held_request() {
    let rig = Rig::start("").await;
    let mut first = None;
    for _ in 0..20 {
        let id = hold_refund(&rig, "application/json").await;
        first.get_or_insert(id);
    }
    let (status, refused) = post(
        &rig,
        "/crm/tickets/42/refund",
        &rig.token,
        "application/json",
        BODY,
        None,
        None,
    )
    .await;
    assert_eq!(status, 429, "{refused}");
    assert_eq!(refused["error"], "too_many_pending_approvals");
    assert!(refused.get("approval_id").is_none(), "{refused}");
    assert!(
        refused["message"].as_str().unwrap().contains("20"),
        "{refused}"
    );
    let pending = rig
        .server
        .cli(
            &rig.admin,
            &[
                "approvals",
                "list",
                "--status",
                "pending",
                "--limit",
                "100",
                "-o",
                "json",
            ],
        )
        .json();
    assert_eq!(pending["items"].as_array().unwrap().len(), 20);
    let decisions = rig.decisions("crm").await;
    let capped = decisions
        .iter()
        .find(|event| event["details"]["rule"] == "approval_cap")
        .unwrap_or_else(|| panic!("the refusal is not audited: {decisions:?}"));
    assert_eq!(capped["decision"], "deny");

    // Once a human decides one, the agent may ask again.
    rig.server
        .cli(
            &rig.admin,
            &["approvals", "deny", first.as_deref().unwrap()],
        )
        .ok();
    hold_refund(&rig, "application/json").await;
    assert!(refunds_seen(&rig).is_empty());
}

/// `warden upstream update crm ARGS…`, with `NEW_TOKEN` set to `secret` when given.
fn update_crm(rig: &Rig, args: &[&str], secret: Option<&str>) -> std::process::Output {
    let mut command = warden();
    command
        .env("WARDEN_ADDR", &rig.server.api)
        .env("WARDEN_TOKEN", &rig.admin)
        .args(["upstream", "update", "crm"])
        .args(args);
    if let Some(secret) = secret {
        command.env("NEW_TOKEN", secret);
    }
    command.output().unwrap()
}

async fn read_ticket(rig: &Rig) -> u16 {
    reqwest::Client::new()
        .get(rig.gateway("/crm/tickets/1"))
        .bearer_auth(&rig.token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn keys_seen(upstream: &TestUpstream) -> Vec<String> {
    upstream
        .seen()
        .iter()
        .filter_map(|seen| seen.headers.get("x-api-key"))
        .map(|value| value.to_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upstream_secret_never_follows_its_url_to_another_host() {
    let rig = Rig::start("").await;
    let elsewhere = TestUpstream::start().await;

    let refused = update_crm(&rig, &["--url", &elsewhere.url()], None);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("another host") || stderr.contains("not registered for"),
        "{stderr}"
    );
    assert!(stderr.contains("same update"), "{stderr}");
    let patched = reqwest::Client::new()
        .patch(format!("{}/v1/upstreams/crm", rig.server.api))
        .bearer_auth(&rig.admin)
        .json(&json!({"url": elsewhere.url()}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 422);
    let body: Value = patched.json().await.unwrap();
    assert_eq!(body["error"], "secret_bound_to_origin", "{body}");

    assert_eq!(read_ticket(&rig).await, 200);
    assert!(elsewhere.seen().is_empty(), "the new host was called");
    assert_eq!(keys_seen(&rig.upstream), vec![SECRET.to_string()]);

    let new_secret = "elsewhere-secret-51c0de9a7f";
    let moved = update_crm(
        &rig,
        &["--url", &elsewhere.url(), "--secret-env", "NEW_TOKEN"],
        Some(new_secret),
    );
    assert!(
        moved.status.success(),
        "{}",
        String::from_utf8_lossy(&moved.stderr)
    );
    assert_eq!(read_ticket(&rig).await, 200);
    assert_eq!(keys_seen(&elsewhere), vec![new_secret.to_string()]);
    assert!(
        elsewhere.seen().iter().all(|seen| seen
            .headers
            .values()
            .all(|v| v.as_bytes() != SECRET.as_bytes())),
        "the old secret reached the new host"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_path_only_upstream_change_keeps_its_secret() {
    let rig = Rig::start("").await;
    let moved = update_crm(
        &rig,
        &["--url", &format!("{}/v2", rig.upstream.url())],
        None,
    );
    assert!(
        moved.status.success(),
        "{}",
        String::from_utf8_lossy(&moved.stderr)
    );
    assert_eq!(read_ticket(&rig).await, 200);
    let seen = rig.upstream.seen();
    assert_eq!(seen.last().unwrap().target, "/api/v2/tickets/1");
    assert_eq!(keys_seen(&rig.upstream), vec![SECRET.to_string()]);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_mcp_request_from_a_foreign_origin_never_reaches_the_upstream() {
    let rig = Rig::start("").await;
    let token = add_mcp_upstream(
        &rig,
        r#"permit(principal == Agent::"support-bot", action == Action::"call_tool", resource == Tool::"tools/echo");"#,
        &["https://app.example.com"],
    )
    .await;
    let call = tool_call("echo", &json!({"text": "hi"}));
    let send = |origin: Option<&'static str>| {
        let call = call.clone();
        let token = token.clone();
        let rig = &rig;
        async move {
            post(
                rig,
                "/tools",
                &token,
                "application/json",
                &call,
                None,
                origin,
            )
            .await
        }
    };

    let (status, refused) = send(Some("https://evil.example.net")).await;
    assert_eq!(status, 403, "{refused}");
    assert_eq!(refused["rule"], "origin");
    assert!(
        refused["message"].as_str().unwrap().contains("origin"),
        "{refused}"
    );
    assert_eq!(mcp_seen(&rig), 0, "a foreign origin reached the upstream");

    let (status, answer) = send(Some("https://app.example.com")).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(mcp_seen(&rig), 1);
    let (status, answer) = send(None).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(mcp_seen(&rig), 2);

    let shown = rig
        .server
        .cli(&rig.admin, &["upstream", "show", "tools", "-o", "json"])
        .json();
    assert_eq!(shown["allowed_origins"], json!(["https://app.example.com"]));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_held_request_still_opens_after_the_data_key_is_rotated() {
    let rig = Rig::start("").await;
    let id = hold_refund(&rig, "application/json").await;
    let Rig {
        server, admin, dir, ..
    } = rig;
    let data_dir = server.data_dir.clone();
    let (api, gateway) = (server.api.clone(), server.gateway.clone());
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
    assert_eq!(report["resealed_approval_requests"], 1);

    let server = RunningServer::start_on(
        &data_dir,
        api.trim_start_matches("http://"),
        gateway.trim_start_matches("http://"),
        &[],
        &[],
    );
    let shown = server
        .cli(&admin, &["approvals", "show", &id, "-o", "json"])
        .json();
    assert_eq!(shown["request"]["body"]["content"], BODY, "{shown}");
    drop(dir);
}
