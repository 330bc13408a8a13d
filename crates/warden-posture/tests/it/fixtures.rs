//! All rules over what the importers read from their own fixtures, snapshotted: the findings a
//! person would see after importing those exports.

use std::path::PathBuf;

use warden_posture::{Thresholds, evaluate};

use crate::NOW;

fn import(relative: &str) -> Vec<warden_import::ImportedIdentity> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../warden-import/tests/fixtures")
        .join(relative);
    let bytes = std::fs::read(&path).unwrap();
    warden_import::parse(relative, &bytes, None)
        .unwrap()
        .identities
}

#[test]
fn findings_over_the_import_fixtures() {
    let mut identities = Vec::new();
    for relative in [
        "aws-credential-report/credential-report.csv",
        "k8s/cluster-list.yaml",
        "gcp-sa-keys/keys-list.json",
        "github-pats/org-personal-access-tokens.json",
        "csv/inventory.csv",
    ] {
        identities.extend(import(relative));
    }
    let findings = evaluate(&identities, NOW, &Thresholds::default());
    let summary: Vec<String> = findings
        .iter()
        .map(|f| {
            format!(
                "{} {} {:?} {} {}: {}",
                f.owasp.id(),
                f.rule,
                f.severity,
                f.identity,
                f.credential.as_deref().unwrap_or("-"),
                f.evidence
            )
        })
        .collect();
    insta::assert_json_snapshot!(summary);
    // The 3-week-old system-managed GCP key is never reported as old.
    assert!(!findings.iter().any(|f| {
        f.rule == "secret-too-old"
            && f.credential
                .as_deref()
                .is_some_and(|c| c.ends_with("c0ffee00112233445566778899aabbccddeeff00"))
    }));
}
