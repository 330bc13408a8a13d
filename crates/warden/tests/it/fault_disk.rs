//! Faults: the SQLite data directory on a file system that fills up. Changes are refused
//! with the API's error shape and change nothing; reads go on; once space is freed, changes
//! succeed again without a restart, and the database and the audit chain are intact.
//!
//! The data directory is a small tmpfs mounted by the test (the tests run as root); when it
//! cannot be mounted the test fails.

use std::io::Write;
use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use crate::harness::RunningServer;

/// Unmounts the tmpfs when the test ends, however it ends.
struct Mount(std::path::PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

async fn create_owner(api: &str, token: &str, email: &str) -> (u16, Value) {
    let answer = reqwest::Client::new()
        .post(format!("{api}/v1/owners"))
        .bearer_auth(token)
        .json(&json!({"email": email, "name": "Disk Test"}))
        .send()
        .await
        .unwrap();
    let status = answer.status().as_u16();
    (status, answer.json().await.unwrap())
}

async fn owner_count(api: &str, token: &str) -> usize {
    let page: Value = reqwest::Client::new()
        .get(format!("{api}/v1/owners?limit=500"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    page["items"].as_array().unwrap().len()
}

/// Fills the file system under `dir` until a write fails for want of space.
fn fill(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).unwrap();
    let block = vec![0u8; 64 * 1024];
    loop {
        if file
            .write_all(&block)
            .and_then(|()| file.sync_all())
            .is_err()
        {
            break;
        }
    }
    // Whatever space is left is smaller than one block; take it too, byte pages at a time.
    let small = vec![0u8; 512];
    while file
        .write_all(&small)
        .and_then(|()| file.sync_all())
        .is_ok()
    {}
    path
}

#[test]
fn a_full_file_system_refuses_changes_and_leaves_the_database_and_audit_chain_intact() {
    let dir = tempfile::tempdir().unwrap();
    let mount_point = dir.path().join("small");
    std::fs::create_dir(&mount_point).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=24m", "tmpfs"])
        .arg(&mount_point)
        .output()
        .unwrap_or_else(|e| panic!("cannot run mount: {e}"));
    assert!(
        mounted.status.success(),
        "cannot mount a tmpfs (the tests run as root): {}",
        String::from_utf8_lossy(&mounted.stderr)
    );
    let _mount = Mount(mount_point.clone());

    let data = mount_point.join("data");
    let server = RunningServer::start(&data, &[], &[]);
    let token = server.printed_token.clone().unwrap();
    let rt = runtime();

    rt.block_on(async {
        for n in 0..5 {
            let (status, body) =
                create_owner(&server.api, &token, &format!("before{n}@example.com")).await;
            assert_eq!(status, 201, "{body}");
        }
    });
    let filler = fill(&mount_point);

    rt.block_on(async {
        // Enough changes that some must reach the disk, whatever SQLite keeps in its pages.
        let mut refused = 0;
        for n in 0..40 {
            let (status, body) =
                create_owner(&server.api, &token, &format!("full{n}@example.com")).await;
            if status == 201 {
                continue;
            }
            refused += 1;
            assert_eq!(status, 503, "{body}");
            assert_eq!(body["error"], "unavailable", "{body}");
            assert!(
                body["message"]
                    .as_str()
                    .unwrap()
                    .contains("nothing was changed"),
                "{body}"
            );
        }
        assert!(refused > 0, "a full file system refused nothing");
        // Reads go on.
        assert!(owner_count(&server.api, &token).await >= 5);
    });

    std::fs::remove_file(&filler).unwrap();
    rt.block_on(async {
        let (status, body) = create_owner(&server.api, &token, "after@example.com").await;
        assert_eq!(
            status, 201,
            "changes must succeed again once space is freed: {body}"
        );
    });
    let verified = server
        .cli(&token, &["audit", "verify", "-o", "json"])
        .json();
    assert_eq!(verified["intact"], true, "{verified}");

    // Every owner the API said it made is there, with its audit record, after a restart.
    let accepted = rt.block_on(owner_count(&server.api, &token));
    server.stop();
    let again = RunningServer::start(&data, &[], &[]);
    let verified = again.cli(&token, &["audit", "verify", "-o", "json"]).json();
    assert_eq!(verified["intact"], true, "{verified}");
    assert_eq!(rt.block_on(owner_count(&again.api, &token)), accepted);
    let events: Value = rt.block_on(async {
        reqwest::Client::new()
            .get(format!(
                "{}/v1/audit/events?kind=owner.created&limit=1000",
                again.api
            ))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    assert_eq!(
        events["items"].as_array().unwrap().len(),
        accepted,
        "each owner has exactly one owner.created record: {events}"
    );
    again.stop();
}
