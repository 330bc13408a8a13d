//! Which format a file is in, from its content first and its name as a hint.
//!
//! The content decides when it can: each export has marks no other has (the credential
//! report's `user,arn` header, `AccessKeyMetadata`, `token_name`, `keyType`, `apiVersion` and
//! `kind`, the generic CSV's `kind`/`name`/`external_id` header). The name decides only
//! when the content cannot (an empty list `[]` is a valid GitHub or GCP export). When neither
//! does, the error asks for the format to be named.

use crate::error::{ErrorContext, ImportError, Location};
use crate::model::SourceFormat;

/// How much of a file detection looks at; every mark sits near the start.
const SNIFF_BYTES: usize = 64 * 1024;

pub fn detect(file_name: &str, bytes: &[u8]) -> Result<SourceFormat, ImportError> {
    from_content(bytes)
        .or_else(|| from_name(file_name))
        .ok_or_else(|| {
            ErrorContext {
                file: file_name,
                format: None,
            }
            .error(
                Location::File,
                None,
                "cannot tell which export this is",
                "name the format: one of aws-credential-report, aws-access-keys, k8s, gcp-sa-keys, github-pats, csv",
            )
        })
}

/// The format the content shows, if it shows one.
pub fn from_content(bytes: &[u8]) -> Option<SourceFormat> {
    let head = &bytes[..bytes.len().min(SNIFF_BYTES)];
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    let text = String::from_utf8_lossy(head);
    let text = text.trim_start();
    if text.starts_with('{') || text.starts_with('[') {
        return from_json(text);
    }
    let first_line = text.lines().next().unwrap_or_default();
    let header: Vec<&str> = first_line
        .split(',')
        .map(|c| c.trim().trim_matches('"'))
        .collect();
    if header.starts_with(&["user", "arn"]) {
        return Some(SourceFormat::AwsCredentialReport);
    }
    if ["kind", "name", "external_id"]
        .iter()
        .all(|column| header.contains(column))
    {
        return Some(SourceFormat::Csv);
    }
    let yaml_key = |key: &str| {
        text.lines()
            .any(|line| line.trim_start_matches(['-', ' ']).starts_with(key))
    };
    if yaml_key("apiVersion:") && yaml_key("kind:") {
        return Some(SourceFormat::K8s);
    }
    None
}

fn from_json(text: &str) -> Option<SourceFormat> {
    let has = |key: &str| text.contains(&format!("\"{key}\""));
    if has("AccessKeyMetadata") {
        Some(SourceFormat::AwsAccessKeys)
    } else if has("ReportFormat") && has("Content") {
        Some(SourceFormat::AwsCredentialReport)
    } else if has("token_name") || has("token_id") {
        Some(SourceFormat::GithubPats)
    } else if has("keyType") || has("validAfterTime") || text.contains("/serviceAccounts/") {
        Some(SourceFormat::GcpSaKeys)
    } else if has("apiVersion") && has("kind") {
        Some(SourceFormat::K8s)
    } else {
        None
    }
}

/// The format a file name suggests.
pub fn from_name(file_name: &str) -> Option<SourceFormat> {
    let name = file_name
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or(file_name)
        .to_ascii_lowercase();
    let has = |part: &str| name.contains(part);
    if has("credential-report") || has("credential_report") || has("credentialreport") {
        Some(SourceFormat::AwsCredentialReport)
    } else if has("access-keys") || has("access_keys") {
        Some(SourceFormat::AwsAccessKeys)
    } else if has("github") || has("personal-access-token") || has("pat") {
        Some(SourceFormat::GithubPats)
    } else if has("gcp") || has("gcloud") || has("service-account") || has("sa-keys") {
        Some(SourceFormat::GcpSaKeys)
    } else if name.ends_with(".yaml") || name.ends_with(".yml") || has("k8s") || has("kube") {
        Some(SourceFormat::K8s)
    } else if name.ends_with(".csv") {
        Some(SourceFormat::Csv)
    } else {
        None
    }
}
