//! The audit event model: one record type for everything Warden does or refuses to do.
//!
//! A record answers the auditor's questions directly: which identity acted
//! ([`AuditEvent::actor`]), on whose behalf ([`AuditEvent::on_behalf_of`]), for which task,
//! which policies decided, what reason the agent gave, who approved it, and what happened.
//! Callers build a [`NewEvent`]; [`crate::chain::append`] gives it its id, sequence, time,
//! node and hashes and returns the stored [`AuditEvent`] (alias [`ChainedEvent`]).
//!
//! # No secrets
//!
//! Nothing here may hold a secret, because the log is exported to other systems and kept
//! for years. Fields that could carry one are typed as [`KeyedHash`] (an HMAC the caller
//! computes with [`crate::AuditHmacKey`]) so that the type itself says "never the raw
//! value". The caller must:
//! - put a request's query string and body into the log only as
//!   [`RequestDigest::query_hmac`] / [`RequestDigest::body_hmac`], and give
//!   [`RequestDigest::path`] without its query string (tokens hide in query strings);
//! - never put a token, client secret, upstream secret or key into `reason`, `details`,
//!   `resource` or any other text field; identify tokens by `token_jti` and credentials by
//!   `credential_id`, and hash anything else that a secret could hide in.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;
use warden_core::Timestamp;

use crate::digest::{ChainHash, KeyedHash};

macro_rules! event_kinds {
    ($($variant:ident => $text:literal,)*) => {
        /// What happened. The text form (`token.issued`, …) is what is hashed, stored and
        /// exported, so variants may be reordered or renamed in Rust but their strings are
        /// frozen once released.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum EventKind {
            $($variant,)*
        }

        impl EventKind {
            /// Every kind, in declaration order.
            pub const ALL: &'static [EventKind] = &[$(EventKind::$variant,)*];

            pub const fn as_str(self) -> &'static str {
                match self {
                    $(EventKind::$variant => $text,)*
                }
            }
        }

        impl FromStr for EventKind {
            type Err = UnknownEventKind;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                match text {
                    $($text => Ok(EventKind::$variant),)*
                    _ => Err(UnknownEventKind(text.to_owned())),
                }
            }
        }
    };
}

event_kinds! {
    TokenIssued => "token.issued",
    TokenExchanged => "token.exchanged",
    TokenRefused => "token.refused",
    TokenRevoked => "token.revoked",
    GatewayDecision => "gateway.decision",
    GatewayOutcome => "gateway.outcome",
    ApprovalRequested => "approval.requested",
    ApprovalGranted => "approval.granted",
    ApprovalDenied => "approval.denied",
    ApprovalExpired => "approval.expired",
    OwnerCreated => "owner.created",
    OwnerUpdated => "owner.updated",
    OwnerOffboarded => "owner.offboarded",
    IdentityCreated => "identity.created",
    IdentityUpdated => "identity.updated",
    IdentitySuspended => "identity.suspended",
    IdentityRestored => "identity.restored",
    IdentityRevoked => "identity.revoked",
    IdentityReassigned => "identity.reassigned",
    CredentialIssued => "credential.issued",
    CredentialRotated => "credential.rotated",
    CredentialRevoked => "credential.revoked",
    UpstreamCreated => "upstream.created",
    UpstreamUpdated => "upstream.updated",
    UpstreamDeleted => "upstream.deleted",
    PolicyCreated => "policy.created",
    PolicyUpdated => "policy.updated",
    PolicyDeleted => "policy.deleted",
    KeyRotated => "key.rotated",
    KillApplied => "kill.applied",
    KillRestored => "kill.restored",
    LeakReported => "leak.reported",
    LeakResponded => "leak.responded",
    McpToolChanged => "mcp.tool_changed",
    McpToolAccepted => "mcp.tool_accepted",
    ImportApplied => "import.applied",
    FindingOpened => "finding.opened",
    FindingResolved => "finding.resolved",
    FindingSuppressed => "finding.suppressed",
    FindingUnsuppressed => "finding.unsuppressed",
    AdminLogin => "admin.login",
    AdminLoginRefused => "admin.login_refused",
    WebhookAdded => "webhook.added",
    WebhookRemoved => "webhook.removed",
    SsfReceiverAdded => "ssf.receiver_added",
    SsfReceiverRemoved => "ssf.receiver_removed",
}

/// A kind string this version does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown audit event kind `{0}`")]
pub struct UnknownEventKind(pub String);

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for EventKind {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for EventKind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Who performed the action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Actor {
    /// A human administrator (or owner acting in the console / CLI).
    Admin { id: String, name: String },
    /// A non-human identity: the agent that held the token.
    Agent { id: String, name: String },
    /// Warden itself (expiry sweeper, leak responder, key rotation…).
    System { component: String },
}

impl Actor {
    pub fn admin(id: impl Into<String>, name: impl Into<String>) -> Self {
        Actor::Admin {
            id: id.into(),
            name: name.into(),
        }
    }

    pub fn agent(id: impl Into<String>, name: impl Into<String>) -> Self {
        Actor::Agent {
            id: id.into(),
            name: name.into(),
        }
    }

    pub fn system(component: impl Into<String>) -> Self {
        Actor::System {
            component: component.into(),
        }
    }
}

/// The gateway's (or token endpoint's) verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Allow,
    Deny,
    /// Held for a human approval.
    Hold,
}

impl Decision {
    pub const fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Deny => "deny",
            Decision::Hold => "hold",
        }
    }
}

/// What was asked of an upstream, without anything that could carry a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestDigest {
    /// HTTP method, upper case (`GET`), or the JSON-RPC method for MCP (`tools/call`).
    pub method: String,
    /// The request path *without* its query string.
    pub path: String,
    /// HMAC of the raw query string, when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_hmac: Option<KeyedHash>,
    /// HMAC of the request body, when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_hmac: Option<KeyedHash>,
    /// Length of the request body in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_bytes: Option<u64>,
}

/// What happened when the request was forwarded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outcome {
    /// The upstream's HTTP status, or the status Warden answered with.
    pub status: u16,
    /// Response body bytes relayed to the agent.
    pub bytes: u64,
    /// Milliseconds from forwarding to the end of the response.
    pub latency_ms: u64,
    /// A short machine code when the call failed (`upstream_timeout`), never a message body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The entity an administrative event changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// `owner`, `identity`, `credential`, `upstream`, `policy`, `key`, `fleet`, `all`, …
    pub kind: String,
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// What a caller supplies; the chain adds id, sequence, time, node and hashes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewEvent {
    pub kind: EventKind,
    /// Performed by.
    pub actor: Actor,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_behalf_of: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_jti: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Target>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policy_ids: Vec<String>,
    /// The reason the agent gave (or the admin's comment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_id: Option<String>,
    /// Who approved a held action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<RequestDigest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_address: Option<IpAddr>,
    /// Further non-secret facts (`error` = `invalid_client`, `changed` = `labels`, …).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub details: BTreeMap<String, String>,
}

/// One stored audit record: a [`NewEvent`] placed in the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditEvent {
    pub id: Uuid,
    pub sequence: u64,
    pub time: Timestamp,
    /// The Warden node that wrote the record.
    pub node: String,
    pub kind: EventKind,
    pub actor: Actor,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_behalf_of: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_jti: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Target>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policy_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<RequestDigest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_address: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub details: BTreeMap<String, String>,
    /// The hash of the record before this one ([`ChainHash::GENESIS`] for the first).
    pub prev_hash: ChainHash,
    /// SHA-256(prev_hash ‖ canonical(this record)); see [`crate::canonical`].
    pub hash: ChainHash,
}

/// The record as the chain produced it; the same type as [`AuditEvent`].
pub type ChainedEvent = AuditEvent;

impl NewEvent {
    pub fn new(kind: EventKind, actor: Actor) -> Self {
        Self {
            kind,
            actor,
            on_behalf_of: None,
            owner: None,
            task_id: None,
            credential_id: None,
            token_jti: None,
            upstream: None,
            action: None,
            resource: None,
            target: None,
            decision: None,
            policy_ids: Vec::new(),
            reason: None,
            approval_id: None,
            approved_by: None,
            request: None,
            outcome: None,
            source_address: None,
            details: BTreeMap::new(),
        }
    }

    pub fn on_behalf_of(mut self, user: impl Into<String>) -> Self {
        self.on_behalf_of = Some(user.into());
        self
    }

    pub fn owner(mut self, owner: impl Into<String>) -> Self {
        self.owner = Some(owner.into());
        self
    }

    pub fn task(mut self, task_id: impl Into<String>) -> Self {
        self.task_id = Some(task_id.into());
        self
    }

    pub fn credential(mut self, credential_id: impl Into<String>) -> Self {
        self.credential_id = Some(credential_id.into());
        self
    }

    pub fn token(mut self, jti: impl Into<String>) -> Self {
        self.token_jti = Some(jti.into());
        self
    }

    pub fn upstream(mut self, upstream: impl Into<String>) -> Self {
        self.upstream = Some(upstream.into());
        self
    }

    pub fn action(mut self, action: impl Into<String>) -> Self {
        self.action = Some(action.into());
        self
    }

    pub fn resource(mut self, resource: impl Into<String>) -> Self {
        self.resource = Some(resource.into());
        self
    }

    pub fn target(mut self, kind: impl Into<String>, id: impl Into<String>) -> Self {
        self.target = Some(Target {
            kind: kind.into(),
            id: id.into(),
            name: None,
        });
        self
    }

    pub fn target_named(
        mut self,
        kind: impl Into<String>,
        id: impl Into<String>,
        name: impl Into<String>,
    ) -> Self {
        self.target = Some(Target {
            kind: kind.into(),
            id: id.into(),
            name: Some(name.into()),
        });
        self
    }

    /// The verdict and the ids of the policies that reached it.
    pub fn decision<I, S>(mut self, decision: Decision, policy_ids: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.decision = Some(decision);
        self.policy_ids = policy_ids.into_iter().map(Into::into).collect();
        self
    }

    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    pub fn approval(mut self, approval_id: impl Into<String>) -> Self {
        self.approval_id = Some(approval_id.into());
        self
    }

    pub fn approved_by(mut self, approver: impl Into<String>) -> Self {
        self.approved_by = Some(approver.into());
        self
    }

    pub fn request(mut self, request: RequestDigest) -> Self {
        self.request = Some(request);
        self
    }

    pub fn outcome(mut self, outcome: Outcome) -> Self {
        self.outcome = Some(outcome);
        self
    }

    pub fn source(mut self, address: IpAddr) -> Self {
        self.source_address = Some(address);
        self
    }

    pub fn detail(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.details.insert(key.into(), value.into());
        self
    }

    /// The record this event becomes at a given place in the chain, before hashing.
    /// `prev_hash` is set and `hash` is left zero; [`crate::chain::append`] fills it in.
    pub(crate) fn place(
        self,
        id: Uuid,
        sequence: u64,
        time: Timestamp,
        node: String,
        prev_hash: ChainHash,
    ) -> AuditEvent {
        AuditEvent {
            id,
            sequence,
            time,
            node,
            kind: self.kind,
            actor: self.actor,
            on_behalf_of: self.on_behalf_of,
            owner: self.owner,
            task_id: self.task_id,
            credential_id: self.credential_id,
            token_jti: self.token_jti,
            upstream: self.upstream,
            action: self.action,
            resource: self.resource,
            target: self.target,
            decision: self.decision,
            policy_ids: self.policy_ids,
            reason: self.reason,
            approval_id: self.approval_id,
            approved_by: self.approved_by,
            request: self.request,
            outcome: self.outcome,
            source_address: self.source_address,
            details: self.details,
            prev_hash,
            hash: ChainHash::GENESIS,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_through_its_text() {
        let mut seen = std::collections::HashSet::new();
        for kind in EventKind::ALL {
            assert!(seen.insert(kind.as_str()), "duplicate {kind}");
            assert_eq!(kind.as_str().parse::<EventKind>(), Ok(*kind));
            let json = serde_json::to_string(kind).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(json, format!("\"{kind}\""));
        }
        assert_eq!(
            "token.stolen".parse::<EventKind>(),
            Err(UnknownEventKind("token.stolen".into()))
        );
    }

    #[test]
    fn actors_serialize_with_a_type_tag() {
        let json = serde_json::to_value(Actor::agent("id-1", "support-bot"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            json,
            serde_json::json!({"type": "agent", "id": "id-1", "name": "support-bot"})
        );
    }
}
