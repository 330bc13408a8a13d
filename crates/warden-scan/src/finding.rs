//! What the matcher reports about a secret it found: where, what, how sure, and two
//! harmless stand-ins for the secret itself (a redacted preview and a fingerprint).
//!
//! A finding never holds the secret. The fingerprint is
//! `sha256:` + hex(SHA-256(`FINGERPRINT_DOMAIN` ‖ secret bytes)): a server that knows a
//! secret can compute the same value and recognise a report about it, and the domain
//! prefix keeps these hashes apart from any other SHA-256 of the same bytes.

use std::fmt;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::rules::Confidence;

/// The prefix hashed before the secret's bytes; part of the fingerprint's definition.
pub const FINGERPRINT_DOMAIN: &[u8] = b"warden.leak-fingerprint.v1\0";

/// One secret found in the scanned bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The rule that matched (`github-pat`).
    pub rule_id: String,
    /// The kind of secret (`github_pat`).
    pub kind: String,
    pub confidence: Confidence,
    /// Byte offset of the secret's first byte.
    pub offset: usize,
    /// Length of the secret in bytes.
    pub length: usize,
    /// 1-based line of the secret's first byte.
    pub line: usize,
    /// 1-based column of the secret's first byte, in characters (UTF-8 code points).
    pub column: usize,
    /// A few leading characters and the length, e.g. `ghp_…(40 chars)`.
    pub preview: String,
    pub fingerprint: Fingerprint,
}

/// `sha256:<64 hex digits>` of the domain-prefixed secret.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Fingerprint(String);

impl Fingerprint {
    pub fn of(secret: &[u8]) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(FINGERPRINT_DOMAIN);
        hasher.update(secret);
        let digest = hasher.finalize();
        let mut text = String::with_capacity(7 + 64);
        text.push_str("sha256:");
        for byte in digest {
            text.push(hex_digit(byte >> 4));
            text.push(hex_digit(byte & 0x0f));
        }
        Self(text)
    }

    /// A fingerprint as printed (`sha256:` and 64 lowercase hex digits), or `None`.
    pub fn parse(text: &str) -> Option<Self> {
        let digits = text.strip_prefix("sha256:")?;
        let valid = digits.len() == 64
            && digits
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        valid.then(|| Self(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn hex_digit(nibble: u8) -> char {
    char::from(b"0123456789abcdef"[usize::from(nibble & 0x0f)])
}

/// Shows at most 4 leading characters, and never more than a quarter of the secret, so a
/// short password is not half revealed; anything but printable ASCII shows as `?`.
pub fn preview(secret: &[u8]) -> String {
    let shown = 4.min(secret.len() / 4);
    let mut text: String = secret[..shown]
        .iter()
        .map(|&byte| {
            if byte.is_ascii_graphic() {
                char::from(byte)
            } else {
                '?'
            }
        })
        .collect();
    text.push('…');
    text.push_str(&format!("({} chars)", secret.len()));
    text
}

/// Turns byte offsets into lines and columns, walking the haystack once for offsets given
/// in increasing order.
pub(crate) struct LineCounter<'h> {
    haystack: &'h [u8],
    position: usize,
    line: usize,
    line_start: usize,
}

impl<'h> LineCounter<'h> {
    pub(crate) fn new(haystack: &'h [u8]) -> Self {
        Self {
            haystack,
            position: 0,
            line: 1,
            line_start: 0,
        }
    }

    /// `(line, column)` of `offset`; offsets must not decrease between calls.
    pub(crate) fn locate(&mut self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.haystack.len());
        if offset >= self.position {
            let span = &self.haystack[self.position..offset];
            if let Some(last) = memchr::memrchr(b'\n', span) {
                self.line += memchr::memchr_iter(b'\n', span).count();
                self.line_start = self.position + last + 1;
            }
            self.position = offset;
        }
        let column = self.haystack[self.line_start..offset.max(self.line_start)]
            .iter()
            .filter(|&&byte| (byte & 0xC0) != 0x80)
            .count()
            + 1;
        (self.line, column)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_is_documented_sha256_with_domain() {
        let fingerprint = Fingerprint::of(b"hunter2hunter2");
        assert!(fingerprint.as_str().starts_with("sha256:"));
        assert_eq!(fingerprint.as_str().len(), 7 + 64);
        let mut hasher = Sha256::new();
        hasher.update(b"warden.leak-fingerprint.v1\0hunter2hunter2");
        let expected: String = hasher
            .finalize()
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        assert_eq!(fingerprint.as_str(), format!("sha256:{expected}"));
    }

    #[test]
    fn a_printed_fingerprint_parses_back_and_nothing_else_does() {
        let printed = Fingerprint::of(b"secret");
        assert_eq!(Fingerprint::parse(printed.as_str()), Some(printed.clone()));
        assert_eq!(Fingerprint::parse(&printed.as_str().to_uppercase()), None);
        assert_eq!(Fingerprint::parse(&printed.as_str()[..70]), None);
        assert_eq!(Fingerprint::parse("md5:00"), None);
    }

    #[test]
    fn preview_shows_little() {
        assert_eq!(
            preview(b"ghp_0123456789abcdefghij0123456789abcdef"),
            "ghp_…(40 chars)"
        );
        assert_eq!(preview(b"s3cretpw"), "s3…(8 chars)");
        assert_eq!(preview(b"abc"), "…(3 chars)");
        assert_eq!(preview(b"\x00\xffabcdefghijklmn"), "??ab…(16 chars)");
    }

    #[test]
    fn lines_and_columns_are_one_based_and_count_characters() {
        let text = "first\nsécond line\n\nfourth".as_bytes();
        let mut counter = LineCounter::new(text);
        assert_eq!(counter.locate(0), (1, 1));
        assert_eq!(counter.locate(3), (1, 4));
        let second = text.iter().position(|&b| b == b'l').expect("l");
        assert_eq!(counter.locate(second), (2, 8));
        let fourth = text.len() - "fourth".len();
        assert_eq!(counter.locate(fourth), (4, 1));
        assert_eq!(counter.locate(fourth + 2), (4, 3));
    }
}
