//! The format is found from the content, with the file name deciding only ambiguous cases.

use warden_import::SourceFormat;
use warden_import::detect::detect;

use crate::fixture;

#[test]
fn every_fixture_is_detected_from_its_content_whatever_its_name() {
    let cases = [
        (
            "aws-credential-report/credential-report.csv",
            SourceFormat::AwsCredentialReport,
        ),
        (
            "aws-credential-report/get-credential-report.json",
            SourceFormat::AwsCredentialReport,
        ),
        (
            "aws-access-keys/list-access-keys.json",
            SourceFormat::AwsAccessKeys,
        ),
        ("k8s/cluster-list.yaml", SourceFormat::K8s),
        ("k8s/multi-document.yaml", SourceFormat::K8s),
        ("gcp-sa-keys/keys-list.json", SourceFormat::GcpSaKeys),
        (
            "gcp-sa-keys/service-accounts-list.json",
            SourceFormat::GcpSaKeys,
        ),
        (
            "github-pats/org-personal-access-tokens.json",
            SourceFormat::GithubPats,
        ),
        ("csv/inventory.csv", SourceFormat::Csv),
    ];
    for (relative, expected) in cases {
        let (_, bytes) = fixture(relative);
        assert_eq!(
            detect("upload.bin", &bytes).ok(),
            Some(expected),
            "{relative}"
        );
    }
}

#[test]
fn kubectl_json_output_is_detected_as_k8s() {
    let json = br#"{"apiVersion": "v1", "items": [], "kind": "List"}"#;
    assert_eq!(detect("x", json).ok(), Some(SourceFormat::K8s));
}

#[test]
fn an_empty_list_is_decided_by_the_file_name() {
    assert_eq!(
        detect("acme-github-pats.json", b"[]").ok(),
        Some(SourceFormat::GithubPats)
    );
    assert_eq!(
        detect("gcloud-keys.json", b"[]\n").ok(),
        Some(SourceFormat::GcpSaKeys)
    );
    let error = detect("export.json", b"[]").err();
    let error = error.unwrap_or_else(|| panic!("an unnamed empty list was given a format"));
    assert!(error.to_string().contains("name the format"), "{error}");
}

#[test]
fn a_bom_and_quoted_header_do_not_hide_a_credential_report() {
    let text = b"\xEF\xBB\xBF\"user\",\"arn\",\"user_creation_time\"\n";
    assert_eq!(
        detect("x", text).ok(),
        Some(SourceFormat::AwsCredentialReport)
    );
}
