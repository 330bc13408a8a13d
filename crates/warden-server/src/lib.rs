//! Warden's server: configuration, first-start bootstrap, the HTTP API and the wiring that
//! puts the store, the keys and the listeners together in one process.
//!
//! Architecture invariant: this is the only crate that knows the HTTP shapes of the API.

pub mod access_graph;
pub mod api;
pub mod audit_anchor;
pub mod auth;
pub mod bootstrap;
pub mod cluster;
pub mod config;
pub mod data_key;
pub mod error;
pub mod extract;
pub mod leaks;
pub mod listen;
pub mod metrics;
pub mod oauth;
pub mod posture;
pub mod signals;
pub mod ssf;
pub mod state;
pub mod ui;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use warden_audit::Actor;
use warden_core::SystemClock;
use warden_crypto::Secret;
use warden_store::{AuditSettings, SqlStore};

pub use config::{ConfigLayer, Settings};
pub use state::AppState;

/// A server whose listeners are bound and whose store is open, ready to `run`.
pub struct Server {
    api: TcpListener,
    gateway: TcpListener,
    gateway_router: axum::Router,
    guards: listen::ListenerGuards,
    stop_tx: tokio::sync::watch::Sender<bool>,
    stop_rx: tokio::sync::watch::Receiver<bool>,
    state: AppState,
    store: SqlStore,
    /// The admin token, present only on the first start, to be shown once.
    pub admin_token: Option<Secret>,
    /// This node's name in the audit trail.
    node: String,
    /// The last audit sequence the task window read at start.
    window_last: Option<u64>,
    /// Subscribed before the first full read, so no change after it goes unheard.
    feed: warden_store::ChangeFeed,
    cluster: cluster::ClusterSettings,
}

impl Server {
    /// Creates what is missing (data directory, keys, database, admin token), opens the
    /// store and binds both listeners. Nothing is served until `run`.
    pub async fn start(settings: Settings) -> anyhow::Result<Self> {
        // Install the metrics recorder before anything records.
        let _ = metrics::handle();
        // Caps are derived from, and checked against, the descriptor limit before anything
        // is opened, so bad settings change nothing.
        let thresholds = settings.posture.thresholds()?;
        let toxic_rules = settings.posture.toxic_rules()?;
        let cluster = cluster::ClusterSettings::resolve(&settings.cluster)?;
        let descriptor_limit = listen::raise_descriptor_limit();
        let guards = listen::ListenerGuards::resolve(
            settings.api.listen(),
            settings.gateway.listen(),
            descriptor_limit,
        )?;
        tracing::info!(
            descriptor_limit,
            api_max_connections = guards.api.max_connections,
            gateway_max_connections = guards.gateway.max_connections,
            "listener guards"
        );
        bootstrap::ensure_data_dir(&settings.data_dir)?;
        let keys = bootstrap::load_keys(&settings.data_dir)?;
        let node = bootstrap::node_name(&settings.data_dir)?;
        let audit_public_key = keys.audit.public_key();
        let audit = AuditSettings {
            node: node.clone(),
            signer: Some(keys.audit.clone()),
            checkpoints: settings.audit_checkpoints,
        };
        let store = SqlStore::connect(&settings.database_url(), audit)
            .await
            .context("cannot open the database")?;
        let feed = warden_store::Store::changes(&store);
        bootstrap::check_key_fingerprint(&store, &keys).await?;
        let admin = bootstrap::admin_token(&store, &keys, settings.bootstrap_token.clone()).await?;
        let api = TcpListener::bind(settings.api_listen)
            .await
            .with_context(|| format!("cannot listen on {} for the API", settings.api_listen))?;
        let gateway = TcpListener::bind(settings.gateway_listen)
            .await
            .with_context(|| {
                format!(
                    "cannot listen on {} for the gateway",
                    settings.gateway_listen
                )
            })?;
        let api_url = format!("http://{}", api.local_addr()?);
        let gateway_url = format!("http://{}", gateway.local_addr()?);
        let plane_settings =
            warden_plane::PlaneSettings::resolve(&settings.credentials, &api_url, &gateway_url)?;
        let credentials = warden_plane::CredentialPlane::start(
            &store,
            keys.data.clone(),
            plane_settings,
            warden_core::Clock::now(&SystemClock),
        )
        .await?;
        let signal_settings = signals::SignalSettings::resolve(
            &settings.signals,
            &credentials.settings.tokens.issuer,
        )?;
        let owner_sign_in = match &settings.dashboard.oidc {
            Some(oidc) => Some(Arc::new(ui::owner_sign_in::OwnerSignIn::resolve(
                oidc,
                &credentials.settings.tokens.issuer,
                keys.pepper.clone(),
            )?)),
            None => None,
        };
        let catalog = Arc::new(warden_proxy::CatalogState::with_local_servers(Arc::new(
            warden_stdio::Supervisor::new(
                Arc::new(keys.data.clone()),
                warden_stdio::Settings {
                    request_timeout: settings.gateway.settings().upstream_timeout,
                    ..warden_stdio::Settings::default()
                },
            ),
        )));
        let state = AppState {
            signals: Arc::new(signal_settings),
            credentials: Arc::new(credentials),
            store: Arc::new(store.clone()),
            clock: Arc::new(SystemClock),
            pepper: keys.pepper,
            admin_token_hash: admin.hash,
            actor: Actor::admin("admin", "admin"),
            audit_public_key,
            data_key: Arc::new(keys.data.clone()),
            approvals_changed: Arc::new(tokio::sync::Notify::new()),
            catalog: catalog.clone(),
            posture: Arc::new(
                posture::Posture::new(thresholds, settings.posture.evaluate_interval()).with_paths(
                    toxic_rules,
                    settings
                        .credentials
                        .trusted_issuers
                        .iter()
                        .map(|trusted| trusted.issuer.clone())
                        .collect(),
                    catalog,
                ),
            ),
            max_import_bytes: settings.posture.max_import_bytes(),
            leaks_auto_revoke: settings.leaks.auto_revoke.unwrap_or(false),
            tool_pins: Arc::default(),
            task_window: Arc::new(warden_policy::TaskWindow::new(
                settings.gateway.task_window_limits(),
            )),
            freshness: Arc::new(warden_plane::Freshness::new(cluster.max_staleness)),
            owner_sign_in,
        };
        state.catalog.reload(&*state.store).await;
        // Before the gateway serves: a policy on what a task already did must see what it
        // did before this node started (on this node or another).
        let window_last = warden_proxy::task_window_sync::catch_up(
            &*state.store,
            &state.task_window,
            None,
            None,
            state.clock.now(),
        )
        .await
        .context("cannot load the task window from the audit trail")?;
        state.tool_pins.reload(&*state.store).await;
        signals::fan_out::start_cursor(&state)
            .await
            .context("cannot read the signals cursor")?;
        let filled = leaks::backfill_upstream_fingerprints(&state).await?;
        if filled > 0 {
            tracing::info!(
                upstreams = filled,
                "recorded the leak fingerprints of upstream secrets"
            );
        }
        // Created here so the gateway can end its open streams when the server stops
        // (graceful shutdown waits for responses in flight, and a stream may never end).
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let gateway_router = warden_proxy::router(
            state.gateway_dependencies(),
            settings.gateway.settings(),
            stop_rx.clone(),
        )?;
        Ok(Self {
            api,
            gateway,
            gateway_router,
            guards,
            stop_tx,
            stop_rx,
            state,
            store,
            admin_token: admin.created,
            node,
            window_last,
            feed,
            cluster,
        })
    }

    pub fn api_addr(&self) -> anyhow::Result<SocketAddr> {
        Ok(self.api.local_addr()?)
    }

    pub fn gateway_addr(&self) -> anyhow::Result<SocketAddr> {
        Ok(self.gateway.local_addr()?)
    }

    /// Serves until `shutdown` completes, then stops accepting, lets requests in flight
    /// finish, ends the background tasks, signs a final audit checkpoint over the tail, and
    /// closes the store.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let stop_rx = self.stop_rx;
        let stop_tx = Arc::new(self.stop_tx);
        let on_signal = stop_tx.clone();
        tokio::spawn(async move {
            shutdown.await;
            let _ = on_signal.send(true);
        });
        let upkeep = tokio::spawn(plane_upkeep(
            self.state.clone(),
            self.cluster.reload,
            stop_rx.clone(),
        ));
        let follower = tokio::spawn(cluster::run(self.state.clone(), self.feed, stop_rx.clone()));
        let beater = tokio::spawn(cluster::beat(
            self.state.clone(),
            self.cluster.beat,
            stop_rx.clone(),
        ));
        let pin_writer = tokio::spawn(self.state.tool_pins.clone().run_writer(
            Arc::clone(&self.state.store),
            Arc::clone(&self.state.clock),
            stop_rx.clone(),
        ));
        let signaller = tokio::spawn(signals::run(self.state.clone(), stop_rx.clone()));
        let checkpointer = tokio::spawn(audit_anchor::run(self.state.clone(), stop_rx.clone()));
        tokio::spawn(warden_proxy::task_window_sync::run(
            Arc::clone(&self.state.store),
            Arc::clone(&self.state.clock),
            Arc::clone(&self.state.task_window),
            self.node.clone(),
            self.window_last,
            stop_rx.clone(),
        ));
        let evaluator = tokio::spawn(self.state.posture.clone().run(
            self.state.store.clone(),
            self.state.clock.clone(),
            stop_rx.clone(),
        ));
        let api = listen::serve(
            self.api,
            api::router(self.state.clone()),
            self.guards.api,
            "api",
            |stream, addr| (stream, addr),
            stop_rx.clone(),
        );
        let gateway = listen::serve(
            self.gateway,
            self.gateway_router,
            self.guards.gateway,
            "gateway",
            warden_proxy::sniffed,
            stop_rx,
        );
        tokio::join!(api, gateway);
        upkeep.abort();
        follower.abort();
        beater.abort();
        let _ = upkeep.await;
        let _ = follower.await;
        // After the upkeep, whose catalog reloads would start them again.
        self.state.catalog.stop_local_servers().await;
        evaluator.abort();
        signaller.abort();
        // Every task that writes the trail has ended (or been cancelled) before the final
        // checkpoint, so it covers everything this node wrote.
        let _ = evaluator.await;
        let _ = signaller.await;
        let _ = pin_writer.await;
        let _ = checkpointer.await;
        audit_anchor::seal(&*self.state.store, self.state.clock.now()).await;
        self.store.close().await;
        Ok(())
    }
}

/// `warden keys rotate-data-key`: with every node stopped, re-seals every upstream secret
/// and signing key under a new data key and replaces `keys/data.key` (see `data_key`).
pub async fn rotate_data_key(settings: &Settings) -> anyhow::Result<data_key::Rotation> {
    let keys_dir = settings.data_dir.join("keys");
    if !keys_dir.join(bootstrap::DATA_KEY_FILE).exists() {
        anyhow::bail!(
            "{} has no data key; point --data-dir at the data directory of a node that has run",
            keys_dir.display()
        );
    }
    let keys = bootstrap::load_keys(&settings.data_dir)?;
    let audit = AuditSettings {
        node: bootstrap::node_name(&settings.data_dir)?,
        signer: Some(keys.audit.clone()),
        checkpoints: settings.audit_checkpoints,
    };
    let store = SqlStore::connect(&settings.database_url(), audit)
        .await
        .context("cannot open the database")?;
    let actor = Actor::admin("local", "local operator");
    let now = warden_core::Clock::now(&SystemClock);
    let rotation = data_key::rotate(&store, &keys_dir, &keys.data, &actor, now).await;
    // The rotation's audit records are anchored before the tool lets go of the store.
    audit_anchor::seal(&store, warden_core::Clock::now(&SystemClock)).await;
    store.close().await;
    rotation
}

/// Every second: expired cache entries dropped and the held requests of expired approvals
/// purged. Every `reload` as well: revocation state, key ring, the gateway's catalog and the
/// tool pins re-read from the store, the fallback behind the change feed (`cluster`) for a
/// change whose notification was lost.
async fn plane_upkeep(
    state: AppState,
    reload: std::time::Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut interval = tokio::time::interval(std::time::Duration::from_secs(1));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_reload = std::time::Instant::now();
    loop {
        tokio::select! {
            _ = interval.tick() => {
                let now = state.clock.now();
                if last_reload.elapsed() >= reload {
                    last_reload = std::time::Instant::now();
                    state.credentials.tick(&*state.store, now).await;
                    state.catalog.reload(&*state.store).await;
                    state.tool_pins.reload(&*state.store).await;
                } else {
                    state.credentials.purge(&*state.store, now).await;
                }
                // Expiry is read, never written, so nothing else would remove them.
                if let Err(error) = state.store.purge_approval_requests(state.clock.now()).await {
                    tracing::warn!(%error, "cannot purge the held requests of expired approvals");
                }
            }
            changed = stop.changed() => {
                if changed.is_err() || *stop.borrow() {
                    return;
                }
            }
        }
    }
}
