//! Pinned MCP tool definitions at the gateway: which tools an answer may list and which
//! may be called, from the definitions the store has accepted and those this node has
//! just seen.
//!
//! Every tool in a `tools/list` answer is digested ([`warden_gateway::mcp::pin`]). A tool
//! never seen is pinned as it is; one whose digest is not its accepted one is hidden from
//! lists and its calls refused at once, on this node, before the store has heard of it. A
//! writer task records what was seen in the store (which audits each change) and the
//! upkeep loop re-reads the store every second, which is how an administrator's
//! acceptance, or another node's sighting, arrives here. A tool that was never listed
//! through the gateway is not refused: there is nothing to compare it with yet.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};

use tokio::sync::mpsc;
use warden_core::Clock;
use warden_store::Store;
use warden_store::tool_pins::ToolPin;

/// How many sightings may wait for the writer; beyond it they are dropped (the next
/// listing brings them again), so a flood of answers cannot grow memory.
const QUEUE: usize = 1024;

#[derive(Debug, Clone)]
struct Known {
    accepted: String,
    last_seen: String,
}

impl Known {
    fn changed(&self) -> bool {
        self.accepted != self.last_seen
    }
}

type Key = (String, String);

/// One tool definition seen in an answer.
#[derive(Debug)]
struct Sighting {
    upstream: String,
    tool: String,
    digest: String,
}

/// The pins as this node knows them.
pub struct ToolPins {
    known: RwLock<HashMap<Key, Known>>,
    /// Sightings not yet written, so each is queued once.
    queued: Mutex<HashSet<(String, String, String)>>,
    sender: mpsc::Sender<Sighting>,
    receiver: Mutex<Option<mpsc::Receiver<Sighting>>>,
}

impl std::fmt::Debug for ToolPins {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ToolPins")
            .field("known", &self.read().len())
            .finish_non_exhaustive()
    }
}

impl Default for ToolPins {
    fn default() -> Self {
        let (sender, receiver) = mpsc::channel(QUEUE);
        Self {
            known: RwLock::default(),
            queued: Mutex::default(),
            sender,
            receiver: Mutex::new(Some(receiver)),
        }
    }
}

fn key(upstream: &str, tool: &str) -> Key {
    (upstream.to_owned(), tool.to_owned())
}

impl ToolPins {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<Key, Known>> {
        self.known
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<Key, Known>> {
        self.known
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether a listed tool with this definition digest may be shown; records the
    /// sighting when it is new.
    pub fn listed(&self, upstream: &str, tool: &str, digest: &str) -> bool {
        let current = self.read().get(&key(upstream, tool)).cloned();
        let show = match &current {
            Some(known) if known.last_seen == digest => !known.changed(),
            Some(known) => {
                let accepted = known.accepted == digest;
                self.write().insert(
                    key(upstream, tool),
                    Known {
                        accepted: known.accepted.clone(),
                        last_seen: digest.to_owned(),
                    },
                );
                accepted
            }
            None => {
                self.write().insert(
                    key(upstream, tool),
                    Known {
                        accepted: digest.to_owned(),
                        last_seen: digest.to_owned(),
                    },
                );
                true
            }
        };
        if current
            .as_ref()
            .is_none_or(|known| known.last_seen != digest)
        {
            self.queue(upstream, tool, digest);
        }
        show
    }

    /// Whether `tool` may be called: not while its definition differs from the accepted one.
    pub fn callable(&self, upstream: &str, tool: &str) -> bool {
        self.read()
            .get(&key(upstream, tool))
            .is_none_or(|known| !known.changed())
    }

    fn queue(&self, upstream: &str, tool: &str, digest: &str) {
        let entry = (upstream.to_owned(), tool.to_owned(), digest.to_owned());
        let mut queued = self
            .queued
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !queued.insert(entry) {
            return;
        }
        let sighting = Sighting {
            upstream: upstream.to_owned(),
            tool: tool.to_owned(),
            digest: digest.to_owned(),
        };
        if self.sender.try_send(sighting).is_err() {
            queued.remove(&(upstream.to_owned(), tool.to_owned(), digest.to_owned()));
        }
    }

    /// Takes in pins read from the store: their accepted digests are the truth; what
    /// this node saw since stays its last sighting.
    pub fn apply(&self, pins: &[ToolPin]) {
        let mut known = self.write();
        for pin in pins {
            let entry = known
                .entry(key(&pin.upstream, &pin.tool))
                .or_insert_with(|| Known {
                    accepted: pin.accepted_digest.clone(),
                    last_seen: pin.seen_digest.clone(),
                });
            entry.accepted = pin.accepted_digest.clone();
        }
    }

    /// Re-reads every pin from the store.
    pub async fn reload(&self, store: &dyn Store) {
        if let Err(error) = self.refresh(store).await {
            tracing::warn!(%error, "cannot read the pinned MCP tools");
        }
    }

    /// `reload`, saying whether it succeeded.
    pub async fn refresh(&self, store: &dyn Store) -> warden_store::StoreResult<()> {
        let pins = store.tool_pins(None).await?;
        self.apply(&pins);
        Ok(())
    }

    /// Writes sightings to the store until the server stops.
    pub async fn run_writer(
        self: Arc<Self>,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        let Some(mut receiver) = self
            .receiver
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
        else {
            return;
        };
        loop {
            let sighting = tokio::select! {
                sighting = receiver.recv() => sighting,
                changed = stop.changed() => {
                    if changed.is_err() || *stop.borrow() {
                        return;
                    }
                    continue;
                }
            };
            let Some(sighting) = sighting else {
                return;
            };
            let seen = [(sighting.tool.clone(), sighting.digest.clone())];
            match store
                .observe_tool_definitions(&sighting.upstream, &seen, clock.now())
                .await
            {
                Ok(moved) => {
                    for pin in &moved {
                        if pin.state == warden_store::tool_pins::PinState::Changed {
                            tracing::warn!(upstream = %pin.upstream, tool = %pin.tool, "an MCP tool's definition changed; it is hidden until an administrator accepts it");
                        }
                    }
                    self.apply(&moved);
                }
                Err(error) => {
                    tracing::warn!(%error, upstream = %sighting.upstream, "cannot record a tool definition");
                }
            }
            self.queued
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .remove(&(sighting.upstream, sighting.tool, sighting.digest));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_definition_is_hidden_and_uncallable_until_accepted() {
        let pins = ToolPins::default();
        assert!(
            pins.callable("docs", "search"),
            "never seen: nothing to compare"
        );
        assert!(pins.listed("docs", "search", "d1"));
        assert!(pins.listed("docs", "search", "d1"));
        assert!(pins.callable("docs", "search"));
        assert!(!pins.listed("docs", "search", "d2"), "a rug pull");
        assert!(!pins.callable("docs", "search"));
        assert!(!pins.listed("docs", "search", "d2"));
        // Back to what was accepted: usable again.
        assert!(pins.listed("docs", "search", "d1"));
        assert!(pins.callable("docs", "search"));
        // Changed again, then an administrator accepts the new one.
        assert!(!pins.listed("docs", "search", "d3"));
        pins.apply(&[ToolPin {
            upstream: "docs".into(),
            tool: "search".into(),
            accepted_digest: "d3".into(),
            seen_digest: "d3".into(),
            state: warden_store::tool_pins::PinState::Accepted,
            first_seen_at: warden_core::Timestamp::from_millis(0),
            changed_at: None,
            accepted_at: warden_core::Timestamp::from_millis(1),
            accepted_by: Some("admin".into()),
        }]);
        assert!(pins.callable("docs", "search"));
        assert!(pins.listed("docs", "search", "d3"));
        // Pins are per upstream.
        assert!(pins.callable("other", "search"));
    }
}
