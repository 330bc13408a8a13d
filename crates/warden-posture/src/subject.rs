//! Rules over an identity as Warden keeps it, not only as its export describes it: whether its
//! owner is registered and still here, and whether it is still at its source.
//!
//! The store hands the evaluator [`Subject`]s: an imported identity with its id in Warden, the
//! state of the owner it was matched to and whether the last full export still listed it. The
//! per-identity rules of [`crate::rules`] run on each, except `owner-missing`, which here reads
//! the owner Warden matched or a person assigned rather than the source's hint.

use warden_core::Timestamp;
use warden_import::ImportedIdentity;

use crate::finding::{Finding, OwaspNhi, Severity};
use crate::rules::{Context, RULES, Rule, Thresholds, shared_credentials};

/// The owner an imported identity is accountable to, as Warden knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnerState {
    /// A registered, active owner.
    Active,
    /// A registered owner who has been offboarded.
    Offboarded,
    /// No owner: the source named none, or none that is registered.
    Missing,
}

/// One imported identity with what Warden knows about it.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub identity: &'a ImportedIdentity,
    pub owner: OwnerState,
    /// The owner's email when there is one, for the evidence.
    pub owner_email: Option<&'a str>,
    /// `false` once a later full export of its source no longer lists it.
    pub present: bool,
    /// When it went missing from its source.
    pub gone_at: Option<Timestamp>,
}

pub static OWNER_OFFBOARDED: Rule = Rule {
    id: "owner-offboarded",
    owasp: OwaspNhi::ImproperOffboarding,
    severity: Severity::High,
    remediation: "reassign the identity to a current owner (warden identity reassign), or revoke it at its source",
    check: |_, _, _, _| {},
};

/// Replaces the hint-based `owner-missing` of [`RULES`] for subjects (same id).
pub static SUBJECT_OWNER_MISSING: Rule = Rule {
    id: "owner-missing",
    owasp: OwaspNhi::ImproperOffboarding,
    severity: Severity::Medium,
    remediation: "assign an owner (warden identity reassign ID --owner EMAIL), or an `owner` label or annotation at the source",
    check: |_, _, _, _| {},
};

pub static GONE_BUT_ACTIVE: Rule = Rule {
    id: "gone-but-active",
    owasp: OwaspNhi::ImproperOffboarding,
    severity: Severity::High,
    remediation: "confirm the identity was deleted at its source and its keys deactivated; re-export if it still exists",
    check: |_, _, _, _| {},
};

/// Every rule over every subject, then the reuse rules across them; each finding carries the
/// index of its subject.
pub fn evaluate_subjects(
    subjects: &[Subject<'_>],
    now: Timestamp,
    thresholds: &Thresholds,
) -> Vec<(usize, Finding)> {
    let mut out = Vec::new();
    for (index, subject) in subjects.iter().enumerate() {
        out.extend(
            evaluate_subject(subject, now, thresholds)
                .into_iter()
                .map(|f| (index, f)),
        );
    }
    let identities: Vec<&ImportedIdentity> = subjects.iter().map(|s| s.identity).collect();
    out.extend(shared_credentials(&identities));
    out
}

/// The per-identity rules over one subject (the reuse rules need its peers and run apart).
pub fn evaluate_subject(
    subject: &Subject<'_>,
    now: Timestamp,
    thresholds: &Thresholds,
) -> Vec<Finding> {
    evaluate_subject_until(subject, now, thresholds).findings
}

/// What the per-identity rules found about one subject, and for how long that holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectEvaluation {
    pub findings: Vec<Finding>,
    /// The first instant at which the same subject, with the same thresholds, could be found
    /// differently (a day count in the evidence moves, or a credential crosses a limit);
    /// `None` when only a change to the subject itself can change its findings.
    pub stable_until: Option<Timestamp>,
}

/// [`evaluate_subject`], with the instant until which its findings stay as they are.
pub fn evaluate_subject_until(
    subject: &Subject<'_>,
    now: Timestamp,
    thresholds: &Thresholds,
) -> SubjectEvaluation {
    let context = Context::new(now, thresholds);
    let identity = subject.identity;
    let mut findings = Vec::new();
    for rule in RULES
        .iter()
        .filter(|rule| rule.id != SUBJECT_OWNER_MISSING.id)
    {
        (rule.check)(rule, &context, identity, &mut findings);
    }
    match subject.owner {
        OwnerState::Active => {}
        OwnerState::Missing => {
            let evidence = match &identity.owner_hint {
                Some(hint) => format!("the source names `{hint}`, who is not a registered owner"),
                None => "the source names no owner and none was assigned".to_string(),
            };
            findings.push(raise(&SUBJECT_OWNER_MISSING, identity, evidence));
        }
        OwnerState::Offboarded => {
            let who = subject.owner_email.unwrap_or("its owner");
            findings.push(raise(
                &OWNER_OFFBOARDED,
                identity,
                format!("{who} has been offboarded"),
            ));
        }
    }
    if !subject.present {
        let active: Vec<&str> = identity
            .credentials
            .iter()
            .filter(|c| c.active)
            .map(|c| c.id.as_str())
            .collect();
        if !active.is_empty() {
            let since = subject
                .gone_at
                .map(|at| format!(" since {}", at.to_rfc3339()))
                .unwrap_or_default();
            findings.push(raise(
                &GONE_BUT_ACTIVE,
                identity,
                format!(
                    "missing from its source's latest full export{since}, with active credentials: {}",
                    active.join(", ")
                ),
            ));
        }
    }
    SubjectEvaluation {
        findings,
        stable_until: context.stable_until(),
    }
}

/// A fingerprint of everything besides the subject and the clock that decides what the
/// per-identity rules find: the thresholds and the rules themselves (their source text, so
/// any edit to a rule changes it). An evaluator that carries findings forward must evaluate
/// afresh whatever was last evaluated under another basis.
///
/// It hashes with the standard library's SipHash, whose output may change between Rust
/// releases; such a change only costs one evaluation of everything.
pub fn evaluation_basis(thresholds: &Thresholds) -> String {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::hash::DefaultHasher::new();
    // Destructured so that a new threshold cannot be left out.
    let Thresholds {
        unused_days,
        max_secret_age_days,
        max_expiry_days,
        rotation_overlap_days,
    } = thresholds;
    RULES_SOURCE.hash(&mut hasher);
    (unused_days, max_secret_age_days, max_expiry_days).hash(&mut hasher);
    rotation_overlap_days.hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}

/// The source of the per-identity rules, hashed into [`evaluation_basis`].
const RULES_SOURCE: [&str; 3] = [
    include_str!("rules.rs"),
    include_str!("subject.rs"),
    include_str!("finding.rs"),
];

fn raise(rule: &Rule, identity: &ImportedIdentity, evidence: String) -> Finding {
    Finding {
        rule: rule.id,
        owasp: rule.owasp,
        severity: rule.severity,
        identity: identity.external_id.clone(),
        credential: None,
        evidence,
        remediation: rule.remediation,
    }
}
