//! Reading toxic-combination rules from TOML: every field checked, and an error that names
//! the rule and what to write instead.

use serde::Deserialize;
use warden_core::access_label::is_access_label;

use super::{Pattern, ToxicRule};
use crate::finding::{OwaspNhi, Severity};

/// A rule file that cannot be used; the message names the rule and the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RuleError(String);

/// Which way an action moves data.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    #[default]
    Any,
    /// Routes with GET, HEAD or OPTIONS; tools labelled `read`, or with neither label.
    Read,
    /// Routes with any other method; tools labelled `write`, or with neither label.
    Write,
}

/// What one action or tool within reach must be.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionMatch {
    /// Labels it carries, every one (its own and its upstream's).
    #[serde(default)]
    pub labels: Vec<String>,
    /// Labels of which it carries at least one (when any are given).
    #[serde(default)]
    pub any_labels: Vec<String>,
    #[serde(default)]
    pub effect: Effect,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    rule: Vec<RuleText>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleText {
    id: String,
    owasp: String,
    agentic: String,
    severity: String,
    summary: String,
    remediation: String,
    #[serde(default)]
    reaches: Vec<ActionMatch>,
    #[serde(default)]
    entitlements: Vec<String>,
    #[serde(default)]
    unused: bool,
}

/// Rules from TOML (`[[rule]]` tables), checked: ids unique and well-formed, the OWASP risk
/// and severity known, labels well-formed, and exactly one pattern per rule.
pub fn parse_rules(text: &str) -> Result<Vec<ToxicRule>, RuleError> {
    let file: RuleFile =
        toml::from_str(text).map_err(|error| RuleError(format!("toxic rules: {error}")))?;
    let mut out: Vec<ToxicRule> = Vec::with_capacity(file.rule.len());
    for rule in file.rule {
        let id = rule.id;
        let fail = |what: String| RuleError(format!("toxic rule `{id}`: {what}"));
        if !is_access_label(&id) {
            return Err(fail(
                "the id must be lower-case letters, digits, '-', '_' or '.'".into(),
            ));
        }
        if out.iter().any(|seen| seen.id == id) {
            return Err(fail("the id is used twice; give each rule its own".into()));
        }
        let owasp = OwaspNhi::parse(&rule.owasp).ok_or_else(|| {
            fail(format!(
                "owasp `{}` is not an OWASP NHI Top 10 risk; write NHI1 to NHI10",
                rule.owasp
            ))
        })?;
        let severity = Severity::parse(&rule.severity).ok_or_else(|| {
            fail(format!(
                "severity `{}` is not one of low, medium, high, critical",
                rule.severity
            ))
        })?;
        for wanted in &rule.reaches {
            if wanted.labels.is_empty() && wanted.any_labels.is_empty() {
                return Err(fail(
                    "each entry of `reaches` needs `labels` or `any_labels`".into(),
                ));
            }
            if let Some(bad) = wanted
                .labels
                .iter()
                .chain(&wanted.any_labels)
                .find(|label| !is_access_label(label))
            {
                return Err(fail(format!(
                    "label `{}` is not an access label (lower-case letters, digits, '_', '.' or '-')",
                    bad.escape_debug()
                )));
            }
        }
        let pattern = match (
            rule.reaches.is_empty(),
            rule.entitlements.is_empty(),
            rule.unused,
        ) {
            (false, true, false) => Pattern::Reaches(rule.reaches),
            (true, false, false) => Pattern::Entitlements(rule.entitlements),
            (true, true, true) => Pattern::Unused,
            _ => {
                return Err(fail(
                    "give exactly one of `reaches`, `entitlements` or `unused = true`".into(),
                ));
            }
        };
        out.push(ToxicRule {
            id,
            owasp,
            agentic: rule.agentic,
            severity,
            summary: rule.summary,
            remediation: rule.remediation,
            pattern,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::parse_rules;

    const ONE: &str = r#"
[[rule]]
id = "x"
owasp = "NHI5"
agentic = "ASI03"
severity = "high"
summary = "s"
remediation = "r"
"#;

    fn with(extra: &str) -> Result<usize, String> {
        parse_rules(&format!("{ONE}{extra}"))
            .map(|rules| rules.len())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn each_rule_has_exactly_one_pattern() {
        assert_eq!(with("unused = true\n"), Ok(1));
        assert!(with("").unwrap_err().contains("exactly one"));
        assert!(
            with("unused = true\nentitlements = [\"a\"]\n")
                .unwrap_err()
                .contains("exactly one")
        );
    }

    #[test]
    fn bad_fields_are_named() {
        let bad_owasp = ONE.replace("NHI5", "NHI11") + "unused = true\n";
        assert!(
            parse_rules(&bad_owasp)
                .unwrap_err()
                .to_string()
                .contains("`NHI11`")
        );
        let bad_severity = ONE.replace("high", "severe") + "unused = true\n";
        assert!(
            parse_rules(&bad_severity)
                .unwrap_err()
                .to_string()
                .contains("`severe`")
        );
        assert!(
            with("reaches = [{ labels = [\"Bad Label\"] }]\n")
                .unwrap_err()
                .contains("Bad Label")
        );
        assert!(
            with("reaches = [{ effect = \"read\" }]\n")
                .unwrap_err()
                .contains("needs `labels`")
        );
        assert!(
            with("unused = true\ncolour = 1\n")
                .unwrap_err()
                .contains("colour")
        );
        let twice = format!("{ONE}unused = true\n{ONE}unused = true\n");
        assert!(
            parse_rules(&twice)
                .unwrap_err()
                .to_string()
                .contains("twice")
        );
    }
}
