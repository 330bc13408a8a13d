//! Faults: the PostgreSQL server stopped and started again under load. While it is down the
//! API answers 503 `unavailable` and changes nothing; when it is back, the same server
//! process serves again without a restart; every change it confirmed is there with its
//! audit record, none it refused is, and the audit chain verifies. The gateway refuses too
//! (it can no longer record a decision, nor read what was revoked) and serves again once
//! the database is back.
//!
//! The test runs a PostgreSQL instance of its own (initdb into a temporary directory, its own
//! port, run as the `postgres` user because PostgreSQL refuses to run as root), so stopping
//! it disturbs no other test.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{RunningServer, warden};

/// A private PostgreSQL cluster, stopped when dropped.
struct Postgres {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
}

fn as_postgres(program: &Path) -> Command {
    let mut command = Command::new("runuser");
    command.args(["-u", "postgres", "--"]).arg(program);
    command
}

impl Postgres {
    fn init(dir: &Path) -> Self {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .unwrap_or_else(|e| {
                panic!("PostgreSQL is not installed under /usr/lib/postgresql: {e}")
            })
            .filter_map(Result::ok)
            .map(|entry| entry.path().join("bin"))
            .find(|bin| bin.join("initdb").exists())
            .unwrap_or_else(|| panic!("no initdb under /usr/lib/postgresql/*/bin"));
        let data = dir.join("pgdata");
        std::fs::create_dir(&data).unwrap();
        let chown = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(dir)
            .status()
            .unwrap();
        assert!(chown.success());
        let initdb = as_postgres(&bin.join("initdb"))
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"])
            .arg(&data)
            .output()
            .unwrap();
        assert!(
            initdb.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&initdb.stderr)
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let postgres = Self { bin, data, port };
        postgres.start();
        postgres
    }

    fn pg_ctl(&self, args: &[&str]) {
        let log = self.data.join("../postgres.log");
        let output = as_postgres(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(&self.data)
            .arg("-l")
            .arg(&log)
            .args(args)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "pg_ctl {args:?} failed: {}{}",
            String::from_utf8_lossy(&output.stderr),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    fn start(&self) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off",
            self.port,
            self.data.parent().unwrap().display()
        );
        self.pg_ctl(&["-w", "-o", &options, "start"]);
    }

    /// Stops the server at once, as a crash or a failover would: clients lose their
    /// connections mid-transaction.
    fn stop(&self) {
        self.pg_ctl(&["-w", "-m", "immediate", "stop"]);
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = as_postgres(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "stop"])
            .output();
    }
}

async fn create_owner(
    client: &reqwest::Client,
    api: &str,
    token: &str,
    email: &str,
) -> (u16, Value) {
    match client
        .post(format!("{api}/v1/owners"))
        .bearer_auth(token)
        .json(&json!({"email": email, "name": "Load"}))
        .send()
        .await
    {
        Ok(answer) => {
            let status = answer.status().as_u16();
            (status, answer.json().await.unwrap_or(Value::Null))
        }
        Err(error) => panic!("the API must answer while the database is down: {error}"),
    }
}

/// Registers an HTTP upstream answering `GET /ping`, an agent allowed to call it, and
/// returns the agent's id and secret.
fn gateway_caller(server: &RunningServer, admin: &str, dir: &Path, origin: &str) -> Value {
    server
        .cli(
            admin,
            &["owner", "add", "gw@example.com", "--name", "Gateway"],
        )
        .ok();
    let created = server
        .cli(
            admin,
            &[
                "agent",
                "create",
                "pinger",
                "--owner",
                "gw@example.com",
                "-o",
                "json",
            ],
        )
        .json();
    let routes = dir.join("routes.toml");
    std::fs::write(
        &routes,
        "[[route]]\nmethod = \"GET\"\npath = \"/ping\"\naction = \"ping.read\"\nresource = \"Ping::ping\"\n",
    )
    .unwrap();
    let added = warden()
        .env("WARDEN_ADDR", &server.api)
        .env("WARDEN_TOKEN", admin)
        .env("PING_TOKEN", "ping-upstream-secret-0123456789")
        .args([
            "upstream", "add", "ping", "--url", origin, "--auth", "bearer",
        ])
        .args(["--secret-env", "PING_TOKEN", "--routes"])
        .arg(&routes)
        .output()
        .unwrap();
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let policy = dir.join("ping.cedar");
    std::fs::write(
        &policy,
        r#"permit(principal == Agent::"pinger", action == Action::"ping.read", resource);"#,
    )
    .unwrap();
    server
        .cli(admin, &["policy", "add", policy.to_str().unwrap()])
        .ok();
    created
}

async fn agent_token(api: &str, created: &Value) -> String {
    let answer = reqwest::Client::new()
        .post(format!("{api}/oauth/token"))
        .basic_auth(
            created["client_id"].as_str().unwrap(),
            created["client_secret"].as_str(),
        )
        .form(&[("grant_type", "client_credentials"), ("resource", "ping")])
        .send()
        .await
        .unwrap();
    let body: Value = answer.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_string()
}

async fn get(client: &reqwest::Client, url: &str, token: &str) -> (u16, Value) {
    let answer = client.get(url).bearer_auth(token).send().await.unwrap();
    let status = answer.status().as_u16();
    (status, answer.json().await.unwrap_or(Value::Null))
}

#[test]
fn the_api_answers_503_while_postgres_is_down_and_recovers_when_it_returns() {
    let dir = tempfile::tempdir().unwrap();
    let pg_dir = dir.path().join("pg");
    std::fs::create_dir(&pg_dir).unwrap();
    let postgres = Postgres::init(&pg_dir);
    let server = RunningServer::start(
        &dir.path().join("data"),
        &["--database-url", &postgres.url()],
        &[],
    );
    let token = server.printed_token.clone().unwrap();
    let api = server.api.clone();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let origin = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let app = axum::Router::new().route("/ping", axum::routing::get(|| async { "pong" }));
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        origin
    });
    let pinger = gateway_caller(&server, &token, dir.path(), &origin);
    let agent_token = runtime.block_on(agent_token(&api, &pinger));
    let ping = format!("{}/ping/ping", server.gateway);
    let (status, body) = runtime.block_on(get(&reqwest::Client::new(), &ping, &agent_token));
    assert_eq!(status, 200, "the gateway before the fault: {body}");

    // Load: a writer creating owners the whole time, remembering what was confirmed.
    let confirmed = Arc::new(Mutex::new(HashSet::new()));
    let refused = Arc::new(Mutex::new(Vec::new()));
    let running = Arc::new(AtomicBool::new(true));
    let load = {
        let (confirmed, refused, running) = (confirmed.clone(), refused.clone(), running.clone());
        let (api, token) = (api.clone(), token.clone());
        runtime.spawn(async move {
            let client = reqwest::Client::new();
            let mut n = 0u32;
            while running.load(Ordering::Relaxed) {
                n += 1;
                let email = format!("load{n}@example.com");
                let (status, body) = create_owner(&client, &api, &token, &email).await;
                match status {
                    201 => {
                        confirmed.lock().unwrap().insert(email);
                    }
                    503 => {
                        assert_eq!(body["error"], "unavailable", "{body}");
                        refused.lock().unwrap().push(email);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    other => panic!("a write under load answered {other}: {body}"),
                }
            }
        })
    };

    runtime.block_on(async {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        while confirmed.lock().unwrap().len() < 20 {
            assert!(Instant::now() < deadline, "the load made no progress");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        postgres.stop();

        // While it is down: reads and writes answer 503 `unavailable`, promptly.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (status, body) = get(&client, &format!("{api}/v1/owners"), &token).await;
            if status == 503 {
                assert_eq!(body["error"], "unavailable", "{body}");
                break;
            }
            assert!(
                Instant::now() < deadline,
                "reads still answer {status} with the database down"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let started = Instant::now();
        let (status, body) = create_owner(&client, &api, &token, "during@example.com").await;
        assert_eq!(status, 503, "{body}");
        assert_eq!(body["error"], "unavailable", "{body}");
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the refusal took {:?}",
            started.elapsed()
        );
        let (status, _) = get(&client, &format!("{api}/readyz"), &token).await;
        assert_eq!(status, 503, "/readyz must say the server is not ready");
        // The gateway fails closed: a request it cannot record is not forwarded.
        let (status, body) = get(&client, &ping, &agent_token).await;
        assert_eq!(status, 503, "the gateway with the database down: {body}");
        assert_eq!(body["error"], "unavailable", "{body}");
        let refused_while_down = refused.lock().unwrap().len();

        postgres.start();
        // Back: the same process serves again without a restart.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (status, body) = create_owner(&client, &api, &token, "after@example.com").await;
            if status == 201 {
                break;
            }
            assert_eq!(status, 503, "{body}");
            assert!(Instant::now() < deadline, "the API did not recover: {body}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (status, body) = get(&client, &ping, &agent_token).await;
            if status == 200 {
                break;
            }
            assert_eq!(status, 503, "{body}");
            assert!(
                Instant::now() < deadline,
                "the gateway did not recover: {body}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let settled = confirmed.lock().unwrap().len();
        let deadline = Instant::now() + Duration::from_secs(20);
        while confirmed.lock().unwrap().len() < settled + 20 {
            assert!(Instant::now() < deadline, "the load did not resume");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        running.store(false, Ordering::Relaxed);
        assert!(
            refused_while_down > 0,
            "the load saw no refusal while the database was down"
        );
    });
    runtime.block_on(load).unwrap();

    // Nothing half-written: every confirmed owner is there with one owner.created record,
    // and no refused one is.
    let listed: HashSet<String> = {
        let mut all = HashSet::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut args = vec!["owner", "list", "--limit", "500", "-o", "json"];
            let cursor_arg;
            if let Some(next) = &cursor {
                cursor_arg = next.clone();
                args.extend(["--cursor", &cursor_arg]);
            }
            let page = server.cli(&token, &args).json();
            for owner in page["items"].as_array().unwrap() {
                all.insert(owner["email"].as_str().unwrap().to_string());
            }
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_string()),
                None => break all,
            }
        }
    };
    let confirmed = confirmed.lock().unwrap().clone();
    for email in &confirmed {
        assert!(
            listed.contains(email),
            "{email} was confirmed but is missing"
        );
    }
    for email in refused.lock().unwrap().iter() {
        assert!(!listed.contains(email), "{email} was refused but is there");
    }
    // `audit query -o json` prints one event per line.
    let events = server
        .cli(
            &token,
            &[
                "audit",
                "query",
                "--kind",
                "owner.created",
                "--limit",
                "1000",
                "-o",
                "json",
            ],
        )
        .ok();
    let created = events
        .lines()
        .filter(|line| !line.trim().is_empty())
        .count();
    assert_eq!(created, listed.len(), "one owner.created record per owner");
    let verdict = server
        .cli(&token, &["audit", "verify", "-o", "json"])
        .json();
    assert_eq!(verdict["intact"], true, "{verdict}");
    server.stop();
}
