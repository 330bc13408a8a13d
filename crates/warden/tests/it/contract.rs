//! The API keeps the contract its OpenAPI document states, checked by schemathesis (a
//! property-based API tester written by others) against the real `warden serve`: server
//! errors, documented status codes and content types, response schemas, rejection of what
//! the schema forbids, acceptance of what it allows, and stateful sequences that follow the
//! document's links from the operations that create a resource to those that read it.
//!
//! schemathesis is installed by `.ci/schemathesis/install.sh` (pinned, into a virtual
//! environment outside the clone); when it cannot be installed this test fails.

use std::path::Path;
use std::process::Command;

use crate::harness::fresh_server;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The number the issue was filed with: one past the largest sequence number.
#[test]
fn an_audit_cursor_past_the_sequence_range_is_refused_with_400() {
    let (_dir, server, token) = fresh_server();
    let (status, body) = runtime().block_on(async {
        let answer = reqwest::Client::new()
            .get(format!(
                "{}/v1/audit/events?after=9223372036854775808",
                server.api
            ))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        let status = answer.status().as_u16();
        (status, answer.json::<serde_json::Value>().await.unwrap())
    });
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_query", "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("9223372036854775807"),
        "{body}"
    );
}

/// The document links every creating operation to the operations that read what it made.
#[test]
fn the_document_links_created_resources_to_their_readers() {
    let (_dir, server, _token) = fresh_server();
    let document: serde_json::Value = runtime().block_on(async {
        reqwest::get(format!("{}/openapi.json", server.api))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    for (path, target) in [
        ("/v1/owners", "get_owner"),
        ("/v1/identities", "get_identity"),
        ("/v1/upstreams", "get_upstream"),
        ("/v1/policies", "get_policy"),
    ] {
        let links = &document["paths"][path]["post"]["responses"]["201"]["links"];
        let found = links
            .as_object()
            .unwrap_or_else(|| panic!("no links from POST {path}"))
            .values()
            .any(|link| link["operationId"] == target);
        assert!(found, "POST {path} does not link to {target}: {links}");
    }
    // Every operation under /v1 documents the answers a caller can always get.
    for (path, item) in document["paths"].as_object().unwrap() {
        if !path.starts_with("/v1/") {
            continue;
        }
        for (method, operation) in item.as_object().unwrap() {
            for status in ["401", "503"] {
                assert!(
                    operation["responses"].get(status).is_some(),
                    "{method} {path} does not document {status}"
                );
            }
        }
    }
}

#[test]
fn schemathesis_finds_no_difference_between_the_document_and_the_api() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let tools = root.join(".ci/schemathesis");
    let install = Command::new("bash")
        .arg(tools.join("install.sh"))
        .output()
        .unwrap_or_else(|e| panic!("cannot run install.sh: {e}"));
    assert!(
        install.status.success(),
        "schemathesis could not be installed:\n{}",
        String::from_utf8_lossy(&install.stderr)
    );
    let schemathesis = String::from_utf8_lossy(&install.stdout).trim().to_string();

    // An answer that differs from the document is a failure at once. A run that ends only in
    // errors of schemathesis itself (its generator reporting "inconsistent results" while it
    // draws a case, before any request is sent) is run once more, on a fresh server; a second
    // such run fails the test like any other.
    let mut report = String::new();
    for attempt in 1..=2 {
        let (dir, server, token) = fresh_server();
        let output = Command::new(&schemathesis)
            // schemathesis keeps a cache in its working directory: keep it out of the clone.
            .current_dir(dir.path())
            .arg("--config-file")
            .arg(tools.join("schemathesis.toml"))
            .args([
                "run",
                &format!("{}/openapi.json", server.api),
                "--url",
                &server.api,
                "--header",
                &format!("Authorization: Bearer {token}"),
                "--checks",
                "all",
                "--seed",
                "1",
                "--workers",
                "2",
                "--no-color",
            ])
            .env("NO_COLOR", "1")
            .output()
            .unwrap_or_else(|e| panic!("cannot run {schemathesis}: {e}"));
        drop(server);
        report = String::from_utf8_lossy(&output.stdout).into_owned();
        if output.status.success() {
            break;
        }
        let only_tool_errors = !report.contains("= FAILURES =")
            && report.contains("= ERRORS =")
            && report.contains("Inconsistent results");
        assert!(
            only_tool_errors && attempt == 1,
            "schemathesis found failures:\n{report}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        eprintln!("schemathesis ended in errors of its own; running it once more:\n{report}");
    }
    // A run that tested nothing would pass too: make sure every phase ran.
    for phase in ["Coverage", "Fuzzing", "Stateful"] {
        assert!(
            report.contains(&format!("✅ {phase}")),
            "the {phase} phase did not pass:\n{report}"
        );
    }
}
