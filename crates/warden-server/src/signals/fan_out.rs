//! Fanning the audit trail out: the records after the cursor become webhook deliveries and
//! security events for the streams that asked for them, stored with the cursor's move in
//! one transaction (a compare-and-set, so two nodes never fan a record out twice).

use warden_audit::AuditEvent;
use warden_core::Timestamp;
use warden_signals::set::{self, SecurityEvent};
use warden_signals::ssf::{StreamSettings, StreamStatus};
use warden_signals::webhook;
use warden_store::signals::{NewDelivery, NewSetEvent, SsfStream};
use warden_store::{AuditQuery, StoreResult};

use crate::state::AppState;

/// The cursor's name in `signal_cursor`.
pub const CURSOR: &str = "signals";
/// Records read per round.
const BATCH: u32 = 200;

/// The newest audit sequence: where a new deployment's cursor starts, so it does not
/// replay history that happened before signals existed.
pub async fn start_cursor(state: &AppState) -> StoreResult<u64> {
    let newest = state
        .store
        .audit_events(&AuditQuery {
            filter: Default::default(),
            after: None,
            limit: 1,
            newest: true,
        })
        .await?;
    let head = newest.last().map_or(0, |record| record.sequence);
    state.store.signals().signal_cursor(CURSOR, head).await
}

/// One round: fans out the next batch of records, if any. Returns how many were read.
pub async fn round(state: &AppState) -> StoreResult<usize> {
    let from = state.store.signals().signal_cursor(CURSOR, 0).await?;
    let records = state
        .store
        .audit_events(&AuditQuery {
            filter: Default::default(),
            after: Some(from),
            limit: BATCH,
            newest: false,
        })
        .await?;
    let Some(last) = records.last() else {
        return Ok(0);
    };
    let to = last.sequence;
    let webhooks = state.store.signals().list_webhooks().await?;
    let streams = state.store.signals().list_ssf_streams(None).await?;
    let live: Vec<(SsfStream, StreamSettings)> = streams
        .into_iter()
        .filter(|stream| {
            StreamStatus::parse(&stream.status)
                .is_some_and(|status| status != StreamStatus::Disabled)
        })
        .filter_map(|stream| {
            let settings = serde_json::from_str::<StreamSettings>(&stream.config).ok()?;
            Some((stream, settings))
        })
        .collect();
    let now = state.clock.now();
    let issuer = &state.signals.issuer;
    let mut deliveries = Vec::new();
    let mut sets = Vec::new();
    for record in &records {
        if let Some((event, body)) = webhook::body_for(record, issuer) {
            for hook in webhooks
                .iter()
                .filter(|hook| hook.events.iter().any(|e| e == event.as_str()))
            {
                deliveries.push(NewDelivery {
                    id: uuid::Uuid::now_v7().to_string(),
                    webhook_id: hook.id.clone(),
                    event: event.as_str().to_string(),
                    event_sequence: record.sequence,
                    body: body.clone(),
                });
            }
        }
        for event in set::events_for(record, issuer) {
            for (stream, settings) in &live {
                if let Some(queued) = address(record, &event, stream, settings, issuer, now) {
                    sets.push(queued);
                }
            }
        }
    }
    let count = records.len();
    let moved = state
        .store
        .signals()
        .fan_out(CURSOR, from, to, deliveries, sets, now)
        .await?;
    if !moved {
        tracing::debug!("signals: another node fanned these records out first");
    }
    Ok(count)
}

/// The event addressed to one stream, unless the stream did not ask for its type or
/// removed its subject.
fn address(
    record: &AuditEvent,
    event: &SecurityEvent,
    stream: &SsfStream,
    settings: &StreamSettings,
    issuer: &str,
    now: Timestamp,
) -> Option<NewSetEvent> {
    if !settings
        .events_delivered()
        .iter()
        .any(|wanted| wanted == event.event_type)
    {
        return None;
    }
    if stream.excluded_subjects.contains(&event.subject.key()) {
        return None;
    }
    // One jti per record, event type and stream: the same on every node that computes it,
    // so a fan-out retried after a lost race inserts nothing twice.
    let jti = format!(
        "{}.{}.{}",
        record.id,
        short_type(event.event_type),
        stream.id
    );
    let claims = set::claims(
        issuer,
        std::slice::from_ref(&stream.receiver_name),
        &jti,
        now.as_secs(),
        event.event_type,
        &event.subject,
        &event.payload,
    );
    Some(NewSetEvent {
        jti,
        stream_id: stream.id.clone(),
        claims: claims.to_string(),
    })
}

fn short_type(event_type: &str) -> &str {
    event_type.rsplit('/').next().unwrap_or(event_type)
}
