//! Faults: `warden serve` killed with SIGKILL in the middle of an import and of a signing-key
//! rotation. After a restart each is there whole or not at all, and the audit chain verifies.
//!
//! The kill lands after a delay, at a different point in each round; the property checked
//! holds wherever it lands, and the rounds between them cover the import before, during and
//! after its commit.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::harness::{BINARY, RunningServer, fresh_server};

const ROWS: usize = 20_000;

/// A generic CSV export with `rows` identities, each with one credential.
fn large_export(path: &std::path::Path, rows: usize) {
    let mut text = String::from("kind,name,external_id,owner,environment,credential_id\n");
    for n in 0..rows {
        text.push_str(&format!("service_account,svc-{n},ext-{n},,prod,key-{n}\n"));
    }
    std::fs::write(path, text).unwrap();
}

fn import_in_background(server: &RunningServer, token: &str, file: &std::path::Path) -> Child {
    let mut command = Command::new(BINARY);
    command
        .env_clear()
        .env("WARDEN_ADDR", &server.api)
        .env("WARDEN_TOKEN", token)
        .env("WARDEN_LOG", "warn")
        .args(["import", "--source", "bulk", "-o", "json"])
        .arg(file)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command.spawn().unwrap()
}

fn imported_count(server: &RunningServer, token: &str) -> usize {
    let mut count = 0;
    let mut cursor: Option<String> = None;
    loop {
        let mut args = vec![
            "inventory",
            "list",
            "--source",
            "bulk",
            "--limit",
            "500",
            "-o",
            "json",
        ];
        let cursor_arg;
        if let Some(next) = &cursor {
            cursor_arg = next.clone();
            args.extend(["--cursor", &cursor_arg]);
        }
        let page = server.cli(token, &args).json();
        count += page["items"].as_array().map_or(0, Vec::len);
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => return count,
        }
    }
}

fn audit_intact(server: &RunningServer, token: &str) {
    let verdict = server.cli(token, &["audit", "verify", "-o", "json"]).json();
    assert_eq!(verdict["intact"], true, "{verdict}");
}

fn events_of_kind(server: &RunningServer, token: &str, kind: &str) -> usize {
    // `audit query -o json` prints one event per line.
    server
        .cli(
            token,
            &[
                "audit", "query", "--kind", kind, "--limit", "1000", "-o", "json",
            ],
        )
        .ok()
        .lines()
        .filter(|line| !line.trim().is_empty())
        .count()
}

#[test]
fn an_import_killed_midway_is_there_whole_or_not_at_all() {
    let (dir, server, token) = fresh_server();
    let data = server.data_dir.clone();
    let export = dir.path().join("bulk.csv");
    large_export(&export, ROWS);
    let mut server = Some(server);
    for delay_ms in [150u64, 400, 900, 2000] {
        let running = server.take().unwrap();
        let mut import = import_in_background(&running, &token, &export);
        std::thread::sleep(Duration::from_millis(delay_ms));
        running.kill();
        let _ = import.kill();
        let _ = import.wait();

        let again = RunningServer::start(&data, &[], &[]);
        audit_intact(&again, &token);
        let count = imported_count(&again, &token);
        assert!(
            count == 0 || count == ROWS,
            "after a kill {delay_ms} ms into the import, {count} of {ROWS} identities are there"
        );
        let applied = events_of_kind(&again, &token, "import.applied");
        assert_eq!(
            applied > 0,
            count == ROWS,
            "the import's audit record and its identities go together ({applied} records, {count} identities)"
        );
        server = Some(again);
    }
    // The same export imported whole, with nothing killed, gives the same inventory.
    let running = server.take().unwrap();
    let mut import = import_in_background(&running, &token, &export);
    assert!(import.wait().unwrap().success());
    assert_eq!(imported_count(&running, &token), ROWS);
    audit_intact(&running, &token);
}

#[test]
fn a_key_rotation_killed_midway_is_there_whole_or_not_at_all() {
    let (_dir, server, token) = fresh_server();
    let data = server.data_dir.clone();
    let keys = |server: &RunningServer| -> Vec<Value> {
        server.cli(&token, &["keys", "list", "-o", "json"]).json()["items"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    let mut server = Some(server);
    for delay_ms in [0u64, 2, 5, 10, 20, 50] {
        let running = server.take().unwrap();
        let before = keys(&running);
        let rotations_before = events_of_kind(&running, &token, "key.rotated");
        let mut rotate = Command::new(BINARY)
            .env_clear()
            .env("WARDEN_ADDR", &running.api)
            .env("WARDEN_TOKEN", &token)
            .args(["keys", "rotate", "-o", "json"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        running.kill();
        let _ = rotate.wait();

        let again = RunningServer::start(&data, &[], &[]);
        audit_intact(&again, &token);
        let after = keys(&again);
        let rotations = events_of_kind(&again, &token, "key.rotated") - rotations_before;
        let active: Vec<&Value> = after.iter().filter(|key| key["active"] == true).collect();
        assert_eq!(
            active.len(),
            1,
            "exactly one signing key is active: {after:?}"
        );
        if rotations == 0 {
            assert_eq!(
                after.iter().map(|k| &k["kid"]).collect::<Vec<_>>(),
                before.iter().map(|k| &k["kid"]).collect::<Vec<_>>(),
                "no rotation recorded, so the keys are as they were"
            );
        } else {
            assert_eq!(rotations, 1);
            assert!(
                !before.iter().any(|key| key["kid"] == active[0]["kid"]),
                "a recorded rotation has a new active key: {before:?} → {after:?}"
            );
        }
        server = Some(again);
    }
}
