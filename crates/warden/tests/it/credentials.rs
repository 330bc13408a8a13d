//! The credential plane through the real binary: an agent's client secret from
//! `warden agent create`, a token from `/oauth/token`, and the kill switch, restore,
//! revocation, rotation and key commands acting on it.

use serde_json::{Value, json};

use crate::harness::{RunningServer, fresh_server};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn form(
    server: &RunningServer,
    path: &str,
    id: &str,
    secret: &str,
    pairs: &[(&str, &str)],
) -> (u16, Value) {
    runtime().block_on(async {
        let response = reqwest::Client::new()
            .post(format!("{}{path}", server.api))
            .basic_auth(id, Some(secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(
                pairs
                    .iter()
                    .map(|(k, v)| format!("{k}={}", v.replace(':', "%3A").replace('/', "%2F")))
                    .collect::<Vec<_>>()
                    .join("&"),
            )
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.json().await.unwrap())
    })
}

fn valid(server: &RunningServer, admin: &str, token: &str) -> bool {
    runtime().block_on(async {
        let answer: Value = reqwest::Client::new()
            .post(format!("{}/v1/tokens/verify", server.api))
            .bearer_auth(admin)
            .json(&json!({ "token": token, "upstream": "github" }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        answer["valid"] == true
    })
}

#[test]
fn agent_secrets_tokens_and_the_kill_switch_from_the_command_line() {
    let (_dir, server, admin) = fresh_server();
    server
        .cli(
            &admin,
            &["owner", "add", "alice@example.com", "--name", "Alice"],
        )
        .ok();
    runtime().block_on(async {
        let response = reqwest::Client::new()
            .post(format!("{}/v1/upstreams", server.api))
            .bearer_auth(&admin)
            .json(&json!({"name": "github", "kind": "http", "url": "https://github.example.com", "auth": "bearer"}))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{}", response.status());
    });
    let created = server
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
    let client_id = created["client_id"].as_str().unwrap().to_string();
    let secret = created["client_secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("warden_cs_"), "{created}");
    assert_eq!(created["name"], "support-bot");
    let table = server
        .cli(
            &admin,
            &["agent", "create", "helper", "--owner", "alice@example.com"],
        )
        .ok();
    assert!(
        table.contains("client_secret") && table.contains("warden_cs_"),
        "{table}"
    );

    let (status, body) = form(
        &server,
        "/oauth/token",
        &client_id,
        &secret,
        &[("grant_type", "client_credentials"), ("resource", "github")],
    );
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().unwrap().to_string();
    assert!(valid(&server, &admin, &token));

    // Dry run first: it lists and changes nothing.
    let dry = server
        .cli(
            &admin,
            &["kill", "agent", "support-bot", "--dry-run", "-o", "json"],
        )
        .json();
    assert_eq!(dry["stops"][0]["name"], "support-bot");
    assert!(valid(&server, &admin, &token));
    let killed = server.cli(&admin, &["kill", "agent", "support-bot"]).ok();
    assert!(killed.contains("support-bot"), "{killed}");
    assert!(!valid(&server, &admin, &token));
    server
        .cli(&admin, &["restore", "agent", "support-bot"])
        .ok();
    assert!(valid(&server, &admin, &token));

    // One token revoked for good.
    server.cli(&admin, &["revoke", "token", &token]).ok();
    assert!(!valid(&server, &admin, &token));
    let refused = server.cli(&admin, &["kill", "token", &token]);
    assert_eq!(refused.code(), 1, "{}", refused.stderr());
    let unknown = server.cli(&admin, &["kill", "agent", "nobody"]);
    assert_eq!(unknown.code(), 1);

    // Rotation keeps the old secret for the overlap; with none it stops at once.
    let rotated = server
        .cli(
            &admin,
            &[
                "credential",
                "rotate",
                "agent:support-bot",
                "--overlap-secs",
                "0",
                "-o",
                "json",
            ],
        )
        .json();
    let fresh = rotated["client_secret"].as_str().unwrap().to_string();
    let pairs = [("grant_type", "client_credentials"), ("resource", "github")];
    assert_eq!(
        form(&server, "/oauth/token", &client_id, &secret, &pairs).0,
        401
    );
    assert_eq!(
        form(&server, "/oauth/token", &client_id, &fresh, &pairs).0,
        200
    );
    let listed = server
        .cli(
            &admin,
            &["credential", "list", "agent:support-bot", "-o", "json"],
        )
        .json();
    assert_eq!(listed["items"].as_array().unwrap().len(), 2);
    assert!(
        !listed.to_string().contains(&fresh),
        "secrets are never listed"
    );

    let keys = server.cli(&admin, &["keys", "rotate", "-o", "json"]).json();
    assert_eq!(keys["items"].as_array().unwrap().len(), 2);

    // The whole fleet, for good.
    server
        .cli(&admin, &["revoke", "owner", "alice@example.com"])
        .ok();
    assert_eq!(
        form(&server, "/oauth/token", &client_id, &fresh, &pairs).0,
        401
    );

    // The same story in the metrics.
    let metrics = runtime().block_on(async {
        reqwest::get(format!("{}/metrics", server.api))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    });
    let value = |name: &str| -> f64 {
        metrics
            .lines()
            .find(|line| line.starts_with(name))
            .and_then(|line| line.rsplit(' ').next())
            .and_then(|number| number.parse().ok())
            .unwrap_or_else(|| panic!("{name} missing from /metrics:\n{metrics}"))
    };
    assert_eq!(
        value("warden_tokens_issued_total{grant=\"client_credentials\"}"),
        2.0
    );
    assert!(value("warden_tokens_refused_total") >= 2.0);
    assert_eq!(
        value("warden_kill_switch_total{kind=\"kill.applied\"}"),
        1.0
    );
}
