//! The credential plane's hardening, through the real binary: delegation limits that hold at
//! every hop, revocation that reaches every token exchanged from a revoked one (on this node
//! and, through the reload, on another), failed authentication that throttles the guesser
//! and never the client it names, client assertions accepted once across restarts and
//! nodes, introspection only for the token's own client, and the configurable leeway.

use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use warden_crypto::{AccessClaims, Actor, KeyRing};

use crate::gateway::{ROUTES, add_upstream, eventually};
use crate::harness::RunningServer;
use crate::upstream::TestUpstream;

const IDP: &str = "https://idp.example.com";
const ISSUER: &str = "https://warden.example";
const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";

const POLICY: &str = r#"permit(
    principal == Agent::"helper-bot",
    action == Action::"tickets.read",
    resource
);

permit(
    principal == Agent::"support-bot",
    action == Action::"tickets.read",
    resource
);
"#;

pub(crate) struct Client {
    pub(crate) id: String,
    pub(crate) secret: String,
}

/// A running Warden with the `crm` upstream, agents `helper-bot`, `support-bot`,
/// `victim-bot` and `auditor`, a policy letting the first two read tickets, and an external
/// identity provider it trusts.
pub(crate) struct Plane {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) server: RunningServer,
    pub(crate) admin: String,
    _upstream: TestUpstream,
    idp: KeyRing,
    pub(crate) helper: Client,
    pub(crate) support: Client,
    victim: Client,
    auditor: Client,
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

impl Plane {
    /// `config` is extra TOML for the `[credentials]` table.
    pub(crate) async fn start(credentials: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let idp = KeyRing::generate(now_secs(), 600).unwrap();
        let jwks = dir.path().join("idp-jwks.json");
        std::fs::write(&jwks, idp.jwks().to_string()).unwrap();
        let config = dir.path().join("warden.toml");
        std::fs::write(
            &config,
            format!(
                "[credentials]\npublic_url = \"{ISSUER}\"\n{credentials}\n\n[[credentials.trusted_issuers]]\nissuer = \"{IDP}\"\njwks_file = \"{}\"\n",
                jwks.display()
            ),
        )
        .unwrap();
        let server = RunningServer::start(
            &dir.path().join("data"),
            &["--config", config.to_str().unwrap()],
            &[],
        );
        Self::populate(dir, server, idp).await
    }

    async fn populate(dir: tempfile::TempDir, server: RunningServer, idp: KeyRing) -> Self {
        let admin = server.printed_token.clone().unwrap();
        server
            .cli(
                &admin,
                &["owner", "add", "alice@example.com", "--name", "Alice"],
            )
            .ok();
        let agent = |name: &str| {
            let created = server
                .cli(
                    &admin,
                    &[
                        "agent",
                        "create",
                        name,
                        "--owner",
                        "alice@example.com",
                        "-o",
                        "json",
                    ],
                )
                .json();
            Client {
                id: created["client_id"].as_str().unwrap().to_string(),
                secret: created["client_secret"].as_str().unwrap().to_string(),
            }
        };
        let (helper, support, victim, auditor) = (
            agent("helper-bot"),
            agent("support-bot"),
            agent("victim-bot"),
            agent("auditor"),
        );
        let upstream = TestUpstream::start().await;
        add_upstream(&server, &admin, dir.path(), "crm", &upstream.url(), ROUTES);
        let policy = dir.path().join("plane.cedar");
        std::fs::write(&policy, POLICY).unwrap();
        server
            .cli(&admin, &["policy", "add", policy.to_str().unwrap()])
            .ok();
        Self {
            dir,
            server,
            admin,
            _upstream: upstream,
            idp,
            helper,
            support,
            victim,
            auditor,
        }
    }

    /// A user's token from the identity provider, naming `may_act` as the only actor.
    fn user_token(&self, may_act: &str) -> String {
        let now = now_secs();
        let claims = AccessClaims {
            iss: IDP.into(),
            sub: "alice@example.com".into(),
            aud: ISSUER.into(),
            exp: now + 600,
            iat: now,
            nbf: None,
            jti: format!("user-{now}"),
            client_id: "webapp".into(),
            scope: Some("tickets.read".into()),
            act: None,
            may_act: Some(Actor {
                sub: may_act.into(),
                iss: None,
                act: None,
            }),
            authorization_details: None,
            owner: None,
            env: None,
            cred: None,
            ancestors: Vec::new(),
        };
        warden_crypto::jwt::issue(&self.idp, &claims).unwrap()
    }
}

/// Form-urlencoding of one key or value.
fn encoded(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(byte).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

/// Posts a form to the API as `client`, optionally from a given source address.
pub(crate) async fn post_form(
    api: &str,
    path: &str,
    client: Option<(&str, &str)>,
    pairs: &[(&str, &str)],
    source: Option<IpAddr>,
) -> (u16, Value) {
    let mut builder = reqwest::Client::builder();
    if let Some(address) = source {
        builder = builder.local_address(address);
    }
    let body = pairs
        .iter()
        .map(|(key, value)| format!("{}={}", encoded(key), encoded(value)))
        .collect::<Vec<_>>()
        .join("&");
    let mut request = builder
        .build()
        .unwrap()
        .post(format!("{api}{path}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body);
    if let Some((id, secret)) = client {
        request = request.basic_auth(id, Some(secret));
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

pub(crate) async fn client_token(api: &str, client: &Client, extra: &[(&str, &str)]) -> String {
    let mut pairs = vec![("grant_type", "client_credentials"), ("resource", "crm")];
    pairs.extend_from_slice(extra);
    let (status, body) = post_form(
        api,
        "/oauth/token",
        Some((&client.id, &client.secret)),
        &pairs,
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_string()
}

async fn exchange(api: &str, client: &Client, subject: &str) -> (u16, Value) {
    post_form(
        api,
        "/oauth/token",
        Some((&client.id, &client.secret)),
        &[
            ("grant_type", TOKEN_EXCHANGE),
            ("subject_token", subject),
            ("subject_token_type", ACCESS_TOKEN),
            ("resource", "crm"),
        ],
        None,
    )
    .await
}

pub(crate) async fn exchanged(api: &str, client: &Client, subject: &str) -> String {
    let (status, body) = exchange(api, client, subject).await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_string()
}

/// The status the gateway answers a ticket read with `token`.
pub(crate) async fn gateway_status(gateway: &str, token: &str) -> u16 {
    reqwest::Client::new()
        .get(format!("{gateway}/crm/tickets/1"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread")]
async fn may_act_for_one_agent_is_not_laundered_through_a_second_exchange() {
    let plane = Plane::start("").await;
    let (api, gateway) = (&plane.server.api, &plane.server.gateway);
    let user = plane.user_token("agent:helper-bot");

    // The user allowed helper-bot alone: support-bot is refused at once…
    let (status, body) = exchange(api, &plane.support, &user).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    // …and helper-bot's exchanged token works.
    let first = exchanged(api, &plane.helper, &user).await;
    assert_eq!(gateway_status(gateway, &first).await, 200);

    // support-bot re-exchanging helper-bot's token is the same act by another route.
    let (status, body) = exchange(api, &plane.support, &first).await;
    if let Some(laundered) = body["access_token"].as_str() {
        assert_ne!(
            gateway_status(gateway, laundered).await,
            200,
            "a token exchanged past the user's may_act was accepted at the gateway"
        );
    }
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_grant", "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("may_act"),
        "{body}"
    );
    // helper-bot itself may exchange its token again: may_act still names it.
    let again = exchanged(api, &plane.helper, &first).await;
    assert_eq!(gateway_status(gateway, &again).await, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_delegation_chain_deeper_than_the_limit_is_refused() {
    let plane = Plane::start("max_delegation_depth = 2").await;
    let (api, gateway) = (&plane.server.api, &plane.server.gateway);
    let origin = client_token(api, &plane.helper, &[]).await;
    let one = exchanged(api, &plane.support, &origin).await;
    let two = exchanged(api, &plane.helper, &one).await;
    assert_eq!(gateway_status(gateway, &two).await, 200);
    let (status, body) = exchange(api, &plane.support, &two).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_grant");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("max_delegation_depth"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn revoking_a_token_refuses_every_token_exchanged_from_it() {
    let plane = Plane::start("").await;
    let (api, gateway) = (&plane.server.api, &plane.server.gateway);

    // Revoked by its own client at /oauth/revoke (RFC 7009).
    let parent = client_token(api, &plane.helper, &[]).await;
    let child = exchanged(api, &plane.support, &parent).await;
    let grandchild = exchanged(api, &plane.helper, &child).await;
    assert_eq!(gateway_status(gateway, &child).await, 200);
    assert_eq!(gateway_status(gateway, &grandchild).await, 200);
    let (status, _) = post_form(
        api,
        "/oauth/revoke",
        Some((&plane.helper.id, &plane.helper.secret)),
        &[("token", &parent)],
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(gateway_status(gateway, &parent).await, 401);
    assert_eq!(gateway_status(gateway, &child).await, 401);
    assert_eq!(gateway_status(gateway, &grandchild).await, 401);
    let (status, body) = exchange(api, &plane.helper, &child).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );

    // Revoked by the admin API.
    let parent = client_token(api, &plane.helper, &[]).await;
    let child = exchanged(api, &plane.support, &parent).await;
    assert_eq!(gateway_status(gateway, &child).await, 200);
    plane
        .server
        .cli(&plane.admin, &["revoke", "token", &parent])
        .ok();
    assert_eq!(gateway_status(gateway, &child).await, 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_secrets_from_one_address_do_not_lock_out_the_client_elsewhere() {
    let plane = Plane::start("").await;
    let api = &plane.server.api;
    let guesser: IpAddr = "127.0.0.2".parse().unwrap();
    let holder: IpAddr = "127.0.0.3".parse().unwrap();
    let pairs = [("grant_type", "client_credentials"), ("resource", "crm")];
    let wrong = "warden_cs_0000000000000000000000000000000000000000000";
    let mut statuses = Vec::new();
    for _ in 0..12 {
        let (status, _) = post_form(
            api,
            "/oauth/token",
            Some((&plane.victim.id, wrong)),
            &pairs,
            Some(guesser),
        )
        .await;
        statuses.push(status);
    }
    assert!(
        statuses[..10].iter().all(|status| *status == 401),
        "{statuses:?}"
    );
    assert_eq!(statuses[10..], [429, 429], "the guesser is throttled");

    // The right secret from another address is not held back.
    let (status, body) = post_form(
        api,
        "/oauth/token",
        Some((&plane.victim.id, &plane.victim.secret)),
        &pairs,
        Some(holder),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // The guesser's address stays throttled, whatever client it names.
    let (status, _) = post_form(
        api,
        "/oauth/token",
        Some((&plane.helper.id, &plane.helper.secret)),
        &pairs,
        Some(guesser),
    )
    .await;
    assert_eq!(status, 429);
}

/// An RFC 7523 assertion by `client_id`, signed with `key`, for the token endpoint.
fn assertion(key: &KeyRing, client_id: &str, jti: &str) -> String {
    let now = now_secs();
    let claims = AccessClaims {
        iss: client_id.into(),
        sub: client_id.into(),
        aud: format!("{ISSUER}/oauth/token"),
        exp: now + 60,
        iat: now,
        nbf: None,
        jti: jti.into(),
        client_id: client_id.into(),
        scope: None,
        act: None,
        may_act: None,
        authorization_details: None,
        owner: None,
        env: None,
        cred: None,
        ancestors: Vec::new(),
    };
    warden_crypto::jwt::issue(key, &claims).unwrap()
}

async fn with_assertion(api: &str, assertion: &str) -> (u16, Value) {
    post_form(
        api,
        "/oauth/token",
        None,
        &[
            ("grant_type", "client_credentials"),
            ("resource", "crm"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion),
        ],
        None,
    )
    .await
}

/// Registers an Ed25519 key for `agent:signer` and returns the agent's id and the key.
async fn signer(server: &RunningServer, admin: &str) -> (String, KeyRing) {
    let key = KeyRing::generate(now_secs(), 600).unwrap();
    let created = server
        .cli(
            admin,
            &[
                "agent",
                "create",
                "signer",
                "--owner",
                "alice@example.com",
                "-o",
                "json",
            ],
        )
        .json();
    let id = created["client_id"].as_str().unwrap().to_string();
    let response = reqwest::Client::new()
        .post(format!(
            "{}/v1/identities/agent:signer/credentials",
            server.api
        ))
        .bearer_auth(admin)
        .json(&json!({ "kind": "private_key_jwt", "public_jwk": key.active().jwk() }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    (id, key)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_assertion_replayed_after_a_restart_is_refused() {
    let Plane {
        dir,
        server,
        admin,
        _upstream,
        ..
    } = Plane::start("").await;
    let (id, key) = signer(&server, &admin).await;
    let used = assertion(&key, &id, "assertion-1");
    let (status, body) = with_assertion(&server.api, &used).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = with_assertion(&server.api, &used).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );

    let data_dir = server.data_dir.clone();
    let (api, gateway) = (server.api.clone(), server.gateway.clone());
    assert!(server.stop().success());
    let config = dir.path().join("warden.toml");
    let server = RunningServer::start_on(
        &data_dir,
        api.trim_start_matches("http://"),
        gateway.trim_start_matches("http://"),
        &["--config", config.to_str().unwrap()],
        &[],
    );
    let (status, body) = with_assertion(&server.api, &used).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client")),
        "a used assertion was accepted again after a restart: {body}"
    );
    // A fresh assertion still works.
    let fresh = assertion(&key, &id, "assertion-2");
    assert_eq!(with_assertion(&server.api, &fresh).await.0, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn introspection_by_another_client_answers_inactive() {
    let plane = Plane::start("introspectors = [\"agent:auditor\"]").await;
    let api = &plane.server.api;
    let token = client_token(api, &plane.helper, &[]).await;
    let introspect = |client: &Client, token: &str| {
        let (id, secret, token) = (client.id.clone(), client.secret.clone(), token.to_string());
        async move {
            post_form(
                api,
                "/oauth/introspect",
                Some((&id, &secret)),
                &[("token", &token)],
                None,
            )
            .await
        }
    };
    let (status, own) = introspect(&plane.helper, &token).await;
    assert_eq!(status, 200);
    assert_eq!(own["active"], true, "{own}");
    assert_eq!(own["client_id"], plane.helper.id);

    let (status, stranger) = introspect(&plane.support, &token).await;
    assert_eq!(status, 200);
    assert_eq!(
        stranger,
        json!({ "active": false }),
        "nothing leaks to a stranger"
    );
    let (_, garbage) = introspect(&plane.support, "not-a-token").await;
    assert_eq!(stranger, garbage);

    let (_, listed) = introspect(&plane.auditor, &token).await;
    assert_eq!(listed["active"], true, "{listed}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_clock_leeway_setting_is_honoured() {
    let plane = Plane::start("clock_leeway_secs = 2").await;
    let (api, gateway) = (&plane.server.api, &plane.server.gateway);
    let (status, body) = post_form(
        api,
        "/oauth/token",
        Some((&plane.helper.id, &plane.helper.secret)),
        &[
            ("grant_type", "client_credentials"),
            ("resource", "crm"),
            ("expires_in", "1"),
        ],
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().unwrap().to_string();
    let exp = now_secs() + 1;
    // Poll until the gateway refuses the token; note when each answer was asked for.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut accepted_after_expiry = false;
    loop {
        let asked_at = now_secs();
        let status = gateway_status(gateway, &token).await;
        let answered_at = now_secs();
        if status == 401 {
            assert!(
                answered_at >= exp + 2,
                "refused at {answered_at}, before exp {exp} plus the leeway of 2 s"
            );
            break;
        }
        assert_eq!(status, 200);
        accepted_after_expiry |= asked_at > exp;
        assert!(
            Instant::now() < deadline,
            "the token was still accepted long past exp plus a 2 s leeway"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(accepted_after_expiry, "the leeway was not applied at all");
}

/// A fresh schema in the test PostgreSQL, or `None` when it is not reachable.
pub(crate) async fn postgres_schema() -> Option<String> {
    use sqlx::Connection as _;
    let base = std::env::var("WARDEN_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let connect = sqlx::PgConnection::connect(&base);
    let mut connection = match tokio::time::timeout(Duration::from_secs(5), connect).await {
        Ok(Ok(connection)) => connection,
        _ if std::env::var("CI").as_deref() == Ok("true") => panic!("PostgreSQL unreachable"),
        _ => {
            eprintln!("NOTICE: PostgreSQL at {base} is unreachable; the two-node test SKIPPED");
            return None;
        }
    };
    let schema = format!("warden_e2e_{}", uuid::Uuid::now_v7().simple());
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&mut connection)
        .await
        .unwrap();
    let separator = if base.contains('?') { '&' } else { '?' };
    Some(format!(
        "{base}{separator}options=-c%20search_path%3D{schema}"
    ))
}

pub(crate) fn copy_keys(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    let copied = std::process::Command::new("cp")
        .arg("-a")
        .arg(from.join("keys"))
        .arg(to)
        .status()
        .unwrap();
    assert!(copied.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn revocations_and_used_assertions_reach_every_node_sharing_the_database() {
    let Some(database) = postgres_schema().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let idp = KeyRing::generate(now_secs(), 600).unwrap();
    let config = dir.path().join("warden.toml");
    std::fs::write(
        &config,
        format!("database_url = \"{database}\"\n\n[credentials]\npublic_url = \"{ISSUER}\"\n"),
    )
    .unwrap();
    let args = ["--config", config.to_str().unwrap()];
    let first = RunningServer::start(&dir.path().join("a"), &args, &[]);
    copy_keys(&dir.path().join("a"), &dir.path().join("b"));
    // Both nodes must name the same gateway in audiences, so the second shares the first's
    // gateway URL (it serves its own listener, which the test uses).
    let gateway_url = first.gateway.clone();
    let second_config = dir.path().join("second.toml");
    std::fs::write(
        &second_config,
        format!(
            "database_url = \"{database}\"\n\n[credentials]\npublic_url = \"{ISSUER}\"\ngateway_url = \"{gateway_url}\"\n"
        ),
    )
    .unwrap();
    let admin = first.printed_token.clone().unwrap();
    let plane = Plane::populate(dir, first, idp).await;
    let second = RunningServer::start(
        &plane.dir.path().join("b"),
        &["--config", second_config.to_str().unwrap()],
        &[],
    );

    // A token exchanged on the first node, its parent revoked on the second.
    let api = &plane.server.api;
    let parent = client_token(api, &plane.helper, &[]).await;
    let child = exchanged(api, &plane.support, &parent).await;
    assert_eq!(gateway_status(&plane.server.gateway, &child).await, 200);
    second.cli(&admin, &["revoke", "token", &parent]).ok();
    let gateway = plane.server.gateway.clone();
    eventually(
        "the first node to refuse the child of a token revoked on the second",
        Duration::from_secs(5),
        || {
            let (gateway, child) = (gateway.clone(), child.clone());
            async move { gateway_status(&gateway, &child).await == 401 }
        },
    )
    .await;

    // An assertion used on one node is a replay on the other.
    let (id, key) = signer(&plane.server, &admin).await;
    let used = assertion(&key, &id, "shared-1");
    assert_eq!(with_assertion(api, &used).await.0, 200);
    let (status, body) = with_assertion(&second.api, &used).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client")),
        "{body}"
    );
}
