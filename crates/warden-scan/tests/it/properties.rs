//! Properties over arbitrary input: the matcher never panics, its findings are well-formed,
//! a planted secret is found wherever it sits in noise, and no output carries a secret.

use std::sync::LazyLock;

use proptest::prelude::*;
use serde::Deserialize;
use warden_scan::Matcher;

use crate::template::{Generator, expand};

static MATCHER: LazyLock<Matcher> =
    LazyLock::new(|| Matcher::builtin().expect("built-in rules compile"));

#[derive(Deserialize)]
struct Table {
    case: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    rule: String,
    context: String,
    secret: String,
    #[allow(dead_code)]
    decoys: Vec<String>,
}

/// The built-in placeholder words: a random secret that happens to contain one (`xxxx` turns
/// up about once in 25,000 random 40-character tokens) is a decoy by design, not a miss.
static PLACEHOLDERS: LazyLock<Vec<String>> = LazyLock::new(|| {
    warden_scan::RuleSet::builtin()
        .expect("built-in rules parse")
        .placeholders()
        .to_vec()
});

static CASES: LazyLock<Vec<Case>> = LazyLock::new(|| {
    toml::from_str::<Table>(include_str!("../cases.toml"))
        .expect("cases parse")
        .case
});

/// Bytes that look a little like source text, so keywords and near-misses occur often.
fn texty_bytes() -> impl Strategy<Value = Vec<u8>> {
    let pieces = prop_oneof![
        any::<u8>().prop_map(|byte| vec![byte]),
        Just(b"api_key = \"".to_vec()),
        Just(b"token: ".to_vec()),
        Just(b"ghp_".to_vec()),
        Just(b"AKIA".to_vec()),
        Just(b"-----BEGIN RSA PRIVATE KEY-----\n".to_vec()),
        Just(b"postgres://u:".to_vec()),
        Just(b"\n".to_vec()),
        "[0-9A-Za-z]{1,60}".prop_map(String::into_bytes),
    ];
    prop::collection::vec(pieces, 0..200).prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic_and_findings_are_well_formed(
        bytes in prop_oneof![prop::collection::vec(any::<u8>(), 0..4096), texty_bytes()]
    ) {
        let findings = MATCHER.scan(&bytes);
        let mut previous_end = 0;
        for finding in &findings {
            prop_assert!(finding.length > 0);
            prop_assert!(finding.offset >= previous_end, "findings overlap or are unordered");
            prop_assert!(finding.offset + finding.length <= bytes.len());
            prop_assert!(finding.line >= 1 && finding.column >= 1);
            let newlines = bytes[..finding.offset].iter().filter(|&&b| b == b'\n').count();
            prop_assert_eq!(finding.line, newlines + 1);
            previous_end = finding.offset + finding.length;
        }
    }

    #[test]
    fn a_planted_secret_is_found_wherever_it_sits_in_noise(
        case_index in 0..64usize,
        seed in any::<u64>(),
        before in prop::collection::vec(any::<u8>(), 0..2048),
        after in prop::collection::vec(any::<u8>(), 0..2048),
    ) {
        let case = &CASES[case_index % CASES.len()];
        let secret = expand(&case.secret, &mut Generator::new(seed));
        let lowered = secret.to_ascii_lowercase();
        prop_assume!(!PLACEHOLDERS.iter().any(|word| lowered.contains(word.as_str())));
        let line = case.context.replace("{secret}", &secret);
        let mut haystack = before.clone();
        haystack.push(b'\n');
        let offset = haystack.len() + line.find(&secret).expect("in line");
        haystack.extend_from_slice(line.as_bytes());
        haystack.push(b'\n');
        haystack.extend_from_slice(&after);

        let findings = MATCHER.scan(&haystack);
        prop_assert!(
            findings.iter().any(|finding| finding.rule_id == case.rule
                && finding.offset == offset
                && finding.length == secret.len()),
            "rule {} missed its secret: {:?}", case.rule, findings
        );
        let shown = serde_json::to_string(&findings).expect("json") + &format!("{findings:?}");
        prop_assert!(!shown.contains(&secret), "rule {}: the secret leaked", case.rule);
        // Nor its random part: everything after what the preview may show.
        let hidden = &secret[secret.len().min(8)..];
        prop_assert!(hidden.len() < 8 || !shown.contains(hidden));
    }
}
