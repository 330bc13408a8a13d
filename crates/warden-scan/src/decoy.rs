//! Decoy rejection: values that match a secret's shape but are not secrets.
//!
//! Documentation and templates are full of them: `AKIAIOSFODNN7EXAMPLE`, `xxxx`, `<token>`,
//! `${VAR}`, `sk_live_1234567890abcdef…`. A scanner that reports them is switched off by the
//! people it was meant to protect, so these checks run on every candidate whose rule asks
//! for them. Each check is chosen so that a random value of the lengths our rules match
//! trips it with negligible probability.

/// Shannon entropy of `bytes`, in bits per byte (0 for an empty slice).
pub fn shannon_entropy(bytes: &[u8]) -> f64 {
    if bytes.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for &byte in bytes {
        counts[usize::from(byte)] += 1;
    }
    let total = bytes.len() as f64;
    counts
        .iter()
        .filter(|&&count| count > 0)
        .map(|&count| {
            let probability = f64::from(count) / total;
            -probability * probability.log2()
        })
        .sum()
}

/// The longest run of one repeated byte that still counts as random.
const MAX_RUN: usize = 5;
/// The longest ascending or descending sequence (`abcde`, `54321`) that still counts.
const MAX_SEQUENCE: usize = 5;
/// Periods up to this length make a value a repetition (`abab…`, `1a2b1a2b…`).
const MAX_PERIOD: usize = 4;

/// Too regular to be random: a long run of one byte, a long sequence, or a value that is
/// a short pattern repeated.
pub fn is_too_regular(bytes: &[u8]) -> bool {
    longest_run(bytes) > MAX_RUN || longest_sequence(bytes) > MAX_SEQUENCE || is_periodic(bytes)
}

fn longest_run(bytes: &[u8]) -> usize {
    let mut longest = 0;
    let mut current = 0;
    let mut previous = None;
    for &byte in bytes {
        current = if previous == Some(byte) {
            current + 1
        } else {
            1
        };
        longest = longest.max(current);
        previous = Some(byte);
    }
    longest
}

/// Ascending or descending by exactly one, among letters or digits only.
fn longest_sequence(bytes: &[u8]) -> usize {
    let mut longest = 0;
    let mut up = 0;
    let mut down = 0;
    let mut previous: Option<u8> = None;
    for &byte in bytes {
        let alnum = byte.is_ascii_alphanumeric();
        match previous {
            Some(before) if alnum && before.is_ascii_alphanumeric() => {
                up = if byte == before.wrapping_add(1) {
                    up + 1
                } else {
                    1
                };
                down = if byte == before.wrapping_sub(1) {
                    down + 1
                } else {
                    1
                };
            }
            _ => {
                up = 1;
                down = 1;
            }
        }
        longest = longest.max(up).max(down);
        previous = Some(byte);
    }
    longest
}

fn is_periodic(bytes: &[u8]) -> bool {
    bytes.len() >= 2 * MAX_PERIOD
        && (1..=MAX_PERIOD).any(|period| bytes[period..].iter().zip(bytes).all(|(a, b)| a == b))
}

/// Placeholder markers that no token alphabet contains: template syntax and angle brackets.
const MARKERS: [&[u8]; 7] = [b"${", b"{{", b"<", b">", b"%(", b"%s", b"..."];

/// Contains a placeholder word from the rule set's list, or a template marker.
pub fn has_placeholder(bytes: &[u8], words: &aho_corasick::AhoCorasick) -> bool {
    words.is_match(bytes)
        || MARKERS
            .iter()
            .any(|marker| memchr::memmem::find(bytes, marker).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entropy_of_uniform_and_constant_values() {
        assert_eq!(shannon_entropy(b""), 0.0);
        assert_eq!(shannon_entropy(b"aaaa"), 0.0);
        assert!((shannon_entropy(b"abcd") - 2.0).abs() < 1e-9);
    }

    #[test]
    fn regular_values_are_caught() {
        assert!(is_too_regular(b"ghp_aaaaaaaaaaaaaaaaaaaa"));
        assert!(is_too_regular(b"sk_live_1234567890abcdefghij"));
        assert!(is_too_regular(b"zyxwvutsrq"));
        assert!(is_too_regular(b"abababababab"));
        assert!(is_too_regular(b"1a2b1a2b1a2b1a2b"));
    }

    #[test]
    fn random_values_are_not_regular() {
        assert!(!is_too_regular(b"q8Zr2kPv7xLm4NtWc9Ye"));
        assert!(!is_too_regular(b"wJ9rXUtn3EMIqK7MD4NGabPxRfiCYq5A0ZuXz1B2"));
    }

    #[test]
    fn markers_count_as_placeholders() {
        let words = aho_corasick::AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(["example"])
            .expect("builds");
        assert!(has_placeholder(b"AKIAIOSFODNN7EXAMPLE", &words));
        assert!(has_placeholder(b"${API_KEY}", &words));
        assert!(has_placeholder(b"<token>", &words));
        assert!(!has_placeholder(b"q8Zr2kPv7xLm4NtW", &words));
    }
}
