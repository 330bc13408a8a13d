use super::*;
use crate::mcp::answer::AllowIf;
use proptest::prelude::*;
use serde_json::Value;

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
            .tool_call()
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
    let call =
        parse(r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"create_issue"}}"#)
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
    let read =
        parse(r#"{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"file:///a"}}"#)
            .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        check_headers(&read, Some("resources/read"), Some("file:///a")),
        Ok(())
    );
    let list = parse(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(check_headers(&list, None, Some("x")).is_err());
    let batch = parse(r#"[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a"}}]"#)
        .unwrap_or_else(|e| panic!("{e}"));
    let e = check_headers(&batch, Some("tools/call"), None)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(e.contains("a batch"), "{e}");
}

fn allow_entry(entry: Listed<'_>) -> bool {
    match entry {
        Listed::Tool { name, .. } => name != "delete_repo",
        Listed::Resource(uri) | Listed::ResourceTemplate(uri) => !uri.contains("secret"),
        Listed::Prompt(name) | Listed::Task(name) => !name.starts_with("hidden"),
    }
}

const ALLOW: AllowIf<fn(Listed<'_>) -> bool> = AllowIf(allow_entry);

const LIST: &str = r#"{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"create_issue","inputSchema":{}},{"name":"delete_repo"},{"title":"nameless"}],"nextCursor":"c"}}"#;

#[test]
fn filters_json_answers() {
    let out = filter_answer_json(LIST.as_bytes(), &ALLOW).unwrap_or_else(|e| panic!("{e}"));
    let v: Value = serde_json::from_slice(&out).unwrap_or_else(|e| panic!("{e}"));
    insta::assert_json_snapshot!(v);
    let batch = format!("[{LIST},{{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{{}}}}]");
    let out = filter_answer_json(batch.as_bytes(), &ALLOW).unwrap_or_else(|e| panic!("{e}"));
    assert!(!String::from_utf8_lossy(&out).contains("delete_repo"));
    assert!(filter_answer_json(b"nope", &ALLOW).is_err());
}

#[test]
fn filters_event_streams_across_chunk_boundaries() {
    let stream = format!(
        ": keepalive\r\n\r\nid: 7\nevent: message\ndata: {LIST}\n\ndata:\n\nid: 8\ndata: {{\"jsonrpc\":\"2.0\",\ndata: \"method\":\"notifications/progress\"}}\n\n"
    );
    let whole = filter_answer_sse(stream.as_bytes(), &ALLOW).unwrap_or_else(|e| panic!("{e}"));
    let text = String::from_utf8(whole.clone()).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        !text.contains("delete_repo") && text.contains("create_issue"),
        "{text}"
    );
    assert!(text.contains("id: 7\nevent: message\ndata: {"), "{text}");
    insta::assert_snapshot!(text);
    // Byte by byte gives the same output as all at once.
    let mut filter = SseFilter::new(&ALLOW);
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
    assert!(filter_answer_sse(b"data: not json\n\n", &ALLOW).is_err());
}

#[test]
fn lone_carriage_returns_end_lines_and_events_as_clients_read_them() {
    // A client splits `\r`-only streams into lines and events; a filter that split only
    // at `\n` would see one event with no `data:` line and pass the hidden tool on.
    let stream = format!("event: message\rdata: {LIST}\r\rdata: {LIST}\r\n\r\n");
    for chunked in [false, true] {
        let mut filter = SseFilter::new(&ALLOW);
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
    assert!(filter_answer_json(two_lists.as_bytes(), &ALLOW).is_err());
    // Readable to a lenient parser, so it must be refused, never passed as "not JSON".
    assert!(matches!(
        filter_answer_json(two_lists.as_bytes(), &ALLOW),
        Err(McpError::Ambiguous(_))
    ));
    assert!(matches!(
        filter_answer_json(b"nope", &ALLOW),
        Err(McpError::Json(_))
    ));
    let event = format!("data: {two_lists}\n\n");
    assert!(filter_answer_sse(event.as_bytes(), &ALLOW).is_err());
    let call = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","name":"b"}}"#;
    assert!(matches!(
        parse_request(call.as_bytes()),
        Err(McpError::Json(_))
    ));
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = parse_request(&body);
        let _ = filter_answer_json(&body, &ALLOW);
        let _ = filter_answer_sse(&body, &ALLOW);
    }

    #[test]
    fn json_like_input_never_panics(body in r#"[\[\]{}":, a-z0-9.\n]{0,80}"#) {
        if let Ok(env) = parse_request(body.as_bytes()) {
            let _ = check_headers(&env, Some("tools/call"), Some("x"));
        }
        let _ = filter_answer_sse(format!("data: {body}\n\n").as_bytes(), &ALLOW);
    }
}
