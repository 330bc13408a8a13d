//! `aws-access-keys`: the JSON of `aws iam list-access-keys` (IAM API `ListAccessKeys`).
//!
//! The documented shape (AWS CLI reference, `iam list-access-keys`):
//! `{"AccessKeyMetadata": [{"UserName", "AccessKeyId", "Status": "Active"|"Inactive",
//! "CreateDate"}], "IsTruncated"?, "Marker"?}`. The command lists one user's keys (the caller's
//! when `--user-name` is not given), so exports for several users are commonly several such
//! objects one after another (a shell loop) or a JSON list of them; both are read.
//!
//! On its own the file yields one identity per user, named and keyed by the user name (the
//! listing names no ARN). Its real use is [`join`]: the key ids go onto the credential
//! report's users, matching each key to the report slot whose "last rotated" time is the key's
//! `CreateDate`.

use std::collections::BTreeMap;

use serde_json::Value;
use warden_core::{IdentityKind, Timestamp};

use crate::error::{ErrorContext, ImportError, Location};
use crate::json::{Node, parse_values};
use crate::model::{
    CredentialKind, ImportBatch, ImportedCredential, ImportedIdentity, Provenance, SourceFormat,
};
use crate::text::decode;

const FORMAT: SourceFormat = SourceFormat::AwsAccessKeys;
const FIX: &str = "pass the output of `aws iam list-access-keys --output json` unchanged";

/// One entry of `AccessKeyMetadata`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessKey {
    pub user_name: String,
    pub access_key_id: String,
    pub active: bool,
    pub created_at: Option<Timestamp>,
    pub provenance: Provenance,
}

/// Reads every access key in the file.
pub fn parse_keys(file: &str, bytes: &[u8]) -> Result<Vec<AccessKey>, ImportError> {
    let ctx = ErrorContext::new(file, FORMAT);
    let text = decode(&ctx, bytes)?;
    let values = parse_values(&ctx, text, FIX)?;
    let mut keys = Vec::new();
    let several = values.len() > 1;
    for (index, value) in values.iter().enumerate() {
        let root = if several {
            format!("$<{index}>")
        } else {
            "$".to_string()
        };
        let node = Node::root(&ctx, value, root);
        match value {
            Value::Array(_) => {
                for item in node.items(FIX)? {
                    read_listing(&item, &mut keys)?;
                }
            }
            _ => read_listing(&node, &mut keys)?,
        }
    }
    Ok(keys)
}

fn read_listing(listing: &Node<'_>, keys: &mut Vec<AccessKey>) -> Result<(), ImportError> {
    let Some(metadata) = listing.field("AccessKeyMetadata") else {
        return Err(listing.ctx.error(
            listing.location(),
            Some("AccessKeyMetadata"),
            "the object has no AccessKeyMetadata list",
            FIX,
        ));
    };
    for entry in metadata.items(FIX)? {
        let status = entry.required_str("Status", FIX)?;
        let active = match status {
            "Active" => true,
            "Inactive" => false,
            other => {
                return Err(entry.text_value_error("Status", other, "Active or Inactive", FIX));
            }
        };
        keys.push(AccessKey {
            user_name: entry.required_str("UserName", FIX)?.to_string(),
            access_key_id: entry.required_str("AccessKeyId", FIX)?.to_string(),
            active,
            created_at: entry.optional_time("CreateDate", FIX)?,
            provenance: Provenance {
                file: entry.ctx.file.to_string(),
                location: entry.location(),
                via: None,
            },
        });
    }
    Ok(())
}

/// The file on its own: one identity per user, keyed by user name.
pub fn parse(file: &str, bytes: &[u8]) -> Result<ImportBatch, ImportError> {
    let keys = parse_keys(file, bytes)?;
    let mut users: BTreeMap<String, ImportedIdentity> = BTreeMap::new();
    for key in keys {
        let identity = users
            .entry(key.user_name.clone())
            .or_insert_with(|| ImportedIdentity {
                kind: IdentityKind::ServiceAccount,
                name: key.user_name.clone(),
                external_id: key.user_name.clone(),
                owner_hint: None,
                environment_hint: None,
                labels: Default::default(),
                created_at: None,
                credentials: Vec::new(),
                entitlements: Vec::new(),
                attributes: Default::default(),
                origin: key.provenance.clone(),
            });
        identity.credentials.push(credential(&key));
    }
    Ok(ImportBatch {
        source: FORMAT,
        // One user's keys per listing: never the whole account.
        full_export: false,
        generated_at: None,
        identities: users.into_values().collect(),
    })
}

fn credential(key: &AccessKey) -> ImportedCredential {
    let mut credential = ImportedCredential::new(
        CredentialKind::AccessKey,
        key.access_key_id.clone(),
        key.active,
    );
    credential.created_at = key.created_at;
    credential.last_rotated_at = key.created_at;
    credential
}

/// Puts the key ids from `list-access-keys` onto the credential report's users.
///
/// A key goes to the report slot (`access_key_N`) of its user whose creation time matches its
/// `CreateDate` to the second; failing that, to the user's only unmatched slot; failing that,
/// it is added as a credential of its own. A key whose user is not in the report is refused:
/// the two files are from different times or accounts.
pub fn join(
    report: &mut ImportBatch,
    keys: &[AccessKey],
    keys_file: &str,
) -> Result<(), ImportError> {
    let ctx = ErrorContext::new(keys_file, FORMAT);
    let mut by_user: BTreeMap<&str, Vec<&AccessKey>> = BTreeMap::new();
    for key in keys {
        by_user.entry(key.user_name.as_str()).or_default().push(key);
    }
    for (user, user_keys) in by_user {
        let Some(identity) = report
            .identities
            .iter_mut()
            .find(|identity| identity.name == user)
        else {
            let location = user_keys
                .first()
                .map_or(Location::File, |key| key.provenance.location.clone());
            return Err(ctx.error(
                location,
                Some("UserName"),
                format!("user `{user}` is not in the credential report"),
                "generate a fresh credential report and list the keys again, from the same account",
            ));
        };
        let mut unmatched = Vec::new();
        for key in user_keys {
            let slot = identity.credentials.iter_mut().find(|credential| {
                is_unjoined_slot(credential)
                    && credential.created_at.map(Timestamp::as_secs)
                        == key.created_at.map(Timestamp::as_secs)
                    && key.created_at.is_some()
            });
            match slot {
                Some(slot) => fill_slot(slot, key),
                None => unmatched.push(key),
            }
        }
        let open_slots = identity
            .credentials
            .iter()
            .filter(|credential| is_unjoined_slot(credential))
            .count();
        if let ([key], 1) = (unmatched.as_slice(), open_slots) {
            if let Some(slot) = identity
                .credentials
                .iter_mut()
                .find(|c| is_unjoined_slot(c))
            {
                fill_slot(slot, key);
            }
        } else {
            identity
                .credentials
                .extend(unmatched.into_iter().map(credential));
        }
    }
    Ok(())
}

fn is_unjoined_slot(credential: &ImportedCredential) -> bool {
    credential.kind == CredentialKind::AccessKey && credential.is_report_slot()
}

fn fill_slot(slot: &mut ImportedCredential, key: &AccessKey) {
    slot.id = key.access_key_id.clone();
    if key.created_at.is_some() {
        slot.created_at = key.created_at;
    }
    // The listing is the more current of the two about whether a key is active.
    slot.active = key.active;
}
