//! Webhooks: the events a webhook subscribes to, the body it receives, how that body is
//! signed, and which URLs are accepted.
//!
//! The signature header is `Warden-Signature: t=UNIX_SECONDS,v1=HEX`, where `HEX` is
//! HMAC-SHA256 under the webhook's secret over `UNIX_SECONDS.BODY` (the decimal timestamp, a
//! full stop, the raw body bytes). Binding the timestamp lets a receiver refuse old
//! deliveries replayed later; it should accept only timestamps within a few minutes.

use std::fmt;
use std::str::FromStr;

use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;
use subtle::ConstantTimeEq;
use warden_audit::{AuditEvent, EventKind};

type HmacSha256 = Hmac<Sha256>;

/// The header that carries the signature.
pub const SIGNATURE_HEADER: &str = "Warden-Signature";
/// The header naming the event type.
pub const EVENT_HEADER: &str = "Warden-Event";
/// The header carrying the delivery's id, the same for every attempt of one delivery, so a
/// receiver can drop duplicates.
pub const DELIVERY_HEADER: &str = "Warden-Delivery";

macro_rules! webhook_events {
    ($($variant:ident => $text:literal from $kind:ident,)*) => {
        /// An event a webhook may subscribe to.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum WebhookEvent {
            $($variant,)*
        }

        impl WebhookEvent {
            pub const ALL: &'static [WebhookEvent] = &[$(WebhookEvent::$variant,)*];

            pub const fn as_str(self) -> &'static str {
                match self {
                    $(WebhookEvent::$variant => $text,)*
                }
            }

            /// The webhook event an audit record is, if it is one.
            pub fn from_audit(kind: EventKind) -> Option<Self> {
                match kind {
                    $(EventKind::$kind => Some(WebhookEvent::$variant),)*
                    _ => None,
                }
            }
        }

        impl FromStr for WebhookEvent {
            type Err = UnknownWebhookEvent;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                match text {
                    $($text => Ok(WebhookEvent::$variant),)*
                    _ => Err(UnknownWebhookEvent(text.to_owned())),
                }
            }
        }
    };
}

webhook_events! {
    FindingOpened => "finding.opened" from FindingOpened,
    ApprovalRequested => "approval.requested" from ApprovalRequested,
    KillApplied => "kill.applied" from KillApplied,
    LeakDetected => "leak.detected" from LeakReported,
    LeakResponded => "leak.responded" from LeakResponded,
    CredentialRevoked => "credential.revoked" from CredentialRevoked,
    TokenRevoked => "token.revoked" from TokenRevoked,
    IdentitySuspended => "identity.suspended" from IdentitySuspended,
    IdentityRevoked => "identity.revoked" from IdentityRevoked,
}

impl<'de> serde::Deserialize<'de> for WebhookEvent {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl Serialize for WebhookEvent {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl utoipa::PartialSchema for WebhookEvent {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some(WebhookEvent::ALL.iter().map(|event| event.as_str())))
            .into()
    }
}

impl utoipa::ToSchema for WebhookEvent {}

impl fmt::Display for WebhookEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown webhook event `{0}`: use one of {names}", names = event_names())]
pub struct UnknownWebhookEvent(pub String);

fn event_names() -> String {
    WebhookEvent::ALL
        .iter()
        .map(|event| event.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why a webhook's settings were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error(transparent)]
    UnknownEvent(#[from] UnknownWebhookEvent),
    #[error(
        "a webhook needs at least one event: use one or more of {}",
        event_names()
    )]
    NoEvents,
    #[error(
        "the webhook URL is not valid: use http(s)://host[:port][/path], without a query or fragment"
    )]
    InvalidUrl,
    #[error("the webhook URL must use http or https")]
    UnsupportedScheme,
    #[error("the webhook URL must not carry a user name or password; put no credentials in it")]
    CredentialsInUrl,
    #[error("the webhook URL is longer than {MAX_URL_LEN} bytes")]
    UrlTooLong,
}

/// The longest URL accepted.
pub const MAX_URL_LEN: usize = 2048;

/// Parses a comma-separated (or repeated) list of events; duplicates collapse, order is the
/// canonical order.
pub fn parse_events<'a>(
    names: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<WebhookEvent>, WebhookError> {
    let mut events = Vec::new();
    for name in names.into_iter().flat_map(|part| part.split(',')) {
        let name = name.trim();
        if name.is_empty() {
            continue;
        }
        events.push(name.parse::<WebhookEvent>()?);
    }
    events.sort();
    events.dedup();
    if events.is_empty() {
        return Err(WebhookError::NoEvents);
    }
    Ok(events)
}

/// Checks a webhook URL: `http://` or `https://` (lower case), a host, an optional path, no
/// credentials, query, fragment, whitespace or control characters (the rules of upstream
/// URLs). Private and loopback addresses are accepted on purpose (an administrator sets
/// webhooks, and internal receivers are common); deliveries never follow redirects, so a
/// receiver cannot bounce them elsewhere.
pub fn check_url(url: &str) -> Result<(), WebhookError> {
    if url.len() > MAX_URL_LEN {
        return Err(WebhookError::UrlTooLong);
    }
    let Some(rest) = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
    else {
        return match url.split_once(':') {
            Some((scheme, _))
                if !scheme.is_empty()
                    && scheme
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')) =>
            {
                Err(WebhookError::UnsupportedScheme)
            }
            _ => Err(WebhookError::InvalidUrl),
        };
    };
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.contains('@') {
        return Err(WebhookError::CredentialsInUrl);
    }
    if authority.is_empty()
        || url.contains('?')
        || url.contains('#')
        || url.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(WebhookError::InvalidUrl);
    }
    Ok(())
}

/// The value of the signature header for `body` sent at `timestamp`.
pub fn signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    format!("t={timestamp},v1={}", hex(&mac(secret, timestamp, body)))
}

fn mac(secret: &[u8], timestamp: i64, body: &[u8]) -> [u8; 32] {
    let mut mac =
        <HmacSha256 as Mac>::new_from_slice(secret).unwrap_or_else(|_| unreachable_hmac_key());
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().into()
}

// HMAC accepts keys of any length, so `new_from_slice` cannot fail; this keeps the
// signature functions total without a panic path.
fn unreachable_hmac_key() -> HmacSha256 {
    <HmacSha256 as hmac::digest::KeyInit>::new(&[0u8; 64].into())
}

/// Why a signature header was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the signature header is not `t=SECONDS,v1=HEX`")]
    Malformed,
    #[error("the signature's timestamp is outside the accepted window")]
    Stale,
    #[error("the signature does not match the body")]
    Mismatch,
}

/// Verifies a signature header as a receiver would: the timestamp within `tolerance_secs`
/// of `now`, and the MAC compared in constant time.
pub fn verify(
    secret: &[u8],
    header: &str,
    body: &[u8],
    now: i64,
    tolerance_secs: i64,
) -> Result<(), SignatureError> {
    let mut timestamp = None;
    let mut given = None;
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => timestamp = value.parse::<i64>().ok(),
            Some(("v1", value)) => given = unhex(value),
            _ => return Err(SignatureError::Malformed),
        }
    }
    let (Some(timestamp), Some(given)) = (timestamp, given) else {
        return Err(SignatureError::Malformed);
    };
    if (now.saturating_sub(timestamp)).abs() > tolerance_secs {
        return Err(SignatureError::Stale);
    }
    let expected = mac(secret, timestamp, body);
    if bool::from(expected.ct_eq(&given)) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn unhex(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (index, slot) in out.iter_mut().enumerate() {
        let pair = text.get(index * 2..index * 2 + 2)?;
        *slot = u8::from_str_radix(pair, 16).ok()?;
    }
    Some(out)
}

/// How to decide an approval, for the owner who receives `approval.requested`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DecideLinks {
    /// The approval as an API resource.
    pub resource: String,
    /// `POST` here to approve.
    pub approve: String,
    /// `POST` here to deny.
    pub deny: String,
    /// The same from the command line.
    pub cli_approve: String,
    pub cli_deny: String,
}

/// The JSON body of one delivery.
#[derive(Debug, Clone, Serialize)]
pub struct WebhookBody<'a> {
    /// The event type, as subscribed.
    #[serde(rename = "type")]
    pub event: &'static str,
    /// The audit record's id: the same across redeliveries.
    pub id: String,
    pub occurred_at: String,
    /// The audit record this delivery is about (it holds no secrets).
    pub audit: &'a AuditEvent,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decide: Option<DecideLinks>,
}

/// The body sent for `record`, or `None` when the record is no webhook event.
/// `api_url` is this deployment's public API URL, for the links to decide an approval.
pub fn body_for(record: &AuditEvent, api_url: &str) -> Option<(WebhookEvent, String)> {
    let event = WebhookEvent::from_audit(record.kind)?;
    let decide = match (event, &record.approval_id) {
        (WebhookEvent::ApprovalRequested, Some(id)) => {
            let resource = format!("{}/v1/approvals/{id}", api_url.trim_end_matches('/'));
            Some(DecideLinks {
                approve: format!("{resource}/approve"),
                deny: format!("{resource}/deny"),
                resource,
                cli_approve: format!("warden approvals approve {id}"),
                cli_deny: format!("warden approvals deny {id}"),
            })
        }
        _ => None,
    };
    let body = WebhookBody {
        event: event.as_str(),
        id: record.id.to_string(),
        occurred_at: record.time.to_rfc3339(),
        audit: record,
        decide,
    };
    serde_json::to_string(&body).ok().map(|text| (event, text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn event_lists_parse_with_commas_and_name_the_unknown_one() {
        let events = parse_events([
            "finding.opened,approval.requested",
            "kill.applied,leak.detected",
        ]);
        assert_eq!(
            events,
            Ok(vec![
                WebhookEvent::FindingOpened,
                WebhookEvent::ApprovalRequested,
                WebhookEvent::KillApplied,
                WebhookEvent::LeakDetected,
            ])
        );
        let refused = parse_events(["kill.applied,gateway.decision"]).map_err(|e| e.to_string());
        assert!(
            refused
                .as_ref()
                .is_err_and(|message| message.contains("`gateway.decision`")
                    && message.contains("kill.applied")),
            "{refused:?}"
        );
        assert_eq!(parse_events([" , "]), Err(WebhookError::NoEvents));
    }

    #[test]
    fn only_http_and_https_urls_without_credentials_are_accepted() {
        assert!(check_url("https://hooks.example.com/warden").is_ok());
        assert!(check_url("http://10.0.0.5:8080/in").is_ok());
        assert_eq!(
            check_url("file:///etc/passwd").err(),
            Some(WebhookError::UnsupportedScheme)
        );
        assert_eq!(
            check_url("gopher://example.com/").err(),
            Some(WebhookError::UnsupportedScheme)
        );
        assert_eq!(
            check_url("https://user:pw@example.com/").err(),
            Some(WebhookError::CredentialsInUrl)
        );
        assert_eq!(check_url("/relative").err(), Some(WebhookError::InvalidUrl));
        assert_eq!(
            check_url("HTTPS://x/").err(),
            Some(WebhookError::UnsupportedScheme)
        );
        assert_eq!(
            check_url("https://x/?a=1").err(),
            Some(WebhookError::InvalidUrl)
        );
        assert_eq!(
            check_url("https:///path").err(),
            Some(WebhookError::InvalidUrl)
        );
    }

    #[test]
    fn an_approval_request_carries_the_links_and_commands_to_decide_it() {
        let event = warden_audit::NewEvent::new(
            EventKind::ApprovalRequested,
            warden_audit::Actor::agent("a1", "bot"),
        )
        .approval("ap-1")
        .owner("alice@example.com");
        let mut chain = warden_audit::Chain::new(warden_audit::ChainHead::GENESIS);
        let record = chain
            .append(
                event,
                uuid::Uuid::from_u128(1),
                warden_core::Timestamp::from_millis(0),
                "n",
            )
            .unwrap_or_else(|error| panic!("{error}"));
        let (kind, body) =
            body_for(&record, "https://warden.example/").unwrap_or_else(|| panic!("body"));
        assert_eq!(kind, WebhookEvent::ApprovalRequested);
        let body: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        assert_eq!(
            body["decide"]["resource"],
            "https://warden.example/v1/approvals/ap-1"
        );
        assert_eq!(
            body["decide"]["approve"],
            "https://warden.example/v1/approvals/ap-1/approve"
        );
        assert_eq!(
            body["decide"]["cli_approve"],
            "warden approvals approve ap-1"
        );
        assert_eq!(body["audit"]["owner"], "alice@example.com");
    }

    #[test]
    fn a_signature_verifies_and_any_change_breaks_it() {
        let header = signature(b"secret", 1_700_000_000, b"{\"a\":1}");
        assert!(header.starts_with("t=1700000000,v1="));
        assert_eq!(
            verify(b"secret", &header, b"{\"a\":1}", 1_700_000_010, 300),
            Ok(())
        );
        assert_eq!(
            verify(b"secret", &header, b"{\"a\":2}", 1_700_000_010, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(b"other", &header, b"{\"a\":1}", 1_700_000_010, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(b"secret", &header, b"{\"a\":1}", 1_700_001_000, 300),
            Err(SignatureError::Stale)
        );
    }

    proptest! {
        #[test]
        fn arbitrary_urls_and_headers_never_panic(url in ".{0,200}", header in ".{0,200}") {
            if check_url(&url).is_ok() {
                prop_assert!(url.starts_with("http://") || url.starts_with("https://"));
                prop_assert!(!url.contains('@') && !url.contains('?'));
            }
            let _ = verify(b"k", &header, b"body", 0, 300);
        }

        #[test]
        fn signatures_round_trip(secret in proptest::collection::vec(any::<u8>(), 0..80), body in proptest::collection::vec(any::<u8>(), 0..200), t in 0i64..4_000_000_000) {
            let header = signature(&secret, t, &body);
            prop_assert_eq!(verify(&secret, &header, &body, t, 0), Ok(()));
        }
    }
}
