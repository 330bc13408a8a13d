//! `csv`: a generic CSV for sources without an importer of their own (a spreadsheet kept by
//! hand, a script's output). RFC 4180 CSV, UTF-8 (a byte-order mark is allowed), one header
//! row naming the columns below in any order; unknown columns are refused so that a misspelt
//! `owner` cannot silently leave identities orphaned.
//!
//! | column | required | meaning |
//! |---|---|---|
//! | `kind` | yes | `agent`, `service_account`, `api_key`, `oauth_app`, `token`, `certificate`, `webhook`, `workload` |
//! | `name` | yes | the name the source shows |
//! | `external_id` | yes | the source's stable id; rows sharing `kind` and `external_id` are one identity with several credentials |
//! | `owner` | no | the owner's email (or another name to match); empty: orphaned |
//! | `environment` | no | `prod`/`production`, `staging`/`stage`, `dev`/`development` |
//! | `labels` | no | `key=value` pairs separated by `;` |
//! | `created_at` | no | when the identity was created (RFC 3339) |
//! | `credential_id` | no | the key or token id (never the secret); empty: the row adds no credential |
//! | `credential_created_at`, `last_rotated_at`, `last_used_at`, `expires_at` | no | RFC 3339 |
//! | `active` | no | `true` (the default) or `false` |
//! | `managed_by` | no | `user` or `system` |
//! | `fingerprint` | no | a public fingerprint of the credential |
//! | `entitlements` | no | normalised entitlement strings separated by `;` |

use std::collections::BTreeMap;
use std::str::FromStr;

use warden_core::{IdentityKind, Labels};

use crate::aws_credential_report::csv_error;
use crate::error::{ErrorContext, ImportError, Location, quote};
use crate::model::{
    CredentialKind, Entitlement, ImportBatch, ImportedCredential, ImportedIdentity, ManagedBy,
    Provenance, SourceFormat,
};
use crate::text::{decode, environment_hint, parse_time};

const FORMAT: SourceFormat = SourceFormat::Csv;

/// Every column the format knows, in the documented order.
pub const COLUMNS: &[&str] = &[
    "kind",
    "name",
    "external_id",
    "owner",
    "environment",
    "labels",
    "created_at",
    "credential_id",
    "credential_created_at",
    "last_rotated_at",
    "last_used_at",
    "expires_at",
    "active",
    "managed_by",
    "fingerprint",
    "entitlements",
];
const REQUIRED: &[&str] = &["kind", "name", "external_id"];
const FIX: &str = "see the generic CSV columns in the warden-import documentation";

pub fn parse(file: &str, bytes: &[u8]) -> Result<ImportBatch, ImportError> {
    let ctx = ErrorContext::new(file, FORMAT);
    let text = decode(&ctx, bytes)?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(text.as_bytes());
    let header = reader
        .headers()
        .map_err(|error| csv_error(&ctx, &error, 0))?
        .clone();
    let columns = header_columns(&ctx, &header)?;

    let mut identities: Vec<ImportedIdentity> = Vec::new();
    let mut index: BTreeMap<(IdentityKind, String), usize> = BTreeMap::new();
    let mut record = csv::StringRecord::new();
    let mut row = 0u64;
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(error) => return Err(csv_error(&ctx, &error, row + 1)),
        }
        row += 1;
        let line = record.position().map_or(0, csv::Position::line);
        let cells = Cells {
            ctx: &ctx,
            record: &record,
            columns: &columns,
            location: Location::Row { row, line },
        };
        let identity = cells.identity()?;
        let key = (identity.kind, identity.external_id.clone());
        match index.get(&key) {
            Some(&at) => {
                let existing = &mut identities[at];
                if existing.name != identity.name {
                    return Err(cells.error(
                        "name",
                        format!(
                            "{} differs from {} given earlier for the same external_id",
                            quote(&identity.name),
                            quote(&existing.name)
                        ),
                    ));
                }
                existing.credentials.extend(identity.credentials);
                existing.entitlements.extend(identity.entitlements);
            }
            None => {
                index.insert(key, identities.len());
                identities.push(identity);
            }
        }
    }
    Ok(ImportBatch {
        source: FORMAT,
        full_export: false,
        generated_at: None,
        identities,
    })
}

fn header_columns(
    ctx: &ErrorContext<'_>,
    header: &csv::StringRecord,
) -> Result<BTreeMap<&'static str, usize>, ImportError> {
    let location = Location::Row { row: 0, line: 1 };
    let mut columns = BTreeMap::new();
    for (position, name) in header.iter().enumerate() {
        let name = name.trim();
        let Some(known) = COLUMNS.iter().find(|column| **column == name) else {
            return Err(ctx.error(
                location,
                Some(name),
                "the header names an unknown column",
                format!("use only these columns: {}", COLUMNS.join(", ")),
            ));
        };
        if columns.insert(*known, position).is_some() {
            return Err(ctx.error(
                location,
                Some(name),
                "the header names the column twice",
                "keep one of them",
            ));
        }
    }
    for required in REQUIRED {
        if !columns.contains_key(required) {
            return Err(ctx.error(
                location,
                Some(required),
                "the header lacks a required column",
                format!("the columns kind, name and external_id are required; {FIX}"),
            ));
        }
    }
    Ok(columns)
}

struct Cells<'a> {
    ctx: &'a ErrorContext<'a>,
    record: &'a csv::StringRecord,
    columns: &'a BTreeMap<&'static str, usize>,
    location: Location,
}

impl Cells<'_> {
    fn error(&self, field: &str, problem: impl Into<String>) -> ImportError {
        self.ctx
            .error(self.location.clone(), Some(field), problem, FIX)
    }

    fn get(&self, column: &str) -> Option<&str> {
        self.columns
            .get(column)
            .and_then(|at| self.record.get(*at))
            .map(str::trim)
            .filter(|value| !value.is_empty())
    }

    fn required(&self, column: &str) -> Result<&str, ImportError> {
        self.get(column)
            .ok_or_else(|| self.error(column, "the cell is empty"))
    }

    fn time(&self, column: &str) -> Result<Option<warden_core::Timestamp>, ImportError> {
        self.get(column)
            .map(|value| parse_time(self.ctx, &self.location, column, value))
            .transpose()
    }

    fn identity(&self) -> Result<ImportedIdentity, ImportError> {
        let kind_text = self.required("kind")?;
        let kind = IdentityKind::from_str(kind_text).map_err(|_| {
            let kinds: Vec<&str> = IdentityKind::ALL.iter().map(|k| k.as_str()).collect();
            self.error(
                "kind",
                format!("{} is not one of: {}", quote(kind_text), kinds.join(", ")),
            )
        })?;
        let environment_hint = match self.get("environment") {
            None => None,
            Some(value) => Some(environment_hint(value).ok_or_else(|| {
                self.error(
                    "environment",
                    format!("{} is not prod, staging or dev", quote(value)),
                )
            })?),
        };
        let provenance = Provenance {
            file: self.ctx.file.to_string(),
            location: self.location.clone(),
            via: None,
        };
        let entitlements = self
            .get("entitlements")
            .into_iter()
            .flat_map(|cell| cell.split(';'))
            .map(str::trim)
            .filter(|value| !value.is_empty())
            .map(|value| Entitlement {
                value: value.to_string(),
                scope: None,
                provenance: provenance.clone(),
            })
            .collect();
        Ok(ImportedIdentity {
            kind,
            name: self.required("name")?.to_string(),
            external_id: self.required("external_id")?.to_string(),
            owner_hint: self.get("owner").map(str::to_string),
            environment_hint,
            labels: self.labels()?,
            created_at: self.time("created_at")?,
            credentials: self.credential()?.into_iter().collect(),
            entitlements,
            attributes: Default::default(),
            origin: provenance,
        })
    }

    fn labels(&self) -> Result<Labels, ImportError> {
        let mut labels = Labels::new();
        for pair in self
            .get("labels")
            .into_iter()
            .flat_map(|cell| cell.split(';'))
        {
            let pair = pair.trim();
            if pair.is_empty() {
                continue;
            }
            let Some((key, value)) = pair.split_once('=') else {
                return Err(self.error("labels", format!("{} is not key=value", quote(pair))));
            };
            labels.insert(key.trim().to_string(), value.trim().to_string());
        }
        Ok(labels)
    }

    fn credential(&self) -> Result<Option<ImportedCredential>, ImportError> {
        let Some(id) = self.get("credential_id") else {
            return Ok(None);
        };
        let active = match self.get("active") {
            None => true,
            Some(value) if value.eq_ignore_ascii_case("true") => true,
            Some(value) if value.eq_ignore_ascii_case("false") => false,
            Some(value) => {
                return Err(self.error("active", format!("{} is not true or false", quote(value))));
            }
        };
        let managed_by = match self.get("managed_by") {
            None => None,
            Some("user") => Some(ManagedBy::User),
            Some("system") => Some(ManagedBy::System),
            Some(value) => {
                return Err(self.error(
                    "managed_by",
                    format!("{} is not user or system", quote(value)),
                ));
            }
        };
        let mut credential = ImportedCredential::new(CredentialKind::Other, id, active);
        credential.created_at = self.time("credential_created_at")?;
        credential.last_rotated_at = self.time("last_rotated_at")?;
        credential.last_used_at = self.time("last_used_at")?;
        credential.expires_at = self.time("expires_at")?;
        credential.managed_by = managed_by;
        credential.fingerprint = self.get("fingerprint").map(str::to_string);
        Ok(Some(credential))
    }
}
