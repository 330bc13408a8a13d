//! Rules as data: the TOML format of a rules file, its parsing, and the rule set a matcher
//! is compiled from.
//!
//! A rules file has an optional `placeholders` list (substrings that mark a value as a
//! documentation placeholder, matched case-insensitively) and any number of `[[rule]]`
//! tables. The built-in file (`rules/builtin.toml`) is embedded in the binary; users add
//! their own files, whose rules replace a built-in rule of the same id. Every problem is
//! reported with the file, the rule and the field at fault, so a bad rules file is refused
//! before anything is scanned.

use serde::Deserialize;

use crate::validate::Validator;

/// The built-in rules, embedded at compile time.
pub const BUILTIN_RULES: &str = include_str!("../rules/builtin.toml");

/// The name the built-in rules are reported under in errors.
pub const BUILTIN_SOURCE: &str = "built-in rules";

/// How many bytes after a keyword a match may end, unless the rule says otherwise.
pub const DEFAULT_WINDOW: usize = 512;

/// The largest window a rule may ask for.
pub const MAX_WINDOW: usize = 64 * 1024;

/// How many bytes before a keyword a match may start, unless the rule says otherwise.
pub const DEFAULT_LOOKBEHIND: usize = 64;

/// The largest lookbehind a rule may ask for.
pub const MAX_LOOKBEHIND: usize = 4096;

/// How sure a rule is that what it matched is a live secret.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, serde::Serialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Confidence {
    /// A generic pattern: a high-entropy value assigned to a secret-sounding name.
    Low,
    /// A recognisable shape without a checksum, or a secret inside a larger structure.
    Medium,
    /// A distinctive prefix, a verified checksum, or both.
    High,
}

impl Confidence {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
        }
    }
}

/// One rule, as written in a rules file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// Stable identifier, lowercase letters, digits and `-` (`github-pat`).
    pub id: String,
    /// What kind of secret this is (`github_pat`); several rules may share a kind.
    pub kind: String,
    /// One sentence for people reading a report.
    pub description: String,
    /// Literal strings (matched case-insensitively, at least 3 bytes) of which one must
    /// occur for the regex to be tried; the regex runs only near them.
    pub keywords: Vec<String>,
    /// The pattern, in the `regex` crate's syntax (RE2 semantics, no backtracking),
    /// compiled byte-oriented with Unicode classes off.
    pub regex: String,
    /// Which capture group holds the secret (0: the whole match).
    #[serde(default)]
    pub secret_group: usize,
    /// A check the secret must pass beyond the pattern.
    #[serde(default)]
    pub validator: Option<Validator>,
    /// Minimum Shannon entropy of the secret, in bits per byte.
    #[serde(default)]
    pub min_entropy: Option<f64>,
    pub confidence: Confidence,
    /// How many bytes after a keyword a match may end (default 512).
    #[serde(default)]
    pub window: Option<usize>,
    /// How many bytes before a keyword a match may start (default 64): more for rules
    /// whose keyword sits in the middle of the secret.
    #[serde(default)]
    pub lookbehind: Option<usize>,
    /// Refuse secrets that contain a placeholder (default true).
    #[serde(default = "default_true")]
    pub reject_placeholders: bool,
    /// Refuse secrets too regular to be random: long runs, sequences, short periods
    /// (default true).
    #[serde(default = "default_true")]
    pub reject_regular: bool,
    /// Exact values (compared case-insensitively) that are well-known defaults, not leaks.
    #[serde(default)]
    pub ignore_values: Vec<String>,
}

fn default_true() -> bool {
    true
}

/// A rules file after parsing: what it adds to a rule set.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleFile {
    pub source: String,
    pub placeholders: Vec<String>,
    pub rules: Vec<RuleSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    placeholders: Vec<String>,
    #[serde(default)]
    rule: Vec<toml::Table>,
}

/// Everything wrong with a rules file, naming where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RulesError {
    #[error("{source_name}: not a valid rules file: {message}")]
    Syntax {
        source_name: String,
        message: String,
    },
    #[error("{source_name}: rule {rule}: {message}")]
    Shape {
        source_name: String,
        rule: String,
        message: String,
    },
    #[error("{source_name}: rule \"{rule}\": field `{field}`: {problem}")]
    Field {
        source_name: String,
        rule: String,
        field: &'static str,
        problem: String,
    },
    #[error("{source_name}: rule \"{rule}\" is defined more than once in this file")]
    Duplicate { source_name: String, rule: String },
    #[error("{source_name}: `placeholders`: {problem}")]
    Placeholder {
        source_name: String,
        problem: String,
    },
}

impl RuleFile {
    /// Parses a rules file; `source` names it in errors (a path, or "built-in rules").
    pub fn parse(source: &str, text: &str) -> Result<Self, RulesError> {
        let raw: RawFile = toml::from_str(text).map_err(|error| RulesError::Syntax {
            source_name: source.to_owned(),
            message: error.message().to_owned(),
        })?;
        for placeholder in &raw.placeholders {
            if placeholder.trim().len() < 2 {
                return Err(RulesError::Placeholder {
                    source_name: source.to_owned(),
                    problem: format!(
                        "{placeholder:?} is too short: a placeholder needs at least 2 characters"
                    ),
                });
            }
        }
        let mut rules: Vec<RuleSpec> = Vec::with_capacity(raw.rule.len());
        for (index, table) in raw.rule.into_iter().enumerate() {
            let label = match table.get("id").and_then(toml::Value::as_str) {
                Some(id) => format!("\"{id}\""),
                None => format!("#{} (it has no `id`)", index + 1),
            };
            let spec: RuleSpec =
                toml::Value::Table(table)
                    .try_into()
                    .map_err(|error: toml::de::Error| RulesError::Shape {
                        source_name: source.to_owned(),
                        rule: label.clone(),
                        message: error.message().to_owned(),
                    })?;
            check_spec(source, &spec)?;
            if rules.iter().any(|rule| rule.id == spec.id) {
                return Err(RulesError::Duplicate {
                    source_name: source.to_owned(),
                    rule: spec.id,
                });
            }
            rules.push(spec);
        }
        Ok(Self {
            source: source.to_owned(),
            placeholders: raw.placeholders,
            rules,
        })
    }
}

/// The checks that need no compilation: names, keywords, numbers in range.
fn check_spec(source: &str, spec: &RuleSpec) -> Result<(), RulesError> {
    let field = |field: &'static str, problem: String| RulesError::Field {
        source_name: source.to_owned(),
        rule: spec.id.clone(),
        field,
        problem,
    };
    if spec.id.is_empty()
        || !spec
            .id
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-')
    {
        return Err(field(
            "id",
            "use lowercase letters, digits and '-' only (for example \"github-pat\")".into(),
        ));
    }
    if spec.kind.is_empty()
        || !spec
            .kind
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_')
    {
        return Err(field(
            "kind",
            "use lowercase letters, digits and '_' only (for example \"github_pat\")".into(),
        ));
    }
    if spec.keywords.is_empty() {
        return Err(field(
            "keywords",
            "give at least one keyword: the regex is only tried near one".into(),
        ));
    }
    if let Some(short) = spec.keywords.iter().find(|keyword| keyword.len() < 3) {
        return Err(field(
            "keywords",
            format!("{short:?} is too short: a keyword needs at least 3 bytes"),
        ));
    }
    if let Some(entropy) = spec.min_entropy
        && !(0.0..=8.0).contains(&entropy)
    {
        return Err(field(
            "min_entropy",
            format!("{entropy} is outside 0 to 8 bits per byte"),
        ));
    }
    if let Some(window) = spec.window
        && !(1..=MAX_WINDOW).contains(&window)
    {
        return Err(field(
            "window",
            format!("{window} is outside 1 to {MAX_WINDOW} bytes"),
        ));
    }
    if let Some(lookbehind) = spec.lookbehind
        && lookbehind > MAX_LOOKBEHIND
    {
        return Err(field(
            "lookbehind",
            format!("{lookbehind} is more than {MAX_LOOKBEHIND} bytes"),
        ));
    }
    Ok(())
}

/// The rules a matcher is built from: the built-in ones, then user files over them.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleSet {
    pub(crate) rules: Vec<RuleSpec>,
    pub(crate) placeholders: Vec<String>,
}

impl RuleSet {
    /// The built-in rules alone.
    pub fn builtin() -> Result<Self, RulesError> {
        let file = RuleFile::parse(BUILTIN_SOURCE, BUILTIN_RULES)?;
        Ok(Self {
            rules: file.rules,
            placeholders: file.placeholders,
        })
    }

    /// An empty set, for callers that want only their own rules.
    pub fn empty() -> Self {
        Self {
            rules: Vec::new(),
            placeholders: Vec::new(),
        }
    }

    /// Adds a file's rules; a rule whose id is already present replaces it in place.
    pub fn extend(&mut self, file: RuleFile) {
        for rule in file.rules {
            match self
                .rules
                .iter_mut()
                .find(|existing| existing.id == rule.id)
            {
                Some(existing) => *existing = rule,
                None => self.rules.push(rule),
            }
        }
        for placeholder in file.placeholders {
            if !self.placeholders.contains(&placeholder) {
                self.placeholders.push(placeholder);
            }
        }
    }

    pub fn rules(&self) -> &[RuleSpec] {
        &self.rules
    }

    pub fn placeholders(&self) -> &[String] {
        &self.placeholders
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
placeholders = ["dummy"]

[[rule]]
id = "acme-key"
kind = "acme_key"
description = "An ACME key."
keywords = ["acme_"]
regex = '''acme_[a-z0-9]{20}'''
confidence = "high"
"#;

    #[test]
    fn a_minimal_rule_gets_its_defaults() {
        let file = RuleFile::parse("acme.toml", GOOD).expect("parses");
        let rule = &file.rules[0];
        assert_eq!(rule.secret_group, 0);
        assert!(rule.reject_placeholders && rule.reject_regular);
        assert_eq!(rule.validator, None);
        assert_eq!(file.placeholders, vec!["dummy".to_owned()]);
    }

    #[test]
    fn an_unknown_field_names_the_rule_and_the_field() {
        let text = GOOD.replace("confidence", "regx = 'a'\nconfidence");
        let error = RuleFile::parse("acme.toml", &text).expect_err("refused");
        let message = error.to_string();
        assert!(message.contains("acme.toml"), "{message}");
        assert!(message.contains("\"acme-key\""), "{message}");
        assert!(message.contains("regx"), "{message}");
    }

    #[test]
    fn an_unknown_validator_lists_the_known_ones() {
        let text = GOOD.replace("confidence", "validator = \"luhn\"\nconfidence");
        let message = RuleFile::parse("acme.toml", &text)
            .expect_err("refused")
            .to_string();
        assert!(
            message.contains("luhn") && message.contains("github_crc32"),
            "{message}"
        );
    }

    #[test]
    fn a_rule_without_id_is_named_by_position() {
        let text = GOOD.replace("id = \"acme-key\"\n", "");
        let message = RuleFile::parse("acme.toml", &text)
            .expect_err("refused")
            .to_string();
        assert!(message.contains("#1"), "{message}");
    }

    #[test]
    fn field_checks_name_the_field() {
        for (from, to, field) in [
            ("id = \"acme-key\"", "id = \"Acme Key\"", "`id`"),
            ("kind = \"acme_key\"", "kind = \"acme-key\"", "`kind`"),
            ("keywords = [\"acme_\"]", "keywords = []", "`keywords`"),
            (
                "keywords = [\"acme_\"]",
                "keywords = [\"ac\"]",
                "`keywords`",
            ),
            (
                "confidence",
                "min_entropy = 9.5\nconfidence",
                "`min_entropy`",
            ),
            ("confidence", "window = 0\nconfidence", "`window`"),
        ] {
            let text = GOOD.replace(from, to);
            let message = RuleFile::parse("acme.toml", &text)
                .expect_err(to)
                .to_string();
            assert!(message.contains(field), "{to}: {message}");
        }
    }

    #[test]
    fn a_duplicate_id_in_one_file_is_refused() {
        let rule = GOOD.split("[[rule]]").nth(1).expect("rule");
        let text = format!("{GOOD}\n[[rule]]{rule}");
        assert!(matches!(
            RuleFile::parse("acme.toml", &text),
            Err(RulesError::Duplicate { .. })
        ));
    }

    #[test]
    fn bad_toml_is_a_syntax_error_naming_the_file() {
        let error = RuleFile::parse("acme.toml", "[[rule]\n").expect_err("refused");
        assert!(matches!(error, RulesError::Syntax { .. }));
        assert!(error.to_string().starts_with("acme.toml: "));
    }

    #[test]
    fn a_user_rule_replaces_the_builtin_rule_of_the_same_id() {
        let mut set = RuleSet::builtin().expect("built-in rules parse");
        let before = set.rules().len();
        let id = set.rules()[0].id.clone();
        let text = GOOD.replace("acme-key", &id);
        set.extend(RuleFile::parse("mine.toml", &text).expect("parses"));
        assert_eq!(set.rules().len(), before);
        assert_eq!(set.rules()[0].kind, "acme_key");
    }
}
