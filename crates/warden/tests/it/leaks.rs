//! Leaks end to end, through the real binary: a scan that reports what it found, a leaked
//! client secret switched off with every token derived from it (and nothing else of its
//! agent), a leaked cloud key that suspends its imported identity and names the command that
//! deactivates it at AWS, an upstream's secret matched by its fingerprint alone; and the
//! secret in no output, log or audit record.

use std::process::Stdio;

use serde_json::Value;

use crate::gateway::Rig;
use crate::hardening_plane::{Client, Plane, client_token, exchanged, gateway_status, post_form};
use crate::harness::{RunningServer, fresh_server, warden};

fn items(value: &Value) -> Vec<Value> {
    value["items"].as_array().cloned().unwrap_or_default()
}

fn leak_findings(server: &RunningServer, admin: &str, status: &str) -> Vec<Value> {
    items(
        &server
            .cli(
                admin,
                &[
                    "findings",
                    "list",
                    "--rule",
                    "secret-leaked",
                    "--status",
                    status,
                    "-o",
                    "json",
                ],
            )
            .json(),
    )
}

/// Every audit record, as exported.
fn audit_trail(server: &RunningServer, admin: &str) -> String {
    server.cli(admin, &["audit", "export"]).ok()
}

fn scan_report(server: &RunningServer, admin: &str, dir: &std::path::Path) -> (i32, Value, String) {
    let scanned = server.cli(
        admin,
        &[
            "scan",
            dir.to_str().unwrap(),
            "--report",
            "--revoke",
            "-o",
            "json",
        ],
    );
    let printed = format!("{}{}", scanned.stdout(), scanned.stderr());
    let json = serde_json::from_str(&scanned.stdout()).unwrap_or(Value::Null);
    (scanned.code(), json, printed)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_leaked_client_secret_stops_its_tokens_and_the_exchanged_ones_but_not_the_agents_other_credential()
 {
    let plane = Plane::start("").await;
    let (api, gateway) = (&plane.server.api, &plane.server.gateway);
    let issued = plane
        .server
        .cli(
            &plane.admin,
            &["credential", "issue", "agent:helper-bot", "-o", "json"],
        )
        .json();
    let other = Client {
        id: issued["client_id"].as_str().unwrap().to_string(),
        secret: issued["client_secret"].as_str().unwrap().to_string(),
    };
    let parent = client_token(api, &plane.helper, &[]).await;
    let child = exchanged(api, &plane.support, &parent).await;
    let grandchild = exchanged(api, &plane.helper, &child).await;
    let unrelated = client_token(api, &other, &[]).await;
    for token in [&parent, &child, &grandchild, &unrelated] {
        assert_eq!(gateway_status(gateway, token).await, 200);
    }

    let repo = plane.dir.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    std::fs::write(
        repo.join(".env"),
        format!(
            "WARDEN_CLIENT_ID={}\nWARDEN_CLIENT_SECRET={}\n",
            plane.helper.id, plane.helper.secret
        ),
    )
    .unwrap();
    let (code, scanned, printed) = scan_report(&plane.server, &plane.admin, &repo);
    assert_eq!(code, 1, "{printed}");
    assert!(!printed.contains(&plane.helper.secret), "{printed}");
    let answer = &scanned["findings"][0]["warden"];
    assert_eq!(answer["matched"], "client_secret", "{scanned}");
    assert_eq!(answer["identity"], "agent:helper-bot");
    assert_eq!(answer["response"], "revoked");
    assert_eq!(answer["switched_off"], true);

    // The leaked credential, the token issued with it and every token exchanged from that
    // one are refused at once; the agent's other credential keeps working.
    for token in [&parent, &child, &grandchild] {
        assert_eq!(gateway_status(gateway, token).await, 401);
    }
    assert_eq!(gateway_status(gateway, &unrelated).await, 200);
    let (status, _) = post_form(
        api,
        "/oauth/token",
        Some((&plane.helper.id, &plane.helper.secret)),
        &[("grant_type", "client_credentials"), ("resource", "crm")],
        None,
    )
    .await;
    assert_eq!(status, 401, "the leaked secret no longer gets tokens");
    let fresh = client_token(api, &other, &[]).await;
    assert_eq!(gateway_status(gateway, &fresh).await, 200);

    // Reporting it again is harmless: one report, counted twice, answered once.
    let (code, again, printed) = scan_report(&plane.server, &plane.admin, &repo);
    assert_eq!(code, 1, "{printed}");
    assert_eq!(again["findings"][0]["warden"]["switched_off"], false);
    assert_eq!(again["findings"][0]["warden"]["response"], "revoked");
    let reports = items(
        &plane
            .server
            .cli(&plane.admin, &["leaks", "list", "-o", "json"])
            .json(),
    );
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0]["report_count"], 2);
    assert_eq!(reports[0]["locations"][0]["source"], "warden scan");

    // The NHI2 finding was opened and, the secret being revoked, resolved.
    let resolved = leak_findings(&plane.server, &plane.admin, "resolved");
    assert_eq!(resolved.len(), 1, "{resolved:?}");
    assert_eq!(resolved[0]["owasp"], "NHI2:2025");
    assert!(leak_findings(&plane.server, &plane.admin, "open").is_empty());

    let trail = audit_trail(&plane.server, &plane.admin);
    assert!(trail.contains("leak.reported") && trail.contains("leak.responded"));
    assert!(trail.contains("credential.revoked"));
    assert!(
        !trail.contains(&plane.helper.secret),
        "the secret is in the audit trail"
    );
}

const CLOUD_KEY: &str = "AKIAQ3EGRZL2MXH4B7WN";

fn access_keys(status: &str) -> String {
    format!(
        r#"{{"AccessKeyMetadata": [{{"UserName": "deployer", "AccessKeyId": "{CLOUD_KEY}", "Status": "{status}", "CreateDate": "2025-01-10T09:00:00+00:00"}}]}}"#
    )
}

#[test]
fn a_leaked_cloud_key_suspends_its_identity_and_names_the_command_until_its_source_deactivates_it()
{
    let (dir, server, admin) = fresh_server();
    let export = dir.path().join("access-keys.json");
    std::fs::write(&export, access_keys("Active")).unwrap();
    server
        .cli(
            &admin,
            &["import", export.to_str().unwrap(), "--source", "aws-prod"],
        )
        .ok();

    let repo = dir.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    std::fs::write(
        repo.join("deploy.sh"),
        format!("export AWS_ACCESS_KEY_ID={CLOUD_KEY}\naws s3 ls\n"),
    )
    .unwrap();
    let (code, scanned, printed) = scan_report(&server, &admin, &repo);
    assert_eq!(code, 1, "{printed}");
    let answer = &scanned["findings"][0]["warden"];
    assert_eq!(answer["matched"], "imported_credential", "{scanned}");
    assert_eq!(answer["response"], "suspended");
    let command = format!(
        "aws iam update-access-key --user-name deployer --access-key-id {CLOUD_KEY} --status Inactive"
    );
    assert!(
        answer["remediation"]
            .as_str()
            .unwrap_or("")
            .contains(&command),
        "{answer}"
    );

    let open = leak_findings(&server, &admin, "open");
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(
        (&open[0]["owasp"], &open[0]["severity"]),
        (&Value::from("NHI2:2025"), &Value::from("critical"))
    );
    assert!(
        open[0]["evidence"]
            .as_str()
            .unwrap()
            .contains("deploy.sh:1")
    );
    let identity = open[0]["subject"].as_str().unwrap().to_string();
    let record = server
        .cli(&admin, &["inventory", "show", &identity, "-o", "json"])
        .json();
    assert!(record["suspended_at"].is_string(), "{record}");

    // The text output says the same to a person.
    let text = server.cli(&admin, &["scan", repo.to_str().unwrap(), "--report"]);
    assert_eq!(text.code(), 1);
    assert!(
        text.stdout()
            .contains("warden: imported_credential of service_account:deployer"),
        "{}",
        text.stdout()
    );

    // The next export lists the key inactive: the finding resolves.
    std::fs::write(&export, access_keys("Inactive")).unwrap();
    server
        .cli(
            &admin,
            &["import", export.to_str().unwrap(), "--source", "aws-prod"],
        )
        .ok();
    assert!(leak_findings(&server, &admin, "open").is_empty());
    assert_eq!(leak_findings(&server, &admin, "resolved").len(), 1);
}

#[test]
fn an_upstream_secret_is_matched_by_its_fingerprint_alone_and_never_logged() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("server.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let server = RunningServer::start_logging_to(
        &dir.path().join("data"),
        ("127.0.0.1:0", "127.0.0.1:0"),
        &[],
        &[("WARDEN_LOG", "info")],
        Stdio::from(log),
    );
    let admin = server.printed_token.clone().unwrap();
    let secret = "sk_live_51Hq8rTzKp2VmX7nLc4WdY9eB3uJsQa6";
    let add = warden()
        .env("WARDEN_ADDR", &server.api)
        .env("WARDEN_TOKEN", &admin)
        .env("BILLING_SECRET", secret)
        .args([
            "upstream",
            "add",
            "billing",
            "--url",
            "https://billing.example.com",
            "--auth",
            "bearer",
            "--secret-env",
            "BILLING_SECRET",
        ])
        .output()
        .unwrap();
    assert!(
        add.status.success(),
        "{}",
        String::from_utf8_lossy(&add.stderr)
    );

    let fingerprint = warden_scan::Fingerprint::of(secret.as_bytes()).to_string();
    let reported = server
        .cli(
            &admin,
            &[
                "leaks",
                "report",
                "--fingerprint",
                &fingerprint,
                "--kind",
                "stripe_live_key",
                "--url",
                "https://paste.example.com/abc",
                "-o",
                "json",
            ],
        )
        .json();
    assert_eq!(reported["known"], true, "{reported}");
    assert_eq!(reported["report"]["matched"], "upstream_secret");
    assert_eq!(reported["report"]["identity_name"], "billing");
    assert_eq!(reported["report"]["response"], "none");
    assert!(
        reported["finding"]["remediation"]
            .as_str()
            .unwrap_or("")
            .contains("warden upstream set-secret billing"),
        "{reported}"
    );

    // A new secret replaces the leaked one: the finding resolves at the next evaluation.
    let replaced = warden()
        .env("WARDEN_ADDR", &server.api)
        .env("WARDEN_TOKEN", &admin)
        .env("BILLING_SECRET", "sk_live_rotated9Xq2Lm7Vc4Wd8Yb3Nj6Ht5Rk")
        .args([
            "upstream",
            "set-secret",
            "billing",
            "--secret-env",
            "BILLING_SECRET",
        ])
        .output()
        .unwrap();
    assert!(
        replaced.status.success(),
        "{}",
        String::from_utf8_lossy(&replaced.stderr)
    );
    server.cli(&admin, &["posture", "--evaluate"]).ok();
    assert!(leak_findings(&server, &admin, "open").is_empty());
    assert_eq!(leak_findings(&server, &admin, "resolved").len(), 1);

    // A fingerprint Warden does not know is said to be unknown, and recorded.
    let unknown = server
        .cli(
            &admin,
            &[
                "leaks",
                "report",
                "--fingerprint",
                &warden_scan::Fingerprint::of(b"someone else's").to_string(),
                "-o",
                "json",
            ],
        )
        .json();
    assert_eq!(unknown["known"], false, "{unknown}");
    assert!(unknown["finding"].is_null());

    // A bad report is refused, naming the field, and records nothing.
    let refused = server.cli(&admin, &["leaks", "report", "--fingerprint", "sha256:xyz"]);
    assert_ne!(refused.code(), 0);
    assert!(
        refused.stderr().contains("fingerprint"),
        "{}",
        refused.stderr()
    );
    let reports = items(&server.cli(&admin, &["leaks", "list", "-o", "json"]).json());
    assert_eq!(reports.len(), 2);

    let trail = audit_trail(&server, &admin);
    drop(server);
    let logged = std::fs::read_to_string(&log_path).unwrap();
    assert!(logged.contains("leaked secret reported"), "{logged}");
    for text in [&trail, &logged] {
        assert!(!text.contains(secret));
        assert!(!text.contains(&fingerprint), "a bare fingerprint was kept");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn with_auto_revoke_every_report_of_a_known_secret_switches_it_off() {
    let rig = Rig::start("[leaks]\nauto_revoke = true\n").await;
    let tickets = rig.gateway("/crm/tickets/1");
    let status = || async {
        reqwest::Client::new()
            .get(&tickets)
            .bearer_auth(&rig.token)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(status().await, 200);

    // Reported by hand, without --revoke: the setting switches it off.
    let reported = warden()
        .env("WARDEN_ADDR", &rig.server.api)
        .env("WARDEN_TOKEN", &rig.admin)
        .env("LEAKED", &rig.client_secret)
        .args([
            "leaks",
            "report",
            "--secret-env",
            "LEAKED",
            "--path",
            "ci.log",
            "-o",
            "json",
        ])
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&reported.stdout).to_string();
    assert!(
        reported.status.success(),
        "{}",
        String::from_utf8_lossy(&reported.stderr)
    );
    assert!(!printed.contains(&rig.client_secret));
    let answer: Value = serde_json::from_str(&printed).unwrap();
    assert_eq!(answer["report"]["matched"], "client_secret", "{answer}");
    assert_eq!(answer["report"]["response"], "revoked");
    assert_eq!(
        status().await,
        401,
        "the token of the leaked secret still works"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn revoking_a_leaked_credential_by_hand_resolves_its_finding_at_once() {
    let rig = Rig::start("").await;
    let reported = warden()
        .env("WARDEN_ADDR", &rig.server.api)
        .env("WARDEN_TOKEN", &rig.admin)
        .env("LEAKED", &rig.client_secret)
        .args(["leaks", "report", "--secret-env", "LEAKED", "-o", "json"])
        .output()
        .unwrap();
    assert!(
        reported.status.success(),
        "{}",
        String::from_utf8_lossy(&reported.stderr)
    );
    let answer: Value = serde_json::from_slice(&reported.stdout).unwrap();
    assert_eq!(answer["report"]["response"], "none", "{answer}");
    let credential = answer["report"]["credential_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(leak_findings(&rig.server, &rig.admin, "open").len(), 1);

    rig.server
        .cli(&rig.admin, &["credential", "revoke", &credential])
        .ok();
    assert!(leak_findings(&rig.server, &rig.admin, "open").is_empty());
    assert_eq!(leak_findings(&rig.server, &rig.admin, "resolved").len(), 1);
}
