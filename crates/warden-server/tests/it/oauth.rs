//! The credential plane in process: client authentication, both grants, and every way a
//! token or a client is refused, driven through the real router over a real store with a
//! clock the tests move.

use axum::http::StatusCode;
use serde_json::{Value, json};
use warden_core::Timestamp;
use warden_crypto::{AccessClaims, Actor, KeyRing};

use crate::harness::{Api, GATEWAY, ISSUER};

const TOKEN: &str = "/oauth/token";

struct Agent {
    id: String,
    secret: String,
}

/// Registers the upstreams the tests ask tokens for (once per server).
async fn upstreams(api: &Api) {
    for name in ["github", "jira"] {
        let body = json!({ "name": name, "kind": "http", "url": format!("https://{name}.example.com"), "auth": "bearer" });
        let reply = api.post("/v1/upstreams", &body.to_string()).await;
        assert!(
            reply.status == StatusCode::CREATED || reply.code() == "duplicate_upstream",
            "{}",
            reply.body
        );
    }
}

async fn owner(api: &Api, email: &str) {
    upstreams(api).await;
    let reply = api
        .post(
            "/v1/owners",
            &json!({ "email": email, "name": "Owner" }).to_string(),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
}

async fn agent(
    api: &Api,
    name: &str,
    owner: &str,
    parent: Option<&str>,
    scope: Option<&str>,
) -> Agent {
    let mut body = json!({ "kind": "agent", "name": name, "owner": owner });
    if let Some(parent) = parent {
        body["parent"] = json!(parent);
    }
    let reply = api.post("/v1/identities", &body.to_string()).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let mut request = json!({});
    if let Some(scope) = scope {
        request["scope"] = json!(scope);
    }
    let issued = api
        .post(
            &format!("/v1/identities/agent:{name}/credentials"),
            &request.to_string(),
        )
        .await;
    assert_eq!(issued.status, StatusCode::CREATED, "{}", issued.body);
    Agent {
        id: issued.body["client_id"].as_str().unwrap().to_string(),
        secret: issued.body["client_secret"].as_str().unwrap().to_string(),
    }
}

async fn token_for(api: &Api, agent: &Agent, extra: &[(&str, &str)]) -> crate::harness::Reply {
    let mut pairs = vec![("grant_type", "client_credentials"), ("resource", "github")];
    pairs.extend_from_slice(extra);
    api.form(TOKEN, Some((&agent.id, &agent.secret)), &pairs)
        .await
}

async fn token(api: &Api, agent: &Agent) -> String {
    let reply = token_for(api, agent, &[]).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body["access_token"].as_str().unwrap().to_string()
}

/// The verification API's answer for `token` at upstream `github`.
async fn verified(api: &Api, token: &str) -> Value {
    verified_at(api, token, "github").await
}

async fn verified_at(api: &Api, token: &str, upstream: &str) -> Value {
    let reply = api
        .post(
            "/v1/tokens/verify",
            &json!({ "token": token, "upstream": upstream }).to_string(),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body
}

async fn is_valid(api: &Api, token: &str) -> bool {
    verified(api, token).await["valid"] == true
}

fn now(api: &Api) -> Timestamp {
    warden_core::Clock::now(&api.clock)
}

#[tokio::test]
async fn client_credentials_by_basic_and_by_form_give_a_narrow_token() {
    let api = Api::new().await;
    owner(&api, "alice@example.com").await;
    let bot = agent(
        &api,
        "support-bot",
        "alice@example.com",
        None,
        Some("tickets:read tickets:write"),
    )
    .await;
    assert!(bot.secret.starts_with("warden_cs_"));

    let reply = token_for(
        &api,
        &bot,
        &[
            ("scope", "tickets:read"),
            ("authorization_details", r#"[{"type":"warden_task","task_id":"T-1","actions":["read"],"resources":["ticket:42"]}]"#),
        ],
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["token_type"], "Bearer");
    assert_eq!(reply.body["expires_in"], 300);
    assert_eq!(reply.body["scope"], "tickets:read");
    let access = reply.body["access_token"].as_str().unwrap();

    let principal = verified(&api, access).await;
    assert_eq!(principal["valid"], true, "{principal}");
    assert_eq!(principal["agent"], bot.id);
    assert_eq!(principal["audience"], format!("{GATEWAY}/github"));
    assert_eq!(principal["tasks"][0]["task_id"], "T-1");
    assert_eq!(principal["on_behalf_of"], Value::Null);
    // One upstream per token.
    assert_eq!(verified_at(&api, access, "jira").await["valid"], false);

    // Form authentication and the full gateway URL as resource.
    let resource = format!("{GATEWAY}/github");
    let form = api
        .form(
            TOKEN,
            None,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &bot.id),
                ("client_secret", &bot.secret),
                ("resource", &resource),
            ],
        )
        .await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.body);
    assert_eq!(form.body["scope"], "tickets:read tickets:write");

    let introspected = api
        .form(
            "/oauth/introspect",
            Some((&bot.id, &bot.secret)),
            &[("token", access)],
        )
        .await;
    assert_eq!(introspected.body["active"], true, "{}", introspected.body);
    assert_eq!(introspected.body["client_id"], bot.id);

    // Issuance is recorded, with the jti and never the token or the secret.
    let events = api
        .state
        .store
        .audit_events(&warden_store::AuditQuery {
            filter: warden_store::AuditFilter::default(),
            after: None,
            limit: 1000,
            newest: false,
        })
        .await
        .unwrap();
    let kinds: Vec<&str> = events.iter().map(|event| event.kind.as_str()).collect();
    assert!(
        kinds.contains(&"token.issued") && kinds.contains(&"credential.issued"),
        "{kinds:?}"
    );
    let text = serde_json::to_string(&events).unwrap();
    assert!(!text.contains(&bot.secret) && !text.contains(access));
}

#[tokio::test]
async fn malformed_requests_get_rfc_6749_errors() {
    let api = Api::new().await;
    owner(&api, "alice@example.com").await;
    let bot = agent(&api, "bot", "alice@example.com", None, Some("read")).await;
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (vec![("resource", "github")], "invalid_request"),
        (
            vec![("grant_type", "password"), ("resource", "github")],
            "unsupported_grant_type",
        ),
        (vec![("grant_type", "client_credentials")], "invalid_target"),
        (
            vec![
                ("grant_type", "client_credentials"),
                ("resource", "http://elsewhere/x"),
            ],
            "invalid_target",
        ),
        (
            vec![
                ("grant_type", "client_credentials"),
                ("resource", "github"),
                ("scope", "write"),
            ],
            "invalid_scope",
        ),
        (
            vec![
                ("grant_type", "client_credentials"),
                ("resource", "github"),
                ("expires_in", "999999"),
            ],
            "invalid_request",
        ),
        (
            vec![
                ("grant_type", "client_credentials"),
                ("resource", "github"),
                ("authorization_details", r#"[{"type":"other"}]"#),
            ],
            "invalid_authorization_details",
        ),
    ];
    for (pairs, code) in cases {
        let reply = api.form(TOKEN, Some((&bot.id, &bot.secret)), &pairs).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{pairs:?}: {}",
            reply.body
        );
        assert_eq!(reply.body["error"], code, "{pairs:?}: {}", reply.body);
        assert!(reply.body["error_description"].is_string());
    }
    // A repeated parameter, and two authentication methods at once.
    let repeated = api
        .form(
            TOKEN,
            Some((&bot.id, &bot.secret)),
            &[
                ("grant_type", "client_credentials"),
                ("resource", "a"),
                ("resource", "b"),
            ],
        )
        .await;
    assert_eq!(repeated.body["error"], "invalid_request");
    let both = api
        .form(
            TOKEN,
            Some((&bot.id, &bot.secret)),
            &[
                ("grant_type", "client_credentials"),
                ("resource", "a"),
                ("client_secret", &bot.secret),
                ("client_id", &bot.id),
            ],
        )
        .await;
    assert_eq!(both.body["error"], "invalid_request");
    // A longer lifetime within the ceiling is granted.
    let long = token_for(&api, &bot, &[("expires_in", "1200")]).await;
    assert_eq!(long.body["expires_in"], 1200);
}

#[tokio::test]
async fn wrong_expired_and_rotated_out_secrets_are_refused() {
    let api = Api::new().await;
    owner(&api, "alice@example.com").await;
    let bot = agent(&api, "bot", "alice@example.com", None, None).await;
    let other = agent(&api, "other", "alice@example.com", None, None).await;

    let refused = |reply: crate::harness::Reply| {
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.body);
        assert_eq!(reply.body["error"], "invalid_client");
    };
    // Not a Warden secret; a well-formed secret nobody holds; another client's secret.
    let forged = warden_crypto::Secret::generate(warden_crypto::SecretKind::ClientSecret);
    for secret in ["hunter2", forged.expose(), other.secret.as_str()] {
        refused(
            api.form(
                TOKEN,
                Some((&bot.id, secret)),
                &[("grant_type", "client_credentials"), ("resource", "github")],
            )
            .await,
        );
    }

    // Rotation: the old secret works during the overlap, then stops.
    let rotated = api
        .post(
            "/v1/identities/agent:bot/credentials/rotate",
            r#"{"overlap_secs": 60}"#,
        )
        .await;
    assert_eq!(rotated.status, StatusCode::CREATED, "{}", rotated.body);
    let fresh = Agent {
        id: bot.id.clone(),
        secret: rotated.body["client_secret"].as_str().unwrap().to_string(),
    };
    assert_eq!(token_for(&api, &bot, &[]).await.status, StatusCode::OK);
    api.clock.advance_secs(61);
    refused(token_for(&api, &bot, &[]).await);
    assert_eq!(token_for(&api, &fresh, &[]).await.status, StatusCode::OK);

    // A credential past its expiry (the ceiling is 90 days by default).
    let short = api
        .post(
            "/v1/identities/agent:other/credentials",
            r#"{"expires_in_days": 1}"#,
        )
        .await;
    let short = Agent {
        id: other.id.clone(),
        secret: short.body["client_secret"].as_str().unwrap().to_string(),
    };
    assert_eq!(token_for(&api, &short, &[]).await.status, StatusCode::OK);
    api.clock.advance_secs(86_401);
    refused(token_for(&api, &short, &[]).await);
    let beyond = api
        .post(
            "/v1/identities/agent:other/credentials",
            r#"{"expires_in_days": 91}"#,
        )
        .await;
    assert_eq!(
        beyond.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        beyond.body
    );

    // A revoked credential stops at once, and so do the tokens obtained with it.
    let access = token(&api, &fresh).await;
    let listed = api.get("/v1/identities/agent:bot/credentials").await;
    let active = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["status"] == "active")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let revoked = api
        .post(&format!("/v1/credentials/{active}/revoke"), "")
        .await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.body);
    refused(token_for(&api, &fresh, &[]).await);
    assert!(!is_valid(&api, &access).await);
}

#[tokio::test]
async fn repeated_failures_are_rate_limited_per_client_and_address() {
    let api = Api::new().await;
    owner(&api, "alice@example.com").await;
    let bot = agent(&api, "bot", "alice@example.com", None, None).await;
    for _ in 0..warden_plane::ratelimit::DEFAULT_BURST {
        let reply = api
            .form(
                TOKEN,
                Some((&bot.id, "wrong")),
                &[("grant_type", "client_credentials"), ("resource", "github")],
            )
            .await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    }
    // Now even the right secret waits.
    let limited = token_for(&api, &bot, &[]).await;
    assert_eq!(
        limited.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        limited.body
    );
    assert_eq!(limited.body["error"], "invalid_client");
    api.clock.advance_secs(60);
    assert_eq!(token_for(&api, &bot, &[]).await.status, StatusCode::OK);
}

fn forged(header: Value, claims: &AccessClaims, signature: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    format!(
        "{}.{}.{}",
        b64(header.to_string().as_bytes()),
        b64(&serde_json::to_vec(claims).unwrap()),
        b64(signature)
    )
}

#[tokio::test]
async fn forged_expired_and_misdirected_tokens_are_refused() {
    let api = Api::new().await;
    owner(&api, "alice@example.com").await;
    let bot = agent(&api, "bot", "alice@example.com", None, None).await;
    let access = token(&api, &bot).await;
    let claims: AccessClaims = {
        let payload = access.split('.').nth(1).unwrap();
        use base64::Engine as _;
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .unwrap(),
        )
        .unwrap()
    };
    let kid = api
        .state
        .credentials
        .tokens
        .ring()
        .active()
        .kid()
        .to_string();

    let none = forged(
        json!({"alg": "none", "typ": "at+jwt", "kid": kid}),
        &claims,
        b"",
    );
    let public = api
        .state
        .credentials
        .tokens
        .ring()
        .active()
        .public_key()
        .to_vec();
    let hs256 = jsonwebtoken::encode(
        &jsonwebtoken::Header {
            kid: Some(kid.clone()),
            typ: Some("at+jwt".into()),
            ..jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256)
        },
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(&public),
    )
    .unwrap();
    let stranger = KeyRing::generate(0, 600).unwrap();
    let unknown_kid = warden_crypto::jwt::issue(&stranger, &claims).unwrap();
    for bad in [&none, &hs256, &unknown_kid] {
        let answer = verified(&api, bad).await;
        assert_eq!(answer["valid"], false, "{answer}");
        let introspected = api
            .form(
                "/oauth/introspect",
                Some((&bot.id, &bot.secret)),
                &[("token", bad)],
            )
            .await;
        assert_eq!(introspected.body, json!({"active": false}));
    }
    assert!(
        verified(&api, &none).await["reason"]
            .as_str()
            .unwrap()
            .contains("algorithm")
    );
    assert!(
        verified(&api, &unknown_kid).await["reason"]
            .as_str()
            .unwrap()
            .contains("unknown key")
    );
    assert!(
        verified_at(&api, &access, "jira").await["reason"]
            .as_str()
            .unwrap()
            .contains("audience")
    );

    assert!(is_valid(&api, &access).await);
    api.clock.advance_secs(300 + 31);
    let expired = verified(&api, &access).await;
    assert_eq!(expired["valid"], false);
    assert!(
        expired["reason"].as_str().unwrap().contains("expired"),
        "{expired}"
    );
}

#[tokio::test]
async fn revoked_tokens_killed_agents_and_revoked_parents_stop_at_once() {
    let api = Api::new().await;
    owner(&api, "alice@example.com").await;
    let parent = agent(&api, "planner", "alice@example.com", None, None).await;
    let child = agent(
        &api,
        "researcher",
        "alice@example.com",
        Some("agent:planner"),
        None,
    )
    .await;

    // One token by its owner (RFC 7009), another by the admin.
    let first = token(&api, &parent).await;
    let second = token(&api, &parent).await;
    let kept = token(&api, &parent).await;
    let revoked = api
        .form(
            "/oauth/revoke",
            Some((&parent.id, &parent.secret)),
            &[("token", &first)],
        )
        .await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.body);
    assert!(!is_valid(&api, &first).await);
    let by_admin = api
        .post("/v1/revoke", &json!({ "token": second }).to_string())
        .await;
    assert_eq!(by_admin.status, StatusCode::OK, "{}", by_admin.body);
    assert!(!is_valid(&api, &second).await);
    assert!(is_valid(&api, &kept).await);

    // Kill the parent: its tokens and its sub-agent's tokens stop; restore brings them back.
    let child_token = token(&api, &child).await;
    let dry = api
        .post(
            "/v1/kill",
            &json!({ "identity": "agent:planner", "dry_run": true }).to_string(),
        )
        .await;
    assert_eq!(
        dry.body["stops"].as_array().unwrap().len(),
        2,
        "{}",
        dry.body
    );
    assert!(is_valid(&api, &kept).await, "a dry run changes nothing");
    let killed = api
        .post(
            "/v1/kill",
            &json!({ "identity": "agent:planner" }).to_string(),
        )
        .await;
    assert_eq!(killed.status, StatusCode::OK, "{}", killed.body);
    assert!(!is_valid(&api, &kept).await);
    assert!(!is_valid(&api, &child_token).await);
    assert_eq!(
        token_for(&api, &child, &[]).await.body["error"],
        "invalid_client"
    );
    let restored = api
        .post(
            "/v1/restore",
            &json!({ "identity": "agent:planner" }).to_string(),
        )
        .await;
    assert_eq!(restored.status, StatusCode::OK, "{}", restored.body);
    assert!(is_valid(&api, &kept).await);
    assert!(is_valid(&api, &child_token).await);

    // Revoking the parent for good stops the sub-agent's tokens too.
    let gone = api
        .post(
            "/v1/revoke",
            &json!({ "identity": "agent:planner" }).to_string(),
        )
        .await;
    assert_eq!(gone.status, StatusCode::OK, "{}", gone.body);
    assert!(!is_valid(&api, &child_token).await);
    let reason = verified(&api, &child_token).await["reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(reason.contains("revoked"), "{reason}");
}

#[tokio::test]
async fn owner_kill_switch_and_offboarding_stop_the_fleet() {
    let api = Api::new().await;
    owner(&api, "alice@example.com").await;
    owner(&api, "bob@example.com").await;
    let a = agent(&api, "alpha", "alice@example.com", None, None).await;
    let b = agent(&api, "beta", "alice@example.com", None, None).await;
    let c = agent(&api, "gamma", "bob@example.com", None, None).await;
    let (ta, tb, tc) = (
        token(&api, &a).await,
        token(&api, &b).await,
        token(&api, &c).await,
    );

    let killed = api
        .post(
            "/v1/kill",
            &json!({ "owner": "alice@example.com" }).to_string(),
        )
        .await;
    assert_eq!(killed.status, StatusCode::OK, "{}", killed.body);
    assert!(!is_valid(&api, &ta).await && !is_valid(&api, &tb).await);
    assert!(is_valid(&api, &tc).await);
    let restored = api
        .post(
            "/v1/restore",
            &json!({ "owner": "alice@example.com" }).to_string(),
        )
        .await;
    assert_eq!(
        restored.body["restored"].as_array().unwrap().len(),
        2,
        "{}",
        restored.body
    );
    assert!(is_valid(&api, &ta).await);

    // Offboarding bob suspends gamma: its token and its client are refused.
    let offboarded = api.post("/v1/owners/bob@example.com/offboard", "").await;
    assert_eq!(offboarded.status, StatusCode::OK, "{}", offboarded.body);
    assert!(!is_valid(&api, &tc).await);
    assert_eq!(
        token_for(&api, &c, &[]).await.body["error"],
        "invalid_client"
    );
}

/// An external identity provider: a key ring of its own, its JWKS in a file.
struct Idp {
    ring: KeyRing,
    _dir: tempfile::TempDir,
    config: warden_server::config::CredentialConfig,
}

const IDP: &str = "https://idp.example.com";

fn idp() -> Idp {
    let ring = KeyRing::generate(0, 600).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jwks.json");
    std::fs::write(&path, ring.jwks().to_string()).unwrap();
    let config = warden_server::config::CredentialConfig {
        trusted_issuers: vec![warden_server::config::TrustedIssuerConfig {
            issuer: IDP.into(),
            jwks_file: path,
        }],
        ..Default::default()
    };
    Idp {
        ring,
        _dir: dir,
        config,
    }
}

impl Idp {
    fn user_token(&self, now: Timestamp, scope: &str, may_act: Option<&str>) -> String {
        let claims = AccessClaims {
            iss: IDP.into(),
            sub: "alice@example.com".into(),
            aud: ISSUER.into(),
            exp: now.as_secs() + 600,
            iat: now.as_secs(),
            nbf: None,
            jti: "user-token-1".into(),
            client_id: "webapp".into(),
            scope: Some(scope.into()),
            act: None,
            may_act: may_act.map(|sub| Actor {
                sub: sub.into(),
                iss: None,
                act: None,
            }),
            authorization_details: None,
            owner: None,
            env: None,
            cred: None,
            ancestors: Vec::new(),
        };
        warden_crypto::jwt::issue(&self.ring, &claims).unwrap()
    }
}

async fn exchange(
    api: &Api,
    agent: &Agent,
    subject: &str,
    extra: &[(&str, &str)],
) -> crate::harness::Reply {
    let mut pairs = vec![
        (
            "grant_type",
            "urn:ietf:params:oauth:grant-type:token-exchange",
        ),
        ("subject_token", subject),
        (
            "subject_token_type",
            "urn:ietf:params:oauth:token-type:access_token",
        ),
    ];
    if !extra.iter().any(|(key, _)| *key == "resource") {
        pairs.push(("resource", "github"));
    }
    pairs.extend_from_slice(extra);
    api.form(TOKEN, Some((&agent.id, &agent.secret)), &pairs)
        .await
}

#[tokio::test]
async fn token_exchange_narrows_and_honours_may_act() {
    let idp = idp();
    let api = Api::with_credentials(idp.config.clone()).await;
    owner(&api, "ops@example.com").await;
    let bot = agent(
        &api,
        "bot",
        "ops@example.com",
        None,
        Some("repo:read repo:write"),
    )
    .await;
    let other = agent(&api, "other", "ops@example.com", None, None).await;
    let user = idp.user_token(now(&api), "repo:read issues:read", Some(&bot.id));

    let reply = exchange(&api, &bot, &user, &[("scope", "repo:read")]).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(
        reply.body["issued_token_type"],
        "urn:ietf:params:oauth:token-type:access_token"
    );
    let delegated = reply.body["access_token"].as_str().unwrap().to_string();
    let principal = verified(&api, &delegated).await;
    assert_eq!(principal["agent"], bot.id);
    assert_eq!(principal["on_behalf_of"], "alice@example.com");
    let introspected = api
        .form(
            "/oauth/introspect",
            Some((&bot.id, &bot.secret)),
            &[("token", &delegated)],
        )
        .await;
    assert_eq!(introspected.body["sub"], "alice@example.com");
    assert_eq!(introspected.body["act"]["sub"], bot.id);

    // Default scope: what both the user and the agent's credential allow.
    let default = exchange(&api, &bot, &user, &[]).await;
    assert_eq!(default.body["scope"], "repo:read", "{}", default.body);

    // More than the user has; more than the agent may have.
    let beyond_user = exchange(&api, &bot, &user, &[("scope", "repo:write")]).await;
    assert_eq!(
        beyond_user.body["error"], "invalid_scope",
        "{}",
        beyond_user.body
    );
    let beyond_agent = exchange(&api, &bot, &user, &[("scope", "issues:read")]).await;
    assert_eq!(
        beyond_agent.body["error"], "invalid_scope",
        "{}",
        beyond_agent.body
    );

    // An actor the user did not name in may_act.
    let not_named = exchange(&api, &other, &user, &[]).await;
    assert_eq!(
        not_named.body["error"], "invalid_grant",
        "{}",
        not_named.body
    );

    // A token from an issuer nobody trusts.
    let stranger = KeyRing::generate(0, 600).unwrap();
    let mut untrusted: AccessClaims = {
        use base64::Engine as _;
        let payload = user.split('.').nth(1).unwrap();
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .unwrap(),
        )
        .unwrap()
    };
    untrusted.iss = "https://evil.example.com".into();
    let untrusted = warden_crypto::jwt::issue(&stranger, &untrusted).unwrap();
    assert_eq!(
        exchange(&api, &bot, &untrusted, &[]).await.body["error"],
        "invalid_grant"
    );

    // The user's may_act follows the exchanged token: the sub-agent cannot take it on.
    let worker = agent(&api, "worker", "ops@example.com", None, None).await;
    let named_bot_only = exchange(&api, &bot, &user, &[]).await;
    let named_bot_only = named_bot_only.body["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        exchange(&api, &worker, &named_bot_only, &[]).await.body["error"],
        "invalid_grant"
    );

    // Re-delegation to a sub-agent through Warden's own token, from a user token that names
    // no actor: tasks and audience narrow, and revoking the first agent stops the chain.
    let open_user = idp.user_token(now(&api), "repo:read issues:read", None);
    let tasked = exchange(
        &api,
        &bot,
        &open_user,
        &[("authorization_details", r#"[{"type":"warden_task","task_id":"T-9","actions":["read","list"],"resources":["repo:a"]}]"#)],
    )
    .await;
    let tasked = tasked.body["access_token"].as_str().unwrap().to_string();
    let wider = exchange(
        &api,
        &worker,
        &tasked,
        &[("authorization_details", r#"[{"type":"warden_task","task_id":"T-9","actions":["delete"],"resources":["repo:a"]}]"#)],
    )
    .await;
    assert_eq!(
        wider.body["error"], "invalid_authorization_details",
        "{}",
        wider.body
    );
    let elsewhere = exchange(&api, &worker, &tasked, &[("resource", "jira")]).await;
    assert_eq!(
        elsewhere.body["error"], "invalid_target",
        "{}",
        elsewhere.body
    );
    let chained = exchange(&api, &worker, &tasked, &[]).await;
    assert_eq!(chained.status, StatusCode::OK, "{}", chained.body);
    let chained = chained.body["access_token"].as_str().unwrap().to_string();
    let principal = verified(&api, &chained).await;
    assert_eq!(principal["on_behalf_of"], "alice@example.com");
    assert_eq!(principal["tasks"][0]["actions"], json!(["read", "list"]));
    api.post("/v1/kill", &json!({ "identity": "agent:bot" }).to_string())
        .await;
    assert!(
        !is_valid(&api, &chained).await,
        "killing the first actor stops the chain"
    );
}

#[tokio::test]
async fn key_rotation_keeps_old_tokens_verifiable_and_publishes_both_keys() {
    let api = Api::new().await;
    owner(&api, "alice@example.com").await;
    let bot = agent(&api, "bot", "alice@example.com", None, None).await;
    let before = token(&api, &bot).await;
    let rotated = api.post("/v1/keys/rotate", "").await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    assert_eq!(rotated.body["items"].as_array().unwrap().len(), 2);
    let jwks = api.get("/.well-known/jwks.json").await;
    assert_eq!(jwks.body["keys"].as_array().unwrap().len(), 2);
    let after = token(&api, &bot).await;
    assert!(is_valid(&api, &before).await && is_valid(&api, &after).await);
    // Once the old key's tokens have all expired, the next rotation drops it.
    api.clock.advance_secs(3600 + 31);
    api.post("/v1/keys/rotate", "").await;
    let jwks = api.get("/.well-known/jwks.json").await;
    assert_eq!(jwks.body["keys"].as_array().unwrap().len(), 2);
    assert!(!is_valid(&api, &before).await);
}

#[tokio::test]
async fn private_key_jwt_clients_authenticate_with_a_signed_assertion() {
    let api = Api::new().await;
    owner(&api, "alice@example.com").await;
    let reply = api
        .post(
            "/v1/identities",
            r#"{"kind":"agent","name":"signer","owner":"alice@example.com"}"#,
        )
        .await;
    let client_id = reply.body["id"].as_str().unwrap().to_string();
    let key = KeyRing::generate(0, 600).unwrap();
    let jwk = key.active().jwk();
    let issued = api
        .post(
            "/v1/identities/agent:signer/credentials",
            &json!({ "kind": "private_key_jwt", "public_jwk": jwk }).to_string(),
        )
        .await;
    assert_eq!(issued.status, StatusCode::CREATED, "{}", issued.body);
    assert!(issued.body.get("client_secret").is_none());
    let at = now(&api).as_secs();
    let assertion = |jti: &str| {
        let claims = AccessClaims {
            iss: client_id.clone(),
            sub: client_id.clone(),
            aud: format!("{ISSUER}{TOKEN}"),
            exp: at + 60,
            iat: at,
            nbf: None,
            jti: jti.into(),
            client_id: client_id.clone(),
            scope: None,
            act: None,
            may_act: None,
            authorization_details: None,
            owner: None,
            env: None,
            cred: None,
            ancestors: Vec::new(),
        };
        warden_crypto::jwt::issue(&key, &claims).unwrap()
    };
    let first = assertion("a-1");
    let pairs = |assertion: &str| -> Vec<(String, String)> {
        vec![
            ("grant_type".into(), "client_credentials".into()),
            ("resource".into(), "github".into()),
            (
                "client_assertion_type".into(),
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
            ),
            ("client_assertion".into(), assertion.into()),
        ]
    };
    let api = &api;
    let send = |pairs: Vec<(String, String)>| async move {
        let borrowed: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        api.form(TOKEN, None, &borrowed).await
    };
    let ok = send(pairs(&first)).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    // Replay of the same assertion, and an assertion signed by another key.
    assert_eq!(send(pairs(&first)).await.body["error"], "invalid_client");
    let other = KeyRing::generate(0, 600).unwrap();
    let forged = warden_crypto::jwt::issue(&other, &{
        use base64::Engine as _;
        let payload = assertion("a-2");
        let payload = payload.split('.').nth(1).unwrap().to_string();
        serde_json::from_slice::<AccessClaims>(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .unwrap(),
        )
        .unwrap()
    })
    .unwrap();
    assert_eq!(send(pairs(&forged)).await.body["error"], "invalid_client");
}

#[tokio::test]
async fn moving_an_agent_under_a_suspended_parent_stops_its_tokens_at_once() {
    let api = Api::new().await;
    owner(&api, "alice@example.com").await;
    let worker = agent(&api, "worker", "alice@example.com", None, None).await;
    agent(&api, "quarantine", "alice@example.com", None, None).await;
    let suspended = api
        .post("/v1/identities/agent:quarantine/suspend", "{}")
        .await;
    assert_eq!(suspended.status, StatusCode::OK, "{}", suspended.body);
    let live = token(&api, &worker).await;
    assert!(is_valid(&api, &live).await);

    // No tick of the background reload happens in between: the edit itself must refresh.
    let moved = api
        .send(
            axum::http::Method::PATCH,
            "/v1/identities/agent:worker",
            Some(r#"{"parent":"agent:quarantine"}"#),
        )
        .await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
    assert!(
        !is_valid(&api, &live).await,
        "the token outlived the move under a suspended parent"
    );
}
