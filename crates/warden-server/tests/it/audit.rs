//! The audit API: what `GET /v1/audit/verify` answers, and that the OpenAPI document
//! describes the same report.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::Api;

#[tokio::test]
async fn verify_says_how_many_records_no_checkpoint_covers() {
    let api = Api::new().await;
    for index in 0..3 {
        let body = json!({"email": format!("o{index}@example.com"), "name": "O"});
        let reply = api.post("/v1/owners", &body.to_string()).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    }
    // The young chain's first record is anchored at once; the clock stands still, so the
    // policy asks for no further checkpoint.
    let running = api
        .expect(Method::GET, "/v1/audit/verify", None, StatusCode::OK)
        .await;
    assert_eq!(running["intact"], true, "{running}");
    assert_eq!(running["report"]["events_verified"], 3, "{running}");
    assert_eq!(running["report"]["last_checkpoint"], 1, "{running}");
    assert_eq!(running["report"]["unanchored_events"], 2, "{running}");

    let sealed = api
        .state
        .store
        .seal_audit(warden_core::Clock::now(&api.clock))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(sealed.map(|checkpoint| checkpoint.sequence), Some(3));
    let stopped = api
        .expect(Method::GET, "/v1/audit/verify", None, StatusCode::OK)
        .await;
    assert_eq!(stopped["report"]["last_checkpoint"], 3, "{stopped}");
    assert_eq!(stopped["report"]["unanchored_events"], 0, "{stopped}");
    assert_eq!(stopped["report"]["checkpoints_verified"], 2, "{stopped}");
}

#[tokio::test]
async fn the_document_describes_the_verification_report() {
    let api = Api::new().await;
    let document = api
        .expect(Method::GET, "/openapi.json", None, StatusCode::OK)
        .await;
    let schemas = &document["components"]["schemas"];
    let properties: Vec<&str> = schemas["AuditVerifyReport"]["properties"]
        .as_object()
        .map(|p| p.keys().map(String::as_str).collect())
        .unwrap_or_default();
    for field in [
        "events_verified",
        "first_sequence",
        "last_sequence",
        "last_hash",
        "checkpoints_verified",
        "last_checkpoint",
        "unanchored_events",
    ] {
        assert!(
            properties.contains(&field),
            "AuditVerifyReport.{field}: {}",
            schemas["AuditVerifyReport"]
        );
    }
    let report: Value = schemas["AuditVerification"]["properties"]["report"].clone();
    assert!(report.to_string().contains("AuditVerifyReport"), "{report}");
}
