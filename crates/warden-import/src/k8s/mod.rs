//! `k8s`: Kubernetes objects as `kubectl get … -o yaml` writes them: one object, a
//! `kind: List` with `items` (what kubectl writes for several objects), or several YAML
//! documents separated by `---` (what people concatenate and what `kubectl get -o yaml` of
//! a manifest set gives). JSON (`-o json`) is YAML too and reads the same.
//!
//! Read (Kubernetes API reference, core/v1 and rbac.authorization.k8s.io/v1):
//! - `ServiceAccount`: an identity of kind `service_account`, external id `namespace/name`;
//!   its labels; an `owner` label or annotation (or one ending in `/owner`) as owner hint;
//!   an `environment`/`env` label, or else the namespace name, as environment hint.
//! - `Secret` of `type: kubernetes.io/service-account-token`: a legacy, long-lived token of the
//!   ServiceAccount named by its `kubernetes.io/service-account.name` annotation; it becomes a
//!   credential (id `namespace/secret-name`, never the token).
//! - `Role`, `ClusterRole`: their rules, read for wildcards.
//! - `RoleBinding`, `ClusterRoleBinding`: resolved to the ServiceAccounts among their subjects
//!   (see [`rbac`] for the namespace rules and the entitlement strings).
//!
//! Other kinds are skipped. Objects are checked for the fields the API server requires, so a
//! hand-edited file with a nameless object is refused rather than half-read.

mod objects;
mod rbac;

use std::collections::BTreeMap;

use warden_core::{IdentityKind, Timestamp};

use crate::error::{ErrorContext, ImportError, Location};
use crate::model::{
    AttributeValue, CredentialKind, ImportBatch, ImportedCredential, ImportedIdentity, Provenance,
    SourceFormat, attribute,
};
use crate::text::{decode, environment_hint, parse_time};
use objects::Object;

const FORMAT: SourceFormat = SourceFormat::K8s;
const SERVICE_ACCOUNT_TOKEN: &str = "kubernetes.io/service-account-token";
const TOKEN_OWNER_ANNOTATION: &str = "kubernetes.io/service-account.name";
const FIX: &str = "pass the output of `kubectl get serviceaccounts,secrets,roles,clusterroles,rolebindings,clusterrolebindings -A -o yaml` unchanged";

/// An object with where it was found.
pub(crate) struct Located {
    pub object: Object,
    pub location: Location,
}

/// Parses one file of Kubernetes objects.
pub fn parse(file: &str, bytes: &[u8]) -> Result<ImportBatch, ImportError> {
    let ctx = ErrorContext::new(file, FORMAT);
    let text = decode(&ctx, bytes)?;
    let objects = read_objects(&ctx, text)?;
    let mut accounts = Accounts::default();
    let mut roles = rbac::Roles::default();
    let mut bindings = Vec::new();
    for located in &objects {
        let kind = located.object.kind.as_deref().unwrap_or_default();
        match kind {
            "ServiceAccount" => accounts.add_account(&ctx, located)?,
            "Secret" if located.object.secret_type.as_deref() == Some(SERVICE_ACCOUNT_TOKEN) => {
                accounts.add_token(&ctx, located)?;
            }
            "Role" | "ClusterRole" => roles.add(&ctx, located)?,
            "RoleBinding" | "ClusterRoleBinding" => bindings.push(located),
            _ => {}
        }
    }
    for binding in bindings {
        rbac::apply_binding(&ctx, binding, &roles, &mut accounts)?;
    }
    let mut identities: Vec<ImportedIdentity> = accounts.by_id.into_values().collect();
    for identity in &mut identities {
        identity.entitlements.sort();
        identity
            .entitlements
            .dedup_by(|a, b| a.value == b.value && a.scope == b.scope);
    }
    Ok(ImportBatch {
        source: FORMAT,
        // A file may hold one namespace or one kind only; the caller says when it is all.
        full_export: false,
        generated_at: None,
        identities,
    })
}

/// Splits the stream into documents and flattens lists, keeping each object's place.
fn read_objects(ctx: &ErrorContext<'_>, text: &str) -> Result<Vec<Located>, ImportError> {
    let mut objects = Vec::new();
    for (document, (first_line, body)) in split_documents(text).into_iter().enumerate() {
        let document = document + 1;
        let object: Object = serde_saphyr::from_str(body).map_err(|error| {
            let line = error
                .location()
                .map_or(first_line, |at| first_line + at.line().saturating_sub(1));
            let plain = serde_saphyr::render_options! { snippets: serde_saphyr::SnippetMode::Off };
            ctx.error(
                Location::Line { line },
                None,
                format!(
                    "document {document} is not a Kubernetes object: {}",
                    error.without_snippet().render_with_options(plain)
                ),
                FIX,
            )
        })?;
        match object.items {
            Some(items) if is_list(object.kind.as_deref()) => {
                for (item, object) in items.into_iter().enumerate() {
                    objects.push(Located {
                        object,
                        location: Location::Document {
                            document,
                            item: Some(item),
                        },
                    });
                }
            }
            items => {
                let object = Object { items, ..object };
                if object.kind.is_none() {
                    return Err(ctx.error(
                        Location::Document {
                            document,
                            item: None,
                        },
                        Some("kind"),
                        "the document has no kind",
                        FIX,
                    ));
                }
                objects.push(Located {
                    object,
                    location: Location::Document {
                        document,
                        item: None,
                    },
                });
            }
        }
    }
    for located in &objects {
        if located.object.kind.is_none() {
            return Err(ctx.error(
                located.location.clone(),
                Some("kind"),
                "the object has no kind",
                FIX,
            ));
        }
    }
    Ok(objects)
}

fn is_list(kind: Option<&str>) -> bool {
    kind.is_some_and(|kind| kind == "List" || kind.ends_with("List"))
}

/// The non-empty documents of a YAML stream with the line each starts on. A document starts
/// after a `---` line (optionally followed by content) and ends at `...` or the next `---`.
fn split_documents(text: &str) -> Vec<(u64, &str)> {
    fn push<'t>(body: &'t str, line: u64, documents: &mut Vec<(u64, &'t str)>) {
        let has_content = body
            .lines()
            .any(|line| !line.trim().is_empty() && !line.trim_start().starts_with('#'));
        if has_content {
            documents.push((line, body));
        }
    }
    let mut documents = Vec::new();
    let mut start = 0usize;
    let mut start_line = 1u64;
    let mut offset = 0usize;
    for (line_number, line) in (1u64..).zip(text.split_inclusive('\n')) {
        let bare = line.trim_end();
        let is_start = bare == "---" || bare.starts_with("--- ");
        let is_end = bare == "...";
        if is_start || is_end {
            push(&text[start..offset], start_line, &mut documents);
            // Content after `--- ` on the marker line belongs to the new document.
            start = if is_start && bare.len() > 3 {
                offset + 4
            } else {
                offset + line.len()
            };
            start_line = if is_start && bare.len() > 3 {
                line_number
            } else {
                line_number + 1
            };
        }
        offset += line.len();
    }
    push(&text[start..], start_line, &mut documents);
    documents
}

/// The ServiceAccounts found so far, by `namespace/name`.
#[derive(Default)]
pub(crate) struct Accounts {
    pub by_id: BTreeMap<String, ImportedIdentity>,
}

pub(crate) fn name_of<'a>(
    ctx: &ErrorContext<'_>,
    located: &'a Located,
) -> Result<&'a str, ImportError> {
    match located.object.metadata.name.as_deref() {
        Some(name) if !name.trim().is_empty() => Ok(name),
        _ => Err(ctx.error(
            located.location.clone(),
            Some("metadata.name"),
            format!(
                "the {} has no name",
                located.object.kind.as_deref().unwrap_or("object")
            ),
            FIX,
        )),
    }
}

/// Namespaced objects without a namespace live in `default`, as kubectl applies them.
pub(crate) fn namespace_of(located: &Located) -> &str {
    match located.object.metadata.namespace.as_deref() {
        Some(namespace) if !namespace.is_empty() => namespace,
        _ => "default",
    }
}

fn created_at(ctx: &ErrorContext<'_>, located: &Located) -> Result<Option<Timestamp>, ImportError> {
    located
        .object
        .metadata
        .creation_timestamp
        .as_deref()
        .map(|text| parse_time(ctx, &located.location, "metadata.creationTimestamp", text))
        .transpose()
}

fn owner_hint(located: &Located) -> Option<String> {
    let metadata = &located.object.metadata;
    let is_owner_key = |key: &str| key == "owner" || key.ends_with("/owner");
    metadata
        .labels
        .iter()
        .chain(metadata.annotations.iter())
        .find(|(key, value)| is_owner_key(key) && !value.trim().is_empty())
        .map(|(_, value)| value.trim().to_string())
}

impl Accounts {
    /// The identity of `namespace/name`, created bare if the export names it only from a
    /// token Secret or a binding.
    pub fn entry(
        &mut self,
        ctx: &ErrorContext<'_>,
        namespace: &str,
        name: &str,
        origin: &Location,
    ) -> &mut ImportedIdentity {
        let external_id = format!("{namespace}/{name}");
        self.by_id
            .entry(external_id.clone())
            .or_insert_with(|| ImportedIdentity {
                kind: IdentityKind::ServiceAccount,
                name: name.to_string(),
                external_id,
                owner_hint: None,
                environment_hint: environment_hint(namespace),
                labels: Default::default(),
                created_at: None,
                credentials: Vec::new(),
                entitlements: Vec::new(),
                attributes: Default::default(),
                origin: Provenance {
                    file: ctx.file.to_string(),
                    location: origin.clone(),
                    via: None,
                },
            })
    }

    fn add_account(
        &mut self,
        ctx: &ErrorContext<'_>,
        located: &Located,
    ) -> Result<(), ImportError> {
        let name = name_of(ctx, located)?;
        let namespace = namespace_of(located);
        let created_at = created_at(ctx, located)?;
        let metadata = &located.object.metadata;
        let environment = ["environment", "env"]
            .iter()
            .find_map(|key| metadata.labels.get(*key))
            .and_then(|value| environment_hint(value))
            .or_else(|| environment_hint(namespace));
        let identity = self.entry(ctx, namespace, name, &located.location);
        identity.origin.location = located.location.clone();
        identity.labels = metadata.labels.clone();
        identity.owner_hint = owner_hint(located);
        identity.environment_hint = environment;
        identity.created_at = created_at;
        if let Some(automount) = located.object.automount_service_account_token {
            identity.attributes.insert(
                attribute::AUTOMOUNT_TOKEN.to_string(),
                AttributeValue::Flag(automount),
            );
        }
        Ok(())
    }

    fn add_token(&mut self, ctx: &ErrorContext<'_>, located: &Located) -> Result<(), ImportError> {
        let secret = name_of(ctx, located)?;
        let namespace = namespace_of(located);
        let account = match located
            .object
            .metadata
            .annotations
            .get(TOKEN_OWNER_ANNOTATION)
        {
            Some(account) if !account.trim().is_empty() => account.trim(),
            _ => {
                return Err(ctx.error(
                    located.location.clone(),
                    Some("metadata.annotations.kubernetes.io/service-account.name"),
                    format!("the token Secret `{namespace}/{secret}` names no ServiceAccount"),
                    FIX,
                ));
            }
        };
        let created = created_at(ctx, located)?;
        let mut credential = ImportedCredential::new(
            CredentialKind::TokenSecret,
            format!("{namespace}/{secret}"),
            true,
        );
        credential.created_at = created;
        self.entry(ctx, namespace, account, &located.location)
            .credentials
            .push(credential);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_split_on_markers_with_their_first_line() {
        let text = "# leading comment\n---\nkind: A\n--- \n---\nkind: B\n...\n--- kind: C\n";
        let documents = split_documents(text);
        assert_eq!(
            documents,
            vec![(3, "kind: A\n"), (6, "kind: B\n"), (8, "kind: C\n")]
        );
    }
}
