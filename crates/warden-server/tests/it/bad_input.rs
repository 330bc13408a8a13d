//! Every endpoint family refuses bad input with a precise 4xx JSON error and changes nothing.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::Value;

use crate::harness::{Api, Reply};

async fn owner_count(api: &Api) -> usize {
    let page = api
        .expect(Method::GET, "/v1/owners?limit=500", None, StatusCode::OK)
        .await;
    page["items"].as_array().map_or(0, Vec::len)
}

async fn identity_count(api: &Api) -> usize {
    let page = api
        .expect(
            Method::GET,
            "/v1/identities?limit=500",
            None,
            StatusCode::OK,
        )
        .await;
    page["items"].as_array().map_or(0, Vec::len)
}

fn assert_refused(reply: &Reply, status: StatusCode, code: &str) {
    assert_eq!(reply.status, status, "{}", reply.body);
    assert_eq!(reply.code(), code, "{}", reply.body);
    let message = reply.body["message"].as_str().unwrap_or_default();
    assert!(
        message.len() > 10,
        "the message must say what is wrong: {}",
        reply.body
    );
}

async fn seed(api: &Api) {
    api.expect(
        Method::POST,
        "/v1/owners",
        Some(r#"{"email":"alice@example.com","name":"Alice"}"#),
        StatusCode::CREATED,
    )
    .await;
    api.expect(
        Method::POST,
        "/v1/identities",
        Some(r#"{"kind":"agent","name":"support-bot","owner":"alice@example.com"}"#),
        StatusCode::CREATED,
    )
    .await;
}

#[tokio::test]
async fn the_admin_api_needs_the_admin_token() {
    let api = Api::new().await;
    for (token, what) in [
        (None, "no token"),
        (Some("Bearer wrong"), "wrong token"),
        (Some("Basic abc"), "wrong scheme"),
    ] {
        let mut builder = Request::builder().uri("/v1/owners");
        if let Some(token) = token {
            builder = builder.header(header::AUTHORIZATION, token);
        }
        let reply = api
            .raw(
                builder
                    .body(Body::empty())
                    .unwrap_or_else(|e| panic!("{e}")),
            )
            .await;
        assert_refused(&reply, StatusCode::UNAUTHORIZED, "unauthorized");
        assert!(
            reply.body["message"]
                .as_str()
                .unwrap_or_default()
                .contains("WARDEN_TOKEN"),
            "{what}"
        );
    }
    let create = Request::builder()
        .method(Method::POST)
        .uri("/v1/owners")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(r#"{"email":"eve@example.com","name":"Eve"}"#))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(api.raw(create).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        owner_count(&api).await,
        0,
        "an unauthenticated create changed nothing"
    );
    // Health endpoints stay open for probes.
    let health = api
        .raw(
            Request::builder()
                .uri("/healthz")
                .body(Body::empty())
                .unwrap_or_else(|e| panic!("{e}")),
        )
        .await;
    assert_eq!(health.status, StatusCode::OK);
}

#[tokio::test]
async fn owner_requests_are_checked() {
    let api = Api::new().await;
    seed(&api).await;
    let cases: &[(&str, StatusCode, &str)] = &[
        (
            r#"{"email":"bob@example.com""#,
            StatusCode::BAD_REQUEST,
            "malformed_json",
        ),
        (
            r#"{"email":"bob@example.com","name":"Bob","role":"admin"}"#,
            StatusCode::BAD_REQUEST,
            "unknown_field",
        ),
        (
            r#"{"email":42,"name":"Bob"}"#,
            StatusCode::BAD_REQUEST,
            "wrong_type",
        ),
        (
            r#"{"email":"bob@example.com"}"#,
            StatusCode::BAD_REQUEST,
            "missing_field",
        ),
        (
            r#"{"email":"not-an-email","name":"Bob"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_email",
        ),
        (
            r#"{"email":"bob@example.com","name":"   "}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            r#"{"email":"ALICE@example.com","name":"Alice 2"}"#,
            StatusCode::CONFLICT,
            "duplicate_owner",
        ),
    ];
    for (body, status, code) in cases {
        let reply = api.post("/v1/owners", body).await;
        assert_refused(&reply, *status, code);
    }
    let oversized = format!(
        r#"{{"email":"bob@example.com","name":"{}"}}"#,
        "x".repeat(100 * 1024)
    );
    assert_refused(
        &api.post("/v1/owners", &oversized).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
    );
    let no_json = api
        .raw(
            Request::builder()
                .method(Method::POST)
                .uri("/v1/owners")
                .header(
                    header::AUTHORIZATION,
                    format!("Bearer {}", crate::harness::TOKEN),
                )
                .header(header::CONTENT_TYPE, "text/plain")
                .body(Body::from(r#"{"email":"bob@example.com","name":"Bob"}"#))
                .unwrap_or_else(|e| panic!("{e}")),
        )
        .await;
    assert_refused(
        &no_json,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    );
    assert_eq!(owner_count(&api).await, 1, "only the seeded owner exists");

    assert_refused(
        &api.get("/v1/owners/nobody@example.com").await,
        StatusCode::NOT_FOUND,
        "unknown_owner",
    );
    assert_refused(
        &api.get("/v1/owners?status=retired").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
    );
    assert_refused(
        &api.get("/v1/owners?colour=red").await,
        StatusCode::BAD_REQUEST,
        "invalid_query",
    );
    assert_refused(
        &api.get("/v1/owners?limit=0").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
    );
    assert_refused(
        &api.get("/v1/owners?limit=many").await,
        StatusCode::BAD_REQUEST,
        "invalid_query",
    );
    assert_refused(
        &api.get("/v1/owners?cursor=garbage").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
    );
    assert_refused(
        &api.send(
            Method::PATCH,
            "/v1/owners/alice@example.com",
            Some(r#"{"email":"new@example.com"}"#),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "unknown_field",
    );
    assert_refused(
        &api.post(
            "/v1/owners/alice@example.com/reassign",
            r#"{"to":"ghost@example.com"}"#,
        )
        .await,
        StatusCode::NOT_FOUND,
        "unknown_owner",
    );
    assert_refused(
        &api.post(
            "/v1/owners/alice@example.com/reassign",
            r#"{"to":"alice@example.com"}"#,
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
    );
    api.expect(
        Method::POST,
        "/v1/owners/alice@example.com/offboard",
        None,
        StatusCode::OK,
    )
    .await;
    assert_refused(
        &api.send(Method::POST, "/v1/owners/alice@example.com/offboard", None)
            .await,
        StatusCode::CONFLICT,
        "invalid_state",
    );
}

#[tokio::test]
async fn identity_requests_are_checked() {
    let api = Api::new().await;
    seed(&api).await;
    let cases: &[(&str, StatusCode, &str)] = &[
        (
            r#"{"kind":"agent","name":"x","owner":"ghost@example.com"}"#,
            StatusCode::NOT_FOUND,
            "unknown_owner",
        ),
        (
            r#"{"kind":"agent","name":"support-bot","owner":"alice@example.com"}"#,
            StatusCode::CONFLICT,
            "duplicate_name",
        ),
        (
            r#"{"kind":"agent","name":"Bad Name","owner":"alice@example.com"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            r#"{"kind":"robot","name":"x","owner":"alice@example.com"}"#,
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            r#"{"kind":"agent","name":"x","owner":"alice@example.com","environment":"moon"}"#,
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            r#"{"kind":"agent","name":"x","owner":"alice@example.com","labels":{"bad key":"v"}}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            r#"{"kind":"agent","name":"x","owner":"alice@example.com","labels":["team"]}"#,
            StatusCode::BAD_REQUEST,
            "wrong_type",
        ),
        (
            r#"{"kind":"agent","name":"x","owner":"alice@example.com","expires_at":"2001-01-01T00:00:00Z"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            r#"{"kind":"agent","name":"x","owner":"alice@example.com","expires_at":"soon"}"#,
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            r#"{"kind":"agent","name":"x","owner":"alice@example.com","parent":"agent:ghost"}"#,
            StatusCode::NOT_FOUND,
            "unknown_parent",
        ),
        (
            r#"{"kind":"agent","name":"x","owner":"alice@example.com","colour":"red"}"#,
            StatusCode::BAD_REQUEST,
            "unknown_field",
        ),
        (
            r#"{"kind":"agent","name":"x","owner":"alice@example.com""#,
            StatusCode::BAD_REQUEST,
            "malformed_json",
        ),
    ];
    for (body, status, code) in cases {
        let reply = api.post("/v1/identities", body).await;
        assert_refused(&reply, *status, code);
    }
    assert_eq!(
        identity_count(&api).await,
        1,
        "only the seeded identity exists"
    );

    api.expect(
        Method::POST,
        "/v1/identities",
        Some(r#"{"kind":"agent","name":"sub-bot","owner":"alice@example.com","parent":"agent:support-bot"}"#),
        StatusCode::CREATED,
    )
    .await;
    let cyclic = api
        .send(
            Method::PATCH,
            "/v1/identities/agent:support-bot",
            Some(r#"{"parent":"agent:sub-bot"}"#),
        )
        .await;
    assert_refused(&cyclic, StatusCode::UNPROCESSABLE_ENTITY, "cyclic_parent");
    let parent = api
        .expect(
            Method::GET,
            "/v1/identities/agent:support-bot",
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(
        parent["parent_id"],
        Value::Null,
        "the refused edit changed nothing"
    );

    assert_refused(
        &api.get("/v1/identities/agent:ghost").await,
        StatusCode::NOT_FOUND,
        "unknown_identity",
    );
    assert_refused(
        &api.get("/v1/identities/ghost").await,
        StatusCode::NOT_FOUND,
        "unknown_identity",
    );
    assert_refused(
        &api.get("/v1/identities?label=team").await,
        StatusCode::BAD_REQUEST,
        "invalid_query",
    );
    assert_refused(
        &api.get("/v1/identities?kind=robot").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
    );
    assert_refused(
        &api.get("/v1/identities?kind=agent&kind=token").await,
        StatusCode::BAD_REQUEST,
        "invalid_query",
    );
    assert_refused(
        &api.get("/v1/identities?sort=name").await,
        StatusCode::BAD_REQUEST,
        "invalid_query",
    );
    assert_refused(
        &api.send(
            Method::PATCH,
            "/v1/identities/agent:support-bot",
            Some(r#"{"name":"renamed"}"#),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "unknown_field",
    );
    assert_refused(
        &api.send(
            Method::POST,
            "/v1/identities/agent:support-bot/restore",
            None,
        )
        .await,
        StatusCode::CONFLICT,
        "invalid_state",
    );
    api.expect(
        Method::POST,
        "/v1/identities/agent:support-bot/revoke",
        None,
        StatusCode::OK,
    )
    .await;
    assert_refused(
        &api.send(
            Method::POST,
            "/v1/identities/agent:support-bot/restore",
            None,
        )
        .await,
        StatusCode::CONFLICT,
        "identity_revoked",
    );
    assert_refused(
        &api.post(
            "/v1/identities/agent:sub-bot/reassign",
            r#"{"owner":"nobody"}"#,
        )
        .await,
        StatusCode::NOT_FOUND,
        "unknown_owner",
    );
}

#[tokio::test]
async fn unknown_endpoints_and_methods_answer_in_json() {
    let api = Api::new().await;
    assert_refused(
        &api.get("/v1/nothing-here").await,
        StatusCode::NOT_FOUND,
        "no_such_endpoint",
    );
    assert_refused(
        &api.send(Method::DELETE, "/v1/owners", None).await,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    );
}

#[tokio::test]
async fn leak_reports_are_checked_and_a_refused_one_records_nothing() {
    let api = Api::new().await;
    let secret = "sk_live_51Hq8rTzKp2VmX7nLc4WdY9eB3uJsQa6";
    let other = warden_scan::Fingerprint::of(b"another secret");
    let long_path = "p".repeat(3000);
    let cases: Vec<(String, StatusCode, &str)> = vec![
        (
            "{}".into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            r#"{"fingerprint":"sha256:abc"}"#.into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            format!(r#"{{"secret":"{secret}","fingerprint":"{other}"}}"#),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            r#"{"secret":""}"#.into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            format!(r#"{{"secret":"{secret}","kind":"has spaces"}}"#),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            format!(r#"{{"secret":"{secret}","location":{{"path":"{long_path}"}}}}"#),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            format!(r#"{{"secret":"{secret}","location":{{"file":"a.env"}}}}"#),
            StatusCode::BAD_REQUEST,
            "unknown_field",
        ),
        (
            format!(r#"{{"secret":"{secret}","leaked":true}}"#),
            StatusCode::BAD_REQUEST,
            "unknown_field",
        ),
        (
            format!(r#"{{"revoke":"{secret}"}}"#),
            StatusCode::BAD_REQUEST,
            "wrong_type",
        ),
        (
            format!(r#"{{"secret":["{secret}"]}}"#),
            StatusCode::BAD_REQUEST,
            "wrong_type",
        ),
    ];
    for (body, status, code) in &cases {
        let reply = api.post("/v1/leaks", body).await;
        assert_refused(&reply, *status, code);
        assert!(
            !reply.body.to_string().contains(secret),
            "a refusal repeated the secret: {}",
            reply.body
        );
    }
    let listed = api
        .expect(Method::GET, "/v1/leaks", None, StatusCode::OK)
        .await;
    assert_eq!(listed["items"].as_array().map_or(0, Vec::len), 0);

    // The same secret, given whole and as its fingerprint, is one report.
    let fingerprint = warden_scan::Fingerprint::of(secret.as_bytes());
    let first = api
        .expect(
            Method::POST,
            "/v1/leaks",
            Some(&format!(
                r#"{{"secret":"{secret}","location":{{"path":"a.env","line":2}}}}"#
            )),
            StatusCode::CREATED,
        )
        .await;
    assert_eq!(first["known"], false, "{first}");
    assert!(!first.to_string().contains(secret));
    let second = api
        .expect(
            Method::POST,
            "/v1/leaks",
            Some(&format!(r#"{{"fingerprint":"{fingerprint}"}}"#)),
            StatusCode::OK,
        )
        .await;
    assert_eq!(second["report"]["id"], first["report"]["id"]);
    assert_eq!(second["report"]["report_count"], 2);
    api.expect(
        Method::GET,
        "/v1/leaks/nothing",
        None,
        StatusCode::NOT_FOUND,
    )
    .await;
}
