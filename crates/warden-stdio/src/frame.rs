//! Reading what a local MCP server writes on stdout: newline-delimited JSON-RPC, from a
//! process Warden does not trust. Bytes become bounded lines (`LineSplitter`), lines become
//! messages (`classify`). Neither panics on any input: an overlong line is dropped whole,
//! a line that is not one JSON-RPC object is named and skipped, and only an answer whose
//! id is a number can be matched to a request the bridge sent.

use serde_json::{Map, Value};

/// The longest line read from a child, in bytes; longer lines are dropped whole.
pub const MAX_LINE_BYTES: usize = 8 * 1024 * 1024;

/// One line out of the splitter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// A complete line, without its `\n` (and without a `\r` before it).
    Complete(Vec<u8>),
    /// A line longer than the cap ended; this many bytes of it were dropped.
    Overlong { dropped: usize },
}

/// Splits a byte stream at `\n` into lines of at most `max` bytes, keeping no more than
/// `max` bytes of a line in memory.
#[derive(Debug)]
pub struct LineSplitter {
    max: usize,
    partial: Vec<u8>,
    /// Bytes of the current line dropped since it went over the cap.
    dropping: Option<usize>,
}

impl LineSplitter {
    pub fn new(max: usize) -> Self {
        Self {
            max,
            partial: Vec::new(),
            dropping: None,
        }
    }

    /// Feeds a chunk; returns the lines it completed, in order.
    pub fn feed(&mut self, mut chunk: &[u8]) -> Vec<Line> {
        let mut lines = Vec::new();
        while !chunk.is_empty() {
            let (part, ended) = match memchr(b'\n', chunk) {
                Some(at) => (&chunk[..at], Some(at + 1)),
                None => (chunk, None),
            };
            match &mut self.dropping {
                Some(dropped) => *dropped = dropped.saturating_add(part.len()),
                None if self.partial.len() + part.len() > self.max => {
                    self.dropping = Some(self.partial.len() + part.len());
                    self.partial = Vec::new();
                }
                None => self.partial.extend_from_slice(part),
            }
            match ended {
                Some(next) => {
                    lines.push(self.finish_line());
                    chunk = &chunk[next..];
                }
                None => chunk = &[],
            }
        }
        lines
    }

    fn finish_line(&mut self) -> Line {
        match self.dropping.take() {
            Some(dropped) => Line::Overlong { dropped },
            None => {
                let mut line = std::mem::take(&mut self.partial);
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                Line::Complete(line)
            }
        }
    }
}

fn memchr(needle: u8, haystack: &[u8]) -> Option<usize> {
    haystack.iter().position(|&byte| byte == needle)
}

/// What one line from the child is.
#[derive(Debug, Clone, PartialEq)]
pub enum ChildMessage {
    /// An answer to a request: its id as the bridge wrote it, and the whole object.
    Answer {
        id: u64,
        message: Map<String, Value>,
    },
    /// A request from the server to the client (sampling, elicitation, roots, ping).
    Request { id: Value, method: String },
    /// A notification (logging, progress, list changes).
    Notification { method: String },
    /// Anything else; the reason names what was wrong, never the line's content.
    Invalid(&'static str),
}

/// Reads one line as a JSON-RPC message. An answer must carry exactly one of `result` and
/// `error`, and an id that is a non-negative integer (the only ids the bridge sends).
pub fn classify(line: &[u8]) -> ChildMessage {
    let Ok(Value::Object(message)) = serde_json::from_slice::<Value>(line) else {
        return if line.iter().all(u8::is_ascii_whitespace) {
            ChildMessage::Invalid("an empty line")
        } else {
            ChildMessage::Invalid("a line that is not a JSON object")
        };
    };
    if message.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return ChildMessage::Invalid("a message without `jsonrpc: \"2.0\"`");
    }
    match (message.get("method"), message.get("id")) {
        (Some(Value::String(method)), Some(id)) => {
            if id.is_string() || id.is_number() {
                ChildMessage::Request {
                    id: id.clone(),
                    method: method.clone(),
                }
            } else {
                ChildMessage::Invalid("a request whose id is not a string or number")
            }
        }
        (Some(Value::String(method)), None) => ChildMessage::Notification {
            method: method.clone(),
        },
        (Some(_), _) => ChildMessage::Invalid("a message whose method is not a string"),
        (None, id) => {
            let Some(id) = id.and_then(Value::as_u64) else {
                return ChildMessage::Invalid("an answer whose id the bridge never sent");
            };
            let has_result = message.contains_key("result");
            let has_error = message.get("error").is_some_and(Value::is_object);
            if has_result == has_error {
                return ChildMessage::Invalid("an answer without exactly one of result and error");
            }
            ChildMessage::Answer { id, message }
        }
    }
}

/// Replaces every occurrence of `secret` in the strings of `value` (not its keys), so an
/// answer never carries the secret the child was given back to a client.
pub fn redact(value: &mut Value, secret: &str) {
    if secret.is_empty() {
        return;
    }
    match value {
        Value::String(text) if text.contains(secret) => {
            *text = text.replace(secret, "[redacted]");
        }
        Value::Array(items) => items.iter_mut().for_each(|item| redact(item, secret)),
        Value::Object(map) => map.values_mut().for_each(|item| redact(item, secret)),
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn lines_split_at_newlines_and_drop_a_trailing_cr() {
        let mut splitter = LineSplitter::new(16);
        assert_eq!(splitter.feed(b"ab"), vec![]);
        assert_eq!(
            splitter.feed(b"c\r\nde\n"),
            vec![
                Line::Complete(b"abc".to_vec()),
                Line::Complete(b"de".to_vec())
            ]
        );
    }

    #[test]
    fn an_overlong_line_is_dropped_whole_and_the_next_is_read() {
        let mut splitter = LineSplitter::new(4);
        assert_eq!(splitter.feed(b"abc"), vec![]);
        assert_eq!(splitter.feed(b"defgh"), vec![]);
        assert_eq!(
            splitter.feed(b"ij\nok\n"),
            vec![
                Line::Overlong { dropped: 10 },
                Line::Complete(b"ok".to_vec())
            ]
        );
    }

    #[test]
    fn messages_are_classified() {
        assert!(matches!(
            classify(br#"{"jsonrpc":"2.0","id":7,"result":{}}"#),
            ChildMessage::Answer { id: 7, .. }
        ));
        assert!(matches!(
            classify(br#"{"jsonrpc":"2.0","id":"x","result":{}}"#),
            ChildMessage::Invalid(_)
        ));
        assert!(matches!(
            classify(br#"{"jsonrpc":"2.0","id":-1,"result":{}}"#),
            ChildMessage::Invalid(_)
        ));
        assert!(matches!(
            classify(br#"{"jsonrpc":"2.0","id":3,"result":{},"error":{"code":1,"message":"m"}}"#),
            ChildMessage::Invalid(_)
        ));
        assert!(matches!(
            classify(br#"{"jsonrpc":"2.0","id":1,"method":"sampling/createMessage"}"#),
            ChildMessage::Request { .. }
        ));
        assert!(matches!(
            classify(br#"{"jsonrpc":"2.0","method":"notifications/message"}"#),
            ChildMessage::Notification { .. }
        ));
        assert!(matches!(classify(b"hello"), ChildMessage::Invalid(_)));
        assert!(matches!(classify(b"[1,2]"), ChildMessage::Invalid(_)));
    }

    #[test]
    fn the_secret_is_redacted_from_every_string() {
        let mut value = serde_json::json!({"a": ["xx-s3cret-yy", {"b": "s3cret"}], "s3cret": 1});
        redact(&mut value, "s3cret");
        assert_eq!(
            value,
            serde_json::json!({"a": ["xx-[redacted]-yy", {"b": "[redacted]"}], "s3cret": 1})
        );
    }

    proptest! {
        #[test]
        fn splitting_never_keeps_more_than_the_cap_and_loses_no_short_line(
            chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..16),
            max in 1usize..32,
        ) {
            let mut splitter = LineSplitter::new(max);
            let mut lines = Vec::new();
            for chunk in &chunks {
                lines.extend(splitter.feed(chunk));
                prop_assert!(splitter.partial.len() <= max);
            }
            let all: Vec<u8> = chunks.concat();
            let mut expected = Vec::new();
            let mut pieces: Vec<&[u8]> = all.split(|&b| b == b'\n').collect();
            pieces.pop(); // the unfinished tail
            for piece in pieces {
                if piece.len() > max {
                    expected.push(Line::Overlong { dropped: piece.len() });
                } else {
                    let mut line = piece.to_vec();
                    if line.last() == Some(&b'\r') {
                        line.pop();
                    }
                    expected.push(Line::Complete(line));
                }
            }
            prop_assert_eq!(lines, expected);
        }

        #[test]
        fn classifying_arbitrary_bytes_never_panics(line in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = classify(&line);
        }

        #[test]
        fn an_answer_is_matched_only_by_the_id_it_carries(id in any::<u64>(), other in any::<i64>()) {
            let line = format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{{"n":{other}}}}}"#);
            match classify(line.as_bytes()) {
                ChildMessage::Answer { id: read, .. } => prop_assert_eq!(read, id),
                other => prop_assert!(false, "{other:?}"),
            }
        }
    }
}
