//! What reaches the upstream is what was decided: the agent cannot ask the upstream, past
//! the gateway's back, to treat the request as another method, another path or another
//! client.
//!
//! - Method and path overrides are refused: `X-HTTP-Method-Override` and its relatives,
//!   `X-Original-URL`/`X-Rewrite-URL`, and a `_method` parameter in the query or in a form
//!   body (frameworks such as Rails and Laravel honour it), since a policy decided the
//!   method and path on the request line.
//! - Header names with an underscore are refused: CGI-style servers (and many frameworks)
//!   read `X_Api_Key` and `X-Api-Key` as the same variable, so an agent could shadow the
//!   header the secret is injected as, or any header a policy relies on.
//! - Forwarding headers (`Forwarded`, `X-Forwarded-*`, `X-Real-IP` and the like) come from
//!   the gateway alone: the agent's are removed and the gateway writes its own, naming the
//!   address it really saw.

use std::net::IpAddr;

use http::HeaderMap;
use http::header::{HeaderName, HeaderValue};

/// Headers that ask a server to use another method or path than the request line's.
pub const OVERRIDE_HEADERS: [&str; 7] = [
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
    "x-original-method",
    "x-original-url",
    "x-rewrite-url",
    "x-override-url",
];

/// Headers naming the client or the original request that only the gateway may set; every
/// `x-forwarded-*` header is treated the same way.
pub const FORWARDING_HEADERS: [&str; 9] = [
    "forwarded",
    "x-real-ip",
    "x-client-ip",
    "client-ip",
    "true-client-ip",
    "x-cluster-client-ip",
    "cf-connecting-ip",
    "fastly-client-ip",
    "x-originating-ip",
];

const FORWARDED_PREFIX: &str = "x-forwarded-";

/// The form parameter that frameworks read as the request's method.
const METHOD_PARAMETER: &str = "_method";

/// Why the agent's request was refused before any decision.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OverrideError {
    #[error(
        "the header {0:?} has an underscore in its name; servers may read it as another header, so send it with '-' instead"
    )]
    UnderscoreHeader(String),
    #[error(
        "the header {0:?} asks the upstream for another method or path than the request's; send the real method and path instead"
    )]
    OverrideHeader(String),
    #[error(
        "the {0} carries a `_method` parameter, which asks the upstream for another method; send the real method instead"
    )]
    MethodParameter(&'static str),
}

/// Refuses header names with an underscore and method or path override headers.
pub fn check_agent_headers(headers: &HeaderMap) -> Result<(), OverrideError> {
    for name in headers.keys() {
        let text = name.as_str();
        if text.contains('_') {
            return Err(OverrideError::UnderscoreHeader(text.to_owned()));
        }
        if OVERRIDE_HEADERS.contains(&text) {
            return Err(OverrideError::OverrideHeader(text.to_owned()));
        }
    }
    Ok(())
}

/// Refuses a query string with a `_method` parameter, in any encoding or case.
pub fn check_query(query: &str) -> Result<(), OverrideError> {
    if form_has_method_parameter(query.as_bytes()) {
        return Err(OverrideError::MethodParameter("query string"));
    }
    Ok(())
}

/// Which request bodies a framework may read a `_method` parameter from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormBody {
    /// `application/x-www-form-urlencoded`.
    UrlEncoded,
    /// `multipart/form-data`.
    Multipart,
}

/// Whether a request with this `Content-Type` has a body that a framework parses as form
/// fields (and so must be read and checked before forwarding).
pub fn form_body(content_type: Option<&str>) -> Option<FormBody> {
    let media = content_type?.split(';').next()?.trim();
    if media.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        Some(FormBody::UrlEncoded)
    } else if media.eq_ignore_ascii_case("multipart/form-data") {
        Some(FormBody::Multipart)
    } else {
        None
    }
}

/// Refuses a form body with a `_method` field.
pub fn check_form_body(kind: FormBody, body: &[u8]) -> Result<(), OverrideError> {
    let found = match kind {
        FormBody::UrlEncoded => form_has_method_parameter(body),
        // A part named `_method`, however its disposition spells the name.
        FormBody::Multipart => {
            contains_ignore_case(body, b"name=\"_method\"")
                || contains_ignore_case(body, b"name=_method")
                || contains_ignore_case(body, b"name*=")
        }
    };
    if found {
        return Err(OverrideError::MethodParameter("form body"));
    }
    Ok(())
}

/// Replaces every forwarding header with the gateway's own: `Forwarded` (RFC 7239) and the
/// `X-Forwarded-For`/`-Host`/`-Proto` trio, naming the peer the gateway saw and the host
/// and scheme agents reach the gateway at.
pub fn set_forwarding_headers(headers: &mut HeaderMap, peer: IpAddr, host: &str, proto: &str) {
    let agents: Vec<HeaderName> = headers
        .keys()
        .filter(|name| {
            let text = name.as_str();
            FORWARDING_HEADERS.contains(&text) || text.starts_with(FORWARDED_PREFIX)
        })
        .cloned()
        .collect();
    for name in agents {
        headers.remove(name);
    }
    let node = match peer {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("\"[{v6}]\""),
    };
    let forwarded = format!("for={node};host=\"{host}\";proto={proto}");
    for (name, value) in [
        ("forwarded", forwarded.as_str()),
        ("x-forwarded-for", &peer.to_string()),
        ("x-forwarded-host", host),
        ("x-forwarded-proto", proto),
    ] {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    }
}

/// Whether `form` (`a=1&b=2`, percent- and `+`-encoded) has a `_method` key.
fn form_has_method_parameter(form: &[u8]) -> bool {
    form.split(|b| *b == b'&' || *b == b';').any(|pair| {
        let key = pair.split(|b| *b == b'=').next().unwrap_or_default();
        decode_form_component(key).is_some_and(|key| key.eq_ignore_ascii_case(METHOD_PARAMETER))
            // A key that does not decode is compared raw, so it cannot hide the name.
            || key.eq_ignore_ascii_case(METHOD_PARAMETER.as_bytes())
    })
}

/// Decodes one `application/x-www-form-urlencoded` component; `None` if it is malformed.
fn decode_form_component(raw: &[u8]) -> Option<String> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while let Some(&byte) = raw.get(i) {
        match byte {
            b'+' => out.push(b' '),
            b'%' => {
                let high = raw.get(i + 1).and_then(|b| (*b as char).to_digit(16))?;
                let low = raw.get(i + 2).and_then(|b| (*b as char).to_digit(16))?;
                out.push(u8::try_from(high * 16 + low).ok()?);
                i += 2;
            }
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

fn contains_ignore_case(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window.eq_ignore_ascii_case(needle))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    #[test]
    fn override_headers_and_underscores_are_refused() {
        for name in OVERRIDE_HEADERS {
            assert!(matches!(
                check_agent_headers(&headers(&[(name, "DELETE")])),
                Err(OverrideError::OverrideHeader(_))
            ));
        }
        assert!(matches!(
            check_agent_headers(&headers(&[("X_Api_Key", "k")])),
            Err(OverrideError::UnderscoreHeader(_))
        ));
        assert!(check_agent_headers(&headers(&[("x-api-key", "k"), ("accept", "*/*")])).is_ok());
    }

    #[test]
    fn method_parameters_are_found_in_any_spelling() {
        for query in [
            "_method=DELETE",
            "a=1&_method=PUT",
            "a=1;_METHOD=PUT",
            "%5Fmethod=DELETE",
            "_method",
            "%5fMeThOd=x",
        ] {
            assert!(check_query(query).is_err(), "{query}");
        }
        for query in ["method=GET", "a_method=1", "x=_method", "_methods=1"] {
            assert!(check_query(query).is_ok(), "{query}");
        }
        assert!(
            check_form_body(
                FormBody::Multipart,
                b"--b\r\nContent-Disposition: form-data; NAME=\"_method\"\r\n\r\nDELETE\r\n--b--"
            )
            .is_err()
        );
        assert!(check_form_body(FormBody::UrlEncoded, b"amount=5&_method=DELETE").is_err());
        assert!(check_form_body(FormBody::UrlEncoded, b"amount=5").is_ok());
        assert_eq!(
            form_body(Some("Application/X-WWW-Form-Urlencoded; charset=utf-8")),
            Some(FormBody::UrlEncoded)
        );
        assert_eq!(form_body(Some("application/json")), None);
    }

    #[test]
    fn forwarding_headers_are_the_gateway_s_own() {
        let mut map = headers(&[
            ("forwarded", "for=10.0.0.1"),
            ("x-forwarded-for", "10.0.0.1"),
            ("x-forwarded-prefix", "/admin"),
            ("x-real-ip", "10.0.0.1"),
            ("true-client-ip", "10.0.0.1"),
            ("accept", "*/*"),
        ]);
        set_forwarding_headers(&mut map, "127.0.0.7".parse().unwrap(), "gw:8081", "http");
        assert_eq!(map["x-forwarded-for"], "127.0.0.7");
        assert_eq!(map["x-forwarded-host"], "gw:8081");
        assert_eq!(
            map["forwarded"],
            "for=127.0.0.7;host=\"gw:8081\";proto=http"
        );
        assert!(map.get("x-forwarded-prefix").is_none());
        assert!(map.get("x-real-ip").is_none());
        assert!(map.get("true-client-ip").is_none());
        assert_eq!(map.get_all("x-forwarded-for").iter().count(), 1);
        assert_eq!(map["accept"], "*/*");
    }

    proptest! {
        #[test]
        fn checks_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = check_form_body(FormBody::UrlEncoded, &bytes);
            let _ = check_form_body(FormBody::Multipart, &bytes);
            if let Ok(text) = std::str::from_utf8(&bytes) {
                let _ = check_query(text);
            }
        }

        #[test]
        fn a_method_key_is_found_wherever_it_sits(
            before in "[a-z=&]{0,12}",
            after in "[a-z=&]{0,12}",
        ) {
            let query = format!("{before}&_method=DELETE&{after}");
            prop_assert!(check_query(&query).is_err());
        }
    }
}
