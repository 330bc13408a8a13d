//! Posture: what is wrong with the non-human identities an organisation already has, and with
//! the secrets and permits Warden itself holds.
//!
//! Each rule is a plain function over an identity (or, for reuse, over all of them) with a
//! stable id, the OWASP Top 10 Non-Human Identities Risks (2025) entry it belongs to, a
//! severity, the evidence that made it fire and the remedy. Thresholds are a config struct, and
//! "now" is passed in, so every rule is tested at the edge of its threshold. [`rules`] reads
//! an export alone; [`subject`] adds what Warden knows (the matched owner, whether the source
//! still lists it); [`records`] looks at Warden's upstreams and permits; [`leaks`] judges
//! reported leaks. [`access_graph`] draws one agent's compound access path: every identity
//! it holds, every upstream it reaches, what the compiled policies let it do there, and the
//! NHI behind each upstream with its entitlements; [`toxic`] judges that path: what one
//! agent must not hold at once (a sensitive read beside an external write, request and
//! approve, prod and non-prod, an admin entitlement at the end, permits it never uses).
//!
//! Architecture invariant: no I/O and no clock reads.

pub mod access_graph;
pub mod finding;
pub mod leaks;
pub mod records;
pub mod rules;
pub mod subject;
pub mod toxic;

pub use finding::{Finding, OwaspNhi, Severity};
pub use leaks::{LeakFacts, LeakFinding, LeakedCredential, SECRET_LEAKED, evaluate_leak};
pub use records::{BroadPermit, RecordFinding, UpstreamFacts, evaluate_records};
pub use rules::{RULES, Rule, Thresholds, evaluate};
pub use subject::{
    OwnerState, Subject, SubjectEvaluation, evaluate_subject, evaluate_subject_until,
    evaluate_subjects, evaluation_basis,
};
