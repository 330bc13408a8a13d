//! Small readers shared by the importers: text decoding, timestamps, environment names.

use warden_core::{Environment, Timestamp};

use crate::error::{ErrorContext, ImportError, Location, quote};

/// The file as UTF-8 without a byte-order mark (spreadsheets write one).
pub(crate) fn decode<'a>(ctx: &ErrorContext<'_>, bytes: &'a [u8]) -> Result<&'a str, ImportError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    std::str::from_utf8(bytes).map_err(|error| {
        let valid = &bytes[..error.valid_up_to()];
        let line = 1 + valid.iter().filter(|b| **b == b'\n').count() as u64;
        ctx.error(
            Location::Line { line },
            None,
            "the file is not UTF-8 text",
            "export it again as UTF-8 (the tools named in the format's documentation do so by default)",
        )
    })
}

/// An RFC 3339 / ISO 8601 date-time with an offset, as every format here writes them.
pub(crate) fn parse_time(
    ctx: &ErrorContext<'_>,
    location: &Location,
    field: &str,
    value: &str,
) -> Result<Timestamp, ImportError> {
    Timestamp::parse_rfc3339(value.trim()).map_err(|_| {
        ctx.error(
            location.clone(),
            Some(field),
            format!("{} is not a date-time", quote(value)),
            "write it as RFC 3339, for example 2025-01-31T12:00:00Z, or leave the cell empty",
        )
    })
}

/// Reads an environment from a label, annotation or namespace: `prod`/`production`,
/// `staging`/`stage`, `dev`/`development`. Anything else gives no hint.
pub(crate) fn environment_hint(value: &str) -> Option<Environment> {
    match value.trim().to_ascii_lowercase().as_str() {
        "prod" | "production" | "prd" => Some(Environment::Prod),
        "staging" | "stage" | "stg" => Some(Environment::Staging),
        "dev" | "development" | "develop" => Some(Environment::Dev),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_names_people_use_map_to_warden_environments() {
        assert_eq!(environment_hint("Production"), Some(Environment::Prod));
        assert_eq!(environment_hint("stg"), Some(Environment::Staging));
        assert_eq!(environment_hint("qa"), None);
    }
}
