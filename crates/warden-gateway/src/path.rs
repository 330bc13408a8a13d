//! Vetting a raw request target `/{upstream}/{rest}` before anything else looks at it.
//!
//! An upstream may decode a path differently from Warden (decode twice, treat `\` as `/`,
//! collapse `//`, resolve `..` after decoding). Whatever the route map matched must be what
//! the upstream serves, so every form that two parsers could read differently is refused
//! rather than repaired: dot segments in any encoding (`..`, `%2e%2e`, `.%2E`) or with path
//! parameters (`..;`, `.;x`, which servers with `;` parameters resolve as dot segments), encoded
//! separators (`%2f`, `%5c`), double slashes, backslashes, control bytes and NUL, invalid or
//! double percent-encoding (`%25`), non-ASCII bytes, and fragments.
//!
//! What passes is split three ways: the upstream name; the path to match routes against
//! (percent-decoded, which is safe because no decoded segment can contain `/`); and the path
//! to forward, exactly as the agent sent it. The query string is kept apart, untouched, and
//! never logged by the caller (tokens hide in query strings).

use warden_policy::schema::is_upstream_name;

/// The longest request target accepted, in bytes.
pub const MAX_TARGET_LEN: usize = 8 * 1024;

/// Why a request target was refused. Every variant maps to `bad_request`, except
/// [`PathError::UnknownUpstreamName`], which the gateway answers as `unknown_upstream`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("the request target must be a path starting with '/'")]
    NotAbsolute,
    #[error("the request target is longer than {MAX_TARGET_LEN} bytes")]
    TooLong,
    #[error("the path must start with an upstream name: /UPSTREAM/PATH")]
    MissingUpstream,
    #[error("{0:?} is not an upstream name")]
    UnknownUpstreamName(String),
    #[error("the path contains a '.' or '..' segment (possibly percent-encoded)")]
    DotSegment,
    #[error("the path contains an encoded '/' or '\\' (%2f, %5c) or a raw backslash")]
    EncodedSeparator,
    #[error("the path contains an empty segment (a double slash)")]
    EmptySegment,
    #[error("the path contains a control character, a space or a non-ASCII byte")]
    ControlCharacter,
    #[error("the path contains an invalid percent-encoding")]
    BadPercentEncoding,
    #[error("the path contains an encoded '%' (%25); double encoding is refused")]
    DoubleEncoding,
    #[error("the path does not decode to UTF-8")]
    NotUtf8,
    #[error("the request target contains a fragment ('#')")]
    Fragment,
}

/// A request target that passed vetting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VettedPath {
    /// The upstream name, the first segment.
    pub upstream: String,
    /// The rest of the path, percent-decoded, starting with `/`: what routes match.
    pub route_path: String,
    /// The rest of the path as sent, starting with `/`, or empty for `/NAME` itself (the
    /// base URL exactly): what is forwarded.
    pub forward_path: String,
    /// The query string without `?`, as sent, if there was one.
    pub query: Option<String>,
}

impl VettedPath {
    /// The path and query to forward, e.g. `/tickets/1?x=y`.
    pub fn forward_target(&self) -> String {
        match &self.query {
            Some(q) => format!("{}?{q}", self.forward_path),
            None => self.forward_path.clone(),
        }
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes one raw segment and checks it.
fn decode_segment(raw: &str) -> Result<String, PathError> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let (Some(h), Some(l)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            ) else {
                return Err(PathError::BadPercentEncoding);
            };
            let decoded = (h << 4) | l;
            match decoded {
                b'/' | b'\\' => return Err(PathError::EncodedSeparator),
                b'%' => return Err(PathError::DoubleEncoding),
                0..=0x1f | 0x7f => return Err(PathError::ControlCharacter),
                _ => out.push(decoded),
            }
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    // Servers that take path parameters (`/a;jsessionid=x/b`, Tomcat and others) resolve
    // `..;x` as `..` and `;x` as an empty segment, so what precedes a `;` is checked too.
    let before_parameters = out.split(|b| *b == b';').next().unwrap_or_default();
    if before_parameters == b"." || before_parameters == b".." {
        return Err(PathError::DotSegment);
    }
    if before_parameters.is_empty() && out.contains(&b';') {
        return Err(PathError::EmptySegment);
    }
    String::from_utf8(out).map_err(|_| PathError::NotUtf8)
}

/// Vets a raw request target (origin-form: path and optional query).
pub fn vet(target: &str) -> Result<VettedPath, PathError> {
    if target.len() > MAX_TARGET_LEN {
        return Err(PathError::TooLong);
    }
    if target.contains('#') {
        return Err(PathError::Fragment);
    }
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target, None),
    };
    // Raw targets are ASCII without spaces or controls (RFC 9112); the query is checked too,
    // since it travels upstream verbatim.
    if target.bytes().any(|b| b <= b' ' || b >= 0x7f) {
        return Err(PathError::ControlCharacter);
    }
    let Some(path) = path.strip_prefix('/') else {
        return Err(PathError::NotAbsolute);
    };
    if path.contains('\\') {
        return Err(PathError::EncodedSeparator);
    }
    let (upstream, rest) = match path.split_once('/') {
        Some((u, r)) => (u, Some(r)),
        None => (path, None),
    };
    if upstream.is_empty() {
        return Err(PathError::MissingUpstream);
    }
    if !is_upstream_name(upstream) {
        // Refuse dot and encoded forms as such, so `/../x` reads as what it is.
        decode_segment(upstream)?;
        return Err(PathError::UnknownUpstreamName(upstream.to_owned()));
    }
    let mut route_path = String::with_capacity(path.len());
    let mut forward_path = String::with_capacity(path.len());
    match rest {
        // `/NAME` is the upstream's base URL itself: nothing is appended to it, so a base
        // of `http://host/mcp` is reached as `/mcp`, not `/mcp/`.
        None => route_path.push('/'),
        Some("") => {
            route_path.push('/');
            forward_path.push('/');
        }
        Some(rest) => {
            let segments: Vec<&str> = rest.split('/').collect();
            let last = segments.len() - 1;
            for (i, seg) in segments.iter().enumerate() {
                // A trailing slash is a real (empty) last segment; an empty one elsewhere is `//`.
                if seg.is_empty() && i != last {
                    return Err(PathError::EmptySegment);
                }
                route_path.push('/');
                route_path.push_str(&decode_segment(seg)?);
            }
            forward_path.push('/');
            forward_path.push_str(rest);
        }
    }
    Ok(VettedPath {
        upstream: upstream.to_owned(),
        route_path,
        forward_path,
        query: query.map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ok(target: &str) -> VettedPath {
        vet(target).unwrap_or_else(|e| panic!("{target}: {e}"))
    }

    #[test]
    fn splits_upstream_route_and_forward_paths() {
        let v = ok("/crm/tickets/a%20b?access=x&y=%2F");
        assert_eq!(v.upstream, "crm");
        assert_eq!(v.route_path, "/tickets/a b");
        assert_eq!(v.forward_path, "/tickets/a%20b");
        assert_eq!(v.query.as_deref(), Some("access=x&y=%2F"));
        assert_eq!(v.forward_target(), "/tickets/a%20b?access=x&y=%2F");
        assert_eq!(ok("/crm").route_path, "/");
        assert_eq!(ok("/crm").forward_path, "");
        assert_eq!(ok("/crm?x=1").forward_target(), "?x=1");
        assert_eq!(ok("/crm/").forward_path, "/");
        assert_eq!(ok("/crm/tickets/").route_path, "/tickets/");
        assert_eq!(ok("/crm/caf%C3%A9").route_path, "/café");
        assert_eq!(ok("/crm/a.b/...").route_path, "/a.b/...");
    }

    #[test]
    fn refuses_traversal_and_ambiguity() {
        let cases = [
            ("crm/x", PathError::NotAbsolute),
            ("http://h/crm/x", PathError::NotAbsolute),
            ("/", PathError::MissingUpstream),
            ("//crm/x", PathError::MissingUpstream),
            ("/crm/../admin", PathError::DotSegment),
            ("/crm/./x", PathError::DotSegment),
            ("/crm/x/..", PathError::DotSegment),
            ("/crm/%2e%2e/admin", PathError::DotSegment),
            ("/crm/%2E%2E/admin", PathError::DotSegment),
            ("/crm/%2E./admin", PathError::DotSegment),
            ("/crm/.%2e/admin", PathError::DotSegment),
            ("/crm/%2e/admin", PathError::DotSegment),
            ("/crm/..;/admin", PathError::DotSegment),
            ("/crm/..;x=1/admin", PathError::DotSegment),
            ("/crm/.;x/admin", PathError::DotSegment),
            ("/crm/%2e%2e;/admin", PathError::DotSegment),
            ("/crm/..%3b/admin", PathError::DotSegment),
            ("/crm/;x/admin", PathError::EmptySegment),
            ("/..", PathError::DotSegment),
            ("/%2e%2e/x", PathError::DotSegment),
            ("/crm/a%2fb", PathError::EncodedSeparator),
            ("/crm/a%2F..%2Fb", PathError::EncodedSeparator),
            ("/crm/a%5cb", PathError::EncodedSeparator),
            ("/crm/a\\b", PathError::EncodedSeparator),
            ("/crm//x", PathError::EmptySegment),
            ("/crm/a//b", PathError::EmptySegment),
            ("/crm/a%00b", PathError::ControlCharacter),
            ("/crm/a%0ab", PathError::ControlCharacter),
            ("/crm/a\0b", PathError::ControlCharacter),
            ("/crm/a b", PathError::ControlCharacter),
            ("/crm/café", PathError::ControlCharacter),
            ("/crm/x?a=\n", PathError::ControlCharacter),
            ("/crm/a%2", PathError::BadPercentEncoding),
            ("/crm/a%zz", PathError::BadPercentEncoding),
            ("/crm/%252e%252e/x", PathError::DoubleEncoding),
            ("/crm/%ff", PathError::NotUtf8),
            ("/crm/x#frag", PathError::Fragment),
            ("/CRM/x", PathError::UnknownUpstreamName("CRM".into())),
            ("/c%72m/x", PathError::UnknownUpstreamName("c%72m".into())),
        ];
        for (target, want) in cases {
            assert_eq!(vet(target), Err(want), "{target}");
        }
        assert_eq!(vet(&"/crm/".repeat(2000)), Err(PathError::TooLong));
    }

    fn is_dot(seg: &str) -> bool {
        seg == "." || seg == ".."
    }

    proptest! {
        /// Whatever is accepted, neither the route path nor the forwarded path, decoded
        /// once or twice, contains a dot segment, an empty inner segment or a backslash.
        #[test]
        fn accepted_paths_have_no_dot_segments(
            parts in proptest::collection::vec(
                proptest::sample::select(vec![
                    ".", "..", "%2e", "%2E", "%2f", "%5c", "/", "//", "a", "%25", "%", "2e", "\\", "%41", "x.y",
                ]),
                0..12,
            )
        ) {
            let target = format!("/crm/{}", parts.concat());
            if let Ok(v) = vet(&target) {
                for path in [&v.route_path, &v.forward_path] {
                    let inner: Vec<&str> = path[1..].split('/').collect();
                    for (i, seg) in inner.iter().enumerate() {
                        prop_assert!(!is_dot(seg), "{target} -> {path}");
                        prop_assert!(!seg.is_empty() || i == inner.len() - 1, "{target} -> {path}");
                        prop_assert!(!seg.contains('\\'), "{target} -> {path}");
                    }
                }
                for seg in v.forward_path[1..].split('/') {
                    let once = decode_segment(seg);
                    prop_assert!(once.is_ok(), "{target}");
                    if let Ok(once) = once {
                        prop_assert!(!is_dot(&once) && !once.contains(['/', '\\', '%']), "{target}");
                    }
                }
            }
        }

        /// Arbitrary input never panics.
        #[test]
        fn never_panics(target in ".*") {
            let _ = vet(&target);
        }
    }
}
