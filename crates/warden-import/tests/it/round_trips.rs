//! Each format's fixture parsed into the common model, compared with a reviewed snapshot, plus
//! the facts a snapshot review could miss asserted outright.

use warden_core::IdentityKind;
use warden_import::{
    AttributeValue, CredentialKind, ImportBatch, ImportFile, ManagedBy, SourceFormat, attribute,
    parse, parse_files,
};

use crate::fixture;

fn parse_fixture(relative: &str) -> ImportBatch {
    let (name, bytes) = fixture(relative);
    parse(&name, &bytes, None).unwrap_or_else(|error| panic!("{error}"))
}

fn identity<'b>(batch: &'b ImportBatch, external_id: &str) -> &'b warden_import::ImportedIdentity {
    batch
        .identities
        .iter()
        .find(|identity| identity.external_id == external_id)
        .unwrap_or_else(|| panic!("no identity {external_id}"))
}

fn values(identity: &warden_import::ImportedIdentity) -> Vec<&str> {
    identity
        .entitlements
        .iter()
        .map(|e| e.value.as_str())
        .collect()
}

#[test]
fn aws_credential_report_reads_every_user_root_included() {
    let batch = parse_fixture("aws-credential-report/credential-report.csv");
    insta::assert_json_snapshot!(batch);
    assert!(batch.full_export);
    assert_eq!(batch.identities.len(), 5);
    let root = identity(&batch, "arn:aws:iam::123456789012:root");
    assert_eq!(root.name, "<root_account>");
    assert_eq!(
        root.attributes.get(attribute::ROOT_ACCOUNT),
        Some(&AttributeValue::Flag(true))
    );
    // `not_supported` is no answer, not `false`.
    assert_eq!(root.attributes.get(attribute::PASSWORD_ENABLED), None);
    assert!(root.credentials.is_empty());

    let ci = identity(&batch, "arn:aws:iam::123456789012:user/service/ci-deployer");
    assert_eq!(ci.credentials.len(), 2);
    assert_eq!(ci.credentials[1].last_used_service.as_deref(), Some("ecr"));

    let terraform = identity(&batch, "arn:aws:iam::123456789012:user/terraform");
    assert_eq!(
        terraform.credentials[0].last_used_at, None,
        "N/A is never used"
    );

    let backup = identity(&batch, "arn:aws:iam::123456789012:user/backup-svc");
    assert_eq!(
        backup.attributes.get(attribute::PASSWORD_ENABLED),
        Some(&AttributeValue::Flag(true))
    );
    assert_eq!(
        backup.attributes.get(attribute::PASSWORD_LAST_USED),
        None,
        "no_information"
    );
    let kinds: Vec<(CredentialKind, bool)> = backup
        .credentials
        .iter()
        .map(|c| (c.kind, c.active))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (CredentialKind::AccessKey, false),
            (CredentialKind::Certificate, true)
        ]
    );
}

#[test]
fn aws_credential_report_json_answer_reads_like_the_csv_and_keeps_its_time() {
    // Read under one name, so that only the content differs.
    let (_, csv) = fixture("aws-credential-report/credential-report.csv");
    let (_, json) = fixture("aws-credential-report/get-credential-report.json");
    let csv = parse("report", &csv, None).unwrap_or_else(|e| panic!("{e}"));
    let json = parse("report", &json, None).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(json.identities, csv.identities);
    assert_eq!(
        json.generated_at.map(|t| t.to_rfc3339()).as_deref(),
        Some("2025-11-22T06:00:00.000Z")
    );
}

#[test]
fn access_keys_are_joined_to_the_report_users_by_creation_time() {
    let (report_name, report) = fixture("aws-credential-report/credential-report.csv");
    let (keys_name, keys) = fixture("aws-access-keys/list-access-keys.json");
    let batches = parse_files(&[
        ImportFile {
            name: &keys_name,
            bytes: &keys,
            format: None,
        },
        ImportFile {
            name: &report_name,
            bytes: &report,
            format: None,
        },
    ])
    .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(batches.len(), 1, "the key listing joins the report");
    let batch = &batches[0];
    insta::assert_json_snapshot!(batch);
    let ci = identity(batch, "arn:aws:iam::123456789012:user/service/ci-deployer");
    let ids: Vec<&str> = ci.credentials.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, vec!["AKIAIOSFODNN7EXAMPLE", "AKIAI44QH8DHBEXAMPLE"]);
    let terraform = identity(batch, "arn:aws:iam::123456789012:user/terraform");
    assert_eq!(terraform.credentials[0].id, "AKIAJ7Q2EXAMPLEKEY01");
    let backup = identity(batch, "arn:aws:iam::123456789012:user/backup-svc");
    assert_eq!(backup.credentials[0].id, "AKIAZZBACKUPEXAMPLE1");
    assert!(!backup.credentials[0].active);
}

#[test]
fn access_keys_alone_give_one_partial_identity_per_user() {
    let batch = parse_fixture("aws-access-keys/list-access-keys.json");
    insta::assert_json_snapshot!(batch);
    assert!(!batch.full_export);
    let names: Vec<&str> = batch.identities.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, vec!["backup-svc", "ci-deployer", "terraform"]);
}

#[test]
fn k8s_list_resolves_bindings_to_service_accounts() {
    let batch = parse_fixture("k8s/cluster-list.yaml");
    insta::assert_json_snapshot!(batch);
    let runner = identity(&batch, "build/ci-runner");
    assert_eq!(
        runner.owner_hint.as_deref(),
        Some("platform-team@example.com")
    );
    assert_eq!(
        runner.environment_hint,
        Some(warden_core::Environment::Prod)
    );
    let granted = values(runner);
    for expected in [
        "k8s:clusterrole/cluster-admin",
        "k8s:rule/*/*/*",
        "k8s:nonresource/*/*",
        "k8s:clusterrole/ci-deployer",
        "k8s:rule/core/*/get",
    ] {
        assert!(
            granted.contains(&expected),
            "{expected} missing from {granted:?}"
        );
    }
    // The ClusterRole granted by a RoleBinding applies in the binding's namespace only.
    let deployer = runner
        .entitlements
        .iter()
        .find(|e| e.value == "k8s:clusterrole/ci-deployer")
        .map(|e| e.scope.as_deref());
    assert_eq!(deployer, Some(Some("namespace/build")));
    // The legacy token Secret is a credential of its account; the Opaque Secret is nothing.
    assert_eq!(runner.credentials.len(), 1);
    assert_eq!(runner.credentials[0].kind, CredentialKind::TokenSecret);
    assert_eq!(runner.credentials[0].id, "build/ci-runner-token-7x2kq");

    let reader = identity(&batch, "monitoring/metrics-reader");
    assert_eq!(values(reader), vec!["k8s:role/monitoring/secret-reader"]);
    assert_eq!(reader.owner_hint.as_deref(), Some("données-équipe"));
    assert!(values(identity(&batch, "build/default")).is_empty());
}

#[test]
fn k8s_export_never_carries_secret_data() {
    let batch = parse_fixture("k8s/cluster-list.yaml");
    let json = serde_json::to_string(&batch).unwrap_or_default();
    for secret in ["ZXlKaGJHY2lPaUpTVXpJ", "aHVudGVyMg==", "LS0tLS1CRUdJTi"] {
        assert!(
            !json.contains(secret),
            "secret data {secret} leaked into the batch"
        );
    }
}

#[test]
fn k8s_multi_document_applies_group_subjects_and_keeps_bound_strangers() {
    let batch = parse_fixture("k8s/multi-document.yaml");
    insta::assert_json_snapshot!(batch);
    let worker = identity(&batch, "payments/payments-worker");
    assert_eq!(worker.owner_hint.as_deref(), Some("ops@example.com"));
    assert_eq!(
        worker.environment_hint,
        Some(warden_core::Environment::Staging)
    );
    assert_eq!(values(worker), vec!["k8s:clusterrole/view"]);
    assert_eq!(
        values(identity(&batch, "payments/reporting")),
        vec!["k8s:clusterrole/view"]
    );
    // Bound but not exported: kept, with what the binding grants, and no owner.
    let operator = identity(&batch, "kube-system/operator");
    assert_eq!(values(operator), vec!["k8s:clusterrole/legacy-operator"]);
    assert_eq!(operator.owner_hint, None);
}

#[test]
fn gcp_keys_and_accounts_merge_into_accounts_with_managed_keys() {
    let (keys_name, keys) = fixture("gcp-sa-keys/keys-list.json");
    let keys = parse(&keys_name, &keys, None).unwrap_or_else(|e| panic!("{e}"));
    insta::assert_json_snapshot!("gcp_keys", keys);
    assert!(!keys.full_export);
    let account = &keys.identities[0];
    assert_eq!(
        account.external_id,
        "projects/acme-prod/serviceAccounts/ci-deployer@acme-prod.iam.gserviceaccount.com"
    );
    let managed: Vec<(Option<ManagedBy>, bool, bool)> = account
        .credentials
        .iter()
        .map(|c| (c.managed_by, c.active, c.expires_at.is_some()))
        .collect();
    assert_eq!(
        managed,
        vec![
            (Some(ManagedBy::User), true, false),
            (Some(ManagedBy::User), false, true),
            (Some(ManagedBy::System), true, true),
        ]
    );

    let (list_name, list) = fixture("gcp-sa-keys/service-accounts-list.json");
    let accounts = parse(&list_name, &list, None).unwrap_or_else(|e| panic!("{e}"));
    insta::assert_json_snapshot!("gcp_accounts", accounts);
    assert!(accounts.full_export);
    assert_eq!(accounts.identities.len(), 3);
    assert!(
        accounts
            .identities
            .iter()
            .all(|i| i.kind == IdentityKind::ServiceAccount)
    );
}

#[test]
fn github_pats_read_every_page_with_normalised_permissions() {
    let batch = parse_fixture("github-pats/org-personal-access-tokens.json");
    insta::assert_json_snapshot!(batch);
    assert_eq!(batch.identities.len(), 3, "both pages are read");
    let release = identity(&batch, "98716");
    assert_eq!(release.kind, IdentityKind::Token);
    assert_eq!(release.owner_hint.as_deref(), Some("octocat"));
    assert_eq!(
        values(release),
        vec![
            "github:repository_selection/all",
            "github:organization/members:read",
            "github:repository/administration:write",
            "github:repository/contents:write",
            "github:repository/metadata:read",
        ]
    );
    assert_eq!(release.credentials[0].expires_at, None);
    let expired = identity(&batch, "100551");
    assert!(!expired.credentials[0].active);
    assert_eq!(identity(&batch, "99120").name, "Dépendances 🤖");
}

#[test]
fn generic_csv_merges_rows_of_one_identity_and_keeps_quoted_cells() {
    let batch = parse_fixture("csv/inventory.csv");
    insta::assert_json_snapshot!(batch);
    assert_eq!(batch.source, SourceFormat::Csv);
    assert_eq!(batch.identities.len(), 3);
    let stripe = identity(&batch, "vault:kv/payments/stripe");
    assert_eq!(stripe.credentials.len(), 2);
    assert_eq!(
        stripe.labels.get("team").map(String::as_str),
        Some("payments")
    );
    let hook = identity(&batch, "slack:hook/T000/B111");
    assert_eq!(hook.name, "Slack, alerts channel");
    assert_eq!(hook.owner_hint, None);
    assert!(hook.credentials.is_empty());
    let cert = identity(&batch, "pki:serial/4F:3A:9C");
    assert_eq!(
        cert.credentials[0].fingerprint.as_deref(),
        Some("SHA256:8b1a9953c4611296a827abf8c47804d7")
    );
}
