//! The dashboard at scale, on SQLite: how long each page takes to render on the server with
//! 1,000,000 identities in the inventory (set `DASHBOARD_BENCH_IDENTITIES` for another size),
//! against the goal of 100 ms a page.
//!
//! The inventory is written straight into the store's tables (a million identities through
//! the API would take the bench hours and measure the writes, not the pages), under 100
//! owners made through the store. Pages are requested through the real router with a real
//! session, signed in with the admin token, and each timed over 20 requests (median and
//! slowest). The baseline, in the same run, is the API call the page is built from:
//! `GET /v1/identities?limit=50`, answered as JSON.
//!
//! Run with `cargo bench -p warden-server --bench dashboard`. The figures go in
//! BENCHMARKS.md; nothing here asserts a time.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, header};
use http_body_util::BodyExt as _;
use tower::ServiceExt as _;
use warden_audit::Actor;
use warden_core::{Clock as _, NewOwner, SystemClock};
use warden_crypto::Pepper;
use warden_server::AppState;
use warden_store::{AuditSettings, SqlStore, Store};

const TOKEN: &str = "bench-admin-token-that-is-long-enough-0123456789";
const OWNERS: usize = 100;
const RUNS: usize = 20;

async fn state(store: SqlStore) -> AppState {
    let pepper = Pepper::from_bytes([3; 32]);
    let data_key = warden_crypto::DataKey::from_bytes([5; 32]);
    let now = SystemClock.now();
    let plane_settings = warden_plane::PlaneSettings::resolve(
        &warden_plane::CredentialConfig::default(),
        "http://warden.bench",
        "http://gateway.bench",
    )
    .unwrap();
    let credentials =
        warden_plane::CredentialPlane::start(&store, data_key.clone(), plane_settings, now)
            .await
            .unwrap();
    let signer = warden_audit::AuditSigner::generate().unwrap();
    AppState {
        audit_public_key: signer.public_key(),
        credentials: Arc::new(credentials),
        store: Arc::new(store),
        clock: Arc::new(SystemClock),
        admin_token_hash: pepper.hash(
            warden_server::bootstrap::ADMIN_TOKEN_DOMAIN,
            TOKEN.as_bytes(),
        ),
        pepper,
        actor: Actor::admin("admin", "admin"),
        data_key: Arc::new(data_key),
        approvals_changed: Arc::new(tokio::sync::Notify::new()),
        catalog: Arc::default(),
        posture: Arc::new(warden_server::posture::Posture::new(
            warden_posture::Thresholds::default(),
            Duration::from_secs(3_600),
        )),
        max_import_bytes: 1024 * 1024,
        leaks_auto_revoke: false,
        tool_pins: Arc::default(),
        signals: Arc::new(
            warden_server::signals::SignalSettings::resolve(
                &Default::default(),
                "http://warden.bench",
            )
            .unwrap(),
        ),
        task_window: Arc::new(warden_policy::TaskWindow::new(Default::default())),
        freshness: Arc::new(warden_plane::Freshness::new(Duration::from_secs(3_600))),
        owner_sign_in: None,
    }
}

/// Writes `count` identities over the owners, in batches of one statement each.
async fn seed(path: &std::path::Path, owners: &[String], count: usize) {
    let pool = sqlx::AnyPool::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    let now = SystemClock.now().as_millis();
    let batch = 100_000;
    let mut written = 0;
    while written < count {
        let size = batch.min(count - written);
        let owner_cases: String = owners
            .iter()
            .enumerate()
            .map(|(i, id)| format!("WHEN {i} THEN '{id}' "))
            .collect();
        let sql = format!(
            "WITH RECURSIVE n(i) AS (SELECT {written} UNION ALL SELECT i + 1 FROM n WHERE i + 1 < {end}) \
             INSERT INTO identities (id, kind, name, owner_id, purpose, environment, labels, status, \
             suspension_reason, source, source_detail, parent_id, created_at, updated_at, expires_at, last_used_at) \
             SELECT printf('00000000-0000-7000-8000-%012x', i), \
                    CASE i % 3 WHEN 0 THEN 'agent' ELSE 'service_account' END, \
                    printf('nhi-%07d', i), \
                    CASE i % {owners} {owner_cases} END, \
                    NULL, CASE i % 2 WHEN 0 THEN 'prod' ELSE 'dev' END, '{{}}', \
                    CASE i % 50 WHEN 0 THEN 'suspended' ELSE 'active' END, \
                    CASE i % 50 WHEN 0 THEN 'manual' ELSE NULL END, \
                    'issued', NULL, NULL, {now}, {now}, NULL, NULL FROM n",
            end = written + size,
            owners = owners.len(),
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&pool)
            .await
            .unwrap();
        written += size;
    }
    pool.close().await;
}

async fn send(router: &Router, path: &str, cookie: Option<&str>) -> (u16, usize) {
    let mut request = Request::builder().uri(path);
    match cookie {
        Some(cookie) => request = request.header(header::COOKIE, cookie),
        None => request = request.header(header::AUTHORIZATION, format!("Bearer {TOKEN}")),
    }
    let response = router
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, bytes.len())
}

/// Requests `path` `RUNS` times: the median and the slowest.
async fn time(router: &Router, path: &str, cookie: Option<&str>) -> (Duration, Duration, usize) {
    let mut times = Vec::with_capacity(RUNS);
    let mut size = 0;
    for _ in 0..RUNS {
        let started = Instant::now();
        let (status, bytes) = send(router, path, cookie).await;
        times.push(started.elapsed());
        assert_eq!(status, 200, "{path}");
        size = bytes;
    }
    times.sort();
    (times[RUNS / 2], times[RUNS - 1], size)
}

fn main() {
    let count: usize = std::env::var("DASHBOARD_BENCH_IDENTITIES")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(1_000_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("warden.db");
        let store = SqlStore::open_sqlite(
            &path,
            AuditSettings {
                node: "bench".into(),
                signer: None,
                checkpoints: warden_audit::CheckpointPolicy::default(),
            },
        )
        .await
        .unwrap();
        let admin = Actor::admin("admin", "admin");
        let mut owners = Vec::with_capacity(OWNERS);
        for i in 0..OWNERS {
            let new = NewOwner::new(&format!("owner-{i}@example.com"), "Owner").unwrap();
            owners.push(
                store
                    .create_owner(&admin, new, SystemClock.now())
                    .await
                    .unwrap()
                    .id
                    .to_string(),
            );
        }
        let started = Instant::now();
        seed(&path, &owners, count).await;
        println!("seeded {count} identities in {:.1?}", started.elapsed());

        let router = warden_server::api::router(state(store).await);
        let signed = router
            .clone()
            .oneshot(
                Request::builder()
                    .method("POST")
                    .uri("/ui/sign-in")
                    .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(Body::from(format!("person=bench&token={TOKEN}")))
                    .unwrap(),
            )
            .await
            .unwrap();
        let cookie = signed
            .headers()
            .get(header::SET_COOKIE)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(';').next())
            .expect("signed in")
            .to_string();
        let middle = format!("00000000-0000-7000-8000-{:012x}", count / 2);

        println!("| what | median | slowest of {RUNS} | bytes |");
        println!("|---|---|---|---|");
        let rows: Vec<(&str, String, bool)> = vec![
            (
                "API baseline: GET /v1/identities?limit=50",
                "/v1/identities?limit=50".into(),
                false,
            ),
            ("/ui/identities (first page)", "/ui/identities".into(), true),
            (
                "/ui/identities?owner=… (one owner's first page)",
                "/ui/identities?owner=owner-7%40example.com".into(),
                true,
            ),
            (
                "/ui/identities?name=… (exact name)",
                format!("/ui/identities?name=nhi-{:07}", count / 3),
                true,
            ),
            (
                "/ui/identities?status=suspended",
                "/ui/identities?status=suspended".into(),
                true,
            ),
            (
                "/ui/identities/{id} (one identity, its graph)",
                format!("/ui/identities/{middle}"),
                true,
            ),
            ("/ui (overview)", "/ui".into(), true),
            ("/ui/approvals", "/ui/approvals".into(), true),
            ("/ui/findings", "/ui/findings".into(), true),
            ("/ui/audit", "/ui/audit".into(), true),
        ];
        for (what, path, page) in rows {
            let (median, slowest, bytes) =
                time(&router, &path, page.then_some(cookie.as_str())).await;
            println!("| {what} | {median:.1?} | {slowest:.1?} | {bytes} |");
        }
        // Paging deep into the inventory: the link of the page after 10 pages.
        let mut next = "/ui/identities".to_string();
        let started = Instant::now();
        for _ in 0..10 {
            let response = router
                .clone()
                .oneshot(
                    Request::builder()
                        .uri(&next)
                        .header(header::COOKIE, &cookie)
                        .body(Body::empty())
                        .unwrap(),
                )
                .await
                .unwrap();
            let body = response.into_body().collect().await.unwrap().to_bytes();
            let text = String::from_utf8_lossy(&body);
            let Some(at) = text
                .find("/ui/identities?cursor=")
                .or_else(|| text.find("/ui/identities?"))
            else {
                break;
            };
            let end = text[at..].find('"').unwrap() + at;
            next = text[at..end].replace("&amp;", "&");
        }
        println!(
            "| 10 pages of /ui/identities, following the next link | {:.1?} (total) | | |",
            started.elapsed()
        );
    });
}
