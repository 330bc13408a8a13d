//! Every posture rule on a case where it fires and on a near miss where it does not, and all
//! rules over the importers' own fixtures.

// Test helpers report failures by panicking; that is how a test fails.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod access_graph;
mod fixtures;
mod rules;
mod stability;
mod subjects;
mod toxic;

use warden_core::{IdentityKind, Timestamp};
use warden_import::{
    CredentialKind, Entitlement, ImportedCredential, ImportedIdentity, Location, Provenance,
};
use warden_posture::{Finding, Thresholds, evaluate};

/// 2025-11-22T00:00:00Z, the "now" of every test.
pub const NOW: Timestamp = Timestamp::from_millis(1_763_769_600_000);

pub fn days_ago(days: i64) -> Timestamp {
    NOW.plus_secs(-days * 86_400)
}

pub fn identity(external_id: &str) -> ImportedIdentity {
    ImportedIdentity {
        kind: IdentityKind::ServiceAccount,
        name: external_id.to_string(),
        external_id: external_id.to_string(),
        owner_hint: Some("owner@example.com".to_string()),
        environment_hint: None,
        labels: Default::default(),
        created_at: None,
        credentials: Vec::new(),
        entitlements: Vec::new(),
        attributes: Default::default(),
        origin: provenance(None),
    }
}

pub fn provenance(via: Option<&str>) -> Provenance {
    Provenance {
        file: "test".to_string(),
        location: Location::File,
        via: via.map(str::to_string),
    }
}

pub fn key(kind: CredentialKind, id: &str, born_days_ago: i64) -> ImportedCredential {
    let mut credential = ImportedCredential::new(kind, id, true);
    credential.created_at = Some(days_ago(born_days_ago));
    credential.last_rotated_at = Some(days_ago(born_days_ago));
    credential.last_used_at = Some(days_ago(1));
    credential
}

pub fn entitlement(value: &str, scope: Option<&str>) -> Entitlement {
    Entitlement {
        value: value.to_string(),
        scope: scope.map(str::to_string),
        provenance: provenance(Some("ClusterRoleBinding/test")),
    }
}

/// The findings of one rule over the identities.
pub fn findings_of(rule: &str, identities: &[ImportedIdentity]) -> Vec<Finding> {
    evaluate(identities, NOW, &Thresholds::default())
        .into_iter()
        .filter(|finding| finding.rule == rule)
        .collect()
}
