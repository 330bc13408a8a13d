//! The Shared Signals transmitter's HTTP face: `/.well-known/ssf-configuration`, stream
//! management (`/ssf/stream`, `/ssf/status`, `/ssf/subjects/add|remove`, `/ssf/verify`) and
//! RFC 8936 polling (`/ssf/poll/{stream_id}`).
//!
//! Receivers authenticate with the bearer token an administrator issued them
//! (`warden ssf receiver add NAME`), looked up by its keyed hash; a receiver sees and changes
//! only its own streams (another receiver's stream is "unknown", not "forbidden", so ids
//! cannot be probed). Every body goes through the parsers in `warden_signals::ssf`.

use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use warden_core::DomainError;
use warden_signals::set;
use warden_signals::ssf::{
    self, Delivery, PollResponse, SsfError, StatusBody, StreamConfiguration, StreamSettings,
    StreamStatus, TransmitterConfiguration,
};
use warden_store::signals::{NewSetEvent, SsfReceiver, SsfStream};

use crate::error::ApiError;
use crate::extract::QueryPairs;
use crate::signals::RECEIVER_TOKEN_DOMAIN;
use crate::signals::deliver::seal_authorization;
use crate::state::AppState;

/// The longest a poll with `returnImmediately: false` waits for an event.
const LONG_POLL: Duration = Duration::from_secs(10);

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/.well-known/ssf-configuration", get(configuration))
        .route(
            "/ssf/stream",
            get(read_stream)
                .post(create_stream)
                .put(replace_stream)
                .patch(update_stream)
                .delete(delete_stream),
        )
        .route("/ssf/status", get(read_status).post(update_status))
        .route("/ssf/subjects/add", post(add_subject))
        .route("/ssf/subjects/remove", post(remove_subject))
        .route("/ssf/verify", post(verify))
        .route("/ssf/poll/{stream_id}", post(poll))
}

fn invalid(error: SsfError) -> ApiError {
    ApiError::bad_request("invalid_request", error.to_string())
}

fn unknown_stream(id: &str) -> ApiError {
    ApiError::Domain(DomainError::UnknownStream(id.chars().take(100).collect()))
}

async fn receiver(state: &AppState, headers: &HeaderMap) -> Result<SsfReceiver, ApiError> {
    let token = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            value
                .strip_prefix("Bearer ")
                .or_else(|| value.strip_prefix("bearer "))
        })
        .map(str::trim)
        .ok_or(ApiError::Unauthorized)?;
    let hash = state
        .pepper
        .hash(RECEIVER_TOKEN_DOMAIN, token.as_bytes())
        .to_hex();
    match state.store.signals().ssf_receiver_by_token(&hash).await? {
        Some(receiver) => Ok(receiver),
        None => {
            tracing::warn!("stream management request with an unknown receiver token refused");
            Err(ApiError::Unauthorized)
        }
    }
}

/// The receiver's stream `id`, or "unknown" when it is another receiver's.
async fn owned(state: &AppState, receiver: &SsfReceiver, id: &str) -> Result<SsfStream, ApiError> {
    match state.store.signals().get_ssf_stream(id).await {
        Ok(stream) if stream.receiver_id == receiver.id => Ok(stream),
        Ok(_) | Err(warden_store::StoreError::Domain(DomainError::UnknownStream(_))) => {
            Err(unknown_stream(id))
        }
        Err(error) => Err(error.into()),
    }
}

fn settings_of(stream: &SsfStream) -> Result<StreamSettings, ApiError> {
    serde_json::from_str(&stream.config)
        .map_err(|error| ApiError::Internal(format!("stream configuration unreadable: {error}")))
}

fn view(state: &AppState, stream: &SsfStream) -> Result<StreamConfiguration, ApiError> {
    Ok(StreamConfiguration::new(
        &stream.id,
        &state.signals.issuer,
        &stream.receiver_name,
        &settings_of(stream)?,
        &state.signals.issuer,
    ))
}

async fn configuration(State(state): State<AppState>) -> Json<TransmitterConfiguration> {
    Json(TransmitterConfiguration::new(
        &state.signals.issuer,
        &state.signals.issuer,
    ))
}

async fn create_stream(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<StreamConfiguration>), ApiError> {
    let receiver = receiver(&state, &headers).await?;
    let (_, checked) = ssf::parse_stream(&body, None).map_err(invalid)?;
    let checked = checked.ok_or_else(|| invalid(SsfError::MissingDelivery))?;
    let id = uuid::Uuid::now_v7().to_string();
    let sealed = match &checked.authorization_header {
        Some(header) => Some(
            seal_authorization(&state, &id, header)
                .ok_or_else(|| ApiError::Internal("cannot seal the authorization header".into()))?,
        ),
        None => None,
    };
    let now = state.clock.now();
    let stream = state
        .store
        .signals()
        .create_ssf_stream(SsfStream {
            id,
            receiver_id: receiver.id.clone(),
            receiver_name: receiver.name.clone(),
            config: serde_json::to_string(&checked.settings)
                .map_err(|error| ApiError::Internal(error.to_string()))?,
            push_authorization: sealed,
            status: StreamStatus::Enabled.as_str().to_string(),
            reason: None,
            excluded_subjects: Vec::new(),
            created_at: now,
            updated_at: now,
        })
        .await?;
    tracing::info!(stream = %stream.id, receiver = %receiver.name, "shared signals stream created");
    Ok((StatusCode::CREATED, Json(view(&state, &stream)?)))
}

async fn read_stream(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: QueryPairs,
) -> Result<Response, ApiError> {
    let receiver = receiver(&state, &headers).await?;
    query.only(&["stream_id"])?;
    match query.one("stream_id")? {
        Some(id) => {
            let stream = owned(&state, &receiver, id).await?;
            Ok(Json(view(&state, &stream)?).into_response())
        }
        None => {
            let streams = state
                .store
                .signals()
                .list_ssf_streams(Some(&receiver.id))
                .await?;
            let views = streams
                .iter()
                .map(|stream| view(&state, stream))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Json(views).into_response())
        }
    }
}

async fn change_stream(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
    patch: bool,
) -> Result<Json<StreamConfiguration>, ApiError> {
    let receiver = receiver(state, headers).await?;
    let (request, _) = ssf::parse_stream(
        body,
        Some(&StreamSettings {
            delivery: Delivery::Poll,
            events_requested: Vec::new(),
            description: None,
        }),
    )
    .map_err(invalid)?;
    let id = request
        .stream_id
        .clone()
        .ok_or_else(|| invalid(SsfError::MissingStreamId))?;
    let stream = owned(state, &receiver, &id).await?;
    let current = settings_of(&stream)?;
    let (_, checked) = ssf::parse_stream(body, patch.then_some(&current)).map_err(invalid)?;
    let checked = checked.ok_or_else(|| invalid(SsfError::MissingDelivery))?;
    let header = if request.delivery.is_some() {
        match (&checked.settings.delivery, &checked.authorization_header) {
            (Delivery::Push { .. }, Some(header)) => {
                Some(Some(seal_authorization(state, &id, header).ok_or_else(
                    || ApiError::Internal("cannot seal the authorization header".into()),
                )?))
            }
            _ => Some(None),
        }
    } else {
        None
    };
    let config = serde_json::to_string(&checked.settings)
        .map_err(|error| ApiError::Internal(error.to_string()))?;
    let updated = state
        .store
        .signals()
        .update_ssf_stream(&id, config, header, state.clock.now())
        .await?;
    Ok(Json(view(state, &updated)?))
}

async fn replace_stream(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<StreamConfiguration>, ApiError> {
    change_stream(&state, &headers, &body, false).await
}

async fn update_stream(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<StreamConfiguration>, ApiError> {
    change_stream(&state, &headers, &body, true).await
}

async fn delete_stream(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: QueryPairs,
) -> Result<StatusCode, ApiError> {
    let receiver = receiver(&state, &headers).await?;
    query.only(&["stream_id"])?;
    let id = query
        .one("stream_id")?
        .ok_or_else(|| invalid(SsfError::MissingStreamId))?;
    owned(&state, &receiver, id).await?;
    state.store.signals().delete_ssf_stream(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn status_of(stream: &SsfStream) -> StatusBody {
    StatusBody {
        stream_id: stream.id.clone(),
        status: StreamStatus::parse(&stream.status).unwrap_or(StreamStatus::Disabled),
        reason: stream.reason.clone(),
    }
}

async fn read_status(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: QueryPairs,
) -> Result<Json<StatusBody>, ApiError> {
    let receiver = receiver(&state, &headers).await?;
    query.only(&["stream_id"])?;
    let id = query
        .one("stream_id")?
        .ok_or_else(|| invalid(SsfError::MissingStreamId))?;
    Ok(Json(status_of(&owned(&state, &receiver, id).await?)))
}

async fn update_status(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<StatusBody>, ApiError> {
    let receiver = receiver(&state, &headers).await?;
    let request = ssf::parse_status(&body).map_err(invalid)?;
    owned(&state, &receiver, &request.stream_id).await?;
    let stream = state
        .store
        .signals()
        .set_ssf_stream_status(
            &request.stream_id,
            request.status.as_str(),
            request.reason,
            state.clock.now(),
        )
        .await?;
    Ok(Json(status_of(&stream)))
}

async fn subject(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
    excluded: bool,
) -> Result<(), ApiError> {
    let receiver = receiver(state, headers).await?;
    let request = ssf::parse_subject_request(body).map_err(invalid)?;
    owned(state, &receiver, &request.stream_id).await?;
    state
        .store
        .signals()
        .set_ssf_subject(&request.stream_id, &request.subject.key(), excluded)
        .await?;
    Ok(())
}

async fn add_subject(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    subject(&state, &headers, &body, false).await?;
    Ok(StatusCode::OK)
}

async fn remove_subject(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    subject(&state, &headers, &body, true).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Queues a verification event on the stream (SSF §8.1.4.2): pushed or polled like any other.
async fn verify(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let receiver = receiver(&state, &headers).await?;
    let request = ssf::parse_verification(&body).map_err(invalid)?;
    let stream = owned(&state, &receiver, &request.stream_id).await?;
    let now = state.clock.now();
    let jti = uuid::Uuid::now_v7().to_string();
    let claims = set::verification_claims(
        &state.signals.issuer,
        std::slice::from_ref(&stream.receiver_name),
        &jti,
        now.as_secs(),
        &stream.id,
        request.state.as_deref(),
    );
    state
        .store
        .signals()
        .enqueue_sets(
            vec![NewSetEvent {
                jti,
                stream_id: stream.id.clone(),
                claims: claims.to_string(),
            }],
            now,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// RFC 8936: acknowledges what the receiver names, then returns waiting SETs, signed.
async fn poll(
    State(state): State<AppState>,
    Path(stream_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<PollResponse>, ApiError> {
    let receiver = receiver(&state, &headers).await?;
    let request = ssf::parse_poll(&body).map_err(invalid)?;
    let stream = owned(&state, &receiver, &stream_id).await?;
    if settings_of(&stream)?.delivery != Delivery::Poll {
        return Err(ApiError::bad_request(
            "invalid_request",
            "this stream is delivered by push (RFC 8935); it cannot be polled",
        ));
    }
    for (jti, error) in &request.set_errs {
        tracing::warn!(stream = %stream.id, jti = %jti.chars().take(100).collect::<String>(), err = %error.err.chars().take(60).collect::<String>(), "receiver reported a SET error");
    }
    // A paused stream keeps its events until it is enabled again (SSF §8.1.2); a poll may
    // still acknowledge what it received before.
    let paused = StreamStatus::parse(&stream.status) != Some(StreamStatus::Enabled);
    let mut acknowledged: Vec<String> = request.ack.clone();
    acknowledged.extend(request.set_errs.keys().cloned());
    let limit = if paused { 0 } else { request.limit() };
    let deadline = tokio::time::Instant::now() + LONG_POLL;
    let mut first = true;
    loop {
        let ack: &[String] = if first { &acknowledged } else { &[] };
        first = false;
        let (queued, more) = state
            .store
            .signals()
            .poll_sets(&stream.id, ack, limit)
            .await?;
        let done = !queued.is_empty()
            || limit == 0
            || request.return_immediately.unwrap_or(false)
            || tokio::time::Instant::now() >= deadline;
        if done {
            let ring = state.credentials.tokens.ring();
            let mut sets = std::collections::BTreeMap::new();
            for queued in queued {
                let claims: serde_json::Value =
                    serde_json::from_str(&queued.claims).map_err(|error| {
                        ApiError::Internal(format!("queued event unreadable: {error}"))
                    })?;
                let token = warden_crypto::jwt::issue_security_event(&ring, &claims)
                    .map_err(|error| ApiError::Internal(error.to_string()))?;
                sets.insert(queued.jti, token);
            }
            return Ok(Json(PollResponse {
                sets,
                more_available: more,
            }));
        }
        tokio::time::sleep(state.signals.interval).await;
    }
}
