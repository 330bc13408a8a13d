//! Owners at the dashboard, through the real binary: signing in through an OpenID Connect
//! provider written here (discovery, an authorization endpoint that checks PKCE's
//! challenge method, a token endpoint that checks the verifier, a JWKS), then seeing and
//! deciding only what is theirs, with every way a sign-in can be forged or replayed
//! refused.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Form, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use warden_crypto::KeyRing;

use crate::gateway::Rig;
use crate::ui::{Browser, Page};

pub(crate) const CLIENT_ID: &str = "warden-dashboard";

/// What the provider says about the next person who signs in.
#[derive(Clone)]
struct Person {
    email: String,
    email_verified: bool,
    /// Sign the ID token with a nonce other than the one asked for.
    wrong_nonce: bool,
}

struct Grant {
    challenge: String,
    nonce: String,
    redirect_uri: String,
    person: Person,
}

struct ProviderState {
    issuer: String,
    key: KeyRing,
    next: Person,
    codes: HashMap<String, Grant>,
}

type Shared = Arc<Mutex<ProviderState>>;

/// The identity provider, on a real socket.
pub(crate) struct Provider {
    pub(crate) issuer: String,
    state: Shared,
}

impl Provider {
    pub(crate) async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(ProviderState {
            issuer: issuer.clone(),
            key: KeyRing::generate(now_secs(), 600).unwrap(),
            next: person("alice@example.com"),
            codes: HashMap::new(),
        }));
        let app = axum::Router::new()
            .route(
                "/.well-known/openid-configuration",
                axum::routing::get(discovery),
            )
            .route("/authorize", axum::routing::get(authorize))
            .route("/token", axum::routing::post(token))
            .route("/jwks", axum::routing::get(jwks))
            .with_state(Arc::clone(&state));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { issuer, state }
    }

    fn next(&self, next: Person) {
        self.state.lock().unwrap().next = next;
    }
}

fn person(email: &str) -> Person {
    Person {
        email: email.to_string(),
        email_verified: true,
        wrong_nonce: false,
    }
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

async fn discovery(State(state): State<Shared>) -> axum::Json<Value> {
    let issuer = state.lock().unwrap().issuer.clone();
    axum::Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/jwks"),
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
    }))
}

async fn jwks(State(state): State<Shared>) -> axum::Json<Value> {
    axum::Json(state.lock().unwrap().key.jwks())
}

/// Signs the next person in at once, as a provider does for someone already signed in.
async fn authorize(
    State(state): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let param = |name: &str| query.get(name).cloned().unwrap_or_default();
    assert_eq!(param("response_type"), "code");
    assert_eq!(param("client_id"), CLIENT_ID);
    assert_eq!(param("code_challenge_method"), "S256", "PKCE with S256");
    assert!(param("scope").split(' ').any(|scope| scope == "openid"));
    let code = URL_SAFE_NO_PAD.encode(warden_crypto::random::random_bytes::<16>());
    let redirect_uri = param("redirect_uri");
    let mut state = state.lock().unwrap();
    let person = state.next.clone();
    state.codes.insert(
        code.clone(),
        Grant {
            challenge: param("code_challenge"),
            nonce: param("nonce"),
            redirect_uri: redirect_uri.clone(),
            person,
        },
    );
    let mut back = reqwest::Url::parse(&redirect_uri).unwrap();
    back.query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &param("state"));
    Redirect::to(back.as_str()).into_response()
}

/// Redeems a code once, for the verifier whose S256 challenge came with it.
async fn token(State(state): State<Shared>, Form(form): Form<HashMap<String, String>>) -> Response {
    let param = |name: &str| form.get(name).cloned().unwrap_or_default();
    let refuse = |error: &str| {
        (
            axum::http::StatusCode::BAD_REQUEST,
            axum::Json(json!({ "error": error })),
        )
            .into_response()
    };
    let mut state = state.lock().unwrap();
    let Some(grant) = state.codes.remove(&param("code")) else {
        return refuse("invalid_grant");
    };
    let challenge =
        URL_SAFE_NO_PAD.encode(warden_crypto::sha256(param("code_verifier").as_bytes()));
    if param("grant_type") != "authorization_code"
        || param("client_id") != CLIENT_ID
        || param("redirect_uri") != grant.redirect_uri
        || challenge != grant.challenge
    {
        return refuse("invalid_grant");
    }
    let now = now_secs();
    let nonce = if grant.person.wrong_nonce {
        "another-nonce".to_string()
    } else {
        grant.nonce
    };
    let claims = json!({
        "iss": state.issuer,
        "sub": format!("user-{}", grant.person.email),
        "aud": CLIENT_ID,
        "exp": now + 300,
        "iat": now,
        "nonce": nonce,
        "email": grant.person.email,
        "email_verified": grant.person.email_verified,
    });
    let key = state.key.active();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    header.kid = Some(key.kid().to_string());
    let encoding = jsonwebtoken::EncodingKey::from_ed_der(&key.export_pkcs8().unwrap());
    let id_token = jsonwebtoken::encode(&header, &claims, &encoding).unwrap();
    axum::Json(json!({
        "access_token": "provider-access-token",
        "token_type": "Bearer",
        "id_token": id_token,
    }))
    .into_response()
}

/// Leaves for the provider and comes back: the callback's page, and the callback URL (to
/// try again with).
async fn sign_in_as_owner(browser: &Browser) -> (Page, String) {
    let departing = browser.get("/ui/sign-in/owner").await;
    assert_eq!(departing.status, 303, "{}", departing.body);
    let at_provider = browser.get(departing.location().unwrap()).await;
    assert_eq!(at_provider.status, 303, "{}", at_provider.body);
    let callback = at_provider.location().unwrap().to_string();
    (browser.get(&callback).await, callback)
}

async fn api(rig: &Rig, path: &str) -> Value {
    reqwest::Client::new()
        .get(format!("{}{path}", rig.server.api))
        .bearer_auth(&rig.admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn ui_an_owner_signs_in_through_the_provider_and_decides_only_their_agents_requests() {
    let provider = Provider::start().await;
    let rig = Rig::start(&format!(
        "[dashboard.oidc]\nissuer = \"{}\"\nclient_id = \"{CLIENT_ID}\"\n",
        provider.issuer
    ))
    .await;
    // A second owner with an agent of their own.
    rig.server
        .cli(
            &rig.admin,
            &["owner", "add", "bob@example.com", "--name", "Bob"],
        )
        .ok();
    let bobs = rig
        .server
        .cli(
            &rig.admin,
            &[
                "agent",
                "create",
                "bob-bot",
                "--owner",
                "bob@example.com",
                "-o",
                "json",
            ],
        )
        .json();
    let bobs_agent = bobs["id"].as_str().unwrap().to_string();
    let alices_agent = api(&rig, "/v1/identities/agent:support-bot").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    // alice@example.com's agent asks for a refund a policy holds.
    let (status, held) = crate::held::refund(&rig, r#"{"amount": 10}"#, None, None).await;
    assert_eq!(status, 403, "{held}");
    let approval = held["approval_id"].as_str().unwrap().to_string();

    let sign_in = Browser::new(&rig.server.api).get("/ui/sign-in").await;
    assert!(
        sign_in
            .body
            .contains(&format!("Sign in with {}", provider.issuer)),
        "{}",
        sign_in.body
    );

    // Bob signs in: his queue is empty, and Alice's approval cannot be decided by him.
    provider.next(person("bob@example.com"));
    let bob = Browser::new(&rig.server.api);
    let (arrived, _) = sign_in_as_owner(&bob).await;
    assert_eq!(arrived.status, 200, "{}", arrived.body);
    assert!(
        arrived.body.contains("signed in as bob@example.com"),
        "{}",
        arrived.body
    );
    let queue = bob.get("/ui/approvals").await;
    assert_eq!(queue.status, 200, "{}", queue.body);
    assert!(!queue.body.contains(&approval), "{}", queue.body);
    let csrf = queue.csrf();
    let refused = bob
        .post(
            &format!("/ui/approvals/{approval}/approve"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(refused.status, 404, "{}", refused.body);
    assert_eq!(
        api(&rig, &format!("/v1/approvals/{approval}")).await["status"],
        "pending"
    );
    // Another owner's identity does not exist for Bob; his own does.
    assert_eq!(
        bob.get(&format!("/ui/identities/{alices_agent}"))
            .await
            .status,
        404
    );
    let own = bob.get(&format!("/ui/identities/{bobs_agent}")).await;
    assert_eq!(own.status, 200);
    assert!(
        !own.body.contains("Kill switch"),
        "owners have no kill switch"
    );
    let inventory = bob.get("/ui/identities?owner=alice%40example.com").await;
    assert!(inventory.body.contains("bob-bot"), "{}", inventory.body);
    assert!(
        !inventory.body.contains("support-bot"),
        "{}",
        inventory.body
    );
    // The administrators' pages are closed to owners, and the overview sends them home.
    for path in ["/ui/audit", "/ui/policies", "/ui/upstreams", "/ui/findings"] {
        assert_eq!(bob.get(path).await.status, 403, "{path}");
    }
    assert_eq!(bob.get("/ui").await.location(), Some("/ui/approvals"));
    assert_eq!(
        bob.get(&format!("/ui/identities/{bobs_agent}/kill"))
            .await
            .status,
        403
    );

    // Alice signs in, sees her agent's request and approves it as herself.
    provider.next(person("alice@example.com"));
    let alice = Browser::new(&rig.server.api);
    let (arrived, callback) = sign_in_as_owner(&alice).await;
    assert_eq!(arrived.status, 200, "{}", arrived.body);
    let queue = alice.get("/ui/approvals").await;
    assert!(queue.body.contains(&approval), "{}", queue.body);
    assert!(
        queue.body.contains("POST /tickets/42/refund"),
        "{}",
        queue.body
    );
    let csrf = queue.csrf();
    let decided = alice
        .post(
            &format!("/ui/approvals/{approval}/approve"),
            &[("csrf", &csrf), ("comment", "my agent, my call")],
        )
        .await;
    assert_eq!(decided.status, 303, "{}", decided.body);
    let shown = api(&rig, &format!("/v1/approvals/{approval}")).await;
    assert_eq!(shown["status"], "approved", "{shown}");
    assert_eq!(shown["decided_by"], "alice@example.com");
    let (status, done) =
        crate::held::refund(&rig, r#"{"amount": 10}"#, Some(&approval), None).await;
    assert_eq!(status, 200, "{done}");
    let granted = api(&rig, "/v1/audit/events?kind=approval.granted").await;
    let actor = &granted["items"][0]["actor"];
    assert_eq!(actor["name"], "alice@example.com", "{granted}");
    assert!(
        actor["id"]
            .as_str()
            .unwrap_or_default()
            .starts_with("owner:"),
        "{granted}"
    );

    // The way back cannot be used twice, nor from another browser.
    let replayed = alice.get(&callback).await;
    assert_eq!(replayed.status, 400, "{}", replayed.body);
    let (_, fresh_callback) = {
        let mallory = Browser::new(&rig.server.api);
        let departing = mallory.get("/ui/sign-in/owner").await;
        let at_provider = mallory.get(departing.location().unwrap()).await;
        ((), at_provider.location().unwrap().to_string())
    };
    let elsewhere = Browser::new(&rig.server.api).get(&fresh_callback).await;
    assert_eq!(elsewhere.status, 400, "{}", elsewhere.body);
    assert!(elsewhere.body.contains("start again"), "{}", elsewhere.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn ui_an_owner_sign_in_is_refused_unless_the_token_proves_an_active_owner() {
    let provider = Provider::start().await;
    let rig = Rig::start(&format!(
        "[dashboard.oidc]\nissuer = \"{}\"\nclient_id = \"{CLIENT_ID}\"\n",
        provider.issuer
    ))
    .await;
    for (who, status, says) in [
        (person("mallory@example.com"), 403, "not an active owner"),
        (
            Person {
                email_verified: false,
                ..person("alice@example.com")
            },
            401,
            "not verified",
        ),
        (
            Person {
                wrong_nonce: true,
                ..person("alice@example.com")
            },
            401,
            "nonce",
        ),
    ] {
        provider.next(who.clone());
        let browser = Browser::new(&rig.server.api);
        let (arrived, _) = sign_in_as_owner(&browser).await;
        assert_eq!(arrived.status, status, "{}: {}", who.email, arrived.body);
        assert!(arrived.body.contains(says), "{says}: {}", arrived.body);
        // Nobody is signed in.
        assert_eq!(browser.get("/ui/approvals").await.status, 303);
    }
    // The provider's own refusal is shown by its code only.
    let browser = Browser::new(&rig.server.api);
    let refused = browser
        .get("/ui/oidc/callback?error=access_denied&error_description=%3Cscript%3E")
        .await;
    assert_eq!(refused.status, 401, "{}", refused.body);
    assert!(refused.body.contains("access_denied"));
    assert!(!refused.body.contains("<script>"));
}

#[tokio::test(flavor = "multi_thread")]
async fn ui_without_a_provider_owners_cannot_sign_in_and_bad_settings_stop_the_start() {
    let rig = Rig::start("").await;
    let browser = Browser::new(&rig.server.api);
    let page = browser.get("/ui/sign-in").await;
    assert!(!page.body.contains("/ui/sign-in/owner"), "{}", page.body);
    let refused = browser.get("/ui/sign-in/owner").await;
    assert_eq!(refused.status, 404);
    assert!(
        refused.body.contains("[dashboard.oidc]"),
        "{}",
        refused.body
    );

    // An issuer that is plain http to another host is refused at start, saying why.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("warden.toml");
    std::fs::write(
        &config,
        "[dashboard.oidc]\nissuer = \"http://idp.example.com\"\nclient_id = \"x\"\n",
    )
    .unwrap();
    let refused = crate::harness::warden()
        .args(["serve", "--config"])
        .arg(&config)
        .args([
            "--data-dir",
            dir.path().join("data").to_str().unwrap(),
            "--api-listen",
            "127.0.0.1:0",
            "--gateway-listen",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("must be an https URL"), "{stderr}");
}
