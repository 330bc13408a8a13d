//! Posture: what is wrong with the non-human identities an organisation already has, read from
//! imported data alone.
//!
//! Each rule is a plain function over an identity (or, for reuse, over all of them) with a
//! stable id, the OWASP Top 10 Non-Human Identities Risks (2025) entry it belongs to, a
//! severity, the evidence that made it fire and the remedy. Thresholds are a config struct, and
//! "now" is passed in, so every rule is tested at the edge of its threshold.
//!
//! Architecture invariant: no I/O and no clock reads.

pub mod finding;
pub mod rules;

pub use finding::{Finding, OwaspNhi, Severity};
pub use rules::{RULES, Rule, Thresholds, evaluate};
