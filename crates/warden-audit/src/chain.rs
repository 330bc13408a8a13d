//! Appending to the hash chain: each record commits to the one before it.
//!
//! The chain is a single sequence per Warden deployment: the server's group-commit writer
//! holds the [`ChainHead`], calls [`append`] for each event in the batch, and stores the
//! results in one transaction. Nodes share the chain; `node` records which one wrote.

use serde::{Deserialize, Serialize};
use uuid::Uuid;
use warden_core::Timestamp;

use crate::canonical::Hasher;
use crate::digest::ChainHash;
use crate::event::{AuditEvent, NewEvent};

/// Why an event could not be appended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    #[error("the audit chain has used every sequence number; start a new chain")]
    SequenceExhausted,
}

/// The last record of the chain: what the next one must follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ChainHead {
    /// The sequence number of the last record; 0 before the first.
    pub sequence: u64,
    pub hash: ChainHash,
}

impl ChainHead {
    /// The head of an empty chain: sequence 0 and the all-zero hash.
    pub const GENESIS: ChainHead = ChainHead {
        sequence: 0,
        hash: ChainHash::GENESIS,
    };

    /// The head after `event`.
    pub fn of(event: &AuditEvent) -> Self {
        Self {
            sequence: event.sequence,
            hash: event.hash,
        }
    }
}

impl Default for ChainHead {
    fn default() -> Self {
        Self::GENESIS
    }
}

/// Places `event` after `head`: sequence `head.sequence + 1`, `prev_hash = head.hash`,
/// and `hash` computed over the whole record. The caller advances its head with
/// [`ChainHead::of`] on the result.
pub fn append(
    head: &ChainHead,
    event: NewEvent,
    id: Uuid,
    time: Timestamp,
    node: &str,
) -> Result<AuditEvent, ChainError> {
    Chain::new(*head).append(event, id, time, node)
}

/// A chain head plus a reusable hashing buffer, for writers that append many events.
#[derive(Debug, Default)]
pub struct Chain {
    head: ChainHead,
    hasher: Hasher,
}

impl Chain {
    pub fn new(head: ChainHead) -> Self {
        Self {
            head,
            hasher: Hasher::new(),
        }
    }

    pub fn head(&self) -> ChainHead {
        self.head
    }

    /// Appends `event` and advances the head.
    pub fn append(
        &mut self,
        event: NewEvent,
        id: Uuid,
        time: Timestamp,
        node: &str,
    ) -> Result<AuditEvent, ChainError> {
        let sequence = self
            .head
            .sequence
            .checked_add(1)
            .ok_or(ChainError::SequenceExhausted)?;
        let mut record = event.place(id, sequence, time, node.to_owned(), self.head.hash);
        record.hash = self.hasher.hash(&record);
        self.head = ChainHead::of(&record);
        Ok(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::record_hash;
    use crate::event::{Actor, EventKind};

    #[test]
    fn records_link_to_their_predecessor() -> Result<(), ChainError> {
        let mut chain = Chain::new(ChainHead::GENESIS);
        let event = || NewEvent::new(EventKind::AdminLogin, Actor::admin("u1", "alice"));
        let first = chain.append(event(), Uuid::from_u128(1), Timestamp::from_millis(5), "n")?;
        let second = chain.append(event(), Uuid::from_u128(2), Timestamp::from_millis(6), "n")?;
        assert_eq!(first.sequence, 1);
        assert_eq!(first.prev_hash, ChainHash::GENESIS);
        assert_eq!(second.sequence, 2);
        assert_eq!(second.prev_hash, first.hash);
        assert_eq!(record_hash(&second), second.hash);
        assert_eq!(chain.head(), ChainHead::of(&second));
        // The free function gives the same record as the stateful chain.
        let again = append(
            &ChainHead::of(&first),
            event(),
            Uuid::from_u128(2),
            Timestamp::from_millis(6),
            "n",
        )?;
        assert_eq!(again, second);
        Ok(())
    }

    #[test]
    fn an_exhausted_chain_refuses_to_wrap() {
        let head = ChainHead {
            sequence: u64::MAX,
            hash: ChainHash::GENESIS,
        };
        let event = NewEvent::new(EventKind::AdminLogin, Actor::system("test"));
        let result = append(&head, event, Uuid::nil(), Timestamp::from_millis(0), "n");
        assert_eq!(result, Err(ChainError::SequenceExhausted));
    }
}
