//! The common output of every importer: a batch of identities, each with its credentials,
//! entitlements and the facts the posture rules read.
//!
//! The shapes are made for the server that stores them: `(source, kind, external_id)` is the
//! key an idempotent re-import matches on, `full_export` says whether identities missing from
//! the batch may be marked as gone, and `owner_hint` is what owner matching starts from. No
//! secret is ever carried: a credential is its id and its dates.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use warden_core::{Environment, IdentityKind, Labels, Timestamp};

use crate::error::Location;

/// The export formats Warden reads; the names are the ones the API and the CLI take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceFormat {
    AwsCredentialReport,
    AwsAccessKeys,
    K8s,
    GcpSaKeys,
    GithubPats,
    Csv,
}

impl SourceFormat {
    pub const ALL: &'static [Self] = &[
        Self::AwsCredentialReport,
        Self::AwsAccessKeys,
        Self::K8s,
        Self::GcpSaKeys,
        Self::GithubPats,
        Self::Csv,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::AwsCredentialReport => "aws-credential-report",
            Self::AwsAccessKeys => "aws-access-keys",
            Self::K8s => "k8s",
            Self::GcpSaKeys => "gcp-sa-keys",
            Self::GithubPats => "github-pats",
            Self::Csv => "csv",
        }
    }
}

impl fmt::Display for SourceFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The refusal of an unknown format name lists the accepted ones.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not an import format; use one of: aws-credential-report, aws-access-keys, k8s, gcp-sa-keys, github-pats, csv"
)]
pub struct UnknownFormat(pub String);

impl FromStr for SourceFormat {
    type Err = UnknownFormat;

    fn from_str(text: &str) -> Result<Self, UnknownFormat> {
        Self::ALL
            .iter()
            .copied()
            .find(|format| format.as_str() == text)
            .ok_or_else(|| UnknownFormat(text.to_string()))
    }
}

/// Everything one file yielded. A parser returns a whole batch or an error, never part of one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportBatch {
    pub source: SourceFormat,
    /// Whether the file lists everything its source has, so that an identity imported earlier
    /// from the same source and missing now is gone. Each parser sets what its export usually
    /// is (a credential report covers the whole account; `list-access-keys` covers one user);
    /// the caller may know better and override it.
    pub full_export: bool,
    /// When the source says it produced the export (the credential report's `GeneratedTime`).
    pub generated_at: Option<Timestamp>,
    pub identities: Vec<ImportedIdentity>,
}

/// One non-human identity as its source describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportedIdentity {
    pub kind: IdentityKind,
    /// The name the source shows, unchanged (it may not fit Warden's naming rules).
    pub name: String,
    /// The source's stable id: an ARN, `namespace/name`, a key's resource name, a token id.
    pub external_id: String,
    /// An owner the source names (an email, a login, a label's value), to match to owners.
    /// `None` means the source names no owner: the identity is kept and flagged as orphaned.
    pub owner_hint: Option<String>,
    pub environment_hint: Option<Environment>,
    pub labels: Labels,
    pub created_at: Option<Timestamp>,
    pub credentials: Vec<ImportedCredential>,
    pub entitlements: Vec<Entitlement>,
    /// Source-specific facts the posture rules read; keys are in [`attribute`].
    pub attributes: BTreeMap<String, AttributeValue>,
    /// Where in the file this identity was read.
    pub origin: Provenance,
}

/// A credential's metadata. Never its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportedCredential {
    pub kind: CredentialKind,
    /// The key id, key resource name, token id or secret name (not the secret).
    pub id: String,
    pub created_at: Option<Timestamp>,
    pub last_rotated_at: Option<Timestamp>,
    pub last_used_at: Option<Timestamp>,
    pub last_used_region: Option<String>,
    pub last_used_service: Option<String>,
    pub expires_at: Option<Timestamp>,
    pub active: bool,
    pub managed_by: Option<ManagedBy>,
    /// A public fingerprint when the export carries one (never derived from a secret here).
    pub fingerprint: Option<String>,
}

impl ImportedCredential {
    /// A credential report's slot (`access_key_1`, `cert_2`) whose key id the report does not
    /// give: a position on one user, not an id another holder could share.
    pub fn is_report_slot(&self) -> bool {
        match self.kind {
            CredentialKind::AccessKey => self.id.starts_with("access_key_"),
            CredentialKind::Certificate => self.id.starts_with("cert_"),
            _ => false,
        }
    }

    /// A credential with only its kind, id and state known; the importers fill in the rest.
    pub fn new(kind: CredentialKind, id: impl Into<String>, active: bool) -> Self {
        Self {
            kind,
            id: id.into(),
            created_at: None,
            last_rotated_at: None,
            last_used_at: None,
            last_used_region: None,
            last_used_service: None,
            expires_at: None,
            active,
            managed_by: None,
            fingerprint: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialKind {
    /// An AWS IAM access key.
    AccessKey,
    /// An X.509 signing certificate (AWS `cert_N`).
    Certificate,
    /// A GCP service-account key.
    ServiceAccountKey,
    /// A Kubernetes legacy token Secret (`kubernetes.io/service-account-token`): long-lived.
    TokenSecret,
    /// A GitHub fine-grained personal access token.
    PersonalAccessToken,
    /// Anything the generic CSV names.
    Other,
}

/// Who manages a key: GCP's system-managed keys rotate themselves and cannot be downloaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ManagedBy {
    User,
    System,
}

/// A permission in normalised form, with where it came from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Entitlement {
    /// `k8s:clusterrole/cluster-admin`, `k8s:role/NS/NAME`, `k8s:rule/*/*/*`,
    /// `github:repository/administration:write`, `github:repository_selection/all`, …
    pub value: String,
    /// Where it applies when narrower than the source: `namespace/NS` for a ClusterRole
    /// bound by a RoleBinding.
    pub scope: Option<String>,
    pub provenance: Provenance,
}

/// Which file, and where in it, a value was read.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Provenance {
    pub file: String,
    pub location: Location,
    /// The object that gave it, when not the identity itself: `ClusterRoleBinding/ci-admin`.
    pub via: Option<String>,
}

/// A source-specific fact. Serialised untagged: `true`, `"2024-01-01T00:00:00.000Z"`, `"text"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AttributeValue {
    Flag(bool),
    Time(Timestamp),
    Text(String),
}

/// The attribute keys importers write and posture rules read.
pub mod attribute {
    /// AWS: the user has a console password.
    pub const PASSWORD_ENABLED: &str = "password_enabled";
    /// AWS: when the console password was last used (absent when never or unknown).
    pub const PASSWORD_LAST_USED: &str = "password_last_used";
    pub const PASSWORD_LAST_CHANGED: &str = "password_last_changed";
    /// AWS: an MFA device is active.
    pub const MFA_ACTIVE: &str = "mfa_active";
    /// AWS: this is the account's root user (`<root_account>`).
    pub const ROOT_ACCOUNT: &str = "root_account";
    /// GCP, generic: the identity is disabled at its source.
    pub const DISABLED: &str = "disabled";
    /// Kubernetes: `automountServiceAccountToken` as the ServiceAccount sets it.
    pub const AUTOMOUNT_TOKEN: &str = "automount_service_account_token";
    /// GitHub: the token's owner account type (`User`, `Bot`).
    pub const OWNER_TYPE: &str = "owner_type";
    /// GitHub: when the organisation granted the token access.
    pub const ACCESS_GRANTED_AT: &str = "access_granted_at";
    /// GCP: the service account's display name.
    pub const DISPLAY_NAME: &str = "display_name";
    /// GitHub: the id of the organisation's grant (the one to revoke), beside the token's id.
    pub const GRANT_ID: &str = "grant_id";
}
