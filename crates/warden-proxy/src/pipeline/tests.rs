//! Each phase of the pipeline on its own, over a real SQLite store, a real credential
//! plane and a catalog loaded from them: what it establishes, what it refuses, and what it
//! puts on the record.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use http::{HeaderValue, Method};
use warden_audit::{Actor, Decision};
use warden_core::{
    Clock, Environment, IdentityKind, InjectAuth, Labels, ManualClock, NewIdentity, NewOwner,
    NewUpstream, OwnerRef, Source, Timestamp, UpstreamId, UpstreamKind as StoredKind,
};
use warden_crypto::{AccessClaims, DataKey, Pepper};
use warden_plane::{CredentialConfig, CredentialPlane, PlaneSettings};
use warden_store::{AuditFilter, AuditQuery, AuditSettings, SqlStore, Store};

use super::*;
use crate::{CatalogState, Dependencies, GatewaySettings, REASON_HEADER};

const ISSUER: &str = "http://warden.test";
const GATEWAY: &str = "http://gateway.test";
const ROUTES: &str = r#"
[[route]]
method = "GET"
path = "/tickets/{id}"
action = "tickets.read"
resource = "Ticket::{id}"

[[route]]
method = "DELETE"
path = "/tickets/{id}"
action = "tickets.delete"
resource = "Ticket::{id}"
"#;
const POLICY: &str =
    r#"permit(principal == Agent::"bot", action == Action::"tickets.read", resource);"#;

struct Fixture {
    gateway: Gateway,
    store: Arc<dyn Store>,
    agent_id: String,
    /// Held so that the gateway does not take itself to be stopping.
    _stop: tokio::sync::watch::Sender<bool>,
    _dir: tempfile::TempDir,
}

fn peer() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, 40_000))
}

/// A gateway over a fresh store holding one agent, one HTTP upstream `tickets` at
/// `upstream_url`, and a policy that lets the agent read tickets (and nothing else).
async fn fixture(upstream_url: &str) -> Fixture {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let settings = AuditSettings {
        node: "test".into(),
        signer: None,
        checkpoints: warden_audit::CheckpointPolicy::default(),
    };
    let store = SqlStore::open_sqlite(&dir.path().join("warden.db"), settings)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let clock = ManualClock::new(Timestamp::from_millis(1_800_000_000_000));
    let now = clock.now();
    let admin = Actor::admin("admin", "admin");
    let owner = NewOwner::new("ana@example.com", "Ana").unwrap_or_else(|e| panic!("{e}"));
    store
        .create_owner(&admin, owner, now)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let agent = store
        .create_identity(
            &admin,
            NewIdentity {
                kind: IdentityKind::Agent,
                name: "bot".into(),
                purpose: None,
                environment: Some(Environment::Prod),
                labels: Labels::new(),
                expires_at: None,
                source: Source::Issued,
                source_detail: None,
            },
            &OwnerRef::Email("ana@example.com".into()),
            None,
            now,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    store
        .create_upstream(
            &admin,
            UpstreamId::new_v7(),
            NewUpstream {
                name: "tickets".into(),
                kind: StoredKind::Http,
                url: upstream_url.into(),
                auth: InjectAuth::Bearer,
                routes: Some(ROUTES.into()),
                allowed_origins: Vec::new(),
                stdio: None,
                labels: Vec::new(),
                tool_labels: Default::default(),
                identity: None,
            },
            None,
            &warden_policy::stored::check,
            now,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    store
        .put_policy(
            &admin,
            "read-tickets",
            POLICY,
            false,
            &warden_policy::stored::check,
            now,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let data_key = DataKey::from_bytes([5; 32]);
    let plane_settings = PlaneSettings::resolve(&CredentialConfig::default(), ISSUER, GATEWAY)
        .unwrap_or_else(|e| panic!("{e}"));
    let plane = CredentialPlane::start(&store, data_key.clone(), plane_settings, now)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let catalog = Arc::new(CatalogState::default());
    catalog.reload(&store).await;
    let store: Arc<dyn Store> = Arc::new(store);
    let deps = Dependencies {
        store: Arc::clone(&store),
        clock: Arc::new(clock),
        pepper: Pepper::from_bytes([3; 32]),
        credentials: Arc::new(plane),
        data_key: Arc::new(data_key),
        approvals_changed: Arc::new(tokio::sync::Notify::new()),
        catalog,
        tool_pins: Arc::default(),
        task_window: Arc::new(warden_policy::TaskWindow::new(Default::default())),
        freshness: Arc::new(warden_plane::Freshness::new(
            std::time::Duration::from_secs(3_600),
        )),
    };
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let gateway =
        Gateway::new(deps, GatewaySettings::default(), stopping).unwrap_or_else(|e| panic!("{e}"));
    Fixture {
        gateway,
        store,
        agent_id: agent.id.to_string(),
        _stop: stop,
        _dir: dir,
    }
}

impl Fixture {
    /// A token for the agent, signed by the plane, for `upstream`'s audience.
    fn token(&self, upstream: &str) -> String {
        let now = self.gateway.deps.clock.now().as_millis() / 1_000;
        let claims = AccessClaims {
            iss: ISSUER.into(),
            sub: self.agent_id.clone(),
            aud: format!("{GATEWAY}/{upstream}"),
            exp: now + 300,
            iat: now,
            nbf: None,
            jti: format!("jti-{upstream}"),
            client_id: self.agent_id.clone(),
            scope: None,
            act: None,
            may_act: None,
            authorization_details: None,
            owner: Some("ana@example.com".into()),
            env: Some("prod".into()),
            cred: None,
            ancestors: Vec::new(),
        };
        self.gateway
            .deps
            .credentials
            .tokens
            .sign(&claims)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn parts(&self, method: Method, target: &str, token: Option<&str>) -> http::request::Parts {
        let mut builder = http::Request::builder().method(method).uri(target);
        if let Some(token) = token {
            builder = builder.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
        }
        builder
            .body(())
            .unwrap_or_else(|e| panic!("{e}"))
            .into_parts()
            .0
    }

    /// The first two phases for `parts`, as `serve` runs them.
    async fn admit(
        &self,
        parts: &http::request::Parts,
        trace: &mut Trace,
    ) -> Result<Authenticated, Refused> {
        let now = self.gateway.deps.clock.now();
        self.gateway
            .authenticate(parts, vet_target(parts), peer(), now, trace)
            .await
    }

    /// Every phase up to and including ask.
    async fn exchange(&self, parts: http::request::Parts) -> Result<Exchange, Refused> {
        let mut trace = Trace::default();
        let admitted = self.admit(&parts, &mut trace).await?;
        let now = self.gateway.deps.clock.now();
        let mut exchange = self
            .gateway
            .resolve(parts, admitted, peer(), now, &mut trace)?;
        let _unread = self
            .gateway
            .ask(&mut exchange, Body::empty(), &mut trace)
            .await?;
        Ok(exchange)
    }

    /// An allowed `GET /tickets/tickets/42` through every phase up to and including record:
    /// the exchange, the outcome record to be, and the kill watch forward and relay take.
    async fn allowed_read(&self) -> (Exchange, NewEvent, KillWatch) {
        let token = self.token("tickets");
        let read = self
            .exchange(self.parts(Method::GET, "/tickets/tickets/42", Some(&token)))
            .await
            .unwrap_or_else(|r| panic!("{:?}", r.refusal));
        let verdict = self.gateway.decide(&read, false);
        let outcome = self
            .gateway
            .record(&read, verdict, None, &mut Trace::default())
            .await
            .unwrap_or_else(|r| panic!("{:?}", r.refusal));
        let kill = KillWatch::new(
            Arc::clone(&self.gateway.deps.credentials),
            Arc::clone(&self.gateway.deps.clock),
            Arc::clone(&read.claims),
        );
        (read, outcome, kill)
    }

    async fn decisions(&self) -> Vec<warden_audit::AuditEvent> {
        self.store
            .audit_events(&AuditQuery {
                filter: AuditFilter {
                    kind: Some(EventKind::GatewayDecision),
                    ..AuditFilter::default()
                },
                after: None,
                limit: 100,
                newest: false,
            })
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }
}

fn code(result: Result<impl Sized, Refused>) -> Option<RefusalCode> {
    result.err().map(|refused| refused.refusal.code)
}

#[tokio::test]
async fn authenticate_names_the_path_fault_first_and_then_asks_for_a_token() {
    let fixture = fixture("http://127.0.0.1:9").await;
    // A bad path and no token: the path's fault answers, and nobody is named.
    let parts = fixture.parts(Method::GET, "/tickets/%2e%2e/x", None);
    let mut trace = Trace::default();
    assert_eq!(
        code(fixture.admit(&parts, &mut trace).await),
        Some(RefusalCode::BadRequest)
    );
    assert!(trace.claims.is_none());

    // A good path and no token: the challenge, naming no error (RFC 6750 §3.1).
    let parts = fixture.parts(Method::GET, "/tickets/tickets/1", None);
    let refused = fixture.admit(&parts, &mut trace).await.err();
    let refused = refused.unwrap_or_else(|| panic!("a request without a token was admitted"));
    assert_eq!(refused.refusal.code, RefusalCode::InvalidToken);
    let challenge = refused.challenge.unwrap_or_default();
    assert!(
        challenge.starts_with("Bearer realm=\"warden\""),
        "{challenge}"
    );
    assert!(
        challenge.contains("/.well-known/oauth-protected-resource/tickets"),
        "{challenge}"
    );
    assert!(!challenge.contains("error="), "{challenge}");
    assert!(trace.claims.is_none());

    // The bad path with a good token: the path's fault again, but now the trace names the
    // agent, so that the refusal goes on the record.
    let token = fixture.token("tickets");
    let parts = fixture.parts(Method::GET, "/tickets/%2e%2e/x", Some(&token));
    let mut trace = Trace::default();
    assert_eq!(
        code(fixture.admit(&parts, &mut trace).await),
        Some(RefusalCode::BadRequest)
    );
    assert_eq!(
        trace.claims.as_ref().map(|claims| claims.client_id.clone()),
        Some(fixture.agent_id.clone())
    );

    // A token that does not verify.
    let parts = fixture.parts(Method::GET, "/tickets/tickets/1", Some("not-a-token"));
    let mut trace = Trace::default();
    assert_eq!(
        code(fixture.admit(&parts, &mut trace).await),
        Some(RefusalCode::InvalidToken)
    );
}

#[tokio::test]
async fn authenticate_refuses_a_token_for_another_upstream_on_the_record() {
    let fixture = fixture("http://127.0.0.1:9").await;
    let token = fixture.token("billing");
    let parts = fixture.parts(Method::GET, "/tickets/tickets/1", Some(&token));
    let mut trace = Trace::default();
    let refused = fixture.admit(&parts, &mut trace).await.err();
    assert_eq!(
        refused.as_ref().map(|r| r.refusal.code),
        Some(RefusalCode::WrongAudience)
    );
    assert!(
        refused
            .and_then(|r| r.challenge)
            .is_some_and(|c| c.contains("error=\"invalid_token\""))
    );
    assert!(trace.recorded, "the refusal is on the record");
    let decisions = fixture.decisions().await;
    assert_eq!(decisions.len(), 1);
    assert_eq!(decisions[0].decision, Some(Decision::Deny));
    assert_eq!(
        decisions[0].details.get("rule").map(String::as_str),
        Some("wrong_audience")
    );
}

#[tokio::test]
async fn resolve_finds_the_upstream_and_caller_and_checks_what_reaches_it() {
    let fixture = fixture("http://127.0.0.1:9").await;
    let token = fixture.token("tickets");
    let mut parts = fixture.parts(Method::GET, "/tickets/tickets/7", Some(&token));
    parts
        .headers
        .insert(REASON_HEADER, HeaderValue::from_static(" triage "));
    let exchange = fixture
        .exchange(parts)
        .await
        .unwrap_or_else(|r| panic!("{:?}", r.refusal));
    assert_eq!(exchange.upstream.name, "tickets");
    assert_eq!(exchange.caller.agent_name, "bot");
    assert_eq!(exchange.caller.owner_email, "ana@example.com");
    assert_eq!(exchange.reason.as_deref(), Some("triage"));

    // A method override header would let the upstream act on another method.
    let mut parts = fixture.parts(Method::GET, "/tickets/tickets/7", Some(&token));
    parts
        .headers
        .insert("x-http-method-override", HeaderValue::from_static("DELETE"));
    assert_eq!(
        code(fixture.exchange(parts).await),
        Some(RefusalCode::BadRequest)
    );

    // A reason with a control character is refused, not cleaned.
    let mut parts = fixture.parts(Method::GET, "/tickets/tickets/7", Some(&token));
    parts
        .headers
        .insert(REASON_HEADER, HeaderValue::from_static("a\tb"));
    assert_eq!(
        code(fixture.exchange(parts).await),
        Some(RefusalCode::BadRequest)
    );
}

#[tokio::test]
async fn resolve_refuses_an_upstream_the_catalog_does_not_hold() {
    let fixture = fixture("http://127.0.0.1:9").await;
    let token = fixture.token("billing");
    // The audience matches, so only the catalog can refuse it.
    let parts = fixture.parts(Method::GET, "/billing/invoices/1", Some(&token));
    let mut trace = Trace::default();
    let admitted = fixture.admit(&parts, &mut trace).await;
    let admitted = admitted.unwrap_or_else(|r| panic!("{:?}", r.refusal));
    let now = fixture.gateway.deps.clock.now();
    let resolved = fixture
        .gateway
        .resolve(parts, admitted, peer(), now, &mut trace);
    assert_eq!(code(resolved), Some(RefusalCode::UnknownUpstream));
    assert!(trace.upstream.is_none());
}

#[tokio::test]
async fn ask_names_the_route_and_decide_follows_the_policies() {
    let fixture = fixture("http://127.0.0.1:9").await;
    let token = fixture.token("tickets");
    let read = fixture
        .exchange(fixture.parts(Method::GET, "/tickets/tickets/42", Some(&token)))
        .await
        .unwrap_or_else(|r| panic!("{:?}", r.refusal));
    assert_eq!(read.asks.len(), 1);
    assert_eq!(read.asks[0].action, "tickets.read");
    assert_eq!(read.asks[0].resource_text(), "Ticket::\"42\"");
    let verdict = fixture.gateway.decide(&read, false);
    assert_eq!(verdict.effect, Effect::Allow);
    assert_eq!(verdict.policy_ids, vec!["read-tickets".to_string()]);

    let delete = fixture
        .exchange(fixture.parts(Method::DELETE, "/tickets/tickets/42", Some(&token)))
        .await
        .unwrap_or_else(|r| panic!("{:?}", r.refusal));
    let verdict = fixture.gateway.decide(&delete, false);
    assert_eq!(verdict.effect, Effect::Deny);
    assert!(verdict.refusal.is_some());

    // No route: refused before anything is decided.
    assert_eq!(
        code(
            fixture
                .exchange(fixture.parts(Method::POST, "/tickets/tickets/42", Some(&token)))
                .await
        ),
        Some(RefusalCode::UnknownRoute)
    );
}

#[tokio::test]
async fn record_makes_the_decision_durable_before_anything_is_forwarded() {
    let fixture = fixture("http://127.0.0.1:9").await;
    let token = fixture.token("tickets");
    let read = fixture
        .exchange(fixture.parts(Method::GET, "/tickets/tickets/42", Some(&token)))
        .await
        .unwrap_or_else(|r| panic!("{:?}", r.refusal));
    let verdict = fixture.gateway.decide(&read, false);
    let mut trace = Trace::default();
    let outcome = fixture
        .gateway
        .record(&read, verdict, None, &mut trace)
        .await
        .unwrap_or_else(|r| panic!("{:?}", r.refusal));
    assert!(trace.recorded);
    let decisions = fixture.decisions().await;
    assert_eq!(decisions.len(), 1);
    assert_eq!(decisions[0].decision, Some(Decision::Allow));
    assert_eq!(decisions[0].action.as_deref(), Some("tickets.read"));
    // The outcome record to be points at the decision it follows.
    assert_eq!(outcome.kind, EventKind::GatewayOutcome);
    assert_eq!(
        outcome.details.get("decision_sequence"),
        Some(&decisions[0].sequence.to_string())
    );

    // A denial is recorded too, and answers.
    let delete = fixture
        .exchange(fixture.parts(Method::DELETE, "/tickets/tickets/42", Some(&token)))
        .await
        .unwrap_or_else(|r| panic!("{:?}", r.refusal));
    let verdict = fixture.gateway.decide(&delete, false);
    let mut trace = Trace::default();
    let refused = fixture
        .gateway
        .record(&delete, verdict, None, &mut trace)
        .await;
    assert_eq!(code(refused), Some(RefusalCode::Forbidden));
    let decisions = fixture.decisions().await;
    assert_eq!(decisions.len(), 2);
    assert_eq!(decisions[1].decision, Some(Decision::Deny));
}

#[tokio::test]
async fn forward_to_an_upstream_that_is_gone_answers_502_and_records_the_outcome() {
    // A port nothing listens on: bound, then released.
    let address = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .unwrap_or_else(|e| panic!("{e}"));
    let fixture = fixture(&format!("http://{address}")).await;
    let (mut read, outcome, mut kill) = fixture.allowed_read().await;
    let sent = fixture
        .gateway
        .forward(&mut read, Body::empty(), outcome, &mut kill)
        .await;
    let refused = sent
        .err()
        .unwrap_or_else(|| panic!("nothing listens there"));
    assert_eq!(refused.refusal.code, RefusalCode::UpstreamUnavailable);
    assert_eq!(refused.refusal.status().as_u16(), 502);
    // Forward takes the request's headers with it (stripped and injected there; the next
    // test checks what the upstream receives): nothing of them stays behind.
    assert!(read.parts.headers.is_empty());
    // The outcome is written after the answer, so it is looked for until it is there.
    let mut outcomes = Vec::new();
    for _ in 0..100 {
        outcomes = fixture
            .store
            .audit_events(&AuditQuery {
                filter: AuditFilter {
                    kind: Some(EventKind::GatewayOutcome),
                    ..AuditFilter::default()
                },
                after: None,
                limit: 10,
                newest: false,
            })
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        if !outcomes.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(outcomes.len(), 1);
    let outcome = outcomes[0].outcome.as_ref();
    assert_eq!(outcome.map(|o| o.status), Some(502));
    assert_eq!(
        outcome.and_then(|o| o.error.as_deref()),
        Some("upstream_unavailable")
    );
}

/// An upstream on a real socket that answers with what it was sent: the `Authorization`
/// it received, and a `Location` pointing into itself.
async fn echo_upstream() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let address = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    let app = axum::Router::new().fallback(move |request: Request| async move {
        let received = request
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("none")
            .to_string();
        Response::builder()
            .header("location", format!("http://{address}/tickets/43"))
            .body(Body::from(format!("authorization: {received}")))
            .unwrap_or_else(|e| panic!("{e}"))
    });
    tokio::spawn(async move { axum::serve(listener, app).await });
    address
}

#[tokio::test]
async fn forward_strips_the_agent_token_and_relay_hides_the_upstream_address() {
    let address = echo_upstream().await;
    let fixture = fixture(&format!("http://{address}")).await;
    let (mut read, outcome, mut kill) = fixture.allowed_read().await;
    let (response, outcome) = fixture
        .gateway
        .forward(&mut read, Body::empty(), outcome, &mut kill)
        .await
        .unwrap_or_else(|r| panic!("{:?}", r.refusal));
    let response = fixture
        .gateway
        .relay(read, response, kill, outcome)
        .await
        .unwrap_or_else(|r| panic!("{:?}", r.refusal));
    let location = response
        .headers()
        .get("location")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert_eq!(location, format!("{GATEWAY}/tickets/tickets/43"));
    let body = axum::body::to_bytes(response.into_body(), 1024)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // The upstream has no secret to inject, so it received no credential at all.
    assert_eq!(&body[..], b"authorization: none");
}
