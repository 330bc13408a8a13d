//! Watching the raw bytes of an HTTP/1.1 connection for request framing that the HTTP
//! parser would quietly repair.
//!
//! A request with both `Content-Length` and `Transfer-Encoding` is the classic request
//! smuggling vector. The server's parser follows RFC 9112 and lets `Transfer-Encoding`
//! win, dropping `Content-Length` before the gateway sees the headers, so the gateway
//! cannot refuse it from the parsed request alone. [`FramingSniffer`] reads the same bytes
//! the parser reads and follows the message boundaries (heads, fixed-length and chunked
//! bodies) so that it knows, for each request head, whether it carried both. When it
//! loses track (an upgrade, a malformed chunk, an overlong line) it says so and stops: the
//! parser refuses such input itself.

/// The longest line the sniffer follows; longer ones are refused by the parser anyway.
const MAX_LINE: usize = 64 * 1024;

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
    /// No longer following the connection.
    Lost,
}

/// Follows one connection's request stream.
#[derive(Debug)]
pub struct FramingSniffer {
    state: State,
    line: Vec<u8>,
    head_started: bool,
    content_length: Option<u64>,
    chunked: bool,
    conflict: bool,
    lost_length: bool,
}

impl Default for FramingSniffer {
    fn default() -> Self {
        Self {
            state: State::Head,
            line: Vec::new(),
            head_started: false,
            content_length: None,
            chunked: false,
            conflict: false,
            lost_length: false,
        }
    }
}

impl FramingSniffer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether any request head so far carried both `Content-Length` and
    /// `Transfer-Encoding`. Once set it stays set: the connection is not to be trusted.
    pub fn conflict(&self) -> bool {
        self.conflict
    }

    /// Whether the sniffer stopped following the connection.
    pub fn lost(&self) -> bool {
        self.state == State::Lost
    }

    /// Feeds the next bytes read from the connection.
    pub fn feed(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            match self.state {
                State::Lost => return,
                State::Body(remaining) | State::ChunkData(remaining) => {
                    let take = usize::try_from(remaining)
                        .unwrap_or(usize::MAX)
                        .min(bytes.len());
                    bytes = bytes.get(take..).unwrap_or_default();
                    let left = remaining - take as u64;
                    self.state = match (self.state, left) {
                        (State::Body(_), 0) => State::Head,
                        (State::Body(_), n) => State::Body(n),
                        (_, 0) => State::ChunkEnd,
                        (_, n) => State::ChunkData(n),
                    };
                }
                State::Head | State::ChunkSize | State::ChunkEnd | State::Trailers => {
                    let Some(end) = bytes.iter().position(|b| *b == b'\n') else {
                        self.line.extend_from_slice(bytes);
                        if self.line.len() > MAX_LINE {
                            self.state = State::Lost;
                        }
                        return;
                    };
                    self.line
                        .extend_from_slice(bytes.get(..end).unwrap_or_default());
                    bytes = bytes.get(end + 1..).unwrap_or_default();
                    let mut line = std::mem::take(&mut self.line);
                    if line.last() == Some(&b'\r') {
                        line.pop();
                    }
                    if line.len() > MAX_LINE {
                        self.state = State::Lost;
                        return;
                    }
                    self.line_done(&line);
                }
            }
        }
    }

    fn line_done(&mut self, line: &[u8]) {
        match self.state {
            State::Head => self.head_line(line),
            State::ChunkSize => {
                let size = line.split(|b| *b == b';').next().unwrap_or_default();
                let size = std::str::from_utf8(size)
                    .ok()
                    .and_then(|text| u64::from_str_radix(text.trim(), 16).ok());
                self.state = match size {
                    Some(0) => State::Trailers,
                    Some(n) => State::ChunkData(n),
                    None => State::Lost,
                };
            }
            State::ChunkEnd => {
                self.state = if line.is_empty() {
                    State::ChunkSize
                } else {
                    State::Lost
                };
            }
            State::Trailers => {
                if line.is_empty() {
                    self.state = State::Head;
                }
            }
            State::Body(_) | State::ChunkData(_) | State::Lost => {}
        }
    }

    fn head_line(&mut self, line: &[u8]) {
        if line.is_empty() {
            if !self.head_started {
                // Empty lines before a request line are allowed and ignored.
                return;
            }
            // The end of the head: what follows is decided by its framing headers.
            if self.chunked && self.content_length.is_some() {
                self.conflict = true;
            }
            self.state = if self.chunked {
                State::ChunkSize
            } else if self.lost_length {
                State::Lost
            } else {
                match self.content_length {
                    Some(0) | None => State::Head,
                    Some(n) => State::Body(n),
                }
            };
            self.head_started = false;
            self.content_length = None;
            self.chunked = false;
            self.lost_length = false;
            return;
        }
        if !self.head_started {
            self.head_started = true;
            // A CONNECT or an upgrade leaves HTTP; nothing after it can be followed.
            if line.starts_with(b"CONNECT ") {
                self.state = State::Lost;
            }
            return;
        }
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            return;
        };
        let (name, value) = line.split_at(colon);
        let value = value.get(1..).unwrap_or_default();
        let value = String::from_utf8_lossy(value);
        if name.eq_ignore_ascii_case(b"content-length") {
            match value.trim().parse::<u64>() {
                Ok(n) => self.content_length = Some(n),
                Err(_) => self.lost_length = true,
            }
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            self.chunked = true;
        } else if name.eq_ignore_ascii_case(b"upgrade") {
            self.lost_length = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sniff(pieces: &[&[u8]]) -> FramingSniffer {
        let mut sniffer = FramingSniffer::new();
        for piece in pieces {
            sniffer.feed(piece);
        }
        sniffer
    }

    #[test]
    fn both_framing_headers_are_seen_in_either_order() {
        for head in [
            &b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"[..],
            &b"POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\ncontent-length: 3\r\n\r\n0\r\n\r\n"[..],
        ] {
            assert!(sniff(&[head]).conflict());
        }
    }

    #[test]
    fn bodies_are_skipped_so_their_contents_never_look_like_heads() {
        let body = b"x\r\n\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n";
        let mut fixed = b"POST /a HTTP/1.1\r\nContent-Length: ".to_vec();
        fixed.extend_from_slice(body.len().to_string().as_bytes());
        fixed.extend_from_slice(b"\r\n\r\n");
        fixed.extend_from_slice(body);
        fixed.extend_from_slice(b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n");
        let sniffer = sniff(&[&fixed]);
        assert!(!sniffer.conflict());
        assert!(!sniffer.lost());

        let mut chunked = b"POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        chunked.extend_from_slice(format!("{:x}\r\n", body.len()).as_bytes());
        chunked.extend_from_slice(body);
        chunked.extend_from_slice(b"\r\n0\r\nX-Trailer: 1\r\n\r\nGET /b HTTP/1.1\r\n\r\n");
        let sniffer = sniff(&[&chunked]);
        assert!(!sniffer.conflict());
        assert!(!sniffer.lost());
    }

    #[test]
    fn a_conflict_in_a_later_request_is_seen_across_reads() {
        let stream = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nPOST /b HTTP/1.1\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
        let (first, second) = stream.split_at(41);
        let sniffer = sniff(&[first, second]);
        assert!(sniffer.conflict());
    }

    #[test]
    fn what_cannot_be_followed_is_given_up() {
        assert!(sniff(&[b"CONNECT a:1 HTTP/1.1\r\n\r\n"]).lost());
        assert!(sniff(&[b"POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"]).lost());
        assert!(sniff(&[b"GET /a HTTP/1.1\r\nUpgrade: websocket\r\n\r\n"]).lost());
    }

    proptest! {
        #[test]
        fn never_panics(chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..16)) {
            let mut sniffer = FramingSniffer::new();
            for chunk in &chunks {
                sniffer.feed(chunk);
            }
        }
    }
}
