//! Malformed files are refused whole, and the error names the file, the place and the field.

use warden_import::{ImportError, Location, SourceFormat, parse};

use crate::fixture;

fn refusal(relative: &str) -> ImportError {
    let (name, bytes) = fixture(relative);
    match parse(&name, &bytes, None) {
        Ok(batch) => panic!(
            "{relative} was accepted with {} identities",
            batch.identities.len()
        ),
        Err(error) => error,
    }
}

#[test]
fn credential_report_with_a_bad_date_is_refused_naming_row_and_column() {
    let error = refusal("aws-credential-report/malformed-date.csv");
    assert_eq!(error.format, Some(SourceFormat::AwsCredentialReport));
    assert_eq!(error.location, Location::Row { row: 3, line: 4 });
    assert_eq!(error.field.as_deref(), Some("access_key_1_last_rotated"));
    let message = error.to_string();
    assert!(
        message.starts_with("aws-credential-report/malformed-date.csv:"),
        "{message}"
    );
    assert!(message.contains("row 3 (line 4)"), "{message}");
    assert!(
        message.contains("RFC 3339"),
        "the message says what to write: {message}"
    );
}

#[test]
fn credential_report_with_a_short_row_is_refused() {
    let error = refusal("aws-credential-report/malformed-short-row.csv");
    assert_eq!(error.location, Location::Row { row: 2, line: 3 });
    assert!(
        error.problem.contains("4 cells where the header has 7"),
        "{error}"
    );
}

#[test]
fn access_keys_with_an_unknown_status_are_refused_at_its_json_path() {
    let error = refusal("aws-access-keys/malformed-status.json");
    assert_eq!(
        error.location,
        Location::JsonPath {
            path: "$<2>.AccessKeyMetadata[0].Status".to_string()
        }
    );
    assert_eq!(error.field.as_deref(), Some("Status"));
    assert!(error.to_string().contains("Active or Inactive"), "{error}");
}

#[test]
fn access_keys_of_a_user_missing_from_the_report_refuse_the_join() {
    let (report_name, report) = fixture("aws-credential-report/credential-report.csv");
    let keys = br#"{"AccessKeyMetadata":[{"UserName":"ghost","AccessKeyId":"AKIAGHOST","Status":"Active","CreateDate":"2024-01-01T00:00:00Z"}]}"#;
    let error = warden_import::parse_files(&[
        warden_import::ImportFile {
            name: &report_name,
            bytes: &report,
            format: None,
        },
        warden_import::ImportFile {
            name: "ghost-keys.json",
            bytes: keys,
            format: None,
        },
    ])
    .err()
    .unwrap_or_else(|| panic!("the join accepted an unknown user"));
    assert_eq!(error.file, "ghost-keys.json");
    assert!(
        error
            .problem
            .contains("`ghost` is not in the credential report"),
        "{error}"
    );
}

#[test]
fn cluster_role_binding_without_subject_namespace_is_refused_naming_the_document() {
    let error = refusal("k8s/malformed-binding.yaml");
    assert_eq!(
        error.location,
        Location::Document {
            document: 2,
            item: None
        }
    );
    assert_eq!(error.field.as_deref(), Some("subjects[0].namespace"));
    assert!(
        error.problem.contains("ClusterRoleBinding/ci-runner-admin"),
        "{error}"
    );
}

#[test]
fn yaml_syntax_error_is_refused_with_the_line_in_the_whole_file() {
    let error = refusal("k8s/malformed-syntax.yaml");
    let Location::Line { line } = error.location else {
        panic!("expected a line, got {:?}", error.location);
    };
    assert!((8..=10).contains(&line), "line {line}: {error}");
    assert!(error.problem.contains("document 2"), "{error}");
}

#[test]
fn gcp_key_of_an_unknown_type_is_refused_at_its_json_path() {
    let error = refusal("gcp-sa-keys/malformed-key-type.json");
    assert_eq!(
        error.location,
        Location::JsonPath {
            path: "$[2].keyType".to_string()
        }
    );
    assert!(
        error.to_string().contains("USER_MANAGED or SYSTEM_MANAGED"),
        "{error}"
    );
}

#[test]
fn github_permission_with_an_unknown_level_is_refused_at_its_json_path() {
    let error = refusal("github-pats/malformed-permission.json");
    assert_eq!(
        error.location,
        Location::JsonPath {
            path: "$<0>[0].permissions.repository.contents".to_string()
        }
    );
    assert_eq!(error.field.as_deref(), Some("contents"));
}

#[test]
fn generic_csv_with_an_unknown_kind_is_refused_naming_row_and_kinds() {
    let error = refusal("csv/malformed-kind.csv");
    assert_eq!(error.location, Location::Row { row: 2, line: 3 });
    assert_eq!(error.field.as_deref(), Some("kind"));
    assert!(
        error.problem.contains("service_account"),
        "the kinds are listed: {error}"
    );
}

#[test]
fn generic_csv_with_an_unknown_column_is_refused_before_any_row() {
    let error = match parse(
        "x.csv",
        b"kind,name,external_id,owner_email\n",
        Some(SourceFormat::Csv),
    ) {
        Ok(_) => panic!("accepted"),
        Err(error) => error,
    };
    assert_eq!(error.field.as_deref(), Some("owner_email"));
    assert!(error.fix.contains("owner"), "{error}");
}

#[test]
fn values_quoted_in_errors_are_cut_short() {
    let long = "x".repeat(200);
    let file = format!("kind,name,external_id,created_at\napi_key,n,e,{long}\n");
    let error = match parse("x.csv", file.as_bytes(), Some(SourceFormat::Csv)) {
        Ok(_) => panic!("accepted"),
        Err(error) => error,
    };
    assert!(!error.to_string().contains(&long), "{error}");
}
