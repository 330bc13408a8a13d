//! The Shared Signals Framework 1.0 shapes: the transmitter configuration document, stream
//! configurations, and the parsers of everything a receiver sends (stream bodies, subject
//! changes, verification requests, status updates, poll requests per RFC 8936).
//!
//! Every parser takes untrusted bytes, refuses unknown members by name (a receiver that
//! misspells `events_requested` learns so instead of getting a stream with no events) and
//! bounds every list and string, so a receiver cannot make Warden store megabytes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::set::{SUPPORTED_EVENTS, SubjectId};
use crate::webhook;

/// RFC 8935 push delivery.
pub const PUSH: &str = "urn:ietf:rfc:8935";
/// RFC 8936 poll delivery.
pub const POLL: &str = "urn:ietf:rfc:8936";
/// OAuth 2.0 bearer tokens (the receiver's token issued by an administrator).
pub const BEARER_SCHEME: &str = "urn:ietf:rfc:6750";

pub const MAX_EVENTS_REQUESTED: usize = 16;
pub const MAX_TEXT: usize = 1024;
pub const MAX_AUTHORIZATION: usize = 4096;
pub const MAX_ACKS: usize = 1000;
pub const MAX_POLL_EVENTS: u32 = 100;
pub const MAX_BODY: usize = 64 * 1024;

/// The transmitter configuration metadata (SSF §7.1), served at
/// `/.well-known/ssf-configuration`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TransmitterConfiguration {
    pub spec_version: String,
    pub issuer: String,
    pub jwks_uri: String,
    pub delivery_methods_supported: Vec<String>,
    pub configuration_endpoint: String,
    pub status_endpoint: String,
    pub add_subject_endpoint: String,
    pub remove_subject_endpoint: String,
    pub verification_endpoint: String,
    pub authorization_schemes: Vec<AuthorizationScheme>,
    pub default_subjects: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AuthorizationScheme {
    pub spec_urn: String,
}

impl TransmitterConfiguration {
    /// The document for a deployment whose public API is at `api_url` and whose tokens
    /// are issued by `issuer`.
    pub fn new(issuer: &str, api_url: &str) -> Self {
        let base = api_url.trim_end_matches('/');
        Self {
            spec_version: "1_0".into(),
            issuer: issuer.into(),
            jwks_uri: format!("{base}/.well-known/jwks.json"),
            delivery_methods_supported: vec![PUSH.into(), POLL.into()],
            configuration_endpoint: format!("{base}/ssf/stream"),
            status_endpoint: format!("{base}/ssf/status"),
            add_subject_endpoint: format!("{base}/ssf/subjects:add"),
            remove_subject_endpoint: format!("{base}/ssf/subjects:remove"),
            verification_endpoint: format!("{base}/ssf/verify"),
            authorization_schemes: vec![AuthorizationScheme {
                spec_urn: BEARER_SCHEME.into(),
            }],
            default_subjects: "ALL".into(),
        }
    }
}

/// Where and how a stream's events go, as the receiver asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeliveryRequest {
    pub method: String,
    /// Push: the receiver's endpoint. Poll: ignored (Warden supplies it).
    #[serde(default)]
    pub endpoint_url: Option<String>,
    /// Push: the `Authorization` header Warden sends with each SET. Stored sealed, never
    /// returned.
    #[serde(default)]
    pub authorization_header: Option<String>,
}

/// A stream configuration as a receiver sends it (create, replace or update).
/// Transmitter-supplied members are accepted and ignored, as the specification asks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StreamRequest {
    #[serde(default)]
    pub stream_id: Option<String>,
    #[serde(default)]
    pub delivery: Option<DeliveryRequest>,
    #[serde(default)]
    pub events_requested: Option<Vec<String>>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub iss: Option<serde_json::Value>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub aud: Option<serde_json::Value>,
    #[serde(default)]
    pub events_supported: Option<Vec<String>>,
    #[serde(default)]
    pub events_delivered: Option<Vec<String>>,
    #[serde(default)]
    pub min_verification_interval: Option<u64>,
    #[serde(default)]
    pub inactivity_timeout: Option<u64>,
}

/// How a stream delivers, checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "method")]
pub enum Delivery {
    #[serde(rename = "urn:ietf:rfc:8935")]
    Push { endpoint_url: String },
    #[serde(rename = "urn:ietf:rfc:8936")]
    Poll,
}

/// What a stream is, as stored (the push authorization header apart, sealed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamSettings {
    pub delivery: Delivery,
    pub events_requested: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl StreamSettings {
    /// The requested events Warden can send.
    pub fn events_delivered(&self) -> Vec<String> {
        self.events_requested
            .iter()
            .filter(|event| SUPPORTED_EVENTS.contains(&event.as_str()))
            .cloned()
            .collect()
    }
}

/// A checked stream request: the settings and, for push, the authorization header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedStream {
    pub settings: StreamSettings,
    pub authorization_header: Option<String>,
}

/// Why a receiver's body was refused; every message names the member and what to send.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SsfError {
    #[error("the body is not the JSON expected: {0}")]
    Json(String),
    #[error("the body is larger than {MAX_BODY} bytes")]
    TooLarge,
    #[error(
        "`delivery` is required: {{\"method\": \"{PUSH}\", \"endpoint_url\": ...}} or {{\"method\": \"{POLL}\"}}"
    )]
    MissingDelivery,
    #[error("`delivery.method` `{0}` is not supported: use {PUSH} or {POLL}")]
    UnsupportedMethod(String),
    #[error("`delivery.endpoint_url` is required for push delivery")]
    MissingEndpoint,
    #[error("`delivery.endpoint_url`: {0}")]
    Endpoint(webhook::WebhookError),
    #[error(
        "`delivery.authorization_header` must be a header value of at most {MAX_AUTHORIZATION} bytes without line breaks"
    )]
    BadAuthorization,
    #[error(
        "`events_requested` may name at most {MAX_EVENTS_REQUESTED} events of at most {MAX_TEXT} bytes each"
    )]
    TooManyEvents,
    #[error("`{0}` is longer than {MAX_TEXT} bytes")]
    TooLong(&'static str),
    #[error("`stream_id` is required")]
    MissingStreamId,
    #[error("`ack` may name at most {MAX_ACKS} events")]
    TooManyAcks,
    #[error("`status` must be enabled, paused or disabled")]
    BadStatus,
}

fn parse<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, SsfError> {
    if body.len() > MAX_BODY {
        return Err(SsfError::TooLarge);
    }
    serde_json::from_slice(body).map_err(|error| SsfError::Json(error.to_string()))
}

fn check_text(name: &'static str, text: &Option<String>) -> Result<(), SsfError> {
    match text {
        Some(text) if text.len() > MAX_TEXT => Err(SsfError::TooLong(name)),
        _ => Ok(()),
    }
}

/// Parses a stream body. `current` is the stream being updated (`PATCH` keeps what the
/// body leaves out); `None` for a create or a replace.
pub fn parse_stream(
    body: &[u8],
    current: Option<&StreamSettings>,
) -> Result<(StreamRequest, Option<CheckedStream>), SsfError> {
    let request: StreamRequest = parse(body)?;
    check_text("description", &request.description)?;
    check_text("stream_id", &request.stream_id)?;
    if let Some(events) = &request.events_requested
        && (events.len() > MAX_EVENTS_REQUESTED
            || events.iter().any(|event| event.len() > MAX_TEXT))
    {
        return Err(SsfError::TooManyEvents);
    }
    let delivery = match (&request.delivery, current) {
        (Some(delivery), _) => Some(check_delivery(delivery)?),
        (None, Some(_)) => None,
        (None, None) => return Err(SsfError::MissingDelivery),
    };
    let checked = match (delivery, current) {
        (Some((delivery, authorization_header)), current) => Some(CheckedStream {
            settings: StreamSettings {
                delivery,
                events_requested: request
                    .events_requested
                    .clone()
                    .or_else(|| current.map(|current| current.events_requested.clone()))
                    .unwrap_or_default(),
                description: request
                    .description
                    .clone()
                    .or_else(|| current.and_then(|current| current.description.clone())),
            },
            authorization_header,
        }),
        (None, Some(current)) => Some(CheckedStream {
            settings: StreamSettings {
                delivery: current.delivery.clone(),
                events_requested: request
                    .events_requested
                    .clone()
                    .unwrap_or_else(|| current.events_requested.clone()),
                description: request
                    .description
                    .clone()
                    .or_else(|| current.description.clone()),
            },
            authorization_header: None,
        }),
        (None, None) => None,
    };
    Ok((request, checked))
}

fn check_delivery(delivery: &DeliveryRequest) -> Result<(Delivery, Option<String>), SsfError> {
    match delivery.method.as_str() {
        PUSH => {
            let Some(url) = &delivery.endpoint_url else {
                return Err(SsfError::MissingEndpoint);
            };
            webhook::check_url(url).map_err(SsfError::Endpoint)?;
            let authorization = match &delivery.authorization_header {
                Some(header) => {
                    if header.len() > MAX_AUTHORIZATION
                        || http::HeaderValue::from_str(header).is_err()
                    {
                        return Err(SsfError::BadAuthorization);
                    }
                    Some(header.clone())
                }
                None => None,
            };
            Ok((
                Delivery::Push {
                    endpoint_url: url.clone(),
                },
                authorization,
            ))
        }
        POLL => Ok((Delivery::Poll, None)),
        other => Err(SsfError::UnsupportedMethod(
            other.chars().take(200).collect(),
        )),
    }
}

/// The stream configuration as Warden returns it (SSF §8.1.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StreamConfiguration {
    pub stream_id: String,
    pub iss: String,
    pub aud: String,
    pub delivery: DeliveryView,
    pub events_supported: Vec<String>,
    pub events_requested: Vec<String>,
    pub events_delivered: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub min_verification_interval: u64,
}

/// The delivery as returned: never the authorization header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DeliveryView {
    pub method: String,
    pub endpoint_url: String,
}

impl StreamConfiguration {
    pub fn new(
        stream_id: &str,
        issuer: &str,
        audience: &str,
        settings: &StreamSettings,
        api_url: &str,
    ) -> Self {
        let delivery = match &settings.delivery {
            Delivery::Push { endpoint_url } => DeliveryView {
                method: PUSH.into(),
                endpoint_url: endpoint_url.clone(),
            },
            Delivery::Poll => DeliveryView {
                method: POLL.into(),
                endpoint_url: poll_url(api_url, stream_id),
            },
        };
        Self {
            stream_id: stream_id.into(),
            iss: issuer.into(),
            aud: audience.into(),
            delivery,
            events_supported: SUPPORTED_EVENTS.iter().map(|s| (*s).to_string()).collect(),
            events_requested: settings.events_requested.clone(),
            events_delivered: settings.events_delivered(),
            description: settings.description.clone(),
            min_verification_interval: 0,
        }
    }
}

/// Where a poll stream's receiver polls.
pub fn poll_url(api_url: &str, stream_id: &str) -> String {
    format!("{}/ssf/poll/{stream_id}", api_url.trim_end_matches('/'))
}

/// A request to add or remove a subject (SSF §8.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubjectRequest {
    pub stream_id: String,
    pub subject: SubjectId,
    #[serde(default)]
    pub verified: Option<bool>,
}

pub fn parse_subject_request(body: &[u8]) -> Result<SubjectRequest, SsfError> {
    let request: SubjectRequest = parse(body)?;
    check_text("stream_id", &Some(request.stream_id.clone()))?;
    if request.subject.key().len() > MAX_TEXT {
        return Err(SsfError::TooLong("subject"));
    }
    Ok(request)
}

/// A verification request (SSF §8.1.4.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerificationRequest {
    pub stream_id: String,
    #[serde(default)]
    pub state: Option<String>,
}

pub fn parse_verification(body: &[u8]) -> Result<VerificationRequest, SsfError> {
    let request: VerificationRequest = parse(body)?;
    check_text("stream_id", &Some(request.stream_id.clone()))?;
    check_text("state", &request.state)?;
    Ok(request)
}

/// A stream's status (SSF §8.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StreamStatus {
    Enabled,
    Paused,
    Disabled,
}

impl StreamStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enabled => "enabled",
            Self::Paused => "paused",
            Self::Disabled => "disabled",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "enabled" => Some(Self::Enabled),
            "paused" => Some(Self::Paused),
            "disabled" => Some(Self::Disabled),
            _ => None,
        }
    }
}

/// A status as read or written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusBody {
    pub stream_id: String,
    pub status: StreamStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

pub fn parse_status(body: &[u8]) -> Result<StatusBody, SsfError> {
    let request: StatusBody = parse(body)?;
    check_text("stream_id", &Some(request.stream_id.clone()))?;
    check_text("reason", &request.reason)?;
    Ok(request)
}

/// An error a receiver reports for one SET (RFC 8936 §2.4.4 `setErrs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SetError {
    pub err: String,
    #[serde(default)]
    pub description: Option<String>,
}

/// A poll request (RFC 8936 §2.4).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PollRequest {
    #[serde(default)]
    pub ack: Vec<String>,
    #[serde(default, rename = "setErrs")]
    pub set_errs: BTreeMap<String, SetError>,
    #[serde(default, rename = "maxEvents")]
    pub max_events: Option<u32>,
    #[serde(default, rename = "returnImmediately")]
    pub return_immediately: Option<bool>,
}

impl PollRequest {
    /// How many SETs to return: what was asked, capped; 0 means acknowledge only.
    pub fn limit(&self) -> u32 {
        self.max_events
            .unwrap_or(MAX_POLL_EVENTS)
            .min(MAX_POLL_EVENTS)
    }
}

/// Parses a poll body; an empty body is a poll with every default.
pub fn parse_poll(body: &[u8]) -> Result<PollRequest, SsfError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(PollRequest::default());
    }
    let request: PollRequest = parse(body)?;
    if request.ack.len() + request.set_errs.len() > MAX_ACKS {
        return Err(SsfError::TooManyAcks);
    }
    if request
        .ack
        .iter()
        .chain(request.set_errs.keys())
        .any(|jti| jti.len() > MAX_TEXT)
    {
        return Err(SsfError::TooLong("ack"));
    }
    Ok(request)
}

/// A poll response (RFC 8936 §2.5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PollResponse {
    pub sets: BTreeMap<String, String>,
    #[serde(rename = "moreAvailable")]
    pub more_available: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_push_stream_keeps_its_header_apart_and_unknown_members_are_named() {
        let body = br#"{"delivery":{"method":"urn:ietf:rfc:8935","endpoint_url":"https://rp.example/ssf","authorization_header":"Bearer xyz"},"events_requested":["https://schemas.openid.net/secevent/caep/event-type/session-revoked","https://example.com/other"]}"#;
        let (_, checked) = parse_stream(body, None).unwrap_or_else(|e| panic!("{e}"));
        let checked = checked.unwrap_or_else(|| panic!("checked"));
        assert_eq!(checked.authorization_header.as_deref(), Some("Bearer xyz"));
        assert_eq!(checked.settings.events_delivered().len(), 1);
        let stored = serde_json::to_string(&checked.settings).unwrap_or_default();
        assert!(!stored.contains("xyz"), "{stored}");

        let typo = br#"{"delivery":{"method":"urn:ietf:rfc:8936"},"event_requested":[]}"#;
        let refused = parse_stream(typo, None).err().map(|e| e.to_string());
        assert!(refused.is_some_and(|m| m.contains("event_requested")));
        let gopher = br#"{"delivery":{"method":"urn:ietf:rfc:8935","endpoint_url":"gopher://x/"}}"#;
        assert!(matches!(
            parse_stream(gopher, None),
            Err(SsfError::Endpoint(_))
        ));
        let header = br#"{"delivery":{"method":"urn:ietf:rfc:8935","endpoint_url":"https://x/","authorization_header":"a\r\nX-Evil: 1"}}"#;
        assert_eq!(
            parse_stream(header, None).err(),
            Some(SsfError::BadAuthorization)
        );
        assert_eq!(
            parse_stream(b"{}", None).err(),
            Some(SsfError::MissingDelivery)
        );
    }

    #[test]
    fn a_patch_keeps_what_it_leaves_out() {
        let current = StreamSettings {
            delivery: Delivery::Poll,
            events_requested: vec!["a".into()],
            description: Some("old".into()),
        };
        let (_, checked) =
            parse_stream(br#"{"stream_id":"s","description":"new"}"#, Some(&current))
                .unwrap_or_else(|e| panic!("{e}"));
        let settings = checked.unwrap_or_else(|| panic!("checked")).settings;
        assert_eq!(settings.delivery, Delivery::Poll);
        assert_eq!(settings.events_requested, vec!["a".to_string()]);
        assert_eq!(settings.description.as_deref(), Some("new"));
    }

    #[test]
    fn poll_requests_parse_the_rfc_8936_members() {
        let poll = parse_poll(br#"{"ack":["j1"],"setErrs":{"j2":{"err":"invalid_key","description":"no"}},"maxEvents":500,"returnImmediately":true}"#)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(poll.ack, vec!["j1".to_string()]);
        assert_eq!(poll.set_errs["j2"].err, "invalid_key");
        assert_eq!(poll.limit(), MAX_POLL_EVENTS);
        assert_eq!(poll.return_immediately, Some(true));
        assert_eq!(parse_poll(b"").map(|p| p.limit()), Ok(MAX_POLL_EVENTS));
        assert!(matches!(
            parse_poll(br#"{"maxevents":1}"#),
            Err(SsfError::Json(_))
        ));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic_the_parsers(body in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = parse_stream(&body, None);
            let _ = parse_poll(&body);
            let _ = parse_subject_request(&body);
            let _ = parse_verification(&body);
            let _ = parse_status(&body);
        }

        #[test]
        fn parsed_poll_requests_stay_within_bounds(acks in proptest::collection::vec("[a-z0-9-]{1,40}", 0..20), max in proptest::option::of(any::<u32>())) {
            let body = serde_json::json!({"ack": acks, "maxEvents": max}).to_string();
            let poll = parse_poll(body.as_bytes());
            prop_assert!(poll.is_ok());
            if let Ok(poll) = poll {
                prop_assert!(poll.limit() <= MAX_POLL_EVENTS);
                prop_assert_eq!(poll.ack, acks);
            }
        }

        #[test]
        fn parsed_streams_are_bounded_and_never_keep_a_header_for_poll(
            events in proptest::collection::vec(".{0,60}", 0..30),
            description in proptest::option::of(".{0,1200}"),
            push in any::<bool>(),
        ) {
            let delivery = if push {
                serde_json::json!({"method": PUSH, "endpoint_url": "https://rp.example/in", "authorization_header": "Bearer t"})
            } else {
                serde_json::json!({"method": POLL, "authorization_header": "Bearer t"})
            };
            let body = serde_json::json!({"delivery": delivery, "events_requested": events, "description": description}).to_string();
            if let Ok((_, Some(checked))) = parse_stream(body.as_bytes(), None) {
                prop_assert!(checked.settings.events_requested.len() <= MAX_EVENTS_REQUESTED);
                prop_assert!(checked.settings.description.as_ref().is_none_or(|d| d.len() <= MAX_TEXT));
                prop_assert_eq!(checked.authorization_header.is_some(), push);
            }
        }
    }
}
