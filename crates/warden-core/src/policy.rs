//! Stored policies: Cedar text under an id, with the version of the policy set that last
//! changed it. Parsing and validation belong to `warden-policy`; this is the record.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::clock::Timestamp;
use crate::error::{DomainError, DomainResult};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StoredPolicy {
    /// Unique; referred to in decisions and audit events.
    pub id: String,
    /// The Cedar policy text.
    pub text: String,
    /// The policy-set version at which this policy was last written.
    pub version: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Policy ids: 1-64 of letters, digits, '.', '_' or '-'.
pub fn validate_policy_id(id: &str) -> DomainResult<()> {
    let valid = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if valid {
        Ok(())
    } else {
        Err(DomainError::invalid(
            "id",
            format!("policy id `{id}` must be 1-64 of letters, digits, '.', '_' or '-'"),
        ))
    }
}
