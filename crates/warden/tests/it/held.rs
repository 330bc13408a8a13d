//! Held requests through the real gateway: a refund (an `@approval` permit) waits for a
//! human, goes through once approved and only once, never when denied, expired or for a
//! different body, and an agent's own credentials can never approve it.

use std::time::Duration;

use serde_json::Value;

use crate::gateway::{Rig, eventually};
use crate::harness::warden;

/// Sends a refund the policy holds for approval, retrying under `approval` and waiting up
/// to `wait` seconds for a decision when given.
pub(crate) async fn refund(
    rig: &Rig,
    body: &str,
    approval: Option<&str>,
    wait: Option<u64>,
) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(rig.gateway("/crm/tickets/42/refund"))
        .bearer_auth(&rig.token)
        .header("content-type", "application/json")
        .header("Warden-Reason", "customer was double charged")
        .body(body.to_string());
    if let Some(id) = approval {
        request = request.header("Warden-Approval", id);
    }
    if let Some(secs) = wait {
        request = request.header("Prefer", format!("wait={secs}"));
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn refunds_seen(rig: &Rig) -> Vec<String> {
    rig.upstream
        .seen()
        .iter()
        .filter(|seen| seen.target.ends_with("/refund"))
        .map(|seen| String::from_utf8_lossy(&seen.body).into_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_approved_request_goes_through_once() {
    let rig = Rig::start("").await;
    let (status, held) = refund(&rig, r#"{"amount": 10}"#, None, None).await;
    assert_eq!(status, 403, "{held}");
    assert_eq!(held["error"], "approval_required");
    let id = held["approval_id"].as_str().unwrap().to_string();
    assert_eq!(
        held["approval_url"],
        format!("{}/v1/approvals/{id}", rig.server.api)
    );
    assert!(
        refunds_seen(&rig).is_empty(),
        "a held request reached the upstream"
    );

    // Retrying before anyone decided is still held, under the same approval.
    let (status, again) = refund(&rig, r#"{"amount": 10}"#, Some(&id), None).await;
    assert_eq!(
        (status, again["approval_id"].as_str()),
        (403, Some(id.as_str()))
    );

    let shown = rig
        .server
        .cli(&rig.admin, &["approvals", "show", &id, "-o", "json"])
        .json();
    assert_eq!(shown["status"], "pending");
    assert_eq!(shown["reason"], "customer was double charged");
    rig.server
        .cli(
            &rig.admin,
            &[
                "approvals",
                "approve",
                &id,
                "--approver",
                "alice@example.com",
            ],
        )
        .ok();

    // A different body is not the request that was approved.
    let (status, other) = refund(&rig, r#"{"amount": 1000}"#, Some(&id), None).await;
    assert_eq!(status, 403, "{other}");
    assert_eq!(other["error"], "approval_invalid");
    assert_eq!(other["rule"], "approval_mismatch");
    assert!(!other.to_string().contains("1000"));

    let (status, done) = refund(&rig, r#"{"amount": 10}"#, Some(&id), None).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(refunds_seen(&rig), vec![r#"{"amount": 10}"#.to_string()]);

    let (status, reused) = refund(&rig, r#"{"amount": 10}"#, Some(&id), None).await;
    assert_eq!(status, 403);
    assert_eq!(reused["rule"], "approval_used");
    assert_eq!(refunds_seen(&rig).len(), 1, "an approval was used twice");

    let decisions = rig.decisions("crm").await;
    let hold = decisions
        .iter()
        .find(|event| event["decision"] == "hold")
        .unwrap();
    assert_eq!(hold["approval_id"], id.as_str());
    assert_eq!(hold["reason"], "customer was double charged");
    let allowed = decisions
        .iter()
        .find(|event| event["decision"] == "allow" && event["approval_id"] == id.as_str())
        .unwrap();
    assert_eq!(allowed["approved_by"], "alice@example.com");
    assert_eq!(allowed["details"]["rule"], "approved");
    assert!(allowed["request"]["body_hmac"].is_string());
}

#[tokio::test(flavor = "multi_thread")]
async fn denied_and_expired_approvals_let_nothing_through() {
    let rig = Rig::start("[gateway]\napproval_ttl_secs = 1\n").await;
    let (_, held) = refund(&rig, "{}", None, None).await;
    let denied = held["approval_id"].as_str().unwrap().to_string();
    rig.server
        .cli(
            &rig.admin,
            &["approvals", "deny", &denied, "--comment", "not this one"],
        )
        .ok();
    let (status, body) = refund(&rig, "{}", Some(&denied), None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("approval_denied"))
    );

    let (_, held) = refund(&rig, "{}", None, None).await;
    let late = held["approval_id"].as_str().unwrap().to_string();
    eventually(
        "the approval to expire",
        Duration::from_secs(10),
        || async {
            rig.server
                .cli(&rig.admin, &["approvals", "show", &late, "-o", "json"])
                .json()["status"]
                == "expired"
        },
    )
    .await;
    let refused = rig.server.cli(&rig.admin, &["approvals", "approve", &late]);
    assert_eq!(refused.code(), 1, "{}", refused.stderr());
    assert!(refused.stderr().contains("expired"), "{}", refused.stderr());
    let (status, body) = refund(&rig, "{}", Some(&late), None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("approval_invalid"))
    );
    assert!(refunds_seen(&rig).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agent_cannot_approve_its_own_request() {
    let rig = Rig::start("").await;
    let (_, held) = refund(&rig, "{}", None, None).await;
    let id = held["approval_id"].as_str().unwrap().to_string();
    for credential in [rig.token.as_str(), rig.client_secret.as_str()] {
        let output = warden()
            .env("WARDEN_ADDR", &rig.server.api)
            .env("WARDEN_TOKEN", credential)
            .args(["approvals", "approve", &id])
            .output()
            .unwrap();
        assert_eq!(
            output.status.code(),
            Some(4),
            "an agent credential approved a request"
        );
    }
    let named = rig.server.cli(
        &rig.admin,
        &["approvals", "approve", &id, "--approver", "support-bot"],
    );
    assert_eq!(named.code(), 1);
    let shown = rig
        .server
        .cli(&rig.admin, &["approvals", "show", &id, "-o", "json"])
        .json();
    assert_eq!(shown["status"], "pending");
    assert!(refunds_seen(&rig).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_waiting_request_goes_through_when_approved_and_gives_up_when_not() {
    let rig = Rig::start("").await;
    let (status, body) = refund(&rig, r#"{"wait": "short"}"#, None, Some(1)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("approval_required"))
    );

    let gateway = rig.gateway("/crm/tickets/42/refund");
    let token = rig.token.clone();
    let waiting = tokio::spawn(async move {
        reqwest::Client::new()
            .post(gateway)
            .bearer_auth(token)
            .header("Prefer", "wait=20")
            .body(r#"{"wait": "long"}"#)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    });
    let mut id = String::new();
    eventually("the second approval", Duration::from_secs(10), || {
        let listed = rig
            .server
            .cli(
                &rig.admin,
                &["approvals", "list", "--status", "pending", "-o", "json"],
            )
            .json();
        let found = listed["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|approval| approval["status"] == "pending")
            .filter_map(|approval| approval["id"].as_str())
            .next_back()
            .map(str::to_string);
        let first = body["approval_id"].as_str().map(str::to_string);
        let fresh = found.filter(|candidate| Some(candidate) != first.as_ref());
        if let Some(fresh) = &fresh {
            id.clone_from(fresh);
        }
        async move { fresh.is_some() }
    })
    .await;
    assert!(!waiting.is_finished());
    rig.server
        .cli(&rig.admin, &["approvals", "approve", &id])
        .ok();
    let status = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("the waiting request did not go on after its approval")
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(refunds_seen(&rig), vec![r#"{"wait": "long"}"#.to_string()]);
}
