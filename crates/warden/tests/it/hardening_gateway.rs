//! Regression tests for bypasses of the gateway's enforcement, each tried the way an
//! attacker would (raw sockets where a client library would normalise the attack), against
//! the real binary and a recording upstream: the test asserts what was refused and that the
//! upstream saw nothing it should not have.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

use crate::gateway::{Rig, access_token, audit_events, eventually, raw};
use crate::harness::RunningServer;

/// Routes of an MCP upstream served by the recording test upstream.
const MCP_POLICY: &str = r#"permit(
    principal == Agent::"support-bot",
    action == Action::"call_tool",
    resource == Tool::"tools/echo"
);
"#;

/// Registers the test upstream at `path` as the MCP upstream `tools`, permits the agent to
/// call `echo` there, and returns a token for it.
async fn add_mcp_upstream(rig: &Rig, path: &str) -> String {
    let url = format!("http://{}{path}", rig.upstream.addr);
    let added = crate::harness::warden()
        .env("WARDEN_ADDR", &rig.server.api)
        .env("WARDEN_TOKEN", &rig.admin)
        .env("MCP_TOKEN", "mcp-upstream-secret")
        .args([
            "upstream",
            "add",
            "tools",
            "--url",
            &url,
            "--kind",
            "mcp",
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
    let policy = rig.dir.path().join("mcp.cedar");
    std::fs::write(&policy, MCP_POLICY).unwrap();
    rig.server
        .cli(&rig.admin, &["policy", "add", policy.to_str().unwrap()])
        .ok();
    access_token(&rig.server, &rig.client_id, &rig.client_secret, "tools").await
}

fn rpc(body: &str, token: &str, method: &str, target: &str) -> String {
    format!(
        "{method} {target} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

const ECHO_CALL: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_service_account_sharing_an_agents_name_gets_none_of_its_permits() {
    let rig = Rig::start("").await;
    rig.server
        .cli(
            &rig.admin,
            &["owner", "add", "bob@example.com", "--name", "Bob"],
        )
        .ok();
    rig.server
        .cli(
            &rig.admin,
            &[
                "identity",
                "create",
                "service_account",
                "support-bot",
                "--owner",
                "bob@example.com",
            ],
        )
        .ok();
    let issued = rig
        .server
        .cli(
            &rig.admin,
            &[
                "credential",
                "issue",
                "service_account:support-bot",
                "-o",
                "json",
            ],
        )
        .json();
    let account_token = access_token(
        &rig.server,
        issued["client_id"].as_str().unwrap(),
        issued["client_secret"].as_str().unwrap(),
        "crm",
    )
    .await;
    let client = reqwest::Client::new();
    let get = |token: String| {
        let client = client.clone();
        let url = rig.gateway("/crm/tickets/1");
        async move {
            client
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    // `Agent::"support-bot"` is the agent's, never the service account's.
    assert_eq!(get(rig.token.clone()).await, 200);
    assert_eq!(get(account_token.clone()).await, 403);
    assert_eq!(rig.upstream.seen().len(), 1);

    // The policy test says the same for the service account by its kind.
    let verdict = rig
        .server
        .cli(
            &rig.admin,
            &[
                "policy",
                "test",
                "--agent",
                "support-bot",
                "--kind",
                "service_account",
                "--upstream",
                "crm",
                "--method",
                "GET",
                "--path",
                "/tickets/1",
                "-o",
                "json",
            ],
        )
        .json();
    assert_eq!(verdict["decision"], "deny");

    // Killing the agent stops the agent; the account never had its permits to keep.
    rig.server
        .cli(&rig.admin, &["kill", "agent", "support-bot"])
        .ok();
    assert_eq!(get(rig.token.clone()).await, 401);
    assert_eq!(get(account_token).await, 403);
    assert_eq!(rig.upstream.seen().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn scopes_reach_policies_as_context_scopes() {
    let rig = Rig::start("").await;
    let policy = rig.dir.path().join("admin.cedar");
    std::fs::write(
        &policy,
        r#"permit(principal == Agent::"support-bot", action == Action::"admin.read", resource)
when { context.scopes.contains("crm:admin") };
"#,
    )
    .unwrap();
    rig.server
        .cli(&rig.admin, &["policy", "add", policy.to_str().unwrap()])
        .ok();
    let scoped = rig
        .server
        .cli(
            &rig.admin,
            &[
                "agent",
                "create",
                "admin-bot",
                "--owner",
                "alice@example.com",
                "--scope",
                "crm:admin crm:read",
                "-o",
                "json",
            ],
        )
        .json();
    // admin-bot has no policy of its own; give it the same one under its name.
    let policy = rig.dir.path().join("admin-bot.cedar");
    std::fs::write(
        &policy,
        r#"permit(principal == Agent::"admin-bot", action == Action::"admin.read", resource)
when { context.scopes.contains("crm:admin") };
"#,
    )
    .unwrap();
    rig.server
        .cli(&rig.admin, &["policy", "add", policy.to_str().unwrap()])
        .ok();
    let token_with = |scope: &'static str| {
        let api = rig.server.api.clone();
        let id = scoped["client_id"].as_str().unwrap().to_string();
        let secret = scoped["client_secret"].as_str().unwrap().to_string();
        async move {
            let response = reqwest::Client::new()
                .post(format!("{api}/oauth/token"))
                .basic_auth(id, Some(secret))
                .form(&[
                    ("grant_type", "client_credentials"),
                    ("resource", "crm"),
                    ("scope", scope),
                ])
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            let body: Value = response.json().await.unwrap();
            body["access_token"].as_str().unwrap().to_string()
        }
    };
    let get = |token: String| {
        let url = rig.gateway("/crm/admin/settings");
        async move {
            reqwest::Client::new()
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(get(token_with("crm:admin").await).await, 200);
    assert_eq!(get(token_with("crm:read").await).await, 403);
    // The support agent's token carries no scope at all.
    assert_eq!(get(rig.token.clone()).await, 403);
    assert_eq!(rig.upstream.seen().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_mcp_upstream_takes_only_post_get_and_delete() {
    let rig = Rig::start("").await;
    let token = add_mcp_upstream(&rig, "/mcp").await;
    let gateway = &rig.server.gateway;
    for method in ["PUT", "PATCH", "post", "Post", "OPTIONS", "PROPFIND"] {
        let (status, body) = raw(gateway, rpc(ECHO_CALL, &token, method, "/tools")).await;
        assert_eq!(status, 405, "{method}: {body}");
        assert!(body.contains("method_not_allowed"), "{method}: {body}");
    }
    // GET (the event stream) and DELETE (the session's end) carry no body.
    for method in ["GET", "DELETE"] {
        let (status, body) = raw(gateway, rpc(ECHO_CALL, &token, method, "/tools")).await;
        assert_eq!(status, 400, "{method}: {body}");
    }
    assert!(
        rig.upstream.seen().is_empty(),
        "the upstream saw {:?}",
        rig.upstream.seen()
    );
    // The same call by POST is decided, and allowed.
    let (status, body) = raw(gateway, rpc(ECHO_CALL, &token, "POST", "/tools")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(rig.upstream.seen().len(), 1);
    assert_eq!(rig.upstream.seen()[0].method, "POST");
}

#[tokio::test(flavor = "multi_thread")]
async fn duplicate_keys_in_a_json_rpc_envelope_are_refused() {
    let rig = Rig::start("").await;
    let token = add_mcp_upstream(&rig, "/mcp").await;
    for body in [
        // Warden would read the last name, a first-wins parser the first.
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"delete_everything","name":"echo"}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","method":"tools/call","params":{"name":"echo"}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"a","text":"b"}}}"#,
        r#"[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"n\u0061me":"delete_everything","name":"echo"}}]"#,
    ] {
        let (status, answer) = raw(&rig.server.gateway, rpc(body, &token, "POST", "/tools")).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert!(answer.contains("appears twice"), "{answer}");
    }
    assert!(rig.upstream.seen().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_compressed_mcp_answer_is_never_passed_on_unfiltered() {
    let rig = Rig::start("").await;
    let list = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
    let gzip_request = |token: &str, target: &str| {
        format!(
            "POST {target} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nAccept: application/json\r\nAccept-Encoding: gzip, br\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{list}",
            list.len()
        )
    };
    // A well-behaved server compresses only when asked: the gateway asks for identity, so
    // the answer arrives readable and is filtered.
    let token = add_mcp_upstream(&rig, "/negotiated-tools").await;
    let (status, body) = raw(&rig.server.gateway, gzip_request(&token, "/tools")).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"echo\""), "{body}");
    assert!(!body.contains("secret_tool"), "{body}");
    let seen = rig.upstream.seen();
    assert_eq!(seen[0].headers["accept-encoding"], "identity");

    // A hostile one compresses anyway: the answer cannot be filtered, so it is refused.
    let hostile = format!("http://{}/gzipped-tools", rig.upstream.addr);
    crate::harness::warden()
        .env("WARDEN_ADDR", &rig.server.api)
        .env("WARDEN_TOKEN", &rig.admin)
        .args(["upstream", "update", "tools", "--url", &hostile])
        .output()
        .unwrap();
    let (status, body) = raw(&rig.server.gateway, gzip_request(&token, "/tools")).await;
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("compressed"), "{body}");
    assert!(!body.contains("secret_tool"));
}

#[tokio::test(flavor = "multi_thread")]
async fn what_reaches_the_upstream_is_what_was_decided() {
    let rig = Rig::start("").await;
    let token = &rig.token;
    let auth = format!("Authorization: Bearer {token}\r\n");
    let get = |extra: &str, target: &str| {
        format!("GET {target} HTTP/1.1\r\nHost: x\r\n{auth}{extra}Connection: close\r\n\r\n")
    };
    let cases = [
        (
            "method override header",
            get("X-HTTP-Method-Override: DELETE\r\n", "/crm/tickets/1"),
        ),
        (
            "method override, another spelling",
            get("X-Method-Override: DELETE\r\n", "/crm/tickets/1"),
        ),
        (
            "path override header",
            get("X-Original-URL: /admin/x\r\n", "/crm/tickets/1"),
        ),
        (
            "_method in the query",
            get("", "/crm/tickets/1?_method=DELETE"),
        ),
        (
            "_method encoded in the query",
            get("", "/crm/tickets/1?a=1&%5Fmethod=DELETE"),
        ),
        (
            "an underscore header",
            get("X_Api_Key: attacker-key\r\n", "/crm/tickets/1"),
        ),
        (
            "a dot segment with a parameter",
            get("", "/crm/tickets/..;/admin/x"),
        ),
        (
            "a dot segment with a named parameter",
            get("", "/crm/tickets/.;x=1/1"),
        ),
        (
            "_method in a form body",
            format!(
                "POST /crm/tickets/1/refund HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 25\r\nConnection: close\r\n\r\namount=5&_method=DELETE&x"
            ),
        ),
    ];
    for (what, request) in cases {
        let (status, body) = raw(&rig.server.gateway, request).await;
        assert_eq!(status, 400, "{what}: {body}");
    }
    assert!(
        rig.upstream.seen().is_empty(),
        "the upstream saw {:?}",
        rig.upstream.seen()
    );

    // Forwarding headers are the gateway's own, whatever the agent claims.
    let (status, _) = raw(
        &rig.server.gateway,
        get(
            "X-Forwarded-For: 10.9.9.9\r\nX-Real-IP: 10.9.9.9\r\nForwarded: for=10.9.9.9\r\nX-Forwarded-Host: evil.example\r\nTrue-Client-IP: 10.9.9.9\r\n",
            "/crm/tickets/1",
        ),
    )
    .await;
    assert_eq!(status, 200);
    let seen = rig.upstream.seen();
    assert_eq!(seen.len(), 1);
    let headers = &seen[0].headers;
    assert_eq!(headers["x-forwarded-for"], "127.0.0.1");
    assert_eq!(headers.get_all("x-forwarded-for").iter().count(), 1);
    assert!(headers.get("x-real-ip").is_none());
    assert!(headers.get("true-client-ip").is_none());
    let forwarded = headers["forwarded"].to_str().unwrap();
    assert!(forwarded.starts_with("for=127.0.0.1;"), "{forwarded}");
    let gateway_host = rig.server.gateway.trim_start_matches("http://");
    assert_eq!(headers["x-forwarded-host"], gateway_host);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_refusal_names_the_agent_in_the_audit_trail() {
    let rig = Rig::start("").await;
    let token = &rig.token;
    let auth = format!("Authorization: Bearer {token}\r\n");
    let refusals = [
        (
            "route",
            format!("GET /crm/nowhere HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n"),
        ),
        (
            "path",
            format!("GET /crm/a/../b HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n"),
        ),
        (
            "headers",
            format!(
                "GET /crm/tickets/1 HTTP/1.1\r\nHost: x\r\n{auth}X-HTTP-Method: PUT\r\nConnection: close\r\n\r\n"
            ),
        ),
        (
            "reason",
            format!(
                "GET /crm/tickets/1 HTTP/1.1\r\nHost: x\r\n{auth}Warden-Reason: a\r\nWarden-Reason: b\r\nConnection: close\r\n\r\n"
            ),
        ),
        (
            "method_override",
            format!(
                "GET /crm/tickets/1?_method=PUT HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n"
            ),
        ),
    ];
    for (rule, request) in &refusals {
        let (status, body) = raw(&rig.server.gateway, request.clone()).await;
        assert!((400..500).contains(&status), "{rule}: {status} {body}");
    }
    // An anonymous client's refusals name nobody, and so are not written.
    let (status, _) = raw(
        &rig.server.gateway,
        "GET /crm/nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_string(),
    )
    .await;
    assert_eq!(status, 401);

    let query = || async {
        let response = reqwest::Client::new()
            .get(format!("{}/v1/audit/events", rig.server.api))
            .bearer_auth(&rig.admin)
            .query(&[("kind", "gateway.decision"), ("limit", "1000")])
            .send()
            .await
            .unwrap();
        let body: Value = response.json().await.unwrap();
        body["items"].as_array().cloned().unwrap_or_default()
    };
    eventually(
        "every refusal on the record",
        Duration::from_secs(5),
        || async { query().await.len() >= refusals.len() },
    )
    .await;
    let events = query().await;
    assert_eq!(events.len(), refusals.len(), "{events:#?}");
    for (rule, _) in &refusals {
        let event = events
            .iter()
            .find(|event| event["details"]["rule"] == *rule)
            .unwrap_or_else(|| panic!("no record of the {rule} refusal in {events:#?}"));
        assert_eq!(event["decision"], "deny");
        assert_eq!(event["actor"]["name"], "support-bot");
        assert_eq!(event["owner"], "alice@example.com");
    }
    assert!(rig.upstream.seen().is_empty());
    // Refusals after the upstream was found carry its name.
    let on_record = audit_events(&rig.server, &rig.admin, "crm", "gateway.decision").await;
    assert_eq!(on_record.len(), 4, "{on_record:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_newline_in_a_client_id_cannot_forge_a_log_line() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("warden.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let server = RunningServer::start_logging_to(
        &dir.path().join("data"),
        ("127.0.0.1:0", "127.0.0.1:0"),
        &[],
        &[("WARDEN_LOG", "info")],
        Stdio::from(log),
    );
    let forged = "bot\n2026-12-02T00:00:00.000000Z  INFO warden: admin token accepted";
    let response = reqwest::Client::new()
        .post(format!("{}/oauth/token", server.api))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", forged),
            ("client_secret", "warden_cs_not-a-real-secret"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    eventually("the refusal in the log", Duration::from_secs(5), || async {
        std::fs::read_to_string(&log_path)
            .unwrap_or_default()
            .contains("admin token accepted")
    })
    .await;
    let text = std::fs::read_to_string(&log_path).unwrap();
    for line in text.lines() {
        assert!(
            !line.starts_with("2026-12-02T00:00:00.000000Z"),
            "a forged line was written: {text}"
        );
    }
    assert!(text.contains("bot\\n2026-12-02"), "{text}");
    drop(server);
}
