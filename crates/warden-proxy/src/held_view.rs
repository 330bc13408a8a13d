//! What an approver is shown of a held request: the method, path, query, content type and
//! body exactly as the agent sent them (and, for MCP, each tool call's name and arguments),
//! with credentials redacted, and how that view is sealed at rest.
//!
//! Headers are never kept, so neither the agent's `Authorization` nor the upstream's
//! secret (injected only after the hold) can appear. What the agent put in the query or
//! body is shown whole, except values that are credentials: query, form and JSON fields
//! with a credential's name, and any occurrence of the agent's own token or the upstream's
//! secret. Each redaction is listed, so the approver knows the view is not byte-exact.

use base64::Engine as _;
use serde_json::Value;
use warden_core::{BodyEncoding, HeldBody, HeldRequest, HeldToolCall};

/// What replaces a credential in the view.
pub const REDACTED: &str = "[redacted]";

/// The associated data that binds a sealed held request to its approval, so a sealed
/// request copied onto another approval's row does not open.
pub fn associated_data(approval_id: &str) -> Vec<u8> {
    warden_crypto::seal::associated_data(&format!("approval-request:{approval_id}"), 1)
}

/// The raw facts of a held request.
pub struct RawRequest<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub content_type: Option<&'a str>,
    pub body: &'a [u8],
    /// For MCP, each tool call's name and arguments.
    pub tool_calls: Vec<(String, Value)>,
}

/// Whether a field name says its value is a credential. Compared without case, `-` or `_`;
/// exact names plus a few suffixes, so `max_tokens` stays visible but `csrf_token` does not.
pub fn is_credential_name(name: &str) -> bool {
    const EXACT: &[&str] = &[
        "auth",
        "authorization",
        "bearer",
        "cookie",
        "credential",
        "credentials",
        "passwd",
        "pwd",
        "sessionid",
        "signature",
        "sig",
        "key",
    ];
    const SUFFIXES: &[&str] = &["password", "secret", "token", "apikey", "privatekey"];
    let normalized: String = name
        .chars()
        .filter(|c| *c != '-' && *c != '_')
        .flat_map(char::to_lowercase)
        .collect();
    EXACT.contains(&normalized.as_str())
        || SUFFIXES.iter().any(|suffix| normalized.ends_with(suffix))
}

/// Replaces every occurrence of each of `hidden` in `bytes`; returns whether any was found.
fn replace_hidden(bytes: &mut Vec<u8>, hidden: &[&str]) -> bool {
    let mut found = false;
    for secret in hidden.iter().map(|s| s.as_bytes()).filter(|s| s.len() >= 8) {
        let mut out = Vec::with_capacity(bytes.len());
        let mut rest = bytes.as_slice();
        while let Some(at) = rest.windows(secret.len()).position(|w| w == secret) {
            found = true;
            out.extend_from_slice(&rest[..at]);
            out.extend_from_slice(REDACTED.as_bytes());
            rest = &rest[at + secret.len()..];
        }
        out.extend_from_slice(rest);
        *bytes = out;
    }
    found
}

/// `a=1&token=x` with credential values redacted; names redacted are added to `redacted`
/// as `PREFIX:NAME`.
fn redact_pairs(text: &str, prefix: &str, redacted: &mut Vec<String>) -> String {
    text.split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if is_credential_name(name) => {
                redacted.push(format!("{prefix}:{name}"));
                format!("{name}={REDACTED}")
            }
            _ => pair.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Redacts credential-named members anywhere in `value`; each as `PREFIX:/json/pointer`.
fn redact_json(value: &mut Value, pointer: &str, prefix: &str, redacted: &mut Vec<String>) {
    match value {
        Value::Object(members) => {
            for (name, member) in members.iter_mut() {
                let here = format!("{pointer}/{}", name.replace('~', "~0").replace('/', "~1"));
                if is_credential_name(name) && !member.is_null() {
                    *member = Value::String(REDACTED.to_string());
                    redacted.push(format!("{prefix}:{here}"));
                } else {
                    redact_json(member, &here, prefix, redacted);
                }
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter_mut().enumerate() {
                redact_json(item, &format!("{pointer}/{index}"), prefix, redacted);
            }
        }
        _ => {}
    }
}

fn media_type(content_type: Option<&str>) -> String {
    content_type
        .and_then(|value| value.split(';').next())
        .map(|media| media.trim().to_ascii_lowercase())
        .unwrap_or_default()
}

/// The view of `raw` an approver is shown; `hidden` are secrets that must not appear
/// wherever the agent put them (its own token, the upstream's secret).
pub fn held_request(raw: RawRequest<'_>, hidden: &[&str]) -> HeldRequest {
    let mut redacted = Vec::new();
    let query = raw.query.map(|query| {
        let mut bytes = query.as_bytes().to_vec();
        if replace_hidden(&mut bytes, hidden) {
            redacted.push("query:token".to_string());
        }
        redact_pairs(&String::from_utf8_lossy(&bytes), "query", &mut redacted)
    });

    let size = raw.body.len() as u64;
    let mut bytes = raw.body.to_vec();
    if replace_hidden(&mut bytes, hidden) {
        redacted.push("body:token".to_string());
    }
    let body = match String::from_utf8(bytes) {
        Ok(text) => {
            let media = media_type(raw.content_type);
            let content = if media == "application/x-www-form-urlencoded" {
                redact_pairs(&text, "body", &mut redacted)
            } else {
                match serde_json::from_str::<Value>(&text) {
                    Ok(mut value) if value.is_object() || value.is_array() => {
                        let before = redacted.len();
                        redact_json(&mut value, "", "body", &mut redacted);
                        // Untouched JSON is shown byte for byte; redacted JSON is written
                        // out again, which is the only way to take a value out of it.
                        if redacted.len() == before {
                            text
                        } else {
                            serde_json::to_string(&value).unwrap_or(text)
                        }
                    }
                    _ => text,
                }
            };
            HeldBody {
                size,
                encoding: BodyEncoding::Text,
                content,
            }
        }
        Err(not_text) => HeldBody {
            size,
            encoding: BodyEncoding::Base64,
            content: base64::engine::general_purpose::STANDARD.encode(not_text.into_bytes()),
        },
    };

    let tool_calls = raw
        .tool_calls
        .into_iter()
        .map(|(name, mut arguments)| {
            redact_json(&mut arguments, "", &format!("tool:{name}"), &mut redacted);
            HeldToolCall { name, arguments }
        })
        .collect();

    HeldRequest {
        method: raw.method.to_string(),
        path: raw.path.to_string(),
        query,
        content_type: raw.content_type.map(str::to_string),
        body,
        tool_calls,
        redacted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw<'a>(query: Option<&'a str>, content_type: &'a str, body: &'a [u8]) -> RawRequest<'a> {
        RawRequest {
            method: "POST",
            path: "/transfers",
            query,
            content_type: Some(content_type),
            body,
            tool_calls: Vec::new(),
        }
    }

    #[test]
    fn the_body_and_query_are_shown_exactly_when_nothing_is_a_credential() {
        let body = br#"{"amount": 999999,  "to": "acct-7", "max_tokens": 5}"#;
        let view = held_request(raw(Some("dry_run=0"), "application/json", body), &[]);
        assert_eq!(view.query.as_deref(), Some("dry_run=0"));
        assert_eq!(view.body.content.as_bytes(), body);
        assert_eq!(view.body.size, body.len() as u64);
        assert_eq!(view.body.encoding, BodyEncoding::Text);
        assert!(view.redacted.is_empty());
    }

    #[test]
    fn credentials_are_redacted_wherever_they_are_and_the_redactions_listed() {
        let token = "eyJhbGciOiJFZERTQSJ9.agent-token";
        let body =
            format!(r#"{{"amount": 5, "auth": {{"password": "hunter22"}}, "note": "{token}"}}"#);
        let view = held_request(
            raw(
                Some("api_key=k123&x=1"),
                "application/json",
                body.as_bytes(),
            ),
            &[token],
        );
        assert_eq!(view.query.as_deref(), Some("api_key=[redacted]&x=1"));
        assert!(!view.body.content.contains("hunter22"));
        assert!(!view.body.content.contains(token));
        assert!(view.body.content.contains("\"amount\":5"));
        assert!(view.redacted.contains(&"query:api_key".to_string()));
        assert!(view.redacted.contains(&"body:token".to_string()));
        assert!(view.redacted.contains(&"body:/auth".to_string()));

        let form = held_request(
            raw(
                None,
                "application/x-www-form-urlencoded",
                b"user=a&client_secret=s3",
            ),
            &[],
        );
        assert_eq!(form.body.content, "user=a&client_secret=[redacted]");
    }

    #[test]
    fn a_body_that_is_not_text_is_shown_as_base64_with_its_size() {
        let body = [0xff_u8, 0x00, 0x10, 0x80];
        let view = held_request(raw(None, "application/octet-stream", &body), &[]);
        assert_eq!(view.body.encoding, BodyEncoding::Base64);
        assert_eq!(view.body.content, "/wAQgA==");
        assert_eq!(view.body.size, 4);
    }

    #[test]
    fn tool_arguments_are_shown_with_credentials_redacted() {
        let mut request = raw(None, "application/json", b"{}");
        request.tool_calls = vec![(
            "transfer_funds".into(),
            serde_json::json!({"amount": 999999, "token": "t"}),
        )];
        let view = held_request(request, &[]);
        assert_eq!(view.tool_calls[0].name, "transfer_funds");
        assert_eq!(view.tool_calls[0].arguments["amount"], 999999);
        assert_eq!(view.tool_calls[0].arguments["token"], REDACTED);
        assert_eq!(
            view.redacted,
            vec!["tool:transfer_funds:/token".to_string()]
        );
    }

    #[test]
    fn credential_names_are_recognised_without_hiding_ordinary_fields() {
        for name in [
            "password",
            "API-Key",
            "client_secret",
            "access_token",
            "X-Api-Key",
            "key",
        ] {
            assert!(is_credential_name(name), "{name}");
        }
        for name in ["amount", "max_tokens", "keyword", "monkey_count", "author"] {
            assert!(!is_credential_name(name), "{name}");
        }
    }
}
