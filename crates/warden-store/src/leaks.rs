//! Leaked secrets as reported and remembered: what a report says, what Warden matched the
//! secret to, and what it did about it.
//!
//! A report is keyed by a keyed hash of the secret's leak fingerprint (the server computes
//! it; the store never sees a secret or a bare fingerprint), so reporting the same secret
//! again, from any scanner, lands on the same row: its count and latest places grow, and
//! nothing is revoked twice.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use warden_core::{DomainError, Timestamp};

/// How many distinct places a report keeps (the latest ones).
pub const MAX_LEAK_LOCATIONS: usize = 20;

/// What a leaked secret turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LeakMatch {
    /// A Warden client secret (found by its keyed hash).
    ClientSecret,
    /// A credential of an imported identity (an AWS key id, a recorded fingerprint).
    ImportedCredential,
    /// The secret Warden injects for an upstream (found by its keyed fingerprint).
    UpstreamSecret,
    /// Nothing Warden knows.
    Unknown,
}

impl LeakMatch {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecret => "client_secret",
            Self::ImportedCredential => "imported_credential",
            Self::UpstreamSecret => "upstream_secret",
            Self::Unknown => "unknown",
        }
    }

    pub fn parse(text: &str) -> Result<Self, DomainError> {
        match text {
            "client_secret" => Ok(Self::ClientSecret),
            "imported_credential" => Ok(Self::ImportedCredential),
            "upstream_secret" => Ok(Self::UpstreamSecret),
            "unknown" => Ok(Self::Unknown),
            other => Err(DomainError::invalid(
                "matched",
                format!(
                    "`{other}` is not one of: client_secret, imported_credential, upstream_secret, unknown"
                ),
            )),
        }
    }
}

/// What Warden did about a leak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LeakResponse {
    /// Nothing yet (not asked to, or nothing Warden can switch off).
    None,
    /// The Warden credential was revoked, and with it every token derived from it.
    Revoked,
    /// The imported identity was suspended in Warden; its source must deactivate the key.
    Suspended,
}

impl LeakResponse {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Revoked => "revoked",
            Self::Suspended => "suspended",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "none" => Some(Self::None),
            "revoked" => Some(Self::Revoked),
            "suspended" => Some(Self::Suspended),
            _ => None,
        }
    }
}

/// Where a secret was seen. Every field is optional; a report names what it knows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LeakLocation {
    /// A file path (in a repository, on a disk).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<u64>,
    /// The Git commit the secret was found in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// A repository or a web address (a paste, an issue, a log viewer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Who saw it: a scanner's or pipeline's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

impl LeakLocation {
    /// One line for evidence and events: `path:line:column @ commit (url) [source]`.
    pub fn describe(&self) -> String {
        let mut text = String::new();
        if let Some(path) = &self.path {
            text.push_str(path);
            if let Some(line) = self.line {
                text.push_str(&format!(":{line}"));
                if let Some(column) = self.column {
                    text.push_str(&format!(":{column}"));
                }
            }
        }
        if let Some(commit) = &self.commit {
            text.push_str(&format!(" @ {commit}"));
        }
        if let Some(url) = &self.url {
            text.push_str(&format!(" ({url})"));
        }
        if let Some(source) = &self.source {
            text.push_str(&format!(" [{source}]"));
        }
        let text = text.trim().to_string();
        if text.is_empty() {
            "an unnamed place".to_string()
        } else {
            text
        }
    }
}

/// What the secret matched, as the server resolved it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct LeakSubject {
    pub matched: LeakMatch,
    /// A Warden identity's id, an imported identity's id, or `upstream:NAME`.
    pub subject_id: Option<String>,
    pub identity_kind: Option<String>,
    pub identity_name: Option<String>,
    pub owner_id: Option<String>,
    /// The Warden credential id or the imported credential's id (an AWS key id, say).
    pub credential_id: Option<String>,
    /// For an upstream secret: the version that leaked.
    pub secret_version: Option<i64>,
}

impl LeakSubject {
    pub fn unknown() -> Self {
        Self {
            matched: LeakMatch::Unknown,
            subject_id: None,
            identity_kind: None,
            identity_name: None,
            owner_id: None,
            credential_id: None,
            secret_version: None,
        }
    }
}

/// A report as the server hands it to the store.
#[derive(Debug, Clone)]
pub struct NewLeakReport {
    /// Keyed hash (hex) of the secret's leak fingerprint.
    pub fingerprint_hash: String,
    /// The scanner's kind for it (`aws_access_key_id`, `warden_client_secret`), if given.
    pub secret_kind: Option<String>,
    pub subject: LeakSubject,
    pub location: LeakLocation,
}

/// One stored report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct LeakReport {
    pub id: String,
    pub secret_kind: Option<String>,
    #[serde(flatten)]
    pub subject: LeakSubject,
    /// The latest distinct places it was seen, newest last.
    pub locations: Vec<LeakLocation>,
    pub report_count: i64,
    pub first_reported_at: Timestamp,
    pub last_reported_at: Timestamp,
    pub response: LeakResponse,
    pub responded_at: Option<Timestamp>,
}

/// What recording a report did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedLeak {
    pub report: LeakReport,
    /// The first report of this secret.
    pub new: bool,
}

/// An imported identity holding a credential, for matching a leak and for judging whether
/// the leaked credential still works.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialHolder {
    pub identity_id: String,
    pub source: String,
    pub kind: String,
    pub name: String,
    pub external_id: String,
    pub owner_id: Option<String>,
    /// `present` or `gone`.
    pub presence: String,
    pub credential_id: String,
    pub credential_kind: String,
    pub active: bool,
}
