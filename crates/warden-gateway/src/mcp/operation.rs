//! What one JSON-RPC message asks of an MCP server, in the terms policies decide on.
//!
//! Every method an agent may send is one of three things: part of the protocol's own
//! lifecycle (the handshake of 2025-11-25, `server/discover` of 2026-07-28, pings,
//! notifications, answers to the server's own requests), a list whose answer the gateway
//! filters, or an operation decided on an entity: a tool call on `Tool`, a read or a
//! subscription on `Resource`, a prompt on `Prompt`, a completion on the prompt or resource
//! it completes. Anything else is [`Operation::Ungoverned`] and is refused: a method the
//! gateway cannot name the entity of is a method no policy can have meant to allow.
//!
//! The tasks extension's methods (`tasks/get`, `tasks/result`, `tasks/cancel`) name a task
//! id; the gateway decides them like the tool call that created the task, which it looks up
//! by that id (see the server's task ledger). `tasks/list` is a list, filtered to the
//! caller's own tasks.

use serde_json::{Map, Value};

use super::McpError;
pub use warden_policy::uri_parts;

/// The largest number of resource URIs one `subscriptions/listen` may name.
pub const MAX_LISTEN_URIS: usize = 256;

/// A list whose answer is filtered to what the caller may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListKind {
    Tools,
    Resources,
    ResourceTemplates,
    Prompts,
    Tasks,
}

/// What a completion completes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Completed {
    /// `ref/prompt`, by name.
    Prompt(String),
    /// `ref/resource`, by URI or URI template.
    Resource(String),
}

/// A `tools/call`'s tool and arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    /// `params.name`.
    pub name: String,
    /// `params.arguments`, empty when absent.
    pub arguments: Map<String, Value>,
}

/// What a message asks.
#[derive(Debug, Clone, PartialEq)]
pub enum Operation {
    /// The protocol's own messages, which need no policy of their own.
    Lifecycle,
    /// A list; its answer is filtered.
    List(ListKind),
    /// `tools/call`.
    CallTool(ToolCall),
    /// `resources/read`.
    ReadResource { uri: String },
    /// `resources/subscribe` or `resources/unsubscribe`.
    SubscribeResource { uri: String },
    /// `subscriptions/listen` (2026-07-28): each resource URI it subscribes to is decided.
    Listen { uris: Vec<String> },
    /// `prompts/get`, with its arguments.
    GetPrompt {
        name: String,
        arguments: Map<String, Value>,
    },
    /// `completion/complete`.
    Complete(Completed),
    /// `tasks/get`, `tasks/result` or `tasks/cancel`: decided like the call that made it.
    Task { task_id: String },
    /// A method no policy can govern; refused.
    Ungoverned { method: String },
}

/// Methods that are the protocol's own: handshake, discovery, liveness, log level, and
/// every notification (the client's `initialized`, `cancelled`, `progress`, …).
fn is_lifecycle(method: &str) -> bool {
    matches!(
        method,
        "initialize" | "ping" | "server/discover" | "logging/setLevel"
    ) || method.starts_with("notifications/")
}

fn string_param(
    params: Option<&Map<String, Value>>,
    method: &str,
    key: &'static str,
) -> Result<String, McpError> {
    match params.and_then(|p| p.get(key)) {
        Some(Value::String(value)) if !value.is_empty() => Ok(value.clone()),
        _ => Err(McpError::MissingParam {
            method: method.to_owned(),
            param: key,
        }),
    }
}

fn object_param(
    params: Option<&Map<String, Value>>,
    method: &str,
    key: &'static str,
) -> Result<Map<String, Value>, McpError> {
    match params.and_then(|p| p.get(key)) {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(object)) => Ok(object.clone()),
        Some(_) => Err(McpError::BadParam {
            method: method.to_owned(),
            param: key,
            expected: "an object",
        }),
    }
}

/// What `method` with `params` asks. A message the server would answer (a request) and one
/// it would only act on (a notification) are classified alike: a notification can change
/// state as surely as a request.
pub fn classify(method: &str, params: Option<&Map<String, Value>>) -> Result<Operation, McpError> {
    let operation = match method {
        _ if is_lifecycle(method) => Operation::Lifecycle,
        "tools/list" => Operation::List(ListKind::Tools),
        "resources/list" => Operation::List(ListKind::Resources),
        "resources/templates/list" => Operation::List(ListKind::ResourceTemplates),
        "prompts/list" => Operation::List(ListKind::Prompts),
        "tasks/list" => Operation::List(ListKind::Tasks),
        "tools/call" => {
            let name = params
                .and_then(|p| p.get("name"))
                .and_then(Value::as_str)
                .ok_or(McpError::MissingToolName)?
                .to_owned();
            let arguments = match params.and_then(|p| p.get("arguments")) {
                None | Some(Value::Null) => Map::new(),
                Some(Value::Object(arguments)) => arguments.clone(),
                Some(_) => return Err(McpError::BadArguments),
            };
            Operation::CallTool(ToolCall { name, arguments })
        }
        "resources/read" => Operation::ReadResource {
            uri: string_param(params, method, "uri")?,
        },
        "resources/subscribe" | "resources/unsubscribe" => Operation::SubscribeResource {
            uri: string_param(params, method, "uri")?,
        },
        "subscriptions/listen" => Operation::Listen {
            uris: listened_uris(params)?,
        },
        "prompts/get" => Operation::GetPrompt {
            name: string_param(params, method, "name")?,
            arguments: object_param(params, method, "arguments")?,
        },
        "completion/complete" => Operation::Complete(completed(params)?),
        "tasks/get" | "tasks/result" | "tasks/cancel" => Operation::Task {
            task_id: string_param(params, method, "taskId")?,
        },
        other => Operation::Ungoverned {
            method: other.to_owned(),
        },
    };
    Ok(operation)
}

/// The resource URIs a `subscriptions/listen` names in `notifications.resourceSubscriptions`.
fn listened_uris(params: Option<&Map<String, Value>>) -> Result<Vec<String>, McpError> {
    let bad = |expected: &'static str| McpError::BadParam {
        method: "subscriptions/listen".to_owned(),
        param: "notifications.resourceSubscriptions",
        expected,
    };
    let listed = params
        .and_then(|p| p.get("notifications"))
        .and_then(|n| n.get("resourceSubscriptions"));
    let Some(listed) = listed else {
        return Ok(Vec::new());
    };
    let Value::Array(items) = listed else {
        return Err(bad("an array of URIs"));
    };
    if items.len() > MAX_LISTEN_URIS {
        return Err(bad("at most 256 URIs"));
    }
    items
        .iter()
        .map(|item| match item {
            Value::String(uri) if !uri.is_empty() => Ok(uri.clone()),
            _ => Err(bad("an array of URIs")),
        })
        .collect()
}

/// The prompt or resource a `completion/complete` names in `params.ref`.
fn completed(params: Option<&Map<String, Value>>) -> Result<Completed, McpError> {
    let bad = || McpError::BadParam {
        method: "completion/complete".to_owned(),
        param: "ref",
        expected: "{\"type\":\"ref/prompt\",\"name\":…} or {\"type\":\"ref/resource\",\"uri\":…}",
    };
    let reference = params
        .and_then(|p| p.get("ref"))
        .and_then(Value::as_object)
        .ok_or_else(bad)?;
    let text = |key: &str| {
        reference
            .get(key)
            .and_then(Value::as_str)
            .filter(|value| !value.is_empty())
            .map(str::to_owned)
    };
    match reference.get("type").and_then(Value::as_str) {
        Some("ref/prompt") => text("name").map(Completed::Prompt).ok_or_else(bad),
        Some("ref/resource") => text("uri").map(Completed::Resource).ok_or_else(bad),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn of(method: &str, params: Value) -> Result<Operation, McpError> {
        classify(method, params.as_object())
    }

    #[test]
    fn methods_map_to_operations() {
        let table: Vec<(&str, Value, Operation)> = vec![
            ("initialize", json!({}), Operation::Lifecycle),
            ("server/discover", json!({}), Operation::Lifecycle),
            ("notifications/initialized", json!({}), Operation::Lifecycle),
            ("tools/list", json!({}), Operation::List(ListKind::Tools)),
            (
                "resources/templates/list",
                json!({}),
                Operation::List(ListKind::ResourceTemplates),
            ),
            (
                "resources/read",
                json!({"uri": "file:///a.txt"}),
                Operation::ReadResource {
                    uri: "file:///a.txt".into(),
                },
            ),
            (
                "resources/unsubscribe",
                json!({"uri": "file:///a.txt"}),
                Operation::SubscribeResource {
                    uri: "file:///a.txt".into(),
                },
            ),
            (
                "subscriptions/listen",
                json!({"notifications": {"toolsListChanged": true, "resourceSubscriptions": ["file:///a", "https://x/y"]}}),
                Operation::Listen {
                    uris: vec!["file:///a".into(), "https://x/y".into()],
                },
            ),
            (
                "prompts/get",
                json!({"name": "greet", "arguments": {"who": "ada"}}),
                Operation::GetPrompt {
                    name: "greet".into(),
                    arguments: json!({"who": "ada"})
                        .as_object()
                        .cloned()
                        .unwrap_or_default(),
                },
            ),
            (
                "completion/complete",
                json!({"ref": {"type": "ref/prompt", "name": "greet"}, "argument": {"name": "who", "value": "a"}}),
                Operation::Complete(Completed::Prompt("greet".into())),
            ),
            (
                "completion/complete",
                json!({"ref": {"type": "ref/resource", "uri": "file:///{path}"}}),
                Operation::Complete(Completed::Resource("file:///{path}".into())),
            ),
            (
                "tasks/result",
                json!({"taskId": "t-1"}),
                Operation::Task {
                    task_id: "t-1".into(),
                },
            ),
            (
                "sampling/createMessage",
                json!({}),
                Operation::Ungoverned {
                    method: "sampling/createMessage".into(),
                },
            ),
        ];
        for (method, params, expected) in table {
            assert_eq!(
                of(method, params).unwrap_or_else(|e| panic!("{method}: {e}")),
                expected,
                "{method}"
            );
        }
    }

    #[test]
    fn operations_missing_their_entity_are_refused() {
        for (method, params) in [
            ("resources/read", json!({})),
            ("resources/read", json!({"uri": 7})),
            ("resources/subscribe", json!({"uri": ""})),
            ("prompts/get", json!({"arguments": {}})),
            ("prompts/get", json!({"name": "p", "arguments": [1]})),
            (
                "completion/complete",
                json!({"ref": {"type": "ref/tool", "name": "x"}}),
            ),
            ("completion/complete", json!({})),
            (
                "subscriptions/listen",
                json!({"notifications": {"resourceSubscriptions": "file:///a"}}),
            ),
            (
                "subscriptions/listen",
                json!({"notifications": {"resourceSubscriptions": [1]}}),
            ),
            ("tasks/get", json!({})),
            ("tools/call", json!({})),
        ] {
            assert!(of(method, params.clone()).is_err(), "{method} {params}");
        }
    }

    #[test]
    fn uri_parts_name_scheme_and_host() {
        for (uri, scheme, host) in [
            ("file:///etc/passwd", "file", ""),
            (
                "HTTPS://Api.Example.com:8443/x?y",
                "https",
                "api.example.com",
            ),
            ("https://user:pw@db.internal/x", "https", "db.internal"),
            ("postgres://[::1]:5432/db", "postgres", "::1"),
            ("urn:isbn:123", "urn", ""),
            ("https://{tenant}.example.com/", "https", ""),
            ("https://api.example.com/{id}", "https", "api.example.com"),
            ("no-scheme-here", "", ""),
            ("1http://x", "", ""),
        ] {
            assert_eq!(
                uri_parts(uri),
                (scheme.to_owned(), host.to_owned()),
                "{uri}"
            );
        }
    }

    proptest! {
        #[test]
        fn classify_never_panics(method in ".{0,40}", params in prop::option::of(any::<String>())) {
            let params = params.map(|p| json!({"uri": p.clone(), "name": p.clone(), "taskId": p, "ref": {"type": "ref/prompt"}}));
            let _ = classify(&method, params.as_ref().and_then(Value::as_object));
        }

        #[test]
        fn uri_parts_never_panic_and_stay_lowercase(uri in ".{0,80}") {
            let (scheme, host) = uri_parts(&uri);
            prop_assert_eq!(scheme.to_ascii_lowercase(), scheme);
            prop_assert_eq!(host.to_ascii_lowercase(), host);
        }
    }
}
