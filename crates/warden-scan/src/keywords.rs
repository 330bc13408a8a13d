//! The keyword pass: every occurrence of every rule's keywords, turned into the windows
//! each rule's regex must search.
//!
//! Keywords are found by one Aho-Corasick automaton (a DFA, or a contiguous NFA when the
//! DFA would be too large), matched ASCII case-insensitively and with *overlapping*
//! semantics: every occurrence of every keyword is seen, also when keywords share bytes
//! (`secret` inside `api_secret`, `token` just before `npm_`). A leftmost, non-overlapping
//! search would be free to skip those, and each skipped occurrence could be the only one
//! opening some rule's window.
//!
//! On text full of keywords (source code is: `token`, `secret`, `password` everywhere) a
//! prefilter does not help (a Teddy search over a lowercased copy measured no faster than
//! the plain automaton on the benchmark's text), and walking the automaton is bound by the
//! chain of dependent table loads, one per byte. So a long haystack is cut into [`LANES`]
//! stretches that are walked in lockstep, one automaton state each, which lets the
//! processor overlap the loads. Each lane starts `longest keyword - 1` bytes before its
//! stretch and keeps only occurrences that end inside it, so every occurrence is seen by
//! exactly one lane, exactly as one walk over the whole haystack would see it.
//!
//! A window reaches from the rule's `lookbehind` bytes before a keyword to its `window`
//! bytes after it. Windows of one rule that overlap or touch are merged, so no byte is
//! searched twice by the same rule; the result depends only on the set of occurrences, not
//! on the order they were found in.

use aho_corasick::automaton::{Automaton, StateID};
use aho_corasick::{Anchored, MatchKind, dfa, nfa};

/// How many stretches of a long haystack are walked at once. On the benchmark's text, 2, 4
/// and 8 lanes each made the keyword pass about 1.5 to 2 times as fast as one walk, 8 a
/// little ahead of the others (within the noise of a busy machine).
const LANES: usize = 8;

/// Below this many bytes per lane a haystack is walked in one lane: lanes cost a few small
/// allocations and walk `longest keyword - 1` bytes twice at each edge.
const MIN_LANE_BYTES: usize = 512;

/// How far a rule's windows reach around a keyword occurrence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Reach {
    pub(crate) before: usize,
    pub(crate) after: usize,
}

/// A stretch of the haystack, `start..end`, that one rule's regex must search.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Window {
    pub(crate) rule: usize,
    pub(crate) start: usize,
    pub(crate) end: usize,
}

enum KeywordAutomaton {
    Dfa(dfa::DFA),
    Nfa(nfa::contiguous::NFA),
}

/// The compiled keywords of a rule set and the rules each one opens windows for.
pub(crate) struct KeywordPass {
    automaton: KeywordAutomaton,
    /// The automaton's unanchored start state, looked up once so that a scan cannot fail.
    start: StateID,
    /// For each keyword pattern, the rules it opens windows for.
    owners: Vec<Vec<usize>>,
    /// For each rule, how far its windows reach.
    reach: Vec<Reach>,
}

impl KeywordPass {
    /// `keywords` pairs each keyword with the rules (indexes into `reach`) that own it.
    pub(crate) fn new(
        keywords: Vec<(Vec<u8>, Vec<usize>)>,
        reach: Vec<Reach>,
    ) -> Result<Self, String> {
        let patterns: Vec<&[u8]> = keywords
            .iter()
            .map(|(keyword, _)| keyword.as_slice())
            .collect();
        // No prefilter: the walk below has no use for one (on keyword-dense text it would be
        // called every few bytes to skip a few bytes), and with one the start state would
        // count as special and take the match branch on most bytes.
        let automaton = match dfa::DFA::builder()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .prefilter(false)
            .build(&patterns)
        {
            Ok(dfa) => KeywordAutomaton::Dfa(dfa),
            Err(_) => KeywordAutomaton::Nfa(
                nfa::contiguous::NFA::builder()
                    .ascii_case_insensitive(true)
                    .match_kind(MatchKind::Standard)
                    .prefilter(false)
                    .build(&patterns)
                    .map_err(|error| error.to_string())?,
            ),
        };
        let start = match &automaton {
            KeywordAutomaton::Dfa(dfa) => dfa.start_state(Anchored::No),
            KeywordAutomaton::Nfa(nfa) => nfa.start_state(Anchored::No),
        }
        .map_err(|error| error.to_string())?;
        Ok(Self {
            automaton,
            start,
            owners: keywords.into_iter().map(|(_, owners)| owners).collect(),
            reach,
        })
    }

    /// The merged windows of every rule, ordered by rule, then offset.
    pub(crate) fn windows(&self, haystack: &[u8]) -> Vec<Window> {
        let lanes_fit = haystack.len() >= LANES * MIN_LANE_BYTES;
        let windows = match (&self.automaton, lanes_fit) {
            (KeywordAutomaton::Dfa(dfa), true) => self.walk::<_, LANES>(dfa, self.start, haystack),
            (KeywordAutomaton::Dfa(dfa), false) => self.walk::<_, 1>(dfa, self.start, haystack),
            (KeywordAutomaton::Nfa(nfa), true) => self.walk::<_, LANES>(nfa, self.start, haystack),
            (KeywordAutomaton::Nfa(nfa), false) => self.walk::<_, 1>(nfa, self.start, haystack),
        };
        merge(windows)
    }

    /// Walks `haystack` in `N` lanes and returns every lane's windows, not yet merged
    /// across lanes.
    fn walk<A: Automaton, const N: usize>(
        &self,
        automaton: &A,
        start: StateID,
        haystack: &[u8],
    ) -> Vec<Window> {
        let overlap = automaton.max_pattern_len().saturating_sub(1);
        let stretch = haystack.len().div_ceil(N);
        // Occurrences ending at or before `owned_from[lane]` belong to the lane before.
        let owned_from: [usize; N] =
            std::array::from_fn(|lane| (lane * stretch).min(haystack.len()));
        let ends: [usize; N] =
            std::array::from_fn(|lane| ((lane + 1) * stretch).min(haystack.len()));
        let begins: [usize; N] =
            std::array::from_fn(|lane| owned_from[lane].saturating_sub(overlap));
        let lockstep = (0..N)
            .map(|lane| ends[lane] - begins[lane])
            .min()
            .unwrap_or(0);
        // The states sit in a plain array, apart from everything else, so that the compiler
        // keeps them in registers; the collectors are only touched on a match.
        let mut states = [start; N];
        let mut collectors: [WindowCollector; N] =
            std::array::from_fn(|_| WindowCollector::new(self.reach.len(), haystack.len()));
        for offset in 0..lockstep {
            for lane in 0..N {
                let at = begins[lane] + offset;
                states[lane] = automaton.next_state(Anchored::No, states[lane], haystack[at]);
                if automaton.is_special(states[lane]) {
                    self.record(
                        automaton,
                        states[lane],
                        at + 1,
                        owned_from[lane],
                        &mut collectors[lane],
                    );
                }
            }
        }
        let mut windows = Vec::new();
        for lane in 0..N {
            let rest = begins[lane] + lockstep;
            for (at, &byte) in (rest..).zip(&haystack[rest..ends[lane]]) {
                states[lane] = automaton.next_state(Anchored::No, states[lane], byte);
                if automaton.is_special(states[lane]) {
                    self.record(
                        automaton,
                        states[lane],
                        at + 1,
                        owned_from[lane],
                        &mut collectors[lane],
                    );
                }
            }
            collectors[lane].finish_into(&mut windows);
        }
        windows
    }

    /// Records the occurrences that end at `end` in `state`, if the lane owns that offset.
    /// Kept out of line so the walk above stays small: even keyword-dense text has a match
    /// only every eighty bytes or so.
    #[inline(never)]
    fn record<A: Automaton>(
        &self,
        automaton: &A,
        state: StateID,
        end: usize,
        owned_from: usize,
        collector: &mut WindowCollector,
    ) {
        // On the DFA without a prefilter, match states are the only special states an
        // unanchored walk reaches; any other (an automaton may mark its start state
        // special) is passed over here.
        if !automaton.is_match(state) || end <= owned_from {
            return;
        }
        for index in 0..automaton.match_len(state) {
            let pattern = automaton.match_pattern(state, index);
            let start = end - automaton.pattern_len(pattern);
            collector.add(&self.owners[pattern.as_usize()], &self.reach, start, end);
        }
    }
}

/// Merges the windows of occurrences found in order of their end, one open window per rule.
struct WindowCollector {
    open: Vec<Option<(usize, usize)>>,
    closed: Vec<Window>,
    haystack_len: usize,
}

impl WindowCollector {
    fn new(rules: usize, haystack_len: usize) -> Self {
        Self {
            open: vec![None; rules],
            closed: Vec::new(),
            haystack_len,
        }
    }

    fn add(&mut self, owners: &[usize], reach: &[Reach], start: usize, end: usize) {
        for &rule in owners {
            let window_start = start.saturating_sub(reach[rule].before);
            let window_end = end.saturating_add(reach[rule].after).min(self.haystack_len);
            match &mut self.open[rule] {
                Some((open_start, open_end)) if window_start <= *open_end => {
                    *open_start = (*open_start).min(window_start);
                    *open_end = (*open_end).max(window_end);
                }
                slot => {
                    if let Some((start, end)) = slot.replace((window_start, window_end)) {
                        self.closed.push(Window { rule, start, end });
                    }
                }
            }
        }
    }

    fn finish_into(&mut self, windows: &mut Vec<Window>) {
        windows.append(&mut self.closed);
        windows.extend(self.open.iter_mut().enumerate().filter_map(|(rule, open)| {
            open.take().map(|(start, end)| Window { rule, start, end })
        }));
    }
}

/// Orders windows by rule and offset and merges those of one rule that overlap or touch.
/// The collectors leave few windows (one per run of nearby occurrences per lane), so the
/// sort is cheap.
fn merge(mut windows: Vec<Window>) -> Vec<Window> {
    windows.sort_unstable();
    let mut merged: Vec<Window> = Vec::with_capacity(windows.len());
    for window in windows {
        match merged.last_mut() {
            Some(last) if last.rule == window.rule && window.start <= last.end => {
                last.end = last.end.max(window.end);
            }
            _ => merged.push(window),
        }
    }
    merged
}

#[cfg(test)]
pub(crate) mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The windows by definition: every offset where a keyword occurs (compared byte by byte,
    /// ASCII case-insensitively), each occurrence's window for each of its rules, merged
    /// where they overlap or touch.
    pub(crate) fn reference_windows(
        keywords: &[(Vec<u8>, Vec<usize>)],
        reach: &[Reach],
        haystack: &[u8],
    ) -> Vec<Window> {
        let mut windows = Vec::new();
        for start in 0..haystack.len() {
            for (keyword, owners) in keywords {
                let end = start + keyword.len();
                if end <= haystack.len() && haystack[start..end].eq_ignore_ascii_case(keyword) {
                    for &rule in owners {
                        windows.push(Window {
                            rule,
                            start: start.saturating_sub(reach[rule].before),
                            end: (end + reach[rule].after).min(haystack.len()),
                        });
                    }
                }
            }
        }
        merge(windows)
    }

    /// Keywords chosen to overlap each other in every way: one inside another, one's end
    /// another's start, a keyword overlapping itself, and different rules sharing one.
    fn tangled_keywords() -> Vec<(Vec<u8>, Vec<usize>)> {
        [
            ("secret", vec![0]),
            ("api_secret", vec![1]),
            ("secret_access_key", vec![2, 0]),
            ("token", vec![0]),
            ("npm_", vec![3]),
            ("aaa", vec![4]),
            ("abab", vec![4, 1]),
            ("keyx", vec![2]),
        ]
        .into_iter()
        .map(|(keyword, owners)| (keyword.as_bytes().to_vec(), owners))
        .collect()
    }

    fn tangled_reach() -> Vec<Reach> {
        vec![
            Reach {
                before: 0,
                after: 0,
            },
            Reach {
                before: 3,
                after: 1,
            },
            Reach {
                before: 64,
                after: 192,
            },
            Reach {
                before: 1,
                after: 40,
            },
            Reach {
                before: 0,
                after: 2,
            },
        ]
    }

    /// Text made of keyword fragments: whole keywords in random case, their prefixes and
    /// suffixes, runs of one letter, and other bytes, so that occurrences overlap, nearly
    /// occur, and straddle wherever the lanes happen to be cut.
    fn fragments(keywords: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
        let keywords = std::sync::Arc::new(keywords);
        let piece = (
            any::<prop::sample::Index>(),
            0..6u8,
            any::<u64>(),
            0..32usize,
        )
            .prop_map(move |(pick, shape, case_bits, cut)| {
                let keyword = &keywords[pick.index(keywords.len())];
                let cut = cut % (keyword.len() + 1);
                let mut bytes = match shape {
                    0 | 1 => keyword.clone(),
                    2 => keyword[..cut].to_vec(),
                    3 => keyword[cut..].to_vec(),
                    4 => vec![b'a'; cut],
                    _ => vec![(case_bits % 256) as u8; 1 + cut % 3],
                };
                for (index, byte) in bytes.iter_mut().enumerate() {
                    if case_bits >> (index % 64) & 1 == 1 {
                        *byte = byte.to_ascii_uppercase();
                    }
                }
                bytes
            });
        prop::collection::vec(piece, 0..300).prop_map(|pieces| pieces.concat())
    }

    fn pass(keywords: &[(Vec<u8>, Vec<usize>)], reach: &[Reach]) -> KeywordPass {
        KeywordPass::new(keywords.to_vec(), reach.to_vec()).expect("keywords compile")
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn every_lane_count_finds_the_windows_of_every_occurrence(
            haystack in fragments(tangled_keywords().into_iter().map(|(k, _)| k).collect())
        ) {
            let keywords = tangled_keywords();
            let reach = tangled_reach();
            let pass = pass(&keywords, &reach);
            let expected = reference_windows(&keywords, &reach, &haystack);
            let KeywordAutomaton::Dfa(dfa) = &pass.automaton else {
                panic!("a handful of keywords compile to a DFA");
            };
            let start = pass.start;
            prop_assert_eq!(&merge(pass.walk::<_, 1>(dfa, start, &haystack)), &expected);
            prop_assert_eq!(&merge(pass.walk::<_, 3>(dfa, start, &haystack)), &expected);
            prop_assert_eq!(&merge(pass.walk::<_, 4>(dfa, start, &haystack)), &expected);
            prop_assert_eq!(&merge(pass.walk::<_, LANES>(dfa, start, &haystack)), &expected);
            prop_assert_eq!(&merge(pass.walk::<_, 7>(dfa, start, &haystack)), &expected);
            prop_assert_eq!(&pass.windows(&haystack), &expected);
        }
    }

    #[test]
    fn the_nfa_finds_what_the_dfa_finds() {
        let keywords = tangled_keywords();
        let reach = tangled_reach();
        let pass = pass(&keywords, &reach);
        let nfa = nfa::contiguous::NFA::builder()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .prefilter(false)
            .build(keywords.iter().map(|(keyword, _)| keyword))
            .expect("compiles");
        let haystack = b"xx API_SECRET_ACCESS_KEYX tokenpm_ aaaabababab secret".repeat(50);
        let expected = reference_windows(&keywords, &reach, &haystack);
        assert!(!expected.is_empty());
        let start = nfa.start_state(Anchored::No).expect("unanchored");
        assert_eq!(merge(pass.walk::<_, 1>(&nfa, start, &haystack)), expected);
        assert_eq!(
            merge(pass.walk::<_, LANES>(&nfa, start, &haystack)),
            expected
        );
    }

    #[test]
    fn a_long_haystack_is_walked_in_lanes_and_loses_nothing_at_their_edges() {
        let keywords = tangled_keywords();
        let reach = tangled_reach();
        let pass = pass(&keywords, &reach);
        // Long enough for lanes, with occurrences everywhere, so that some straddle each
        // lane's edge.
        let haystack = b"....api_secret_access_keyx.tokenpm_.abababaaa.......".repeat(2001);
        assert!(haystack.len() >= LANES * MIN_LANE_BYTES);
        assert_eq!(
            pass.windows(&haystack),
            reference_windows(&keywords, &reach, &haystack)
        );
    }
}
