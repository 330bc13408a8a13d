//! The official MCP SDK clients through Warden's gateway, as a new user would set it up: an
//! MCP server written with the official Python SDK (`tests/interop/python_server.py`),
//! registered by its natural URL (`--url http://127.0.0.1:PORT/mcp`), reached by the Python
//! SDK client and both TypeScript SDK lines (1.x on protocol 2025-11-25, 2.x pinned to
//! 2026-07-28) with the agent's token.
//!
//! Each client script runs every step and reports each one (`tests/interop/*_client.*`);
//! the test lists every step that went wrong, not only the first.
//!
//! The policy permits everything except `delete_everything`, so the denied call is refused
//! by policy alone, and the SDK must surface that refusal as an MCP error: a JSON-RPC error
//! whose message names the refused tool and whose `error.data` carries the refusal's rule.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use super::tools::{Gateway, Listening, Tools, run_to_end, spawn_listening};

const AGENT: &str = "sdk-bot";
const POLICY: &str = r#"permit(principal == Agent::"sdk-bot", action, resource);
forbid(principal, action == Action::"call_tool", resource == Tool::"notes/delete_everything");"#;
/// The upstream's credential (every upstream has one; this server does not check it).
const UPSTREAM_SECRET: &str = "notes-upstream-secret-0123456789";
const CLIENT_DEADLINE: Duration = Duration::from_secs(120);

/// The SDK clients the tests drive.
#[derive(Clone, Copy, Debug)]
enum Sdk {
    Python,
    TypeScriptV1,
    TypeScriptV2,
}

impl Sdk {
    /// Runs the client against `url` with `bearer` and returns its report.
    fn drive(self, tools: &Tools, url: &str, bearer: Option<&str>) -> Value {
        let mut command = match self {
            Sdk::Python => {
                let mut command = tools.python();
                command.arg(tools.script("python_client.py"));
                command
            }
            Sdk::TypeScriptV1 | Sdk::TypeScriptV2 => {
                let mut command = tools.node();
                command.arg(tools.script("ts_client.mjs")).arg(match self {
                    Sdk::TypeScriptV1 => "v1",
                    _ => "v2",
                });
                command
            }
        };
        command.arg(url);
        if let Some(bearer) = bearer {
            command.env("MCP_BEARER", bearer);
        }
        let finished = run_to_end(command, CLIENT_DEADLINE);
        let line = finished.stdout.lines().last().unwrap_or_default();
        serde_json::from_str(line).unwrap_or_else(|e| {
            panic!(
                "{self:?} client printed no report ({e}):\n{}\n{}",
                finished.stdout, finished.stderr
            )
        })
    }
}

/// The Python SDK server, recording the tools it runs in `ran`.
fn start_python_server(tools: &Tools, ran: &Path) -> Listening {
    let mut command = tools.python();
    command
        .arg(tools.script("python_server.py"))
        .arg("127.0.0.1")
        .arg(ran);
    spawn_listening(command, "python-server listening on ")
}

fn tools_run(ran: &Path) -> Vec<String> {
    std::fs::read_to_string(ran)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// What each step must show: `ok` with this value (the denied call is checked apart).
fn expected_steps(tools_listed: Value) -> [(&'static str, Value); 6] {
    [
        ("tools", tools_listed),
        (
            "echo",
            json!({ "text": "hello through warden", "isError": false }),
        ),
        ("resources", json!(["notes://welcome"])),
        ("read", json!("Welcome to the notes server.")),
        ("prompts", json!(["greeting"])),
        ("prompt", json!("Please greet Ada warmly.")),
    ]
}

/// The steps of `report` that differ from what they should be.
fn wrong_steps(report: &Value, expected: &[(&str, Value)]) -> Vec<String> {
    if report["connect"].get("ok").is_none() {
        // Nothing after a failed connection was tried.
        return vec![format!("connect: {}", report["connect"])];
    }
    let mut wrong = Vec::new();
    for (step, want) in expected {
        if report[step].get("ok") != Some(want) {
            wrong.push(format!("{step}: expected ok {want}, got {}", report[step]));
        }
    }
    wrong
}

/// The control: without the gateway each client reaches every tool, resource and prompt,
/// and the denied call of the gateway tests really runs here.
#[test]
fn the_sdk_clients_reach_the_python_sdk_server_directly() {
    let tools = Tools::get();
    for sdk in [Sdk::Python, Sdk::TypeScriptV1, Sdk::TypeScriptV2] {
        let ran = tempfile::NamedTempFile::new().unwrap();
        let server = start_python_server(tools, ran.path());
        let report = sdk.drive(tools, &server.url, None);
        let wrong = wrong_steps(
            &report,
            &expected_steps(json!(["delete_everything", "echo"])),
        );
        assert!(wrong.is_empty(), "{sdk:?}: {wrong:#?}\n{report}");
        assert_eq!(
            report["denied"]["ok"],
            json!({ "text": "everything is gone", "isError": false }),
            "{sdk:?}: {report}"
        );
        assert_eq!(
            tools_run(ran.path()),
            ["echo", "delete_everything"],
            "{sdk:?}"
        );
    }
}

/// One SDK client through the gateway: the filtered tool list, the allowed call answered by
/// the upstream, the denied call refused as an MCP error that never reaches the upstream,
/// and resources and prompts served.
fn through_the_gateway(sdk: Sdk) {
    let tools = Tools::get();
    let ran = tempfile::NamedTempFile::new().unwrap();
    let server = start_python_server(tools, ran.path());
    let gateway = Gateway::deploy("notes", &server.url, UPSTREAM_SECRET, AGENT, POLICY);
    let report = sdk.drive(tools, &gateway.url_of("notes"), Some(&gateway.agent_token));
    eprintln!("{sdk:?} through the gateway: {report}");

    let mut wrong = wrong_steps(&report, &expected_steps(json!(["echo"])));
    let denied = &report["denied"]["error"];
    let message = denied["message"].as_str().unwrap_or_default();
    if report["connect"].get("ok").is_none() {
        // Reported by wrong_steps.
    } else if denied["mcp"] != true {
        wrong.push(format!(
            "denied: expected an MCP (JSON-RPC) error, got {}",
            report["denied"]
        ));
    } else {
        if !message.contains("delete_everything") {
            wrong.push(format!(
                "denied: the message does not name the tool: {message}"
            ));
        }
        if !denied["data"]["rule"].is_string() {
            wrong.push(format!(
                "denied: error.data carries no refusal rule: {}",
                denied["data"]
            ));
        }
    }
    let ran = tools_run(ran.path());
    if ran.iter().any(|tool| tool == "delete_everything") {
        wrong.push(format!("the denied tool ran on the upstream: {ran:?}"));
    }
    if !ran.iter().any(|tool| tool == "echo") {
        wrong.push(format!(
            "the allowed tool never ran on the upstream: {ran:?}"
        ));
    }
    assert!(
        wrong.is_empty(),
        "{sdk:?} client through the gateway, {} steps wrong:\n{}\nreport: {report}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[test]
fn the_python_sdk_client_through_the_gateway() {
    through_the_gateway(Sdk::Python);
}

#[test]
fn the_typescript_sdk_v1_client_through_the_gateway() {
    through_the_gateway(Sdk::TypeScriptV1);
}

#[test]
fn the_typescript_sdk_v2_client_through_the_gateway() {
    through_the_gateway(Sdk::TypeScriptV2);
}
