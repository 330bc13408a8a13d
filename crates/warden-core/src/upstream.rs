//! Upstreams: the systems agents call through the gateway (a REST API or an MCP server),
//! and how the gateway injects the upstream's own secret so the agent never holds it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::clock::Timestamp;
use crate::error::{DomainError, DomainResult};
use crate::validate::validate_name;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(transparent)]
#[schema(value_type = String, format = Uuid)]
pub struct UpstreamId(pub Uuid);

impl UpstreamId {
    pub fn new_v7() -> Self {
        Self(Uuid::now_v7())
    }
}

impl fmt::Display for UpstreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// What speaks at the upstream's URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UpstreamKind {
    /// A plain HTTP API, authorized per route.
    Http,
    /// An MCP server over streamable HTTP, authorized per tool.
    Mcp,
}

impl UpstreamKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Mcp => "mcp",
        }
    }
}

impl FromStr for UpstreamKind {
    type Err = DomainError;

    fn from_str(text: &str) -> DomainResult<Self> {
        match text {
            "http" => Ok(Self::Http),
            "mcp" => Ok(Self::Mcp),
            other => Err(DomainError::invalid(
                "kind",
                format!("`{other}` is not http or mcp"),
            )),
        }
    }
}

/// How the gateway presents the upstream's secret: `bearer`, `basic` (the secret is
/// `user:password`), or `header:NAME` (the secret as the value of header NAME).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum InjectAuth {
    Bearer,
    Basic,
    Header(String),
}

/// Headers the gateway manages itself; injecting a secret into one would break framing or
/// routing, so they are refused as injection targets.
const RESERVED_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "upgrade",
    "te",
    "trailer",
    "proxy-authorization",
    "proxy-authenticate",
    "warden-reason",
];

impl InjectAuth {
    pub fn as_text(&self) -> String {
        match self {
            Self::Bearer => "bearer".into(),
            Self::Basic => "basic".into(),
            Self::Header(name) => format!("header:{name}"),
        }
    }
}

impl FromStr for InjectAuth {
    type Err = DomainError;

    fn from_str(text: &str) -> DomainResult<Self> {
        match text {
            "bearer" => Ok(Self::Bearer),
            "basic" => Ok(Self::Basic),
            other => {
                let Some(name) = other.strip_prefix("header:") else {
                    return Err(DomainError::invalid(
                        "auth",
                        format!("`{other}` is not bearer, basic or header:NAME"),
                    ));
                };
                let token = !name.is_empty()
                    && name.len() <= 64
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
                if !token || RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
                    return Err(DomainError::invalid(
                        "auth",
                        format!(
                            "`{name}` cannot carry the secret: use a header name of letters, digits, '-' or '_' that the gateway does not manage itself"
                        ),
                    ));
                }
                Ok(Self::Header(name.to_string()))
            }
        }
    }
}

impl utoipa::PartialSchema for InjectAuth {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some("bearer, basic, or header:NAME"))
            .into()
    }
}

impl utoipa::ToSchema for InjectAuth {}

impl Serialize for InjectAuth {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.as_text())
    }
}

impl<'de> Deserialize<'de> for InjectAuth {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse()
            .map_err(|error: DomainError| serde::de::Error::custom(error.to_string()))
    }
}

/// An upstream as callers see it: everything but the secret, of which only the version and
/// whether one is set are shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Upstream {
    pub id: UpstreamId,
    pub name: String,
    pub kind: UpstreamKind,
    /// Where requests are forwarded: `http(s)://host[:port][/base/path]`.
    pub url: String,
    pub auth: InjectAuth,
    pub has_secret: bool,
    /// Bumped by every new secret; bound into the sealed secret.
    pub secret_version: i64,
    /// The route map (TOML) for HTTP upstreams.
    pub routes: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Checks an upstream's base URL: http or https, a host, no credentials, query or fragment
/// (credentials belong in the sealed secret; a query or fragment would be silently dropped
/// or duplicated when paths are appended).
pub fn validate_upstream_url(url: &str) -> DomainResult<()> {
    // The URL is not echoed back: one that carries credentials would put them in the
    // error, and from there in responses and logs.
    let invalid = |why: &str| {
        DomainError::invalid(
            "url",
            format!("the URL {why}; use http(s)://host[:port][/path]"),
        )
    };
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| invalid("must start with http:// or https://"))?;
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.is_empty() {
        return Err(invalid("has no host"));
    }
    if authority.contains('@') {
        return Err(invalid(
            "must not carry credentials (set them as the upstream's secret)",
        ));
    }
    if url.contains('?') || url.contains('#') {
        return Err(invalid("must not have a query or fragment"));
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid("contains whitespace"));
    }
    Ok(())
}

/// A request to register an upstream (the secret travels separately, sealed by the server).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUpstream {
    pub name: String,
    pub kind: UpstreamKind,
    pub url: String,
    pub auth: InjectAuth,
    pub routes: Option<String>,
}

impl NewUpstream {
    pub fn validate(&self) -> DomainResult<()> {
        validate_name(&self.name)?;
        validate_upstream_url(&self.url)
    }
}

/// The editable fields of an upstream; absent fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpstreamPatch {
    pub url: Option<String>,
    pub auth: Option<InjectAuth>,
    /// A new route map (TOML), replacing the old one.
    pub routes: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn injection_targets_are_parsed_and_reserved_headers_refused() {
        assert_eq!("bearer".parse(), Ok(InjectAuth::Bearer));
        assert_eq!(
            "header:X-Api-Key".parse(),
            Ok(InjectAuth::Header("X-Api-Key".into()))
        );
        for bad in [
            "header:",
            "header:Host",
            "header:Transfer-Encoding",
            "header:a b",
            "token",
        ] {
            assert!(bad.parse::<InjectAuth>().is_err(), "{bad}");
        }
    }

    #[test]
    fn upstream_urls_are_checked() {
        for good in ["https://api.example.com", "http://127.0.0.1:9000/v2"] {
            assert_eq!(validate_upstream_url(good), Ok(()), "{good}");
        }
        for bad in [
            "ftp://x",
            "https://",
            "https://user:pw@host",
            "https://h/p?x=1",
            "https://h/#f",
            "https://h /p",
        ] {
            assert!(validate_upstream_url(bad).is_err(), "{bad}");
        }
    }
}
