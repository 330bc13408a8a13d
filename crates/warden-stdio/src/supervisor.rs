//! Keeps one child and one bridge per `mcp-stdio` upstream: started when the upstream
//! appears in the catalog (at `warden serve` start, or when it is added), restarted with
//! backoff when it exits, replaced when its command or secret changes, and stopped (its
//! whole process group killed) when the upstream is removed or the server stops.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use tokio::sync::watch;
use warden_core::UpstreamId;
use warden_crypto::DataKey;
use zeroize::Zeroizing;

use crate::bridge::{self, Bridge};
use crate::child::{self, Connection, Launch};

/// An `mcp-stdio` upstream as the catalog sees it; the secret stays sealed until a child
/// is started.
#[derive(Clone)]
pub struct StdioUpstream {
    pub id: UpstreamId,
    pub name: String,
    pub command: String,
    pub args: Vec<String>,
    pub env_secret: Option<String>,
    /// The sealed secret and its version.
    pub sealed_secret: Option<(Vec<u8>, i64)>,
}

impl StdioUpstream {
    /// What, when it changes, needs a new child.
    fn revision(&self) -> String {
        format!(
            "{:?}|{:?}|{:?}|{:?}",
            self.command,
            self.args,
            self.env_secret,
            self.sealed_secret.as_ref().map(|(_, version)| version)
        )
    }
}

/// Timing of restarts and requests.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The first wait before a restart; doubled after each quick exit.
    pub first_backoff: Duration,
    pub max_backoff: Duration,
    /// A child that ran this long before exiting is restarted after `first_backoff` again.
    pub healthy_after: Duration,
    /// How long a request waits for a child that is (re)starting.
    pub ready_wait: Duration,
    /// How long the child has to answer `initialize`, and any request.
    pub initialize_timeout: Duration,
    pub request_timeout: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            first_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(30),
            healthy_after: Duration::from_secs(30),
            ready_wait: Duration::from_secs(10),
            initialize_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(300),
        }
    }
}

struct Supervised {
    revision: String,
    base_url: String,
    stop: watch::Sender<bool>,
    done: tokio::task::JoinHandle<()>,
}

/// Every `mcp-stdio` upstream's child and bridge on this node.
pub struct Supervisor {
    data_key: Arc<DataKey>,
    settings: Settings,
    running: tokio::sync::Mutex<HashMap<UpstreamId, Supervised>>,
}

impl std::fmt::Debug for Supervisor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Supervisor").finish_non_exhaustive()
    }
}

impl Supervisor {
    pub fn new(data_key: Arc<DataKey>, settings: Settings) -> Self {
        Self {
            data_key,
            settings,
            running: tokio::sync::Mutex::default(),
        }
    }

    /// Makes the running set match `upstreams`: starts the new, replaces the changed, stops
    /// the removed. Returns each upstream's bridge base URL (`http://127.0.0.1:PORT/TOKEN`,
    /// for the gateway only), or why its bridge could not listen.
    pub async fn sync(
        &self,
        upstreams: &[StdioUpstream],
    ) -> HashMap<UpstreamId, Result<String, String>> {
        let mut running = self.running.lock().await;
        let wanted: HashMap<UpstreamId, &StdioUpstream> = upstreams
            .iter()
            .map(|upstream| (upstream.id, upstream))
            .collect();
        let gone: Vec<UpstreamId> = running
            .iter()
            .filter(|(id, supervised)| {
                wanted
                    .get(id)
                    .is_none_or(|upstream| upstream.revision() != supervised.revision)
            })
            .map(|(id, _)| *id)
            .collect();
        for id in gone {
            if let Some(supervised) = running.remove(&id) {
                stop(supervised).await;
            }
        }
        let mut urls = HashMap::with_capacity(upstreams.len());
        for upstream in upstreams {
            if let Some(supervised) = running.get(&upstream.id) {
                urls.insert(upstream.id, Ok(supervised.base_url.clone()));
                continue;
            }
            match self.start(upstream).await {
                Ok(supervised) => {
                    urls.insert(upstream.id, Ok(supervised.base_url.clone()));
                    running.insert(upstream.id, supervised);
                }
                Err(error) => {
                    urls.insert(upstream.id, Err(error));
                }
            }
        }
        urls
    }

    /// Stops every child (killing its process group) and bridge.
    pub async fn shutdown(&self) {
        let mut running = self.running.lock().await;
        for (_, supervised) in running.drain() {
            stop(supervised).await;
        }
    }

    async fn start(&self, upstream: &StdioUpstream) -> Result<Supervised, String> {
        let (ready_tx, ready_rx) = watch::channel(None);
        let (stop_tx, stop_rx) = watch::channel(false);
        let bridge = Bridge::bind(
            upstream.name.clone(),
            ready_rx,
            self.settings.clone(),
            stop_rx.clone(),
        )
        .await
        .map_err(|error| format!("its stdio bridge cannot listen: {error}"))?;
        let base_url = bridge.base_url();
        tokio::spawn(bridge.serve());
        let done = tokio::spawn(supervise(
            upstream.clone(),
            Arc::clone(&self.data_key),
            self.settings.clone(),
            ready_tx,
            stop_rx,
        ));
        tracing::info!(upstream = %upstream.name, command = %upstream.command, "starting a local MCP server");
        Ok(Supervised {
            revision: upstream.revision(),
            base_url,
            stop: stop_tx,
            done,
        })
    }
}

async fn stop(supervised: Supervised) {
    let _ = supervised.stop.send(true);
    let _ = supervised.done.await;
}

/// Opens the sealed secret for the child's environment.
fn open_secret(
    upstream: &StdioUpstream,
    data_key: &DataKey,
) -> Result<Option<(String, Zeroizing<String>)>, String> {
    let (Some(variable), Some((sealed, version))) = (&upstream.env_secret, &upstream.sealed_secret)
    else {
        return Ok(None);
    };
    let version =
        u64::try_from(*version).map_err(|_| "its secret version is negative".to_string())?;
    let associated = warden_crypto::seal::associated_data(&upstream.id.to_string(), version);
    let opened = warden_crypto::seal::open(data_key, sealed, &associated).map_err(|_| {
        "its secret cannot be opened; an administrator must set it again".to_string()
    })?;
    let text = String::from_utf8(opened.to_vec())
        .map_err(|_| "its secret is not UTF-8 text".to_string())?;
    Ok(Some((variable.clone(), Zeroizing::new(text))))
}

/// The protocol revision the bridge asks the child for; the child's answer (whatever it
/// chose) is what every client gets.
const PROTOCOL_VERSION: &str = "2025-06-18";

async fn initialize(connection: &Connection, timeout: Duration) -> Result<Value, String> {
    let mut request = Map::new();
    request.insert("jsonrpc".into(), json!("2.0"));
    request.insert("id".into(), json!(0));
    request.insert("method".into(), json!("initialize"));
    request.insert(
        "params".into(),
        json!({
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "warden", "version": env!("CARGO_PKG_VERSION")},
        }),
    );
    let answer = connection
        .call(request, timeout)
        .await
        .map_err(|error| error.to_string())?;
    let result = match answer.get("result") {
        Some(result @ Value::Object(_)) => result.clone(),
        _ => return Err("it refused to initialize".into()),
    };
    let mut initialized = Map::new();
    initialized.insert("jsonrpc".into(), json!("2.0"));
    initialized.insert("method".into(), json!("notifications/initialized"));
    connection
        .notify(initialized)
        .await
        .map_err(|error| error.to_string())?;
    Ok(result)
}

fn kill_group(group: Option<rustix::process::Pid>) {
    if let Some(group) = group {
        // Gone already is fine: the point is that nothing of it is left.
        let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
    }
}

/// Runs one upstream's child until told to stop, restarting it when it exits.
async fn supervise(
    upstream: StdioUpstream,
    data_key: Arc<DataKey>,
    settings: Settings,
    ready: watch::Sender<Option<Arc<Connection>>>,
    mut stop: watch::Receiver<bool>,
) {
    let name = upstream.name.clone();
    let mut backoff = settings.first_backoff;
    loop {
        if *stop.borrow() {
            return;
        }
        let started = Instant::now();
        match run_once(&upstream, &data_key, &settings, &ready, &mut stop).await {
            Outcome::Stopped => return,
            Outcome::Exited(status) => {
                tracing::warn!(upstream = %name, status = %status, "the local MCP server exited; restarting it");
            }
            Outcome::Failed(why) => {
                tracing::error!(upstream = %name, reason = %why, "the local MCP server could not be started; retrying");
            }
        }
        let _ = ready.send(None);
        if started.elapsed() >= settings.healthy_after {
            backoff = settings.first_backoff;
        }
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            () = stopped(&mut stop) => return,
        }
        backoff = (backoff * 2).min(settings.max_backoff);
    }
}

enum Outcome {
    Stopped,
    Exited(String),
    Failed(String),
}

async fn run_once(
    upstream: &StdioUpstream,
    data_key: &DataKey,
    settings: &Settings,
    ready: &watch::Sender<Option<Arc<Connection>>>,
    stop: &mut watch::Receiver<bool>,
) -> Outcome {
    let program =
        match child::resolve_program(&upstream.command, std::env::var_os("PATH").as_deref()) {
            Ok(program) => program,
            Err(why) => return Outcome::Failed(why),
        };
    let secret = match open_secret(upstream, data_key) {
        Ok(secret) => secret,
        Err(why) => return Outcome::Failed(why),
    };
    let launch = Launch {
        upstream: upstream.name.clone(),
        program,
        args: upstream.args.clone(),
        secret,
    };
    let mut running = match child::spawn(&launch) {
        Ok(running) => running,
        Err(error) => return Outcome::Failed(format!("cannot start its command: {error}")),
    };
    drop(launch);
    let group = running.process_group;
    let connection = Arc::clone(&running.connection);
    let initialized = tokio::select! {
        initialized = initialize(&connection, settings.initialize_timeout) => initialized,
        status = running.process.wait() => {
            kill_group(group);
            return Outcome::Exited(describe(status));
        }
        () = stopped(stop) => {
            kill_group(group);
            let _ = running.process.wait().await;
            return Outcome::Stopped;
        }
    };
    match initialized {
        Ok(result) => {
            *bridge::lock(&connection.initialized) = Some(result);
            let _ = ready.send(Some(Arc::clone(&connection)));
        }
        Err(why) => {
            kill_group(group);
            let _ = running.process.wait().await;
            return Outcome::Failed(format!("it did not initialize: {why}"));
        }
    }
    tokio::select! {
        status = running.process.wait() => {
            let _ = ready.send(None);
            kill_group(group);
            Outcome::Exited(describe(status))
        }
        () = stopped(stop) => {
            let _ = ready.send(None);
            kill_group(group);
            let _ = running.process.wait().await;
            tracing::info!(upstream = %upstream.name, "stopped the local MCP server");
            Outcome::Stopped
        }
    }
}

/// Resolves when `stop` turns true (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

fn describe(status: std::io::Result<std::process::ExitStatus>) -> String {
    match status {
        Ok(status) => status.to_string(),
        Err(error) => format!("cannot wait for it: {error}"),
    }
}
