//! Verification of a stored or exported chain: every record's hash, every link, every
//! checkpoint signature, and a diagnosis of what was done when something is wrong.
//!
//! Verification streams: memory is O(1) in the number of records (plus the checkpoints,
//! which are few). Records are expected in sequence order, as `ORDER BY sequence` or an
//! export gives them. On the first problem the verifier stops; to *classify* it, it may
//! read the rest of the stream once more, still in O(1) memory, because telling "record 7
//! was deleted" from "record 7 comes later" needs to know what follows.
//!
//! # How each kind of tampering shows, and how it is told apart
//!
//! Let `e` be the sequence expected next and `last` the last record that verified.
//! - **Edited**: a record whose stored hash does not match SHA-256(prev_hash ‖ contents)
//!   ([`Problem::Edited`] at that record), or a self-consistent record whose predecessor no
//!   longer has the hash it committed to (the predecessor was edited and re-hashed: reported
//!   at the predecessor).
//! - **Deleted**: the next record's sequence skips `e` and no record `e` follows anywhere
//!   later; or a record is recognisably a later record renumbered down to close the gap.
//! - **Inserted**: a second record with a sequence already used; a record out of place whose
//!   predecessor is nowhere in the log; a self-consistent record that links to `last` but
//!   skips sequence numbers; or a record recognisably renumbered up to make room.
//! - **Reordered**: the record at `e`'s place has a later sequence whose true predecessor
//!   does appear later in the stream; or (rows swapped with their sequence numbers kept)
//!   `e`'s place holds a later record's contents while `e`'s contents appear further on.
//! - **TruncatedAfterCheckpoint**: a correctly signed checkpoint names a sequence beyond
//!   the last record.
//! - **BadCheckpointSignature** / **CheckpointMismatch**: a checkpoint that the given key
//!   did not sign, or whose hash differs from the chain's at that sequence (the records up
//!   to it were rewritten and re-hashed consistently: the chain alone cannot tell which).
//!
//! What no verifier can detect: a consistent rewrite of records after the last checkpoint,
//! and a tail cut after the last checkpoint. [`VerifyReport::unanchored_events`] says how
//! many records are in that position.

use std::borrow::Borrow;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::fmt;

use serde::Serialize;

use crate::canonical::Hasher;
use crate::chain::ChainHead;
use crate::checkpoint::{AuditPublicKey, Checkpoint};
use crate::digest::ChainHash;
use crate::event::AuditEvent;

/// How far a renumbered record is searched for (in sequence numbers) when diagnosing.
const RENUMBER_WINDOW: u64 = 16;

/// What is wrong at the reported sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Problem {
    /// The record's contents (or its stored hash) changed after it was written.
    Edited,
    /// Records are missing from the chain, from `first` to `last` inclusive.
    Deleted { first: u64, last: u64 },
    /// A record was added that the chain never wrote.
    Inserted,
    /// Records are present but out of order.
    Reordered,
    /// The log ends at `last_present` but a signed checkpoint covers `checkpoint`.
    TruncatedAfterCheckpoint { last_present: u64, checkpoint: u64 },
    /// A checkpoint that the audit key did not sign (or signed by another key).
    BadCheckpointSignature,
    /// A signed checkpoint disagrees with the chain's hash at its sequence.
    CheckpointMismatch,
    /// A checkpoint appears in an export after records it should precede, so it cannot be
    /// checked in one pass.
    CheckpointOutOfPlace,
}

impl Problem {
    pub const fn as_str(&self) -> &'static str {
        match self {
            Problem::Edited => "edited",
            Problem::Deleted { .. } => "deleted",
            Problem::Inserted => "inserted",
            Problem::Reordered => "reordered",
            Problem::TruncatedAfterCheckpoint { .. } => "truncated after checkpoint",
            Problem::BadCheckpointSignature => "bad checkpoint signature",
            Problem::CheckpointMismatch => "checkpoint mismatch",
            Problem::CheckpointOutOfPlace => "checkpoint out of place",
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The first thing found wrong: where, what kind, and a sentence for the auditor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("audit chain broken at sequence {sequence} ({problem}): {detail}")]
pub struct VerifyFailure {
    /// The first bad sequence number.
    pub sequence: u64,
    pub problem: Problem,
    pub detail: String,
}

/// What an intact chain looked like.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    pub events_verified: u64,
    /// Sequence of the first record verified, if any.
    pub first_sequence: Option<u64>,
    /// The head after the last record (the start head for an empty log).
    pub last_sequence: u64,
    pub last_hash: ChainHash,
    pub checkpoints_verified: u64,
    /// The highest sequence covered by a verified checkpoint.
    pub last_checkpoint: Option<u64>,
    /// Records after the last verified checkpoint: intact as far as the chain shows, but
    /// not yet vouched for by a signature.
    pub unanchored_events: u64,
}

/// One item of a verification stream: exports interleave records and checkpoints.
#[derive(Debug, Clone)]
pub enum Entry<E> {
    Event(E),
    Checkpoint(Checkpoint),
}

/// Either a broken chain or a failure of the stream that fed the verifier.
#[derive(Debug)]
pub(crate) enum RunError<X> {
    Broken(VerifyFailure),
    Source(X),
}

impl<X> From<VerifyFailure> for RunError<X> {
    fn from(failure: VerifyFailure) -> Self {
        RunError::Broken(failure)
    }
}

fn fail(sequence: u64, problem: Problem, detail: String) -> VerifyFailure {
    VerifyFailure {
        sequence,
        problem,
        detail,
    }
}

/// Verifies a chain from genesis. `events` must be in sequence order; `checkpoints` may be
/// in any order.
pub fn verify<I>(
    events: I,
    checkpoints: &[Checkpoint],
    key: &AuditPublicKey,
) -> Result<VerifyReport, VerifyFailure>
where
    I: IntoIterator,
    I::Item: Borrow<AuditEvent>,
{
    verify_from(ChainHead::GENESIS, events, checkpoints, key)
}

/// Verifies a chain that continues from `start` (a head the caller already trusts, for
/// example one vouched for by a checkpoint), so a log can be checked in pieces.
pub fn verify_from<I>(
    start: ChainHead,
    events: I,
    checkpoints: &[Checkpoint],
    key: &AuditPublicKey,
) -> Result<VerifyReport, VerifyFailure>
where
    I: IntoIterator,
    I::Item: Borrow<AuditEvent>,
{
    let mut verifier = Verifier::new(start, key);
    let mut sorted: Vec<&Checkpoint> = checkpoints.iter().collect();
    sorted.sort_by_key(|c| c.sequence);
    for checkpoint in sorted {
        if checkpoint.sequence >= start.sequence {
            verifier.add_checkpoint(checkpoint.clone())?;
        }
    }
    let entries = events
        .into_iter()
        .map(|event| Ok::<_, Infallible>(Entry::Event(event)));
    match verifier.run(entries) {
        Ok(report) => Ok(report),
        Err(RunError::Broken(failure)) => Err(failure),
        Err(RunError::Source(never)) => match never {},
    }
}

/// The streaming verifier behind [`verify`] and [`crate::export::verify_export`].
pub(crate) struct Verifier<'k> {
    key: &'k AuditPublicKey,
    hasher: Hasher,
    start: ChainHead,
    last: ChainHead,
    before_last: Option<ChainHead>,
    first_sequence: Option<u64>,
    events: u64,
    /// Checkpoints not yet reached, in ascending sequence order.
    pending: VecDeque<Checkpoint>,
    checkpoints_verified: u64,
    last_checkpoint: Option<u64>,
}

impl<'k> Verifier<'k> {
    pub(crate) fn new(start: ChainHead, key: &'k AuditPublicKey) -> Self {
        Self {
            key,
            hasher: Hasher::new(),
            start,
            last: start,
            before_last: None,
            first_sequence: None,
            events: 0,
            pending: VecDeque::new(),
            checkpoints_verified: 0,
            last_checkpoint: None,
        }
    }

    /// Feeds every entry, then checks what is left over.
    pub(crate) fn run<E, X, I>(mut self, mut entries: I) -> Result<VerifyReport, RunError<X>>
    where
        E: Borrow<AuditEvent>,
        I: Iterator<Item = Result<Entry<E>, X>>,
    {
        while let Some(entry) = entries.next() {
            match entry.map_err(RunError::Source)? {
                Entry::Event(event) => self.push(event.borrow(), &mut entries)?,
                Entry::Checkpoint(checkpoint) => self.add_checkpoint(checkpoint)?,
            }
        }
        Ok(self.finish()?)
    }

    pub(crate) fn add_checkpoint(&mut self, checkpoint: Checkpoint) -> Result<(), VerifyFailure> {
        if checkpoint.sequence > self.last.sequence {
            let at = self
                .pending
                .partition_point(|c| c.sequence <= checkpoint.sequence);
            self.pending.insert(at, checkpoint);
            Ok(())
        } else if checkpoint.sequence == self.last.sequence {
            self.check_checkpoint(&checkpoint, self.last.hash)
        } else {
            Err(fail(
                checkpoint.sequence,
                Problem::CheckpointOutOfPlace,
                format!(
                    "the checkpoint for record {} appears after record {}; a checkpoint must \
                     come directly after the record it covers",
                    checkpoint.sequence, self.last.sequence
                ),
            ))
        }
    }

    fn check_checkpoint(
        &mut self,
        checkpoint: &Checkpoint,
        chain_hash: ChainHash,
    ) -> Result<(), VerifyFailure> {
        if let Err(error) = checkpoint.verify(self.key) {
            return Err(fail(
                checkpoint.sequence,
                Problem::BadCheckpointSignature,
                format!("{error}; the checkpoint is forged or was altered"),
            ));
        }
        if checkpoint.hash != chain_hash {
            return Err(fail(
                checkpoint.sequence,
                Problem::CheckpointMismatch,
                format!(
                    "the checkpoint signed at {} says record {} has hash {}, but the chain \
                     gives {}: records up to {} were rewritten and re-hashed after it was signed",
                    checkpoint.time.to_rfc3339(),
                    checkpoint.sequence,
                    checkpoint.hash,
                    chain_hash,
                    checkpoint.sequence
                ),
            ));
        }
        self.checkpoints_verified += 1;
        self.last_checkpoint = Some(checkpoint.sequence);
        Ok(())
    }

    fn accept(&mut self, record: &AuditEvent) -> Result<(), VerifyFailure> {
        self.before_last = Some(self.last);
        self.last = ChainHead::of(record);
        self.events += 1;
        if self.first_sequence.is_none() {
            self.first_sequence = Some(record.sequence);
        }
        while self
            .pending
            .front()
            .is_some_and(|c| c.sequence == record.sequence)
        {
            if let Some(checkpoint) = self.pending.pop_front() {
                self.check_checkpoint(&checkpoint, record.hash)?;
            }
        }
        Ok(())
    }

    fn push<E, X, I>(&mut self, record: &AuditEvent, rest: &mut I) -> Result<(), VerifyFailure>
    where
        E: Borrow<AuditEvent>,
        I: Iterator<Item = Result<Entry<E>, X>>,
    {
        let expected = self.last.sequence.saturating_add(1);
        if record.sequence == expected && expected > self.last.sequence {
            let self_consistent = self.hasher.hash(record) == record.hash;
            let links = record.prev_hash == self.last.hash;
            if self_consistent && links {
                return self.accept(record);
            }
            Err(self.diagnose_in_place(record, self_consistent, links, rest))
        } else if record.sequence > expected {
            Err(self.diagnose_gap(record, expected, rest))
        } else {
            Err(self.diagnose_repeat(record))
        }
    }

    /// The record has the expected sequence but does not verify.
    fn diagnose_in_place<E, X, I>(
        &mut self,
        record: &AuditEvent,
        self_consistent: bool,
        links: bool,
        rest: &mut I,
    ) -> VerifyFailure
    where
        E: Borrow<AuditEvent>,
        I: Iterator<Item = Result<Entry<E>, X>>,
    {
        let s = record.sequence;
        let last = self.last;
        if !self_consistent {
            if let Some(failure) = self.diagnose_renumbering(record, rest) {
                return failure;
            }
            let detail = if links {
                format!(
                    "its contents no longer match its hash {}: a field (or the hash itself) \
                     was changed after it was written",
                    record.hash
                )
            } else {
                format!(
                    "its contents no longer match its hash {} and it does not link to record \
                     {}: it was changed after it was written",
                    record.hash, last.sequence
                )
            };
            return fail(s, Problem::Edited, detail);
        }
        // Self-consistent, but it does not commit to the record before it.
        if last == self.start {
            let what = if last == ChainHead::GENESIS {
                "the genesis hash (all zeros)".to_owned()
            } else {
                format!("record {} ({})", last.sequence, last.hash)
            };
            return fail(
                s,
                Problem::Edited,
                format!(
                    "it does not commit to {what} but to {}: its link was rewritten",
                    record.prev_hash
                ),
            );
        }
        if let Some(before) = self.before_last
            && record.prev_hash == before.hash
        {
            return fail(
                last.sequence,
                Problem::Inserted,
                format!(
                    "record {} does not belong to the chain: record {s} commits directly to \
                     record {}",
                    last.sequence, before.sequence
                ),
            );
        }
        let mut duplicated = false;
        scan(rest, |later| {
            duplicated |= later.sequence == s;
            !duplicated
        });
        if duplicated {
            return fail(
                s,
                Problem::Inserted,
                format!(
                    "two records claim sequence {s}; the first does not link to record {}, so \
                     it was added",
                    last.sequence
                ),
            );
        }
        fail(
            last.sequence,
            Problem::Edited,
            format!(
                "record {} was altered and its hash recomputed: record {s} committed to {}, \
                 but record {} now hashes to {}",
                last.sequence, record.prev_hash, last.sequence, last.hash
            ),
        )
    }

    /// Is a record that fails its hash a genuine record with a changed sequence number?
    /// Only a record's own sequence is tried, so an edit is never mistaken for this.
    fn diagnose_renumbering<E, X, I>(
        &mut self,
        record: &AuditEvent,
        rest: &mut I,
    ) -> Option<VerifyFailure>
    where
        E: Borrow<AuditEvent>,
        I: Iterator<Item = Result<Entry<E>, X>>,
    {
        let s = record.sequence;
        let mut probe = record.clone();
        for d in 1..=RENUMBER_WINDOW {
            if let Some(original) = s.checked_add(d) {
                probe.sequence = original;
                if self.hasher.hash(&probe) == record.hash {
                    return Some(self.renumbered_down(s, original, rest));
                }
            }
            if let Some(original) = s.checked_sub(d).filter(|o| *o > self.start.sequence) {
                probe.sequence = original;
                if self.hasher.hash(&probe) == record.hash {
                    return Some(fail(
                        original,
                        Problem::Inserted,
                        format!(
                            "record {s} is record {original} renumbered: {d} record(s) were \
                             inserted at {original}..={} and later records renumbered",
                            s - 1
                        ),
                    ));
                }
            }
        }
        None
    }

    /// Record `original` sits at `s`: either records before it were deleted, or it was
    /// swapped with the record that belongs at `s`, whose contents then appear later.
    fn renumbered_down<E, X, I>(&self, s: u64, original: u64, rest: &mut I) -> VerifyFailure
    where
        E: Borrow<AuditEvent>,
        I: Iterator<Item = Result<Entry<E>, X>>,
    {
        let last_hash = self.last.hash;
        let mut moved_to = None;
        scan(rest, |later| {
            if later.prev_hash == last_hash {
                moved_to = Some(later.sequence);
            }
            moved_to.is_none()
        });
        match moved_to {
            Some(position) => fail(
                s,
                Problem::Reordered,
                format!(
                    "the contents of records {s} and {original} were swapped: record \
                     {original} sits at {s}, and the record that follows {} sits at {position}",
                    self.last.sequence
                ),
            ),
            None => fail(
                s,
                Problem::Deleted {
                    first: s,
                    last: original - 1,
                },
                format!(
                    "record {s} is record {original} renumbered: {} record(s) were deleted and \
                     later records renumbered to close the gap",
                    original - s
                ),
            ),
        }
    }

    /// The record's sequence skips ahead of `expected`.
    fn diagnose_gap<E, X, I>(
        &mut self,
        record: &AuditEvent,
        expected: u64,
        rest: &mut I,
    ) -> VerifyFailure
    where
        E: Borrow<AuditEvent>,
        I: Iterator<Item = Result<Entry<E>, X>>,
    {
        let s = record.sequence;
        let self_consistent = self.hasher.hash(record) == record.hash;
        let (mut expected_later, mut predecessor_later, mut copy_later) = (false, false, false);
        scan(rest, |later| {
            expected_later |= later.sequence == expected;
            predecessor_later |= later.sequence == s - 1 && later.hash == record.prev_hash;
            copy_later |= later.sequence == s && later.hash == record.hash;
            true
        });
        if copy_later {
            return fail(
                s,
                Problem::Inserted,
                format!(
                    "a copy of record {s} appears where record {expected} was expected; record \
                     {s} appears again later"
                ),
            );
        }
        if expected_later && predecessor_later {
            return fail(
                expected,
                Problem::Reordered,
                format!(
                    "record {s} appears before record {expected}: the records are out of order"
                ),
            );
        }
        if expected_later {
            return fail(
                s,
                Problem::Inserted,
                format!(
                    "record {s} does not belong between records {} and {expected}: nothing in \
                     the log leads to it",
                    self.last.sequence
                ),
            );
        }
        if self_consistent && record.prev_hash == self.last.hash {
            return fail(
                s,
                Problem::Inserted,
                format!(
                    "record {s} follows record {} but skips sequence numbers {expected}..={}; \
                     the chain never skips, so this record was not written by it",
                    self.last.sequence,
                    s - 1
                ),
            );
        }
        let detail = if s - 1 == expected {
            format!(
                "record {expected} is missing: the log goes from record {} to record {s}",
                self.last.sequence
            )
        } else {
            format!(
                "records {expected}..={} ({} records) are missing: the log goes from record {} \
                 to record {s}",
                s - 1,
                s - expected,
                self.last.sequence
            )
        };
        fail(
            expected,
            Problem::Deleted {
                first: expected,
                last: s - 1,
            },
            detail,
        )
    }

    /// The record's sequence was already used.
    fn diagnose_repeat(&self, record: &AuditEvent) -> VerifyFailure {
        let s = record.sequence;
        let detail = if s <= self.start.sequence {
            format!(
                "sequence {s} is not after the start of the chain (sequence {}); numbering \
                 starts at {}",
                self.start.sequence,
                self.start.sequence + 1
            )
        } else if s == self.last.sequence && record.hash == self.last.hash {
            format!("record {s} appears twice in a row")
        } else {
            format!(
                "sequence {s} was already used by an earlier record (the log had reached {}); \
                 this one is an extra copy or a forgery",
                self.last.sequence
            )
        };
        fail(s, Problem::Inserted, detail)
    }

    pub(crate) fn finish(mut self) -> Result<VerifyReport, VerifyFailure> {
        let mut truncated_to = None;
        let mut first_bad_signature = None;
        for checkpoint in std::mem::take(&mut self.pending) {
            match checkpoint.verify(self.key) {
                Ok(()) => truncated_to = Some(checkpoint.sequence),
                Err(error) => {
                    first_bad_signature.get_or_insert((checkpoint.sequence, error));
                }
            }
        }
        let last = self.last.sequence;
        if let Some(checkpoint) = truncated_to {
            return Err(fail(
                last + 1,
                Problem::TruncatedAfterCheckpoint {
                    last_present: last,
                    checkpoint,
                },
                format!(
                    "the log ends at record {last}, but a signed checkpoint covers record \
                     {checkpoint}: records {}..={checkpoint} were cut off",
                    last + 1
                ),
            ));
        }
        if let Some((sequence, error)) = first_bad_signature {
            return Err(fail(
                sequence,
                Problem::BadCheckpointSignature,
                format!("{error}; the checkpoint is forged or was altered"),
            ));
        }
        let anchor = self.last_checkpoint.unwrap_or(self.start.sequence);
        Ok(VerifyReport {
            events_verified: self.events,
            first_sequence: self.first_sequence,
            last_sequence: last,
            last_hash: self.last.hash,
            checkpoints_verified: self.checkpoints_verified,
            last_checkpoint: self.last_checkpoint,
            unanchored_events: last.saturating_sub(anchor),
        })
    }
}

/// Reads the rest of the stream's records, until `visit` returns false or the stream ends
/// or fails. Used only after a problem is found, to classify it.
fn scan<E, X, I>(rest: &mut I, mut visit: impl FnMut(&AuditEvent) -> bool)
where
    E: Borrow<AuditEvent>,
    I: Iterator<Item = Result<Entry<E>, X>>,
{
    for entry in rest {
        match entry {
            Ok(Entry::Event(event)) => {
                if !visit(event.borrow()) {
                    return;
                }
            }
            Ok(Entry::Checkpoint(_)) => {}
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::record_hash;
    use crate::test_support::{chain_of, sample_event, signer};
    use crate::{AuditSigner, NewEvent};
    use proptest::prelude::*;
    use uuid::Uuid;
    use warden_core::Timestamp;

    fn check(
        events: &[AuditEvent],
        checkpoints: &[Checkpoint],
        signer: &AuditSigner,
    ) -> Result<VerifyReport, VerifyFailure> {
        verify(events, checkpoints, &signer.public_key())
    }

    fn broken(
        events: &[AuditEvent],
        checkpoints: &[Checkpoint],
        signer: &AuditSigner,
    ) -> VerifyFailure {
        match check(events, checkpoints, signer) {
            Ok(report) => panic!("tampering went unnoticed: {report:?}"),
            Err(failure) => {
                // Every message names the sequence it is about.
                assert!(
                    failure.to_string().contains(&failure.sequence.to_string()),
                    "{failure}"
                );
                failure
            }
        }
    }

    /// Recomputes hashes (and links) from `from` to the end, as an attacker with write
    /// access to the database but not the audit key could.
    fn rehash_from(events: &mut [AuditEvent], from: usize) {
        for i in from..events.len() {
            if i > 0 {
                events[i].prev_hash = events[i - 1].hash;
            }
            events[i].hash = record_hash(&events[i]);
        }
    }

    /// A record the chain never wrote, made to look genuine.
    fn forged(sequence: u64, prev_hash: ChainHash) -> AuditEvent {
        let mut event = NewEvent::new(crate::EventKind::GatewayDecision, crate::Actor::system("x"))
            .reason("forged")
            .place(
                Uuid::from_u128(999_999),
                sequence,
                Timestamp::from_millis(0),
                "node-a".into(),
                prev_hash,
            );
        event.hash = record_hash(&event);
        event
    }

    #[test]
    fn an_intact_chain_verifies_and_reports_its_head() {
        let signer = signer();
        let (events, checkpoints) = chain_of(25, 10, &signer);
        let report = check(&events, &checkpoints, &signer).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            report,
            VerifyReport {
                events_verified: 25,
                first_sequence: Some(1),
                last_sequence: 25,
                last_hash: events[24].hash,
                checkpoints_verified: 2,
                last_checkpoint: Some(20),
                unanchored_events: 5,
            }
        );
        // Owned events and an empty log work too.
        assert!(verify(events.clone(), &checkpoints, &signer.public_key()).is_ok());
        let empty = check(&[], &[], &signer).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(empty.events_verified, 0);
        assert_eq!(empty.last_hash, ChainHash::GENESIS);
    }

    #[test]
    fn verification_can_start_from_a_trusted_head() {
        let signer = signer();
        let (events, checkpoints) = chain_of(30, 10, &signer);
        let start = ChainHead::of(&events[9]);
        let report = verify_from(start, &events[10..], &checkpoints, &signer.public_key())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(report.events_verified, 20);
        assert_eq!(report.first_sequence, Some(11));
        assert_eq!(report.checkpoints_verified, 3);
    }

    #[test]
    fn an_edited_field_is_reported_at_its_record() {
        let signer = signer();
        let (mut events, checkpoints) = chain_of(20, 10, &signer);
        events[6].reason = Some("nothing to see here".into());
        let failure = broken(&events, &checkpoints, &signer);
        assert_eq!((failure.sequence, failure.problem), (7, Problem::Edited));
        assert!(failure.detail.contains("no longer match"), "{failure}");
    }

    #[test]
    fn an_edited_stored_hash_or_link_is_an_edit() {
        let signer = signer();
        let (events, checkpoints) = chain_of(20, 10, &signer);
        let mut hash_changed = events.clone();
        hash_changed[4].hash = ChainHash::sha256(b"x");
        let failure = broken(&hash_changed, &checkpoints, &signer);
        assert_eq!((failure.sequence, failure.problem), (5, Problem::Edited));

        let mut link_changed = events.clone();
        link_changed[4].prev_hash = ChainHash::sha256(b"x");
        let failure = broken(&link_changed, &checkpoints, &signer);
        assert_eq!((failure.sequence, failure.problem), (5, Problem::Edited));
    }

    #[test]
    fn an_edit_with_a_recomputed_hash_is_reported_at_the_edited_record() {
        let signer = signer();
        let (mut events, checkpoints) = chain_of(20, 10, &signer);
        events[6].node = "node-evil".into();
        events[6].hash = record_hash(&events[6]);
        let failure = broken(&events, &checkpoints, &signer);
        assert_eq!((failure.sequence, failure.problem), (7, Problem::Edited));
        assert!(failure.detail.contains("hash recomputed"), "{failure}");
    }

    #[test]
    fn a_consistently_rewritten_chain_is_caught_by_the_next_checkpoint() {
        let signer = signer();
        let (mut events, checkpoints) = chain_of(20, 10, &signer);
        events[12].reason = Some("rewritten".into());
        rehash_from(&mut events, 12);
        let failure = broken(&events, &checkpoints, &signer);
        assert_eq!(
            (failure.sequence, failure.problem),
            (20, Problem::CheckpointMismatch)
        );
        // With no checkpoint after the rewrite nothing can tell; the report says how much
        // of the log is in that position.
        let report = check(&events, &checkpoints[..0], &signer);
        assert!(report.is_ok_and(|r| r.unanchored_events == 20));
    }

    #[test]
    fn deleted_records_are_named() {
        let signer = signer();
        let (events, checkpoints) = chain_of(20, 10, &signer);
        let mut one = events.clone();
        one.remove(6);
        let failure = broken(&one, &checkpoints, &signer);
        assert_eq!(failure.sequence, 7);
        assert_eq!(failure.problem, Problem::Deleted { first: 7, last: 7 });

        let mut three = events.clone();
        three.drain(6..9);
        let failure = broken(&three, &checkpoints, &signer);
        assert_eq!(failure.problem, Problem::Deleted { first: 7, last: 9 });
        assert!(failure.detail.contains("3 records"), "{failure}");

        let mut first = events.clone();
        first.remove(0);
        let failure = broken(&first, &checkpoints, &signer);
        assert_eq!(failure.problem, Problem::Deleted { first: 1, last: 1 });
    }

    #[test]
    fn a_deletion_hidden_by_renumbering_is_still_a_deletion() {
        let signer = signer();
        let (mut events, checkpoints) = chain_of(20, 0, &signer);
        events.drain(6..8);
        for event in &mut events[6..] {
            event.sequence -= 2;
        }
        let failure = broken(&events, &checkpoints, &signer);
        assert_eq!(failure.sequence, 7);
        assert_eq!(failure.problem, Problem::Deleted { first: 7, last: 8 });
    }

    #[test]
    fn a_record_numbered_before_the_chain_starts_is_inserted() {
        let signer = signer();
        let (mut events, checkpoints) = chain_of(5, 0, &signer);
        events.insert(0, forged(0, ChainHash::GENESIS));
        let failure = broken(&events, &checkpoints, &signer);
        assert_eq!((failure.sequence, failure.problem), (0, Problem::Inserted));
        assert!(
            failure.detail.contains("numbering starts at 1"),
            "{failure}"
        );
    }

    #[test]
    fn inserted_records_are_named() {
        let signer = signer();
        let (events, checkpoints) = chain_of(20, 10, &signer);

        // A copy of a genuine record, right after it.
        let mut copy = events.clone();
        copy.insert(7, events[6].clone());
        let failure = broken(&copy, &checkpoints, &signer);
        assert_eq!((failure.sequence, failure.problem), (7, Problem::Inserted));

        // A copy of an earlier record, later on.
        let mut replay = events.clone();
        replay.insert(12, events[3].clone());
        let failure = broken(&replay, &checkpoints, &signer);
        assert_eq!((failure.sequence, failure.problem), (4, Problem::Inserted));

        // A self-consistent forgery that takes a used sequence number, before the genuine
        // record, linked to nothing.
        let mut squatter = events.clone();
        squatter.insert(6, forged(7, ChainHash::sha256(b"?")));
        let failure = broken(&squatter, &checkpoints, &signer);
        assert_eq!((failure.sequence, failure.problem), (7, Problem::Inserted));

        // The same forgery properly linked to its predecessor: the genuine record that
        // follows is then the second claim on sequence 7.
        let mut linked = events.clone();
        linked.insert(6, forged(7, events[5].hash));
        let failure = broken(&linked, &checkpoints, &signer);
        assert_eq!((failure.sequence, failure.problem), (7, Problem::Inserted));

        // A forgery with an unused sequence number placed in the middle of the log.
        let mut stray = events.clone();
        stray.insert(6, forged(1_000, events[5].hash));
        let failure = broken(&stray, &checkpoints, &signer);
        assert_eq!(
            (failure.sequence, failure.problem),
            (1_000, Problem::Inserted)
        );

        // A forgery appended after the end that skips sequence numbers.
        let mut skipping = events.clone();
        skipping.push(forged(25, events[19].hash));
        let failure = broken(&skipping, &checkpoints, &signer);
        assert_eq!((failure.sequence, failure.problem), (25, Problem::Inserted));
    }

    #[test]
    fn an_insertion_hidden_by_renumbering_is_still_an_insertion() {
        let signer = signer();
        let (events, checkpoints) = chain_of(20, 0, &signer);
        let mut shifted = events.clone();
        shifted.insert(6, forged(7, events[5].hash));
        for event in &mut shifted[7..] {
            event.sequence += 1;
        }
        let failure = broken(&shifted, &checkpoints, &signer);
        assert_eq!((failure.sequence, failure.problem), (7, Problem::Inserted));

        // Renumbered and re-hashed, but still committing to its true predecessor.
        let mut rehashed = events.clone();
        rehashed.insert(6, forged(7, events[5].hash));
        rehashed[7].sequence = 8;
        rehashed[7].hash = record_hash(&rehashed[7]);
        let failure = broken(&rehashed, &checkpoints, &signer);
        assert_eq!((failure.sequence, failure.problem), (7, Problem::Inserted));
    }

    #[test]
    fn swapped_records_are_reordered() {
        let signer = signer();
        let (events, checkpoints) = chain_of(20, 10, &signer);
        let mut adjacent = events.clone();
        adjacent.swap(6, 7);
        let failure = broken(&adjacent, &checkpoints, &signer);
        assert_eq!((failure.sequence, failure.problem), (7, Problem::Reordered));

        let mut distant = events.clone();
        distant.swap(3, 15);
        let failure = broken(&distant, &checkpoints, &signer);
        assert_eq!((failure.sequence, failure.problem), (4, Problem::Reordered));

        // Rows swapped in a table that keeps its sequence column: the contents move, the
        // numbers stay.
        let mut contents = events.clone();
        contents.swap(6, 8);
        contents[6].sequence = 7;
        contents[8].sequence = 9;
        let failure = broken(&contents, &checkpoints, &signer);
        assert_eq!((failure.sequence, failure.problem), (7, Problem::Reordered));
    }

    #[test]
    fn a_tail_cut_after_a_checkpoint_is_truncation() {
        let signer = signer();
        let (events, checkpoints) = chain_of(20, 10, &signer);
        let failure = broken(&events[..15], &checkpoints, &signer);
        assert_eq!(failure.sequence, 16);
        assert_eq!(
            failure.problem,
            Problem::TruncatedAfterCheckpoint {
                last_present: 15,
                checkpoint: 20
            }
        );
        let failure = broken(&[], &checkpoints, &signer);
        assert_eq!(failure.sequence, 1);
        // Cutting only records after the last checkpoint cannot be noticed.
        assert!(check(&events[..10], &checkpoints[..1], &signer).is_ok());
    }

    #[test]
    fn forged_or_foreign_checkpoints_are_refused() {
        let signer = signer();
        let (events, checkpoints) = chain_of(20, 10, &signer);
        let mut altered = checkpoints.clone();
        altered[0].hash = events[8].hash;
        let failure = broken(&events, &altered, &signer);
        assert_eq!(
            (failure.sequence, failure.problem),
            (10, Problem::BadCheckpointSignature)
        );

        let other = self::signer();
        let foreign = vec![other.sign(&ChainHead::of(&events[9]), Timestamp::from_millis(0), "n")];
        let failure = broken(&events, &foreign, &signer);
        assert_eq!(failure.problem, Problem::BadCheckpointSignature);
        assert!(failure.detail.contains("signed by key"), "{failure}");

        // A forged checkpoint beyond the end cannot fake a truncation.
        let beyond = vec![other.sign(
            &ChainHead {
                sequence: 50,
                hash: ChainHash::GENESIS,
            },
            Timestamp::from_millis(0),
            "n",
        )];
        let failure = broken(&events, &beyond, &signer);
        assert_eq!(
            (failure.sequence, failure.problem),
            (50, Problem::BadCheckpointSignature)
        );
    }

    #[derive(Debug, Clone)]
    enum Tamper {
        Edit { index: usize, field: u8 },
        Delete { index: usize },
        Duplicate { index: usize },
        Swap { a: usize, b: usize },
        Truncate { keep: usize },
    }

    fn tamper() -> impl Strategy<Value = (usize, Tamper)> {
        (3usize..40).prop_flat_map(|n| {
            let op = prop_oneof![
                (0..n, 0u8..6).prop_map(|(index, field)| Tamper::Edit { index, field }),
                (0..n).prop_map(|index| Tamper::Delete { index }),
                (0..n).prop_map(|index| Tamper::Duplicate { index }),
                (0..n, 0..n)
                    .prop_filter("distinct", |(a, b)| a != b)
                    .prop_map(|(a, b)| Tamper::Swap {
                        a: a.min(b),
                        b: a.max(b)
                    }),
                (0..n).prop_map(|keep| Tamper::Truncate { keep }),
            ];
            (Just(n), op)
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn every_tampering_is_caught_and_classified((n, op) in tamper()) {
            let signer = signer();
            // A checkpoint at the very end, so every record is anchored.
            let (mut events, checkpoints) = chain_of(n as u64, n as u64, &signer);
            let expected = match op {
                Tamper::Edit { index, field } => {
                    let event = &mut events[index];
                    match field {
                        0 => event.reason = Some("edited".into()),
                        1 => event.time = Timestamp::from_millis(event.time.as_millis() + 1),
                        2 => event.node.push('!'),
                        3 => event.policy_ids.push("policy-admin-all".into()),
                        4 => { event.details.insert("edited".into(), "yes".into()); }
                        _ => event.actor = crate::Actor::admin("adm_2", "mallory"),
                    }
                    (index as u64 + 1, Problem::Edited)
                }
                Tamper::Delete { index } => {
                    events.remove(index);
                    let s = index as u64 + 1;
                    if index == n - 1 {
                        (s, Problem::TruncatedAfterCheckpoint { last_present: s - 1, checkpoint: s })
                    } else {
                        (s, Problem::Deleted { first: s, last: s })
                    }
                }
                Tamper::Duplicate { index } => {
                    let copy = events[index].clone();
                    events.insert(index + 1, copy);
                    (index as u64 + 1, Problem::Inserted)
                }
                Tamper::Swap { a, b } => {
                    events.swap(a, b);
                    (a as u64 + 1, Problem::Reordered)
                }
                Tamper::Truncate { keep } => {
                    events.truncate(keep);
                    (keep as u64 + 1, Problem::TruncatedAfterCheckpoint {
                        last_present: keep as u64,
                        checkpoint: n as u64,
                    })
                }
            };
            let failure = broken(&events, &checkpoints, &signer);
            prop_assert_eq!((failure.sequence, failure.problem), expected, "{}", failure);
        }
    }

    #[test]
    fn sample_events_cover_every_variant_used_by_fixtures() {
        // Guards the fixtures: the proptest above relies on varied records.
        let kinds: std::collections::HashSet<_> = (0..5).map(|i| sample_event(i).kind).collect();
        assert_eq!(kinds.len(), 5);
    }
}
