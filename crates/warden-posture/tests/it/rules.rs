//! One fire and one near miss per rule.

use warden_import::{AttributeValue, CredentialKind, ManagedBy, attribute};
use warden_posture::{OwaspNhi, RULES, Severity};

use crate::{days_ago, entitlement, findings_of, identity, key};

#[test]
fn rule_ids_are_unique_and_stable() {
    let mut ids: Vec<&str> = RULES.iter().map(|rule| rule.id).collect();
    ids.push(warden_posture::rules::SHARED_CREDENTIAL.id);
    insta::assert_json_snapshot!(ids);
    let count = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), count);
}

#[test]
fn credential_unused_fires_past_the_limit_and_not_at_it() {
    let mut stale = identity("stale");
    let mut credential = key(CredentialKind::AccessKey, "AKIA1", 10);
    credential.last_used_at = Some(days_ago(91));
    stale.credentials.push(credential.clone());
    let mut recent = identity("recent");
    credential.last_used_at = Some(days_ago(90));
    recent.credentials.push(credential);
    let findings = findings_of("credential-unused", &[stale, recent]);
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].identity, "stale");
    assert_eq!(findings[0].owasp, OwaspNhi::ImproperOffboarding);
    assert!(
        findings[0].evidence.contains("91 days"),
        "{}",
        findings[0].evidence
    );
}

#[test]
fn credential_never_used_fires_only_where_the_export_reports_use() {
    let mut unused = identity("unused");
    let mut credential = key(CredentialKind::AccessKey, "AKIA1", 100);
    credential.last_used_at = None;
    unused.credentials.push(credential.clone());
    let mut young = identity("young");
    credential.created_at = Some(days_ago(89));
    young.credentials.push(credential);
    // GCP key listings say nothing of use: never used is unknown there.
    let mut gcp = identity("gcp");
    let mut gcp_key = key(CredentialKind::ServiceAccountKey, "projects/p/keys/k", 100);
    gcp_key.last_used_at = None;
    gcp.credentials.push(gcp_key);
    let findings = findings_of("credential-never-used", &[unused, young, gcp]);
    let who: Vec<&str> = findings.iter().map(|f| f.identity.as_str()).collect();
    assert_eq!(who, vec!["unused"]);
}

#[test]
fn owner_missing_fires_when_the_source_names_none() {
    let mut orphan = identity("orphan");
    orphan.owner_hint = None;
    let owned = identity("owned");
    let findings = findings_of("owner-missing", &[orphan, owned]);
    let who: Vec<&str> = findings.iter().map(|f| f.identity.as_str()).collect();
    assert_eq!(who, vec!["orphan"]);
}

#[test]
fn secret_too_old_fires_past_the_limit_but_not_at_89_days_or_on_system_keys() {
    let mut old = identity("old");
    old.credentials
        .push(key(CredentialKind::AccessKey, "AKIAOLD", 91));
    let mut near = identity("near");
    near.credentials
        .push(key(CredentialKind::AccessKey, "AKIANEAR", 89));
    let mut system = identity("system");
    let mut system_key = key(
        CredentialKind::ServiceAccountKey,
        "projects/p/keys/sys",
        400,
    );
    system_key.managed_by = Some(ManagedBy::System);
    system.credentials.push(system_key);
    let mut inactive = identity("inactive");
    let mut off = key(CredentialKind::AccessKey, "AKIAOFF", 400);
    off.active = false;
    inactive.credentials.push(off);
    let findings = findings_of("secret-too-old", &[old, near, system, inactive]);
    let who: Vec<&str> = findings.iter().map(|f| f.identity.as_str()).collect();
    assert_eq!(who, vec!["old"]);
    assert_eq!(findings[0].owasp, OwaspNhi::LongLivedSecrets);
}

#[test]
fn secret_no_expiry_fires_on_tokens_that_could_expire_only() {
    let mut pat = identity("pat");
    pat.credentials
        .push(key(CredentialKind::PersonalAccessToken, "1", 5));
    let mut expiring = identity("expiring");
    let mut token = key(CredentialKind::PersonalAccessToken, "2", 5);
    token.expires_at = Some(days_ago(-30));
    expiring.credentials.push(token);
    // AWS access keys cannot be given an expiry: no finding for the missing one.
    let mut aws = identity("aws");
    aws.credentials
        .push(key(CredentialKind::AccessKey, "AKIA", 5));
    let findings = findings_of("secret-no-expiry", &[pat, expiring, aws]);
    let who: Vec<&str> = findings.iter().map(|f| f.identity.as_str()).collect();
    assert_eq!(who, vec!["pat"]);
}

#[test]
fn secret_expiry_too_far_fires_on_decades_not_on_years() {
    let mut far = identity("far");
    let mut cert = key(CredentialKind::Other, "cert", 5);
    cert.expires_at = Some(days_ago(-365 * 29));
    far.credentials.push(cert.clone());
    let mut near = identity("near");
    cert.expires_at = Some(days_ago(-365 * 5));
    near.credentials.push(cert);
    let findings = findings_of("secret-expiry-too-far", &[far, near]);
    let who: Vec<&str> = findings.iter().map(|f| f.identity.as_str()).collect();
    assert_eq!(who, vec!["far"]);
}

#[test]
fn keys_overlap_fires_on_the_older_key_past_the_overlap() {
    let mut lingering = identity("lingering");
    lingering
        .credentials
        .push(key(CredentialKind::AccessKey, "AKIAOLD", 400));
    lingering
        .credentials
        .push(key(CredentialKind::AccessKey, "AKIANEW", 30));
    let mut rotating = identity("rotating");
    rotating
        .credentials
        .push(key(CredentialKind::AccessKey, "AKIAOLD2", 400));
    rotating
        .credentials
        .push(key(CredentialKind::AccessKey, "AKIANEW2", 3));
    let findings = findings_of("keys-overlap-after-rotation", &[lingering, rotating]);
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].identity, "lingering");
    assert_eq!(findings[0].credential.as_deref(), Some("AKIAOLD"));
}

#[test]
fn legacy_token_secret_fires_on_token_secrets_only() {
    let mut legacy = identity("build/ci");
    legacy
        .credentials
        .push(key(CredentialKind::TokenSecret, "build/ci-token", 5));
    let mut modern = identity("build/web");
    modern
        .credentials
        .push(key(CredentialKind::AccessKey, "AKIA", 5));
    let findings = findings_of("k8s-legacy-token-secret", &[legacy, modern]);
    let who: Vec<&str> = findings.iter().map(|f| f.identity.as_str()).collect();
    assert_eq!(who, vec!["build/ci"]);
}

#[test]
fn cluster_admin_is_critical_cluster_wide_and_high_in_one_namespace() {
    let mut cluster = identity("cluster");
    cluster
        .entitlements
        .push(entitlement("k8s:clusterrole/cluster-admin", None));
    let mut namespaced = identity("namespaced");
    namespaced.entitlements.push(entitlement(
        "k8s:clusterrole/cluster-admin",
        Some("namespace/build"),
    ));
    let mut viewer = identity("viewer");
    viewer
        .entitlements
        .push(entitlement("k8s:clusterrole/view", None));
    let findings = findings_of("k8s-cluster-admin", &[cluster, namespaced, viewer]);
    let seen: Vec<(&str, Severity)> = findings
        .iter()
        .map(|f| (f.identity.as_str(), f.severity))
        .collect();
    assert_eq!(
        seen,
        vec![
            ("cluster", Severity::Critical),
            ("namespaced", Severity::High)
        ]
    );
    assert_eq!(findings[0].owasp, OwaspNhi::OverprivilegedNhi);
}

#[test]
fn wildcard_entitlement_fires_on_wildcard_rules_only() {
    let mut wild = identity("wild");
    wild.entitlements.push(entitlement("k8s:rule/*/*/*", None));
    let mut narrow = identity("narrow");
    narrow
        .entitlements
        .push(entitlement("k8s:role/build/deployer", None));
    let findings = findings_of("wildcard-entitlement", &[wild, narrow]);
    let who: Vec<&str> = findings.iter().map(|f| f.identity.as_str()).collect();
    assert_eq!(who, vec!["wild"]);
}

#[test]
fn github_all_repositories_write_needs_both_all_and_write() {
    let mut all_write = identity("1");
    all_write
        .entitlements
        .push(entitlement("github:repository_selection/all", None));
    all_write
        .entitlements
        .push(entitlement("github:repository/contents:write", None));
    let mut subset_write = identity("2");
    subset_write
        .entitlements
        .push(entitlement("github:repository_selection/subset", None));
    subset_write
        .entitlements
        .push(entitlement("github:repository/contents:write", None));
    let mut all_read = identity("3");
    all_read
        .entitlements
        .push(entitlement("github:repository_selection/all", None));
    all_read
        .entitlements
        .push(entitlement("github:repository/metadata:read", None));
    let findings = findings_of(
        "github-all-repositories-write",
        &[all_write, subset_write, all_read],
    );
    let who: Vec<&str> = findings.iter().map(|f| f.identity.as_str()).collect();
    assert_eq!(who, vec!["1"]);
}

#[test]
fn admin_permission_fires_on_administration_not_on_contents() {
    let mut admin = identity("admin");
    admin.entitlements.push(entitlement(
        "github:organization/administration:write",
        None,
    ));
    let mut writer = identity("writer");
    writer
        .entitlements
        .push(entitlement("github:repository/contents:write", None));
    let findings = findings_of("admin-permission", &[admin, writer]);
    let who: Vec<&str> = findings.iter().map(|f| f.identity.as_str()).collect();
    assert_eq!(who, vec!["admin"]);
}

#[test]
fn console_password_fires_on_users_with_keys_not_on_people_without() {
    let password = (
        attribute::PASSWORD_ENABLED.to_string(),
        AttributeValue::Flag(true),
    );
    let mut service = identity("backup-svc");
    service
        .attributes
        .insert(password.0.clone(), password.1.clone());
    service
        .credentials
        .push(key(CredentialKind::AccessKey, "AKIA", 5));
    let mut person = identity("alice@example.com");
    person.attributes.insert(password.0, password.1);
    let mut keys_only = identity("ci");
    keys_only
        .credentials
        .push(key(CredentialKind::AccessKey, "AKIA2", 5));
    let findings = findings_of(
        "console-password-on-service-user",
        &[service, person, keys_only],
    );
    let who: Vec<&str> = findings.iter().map(|f| f.identity.as_str()).collect();
    assert_eq!(who, vec!["backup-svc"]);
    assert_eq!(findings[0].owasp, OwaspNhi::HumanUseOfNhi);
}

#[test]
fn credential_shared_fires_on_every_holder_but_not_on_report_slots() {
    let mut first = identity("first");
    first
        .credentials
        .push(key(CredentialKind::Other, "shared-key", 5));
    first
        .credentials
        .push(key(CredentialKind::AccessKey, "access_key_1", 5));
    let mut second = identity("second");
    second
        .credentials
        .push(key(CredentialKind::Other, "shared-key", 5));
    second
        .credentials
        .push(key(CredentialKind::AccessKey, "access_key_1", 5));
    let mut alone = identity("alone");
    alone
        .credentials
        .push(key(CredentialKind::Other, "own-key", 5));
    let findings = findings_of("credential-shared", &[first, second, alone]);
    let who: Vec<(&str, Option<&str>)> = findings
        .iter()
        .map(|f| (f.identity.as_str(), f.credential.as_deref()))
        .collect();
    assert_eq!(
        who,
        vec![
            ("first", Some("shared-key")),
            ("second", Some("shared-key"))
        ]
    );
    assert_eq!(findings[0].owasp, OwaspNhi::NhiReuse);
}
