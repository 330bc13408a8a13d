//! Two nodes on one database: the agent's clients call the second node's gateway the whole
//! time while the first node is told to kill the agent; each round measures when the second
//! node took hold of the kill (`took_hold_after`), then restores the agent on the first node
//! and waits for the second to allow it again. With the clients still running, new agents
//! are then created on the first node, one a round, each timed from its creation returning
//! until the second node has issued it a token and let its first request through. Before
//! each, an agent both nodes already know makes the same two requests: on a saturated node
//! those take what the queue takes, and what a new agent needs beyond them is the time the
//! second node took to learn of it, which the goal is judged on.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::json;
use warden_bench::{percentile, took_hold_after};

use super::{Admin, Args, field, hammer};

/// The goal for both measurements, at p99.
const GOAL: Duration = Duration::from_millis(100);

/// How long a round may wait for the second node before it counts as never.
const GIVE_UP: Duration = Duration::from_secs(5);

/// Between two rounds, so each kill lands on a node carrying its full load.
const SETTLE: Duration = Duration::from_millis(200);

pub(super) async fn run(args: &Args, admin: &Admin, token: Arc<str>) -> anyhow::Result<bool> {
    let (Some(second_api), Some(second_gateway)) = (&args.second_api, &args.second_gateway) else {
        bail!("two nodes need --second-api and --second-gateway");
    };
    let second_api = second_api.trim_end_matches('/');
    let url: Arc<str> = format!(
        "{}/{}/items/1",
        second_gateway.trim_end_matches('/'),
        args.upstream
    )
    .into();
    let http = reqwest::Client::builder()
        .http1_only()
        .pool_max_idle_per_host(args.clients + 2)
        .timeout(Duration::from_secs(10))
        .build()
        .context("cannot build the HTTP client")?;
    if wait_for(&http, &url, &token, true).await.is_none() {
        bail!("the second node never allowed the agent; is it on the same database?");
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
    let target = json!({ "identity": format!("agent:{}", args.agent) });

    let mut windows = Vec::with_capacity(args.rounds);
    for _ in 0..args.rounds {
        tokio::time::sleep(SETTLE).await;
        let started = origin.elapsed();
        admin.post("/v1/kill", target.clone()).await?;
        let returned = origin.elapsed();
        wait_for(&http, &url, &token, false).await;
        // A moment more, so the clients' records show the refusals settled.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let restoring = origin.elapsed();
        admin.post("/v1/restore", target.clone()).await?;
        if wait_for(&http, &url, &token, true).await.is_none() {
            bail!("the second node never allowed the agent again after a restore");
        }
        windows.push((started, returned, restoring));
    }

    // The baseline: an agent both nodes already know makes the same two requests, under the
    // same load, just before each new agent is created. What a new agent takes beyond it is
    // the second node learning of it.
    let known = create_agent(args, admin, &format!("{}-known", args.agent)).await?;
    if first_use(args, &http, second_api, &url, &known)
        .await
        .is_none()
    {
        bail!("the second node never let a known agent through");
    }
    let mut usable = Vec::with_capacity(args.rounds);
    let mut round_trips = Vec::with_capacity(args.rounds);
    let mut learning = Vec::with_capacity(args.rounds);
    let mut never_usable = 0;
    for round in 0..args.rounds {
        tokio::time::sleep(SETTLE).await;
        let Some(round_trip) = first_use(args, &http, second_api, &url, &known).await else {
            bail!("the second node stopped letting a known agent through");
        };
        let created = create_agent(args, admin, &format!("{}-new-{round}", args.agent)).await?;
        match first_use(args, &http, second_api, &url, &created).await {
            Some(delay) => {
                usable.push(delay);
                round_trips.push(round_trip);
                learning.push(delay.saturating_sub(round_trip));
            }
            None => never_usable += 1,
        }
    }

    stop.store(true, Ordering::Relaxed);
    let mut records = Vec::new();
    for client in clients {
        records.extend(client.await.context("a client task failed")?);
    }
    let mut took_hold = Vec::with_capacity(windows.len());
    let mut never_held = 0;
    for (started, returned, restoring) in windows {
        match took_hold_after(&records, started, returned, restoring) {
            Some(delay) => took_hold.push(delay),
            None => never_held += 1,
        }
    }

    let seconds = origin.elapsed().as_secs_f64();
    println!("nodes:                                 2 (kill on the first, load on the second)");
    println!("clients on the second node:            {}", args.clients);
    println!(
        "requests:                              {} ({:.0}/s)",
        records.len(),
        records.len() as f64 / seconds.max(f64::EPSILON)
    );
    let kill_met = report(
        "kill refused on the second node",
        &mut took_hold,
        never_held,
    );
    report(
        "new agent usable on the second node",
        &mut usable,
        never_usable,
    );
    report(
        "baseline: a known agent, same requests",
        &mut round_trips,
        0,
    );
    let agent_met = report(
        "new agent, beyond the baseline",
        &mut learning,
        never_usable,
    );
    let holds = never_held == 0 && never_usable == 0;
    println!(
        "kill-bench: {}; goal p99 <= {} ms: {}",
        if holds {
            "every kill took hold on the second node and every new agent became usable there"
        } else {
            "FAIL: see above"
        },
        GOAL.as_millis(),
        if kill_met && agent_met {
            "met"
        } else {
            "missed"
        }
    );
    Ok(holds)
}

/// Prints one measurement's percentiles; true when its p99 meets the goal.
fn report(what: &str, delays: &mut [Duration], never: usize) -> bool {
    let ms = |d: Option<Duration>| d.map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0);
    let p50 = percentile(delays, 50.0);
    let p99 = percentile(delays, 99.0);
    let max = percentile(delays, 100.0);
    println!(
        "{what}: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms over {} rounds{}",
        ms(p50),
        ms(p99),
        ms(max),
        delays.len(),
        if never > 0 {
            format!(", {never} NEVER")
        } else {
            String::new()
        }
    );
    never == 0 && p99.is_some_and(|p99| p99 <= GOAL)
}

/// Polls the second node until a request with `token` is allowed (`allowed`) or refused,
/// for at most `GIVE_UP`; the time it took, or `None`.
async fn wait_for(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    allowed: bool,
) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < GIVE_UP {
        if let Ok(response) = http.get(url).bearer_auth(token).send().await
            && response.status().is_success() == allowed
        {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    None
}

/// Creates agent `round` on the first node and times how long until the second node issues
/// it a token that its gateway allows.
/// An agent created on the first node with one client secret: its client id and secret.
async fn create_agent(args: &Args, admin: &Admin, name: &str) -> anyhow::Result<(String, String)> {
    let agent = admin
        .post(
            "/v1/identities",
            json!({ "kind": "agent", "name": name, "owner": args.owner }),
        )
        .await?;
    let issued = admin
        .post(
            &format!("/v1/identities/{}/credentials", field(&agent, "id")?),
            json!({}),
        )
        .await?;
    Ok((
        field(&issued, "client_id")?,
        field(&issued, "client_secret")?,
    ))
}

/// From now until the second node has issued this client a token and let its first request
/// through, retrying every millisecond; `None` after [`GIVE_UP`].
async fn first_use(
    args: &Args,
    http: &reqwest::Client,
    second_api: &str,
    url: &str,
    (client_id, client_secret): &(String, String),
) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < GIVE_UP {
        let answer = http
            .post(format!("{second_api}/oauth/token"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", client_id.as_str()),
                ("client_secret", client_secret.as_str()),
                ("resource", args.upstream.as_str()),
            ])
            .send()
            .await;
        if let Ok(answer) = answer
            && answer.status().is_success()
            && let Ok(body) = answer.json::<serde_json::Value>().await
            && let Ok(token) = field(&body, "access_token")
            && let Ok(response) = http.get(url).bearer_auth(&token).send().await
            && response.status().is_success()
        {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    None
}
