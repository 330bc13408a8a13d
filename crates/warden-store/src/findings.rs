//! Posture findings as stored: what a re-evaluation reconciles against, and what people list,
//! suppress and export.
//!
//! A finding is keyed by its rule, its subject (an imported identity's id, `upstream:NAME`,
//! `policy:ID`) and its credential, so an evaluation that raises it again leaves it open and
//! one that no longer raises it resolves it. `suppressed` is not stored: an open finding
//! with a suppression that has not expired reads as suppressed.

use serde::Serialize;
use utoipa::ToSchema;
use warden_core::{DomainError, DomainResult, Timestamp};

/// A finding as an evaluation raises it, before it is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindingDraft {
    pub rule: String,
    /// `NHI7:2025`.
    pub owasp: String,
    pub severity: String,
    /// 1 (low) to 4 (critical).
    pub severity_rank: i64,
    pub subject: String,
    pub identity: Option<FindingIdentity>,
    pub credential: Option<String>,
    pub evidence: String,
    pub remediation: String,
}

impl FindingDraft {
    /// The key a re-evaluation matches on.
    pub fn key(&self) -> String {
        finding_key(&self.rule, &self.subject, self.credential.as_deref())
    }
}

pub fn finding_key(rule: &str, subject: &str, credential: Option<&str>) -> String {
    format!("{rule}\u{1f}{subject}\u{1f}{}", credential.unwrap_or(""))
}

/// The rule whose findings come from leak reports rather than from the inventory: only an
/// evaluation with the `leaks` scope speaks for them, so no other resolves them.
pub const LEAK_RULE: &str = "secret-leaked";

/// Which stored findings an evaluation speaks for: those it did not raise again are resolved.
#[derive(Debug, Clone, Default)]
pub struct EvaluationScope {
    /// Every finding of the leak rule ([`LEAK_RULE`]), and nothing else.
    pub leaks: bool,
    /// Every finding.
    pub all: bool,
    /// Every finding of these subjects.
    pub subjects: Vec<String>,
    /// Every finding about Warden's own records (`upstream:…`, `policy:…` subjects) and
    /// agents' access paths (`path:…`).
    pub records: bool,
    /// Findings of these rules about these credentials, whatever their subject (the reuse
    /// rules, whose findings sit on every holder).
    pub rules_on_credentials: Vec<String>,
    pub credentials: Vec<String>,
    /// The evaluation covered every identity and record, some by carrying forward the
    /// findings of identities that cannot have changed: its time is recorded as the last
    /// full evaluation's (as it is for `all`).
    pub full_evaluation: bool,
}

/// What reconciling did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct ReconcileOutcome {
    pub opened: u64,
    pub reopened: u64,
    pub updated: u64,
    pub resolved: u64,
    pub unchanged: u64,
}

impl ReconcileOutcome {
    /// Two evaluations' counts together.
    pub fn plus(self, other: Self) -> Self {
        Self {
            opened: self.opened + other.opened,
            reopened: self.reopened + other.reopened,
            updated: self.updated + other.updated,
            resolved: self.resolved + other.resolved,
            unchanged: self.unchanged + other.unchanged,
        }
    }
}

/// The identity a finding is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FindingIdentity {
    /// Warden's id for it (an imported identity's id), when it has one.
    pub id: Option<String>,
    pub kind: String,
    pub name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FindingStatus {
    Open,
    Resolved,
    Suppressed,
}

impl FindingStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Resolved => "resolved",
            Self::Suppressed => "suppressed",
        }
    }

    pub fn parse(text: &str) -> DomainResult<Self> {
        match text {
            "open" => Ok(Self::Open),
            "resolved" => Ok(Self::Resolved),
            "suppressed" => Ok(Self::Suppressed),
            other => Err(DomainError::invalid(
                "status",
                format!("`{other}` is not one of: open, resolved, suppressed"),
            )),
        }
    }
}

/// Who silenced a finding, why and until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Suppression {
    pub reason: String,
    pub until: Timestamp,
    pub by: String,
}

/// One stored finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct StoredFinding {
    pub id: String,
    pub rule: String,
    /// `NHI7:2025`.
    pub owasp: String,
    pub severity: String,
    pub status: FindingStatus,
    pub subject: String,
    pub identity: Option<FindingIdentity>,
    pub credential: Option<String>,
    pub evidence: String,
    pub remediation: String,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    pub resolved_at: Option<Timestamp>,
    pub suppression: Option<Suppression>,
}

/// Which findings a listing returns.
#[derive(Debug, Clone, Default)]
pub struct FindingFilter {
    pub owasp: Option<String>,
    /// At least this severity rank.
    pub min_severity_rank: Option<i64>,
    pub status: Option<FindingStatus>,
    /// A subject id, or an identity's name.
    pub identity: Option<String>,
    pub rule: Option<String>,
}

/// Counts of open, unsuppressed findings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct SeverityCounts {
    pub critical: u64,
    pub high: u64,
    pub medium: u64,
    pub low: u64,
    pub total: u64,
}

impl SeverityCounts {
    pub fn add(&mut self, severity: &str, count: u64) {
        match severity {
            "critical" => self.critical += count,
            "high" => self.high += count,
            "medium" => self.medium += count,
            _ => self.low += count,
        }
        self.total += count;
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct OwaspCounts {
    pub owasp: String,
    #[serde(flatten)]
    pub counts: SeverityCounts,
}

/// One subject's open findings, for the "worst first" list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct SubjectPosture {
    pub subject: String,
    pub identity: Option<FindingIdentity>,
    pub worst_severity: String,
    #[serde(flatten)]
    pub counts: SeverityCounts,
}

/// The posture at a glance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct PostureSummary {
    pub open: SeverityCounts,
    pub suppressed: u64,
    pub by_owasp: Vec<OwaspCounts>,
    pub worst: Vec<SubjectPosture>,
    pub imported_identities: u64,
    pub orphaned_identities: u64,
    pub last_evaluated_at: Option<Timestamp>,
}
