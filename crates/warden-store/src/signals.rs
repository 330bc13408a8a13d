//! The signals side of the store: webhooks and their deliveries, Shared Signals receivers,
//! streams and the security events waiting for them, and the cursor that fans the audit
//! trail out to all of them.
//!
//! The audit trail is the outbox. `fan_out` moves the cursor forward with a compare-and-set
//! in the transaction that inserts the deliveries, so when several nodes share a database
//! each audit record is fanned out once; deliveries are then claimed under a lease (with
//! `FOR UPDATE SKIP LOCKED` on PostgreSQL), so one node attempts each at a time.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use warden_audit::Actor;
use warden_core::Timestamp;

use crate::error::StoreResult;

/// A webhook as listed: never its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Webhook {
    pub id: String,
    pub url: String,
    pub events: Vec<String>,
    pub description: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

/// A webhook to create. `secret_salt` with the server pepper derives its signing secret.
#[derive(Debug, Clone)]
pub struct NewWebhook {
    pub id: String,
    pub url: String,
    pub events: Vec<String>,
    pub description: Option<String>,
    pub secret_salt: String,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    /// Out of attempts: a dead letter, until redelivered.
    Dead,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Dead => "dead",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "pending" => Some(Self::Pending),
            "delivered" => Some(Self::Delivered),
            "dead" => Some(Self::Dead),
            _ => None,
        }
    }
}

/// One delivery of one audit record to one webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WebhookDelivery {
    pub id: String,
    pub webhook_id: String,
    pub event: String,
    pub event_sequence: u64,
    pub status: DeliveryStatus,
    pub attempts: u32,
    #[schema(value_type = String, format = DateTime)]
    pub next_attempt_at: Timestamp,
    /// The HTTP status of the last attempt, when one was answered.
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub delivered_at: Option<Timestamp>,
}

/// A delivery claimed for an attempt, with what the attempt needs.
#[derive(Debug, Clone)]
pub struct ClaimedDelivery {
    pub delivery: WebhookDelivery,
    pub url: String,
    pub secret_salt: String,
    pub body: String,
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptOutcome {
    Delivered {
        status: Option<u16>,
    },
    Retry {
        status: Option<u16>,
        error: String,
        next_attempt_at: Timestamp,
    },
    Dead {
        status: Option<u16>,
        error: String,
    },
}

/// A delivery the fan-out creates.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub id: String,
    pub webhook_id: String,
    pub event: String,
    pub event_sequence: u64,
    pub body: String,
}

/// A security event the fan-out (or a verification request) queues for a stream.
#[derive(Debug, Clone)]
pub struct NewSetEvent {
    pub jti: String,
    pub stream_id: String,
    /// The SET's claims as JSON; signed when sent.
    pub claims: String,
}

/// A Shared Signals receiver: who may manage streams, by bearer token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SsfReceiver {
    pub id: String,
    pub name: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

/// A stream as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsfStream {
    pub id: String,
    pub receiver_id: String,
    pub receiver_name: String,
    /// `warden_signals::ssf::StreamSettings` as JSON.
    pub config: String,
    /// The push authorization header, sealed (base64), if any.
    pub push_authorization: Option<String>,
    pub status: String,
    pub reason: Option<String>,
    /// Keys of the subjects removed from the stream.
    pub excluded_subjects: Vec<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A security event claimed for a push attempt, or read by a poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedSet {
    pub jti: String,
    pub stream_id: String,
    pub claims: String,
    pub attempts: u32,
}

/// Webhook and Shared Signals storage (see the module documentation).
#[async_trait]
pub trait SignalStore: Send + Sync {
    /// The cursor's sequence; created at `start` if it does not exist yet.
    async fn signal_cursor(&self, name: &str, start: u64) -> StoreResult<u64>;
    /// Moves the cursor from `from` to `to` and inserts what the records in between fan out
    /// to, in one transaction; `false` (and nothing changed) when the cursor is no longer at
    /// `from` because another node got there first.
    async fn fan_out(
        &self,
        name: &str,
        from: u64,
        to: u64,
        deliveries: Vec<NewDelivery>,
        sets: Vec<NewSetEvent>,
        now: Timestamp,
    ) -> StoreResult<bool>;

    /// Adds a webhook, with its audit event (URL and events, never the salt).
    async fn create_webhook(
        &self,
        actor: &Actor,
        new: NewWebhook,
        now: Timestamp,
    ) -> StoreResult<Webhook>;
    async fn list_webhooks(&self) -> StoreResult<Vec<Webhook>>;
    async fn delete_webhook(&self, actor: &Actor, id: &str, now: Timestamp)
    -> StoreResult<Webhook>;
    async fn webhook_deliveries(
        &self,
        webhook: Option<&str>,
        status: Option<DeliveryStatus>,
        limit: u32,
    ) -> StoreResult<Vec<WebhookDelivery>>;
    /// Claims due pending deliveries for `lease_ms`; another node skips them meanwhile.
    async fn claim_webhook_deliveries(
        &self,
        now: Timestamp,
        lease_ms: i64,
        limit: u32,
    ) -> StoreResult<Vec<ClaimedDelivery>>;
    async fn finish_webhook_delivery(
        &self,
        id: &str,
        outcome: AttemptOutcome,
        now: Timestamp,
    ) -> StoreResult<()>;
    /// Puts a delivery (a dead letter, or a delivered one to send again) back in the queue
    /// with a fresh set of attempts.
    async fn redeliver_webhook(&self, id: &str, now: Timestamp) -> StoreResult<WebhookDelivery>;

    async fn create_ssf_receiver(
        &self,
        actor: &Actor,
        id: &str,
        name: &str,
        token_hash: &str,
        now: Timestamp,
    ) -> StoreResult<SsfReceiver>;
    async fn list_ssf_receivers(&self) -> StoreResult<Vec<SsfReceiver>>;
    async fn delete_ssf_receiver(
        &self,
        actor: &Actor,
        name: &str,
        now: Timestamp,
    ) -> StoreResult<SsfReceiver>;
    async fn ssf_receiver_by_token(&self, token_hash: &str) -> StoreResult<Option<SsfReceiver>>;

    async fn create_ssf_stream(&self, stream: SsfStream) -> StoreResult<SsfStream>;
    async fn get_ssf_stream(&self, id: &str) -> StoreResult<SsfStream>;
    /// Every stream, or one receiver's.
    async fn list_ssf_streams(&self, receiver_id: Option<&str>) -> StoreResult<Vec<SsfStream>>;
    /// Replaces the configuration; `push_authorization` replaces the sealed header when
    /// given (`Some(None)` removes it).
    async fn update_ssf_stream(
        &self,
        id: &str,
        config: String,
        push_authorization: Option<Option<String>>,
        now: Timestamp,
    ) -> StoreResult<SsfStream>;
    async fn set_ssf_stream_status(
        &self,
        id: &str,
        status: &str,
        reason: Option<String>,
        now: Timestamp,
    ) -> StoreResult<SsfStream>;
    async fn delete_ssf_stream(&self, id: &str) -> StoreResult<()>;
    /// Removes a subject from the stream (`excluded`) or adds it back.
    async fn set_ssf_subject(&self, stream_id: &str, key: &str, excluded: bool) -> StoreResult<()>;
    async fn enqueue_sets(&self, sets: Vec<NewSetEvent>, now: Timestamp) -> StoreResult<()>;
    /// Acknowledges `ack` (events of this stream only), then returns up to `limit` pending
    /// events oldest first, and whether more are waiting.
    async fn poll_sets(
        &self,
        stream_id: &str,
        ack: &[String],
        limit: u32,
    ) -> StoreResult<(Vec<QueuedSet>, bool)>;
    /// Claims due pending events of push streams for `lease_ms`.
    async fn claim_set_pushes(
        &self,
        now: Timestamp,
        lease_ms: i64,
        limit: u32,
    ) -> StoreResult<Vec<QueuedSet>>;
    async fn finish_set_push(
        &self,
        jti: &str,
        outcome: AttemptOutcome,
        now: Timestamp,
    ) -> StoreResult<()>;
}
