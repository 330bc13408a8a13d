//! Narrowing a window to the lines that can hold a match, for rules whose regex allows it.
//!
//! On source code the generic rule's keywords (`token`, `secret`, `passw`, …) are so
//! frequent that its windows merge into one covering nearly everything, and its regex would
//! read every byte. But its pattern is an assignment: every match contains `=` or `:`, and a
//! line break can only be a match's last byte. For such a rule a window is searched line by
//! line, and only the lines holding one of the required bytes, found with `memchr`.
//!
//! This finds exactly what searching the whole window finds. A cut at the start of a line
//! is never crossed by a match (the byte before it is a line break, which a match may only
//! end with), so the leftmost-first matches of the window are those of its lines, searched
//! one after the other with the haystack around them as context; and a line without a
//! required byte holds no match at all. Both facts are read off the regex's syntax tree
//! when the rule is compiled, with sets of bytes that can only be too large, never too
//! small: a rule for which either cannot be shown is searched over its whole window.

use regex_syntax::hir::{Class, Hir, HirKind};

/// The line break that cuts a window into lines.
const LINE_BREAK: u8 = b'\n';

/// The bytes of which every match holds at least one, for a rule whose matches never
/// contain a line break except as their last byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LineFilter {
    required: Required,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Required {
    One(u8),
    Two(u8, u8),
    Three(u8, u8, u8),
}

impl LineFilter {
    /// The filter for a parsed pattern, if its matches are provably line-local and all hold
    /// one of at most three bytes.
    pub(crate) fn for_pattern(hir: &Hir) -> Option<Self> {
        // A pattern that can match the empty string could match at a cut.
        if hir.properties().minimum_len().is_none_or(|len| len == 0) {
            return None;
        }
        let parts = top_level_parts(hir);
        let (last, inner) = parts.split_last()?;
        // A line break must be matchable by the last part only, and only as one byte.
        if last.properties().maximum_len().is_none_or(|len| len > 1) {
            return None;
        }
        let mut inner_bytes = ByteSet::EMPTY;
        for part in inner {
            inner_bytes.add_all(&bytes_of(part));
        }
        if inner_bytes.contains(LINE_BREAK) {
            return None;
        }
        // Every part that cannot be empty puts at least one of its bytes into every match;
        // the part with the fewest possible bytes makes the sharpest filter.
        let fewest = parts
            .iter()
            .filter(|part| part.properties().minimum_len().is_some_and(|len| len >= 1))
            .map(|part| bytes_of(part))
            .min_by_key(|set| set.len())?;
        let required = match fewest.bytes().as_slice() {
            [a] => Required::One(*a),
            [a, b] => Required::Two(*a, *b),
            [a, b, c] => Required::Three(*a, *b, *c),
            _ => return None,
        };
        Some(Self { required })
    }

    /// The lines of `start..end` (each ending after its line break, the first and last cut
    /// at the window's edges) that hold a required byte, in order.
    pub(crate) fn lines<'h>(
        &self,
        haystack: &'h [u8],
        start: usize,
        end: usize,
    ) -> impl Iterator<Item = (usize, usize)> + 'h {
        let required = self.required;
        let mut position = start;
        std::iter::from_fn(move || {
            if position >= end {
                return None;
            }
            let rest = &haystack[position..end];
            let found = match required {
                Required::One(a) => memchr::memchr(a, rest),
                Required::Two(a, b) => memchr::memchr2(a, b, rest),
                Required::Three(a, b, c) => memchr::memchr3(a, b, c, rest),
            };
            let Some(found) = found else {
                position = end;
                return None;
            };
            let at = position + found;
            let line_start = memchr::memrchr(LINE_BREAK, &haystack[position..at])
                .map_or(position, |index| position + index + 1);
            let line_end =
                memchr::memchr(LINE_BREAK, &haystack[at..end]).map_or(end, |index| at + index + 1);
            position = line_end;
            Some((line_start, line_end))
        })
    }
}

/// The parts of the pattern's top-level concatenation, capture groups looked through (a
/// pattern that is no concatenation is one part).
fn top_level_parts(hir: &Hir) -> Vec<&Hir> {
    let mut hir = hir;
    while let HirKind::Capture(capture) = hir.kind() {
        hir = &capture.sub;
    }
    let mut parts = Vec::new();
    match hir.kind() {
        HirKind::Concat(subs) => {
            for sub in subs {
                flatten_concat(sub, &mut parts);
            }
        }
        _ => parts.push(hir),
    }
    parts
}

fn flatten_concat<'h>(hir: &'h Hir, parts: &mut Vec<&'h Hir>) {
    match hir.kind() {
        HirKind::Concat(subs) => {
            for sub in subs {
                flatten_concat(sub, parts);
            }
        }
        HirKind::Capture(capture) if matches!(capture.sub.kind(), HirKind::Concat(_)) => {
            flatten_concat(&capture.sub, parts);
        }
        _ => parts.push(hir),
    }
}

/// Every byte that a match of `hir` may contain (possibly more, never fewer).
fn bytes_of(hir: &Hir) -> ByteSet {
    let mut set = ByteSet::EMPTY;
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => {}
        HirKind::Literal(literal) => {
            for &byte in literal.0.iter() {
                set.add(byte);
            }
        }
        HirKind::Class(Class::Bytes(class)) => {
            for range in class.iter() {
                set.add_range(range.start(), range.end());
            }
        }
        HirKind::Class(Class::Unicode(class)) => {
            for range in class.iter() {
                match (u8::try_from(range.start()), u8::try_from(range.end())) {
                    (Ok(start), Ok(end)) if end.is_ascii() => set.add_range(start, end),
                    // A non-ASCII character is several bytes, any of them possible.
                    _ => return ByteSet::ALL,
                }
            }
        }
        HirKind::Repetition(repetition) => return bytes_of(&repetition.sub),
        HirKind::Capture(capture) => return bytes_of(&capture.sub),
        HirKind::Concat(subs) | HirKind::Alternation(subs) => {
            for sub in subs {
                set.add_all(&bytes_of(sub));
            }
        }
    }
    set
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ByteSet([bool; 256]);

impl ByteSet {
    const EMPTY: Self = Self([false; 256]);
    const ALL: Self = Self([true; 256]);

    fn add(&mut self, byte: u8) {
        self.0[usize::from(byte)] = true;
    }

    fn add_range(&mut self, start: u8, end: u8) {
        for byte in start..=end {
            self.add(byte);
        }
    }

    fn add_all(&mut self, other: &Self) {
        for (mine, theirs) in self.0.iter_mut().zip(other.0) {
            *mine |= theirs;
        }
    }

    fn contains(&self, byte: u8) -> bool {
        self.0[usize::from(byte)]
    }

    fn len(&self) -> usize {
        self.0.iter().filter(|&&present| present).count()
    }

    fn bytes(&self) -> Vec<u8> {
        (0..=u8::MAX).filter(|&byte| self.contains(byte)).collect()
    }
}

#[cfg(test)]
mod tests {
    use regex_automata::util::syntax;

    use super::*;
    use crate::rules::RuleSet;

    fn filter(pattern: &str) -> Option<LineFilter> {
        let config = syntax::Config::new().unicode(false).utf8(false);
        LineFilter::for_pattern(&syntax::parse_with(pattern, &config).expect("parses"))
    }

    #[test]
    fn an_assignment_is_searched_only_on_lines_with_its_operator() {
        let rules = RuleSet::builtin().expect("built-in rules");
        let generic = rules
            .rules()
            .iter()
            .find(|rule| rule.id == "generic-secret-assignment")
            .expect("the generic rule");
        let filter = filter(&generic.regex).expect("the generic rule is line-local");
        assert_eq!(filter.required, Required::Three(b':', b'=', b'>'));
        let text = b"token count\napi_key = \"q8Zr2kPv7xLm4NtW\"\nno operator\nx: y";
        let lines: Vec<_> = filter.lines(text, 0, text.len()).collect();
        assert_eq!(lines, vec![(12, 41), (53, 57)]);
        // The window's edges cut the first and last line.
        let lines: Vec<_> = filter.lines(text, 20, 56).collect();
        assert_eq!(lines, vec![(20, 41), (53, 56)]);
    }

    #[test]
    fn patterns_that_can_cross_a_line_or_be_empty_are_searched_whole() {
        // A line break (or a class holding one) before the last part.
        assert_eq!(filter(r"a\s*=\s*b"), None);
        assert_eq!(filter(r"a[^x]=b"), None);
        assert_eq!(filter(r"(?s)a.=b"), None);
        // A last part that can be longer than one byte.
        assert_eq!(filter(r"a=b\s+"), None);
        // A pattern that can match the empty string, or is no concatenation.
        assert_eq!(filter(r"(?:a=b)?"), None);
        assert_eq!(filter(r"a=b|c:d"), None);
        // No part with three bytes or fewer.
        assert_eq!(filter(r"[a-z]+[0-9][;,.!]"), None);
        // Line-local, a line break only at the end.
        assert!(filter(r"a=b\s").is_some());
        assert!(filter(r"(x[a-z]+)=([0-9]+)(?:\n|$)").is_some());
    }

    #[test]
    fn the_private_key_rule_spans_lines_and_is_searched_whole() {
        let rules = RuleSet::builtin().expect("built-in rules");
        let private_key = rules
            .rules()
            .iter()
            .find(|rule| rule.id == "private-key")
            .expect("the private-key rule");
        assert_eq!(filter(&private_key.regex), None);
    }
}
