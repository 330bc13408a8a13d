//! The request side of an MCP exchange: a body parsed as one JSON-RPC message or a batch,
//! and the check that the `Mcp-Method`/`Mcp-Name` headers agree with it.

use serde_json::Value;

use super::McpError;
use super::operation::{Operation, ToolCall, classify};
use super::revision::PROTOCOL_VERSION_META;
use crate::strict_json;

/// What kind of JSON-RPC message this is.
#[derive(Debug, Clone, PartialEq)]
pub enum MessageKind {
    /// A request (has a method and an id).
    Request { method: String },
    /// A notification (a method, no id).
    Notification { method: String },
    /// A response (a result or an error, with an id), e.g. to a server's sampling request.
    Response,
}

/// One JSON-RPC message of a request body.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// The id, if any.
    pub id: Option<Value>,
    /// Request, notification or response.
    pub kind: MessageKind,
    /// What the message asks, as policies decide it.
    pub operation: Operation,
    /// `params.name` or `params.uri`, what `Mcp-Name` mirrors.
    pub name: Option<String>,
    /// `params._meta["io.modelcontextprotocol/protocolVersion"]`, which every request of
    /// the stateless revision carries.
    pub protocol_version: Option<String>,
}

impl Message {
    /// For `tools/call`, the tool and its arguments.
    pub fn tool_call(&self) -> Option<&ToolCall> {
        match &self.operation {
            Operation::CallTool(call) => Some(call),
            _ => None,
        }
    }

    /// Whether this is a request (the sender waits for an answer with its id).
    pub fn is_request(&self) -> bool {
        matches!(self.kind, MessageKind::Request { .. })
    }

    /// The method, for requests and notifications.
    pub fn method(&self) -> Option<&str> {
        match &self.kind {
            MessageKind::Request { method } | MessageKind::Notification { method } => Some(method),
            MessageKind::Response => None,
        }
    }
}

/// A parsed request body: one message, or a batch.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// The messages in order.
    pub messages: Vec<Message>,
    /// Whether the body was a JSON array.
    pub batch: bool,
}

impl Envelope {
    /// The tool calls in the body, each to be authorized.
    pub fn tool_calls(&self) -> impl Iterator<Item = &ToolCall> {
        self.messages.iter().filter_map(Message::tool_call)
    }
}

fn parse_message(value: Value) -> Result<Message, McpError> {
    let Value::Object(mut obj) = value else {
        return Err(McpError::NotJsonRpc("a message must be an object"));
    };
    if obj.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err(McpError::NotJsonRpc("\"jsonrpc\" must be \"2.0\""));
    }
    let id = obj.remove("id");
    if let Some(id) = &id
        && !(id.is_string() || id.is_number() || id.is_null())
    {
        return Err(McpError::NotJsonRpc("\"id\" must be a string or a number"));
    }
    let method = match obj.remove("method") {
        None => None,
        Some(Value::String(m)) => Some(m),
        Some(_) => return Err(McpError::NotJsonRpc("\"method\" must be a string")),
    };
    let params = obj.remove("params");
    let kind = match (method, &id) {
        (Some(method), Some(_)) => MessageKind::Request { method },
        (Some(method), None) => MessageKind::Notification { method },
        (None, Some(_)) if obj.contains_key("result") || obj.contains_key("error") => {
            MessageKind::Response
        }
        (None, _) => {
            return Err(McpError::NotJsonRpc(
                "a message needs a method, or an id with a result or an error",
            ));
        }
    };
    let params = match params {
        None => None,
        Some(Value::Object(p)) => Some(p),
        Some(Value::Array(_)) if kind == MessageKind::Response => None,
        Some(Value::Array(_)) => None,
        Some(_) => {
            return Err(McpError::NotJsonRpc(
                "\"params\" must be an object or an array",
            ));
        }
    };
    let name = params.as_ref().and_then(|p| {
        p.get("name")
            .or_else(|| p.get("uri"))
            .and_then(Value::as_str)
            .map(str::to_owned)
    });
    let protocol_version = params
        .as_ref()
        .and_then(|p| p.get("_meta"))
        .and_then(|meta| meta.get(PROTOCOL_VERSION_META))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let operation = match &kind {
        MessageKind::Request { method } | MessageKind::Notification { method } => {
            classify(method, params.as_ref())?
        }
        MessageKind::Response => Operation::Lifecycle,
    };
    Ok(Message {
        id,
        kind,
        operation,
        name,
        protocol_version,
    })
}

/// The ids of the requests in a body that did not parse as an envelope, read leniently
/// (only `id` beside a `method`), so that the error answering it still names them; and
/// whether the body was a batch. A body that is not JSON has none.
pub fn request_ids(body: &[u8]) -> (Vec<Value>, bool) {
    let id_of = |message: &Value| {
        let id = message.get("id")?;
        (message.get("method").is_some() && (id.is_string() || id.is_number())).then(|| id.clone())
    };
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Array(items)) => (items.iter().filter_map(id_of).collect(), true),
        Ok(message) => (id_of(&message).into_iter().collect(), false),
        Err(_) => (Vec::new(), false),
    }
}

/// Parses a request body (already limited in size by the caller).
pub fn parse_request(body: &[u8]) -> Result<Envelope, McpError> {
    let value = strict_json::from_slice(body).map_err(|e| McpError::Json(e.to_string()))?;
    match value {
        Value::Array(items) => {
            if items.is_empty() {
                return Err(McpError::EmptyBatch);
            }
            let messages = items
                .into_iter()
                .map(parse_message)
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Envelope {
                messages,
                batch: true,
            })
        }
        other => Ok(Envelope {
            messages: vec![parse_message(other)?],
            batch: false,
        }),
    }
}

/// Checks the `Mcp-Method` and `Mcp-Name` headers, when present, against the body. A header
/// names one message, so a batch cannot agree with one.
pub fn check_headers(
    envelope: &Envelope,
    mcp_method: Option<&str>,
    mcp_name: Option<&str>,
) -> Result<(), McpError> {
    if mcp_method.is_none() && mcp_name.is_none() {
        return Ok(());
    }
    let single = match envelope.messages.as_slice() {
        [one] if !envelope.batch => Some(one),
        _ => None,
    };
    if let Some(header_value) = mcp_method {
        let body_value = single.and_then(Message::method);
        if body_value != Some(header_value) {
            return Err(McpError::HeaderMismatch {
                header: "Mcp-Method",
                header_value: header_value.to_owned(),
                body_value: describe(envelope, body_value),
            });
        }
    }
    if let Some(header_value) = mcp_name {
        let body_value = single.and_then(|m| m.name.as_deref());
        if body_value != Some(header_value) {
            return Err(McpError::HeaderMismatch {
                header: "Mcp-Name",
                header_value: header_value.to_owned(),
                body_value: describe(envelope, body_value),
            });
        }
    }
    Ok(())
}

fn describe(envelope: &Envelope, value: Option<&str>) -> String {
    match value {
        Some(v) => v.to_owned(),
        None if envelope.batch => "a batch".to_owned(),
        None => "nothing".to_owned(),
    }
}
