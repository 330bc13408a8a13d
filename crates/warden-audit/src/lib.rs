//! Warden's audit trail: the event model, the hash chain, signed checkpoints, verification
//! and the export formats.
//!
//! Architecture invariant: this crate does no I/O and reads no clock. Times, ids and node
//! names come in as arguments; readers and writers are opened by the caller. The server
//! stores [`AuditEvent`]s in SQL and drives [`Chain`] from its group-commit writer; the CLI
//! uses [`verify`] and [`verify_export`].
//!
//! - [`event`]: what a record says ([`NewEvent`] in, [`AuditEvent`] stored).
//! - [`canonical`]: the bytes that are hashed, and why they are binary.
//! - [`chain`]: appending, SHA-256(prev_hash ‖ canonical(record)).
//! - [`checkpoint`]: Ed25519 signatures over the chain head, and when to make them.
//! - [`verify`]: checking a chain and naming the first bad sequence and what happened.
//! - [`export`]: the JSON-lines export and its offline verifier; [`ocsf`]: the SIEM view.

pub mod canonical;
pub mod chain;
pub mod checkpoint;
pub mod digest;
pub mod event;
pub mod export;
pub mod ocsf;
pub mod verify;

#[cfg(test)]
mod test_support;

pub use chain::{Chain, ChainError, ChainHead, append};
pub use checkpoint::{
    AuditPublicKey, AuditSigner, Checkpoint, CheckpointError, CheckpointPolicy, Signature,
};
pub use digest::{AuditHmacKey, ChainHash, HexError, KeyedHash, KeyedHasher};
pub use event::{
    Actor, AuditEvent, ChainedEvent, Decision, EventKind, NewEvent, Outcome, RequestDigest, Target,
    UnknownEventKind,
};
pub use export::{
    ExportError, ExportHeader, ExportLine, ExportSummary, ExportVerification, verify_export,
    write_export,
};
pub use ocsf::{OcsfClass, to_ocsf, write_ocsf};
pub use verify::{Entry, Problem, VerifyFailure, VerifyReport, verify, verify_from};
