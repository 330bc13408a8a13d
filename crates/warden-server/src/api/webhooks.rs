//! `/v1/webhooks` and `/v1/ssf/receivers`: the administrator's side of signals. Webhooks
//! (add, list, remove; deliveries with their status, attempts and last error; redelivering
//! a dead letter) and the Shared Signals receivers that may manage streams.
//!
//! A webhook's signing secret and a receiver's token are returned once, in the answer that
//! creates them; afterwards they are in no answer, log line or audit record.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use warden_signals::webhook;
use warden_store::signals::{DeliveryStatus, NewWebhook, SsfReceiver, Webhook, WebhookDelivery};

use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, QueryPairs};
use crate::signals::{RECEIVER_TOKEN_DOMAIN, webhook_secret};
use crate::state::AppState;

/// A webhook to add.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddWebhook {
    /// Where deliveries are POSTed: http or https. Redirects are never followed.
    pub url: String,
    /// The events to deliver.
    pub events: Vec<webhook::WebhookEvent>,
    #[serde(default)]
    pub description: Option<String>,
}

/// A webhook just added, with its signing secret: shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct AddedWebhook {
    pub webhook: Webhook,
    /// The HMAC-SHA256 key of the `Warden-Signature` header. Keep it; it is not shown again.
    pub secret: String,
}

/// Add a webhook; the answer carries its signing secret, once.
#[utoipa::path(post, path = "/v1/webhooks", tag = "webhooks", request_body = AddWebhook,
    responses((status = 201, body = AddedWebhook), (status = 400, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub async fn add_webhook(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<AddWebhook>,
) -> Result<(StatusCode, Json<AddedWebhook>), ApiError> {
    let invalid = |error: webhook::WebhookError| ApiError::Unprocessable {
        code: "invalid_webhook",
        message: error.to_string(),
    };
    webhook::check_url(&body.url).map_err(invalid)?;
    let mut events = body.events;
    events.sort();
    events.dedup();
    if events.is_empty() {
        return Err(invalid(webhook::WebhookError::NoEvents));
    }
    if body
        .description
        .as_ref()
        .is_some_and(|text| text.chars().count() > 1024)
    {
        return Err(ApiError::Unprocessable {
            code: "invalid_webhook",
            message: "`description` is longer than 1024 characters".into(),
        });
    }
    let salt_bytes: [u8; 32] = warden_crypto::random::random_bytes();
    let salt: String = salt_bytes
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    let secret = webhook_secret(&state.pepper, &salt);
    let created = state
        .store
        .signals()
        .create_webhook(
            &state.actor,
            NewWebhook {
                id: uuid::Uuid::now_v7().to_string(),
                url: body.url,
                events: events
                    .iter()
                    .map(|event| event.as_str().to_string())
                    .collect(),
                description: body.description,
                secret_salt: salt,
            },
            state.clock.now(),
        )
        .await?;
    tracing::info!(webhook = %created.id, "webhook added");
    Ok((
        StatusCode::CREATED,
        Json(AddedWebhook {
            webhook: created,
            secret,
        }),
    ))
}

/// Every webhook (never a secret).
#[utoipa::path(get, path = "/v1/webhooks", tag = "webhooks",
    responses((status = 200, body = Vec<Webhook>)))]
pub async fn list_webhooks(State(state): State<AppState>) -> Result<Json<Vec<Webhook>>, ApiError> {
    Ok(Json(state.store.signals().list_webhooks().await?))
}

/// Remove a webhook and its deliveries.
#[utoipa::path(delete, path = "/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = String, Path, description = "the webhook id")),
    responses((status = 200, body = Webhook), (status = 404, body = ErrorBody)))]
pub async fn remove_webhook(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Webhook>, ApiError> {
    Ok(Json(
        state
            .store
            .signals()
            .delete_webhook(&state.actor, &id, state.clock.now())
            .await?,
    ))
}

/// Deliveries, newest first: status (pending, delivered, dead: the dead letters), attempts,
/// the last answer and error.
#[utoipa::path(get, path = "/v1/webhooks/deliveries", tag = "webhooks",
    params(("webhook" = Option<String>, Query, description = "only this webhook's"),
           ("status" = Option<String>, Query, description = "pending, delivered or dead"),
           ("limit" = Option<u32>, Query, description = "at most this many (1-1000, default 100)")),
    responses((status = 200, body = Vec<WebhookDelivery>), (status = 400, body = ErrorBody)))]
pub async fn list_deliveries(
    State(state): State<AppState>,
    query: QueryPairs,
) -> Result<Json<Vec<WebhookDelivery>>, ApiError> {
    query.only(&["webhook", "status", "limit"])?;
    let status = match query.one("status")? {
        Some(text) => Some(DeliveryStatus::parse(text).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_query",
                "`status` must be pending, delivered or dead",
            )
        })?),
        None => None,
    };
    let limit = match query.one("limit")? {
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|limit| (1..=1000).contains(limit))
            .ok_or_else(|| ApiError::bad_request("invalid_query", "`limit` must be 1 to 1000"))?,
        None => 100,
    };
    Ok(Json(
        state
            .store
            .signals()
            .webhook_deliveries(query.one("webhook")?, status, limit)
            .await?,
    ))
}

/// Send a delivery again (a dead letter, or one delivered before) with fresh attempts.
#[utoipa::path(post, path = "/v1/webhooks/deliveries/{id}/redeliver", tag = "webhooks",
    params(("id" = String, Path, description = "the delivery id")),
    responses((status = 200, body = WebhookDelivery), (status = 404, body = ErrorBody)))]
pub async fn redeliver(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<WebhookDelivery>, ApiError> {
    Ok(Json(
        state
            .store
            .signals()
            .redeliver_webhook(&id, state.clock.now())
            .await?,
    ))
}

/// What a receiver's name may be (checked in `add_receiver`, stated in the document).
pub const RECEIVER_NAME_PATTERN: &str = r"^[A-Za-z0-9._:/-]{1,200}$";

/// A Shared Signals receiver to add.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddReceiver {
    /// Its name, also the `aud` of the SETs its streams receive.
    pub name: String,
}

/// A receiver just added, with its bearer token for the stream management API: shown once.
#[derive(Debug, Serialize, ToSchema)]
pub struct AddedReceiver {
    pub receiver: SsfReceiver,
    pub token: String,
}

/// Add a Shared Signals receiver; the answer carries its bearer token, once.
#[utoipa::path(post, path = "/v1/ssf/receivers", tag = "shared signals", request_body = AddReceiver,
    responses((status = 201, body = AddedReceiver), (status = 409, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub async fn add_receiver(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<AddReceiver>,
) -> Result<(StatusCode, Json<AddedReceiver>), ApiError> {
    let name = body.name.as_str();
    if name.is_empty()
        || name.len() > 200
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '/'))
    {
        return Err(ApiError::Unprocessable {
            code: "invalid_receiver",
            message: "`name` must be 1 to 200 letters, digits or - _ . : /".into(),
        });
    }
    let bytes: [u8; 32] = warden_crypto::random::random_bytes();
    let token = format!(
        "wssf_{}",
        bytes
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect::<String>()
    );
    let hash = state
        .pepper
        .hash(RECEIVER_TOKEN_DOMAIN, token.as_bytes())
        .to_hex();
    let receiver = state
        .store
        .signals()
        .create_ssf_receiver(
            &state.actor,
            &uuid::Uuid::now_v7().to_string(),
            name,
            &hash,
            state.clock.now(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(AddedReceiver { receiver, token })))
}

/// Every Shared Signals receiver.
#[utoipa::path(get, path = "/v1/ssf/receivers", tag = "shared signals",
    responses((status = 200, body = Vec<SsfReceiver>)))]
pub async fn list_receivers(
    State(state): State<AppState>,
) -> Result<Json<Vec<SsfReceiver>>, ApiError> {
    Ok(Json(state.store.signals().list_ssf_receivers().await?))
}

/// Remove a receiver with its streams and their queued events.
#[utoipa::path(delete, path = "/v1/ssf/receivers/{name}", tag = "shared signals",
    params(("name" = String, Path, description = "the receiver's name")),
    responses((status = 200, body = SsfReceiver), (status = 404, body = ErrorBody)))]
pub async fn remove_receiver(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<SsfReceiver>, ApiError> {
    Ok(Json(
        state
            .store
            .signals()
            .delete_ssf_receiver(&state.actor, &name, state.clock.now())
            .await?,
    ))
}
