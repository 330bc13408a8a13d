//! Everything the CLI prints goes through here: tables for people, JSON for scripts,
//! errors on standard error.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use comfy_table::presets::UTF8_BORDERS_ONLY;
use comfy_table::{ContentArrangement, Table};
use serde_json::Value;

use crate::cli::OutputFormat;

pub fn error(message: &str) {
    eprintln!("error: {message}");
}

pub fn note(message: &str) {
    eprintln!("{message}");
}

pub fn line(message: &str) {
    println!("{message}");
}

pub fn json(value: &Value) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => println!("{text}"),
        Err(error) => eprintln!("error: cannot print JSON: {error}"),
    }
}

/// A value as a cell: strings bare, null as "-", objects compact.
pub fn cell(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => "-".into(),
        Some(Value::String(text)) => text.clone(),
        Some(Value::Object(map)) if map.is_empty() => "-".into(),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(key, value)| format!("{key}={}", value.as_str().unwrap_or_default()))
            .collect::<Vec<_>>()
            .join(","),
        Some(other) => other.to_string(),
    }
}

/// Prints one record: as JSON, or as a two-column table of the chosen fields.
pub fn record(format: OutputFormat, value: &Value, fields: &[&str]) {
    match format {
        OutputFormat::Json => json(value),
        OutputFormat::Table => {
            let mut table = Table::new();
            table
                .load_preset(UTF8_BORDERS_ONLY)
                .set_content_arrangement(ContentArrangement::Dynamic);
            for field in fields {
                table.add_row(vec![(*field).to_string(), cell(value.get(*field))]);
            }
            println!("{table}");
        }
    }
}

/// Prints a page of records: the whole page as JSON, or a table with one row per item,
/// followed by how to fetch the next page.
pub fn page(format: OutputFormat, page: &Value, columns: &[&str]) {
    match format {
        OutputFormat::Json => json(page),
        OutputFormat::Table => {
            let items = page
                .get("items")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            rows(&items, columns);
            if let Some(cursor) = page.get("next_cursor").and_then(Value::as_str) {
                note(&format!("more results: repeat with --cursor {cursor}"));
            }
        }
    }
}

pub fn rows(items: &[Value], columns: &[&str]) {
    if items.is_empty() {
        note("(none)");
        return;
    }
    let mut table = Table::new();
    table
        .load_preset(UTF8_BORDERS_ONLY)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(columns.iter().map(|column| column.to_uppercase()));
    for item in items {
        table.add_row(columns.iter().map(|column| cell(item.get(*column))));
    }
    println!("{table}");
}
