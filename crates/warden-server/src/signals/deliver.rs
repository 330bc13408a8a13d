//! Attempting due deliveries: signed webhook POSTs, and SETs pushed per RFC 8935. Each is
//! claimed under a lease first, so with several nodes one attempts it at a time; the
//! outcome (delivered, retry later, dead letter) is stored after the attempt.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use warden_core::Timestamp;
use warden_signals::retry::AfterFailure;
use warden_signals::ssf::{Delivery, StreamSettings, StreamStatus};
use warden_signals::webhook;
use warden_store::signals::{AttemptOutcome, ClaimedDelivery, QueuedSet};

use super::{jitter, webhook_secret};
use crate::state::AppState;

/// How long a claim keeps other nodes off a delivery: longer than one attempt can take.
const LEASE_MS: i64 = 30_000;
const CLAIM: u32 = 20;
/// The longest error text kept from an attempt.
const MAX_ERROR: usize = 300;

fn failure(
    state: &AppState,
    attempts: u32,
    status: Option<u16>,
    error: String,
    now: Timestamp,
) -> AttemptOutcome {
    let error: String = error.chars().take(MAX_ERROR).collect();
    match state.signals.schedule.after_failure(attempts, jitter()) {
        AfterFailure::RetryIn(wait) => AttemptOutcome::Retry {
            status,
            error,
            next_attempt_at: later(now, wait),
        },
        AfterFailure::DeadLetter => AttemptOutcome::Dead { status, error },
    }
}

fn later(now: Timestamp, wait: Duration) -> Timestamp {
    let millis = i64::try_from(wait.as_millis()).unwrap_or(i64::MAX);
    Timestamp::from_millis(now.as_millis().saturating_add(millis))
}

/// An error from an attempt as kept: what failed, never the URL's query or any header.
fn describe(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "timed out".to_string()
    } else if error.is_connect() {
        "could not connect".to_string()
    } else {
        "request failed".to_string()
    }
}

/// Attempts every due webhook delivery claimed by this node.
pub async fn webhooks(state: &AppState) {
    let now = state.clock.now();
    let claimed = match state
        .store
        .signals()
        .claim_webhook_deliveries(now, LEASE_MS, CLAIM)
        .await
    {
        Ok(claimed) => claimed,
        Err(error) => {
            tracing::warn!(%error, "signals: cannot claim webhook deliveries");
            return;
        }
    };
    for delivery in claimed {
        let outcome = attempt_webhook(state, &delivery).await;
        let done = state.clock.now();
        let outcome = match outcome {
            Ok(status) => AttemptOutcome::Delivered {
                status: Some(status),
            },
            Err((status, error)) => {
                failure(state, delivery.delivery.attempts + 1, status, error, done)
            }
        };
        let label = match &outcome {
            AttemptOutcome::Delivered { .. } => "delivered",
            AttemptOutcome::Retry { .. } => "retry",
            AttemptOutcome::Dead { .. } => "dead",
        };
        metrics::counter!("warden_webhook_attempts_total", "outcome" => label).increment(1);
        if label == "dead" {
            tracing::warn!(delivery = %delivery.delivery.id, webhook = %delivery.delivery.webhook_id, "webhook delivery is a dead letter");
        }
        if let Err(error) = state
            .store
            .signals()
            .finish_webhook_delivery(&delivery.delivery.id, outcome, done)
            .await
        {
            tracing::warn!(%error, "signals: cannot record a webhook attempt");
        }
    }
}

async fn attempt_webhook(
    state: &AppState,
    delivery: &ClaimedDelivery,
) -> Result<u16, (Option<u16>, String)> {
    let secret = webhook_secret(&state.pepper, &delivery.secret_salt);
    let timestamp = state.clock.now().as_secs();
    let signature = webhook::signature(secret.as_bytes(), timestamp, delivery.body.as_bytes());
    let answer = state
        .signals
        .client
        .post(&delivery.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(webhook::SIGNATURE_HEADER, signature)
        .header(webhook::EVENT_HEADER, delivery.delivery.event.clone())
        .header(webhook::DELIVERY_HEADER, delivery.delivery.id.clone())
        .header(reqwest::header::USER_AGENT, "warden-webhooks")
        .body(delivery.body.clone())
        .send()
        .await
        .map_err(|error| (None, describe(&error)))?;
    let status = answer.status();
    if status.is_success() {
        Ok(status.as_u16())
    } else if status.is_redirection() {
        Err((
            Some(status.as_u16()),
            format!("answered {status}; redirects are not followed"),
        ))
    } else {
        Err((Some(status.as_u16()), format!("answered {status}")))
    }
}

/// Pushes every due SET of an enabled push stream claimed by this node.
pub async fn pushes(state: &AppState) {
    let now = state.clock.now();
    let claimed = match state
        .store
        .signals()
        .claim_set_pushes(now, LEASE_MS, CLAIM)
        .await
    {
        Ok(claimed) => claimed,
        Err(error) => {
            tracing::warn!(%error, "signals: cannot claim security events to push");
            return;
        }
    };
    for set in claimed {
        let outcome = match push(state, &set).await {
            Ok(status) => AttemptOutcome::Delivered {
                status: Some(status),
            },
            Err(Rejected::Permanently(error)) => AttemptOutcome::Dead {
                status: Some(400),
                error,
            },
            Err(Rejected::ForNow(status, error)) => {
                failure(state, set.attempts + 1, status, error, state.clock.now())
            }
        };
        if let Err(error) = state
            .store
            .signals()
            .finish_set_push(&set.jti, outcome, state.clock.now())
            .await
        {
            tracing::warn!(%error, "signals: cannot record a push attempt");
        }
    }
}

enum Rejected {
    /// RFC 8935 §2.3: the receiver refused this SET; sending it again changes nothing.
    Permanently(String),
    ForNow(Option<u16>, String),
}

/// Opens a stream's sealed push authorization header (sealed with the stream's id as
/// associated data, so a header cannot be moved to another stream's row; `rotate-data-key`
/// reseals it with the rest).
pub fn open_authorization(state: &AppState, stream_id: &str, sealed: &str) -> Option<String> {
    let bytes = STANDARD.decode(sealed).ok()?;
    let opened = warden_crypto::seal::open(&state.data_key, &bytes, stream_id.as_bytes()).ok()?;
    String::from_utf8(opened.to_vec()).ok()
}

/// Seals a push authorization header for storage, bound to its stream's id.
pub fn seal_authorization(state: &AppState, stream_id: &str, header: &str) -> Option<String> {
    let sealed =
        warden_crypto::seal::seal(&state.data_key, header.as_bytes(), stream_id.as_bytes()).ok()?;
    Some(STANDARD.encode(sealed))
}

async fn push(state: &AppState, set: &QueuedSet) -> Result<u16, Rejected> {
    let stream = state
        .store
        .signals()
        .get_ssf_stream(&set.stream_id)
        .await
        .map_err(|_| Rejected::ForNow(None, "stream unavailable".into()))?;
    if StreamStatus::parse(&stream.status) != Some(StreamStatus::Enabled) {
        return Err(Rejected::ForNow(None, "stream is not enabled".into()));
    }
    let settings: StreamSettings = serde_json::from_str(&stream.config)
        .map_err(|_| Rejected::Permanently("stream configuration unreadable".into()))?;
    let Delivery::Push { endpoint_url } = settings.delivery else {
        return Err(Rejected::ForNow(None, "stream no longer pushes".into()));
    };
    let claims: serde_json::Value = serde_json::from_str(&set.claims)
        .map_err(|_| Rejected::Permanently("event unreadable".into()))?;
    let token = warden_crypto::jwt::issue_security_event(&state.credentials.tokens.ring(), &claims)
        .map_err(|_| Rejected::Permanently("event could not be signed".into()))?;
    let mut request = state
        .signals
        .client
        .post(&endpoint_url)
        .header(reqwest::header::CONTENT_TYPE, "application/secevent+jwt")
        .header(reqwest::header::ACCEPT, "application/json")
        .body(token);
    if let Some(sealed) = &stream.push_authorization {
        let Some(header) = open_authorization(state, &stream.id, sealed) else {
            return Err(Rejected::ForNow(
                None,
                "the push authorization header cannot be opened".into(),
            ));
        };
        request = request.header(reqwest::header::AUTHORIZATION, header);
    }
    let answer = request
        .send()
        .await
        .map_err(|error| Rejected::ForNow(None, describe(&error)))?;
    let status = answer.status();
    if status.is_success() {
        return Ok(status.as_u16());
    }
    if status == reqwest::StatusCode::BAD_REQUEST {
        let body: serde_json::Value = answer.json().await.unwrap_or_default();
        let err = body["err"]
            .as_str()
            .unwrap_or("invalid_request")
            .chars()
            .take(60)
            .collect::<String>();
        return Err(Rejected::Permanently(format!(
            "refused by the receiver: {err}"
        )));
    }
    Err(Rejected::ForNow(
        Some(status.as_u16()),
        format!("answered {status}"),
    ))
}
