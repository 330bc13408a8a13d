//! Bodies on their way through the gateway, streamed both ways.
//!
//! - A request body is metered as it streams to the upstream: its size is held to the
//!   limit and its keyed hash computed for the outcome record.
//! - A response body is relayed frame by frame; an MCP event stream is filtered as it
//!   goes; the stream ends the moment the agent's token stops being honoured (a kill or a
//!   revocation reaches streams in flight) or the server begins to stop (a graceful
//!   shutdown would otherwise wait for a stream that never ends); and when it ends, however
//!   it ends, the outcome (status, bytes, latency, error) is recorded.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::Body;
use bytes::Bytes;
use futures::StreamExt as _;
use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use warden_audit::{AuditHmacKey, KeyedHash, KeyedHasher, NewEvent, Outcome};
use warden_core::Clock;
use warden_crypto::AccessClaims;
use warden_gateway::SseFilter;
use warden_store::Store;

use warden_plane::plane::CredentialPlane;

/// Size and keyed hash of a body as it passes.
#[derive(Debug)]
pub struct BodyMeter {
    hasher: Option<KeyedHasher>,
    bytes: u64,
    limit: u64,
    exceeded: bool,
}

impl BodyMeter {
    pub fn new(key: &AuditHmacKey, limit: u64) -> Self {
        Self {
            hasher: Some(key.hasher()),
            bytes: 0,
            limit,
            exceeded: false,
        }
    }

    /// Counts a chunk; `false` once the body is over the limit.
    fn add(&mut self, chunk: &[u8]) -> bool {
        self.bytes = self.bytes.saturating_add(chunk.len() as u64);
        if self.bytes > self.limit {
            self.exceeded = true;
            return false;
        }
        if let Some(hasher) = self.hasher.as_mut() {
            hasher.update(chunk);
        }
        true
    }

    pub fn exceeded(&self) -> bool {
        self.exceeded
    }

    /// The size and hash of what passed; `None` for the hash of an empty body.
    pub fn finish(&mut self) -> (u64, Option<KeyedHash>) {
        let hash = self.hasher.take().map(KeyedHasher::finish);
        (self.bytes, hash.filter(|_| self.bytes > 0))
    }
}

pub type SharedMeter = Arc<Mutex<BodyMeter>>;

fn lock(meter: &SharedMeter) -> std::sync::MutexGuard<'_, BodyMeter> {
    match meter.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// The request body, streamed to the upstream through `meter`. Going over the limit ends
/// the stream with an error, which aborts the upstream request.
pub fn metered_request(body: Body, meter: SharedMeter) -> Body {
    let stream = body.into_data_stream().map(move |chunk| {
        let chunk = chunk.map_err(std::io::Error::other)?;
        if lock(&meter).add(&chunk) {
            Ok(chunk)
        } else {
            Err(std::io::Error::other("the request body is over the limit"))
        }
    });
    Body::from_stream(stream)
}

/// Wakes when a verified token is no longer honoured.
pub struct KillWatch {
    plane: Arc<CredentialPlane>,
    clock: Arc<dyn Clock>,
    claims: Arc<AccessClaims>,
    generation: tokio::sync::watch::Receiver<u64>,
}

impl KillWatch {
    pub fn new(
        plane: Arc<CredentialPlane>,
        clock: Arc<dyn Clock>,
        claims: Arc<AccessClaims>,
    ) -> Self {
        let generation = plane.tokens.revocations.subscribe();
        Self {
            plane,
            clock,
            claims,
            generation,
        }
    }

    /// Whether the token is still honoured now.
    pub fn honoured(&self) -> bool {
        self.plane
            .tokens
            .revocations
            .current()
            .check_claims(&self.claims, self.clock.now())
            .is_ok()
    }

    /// Completes when the token is no longer honoured: at once if it already is not (a kill
    /// that landed after the request's own check but before this watch was made would
    /// otherwise go unseen), or when a later change to the revocation state refuses it.
    /// Cancel-safe: it only awaits the watch channel.
    pub async fn revoked(&mut self) {
        if !self.honoured() {
            return;
        }
        loop {
            if self.generation.changed().await.is_err() {
                // The state is gone (the server is stopping): nothing will change any more.
                std::future::pending::<()>().await;
            }
            if !self.honoured() {
                return;
            }
        }
    }
}

/// The outcome event, recorded once when the response ends or is dropped.
pub struct OutcomeRecorder {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    event: Option<NewEvent>,
    started: Instant,
    status: u16,
    bytes: u64,
    error: Option<&'static str>,
    completed: bool,
    request: Option<SharedMeter>,
}

impl OutcomeRecorder {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        event: NewEvent,
        started: Instant,
        request: Option<SharedMeter>,
    ) -> Self {
        Self {
            store,
            clock,
            event: Some(event),
            started,
            status: 0,
            bytes: 0,
            error: None,
            completed: false,
            request,
        }
    }

    pub fn status(&mut self, status: u16) {
        self.status = status;
    }

    pub fn fail(&mut self, error: &'static str) {
        self.error.get_or_insert(error);
    }

    /// The whole response reached the agent.
    pub fn complete(&mut self) {
        self.completed = true;
    }

    pub fn add_bytes(&mut self, n: usize) {
        self.bytes = self.bytes.saturating_add(n as u64);
    }

    /// Records the outcome now (normally on drop).
    fn record(&mut self) {
        let Some(mut event) = self.event.take() else {
            return;
        };
        if let (Some(meter), Some(request)) = (&self.request, event.request.as_mut()) {
            let (bytes, hash) = lock(meter).finish();
            request.body_bytes = (bytes > 0).then_some(bytes);
            request.body_hmac = hash;
        }
        let latency_ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let event = event.outcome(Outcome {
            status: self.status,
            bytes: self.bytes,
            latency_ms,
            error: self.error.map(str::to_string),
        });
        self.store.record_detached(event, self.clock.now());
    }
}

impl Drop for OutcomeRecorder {
    fn drop(&mut self) {
        if self.event.is_some() && self.error.is_none() && !self.completed {
            self.error = Some("client_closed");
        }
        self.record();
    }
}

/// Decides what of an MCP answer an agent may see.
pub type AnswerFilter = Box<dyn warden_gateway::mcp::answer::AnswerPolicy + Send + Sync>;

/// What the relay does to the response body besides passing it on.
pub enum Transform {
    None,
    /// An MCP `text/event-stream`, filtered event by event.
    Sse(SseFilter<AnswerFilter>),
}

struct Relay {
    upstream: Incoming,
    kill: KillWatch,
    stopping: tokio::sync::watch::Receiver<bool>,
    transform: Transform,
    outcome: OutcomeRecorder,
}

enum Step {
    Killed,
    Stopping,
    Frame(Option<Result<hyper::body::Frame<Bytes>, hyper::Error>>),
}

/// Relays an upstream response body to the agent; see the module documentation.
pub fn relay(
    upstream: Incoming,
    kill: KillWatch,
    stopping: tokio::sync::watch::Receiver<bool>,
    transform: Transform,
    outcome: OutcomeRecorder,
) -> Body {
    let state = Relay {
        upstream,
        kill,
        stopping,
        transform,
        outcome,
    };
    let stream = futures::stream::unfold(Some(state), |state| async move {
        let mut state = state?;
        loop {
            let step = tokio::select! {
                biased;
                () = state.kill.revoked() => Step::Killed,
                _ = state.stopping.wait_for(|stopping| *stopping) => Step::Stopping,
                frame = state.upstream.frame() => Step::Frame(frame),
            };
            match step {
                Step::Stopping => {
                    state.outcome.fail("server_stopping");
                    let error = std::io::Error::other("the gateway is stopping");
                    return Some((Err(error), None));
                }
                Step::Killed => {
                    state.outcome.fail("killed");
                    let error = std::io::Error::other("the agent's access was revoked");
                    return Some((Err(error), None));
                }
                Step::Frame(None) => {
                    let rest = match std::mem::replace(&mut state.transform, Transform::None) {
                        Transform::None => Vec::new(),
                        Transform::Sse(filter) => match filter.finish() {
                            Ok(rest) => rest,
                            Err(_) => {
                                state.outcome.fail("unfilterable_stream");
                                let error =
                                    std::io::Error::other("the event stream cannot be checked");
                                return Some((Err(error), None));
                            }
                        },
                    };
                    state.outcome.complete();
                    if rest.is_empty() {
                        return None;
                    }
                    state.outcome.add_bytes(rest.len());
                    return Some((Ok(Bytes::from(rest)), None));
                }
                Step::Frame(Some(Err(error))) => {
                    tracing::warn!(%error, "the upstream's response body failed");
                    state.outcome.fail("upstream_reset");
                    return Some((Err(std::io::Error::other("the upstream failed")), None));
                }
                Step::Frame(Some(Ok(frame))) => {
                    let Ok(data) = frame.into_data() else {
                        continue;
                    };
                    let out = match &mut state.transform {
                        Transform::None => data,
                        Transform::Sse(filter) => match filter.push(&data) {
                            Ok(filtered) => Bytes::from(filtered),
                            Err(_) => {
                                state.outcome.fail("unfilterable_stream");
                                let error =
                                    std::io::Error::other("the event stream cannot be checked");
                                return Some((Err(error), None));
                            }
                        },
                    };
                    if out.is_empty() {
                        continue;
                    }
                    state.outcome.add_bytes(out.len());
                    return Some((Ok(out), Some(state)));
                }
            }
        }
    });
    Body::from_stream(stream)
}
