//! The parts of Kubernetes objects the importer reads, as `kubectl get -o yaml` writes them.
//!
//! Only named fields are deserialised: a Secret's `data` and `stringData`, and every
//! annotation other than the ones named here, are skipped without being kept, so a token
//! never passes through the importer's values.

use std::collections::BTreeMap;

use serde::Deserialize;

/// Any object, or a `kind: List` of them.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct Object {
    pub api_version: Option<String>,
    pub kind: Option<String>,
    pub metadata: Metadata,
    /// The items of a `kind: List` (or `ServiceAccountList`, …).
    pub items: Option<Vec<Object>>,
    /// A Secret's type.
    #[serde(rename = "type")]
    pub secret_type: Option<String>,
    pub automount_service_account_token: Option<bool>,
    /// A Role's or ClusterRole's rules.
    pub rules: Option<Vec<PolicyRule>>,
    /// A binding's subjects and role.
    pub subjects: Option<Vec<Subject>>,
    pub role_ref: Option<RoleRef>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct Metadata {
    pub name: Option<String>,
    pub namespace: Option<String>,
    pub uid: Option<String>,
    pub creation_timestamp: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct PolicyRule {
    pub api_groups: Vec<String>,
    pub resources: Vec<String>,
    pub verbs: Vec<String>,
    #[serde(rename = "nonResourceURLs")]
    pub non_resource_urls: Vec<String>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct Subject {
    pub kind: String,
    pub name: String,
    pub namespace: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct RoleRef {
    pub kind: String,
    pub name: String,
}
