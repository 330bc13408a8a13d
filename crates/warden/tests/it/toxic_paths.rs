//! Toxic combinations end to end with the real binary: an agent that may read a sensitive
//! upstream gets a permit to write to an external one, and the posture evaluation opens an
//! exfiltration-path finding whose evidence is the path; taking the permit away resolves it.
//! A deployment's own rules (`[posture] toxic_rules`) are judged beside the built-in ones.

use serde_json::Value;

use crate::gateway::{Rig, add_upstream};

const MAIL_ROUTES: &str = r#"[[route]]
method = "POST"
path = "/send"
action = "mail.send"
resource = "Message::new"
"#;

const MAIL_POLICY: &str = r#"permit(
    principal == Agent::"support-bot",
    action == Action::"mail.send",
    resource in Upstream::"mail"
);
"#;

/// Open findings, unless the filters name another status.
fn findings(rig: &Rig, filters: &[&str]) -> Vec<Value> {
    let mut args = vec!["findings", "list", "--limit", "500", "-o", "json"];
    if !filters.contains(&"--status") {
        args.extend(["--status", "open"]);
    }
    args.extend_from_slice(filters);
    let listed = rig.server.cli(&rig.admin, &args).json();
    listed["items"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn a_sensitive_read_and_an_external_write_in_one_agent_is_a_finding_until_one_goes() {
    let rig = Rig::start("").await;
    let admin = rig.admin.as_str();
    let server = &rig.server;
    server
        .cli(
            admin,
            &["upstream", "update", "crm", "--label", "sensitive"],
        )
        .ok();
    add_upstream(
        server,
        admin,
        rig.dir.path(),
        "mail",
        &rig.upstream.url(),
        MAIL_ROUTES,
    );
    server
        .cli(
            admin,
            &["upstream", "update", "mail", "--label", "external"],
        )
        .ok();
    server.cli(admin, &["posture", "--evaluate"]).ok();
    assert_eq!(
        findings(&rig, &["--rule", "path-exfiltration"]),
        Vec::<Value>::new(),
        "reading alone is no path"
    );

    let policy = rig.dir.path().join("mail.cedar");
    std::fs::write(&policy, MAIL_POLICY).unwrap();
    server
        .cli(admin, &["policy", "add", policy.to_str().unwrap()])
        .ok();
    server.cli(admin, &["posture", "--evaluate"]).ok();
    let open = findings(&rig, &["--rule", "path-exfiltration"]);
    assert_eq!(open.len(), 1, "{open:?}");
    let finding = &open[0];
    let agent = server
        .cli(admin, &["agent", "show", "support-bot", "-o", "json"])
        .json();
    assert_eq!(
        finding["subject"],
        format!("path:{}", agent["id"].as_str().unwrap()),
        "{finding}"
    );
    assert_eq!(finding["identity"]["kind"], "agent");
    assert_eq!(finding["identity"]["name"], "support-bot");
    assert_eq!(finding["owasp"], "NHI5:2025");
    assert_eq!(finding["severity"], "critical");
    let evidence = finding["evidence"].as_str().unwrap();
    assert!(
        evidence.contains(
            "agent:support-bot → crm → GET /tickets/{id} [sensitive] (allowed; policy support#1)"
        ),
        "{evidence}"
    );
    assert!(
        evidence
            .contains("agent:support-bot → mail → POST /send [external] (allowed; policy mail)"),
        "{evidence}"
    );
    let shown = server
        .cli(
            admin,
            &["findings", "show", finding["id"].as_str().unwrap()],
        )
        .ok();
    assert!(
        shown.contains("split the reading and the sending"),
        "{shown}"
    );
    assert!(!shown.contains(crate::gateway::SECRET), "{shown}");
    // The agent's findings are found by its name, as any identity's.
    let by_agent = findings(&rig, &["--identity", "support-bot"]);
    assert!(
        by_agent.iter().any(|f| f["rule"] == "path-exfiltration"),
        "{by_agent:?}"
    );

    server.cli(admin, &["policy", "remove", "mail"]).ok();
    server.cli(admin, &["posture", "--evaluate"]).ok();
    assert_eq!(
        findings(&rig, &["--rule", "path-exfiltration"]),
        Vec::<Value>::new()
    );
    let resolved = findings(
        &rig,
        &["--rule", "path-exfiltration", "--status", "resolved"],
    );
    assert_eq!(resolved.len(), 1, "{resolved:?}");
    assert_eq!(resolved[0]["id"], finding["id"]);

    // A killed agent reaches nothing: no path findings of any rule stay open for it.
    server
        .cli(admin, &["policy", "add", policy.to_str().unwrap()])
        .ok();
    server.cli(admin, &["posture", "--evaluate"]).ok();
    assert_eq!(findings(&rig, &["--rule", "path-exfiltration"]).len(), 1);
    server.cli(admin, &["kill", "agent", "support-bot"]).ok();
    server.cli(admin, &["posture", "--evaluate"]).ok();
    assert_eq!(
        findings(&rig, &["--rule", "path-exfiltration"]),
        Vec::<Value>::new()
    );
}

const OWN_RULES: &str = r#"
[[rule]]
id = "path-sensitive-write"
owasp = "NHI5"
agentic = "ASI03"
severity = "high"
summary = "can change data marked sensitive"
remediation = "hold sensitive writes for approval by another agent's owner"
reaches = [{ labels = ["sensitive"], effect = "write" }]
"#;

#[tokio::test]
async fn a_deployments_own_rules_are_judged_beside_the_built_in_ones() {
    let rules_dir = tempfile::tempdir().unwrap();
    let rules = rules_dir.path().join("rules.toml");
    std::fs::write(&rules, OWN_RULES).unwrap();
    let rig = Rig::start(&format!(
        "[posture]\ntoxic_rules = {:?}\n",
        rules.display().to_string()
    ))
    .await;
    let admin = rig.admin.as_str();
    rig.server
        .cli(
            admin,
            &["upstream", "update", "crm", "--label", "sensitive"],
        )
        .ok();
    rig.server.cli(admin, &["posture", "--evaluate"]).ok();
    let own = findings(&rig, &["--rule", "path-sensitive-write"]);
    assert_eq!(own.len(), 1, "{own:?}");
    let evidence = own[0]["evidence"].as_str().unwrap();
    // The refund is held for approval by the `support` policy: still within reach.
    assert!(
        evidence.contains("crm → POST /tickets/{id}/refund [sensitive] (after_approval"),
        "{evidence}"
    );
    assert_eq!(own[0]["severity"], "high");
}

#[test]
fn a_rules_file_that_does_not_parse_stops_the_start_and_names_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.toml");
    std::fs::write(&rules, OWN_RULES.replace("\"NHI5\"", "\"NHI42\"")).unwrap();
    let config = dir.path().join("warden.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\napi_listen = \"127.0.0.1:0\"\ngateway_listen = \"127.0.0.1:0\"\n[posture]\ntoxic_rules = {:?}\n",
            dir.path().join("data").display().to_string(),
            rules.display().to_string()
        ),
    )
    .unwrap();
    let refused = crate::harness::warden()
        .args(["serve", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("toxic_rules")
            && stderr.contains("path-sensitive-write")
            && stderr.contains("NHI42"),
        "{stderr}"
    );
}
