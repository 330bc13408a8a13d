//! DNS-rebinding protection for MCP upstreams: a browser page on a foreign origin that got
//! its name to resolve to the gateway would otherwise reach the MCP server through it (the
//! gateway rewrites `Host`, so the server cannot check that itself). The MCP transport
//! spec asks servers to validate `Origin`; the gateway does it for them.
//!
//! A request without `Origin` comes from a non-browser client and passes. One with an
//! `Origin` passes only when it is the gateway's own origin or one the upstream allows.

use http::HeaderMap;
use http::header::ORIGIN;

use crate::refusal::{Refusal, RefusalCode};

/// An origin as compared: lower case, no trailing `/`, the scheme's default port dropped.
/// Only `scheme://authority` of a longer URL is kept, so a gateway URL with a path works.
pub fn canonical_origin(text: &str) -> String {
    let lowered = text.trim().to_ascii_lowercase();
    let Some((scheme, rest)) = lowered.split_once("://") else {
        return lowered;
    };
    let authority = rest.split('/').next().unwrap_or_default();
    let authority = match scheme {
        "http" => authority.strip_suffix(":80").unwrap_or(authority),
        "https" => authority.strip_suffix(":443").unwrap_or(authority),
        _ => authority,
    };
    format!("{scheme}://{authority}")
}

/// Refuses a request whose `Origin` is neither `own` (the gateway's URL) nor one of
/// `allowed`; passes one without `Origin`.
pub fn check_origin(headers: &HeaderMap, allowed: &[String], own: &str) -> Result<(), Refusal> {
    let mut origins = headers.get_all(ORIGIN).iter();
    let Some(origin) = origins.next() else {
        return Ok(());
    };
    let refuse =
        |message: String| Err(Refusal::new(RefusalCode::Forbidden, message).with_rule("origin"));
    if origins.next().is_some() {
        return refuse("the request carries more than one Origin header; send one".into());
    }
    let Ok(origin) = origin.to_str() else {
        return refuse("the Origin header is not readable text".into());
    };
    let seen = canonical_origin(origin);
    let passes = seen == canonical_origin(own)
        || allowed
            .iter()
            .any(|allowed| canonical_origin(allowed) == seen);
    if passes {
        Ok(())
    } else {
        refuse(format!(
            "requests from origin {origin:?} may not reach this MCP upstream (DNS-rebinding protection); an administrator can allow it with `warden upstream update NAME --allowed-origin ORIGIN`"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_origin(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(ORIGIN, value.parse().unwrap_or_else(|e| panic!("{e}")));
        }
        headers
    }

    const OWN: &str = "https://gateway.example.com";

    #[test]
    fn only_the_gateway_and_allowed_origins_pass() {
        let allowed = vec!["https://app.example.com".to_string()];
        for good in [
            &[][..],
            &["https://app.example.com"][..],
            &["HTTPS://APP.example.com:443"][..],
            &["https://gateway.example.com"][..],
        ] {
            assert!(
                check_origin(&with_origin(good), &allowed, OWN).is_ok(),
                "{good:?}"
            );
        }
        for bad in [
            &["https://evil.example.net"][..],
            &["http://app.example.com"][..],
            &["https://app.example.com:8443"][..],
            &["null"][..],
            &["https://app.example.com", "https://app.example.com"][..],
        ] {
            let refused = check_origin(&with_origin(bad), &allowed, OWN);
            let refusal = refused.err().unwrap_or_else(|| panic!("{bad:?} passed"));
            assert_eq!(refusal.code, RefusalCode::Forbidden);
            assert_eq!(refusal.rule, Some("origin"));
        }
    }

    #[test]
    fn origins_compare_without_case_default_port_or_path() {
        assert_eq!(canonical_origin("HTTP://Host:80/"), "http://host");
        assert_eq!(canonical_origin("https://h:8443/base"), "https://h:8443");
    }
}
