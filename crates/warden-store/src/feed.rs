//! The change feed: how a node hears, as it happens, that something it holds in memory
//! (revocation state, the key ring, upstreams and policies, tool pins, approvals) changed
//! in the store, on this node or on another one sharing the database.
//!
//! A write announces its topic with its commit. On PostgreSQL the announcement is a
//! `NOTIFY` inside the write's transaction, so it is delivered exactly when the change
//! becomes visible and never for a change that rolled back; a listener connection per node
//! hears every node's. On SQLite (one node, one process) it is an in-process broadcast sent
//! after the commit.
//!
//! A notification names a topic, never a value: whoever hears it re-reads that part of the
//! store. A merged or duplicated notification therefore cannot leave a node with a wrong
//! view, only with a late one, and [`Heard::Resync`] (after the listener reconnected, or
//! when a subscriber fell behind) says that anything may have been missed.

use std::time::Duration;

use tokio::sync::broadcast;

/// What a change is about, as far as the in-memory views of a node are concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Topic {
    /// Identities, owners, credentials and revoked tokens: what the revocation state holds
    /// (kills, suspensions, revocations, a new agent, an offboarded owner).
    Access,
    /// The token-signing key ring.
    Keys,
    /// Upstreams (with their labels and secrets) and policies.
    Catalog,
    /// Pinned MCP tool definitions.
    ToolPins,
    /// Approvals asked for and decided.
    Approvals,
}

impl Topic {
    pub const ALL: [Topic; 5] = [
        Topic::Access,
        Topic::Keys,
        Topic::Catalog,
        Topic::ToolPins,
        Topic::Approvals,
    ];

    /// The name carried in a notification's payload.
    pub fn as_str(self) -> &'static str {
        match self {
            Topic::Access => "access",
            Topic::Keys => "keys",
            Topic::Catalog => "catalog",
            Topic::ToolPins => "tool_pins",
            Topic::Approvals => "approvals",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|topic| topic.as_str() == name)
    }
}

/// One thing a subscriber hears.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Heard {
    /// Something under this topic changed: re-read it.
    Changed(Topic),
    /// This node's own beat came back through the feed: the database accepted it and the
    /// feed delivered it, so nothing announced before it can still be unheard.
    Beat,
    /// Notifications may have been missed (the listener has just (re)connected, or this
    /// subscriber fell behind): re-read everything.
    Resync,
    /// The feed cannot be heard for now, and why (the listener retries by itself).
    Lost(String),
}

/// A subscription to the change feed. Each subscriber hears everything sent after it
/// subscribed.
#[derive(Debug)]
pub struct ChangeFeed {
    receiver: broadcast::Receiver<Heard>,
}

impl ChangeFeed {
    pub(crate) fn new(receiver: broadcast::Receiver<Heard>) -> Self {
        Self { receiver }
    }

    /// Waits for the next thing heard. A subscriber that fell behind hears `Resync` in
    /// place of what it missed; once the store is gone it waits forever.
    pub async fn next(&mut self) -> Heard {
        match self.receiver.recv().await {
            Ok(heard) => heard,
            Err(broadcast::error::RecvError::Lagged(_)) => Heard::Resync,
            Err(broadcast::error::RecvError::Closed) => std::future::pending().await,
        }
    }

    /// What has already arrived, without waiting.
    pub fn try_next(&mut self) -> Option<Heard> {
        match self.receiver.try_recv() {
            Ok(heard) => Some(heard),
            Err(broadcast::error::TryRecvError::Lagged(_)) => Some(Heard::Resync),
            Err(_) => None,
        }
    }
}

/// The channel every node listens on.
pub(crate) const CHANNEL: &str = "warden_changes";

/// The payload prefix of a node's beat; the rest is the store's own token, so a node
/// recognises its own beat among every node's.
pub(crate) const BEAT_PREFIX: &str = "beat:";

/// How long the listener may hear nothing at all (not even its own beats, sent about every
/// second by a running node) before it takes the connection for dead and opens another.
pub(crate) const LISTENER_SILENCE: Duration = Duration::from_secs(3);

/// How many notifications a slow subscriber may fall behind before it hears `Resync`.
pub(crate) const BACKLOG: usize = 1024;

/// What a payload means to the node whose beat token is `own_beat`; `None` for another
/// node's beat and for payloads this version does not know (a newer node's topic), which
/// the periodic reload covers.
pub(crate) fn interpret(payload: &str, own_beat: &str) -> Option<Heard> {
    if let Some(token) = payload.strip_prefix(BEAT_PREFIX) {
        return (token == own_beat).then_some(Heard::Beat);
    }
    Topic::parse(payload).map(Heard::Changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_topic_reads_back_from_its_name() {
        for topic in Topic::ALL {
            assert_eq!(Topic::parse(topic.as_str()), Some(topic));
        }
        assert_eq!(Topic::parse("Access"), None);
        assert_eq!(Topic::parse(""), None);
    }

    #[test]
    fn only_this_nodes_beat_counts_as_its_beat() {
        assert_eq!(interpret("beat:mine", "mine"), Some(Heard::Beat));
        assert_eq!(interpret("beat:theirs", "mine"), None);
        assert_eq!(interpret("beat:", "mine"), None);
        assert_eq!(
            interpret("catalog", "mine"),
            Some(Heard::Changed(Topic::Catalog))
        );
        assert_eq!(interpret("something-newer", "mine"), None);
    }

    #[tokio::test]
    async fn a_subscriber_that_falls_behind_hears_resync() {
        let (sender, receiver) = broadcast::channel(2);
        let mut feed = ChangeFeed::new(receiver);
        for _ in 0..5 {
            let _ = sender.send(Heard::Changed(Topic::Access));
        }
        assert_eq!(feed.next().await, Heard::Resync);
        assert_eq!(feed.next().await, Heard::Changed(Topic::Access));
    }
}
