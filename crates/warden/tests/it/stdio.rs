//! Local MCP servers end to end: the real `warden serve` runs a small MCP server over stdio
//! (`stdio_server.py`, written for these tests) registered with `--kind mcp-stdio`, and the
//! official Rust SDK's client talks to it through the gateway like any MCP upstream.
//!
//! The server records every message it receives and its pid when it starts, in a file the
//! test reads, so the test can tell what reached it and which process answered.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use rmcp::model::CallToolRequestParams;
use serde_json::Value;
use sha2::Digest;

use crate::harness::{RunningServer, warden};
use crate::mcp::{connect, runtime, text_of};

const SECRET: &str = "stdio-upstream-secret-5bq2Lr9";
const POLICY: &str = r#"permit(principal == Agent::"stdio-bot", action == Action::"call_tool", resource)
when { [Tool::"local/echo", Tool::"local/whoami", Tool::"local/reveal", Tool::"local/slow"].contains(resource) };"#;
const DEADLINE: Duration = Duration::from_secs(20);

/// The absolute path of the Python interpreter (resolving any shim), so the server does not
/// depend on what PATH the child gets.
fn python() -> String {
    let output = std::process::Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .unwrap_or_else(|e| panic!("python3 is needed for the stdio tests: {e}"));
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

fn server_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/stdio_server.py")
}

/// What the server recorded: one JSON object per line.
fn recorded(file: &Path) -> Vec<Value> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

fn started_pids(file: &Path) -> Vec<i64> {
    recorded(file)
        .iter()
        .filter_map(|entry| entry["started"].as_i64())
        .collect()
}

fn tools_called(file: &Path) -> Vec<String> {
    recorded(file)
        .iter()
        .filter(|entry| entry["method"] == "tools/call")
        .filter_map(|entry| entry["tool"].as_str().map(str::to_string))
        .collect()
}

fn alive(pid: i64) -> bool {
    std::process::Command::new("kill")
        .args(["-0", &pid.to_string()])
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success()
}

/// Polls `check` until it holds, failing with `what` at the deadline.
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `warden upstream add NAME --kind mcp-stdio …` recording to `record`.
fn add_stdio_upstream(server: &RunningServer, admin: &str, name: &str, record: &Path) -> String {
    let added = warden()
        .env("WARDEN_ADDR", &server.api)
        .env("WARDEN_TOKEN", admin)
        .env("LOCAL_SECRET", SECRET)
        .args([
            "upstream",
            "add",
            name,
            "--kind",
            "mcp-stdio",
            "--command",
            &python(),
        ])
        .arg("--arg")
        .arg(server_script())
        .arg("--arg")
        .arg(record)
        .args([
            "--env-secret",
            "STDIO_TOKEN",
            "--secret-env",
            "LOCAL_SECRET",
            "-o",
            "json",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&added.stdout).into_owned();
    assert!(
        added.status.success(),
        "upstream add: {}",
        String::from_utf8_lossy(&added.stderr)
    );
    stdout
}

fn echo_body(id: u64, text: &str) -> Value {
    serde_json::json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": {"name": "echo", "arguments": {"text": text}}})
}

struct RawAnswer {
    status: u16,
    session: Option<String>,
    body: String,
}

/// A hand-made POST to the gateway.
async fn raw(url: &str, token: &str, session: Option<&str>, body: &Value) -> RawAnswer {
    let mut request = reqwest::Client::new()
        .post(url)
        .bearer_auth(token)
        .header("accept", "application/json, text/event-stream")
        .json(body);
    if let Some(session) = session {
        request = request.header("mcp-session-id", session);
    }
    let response = request.send().await.unwrap();
    RawAnswer {
        status: response.status().as_u16(),
        session: response
            .headers()
            .get("mcp-session-id")
            .map(|v| v.to_str().unwrap().to_string()),
        body: response.text().await.unwrap(),
    }
}

fn whoami(value: &rmcp::model::CallToolResult) -> Value {
    serde_json::from_str(&text_of(value)).unwrap()
}

#[test]
fn a_local_mcp_server_is_run_governed_restarted_and_stopped() {
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
    let admin = server.printed_token.clone().unwrap();

    // A command that is not there, or a relative path, is refused before anything is stored.
    let missing = server.cli(
        &admin,
        &[
            "upstream",
            "add",
            "nope",
            "--kind",
            "mcp-stdio",
            "--command",
            "no-such-mcp-server-7f3",
        ],
    );
    assert_ne!(missing.code(), 0);
    assert!(
        missing.stderr().contains("not found on the PATH"),
        "{}",
        missing.stderr()
    );
    let relative = server.cli(
        &admin,
        &[
            "upstream",
            "add",
            "nope",
            "--kind",
            "mcp-stdio",
            "--command",
            "bin/server",
        ],
    );
    assert!(
        relative.stderr().contains("relative path"),
        "{}",
        relative.stderr()
    );
    assert!(
        !server
            .cli(&admin, &["upstream", "list"])
            .ok()
            .contains("nope")
    );

    let record = dir.path().join("local.jsonl");
    let created: Value =
        serde_json::from_str(&add_stdio_upstream(&server, &admin, "local", &record)).unwrap();
    assert_eq!(created["kind"], "mcp-stdio");
    assert_eq!(created["command"], python());
    assert_eq!(created["env_secret"], "STDIO_TOKEN");
    assert_eq!(created["args"][0], server_script().to_str().unwrap());
    assert!(!created.to_string().contains(SECRET));
    let listed = server.cli(&admin, &["upstream", "list"]).ok();
    assert!(
        listed.contains("mcp-stdio") && listed.contains("python"),
        "{listed}"
    );
    let shown = server
        .cli(&admin, &["upstream", "show", "local", "-o", "json"])
        .json();
    assert_eq!(shown["env_secret"], "STDIO_TOKEN");
    assert!(!shown.to_string().contains(SECRET));

    // Started as soon as it is added, before any request.
    eventually("the server starts", || !started_pids(&record).is_empty());
    let first_pid = started_pids(&record)[0];
    let argv = std::fs::read(format!("/proc/{first_pid}/cmdline")).unwrap();
    assert!(
        !String::from_utf8_lossy(&argv).contains(SECRET),
        "the secret is never in the process's arguments"
    );

    server
        .cli(
            &admin,
            &[
                "owner",
                "add",
                "stdio-owner@example.com",
                "--name",
                "Stdio Owner",
            ],
        )
        .ok();
    let agent = server
        .cli(
            &admin,
            &[
                "agent",
                "create",
                "stdio-bot",
                "--owner",
                "stdio-owner@example.com",
                "-o",
                "json",
            ],
        )
        .json();
    let policy = dir.path().join("stdio-bot.cedar");
    std::fs::write(&policy, POLICY).unwrap();
    server
        .cli(&admin, &["policy", "add", policy.to_str().unwrap()])
        .ok();

    let runtime = runtime();
    let agent_token = runtime.block_on(async {
        let response = reqwest::Client::new()
            .post(format!("{}/oauth/token", server.api))
            .basic_auth(
                agent["client_id"].as_str().unwrap(),
                agent["client_secret"].as_str(),
            )
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials&resource=local")
            .send()
            .await
            .unwrap();
        let body: Value = response.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_string()
    });
    let url = format!("{}/local", server.gateway);

    let second_pid = runtime.block_on(async {
        let client = connect(&url, &agent_token).await;
        let info = client.peer_info().unwrap();
        assert_eq!(
            info.server_info.as_ref().map(|i| i.name.as_str()),
            Some("warden-stdio-test")
        );

        let mut names: Vec<String> = client
            .list_all_tools()
            .await
            .unwrap()
            .into_iter()
            .map(|tool| tool.name.to_string())
            .collect();
        names.sort();
        assert_eq!(
            names,
            ["echo", "reveal", "slow", "whoami"],
            "tools/list is filtered by policy"
        );

        // The first call's answer is preceded by junk, a wrong id and an overlong line: the
        // client still gets exactly its own answer.
        let echoed = client
            .call_tool(
                CallToolRequestParams::new("echo").with_arguments(
                    serde_json::json!({"text": "through warden"})
                        .as_object()
                        .unwrap()
                        .clone(),
                ),
            )
            .await
            .unwrap();
        assert_eq!(text_of(&echoed), "through warden");

        let me = whoami(
            &client
                .call_tool(CallToolRequestParams::new("whoami"))
                .await
                .unwrap(),
        );
        assert_eq!(me["pid"], first_pid);
        assert_eq!(
            me["secret_sha256"].as_str().unwrap(),
            format!("{:x}", sha2::Sha256::digest(SECRET.as_bytes())),
            "the secret is injected as STDIO_TOKEN"
        );
        let env: Vec<&str> = me["env"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert!(
            env.contains(&"PATH") && env.contains(&"STDIO_TOKEN"),
            "{env:?}"
        );
        assert!(
            env.iter()
                .all(|name| ["PATH", "HOME", "STDIO_TOKEN", "LC_CTYPE"].contains(name)),
            "the child gets a minimal environment, not Warden's: {env:?}"
        );

        let revealed = client
            .call_tool(CallToolRequestParams::new("reveal"))
            .await
            .unwrap();
        assert_eq!(text_of(&revealed), "the secret is [redacted]");

        let denied = client
            .call_tool(CallToolRequestParams::new("delete_everything"))
            .await;
        assert!(denied.is_err(), "delete_everything is refused: {denied:?}");

        // Streamable HTTP by hand: two clients using the same id at once each get their own
        // answer; a notification is accepted; GET has no stream; DELETE ends a session.
        let (first_body, second_body) = (echo_body(7, "first"), echo_body(7, "second"));
        let (first, second) = tokio::join!(
            raw(&url, &agent_token, None, &first_body),
            raw(&url, &agent_token, None, &second_body),
        );
        for (answer, text) in [(&first, "first"), (&second, "second")] {
            assert_eq!(answer.status, 200, "{}", answer.body);
            let body: Value = serde_json::from_str(&answer.body).unwrap();
            assert_eq!(body["id"], 7, "{body}");
            assert_eq!(body["result"]["content"][0]["text"], text, "{body}");
        }
        let notified = raw(
            &url,
            &agent_token,
            None,
            &serde_json::json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        )
        .await;
        assert_eq!(notified.status, 202, "{}", notified.body);
        let initialized = raw(
            &url,
            &agent_token,
            None,
            &serde_json::json!({"jsonrpc": "2.0", "id": "init-1", "method": "initialize", "params": {
                "protocolVersion": "2025-06-18", "capabilities": {},
                "clientInfo": {"name": "by-hand", "version": "1"}}}),
        )
        .await;
        let session = initialized.session.clone().unwrap_or_else(|| panic!("no session: {}", initialized.body));
        let stream = reqwest::Client::new()
            .get(&url)
            .bearer_auth(&agent_token)
            .header("accept", "text/event-stream")
            .header("mcp-session-id", &session)
            .send()
            .await
            .unwrap();
        assert_eq!(stream.status(), 405);
        let ended = reqwest::Client::new()
            .delete(&url)
            .bearer_auth(&agent_token)
            .header("mcp-session-id", &session)
            .send()
            .await
            .unwrap();
        assert!(ended.status().is_success(), "{}", ended.status());
        let after = raw(&url, &agent_token, Some(&session), &echo_body(8, "late")).await;
        assert_eq!(after.status, 404, "{}", after.body);

        // A request in flight when the process dies gets a clear error; the next is served
        // by a new process, in the same session.
        let slow = {
            let peer = client.peer().clone();
            tokio::spawn(async move { peer.call_tool(CallToolRequestParams::new("slow")).await })
        };
        let wait_until = Instant::now() + DEADLINE;
        while !tools_called(&record).contains(&"slow".to_string()) {
            assert!(
                Instant::now() < wait_until,
                "the slow call never reached the server"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let killed = std::process::Command::new("kill")
            .args(["-KILL", &first_pid.to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let in_flight = slow.await.unwrap();
        let answer = format!("{in_flight:?}");
        assert!(answer.contains("exited before it answered"), "{answer}");

        let again = whoami(
            &client
                .call_tool(CallToolRequestParams::new("whoami"))
                .await
                .unwrap(),
        );
        let second_pid = again["pid"].as_i64().unwrap();
        assert_ne!(second_pid, first_pid, "a new process answers");
        client.cancel().await.unwrap();
        second_pid
    });
    assert!(!alive(first_pid));
    assert_eq!(started_pids(&record), [first_pid, second_pid]);

    let called = tools_called(&record);
    assert!(
        !called.contains(&"delete_everything".to_string()),
        "a denied call never reaches the server: {called:?}"
    );
    assert!(called.contains(&"echo".to_string()));

    let audit = server
        .cli(
            &admin,
            &["audit", "query", "--upstream", "local", "-o", "json"],
        )
        .ok();
    assert!(
        audit.contains(r#"Tool::\"local/delete_everything\""#)
            || audit.contains("local/delete_everything"),
        "{audit}"
    );
    assert!(!audit.contains(SECRET));

    // Removed: the process stops.
    server.cli(&admin, &["policy", "remove", "stdio-bot"]).ok();
    server.cli(&admin, &["upstream", "remove", "local"]).ok();
    eventually("the removed upstream's process stops", || {
        !alive(second_pid)
    });

    // Another one stops with the server.
    let other_record = dir.path().join("other.jsonl");
    add_stdio_upstream(&server, &admin, "other", &other_record);
    eventually("the other server starts", || {
        !started_pids(&other_record).is_empty()
    });
    let other_pid = started_pids(&other_record)[0];
    assert!(server.stop().success());
    eventually("the server's local MCP servers stop with it", || {
        !alive(other_pid)
    });

    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        log.contains("local MCP server stderr"),
        "the child's stderr is logged"
    );
    assert!(
        log.contains("[redacted]"),
        "the secret in its stderr is redacted"
    );
    assert!(
        !log.contains(SECRET),
        "the secret never reaches Warden's log"
    );
}
