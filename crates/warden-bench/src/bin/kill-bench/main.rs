//! `kill-bench`: how fast the kill switch, or a leak report, stops an agent under load.
//!
//! Against a running Warden it registers an owner, an agent, an upstream and a policy
//! through the HTTP API, gets the agent a token (`client_credentials`), then starts many
//! keep-alive clients that call the gateway as fast as they can. Once they have run for a
//! while it stops the agent, with `POST /v1/kill` or (`--stop leak`) by reporting its
//! client secret leaked with `POST /v1/leaks` and `revoke`, keeps the clients going, and
//! reports how long the call took, when the first refusal arrived (for a leak: the
//! leak-to-refusal time) and which responses were still allowed: none may be allowed for a
//! request sent after the call returned, and every such request must be refused 401
//! `revoked`. Exits 1 when that does not hold, 2 when the run could not be set up.
//!
//! With `--second-api` and `--second-gateway` it measures two nodes on one database
//! instead (see `two_nodes`).

// A reporting tool: its report on standard output is what it is for.
#![allow(clippy::print_stdout)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use serde_json::{Value, json};
use warden_bench::{Outcome, Record, analyse};

mod two_nodes;

#[derive(Debug, Parser)]
#[command(about = "Measure Warden's kill switch under load")]
struct Args {
    /// Warden's API, e.g. http://127.0.0.1:8080.
    #[arg(long)]
    api: String,
    /// The admin token.
    #[arg(long, env = "WARDEN_TOKEN", hide_env_values = true)]
    admin_token: String,
    /// Warden's gateway, e.g. http://127.0.0.1:8081.
    #[arg(long)]
    gateway: String,
    /// The upstream to register behind the gateway (a bench-upstream).
    #[arg(long)]
    upstream_url: String,
    /// Concurrent clients, each on its own keep-alive connection.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// How long the clients run before the kill, in milliseconds.
    #[arg(long, default_value_t = 2000)]
    before_ms: u64,
    /// How long they keep running after the kill call returns, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    after_ms: u64,
    /// Names for what is registered; change them to run twice against one Warden.
    #[arg(long, default_value = "kill-agent")]
    agent: String,
    #[arg(long, default_value = "kill-upstream")]
    upstream: String,
    #[arg(long, default_value = "kill-owner@bench.example")]
    owner: String,
    /// How the agent is stopped.
    #[arg(long, value_enum, default_value_t = StopBy::Kill)]
    stop: StopBy,
    /// A second node's API on the same database: the kill is made on the first node and
    /// measured on the second.
    #[arg(long, requires = "second_gateway")]
    second_api: Option<String>,
    /// The second node's gateway, which the clients call.
    #[arg(long, requires = "second_api")]
    second_gateway: Option<String>,
    /// With two nodes: how many kill-and-restore rounds, and how many new agents.
    #[arg(long, default_value_t = 30)]
    rounds: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum StopBy {
    /// `POST /v1/kill` for the agent.
    Kill,
    /// `POST /v1/leaks` with the agent's client secret and `revoke`.
    Leak,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::from(1),
        Err(error) => {
            println!("kill-bench: {error:#}");
            std::process::ExitCode::from(2)
        }
    }
}

/// A thin client of the admin API that fails with the server's own error message.
pub(crate) struct Admin {
    http: reqwest::Client,
    api: String,
    token: String,
}

impl Admin {
    pub(crate) async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        let response = self
            .http
            .post(format!("{}{path}", self.api))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .with_context(|| format!("POST {path}: no answer"))?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if !status.is_success() {
            bail!("POST {path} answered {status}: {text}");
        }
        serde_json::from_str(&text).with_context(|| format!("POST {path}: not JSON: {text}"))
    }
}

pub(crate) fn field(value: &Value, name: &str) -> anyhow::Result<String> {
    value
        .get(name)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .with_context(|| format!("no `{name}` in {value}"))
}

/// The `error` code of a refusal body, or nothing.
fn error_code(body: &[u8]) -> String {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_default()
}

/// Registers everything the run needs; returns the agent's access token and client secret.
async fn set_up(args: &Args, admin: &Admin) -> anyhow::Result<(String, String)> {
    admin
        .post(
            "/v1/owners",
            json!({ "email": args.owner, "name": "Kill bench" }),
        )
        .await?;
    let agent = admin
        .post(
            "/v1/identities",
            json!({ "kind": "agent", "name": args.agent, "owner": args.owner }),
        )
        .await?;
    let agent_id = field(&agent, "id")?;
    let issued = admin
        .post(&format!("/v1/identities/{agent_id}/credentials"), json!({}))
        .await?;
    let client_id = field(&issued, "client_id")?;
    let client_secret = field(&issued, "client_secret")?;
    let routes = "[[route]]\nmethod = \"GET\"\npath = \"/items/{id}\"\naction = \"bench.read\"\nresource = \"Item::{id}\"\n";
    admin
        .post(
            "/v1/upstreams",
            json!({
                "name": args.upstream, "kind": "http", "url": args.upstream_url,
                "auth": "bearer", "secret": "kill-bench-upstream-secret", "routes": routes,
            }),
        )
        .await?;
    // Every agent may read: the kill is a revocation, not a policy change, and the
    // two-node run creates new agents that must be allowed once they are known.
    let policy = "permit(principal, action == Action::\"bench.read\", resource);";
    admin
        .post(
            "/v1/policies",
            json!({ "id": "kill-bench", "text": policy }),
        )
        .await?;
    let response = admin
        .http
        .post(format!("{}/oauth/token", args.api))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", client_id.as_str()),
            ("client_secret", client_secret.as_str()),
            ("resource", args.upstream.as_str()),
        ])
        .send()
        .await
        .context("POST /oauth/token: no answer")?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    if !status.is_success() {
        bail!("POST /oauth/token answered {status}: {text}");
    }
    let token: Value = serde_json::from_str(&text).context("the token response is not JSON")?;
    Ok((field(&token, "access_token")?, client_secret))
}

/// One client: requests back to back on one keep-alive connection until told to stop.
pub(crate) async fn hammer(
    http: reqwest::Client,
    url: Arc<str>,
    token: Arc<str>,
    origin: Instant,
    stop: Arc<AtomicBool>,
) -> Vec<Record> {
    let mut records = Vec::with_capacity(64 * 1024);
    while !stop.load(Ordering::Relaxed) {
        let sent = origin.elapsed();
        let outcome = match http.get(&*url).bearer_auth(&*token).send().await {
            Err(error) => Outcome::Failed(error.to_string()),
            Ok(response) => {
                let status = response.status();
                match response.bytes().await {
                    Err(error) => Outcome::Failed(error.to_string()),
                    Ok(_) if status.is_success() => Outcome::Allowed,
                    Ok(body) => Outcome::Refused {
                        status: status.as_u16(),
                        code: error_code(&body),
                    },
                }
            }
        };
        records.push(Record {
            sent,
            received: origin.elapsed(),
            outcome,
        });
    }
    records
}

async fn run(mut args: Args) -> anyhow::Result<bool> {
    args.api = args.api.trim_end_matches('/').to_owned();
    args.gateway = args.gateway.trim_end_matches('/').to_owned();
    let admin = Admin {
        http: reqwest::Client::builder()
            .http1_only()
            .build()
            .context("cannot build the HTTP client")?,
        api: args.api.clone(),
        token: args.admin_token.clone(),
    };
    let (token, client_secret) = set_up(&args, &admin).await?;
    if args.second_api.is_some() {
        return two_nodes::run(&args, &admin, token.into()).await;
    }
    let url: Arc<str> = format!("{}/{}/items/1", args.gateway, args.upstream).into();
    let token: Arc<str> = token.into();

    let http = reqwest::Client::builder()
        .http1_only()
        .pool_max_idle_per_host(args.clients)
        .timeout(Duration::from_secs(10))
        .build()
        .context("cannot build the HTTP client")?;

    // One request first: a gateway that refuses everything makes the rest meaningless.
    let probe = http
        .get(&*url)
        .bearer_auth(&*token)
        .send()
        .await
        .context("the gateway does not answer")?;
    if !probe.status().is_success() {
        let status = probe.status();
        let body = probe.bytes().await.unwrap_or_default();
        bail!(
            "gateway refused: {} ({status}) before the kill; nothing to measure",
            error_code(&body)
        );
    }

    let origin = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..args.clients.max(1))
        .map(|_| {
            tokio::spawn(hammer(
                http.clone(),
                url.clone(),
                token.clone(),
                origin,
                stop.clone(),
            ))
        })
        .collect();

    tokio::time::sleep(Duration::from_millis(args.before_ms)).await;
    let kill_started = origin.elapsed();
    let killed = match args.stop {
        StopBy::Kill => {
            admin
                .post(
                    "/v1/kill",
                    json!({ "identity": format!("agent:{}", args.agent) }),
                )
                .await
        }
        StopBy::Leak => {
            admin
                .post(
                    "/v1/leaks",
                    json!({
                        "secret": client_secret, "kind": "warden_client_secret", "revoke": true,
                        "location": { "source": "kill-bench" },
                    }),
                )
                .await
        }
    };
    let kill_returned = origin.elapsed();
    tokio::time::sleep(Duration::from_millis(args.after_ms)).await;
    stop.store(true, Ordering::Relaxed);
    let mut records = Vec::new();
    for client in clients {
        records.extend(client.await.context("a client task failed")?);
    }
    killed?;

    let report = analyse(&records, kill_started, kill_returned);
    let seconds_before = kill_started.as_secs_f64();
    println!("clients:                               {}", args.clients);
    println!("requests:                              {}", report.requests);
    println!(
        "allowed before the kill:               {} ({:.0}/s)",
        report.allowed_before_kill,
        report.allowed_before_kill as f64 / seconds_before.max(f64::EPSILON)
    );
    println!(
        "stopped by:                            {}",
        match args.stop {
            StopBy::Kill => "POST /v1/kill",
            StopBy::Leak => "POST /v1/leaks (the client secret, revoke)",
        }
    );
    println!(
        "stop call took:                        {:.3} ms",
        report.kill_call.as_secs_f64() * 1000.0
    );
    match report.first_revoked_received_after_start_ms {
        Some(ms) => println!("first refusal received at:             call start + {ms:.3} ms"),
        None => println!("first refusal received at:             never"),
    }
    match report.first_revoked_sent_after_start_ms {
        Some(ms) => println!("first revoked request sent at:         kill start + {ms:.3} ms"),
        None => println!("first revoked request sent at:         never"),
    }
    println!(
        "allowed, sent during the kill call:    {}",
        report.allowed_sent_during_call
    );
    println!(
        "allowed, arrived after it returned:    {}",
        report.allowed_received_after_return
    );
    println!(
        "allowed, sent after it returned:       {} (must be 0)",
        report.allowed_sent_after_return
    );
    match report.last_allowed_after_return_ms {
        Some(ms) => println!("last allowed response:                 kill return {ms:+.3} ms"),
        None => println!("last allowed response:                 none"),
    }
    println!(
        "requests sent after it returned:       {}",
        report.sent_after_return
    );
    for (label, count) in &report.after_return_outcomes {
        println!("  {label}: {count}");
    }
    let holds = report.holds();
    println!(
        "kill-bench: {}",
        if holds {
            "PASS: nothing allowed after the kill call returned; every later request refused 401 revoked"
        } else {
            "FAIL: see above"
        }
    );
    Ok(holds)
}
