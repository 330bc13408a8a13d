//! Keeping this node current with every other node on the same database.
//!
//! The store's change feed says what changed; this module re-reads that part of the store
//! into the node's in-memory views (revocation state, key ring, catalog, tool pins, waiting
//! approvals) as soon as it hears it, several changes heard together costing one re-read
//! each. It also keeps the node honest about what it cannot hear: a node that has not
//! confirmed for longer than `[cluster] max_staleness_millis` that the feed reaches it and
//! the database answers could be allowing an agent that another node killed, so its
//! gateway and token endpoint refuse until it hears again, and `/readyz` says why.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use warden_store::{ChangeFeed, Heard, Topic};

use crate::config::ClusterConfig;
use crate::state::AppState;

pub const DEFAULT_MAX_STALENESS_MILLIS: u64 = 5_000;
pub const DEFAULT_BEAT_MILLIS: u64 = 500;
pub const DEFAULT_RELOAD_SECS: u64 = 10;

/// How a pending re-read that failed is retried.
const RETRY: Duration = Duration::from_millis(100);

/// `[cluster]`, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClusterSettings {
    /// The longest a node may go without confirming it hears the feed before it refuses.
    pub max_staleness: Duration,
    /// How often a node sends its beat through the feed.
    pub beat: Duration,
    /// How often everything is re-read anyway (the fallback behind the feed).
    pub reload: Duration,
}

impl ClusterSettings {
    pub fn resolve(config: &ClusterConfig) -> anyhow::Result<Self> {
        let max_staleness = Duration::from_millis(
            config
                .max_staleness_millis
                .unwrap_or(DEFAULT_MAX_STALENESS_MILLIS),
        );
        let beat = Duration::from_millis(config.beat_millis.unwrap_or(DEFAULT_BEAT_MILLIS));
        let reload = Duration::from_secs(config.reload_secs.unwrap_or(DEFAULT_RELOAD_SECS));
        if beat.is_zero() {
            anyhow::bail!("[cluster] beat_millis must be at least 1");
        }
        if max_staleness < beat * 2 {
            anyhow::bail!(
                "[cluster] max_staleness_millis ({}) must be at least twice beat_millis ({}): \
                 a node has to be able to miss one beat without refusing",
                max_staleness.as_millis(),
                beat.as_millis()
            );
        }
        if reload.is_zero() {
            anyhow::bail!("[cluster] reload_secs must be at least 1");
        }
        Ok(Self {
            max_staleness,
            beat,
            reload,
        })
    }
}

impl Default for ClusterSettings {
    fn default() -> Self {
        Self {
            max_staleness: Duration::from_millis(DEFAULT_MAX_STALENESS_MILLIS),
            beat: Duration::from_millis(DEFAULT_BEAT_MILLIS),
            reload: Duration::from_secs(DEFAULT_RELOAD_SECS),
        }
    }
}

/// When this node last knew it was current, and if not, why.
#[derive(Debug)]
pub struct Freshness {
    origin: Instant,
    /// Milliseconds after `origin` of the last confirmation.
    confirmed: AtomicU64,
    bound: Duration,
    problem: Mutex<Option<String>>,
}

/// Why a node refuses: it has not been able to confirm it is current for too long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stale {
    pub silent_for: Duration,
    pub bound: Duration,
    pub problem: Option<String>,
}

impl std::fmt::Display for Stale {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "this node has not heard the change feed for {} ms (the bound is {} ms), so it \
             cannot know what other nodes revoked",
            self.silent_for.as_millis(),
            self.bound.as_millis()
        )?;
        if let Some(problem) = &self.problem {
            write!(f, ": {problem}")?;
        }
        Ok(())
    }
}

impl Freshness {
    /// A node that is current now (it has just read everything at start).
    pub fn new(bound: Duration) -> Self {
        Self {
            origin: Instant::now(),
            confirmed: AtomicU64::new(0),
            bound,
            problem: Mutex::new(None),
        }
    }

    fn elapsed_millis(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// The node is current as of now.
    pub fn confirm(&self) {
        self.confirmed
            .fetch_max(self.elapsed_millis(), Ordering::Relaxed);
        *self.problem.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// Something stands in the way of confirming; kept to explain a refusal.
    pub fn trouble(&self, problem: String) {
        *self.problem.lock().unwrap_or_else(|p| p.into_inner()) = Some(problem);
    }

    /// `Err` once the last confirmation is older than the bound.
    pub fn check(&self) -> Result<(), Stale> {
        let silent_for = Duration::from_millis(
            self.elapsed_millis()
                .saturating_sub(self.confirmed.load(Ordering::Relaxed)),
        );
        if silent_for <= self.bound {
            return Ok(());
        }
        Err(Stale {
            silent_for,
            bound: self.bound,
            problem: self
                .problem
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        })
    }
}

/// What is waiting to be applied from what was heard.
#[derive(Debug, Default)]
struct Backlog {
    /// In `Topic` order, so the re-reads run in the same order every time.
    topics: BTreeSet<Topic>,
    beat: bool,
}

impl Backlog {
    fn absorb(&mut self, heard: Heard, freshness: &Freshness) {
        match heard {
            Heard::Changed(topic) => {
                self.topics.insert(topic);
            }
            Heard::Resync => self.topics.extend(Topic::ALL),
            Heard::Beat => self.beat = true,
            Heard::Lost(reason) => freshness.trouble(reason),
        }
    }
}

/// Applies the feed until the server stops. `feed` was subscribed before the node's first
/// full read, so nothing changed since then goes unheard.
pub async fn run(
    state: AppState,
    mut feed: ChangeFeed,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut backlog = Backlog::default();
    loop {
        let retry_pending = !backlog.topics.is_empty();
        tokio::select! {
            heard = feed.next() => backlog.absorb(heard, &state.freshness),
            () = tokio::time::sleep(RETRY), if retry_pending => {}
            _ = stop.wait_for(|stop| *stop) => return,
        }
        while let Some(heard) = feed.try_next() {
            backlog.absorb(heard, &state.freshness);
        }
        let topics = std::mem::take(&mut backlog.topics);
        for topic in topics {
            if let Err(problem) = apply(&state, topic).await {
                state.freshness.trouble(problem);
                backlog.topics.insert(topic);
            }
        }
        // A beat heard after every re-read before it succeeded: nothing announced before
        // the beat is still missing from this node's views.
        if backlog.beat && backlog.topics.is_empty() {
            state.freshness.confirm();
            backlog.beat = false;
        }
    }
}

/// Re-reads what `topic` covers.
async fn apply(state: &AppState, topic: Topic) -> Result<(), String> {
    let store = &*state.store;
    match topic {
        Topic::Access => state
            .credentials
            .refresh(store, state.clock.now())
            .await
            .map_err(|error| format!("cannot read the revocation state: {error}")),
        Topic::Keys => state
            .credentials
            .reload_ring(store)
            .await
            .map_err(|error| format!("cannot read the signing keys: {error}")),
        Topic::Catalog => state.catalog.refresh(store).await,
        Topic::ToolPins => state
            .tool_pins
            .refresh(store)
            .await
            .map_err(|error| format!("cannot read the pinned MCP tools: {error}")),
        Topic::Approvals => {
            state.approvals_changed.notify_waiters();
            Ok(())
        }
    }
}

/// Sends this node's beat through the feed until the server stops.
pub async fn beat(state: AppState, every: Duration, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = stop.wait_for(|stop| *stop) => return,
        }
        if let Err(error) = state.store.beat().await {
            state
                .freshness
                .trouble(format!("cannot reach the database: {error}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_node_is_current_and_goes_stale_after_the_bound() {
        let freshness = Freshness::new(Duration::from_millis(30));
        assert!(freshness.check().is_ok());
        freshness.trouble("the listening connection was lost".into());
        std::thread::sleep(Duration::from_millis(60));
        let stale = freshness.check().err();
        let text = stale.as_ref().map(ToString::to_string).unwrap_or_default();
        assert!(text.contains("bound is 30 ms"), "{text}");
        assert!(text.contains("the listening connection was lost"), "{text}");
        freshness.confirm();
        assert!(freshness.check().is_ok());
        // A confirmation clears the problem it answered.
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(freshness.check().err().and_then(|s| s.problem), None);
    }

    #[test]
    fn a_resync_asks_for_every_topic_and_a_loss_is_remembered() {
        let freshness = Freshness::new(Duration::from_secs(5));
        let mut backlog = Backlog::default();
        backlog.absorb(Heard::Changed(Topic::Catalog), &freshness);
        backlog.absorb(Heard::Changed(Topic::Catalog), &freshness);
        assert_eq!(backlog.topics.len(), 1);
        backlog.absorb(Heard::Resync, &freshness);
        let topics: Vec<Topic> = backlog.topics.iter().copied().collect();
        assert_eq!(topics, Topic::ALL.to_vec());
        backlog.absorb(Heard::Lost("gone".into()), &freshness);
        assert_eq!(
            freshness.problem.lock().ok().and_then(|p| p.clone()),
            Some("gone".into())
        );
        assert!(!backlog.beat);
        backlog.absorb(Heard::Beat, &freshness);
        assert!(backlog.beat);
    }

    #[test]
    fn settings_refuse_a_bound_a_single_missed_beat_would_break() {
        let config = ClusterConfig {
            max_staleness_millis: Some(900),
            beat_millis: Some(500),
            reload_secs: None,
        };
        let error = ClusterSettings::resolve(&config)
            .err()
            .map(|e| e.to_string());
        assert!(
            error
                .as_deref()
                .is_some_and(|text| text.contains("max_staleness_millis")),
            "{error:?}"
        );
        let defaults = ClusterSettings::resolve(&ClusterConfig::default()).ok();
        assert_eq!(defaults, Some(ClusterSettings::default()));
    }
}
