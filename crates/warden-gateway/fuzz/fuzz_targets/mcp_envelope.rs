//! Everything the gateway reads of an MCP exchange, on arbitrary bytes: a request body
//! parsed as JSON-RPC and classified, its revision read and checked against headers made
//! from the same bytes, the ids a refusal would answer, and the same bytes as an answer
//! filtered as JSON and as an event stream, with answer headers rewritten. None may panic,
//! and a filtered answer must still be JSON when the input was.
#![no_main]

use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use warden_gateway::mcp::answer::{AllowIf, Listed};
use warden_gateway::mcp::{self, Revision};

fn allow(entry: Listed<'_>) -> bool {
    match entry {
        Listed::Tool { name, .. } => name.len() % 2 == 0,
        Listed::Resource(uri) | Listed::ResourceTemplate(uri) => !uri.contains("secret"),
        Listed::Prompt(name) | Listed::Task(name) => !name.is_empty(),
    }
}

fuzz_target!(|data: &[u8]| {
    let policy = AllowIf(allow as fn(Listed<'_>) -> bool);
    let text = String::from_utf8_lossy(data);
    let header = text.lines().next().filter(|line| line.len() < 64);

    if let Ok(envelope) = mcp::parse_request(data) {
        if let Ok(revision) = Revision::of_request(header, &envelope) {
            let _ = revision.check(&envelope, header, header);
            for message in &envelope.messages {
                if let Some(method) = message.method() {
                    let _ = revision.removed(method);
                }
            }
        }
        let _ = mcp::check_headers(&envelope, header, header);
    }
    let _ = mcp::envelope::request_ids(data);

    if let Ok(filtered) = mcp::filter_answer_json(data, &policy)
        && serde_json::from_slice::<serde_json::Value>(data).is_ok()
        && !filtered.is_empty()
    {
        assert!(serde_json::from_slice::<serde_json::Value>(&filtered).is_ok());
    }
    let _ = mcp::filter_answer_sse(data, &policy);

    if let Ok(value) = HeaderValue::from_bytes(data) {
        let mut headers = HeaderMap::new();
        headers.insert(http::header::LOCATION, value.clone());
        headers.insert("link", value);
        let upstream = warden_gateway::UpstreamAddress {
            scheme: "http",
            authority: "10.0.0.7:9000",
            path_prefix: "/mcp",
        };
        let public = warden_gateway::PublicBase {
            gateway_url: "https://gw.example",
            name: "docs",
        };
        warden_gateway::rewrite_answer_headers(&mut headers, &upstream, public);
        for (_, value) in &headers {
            let seen = String::from_utf8_lossy(value.as_bytes()).to_ascii_lowercase();
            assert!(!seen.contains("http://10.0.0.7:9000"));
        }
    }
});
