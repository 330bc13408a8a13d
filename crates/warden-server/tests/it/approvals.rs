//! `/v1/approvals` in process: reading and deciding held requests, every refusal, and the
//! proof that an agent's own credentials cannot reach these endpoints.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::json;
use warden_audit::Actor;
use warden_core::{ApprovalBinding, Clock, NewApproval};

use crate::harness::{Api, Reply};

const TTL_SECS: i64 = 600;

struct Agent {
    id: String,
    secret: String,
}

async fn created(api: &Api, uri: &str, body: serde_json::Value) -> serde_json::Value {
    let reply = api.post(uri, &body.to_string()).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{uri}: {}", reply.body);
    reply.body
}

/// Alice, her agent `support-bot` with a client secret, and Carol, an owner the agent acts
/// for; plus an upstream to ask tokens for.
async fn seed(api: &Api) -> Agent {
    created(
        api,
        "/v1/upstreams",
        json!({"name": "crm", "kind": "http", "url": "https://crm.example.com", "auth": "bearer"}),
    )
    .await;
    for (email, name) in [
        ("alice@example.com", "Alice"),
        ("carol@example.com", "Carol"),
    ] {
        created(api, "/v1/owners", json!({"email": email, "name": name})).await;
    }
    created(
        api,
        "/v1/identities",
        json!({"kind": "agent", "name": "support-bot", "owner": "alice@example.com"}),
    )
    .await;
    let issued = created(
        api,
        "/v1/identities/agent:support-bot/credentials",
        json!({}),
    )
    .await;
    Agent {
        id: issued["client_id"].as_str().unwrap().to_string(),
        secret: issued["client_secret"].as_str().unwrap().to_string(),
    }
}

/// Holds a request the way the gateway does, through the store; returns the approval id.
async fn hold(api: &Api, agent: &Agent) -> String {
    let now = api.clock.now();
    let new = NewApproval {
        binding: ApprovalBinding {
            agent_id: agent.id.clone(),
            upstream: "crm".into(),
            method: "POST".into(),
            path: "/tickets/42/refund".into(),
            body_digest: "hmac-of-the-request".into(),
            task_id: None,
        },
        agent_name: "support-bot".into(),
        owner_email: "alice@example.com".into(),
        on_behalf_of: Some("carol@example.com".into()),
        action: "tickets.refund".into(),
        resource: "Ticket::\"42\"".into(),
        reason: Some("charged twice".into()),
        policy_ids: vec!["refunds".into()],
        token_jti: None,
        expires_at: now.plus_secs(TTL_SECS),
        max_pending_for_agent: 20,
    };
    api.state
        .store
        .create_approval(&Actor::agent(&agent.id, "support-bot"), new, None, now)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .id
}

fn assert_refused(reply: &Reply, status: StatusCode, code: &str) {
    assert_eq!(reply.status, status, "{}", reply.body);
    assert_eq!(reply.code(), code, "{}", reply.body);
    let message = reply.body["message"].as_str().unwrap_or_default();
    assert!(message.len() > 10, "say what is wrong: {}", reply.body);
}

async fn status_of(api: &Api, id: &str) -> String {
    let reply = api.get(&format!("/v1/approvals/{id}")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body["status"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn held_requests_are_listed_and_decided_by_an_owner() {
    let api = Api::new().await;
    let agent = seed(&api).await;
    let first = hold(&api, &agent).await;
    let second = hold(&api, &agent).await;

    let listed = api
        .get("/v1/approvals?status=pending&agent=support-bot")
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    let ids: Vec<&str> = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|item| item["id"].as_str())
        .collect();
    assert_eq!(ids, [first.as_str(), second.as_str()]);
    let item = &listed.body["items"][0];
    assert_eq!(item["agent_id"], agent.id.as_str());
    assert_eq!(item["path"], "/tickets/42/refund");
    assert_eq!(item["on_behalf_of"], "carol@example.com");

    let by_id = api
        .get(&format!("/v1/approvals?agent={}&limit=1", agent.id))
        .await;
    assert_eq!(
        by_id.body["items"][0]["id"],
        first.as_str(),
        "{}",
        by_id.body
    );
    assert!(by_id.body["next_cursor"].is_string());

    let approved = api
        .post(
            &format!("/v1/approvals/{first}/approve"),
            r#"{"approver": "Alice@Example.com", "comment": "refund is right"}"#,
        )
        .await;
    assert_eq!(approved.status, StatusCode::OK, "{}", approved.body);
    assert_eq!(approved.body["status"], "approved");
    assert_eq!(approved.body["decided_by"], "alice@example.com");
    assert_eq!(approved.body["comment"], "refund is right");

    // Without a body the admin decides, under its own name.
    let denied = api
        .send(Method::POST, &format!("/v1/approvals/{second}/deny"), None)
        .await;
    assert_eq!(denied.status, StatusCode::OK, "{}", denied.body);
    assert_eq!(denied.body["status"], "denied");
    assert_eq!(denied.body["decided_by"], "admin");

    let again = api.post(&format!("/v1/approvals/{first}/deny"), "{}").await;
    assert_refused(&again, StatusCode::CONFLICT, "approval_decided");
    assert_eq!(status_of(&api, &first).await, "approved");

    let approvals = api.get("/v1/approvals?status=approved").await;
    assert_eq!(approvals.body["items"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn a_decision_wakes_the_requests_waiting_on_approvals() {
    let api = Api::new().await;
    let agent = seed(&api).await;
    let id = hold(&api, &agent).await;
    let changed = api.state.approvals_changed.clone();
    let waiting = changed.notified();
    tokio::pin!(waiting);
    waiting.as_mut().enable();
    let reply = api.post(&format!("/v1/approvals/{id}/approve"), "{}").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .unwrap_or_else(|_| panic!("the decision did not wake the waiter"));
}

#[tokio::test]
async fn bad_decisions_are_refused_and_change_nothing() {
    let api = Api::new().await;
    let agent = seed(&api).await;
    let id = hold(&api, &agent).await;
    let approve = format!("/v1/approvals/{id}/approve");

    assert_refused(
        &api.post(
            &approve,
            r#"{"approver": "alice@example.com", "urgent": true}"#,
        )
        .await,
        StatusCode::BAD_REQUEST,
        "unknown_field",
    );
    assert_refused(
        &api.post(&approve, r#"{"approver": 7}"#).await,
        StatusCode::BAD_REQUEST,
        "wrong_type",
    );
    assert_refused(
        &api.post(&approve, r#"{"approver": "mallory@example.com"}"#)
            .await,
        StatusCode::NOT_FOUND,
        "unknown_owner",
    );
    assert_refused(
        &api.post(&approve, r#"{"approver": "not an email"}"#).await,
        StatusCode::NOT_FOUND,
        "unknown_owner",
    );
    // The user the agent acts for is an owner, but cannot approve the agent's request.
    assert_refused(
        &api.post(&approve, r#"{"approver": "carol@example.com"}"#)
            .await,
        StatusCode::FORBIDDEN,
        "self_approval",
    );
    let unlabelled = Request::builder()
        .method(Method::POST)
        .uri(&approve)
        .header(
            header::AUTHORIZATION,
            format!("Bearer {}", crate::harness::TOKEN),
        )
        .body(Body::from(r#"{"approver": "alice@example.com"}"#))
        .unwrap();
    assert_refused(
        &api.raw(unlabelled).await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    );
    let huge = json!({ "comment": "x".repeat(70 * 1024) }).to_string();
    assert_refused(
        &api.post(&approve, &huge).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
    );
    let long_comment = json!({ "comment": "x".repeat(1001) }).to_string();
    assert_refused(
        &api.post(&approve, &long_comment).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
    );

    // An offboarded owner cannot decide.
    created(
        &api,
        "/v1/owners",
        json!({"email": "dave@example.com", "name": "Dave"}),
    )
    .await;
    let offboarded = api.post("/v1/owners/dave@example.com/offboard", "{}").await;
    assert_eq!(offboarded.status, StatusCode::OK, "{}", offboarded.body);
    assert_refused(
        &api.post(&approve, r#"{"approver": "dave@example.com"}"#)
            .await,
        StatusCode::CONFLICT,
        "owner_offboarded",
    );

    for uri in [
        "/v1/approvals/0190a0a0-0000-7000-8000-00000000ffff",
        "/v1/approvals/not-an-id",
    ] {
        assert_refused(
            &api.get(uri).await,
            StatusCode::NOT_FOUND,
            "unknown_approval",
        );
        assert_refused(
            &api.post(&format!("{uri}/deny"), "{}").await,
            StatusCode::NOT_FOUND,
            "unknown_approval",
        );
    }
    assert_refused(
        &api.get("/v1/approvals?state=pending").await,
        StatusCode::BAD_REQUEST,
        "invalid_query",
    );
    assert_refused(
        &api.get("/v1/approvals?status=granted").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
    );
    assert_refused(
        &api.get("/v1/approvals?agent=nobody").await,
        StatusCode::NOT_FOUND,
        "unknown_identity",
    );
    assert_refused(
        &api.get("/v1/approvals?limit=0").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
    );

    assert_eq!(status_of(&api, &id).await, "pending");
    let events = api.get("/v1/audit/events?kind=approval.granted").await;
    assert_eq!(
        events.body["items"].as_array().map(Vec::len),
        Some(0),
        "{}",
        events.body
    );
}

#[tokio::test]
async fn a_late_decision_finds_the_approval_expired() {
    let api = Api::new().await;
    let agent = seed(&api).await;
    let id = hold(&api, &agent).await;
    api.clock.advance_secs(TTL_SECS);
    assert_eq!(status_of(&api, &id).await, "expired");
    assert_refused(
        &api.post(&format!("/v1/approvals/{id}/approve"), "{}").await,
        StatusCode::GONE,
        "approval_expired",
    );
    let expired = api.get("/v1/approvals?status=expired").await;
    assert_eq!(
        expired.body["items"][0]["id"],
        id.as_str(),
        "{}",
        expired.body
    );
}

#[tokio::test]
async fn an_agents_own_credentials_cannot_reach_the_approvals_api() {
    let api = Api::new().await;
    let agent = seed(&api).await;
    let id = hold(&api, &agent).await;
    let token = api
        .form(
            "/oauth/token",
            Some((&agent.id, &agent.secret)),
            &[("grant_type", "client_credentials"), ("resource", "crm")],
        )
        .await;
    assert_eq!(token.status, StatusCode::OK, "{}", token.body);
    let access_token = token.body["access_token"].as_str().unwrap().to_string();

    use base64::Engine as _;
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", agent.id, agent.secret));
    let credentials = [
        ("the agent's access token", format!("Bearer {access_token}")),
        (
            "the agent's client secret",
            format!("Bearer {}", agent.secret),
        ),
        (
            "the agent's client secret by Basic",
            format!("Basic {basic}"),
        ),
    ];
    let endpoints = [
        (Method::GET, "/v1/approvals".to_string()),
        (Method::GET, format!("/v1/approvals/{id}")),
        (Method::POST, format!("/v1/approvals/{id}/approve")),
        (Method::POST, format!("/v1/approvals/{id}/deny")),
    ];
    for (what, authorization) in &credentials {
        for (method, uri) in &endpoints {
            let request = Request::builder()
                .method(method.clone())
                .uri(uri)
                .header(header::AUTHORIZATION, authorization)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from("{}"))
                .unwrap();
            let reply = api.raw(request).await;
            assert_eq!(
                reply.status,
                StatusCode::UNAUTHORIZED,
                "{what} on {method} {uri}: {}",
                reply.body
            );
            assert_eq!(reply.code(), "unauthorized");
        }
    }
    assert_eq!(status_of(&api, &id).await, "pending");
}
