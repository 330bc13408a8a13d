//! The matcher: rules compiled once, then bytes in, findings out.
//!
//! Scanning is two passes. The keyword pass ([`crate::keywords`]: one Aho-Corasick
//! automaton over every rule's keywords, overlapping occurrences included, a long input
//! walked in lanes) reads the whole input; each keyword it finds opens a window (from the
//! rule's `lookbehind` bytes before the keyword to its `window` bytes after it) in which
//! that rule's regex is tried, and overlapping windows of one rule are merged so no byte is
//! searched twice by the same rule. A rule whose matches provably stay on one line and
//! hold one of a few bytes ([`crate::narrowing`]) searches only the window's lines holding
//! one. Text with no keyword costs the keyword pass alone. Regexes are searched over the
//! window with the haystack around it as context (`regex-automata`'s range search, the
//! engine behind the `regex` crate), so `\b` at a window's edge means what it says. Each
//! candidate then passes its validator, entropy and decoy checks; where two rules claim
//! overlapping bytes, the more confident one wins.

use aho_corasick::AhoCorasick;
use regex_automata::{Input, meta, util::syntax};

use crate::decoy;
use crate::finding::{Finding, Fingerprint, LineCounter, preview};
use crate::keywords::{KeywordPass, Reach, Window};
use crate::narrowing::LineFilter;
use crate::rules::{Confidence, DEFAULT_LOOKBEHIND, DEFAULT_WINDOW, RuleSet, RuleSpec, RulesError};
use crate::validate::Validator;

/// The regex size limits: generous for real rules, refusing pathological user patterns.
const REGEX_SIZE_LIMIT: usize = 8 * 1024 * 1024;

struct CompiledRule {
    id: String,
    kind: String,
    description: String,
    confidence: Confidence,
    regex: meta::Regex,
    /// For a regex whose matches never cross a line, the bytes a line needs to be searched.
    line_filter: Option<LineFilter>,
    secret_group: usize,
    validator: Option<Validator>,
    min_entropy: Option<f64>,
    window: usize,
    lookbehind: usize,
    reject_placeholders: bool,
    reject_regular: bool,
    ignore_values: Vec<Vec<u8>>,
}

/// What a report needs to say about a rule (SARIF lists the rules it ran).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleInfo<'m> {
    pub id: &'m str,
    pub kind: &'m str,
    pub description: &'m str,
    pub confidence: Confidence,
}

/// Rules compiled for scanning; build once, share freely (`Send + Sync`).
pub struct Matcher {
    rules: Vec<CompiledRule>,
    keywords: KeywordPass,
    placeholders: AhoCorasick,
}

impl std::fmt::Debug for Matcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Matcher")
            .field("rules", &self.rules.len())
            .finish_non_exhaustive()
    }
}

/// Whether a window is narrowed to the lines that can hold a match ([`LineFilter`]); the
/// tests compare both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Narrowing {
    ToLines,
    #[cfg_attr(not(test), allow(dead_code))]
    WholeWindow,
}

/// A candidate before positions are computed. A refused candidate (its shape matched, a
/// check failed) is kept as a claim on its bytes: a look-alike of a known token, say one
/// with a wrong checksum, must not resurface as a less confident generic finding.
struct Candidate {
    rule: usize,
    start: usize,
    end: usize,
    /// The fingerprint and preview of an accepted candidate; `None` for a refused one.
    report: Option<(Fingerprint, String)>,
}

impl Matcher {
    /// The built-in rules, compiled.
    pub fn builtin() -> Result<Self, RulesError> {
        Self::new(&RuleSet::builtin()?)
    }

    /// Compiles a rule set; a pattern that does not compile, or a secret group the pattern
    /// does not have, is refused naming the rule and the field.
    pub fn new(set: &RuleSet) -> Result<Self, RulesError> {
        let rules = set
            .rules
            .iter()
            .map(compile)
            .collect::<Result<Vec<_>, _>>()?;
        let reach = rules
            .iter()
            .map(|rule| Reach {
                before: rule.lookbehind,
                after: rule.window,
            })
            .collect();
        let keywords =
            KeywordPass::new(keyword_owners(set), reach).map_err(|error| RulesError::Syntax {
                source_name: "rule set".into(),
                message: format!("the keywords cannot be compiled: {error}"),
            })?;
        let placeholders = AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(&set.placeholders)
            .map_err(|error| RulesError::Placeholder {
                source_name: "rule set".into(),
                problem: format!("cannot be compiled: {error}"),
            })?;
        Ok(Self {
            rules,
            keywords,
            placeholders,
        })
    }

    pub fn rules(&self) -> impl Iterator<Item = RuleInfo<'_>> {
        self.rules.iter().map(|rule| RuleInfo {
            id: &rule.id,
            kind: &rule.kind,
            description: &rule.description,
            confidence: rule.confidence,
        })
    }

    /// Every secret in `haystack`, in order of offset. Never panics, whatever the bytes.
    pub fn scan(&self, haystack: &[u8]) -> Vec<Finding> {
        self.scan_windows(
            haystack,
            self.keywords.windows(haystack),
            Narrowing::ToLines,
        )
    }

    /// The findings of each rule's regex searched over that rule's windows.
    fn scan_windows(
        &self,
        haystack: &[u8],
        windows: Vec<Window>,
        narrowing: Narrowing,
    ) -> Vec<Finding> {
        let mut candidates = Vec::new();
        for window in windows {
            let rule = &self.rules[window.rule];
            match (&rule.line_filter, narrowing) {
                (Some(filter), Narrowing::ToLines) => {
                    for (start, end) in filter.lines(haystack, window.start, window.end) {
                        self.search_window(window.rule, haystack, start, end, &mut candidates);
                    }
                }
                _ => self.search_window(
                    window.rule,
                    haystack,
                    window.start,
                    window.end,
                    &mut candidates,
                ),
            }
        }
        let kept = self.resolve_overlaps(candidates);
        let mut lines = LineCounter::new(haystack);
        kept.into_iter()
            .filter_map(|candidate| {
                let (fingerprint, preview) = candidate.report?;
                let rule = &self.rules[candidate.rule];
                let (line, column) = lines.locate(candidate.start);
                Some(Finding {
                    rule_id: rule.id.clone(),
                    kind: rule.kind.clone(),
                    confidence: rule.confidence,
                    offset: candidate.start,
                    length: candidate.end - candidate.start,
                    line,
                    column,
                    preview,
                    fingerprint,
                })
            })
            .collect()
    }

    fn search_window(
        &self,
        rule_index: usize,
        haystack: &[u8],
        start: usize,
        end: usize,
        candidates: &mut Vec<Candidate>,
    ) {
        let rule = &self.rules[rule_index];
        let input = Input::new(haystack).range(start..end);
        for captures in rule.regex.captures_iter(input) {
            let Some(span) = captures.get_group(rule.secret_group) else {
                continue;
            };
            let secret = &haystack[span.range()];
            if secret.is_empty() {
                continue;
            }
            let user = captures.get_group(1).map(|user| &haystack[user.range()]);
            let report = self
                .accepts(rule, secret, user)
                .then(|| (Fingerprint::of(secret), preview(secret)));
            candidates.push(Candidate {
                rule: rule_index,
                start: span.start,
                end: span.end,
                report,
            });
        }
    }

    fn accepts(&self, rule: &CompiledRule, secret: &[u8], user: Option<&[u8]>) -> bool {
        if let Some(validator) = rule.validator
            && !validator.accepts(secret, user)
        {
            return false;
        }
        if let Some(minimum) = rule.min_entropy
            && decoy::shannon_entropy(secret) < minimum
        {
            return false;
        }
        if rule.reject_placeholders && decoy::has_placeholder(secret, &self.placeholders) {
            return false;
        }
        if rule.reject_regular && decoy::is_too_regular(secret) {
            return false;
        }
        !rule
            .ignore_values
            .iter()
            .any(|value| value.eq_ignore_ascii_case(secret))
    }

    /// Where candidates overlap, keeps the most confident, accepted before refused, then
    /// the earlier rule. Refused candidates stay in the result as claims (the caller drops
    /// them), so they shadow less confident candidates on the same bytes. The result is
    /// ordered by offset.
    fn resolve_overlaps(&self, mut candidates: Vec<Candidate>) -> Vec<Candidate> {
        candidates.sort_by(|a, b| {
            self.rules[b.rule]
                .confidence
                .cmp(&self.rules[a.rule].confidence)
                .then(a.report.is_none().cmp(&b.report.is_none()))
                .then(a.rule.cmp(&b.rule))
                .then(a.start.cmp(&b.start))
        });
        let mut kept: Vec<Candidate> = Vec::with_capacity(candidates.len());
        for candidate in candidates {
            let overlaps = kept
                .iter()
                .any(|other| candidate.start < other.end && other.start < candidate.end);
            if !overlaps {
                kept.push(candidate);
            }
        }
        kept.sort_by_key(|candidate| (candidate.start, candidate.rule));
        kept
    }
}

/// Each distinct keyword (folded to lowercase: keywords match case-insensitively) with the
/// rules that list it.
fn keyword_owners(set: &RuleSet) -> Vec<(Vec<u8>, Vec<usize>)> {
    let mut owners_of: Vec<(Vec<u8>, Vec<usize>)> = Vec::new();
    for (index, spec) in set.rules.iter().enumerate() {
        for keyword in &spec.keywords {
            let folded = keyword.to_ascii_lowercase().into_bytes();
            match owners_of.iter_mut().find(|(known, _)| *known == folded) {
                Some((_, owners)) => {
                    if !owners.contains(&index) {
                        owners.push(index);
                    }
                }
                None => owners_of.push((folded, vec![index])),
            }
        }
    }
    owners_of
}

fn compile(spec: &RuleSpec) -> Result<CompiledRule, RulesError> {
    let field = |field: &'static str, problem: String| RulesError::Field {
        source_name: "rule set".into(),
        rule: spec.id.clone(),
        field,
        problem,
    };
    let syntax_config = syntax::Config::new().unicode(false).utf8(false);
    let regex = meta::Regex::builder()
        .syntax(syntax_config)
        .configure(
            meta::Regex::config()
                .utf8_empty(false)
                .nfa_size_limit(Some(REGEX_SIZE_LIMIT))
                .onepass_size_limit(Some(REGEX_SIZE_LIMIT))
                .hybrid_cache_capacity(2 * 1024 * 1024),
        )
        .build(&spec.regex)
        .map_err(|error| field("regex", error.to_string()))?;
    // The regex compiled, so it parses; were it not to, the rule is merely searched whole.
    let line_filter = syntax::parse_with(&spec.regex, &syntax_config)
        .ok()
        .and_then(|hir| LineFilter::for_pattern(&hir));
    let groups = regex
        .group_info()
        .group_len(regex_automata::PatternID::ZERO);
    if spec.secret_group >= groups {
        return Err(field(
            "secret_group",
            format!(
                "the regex has {} capture group(s), so {} does not exist",
                groups - 1,
                spec.secret_group
            ),
        ));
    }
    if spec.validator == Some(Validator::UrlPassword) && groups < 3 {
        return Err(field(
            "validator",
            "url_password needs the user in group 1 and the password in another group".into(),
        ));
    }
    Ok(CompiledRule {
        id: spec.id.clone(),
        kind: spec.kind.clone(),
        description: spec.description.clone(),
        confidence: spec.confidence,
        regex,
        line_filter,
        secret_group: spec.secret_group,
        validator: spec.validator,
        min_entropy: spec.min_entropy,
        window: spec.window.unwrap_or(DEFAULT_WINDOW),
        lookbehind: spec.lookbehind.unwrap_or(DEFAULT_LOOKBEHIND),
        reject_placeholders: spec.reject_placeholders,
        reject_regular: spec.reject_regular,
        ignore_values: spec
            .ignore_values
            .iter()
            .map(|value| value.as_bytes().to_vec())
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use aho_corasick::{AhoCorasickKind, MatchKind};
    use proptest::prelude::*;

    use super::*;
    use crate::keywords::tests::reference_windows;
    use crate::rules::RuleFile;

    fn matcher_for(rule: &str) -> Result<Matcher, RulesError> {
        let mut set = RuleSet::empty();
        set.extend(RuleFile::parse("test.toml", rule)?);
        Matcher::new(&set)
    }

    const RULE: &str = r#"
[[rule]]
id = "acme-key"
kind = "acme_key"
description = "An ACME key."
keywords = ["acme_"]
regex = '''\b(acme_[a-z0-9]{20})\b'''
secret_group = 1
confidence = "high"
"#;

    #[test]
    fn a_bad_regex_names_the_rule_and_field() {
        let text = RULE.replace("[a-z0-9]{20}", "[a-z0-9{20}");
        let message = matcher_for(&text).expect_err("refused").to_string();
        assert!(
            message.contains("\"acme-key\"") && message.contains("`regex`"),
            "{message}"
        );
    }

    #[test]
    fn a_missing_secret_group_is_refused() {
        let text = RULE.replace("secret_group = 1", "secret_group = 2");
        let message = matcher_for(&text).expect_err("refused").to_string();
        assert!(message.contains("`secret_group`"), "{message}");
    }

    #[test]
    fn keywords_gate_the_regex_case_insensitively() {
        let matcher = matcher_for(RULE).expect("compiles");
        let found = matcher.scan(b"x = acme_q8zr2kpv7xlm4ntwc9ye\n");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].offset, 4);
        assert_eq!((found[0].line, found[0].column), (1, 5));
        // The regex is case-sensitive; the keyword prefilter is not, and says nothing.
        assert!(matcher.scan(b"ACME_q8zr2kpv7xlm4ntwc9ye").is_empty());
    }

    #[test]
    fn a_word_boundary_at_a_window_edge_sees_the_bytes_beyond() {
        let mut text = RULE.replace(
            "keywords = [\"acme_\"]",
            "keywords = [\"acme_\"]\nwindow = 20",
        );
        text = text.replace("\\b(acme_", "(acme_");
        let matcher = matcher_for(&text).expect("compiles");
        // The match would end exactly at the window's end; the byte after it is a word byte.
        assert!(matcher.scan(b"acme_q8zr2kpv7xlm4ntwc9yeX").is_empty());
        assert_eq!(matcher.scan(b"acme_q8zr2kpv7xlm4ntwc9ye ").len(), 1);
    }

    #[test]
    fn overlapping_rules_keep_the_more_confident() {
        let low = RULE
            .replace("acme-key", "acme-generic")
            .replace("confidence = \"high\"", "confidence = \"low\"")
            .replace("\\b(acme_[a-z0-9]{20})\\b", "key = (acme_[a-z0-9]{20})");
        let matcher = matcher_for(&format!("{low}\n{RULE}")).expect("compiles");
        let found = matcher.scan(b"key = acme_q8zr2kpv7xlm4ntwc9ye");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].rule_id, "acme-key");
    }

    /// The windows as the matcher computed them before the keyword pass had lanes: the
    /// overlapping iterator of a case-insensitive Aho-Corasick DFA, one open window per
    /// rule, windows closed in the order the keywords were found.
    fn overlapping_iterator_windows(
        matcher: &Matcher,
        set: &RuleSet,
        haystack: &[u8],
    ) -> Vec<Window> {
        let keywords = keyword_owners(set);
        let automaton = AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .kind(Some(AhoCorasickKind::DFA))
            .build(keywords.iter().map(|(keyword, _)| keyword))
            .expect("keywords compile");
        let mut open: Vec<Option<(usize, usize)>> = vec![None; matcher.rules.len()];
        let mut closed = Vec::new();
        for hit in automaton.find_overlapping_iter(haystack) {
            for &rule in &keywords[hit.pattern().as_usize()].1 {
                let start = hit.start().saturating_sub(matcher.rules[rule].lookbehind);
                let end = (hit.end() + matcher.rules[rule].window).min(haystack.len());
                match &mut open[rule] {
                    Some((open_start, open_end)) if start <= *open_end => {
                        *open_start = (*open_start).min(start);
                        *open_end = (*open_end).max(end);
                    }
                    slot => {
                        if let Some((start, end)) = slot.replace((start, end)) {
                            closed.push(Window { rule, start, end });
                        }
                    }
                }
            }
        }
        closed.extend(
            open.into_iter().enumerate().filter_map(|(rule, window)| {
                window.map(|(start, end)| Window { rule, start, end })
            }),
        );
        closed
    }

    /// Text built from the built-in keywords (in any case, whole or cut), assignment
    /// syntax, random values and a few well-formed tokens, so that windows open, overlap
    /// and merge, and regexes match near their edges.
    fn keyword_text() -> impl Strategy<Value = Vec<u8>> {
        let set = RuleSet::builtin().expect("built-in rules");
        let keywords: Vec<Vec<u8>> = keyword_owners(&set).into_iter().map(|(k, _)| k).collect();
        let keyword = (any::<prop::sample::Index>(), any::<u64>(), 0..3u8).prop_map(
            move |(pick, case_bits, shape)| {
                let keyword = &keywords[pick.index(keywords.len())];
                let mut bytes = match shape {
                    0 => keyword[..keyword.len() / 2].to_vec(),
                    _ => keyword.clone(),
                };
                for (index, byte) in bytes.iter_mut().enumerate() {
                    if case_bits >> (index % 64) & 1 == 1 {
                        *byte = byte.to_ascii_uppercase();
                    }
                }
                bytes
            },
        );
        let piece = prop_oneof![
            4 => keyword,
            2 => "[0-9A-Za-z_/+.-]{1,70}".prop_map(String::into_bytes),
            1 => prop::sample::select(vec![
                " = \"", "\"", ": ", "=", "://u:", "@db", "\n", " ", "\t",
            ])
            .prop_map(|text| text.as_bytes().to_vec()),
            1 => "(ghp|npm)_[0-9A-Za-z]{36}".prop_map(String::into_bytes),
            1 => "AKIA[A-Z2-7]{16}".prop_map(String::into_bytes),
            1 => any::<u8>().prop_map(|byte| vec![byte]),
        ];
        prop::collection::vec(piece, 0..400).prop_map(|pieces| pieces.concat())
    }

    static BUILTIN: std::sync::LazyLock<(RuleSet, Matcher)> = std::sync::LazyLock::new(|| {
        let set = RuleSet::builtin().expect("built-in rules");
        let matcher = Matcher::new(&set).expect("built-in rules compile");
        (set, matcher)
    });

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Neither the keyword pass nor the narrowing to lines may lose a finding: what the
        /// matcher finds equals what the old overlapping search's windows find, each
        /// searched whole, and what the windows by definition find.
        #[test]
        fn the_keyword_pass_finds_what_every_occurrence_would(haystack in keyword_text()) {
            let (set, matcher) = &*BUILTIN;
            let found = matcher.scan(&haystack);
            let old = matcher.scan_windows(
                &haystack,
                overlapping_iterator_windows(matcher, set, &haystack),
                Narrowing::WholeWindow,
            );
            prop_assert_eq!(&found, &old);
            let reach: Vec<Reach> = matcher
                .rules
                .iter()
                .map(|rule| Reach { before: rule.lookbehind, after: rule.window })
                .collect();
            let expected = reference_windows(&keyword_owners(set), &reach, &haystack);
            prop_assert_eq!(&matcher.keywords.windows(&haystack), &expected);
            prop_assert_eq!(
                &found,
                &matcher.scan_windows(&haystack, expected, Narrowing::WholeWindow)
            );
        }
    }

    #[test]
    fn a_long_text_walked_in_lanes_gives_the_findings_of_the_overlapping_search() {
        let (set, matcher) = &*BUILTIN;
        use proptest::strategy::ValueTree;
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let mut haystack = Vec::new();
        while haystack.len() < 64 * 1024 {
            haystack.extend(
                keyword_text()
                    .new_tree(&mut runner)
                    .expect("a value")
                    .current(),
            );
        }
        let found = matcher.scan(&haystack);
        let old = matcher.scan_windows(
            &haystack,
            overlapping_iterator_windows(matcher, set, &haystack),
            Narrowing::WholeWindow,
        );
        assert_eq!(found, old);
    }
}
