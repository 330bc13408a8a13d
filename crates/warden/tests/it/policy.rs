//! Upstreams and policies through the CLI: sealed secrets that never come back out, route
//! maps refused at the line at fault, policies refused with the validator's message, and
//! dry-run decisions.

use crate::harness::{RunningServer, fresh_server, warden};

const SECRET: &str = "crm-live-secret-3f9a1c7e5b2d4a6081";

const ROUTES: &str = r#"[[route]]
method = "GET"
path = "/tickets/{id}"
action = "tickets.read"
resource = "Ticket::{id}"

[[route]]
method = "POST"
path = "/tickets/{id}/refund"
action = "tickets.refund"
resource = "Ticket::{id}"
"#;

const POLICY: &str = r#"permit(
    principal == Agent::"support-bot",
    action == Action::"tickets.read",
    resource
);

@approval("refunds need a human")
permit(
    principal in Owner::"alice@example.com",
    action == Action::"tickets.refund",
    resource
);
"#;

fn setup() -> (tempfile::TempDir, RunningServer, String) {
    let (dir, server, token) = fresh_server();
    server
        .cli(
            &token,
            &["owner", "add", "alice@example.com", "--name", "Alice"],
        )
        .ok();
    server
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
            ],
        )
        .ok();
    let routes = dir.path().join("crm-routes.toml");
    std::fs::write(&routes, ROUTES).unwrap_or_else(|e| panic!("{e}"));
    let added = warden()
        .env("WARDEN_ADDR", &server.api)
        .env("WARDEN_TOKEN", &token)
        .env("CRM_TOKEN", SECRET)
        .args([
            "upstream",
            "add",
            "crm",
            "--url",
            "http://127.0.0.1:9/api",
            "--auth",
            "header:X-Api-Key",
            "--secret-env",
            "CRM_TOKEN",
            "--routes",
        ])
        .arg(&routes)
        .args(["-o", "json"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let shown: serde_json::Value =
        serde_json::from_slice(&added.stdout).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (shown["has_secret"].clone(), shown["secret_version"].clone()),
        (true.into(), 1.into())
    );
    let policy = dir.path().join("support.cedar");
    std::fs::write(&policy, POLICY).unwrap_or_else(|e| panic!("{e}"));
    server
        .cli(
            &token,
            &["policy", "add", policy.to_str().unwrap_or_default()],
        )
        .ok();
    (dir, server, token)
}

#[test]
fn the_upstream_secret_never_comes_back_out() {
    let (_dir, server, token) = setup();
    for args in [
        &["upstream", "show", "crm", "-o", "json"][..],
        &["upstream", "list", "-o", "json"],
        &["audit", "export"],
        &["audit", "export", "--format", "ocsf"],
    ] {
        let output = server.cli(&token, args).ok();
        assert!(!output.contains(SECRET), "{args:?} leaked the secret");
    }
    let data_dir = server.data_dir.clone();
    assert!(server.stop().success());
    for file in ["warden.db", "warden.db-wal"] {
        let bytes = std::fs::read(data_dir.join(file)).unwrap_or_default();
        let found = bytes
            .windows(SECRET.len())
            .any(|window| window == SECRET.as_bytes());
        assert!(!found, "{file} holds the plaintext secret");
    }
}

#[test]
fn policies_decide_and_say_which_policy_decided() {
    let (_dir, server, token) = setup();
    let test = |args: &[&str]| {
        let mut command = vec!["policy", "test", "--upstream", "crm", "-o", "json"];
        command.extend_from_slice(args);
        server.cli(&token, &command).json()
    };
    let read = test(&[
        "--agent",
        "support-bot",
        "--method",
        "GET",
        "--path",
        "/tickets/42",
    ]);
    assert_eq!(read["decision"], "allow", "{read}");
    assert_eq!(read["policies"][0], "support#1");
    assert_eq!(read["resource"], "Ticket::\"42\"");

    let refund = test(&[
        "--agent",
        "support-bot",
        "--method",
        "POST",
        "--path",
        "/tickets/42/refund",
    ]);
    assert_eq!(
        (refund["decision"].as_str(), refund["reason"].as_str()),
        (Some("hold"), Some("approval_required")),
        "{refund}"
    );
    let approved = test(&[
        "--agent",
        "support-bot",
        "--method",
        "POST",
        "--path",
        "/tickets/42/refund",
        "--approved",
    ]);
    assert_eq!(approved["decision"], "allow");

    server
        .cli(
            &token,
            &["owner", "add", "bob@example.com", "--name", "Bob"],
        )
        .ok();
    server
        .cli(
            &token,
            &["agent", "create", "stranger", "--owner", "bob@example.com"],
        )
        .ok();
    let stranger = test(&[
        "--agent",
        "stranger",
        "--action",
        "tickets.read",
        "--resource",
        "Ticket::42",
    ]);
    assert_eq!(
        (stranger["decision"].as_str(), stranger["reason"].as_str()),
        (Some("deny"), Some("no_permit")),
        "{stranger}"
    );

    let unknown = server.cli(
        &token,
        &[
            "policy",
            "test",
            "--upstream",
            "crm",
            "--agent",
            "support-bot",
            "--method",
            "GET",
            "--path",
            "/admin",
        ],
    );
    assert_eq!(unknown.code(), 1);
    assert!(
        unknown.stderr().contains("unknown_route"),
        "{}",
        unknown.stderr()
    );

    // A tool call is what an MCP upstream is asked; an HTTP upstream is asked a route.
    let tool = server.cli(
        &token,
        &[
            "policy",
            "test",
            "--upstream",
            "crm",
            "--agent",
            "support-bot",
            "--tool",
            "refund",
        ],
    );
    assert_eq!(tool.code(), 1);
    assert!(
        tool.stderr().contains("tested with `method` and `path`"),
        "{}",
        tool.stderr()
    );

    let table = server
        .cli(
            &token,
            &[
                "policy",
                "test",
                "--upstream",
                "crm",
                "--agent",
                "support-bot",
                "--method",
                "GET",
                "--path",
                "/tickets/1",
            ],
        )
        .ok();
    assert!(
        table.starts_with("allow (permit) for tickets.read"),
        "{table}"
    );
}

#[test]
fn bad_policies_and_route_maps_are_refused_with_the_line_at_fault() {
    let (dir, server, token) = setup();
    let bad = dir.path().join("bad.cedar");
    std::fs::write(&bad, "permit(\n  principal == Agent::\"support-bot\",\n  action == Action::\"tickets.delete\",\n  resource\n);\n")
        .unwrap_or_else(|e| panic!("{e}"));
    let refused = server.cli(&token, &["policy", "add", bad.to_str().unwrap_or_default()]);
    assert_eq!(refused.code(), 1);
    assert!(
        refused.stderr().contains("invalid_policy") && refused.stderr().contains("bad"),
        "{}",
        refused.stderr()
    );
    let listed = server.cli(&token, &["policy", "list", "-o", "json"]).json();
    assert_eq!(
        listed.as_array().map(Vec::len),
        Some(1),
        "the refused policy changed nothing"
    );

    let routes = dir.path().join("broken.toml");
    std::fs::write(&routes, "[[route]]\nmethod = \"GET\"\npath = \"/a/{id}\"\naction = \"a.read\"\nresource = \"A::{nope}\"\n")
        .unwrap_or_else(|e| panic!("{e}"));
    let refused = server.cli(
        &token,
        &[
            "upstream",
            "add",
            "other",
            "--url",
            "http://127.0.0.1:9",
            "--auth",
            "bearer",
            "--routes",
            routes.to_str().unwrap_or_default(),
        ],
    );
    assert_eq!(refused.code(), 1);
    assert!(refused.stderr().contains("line 5"), "{}", refused.stderr());

    // Removing the upstream would strand the policy that names its actions.
    let strand = server.cli(&token, &["upstream", "remove", "crm"]);
    assert_eq!(strand.code(), 1);
    assert!(
        strand.stderr().contains("invalid_policy"),
        "{}",
        strand.stderr()
    );
    server.cli(&token, &["policy", "remove", "support"]).ok();
    server.cli(&token, &["upstream", "remove", "crm"]).ok();

    let schema = server.cli(&token, &["policy", "schema"]).ok();
    assert!(
        !schema.contains("tickets.read"),
        "the schema follows the upstreams: {schema}"
    );
}

#[test]
fn rotating_an_upstream_secret_bumps_its_version() {
    let (dir, server, token) = setup();
    let file = dir.path().join("new-secret");
    std::fs::write(&file, "rotated-secret-value\n").unwrap_or_else(|e| panic!("{e}"));
    let rotated = server
        .cli(
            &token,
            &[
                "upstream",
                "set-secret",
                "crm",
                "--secret-file",
                file.to_str().unwrap_or_default(),
                "-o",
                "json",
            ],
        )
        .json();
    assert_eq!(rotated["secret_version"], 2);
    let schema = server.cli(&token, &["policy", "schema"]).ok();
    assert!(schema.contains("action \"tickets.refund\""), "{schema}");
    let missing = server.cli(
        &token,
        &[
            "upstream",
            "set-secret",
            "crm",
            "--secret-env",
            "NOT_SET_ANYWHERE",
        ],
    );
    assert_eq!(missing.code(), 1);
    assert!(missing.stderr().contains("NOT_SET_ANYWHERE"));
}
