//! What the gateway does to request headers before forwarding: hop-by-hop headers go, the
//! agent's credential goes, Warden's own request headers go, and the upstream secret comes
//! in, marked sensitive so no log prints it.
//!
//! The agent's `Authorization` is Warden's token, meant for Warden alone (the MCP
//! authorization spec forbids passing tokens through), so it is always removed, as is any
//! header the agent sent under the name the secret is injected as: the agent must not be
//! able to choose the upstream credential.

use base64::Engine as _;
use http::HeaderMap;
use http::header::{AUTHORIZATION, CONNECTION, HeaderName, HeaderValue};

/// Hop-by-hop headers (RFC 9110 §7.6.1, plus the historical `Keep-Alive` and
/// `Proxy-Connection`): they describe one connection and are never forwarded.
pub const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Requests headers Warden reads for itself (such as `Warden-Reason`) start with this and
/// are not forwarded.
pub const WARDEN_PREFIX: &str = "warden-";

/// How an upstream expects its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Injection {
    /// `Authorization: Bearer SECRET`.
    Bearer,
    /// `Authorization: Basic base64(USERNAME:SECRET)`.
    Basic { username: String },
    /// `NAME: SECRET`, e.g. `X-Api-Key`.
    Header { name: HeaderName },
}

/// The secret could not be injected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// The secret (or username) holds bytes a header value cannot; the message never
    /// includes the secret.
    #[error(
        "the upstream secret cannot be sent as a header value (it contains control characters)"
    )]
    InvalidSecret,
    /// The configured header name is one the gateway manages itself.
    #[error("{0:?} cannot carry an upstream secret: the gateway removes or manages it")]
    ReservedHeader(String),
}

/// Removes hop-by-hop headers, including every header named in `Connection`.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

/// Removes what must never reach an upstream from the agent: hop-by-hop headers, the
/// agent's `Authorization` (its Warden token) and Warden's own `Warden-*` headers. Used as
/// it is for an upstream without a secret; [`prepare_upstream_headers`] does it first.
pub fn strip_agent_headers(headers: &mut HeaderMap) {
    strip_hop_by_hop(headers);
    headers.remove(AUTHORIZATION);
    let warden: Vec<HeaderName> = headers
        .keys()
        .filter(|k| k.as_str().starts_with(WARDEN_PREFIX))
        .cloned()
        .collect();
    for name in warden {
        headers.remove(name);
    }
}

/// Checks an injection plan when an upstream is configured, so a bad one is refused then
/// rather than on every request.
pub fn check_injection(injection: &Injection) -> Result<(), HeaderError> {
    if let Injection::Header { name } = injection {
        let n = name.as_str();
        if HOP_BY_HOP.contains(&n)
            || n.starts_with(WARDEN_PREFIX)
            || matches!(n, "host" | "content-length" | "cookie")
        {
            return Err(HeaderError::ReservedHeader(n.to_owned()));
        }
    }
    Ok(())
}

/// Prepares request headers for the upstream: strips hop-by-hop and Warden headers and the
/// agent's `Authorization`, then injects `secret` as `injection` says.
pub fn prepare_upstream_headers(
    headers: &mut HeaderMap,
    injection: &Injection,
    secret: &str,
) -> Result<(), HeaderError> {
    check_injection(injection)?;
    strip_agent_headers(headers);
    let (name, value) = match injection {
        Injection::Bearer => (AUTHORIZATION, format!("Bearer {secret}")),
        Injection::Basic { username } => {
            if username.contains(':') {
                return Err(HeaderError::InvalidSecret);
            }
            let encoded =
                base64::engine::general_purpose::STANDARD.encode(format!("{username}:{secret}"));
            (AUTHORIZATION, format!("Basic {encoded}"))
        }
        Injection::Header { name } => (name.clone(), secret.to_owned()),
    };
    let mut value = HeaderValue::from_str(&value).map_err(|_| HeaderError::InvalidSecret)?;
    value.set_sensitive(true);
    // `insert` replaces every value the agent may have sent under this name.
    headers.insert(name, value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent_headers() -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in [
            ("authorization", "Bearer agent-token"),
            ("connection", "keep-alive, X-Secret-Hop"),
            ("x-secret-hop", "1"),
            ("keep-alive", "timeout=5"),
            ("te", "trailers"),
            ("upgrade", "websocket"),
            ("proxy-authorization", "Basic x"),
            ("trailer", "x"),
            ("transfer-encoding", "chunked"),
            ("warden-reason", "customer asked"),
            ("x-api-key", "agent-chosen"),
            ("accept", "application/json"),
            ("mcp-method", "tools/call"),
        ] {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap_or_else(|e| panic!("{e}")),
                HeaderValue::from_static(v),
            );
        }
        h
    }

    fn names(h: &HeaderMap) -> Vec<&str> {
        let mut n: Vec<&str> = h.keys().map(HeaderName::as_str).collect();
        n.sort_unstable();
        n
    }

    #[test]
    fn bearer_replaces_the_agent_token() {
        let mut h = agent_headers();
        prepare_upstream_headers(&mut h, &Injection::Bearer, "up-secret")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            names(&h),
            ["accept", "authorization", "mcp-method", "x-api-key"]
        );
        let auth = h.get(AUTHORIZATION).unwrap_or_else(|| panic!("no auth"));
        assert_eq!(auth, "Bearer up-secret");
        assert!(auth.is_sensitive());
        assert!(!format!("{h:?}").contains("up-secret"));
    }

    #[test]
    fn basic_and_named_header() {
        let mut h = agent_headers();
        prepare_upstream_headers(
            &mut h,
            &Injection::Basic {
                username: "svc".into(),
            },
            "pw",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            h.get(AUTHORIZATION).map(|v| v.as_bytes()),
            Some(&b"Basic c3ZjOnB3"[..])
        );

        let mut h = agent_headers();
        let injection = Injection::Header {
            name: HeaderName::from_static("x-api-key"),
        };
        prepare_upstream_headers(&mut h, &injection, "k").unwrap_or_else(|e| panic!("{e}"));
        assert!(h.get(AUTHORIZATION).is_none());
        assert_eq!(h.get_all("x-api-key").iter().count(), 1);
        assert_eq!(h.get("x-api-key").map(|v| v.as_bytes()), Some(&b"k"[..]));
    }

    #[test]
    fn bad_secrets_and_reserved_names_are_refused() {
        let mut h = HeaderMap::new();
        assert_eq!(
            prepare_upstream_headers(&mut h, &Injection::Bearer, "a\nb"),
            Err(HeaderError::InvalidSecret)
        );
        assert_eq!(
            prepare_upstream_headers(
                &mut h,
                &Injection::Basic {
                    username: "a:b".into()
                },
                "x"
            ),
            Err(HeaderError::InvalidSecret)
        );
        for name in ["connection", "warden-reason", "host", "te"] {
            let injection = Injection::Header {
                name: HeaderName::from_static(name),
            };
            assert!(
                matches!(
                    check_injection(&injection),
                    Err(HeaderError::ReservedHeader(_))
                ),
                "{name}"
            );
        }
        let e = prepare_upstream_headers(&mut h, &Injection::Bearer, "s3cr3t\n")
            .err()
            .map(|e| e.to_string());
        assert!(e.is_some_and(|m| !m.contains("s3cr3t")));
    }
}
