//! The MCP (streamable HTTP) JSON-RPC envelope: what the gateway reads of a request to
//! authorize it, the check that `Mcp-Method`/`Mcp-Name` headers agree with the body, and
//! the filtering of `tools/list` answers to the tools an agent may call.
//!
//! The gateway reads only the envelope; it does not terminate MCP sessions. Every function
//! takes bytes and returns a value or an [`McpError`]; none panics on any input, which is
//! what a fuzzer checks. `tools/list` answers are filtered wherever a response carries
//! `result.tools` as an array, whatever request it answers: over-filtering an unusual
//! answer is harmless, missing a real one is not. A tool entry without a string `name` is
//! dropped for the same reason.

use serde_json::{Map, Value};

use crate::strict_json;

/// The largest single SSE event the filter buffers, in bytes.
pub const MAX_SSE_EVENT: usize = 4 * 1024 * 1024;

/// The method whose calls are authorized per tool.
pub const TOOLS_CALL: &str = "tools/call";

/// Why an MCP message was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum McpError {
    #[error("the body is not valid JSON: {0}")]
    Json(String),
    #[error("the body is not a JSON-RPC 2.0 message: {0}")]
    NotJsonRpc(&'static str),
    #[error("the batch is empty")]
    EmptyBatch,
    #[error("tools/call needs params.name as a string")]
    MissingToolName,
    #[error("tools/call params.arguments must be an object")]
    BadArguments,
    #[error("the {header} header says {header_value:?} but the body says {body_value:?}")]
    HeaderMismatch {
        header: &'static str,
        header_value: String,
        body_value: String,
    },
    #[error("an event in the event stream is larger than {MAX_SSE_EVENT} bytes")]
    EventTooLarge,
}

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

/// A `tools/call`'s tool and arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    /// `params.name`.
    pub name: String,
    /// `params.arguments`, empty when absent.
    pub arguments: Map<String, Value>,
}

/// One JSON-RPC message of a request body.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// The id, if any.
    pub id: Option<Value>,
    /// Request, notification or response.
    pub kind: MessageKind,
    /// For `tools/call`, the tool and its arguments.
    pub tool_call: Option<ToolCall>,
    /// `params.name` or `params.uri`, what `Mcp-Name` mirrors.
    pub name: Option<String>,
}

impl Message {
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
        self.messages.iter().filter_map(|m| m.tool_call.as_ref())
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
    let tool_call = if matches!(&kind, MessageKind::Request { method } | MessageKind::Notification { method } if method == TOOLS_CALL)
    {
        let mut params = params.ok_or(McpError::MissingToolName)?;
        let Some(Value::String(tool)) = params.remove("name") else {
            return Err(McpError::MissingToolName);
        };
        let arguments = match params.remove("arguments") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(a)) => a,
            Some(_) => return Err(McpError::BadArguments),
        };
        Some(ToolCall {
            name: tool,
            arguments,
        })
    } else {
        None
    };
    Ok(Message {
        id,
        kind,
        tool_call,
        name,
    })
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

/// Removes disallowed tools from every `result.tools` array in one JSON-RPC message or
/// batch. Returns whether anything was removed.
fn filter_value(value: &mut Value, allow: &dyn Fn(&str) -> bool) -> bool {
    match value {
        Value::Array(items) => items
            .iter_mut()
            .fold(false, |acc, v| filter_value(v, allow) | acc),
        Value::Object(obj) => {
            let Some(Value::Array(tools)) = obj
                .get_mut("result")
                .and_then(Value::as_object_mut)
                .and_then(|r| r.get_mut("tools"))
            else {
                return false;
            };
            let before = tools.len();
            tools.retain(|t| t.get("name").and_then(Value::as_str).is_some_and(allow));
            tools.len() != before
        }
        _ => false,
    }
}

/// Filters a JSON `tools/list` answer (a message or a batch) to the tools `allow` accepts.
/// A body with nothing to remove is returned byte for byte, so numbers and formatting the
/// gateway has no business with are never re-encoded.
pub fn filter_tools_list_json(
    body: &[u8],
    allow: &dyn Fn(&str) -> bool,
) -> Result<Vec<u8>, McpError> {
    filter_json(body, allow).map(|filtered| filtered.unwrap_or_else(|| body.to_vec()))
}

/// The filtered body, or `None` if nothing was removed.
fn filter_json(body: &[u8], allow: &dyn Fn(&str) -> bool) -> Result<Option<Vec<u8>>, McpError> {
    // Strict, so that an answer with two `tools` arrays is refused rather than filtered in
    // one and read in the other by the client.
    let mut value = strict_json::from_slice(body).map_err(|e| McpError::Json(e.to_string()))?;
    if !filter_value(&mut value, allow) {
        return Ok(None);
    }
    serde_json::to_vec(&value)
        .map(Some)
        .map_err(|e| McpError::Json(e.to_string()))
}

/// Filters a `text/event-stream` answer incrementally: feed it chunks as they arrive and
/// forward what it returns. Each event's `data:` lines are joined and parsed as a JSON-RPC
/// message, filtered, and written back as one `data:` line; other fields (`id:`, `event:`,
/// `retry:`, comments) are kept as they were. An event whose data is empty passes as it
/// is; an event whose data is not JSON is refused, since it cannot be checked.
pub struct SseFilter<F: Fn(&str) -> bool> {
    allow: F,
    buffer: Vec<u8>,
}

impl<F: Fn(&str) -> bool> std::fmt::Debug for SseFilter<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SseFilter")
            .field("buffered", &self.buffer.len())
            .finish()
    }
}

impl<F: Fn(&str) -> bool> SseFilter<F> {
    /// A filter keeping the tools `allow` accepts.
    pub fn new(allow: F) -> Self {
        Self {
            allow,
            buffer: Vec::new(),
        }
    }

    /// Takes the next chunk of the stream; returns the filtered complete events in it.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<u8>, McpError> {
        self.buffer.extend_from_slice(chunk);
        let mut out = Vec::new();
        while let Some((end, next)) = event_end(&self.buffer) {
            let event: Vec<u8> = self.buffer.drain(..next).collect();
            if let Some(event) = event.get(..end) {
                self.filter_event(event, &mut out)?;
            }
        }
        if self.buffer.len() > MAX_SSE_EVENT {
            return Err(McpError::EventTooLarge);
        }
        Ok(out)
    }

    /// Ends the stream; a trailing incomplete event is filtered as if it were complete.
    pub fn finish(mut self) -> Result<Vec<u8>, McpError> {
        let mut out = Vec::new();
        if !self.buffer.is_empty() {
            let rest = std::mem::take(&mut self.buffer);
            self.filter_event(&rest, &mut out)?;
        }
        Ok(out)
    }

    fn filter_event(&self, event: &[u8], out: &mut Vec<u8>) -> Result<(), McpError> {
        let text = std::str::from_utf8(event)
            .map_err(|_| McpError::Json("the event stream is not UTF-8".into()))?;
        let mut data: Vec<&str> = Vec::new();
        let mut fields = Vec::new();
        for line in event_lines(text) {
            // A field named exactly `data` (RFC: the name ends at the first colon).
            let (name, value) = line.split_once(':').unwrap_or((line, ""));
            if name == "data" {
                data.push(value.strip_prefix(' ').unwrap_or(value));
            } else if !line.is_empty() {
                fields.push(line);
            }
        }
        for field in fields {
            out.extend_from_slice(field.as_bytes());
            out.push(b'\n');
        }
        let joined = data.join("\n");
        let filtered = if joined.trim().is_empty() {
            None
        } else {
            filter_json(joined.as_bytes(), &self.allow)?
        };
        match filtered {
            Some(filtered) => {
                out.extend_from_slice(b"data: ");
                out.extend_from_slice(&filtered);
                out.push(b'\n');
            }
            None => {
                for line in data {
                    out.extend_from_slice(b"data: ");
                    out.extend_from_slice(line.as_bytes());
                    out.push(b'\n');
                }
            }
        }
        out.push(b'\n');
        Ok(())
    }
}

/// Whether a line ends at `buf[i]`: `\n`, `\r\n` or a lone `\r` (all three are line ends
/// in an event stream, and a client splits on each, so the filter must too).
enum LineEnd {
    No,
    Yes(usize),
    /// A `\r` at the end of what has arrived: the next byte decides.
    Undecided,
}

fn line_end_at(buf: &[u8], i: usize) -> LineEnd {
    match buf.get(i) {
        Some(b'\n') => LineEnd::Yes(1),
        Some(b'\r') => match buf.get(i + 1) {
            Some(b'\n') => LineEnd::Yes(2),
            Some(_) => LineEnd::Yes(1),
            None => LineEnd::Undecided,
        },
        _ => LineEnd::No,
    }
}

/// Finds the end of the first complete event: returns (end of its content, start of the
/// next event). Events end with a blank line, whatever the line ends.
fn event_end(buf: &[u8]) -> Option<(usize, usize)> {
    let mut i = 0;
    while i < buf.len() {
        match line_end_at(buf, i) {
            LineEnd::No => i += 1,
            LineEnd::Undecided => return None,
            LineEnd::Yes(len) => {
                let next_line = i + len;
                match line_end_at(buf, next_line) {
                    LineEnd::Yes(blank) => return Some((i, next_line + blank)),
                    LineEnd::Undecided => return None,
                    LineEnd::No if next_line >= buf.len() => return None,
                    LineEnd::No => i = next_line,
                }
            }
        }
    }
    None
}

/// The lines of an event, split at `\n`, `\r\n` and lone `\r`.
fn event_lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let current = rest?;
        match current.find(['\r', '\n']) {
            None => {
                rest = None;
                Some(current)
            }
            Some(at) => {
                let after = if current[at..].starts_with("\r\n") {
                    at + 2
                } else {
                    at + 1
                };
                rest = current.get(after..);
                current.get(..at)
            }
        }
    })
}

/// Filters a complete `text/event-stream` body at once.
pub fn filter_tools_list_sse(
    body: &[u8],
    allow: &dyn Fn(&str) -> bool,
) -> Result<Vec<u8>, McpError> {
    let mut filter = SseFilter::new(allow);
    let mut out = filter.push(body)?;
    out.extend(filter.finish()?);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(s: &str) -> Result<Envelope, McpError> {
        parse_request(s.as_bytes())
    }

    #[test]
    fn tool_calls_and_other_messages() {
        let e = parse(r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"create_issue","arguments":{"repo":"acme/web"}}}"#)
            .unwrap_or_else(|e| panic!("{e}"));
        let call = e.tool_calls().next().unwrap_or_else(|| panic!("no call"));
        assert_eq!(call.name, "create_issue");
        assert_eq!(call.arguments.get("repo"), Some(&Value::from("acme/web")));
        assert!(!e.batch);

        let e = parse(r#"[{"jsonrpc":"2.0","method":"notifications/initialized"},{"jsonrpc":"2.0","id":"a","result":{}},{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"x"}}]"#)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(e.batch);
        assert_eq!(
            e.messages[0].kind,
            MessageKind::Notification {
                method: "notifications/initialized".into()
            }
        );
        assert_eq!(e.messages[1].kind, MessageKind::Response);
        assert_eq!(
            e.tool_calls().map(|c| c.name.as_str()).collect::<Vec<_>>(),
            ["x"]
        );
        assert!(
            e.messages[2]
                .tool_call
                .as_ref()
                .is_some_and(|c| c.arguments.is_empty())
        );
    }

    #[test]
    fn malformed_messages_are_refused() {
        for (body, want) in [
            ("{", "not valid JSON"),
            ("[]", "empty"),
            ("3", "object"),
            (r#"{"id":1,"method":"x"}"#, "2.0"),
            (r#"{"jsonrpc":"1.0","id":1,"method":"x"}"#, "2.0"),
            (r#"{"jsonrpc":"2.0","id":{},"method":"x"}"#, "id"),
            (r#"{"jsonrpc":"2.0","id":1,"method":7}"#, "method"),
            (r#"{"jsonrpc":"2.0","id":1}"#, "needs a method"),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"x","params":"s"}"#,
                "params",
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/call"}"#,
                "params.name",
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":3}}"#,
                "params.name",
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","arguments":[1]}}"#,
                "arguments",
            ),
            (r#"[{"jsonrpc":"2.0","id":1,"method":"ok"}, 5]"#, "object"),
        ] {
            let e = parse(body).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(e.contains(want), "{body}: {e}");
        }
    }

    #[test]
    fn headers_must_agree_with_the_body() {
        let call = parse(
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"create_issue"}}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(check_headers(&call, None, None), Ok(()));
        assert_eq!(
            check_headers(&call, Some("tools/call"), Some("create_issue")),
            Ok(())
        );
        assert!(matches!(
            check_headers(&call, Some("tools/list"), None),
            Err(McpError::HeaderMismatch {
                header: "Mcp-Method",
                ..
            })
        ));
        assert!(matches!(
            check_headers(&call, Some("tools/call"), Some("list_issues")),
            Err(McpError::HeaderMismatch {
                header: "Mcp-Name",
                ..
            })
        ));
        let read = parse(
            r#"{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"file:///a"}}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            check_headers(&read, Some("resources/read"), Some("file:///a")),
            Ok(())
        );
        let list = parse(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(check_headers(&list, None, Some("x")).is_err());
        let batch =
            parse(r#"[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a"}}]"#)
                .unwrap_or_else(|e| panic!("{e}"));
        let e = check_headers(&batch, Some("tools/call"), None)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("a batch"), "{e}");
    }

    fn allow(name: &str) -> bool {
        name != "delete_repo"
    }

    const LIST: &str = r#"{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"create_issue","inputSchema":{}},{"name":"delete_repo"},{"title":"nameless"}],"nextCursor":"c"}}"#;

    #[test]
    fn filters_json_answers() {
        let out = filter_tools_list_json(LIST.as_bytes(), &allow).unwrap_or_else(|e| panic!("{e}"));
        let v: Value = serde_json::from_slice(&out).unwrap_or_else(|e| panic!("{e}"));
        insta::assert_json_snapshot!(v);
        let batch = format!("[{LIST},{{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{{}}}}]");
        let out =
            filter_tools_list_json(batch.as_bytes(), &allow).unwrap_or_else(|e| panic!("{e}"));
        assert!(!String::from_utf8_lossy(&out).contains("delete_repo"));
        assert!(filter_tools_list_json(b"nope", &allow).is_err());
    }

    #[test]
    fn filters_event_streams_across_chunk_boundaries() {
        let stream = format!(
            ": keepalive\r\n\r\nid: 7\nevent: message\ndata: {LIST}\n\ndata:\n\nid: 8\ndata: {{\"jsonrpc\":\"2.0\",\ndata: \"method\":\"notifications/progress\"}}\n\n"
        );
        let whole =
            filter_tools_list_sse(stream.as_bytes(), &allow).unwrap_or_else(|e| panic!("{e}"));
        let text = String::from_utf8(whole.clone()).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            !text.contains("delete_repo") && text.contains("create_issue"),
            "{text}"
        );
        assert!(text.contains("id: 7\nevent: message\ndata: {"), "{text}");
        insta::assert_snapshot!(text);
        // Byte by byte gives the same output as all at once.
        let mut filter = SseFilter::new(&allow);
        let mut pieces = Vec::new();
        for b in stream.as_bytes() {
            pieces.extend(
                filter
                    .push(std::slice::from_ref(b))
                    .unwrap_or_else(|e| panic!("{e}")),
            );
        }
        pieces.extend(filter.finish().unwrap_or_else(|e| panic!("{e}")));
        assert_eq!(pieces, whole);
        assert!(filter_tools_list_sse(b"data: not json\n\n", &allow).is_err());
    }

    #[test]
    fn lone_carriage_returns_end_lines_and_events_as_clients_read_them() {
        // A client splits `\r`-only streams into lines and events; a filter that split only
        // at `\n` would see one event with no `data:` line and pass the hidden tool on.
        let stream = format!("event: message\rdata: {LIST}\r\rdata: {LIST}\r\n\r\n");
        for chunked in [false, true] {
            let mut filter = SseFilter::new(&allow);
            let mut out = Vec::new();
            if chunked {
                for b in stream.as_bytes() {
                    out.extend(
                        filter
                            .push(std::slice::from_ref(b))
                            .unwrap_or_else(|e| panic!("{e}")),
                    );
                }
            } else {
                out.extend(
                    filter
                        .push(stream.as_bytes())
                        .unwrap_or_else(|e| panic!("{e}")),
                );
            }
            out.extend(filter.finish().unwrap_or_else(|e| panic!("{e}")));
            let text = String::from_utf8(out).unwrap_or_else(|e| panic!("{e}"));
            assert!(!text.contains("delete_repo"), "{text}");
            assert_eq!(text.matches("create_issue").count(), 2, "{text}");
        }
    }

    #[test]
    fn answers_with_a_repeated_key_are_refused_not_filtered() {
        let two_lists =
            r#"{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"delete_repo"}],"tools":[]}}"#;
        assert!(filter_tools_list_json(two_lists.as_bytes(), &allow).is_err());
        let event = format!("data: {two_lists}\n\n");
        assert!(filter_tools_list_sse(event.as_bytes(), &allow).is_err());
        let call =
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","name":"b"}}"#;
        assert!(matches!(
            parse_request(call.as_bytes()),
            Err(McpError::Json(_))
        ));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = parse_request(&body);
            let _ = filter_tools_list_json(&body, &allow);
            let _ = filter_tools_list_sse(&body, &allow);
        }

        #[test]
        fn json_like_input_never_panics(body in r#"[\[\]{}":, a-z0-9.\n]{0,80}"#) {
            if let Ok(env) = parse_request(body.as_bytes()) {
                let _ = check_headers(&env, Some("tools/call"), Some("x"));
            }
            let _ = filter_tools_list_sse(format!("data: {body}\n\n").as_bytes(), &allow);
        }
    }
}
