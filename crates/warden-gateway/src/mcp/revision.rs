//! Which protocol revision a request speaks, and what that revision requires of it.
//!
//! Up to 2025-11-25 an MCP connection is a session: `initialize` negotiates a version, and
//! later requests carry it in the `MCP-Protocol-Version` header. From 2026-07-28 every
//! request stands alone: its `params._meta` carries the version (and the header mirrors it),
//! there are no batches, and the `Mcp-Method` header (and `Mcp-Name` for the methods that
//! name something) must be present, so that an intermediary can route on headers alone. The
//! gateway reads the revision per request, since one client may speak either to the same
//! upstream, and holds a stateless request to its revision's rules before deciding it:
//! headers that a proxy or a load balancer routes on must say what the body says.

use super::{Envelope, McpError};

/// The header that carries the protocol version.
pub const PROTOCOL_VERSION_HEADER: &str = "mcp-protocol-version";
/// The `_meta` key that carries it on every request of the stateless revision.
pub const PROTOCOL_VERSION_META: &str = "io.modelcontextprotocol/protocolVersion";
/// The first stateless revision.
pub const STATELESS: &str = "2026-07-28";

/// Methods of the session revision that the stateless one removed: a stateless request
/// that asks for one is answered as a server of that revision would, "method not found".
pub const REMOVED_IN_STATELESS: [&str; 6] = [
    "initialize",
    "ping",
    "logging/setLevel",
    "resources/subscribe",
    "resources/unsubscribe",
    "notifications/initialized",
];

/// The two shapes of the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revision {
    /// 2025-11-25 and before: `initialize`, sessions, batches in older versions.
    Sessions,
    /// 2026-07-28 and after: stateless requests, `server/discover`, required headers.
    Stateless,
}

impl Revision {
    /// The revision a version string belongs to. Versions are dates, so they compare as
    /// text; a draft of a later revision is stateless too.
    pub fn of_version(version: &str) -> Self {
        let dated = version.len() == 10
            && version.bytes().enumerate().all(|(i, b)| {
                if i == 4 || i == 7 {
                    b == b'-'
                } else {
                    b.is_ascii_digit()
                }
            });
        if (dated && version >= STATELESS) || version.starts_with("DRAFT") {
            Self::Stateless
        } else {
            Self::Sessions
        }
    }

    /// Whether this revision no longer has `method`.
    pub fn removed(self, method: &str) -> bool {
        self == Self::Stateless && REMOVED_IN_STATELESS.contains(&method)
    }

    /// The revision of one request: the version its messages carry in `_meta`, else the
    /// header's. The two must agree when both are there.
    pub fn of_request(header: Option<&str>, envelope: &Envelope) -> Result<Self, McpError> {
        let mut carried = envelope
            .messages
            .iter()
            .filter_map(|m| m.protocol_version.as_deref());
        let from_body = carried.next();
        if let Some(first) = from_body
            && let Some(other) = carried.find(|v| *v != first)
        {
            return Err(McpError::HeaderMismatch {
                header: "MCP-Protocol-Version",
                header_value: first.to_owned(),
                body_value: other.to_owned(),
            });
        }
        if let (Some(header), Some(body)) = (header, from_body)
            && header != body
        {
            return Err(McpError::HeaderMismatch {
                header: "MCP-Protocol-Version",
                header_value: header.to_owned(),
                body_value: body.to_owned(),
            });
        }
        Ok(from_body
            .or(header)
            .map_or(Self::Sessions, Self::of_version))
    }

    /// What this revision requires of a request's shape and headers. `Mcp-Method` and
    /// `Mcp-Name`, when present, are compared with the body by [`super::check_headers`].
    pub fn check(
        self,
        envelope: &Envelope,
        mcp_method: Option<&str>,
        mcp_name: Option<&str>,
    ) -> Result<(), McpError> {
        if self == Self::Sessions {
            return Ok(());
        }
        if envelope.batch {
            return Err(McpError::BatchNotAllowed(STATELESS));
        }
        for message in &envelope.messages {
            let Some(method) = message.method() else {
                continue;
            };
            if mcp_method.is_none() {
                return Err(McpError::MissingHeader {
                    revision: STATELESS,
                    header: "Mcp-Method",
                    method: method.to_owned(),
                    what: "method",
                });
            }
            let names_something = matches!(method, "tools/call" | "prompts/get" | "resources/read");
            if names_something && mcp_name.is_none() {
                return Err(McpError::MissingHeader {
                    revision: STATELESS,
                    header: "Mcp-Name",
                    method: method.to_owned(),
                    what: if method == "resources/read" {
                        "params.uri"
                    } else {
                        "params.name"
                    },
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mcp::parse_request;

    fn envelope(body: &str) -> Envelope {
        parse_request(body.as_bytes()).unwrap_or_else(|e| panic!("{e}"))
    }

    const STATELESS_CALL: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}"#;

    #[test]
    fn versions_belong_to_revisions() {
        for (version, revision) in [
            ("2024-11-05", Revision::Sessions),
            ("2025-11-25", Revision::Sessions),
            ("2026-07-28", Revision::Stateless),
            ("2027-01-01", Revision::Stateless),
            ("DRAFT-2026-v1", Revision::Stateless),
            ("2026-7-28", Revision::Sessions),
            ("latest", Revision::Sessions),
        ] {
            assert_eq!(Revision::of_version(version), revision, "{version}");
        }
    }

    #[test]
    fn the_body_decides_and_the_header_must_agree() {
        let call = envelope(STATELESS_CALL);
        assert_eq!(Revision::of_request(None, &call), Ok(Revision::Stateless));
        assert_eq!(
            Revision::of_request(Some("2026-07-28"), &call),
            Ok(Revision::Stateless)
        );
        assert!(Revision::of_request(Some("2025-11-25"), &call).is_err());
        let legacy = envelope(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#);
        assert_eq!(
            Revision::of_request(Some("2025-11-25"), &legacy),
            Ok(Revision::Sessions)
        );
        assert_eq!(Revision::of_request(None, &legacy), Ok(Revision::Sessions));
    }

    #[test]
    fn stateless_requests_need_their_routing_headers() {
        let call = envelope(STATELESS_CALL);
        let stateless = Revision::Stateless;
        assert!(matches!(
            stateless.check(&call, None, None),
            Err(McpError::MissingHeader {
                header: "Mcp-Method",
                ..
            })
        ));
        assert!(matches!(
            stateless.check(&call, Some("tools/call"), None),
            Err(McpError::MissingHeader {
                header: "Mcp-Name",
                ..
            })
        ));
        assert_eq!(
            stateless.check(&call, Some("tools/call"), Some("echo")),
            Ok(())
        );
        let batch = envelope(&format!("[{STATELESS_CALL}]"));
        assert!(matches!(
            stateless.check(&batch, Some("tools/call"), Some("echo")),
            Err(McpError::BatchNotAllowed(_))
        ));
        assert_eq!(Revision::Sessions.check(&call, None, None), Ok(()));
    }
}
