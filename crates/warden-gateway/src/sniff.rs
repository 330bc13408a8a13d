//! Watching the raw bytes of an HTTP/1.1 connection for what the HTTP parser would quietly
//! repair or hide, and cutting the connection off when that happens.
//!
//! The server's parser follows RFC 9112 and repairs some requests before the gateway sees
//! them: with both `Content-Length` and `Transfer-Encoding` it lets `Transfer-Encoding` win
//! and drops `Content-Length` (the classic request smuggling vector); of two equal
//! `Content-Length` headers it keeps one; a `#fragment` in the request target is dropped by
//! the URI type. None of that is visible in the parsed request, so [`FramingSniffer`] reads
//! the same bytes the parser reads and follows the message boundaries (heads, fixed-length
//! and chunked bodies) to know, for each request head, what it really carried.
//!
//! When it sees something to refuse, or loses track of where messages begin (a `CONNECT`,
//! an `Upgrade`, a malformed chunk, an overlong line, something that is not HTTP/1.x), it
//! records a [`Suspicion`] that is never forgotten and closes: it lets the parser have the
//! rest of the offending request head (so the request can be refused with a response) and
//! not one byte after it. Bytes it cannot vouch for are never handed on.

/// The longest line the sniffer follows.
const MAX_LINE: usize = 64 * 1024;

/// Why a connection is no longer trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Suspicion {
    #[error("a request on this connection has both Content-Length and Transfer-Encoding; send one")]
    BothFramingHeaders,
    #[error(
        "a request on this connection has more than one Content-Length (even equal ones); send one"
    )]
    DuplicateContentLength,
    #[error("a request on this connection has a Content-Length that is not a plain decimal number")]
    InvalidContentLength,
    #[error(
        "a request target on this connection has a #fragment; fragments are not sent to servers"
    )]
    Fragment,
    #[error(
        "the gateway cannot follow the request framing on this connection ({0}); it is closed: open a new one"
    )]
    Lost(LostTrack),
}

/// What made the sniffer lose track of a connection's message boundaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LostTrack {
    #[error("CONNECT is not supported")]
    Connect,
    #[error("protocol upgrades are not supported")]
    Upgrade,
    #[error("a line is longer than 64 KiB")]
    OverlongLine,
    #[error("a malformed chunk")]
    MalformedChunk,
    #[error("a request line that is not HTTP/1.x")]
    NotHttp1,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading a request head, line by line.
    Head,
    /// Skipping a body of fixed length.
    Body(u64),
    /// Reading a chunk-size line.
    ChunkSize,
    /// Skipping chunk data, then its CRLF.
    ChunkData(u64),
    ChunkEnd,
    /// Reading trailer lines after the last chunk.
    Trailers,
    /// Nothing more is handed on.
    Closed,
}

/// Follows one connection's request stream.
#[derive(Debug)]
pub struct FramingSniffer {
    state: State,
    /// The line being read (at most `MAX_LINE` bytes of it).
    line: Vec<u8>,
    line_overlong: bool,
    head_started: bool,
    content_lengths: u32,
    content_length: Option<u64>,
    chunked: bool,
    suspicion: Option<Suspicion>,
}

impl Default for FramingSniffer {
    fn default() -> Self {
        Self {
            state: State::Head,
            line: Vec::new(),
            line_overlong: false,
            head_started: false,
            content_lengths: 0,
            content_length: None,
            chunked: false,
            suspicion: None,
        }
    }
}

impl FramingSniffer {
    pub fn new() -> Self {
        Self::default()
    }

    /// The first reason found not to trust the connection. Once set it stays set.
    pub fn suspicion(&self) -> Option<Suspicion> {
        self.suspicion
    }

    /// Whether the sniffer has closed: nothing more read from the connection may be
    /// handed to the parser.
    pub fn closed(&self) -> bool {
        self.state == State::Closed
    }

    /// Feeds the next bytes read from the connection and returns how many of them, from
    /// the start, may be handed to the parser. Fewer than all once the sniffer closes.
    pub fn feed(&mut self, bytes: &[u8]) -> usize {
        let mut passed = 0;
        while let Some(rest) = bytes.get(passed..).filter(|rest| !rest.is_empty()) {
            match self.state {
                State::Closed => break,
                State::Body(remaining) | State::ChunkData(remaining) => {
                    let take = usize::try_from(remaining)
                        .unwrap_or(usize::MAX)
                        .min(rest.len());
                    passed += take;
                    let left = remaining - take as u64;
                    self.state = match (self.state, left) {
                        (State::Body(_), 0) => State::Head,
                        (State::Body(_), n) => State::Body(n),
                        (_, 0) => State::ChunkEnd,
                        (_, n) => State::ChunkData(n),
                    };
                }
                State::Head | State::ChunkSize | State::ChunkEnd | State::Trailers => {
                    let end = rest.iter().position(|b| *b == b'\n');
                    let piece = rest.get(..end.unwrap_or(rest.len())).unwrap_or_default();
                    self.take_line_piece(piece);
                    if self.line_overlong && self.state != State::Head {
                        // Outside a head there is no request left to refuse: cut here.
                        self.lose(LostTrack::OverlongLine);
                        break;
                    }
                    let Some(end) = end else {
                        passed = bytes.len();
                        break;
                    };
                    passed += end + 1;
                    let mut line = std::mem::take(&mut self.line);
                    let overlong = std::mem::take(&mut self.line_overlong);
                    if line.last() == Some(&b'\r') {
                        line.pop();
                    }
                    self.line_done(&line, overlong);
                }
            }
        }
        passed
    }

    /// Keeps at most `MAX_LINE` bytes of the current line and notes when it is longer.
    fn take_line_piece(&mut self, piece: &[u8]) {
        let room = MAX_LINE.saturating_sub(self.line.len());
        if piece.len() > room {
            self.line_overlong = true;
        }
        self.line
            .extend_from_slice(piece.get(..room.min(piece.len())).unwrap_or_default());
    }

    fn suspect(&mut self, suspicion: Suspicion) {
        if self.suspicion.is_none() {
            self.suspicion = Some(suspicion);
        }
    }

    /// Loses track outside a head: closes at once.
    fn lose(&mut self, why: LostTrack) {
        self.suspect(Suspicion::Lost(why));
        self.state = State::Closed;
    }

    fn line_done(&mut self, line: &[u8], overlong: bool) {
        match self.state {
            State::Head => self.head_line(line, overlong),
            State::ChunkSize => {
                let size = line.split(|b| *b == b';').next().unwrap_or_default();
                let size = std::str::from_utf8(size)
                    .ok()
                    .and_then(|text| u64::from_str_radix(text.trim(), 16).ok());
                match size {
                    Some(0) => self.state = State::Trailers,
                    Some(n) => self.state = State::ChunkData(n),
                    None => self.lose(LostTrack::MalformedChunk),
                }
            }
            State::ChunkEnd => {
                if line.is_empty() {
                    self.state = State::ChunkSize;
                } else {
                    self.lose(LostTrack::MalformedChunk);
                }
            }
            State::Trailers => {
                if line.is_empty() {
                    self.state = State::Head;
                }
            }
            State::Body(_) | State::ChunkData(_) | State::Closed => {}
        }
    }

    fn head_line(&mut self, line: &[u8], overlong: bool) {
        if overlong {
            // The parser may well accept a long line; the sniffer can no longer vouch
            // for the head, so the request is refused at its end.
            self.suspect(Suspicion::Lost(LostTrack::OverlongLine));
        }
        if line.is_empty() && !overlong {
            if !self.head_started {
                // Empty lines before a request line are allowed and ignored.
                return;
            }
            self.head_ended();
            return;
        }
        if !self.head_started {
            self.head_started = true;
            self.request_line(line);
            return;
        }
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            return;
        };
        let (name, value) = line.split_at(colon);
        let value = value.get(1..).unwrap_or_default();
        if name.eq_ignore_ascii_case(b"content-length") {
            self.content_lengths = self.content_lengths.saturating_add(1);
            if self.content_lengths > 1 {
                self.suspect(Suspicion::DuplicateContentLength);
            }
            match plain_decimal(value) {
                Some(n) => self.content_length = Some(n),
                None => self.suspect(Suspicion::InvalidContentLength),
            }
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            self.chunked = true;
        } else if name.eq_ignore_ascii_case(b"upgrade") {
            self.suspect(Suspicion::Lost(LostTrack::Upgrade));
        }
    }

    fn request_line(&mut self, line: &[u8]) {
        let mut parts = line.split(|b| *b == b' ');
        let (method, target, version) = (parts.next(), parts.next(), parts.next());
        let http1 = matches!(version, Some(b"HTTP/1.1" | b"HTTP/1.0")) && parts.next().is_none();
        if !http1 {
            self.suspect(Suspicion::Lost(LostTrack::NotHttp1));
        }
        if method == Some(b"CONNECT") {
            self.suspect(Suspicion::Lost(LostTrack::Connect));
        }
        if target.is_some_and(|target| target.contains(&b'#')) {
            self.suspect(Suspicion::Fragment);
        }
    }

    /// The end of a head: what follows is decided by its framing headers, unless the
    /// connection is no longer trusted, in which case nothing follows.
    fn head_ended(&mut self) {
        if self.chunked && self.content_lengths > 0 {
            self.suspect(Suspicion::BothFramingHeaders);
        }
        self.state = if self.suspicion.is_some() {
            State::Closed
        } else if self.chunked {
            State::ChunkSize
        } else {
            match self.content_length {
                Some(0) | None => State::Head,
                Some(n) => State::Body(n),
            }
        };
        self.head_started = false;
        self.content_lengths = 0;
        self.content_length = None;
        self.chunked = false;
    }
}

/// A `Content-Length` value as the parser reads it: optional whitespace around plain
/// digits, nothing else.
fn plain_decimal(value: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(value).ok()?;
    let text = text.trim_matches([' ', '\t']);
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sniff(pieces: &[&[u8]]) -> (FramingSniffer, usize) {
        let mut sniffer = FramingSniffer::new();
        let mut passed = 0;
        for piece in pieces {
            passed += sniffer.feed(piece);
        }
        (sniffer, passed)
    }

    const NEXT: &[u8] = b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n";

    /// `head` followed by another request: the suspicion is found and nothing after
    /// `head` is handed on.
    fn assert_refused_and_cut(head: &[u8], want: Suspicion) {
        let mut stream = head.to_vec();
        stream.extend_from_slice(NEXT);
        let (sniffer, passed) = sniff(&[&stream]);
        assert_eq!(
            sniffer.suspicion(),
            Some(want),
            "{}",
            String::from_utf8_lossy(head)
        );
        assert!(sniffer.closed());
        assert_eq!(passed, head.len(), "{}", String::from_utf8_lossy(head));
    }

    #[test]
    fn both_framing_headers_are_seen_in_either_order() {
        assert_refused_and_cut(
            b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
            Suspicion::BothFramingHeaders,
        );
        assert_refused_and_cut(
            b"POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\ncontent-length: 3\r\n\r\n",
            Suspicion::BothFramingHeaders,
        );
    }

    #[test]
    fn duplicate_and_invalid_lengths_and_fragments_are_refused() {
        assert_refused_and_cut(
            b"POST /a HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n",
            Suspicion::DuplicateContentLength,
        );
        assert_refused_and_cut(
            b"POST /a HTTP/1.1\r\nContent-Length: 3, 3\r\n\r\n",
            Suspicion::InvalidContentLength,
        );
        assert_refused_and_cut(
            b"GET /a/b#frag HTTP/1.1\r\nHost: x\r\n\r\n",
            Suspicion::Fragment,
        );
    }

    #[test]
    fn what_cannot_be_followed_is_cut_off_after_its_head() {
        assert_refused_and_cut(
            b"CONNECT a:1 HTTP/1.1\r\nHost: a:1\r\n\r\n",
            Suspicion::Lost(LostTrack::Connect),
        );
        assert_refused_and_cut(
            b"GET /a HTTP/1.1\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
            Suspicion::Lost(LostTrack::Upgrade),
        );
        let mut long = b"GET /a HTTP/1.1\r\nX-Long: ".to_vec();
        long.extend(std::iter::repeat_n(b'a', 70 * 1024));
        long.extend_from_slice(b"\r\n\r\n");
        assert_refused_and_cut(&long, Suspicion::Lost(LostTrack::OverlongLine));
        assert_refused_and_cut(
            b"PRI * HTTP/2.0\r\n\r\n",
            Suspicion::Lost(LostTrack::NotHttp1),
        );
    }

    #[test]
    fn a_malformed_chunk_cuts_the_connection_where_it_is() {
        let head = b"POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
        let mut stream = head.to_vec();
        stream.extend_from_slice(b"zz\r\n");
        stream.extend_from_slice(NEXT);
        let (sniffer, passed) = sniff(&[&stream]);
        assert_eq!(
            sniffer.suspicion(),
            Some(Suspicion::Lost(LostTrack::MalformedChunk))
        );
        assert_eq!(passed, head.len() + 4);
    }

    #[test]
    fn bodies_are_skipped_so_their_contents_never_look_like_heads() {
        let body = b"x\r\n\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n";
        let mut fixed = b"POST /a HTTP/1.1\r\nContent-Length: ".to_vec();
        fixed.extend_from_slice(body.len().to_string().as_bytes());
        fixed.extend_from_slice(b"\r\n\r\n");
        fixed.extend_from_slice(body);
        fixed.extend_from_slice(b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n");
        let (sniffer, passed) = sniff(&[&fixed]);
        assert_eq!(sniffer.suspicion(), None);
        assert_eq!(passed, fixed.len());

        let mut chunked = b"POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        chunked.extend_from_slice(format!("{:x}\r\n", body.len()).as_bytes());
        chunked.extend_from_slice(body);
        chunked.extend_from_slice(b"\r\n0\r\nX-Trailer: 1\r\n\r\nGET /b HTTP/1.1\r\n\r\n");
        let (sniffer, passed) = sniff(&[&chunked]);
        assert_eq!(sniffer.suspicion(), None);
        assert_eq!(passed, chunked.len());
    }

    #[test]
    fn a_conflict_in_a_later_request_is_seen_across_reads() {
        let stream = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nPOST /b HTTP/1.1\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
        let (first, second) = stream.split_at(41);
        let (sniffer, passed) = sniff(&[first, second]);
        assert_eq!(sniffer.suspicion(), Some(Suspicion::BothFramingHeaders));
        assert_eq!(passed, stream.len() - 5);
    }

    /// A request that the sniffer refuses, placed after innocent ones.
    fn bad_head() -> impl Strategy<Value = (Vec<u8>, Suspicion)> {
        prop_oneof![
            Just((
                b"POST /x HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"
                    .to_vec(),
                Suspicion::BothFramingHeaders
            )),
            Just((
                b"POST /x HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n".to_vec(),
                Suspicion::DuplicateContentLength
            )),
            Just((
                b"GET /x HTTP/1.1\r\nUpgrade: h2c\r\n\r\n".to_vec(),
                Suspicion::Lost(LostTrack::Upgrade)
            )),
            Just((
                b"CONNECT x:1 HTTP/1.1\r\n\r\n".to_vec(),
                Suspicion::Lost(LostTrack::Connect)
            )),
            Just((b"GET /x#y HTTP/1.1\r\n\r\n".to_vec(), Suspicion::Fragment)),
        ]
    }

    fn good_request() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            Just(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()),
            proptest::collection::vec(any::<u8>(), 0..40).prop_map(|body| {
                let mut request =
                    format!("POST /b HTTP/1.1\r\nContent-Length: {}\r\n\r\n", body.len())
                        .into_bytes();
                request.extend_from_slice(&body);
                request
            }),
            proptest::collection::vec(any::<u8>(), 1..40).prop_map(|body| {
                let mut request = format!(
                    "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n",
                    body.len()
                )
                .into_bytes();
                request.extend_from_slice(&body);
                request.extend_from_slice(b"\r\n0\r\n\r\n");
                request
            }),
        ]
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic_and_never_pass_more_than_was_read(
            chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..16)
        ) {
            let mut sniffer = FramingSniffer::new();
            for chunk in &chunks {
                prop_assert!(sniffer.feed(chunk) <= chunk.len());
            }
        }

        #[test]
        fn a_suspicion_is_never_forgotten_and_nothing_passes_after_the_cut(
            before in proptest::collection::vec(any::<u8>(), 0..200),
            after in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..8),
        ) {
            let mut sniffer = FramingSniffer::new();
            sniffer.feed(&before);
            let found = sniffer.suspicion();
            let closed = sniffer.closed();
            for chunk in &after {
                let passed = sniffer.feed(chunk);
                if closed {
                    prop_assert_eq!(passed, 0);
                }
                if found.is_some() {
                    prop_assert_eq!(sniffer.suspicion(), found);
                }
            }
        }

        #[test]
        fn a_bad_request_after_good_ones_is_caught_however_the_bytes_are_split(
            good in proptest::collection::vec(good_request(), 0..4),
            (bad, want) in bad_head(),
            splits in proptest::collection::vec(any::<prop::sample::Index>(), 0..6),
        ) {
            let mut stream: Vec<u8> = good.concat();
            let innocent = stream.len();
            stream.extend_from_slice(&bad);
            stream.extend_from_slice(b"POST /smuggled HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
            let mut cuts: Vec<usize> = splits.iter().map(|i| i.index(stream.len() + 1)).collect();
            cuts.sort_unstable();
            let mut sniffer = FramingSniffer::new();
            let mut passed = 0;
            let mut start = 0;
            for cut in cuts.into_iter().chain([stream.len()]) {
                passed += sniffer.feed(stream.get(start..cut).unwrap_or_default());
                start = cut;
            }
            prop_assert_eq!(sniffer.suspicion(), Some(want));
            prop_assert_eq!(passed, innocent + bad.len());
        }
    }
}
