//! From an export to a list of findings, as a security engineer would do it: import with the
//! real CLI into the real server, read findings and the posture, assign an orphan, suppress a
//! finding, export OCSF, and see a bad file refused whole.

use std::path::PathBuf;

use serde_json::Value;

use crate::harness::{RunningServer, fresh_server, warden};

fn fixture(relative: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../warden-import/tests/fixtures")
        .join(relative)
        .display()
        .to_string()
}

fn items(value: &Value) -> Vec<Value> {
    value["items"].as_array().cloned().unwrap_or_default()
}

fn findings(server: &RunningServer, token: &str, filters: &[&str]) -> Vec<Value> {
    let mut args = vec!["findings", "list", "--limit", "500", "-o", "json"];
    args.extend_from_slice(filters);
    items(&server.cli(token, &args).json())
}

#[test]
fn imported_exports_become_findings_that_open_resolve_and_export() {
    let (_dir, server, token) = fresh_server();
    server
        .cli(
            &token,
            &["owner", "add", "payments@example.com", "--name", "Payments"],
        )
        .ok();
    let csv = fixture("csv/inventory.csv");
    let k8s = fixture("k8s/cluster-list.yaml");
    let imported = server
        .cli(&token, &["import", &csv, &k8s, "-o", "json"])
        .json();
    let sources = imported["sources"].as_array().cloned().unwrap_or_default();
    assert_eq!(sources.len(), 2, "{imported}");
    assert!(
        imported["findings"]["opened"].as_u64().unwrap_or(0) > 0,
        "{imported}"
    );

    // Kubernetes: cluster-admin is NHI5 and critical somewhere in the fixture.
    let overprivileged = findings(&server, &token, &["--owasp", "NHI5"]);
    assert!(
        overprivileged
            .iter()
            .any(|f| f["rule"] == "k8s-cluster-admin" && f["owasp"] == "NHI5:2025"),
        "{overprivileged:?}"
    );
    assert!(overprivileged.iter().all(|f| f["owasp"] == "NHI5:2025"));
    let critical = findings(&server, &token, &["--severity", "critical"]);
    assert!(
        critical.iter().all(|f| f["severity"] == "critical"),
        "{critical:?}"
    );

    // The webhook names no owner: orphaned, with an owner-missing finding, until assigned.
    let orphans = items(
        &server
            .cli(
                &token,
                &[
                    "inventory",
                    "list",
                    "--orphaned",
                    "--source",
                    "csv",
                    "-o",
                    "json",
                ],
            )
            .json(),
    );
    let webhook = orphans
        .iter()
        .find(|r| r["kind"] == "webhook")
        .unwrap_or_else(|| panic!("{orphans:?}"))
        .clone();
    let webhook_id = webhook["id"].as_str().unwrap_or_default().to_string();
    let missing = findings(
        &server,
        &token,
        &[
            "--rule",
            "owner-missing",
            "--identity",
            &webhook_id,
            "--status",
            "open",
        ],
    );
    assert_eq!(missing.len(), 1, "{missing:?}");
    assert_eq!(missing[0]["identity"]["kind"], "webhook");
    server
        .cli(
            &token,
            &[
                "identity",
                "reassign",
                &webhook_id,
                "--owner",
                "payments@example.com",
            ],
        )
        .ok();
    let after = findings(
        &server,
        &token,
        &[
            "--rule",
            "owner-missing",
            "--identity",
            &webhook_id,
            "--status",
            "open",
        ],
    );
    assert!(
        after.is_empty(),
        "assigning an owner resolves owner-missing: {after:?}"
    );
    let resolved = findings(
        &server,
        &token,
        &[
            "--rule",
            "owner-missing",
            "--identity",
            &webhook_id,
            "--status",
            "resolved",
        ],
    );
    assert_eq!(resolved.len(), 1);

    // Re-importing the same exports changes nothing and opens nothing.
    let again = server
        .cli(&token, &["import", &csv, &k8s, "-o", "json"])
        .json();
    for source in again["sources"].as_array().cloned().unwrap_or_default() {
        assert_eq!(source["created"], 0, "{again}");
        assert_eq!(source["updated"], 0, "{again}");
    }
    assert_eq!(again["findings"]["opened"], 0, "{again}");

    // A bad file refuses the whole import and names the file.
    let before = items(
        &server
            .cli(
                &token,
                &["inventory", "list", "--limit", "500", "-o", "json"],
            )
            .json(),
    )
    .len();
    let bad = server.cli(
        &token,
        &[
            "import",
            &fixture("github-pats/org-personal-access-tokens.json"),
            &fixture("csv/malformed-kind.csv"),
        ],
    );
    assert_ne!(bad.code(), 0);
    assert!(
        bad.stderr().contains("malformed-kind.csv")
            && bad.stderr().contains("nothing was imported"),
        "{}",
        bad.stderr()
    );
    let after = items(
        &server
            .cli(
                &token,
                &["inventory", "list", "--limit", "500", "-o", "json"],
            )
            .json(),
    )
    .len();
    assert_eq!(before, after);

    // Suppress one finding; it reads as suppressed and exports as OCSF status 3.
    let target = overprivileged[0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let suppressed = server
        .cli(
            &token,
            &[
                "findings",
                "suppress",
                &target,
                "--reason",
                "break-glass binding, reviewed",
                "--for",
                "30d",
                "-o",
                "json",
            ],
        )
        .json();
    assert_eq!(suppressed["status"], "suppressed", "{suppressed}");
    let refused = server.cli(
        &token,
        &[
            "findings", "suppress", &target, "--reason", "x", "--for", "400d",
        ],
    );
    assert_ne!(refused.code(), 0);
    assert!(
        refused.stderr().contains("366 days"),
        "{}",
        refused.stderr()
    );
    let export = server
        .cli(&token, &["findings", "export", "--format", "ocsf"])
        .ok();
    let records: Vec<Value> = export
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    assert!(records.iter().all(|r| r["class_uid"] == 2004));
    let record = records
        .iter()
        .find(|r| r["finding_info"]["uid"] == target.as_str())
        .unwrap_or_else(|| panic!("{export}"));
    assert_eq!(record["status_id"], 3);

    let posture = server.cli(&token, &["posture", "-o", "json"]).json();
    assert!(
        posture["open"]["total"].as_u64().unwrap_or(0) > 0,
        "{posture}"
    );
    assert_eq!(posture["suppressed"], 1);
    assert!(
        posture["by_owasp"]
            .as_array()
            .is_some_and(|risks| risks.iter().any(|r| r["owasp"] == "NHI5:2025")),
        "{posture}"
    );
    let table = server.cli(&token, &["posture"]).ok();
    assert!(table.contains("worst first"), "{table}");

    // Opening, resolving and suppressing are in the audit trail.
    let audit = server.cli(&token, &["audit", "export"]).ok();
    for kind in [
        "import.applied",
        "finding.opened",
        "finding.resolved",
        "finding.suppressed",
    ] {
        assert!(audit.contains(kind), "no {kind} in the audit trail");
    }
}

#[test]
fn basic_auth_upstreams_and_permits_of_every_action_are_findings() {
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
            &["agent", "create", "etl-bot", "--owner", "alice@example.com"],
        )
        .ok();
    let added = warden()
        .env("WARDEN_ADDR", &server.api)
        .env("WARDEN_TOKEN", &token)
        .env("LEGACY_PASSWORD", "user:hunter2")
        .args([
            "upstream",
            "add",
            "legacy",
            "--url",
            "http://127.0.0.1:9/",
            "--auth",
            "basic",
            "--secret-env",
            "LEGACY_PASSWORD",
        ])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let policy = dir.path().join("broad.cedar");
    std::fs::write(
        &policy,
        r#"permit(principal == Agent::"etl-bot", action, resource in Upstream::"legacy");"#,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    server
        .cli(
            &token,
            &["policy", "add", policy.to_str().unwrap_or_default()],
        )
        .ok();
    server.cli(&token, &["posture", "--evaluate"]).ok();
    let basic = findings(&server, &token, &["--rule", "upstream-basic-auth"]);
    assert_eq!(basic.len(), 1, "{basic:?}");
    assert_eq!(basic[0]["owasp"], "NHI4:2025");
    assert_eq!(basic[0]["subject"], "upstream:legacy");
    let broad = findings(&server, &token, &["--rule", "policy-every-action"]);
    assert_eq!(broad.len(), 1, "{broad:?}");
    assert_eq!(broad[0]["identity"]["name"], "etl-bot");
    assert_eq!(broad[0]["identity"]["kind"], "agent");
    assert!(
        !server
            .cli(&token, &["findings", "export"])
            .ok()
            .contains("hunter2")
    );
}
