//! `warden approvals …` through the real binary: list, show, approve and deny requests held
//! in the server's database, with the exit statuses the README promises.

use crate::harness::{RunningServer, fresh_server};

/// Writes a pending approval into the running server's database, as the gateway's hold
/// would; returns its id.
fn hold(server: &RunningServer, agent_id: &str, path: &str) -> String {
    let id = uuid::Uuid::now_v7().to_string();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    runtime.block_on(async {
        use sqlx::Connection;
        sqlx::any::install_default_drivers();
        let url = format!("sqlite://{}", server.data_dir.join("warden.db").display());
        let mut connection = sqlx::AnyConnection::connect(&url)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        sqlx::query(
            "INSERT INTO approvals (id, agent_id, agent_name, owner_email, upstream, method, path, \
             body_digest, action, resource, policy_ids, status, requested_at, expires_at) \
             VALUES ($1, $2, 'support-bot', 'alice@example.com', 'crm', 'POST', $3, 'digest', \
             'tickets.refund', 'Ticket::\"42\"', '[\"refunds\"]', 'pending', $4, $5)",
        )
        .bind(id.clone())
        .bind(agent_id.to_string())
        .bind(path.to_string())
        .bind(now)
        .bind(now + 3_600_000)
        .execute(&mut connection)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        connection.close().await.unwrap_or_else(|e| panic!("{e}"));
    });
    id
}

#[test]
fn approvals_are_listed_shown_and_decided_from_the_command_line() {
    let (_dir, server, token) = fresh_server();
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
            ],
        )
        .ok();
    let agent = server
        .cli(&token, &["agent", "show", "support-bot", "-o", "json"])
        .json();
    let agent_id = agent["id"].as_str().unwrap().to_string();
    let first = hold(&server, &agent_id, "/tickets/42/refund");
    let second = hold(&server, &agent_id, "/tickets/43/refund");

    let listed = server
        .cli(
            &token,
            &[
                "approvals",
                "list",
                "--status",
                "pending",
                "--agent",
                "support-bot",
                "-o",
                "json",
            ],
        )
        .json();
    assert_eq!(
        listed["items"].as_array().map(Vec::len),
        Some(2),
        "{listed}"
    );
    let table = server.cli(&token, &["approvals", "list"]).ok();
    assert!(
        table.contains(&first) && table.contains("tickets.refund"),
        "{table}"
    );

    let shown = server.cli(&token, &["approvals", "show", &first]).ok();
    assert!(
        shown.contains("/tickets/42/refund") && shown.contains("pending"),
        "{shown}"
    );

    let approved = server
        .cli(
            &token,
            &[
                "approvals",
                "approve",
                &first,
                "--approver",
                "alice@example.com",
                "--comment",
                "refund checked",
                "-o",
                "json",
            ],
        )
        .json();
    assert_eq!(approved["status"], "approved");
    assert_eq!(approved["decided_by"], "alice@example.com");
    assert_eq!(approved["comment"], "refund checked");

    let denied = server
        .cli(&token, &["approvals", "deny", &second, "-o", "json"])
        .json();
    assert_eq!(denied["status"], "denied");
    assert_eq!(denied["decided_by"], "admin");

    // Refusals: exit status 1 with the server's code and message.
    let again = server.cli(&token, &["approvals", "deny", &first]);
    assert_eq!(again.code(), 1, "{}", again.stderr());
    assert!(
        again.stderr().contains("approval_decided"),
        "{}",
        again.stderr()
    );
    let stranger = server.cli(
        &token,
        &[
            "approvals",
            "approve",
            &second,
            "--approver",
            "mallory@example.com",
        ],
    );
    assert_eq!(stranger.code(), 1);
    assert!(
        stranger.stderr().contains("unknown_owner"),
        "{}",
        stranger.stderr()
    );
    let unknown = server.cli(&token, &["approvals", "show", "no-such-approval"]);
    assert_eq!(unknown.code(), 1);
    assert!(
        unknown.stderr().contains("unknown_approval"),
        "{}",
        unknown.stderr()
    );
    let bad_status = server.cli(&token, &["approvals", "list", "--status", "granted"]);
    assert_eq!(bad_status.code(), 1, "{}", bad_status.stderr());
    assert_eq!(server.cli("wrong-token", &["approvals", "list"]).code(), 4);
    assert_eq!(server.cli(&token, &["approvals", "approve"]).code(), 2);

    let audit = server
        .cli(
            &token,
            &["audit", "query", "--kind", "approval.granted", "-o", "json"],
        )
        .json();
    let text = audit.to_string();
    assert!(
        text.contains(&first) && text.contains("alice@example.com"),
        "{text}"
    );
}
