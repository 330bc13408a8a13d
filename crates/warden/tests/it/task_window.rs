//! The task window end to end with the real binary: a policy that refuses a second step in
//! a task that already touched customer records, allows it in another task, and still
//! refuses it after a restart (the window rebuilt from the audit trail).

use serde_json::Value;

use crate::gateway::{ROUTES, Rig};

const SEQUENCE_POLICY: &str = r#"permit(
    principal == Agent::"support-bot",
    action == Action::"admin.read",
    resource
);

forbid(principal, action == Action::"admin.read", resource)
when { context has task && context.task.labels.contains("customer_records") };
"#;

/// A token for `crm` inside task `task`, which may read tickets and the admin pages.
async fn task_token(rig: &Rig, task: &str) -> String {
    let details = format!(
        r#"[{{"type":"warden_task","task_id":"{task}","actions":["tickets.read","admin.read"],"resources":["*"]}}]"#
    );
    let response = reqwest::Client::new()
        .post(format!("{}/oauth/token", rig.server.api))
        .basic_auth(&rig.client_id, Some(&rig.client_secret))
        .form(&[
            ("grant_type", "client_credentials"),
            ("resource", "crm"),
            ("authorization_details", details.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_string()
}

async fn get(rig: &Rig, token: &str, path: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .get(rig.gateway(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

#[tokio::test]
async fn a_sequence_policy_refuses_the_second_step_in_its_task_only_and_across_a_restart() {
    let rig = Rig::start("[gateway]\ntask_window_secs = 600\n").await;
    // Reading a ticket touches customer records: the route says so.
    let labelled = ROUTES.replace(
        "action = \"tickets.read\"\nresource = \"Ticket::{id}\"\n",
        "action = \"tickets.read\"\nresource = \"Ticket::{id}\"\nlabels = [\"customer_records\"]\n",
    );
    assert_ne!(labelled, ROUTES, "the route map was labelled");
    let routes = rig.dir.path().join("labelled.toml");
    std::fs::write(&routes, labelled).unwrap();
    rig.server
        .cli(
            &rig.admin,
            &[
                "upstream",
                "update",
                "crm",
                "--routes",
                routes.to_str().unwrap(),
            ],
        )
        .ok();
    let policy = rig.dir.path().join("sequence.cedar");
    std::fs::write(&policy, SEQUENCE_POLICY).unwrap();
    rig.server
        .cli(&rig.admin, &["policy", "add", policy.to_str().unwrap()])
        .ok();
    // The catalog reloads within a second.
    tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;

    let first = task_token(&rig, "task-a").await;
    assert_eq!(
        get(&rig, &first, "/crm/admin/x").await.0,
        200,
        "no history yet"
    );
    assert_eq!(get(&rig, &first, "/crm/tickets/7").await.0, 200);
    let (status, body) = get(&rig, &first, "/crm/admin/x").await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["policy_ids"][0], "sequence#2", "{body}");

    let other = task_token(&rig, "task-b").await;
    assert_eq!(
        get(&rig, &other, "/crm/admin/x").await.0,
        200,
        "another task"
    );

    // `warden policy test` takes the task's history too.
    let tested = rig.server.cli(
        &rig.admin,
        &[
            "policy",
            "test",
            "--agent",
            "support-bot",
            "--upstream",
            "crm",
            "--method",
            "GET",
            "--path",
            "/admin/x",
            "--task",
            "t",
            "--task-label",
            "customer_records",
            "-o",
            "json",
        ],
    );
    assert_eq!(tested.json()["decision"], "deny", "{}", tested.stdout());

    // After a restart the window is rebuilt from the audit trail before the gateway serves.
    let rig = rig.restart_after("SELECT 1").await;
    let first = task_token(&rig, "task-a").await;
    let (status, body) = get(&rig, &first, "/crm/admin/x").await;
    assert_eq!(status, 403, "after a restart: {body}");
    let other = task_token(&rig, "task-b").await;
    assert_eq!(get(&rig, &other, "/crm/admin/x").await.0, 200);
    let fresh = task_token(&rig, "task-c").await;
    assert_eq!(get(&rig, &fresh, "/crm/admin/x").await.0, 200);
}
