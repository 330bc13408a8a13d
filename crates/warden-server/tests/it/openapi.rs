//! The OpenAPI document lists exactly what the server answers.

use axum::http::{Method, StatusCode};
use serde_json::Value;

use crate::harness::Api;

const EXPECTED_PATHS: &[&str] = &[
    "/healthz",
    "/readyz",
    "/v1/approvals",
    "/v1/approvals/{id}",
    "/v1/approvals/{id}/approve",
    "/v1/approvals/{id}/deny",
    "/v1/audit/events",
    "/v1/audit/export",
    "/v1/audit/public-key",
    "/v1/audit/verify",
    "/v1/credentials/{id}/revoke",
    "/v1/findings",
    "/v1/findings/export",
    "/v1/findings/{id}",
    "/v1/findings/{id}/suppress",
    "/v1/findings/{id}/unsuppress",
    "/v1/identities",
    "/v1/identities/{identity}",
    "/v1/identities/{identity}/credentials",
    "/v1/identities/{identity}/credentials/rotate",
    "/v1/identities/{identity}/graph",
    "/v1/identities/{identity}/reassign",
    "/v1/identities/{identity}/restore",
    "/v1/identities/{identity}/revoke",
    "/v1/identities/{identity}/suspend",
    "/v1/imported-identities",
    "/v1/imported-identities/{id}",
    "/v1/imported-identities/{id}/reassign",
    "/v1/imports",
    "/v1/keys",
    "/v1/keys/rotate",
    "/v1/kill",
    "/v1/leaks",
    "/v1/leaks/{id}",
    "/v1/owners",
    "/v1/owners/{owner}",
    "/v1/owners/{owner}/offboard",
    "/v1/owners/{owner}/reassign",
    "/v1/policies",
    "/v1/policies/schema",
    "/v1/policies/test",
    "/v1/policies/{id}",
    "/v1/posture",
    "/v1/posture/evaluate",
    "/v1/restore",
    "/v1/revoke",
    "/v1/ssf/receivers",
    "/v1/ssf/receivers/{name}",
    "/v1/tokens/verify",
    "/v1/upstreams",
    "/v1/upstreams/{name}",
    "/v1/upstreams/{name}/secret",
    "/v1/upstreams/{name}/tools",
    "/v1/upstreams/{name}/tools/{tool}/accept",
    "/v1/webhooks",
    "/v1/webhooks/deliveries",
    "/v1/webhooks/deliveries/{id}/redeliver",
    "/v1/webhooks/{id}",
];

#[tokio::test]
async fn every_documented_operation_is_served() {
    let api = Api::new().await;
    let document = api
        .expect(Method::GET, "/openapi.json", None, StatusCode::OK)
        .await;
    assert!(
        document["openapi"]
            .as_str()
            .is_some_and(|version| version.starts_with("3."))
    );
    let paths = document["paths"].as_object().cloned().unwrap_or_default();
    let mut listed: Vec<&str> = paths.keys().map(String::as_str).collect();
    listed.sort_unstable();
    assert_eq!(listed, EXPECTED_PATHS);

    for (path, operations) in &paths {
        let concrete = path
            .replace("{owner}", "nobody@example.com")
            .replace("{identity}", "agent:nobody")
            .replace("{name}", "nothing")
            .replace("{id}", "nothing")
            .replace("{tool}", "nothing");
        for method in operations
            .as_object()
            .map(|ops| ops.keys().cloned().collect::<Vec<_>>())
            .unwrap_or_default()
        {
            let method: Method = method
                .to_uppercase()
                .parse()
                .unwrap_or_else(|e| panic!("{e}"));
            let body = matches!(method, Method::POST | Method::PATCH).then_some("{}");
            let reply = api.send(method.clone(), &concrete, body).await;
            assert!(
                !matches!(reply.code(), "no_such_endpoint" | "method_not_allowed"),
                "{method} {path} is documented but not served: {}",
                reply.body
            );
        }
    }
}

#[tokio::test]
async fn request_schemas_refuse_unknown_fields_as_the_server_does() {
    let api = Api::new().await;
    let document = api
        .expect(Method::GET, "/openapi.json", None, StatusCode::OK)
        .await;
    let schema = &document["components"]["schemas"]["CreateOwner"];
    assert_eq!(
        schema["additionalProperties"],
        Value::Bool(false),
        "{schema}"
    );
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    assert_eq!(required, ["email", "name"]);
}

#[tokio::test]
async fn the_document_describes_held_requests_and_allowed_origins() {
    let api = Api::new().await;
    let document = api
        .expect(Method::GET, "/openapi.json", None, StatusCode::OK)
        .await;
    let schemas = &document["components"]["schemas"];
    let properties = |name: &str| -> Vec<String> {
        let schema = &schemas[name];
        // A flattened struct is an `allOf` of its parts.
        let mut found: Vec<String> = schema["properties"]
            .as_object()
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default();
        for part in schema["allOf"].as_array().into_iter().flatten() {
            found.extend(
                part["properties"]
                    .as_object()
                    .map(|p| p.keys().cloned().collect::<Vec<_>>())
                    .unwrap_or_default(),
            );
        }
        found
    };
    assert!(
        properties("ApprovalDetail").contains(&"request".to_string()),
        "{}",
        schemas["ApprovalDetail"]
    );
    for field in [
        "method",
        "path",
        "query",
        "content_type",
        "body",
        "tool_calls",
        "redacted",
    ] {
        assert!(
            properties("HeldRequest").contains(&field.to_string()),
            "HeldRequest.{field}"
        );
    }
    for field in ["size", "encoding", "content"] {
        assert!(
            properties("HeldBody").contains(&field.to_string()),
            "HeldBody.{field}"
        );
    }
    assert!(properties("Upstream").contains(&"allowed_origins".to_string()));
    for field in ["url", "secret", "allowed_origins"] {
        assert!(
            properties("UpdateUpstream").contains(&field.to_string()),
            "UpdateUpstream.{field}"
        );
    }
    assert!(properties("CreateUpstream").contains(&"allowed_origins".to_string()));
    // Local MCP servers: what runs is part of the contract, both ways.
    for schema in ["Upstream", "CreateUpstream"] {
        for field in ["command", "args", "env_secret"] {
            assert!(
                properties(schema).contains(&field.to_string()),
                "{schema}.{field}"
            );
        }
    }
    let kinds = document["components"]["schemas"]["UpstreamKind"].to_string();
    assert!(kinds.contains("mcp-stdio"), "{kinds}");
    let get_approval = &document["paths"]["/v1/approvals/{id}"]["get"]["responses"]["200"];
    assert!(
        get_approval.to_string().contains("ApprovalDetail"),
        "{get_approval}"
    );
}
