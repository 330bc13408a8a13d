//! The table of planted secrets and decoys (`tests/cases.toml`): every built-in rule finds
//! its planted secret, exactly where it is, and reports nothing for its decoys.

use serde::Deserialize;
use warden_scan::{Fingerprint, Matcher, RuleSet};

use crate::template::{Generator, expand};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Table {
    case: Vec<Case>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    rule: String,
    context: String,
    secret: String,
    decoys: Vec<String>,
}

fn table() -> Table {
    toml::from_str(include_str!("../cases.toml")).expect("tests/cases.toml parses")
}

/// Each case's planted line and secret, expanded with a seed of its own.
fn planted(index: usize, case: &Case) -> (String, String) {
    let mut generator = Generator::new(0x5EED_0000 + index as u64);
    let secret = expand(&case.secret, &mut generator);
    (case.context.replace("{secret}", &secret), secret)
}

#[test]
fn every_builtin_rule_has_a_case_with_a_decoy() {
    let table = table();
    let rules = RuleSet::builtin().expect("built-in rules");
    for rule in rules.rules() {
        let case = table.case.iter().find(|case| case.rule == rule.id);
        let case = case.unwrap_or_else(|| panic!("rule {} has no case in cases.toml", rule.id));
        assert!(!case.decoys.is_empty(), "rule {} has no decoy", rule.id);
    }
    for case in &table.case {
        assert!(
            rules.rules().iter().any(|rule| rule.id == case.rule),
            "case for unknown rule {}",
            case.rule
        );
    }
}

#[test]
fn every_rule_finds_its_planted_secret_and_only_it() {
    let matcher = Matcher::builtin().expect("built-in rules compile");
    for (index, case) in table().case.iter().enumerate() {
        let (line, secret) = planted(index, case);
        let offset = line.find(&secret).expect("the secret is in its line");
        let findings = matcher.scan(line.as_bytes());
        assert_eq!(
            findings.len(),
            1,
            "rule {}: expected one finding, got {:?}",
            case.rule,
            findings
        );
        let finding = &findings[0];
        assert_eq!(finding.rule_id, case.rule, "{findings:?}");
        assert_eq!(finding.offset, offset, "rule {}", case.rule);
        assert_eq!(finding.length, secret.len(), "rule {}", case.rule);
        assert_eq!(finding.fingerprint, Fingerprint::of(secret.as_bytes()));
        let shown = serde_json::to_string(&findings).expect("json") + &format!("{findings:?}");
        assert!(
            !shown.contains(&secret),
            "rule {}: the secret leaked",
            case.rule
        );
    }
}

#[test]
fn every_decoy_is_ignored() {
    let matcher = Matcher::builtin().expect("built-in rules compile");
    for (index, case) in table().case.iter().enumerate() {
        for (decoy_index, decoy) in case.decoys.iter().enumerate() {
            let mut generator = Generator::new(0xDEC0_0000 + (index * 100 + decoy_index) as u64);
            let line = expand(decoy, &mut generator);
            let findings = matcher.scan(line.as_bytes());
            assert!(
                findings.is_empty(),
                "rule {}: decoy {line:?} was reported: {findings:?}",
                case.rule
            );
        }
    }
}

#[test]
fn planted_secrets_are_found_together_on_their_lines() {
    let matcher = Matcher::builtin().expect("built-in rules compile");
    let table = table();
    let mut text = String::new();
    let mut expected = Vec::new();
    for (index, case) in table.case.iter().enumerate() {
        let (line, secret) = planted(index, case);
        let line_number = text.matches('\n').count() + 1;
        let line_offset = line.find(&secret).expect("in line");
        let before = &line[..line_offset];
        let secret_line = line_number + before.matches('\n').count();
        expected.push((case.rule.clone(), text.len() + line_offset, secret_line));
        text.push_str(&line);
        text.push('\n');
        text.push_str("some ordinary text between the planted secrets\n");
    }
    let found: Vec<_> = matcher
        .scan(text.as_bytes())
        .into_iter()
        .map(|finding| (finding.rule_id, finding.offset, finding.line))
        .collect();
    assert_eq!(found, expected);
}
