//! `github-pats`: the JSON of GitHub's REST API "List fine-grained personal access tokens with
//! access to organization resources" (`GET /orgs/{org}/personal-access-tokens`), as
//! `gh api --paginate /orgs/ORG/personal-access-tokens` writes it (pages one after another,
//! each a JSON list).
//!
//! Documented shape of an entry: `id` (the grant), `owner` (a user: `login`, `id`, `type`),
//! `repository_selection` (`none` | `all` | `subset`), `repositories_url`, `permissions`
//! (`{"organization": {NAME: LEVEL}, "repository": {NAME: LEVEL}, "other": {…}}`, levels
//! `read`, `write`, `admin`), `access_granted_at`, `token_id`, `token_name`,
//! `token_expired`, `token_expires_at` (null when it never expires), `token_last_used_at`.
//!
//! One identity of kind `token` per entry, external id the `token_id`, owner hint the owner's
//! login. Entitlements: `github:organization/NAME:LEVEL`, `github:repository/NAME:LEVEL`
//! (and `github:other/…`), plus `github:repository_selection/all|subset|none`.

use warden_core::IdentityKind;

use crate::error::{ErrorContext, ImportError};
use crate::json::{Node, parse_values};
use crate::model::{
    AttributeValue, CredentialKind, Entitlement, ImportBatch, ImportedCredential, ImportedIdentity,
    Provenance, SourceFormat, attribute,
};
use crate::text::decode;

const FORMAT: SourceFormat = SourceFormat::GithubPats;
const FIX: &str =
    "pass the output of `gh api --paginate /orgs/ORG/personal-access-tokens` unchanged";
const LEVELS: &[&str] = &["read", "write", "admin"];

pub fn parse(file: &str, bytes: &[u8]) -> Result<ImportBatch, ImportError> {
    let ctx = ErrorContext::new(file, FORMAT);
    let text = decode(&ctx, bytes)?;
    let pages = parse_values(&ctx, text, FIX)?;
    let several = pages.len() > 1;
    let mut identities = Vec::new();
    for (index, page) in pages.iter().enumerate() {
        let root = if several {
            format!("$<{index}>")
        } else {
            "$".to_string()
        };
        for entry in Node::root(&ctx, page, root).items(FIX)? {
            identities.push(read_token(&entry)?);
        }
    }
    Ok(ImportBatch {
        source: FORMAT,
        // The listing is every token granted to the organisation (all pages, with --paginate).
        full_export: true,
        generated_at: None,
        identities,
    })
}

fn read_token(entry: &Node<'_>) -> Result<ImportedIdentity, ImportError> {
    let token_id = entry.required_id("token_id", FIX)?;
    let name = entry.required_str("token_name", FIX)?;
    let provenance = Provenance {
        file: entry.ctx.file.to_string(),
        location: entry.location(),
        via: None,
    };
    let mut attributes = std::collections::BTreeMap::new();
    let owner = entry.child("owner", FIX)?;
    let owner_hint = match &owner {
        Some(owner) => Some(owner.required_str("login", FIX)?.to_string()),
        None => None,
    };
    if let Some(owner_type) = owner
        .as_ref()
        .map(|owner| owner.optional_str("type", FIX))
        .transpose()?
        .flatten()
    {
        attributes.insert(
            attribute::OWNER_TYPE.to_string(),
            AttributeValue::Text(owner_type.to_string()),
        );
    }
    if entry.get("id").is_some() {
        attributes.insert(
            attribute::GRANT_ID.to_string(),
            AttributeValue::Text(entry.required_id("id", FIX)?),
        );
    }
    let granted_at = entry.optional_time("access_granted_at", FIX)?;
    if let Some(granted_at) = granted_at {
        attributes.insert(
            attribute::ACCESS_GRANTED_AT.to_string(),
            AttributeValue::Time(granted_at),
        );
    }

    let mut entitlements = Vec::new();
    let entitle = |value: String| Entitlement {
        value,
        scope: None,
        provenance: provenance.clone(),
    };
    match entry.optional_str("repository_selection", FIX)? {
        Some(selection @ ("all" | "subset" | "none")) => {
            entitlements.push(entitle(format!("github:repository_selection/{selection}")));
        }
        Some(other) => {
            return Err(entry.text_value_error(
                "repository_selection",
                other,
                "all, subset or none",
                FIX,
            ));
        }
        None => {}
    }
    if let Some(permissions) = entry.child("permissions", FIX)? {
        for category in ["organization", "repository", "other"] {
            let Some(granted) = permissions.child(category, FIX)? else {
                continue;
            };
            let Some(map) = granted.value.as_object() else {
                continue;
            };
            // Sorted here: serde_json keeps insertion order when another crate in the build
            // turns on `preserve_order`, and the output must not depend on that.
            let mut granted_permissions: Vec<_> = map.iter().collect();
            granted_permissions.sort_by(|a, b| a.0.cmp(b.0));
            for (permission, level) in granted_permissions {
                let level = match level.as_str() {
                    Some(level) if LEVELS.contains(&level) => level,
                    _ => {
                        return Err(granted.text_value_error(
                            permission,
                            &level.to_string(),
                            "read, write or admin",
                            FIX,
                        ));
                    }
                };
                entitlements.push(entitle(format!("github:{category}/{permission}:{level}")));
            }
        }
    }

    let expired = entry.optional_bool("token_expired", FIX)?.unwrap_or(false);
    let mut credential = ImportedCredential::new(
        CredentialKind::PersonalAccessToken,
        token_id.clone(),
        !expired,
    );
    // The export has no creation time; the grant is a lower bound on the token's age, which
    // is the safe side for "older than" findings.
    credential.created_at = granted_at;
    credential.expires_at = entry.optional_time("token_expires_at", FIX)?;
    credential.last_used_at = entry.optional_time("token_last_used_at", FIX)?;

    Ok(ImportedIdentity {
        kind: IdentityKind::Token,
        name: name.to_string(),
        external_id: token_id,
        owner_hint,
        environment_hint: None,
        labels: Default::default(),
        created_at: granted_at,
        credentials: vec![credential],
        entitlements,
        attributes,
        origin: provenance,
    })
}
