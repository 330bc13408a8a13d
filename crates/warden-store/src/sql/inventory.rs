//! The external inventory: applying an import in one transaction, listing and reading
//! imported identities, assigning their owners, and reading them for an evaluation.

use std::collections::{HashMap, HashSet};

use futures::TryStreamExt as _;
use sqlx::any::AnyRow;
use sqlx::{Any, AnyConnection, AnyPool, AssertSqlSafe, Row, Transaction};
use uuid::Uuid;
use warden_audit::{Actor, EventKind, NewEvent};
use warden_core::{DomainError, Environment, OwnerRef, OwnerStatus, Page, PageRequest, Timestamp};
use warden_import::{ImportBatch, ImportedIdentity};

use super::Dialect;
use super::SqlStore;
use super::owners::{self, next_cursor};
use super::query::{Value, Where, placeholders};
use crate::error::{StoreError, StoreResult};
use crate::inventory::{
    ImportOptions, ImportSummary, ImportedFilter, ImportedRecord, InventoryItem, PresenceStatus,
    SourceSummary, validate_source_name,
};

const RECORD_COLUMNS: &str = "i.id, i.source, i.format, i.kind, i.external_id, i.name, i.owner_id, \
     i.owner_assigned, i.environment, i.status, i.record, i.first_seen, i.last_seen, i.gone_at, \
     i.suspended_at, o.email AS owner_email";
pub(super) const RECORD_FROM: &str =
    " FROM imported_identities i LEFT JOIN owners o ON o.id = i.owner_id";

/// Rows per multi-row INSERT of credentials: 8 values each, well inside both dialects' limits.
const CREDENTIAL_ROWS_PER_INSERT: usize = 200;

/// A registered owner, as owner matching sees it.
#[derive(Debug, Clone)]
struct KnownOwner {
    id: String,
    email: String,
}

/// An imported identity already stored for the source being imported.
struct Existing {
    id: String,
    owner_id: Option<String>,
    owner_assigned: bool,
    status: String,
    environment: Option<String>,
    record: String,
}

pub(super) async fn apply(
    store: &SqlStore,
    actor: &Actor,
    batches: Vec<ImportBatch>,
    options: ImportOptions,
    now: Timestamp,
) -> StoreResult<ImportSummary> {
    if let Some(source) = &options.source {
        validate_source_name(source)?;
    }
    let mut tx = store.begin_write().await?;
    let owners = known_owners(&mut tx).await?;
    let default_owner = match &options.default_owner {
        Some(reference) => {
            let owner = owners::fetch(&mut tx, reference, "").await?;
            owner.ensure_active()?;
            Some(owner.id.to_string())
        }
        None => None,
    };
    let mut summary = ImportSummary {
        dry_run: options.dry_run,
        sources: Vec::new(),
        changed: Vec::new(),
    };
    let mut events = Vec::new();
    let mut sources_seen = HashSet::new();
    for batch in batches {
        let source = options
            .source
            .clone()
            .unwrap_or_else(|| batch.source.as_str().to_string());
        if !sources_seen.insert(source.clone()) {
            return Err(DomainError::invalid(
                "source",
                format!("two files of this import both fill source `{source}`; import them one source at a time, or name each with --source"),
            )
            .into());
        }
        let full_export = options.full_export.unwrap_or(batch.full_export);
        let mut counts = SourceSummary {
            source: source.clone(),
            format: batch.source.as_str().to_string(),
            full_export,
            identities: 0,
            credentials: 0,
            created: 0,
            updated: 0,
            unchanged: 0,
            gone: 0,
            orphaned: 0,
        };
        let mut existing = existing_for_source(&mut tx, &source).await?;
        let mut seen: HashSet<(String, String)> = HashSet::new();
        let mut untouched = Vec::new();
        for mut identity in batch.identities {
            if identity.environment_hint.is_none() {
                identity.environment_hint = options.environment;
            }
            counts.identities += 1;
            counts.credentials += identity.credentials.len() as u64;
            let key = (
                identity.kind.as_str().to_string(),
                identity.external_id.clone(),
            );
            if !seen.insert(key.clone()) {
                return Err(duplicate(&identity));
            }
            let before = existing.remove(&key);
            let matched = identity
                .owner_hint
                .as_deref()
                .and_then(|hint| match_owner(&owners, hint));
            let owner_id = match &before {
                Some(before) if before.owner_assigned && before.owner_id.is_some() => {
                    before.owner_id.clone()
                }
                _ => matched.or_else(|| default_owner.clone()),
            };
            if owner_id.is_none() {
                counts.orphaned += 1;
            }
            let environment = identity.environment_hint.map(Environment::as_str);
            let record = serde_json::to_string(&identity)
                .map_err(|error| StoreError::Corrupt(error.to_string()))?;
            match before {
                None => {
                    let id = Uuid::now_v7().to_string();
                    insert_identity(
                        &mut tx,
                        &id,
                        &source,
                        &batch.source.to_string(),
                        &identity,
                        owner_id.as_deref(),
                        environment,
                        &record,
                        now,
                    )
                    .await?;
                    insert_credentials(&mut tx, store.dialect, &id, &identity).await?;
                    counts.created += 1;
                    summary.changed.push(id);
                }
                Some(before) => {
                    let same = before.record == record
                        && before.owner_id == owner_id
                        && before.status == "present"
                        && before.environment.as_deref() == environment;
                    if same {
                        untouched.push(before.id);
                        counts.unchanged += 1;
                    } else {
                        update_identity(
                            &mut tx,
                            &before.id,
                            &identity,
                            owner_id.as_deref(),
                            before.owner_assigned && owner_id == before.owner_id,
                            environment,
                            &record,
                            now,
                        )
                        .await?;
                        sqlx::query("DELETE FROM imported_credentials WHERE identity_id = $1")
                            .bind(before.id.clone())
                            .execute(&mut *tx)
                            .await?;
                        insert_credentials(&mut tx, store.dialect, &before.id, &identity).await?;
                        counts.updated += 1;
                        summary.changed.push(before.id);
                    }
                }
            }
        }
        touch(&mut tx, store.dialect, &untouched, now).await?;
        if full_export {
            for (_, before) in existing.into_iter().filter(|(_, e)| e.status == "present") {
                sqlx::query(
                    "UPDATE imported_identities SET status = 'gone', gone_at = $1, updated_at = $1, \
                     revision = revision + 1 WHERE id = $2",
                )
                .bind(now.as_millis())
                .bind(before.id.clone())
                .execute(&mut *tx)
                .await?;
                counts.gone += 1;
                summary.changed.push(before.id);
            }
        }
        events.push(
            NewEvent::new(EventKind::ImportApplied, actor.clone())
                .target("import_source", source.clone())
                .detail("format", counts.format.clone())
                .detail("identities", counts.identities.to_string())
                .detail("created", counts.created.to_string())
                .detail("updated", counts.updated.to_string())
                .detail("unchanged", counts.unchanged.to_string())
                .detail("gone", counts.gone.to_string())
                .detail("orphaned", counts.orphaned.to_string()),
        );
        summary.sources.push(counts);
    }
    if options.dry_run {
        tx.rollback().await?;
        summary.changed.clear();
        return Ok(summary);
    }
    store.audit_in_tx(&mut tx, events, now).await?;
    tx.commit().await?;
    Ok(summary)
}

fn duplicate(identity: &ImportedIdentity) -> StoreError {
    DomainError::invalid(
        "external_id",
        format!(
            "{} `{}` appears twice in this import ({}); remove the repeated entry",
            identity.kind, identity.external_id, identity.origin.file
        ),
    )
    .into()
}

async fn known_owners(connection: &mut AnyConnection) -> StoreResult<Vec<KnownOwner>> {
    let rows = sqlx::query("SELECT id, email FROM owners")
        .fetch_all(connection)
        .await?;
    rows.iter()
        .map(|row| {
            Ok(KnownOwner {
                id: row.try_get("id")?,
                email: row.try_get("email")?,
            })
        })
        .collect()
}

/// The registered owner a source's hint names: by email (any case), or by the part of an
/// email before `@` when the source names a login (`alice` for `alice@example.com`) and only
/// one owner has it. Offboarded owners still match: the rule that reports them needs them.
fn match_owner(owners: &[KnownOwner], hint: &str) -> Option<String> {
    let hint = hint.trim().to_ascii_lowercase();
    if hint.is_empty() {
        return None;
    }
    if let Some(owner) = owners.iter().find(|o| o.email.to_ascii_lowercase() == hint) {
        return Some(owner.id.clone());
    }
    if hint.contains('@') {
        return None;
    }
    let mut by_login = owners.iter().filter(|o| {
        o.email
            .split('@')
            .next()
            .is_some_and(|local| local.eq_ignore_ascii_case(&hint))
    });
    match (by_login.next(), by_login.next()) {
        (Some(owner), None) => Some(owner.id.clone()),
        _ => None,
    }
}

async fn existing_for_source(
    connection: &mut AnyConnection,
    source: &str,
) -> StoreResult<HashMap<(String, String), Existing>> {
    let mut rows = sqlx::query(
        "SELECT id, kind, external_id, owner_id, owner_assigned, status, environment, record \
         FROM imported_identities WHERE source = $1",
    )
    .bind(source.to_string())
    .fetch(connection);
    let mut existing = HashMap::new();
    while let Some(row) = rows.try_next().await? {
        let assigned: i64 = row.try_get("owner_assigned")?;
        existing.insert(
            (row.try_get("kind")?, row.try_get("external_id")?),
            Existing {
                id: row.try_get("id")?,
                owner_id: row.try_get("owner_id")?,
                owner_assigned: assigned != 0,
                status: row.try_get("status")?,
                environment: row.try_get("environment")?,
                record: row.try_get("record")?,
            },
        );
    }
    Ok(existing)
}

#[allow(clippy::too_many_arguments)]
async fn insert_identity(
    tx: &mut Transaction<'static, Any>,
    id: &str,
    source: &str,
    format: &str,
    identity: &ImportedIdentity,
    owner_id: Option<&str>,
    environment: Option<&str>,
    record: &str,
    now: Timestamp,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO imported_identities (id, source, format, kind, external_id, name, owner_id, \
         owner_hint, owner_assigned, environment, status, record, first_seen, last_seen, gone_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, $9, 'present', $10, $11, $11, NULL, $11)",
    )
    .bind(id.to_string())
    .bind(source.to_string())
    .bind(format.to_string())
    .bind(identity.kind.as_str())
    .bind(identity.external_id.clone())
    .bind(identity.name.clone())
    .bind(owner_id.map(str::to_string))
    .bind(identity.owner_hint.clone())
    .bind(environment.map(str::to_string))
    .bind(record.to_string())
    .bind(now.as_millis())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn update_identity(
    tx: &mut Transaction<'static, Any>,
    id: &str,
    identity: &ImportedIdentity,
    owner_id: Option<&str>,
    owner_assigned: bool,
    environment: Option<&str>,
    record: &str,
    now: Timestamp,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE imported_identities SET name = $1, owner_id = $2, owner_hint = $3, owner_assigned = $4, \
         environment = $5, status = 'present', record = $6, last_seen = $7, gone_at = NULL, updated_at = $7, \
         revision = revision + 1 WHERE id = $8",
    )
    .bind(identity.name.clone())
    .bind(owner_id.map(str::to_string))
    .bind(identity.owner_hint.clone())
    .bind(i64::from(owner_assigned))
    .bind(environment.map(str::to_string))
    .bind(record.to_string())
    .bind(now.as_millis())
    .bind(id.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Records that the identities were seen again, unchanged.
async fn touch(
    tx: &mut Transaction<'static, Any>,
    dialect: Dialect,
    ids: &[String],
    now: Timestamp,
) -> StoreResult<()> {
    for chunk in ids.chunks(500) {
        let sql = format!(
            "UPDATE imported_identities SET last_seen = {} WHERE id IN ({})",
            placeholders(dialect, 1, 1),
            placeholders(dialect, 2, chunk.len())
        );
        let mut query = sqlx::query(AssertSqlSafe(sql)).bind(now.as_millis());
        for id in chunk {
            query = query.bind(id.clone());
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

async fn insert_credentials(
    tx: &mut Transaction<'static, Any>,
    dialect: Dialect,
    identity_id: &str,
    identity: &ImportedIdentity,
) -> StoreResult<()> {
    // A source may list one credential twice; keep the first. Report slots without a key id
    // are positions on one user, not ids others could share, so they are not searchable.
    let mut seen = HashSet::new();
    let credentials: Vec<_> = identity
        .credentials
        .iter()
        .filter(|c| !c.is_report_slot() && seen.insert(c.id.as_str()))
        .collect();
    for chunk in credentials.chunks(CREDENTIAL_ROWS_PER_INSERT) {
        let rows: Vec<String> = (0..chunk.len())
            .map(|n| format!("({})", placeholders(dialect, n * 8 + 1, 8)))
            .collect();
        let sql = format!(
            "INSERT INTO imported_credentials (identity_id, credential_id, kind, active, created_at, \
             last_used_at, expires_at, fingerprint) VALUES {}",
            rows.join(", ")
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for credential in chunk {
            let kind = serde_json::to_value(credential.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            query = query
                .bind(identity_id.to_string())
                .bind(credential.id.clone())
                .bind(kind)
                .bind(i64::from(credential.active))
                .bind(credential.created_at.map(Timestamp::as_millis))
                .bind(credential.last_used_at.map(Timestamp::as_millis))
                .bind(credential.expires_at.map(Timestamp::as_millis))
                .bind(credential.fingerprint.clone());
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

fn record_row(row: &AnyRow) -> StoreResult<ImportedRecord> {
    let kind: String = row.try_get("kind")?;
    let status: String = row.try_get("status")?;
    let environment: Option<String> = row.try_get("environment")?;
    let owner_id: Option<String> = row.try_get("owner_id")?;
    let assigned: i64 = row.try_get("owner_assigned")?;
    let record: String = row.try_get("record")?;
    let gone_at: Option<i64> = row.try_get("gone_at")?;
    let suspended_at: Option<i64> = row.try_get("suspended_at")?;
    Ok(ImportedRecord {
        id: row.try_get("id")?,
        source: row.try_get("source")?,
        format: row.try_get("format")?,
        kind: kind.parse().map_err(corrupt)?,
        name: row.try_get("name")?,
        external_id: row.try_get("external_id")?,
        owner: row.try_get("owner_email")?,
        orphaned: owner_id.is_none(),
        owner_id,
        owner_assigned: assigned != 0,
        environment: environment
            .map(|e| e.parse())
            .transpose()
            .map_err(corrupt)?,
        status: if status == "gone" {
            PresenceStatus::Gone
        } else {
            PresenceStatus::Present
        },
        first_seen: Timestamp::from_millis(row.try_get("first_seen")?),
        last_seen: Timestamp::from_millis(row.try_get("last_seen")?),
        gone_at: gone_at.map(Timestamp::from_millis),
        suspended_at: suspended_at.map(Timestamp::from_millis),
        record: serde_json::from_str(&record).map_err(corrupt)?,
    })
}

fn corrupt(error: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(error.to_string())
}

pub(super) async fn get(pool: &AnyPool, id: &str) -> StoreResult<ImportedRecord> {
    let sql = format!("SELECT {RECORD_COLUMNS}{RECORD_FROM} WHERE i.id = $1");
    match sqlx::query(AssertSqlSafe(sql))
        .bind(id.to_string())
        .fetch_optional(pool)
        .await?
    {
        Some(row) => record_row(&row),
        None => Err(DomainError::UnknownIdentity(id.to_string()).into()),
    }
}

pub(super) async fn list(
    pool: &AnyPool,
    filter: &ImportedFilter,
    page: &PageRequest,
) -> StoreResult<Page<ImportedRecord>> {
    let mut clauses = Where::default();
    if let Some(source) = &filter.source {
        clauses.and("i.source = ?", [Value::Text(source.clone())]);
    }
    if let Some(kind) = filter.kind {
        clauses.and("i.kind = ?", [Value::Text(kind.as_str().into())]);
    }
    if let Some(status) = filter.status {
        clauses.and("i.status = ?", [Value::Text(status.as_str().into())]);
    }
    match filter.orphaned {
        Some(true) => clauses.and("i.owner_id IS NULL", []),
        Some(false) => clauses.and("i.owner_id IS NOT NULL", []),
        None => {}
    }
    if let Some(owner) = &filter.owner {
        clauses.and(
            "LOWER(o.email) = ?",
            [Value::Text(owner.to_ascii_lowercase())],
        );
    }
    if let Some(after) = &page.after {
        clauses.and("i.id > ?", [Value::Text(after.clone())]);
    }
    let sql = format!(
        "SELECT {RECORD_COLUMNS}{RECORD_FROM}{} ORDER BY i.id LIMIT {}",
        clauses.sql(),
        page.limit + 1
    );
    let rows = clauses.bind_into(sql).fetch_all(pool).await?;
    let mut items = rows
        .iter()
        .map(record_row)
        .collect::<StoreResult<Vec<_>>>()?;
    let next_cursor = next_cursor(&mut items, page.limit, |r| r.id.clone());
    Ok(Page { items, next_cursor })
}

pub(super) async fn reassign(
    store: &SqlStore,
    actor: &Actor,
    id: &str,
    owner: &OwnerRef,
    now: Timestamp,
) -> StoreResult<ImportedRecord> {
    let mut tx = store.begin_write().await?;
    let next = owners::fetch(&mut tx, owner, store.dialect.for_update()).await?;
    next.ensure_active()?;
    let previous: Option<String> = match sqlx::query(
        "SELECT o.email FROM imported_identities i LEFT JOIN owners o ON o.id = i.owner_id WHERE i.id = $1",
    )
    .bind(id.to_string())
    .fetch_optional(&mut *tx)
    .await?
    {
        Some(row) => row.try_get("email")?,
        None => return Err(DomainError::UnknownIdentity(id.to_string()).into()),
    };
    sqlx::query(
        "UPDATE imported_identities SET owner_id = $1, owner_assigned = 1, updated_at = $2, \
         revision = revision + 1 WHERE id = $3",
    )
    .bind(next.id.to_string())
    .bind(now.as_millis())
    .bind(id.to_string())
    .execute(&mut *tx)
    .await?;
    let sql = format!("SELECT {RECORD_COLUMNS}{RECORD_FROM} WHERE i.id = $1");
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(id.to_string())
        .fetch_one(&mut *tx)
        .await?;
    let record = record_row(&row)?;
    let event = NewEvent::new(EventKind::IdentityReassigned, actor.clone())
        .owner(next.email.clone())
        .target_named("imported_identity", record.id.clone(), record.name.clone())
        .detail("kind", record.kind.as_str())
        .detail("source", record.source.clone())
        .detail(
            "previous_owner",
            previous.unwrap_or_else(|| "none".to_string()),
        );
    store.audit_in_tx(&mut tx, vec![event], now).await?;
    tx.commit().await?;
    Ok(record)
}

/// The columns of an [`InventoryItem`], from `imported_identities i` joined with `owners o`.
pub(super) const ITEM_COLUMNS: &str = "i.id, i.record, i.status, i.gone_at, i.revision, \
     o.email AS owner_email, o.status AS owner_status";

pub(super) fn item_row(row: &AnyRow) -> StoreResult<InventoryItem> {
    let record: String = row.try_get("record")?;
    let status: String = row.try_get("status")?;
    let owner_status: Option<String> = row.try_get("owner_status")?;
    let gone_at: Option<i64> = row.try_get("gone_at")?;
    Ok(InventoryItem {
        id: row.try_get("id")?,
        identity: serde_json::from_str(&record).map_err(corrupt)?,
        owner_email: row.try_get("owner_email")?,
        owner_offboarded: owner_status.as_deref() == Some(OwnerStatus::Offboarded.as_str()),
        present: status == "present",
        gone_at: gone_at.map(Timestamp::from_millis),
        revision: row.try_get("revision")?,
    })
}

/// Streams every imported identity to `visit`, so an evaluation never holds all records.
pub(super) async fn scan(
    pool: &AnyPool,
    visit: &mut (dyn FnMut(InventoryItem) + Send),
) -> StoreResult<()> {
    let sql = format!("SELECT {ITEM_COLUMNS}{RECORD_FROM}");
    let mut rows = sqlx::query(AssertSqlSafe(sql)).fetch(pool);
    while let Some(row) = rows.try_next().await? {
        visit(item_row(&row)?);
    }
    Ok(())
}

/// The given identities and every identity sharing a credential id or fingerprint with one
/// of them: what a re-evaluation of those identities must read.
pub(super) async fn with_peers(
    pool: &AnyPool,
    dialect: Dialect,
    ids: &[String],
) -> StoreResult<Vec<InventoryItem>> {
    let mut wanted: HashSet<String> = ids.iter().cloned().collect();
    for chunk in ids.chunks(400) {
        let list = placeholders(dialect, 1, chunk.len());
        let sql = format!(
            "SELECT DISTINCT p.identity_id FROM imported_credentials c \
             JOIN imported_credentials p ON p.credential_id = c.credential_id \
                OR (c.fingerprint IS NOT NULL AND p.fingerprint = c.fingerprint) \
             WHERE c.identity_id IN ({list})"
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for id in chunk {
            query = query.bind(id.clone());
        }
        for row in query.fetch_all(pool).await? {
            wanted.insert(row.try_get("identity_id")?);
        }
    }
    let wanted: Vec<String> = wanted.into_iter().collect();
    let mut items = Vec::with_capacity(wanted.len());
    for chunk in wanted.chunks(400) {
        let sql = format!(
            "SELECT {ITEM_COLUMNS}{RECORD_FROM} WHERE i.id IN ({})",
            placeholders(dialect, 1, chunk.len())
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for id in chunk {
            query = query.bind(id.clone());
        }
        for row in query.fetch_all(pool).await? {
            items.push(item_row(&row)?);
        }
    }
    items.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(items)
}

/// Hands the given imported identities to `visit`, a few hundred read at a time (ids that
/// name none are passed over).
pub(super) async fn visit(
    pool: &AnyPool,
    dialect: Dialect,
    ids: &[String],
    visit: &mut (dyn FnMut(InventoryItem) + Send),
) -> StoreResult<()> {
    for chunk in ids.chunks(400) {
        let sql = format!(
            "SELECT {ITEM_COLUMNS}{RECORD_FROM} WHERE i.id IN ({})",
            placeholders(dialect, 1, chunk.len())
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for id in chunk {
            query = query.bind(id.clone());
        }
        for row in query.fetch_all(pool).await? {
            visit(item_row(&row)?);
        }
    }
    Ok(())
}

/// The imported identities holding a credential whose id or fingerprint is one of
/// `credentials`, sorted.
pub(super) async fn holders(
    pool: &AnyPool,
    dialect: Dialect,
    credentials: &[String],
) -> StoreResult<Vec<String>> {
    let mut holders = HashSet::new();
    for chunk in credentials.chunks(400) {
        let sql = format!(
            "SELECT DISTINCT identity_id FROM imported_credentials \
             WHERE credential_id IN ({}) OR fingerprint IN ({})",
            placeholders(dialect, 1, chunk.len()),
            placeholders(dialect, chunk.len() + 1, chunk.len())
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for credential in chunk.iter().chain(chunk) {
            query = query.bind(credential.clone());
        }
        for row in query.fetch_all(pool).await? {
            holders.insert(row.try_get::<String, _>("identity_id")?);
        }
    }
    let mut holders: Vec<String> = holders.into_iter().collect();
    holders.sort();
    Ok(holders)
}

/// How many imported identities there are, and how many have no owner.
pub(super) async fn counts(pool: &AnyPool) -> StoreResult<(u64, u64)> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS total, COALESCE(SUM(CASE WHEN owner_id IS NULL THEN 1 ELSE 0 END), 0) AS orphaned \
         FROM imported_identities",
    )
    .fetch_one(pool)
    .await?;
    let total: i64 = row.try_get("total")?;
    let orphaned: i64 = row.try_get("orphaned")?;
    Ok((total.max(0) as u64, orphaned.max(0) as u64))
}
