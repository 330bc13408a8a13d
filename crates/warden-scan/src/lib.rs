//! Warden's leak scanner core: secret rules as data and the matcher that applies them.
//!
//! Architecture invariant: no I/O. Bytes go in, [`Finding`]s come out; walking files and
//! Git history belongs to the CLI, and what a finding means (revoking, reporting) to the
//! server. Rules are TOML ([`rules`]): the built-in file is embedded, users add their own.
//! A finding never carries the secret, only a redacted preview and a fingerprint
//! ([`finding`]), so nothing downstream can print or store what it must not.
//!
//! ```
//! let matcher = warden_scan::Matcher::builtin().expect("the built-in rules compile");
//! let findings = matcher.scan(b"AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE\n");
//! assert!(findings.is_empty(), "AWS's documentation key is a placeholder");
//! ```

pub mod decoy;
pub mod finding;
mod keywords;
pub mod matcher;
mod narrowing;
pub mod rules;
pub mod validate;

pub use finding::{FINGERPRINT_DOMAIN, Finding, Fingerprint};
pub use matcher::{Matcher, RuleInfo};
pub use rules::{BUILTIN_RULES, Confidence, RuleFile, RuleSet, RuleSpec, RulesError};
pub use validate::Validator;
