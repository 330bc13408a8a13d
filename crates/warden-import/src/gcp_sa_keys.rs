//! `gcp-sa-keys`: the JSON of `gcloud iam service-accounts keys list --iam-account=… --format=json`
//! (IAM API `ServiceAccountKey`), and of `gcloud iam service-accounts list --format=json`
//! (`ServiceAccount`). A file may hold either, both mixed in one list, or several lists one
//! after another.
//!
//! Documented shapes (IAM REST reference, `projects.serviceAccounts.keys` and
//! `projects.serviceAccounts`):
//! - a key: `name` = `projects/PROJECT/serviceAccounts/EMAIL/keys/KEY_ID`, `keyType`
//!   (`USER_MANAGED` | `SYSTEM_MANAGED`), `keyOrigin`, `keyAlgorithm`, `validAfterTime`,
//!   `validBeforeTime` (`9999-12-31T23:59:59Z` for keys that never expire), `disabled`
//!   (present when true);
//! - a service account: `name` = `projects/PROJECT/serviceAccounts/EMAIL`, `email`,
//!   `uniqueId`, `displayName`, `description`, `disabled`, `projectId`.
//!
//! One identity per service account, external id its resource name
//! `projects/PROJECT/serviceAccounts/EMAIL`; each key a credential whose id is the key's
//! resource name, managed by `user` or `system`. Listings carry no private key (only
//! `keys create` returns one); a `privateKeyData` field, should one be present, is never read.

use std::collections::BTreeMap;

use serde_json::Value;
use warden_core::IdentityKind;

use crate::error::{ErrorContext, ImportError};
use crate::json::{Node, parse_values};
use crate::model::{
    AttributeValue, CredentialKind, ImportBatch, ImportedCredential, ImportedIdentity, ManagedBy,
    Provenance, SourceFormat, attribute,
};
use crate::text::decode;

const FORMAT: SourceFormat = SourceFormat::GcpSaKeys;
const FIX: &str = "pass the output of `gcloud iam service-accounts keys list --format=json` or `gcloud iam service-accounts list --format=json` unchanged";
/// GCP's `validBeforeTime` for keys without an expiry.
const NEVER_EXPIRES: &str = "9999-12-31T23:59:59Z";

pub fn parse(file: &str, bytes: &[u8]) -> Result<ImportBatch, ImportError> {
    let ctx = ErrorContext::new(file, FORMAT);
    let text = decode(&ctx, bytes)?;
    let values = parse_values(&ctx, text, FIX)?;
    let several = values.len() > 1;
    let mut accounts: BTreeMap<String, ImportedIdentity> = BTreeMap::new();
    let mut lists_accounts = false;
    for (index, value) in values.iter().enumerate() {
        let root = if several {
            format!("$<{index}>")
        } else {
            "$".to_string()
        };
        let node = Node::root(&ctx, value, root);
        let entries = match value {
            Value::Array(_) => node.items(FIX)?,
            _ => vec![node],
        };
        for entry in entries {
            if entry.get("keyType").is_some() || entry.get("validAfterTime").is_some() {
                read_key(&entry, &mut accounts)?;
            } else if entry.get("email").is_some() {
                lists_accounts = true;
                read_account(&entry, &mut accounts)?;
            } else {
                return Err(ctx.error(
                    entry.location(),
                    Some("keyType"),
                    "the entry is neither a service-account key nor a service account",
                    FIX,
                ));
            }
        }
    }
    Ok(ImportBatch {
        source: FORMAT,
        // `service-accounts list` covers a project; a key listing covers one account.
        full_export: lists_accounts,
        generated_at: None,
        identities: accounts.into_values().collect(),
    })
}

fn account_entry<'m>(
    accounts: &'m mut BTreeMap<String, ImportedIdentity>,
    resource: &str,
    email: &str,
    entry: &Node<'_>,
) -> &'m mut ImportedIdentity {
    accounts
        .entry(resource.to_string())
        .or_insert_with(|| ImportedIdentity {
            kind: IdentityKind::ServiceAccount,
            name: email.to_string(),
            external_id: resource.to_string(),
            owner_hint: None,
            environment_hint: None,
            labels: Default::default(),
            created_at: None,
            credentials: Vec::new(),
            entitlements: Vec::new(),
            attributes: Default::default(),
            origin: Provenance {
                file: entry.ctx.file.to_string(),
                location: entry.location(),
                via: None,
            },
        })
}

/// Splits `projects/P/serviceAccounts/EMAIL[/keys/ID]` into the account's resource name and
/// email.
fn account_of(name: &str) -> Option<(&str, &str)> {
    let account = name.split("/keys/").next()?;
    let mut parts = account.split('/');
    match (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) {
        (Some("projects"), Some(project), Some("serviceAccounts"), Some(email), None)
            if !project.is_empty() && email.contains('@') =>
        {
            Some((account, email))
        }
        _ => None,
    }
}

fn read_key(
    entry: &Node<'_>,
    accounts: &mut BTreeMap<String, ImportedIdentity>,
) -> Result<(), ImportError> {
    let name = entry.required_str("name", FIX)?;
    let Some((resource, email)) = account_of(name).filter(|_| name.contains("/keys/")) else {
        return Err(entry.text_value_error(
            "name",
            name,
            "a key resource name (projects/PROJECT/serviceAccounts/EMAIL/keys/KEY_ID)",
            FIX,
        ));
    };
    let managed_by = match entry.optional_str("keyType", FIX)? {
        Some("USER_MANAGED") => Some(ManagedBy::User),
        Some("SYSTEM_MANAGED") => Some(ManagedBy::System),
        Some(other) => {
            return Err(entry.text_value_error(
                "keyType",
                other,
                "USER_MANAGED or SYSTEM_MANAGED",
                FIX,
            ));
        }
        None => None,
    };
    let disabled = entry.optional_bool("disabled", FIX)?.unwrap_or(false);
    let mut credential =
        ImportedCredential::new(CredentialKind::ServiceAccountKey, name, !disabled);
    credential.managed_by = managed_by;
    credential.created_at = entry.optional_time("validAfterTime", FIX)?;
    credential.last_rotated_at = credential.created_at;
    credential.expires_at = match entry.optional_str("validBeforeTime", FIX)? {
        Some(NEVER_EXPIRES) => None,
        Some(_) => entry.optional_time("validBeforeTime", FIX)?,
        None => None,
    };
    account_entry(accounts, resource, email, entry)
        .credentials
        .push(credential);
    Ok(())
}

fn read_account(
    entry: &Node<'_>,
    accounts: &mut BTreeMap<String, ImportedIdentity>,
) -> Result<(), ImportError> {
    let email = entry.required_str("email", FIX)?;
    let name = entry.required_str("name", FIX)?;
    let Some((resource, _)) = account_of(name).filter(|_| !name.contains("/keys/")) else {
        return Err(entry.text_value_error(
            "name",
            name,
            "a service account resource name (projects/PROJECT/serviceAccounts/EMAIL)",
            FIX,
        ));
    };
    let disabled = entry.optional_bool("disabled", FIX)?.unwrap_or(false);
    let display_name = entry.optional_str("displayName", FIX)?;
    let identity = account_entry(accounts, resource, email, entry);
    identity.origin.location = entry.location();
    identity.attributes.insert(
        attribute::DISABLED.to_string(),
        AttributeValue::Flag(disabled),
    );
    if let Some(display_name) = display_name.filter(|d| !d.is_empty()) {
        identity.attributes.insert(
            attribute::DISPLAY_NAME.to_string(),
            AttributeValue::Text(display_name.to_string()),
        );
    }
    Ok(())
}
