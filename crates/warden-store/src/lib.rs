//! Warden's store: everything Warden remembers, behind one `Store` trait, on SQLite (the
//! embedded default) or PostgreSQL (several nodes sharing one database).
//!
//! Architecture invariant: this is the only crate that writes SQL. Domain rules come from
//! `warden-core` and are applied here inside the transaction that reads and writes the
//! rows, so a change either happens whole or not at all.

mod audit;
pub mod credentials;
mod error;
pub mod feed;
pub mod findings;
pub mod inventory;
pub mod leaks;
pub mod signals;
mod sql;
mod store;
pub mod tool_pins;
mod upstreams;

pub use audit::{AuditFilter, AuditQuery, AuditSettings, AuditVerifyError};

pub use credentials::{
    Credential, CredentialKind, CredentialStatus, DATA_KEY_FINGERPRINT_SETTING, IdentityState,
    NewCredential, ResealedData, RevocationSnapshot, StoredSigningKey, TokenRevocation,
};
pub use error::{StoreError, StoreResult};
pub use feed::{ChangeFeed, Heard, Topic};
pub use sql::{Dialect, SqlStore};
pub use store::{ApprovalVerdict, Approver, IdentityChange, Offboarding, Store};
pub use upstreams::{PolicySetCheck, SealedRequest, SealedSecret};
