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
use std::time::Duration;

use warden_plane::Freshness;
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
        assert_eq!(freshness.problem(), Some("gone".into()));
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
