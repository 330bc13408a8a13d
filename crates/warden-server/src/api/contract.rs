//! What the OpenAPI document states beyond each handler's own attributes: the error answers
//! every operation can give (a missing token, a request that cannot be read, a store that is
//! down), the constraints the API enforces on parameters and bodies, and the links from the
//! operations that create a resource to those that read and change it.
//!
//! The document is the machine contract of the API, so it must not allow what the API
//! refuses: a generated client or tester that follows it sends only requests that can
//! succeed. The value lists come from the enums the handlers parse with, so they cannot
//! drift from what is enforced.

use serde_json::{Map, Value, json};
use warden_audit::EventKind;
use warden_core::{
    ApprovalStatus, Environment, IdentityKind, IdentityStatus, OwnerStatus, Source, page,
};

const METHODS: &[&str] = &["get", "put", "post", "patch", "delete"];

/// An `ErrorBody` response with a description.
fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    })
}

/// The spellings of an enum's values as a JSON Schema `enum`.
fn one_of<T: Copy>(values: &[T], text: impl Fn(T) -> &'static str) -> Value {
    json!({"type": "string", "enum": values.iter().map(|v| text(*v)).collect::<Vec<_>>()})
}

fn limit(max: u32) -> Value {
    json!({"type": "integer", "format": "int32", "minimum": 1, "maximum": max})
}

fn uuid() -> Value {
    json!({"type": "string", "format": "uuid"})
}

/// An identity as requests name it: its id, or `KIND:NAME`.
fn identity_ref() -> Value {
    let kinds: Vec<&str> = IdentityKind::ALL.iter().map(|k| k.as_str()).collect();
    json!({
        "type": "string",
        "minLength": 1,
        "pattern": format!("^(({})|[0-9a-fA-F-]{{36}})$", kinds.iter().map(|k| format!("{k}:.*")).collect::<Vec<_>>().join("|")),
    })
}

/// An owner as requests name it: its id or its email.
fn owner_ref() -> Value {
    json!({"type": "string", "pattern": format!("({EMAIL_PATTERN})|(^[0-9a-fA-F]{{8}}-[0-9a-fA-F]{{4}}-[0-9a-fA-F]{{4}}-[0-9a-fA-F]{{4}}-[0-9a-fA-F]{{12}}$)")})
}

/// An email as `warden_core::validate::normalize_email` accepts it: printable ASCII, one
/// `@`, a domain of dot-separated labels with at least one dot.
pub const EMAIL_PATTERN: &str = r"^[!-?A-~]+@[!-\-/-?A-~]+(\.[!-\-/-?A-~]+)+$";

/// Upstream names: identity names (`warden_core::validate::validate_name`) without `.`, since
/// they also name Cedar entity types.
pub const UPSTREAM_NAME_PATTERN: &str = r"^[a-z0-9][a-z0-9_-]{0,63}$";

/// Upstream URLs as `warden_core::upstream::validate_upstream_url` accepts them.
const URL_PATTERN: &str = r"^https?://[^/@?#\s\x00-\x1f\x7f-\x9f]+(/[^?#\s\x00-\x1f\x7f-\x9f]*)?$";

/// Query and path parameter schemas, by (path, parameter).
fn parameter_schemas() -> Vec<(&'static str, &'static str, Value)> {
    let page_limit = limit(page::MAX_PAGE_LIMIT);
    let kinds = one_of(IdentityKind::ALL, IdentityKind::as_str);
    let mut rows = vec![
        (
            "/v1/owners",
            "status",
            one_of(
                &[OwnerStatus::Active, OwnerStatus::Offboarded],
                OwnerStatus::as_str,
            ),
        ),
        ("/v1/owners", "limit", page_limit.clone()),
        ("/v1/owners", "cursor", uuid()),
        (
            "/v1/approvals",
            "status",
            one_of(ApprovalStatus::ALL, ApprovalStatus::as_str),
        ),
        ("/v1/approvals", "limit", page_limit.clone()),
        ("/v1/approvals", "cursor", uuid()),
        (
            "/v1/approvals",
            "agent",
            json!({"type": "string", "minLength": 1}),
        ),
        ("/v1/leaks", "limit", page_limit.clone()),
        ("/v1/leaks", "cursor", uuid()),
        ("/v1/identities", "kind", kinds.clone()),
        (
            "/v1/identities",
            "status",
            one_of(IdentityStatus::ALL, IdentityStatus::as_str),
        ),
        (
            "/v1/identities",
            "environment",
            one_of(Environment::ALL, Environment::as_str),
        ),
        (
            "/v1/identities",
            "source",
            one_of(Source::ALL, Source::as_str),
        ),
        ("/v1/identities", "limit", page_limit.clone()),
        ("/v1/identities", "cursor", uuid()),
        ("/v1/identities", "parent", identity_ref()),
        ("/v1/imported-identities", "kind", kinds),
        ("/v1/imported-identities", "limit", page_limit),
        ("/v1/imported-identities", "cursor", uuid()),
        (
            "/v1/audit/events",
            "kind",
            json!({"type": "string", "enum": EventKind::ALL.iter().map(|k| k.as_str()).collect::<Vec<_>>()}),
        ),
        (
            "/v1/audit/events",
            "decision",
            json!({"type": "string", "enum": ["allow", "deny", "hold"]}),
        ),
        (
            "/v1/audit/events",
            "since",
            json!({"type": "string", "format": "date-time"}),
        ),
        (
            "/v1/audit/events",
            "until",
            json!({"type": "string", "format": "date-time"}),
        ),
        (
            "/v1/audit/events",
            "after",
            json!({"type": "integer", "format": "int64", "minimum": 0, "maximum": i64::MAX}),
        ),
        ("/v1/audit/events", "limit", limit(super::audit::MAX_LIMIT)),
        (
            "/v1/audit/export",
            "format",
            json!({"type": "string", "enum": ["jsonl", "ocsf"]}),
        ),
        (
            "/v1/findings/export",
            "format",
            json!({"type": "string", "enum": ["ocsf", "json"]}),
        ),
        ("/v1/identities", "owner", owner_ref()),
        (
            "/v1/approvals",
            "owner",
            json!({"type": "string", "maxLength": 254, "pattern": EMAIL_PATTERN}),
        ),
        (
            "/v1/identities",
            "label",
            json!({"type": "array", "items": {"type": "string", "pattern": "="}}),
        ),
        (
            "/v1/imported-identities",
            "status",
            json!({"type": "string", "enum": ["present", "gone"]}),
        ),
        (
            "/v1/imported-identities",
            "orphaned",
            json!({"type": "boolean"}),
        ),
        (
            "/v1/webhooks/deliveries",
            "status",
            json!({"type": "string", "enum": ["pending", "delivered", "dead"]}),
        ),
        ("/v1/webhooks/deliveries", "limit", limit(1000)),
    ];
    for path in ["/v1/findings", "/v1/findings/export"] {
        rows.push((
            path,
            "owasp",
            json!({"type": "string", "pattern": r"^[Nn][Hh][Ii]([1-9]|10)(:2025)?$"}),
        ));
        rows.push((
            path,
            "severity",
            json!({"type": "string", "enum": ["low", "medium", "high", "critical"]}),
        ));
        rows.push((
            path,
            "status",
            json!({"type": "string", "enum": ["open", "resolved", "suppressed"]}),
        ));
        rows.push((path, "limit", limit(page::MAX_PAGE_LIMIT)));
        rows.push((path, "cursor", uuid()));
    }
    for path in [
        "/v1/identities/{identity}",
        "/v1/identities/{identity}/suspend",
        "/v1/identities/{identity}/restore",
        "/v1/identities/{identity}/revoke",
        "/v1/identities/{identity}/reassign",
        "/v1/identities/{identity}/credentials",
        "/v1/identities/{identity}/credentials/rotate",
        "/v1/identities/{identity}/graph",
    ] {
        rows.push((path, "identity", identity_ref()));
    }
    let graph = "/v1/identities/{identity}/graph";
    rows.push((
        graph,
        "depth",
        json!({"type": "integer", "format": "int32", "minimum": 1, "maximum": warden_posture::access_graph::MAX_DEPTH}),
    ));
    rows.push((
        graph,
        "days",
        json!({"type": "integer", "format": "int32", "minimum": 1, "maximum": warden_posture::access_graph::MAX_DAYS}),
    ));
    rows
}

/// Body property schemas, by (component, property).
fn property_schemas() -> Vec<(&'static str, &'static str, Value)> {
    let email = json!({"type": "string", "maxLength": 254, "pattern": EMAIL_PATTERN});
    let owner_name = json!({
        "type": "string", "minLength": 1, "maxLength": warden_core::validate::MAX_OWNER_NAME_LEN,
        "pattern": r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$",
    });
    let auth = json!({"type": "string", "pattern": "^(bearer|basic|header:[A-Za-z0-9_-]{1,64})$"});
    let secret =
        json!({"type": "string", "minLength": 1, "maxLength": super::upstreams::MAX_SECRET_CHARS});
    let origins =
        json!({"type": "array", "items": {"type": "string", "pattern": r"^https?://[^/?#\s]+$"}});
    vec![
        ("CreateOwner", "email", email),
        ("CreateOwner", "name", owner_name.clone()),
        ("OwnerPatch", "name", owner_name),
        (
            "CreateUpstream",
            "name",
            json!({"type": "string", "pattern": UPSTREAM_NAME_PATTERN}),
        ),
        (
            "CreateUpstream",
            "url",
            json!({"type": "string", "pattern": URL_PATTERN}),
        ),
        ("CreateUpstream", "auth", auth.clone()),
        ("CreateUpstream", "identity", identity_ref()),
        ("UpdateUpstream", "identity", identity_ref()),
        ("CreateUpstream", "secret", secret.clone()),
        ("CreateUpstream", "allowed_origins", origins.clone()),
        (
            "UpdateUpstream",
            "url",
            json!({"type": "string", "pattern": URL_PATTERN}),
        ),
        ("UpdateUpstream", "auth", auth),
        ("UpdateUpstream", "secret", secret.clone()),
        ("UpdateUpstream", "allowed_origins", origins),
        ("SetSecret", "secret", secret),
        (
            "PutPolicy",
            "id",
            json!({"type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$", "not": {"enum": ["schema", "test"]}}),
        ),
        (
            "PutPolicy",
            "text",
            json!({"type": "string", "minLength": 1}),
        ),
        (
            "DecideApproval",
            "approver",
            json!({"type": "string", "minLength": 1}),
        ),
        (
            "IssueCredential",
            "kind",
            json!({"type": "string", "enum": ["client_secret", "private_key_jwt"]}),
        ),
        (
            "IssueCredential",
            "scope",
            json!({"type": "string", "pattern": r#"^[ !#-\[\]-~]*[!#-\[\]-~][ !#-\[\]-~]*$"#}),
        ),
        (
            "IssueCredential",
            "expires_in_days",
            json!({"type": "integer", "format": "int64", "minimum": 1}),
        ),
        (
            "IssueCredential",
            "overlap_secs",
            json!({"type": "integer", "format": "int64", "minimum": 0}),
        ),
        ("ImportRequest", "files", json!({"minItems": 1})),
        (
            "AddWebhook",
            "url",
            json!({"type": "string", "maxLength": warden_signals::webhook::MAX_URL_LEN, "pattern": URL_PATTERN}),
        ),
        ("AddWebhook", "events", json!({"minItems": 1})),
        ("AddWebhook", "description", json!({"maxLength": 1024})),
        (
            "AddReceiver",
            "name",
            json!({"type": "string", "pattern": super::webhooks::RECEIVER_NAME_PATTERN}),
        ),
    ]
}

/// A link: its name, the operation it leads to, and that operation's parameters taken from
/// the response.
type Link = (&'static str, &'static str, Value);

/// The links of one response: (path, method, status) of the creating operation, and where it
/// leads.
type Links = (&'static str, &'static str, &'static str, Vec<Link>);

/// The operations a created resource can be followed to, by (path, method, status) of the
/// creating operation: (link name, target operation id, parameters).
fn links() -> Vec<Links> {
    let owner = json!({"owner": "$response.body#/email"});
    let identity = json!({"identity": "$response.body#/id"});
    let upstream = json!({"name": "$response.body#/name"});
    let policy = json!({"id": "$response.body#/id"});
    vec![
        (
            "/v1/owners",
            "post",
            "201",
            vec![
                ("GetOwner", "get_owner", owner.clone()),
                ("UpdateOwner", "update_owner", owner.clone()),
                ("OffboardOwner", "offboard_owner", owner.clone()),
                ("ReassignOwner", "reassign_owner", owner),
            ],
        ),
        (
            "/v1/identities",
            "post",
            "201",
            vec![
                ("GetIdentity", "get_identity", identity.clone()),
                ("UpdateIdentity", "update_identity", identity.clone()),
                ("SuspendIdentity", "suspend_identity", identity.clone()),
                ("RestoreIdentity", "restore_identity", identity.clone()),
                ("RevokeIdentity", "revoke_identity", identity.clone()),
                ("IssueCredential", "issue_credential", identity.clone()),
                ("ListCredentials", "list_credentials", identity),
            ],
        ),
        (
            "/v1/identities/{identity}/credentials",
            "post",
            "201",
            vec![(
                "RevokeCredential",
                "revoke_credential",
                json!({"id": "$response.body#/credential/id"}),
            )],
        ),
        (
            "/v1/upstreams",
            "post",
            "201",
            vec![
                ("GetUpstream", "get_upstream", upstream.clone()),
                ("UpdateUpstream", "update_upstream", upstream.clone()),
                ("SetUpstreamSecret", "set_upstream_secret", upstream.clone()),
                ("DeleteUpstream", "delete_upstream", upstream),
            ],
        ),
        (
            "/v1/policies",
            "post",
            "201",
            vec![
                ("GetPolicy", "get_policy", policy.clone()),
                ("DeletePolicy", "delete_policy", policy),
            ],
        ),
        (
            "/v1/leaks",
            "post",
            "201",
            vec![(
                "GetLeak",
                "get_leak",
                json!({"id": "$response.body#/report/id"}),
            )],
        ),
    ]
}

/// Adds the common error answers, the constraints and the links to `document`.
pub fn complete(mut document: Value) -> Value {
    if let Some(paths) = document.get_mut("paths").and_then(Value::as_object_mut) {
        for (path, item) in paths.iter_mut() {
            for method in METHODS {
                if let Some(operation) = item.get_mut(*method).and_then(Value::as_object_mut) {
                    common_responses(path, operation);
                }
            }
        }
    }
    for (path, name, schema) in parameter_schemas() {
        if let Some(item) = document.pointer_mut(&format!("/paths/{}", escape(path))) {
            for method in METHODS {
                let Some(parameters) = item
                    .get_mut(*method)
                    .and_then(|operation| operation.get_mut("parameters"))
                    .and_then(Value::as_array_mut)
                else {
                    continue;
                };
                for parameter in parameters.iter_mut().filter(|p| p["name"] == name) {
                    parameter["schema"] = schema.clone();
                }
            }
        }
    }
    for (component, property, schema) in property_schemas() {
        let pointer = format!("/components/schemas/{component}/properties/{property}");
        if let Some(slot) = document.pointer_mut(&pointer) {
            // Keep the description the type's doc comment gave; an optional field stays
            // nullable where the handler reads `null` as absent.
            merge(slot, schema);
        }
    }
    for (path, method, status, targets) in links() {
        let pointer = format!("/paths/{}/{method}/responses/{status}", escape(path));
        if let Some(response) = document
            .pointer_mut(&pointer)
            .and_then(Value::as_object_mut)
        {
            let mut links = Map::new();
            for (name, operation_id, parameters) in targets {
                links.insert(
                    name.into(),
                    json!({"operationId": operation_id, "parameters": parameters}),
                );
            }
            response.insert("links".into(), Value::Object(links));
        }
    }
    document
}

/// Adds the constraints of `schema` to the property `slot`, keeping its description and type.
/// A property that may be `null` stays nullable: the constraints apply to its values.
fn merge(slot: &mut Value, schema: Value) {
    let nullable = slot
        .get("type")
        .and_then(Value::as_array)
        .is_some_and(|types| types.iter().any(|t| t == "null"));
    let (Some(slot), Value::Object(schema)) = (slot.as_object_mut(), schema) else {
        return;
    };
    for (key, mut value) in schema {
        if key == "type" {
            continue;
        }
        if key == "enum"
            && nullable
            && let Some(values) = value.as_array_mut()
        {
            values.push(Value::Null);
        }
        slot.insert(key, value);
    }
}

/// A path as one JSON Pointer segment.
fn escape(path: &str) -> String {
    path.replace('~', "~0").replace('/', "~1")
}

/// The answers any operation can give besides its own: every `/v1` operation needs the
/// admin token (401) and reads the store (503 while it is unavailable); one with parameters
/// or a body can be sent a value it refuses (400, 422), and one with a body one that is too
/// large or not JSON (413, 415).
fn common_responses(path: &str, operation: &mut Map<String, Value>) {
    let has_query = operation
        .get("parameters")
        .and_then(Value::as_array)
        .is_some_and(|parameters| parameters.iter().any(|p| p["in"] == "query"));
    let has_path = path.contains('{');
    let has_body = operation.contains_key("requestBody");
    let Some(responses) = operation
        .get_mut("responses")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    let mut add = |status: &str, description: &str| {
        responses
            .entry(status.to_string())
            .or_insert_with(|| error_response(description));
    };
    if path.starts_with("/v1/") {
        add("401", "unauthorized: the admin token is missing or wrong");
        add(
            "503",
            "unavailable: the store cannot be reached; nothing was changed, retry later",
        );
    }
    if has_query || has_body {
        add(
            "400",
            "invalid_query, malformed_json, unknown_field, wrong_type, missing_field or invalid_body: the request cannot be read",
        );
        add("422", "invalid_field: a value is not acceptable");
    }
    // Listings filtered by an owner, agent or parent answer 404 when it does not exist.
    if has_path || ["/v1/identities", "/v1/approvals", "/v1/imported-identities"].contains(&path) {
        add("404", "the named resource does not exist");
    }
    if has_body {
        add("413", "body_too_large");
        add(
            "415",
            "unsupported_media_type: the body is not sent as JSON",
        );
    }
}
