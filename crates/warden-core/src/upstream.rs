//! Upstreams: the systems agents call through the gateway (a REST API, an MCP server, or a
//! local MCP server Warden runs over stdio), and how the upstream's own secret reaches it
//! so the agent never holds it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::access_label::{ToolLabels, normalize_access_labels, normalize_tool_labels};
use crate::clock::Timestamp;
use crate::error::{DomainError, DomainResult};
use crate::identity::text_enum;
use crate::validate::validate_name;

text_enum!(
    /// Which inventory holds the identity an upstream's secret belongs to.
    BindingSource, "identity", {
        Registered => "registered",
        Imported => "imported",
    }
);

/// The identity whose secret the gateway injects for an upstream (a GitHub token's
/// service account, a cloud key's user): what an agent reaching the upstream acts as there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UpstreamIdentity {
    /// The identity's id in its inventory.
    pub id: String,
    pub source: BindingSource,
    /// `KIND:NAME`, as people refer to it.
    pub reference: String,
}

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
    /// A local MCP server that Warden runs as a command and speaks stdio to, authorized
    /// per tool like `mcp`; its secret goes into the command's environment.
    #[serde(rename = "mcp-stdio")]
    McpStdio,
}

impl UpstreamKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Mcp => "mcp",
            Self::McpStdio => "mcp-stdio",
        }
    }

    /// Whether the upstream speaks MCP (over HTTP or stdio), so it is governed per tool.
    pub fn is_mcp(self) -> bool {
        match self {
            Self::Http => false,
            Self::Mcp | Self::McpStdio => true,
        }
    }
}

impl FromStr for UpstreamKind {
    type Err = DomainError;

    fn from_str(text: &str) -> DomainResult<Self> {
        match text {
            "http" => Ok(Self::Http),
            "mcp" => Ok(Self::Mcp),
            "mcp-stdio" => Ok(Self::McpStdio),
            other => Err(DomainError::invalid(
                "kind",
                format!("`{other}` is not http, mcp or mcp-stdio"),
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
    /// Where requests are forwarded: `http(s)://host[:port][/base/path]`; empty for an
    /// `mcp-stdio` upstream, which has a command instead.
    pub url: String,
    /// How the secret is presented to an HTTP or MCP upstream (unused for `mcp-stdio`,
    /// whose secret is the environment variable `env_secret`).
    pub auth: InjectAuth,
    pub has_secret: bool,
    /// Bumped by every new secret; bound into the sealed secret.
    pub secret_version: i64,
    /// The route map (TOML) for HTTP upstreams.
    pub routes: Option<String>,
    /// For MCP upstreams, the browser origins (`scheme://host[:port]`) whose requests may
    /// pass besides the gateway's own; a request with any other `Origin` is refused.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// For an `mcp-stdio` upstream: the program Warden runs (an absolute path, or a name
    /// looked up on PATH), started without a shell.
    #[serde(default)]
    pub command: Option<String>,
    /// For an `mcp-stdio` upstream: the program's arguments, each passed as it is.
    #[serde(default)]
    pub args: Vec<String>,
    /// For an `mcp-stdio` upstream: the environment variable the upstream's secret is set
    /// in for the program (the secret itself is never shown).
    #[serde(default)]
    pub env_secret: Option<String>,
    /// What the upstream touches (`sensitive`, `external`, `prod`...), sorted.
    #[serde(default)]
    pub labels: Vec<String>,
    /// For MCP upstreams, labels of single tools, by tool name.
    #[serde(default)]
    #[schema(value_type = std::collections::BTreeMap<String, Vec<String>>)]
    pub tool_labels: ToolLabels,
    /// The identity the upstream's secret belongs to, when one is named.
    #[serde(default)]
    pub identity: Option<UpstreamIdentity>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Upstream {
    /// Checks a patch against this upstream as it is: the URL may change its path freely,
    /// but not its scheme, host or port while the upstream has a secret, unless a new
    /// secret comes in the same change (the old one was registered for the old host).
    /// Allowed origins must be well formed and are for MCP upstreams only.
    pub fn check_patch(&self, patch: &UpstreamPatch, new_secret: bool) -> DomainResult<()> {
        if self.kind == UpstreamKind::McpStdio && (patch.url.is_some() || patch.routes.is_some()) {
            return Err(DomainError::invalid(
                "url",
                "an mcp-stdio upstream has a command, not a URL or route map; remove it and add it again to change its command",
            ));
        }
        if let Some(url) = &patch.url {
            validate_upstream_url(url)?;
            let moves = url_origin(url) != url_origin(&self.url);
            if moves && self.has_secret && !new_secret {
                return Err(DomainError::SecretBoundToOrigin(self.name.clone()));
            }
        }
        if let Some(origins) = &patch.allowed_origins {
            validate_allowed_origins(self.kind, origins)?;
        }
        if let Some(labels) = &patch.labels {
            normalize_access_labels("labels", labels)?;
        }
        if let Some(tools) = &patch.tool_labels {
            validate_tool_labels(self.kind, tools)?;
        }
        Ok(())
    }
}

/// The origin of an upstream URL: scheme, lower-cased host, and port (the scheme's default
/// when none is written), so `https://API.example.com` and `https://api.example.com:443`
/// are the same place. `None` for a URL `validate_upstream_url` refuses.
pub fn url_origin(url: &str) -> Option<(&'static str, String, u16)> {
    let (scheme, rest, default_port) = if let Some(rest) = url.strip_prefix("https://") {
        ("https", rest, 443)
    } else if let Some(rest) = url.strip_prefix("http://") {
        ("http", rest, 80)
    } else {
        return None;
    };
    let authority = rest.split('/').next().unwrap_or_default();
    let (host, port) = split_host_port(authority)?;
    let port = match port {
        Some(text) => text.parse().ok()?,
        None => default_port,
    };
    Some((scheme, host.to_ascii_lowercase(), port))
}

/// `host[:port]` or `[v6]:port`, the port as written.
fn split_host_port(authority: &str) -> Option<(&str, Option<&str>)> {
    if authority.is_empty() {
        return None;
    }
    if let Some(bracketed) = authority.strip_prefix('[') {
        let (host, after) = bracketed.split_once(']')?;
        let port = match after {
            "" => None,
            other => Some(other.strip_prefix(':')?),
        };
        return Some((host, port));
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => Some((host, Some(port))),
        None => Some((authority, None)),
    }
}

/// The most allowed origins one upstream keeps.
pub const MAX_ALLOWED_ORIGINS: usize = 32;

/// Checks one allowed origin: exactly `scheme://host[:port]` in lower case, no path, as
/// a browser writes the `Origin` header.
pub fn validate_allowed_origin(origin: &str) -> DomainResult<()> {
    let invalid = || {
        DomainError::invalid(
            "allowed_origins",
            format!(
                "`{origin}` is not an origin; write it as a browser sends it: http(s)://host[:port] in lower case, without a path or trailing slash"
            ),
        )
    };
    let rest = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .ok_or_else(invalid)?;
    let well_formed = !rest.is_empty()
        && !rest.contains(['/', '?', '#', '@'])
        && origin == origin.to_ascii_lowercase()
        && !origin.chars().any(|c| c.is_whitespace() || c.is_control())
        && split_host_port(rest).is_some_and(|(host, port)| {
            !host.is_empty() && port.is_none_or(|p| p.parse::<u16>().is_ok())
        });
    if well_formed { Ok(()) } else { Err(invalid()) }
}

/// Checks an upstream's allowed origins: MCP only (an HTTP upstream has no browser
/// session to protect this way), each well formed, at most `MAX_ALLOWED_ORIGINS`.
pub fn validate_allowed_origins(kind: UpstreamKind, origins: &[String]) -> DomainResult<()> {
    if origins.is_empty() {
        return Ok(());
    }
    if !kind.is_mcp() {
        return Err(DomainError::invalid(
            "allowed_origins",
            "allowed origins guard MCP upstreams only; leave them out for an HTTP upstream",
        ));
    }
    if origins.len() > MAX_ALLOWED_ORIGINS {
        return Err(DomainError::invalid(
            "allowed_origins",
            format!("at most {MAX_ALLOWED_ORIGINS} origins"),
        ));
    }
    origins
        .iter()
        .try_for_each(|origin| validate_allowed_origin(origin))
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
    /// See `Upstream::allowed_origins`.
    pub allowed_origins: Vec<String>,
    /// The command of an `mcp-stdio` upstream (see `Upstream::command`).
    pub stdio: Option<StdioCommand>,
    /// See `Upstream::labels`.
    pub labels: Vec<String>,
    /// See `Upstream::tool_labels`.
    pub tool_labels: ToolLabels,
    /// The identity the secret belongs to, as given (`KIND:NAME`, a registered identity's
    /// id, or an imported identity's id); the store resolves it as it writes.
    pub identity: Option<String>,
}

/// Checks tool labels: MCP upstreams only (an HTTP upstream labels its routes in the
/// route map), each tool name and label well formed.
pub fn validate_tool_labels(kind: UpstreamKind, tools: &ToolLabels) -> DomainResult<ToolLabels> {
    if !tools.is_empty() && !kind.is_mcp() {
        return Err(DomainError::invalid(
            "tool_labels",
            "tool labels are for MCP upstreams; label an HTTP upstream's routes in its route map (labels = [...])",
        ));
    }
    normalize_tool_labels(tools)
}

impl NewUpstream {
    pub fn validate(&self) -> DomainResult<()> {
        validate_name(&self.name)?;
        match (self.kind, &self.stdio) {
            (UpstreamKind::McpStdio, Some(stdio)) => {
                if !self.url.is_empty() {
                    return Err(DomainError::invalid(
                        "url",
                        "an mcp-stdio upstream is a command Warden runs; leave the URL out",
                    ));
                }
                if self.routes.is_some() {
                    return Err(DomainError::invalid(
                        "routes",
                        "MCP upstreams are authorized per tool and take no route map",
                    ));
                }
                stdio.validate()?;
            }
            (UpstreamKind::McpStdio, None) => {
                return Err(DomainError::invalid(
                    "command",
                    "an mcp-stdio upstream needs the command that starts the MCP server",
                ));
            }
            (UpstreamKind::Http | UpstreamKind::Mcp, Some(_)) => {
                return Err(DomainError::invalid(
                    "command",
                    "only an mcp-stdio upstream has a command; use --kind mcp-stdio",
                ));
            }
            (UpstreamKind::Http | UpstreamKind::Mcp, None) => validate_upstream_url(&self.url)?,
        }
        validate_allowed_origins(self.kind, &self.allowed_origins)?;
        normalize_access_labels("labels", &self.labels)?;
        validate_tool_labels(self.kind, &self.tool_labels)?;
        Ok(())
    }
}

/// The most arguments an `mcp-stdio` command takes, and the longest one (and the longest
/// command), in bytes.
pub const MAX_STDIO_ARGS: usize = 64;
pub const MAX_STDIO_ARG_BYTES: usize = 4096;

/// Environment variables an upstream's secret may not be put in: the ones Warden sets for
/// the command itself, and those that change how programs load code.
const RESERVED_ENV: &[&str] = &["PATH", "HOME"];
const RESERVED_ENV_PREFIXES: &[&str] = &["LD_", "DYLD_"];

/// What Warden runs for an `mcp-stdio` upstream: a program, its arguments and the
/// environment variable that carries the upstream's secret. Checked here for shape; the
/// server checks that the program exists on its own host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StdioCommand {
    pub command: String,
    pub args: Vec<String>,
    pub env_secret: Option<String>,
}

impl StdioCommand {
    pub fn validate(&self) -> DomainResult<()> {
        let printable = |text: &str| !text.chars().any(char::is_control);
        if self.command.is_empty()
            || self.command.len() > MAX_STDIO_ARG_BYTES
            || !printable(&self.command)
            || self.command.trim() != self.command
        {
            return Err(DomainError::invalid(
                "command",
                "give the program to run: an absolute path, or a name found on PATH, without arguments (pass each with --arg)",
            ));
        }
        if self.command.contains('/') && !self.command.starts_with('/') {
            return Err(DomainError::invalid(
                "command",
                format!(
                    "`{}` is a relative path; give an absolute path, or a bare name to look up on PATH",
                    self.command
                ),
            ));
        }
        if self.args.len() > MAX_STDIO_ARGS {
            return Err(DomainError::invalid(
                "args",
                format!("at most {MAX_STDIO_ARGS} arguments"),
            ));
        }
        if self
            .args
            .iter()
            .any(|arg| arg.len() > MAX_STDIO_ARG_BYTES || arg.contains('\0'))
        {
            return Err(DomainError::invalid(
                "args",
                format!("each argument must be at most {MAX_STDIO_ARG_BYTES} bytes, without NUL"),
            ));
        }
        if let Some(variable) = &self.env_secret {
            validate_env_name(variable)?;
        }
        Ok(())
    }
}

/// An environment variable name for the secret: `[A-Za-z_][A-Za-z0-9_]*`, at most 128
/// bytes, and not one Warden sets itself or one that changes how programs load.
pub fn validate_env_name(variable: &str) -> DomainResult<()> {
    let well_formed = !variable.is_empty()
        && variable.len() <= 128
        && !variable.starts_with(|c: char| c.is_ascii_digit())
        && variable
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !well_formed {
        return Err(DomainError::invalid(
            "env_secret",
            format!(
                "`{variable}` is not an environment variable name; use letters, digits and '_', not starting with a digit"
            ),
        ));
    }
    let upper = variable.to_ascii_uppercase();
    if RESERVED_ENV.contains(&upper.as_str())
        || RESERVED_ENV_PREFIXES
            .iter()
            .any(|prefix| upper.starts_with(prefix))
    {
        return Err(DomainError::invalid(
            "env_secret",
            format!(
                "`{variable}` is set by Warden or changes how programs load; choose another name"
            ),
        ));
    }
    Ok(())
}

/// The editable fields of an upstream; absent fields stay as they are. A new secret
/// travels beside a patch, sealed by the server (see `Upstream::check_patch`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpstreamPatch {
    pub url: Option<String>,
    pub auth: Option<InjectAuth>,
    /// A new route map (TOML), replacing the old one.
    pub routes: Option<String>,
    /// A new list of allowed origins (MCP), replacing the old one; empty clears it.
    pub allowed_origins: Option<Vec<String>>,
    /// A new list of labels, replacing the old one; empty clears it.
    pub labels: Option<Vec<String>>,
    /// New tool labels (MCP), replacing the old ones; empty clears them.
    #[schema(value_type = Option<std::collections::BTreeMap<String, Vec<String>>>)]
    pub tool_labels: Option<ToolLabels>,
    /// The identity the secret belongs to (`KIND:NAME`, a registered identity's id, or an
    /// imported identity's id); `null` removes the binding.
    #[serde(default, deserialize_with = "crate::identity::present")]
    #[schema(value_type = Option<String>)]
    pub identity: Option<Option<String>>,
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

    fn upstream(url: &str, has_secret: bool) -> Upstream {
        Upstream {
            id: UpstreamId::new_v7(),
            name: "crm".into(),
            kind: UpstreamKind::Http,
            url: url.into(),
            auth: InjectAuth::Bearer,
            has_secret,
            secret_version: i64::from(has_secret),
            routes: None,
            allowed_origins: Vec::new(),
            command: None,
            args: Vec::new(),
            env_secret: None,
            labels: Vec::new(),
            tool_labels: ToolLabels::new(),
            identity: None,
            created_at: Timestamp::from_millis(0),
            updated_at: Timestamp::from_millis(0),
        }
    }

    fn to_url(url: &str) -> UpstreamPatch {
        UpstreamPatch {
            url: Some(url.into()),
            ..UpstreamPatch::default()
        }
    }

    #[test]
    fn a_secret_does_not_follow_its_upstream_to_another_host() {
        let current = upstream("https://api.example.com/v1", true);
        for other in [
            "https://evil.example.net/v1",
            "http://api.example.com/v1",
            "https://api.example.com:8443/v1",
        ] {
            assert_eq!(
                current.check_patch(&to_url(other), false),
                Err(DomainError::SecretBoundToOrigin("crm".into())),
                "{other}"
            );
            assert_eq!(current.check_patch(&to_url(other), true), Ok(()), "{other}");
        }
        for same in [
            "https://api.example.com/v2",
            "https://API.example.com:443/v1",
        ] {
            assert_eq!(current.check_patch(&to_url(same), false), Ok(()), "{same}");
        }
        let without_secret = upstream("https://api.example.com", false);
        assert_eq!(
            without_secret.check_patch(&to_url("https://other.example.com"), false),
            Ok(())
        );
    }

    #[test]
    fn allowed_origins_are_checked() {
        for good in [
            "https://app.example.com",
            "http://127.0.0.1:3000",
            "http://[::1]:8080",
        ] {
            assert_eq!(validate_allowed_origin(good), Ok(()), "{good}");
        }
        for bad in [
            "app.example.com",
            "https://app.example.com/",
            "https://App.example.com",
            "https://app.example.com/path",
            "https://u@app.example.com",
            "https://app.example.com:port",
            "null",
        ] {
            assert!(validate_allowed_origin(bad).is_err(), "{bad}");
        }
        let origins = vec!["https://app.example.com".to_string()];
        assert!(validate_allowed_origins(UpstreamKind::Http, &origins).is_err());
        assert_eq!(
            validate_allowed_origins(UpstreamKind::Mcp, &origins),
            Ok(())
        );
    }

    #[test]
    fn stdio_commands_are_checked() {
        let command = |command: &str, env: Option<&str>| StdioCommand {
            command: command.into(),
            args: vec!["--flag".into()],
            env_secret: env.map(str::to_string),
        };
        for good in [
            command("/usr/bin/python3", Some("GITHUB_TOKEN")),
            command("npx", None),
        ] {
            assert_eq!(good.validate(), Ok(()), "{good:?}");
        }
        for bad in [
            command("", None),
            command("bin/server", None),
            command("./server", None),
            command("npx", Some("PATH")),
            command("npx", Some("LD_PRELOAD")),
            command("npx", Some("1TOKEN")),
            command("npx", Some("A-B")),
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
        let stdio = NewUpstream {
            name: "local".into(),
            kind: UpstreamKind::McpStdio,
            url: String::new(),
            auth: InjectAuth::Bearer,
            routes: None,
            allowed_origins: Vec::new(),
            stdio: Some(command("npx", Some("TOKEN"))),
            labels: vec!["external".into()],
            tool_labels: ToolLabels::new(),
            identity: None,
        };
        assert_eq!(stdio.validate(), Ok(()));
        let with_url = NewUpstream {
            url: "http://127.0.0.1:1".into(),
            ..stdio.clone()
        };
        assert!(with_url.validate().is_err());
        let without_command = NewUpstream {
            stdio: None,
            ..stdio.clone()
        };
        assert!(without_command.validate().is_err());
        let http_with_command = NewUpstream {
            kind: UpstreamKind::Http,
            url: "http://127.0.0.1:1".into(),
            ..stdio
        };
        assert!(http_with_command.validate().is_err());
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
