//! Arbitrary bytes through the built-in matcher: it must not panic, and what it reports
//! must be well-formed (in bounds, ordered, never overlapping, never the secret itself).

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use warden_scan::Matcher;

static MATCHER: LazyLock<Option<Matcher>> = LazyLock::new(|| Matcher::builtin().ok());

fuzz_target!(|data: &[u8]| {
    let Some(matcher) = MATCHER.as_ref() else {
        return;
    };
    let findings = matcher.scan(data);
    let mut previous_end = 0;
    for finding in &findings {
        assert!(finding.length > 0);
        assert!(finding.offset >= previous_end);
        let end = finding.offset + finding.length;
        assert!(end <= data.len());
        assert!(finding.line >= 1 && finding.column >= 1);
        let secret = &data[finding.offset..end];
        if secret.len() >= 8 {
            assert!(!finding.preview.as_bytes().windows(secret.len()).any(|w| w == secret));
        }
        previous_end = end;
    }
});
