//! The external inventory: identities that exist elsewhere, as imported from their sources'
//! exports, and what an import did.
//!
//! An imported identity is keyed by `(source, kind, external_id)`, so importing the same
//! export again updates rather than duplicates. Its owner is matched from what the source
//! names, kept when a person assigned one, or missing (orphaned). The importer's record
//! (credentials, entitlements, attributes; never a secret) is stored whole.

use serde::Serialize;
use utoipa::ToSchema;
use warden_core::{DomainError, DomainResult, Environment, IdentityKind, OwnerRef, Timestamp};
use warden_import::ImportedIdentity;

/// How an import is applied.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// The source's name in Warden (`aws-prod`); the format's name when not given.
    pub source: Option<String>,
    /// The owner of identities whose source names no registered owner.
    pub default_owner: Option<OwnerRef>,
    /// The environment of identities whose source names none.
    pub environment: Option<Environment>,
    /// Whether the files list everything at the source; the format's usual answer when not given.
    pub full_export: Option<bool>,
    /// Check and count everything, change nothing.
    pub dry_run: bool,
}

/// Source names: what `--source` accepts.
pub fn validate_source_name(name: &str) -> DomainResult<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
        })
        && name.as_bytes()[0].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err(DomainError::invalid(
            "source",
            format!(
                "`{name}` must be 1 to 64 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit"
            ),
        ))
    }
}

/// What one import did to one source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct SourceSummary {
    pub source: String,
    pub format: String,
    /// Whether identities missing from it were marked as gone.
    pub full_export: bool,
    /// Identities in the files.
    pub identities: u64,
    pub credentials: u64,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    /// Identities imported earlier and missing now.
    pub gone: u64,
    /// Identities in the files with no owner.
    pub orphaned: u64,
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ImportSummary {
    pub dry_run: bool,
    pub sources: Vec<SourceSummary>,
    /// The imported identities created, changed or gone, to re-evaluate.
    #[serde(skip)]
    pub changed: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PresenceStatus {
    /// Listed by the latest export of its source.
    Present,
    /// Missing from a later full export of its source.
    Gone,
}

impl PresenceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Present => "present",
            Self::Gone => "gone",
        }
    }
}

/// One imported identity as Warden keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ImportedRecord {
    pub id: String,
    pub source: String,
    pub format: String,
    pub kind: IdentityKind,
    pub name: String,
    pub external_id: String,
    /// The owner's email; absent while orphaned.
    pub owner: Option<String>,
    pub owner_id: Option<String>,
    /// The owner was assigned by a person (`warden identity reassign`), not by the source.
    pub owner_assigned: bool,
    pub orphaned: bool,
    pub environment: Option<Environment>,
    pub status: PresenceStatus,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    pub gone_at: Option<Timestamp>,
    /// When Warden suspended it because one of its credentials leaked (the source must
    /// still deactivate the credential itself).
    pub suspended_at: Option<Timestamp>,
    /// The importer's record: credentials, entitlements, attributes, provenance.
    #[schema(value_type = Object)]
    pub record: ImportedIdentity,
}

/// Which imported identities a listing returns.
#[derive(Debug, Clone, Default)]
pub struct ImportedFilter {
    pub source: Option<String>,
    pub kind: Option<IdentityKind>,
    pub status: Option<PresenceStatus>,
    pub orphaned: Option<bool>,
    pub owner: Option<String>,
}

/// One imported identity as the posture evaluation reads it.
#[derive(Debug, Clone)]
pub struct InventoryItem {
    pub id: String,
    pub identity: ImportedIdentity,
    pub owner_email: Option<String>,
    pub owner_offboarded: bool,
    pub present: bool,
    pub gone_at: Option<Timestamp>,
    /// Goes up with every write to the identity's row (record, owner, presence), so an
    /// evaluation can tell later whether what it read has changed.
    pub revision: i64,
}

/// What an evaluation of one imported identity read, and until when its findings hold.
///
/// Recorded after the evaluation's findings are reconciled. A later full evaluation under
/// the same basis carries the identity's findings forward, without reading it, while its
/// revision and owner are as recorded and `stable_until` has not come.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvaluatedSubject {
    /// The imported identity's id.
    pub id: String,
    pub revision: i64,
    pub owner_email: Option<String>,
    pub owner_offboarded: bool,
    /// The first instant at which a rule reading the clock could answer differently;
    /// `None` when only a change to the identity or its owner can.
    pub stable_until: Option<Timestamp>,
}
