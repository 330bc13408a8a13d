//! What of an upstream's answer headers reaches the agent. The upstream's own address is
//! the gateway's business, not the agent's: an agent that learns it could try to reach the
//! upstream around the gateway, and a redirect to it would send the agent's next request
//! there. So a `Location` or `Content-Location` that points into the upstream (under its
//! base URL) is rewritten to the same place at the gateway; one that points elsewhere on the
//! upstream's origin, or that cannot be read, is dropped; any other header that names the
//! upstream's origin is dropped; and `Server`, which describes the upstream's software, is
//! never passed on. References to other origins (an authorization server, say) pass as
//! they are.

use http::header::{CONTENT_LOCATION, HeaderName, HeaderValue, LOCATION, SERVER};
use http::{HeaderMap, Uri};

/// Where an upstream lives, as its answers might name it.
#[derive(Debug, Clone)]
pub struct UpstreamAddress<'a> {
    /// `http` or `https`, lowercase.
    pub scheme: &'a str,
    /// `host[:port]` as registered.
    pub authority: &'a str,
    /// The base URL's path without a trailing `/` (empty for the root).
    pub path_prefix: &'a str,
}

impl UpstreamAddress<'_> {
    fn default_port(&self) -> u16 {
        if self.scheme.eq_ignore_ascii_case("https") {
            443
        } else {
            80
        }
    }

    /// `host` and port, the host lowercase and the port made explicit.
    fn host_port(&self, authority: &str) -> Option<(String, u16)> {
        let authority: http::uri::Authority = authority.parse().ok()?;
        Some((
            authority.host().to_ascii_lowercase(),
            authority.port_u16().unwrap_or(self.default_port()),
        ))
    }

    fn same_origin(&self, uri: &Uri) -> bool {
        let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
            return false;
        };
        scheme.eq_ignore_ascii_case(self.scheme)
            && self.host_port(authority.as_str()) == self.host_port(self.authority)
    }

    /// Whether `value` names this origin, `scheme://authority` in any ASCII case. Runs on
    /// every header of every answer, so it allocates nothing.
    fn named_in(&self, value: &[u8]) -> bool {
        let (scheme, authority) = (self.scheme.as_bytes(), self.authority.as_bytes());
        (0..value.len()).any(|at| {
            value[at..].starts_with(b"://")
                && at >= scheme.len()
                && value[at - scheme.len()..at].eq_ignore_ascii_case(scheme)
                && value
                    .get(at + 3..at + 3 + authority.len())
                    .is_some_and(|found| found.eq_ignore_ascii_case(authority))
        })
    }
}

/// The gateway's URL for one upstream, `GATEWAY_URL/NAME`, put together only when an answer
/// has a reference to rewrite.
#[derive(Debug, Clone, Copy)]
pub struct PublicBase<'a> {
    /// The gateway's URL (a trailing `/` is ignored).
    pub gateway_url: &'a str,
    /// The upstream's name, its first path segment at the gateway.
    pub name: &'a str,
}

/// The place at the gateway for a path on the upstream, or `None` when the path is not
/// under the upstream's base URL.
fn at_gateway(
    path_and_query: &str,
    upstream: &UpstreamAddress<'_>,
    public_base: PublicBase<'_>,
) -> Option<String> {
    let rest = path_and_query.strip_prefix(upstream.path_prefix)?;
    if !(rest.is_empty() || rest.starts_with('/') || rest.starts_with('?')) {
        // `/mcpx` is not under `/mcp`.
        return None;
    }
    Some(format!(
        "{}/{}{rest}",
        public_base.gateway_url.trim_end_matches('/'),
        public_base.name
    ))
}

/// Whether a reference starts with a scheme (RFC 3986 §3.1), making it absolute.
fn has_scheme(value: &str) -> bool {
    let Some((scheme, _)) = value.split_once(':') else {
        return false;
    };
    scheme
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// What a `Location`-like value becomes: `Some(new)` to pass (maybe rewritten), `None` to
/// drop.
fn rewrite_reference(
    value: &str,
    upstream: &UpstreamAddress<'_>,
    public_base: PublicBase<'_>,
) -> Option<String> {
    if value.starts_with("//") {
        // A network-path reference names an origin without a scheme: the upstream's own
        // scheme applies.
        return rewrite_reference(
            &format!("{}:{value}", upstream.scheme),
            upstream,
            public_base,
        );
    }
    if value.starts_with('/') {
        // An absolute path on the upstream's origin.
        return at_gateway(value, upstream, public_base);
    }
    if !has_scheme(value) {
        // A relative reference (`next`, `?page=2`) resolves against the request's own URL,
        // which at the gateway mirrors the upstream's below the base: it is safe as it is.
        return Some(value.to_owned());
    }
    let uri: Uri = value.parse().ok()?;
    if !upstream.same_origin(&uri) {
        return Some(value.to_owned());
    }
    let path_and_query = uri.path_and_query().map_or("/", |pq| pq.as_str());
    at_gateway(path_and_query, upstream, public_base)
}

/// Rewrites or drops the answer headers that would name the upstream; references into it
/// are rewritten under `public_base`.
pub fn rewrite_answer_headers(
    headers: &mut HeaderMap,
    upstream: &UpstreamAddress<'_>,
    public_base: PublicBase<'_>,
) {
    headers.remove(SERVER);
    for name in [LOCATION, CONTENT_LOCATION] {
        let values: Vec<HeaderValue> = headers.get_all(&name).iter().cloned().collect();
        if values.is_empty() {
            continue;
        }
        headers.remove(&name);
        for value in values {
            let rewritten = value
                .to_str()
                .ok()
                .and_then(|text| rewrite_reference(text.trim(), upstream, public_base))
                .and_then(|text| HeaderValue::from_str(&text).ok());
            if let Some(rewritten) = rewritten {
                headers.append(name.clone(), rewritten);
            }
        }
    }
    // Whatever still names the upstream's origin, even in a form the rules above did not
    // read as it (`http://host:9000x`), goes.
    let naming: Vec<HeaderName> = headers
        .iter()
        .filter(|(_, value)| upstream.named_in(value.as_bytes()))
        .map(|(name, _)| name.clone())
        .collect();
    for name in naming {
        headers.remove(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const UPSTREAM: UpstreamAddress<'static> = UpstreamAddress {
        scheme: "http",
        authority: "10.0.0.7:9000",
        path_prefix: "/mcp",
    };
    const PUBLIC: PublicBase<'static> = PublicBase {
        gateway_url: "https://gw.example/",
        name: "docs",
    };

    fn rewritten(name: HeaderName, value: &str) -> Vec<String> {
        let mut headers = HeaderMap::new();
        headers.insert(
            name.clone(),
            HeaderValue::from_str(value).unwrap_or_else(|e| panic!("{e}")),
        );
        rewrite_answer_headers(&mut headers, &UPSTREAM, PUBLIC);
        headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap_or_default().to_owned())
            .collect()
    }

    #[test]
    fn references_into_the_upstream_point_at_the_gateway() {
        for (value, expected) in [
            (
                "http://10.0.0.7:9000/mcp/",
                Some("https://gw.example/docs/"),
            ),
            ("http://10.0.0.7:9000/mcp", Some("https://gw.example/docs")),
            (
                "HTTP://10.0.0.7:9000/mcp/x?y=1",
                Some("https://gw.example/docs/x?y=1"),
            ),
            ("/mcp/session/1", Some("https://gw.example/docs/session/1")),
            ("//10.0.0.7:9000/mcp/a", Some("https://gw.example/docs/a")),
            ("http://10.0.0.7:9000/admin", None),
            ("http://10.0.0.7:9000/mcpx", None),
            ("/admin", None),
            (
                "https://auth.example.com/authorize",
                Some("https://auth.example.com/authorize"),
            ),
            ("next?page=2", Some("next?page=2")),
            ("http://10.0.0.7:9000 bad", None),
        ] {
            assert_eq!(
                rewritten(LOCATION, value),
                expected.map(str::to_owned).into_iter().collect::<Vec<_>>(),
                "{value}"
            );
        }
        assert_eq!(
            rewritten(CONTENT_LOCATION, "http://10.0.0.7:9000/mcp/r/1"),
            ["https://gw.example/docs/r/1"]
        );
    }

    #[test]
    fn default_ports_are_the_same_origin() {
        let upstream = UpstreamAddress {
            scheme: "https",
            authority: "api.internal",
            path_prefix: "",
        };
        let mut headers = HeaderMap::new();
        headers.insert(
            LOCATION,
            HeaderValue::from_static("https://API.internal:443/v1"),
        );
        rewrite_answer_headers(&mut headers, &upstream, PUBLIC);
        assert_eq!(
            headers.get(LOCATION).map(|v| v.as_bytes()),
            Some(&b"https://gw.example/docs/v1"[..])
        );
    }

    #[test]
    fn server_and_headers_naming_the_upstream_go() {
        let mut headers = HeaderMap::new();
        headers.insert(SERVER, HeaderValue::from_static("uvicorn"));
        headers.insert(
            "link",
            HeaderValue::from_static("<http://10.0.0.7:9000/mcp/x>; rel=next"),
        );
        headers.insert("x-request-id", HeaderValue::from_static("abc"));
        rewrite_answer_headers(&mut headers, &UPSTREAM, PUBLIC);
        assert!(headers.get(SERVER).is_none());
        assert!(headers.get("link").is_none());
        assert_eq!(
            headers.get("x-request-id").map(|v| v.as_bytes()),
            Some(&b"abc"[..])
        );
    }

    proptest! {
        /// Whatever the upstream answers, no header the agent gets names its origin.
        #[test]
        fn the_upstream_origin_never_reaches_the_agent(path in "[a-zA-Z0-9/._?=&%-]{0,40}", other in "[a-z]{1,8}") {
            let mut headers = HeaderMap::new();
            for value in [
                format!("http://10.0.0.7:9000{path}"),
                format!("http://10.0.0.7:9000/{path}"),
                format!("/{path}"),
                format!("{other}://10.0.0.7:9000/{path}"),
            ] {
                if let Ok(value) = HeaderValue::from_str(&value) {
                    headers.append(LOCATION, value.clone());
                    headers.append(CONTENT_LOCATION, value.clone());
                    headers.append("x-other", value);
                }
            }
            rewrite_answer_headers(&mut headers, &UPSTREAM, PUBLIC);
            for (_, value) in &headers {
                let text = String::from_utf8_lossy(value.as_bytes()).to_ascii_lowercase();
                prop_assert!(!text.contains("http://10.0.0.7:9000"), "{}", text);
                prop_assert!(!text.starts_with("/"), "{}", text);
            }
        }
    }
}
