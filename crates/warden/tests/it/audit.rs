//! The audit trail end to end: what the CLI shows, verification online and offline, exports,
//! tampering with the database file, and a crash in the middle of a burst of changes.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::{RunningServer, fresh_server};

fn events(server: &RunningServer, token: &str, args: &[&str]) -> Vec<Value> {
    let mut command = vec!["audit", "query", "-o", "json"];
    command.extend_from_slice(args);
    server
        .cli(token, &command)
        .ok()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

#[test]
fn every_change_is_in_the_trail_and_the_trail_verifies() {
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
    server
        .cli(&token, &["agent", "suspend", "support-bot"])
        .ok();
    server
        .cli(
            &token,
            &["owner", "add", "bob@example.com", "--name", "Bob"],
        )
        .ok();
    server
        .cli(&token, &["owner", "offboard", "alice@example.com"])
        .ok();

    let all = events(&server, &token, &[]);
    let kinds: Vec<&str> = all
        .iter()
        .filter_map(|event| event["kind"].as_str())
        .collect();
    assert_eq!(
        kinds,
        [
            "owner.created",
            "identity.created",
            "credential.issued",
            "identity.suspended",
            "owner.created",
            "owner.offboarded"
        ]
    );
    assert!(all.iter().all(|event| event["actor"]["name"] == "admin"));

    let alice = events(&server, &token, &["--owner", "alice@example.com"]);
    assert_eq!(alice.len(), 5, "bob's creation is not alice's");
    let created = events(&server, &token, &["--kind", "identity.created"]);
    assert_eq!(created[0]["target"]["name"], "support-bot");

    let tail = server.cli(&token, &["audit", "tail", "-n", "2"]).ok();
    assert!(
        tail.contains("owner.offboarded") && !tail.contains("identity.created"),
        "{tail}"
    );

    let verified = server.cli(&token, &["audit", "verify"]).ok();
    assert!(verified.contains("intact: 6 events"), "{verified}");
}

#[test]
fn an_export_verifies_offline_and_an_edited_one_does_not() {
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
            ],
        )
        .ok();
    let export = dir.path().join("audit.jsonl");
    let key = dir.path().join("audit.pem");
    server
        .cli(
            &token,
            &[
                "audit",
                "export",
                "--out",
                export.to_str().unwrap_or_default(),
            ],
        )
        .ok();
    let pem = server.cli(&token, &["audit", "public-key"]).ok();
    assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----"), "{pem}");
    std::fs::write(&key, pem).unwrap_or_else(|e| panic!("{e}"));
    drop(server);

    // Offline: no server, no database, no token.
    let offline = |export: &std::path::Path| {
        crate::harness::warden()
            .args(["audit", "verify", "--export"])
            .arg(export)
            .arg("--public-key")
            .arg(&key)
            .output()
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let intact = offline(&export);
    assert!(
        intact.status.success(),
        "{}",
        String::from_utf8_lossy(&intact.stderr)
    );
    assert!(String::from_utf8_lossy(&intact.stdout).contains("export intact: 3 events"));

    let text = std::fs::read_to_string(&export).unwrap_or_else(|e| panic!("{e}"));
    let edited = dir.path().join("edited.jsonl");
    std::fs::write(&edited, text.replace("support-bot", "innocent-bot"))
        .unwrap_or_else(|e| panic!("{e}"));
    let refused = offline(&edited);
    assert_eq!(refused.status.code(), Some(1));
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(
        message.contains("sequence 2") && message.contains("edited"),
        "{message}"
    );

    let lines: Vec<&str> = text.lines().collect();
    let without_first_event: Vec<&str> = lines
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 1)
        .map(|(_, l)| *l)
        .collect();
    let deleted = dir.path().join("deleted.jsonl");
    std::fs::write(&deleted, without_first_event.join("\n")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(offline(&deleted).status.code(), Some(1));
}

#[test]
fn ocsf_export_maps_every_event() {
    let (_dir, server, token) = fresh_server();
    server
        .cli(
            &token,
            &["owner", "add", "alice@example.com", "--name", "Alice"],
        )
        .ok();
    let ocsf = server
        .cli(&token, &["audit", "export", "--format", "ocsf"])
        .ok();
    let first: Value = serde_json::from_str(ocsf.lines().next().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        first["class_uid"], 3001,
        "owner changes are Account Change: {first}"
    );
    assert_eq!(first["type_uid"], 300101);
    assert_eq!(first["unmapped"]["warden"]["kind"], "owner.created");
}

#[test]
fn tampering_with_the_database_is_caught_by_verify() {
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
    server.cli(&token, &["agent", "revoke", "support-bot"]).ok();
    let data_dir = server.data_dir.clone();
    assert!(server.stop().success());

    // Someone with the database file rewrites history: the revocation never happened.
    tamper(
        &data_dir,
        "UPDATE audit_events SET record = REPLACE(record, 'identity.revoked', 'identity.updated'), kind = 'identity.updated' WHERE sequence = 4",
    );

    let again = RunningServer::start(&data_dir, &[], &[]);
    let verdict = again.cli(&token, &["audit", "verify"]);
    assert_eq!(verdict.code(), 1, "a broken trail fails verification");
    assert!(
        verdict.stderr().contains("sequence 4") && verdict.stderr().contains("edited"),
        "{}",
        verdict.stderr()
    );
}

/// Runs `statement` on the SQLite file of a stopped server, behind Warden's back.
fn tamper(data_dir: &std::path::Path, statement: &'static str) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    runtime.block_on(async {
        use sqlx::Connection;
        sqlx::any::install_default_drivers();
        let url = format!("sqlite://{}", data_dir.join("warden.db").display());
        let mut connection = sqlx::AnyConnection::connect(&url)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        sqlx::query(statement)
            .execute(&mut connection)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        connection.close().await.unwrap_or_else(|e| panic!("{e}"));
    });
}

#[test]
fn a_clean_stop_anchors_the_tail_so_a_cut_tail_is_reported() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let data_dir = dir.path().join("data");
    // Timed checkpoints an hour apart: while the server runs, only the first record of the
    // young chain is anchored, so whatever anchors the rest happens at the stop.
    let quiet = ["--audit-checkpoint-millis", "3600000"];
    let server = RunningServer::start(&data_dir, &quiet, &[]);
    let token = server.printed_token.clone().unwrap_or_default();
    for index in 0..4 {
        server
            .cli(
                &token,
                &[
                    "owner",
                    "add",
                    &format!("o{index}@example.com"),
                    "--name",
                    "O",
                ],
            )
            .ok();
    }
    let running = server
        .cli(&token, &["audit", "verify", "-o", "json"])
        .json();
    assert_eq!(running["report"]["last_checkpoint"], 1, "{running}");
    assert_eq!(running["report"]["unanchored_events"], 3, "{running}");
    let table = server.cli(&token, &["audit", "verify"]);
    assert!(
        table.ok().contains("3 records no checkpoint covers"),
        "{}",
        table.stdout()
    );
    assert!(
        table
            .stderr()
            .contains("the last 3 records are protected by the hash chain alone"),
        "{}",
        table.stderr()
    );
    assert!(server.stop().success());

    let again = RunningServer::start(&data_dir, &quiet, &[]);
    let stopped = again.cli(&token, &["audit", "verify", "-o", "json"]).json();
    assert_eq!(stopped["intact"], true, "{stopped}");
    assert_eq!(stopped["report"]["events_verified"], 4, "{stopped}");
    assert_eq!(stopped["report"]["last_checkpoint"], 4, "{stopped}");
    assert_eq!(stopped["report"]["unanchored_events"], 0, "{stopped}");
    let table = again.cli(&token, &["audit", "verify"]);
    assert!(
        table.ok().contains("intact: 4 events, 2 signed checkpoints (last at sequence 4), 0 records no checkpoint covers"),
        "{}",
        table.stdout()
    );
    assert!(table.stderr().is_empty(), "{}", table.stderr());
    assert!(again.stop().success());

    // Someone with the database file cuts the last two records off the end.
    tamper(&data_dir, "DELETE FROM audit_events WHERE sequence > 2");
    let cut = RunningServer::start(&data_dir, &quiet, &[]);
    let verdict = cut.cli(&token, &["audit", "verify"]);
    assert_eq!(verdict.code(), 1, "a cut tail fails verification");
    assert!(
        verdict.stderr().contains("truncated after checkpoint")
            && verdict.stderr().contains("records 3..=4 were cut off"),
        "{}",
        verdict.stderr()
    );
    let json = cut.cli(&token, &["audit", "verify", "-o", "json"]);
    assert_eq!(json.code(), 1);
    let failure: Value = serde_json::from_str(&json.stdout()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(failure["intact"], false, "{failure}");
    assert_eq!(failure["failure"]["sequence"], 3, "{failure}");
    assert_eq!(
        failure["failure"]["problem"], "truncated after checkpoint",
        "{failure}"
    );
}

#[test]
fn idle_tails_are_anchored_by_a_timed_checkpoint() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let server = RunningServer::start(
        &dir.path().join("data"),
        &["--audit-checkpoint-millis", "200"],
        &[],
    );
    let token = server.printed_token.clone().unwrap_or_default();
    for index in 0..3 {
        server
            .cli(
                &token,
                &[
                    "owner",
                    "add",
                    &format!("o{index}@example.com"),
                    "--name",
                    "O",
                ],
            )
            .ok();
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let verdict = server
            .cli(&token, &["audit", "verify", "-o", "json"])
            .json();
        if verdict["report"]["unanchored_events"] == 0 {
            assert_eq!(verdict["report"]["last_checkpoint"], 3);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the tail was never anchored: {verdict}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn every_change_a_client_saw_succeed_survives_a_crash() {
    let (_dir, server, token) = fresh_server();
    let api = server.api.clone();
    let data_dir = server.data_dir.clone();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let confirmed: Vec<String> = runtime.block_on(async {
        let client = reqwest::Client::new();
        let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        let mut workers = Vec::new();
        for worker in 0..4 {
            let (client, api, token, done_tx) =
                (client.clone(), api.clone(), token.clone(), done_tx.clone());
            workers.push(tokio::spawn(async move {
                for index in 0..1000 {
                    let email = format!("w{worker}-{index}@example.com");
                    let sent = client
                        .post(format!("{api}/v1/owners"))
                        .bearer_auth(&token)
                        .json(&serde_json::json!({ "email": email, "name": "Crash Test" }))
                        .send()
                        .await;
                    match sent {
                        Ok(response) if response.status().as_u16() == 201 => {
                            let _ = done_tx.send(email);
                        }
                        // The server is gone: stop this client.
                        _ => return,
                    }
                }
            }));
        }
        drop(done_tx);
        // Let the burst run, then kill the server without warning.
        let mut confirmed = Vec::new();
        while confirmed.len() < 200 {
            match done_rx.recv().await {
                Some(email) => confirmed.push(email),
                None => break,
            }
        }
        server.kill();
        while let Some(email) = done_rx.recv().await {
            confirmed.push(email);
        }
        for worker in workers {
            let _ = worker.await;
        }
        confirmed
    });
    assert!(confirmed.len() >= 200, "the burst ran before the crash");

    let again = RunningServer::start(&data_dir, &[], &[]);
    let verdict = again.cli(&token, &["audit", "verify", "-o", "json"]).json();
    assert_eq!(verdict["intact"], true, "{verdict}");
    let recorded: std::collections::HashSet<String> = events(
        &again,
        &token,
        &["--kind", "owner.created", "--limit", "1000"],
    )
    .into_iter()
    .chain(events(
        &again,
        &token,
        &[
            "--kind",
            "owner.created",
            "--limit",
            "1000",
            "--after",
            "1000",
        ],
    ))
    .chain(events(
        &again,
        &token,
        &[
            "--kind",
            "owner.created",
            "--limit",
            "1000",
            "--after",
            "2000",
        ],
    ))
    .chain(events(
        &again,
        &token,
        &[
            "--kind",
            "owner.created",
            "--limit",
            "1000",
            "--after",
            "3000",
        ],
    ))
    .filter_map(|event| event["owner"].as_str().map(str::to_string))
    .collect();
    let missing: Vec<&String> = confirmed
        .iter()
        .filter(|email| !recorded.contains(*email))
        .collect();
    assert!(
        missing.is_empty(),
        "{} confirmed changes have no audit event, e.g. {:?}",
        missing.len(),
        missing.first()
    );
}

#[test]
fn tail_follow_prints_new_events_as_they_happen() {
    use std::io::{BufRead, BufReader};
    let (_dir, server, token) = fresh_server();
    server
        .cli(
            &token,
            &["owner", "add", "alice@example.com", "--name", "Alice"],
        )
        .ok();
    let mut follower = crate::harness::warden()
        .env("WARDEN_ADDR", &server.api)
        .env("WARDEN_TOKEN", &token)
        .args(["audit", "tail", "-n", "1", "--follow", "-o", "json"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let stdout = follower
        .stdout
        .take()
        .unwrap_or_else(|| panic!("no stdout"));
    let (lines_tx, lines_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let first = lines_rx
        .recv_timeout(Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(first.contains("owner.created"), "{first}");
    server
        .cli(
            &token,
            &["owner", "add", "bob@example.com", "--name", "Bob"],
        )
        .ok();
    let next = lines_rx
        .recv_timeout(Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("no new event followed: {e}"));
    assert!(next.contains("bob@example.com"), "{next}");
    let _ = follower.kill();
    let _ = follower.wait();
}
