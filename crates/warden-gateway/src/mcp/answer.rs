//! The answer side: MCP results filtered to what the agent may see.
//!
//! Whatever request an answer is for, every list in a result is filtered entry by entry
//! through an [`AnswerPolicy`]: tools, resources, resource templates, prompts and tasks,
//! and the contents of a resource read (a read can return more URIs than it named). A
//! `notifications/resources/updated` for a resource the agent may not read is dropped. A
//! filtered result that carries caching hints (2026-07-28) is marked `cacheScope: private`:
//! what one agent sees is not what another may, so no shared cache may serve it. Results
//! that create a task (`result.task.taskId`) are reported to the policy, which is how the
//! gateway learns which call a task id stands for.

use serde_json::{Map, Value};

use super::{MAX_SSE_EVENT, McpError};
use crate::strict_json;

/// One entry of a list in an answer.
#[derive(Debug, Clone, Copy)]
pub enum Listed<'a> {
    /// A tool, by name, with its whole definition (what pinning digests).
    Tool {
        name: &'a str,
        definition: &'a Map<String, Value>,
    },
    /// A resource (or the contents of one), by URI.
    Resource(&'a str),
    /// A resource template, by URI template.
    ResourceTemplate(&'a str),
    /// A prompt, by name.
    Prompt(&'a str),
    /// A task, by id.
    Task(&'a str),
}

/// What decides the entries of an answer.
pub trait AnswerPolicy {
    /// Whether the agent may see this entry.
    fn allows(&self, entry: Listed<'_>) -> bool;

    /// A result created a task: the response's id and the task's id.
    fn task_created(&self, _response_id: &Value, _task_id: &str) {}
}

impl<T: AnswerPolicy + ?Sized> AnswerPolicy for &T {
    fn allows(&self, entry: Listed<'_>) -> bool {
        (**self).allows(entry)
    }

    fn task_created(&self, response_id: &Value, task_id: &str) {
        (**self).task_created(response_id, task_id);
    }
}

impl<T: AnswerPolicy + ?Sized> AnswerPolicy for Box<T> {
    fn allows(&self, entry: Listed<'_>) -> bool {
        (**self).allows(entry)
    }

    fn task_created(&self, response_id: &Value, task_id: &str) {
        (**self).task_created(response_id, task_id);
    }
}

/// A policy from a function of the entry alone.
pub struct AllowIf<F>(pub F);

impl<F: Fn(Listed<'_>) -> bool> AnswerPolicy for AllowIf<F> {
    fn allows(&self, entry: Listed<'_>) -> bool {
        (self.0)(entry)
    }
}

/// The lists of a result: its key, the key of each entry's identity, and the entry.
const LISTS: [(&str, &str); 6] = [
    ("tools", "name"),
    ("resources", "uri"),
    ("resourceTemplates", "uriTemplate"),
    ("prompts", "name"),
    ("tasks", "taskId"),
    ("contents", "uri"),
];

fn listed<'a>(list: &str, key: &'a str, entry: &'a Map<String, Value>) -> Listed<'a> {
    match list {
        "tools" => Listed::Tool {
            name: key,
            definition: entry,
        },
        "resourceTemplates" => Listed::ResourceTemplate(key),
        "prompts" => Listed::Prompt(key),
        "tasks" => Listed::Task(key),
        _ => Listed::Resource(key),
    }
}

/// What filtering did to one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Filtered {
    Untouched,
    Changed,
    /// The whole message goes (a notification about something the agent may not see).
    Dropped,
}

fn filter_message(message: &mut Map<String, Value>, policy: &dyn AnswerPolicy) -> Filtered {
    if message.get("method").and_then(Value::as_str) == Some("notifications/resources/updated") {
        let uri = message
            .get("params")
            .and_then(|p| p.get("uri"))
            .and_then(Value::as_str);
        return match uri {
            Some(uri) if policy.allows(Listed::Resource(uri)) => Filtered::Untouched,
            _ => Filtered::Dropped,
        };
    }
    let id = message.get("id").cloned().unwrap_or(Value::Null);
    let Some(Value::Object(result)) = message.get_mut("result") else {
        return Filtered::Untouched;
    };
    if let Some(task_id) = result
        .get("task")
        .and_then(|task| task.get("taskId"))
        .and_then(Value::as_str)
    {
        policy.task_created(&id, task_id);
    }
    let mut changed = false;
    let mut listed_any = false;
    for (list, key) in LISTS {
        let Some(Value::Array(entries)) = result.get_mut(list) else {
            continue;
        };
        listed_any = true;
        let before = entries.len();
        entries.retain(|entry| {
            entry.as_object().is_some_and(|object| {
                object
                    .get(key)
                    .and_then(Value::as_str)
                    .is_some_and(|name| policy.allows(listed(list, name, object)))
            })
        });
        changed |= entries.len() != before;
    }
    let hinted = result.contains_key("ttlMs") || result.contains_key("cacheScope");
    if listed_any && hinted && result.get("cacheScope").and_then(Value::as_str) != Some("private") {
        result.insert("cacheScope".to_owned(), Value::from("private"));
        changed = true;
    }
    if changed {
        Filtered::Changed
    } else {
        Filtered::Untouched
    }
}

/// Filters one JSON-RPC message or a batch in place; `None` when nothing is left of it.
fn filter_value(value: &mut Value, policy: &dyn AnswerPolicy) -> Option<bool> {
    match value {
        Value::Array(items) => {
            let mut changed = false;
            items.retain_mut(|item| match item {
                Value::Object(message) => match filter_message(message, policy) {
                    Filtered::Untouched => true,
                    Filtered::Changed => {
                        changed = true;
                        true
                    }
                    Filtered::Dropped => {
                        changed = true;
                        false
                    }
                },
                _ => true,
            });
            Some(changed)
        }
        Value::Object(message) => match filter_message(message, policy) {
            Filtered::Untouched => Some(false),
            Filtered::Changed => Some(true),
            Filtered::Dropped => None,
        },
        _ => Some(false),
    }
}

/// Filters a JSON answer (a message or a batch). A body with nothing to remove is returned
/// byte for byte, so numbers and formatting the gateway has no business with are never
/// re-encoded; a message dropped whole leaves an empty body.
pub fn filter_answer_json(body: &[u8], policy: &dyn AnswerPolicy) -> Result<Vec<u8>, McpError> {
    filter_json(body, policy).map(|filtered| match filtered {
        Some(Some(filtered)) => filtered,
        Some(None) => Vec::new(),
        None => body.to_vec(),
    })
}

/// `None` if nothing changed, `Some(None)` if the message was dropped whole.
fn filter_json(
    body: &[u8],
    policy: &dyn AnswerPolicy,
) -> Result<Option<Option<Vec<u8>>>, McpError> {
    // Strict, so that an answer with two `tools` arrays is refused rather than filtered in
    // one and read in the other by the client. A body no JSON parser reads is `Json`; one
    // that only the strict parser refuses is `Ambiguous`, which a caller must never pass on.
    let mut value = strict_json::from_slice(body).map_err(|e| {
        if serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok() {
            McpError::Ambiguous(e.to_string())
        } else {
            McpError::Json(e.to_string())
        }
    })?;
    match filter_value(&mut value, policy) {
        Some(false) => Ok(None),
        None => Ok(Some(None)),
        Some(true) => serde_json::to_vec(&value)
            .map(|bytes| Some(Some(bytes)))
            .map_err(|e| McpError::Json(e.to_string())),
    }
}

/// Filters a `text/event-stream` answer incrementally: feed it chunks as they arrive and
/// forward what it returns. Each event's `data:` lines are joined and parsed as a JSON-RPC
/// message, filtered, and written back as one `data:` line; other fields (`id:`, `event:`,
/// `retry:`, comments) are kept as they were. An event whose data is empty passes as it
/// is; an event whose data is not JSON is refused, since it cannot be checked.
pub struct SseFilter<P: AnswerPolicy> {
    policy: P,
    buffer: Vec<u8>,
}

impl<P: AnswerPolicy> std::fmt::Debug for SseFilter<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SseFilter")
            .field("buffered", &self.buffer.len())
            .finish()
    }
}

impl<P: AnswerPolicy> SseFilter<P> {
    /// A filter keeping the entries `policy` allows.
    pub fn new(policy: P) -> Self {
        Self {
            policy,
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
            filter_json(joined.as_bytes(), &self.policy)?
        };
        match filtered {
            // Dropped whole: the other fields (an `id:` a client resumes from) stay, and an
            // event without data is one no client dispatches.
            Some(None) => {}
            Some(Some(filtered)) => {
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
pub fn filter_answer_sse(body: &[u8], policy: &dyn AnswerPolicy) -> Result<Vec<u8>, McpError> {
    let mut filter = SseFilter::new(policy);
    let mut out = filter.push(body)?;
    out.extend(filter.finish()?);
    Ok(out)
}
