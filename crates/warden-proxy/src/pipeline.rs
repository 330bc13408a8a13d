//! One gateway request, phase by phase, each a method of `Gateway` over the request's
//! `Exchange`:
//!
//! 1. `vet_target`: the target (path and query) is one the upstream will read as the
//!    gateway does; and the node is current with the others (or refuses everything).
//! 2. `authenticate`: the bearer token (signature, revocation and kill switch, audience);
//!    from here on every refusal names the agent and is on the record.
//! 3. `resolve`: the upstream from the catalog, the caller, the agent's reason, the header
//!    and query checks.
//! 4. `ask`: what the request asks (a route, or the operations in an MCP envelope).
//! 5. `decide`: task bounds, then Cedar, for every ask.
//! 6. `hold`: a human approves this exact request where a policy says so.
//! 7. `record`: the decision, durable before anything is forwarded.
//! 8. `forward`: the agent's credentials out, the upstream's secret in, bodies streamed.
//! 9. `relay`: the answer back (MCP answers filtered), its outcome recorded when it ends.
//!
//! Any refusal on the way answers at once and forwards nothing.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderValue, Method};
use warden_audit::{Actor, EventKind, NewEvent, RequestDigest};
use warden_core::{ApprovalBinding, Timestamp};
use warden_crypto::AccessClaims;
use warden_gateway::{
    BodyFraming, Refusal, RefusalCode, VettedPath, bearer_token, check_agent_headers,
    check_declared_size, check_framing, content_codings, content_type_is, mcp, overrides,
    prepare_upstream_headers, set_forwarding_headers, strip_agent_headers, strip_hop_by_hop, vet,
};
use warden_plane::revocation::Revocations;
use warden_policy::{Effect, TaskBounds};
use zeroize::Zeroizing;

use super::Gateway;
use super::body::{self, BodyMeter, KillWatch, OutcomeRecorder, Transform};
use super::catalog::{Catalog, UpstreamEntry, UpstreamKind};
use super::decide::{self, Ask, Caller, Verdict};
use super::forward;
use super::hold::{self, Approved, Held, HeldRaw};
use super::listener::GatewayPeer;

/// A refusal on its way to the agent.
#[derive(Debug)]
pub struct Refused {
    pub refusal: Box<Refusal>,
    /// `WWW-Authenticate` for 401s (RFC 6750, with the RFC 9728 metadata URL).
    pub challenge: Option<String>,
}

impl From<Refusal> for Refused {
    fn from(refusal: Refusal) -> Self {
        Self {
            refusal: Box::new(refusal),
            challenge: None,
        }
    }
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        let mut response =
            (self.refusal.status(), axum::Json(self.refusal.to_json())).into_response();
        if let Some(challenge) = self.challenge
            && let Ok(value) = HeaderValue::from_str(&challenge)
        {
            response.headers_mut().insert(WWW_AUTHENTICATE, value);
        }
        response
    }
}

fn unavailable(message: &str) -> Refused {
    Refusal::new(RefusalCode::Unavailable, message)
        .with_rule("fail_closed")
        .into()
}

/// What is known of a request as it goes through the pipeline, so that a refusal can be
/// put on the record once a token names an agent, whichever phase refused it.
#[derive(Default)]
struct Trace {
    /// The upstream's name, once it is known to exist (the metrics label).
    upstream: Option<String>,
    /// The claims of a token that verified: from here on, refusals name its agent.
    claims: Option<Arc<AccessClaims>>,
    /// The request line, once the target has been vetted.
    digest: Option<RequestDigest>,
    /// Whether the request's decision (or refusal) is already on the record.
    recorded: bool,
    /// For an MCP POST, the JSON-RPC requests it carried: refusals are answered to them.
    rpc: Option<RpcTrace>,
}

/// The JSON-RPC side of an MCP POST, for answering a refusal as JSON-RPC errors.
#[derive(Default)]
struct RpcTrace {
    /// The ids of the requests in the body, in order (notifications have none).
    ids: Vec<serde_json::Value>,
    batch: bool,
    /// The body was not JSON at all.
    parse_error: bool,
    /// The request spoke the stateless revision (2026-07-28).
    stateless: bool,
}

/// The axum handler for every gateway request.
pub async fn handle(
    State(gateway): State<Arc<Gateway>>,
    ConnectInfo(peer): ConnectInfo<GatewayPeer>,
    request: Request,
) -> Response {
    let started = Instant::now();
    let peer = peer.addr;
    let mut trace = Trace::default();
    let result = gateway.serve(peer, request, started, &mut trace).await;
    let outcome = match &result {
        Ok(_) => "forwarded",
        Err(refused) => refused.refusal.code.as_str(),
    };
    if let (Err(refused), Some(claims)) = (&result, &trace.claims)
        && !trace.recorded
    {
        gateway
            .record_refusal(claims, &trace, &refused.refusal, peer)
            .await;
    }
    let upstream_label = trace.upstream.unwrap_or_else(|| "unknown".to_string());
    metrics::counter!("warden_gateway_requests_total", "upstream" => upstream_label.clone(), "outcome" => outcome)
        .increment(1);
    metrics::histogram!("warden_gateway_request_seconds", "upstream" => upstream_label)
        .record(started.elapsed().as_secs_f64());
    match (result, trace.rpc) {
        (Ok(response), _) => response,
        // Authentication and scope problems stay HTTP (401, 403 with `WWW-Authenticate`):
        // that is where an MCP client looks for them, to get a new token.
        (Err(refused), Some(rpc)) if refused.challenge.is_none() => {
            let (status, body) = mcp::reply::refusal_answer(
                &rpc.ids,
                rpc.batch,
                &refused.refusal,
                rpc.parse_error,
                rpc.stateless,
            );
            (status, axum::Json(body)).into_response()
        }
        (Err(refused), _) => refused.into_response(),
    }
}

fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

/// What the authenticate phase establishes: a vetted target, and a token that verified,
/// is honoured, and is meant for this upstream.
struct Authenticated {
    vetted: VettedPath,
    claims: Arc<AccessClaims>,
    framing: BodyFraming,
    /// The identity state that honoured the token, for the caller it names.
    revocations: Arc<Revocations>,
}

/// One admitted request on its way through the later phases: each reads what the earlier
/// ones established, and the ask phase adds what the request asks.
struct Exchange {
    peer: SocketAddr,
    /// When the request arrived, on the gateway's clock.
    now: Timestamp,
    /// The request line and headers (the headers leave for the upstream when forwarded).
    parts: http::request::Parts,
    vetted: VettedPath,
    framing: BodyFraming,
    claims: Arc<AccessClaims>,
    /// The catalog the request is decided with, held for the whole request.
    catalog: Arc<Catalog>,
    upstream: Arc<UpstreamEntry>,
    caller: Caller,
    /// The agent's `Warden-Reason`.
    reason: Option<String>,
    /// The token's task bounds.
    tasks: Vec<TaskBounds>,
    asks: Vec<Ask>,
    /// The audit record's action when there is no single ask.
    action_label: Option<String>,
    /// The body, once it has been read whole (to be parsed, checked or held).
    buffered: Option<Bytes>,
    /// The MCP envelope, for filtering the answer.
    envelope: Option<mcp::Envelope>,
}

/// The target of a request, vetted; its refusal waits until the token has been looked at
/// (see `authenticate`).
fn vet_target(parts: &http::request::Parts) -> Result<VettedPath, Refused> {
    let target = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    vet(target).map_err(|error| Refused::from(Refusal::from(&error)))
}

/// What the request asks of an upstream, worked out before deciding.
struct Asked {
    asks: Vec<Ask>,
    /// The audit record's action when there is no single ask (an MCP message other than a
    /// tool call, or a batch).
    action_label: Option<String>,
    /// The body, when it had to be read whole to be understood (MCP).
    body: Option<Bytes>,
    /// The MCP envelope, for filtering the answer.
    envelope: Option<mcp::Envelope>,
}

impl Gateway {
    /// `WWW-Authenticate` for a 401 on `upstream`.
    fn challenge(&self, upstream: &str, error: Option<&str>) -> String {
        let metadata = format!(
            "{}/.well-known/oauth-protected-resource/{upstream}",
            self.gateway_url()
        );
        match error {
            None => format!("Bearer realm=\"warden\", resource_metadata=\"{metadata}\""),
            Some(description) => format!(
                "Bearer realm=\"warden\", error=\"invalid_token\", error_description=\"{description}\", resource_metadata=\"{metadata}\""
            ),
        }
    }

    /// A 401 for a token that was presented and refused.
    fn unauthorized(&self, code: RefusalCode, upstream: &str, message: &str) -> Refused {
        Refused {
            refusal: Box::new(Refusal::new(code, message).with_rule("authentication")),
            challenge: Some(self.challenge(upstream, Some(message))),
        }
    }

    /// A 401 for a request without a token: the challenge names no error (RFC 6750 §3.1).
    fn token_required(&self, upstream: &str) -> Refused {
        Refused {
            refusal: Box::new(
                Refusal::new(RefusalCode::InvalidToken, MISSING_TOKEN).with_rule("authentication"),
            ),
            challenge: Some(self.challenge(upstream, None)),
        }
    }

    /// One request through the phases in order; the first refusal answers, and nothing is
    /// forwarded before the decision is on the record.
    async fn serve(
        &self,
        peer: SocketAddr,
        request: Request,
        started: Instant,
        trace: &mut Trace,
    ) -> Result<Response, Refused> {
        // A node that cannot confirm it hears the other nodes could be allowing an agent
        // one of them killed: it refuses everything until it hears again.
        if let Err(stale) = self.deps.freshness.check() {
            metrics::counter!("warden_gateway_stale_refusals_total").increment(1);
            return Err(unavailable(&stale.to_string()));
        }
        let now = self.deps.clock.now();
        let (parts, body) = request.into_parts();
        let vetted = vet_target(&parts);
        let admitted = self.authenticate(&parts, vetted, peer, now, trace).await?;
        let mut exchange = self.resolve(parts, admitted, peer, now, trace)?;
        let body = self.ask(&mut exchange, body, trace).await?;
        let mut verdict = self.decide(&exchange, false);
        metrics::histogram!("warden_gateway_decision_seconds", "upstream" => exchange.upstream.name.clone())
            .record(started.elapsed().as_secs_f64());

        let mut kill = KillWatch::new(
            Arc::clone(&self.deps.credentials),
            Arc::clone(&self.deps.clock),
            Arc::clone(&exchange.claims),
        );
        let (approved, body) = if verdict.effect == Effect::Hold {
            let approved = self
                .hold(&mut exchange, body, &verdict, &mut kill, trace)
                .await?;
            verdict = self.decide(&exchange, true);
            // The body was read whole for the approver; it is forwarded from that copy.
            (Some(approved), Body::empty())
        } else {
            (None, body)
        };
        let outcome = self
            .record(&exchange, verdict, approved.as_ref(), trace)
            .await?;
        let (response, outcome) = self
            .forward(&mut exchange, body, outcome, &mut kill)
            .await?;
        self.relay(exchange, response, kill, outcome).await
    }

    /// Authenticate: signature, type, issuer and times, then revocation and kills, then the
    /// audience. A request without a verifying token names nobody, so its other faults
    /// come first; from a verifying token on, every refusal is on the record.
    async fn authenticate(
        &self,
        parts: &http::request::Parts,
        vetted: Result<VettedPath, Refused>,
        peer: SocketAddr,
        now: Timestamp,
        trace: &mut Trace,
    ) -> Result<Authenticated, Refused> {
        let tokens = &self.deps.credentials.tokens;
        let Some(token) = bearer_token(&parts.headers) else {
            return Err(self.token_required(&vetted?.upstream));
        };
        let claims = match tokens.authenticate(token, None, now) {
            Ok(claims) => claims,
            Err(error) => {
                tracing::debug!(%error, "gateway refused a token");
                metrics::counter!("warden_gateway_tokens_refused_total", "reason" => "invalid")
                    .increment(1);
                return Err(self.unauthorized(
                    RefusalCode::InvalidToken,
                    &vetted?.upstream,
                    "the access token is invalid or expired",
                ));
            }
        };
        trace.claims = Some(Arc::clone(&claims));
        let vetted = vetted?;
        trace.digest = Some(self.digest(&parts.method, &vetted, None));
        let framing =
            check_framing(&parts.headers).map_err(|error| Refused::from(Refusal::from(&error)))?;
        check_declared_size(framing, self.settings.max_body_bytes)
            .map_err(|error| Refused::from(Refusal::from(&error)))?;
        let revocations = tokens.revocations.current();
        if let Err(revoked) = revocations.check_claims(&claims, now) {
            tracing::info!(%revoked, "gateway refused a revoked token");
            metrics::counter!("warden_gateway_tokens_refused_total", "reason" => "revoked")
                .increment(1);
            self.record_refused_token(
                &claims,
                &vetted.upstream,
                "revoked",
                &revoked.to_string(),
                peer,
            )
            .await;
            trace.recorded = true;
            return Err(self.unauthorized(
                RefusalCode::Revoked,
                &vetted.upstream,
                "the access token has been revoked, or its agent is suspended",
            ));
        }
        if claims.aud != tokens.settings.audience_for(&vetted.upstream) {
            metrics::counter!("warden_gateway_tokens_refused_total", "reason" => "wrong_audience")
                .increment(1);
            self.record_refused_token(
                &claims,
                &vetted.upstream,
                "wrong_audience",
                &claims.aud,
                peer,
            )
            .await;
            trace.recorded = true;
            return Err(self.unauthorized(
                RefusalCode::WrongAudience,
                &vetted.upstream,
                "the access token is for another upstream; ask for one with resource set to this upstream",
            ));
        }
        Ok(Authenticated {
            vetted,
            claims,
            framing,
            revocations,
        })
    }

    /// Resolve: the upstream from the catalog, the caller from the identity state that
    /// honoured the token, the agent's reason; and the headers and query checked, as what
    /// reaches the upstream must be what is decided (no method or path overrides, no
    /// header an upstream could read as another).
    fn resolve(
        &self,
        parts: http::request::Parts,
        admitted: Authenticated,
        peer: SocketAddr,
        now: Timestamp,
        trace: &mut Trace,
    ) -> Result<Exchange, Refused> {
        let Authenticated {
            vetted,
            claims,
            framing,
            revocations,
        } = admitted;
        let catalog = self.deps.catalog.current().map_err(|_| {
            unavailable("the gateway cannot load its policies; nothing is forwarded")
        })?;
        let Some(upstream) = catalog.upstreams.get(&vetted.upstream).cloned() else {
            return Err(
                Refusal::new(RefusalCode::UnknownUpstream, "no upstream has this name")
                    .with_rule("upstream")
                    .into(),
            );
        };
        trace.upstream = Some(upstream.name.clone());
        if upstream.kind == UpstreamKind::Mcp {
            // DNS-rebinding protection: a browser's foreign Origin never reaches the server.
            warden_gateway::check_origin(
                &parts.headers,
                &upstream.allowed_origins,
                self.gateway_url(),
            )
            .map_err(Refused::from)?;
        }
        let caller = self.caller(&revocations, &claims, &vetted.upstream)?;
        drop(revocations);
        let reason = warden_gateway::reason(&parts.headers).map_err(Refused::from)?;
        check_agent_headers(&parts.headers)
            .map_err(|error| Refused::from(Refusal::from(&error)))?;
        if let Some(query) = &vetted.query {
            overrides::check_query(query).map_err(|error| Refused::from(Refusal::from(&error)))?;
        }
        let tasks = decide::task_bounds(&claims);
        Ok(Exchange {
            peer,
            now,
            parts,
            vetted,
            framing,
            claims,
            catalog,
            upstream,
            caller,
            reason,
            tasks,
            asks: Vec::new(),
            action_label: None,
            buffered: None,
            envelope: None,
        })
    }

    /// Ask: what the request asks of the upstream, with the labels of what it touches.
    /// Returns the body still to be forwarded (empty when it was read whole).
    async fn ask(
        &self,
        exchange: &mut Exchange,
        body: Body,
        trace: &mut Trace,
    ) -> Result<Body, Refused> {
        let (asked, body) = self.asked(exchange, body, trace).await?;
        let Asked {
            mut asks,
            action_label,
            body: buffered,
            envelope,
        } = asked;
        label_asks(&exchange.upstream, &mut asks);
        exchange.asks = asks;
        exchange.action_label = action_label;
        exchange.buffered = buffered;
        exchange.envelope = envelope;
        Ok(body)
    }

    /// Decide: task bounds, then Cedar, for every ask; `approved` once a human approved.
    fn decide(&self, exchange: &Exchange, approved: bool) -> Verdict {
        decide::decide(
            &exchange.catalog.engine,
            &exchange.upstream.name,
            &exchange.caller,
            &exchange.tasks,
            &exchange.asks,
            exchange.reason.as_deref(),
            approved,
            decide::History {
                window: &self.deps.task_window,
                now_ms: self.deps.clock.now().as_millis(),
            },
        )
    }

    /// Hold: a human approves this exact request, body included, so it is read whole and
    /// bound to the approval; the request goes on only with an approval to spend.
    async fn hold(
        &self,
        exchange: &mut Exchange,
        body: Body,
        verdict: &Verdict,
        kill: &mut KillWatch,
        trace: &mut Trace,
    ) -> Result<Approved, Refused> {
        let bytes = match exchange.buffered.take() {
            Some(bytes) => bytes,
            None => self.read_whole(body).await?,
        };
        exchange.buffered = Some(bytes.clone());
        let exchange = &*exchange;
        let content_type = hold::content_type(&exchange.parts.headers);
        let binding = ApprovalBinding {
            agent_id: exchange.caller.agent_id.clone(),
            upstream: exchange.upstream.name.clone(),
            method: exchange.parts.method.to_string(),
            // `/NAME` and `/NAME/` are one place to an approver.
            path: if exchange.vetted.forward_path.is_empty() {
                "/".to_string()
            } else {
                exchange.vetted.forward_path.clone()
            },
            body_digest: self.binding_digest(
                exchange.vetted.query.as_deref(),
                content_type.as_deref(),
                &bytes,
            ),
            task_id: verdict.task_id.clone(),
        };
        let hold_event = self.decision_record(exchange, verdict, Some(&bytes));
        let held = Held {
            caller: &exchange.caller,
            upstream: &exchange.upstream.name,
            binding,
            verdict,
            asks: &exchange.asks,
            reason: exchange.reason.as_deref(),
            token_jti: &exchange.claims.jti,
            hold_event,
            request: HeldRaw {
                query: exchange.vetted.query.as_deref(),
                content_type,
                body: &bytes,
                // Authentication found it, so it is there.
                agent_token: bearer_token(&exchange.parts.headers).unwrap_or_default(),
                upstream_secret: exchange.upstream.sealed_secret.as_ref(),
                upstream_id: exchange.upstream.id.to_string(),
            },
        };
        let carried_approval = exchange
            .parts
            .headers
            .contains_key(super::hold::APPROVAL_HEADER);
        self.resolve_hold(held, &exchange.parts.headers, kill, exchange.now)
            .await
            .inspect_err(|refused| {
                // Without an approval to spend, the hold asked for one and recorded the
                // hold (or, past the cap, its refusal): the answer is that record.
                trace.recorded = !carried_approval
                    && matches!(
                        refused.refusal.code,
                        RefusalCode::ApprovalRequired | RefusalCode::TooManyPendingApprovals
                    );
            })
    }

    /// Record: the decision, durable before anything is forwarded; an allowed step of a
    /// task joins the task window. A denial answers here, on the record. Returns the
    /// outcome record to be, which names the decision's sequence.
    async fn record(
        &self,
        exchange: &Exchange,
        verdict: Verdict,
        approved: Option<&Approved>,
        trace: &mut Trace,
    ) -> Result<NewEvent, Refused> {
        let mut event = self.decision_record(exchange, &verdict, exchange.buffered.as_deref());
        if let Some(approved) = approved {
            event = event.approval(approved.approval_id.clone());
            if let Some(approver) = &approved.approved_by {
                event = event.approved_by(approver.clone());
            }
        }
        let decided = self
            .deps
            .store
            .record(event.clone(), self.deps.clock.now())
            .await
            .map_err(|error| {
                tracing::error!(%error, "cannot record a gateway decision; refusing");
                unavailable("the decision cannot be recorded, so the request is refused")
            })?;
        // The decision is on the record; whatever happens next is in its outcome record.
        trace.recorded = true;
        if verdict.effect == Effect::Allow
            && let Some(task) = &verdict.task_id
        {
            let steps: Vec<_> = exchange.asks.iter().map(Ask::task_step).collect();
            self.deps.task_window.record(
                &exchange.caller.agent_id,
                task,
                decided.time.as_millis(),
                self.deps.clock.now().as_millis(),
                &steps,
            );
        }
        let decided_as = decided
            .decision
            .map_or("none", warden_audit::Decision::as_str);
        metrics::counter!("warden_gateway_decisions_total", "upstream" => exchange.upstream.name.clone(), "decision" => decided_as)
            .increment(1);
        if let Some(refusal) = verdict.refusal {
            if refusal.code == RefusalCode::InsufficientScope {
                let challenge = self.scope_challenge(
                    &exchange.upstream.name,
                    refusal
                        .required_scopes
                        .as_deref()
                        .map_or(&[][..], Vec::as_slice),
                );
                return Err(Refused {
                    refusal: Box::new(refusal),
                    challenge: Some(challenge),
                });
            }
            return Err(refusal.into());
        }
        let mut outcome = event;
        outcome.kind = EventKind::GatewayOutcome;
        Ok(outcome.detail("decision_sequence", decided.sequence.to_string()))
    }

    /// Forward: the agent's credentials out, the upstream's secret in, the request sent
    /// with its body streamed (and metered) unless it was read whole. A kill while the
    /// upstream has not answered ends the request.
    async fn forward(
        &self,
        exchange: &mut Exchange,
        body: Body,
        outcome_event: NewEvent,
        kill: &mut KillWatch,
    ) -> Result<(http::Response<hyper::body::Incoming>, OutcomeRecorder), Refused> {
        let upstream = Arc::clone(&exchange.upstream);
        let mut headers = std::mem::take(&mut exchange.parts.headers);
        self.inject(&upstream, &mut headers)?;
        set_forwarding_headers(
            &mut headers,
            exchange.peer.ip(),
            &self.forwarded_host,
            &self.forwarded_proto,
        );
        if upstream.kind == UpstreamKind::Mcp {
            // The gateway reads and filters MCP answers, so it takes them uncompressed.
            headers.insert(
                http::header::ACCEPT_ENCODING,
                HeaderValue::from_static("identity"),
            );
        }
        let buffered = exchange.buffered.as_ref();
        if buffered.is_none() && exchange.framing == BodyFraming::Chunked {
            // Transfer-Encoding is hop-by-hop, so it was removed; say again that a body
            // follows (the client would otherwise send none for a GET).
            headers.insert(
                http::header::TRANSFER_ENCODING,
                HeaderValue::from_static("chunked"),
            );
        }
        let meter = buffered.is_none().then(|| {
            Arc::new(Mutex::new(BodyMeter::new(
                &self.digest_key,
                self.settings.max_body_bytes,
            )))
        });
        let outgoing = match (buffered, &meter) {
            (Some(bytes), _) => Body::from(bytes.clone()),
            (None, Some(meter)) => body::metered_request(body, Arc::clone(meter)),
            (None, None) => Body::empty(),
        };
        let uri = forward::upstream_uri(&upstream.base, &exchange.vetted).map_err(|_| {
            Refused::from(
                Refusal::new(RefusalCode::BadRequest, "the path cannot be forwarded")
                    .with_rule("path"),
            )
        })?;
        let upstream_request =
            forward::upstream_request(exchange.parts.method.clone(), uri, headers, outgoing)
                .map_err(|_| {
                    Refused::from(
                        Refusal::new(RefusalCode::BadRequest, "the request cannot be forwarded")
                            .with_rule("framing"),
                    )
                })?;

        let forwarded_at = Instant::now();
        let mut outcome = OutcomeRecorder::new(
            Arc::clone(&self.deps.store),
            Arc::clone(&self.deps.clock),
            outcome_event,
            forwarded_at,
            meter.clone(),
        );
        let sent = tokio::select! {
            biased;
            () = kill.revoked() => {
                outcome.fail("killed");
                outcome.status(RefusalCode::Revoked.status().as_u16());
                return Err(self.unauthorized(RefusalCode::Revoked, &upstream.name, "the agent's access was revoked while the request was in flight"));
            }
            sent = tokio::time::timeout(self.settings.upstream_timeout, self.client.request(upstream_request)) => sent,
        };
        metrics::histogram!("warden_gateway_upstream_seconds", "upstream" => upstream.name.clone())
            .record(forwarded_at.elapsed().as_secs_f64());
        match sent {
            Ok(Ok(response)) => Ok((response, outcome)),
            Ok(Err(error)) => {
                if meter.as_ref().is_some_and(|meter| match meter.lock() {
                    Ok(meter) => meter.exceeded(),
                    Err(poisoned) => poisoned.into_inner().exceeded(),
                }) {
                    outcome.fail("body_too_large");
                    outcome.status(413);
                    return Err(Refusal::new(
                        RefusalCode::BodyTooLarge,
                        format!(
                            "the request body is larger than {} bytes",
                            self.settings.max_body_bytes
                        ),
                    )
                    .with_rule("framing")
                    .into());
                }
                tracing::warn!(upstream = %upstream.name, error = %error, "the upstream could not be reached");
                outcome.fail("upstream_unavailable");
                outcome.status(502);
                Err(Refusal::new(
                    RefusalCode::UpstreamUnavailable,
                    "the upstream could not be reached",
                )
                .with_rule("upstream")
                .into())
            }
            Err(_) => {
                outcome.fail("upstream_timeout");
                outcome.status(502);
                Err(Refusal::new(
                    RefusalCode::UpstreamUnavailable,
                    format!(
                        "the upstream did not answer within {} s",
                        self.settings.upstream_timeout.as_secs()
                    ),
                )
                .with_rule("upstream")
                .into())
            }
        }
    }

    /// Relay: the upstream's answer back, its address and software hidden; an MCP answer
    /// filtered to what the caller may see; the outcome recorded when the body ends (or
    /// the agent is killed, or the server stops, while it streams).
    async fn relay(
        &self,
        exchange: Exchange,
        response: http::Response<hyper::body::Incoming>,
        kill: KillWatch,
        mut outcome: OutcomeRecorder,
    ) -> Result<Response, Refused> {
        let upstream = &exchange.upstream;
        let (mut response_parts, response_body) = response.into_parts();
        strip_hop_by_hop(&mut response_parts.headers);
        // The upstream's address and software stay behind the gateway.
        warden_gateway::rewrite_answer_headers(
            &mut response_parts.headers,
            &warden_gateway::UpstreamAddress {
                scheme: upstream.base.scheme.as_str(),
                authority: upstream.base.authority.as_str(),
                path_prefix: &upstream.base.path_prefix,
            },
            warden_gateway::PublicBase {
                gateway_url: self.gateway_url(),
                name: &upstream.name,
            },
        );
        outcome.status(response_parts.status.as_u16());
        if upstream.kind == UpstreamKind::Mcp
            && let Some(coding) = content_codings(&response_parts.headers)
        {
            // An answer the gateway must filter but cannot read is never passed on.
            tracing::warn!(upstream = %upstream.name, coding = ?coding, "an MCP answer arrived encoded; refusing it");
            outcome.fail("encoded_answer");
            outcome.status(502);
            return Err(Refusal::new(
                RefusalCode::UpstreamUnavailable,
                "the MCP server's answer is compressed, so the gateway cannot check it; nothing was passed on",
            )
            .with_rule("mcp_answer")
            .into());
        }
        let transform = match upstream.kind {
            UpstreamKind::Http => Transform::None,
            UpstreamKind::Mcp => {
                let allow: body::AnswerFilter = Box::new(self.listing(
                    &exchange.catalog.engine,
                    &upstream.name,
                    &exchange.caller,
                    exchange.envelope.as_ref(),
                ));
                if content_type_is(&response_parts.headers, "text/event-stream") {
                    response_parts.headers.remove(CONTENT_LENGTH);
                    Transform::Sse(warden_gateway::SseFilter::new(allow))
                } else {
                    // Every other answer is read whole and filtered whatever its declared
                    // type, so a mislabelled `tools/list` result cannot slip past.
                    let filtered = self
                        .filter_json_answer(response_body, &allow, &mut outcome)
                        .await?;
                    response_parts.headers.remove(CONTENT_LENGTH);
                    outcome.add_bytes(filtered.len());
                    outcome.complete();
                    return Ok(Response::from_parts(response_parts, Body::from(filtered)));
                }
            }
        };
        Ok(Response::from_parts(
            response_parts,
            body::relay(
                response_body,
                kill,
                self.stopping.clone(),
                transform,
                outcome,
            ),
        ))
    }

    /// Records the refusal of a token that verified but may not be used here: a revoked
    /// or killed agent still trying, or a token for another upstream.
    async fn record_refused_token(
        &self,
        claims: &AccessClaims,
        upstream: &str,
        rule: &'static str,
        detail: &str,
        peer: SocketAddr,
    ) {
        let event = self
            .refusal_event(claims, Some(upstream), peer)
            .detail("rule", rule)
            .detail(rule, detail);
        if let Err(error) = self.deps.store.record(event, self.deps.clock.now()).await {
            tracing::error!(%error, "cannot record a refused token");
        }
    }

    /// Records the refusal of a request on a connection the framing check no longer trusts,
    /// when its token verifies (a request without one names nobody).
    pub(super) async fn record_untrusted(&self, request: Request, refusal: &Refusal) {
        // Worked out before any await: a request is not shared across tasks.
        let named = {
            let now = self.deps.clock.now();
            let peer = request
                .extensions()
                .get::<ConnectInfo<GatewayPeer>>()
                .map(|ConnectInfo(peer)| peer.addr);
            let claims = bearer_token(request.headers()).and_then(|token| {
                self.deps
                    .credentials
                    .tokens
                    .authenticate(token, None, now)
                    .ok()
            });
            let target = request.uri().path_and_query().map_or("/", |pq| pq.as_str());
            let digest = vet(target)
                .ok()
                .map(|vetted| self.digest(request.method(), &vetted, None));
            peer.zip(claims)
                .map(|(peer, claims)| (peer, claims, digest))
        };
        drop(request);
        let Some((peer, claims, digest)) = named else {
            return;
        };
        let trace = Trace {
            digest,
            ..Trace::default()
        };
        self.record_refusal(&claims, &trace, refusal, peer).await;
    }

    /// Records a refusal that no decision record covers (a bad request, an unknown route, a
    /// refused MCP method, …) once the token has named its agent, so that every refusal is
    /// on the record, not only those a policy made.
    async fn record_refusal(
        &self,
        claims: &AccessClaims,
        trace: &Trace,
        refusal: &Refusal,
        peer: SocketAddr,
    ) {
        let mut event = self
            .refusal_event(claims, trace.upstream.as_deref(), peer)
            .detail("rule", refusal.rule.unwrap_or("refused"))
            .detail("refusal", refusal.code.as_str());
        if let Some(digest) = &trace.digest {
            event = event.request(digest.clone());
        }
        if let Err(error) = self.deps.store.record(event, self.deps.clock.now()).await {
            tracing::error!(%error, "cannot record a gateway refusal");
        }
    }

    /// A denial naming the agent behind `claims`, before any policy was asked.
    fn refusal_event(
        &self,
        claims: &AccessClaims,
        upstream: Option<&str>,
        peer: SocketAddr,
    ) -> NewEvent {
        let revocations = self.deps.credentials.tokens.revocations.current();
        let agent = revocations.identity(&claims.client_id);
        let name = agent.map_or_else(|| claims.client_id.clone(), |agent| agent.name.clone());
        let mut event = NewEvent::new(
            EventKind::GatewayDecision,
            Actor::agent(claims.client_id.clone(), name),
        )
        .token(claims.jti.clone())
        .decision(warden_audit::Decision::Deny, Vec::<String>::new())
        .source(peer.ip());
        if let Some(owner) = agent.map(|agent| agent.owner_email.clone()) {
            event = event.owner(owner);
        }
        if let Some(upstream) = upstream {
            event = event.upstream(upstream);
        }
        if claims.sub != claims.client_id {
            event = event.on_behalf_of(claims.sub.clone());
        }
        if let Some(credential) = &claims.cred {
            event = event.credential(credential.clone());
        }
        event
    }

    /// The agent behind `claims`, from the same view of the identity state that honoured it.
    fn caller(
        &self,
        revocations: &Revocations,
        claims: &AccessClaims,
        upstream: &str,
    ) -> Result<Caller, Refused> {
        let Some(agent) = revocations.identity(&claims.client_id) else {
            return Err(self.unauthorized(
                RefusalCode::Revoked,
                upstream,
                "the token's agent is unknown",
            ));
        };
        let Some(kind) = warden_policy::PrincipalKind::from_identity_kind(&agent.kind) else {
            return Err(self.unauthorized(
                RefusalCode::Revoked,
                upstream,
                "the token's identity is of a kind no policy can name",
            ));
        };
        Ok(Caller {
            agent_id: agent.id.clone(),
            kind,
            agent_name: agent.name.clone(),
            owner_email: agent.owner_email.clone(),
            environment: agent.environment.clone(),
            on_behalf_of: (claims.sub != claims.client_id).then(|| claims.sub.clone()),
            scopes: claims.scopes().map(str::to_string).collect(),
        })
    }

    /// Works out what the request asks: the matching route of an HTTP upstream, or the
    /// tool calls in an MCP request (whose body is read whole, within its limit, to be
    /// parsed, and whose `Mcp-Method`/`Mcp-Name` headers must agree with it).
    async fn asked(
        &self,
        exchange: &Exchange,
        body: Body,
        trace: &mut Trace,
    ) -> Result<(Asked, Body), Refused> {
        let upstream = &exchange.upstream;
        let method = &exchange.parts.method;
        let headers = &exchange.parts.headers;
        let framing = exchange.framing;
        match upstream.kind {
            UpstreamKind::Http => {
                let Some(ask) = Ask::route(&upstream.routes, method.as_str(), &exchange.vetted.route_path) else {
                    return Err(Refusal::new(
                        RefusalCode::UnknownRoute,
                        "no route of this upstream matches the method and path",
                    )
                    .with_rule("route")
                    .into());
                };
                // A form body can carry `_method`, which frameworks obey; it is read whole
                // (within the body limit) to be checked.
                let form = overrides::form_body(header_text(headers, CONTENT_TYPE.as_str()));
                let (buffered, body) = match form {
                    Some(kind) => {
                        let bytes = self.read_whole(body).await?;
                        overrides::check_form_body(kind, &bytes)
                            .map_err(|error| Refused::from(Refusal::from(&error)))?;
                        (Some(bytes), Body::empty())
                    }
                    None => (None, body),
                };
                Ok((
                    Asked {
                        asks: vec![ask],
                        action_label: None,
                        body: buffered,
                        envelope: None,
                    },
                    body,
                ))
            }
            // Only three methods exist on an MCP endpoint; anything else is refused before
            // the upstream sees it (methods are compared exactly, so `post` is not POST).
            UpstreamKind::Mcp
                if method != Method::POST && method != Method::GET && method != Method::DELETE =>
            {
                Err(Refusal::new(
                    RefusalCode::MethodNotAllowed,
                    format!(
                        "an MCP upstream takes POST (JSON-RPC), GET (its event stream) and DELETE (ending a session), not {method}"
                    ),
                )
                .with_rule("mcp_method")
                .into())
            }
            UpstreamKind::Mcp if method != Method::POST && !matches!(framing, BodyFraming::None | BodyFraming::Length(0)) => {
                Err(Refusal::new(
                    RefusalCode::BadRequest,
                    format!("an MCP {method} carries no body; send JSON-RPC messages with POST"),
                )
                .with_rule("mcp_method")
                .into())
            }
            UpstreamKind::Mcp if method == Method::POST => {
                let limit = usize::try_from(self.settings.mcp_max_body_bytes).unwrap_or(usize::MAX);
                let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
                    Refused::from(
                        Refusal::new(
                            RefusalCode::BodyTooLarge,
                            format!("an MCP request body is limited to {limit} bytes"),
                        )
                        .with_rule("framing"),
                    )
                })?;
                let rpc = trace.rpc.insert(RpcTrace::default());
                let version_header = header_text(headers, mcp::revision::PROTOCOL_VERSION_HEADER);
                rpc.stateless = version_header
                    .is_some_and(|v| mcp::Revision::of_version(v) == mcp::Revision::Stateless);
                let envelope = match mcp::parse_request(&bytes) {
                    Ok(envelope) => envelope,
                    Err(error) => {
                        rpc.parse_error = matches!(error, warden_gateway::McpError::Json(_));
                        (rpc.ids, rpc.batch) = mcp::envelope::request_ids(&bytes);
                        return Err(Refused::from(removed_or(&error, rpc.stateless)));
                    }
                };
                rpc.batch = envelope.batch;
                rpc.ids = envelope
                    .messages
                    .iter()
                    .filter(|message| message.is_request())
                    .filter_map(|message| message.id.clone())
                    .collect();
                let mcp_method = header_text(headers, "mcp-method");
                let mcp_name = header_text(headers, "mcp-name");
                let revision = mcp::Revision::of_request(version_header, &envelope)
                    .and_then(|revision| {
                        rpc.stateless |= revision == mcp::Revision::Stateless;
                        revision.check(&envelope, mcp_method, mcp_name)?;
                        Ok(revision)
                    })
                    .map_err(|error| Refused::from(Refusal::from(&error)))?;
                mcp::check_headers(&envelope, mcp_method, mcp_name)
                    .map_err(|error| Refused::from(Refusal::from(&error)))?;
                let asks = super::mcp::asks_of(
                    &envelope,
                    revision,
                    &upstream.name,
                    &exchange.caller.agent_id,
                    &self.tasks,
                    &self.deps.tool_pins,
                )
                .map_err(Refused::from)?;
                let action_label =
                    (asks.len() != 1).then(|| super::mcp::methods_label(&envelope));
                Ok((
                    Asked {
                        asks,
                        action_label,
                        body: Some(bytes),
                        envelope: Some(envelope),
                    },
                    Body::empty(),
                ))
            }
            UpstreamKind::Mcp => {
                let label = if method == Method::GET {
                    "stream"
                } else {
                    "session_end"
                };
                Ok((
                    Asked {
                        asks: Vec::new(),
                        action_label: Some(label.to_string()),
                        body: None,
                        envelope: None,
                    },
                    Body::empty(),
                ))
            }
        }
    }

    /// The decision record for this request, with its digest, source and reason.
    fn decision_record(
        &self,
        exchange: &Exchange,
        verdict: &Verdict,
        body: Option<&[u8]>,
    ) -> NewEvent {
        let mut event = decision_event(
            &exchange.claims,
            &exchange.caller,
            &exchange.upstream.name,
            verdict,
            &exchange.asks,
            exchange.action_label.clone(),
        )
        .request(self.digest(&exchange.parts.method, &exchange.vetted, body))
        .source(exchange.peer.ip());
        if let Some(reason) = exchange.reason.as_deref() {
            event = event.reason(reason);
        }
        event
    }

    /// What binds an approval to the query, content type and body: a keyed hash over
    /// them, each prefixed by its length (and the content type by whether there is one)
    /// so that no two requests share it.
    fn binding_digest(
        &self,
        query: Option<&str>,
        content_type: Option<&str>,
        body: &[u8],
    ) -> String {
        let query = query.unwrap_or_default().as_bytes();
        let mut hasher = self.digest_key.hasher();
        hasher.update(&(query.len() as u64).to_be_bytes());
        hasher.update(query);
        hasher.update(&[u8::from(content_type.is_some())]);
        let content_type = content_type.unwrap_or_default().as_bytes();
        hasher.update(&(content_type.len() as u64).to_be_bytes());
        hasher.update(content_type);
        hasher.update(&(body.len() as u64).to_be_bytes());
        hasher.update(body);
        hasher.finish().to_string()
    }

    /// Reads a request body whole, within the body limit.
    async fn read_whole(&self, body: Body) -> Result<Bytes, Refused> {
        let limit = usize::try_from(self.settings.max_body_bytes).unwrap_or(usize::MAX);
        axum::body::to_bytes(body, limit).await.map_err(|_| {
            Refused::from(
                Refusal::new(
                    RefusalCode::BodyTooLarge,
                    format!("the request body is larger than {limit} bytes"),
                )
                .with_rule("framing"),
            )
        })
    }

    /// The request digest of the decision record: method, path without its query, and
    /// keyed hashes of the query and of the body when it has been read.
    fn digest(
        &self,
        method: &Method,
        vetted: &warden_gateway::VettedPath,
        body: Option<&[u8]>,
    ) -> RequestDigest {
        RequestDigest {
            method: method.as_str().to_string(),
            path: format!("/{}{}", vetted.upstream, vetted.forward_path),
            query_hmac: vetted
                .query
                .as_ref()
                .map(|query| self.digest_key.hash(query.as_bytes())),
            body_hmac: body
                .filter(|body| !body.is_empty())
                .map(|body| self.digest_key.hash(body)),
            body_bytes: body.map(|body| body.len() as u64).filter(|len| *len > 0),
        }
    }

    /// Replaces the agent's credentials with the upstream's secret, opened for this
    /// request only.
    fn inject(&self, upstream: &UpstreamEntry, headers: &mut HeaderMap) -> Result<(), Refused> {
        let Some(sealed) = &upstream.sealed_secret else {
            strip_agent_headers(headers);
            return Ok(());
        };
        let secret_error = || {
            unavailable("the upstream's secret cannot be used; an administrator must set it again")
        };
        let version = u64::try_from(sealed.version).map_err(|_| secret_error())?;
        let associated = warden_crypto::seal::associated_data(&upstream.id.to_string(), version);
        let opened = warden_crypto::seal::open(&self.deps.data_key, &sealed.bytes, &associated)
            .map_err(|error| {
                tracing::error!(upstream = %upstream.name, %error, "cannot open an upstream secret");
                secret_error()
            })?;
        let text = std::str::from_utf8(&opened).map_err(|_| secret_error())?;
        let (injection, value) = upstream.injection.plan(text).ok_or_else(secret_error)?;
        let value = Zeroizing::new(value);
        prepare_upstream_headers(headers, &injection, &value).map_err(|error| {
            tracing::error!(upstream = %upstream.name, %error, "cannot inject an upstream secret");
            secret_error()
        })
    }

    /// What of an MCP answer `caller` may see.
    fn listing(
        &self,
        engine: &Arc<warden_policy::PolicyEngine>,
        upstream: &str,
        caller: &Caller,
        envelope: Option<&mcp::Envelope>,
    ) -> super::mcp::Listing {
        let pins = Arc::clone(&self.deps.tool_pins);
        let pinned_upstream = upstream.to_owned();
        super::mcp::Listing::new(
            Arc::clone(engine),
            upstream,
            caller,
            Arc::clone(&self.tasks),
            envelope,
            Box::new(move |tool, definition| {
                !pins.listed(
                    &pinned_upstream,
                    tool,
                    &warden_gateway::mcp::pin::tool_digest(definition),
                )
            }),
        )
    }

    /// `WWW-Authenticate` for a token that lacks scopes (RFC 6750 §3.1), naming them.
    fn scope_challenge(&self, upstream: &str, scopes: &[String]) -> String {
        let metadata = format!(
            "{}/.well-known/oauth-protected-resource/{upstream}",
            self.gateway_url()
        );
        format!(
            "Bearer realm=\"warden\", error=\"insufficient_scope\", scope=\"{}\", error_description=\"the token lacks a scope a policy needs\", resource_metadata=\"{metadata}\"",
            scopes.join(" ")
        )
    }

    /// Reads an MCP answer that is not an event stream whole (within the body limit) and
    /// filters every `tools/list` result in it.
    async fn filter_json_answer(
        &self,
        body: hyper::body::Incoming,
        allow: &body::AnswerFilter,
        outcome: &mut OutcomeRecorder,
    ) -> Result<Vec<u8>, Refused> {
        use http_body_util::BodyExt as _;
        let limit = usize::try_from(self.settings.max_body_bytes).unwrap_or(usize::MAX);
        let collected = http_body_util::Limited::new(body, limit)
            .collect()
            .await
            .map_err(|_| {
                outcome.fail("upstream_reset");
                Refused::from(
                    Refusal::new(
                        RefusalCode::UpstreamUnavailable,
                        "the upstream's answer could not be read",
                    )
                    .with_rule("upstream"),
                )
            })?;
        let bytes = collected.to_bytes();
        match mcp::filter_answer_json(&bytes, allow) {
            Ok(filtered) => Ok(filtered),
            // An answer that is not JSON (an empty 202, a plain-text error) carries no list
            // any MCP client would read, so it passes as it is.
            Err(warden_gateway::McpError::Json(_)) => Ok(bytes.to_vec()),
            // JSON the gateway cannot read as the client would (a key twice) is never
            // passed on: the client could read the half the filter did not.
            Err(error) => {
                tracing::warn!(%error, "an MCP answer cannot be filtered; refusing it");
                outcome.fail("ambiguous_answer");
                outcome.status(502);
                Err(Refused::from(
                    Refusal::new(
                        RefusalCode::UpstreamUnavailable,
                        "the MCP server's answer repeats a key, so the gateway cannot check it; nothing was passed on",
                    )
                    .with_rule("mcp_answer"),
                ))
            }
        }
    }
}

/// The refusal of an MCP body that did not parse. A stateless request for a method its
/// revision removed is "method not found" whatever its parameters, as a server of that
/// revision would answer; anything else is the parse error itself.
fn removed_or(error: &warden_gateway::McpError, stateless: bool) -> Refusal {
    use warden_gateway::McpError;
    match error {
        McpError::MissingParam { method, .. } | McpError::BadParam { method, .. }
            if stateless && mcp::Revision::Stateless.removed(method) =>
        {
            Refusal::new(
                RefusalCode::UnknownMethod,
                format!("MCP method {method:?} does not exist in protocol revision 2026-07-28"),
            )
            .with_rule("mcp_method")
        }
        other => Refusal::from(other),
    }
}

/// Adds the upstream's labels, and a called tool's own, to each ask's labels.
fn label_asks(upstream: &UpstreamEntry, asks: &mut [Ask]) {
    for ask in asks {
        ask.labels.extend(upstream.labels.iter().cloned());
        if ask.action == warden_policy::mcp::CALL_TOOL
            && let Some(tool) = ask
                .resource_id
                .strip_prefix(upstream.name.as_str())
                .and_then(|rest| rest.strip_prefix('/'))
            && let Some(labels) = upstream.tool_labels.get(tool)
        {
            ask.labels.extend(labels.iter().cloned());
        }
        ask.labels.sort();
        ask.labels.dedup();
    }
}

const MISSING_TOKEN: &str = "a bearer token is required; get one at the token endpoint";

/// The decision record: who, for whom, which task, what, which policies, what verdict.
fn decision_event(
    claims: &AccessClaims,
    caller: &Caller,
    upstream: &str,
    verdict: &Verdict,
    asks: &[Ask],
    action_label: Option<String>,
) -> NewEvent {
    let decision = match verdict.effect {
        Effect::Allow => warden_audit::Decision::Allow,
        Effect::Deny => warden_audit::Decision::Deny,
        Effect::Hold => warden_audit::Decision::Hold,
    };
    let mut event = NewEvent::new(
        EventKind::GatewayDecision,
        Actor::agent(caller.agent_id.clone(), caller.agent_name.clone()),
    )
    .owner(caller.owner_email.clone())
    .token(claims.jti.clone())
    .upstream(upstream)
    .decision(decision, verdict.policy_ids.iter().cloned())
    .detail("rule", verdict.rule);
    if let Some(credential) = &claims.cred {
        event = event.credential(credential.clone());
    }
    if let Some(user) = &caller.on_behalf_of {
        event = event.on_behalf_of(user.clone());
    }
    if let Some(task) = &verdict.task_id {
        event = event.task(task.clone());
        if verdict.effect == Effect::Allow && !asks.is_empty() {
            // What the task window of every node learns from this record (see
            // `crate::task_window_sync`): on the hashed record, so it cannot be edited.
            let steps: Vec<_> = asks.iter().map(Ask::task_step).collect();
            if let Ok(text) = serde_json::to_string(&steps) {
                event = event.detail(crate::task_window_sync::STEPS_DETAIL, text);
            }
        }
    }
    match (asks, action_label) {
        ([one], None) => {
            event = event
                .action(one.action.clone())
                .resource(one.resource_text());
        }
        (many, label) => {
            if let Some(label) = label {
                event = event.action(label);
            }
            if !many.is_empty() {
                let resources: Vec<String> = many.iter().map(Ask::resource_text).collect();
                event = event.resource(resources.join(", "));
            }
        }
    }
    event
}

#[cfg(test)]
mod tests;
