//! The one error every importer returns: which file, which format, where in the file, which
//! field, what is wrong and what to do. A parser stops at the first one and returns nothing else.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::model::SourceFormat;

/// A place in an imported file, in the terms of its format.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Location {
    /// The whole file (detection, encoding).
    File,
    /// A CSV record: `row` counts data rows from 1 (the header is row 0), `line` is the
    /// physical line it starts on.
    Row { row: u64, line: u64 },
    /// A line of a text file (YAML syntax errors).
    Line { line: u64 },
    /// A YAML document (counted from 1) and, inside a `kind: List`, the item (from 0).
    Document {
        document: usize,
        item: Option<usize>,
    },
    /// A JSON path such as `$[3].permissions.repository`.
    JsonPath { path: String },
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File => f.write_str("the file"),
            Self::Row { row, line } => write!(f, "row {row} (line {line})"),
            Self::Line { line } => write!(f, "line {line}"),
            Self::Document {
                document,
                item: None,
            } => write!(f, "document {document}"),
            Self::Document {
                document,
                item: Some(item),
            } => write!(f, "document {document}, items[{item}]"),
            Self::JsonPath { path } => f.write_str(path),
        }
    }
}

/// Why an import was refused. Nothing from the file is imported. Boxed, so that the happy
/// path's `Result`s stay small; the details read through `Deref` (`error.location`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ImportError(Box<ImportFailure>);

impl std::ops::Deref for ImportError {
    type Target = ImportFailure;

    fn deref(&self) -> &ImportFailure {
        &self.0
    }
}

impl From<ImportFailure> for ImportError {
    fn from(failure: ImportFailure) -> Self {
        Self(Box::new(failure))
    }
}

/// The details of a refusal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {}{location}{}: {problem}; {fix}", format_prefix(*.format), field_part(.field.as_deref()))]
pub struct ImportFailure {
    /// The file name the caller gave.
    pub file: String,
    /// The format being read, when known (detection errors have none).
    pub format: Option<SourceFormat>,
    pub location: Location,
    /// The column, key or JSON field at fault.
    pub field: Option<String>,
    pub problem: String,
    /// What the person importing should do about it.
    pub fix: String,
}

fn format_prefix(format: Option<SourceFormat>) -> String {
    format.map(|f| format!("{f} export, ")).unwrap_or_default()
}

fn field_part(field: Option<&str>) -> String {
    field.map(|f| format!(", field `{f}`")).unwrap_or_default()
}

/// Builds errors for one file in one format, so parsers name only what differs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ErrorContext<'a> {
    pub file: &'a str,
    pub format: Option<SourceFormat>,
}

impl<'a> ErrorContext<'a> {
    pub fn new(file: &'a str, format: SourceFormat) -> Self {
        Self {
            file,
            format: Some(format),
        }
    }

    pub fn error(
        &self,
        location: Location,
        field: Option<&str>,
        problem: impl Into<String>,
        fix: impl Into<String>,
    ) -> ImportError {
        ImportFailure {
            file: self.file.to_string(),
            format: self.format,
            location,
            field: field.map(str::to_string),
            problem: problem.into(),
            fix: fix.into(),
        }
        .into()
    }
}

/// Quotes a value from the file for an error message, cut short so that a stray secret pasted
/// into a cell cannot be echoed whole.
pub(crate) fn quote(value: &str) -> String {
    const SHOWN: usize = 32;
    let mut shown: String = value.chars().take(SHOWN).collect();
    if value.chars().count() > SHOWN {
        shown.push('…');
    }
    format!("`{}`", shown.escape_debug())
}
