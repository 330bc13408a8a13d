//! Owners and identities through the CLI, as a person would use them.

use serde_json::Value;

use crate::harness::fresh_server;

#[test]
fn register_an_owner_and_an_agent_as_in_the_readme() {
    let (_dir, server, token) = fresh_server();
    let owner = server
        .cli(
            &token,
            &[
                "owner",
                "add",
                "alice@example.com",
                "--name",
                "Alice",
                "-o",
                "json",
            ],
        )
        .json();
    assert_eq!(owner["status"], "active");
    let table = server
        .cli(
            &token,
            &[
                "agent",
                "create",
                "support-bot",
                "--owner",
                "alice@example.com",
                "--env",
                "prod",
                "--purpose",
                "Answers tickets",
                "--label",
                "team=support",
            ],
        )
        .ok();
    assert!(
        table.contains("support-bot") && table.contains("team=support"),
        "{table}"
    );

    let listed = server.cli(&token, &["agent", "list", "-o", "json"]).json();
    let items = listed["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["owner"], "alice@example.com");
    assert_eq!(items[0]["environment"], "prod");
    assert_eq!(items[0]["labels"]["team"], "support");

    let shown = server
        .cli(&token, &["agent", "show", "support-bot", "-o", "json"])
        .json();
    assert_eq!(shown["purpose"], "Answers tickets");
    let table = server.cli(&token, &["agent", "list"]).ok();
    assert!(
        table.contains("NAME") && table.contains("support-bot"),
        "{table}"
    );
}

#[test]
fn other_kinds_sub_agents_and_filters() {
    let (_dir, server, token) = fresh_server();
    server
        .cli(
            &token,
            &["owner", "add", "ops@example.com", "--name", "Ops team"],
        )
        .ok();
    server
        .cli(
            &token,
            &["agent", "create", "planner", "--owner", "ops@example.com"],
        )
        .ok();
    server
        .cli(
            &token,
            &[
                "agent",
                "create",
                "researcher",
                "--owner",
                "ops@example.com",
                "--parent",
                "agent:planner",
            ],
        )
        .ok();
    server
        .cli(
            &token,
            &[
                "identity",
                "create",
                "service_account",
                "ci-deployer",
                "--owner",
                "ops@example.com",
                "--env",
                "prod",
                "--imported-from",
                "aws-iam",
            ],
        )
        .ok();
    let children = server
        .cli(
            &token,
            &["agent", "list", "--parent", "agent:planner", "-o", "json"],
        )
        .json();
    let names: Vec<&str> = children["items"]
        .as_array()
        .map(|items| items.iter().filter_map(|i| i["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(names, ["researcher"]);
    let accounts = server
        .cli(
            &token,
            &[
                "identity",
                "list",
                "--kind",
                "service_account",
                "-o",
                "json",
            ],
        )
        .json();
    assert_eq!(accounts["items"][0]["source"], "imported");
    assert_eq!(accounts["items"][0]["source_detail"], "aws-iam");

    // A cycle is refused with a message that says why, and exit status 1.
    let cyclic = server.cli(
        &token,
        &["agent", "update", "planner", "--parent", "agent:researcher"],
    );
    assert_eq!(cyclic.code(), 1);
    assert!(
        cyclic.stderr().contains("cyclic_parent"),
        "{}",
        cyclic.stderr()
    );

    let updated = server
        .cli(
            &token,
            &[
                "identity",
                "update",
                "service_account:ci-deployer",
                "--label",
                "tier=1",
                "-o",
                "json",
            ],
        )
        .json();
    assert_eq!(updated["labels"]["tier"], "1");
}

#[test]
fn suspend_restore_revoke_and_offboarding() {
    let (_dir, server, token) = fresh_server();
    for (email, name) in [("alice@example.com", "Alice"), ("bob@example.com", "Bob")] {
        server
            .cli(&token, &["owner", "add", email, "--name", name])
            .ok();
    }
    server
        .cli(
            &token,
            &[
                "agent",
                "create",
                "support-bot",
                "--owner",
                "alice@example.com",
            ],
        )
        .ok();
    server
        .cli(
            &token,
            &[
                "agent",
                "create",
                "triage-bot",
                "--owner",
                "alice@example.com",
            ],
        )
        .ok();

    let suspended = server
        .cli(&token, &["agent", "suspend", "triage-bot", "-o", "json"])
        .json();
    assert_eq!(suspended["status"], "suspended");
    let restored = server
        .cli(&token, &["agent", "restore", "triage-bot", "-o", "json"])
        .json();
    assert_eq!(restored["status"], "active");

    let offboarded = server
        .cli(
            &token,
            &["owner", "offboard", "alice@example.com", "-o", "json"],
        )
        .json();
    assert_eq!(offboarded["suspended"].as_array().map(Vec::len), Some(2));
    let refused = server.cli(&token, &["agent", "restore", "support-bot"]);
    assert_eq!(refused.code(), 1);
    assert!(
        refused.stderr().contains("reassign"),
        "the error says what to do: {}",
        refused.stderr()
    );
    let create_refused = server.cli(
        &token,
        &["agent", "create", "new-bot", "--owner", "alice@example.com"],
    );
    assert_eq!(create_refused.code(), 1);
    assert!(
        create_refused.stderr().contains("owner_offboarded"),
        "{}",
        create_refused.stderr()
    );

    let moved = server
        .cli(
            &token,
            &[
                "owner",
                "reassign",
                "alice@example.com",
                "--to",
                "bob@example.com",
                "-o",
                "json",
            ],
        )
        .json();
    assert_eq!(moved["moved"].as_array().map(Vec::len), Some(2));
    let bot = server
        .cli(&token, &["agent", "show", "support-bot", "-o", "json"])
        .json();
    assert_eq!(
        (bot["status"].clone(), bot["owner"].clone()),
        (Value::from("active"), Value::from("bob@example.com"))
    );

    server.cli(&token, &["agent", "revoke", "support-bot"]).ok();
    let never = server.cli(&token, &["agent", "restore", "support-bot"]);
    assert_eq!(never.code(), 1);
    assert!(
        never.stderr().contains("identity_revoked"),
        "{}",
        never.stderr()
    );
}

#[test]
fn exit_statuses_tell_scripts_what_happened() {
    let (_dir, server, token) = fresh_server();
    server
        .cli(
            &token,
            &["owner", "add", "alice@example.com", "--name", "Alice"],
        )
        .ok();

    let duplicate = server.cli(
        &token,
        &["owner", "add", "alice@example.com", "--name", "Alice"],
    );
    assert_eq!(duplicate.code(), 1, "refused by the server");
    assert!(
        duplicate.stderr().contains("already exists"),
        "{}",
        duplicate.stderr()
    );

    let wrong_token = server.cli("warden_admin_wrong", &["owner", "list"]);
    assert_eq!(wrong_token.code(), 4, "authentication failed");
    assert!(
        wrong_token.stderr().contains("WARDEN_TOKEN"),
        "{}",
        wrong_token.stderr()
    );

    let bad_label = server.cli(
        &token,
        &[
            "agent",
            "create",
            "bot",
            "--owner",
            "alice@example.com",
            "--label",
            "novalue",
        ],
    );
    assert_eq!(bad_label.code(), 1);
    assert!(
        bad_label.stderr().contains("KEY=VALUE"),
        "{}",
        bad_label.stderr()
    );

    let usage = server.cli(&token, &["agent", "create"]);
    assert_eq!(
        usage.code(),
        2,
        "usage errors come from the argument parser"
    );

    let unreachable = crate::harness::warden()
        .env("WARDEN_ADDR", "http://127.0.0.1:1")
        .env("WARDEN_TOKEN", &token)
        .args(["owner", "list"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(unreachable.status.code(), Some(3), "server unreachable");
    assert!(String::from_utf8_lossy(&unreachable.stderr).contains("warden serve"));
}
