//! The rules that need more than an export (owner state, presence at the source, Warden's own
//! upstreams and permits) and the newer per-identity rules: one fire and one near miss each.

use warden_core::Environment;
use warden_import::{CredentialKind, ManagedBy};
use warden_posture::{
    BroadPermit, OwaspNhi, OwnerState, Severity, Subject, Thresholds, UpstreamFacts,
    evaluate_records, evaluate_subject, evaluate_subjects,
};

use crate::{NOW, findings_of, identity, key};

fn subject(
    identity: &warden_import::ImportedIdentity,
    owner: OwnerState,
    present: bool,
) -> Subject<'_> {
    Subject {
        identity,
        owner,
        owner_email: Some("alice@example.com"),
        present,
        gone_at: None,
    }
}

fn rules_raised(subject: &Subject<'_>) -> Vec<&'static str> {
    evaluate_subject(subject, NOW, &Thresholds::default())
        .into_iter()
        .map(|f| f.rule)
        .collect()
}

#[test]
fn owner_rules_follow_the_owner_warden_knows_not_the_sources_hint() {
    let mut hinted = identity("hinted");
    hinted.owner_hint = Some("nobody@example.com".into());
    let missing = rules_raised(&subject(&hinted, OwnerState::Missing, true));
    assert!(missing.contains(&"owner-missing"), "{missing:?}");
    let active = rules_raised(&subject(&hinted, OwnerState::Active, true));
    assert!(!active.contains(&"owner-missing") && !active.contains(&"owner-offboarded"));
    let mut unhinted = identity("unhinted");
    unhinted.owner_hint = None;
    // A person assigned an owner: the source's silence no longer matters.
    assert!(
        !rules_raised(&subject(&unhinted, OwnerState::Active, true)).contains(&"owner-missing")
    );
    let offboarded = evaluate_subject(
        &subject(&hinted, OwnerState::Offboarded, true),
        NOW,
        &Thresholds::default(),
    );
    let finding = offboarded
        .iter()
        .find(|f| f.rule == "owner-offboarded")
        .unwrap();
    assert_eq!(finding.owasp, OwaspNhi::ImproperOffboarding);
    assert!(
        finding.evidence.contains("alice@example.com"),
        "{}",
        finding.evidence
    );
}

#[test]
fn gone_but_active_needs_both_absence_and_an_active_credential() {
    let mut keyed = identity("keyed");
    keyed
        .credentials
        .push(key(CredentialKind::AccessKey, "AKIA1", 10));
    assert!(rules_raised(&subject(&keyed, OwnerState::Active, false)).contains(&"gone-but-active"));
    assert!(!rules_raised(&subject(&keyed, OwnerState::Active, true)).contains(&"gone-but-active"));
    keyed.credentials[0].active = false;
    assert!(
        !rules_raised(&subject(&keyed, OwnerState::Active, false)).contains(&"gone-but-active")
    );
}

#[test]
fn static_keys_of_ci_identities_fire_but_not_other_names_or_system_keys() {
    let mut ci = identity("ci-deployer");
    ci.credentials
        .push(key(CredentialKind::AccessKey, "AKIA1", 10));
    let found = findings_of("static-key-in-ci", &[ci]);
    assert_eq!(found.len(), 1);
    assert_eq!(
        found[0].owasp,
        OwaspNhi::InsecureCloudDeploymentConfigurations
    );
    // "decider" contains "ci" but is not the word "ci".
    let mut decider = identity("decider");
    decider
        .credentials
        .push(key(CredentialKind::AccessKey, "AKIA2", 10));
    assert!(findings_of("static-key-in-ci", &[decider]).is_empty());
    let mut pipeline = identity("github-actions-runner");
    let mut system = key(CredentialKind::ServiceAccountKey, "k1", 10);
    system.managed_by = Some(ManagedBy::System);
    pipeline.credentials.push(system);
    assert!(findings_of("static-key-in-ci", &[pipeline]).is_empty());
}

#[test]
fn a_credential_shared_across_environments_is_nhi8_but_within_one_it_is_only_reuse() {
    let mut prod = identity("prod-app");
    prod.environment_hint = Some(Environment::Prod);
    prod.credentials
        .push(key(CredentialKind::Other, "shared-key", 10));
    let mut dev = identity("dev-app");
    dev.environment_hint = Some(Environment::Dev);
    dev.credentials
        .push(key(CredentialKind::Other, "shared-key", 10));
    let across = findings_of(
        "credential-shared-across-environments",
        &[prod.clone(), dev.clone()],
    );
    assert_eq!(across.len(), 2);
    assert_eq!(across[0].owasp, OwaspNhi::EnvironmentIsolation);
    dev.environment_hint = Some(Environment::Prod);
    assert!(
        findings_of(
            "credential-shared-across-environments",
            &[prod.clone(), dev.clone()]
        )
        .is_empty()
    );
    assert_eq!(
        findings_of("credential-shared", &[prod.clone(), dev.clone()]).len(),
        2
    );
    // Subjects give each finding its holder's index.
    let subjects = [
        subject(&prod, OwnerState::Active, true),
        subject(&dev, OwnerState::Active, true),
    ];
    let indexed = evaluate_subjects(&subjects, NOW, &Thresholds::default());
    let holders: Vec<usize> = indexed
        .iter()
        .filter(|(_, f)| f.rule == "credential-shared")
        .map(|(i, _)| *i)
        .collect();
    assert_eq!(holders, vec![0, 1]);
}

#[test]
fn basic_auth_fires_only_with_a_secret_and_broad_permits_grade_by_scope() {
    let upstreams = [
        UpstreamFacts {
            name: "legacy".into(),
            basic_auth: true,
            has_secret: true,
        },
        UpstreamFacts {
            name: "unset".into(),
            basic_auth: true,
            has_secret: false,
        },
        UpstreamFacts {
            name: "crm".into(),
            basic_auth: false,
            has_secret: true,
        },
    ];
    let permit = |principal: Option<&str>, upstream: Option<&str>, conditional: bool| BroadPermit {
        policy_id: "p".into(),
        principal: principal.map(str::to_string),
        identity: None,
        upstream: upstream.map(str::to_string),
        conditional,
    };
    let found = evaluate_records(
        &upstreams,
        &[
            permit(Some("Agent::\"a\""), Some("crm"), false),
            permit(None, None, false),
            permit(None, None, true),
        ],
    );
    let basic: Vec<_> = found
        .iter()
        .filter(|r| r.finding.rule == "upstream-basic-auth")
        .collect();
    assert_eq!(basic.len(), 1);
    assert_eq!(basic[0].subject, "upstream:legacy");
    let severities: Vec<Severity> = found
        .iter()
        .filter(|r| r.finding.rule == "policy-every-action")
        .map(|r| r.finding.severity)
        .collect();
    assert_eq!(
        severities,
        vec![Severity::High, Severity::Critical, Severity::Medium]
    );
}
