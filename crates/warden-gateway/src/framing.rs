//! Request framing: how long the body is, decided once and unambiguously.
//!
//! Request smuggling lives in the gap between two parsers' ideas of where a body ends, so
//! any request whose framing two parsers could read differently is refused (`bad_request`):
//! several `Content-Length` values (even equal ones), a value that is not plain digits,
//! `Transfer-Encoding` together with `Content-Length`, and any transfer coding other than a
//! single `chunked`. The body limit is checked against the declared length up front and,
//! for chunked bodies, as bytes arrive ([`BodyLimit`]).
//!
//! The server's HTTP/1.1 parser keeps one of several *equal* `Content-Length` headers and
//! drops `Content-Length` next to `Transfer-Encoding`, so for those two cases the headers
//! seen here are not the ones sent: the gateway's listener catches them on the raw bytes
//! ([`crate::sniff`]) and refuses them before this check runs.

use http::HeaderMap;
use http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};

/// Why a request's framing was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FramingError {
    #[error("the request has more than one Content-Length")]
    DuplicateContentLength,
    #[error("the Content-Length is not a plain decimal number")]
    InvalidContentLength,
    #[error("the request has both Transfer-Encoding and Content-Length")]
    ContentLengthWithTransferEncoding,
    #[error("unsupported Transfer-Encoding {0:?}: only a single \"chunked\" is accepted")]
    UnsupportedTransferEncoding(String),
    #[error("the request body is larger than the limit of {limit} bytes")]
    BodyTooLarge { limit: u64 },
}

/// How the request body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    /// No body headers: no body.
    None,
    /// `Content-Length: n`.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// Reads the framing headers and refuses ambiguous combinations.
pub fn check_framing(headers: &HeaderMap) -> Result<BodyFraming, FramingError> {
    let mut lengths = headers.get_all(CONTENT_LENGTH).iter();
    let length = match (lengths.next(), lengths.next()) {
        (None, _) => None,
        (Some(_), Some(_)) => return Err(FramingError::DuplicateContentLength),
        (Some(v), None) => {
            let bytes = v.as_bytes();
            if bytes.contains(&b',') {
                return Err(FramingError::DuplicateContentLength);
            }
            if bytes.is_empty() || bytes.len() > 19 || !bytes.iter().all(u8::is_ascii_digit) {
                return Err(FramingError::InvalidContentLength);
            }
            let text =
                std::str::from_utf8(bytes).map_err(|_| FramingError::InvalidContentLength)?;
            Some(
                text.parse::<u64>()
                    .map_err(|_| FramingError::InvalidContentLength)?,
            )
        }
    };
    let mut codings = Vec::new();
    for value in headers.get_all(TRANSFER_ENCODING) {
        let text = value.to_str().map_err(|_| {
            FramingError::UnsupportedTransferEncoding(
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })?;
        codings.extend(text.split(',').map(|c| c.trim().to_ascii_lowercase()));
    }
    match (codings.as_slice(), length) {
        ([], None) => Ok(BodyFraming::None),
        ([], Some(n)) => Ok(BodyFraming::Length(n)),
        (_, Some(_)) => Err(FramingError::ContentLengthWithTransferEncoding),
        ([only], None) if only == "chunked" => Ok(BodyFraming::Chunked),
        (other, None) => Err(FramingError::UnsupportedTransferEncoding(other.join(", "))),
    }
}

/// Refuses a declared length over the limit before any byte is read.
pub fn check_declared_size(framing: BodyFraming, limit: u64) -> Result<(), FramingError> {
    match framing {
        BodyFraming::Length(n) if n > limit => Err(FramingError::BodyTooLarge { limit }),
        BodyFraming::None | BodyFraming::Length(_) | BodyFraming::Chunked => Ok(()),
    }
}

/// Counts body bytes as they arrive and refuses the first chunk that crosses the limit.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit {
    limit: u64,
    seen: u64,
}

impl BodyLimit {
    /// A counter for a body of at most `limit` bytes.
    pub fn new(limit: u64) -> Self {
        Self { limit, seen: 0 }
    }

    /// Adds a chunk of `len` bytes.
    pub fn add(&mut self, len: usize) -> Result<(), FramingError> {
        self.seen = self
            .seen
            .saturating_add(u64::try_from(len).unwrap_or(u64::MAX));
        if self.seen > self.limit {
            Err(FramingError::BodyTooLarge { limit: self.limit })
        } else {
            Ok(())
        }
    }

    /// The bytes seen so far.
    pub fn seen(&self) -> u64 {
        self.seen
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap_or_else(|e| panic!("{e}")),
                HeaderValue::from_str(v).unwrap_or_else(|e| panic!("{e}")),
            );
        }
        h
    }

    #[test]
    fn plain_framings_pass() {
        assert_eq!(check_framing(&headers(&[])), Ok(BodyFraming::None));
        assert_eq!(
            check_framing(&headers(&[("content-length", "12")])),
            Ok(BodyFraming::Length(12))
        );
        assert_eq!(
            check_framing(&headers(&[("transfer-encoding", "Chunked")])),
            Ok(BodyFraming::Chunked)
        );
    }

    #[test]
    fn ambiguous_framings_are_refused() {
        use FramingError::*;
        let cases: &[(&[(&str, &str)], FramingError)] = &[
            (
                &[("content-length", "5"), ("content-length", "6")],
                DuplicateContentLength,
            ),
            (
                &[("content-length", "5"), ("content-length", "5")],
                DuplicateContentLength,
            ),
            (&[("content-length", "5, 5")], DuplicateContentLength),
            (&[("content-length", "+5")], InvalidContentLength),
            (&[("content-length", "0x10")], InvalidContentLength),
            (&[("content-length", "")], InvalidContentLength),
            (
                &[("content-length", "99999999999999999999")],
                InvalidContentLength,
            ),
            (
                &[("content-length", "5"), ("transfer-encoding", "chunked")],
                ContentLengthWithTransferEncoding,
            ),
            (
                &[("transfer-encoding", "gzip, chunked")],
                UnsupportedTransferEncoding("gzip, chunked".into()),
            ),
            (
                &[
                    ("transfer-encoding", "chunked"),
                    ("transfer-encoding", "chunked"),
                ],
                UnsupportedTransferEncoding("chunked, chunked".into()),
            ),
            (
                &[("transfer-encoding", "identity")],
                UnsupportedTransferEncoding("identity".into()),
            ),
            (
                &[("transfer-encoding", "")],
                UnsupportedTransferEncoding("".into()),
            ),
        ];
        for (h, want) in cases {
            assert_eq!(check_framing(&headers(h)).as_ref(), Err(want), "{h:?}");
        }
    }

    #[test]
    fn body_limits() {
        assert_eq!(
            check_declared_size(BodyFraming::Length(11), 10),
            Err(FramingError::BodyTooLarge { limit: 10 })
        );
        assert_eq!(check_declared_size(BodyFraming::Length(10), 10), Ok(()));
        assert_eq!(check_declared_size(BodyFraming::Chunked, 10), Ok(()));
        let mut limit = BodyLimit::new(10);
        assert!(limit.add(6).is_ok());
        assert!(limit.add(4).is_ok());
        assert_eq!(limit.add(1), Err(FramingError::BodyTooLarge { limit: 10 }));
        assert_eq!(limit.seen(), 11);
    }
}
