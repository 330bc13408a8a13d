//! Security Event Tokens (RFC 8417) for the OpenID Shared Signals Framework: which audit
//! records become which CAEP and RISC events, about which subject (RFC 9493), with which
//! claims. Signing is the caller's (the token key ring in `warden-crypto`).
//!
//! The mapping:
//! - `kill.applied` and `token.revoked` → CAEP `session-revoked` (every token the subject
//!   holds stops working);
//! - `credential.revoked`, and `leak.responded` that revoked a credential → CAEP
//!   `credential-change` with `change_type: revoke`;
//! - `identity.suspended`, `identity.revoked`, and `leak.responded` that suspended an
//!   imported identity → RISC `account-disabled`.
//!
//! Subjects are `iss_sub` (Warden's issuer and the identity's id, the `sub` of its tokens),
//! `email` for an owner, or `opaque` (a token id or credential id) when nothing else names
//! the subject.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use utoipa::ToSchema;
use warden_audit::{AuditEvent, EventKind};

pub const SESSION_REVOKED: &str =
    "https://schemas.openid.net/secevent/caep/event-type/session-revoked";
pub const CREDENTIAL_CHANGE: &str =
    "https://schemas.openid.net/secevent/caep/event-type/credential-change";
pub const ACCOUNT_DISABLED: &str =
    "https://schemas.openid.net/secevent/risc/event-type/account-disabled";
pub const VERIFICATION: &str = "https://schemas.openid.net/secevent/ssf/event-type/verification";
pub const STREAM_UPDATED: &str =
    "https://schemas.openid.net/secevent/ssf/event-type/stream-updated";

/// The event types a stream may request.
pub const SUPPORTED_EVENTS: &[&str] = &[SESSION_REVOKED, CREDENTIAL_CHANGE, ACCOUNT_DISABLED];

/// A subject identifier (RFC 9493), in the formats Warden emits and accepts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(tag = "format", rename_all = "snake_case", deny_unknown_fields)]
pub enum SubjectId {
    IssSub { iss: String, sub: String },
    Email { email: String },
    Opaque { id: String },
}

impl SubjectId {
    /// A stable text form, for storing and comparing.
    pub fn key(&self) -> String {
        match self {
            Self::IssSub { iss, sub } => format!("iss_sub:{iss}|{sub}"),
            Self::Email { email } => format!("email:{}", email.to_ascii_lowercase()),
            Self::Opaque { id } => format!("opaque:{id}"),
        }
    }
}

/// One security event derived from an audit record, before it is addressed to a stream.
#[derive(Debug, Clone, PartialEq)]
pub struct SecurityEvent {
    /// The event type URI.
    pub event_type: &'static str,
    pub subject: SubjectId,
    /// The event's members (event_timestamp, reason_admin, ...).
    pub payload: Value,
    /// The audit record it came from.
    pub audit_id: String,
}

fn subject_of(record: &AuditEvent, issuer: &str) -> Option<SubjectId> {
    if let Some(target) = &record.target {
        if target.kind == "owner"
            && let Some(email) = &target.name
        {
            return Some(SubjectId::Email {
                email: email.clone(),
            });
        }
        return Some(SubjectId::IssSub {
            iss: issuer.to_string(),
            sub: target.id.clone(),
        });
    }
    if let Some(credential) = &record.credential_id {
        return Some(SubjectId::Opaque {
            id: credential.clone(),
        });
    }
    record
        .token_jti
        .as_ref()
        .map(|jti| SubjectId::Opaque { id: jti.clone() })
}

fn reason(text: &str) -> Value {
    json!({ "en": text })
}

/// The security events an audit record stands for (none for most records).
pub fn events_for(record: &AuditEvent, issuer: &str) -> Vec<SecurityEvent> {
    let Some(subject) = subject_of(record, issuer) else {
        return Vec::new();
    };
    let timestamp = record.time.as_secs();
    let detail = |key: &str| record.details.get(key).map(String::as_str);
    let (event_type, payload) = match record.kind {
        EventKind::KillApplied => (
            SESSION_REVOKED,
            json!({
                "event_timestamp": timestamp,
                "initiating_entity": "admin",
                "reason_admin": reason("Warden kill switch applied"),
            }),
        ),
        EventKind::TokenRevoked => (
            SESSION_REVOKED,
            json!({
                "event_timestamp": timestamp,
                "initiating_entity": "admin",
                "reason_admin": reason("Warden token revoked"),
            }),
        ),
        EventKind::CredentialRevoked => (
            CREDENTIAL_CHANGE,
            credential_change(record, timestamp, "Warden credential revoked"),
        ),
        EventKind::LeakResponded if detail("response") == Some("revoked") => (
            CREDENTIAL_CHANGE,
            credential_change(record, timestamp, "Warden credential leaked and revoked"),
        ),
        EventKind::LeakResponded if detail("response") == Some("suspended") => (
            ACCOUNT_DISABLED,
            json!({ "event_timestamp": timestamp, "reason": "hijacking" }),
        ),
        EventKind::IdentitySuspended | EventKind::IdentityRevoked => {
            (ACCOUNT_DISABLED, json!({ "event_timestamp": timestamp }))
        }
        _ => return Vec::new(),
    };
    vec![SecurityEvent {
        event_type,
        subject,
        payload,
        audit_id: record.id.to_string(),
    }]
}

fn credential_change(record: &AuditEvent, timestamp: i64, why: &str) -> Value {
    let mut members = Map::new();
    // CAEP lets transmitter and receiver agree on credential types beyond its list; Warden
    // names its own kinds (client_secret, private_key_jwt, ...).
    let kind = record
        .details
        .get("credential_kind")
        .cloned()
        .unwrap_or_else(|| "client_secret".to_string());
    members.insert("credential_type".into(), Value::String(kind));
    members.insert("change_type".into(), Value::String("revoke".into()));
    if let Some(credential) = &record.credential_id {
        members.insert("friendly_name".into(), Value::String(credential.clone()));
    }
    members.insert("event_timestamp".into(), Value::from(timestamp));
    members.insert("initiating_entity".into(), Value::String("admin".into()));
    members.insert("reason_admin".into(), reason(why));
    Value::Object(members)
}

/// The claims of a SET carrying one event to one audience.
pub fn claims(
    issuer: &str,
    audience: &[String],
    jti: &str,
    issued_at: i64,
    event_type: &str,
    subject: &SubjectId,
    payload: &Value,
) -> Value {
    let mut events = Map::new();
    events.insert(event_type.to_string(), payload.clone());
    json!({
        "iss": issuer,
        "aud": audience,
        "jti": jti,
        "iat": issued_at,
        "sub_id": subject,
        "events": events,
    })
}

/// The claims of a verification event (SSF §8.1.4), whose subject is the stream.
pub fn verification_claims(
    issuer: &str,
    audience: &[String],
    jti: &str,
    issued_at: i64,
    stream_id: &str,
    state: Option<&str>,
) -> Value {
    let mut payload = Map::new();
    if let Some(state) = state {
        payload.insert("state".into(), Value::String(state.to_string()));
    }
    let mut events = Map::new();
    events.insert(VERIFICATION.to_string(), Value::Object(payload));
    json!({
        "iss": issuer,
        "aud": audience,
        "jti": jti,
        "iat": issued_at,
        "sub_id": { "format": "opaque", "id": stream_id },
        "events": events,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use warden_audit::{Actor, Chain, ChainHead, NewEvent};
    use warden_core::Timestamp;

    fn record(event: NewEvent) -> AuditEvent {
        let mut chain = Chain::new(ChainHead::GENESIS);
        chain
            .append(
                event,
                uuid_for_test(),
                Timestamp::from_millis(1_700_000_000_000),
                "n1",
            )
            .unwrap_or_else(|error| panic!("{error}"))
    }

    fn uuid_for_test() -> uuid::Uuid {
        uuid::Uuid::from_u128(7)
    }

    #[test]
    fn a_kill_is_a_session_revoked_for_the_identity_as_iss_sub() {
        let event = NewEvent::new(EventKind::KillApplied, Actor::admin("a", "admin"))
            .target_named("agent", "id-1", "bot");
        let events = events_for(&record(event), "https://warden.example");
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].event_type, SESSION_REVOKED);
        assert_eq!(
            events[0].subject,
            SubjectId::IssSub {
                iss: "https://warden.example".into(),
                sub: "id-1".into()
            }
        );
        assert_eq!(events[0].payload["event_timestamp"], 1_700_000_000);
    }

    #[test]
    fn revocations_and_leaks_map_to_credential_change_or_account_disabled() {
        let revoked = NewEvent::new(EventKind::CredentialRevoked, Actor::admin("a", "admin"))
            .target_named("agent", "id-1", "bot")
            .credential("cred-9")
            .detail("credential_kind", "client_secret");
        let events = events_for(&record(revoked), "iss");
        assert_eq!(events[0].event_type, CREDENTIAL_CHANGE);
        assert_eq!(events[0].payload["change_type"], "revoke");
        assert_eq!(events[0].payload["friendly_name"], "cred-9");

        let suspended = NewEvent::new(EventKind::LeakResponded, Actor::admin("a", "admin"))
            .target_named("aws_iam_user", "imp-1", "deploy")
            .detail("response", "suspended");
        assert_eq!(
            events_for(&record(suspended), "iss")[0].event_type,
            ACCOUNT_DISABLED
        );

        let nothing = NewEvent::new(EventKind::LeakResponded, Actor::admin("a", "admin"))
            .target_named("agent", "id-1", "bot")
            .detail("response", "none");
        assert!(events_for(&record(nothing), "iss").is_empty());
        let gateway = NewEvent::new(EventKind::GatewayDecision, Actor::agent("id-1", "bot"))
            .target_named("agent", "id-1", "bot");
        assert!(events_for(&record(gateway), "iss").is_empty());
    }

    #[test]
    fn an_owner_kill_names_the_owner_by_email_and_claims_carry_sub_id_and_events() {
        let event = NewEvent::new(EventKind::KillApplied, Actor::admin("a", "admin")).target_named(
            "owner",
            "o-1",
            "alice@example.com",
        );
        let events = events_for(&record(event), "iss");
        let claims = claims(
            "iss",
            &["rp".to_string()],
            "jti-1",
            5,
            events[0].event_type,
            &events[0].subject,
            &events[0].payload,
        );
        assert_eq!(
            claims["sub_id"],
            json!({"format": "email", "email": "alice@example.com"})
        );
        assert!(claims["events"][SESSION_REVOKED].is_object());
        assert_eq!(claims["aud"], json!(["rp"]));
    }
}
