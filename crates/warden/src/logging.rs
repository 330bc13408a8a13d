//! The server's logs: text for people or JSON for machines, with every field escaped, so a
//! value taken from a request (a client id, a reason, a header) can never start a line of
//! its own or pass for another field.
//!
//! JSON escapes by itself. For text, each field value is written as its `Display` or
//! `Debug` form with control characters escaped (`\n`, `\r`, `\u{1b}`, …), and, outside the
//! message, quoted when it holds a space, a quote or `=`, so `client_id=x level=ERROR` is one
//! field, not two.

use std::borrow::Cow;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::field::MakeExt as _;
use tracing_subscriber::fmt::format::{Writer, debug_fn};

use crate::cli::LogFormat;

/// Installs the process's logger; `WARDEN_LOG` filters it (default `info`).
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_env("WARDEN_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder
            .fmt_fields(
                debug_fn(|writer: &mut Writer<'_>, field, value| {
                    let text = format!("{value:?}");
                    write_field(writer, field.name(), &text)
                })
                .delimited(" "),
            )
            .init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Writes one field of a text log line, escaped.
fn write_field(writer: &mut dyn std::fmt::Write, name: &str, text: &str) -> std::fmt::Result {
    if name == "message" {
        return writer.write_str(&escape_controls(text));
    }
    if needs_quotes(text) {
        write!(writer, "{name}={text:?}")
    } else {
        write!(writer, "{name}={text}")
    }
}

fn needs_quotes(text: &str) -> bool {
    text.is_empty()
        || text
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '=' || c == '\\')
}

/// The text with every control character written as its escape.
fn escape_controls(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(name: &str, text: &str) -> String {
        let mut out = String::new();
        write_field(&mut out, name, text).unwrap_or_else(|e| panic!("{e}"));
        out
    }

    #[test]
    fn a_value_cannot_start_a_line_or_another_field() {
        let forged = "bot\n2026-01-01T00:00:00Z  INFO warden: admin login ok";
        assert_eq!(
            field("client_id", forged),
            "client_id=\"bot\\n2026-01-01T00:00:00Z  INFO warden: admin login ok\""
        );
        assert_eq!(
            field("client_id", "x level=ERROR"),
            "client_id=\"x level=ERROR\""
        );
        assert_eq!(field("message", "refused\r\nforged"), "refused\\r\\nforged");
        assert_eq!(field("upstream", "crm"), "upstream=crm");
        assert!(!field("reason", "\u{1b}[31mred").contains('\u{1b}'));
    }
}
