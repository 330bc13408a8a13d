//! Access labels: the words that say what an upstream, a route or an MCP tool touches
//! (`sensitive`, `external`, `prod`, `customer_records`...), read by toxic-combination rules
//! and by policies through the task window.
//!
//! A label is free text within a narrow alphabet (lower-case letters, digits, `_`, `.`,
//! `-`, starting with a letter or digit), so it reads the same in TOML, Cedar and JSON and
//! cannot smuggle anything into either. Lists are bounded, and kept sorted without
//! duplicates so two equal sets compare equal wherever they are stored.

use std::collections::BTreeMap;

use crate::error::{DomainError, DomainResult};

/// The longest label, in bytes.
pub const MAX_ACCESS_LABEL_LEN: usize = 64;
/// The most labels one upstream, route or tool carries.
pub const MAX_ACCESS_LABELS: usize = 16;
/// The most tools one upstream labels.
pub const MAX_LABELLED_TOOLS: usize = 256;
/// The longest tool name a label may be attached to, in bytes (MCP tool names are short).
pub const MAX_LABELLED_TOOL_LEN: usize = 128;

/// Labels of an upstream's MCP tools, by tool name.
pub type ToolLabels = BTreeMap<String, Vec<String>>;

/// Whether `label` is a well-formed access label.
pub fn is_access_label(label: &str) -> bool {
    !label.is_empty()
        && label.len() <= MAX_ACCESS_LABEL_LEN
        && label
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && label.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-')
        })
}

/// Checks a list of labels for `field`, returning it sorted and without duplicates.
pub fn normalize_access_labels(
    field: &'static str,
    labels: &[String],
) -> DomainResult<Vec<String>> {
    if let Some(bad) = labels.iter().find(|label| !is_access_label(label)) {
        return Err(DomainError::invalid(
            field,
            format!(
                "label `{}` must be 1-{MAX_ACCESS_LABEL_LEN} characters of lower-case letters, digits, '_', '.' or '-', starting with a letter or digit, e.g. sensitive",
                bad.escape_debug()
            ),
        ));
    }
    let mut sorted = labels.to_vec();
    sorted.sort();
    sorted.dedup();
    if sorted.len() > MAX_ACCESS_LABELS {
        return Err(DomainError::invalid(
            field,
            format!("at most {MAX_ACCESS_LABELS} labels"),
        ));
    }
    Ok(sorted)
}

/// Checks the labels of an upstream's tools, returning them normalized; a tool with no
/// labels left is dropped.
pub fn normalize_tool_labels(tools: &ToolLabels) -> DomainResult<ToolLabels> {
    if tools.len() > MAX_LABELLED_TOOLS {
        return Err(DomainError::invalid(
            "tool_labels",
            format!("labels for at most {MAX_LABELLED_TOOLS} tools"),
        ));
    }
    let mut out = ToolLabels::new();
    for (tool, labels) in tools {
        if tool.is_empty()
            || tool.len() > MAX_LABELLED_TOOL_LEN
            || tool.chars().any(|c| c.is_control() || c.is_whitespace())
        {
            return Err(DomainError::invalid(
                "tool_labels",
                format!(
                    "tool name `{}` must be 1-{MAX_LABELLED_TOOL_LEN} bytes without spaces or control characters",
                    tool.escape_debug()
                ),
            ));
        }
        let labels = normalize_access_labels("tool_labels", labels)?;
        if !labels.is_empty() {
            out.insert(tool.clone(), labels);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_narrow_words() {
        for good in [
            "sensitive",
            "prod",
            "customer_records",
            "pii.v2",
            "a-b",
            "9",
        ] {
            assert!(is_access_label(good), "{good}");
        }
        for bad in ["", "Sensitive", "_x", ".x", "a b", "é", "a\"b", "a,b"] {
            assert!(!is_access_label(bad), "{bad}");
        }
        assert!(is_access_label(&"a".repeat(MAX_ACCESS_LABEL_LEN)));
        assert!(!is_access_label(&"a".repeat(MAX_ACCESS_LABEL_LEN + 1)));
    }

    #[test]
    fn lists_are_sorted_deduplicated_and_bounded() {
        let labels = vec!["prod".to_string(), "external".into(), "prod".into()];
        assert_eq!(
            normalize_access_labels("labels", &labels),
            Ok(vec!["external".to_string(), "prod".into()])
        );
        let many: Vec<String> = (0..=MAX_ACCESS_LABELS).map(|i| format!("l{i}")).collect();
        assert!(normalize_access_labels("labels", &many).is_err());
        let error = normalize_access_labels("labels", &["Bad".to_string()]).unwrap_err();
        assert!(error.to_string().contains("Bad"), "{error}");
    }

    #[test]
    fn tool_labels_are_checked_and_empty_ones_dropped() {
        let mut tools = ToolLabels::new();
        tools.insert("send_email".into(), vec!["external".into()]);
        tools.insert("noop".into(), Vec::new());
        let normalized = normalize_tool_labels(&tools).unwrap();
        assert_eq!(normalized.len(), 1);
        tools.insert("bad tool".into(), vec!["x".into()]);
        assert!(normalize_tool_labels(&tools).is_err());
    }
}
