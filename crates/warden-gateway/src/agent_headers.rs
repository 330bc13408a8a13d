//! What the gateway reads from the headers of a request or an answer: the agent's bearer
//! token, its stated reason, a body's media type, and the content codings of an answer.
//!
//! Each reader is strict where a lenient one could be steered: a repeated `Authorization`
//! names no token (which of two would the upstream's framework take?), a reason that is
//! repeated, not UTF-8, too long or carries control characters is refused rather than
//! cleaned, and every content coding but `identity` counts, whatever its case or position
//! in the list.

use http::HeaderMap;
use http::header::{AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE};

use crate::{Refusal, RefusalCode};

/// The header that carries the agent's reason for a request.
pub const REASON_HEADER: &str = "warden-reason";
/// The longest reason kept, in bytes.
pub const MAX_REASON_BYTES: usize = 1024;

/// The bearer token of an `Authorization` header, if there is exactly one and it is a
/// non-empty `Bearer` credential (the scheme in any case, RFC 9110 §11.1).
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    let text = value.to_str().ok()?;
    let (scheme, token) = text.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|token| !token.is_empty())
}

/// The agent's `Warden-Reason`, checked: one header, UTF-8, no control characters, at most
/// [`MAX_REASON_BYTES`] once trimmed. An empty reason is no reason.
pub fn reason(headers: &HeaderMap) -> Result<Option<String>, Refusal> {
    let mut values = headers.get_all(REASON_HEADER).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    let bad = |why: &str| {
        Refusal::new(RefusalCode::BadRequest, format!("Warden-Reason {why}")).with_rule("reason")
    };
    if values.next().is_some() {
        return Err(bad("is repeated; send one"));
    }
    let text = std::str::from_utf8(value.as_bytes())
        .map_err(|_| bad("is not UTF-8"))?
        .trim();
    if text.len() > MAX_REASON_BYTES {
        return Err(bad(&format!("is longer than {MAX_REASON_BYTES} bytes")));
    }
    if text.chars().any(char::is_control) {
        return Err(bad("contains control characters"));
    }
    Ok((!text.is_empty()).then(|| text.to_string()))
}

/// Whether the `Content-Type` is `wanted` (a media type without parameters, any case).
pub fn content_type_is(headers: &HeaderMap, wanted: &str) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            value
                .split(';')
                .next()
                .is_some_and(|media| media.trim().eq_ignore_ascii_case(wanted))
        })
}

/// The content codings of a message other than `identity`, lowercased and joined with
/// `, `, across every `Content-Encoding` header; `None` when its body is as sent.
pub fn content_codings(headers: &HeaderMap) -> Option<String> {
    let codings: Vec<String> = headers
        .get_all(CONTENT_ENCODING)
        .iter()
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
        .flat_map(|value| {
            value
                .split(',')
                .map(|coding| coding.trim().to_ascii_lowercase())
                .collect::<Vec<_>>()
        })
        .filter(|coding| !coding.is_empty() && coding != "identity")
        .collect();
    (!codings.is_empty()).then(|| codings.join(", "))
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;
    use proptest::prelude::*;

    use super::*;

    fn with(pairs: &[(&'static str, &[u8])]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            if let Ok(value) = HeaderValue::from_bytes(value) {
                headers.append(*name, value);
            }
        }
        headers
    }

    #[test]
    fn a_bearer_token_is_read_only_from_one_bearer_header() {
        assert_eq!(
            bearer_token(&with(&[("authorization", b"Bearer abc")])),
            Some("abc")
        );
        assert_eq!(
            bearer_token(&with(&[("authorization", b"bEaReR  abc ")])),
            Some("abc")
        );
        assert_eq!(
            bearer_token(&with(&[("authorization", b"Basic abc")])),
            None
        );
        assert_eq!(bearer_token(&with(&[("authorization", b"Bearer ")])), None);
        assert_eq!(bearer_token(&with(&[("authorization", b"Bearer")])), None);
        assert_eq!(
            bearer_token(&with(&[
                ("authorization", b"Bearer abc"),
                ("authorization", b"Bearer abc"),
            ])),
            None
        );
        assert_eq!(bearer_token(&HeaderMap::new()), None);
    }

    #[test]
    fn a_reason_is_refused_rather_than_cleaned() {
        assert_eq!(reason(&HeaderMap::new()).ok(), Some(None));
        assert_eq!(reason(&with(&[(REASON_HEADER, b"   ")])).ok(), Some(None));
        assert_eq!(
            reason(&with(&[(REASON_HEADER, b" ticket 42 ")])).ok(),
            Some(Some("ticket 42".to_string()))
        );
        for (value, says) in [
            (&b"a\tb"[..], "control characters"),
            (&b"\xff\xfe"[..], "not UTF-8"),
            (&[b'x'; MAX_REASON_BYTES + 1][..], "longer than 1024 bytes"),
        ] {
            let refused = reason(&with(&[(REASON_HEADER, value)])).err();
            let message = refused
                .as_ref()
                .map(|r| r.message.clone())
                .unwrap_or_default();
            assert!(message.contains(says), "{message}");
            assert_eq!(refused.map(|r| r.rule), Some(Some("reason")));
        }
        let repeated = with(&[(REASON_HEADER, b"one"), (REASON_HEADER, b"two")]);
        assert!(reason(&repeated).is_err());
    }

    #[test]
    fn media_types_compare_without_parameters_or_case() {
        let headers = with(&[("content-type", b"Text/Event-Stream; charset=utf-8")]);
        assert!(content_type_is(&headers, "text/event-stream"));
        assert!(!content_type_is(&headers, "application/json"));
        assert!(!content_type_is(&HeaderMap::new(), "text/event-stream"));
    }

    #[test]
    fn every_coding_but_identity_counts() {
        assert_eq!(content_codings(&HeaderMap::new()), None);
        assert_eq!(
            content_codings(&with(&[("content-encoding", b"identity, ")])),
            None
        );
        assert_eq!(
            content_codings(&with(&[
                ("content-encoding", b"identity"),
                ("content-encoding", b" GZip ,br"),
            ])),
            Some("gzip, br".to_string())
        );
    }

    proptest! {
        /// A token of visible characters is read back as sent, whatever the scheme's case
        /// and the spaces around it; the same header twice names no token.
        #[test]
        fn bearer_tokens_round_trip(
            token in "[!-~]{1,64}",
            upper in any::<[bool; 6]>(),
            spaces in 0usize..3,
        ) {
            let scheme: String = "bearer"
                .chars()
                .zip(upper)
                .map(|(c, up)| if up { c.to_ascii_uppercase() } else { c })
                .collect();
            let text = format!("{scheme} {}{token}", " ".repeat(spaces));
            let headers = with(&[("authorization", text.as_bytes())]);
            prop_assert_eq!(bearer_token(&headers), Some(token.as_str()));
            let twice = with(&[("authorization", text.as_bytes()), ("authorization", text.as_bytes())]);
            prop_assert_eq!(bearer_token(&twice), None);
        }

        /// Whatever bytes a reason carries, an accepted one is short, trimmed and free of
        /// control characters, and is what was sent, trimmed.
        #[test]
        fn an_accepted_reason_is_what_was_sent(value in proptest::collection::vec(any::<u8>(), 0..1100)) {
            let headers = with(&[(REASON_HEADER, &value)]);
            if let Ok(Some(text)) = reason(&headers) {
                prop_assert!(text.len() <= MAX_REASON_BYTES);
                prop_assert!(!text.chars().any(char::is_control));
                prop_assert_eq!(text.as_str(), text.trim());
                let sent = String::from_utf8_lossy(&value);
                prop_assert_eq!(text.as_str(), sent.trim());
            }
        }

        /// A list of codings names every coding but `identity`, and only those.
        #[test]
        fn codings_are_every_coding_but_identity(
            codings in proptest::collection::vec(
                prop_oneof![Just("identity"), Just("IDENTITY"), Just("gzip"), Just("br"), Just("Deflate"), Just("")],
                0..6,
            ),
        ) {
            let value = codings.join(",");
            let headers = with(&[("content-encoding", value.as_bytes())]);
            let expected: Vec<String> = codings
                .iter()
                .map(|coding| coding.to_ascii_lowercase())
                .filter(|coding| !coding.is_empty() && coding != "identity")
                .collect();
            prop_assert_eq!(content_codings(&headers), (!expected.is_empty()).then(|| expected.join(", ")));
        }
    }
}
