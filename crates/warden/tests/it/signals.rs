//! Signals end to end, through the real binary: webhook receivers written here (real HTTP
//! servers) that check each delivery's HMAC, a failing one retried and dead-lettered then
//! redelivered; and a Shared Signals receiver that creates a push and a poll stream,
//! verifies, receives pushed SETs and polls SETs, checking each with `jsonwebtoken` against
//! the JWKS fetched over HTTP, after a kill and a leaked credential's revocation.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::harness::{RunningServer, warden};

const SESSION_REVOKED: &str = "https://schemas.openid.net/secevent/caep/event-type/session-revoked";
const CREDENTIAL_CHANGE: &str =
    "https://schemas.openid.net/secevent/caep/event-type/credential-change";
const ACCOUNT_DISABLED: &str =
    "https://schemas.openid.net/secevent/risc/event-type/account-disabled";
const VERIFICATION: &str = "https://schemas.openid.net/secevent/ssf/event-type/verification";

type Seen = Arc<Mutex<Vec<(HeaderMap, Bytes)>>>;

/// A receiver on an ephemeral port that records every POST and answers `status`.
async fn receiver(status: Arc<AtomicU16>) -> (String, Seen) {
    let seen: Seen = Arc::default();
    let record = seen.clone();
    let app = axum::Router::new().route(
        "/{*path}",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let record = record.clone();
            let status = status.clone();
            async move {
                record.lock().unwrap().push((headers, body));
                StatusCode::from_u16(status.load(Ordering::SeqCst)).unwrap()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

fn signals_server(dir: &std::path::Path) -> (RunningServer, String) {
    let config = dir.join("warden.toml");
    std::fs::write(
        &config,
        "[signals]\nretry_base_millis = 50\nretry_cap_millis = 200\nmax_attempts = 3\ninterval_millis = 50\n",
    )
    .unwrap();
    let server = RunningServer::start(
        &dir.join("data"),
        &["--config", config.to_str().unwrap()],
        &[],
    );
    let admin = server.printed_token.clone().unwrap();
    (server, admin)
}

/// Waits (with a deadline, never a fixed sleep) until `check` holds.
async fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What a receiver does with `Warden-Signature`: recompute the HMAC over `t.body`.
fn signature_holds(secret: &str, headers: &HeaderMap, body: &[u8]) -> bool {
    let header = headers["warden-signature"].to_str().unwrap();
    let (t, v1) = header.split_once(",v1=").unwrap();
    let t = t.strip_prefix("t=").unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(t.as_bytes());
    mac.update(b".");
    mac.update(body);
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    expected == v1
}

fn create_agent(server: &RunningServer, admin: &str, name: &str) -> Value {
    server
        .cli(
            admin,
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
        .json()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_are_signed_retried_dead_lettered_and_redelivered() {
    let dir = tempfile::tempdir().unwrap();
    let (server, admin) = signals_server(dir.path());
    let ok_status = Arc::new(AtomicU16::new(200));
    let fail_status = Arc::new(AtomicU16::new(500));
    let (ok_url, ok_seen) = receiver(ok_status).await;
    let (fail_url, fail_seen) = receiver(fail_status.clone()).await;

    let refused = server.cli(
        &admin,
        &[
            "webhook",
            "add",
            "file:///etc/passwd",
            "--events",
            "kill.applied",
        ],
    );
    assert_ne!(refused.code(), 0);
    assert!(
        refused.stderr().contains("http or https"),
        "{}",
        refused.stderr()
    );
    let refused = server.cli(
        &admin,
        &[
            "webhook",
            "add",
            &ok_url,
            "--events",
            "kill.applied,gateway.decision",
        ],
    );
    assert!(
        refused.stderr().contains("gateway.decision"),
        "{}",
        refused.stderr()
    );

    let added = server
        .cli(
            &admin,
            &[
                "webhook",
                "add",
                &format!("{ok_url}/hook"),
                "--events",
                "finding.opened,approval.requested,kill.applied,leak.detected",
                "-o",
                "json",
            ],
        )
        .json();
    let secret = added["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"), "{added}");
    let failing = server
        .cli(
            &admin,
            &[
                "webhook",
                "add",
                &format!("{fail_url}/hook"),
                "--events",
                "kill.applied",
                "-o",
                "json",
            ],
        )
        .json();
    let failing_id = failing["webhook"]["id"].as_str().unwrap().to_string();

    server
        .cli(
            &admin,
            &["owner", "add", "alice@example.com", "--name", "Alice"],
        )
        .ok();
    let agent = create_agent(&server, &admin, "support-bot");
    server.cli(&admin, &["kill", "agent", "support-bot"]).ok();

    let (headers, body) = eventually("the kill delivered to the working webhook", || {
        ok_seen
            .lock()
            .unwrap()
            .iter()
            .find(|(headers, _)| {
                headers
                    .get("warden-event")
                    .is_some_and(|v| v == "kill.applied")
            })
            .cloned()
    })
    .await;
    assert!(
        signature_holds(&secret, &headers, &body),
        "the HMAC does not verify"
    );
    assert!(!signature_holds("whsec_wrong", &headers, &body));
    let delivered: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(delivered["type"], "kill.applied");
    assert_eq!(delivered["audit"]["target"]["id"], agent["id"]);

    // The failing webhook: three attempts, then a dead letter with its last error.
    let dead = eventually("a dead letter", || {
        let listed = server
            .cli(
                &admin,
                &["webhook", "deliveries", "--status", "dead", "-o", "json"],
            )
            .json();
        listed.as_array().and_then(|items| items.first().cloned())
    })
    .await;
    assert_eq!(dead["webhook_id"], failing_id.as_str());
    assert_eq!(dead["attempts"], 3, "{dead}");
    assert_eq!(dead["last_status"], 500);
    assert!(
        dead["last_error"].as_str().unwrap().contains("500"),
        "{dead}"
    );
    assert_eq!(fail_seen.lock().unwrap().len(), 3);
    let table = server.cli(&admin, &["webhook", "deliveries"]).ok();
    assert!(
        table.contains("dead") && table.contains("delivered"),
        "{table}"
    );

    // The receiver is fixed; the dead letter is sent again and arrives.
    fail_status.store(204, Ordering::SeqCst);
    let delivery = dead["id"].as_str().unwrap();
    server.cli(&admin, &["webhook", "redeliver", delivery]).ok();
    eventually("the redelivery", || {
        let listed = server
            .cli(
                &admin,
                &[
                    "webhook",
                    "deliveries",
                    "--webhook",
                    &failing_id,
                    "-o",
                    "json",
                ],
            )
            .json();
        (listed[0]["status"] == "delivered").then_some(())
    })
    .await;
    assert_eq!(fail_seen.lock().unwrap().len(), 4);
    let redelivered = fail_seen.lock().unwrap()[3].clone();
    assert_eq!(redelivered.0["warden-delivery"], delivery);

    // The secret is in no later answer and in no audit record.
    let listed = server.cli(&admin, &["webhook", "list", "-o", "json"]).ok();
    assert!(
        !listed.contains(&secret) && listed.contains(&ok_url),
        "{listed}"
    );
    let trail = server.cli(&admin, &["audit", "export"]).ok();
    assert!(!trail.contains(&secret));
    assert!(
        trail.contains("webhook.added"),
        "adding a webhook is not on the record"
    );
    let salts = server
        .cli(
            &admin,
            &["audit", "query", "--kind", "webhook.added", "-o", "json"],
        )
        .ok();
    assert!(!salts.contains("secret_salt"), "{salts}");
    let openapi: Value = reqwest::get(format!("{}/openapi.json", server.api))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(openapi["paths"]["/v1/webhooks"].is_object());
    assert!(openapi["paths"]["/v1/webhooks/deliveries/{id}/redeliver"].is_object());
    server.cli(&admin, &["webhook", "remove", &failing_id]).ok();
}

/// What a relying party does: verify the SET with the transmitter's JWKS and nothing else.
fn verify_set(
    jwks: &jsonwebtoken::jwk::JwkSet,
    token: &str,
    issuer: &str,
    audience: &str,
) -> Value {
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("secevent+jwt"));
    let jwk = jwks.find(header.kid.as_deref().unwrap()).unwrap();
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    validation.set_audience(&[audience]);
    validation.set_issuer(&[issuer]);
    validation.validate_exp = false;
    validation.required_spec_claims = HashSet::new();
    let claims = jsonwebtoken::decode::<Value>(token, &key, &validation)
        .unwrap()
        .claims;
    assert!(
        claims["jti"].is_string() && claims["iat"].is_i64(),
        "{claims}"
    );
    claims
}

fn event_types(claims: &Value) -> Vec<String> {
    claims["events"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_signals_receiver_verifies_pushed_and_polled_sets_after_a_kill_and_a_leak() {
    let dir = tempfile::tempdir().unwrap();
    let (server, admin) = signals_server(dir.path());
    let (push_url, pushed) = receiver(Arc::new(AtomicU16::new(202))).await;
    let http = reqwest::Client::new();
    let api = server.api.clone();

    let added = server
        .cli(&admin, &["ssf", "receiver-add", "rp-1", "-o", "json"])
        .json();
    let token = added["token"].as_str().unwrap().to_string();
    let other = server
        .cli(&admin, &["ssf", "receiver-add", "rp-2", "-o", "json"])
        .json();
    let other_token = other["token"].as_str().unwrap().to_string();

    let configuration: Value = http
        .get(format!("{api}/.well-known/ssf-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let issuer = configuration["issuer"].as_str().unwrap().to_string();
    assert_eq!(
        configuration["delivery_methods_supported"],
        json!(["urn:ietf:rfc:8935", "urn:ietf:rfc:8936"])
    );
    for endpoint in [
        "configuration_endpoint",
        "status_endpoint",
        "add_subject_endpoint",
        "remove_subject_endpoint",
        "verification_endpoint",
    ] {
        assert!(
            configuration[endpoint].as_str().unwrap().starts_with(&api),
            "{endpoint}"
        );
    }
    let streams_at = configuration["configuration_endpoint"]
        .as_str()
        .unwrap()
        .to_string();
    let jwks: jsonwebtoken::jwk::JwkSet = http
        .get(configuration["jwks_uri"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    let events = json!([SESSION_REVOKED, CREDENTIAL_CHANGE, ACCOUNT_DISABLED]);
    let unauthenticated = http
        .post(&streams_at)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), 401);
    let typo = http
        .post(&streams_at)
        .bearer_auth(&token)
        .json(&json!({"delivery": {"method": "urn:ietf:rfc:8936"}, "event_requested": events}))
        .send()
        .await
        .unwrap();
    assert_eq!(typo.status(), 400);
    assert!(typo.text().await.unwrap().contains("event_requested"));

    let push: Value = http
        .post(&streams_at)
        .bearer_auth(&token)
        .json(&json!({
            "delivery": {"method": "urn:ietf:rfc:8935", "endpoint_url": format!("{push_url}/events"),
                         "authorization_header": "Bearer push-secret"},
            "events_requested": events,
            "description": "push",
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let push_id = push["stream_id"].as_str().unwrap().to_string();
    assert_eq!(push["events_delivered"], events);
    assert!(!push.to_string().contains("push-secret"), "{push}");
    let poll: Value = http
        .post(&streams_at)
        .bearer_auth(&token)
        .json(&json!({"delivery": {"method": "urn:ietf:rfc:8936"}, "events_requested": events}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let poll_url = poll["delivery"]["endpoint_url"]
        .as_str()
        .unwrap()
        .to_string();

    // Another receiver cannot see these streams.
    let probed = http
        .get(format!("{streams_at}?stream_id={push_id}"))
        .bearer_auth(&other_token)
        .send()
        .await
        .unwrap();
    assert_eq!(probed.status(), 404);
    let status: Value = http
        .get(format!("{api}/ssf/status?stream_id={push_id}"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["status"], "enabled");

    // Verification: the event arrives by push, signed, carrying the state.
    let verified = http
        .post(configuration["verification_endpoint"].as_str().unwrap())
        .bearer_auth(&token)
        .json(&json!({"stream_id": push_id, "state": "state-123"}))
        .send()
        .await
        .unwrap();
    assert_eq!(verified.status(), 204);
    let (headers, body) = eventually("the verification event", || {
        pushed.lock().unwrap().first().cloned()
    })
    .await;
    assert_eq!(headers["content-type"], "application/secevent+jwt");
    assert_eq!(headers["authorization"], "Bearer push-secret");
    let claims = verify_set(&jwks, std::str::from_utf8(&body).unwrap(), &issuer, "rp-1");
    assert_eq!(claims["events"][VERIFICATION]["state"], "state-123");

    // A kill: session-revoked (and account-disabled) about the agent, pushed and polled.
    server
        .cli(
            &admin,
            &["owner", "add", "alice@example.com", "--name", "Alice"],
        )
        .ok();
    let bot = create_agent(&server, &admin, "support-bot");
    let bot_id = bot["id"].as_str().unwrap().to_string();
    server.cli(&admin, &["kill", "agent", "support-bot"]).ok();
    let subject = json!({"format": "iss_sub", "iss": issuer, "sub": bot_id});
    let pushed_kill = eventually("the pushed session-revoked", || {
        pushed.lock().unwrap().iter().find_map(|(_, body)| {
            let claims = verify_set(&jwks, std::str::from_utf8(body).unwrap(), &issuer, "rp-1");
            (event_types(&claims) == [SESSION_REVOKED]).then_some(claims)
        })
    })
    .await;
    assert_eq!(pushed_kill["sub_id"], subject);

    let polled: Value = http
        .post(&poll_url)
        .bearer_auth(&token)
        .json(&json!({"returnImmediately": true, "maxEvents": 10}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sets = polled["sets"].as_object().unwrap().clone();
    let mut kinds = Vec::new();
    for (jti, set) in &sets {
        let claims = verify_set(&jwks, set.as_str().unwrap(), &issuer, "rp-1");
        assert_eq!(&claims["jti"], jti);
        assert_eq!(claims["sub_id"], subject);
        kinds.extend(event_types(&claims));
    }
    kinds.sort();
    let mut expected = vec![SESSION_REVOKED.to_string(), ACCOUNT_DISABLED.to_string()];
    expected.sort();
    assert_eq!(kinds, expected, "{polled}");

    // Acknowledged SETs are not returned again.
    let acked: Value = http
        .post(&poll_url)
        .bearer_auth(&token)
        .json(&json!({"ack": sets.keys().collect::<Vec<_>>(), "returnImmediately": true}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(acked["sets"], json!({}), "{acked}");
    assert_eq!(acked["moreAvailable"], false);

    // A leaked client secret revoked while the poll stream is paused: nothing is handed out
    // until it is enabled again, then credential-change, change_type revoke.
    let poll_id = poll["stream_id"].as_str().unwrap().to_string();
    let set_status = |status: &'static str| {
        http.post(format!("{api}/ssf/status"))
            .bearer_auth(&token)
            .json(&json!({"stream_id": poll_id, "status": status}))
            .send()
    };
    assert_eq!(set_status("paused").await.unwrap().status(), 200);
    let leaker = create_agent(&server, &admin, "leaky-bot");
    let leaked_secret = leaker["client_secret"].as_str().unwrap();
    let reported = warden()
        .env("WARDEN_ADDR", &server.api)
        .env("WARDEN_TOKEN", &admin)
        .env("LEAKED", leaked_secret)
        .args([
            "leaks",
            "report",
            "--secret-env",
            "LEAKED",
            "--revoke",
            "-o",
            "json",
        ])
        .output()
        .unwrap();
    assert!(
        reported.status.success(),
        "{}",
        String::from_utf8_lossy(&reported.stderr)
    );
    let held = async {
        let mut deadline_reached = false;
        // Wait until the fan-out has queued the event (it shows as moreAvailable).
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let polled: Value = http
                .post(&poll_url)
                .bearer_auth(&token)
                .json(&json!({"returnImmediately": true}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(
                polled["sets"],
                json!({}),
                "a paused stream handed out {polled}"
            );
            if polled["moreAvailable"] == true || deadline_reached {
                return polled["moreAvailable"] == true;
            }
            deadline_reached = Instant::now() > deadline;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    assert!(held.await, "the event never queued while paused");
    assert_eq!(set_status("enabled").await.unwrap().status(), 200);
    let deadline = Instant::now() + Duration::from_secs(20);
    let change = loop {
        let polled: Value = http
            .post(&poll_url)
            .bearer_auth(&token)
            .json(&json!({"returnImmediately": true}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let found = polled["sets"]
            .as_object()
            .unwrap()
            .values()
            .find_map(|set| {
                let claims = verify_set(&jwks, set.as_str().unwrap(), &issuer, "rp-1");
                (event_types(&claims) == [CREDENTIAL_CHANGE]).then_some(claims)
            });
        if let Some(found) = found {
            break found;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for credential-change"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(change["events"][CREDENTIAL_CHANGE]["change_type"], "revoke");
    assert_eq!(change["sub_id"]["sub"], leaker["id"]);

    // Neither token is in any audit record.
    let trail = server.cli(&admin, &["audit", "export"]).ok();
    assert!(!trail.contains(&token) && !trail.contains("push-secret"));
    assert!(trail.contains("ssf.receiver_added"));
    let deleted = http
        .delete(format!("{streams_at}?stream_id={push_id}"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
}
