//! A router over a fresh SQLite store, and a compact way to send it requests.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;
use warden_core::{ManualClock, Timestamp};
use warden_crypto::Pepper;
use warden_server::AppState;
use warden_store::SqlStore;

pub const TOKEN: &str = "test-admin-token-that-is-long-enough-0123456789";

pub struct Api {
    router: Router,
    pub clock: ManualClock,
    pub state: AppState,
    _dir: tempfile::TempDir,
}

pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
}

impl Reply {
    /// The `error` code of an error body.
    pub fn code(&self) -> &str {
        self.body
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("<no error code>")
    }
}

impl Api {
    pub async fn new() -> Self {
        Self::with_credentials(warden_server::config::CredentialConfig::default()).await
    }

    pub async fn with_credentials(config: warden_server::config::CredentialConfig) -> Self {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let signer = warden_audit::AuditSigner::generate().unwrap_or_else(|e| panic!("{e}"));
        let audit_public_key = signer.public_key();
        let settings = warden_store::AuditSettings {
            node: "test".into(),
            signer: Some(Arc::new(signer)),
            checkpoints: warden_audit::CheckpointPolicy::default(),
        };
        let store = SqlStore::open_sqlite(&dir.path().join("warden.db"), settings)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let pepper = Pepper::from_bytes([3; 32]);
        let clock = ManualClock::new(Timestamp::from_millis(1_800_000_000_000));
        let credentials = test_plane(&store, &config, warden_core::Clock::now(&clock)).await;
        let state = AppState {
            credentials: Arc::new(credentials),
            store: Arc::new(store),
            clock: Arc::new(clock.clone()),
            admin_token_hash: pepper.hash(
                warden_server::bootstrap::ADMIN_TOKEN_DOMAIN,
                TOKEN.as_bytes(),
            ),
            pepper,
            actor: warden_audit::Actor::admin("admin", "admin"),
            audit_public_key,
            data_key: Arc::new(warden_crypto::DataKey::from_bytes([5; 32])),
            approvals_changed: Arc::new(tokio::sync::Notify::new()),
            catalog: Arc::default(),
            posture: Arc::new(warden_server::posture::Posture::new(
                warden_posture::Thresholds::default(),
                std::time::Duration::from_secs(3_600),
            )),
            max_import_bytes: 1024 * 1024,
            leaks_auto_revoke: false,
            tool_pins: Default::default(),
            signals: Arc::new(
                warden_server::signals::SignalSettings::resolve(
                    &Default::default(),
                    "http://warden.test",
                )
                .unwrap_or_else(|e| panic!("{e}")),
            ),
            task_window: Arc::new(warden_policy::TaskWindow::new(Default::default())),
            freshness: Arc::new(warden_plane::Freshness::new(
                std::time::Duration::from_secs(3_600),
            )),
            owner_sign_in: None,
        };
        Self {
            router: warden_server::api::router(state.clone()),
            clock,
            state,
            _dir: dir,
        }
    }

    pub async fn raw(&self, request: Request<Body>) -> Reply {
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .to_bytes();
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
        Reply { status, body }
    }

    /// Sends `body` (raw text, as JSON content) with the admin token.
    pub async fn send(&self, method: Method, uri: &str, body: Option<&str>) -> Reply {
        let mut builder = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"));
        if body.is_some() {
            builder = builder.header(header::CONTENT_TYPE, "application/json");
        }
        let request = builder
            .body(
                body.map(|text| Body::from(text.to_string()))
                    .unwrap_or_else(Body::empty),
            )
            .unwrap_or_else(|e| panic!("{e}"));
        self.raw(request).await
    }

    pub async fn get(&self, uri: &str) -> Reply {
        self.send(Method::GET, uri, None).await
    }

    pub async fn post(&self, uri: &str, body: &str) -> Reply {
        self.send(Method::POST, uri, Some(body)).await
    }

    /// Sends and insists on `status`, returning the body.
    pub async fn expect(
        &self,
        method: Method,
        uri: &str,
        body: Option<&str>,
        status: StatusCode,
    ) -> Value {
        let reply = self.send(method.clone(), uri, body).await;
        assert_eq!(reply.status, status, "{method} {uri}: {}", reply.body);
        reply.body
    }
}

/// The issuer and gateway URLs of in-process test servers.
pub const ISSUER: &str = "http://warden.test";
pub const GATEWAY: &str = "http://gateway.test";

/// A credential plane with default lifetimes over `store`.
pub async fn test_plane(
    store: &dyn warden_store::Store,
    config: &warden_server::config::CredentialConfig,
    now: Timestamp,
) -> warden_plane::plane::CredentialPlane {
    let settings = warden_plane::plane::PlaneSettings::resolve(config, ISSUER, GATEWAY)
        .unwrap_or_else(|e| panic!("{e}"));
    warden_plane::plane::CredentialPlane::start(
        store,
        warden_crypto::DataKey::from_bytes([5; 32]),
        settings,
        now,
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"))
}

impl Api {
    /// A form POST to an OAuth endpoint, with optional HTTP Basic credentials.
    pub async fn form(
        &self,
        uri: &str,
        basic: Option<(&str, &str)>,
        pairs: &[(&str, &str)],
    ) -> Reply {
        let mut builder = Request::builder()
            .method(Method::POST)
            .uri(uri)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some((id, secret)) = basic {
            use base64::Engine as _;
            let encoded =
                base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
            builder = builder.header(header::AUTHORIZATION, format!("Basic {encoded}"));
        }
        let body = serde_urlencoded::to_string(pairs).unwrap_or_else(|e| panic!("{e}"));
        self.raw(
            builder
                .body(Body::from(body))
                .unwrap_or_else(|e| panic!("{e}")),
        )
        .await
    }
}
