//! Leak reports: recording one (idempotently, by the keyed hash of the secret's
//! fingerprint), recording what Warden did about it, and the lookups that match a leaked
//! secret to an imported credential or an upstream's secret.

use crate::feed::Topic;
use sqlx::any::AnyRow;
use sqlx::{AnyPool, AssertSqlSafe, Row};
use uuid::Uuid;
use warden_audit::{Actor, EventKind, NewEvent};
use warden_core::{DomainError, Page, PageRequest, Timestamp};

use super::SqlStore;
use super::owners::next_cursor;
use crate::error::{StoreError, StoreResult};
use crate::leaks::{
    CredentialHolder, LeakLocation, LeakMatch, LeakReport, LeakResponse, LeakSubject,
    MAX_LEAK_LOCATIONS, NewLeakReport, RecordedLeak,
};

const LEAK_COLUMNS: &str = "id, secret_kind, matched, subject_id, identity_kind, identity_name, \
     owner_id, credential_id, secret_version, locations, report_count, first_reported_at, \
     last_reported_at, response, responded_at";

fn corrupt(what: &str, error: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("leak report {what}: {error}"))
}

fn leak_row(row: &AnyRow) -> StoreResult<LeakReport> {
    let matched: String = row.try_get("matched")?;
    let response: String = row.try_get("response")?;
    let locations: String = row.try_get("locations")?;
    let responded_at: Option<i64> = row.try_get("responded_at")?;
    Ok(LeakReport {
        id: row.try_get("id")?,
        secret_kind: row.try_get("secret_kind")?,
        subject: LeakSubject {
            matched: LeakMatch::parse(&matched).map_err(|e| corrupt("matched", e))?,
            subject_id: row.try_get("subject_id")?,
            identity_kind: row.try_get("identity_kind")?,
            identity_name: row.try_get("identity_name")?,
            owner_id: row.try_get("owner_id")?,
            credential_id: row.try_get("credential_id")?,
            secret_version: row.try_get("secret_version")?,
        },
        locations: serde_json::from_str(&locations).map_err(|e| corrupt("locations", e))?,
        report_count: row.try_get("report_count")?,
        first_reported_at: Timestamp::from_millis(row.try_get("first_reported_at")?),
        last_reported_at: Timestamp::from_millis(row.try_get("last_reported_at")?),
        response: LeakResponse::parse(&response)
            .ok_or_else(|| corrupt("response", format!("`{response}`")))?,
        responded_at: responded_at.map(Timestamp::from_millis),
    })
}

/// The latest distinct places, newest last: a place seen again moves to the end.
fn merge_locations(mut locations: Vec<LeakLocation>, seen: LeakLocation) -> Vec<LeakLocation> {
    locations.retain(|location| *location != seen);
    locations.push(seen);
    let excess = locations.len().saturating_sub(MAX_LEAK_LOCATIONS);
    locations.drain(..excess);
    locations
}

fn encode_locations(locations: &[LeakLocation]) -> StoreResult<String> {
    serde_json::to_string(locations).map_err(|e| corrupt("locations", e))
}

fn leak_event(kind: EventKind, actor: &Actor, report: &LeakReport) -> NewEvent {
    let subject = &report.subject;
    let mut event = NewEvent::new(kind, actor.clone())
        .detail("leak", report.id.clone())
        .detail("matched", subject.matched.as_str());
    if let Some(kind) = &report.secret_kind {
        event = event.detail("secret_kind", kind.clone());
    }
    if let (Some(id), Some(kind)) = (&subject.subject_id, &subject.identity_kind) {
        event = event.target_named(
            kind.clone(),
            id.clone(),
            subject.identity_name.clone().unwrap_or_default(),
        );
    }
    if let Some(owner) = &subject.owner_id {
        event = event.owner(owner.clone());
    }
    if let Some(credential) = &subject.credential_id {
        event = event.credential(credential.clone());
    }
    event
}

pub(super) async fn record(
    store: &SqlStore,
    actor: &Actor,
    new: NewLeakReport,
    now: Timestamp,
) -> StoreResult<RecordedLeak> {
    let mut tx = store.begin_write().await?;
    let sql = format!(
        "SELECT {LEAK_COLUMNS} FROM leak_reports WHERE fingerprint_hash = $1{}",
        store.dialect.for_update()
    );
    let existing = sqlx::query(AssertSqlSafe(sql))
        .bind(new.fingerprint_hash.clone())
        .fetch_optional(&mut *tx)
        .await?
        .map(|row| leak_row(&row))
        .transpose()?;
    let described = new.location.describe();
    let subject = &new.subject;
    let (id, is_new) = match existing {
        None => {
            let id = Uuid::now_v7().to_string();
            sqlx::query(
                "INSERT INTO leak_reports (id, fingerprint_hash, secret_kind, matched, subject_id, \
                 identity_kind, identity_name, owner_id, credential_id, secret_version, locations, \
                 report_count, first_reported_at, last_reported_at, response, responded_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 1, $12, $12, 'none', NULL)",
            )
            .bind(id.clone())
            .bind(new.fingerprint_hash.clone())
            .bind(new.secret_kind.clone())
            .bind(subject.matched.as_str())
            .bind(subject.subject_id.clone())
            .bind(subject.identity_kind.clone())
            .bind(subject.identity_name.clone())
            .bind(subject.owner_id.clone())
            .bind(subject.credential_id.clone())
            .bind(subject.secret_version)
            .bind(encode_locations(std::slice::from_ref(&new.location))?)
            .bind(now.as_millis())
            .execute(&mut *tx)
            .await?;
            (id, true)
        }
        Some(report) => {
            // A later report may know more (the secret was imported since, say); one that
            // knows less keeps what an earlier one matched.
            let subject = if subject.matched == LeakMatch::Unknown {
                report.subject.clone()
            } else {
                subject.clone()
            };
            let locations = merge_locations(report.locations, new.location.clone());
            sqlx::query(
                "UPDATE leak_reports SET secret_kind = COALESCE($1, secret_kind), matched = $2, \
                 subject_id = $3, identity_kind = $4, identity_name = $5, owner_id = $6, \
                 credential_id = $7, secret_version = $8, locations = $9, \
                 report_count = report_count + 1, last_reported_at = $10 WHERE id = $11",
            )
            .bind(new.secret_kind.clone())
            .bind(subject.matched.as_str())
            .bind(subject.subject_id.clone())
            .bind(subject.identity_kind.clone())
            .bind(subject.identity_name.clone())
            .bind(subject.owner_id.clone())
            .bind(subject.credential_id.clone())
            .bind(subject.secret_version)
            .bind(encode_locations(&locations)?)
            .bind(now.as_millis())
            .bind(report.id.clone())
            .execute(&mut *tx)
            .await?;
            (report.id, false)
        }
    };
    let report = fetch(&mut tx, &id).await?;
    let event = leak_event(EventKind::LeakReported, actor, &report)
        .detail("location", described)
        .detail("first_report", is_new.to_string());
    store.audit_in_tx(&mut tx, vec![event], now).await?;
    tx.commit().await?;
    Ok(RecordedLeak {
        report,
        new: is_new,
    })
}

async fn fetch(connection: &mut sqlx::AnyConnection, id: &str) -> StoreResult<LeakReport> {
    let sql = format!("SELECT {LEAK_COLUMNS} FROM leak_reports WHERE id = $1");
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(id.to_string())
        .fetch_optional(connection)
        .await?
        .ok_or_else(|| StoreError::Domain(DomainError::UnknownLeak(id.to_string())))?;
    leak_row(&row)
}

/// Records what Warden did about a leak, once: a report already answered keeps its first
/// response. Suspending marks the imported identity too. Returns the report as it is now.
pub(super) async fn respond(
    store: &SqlStore,
    actor: &Actor,
    id: &str,
    response: LeakResponse,
    now: Timestamp,
) -> StoreResult<LeakReport> {
    let mut tx = store.begin_write().await?;
    let updated = sqlx::query(
        "UPDATE leak_reports SET response = $1, responded_at = $2 WHERE id = $3 AND response = 'none'",
    )
    .bind(response.as_str())
    .bind(now.as_millis())
    .bind(id.to_string())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let report = fetch(&mut tx, id).await?;
    if updated == 1 {
        if response == LeakResponse::Suspended
            && let Some(subject) = &report.subject.subject_id
        {
            sqlx::query(
                "UPDATE imported_identities SET suspended_at = $1 WHERE id = $2 AND suspended_at IS NULL",
            )
            .bind(now.as_millis())
            .bind(subject.clone())
            .execute(&mut *tx)
            .await?;
        }
        let event = leak_event(EventKind::LeakResponded, actor, &report)
            .detail("response", response.as_str());
        store.audit_in_tx(&mut tx, vec![event], now).await?;
    }
    store.commit(tx, &[Topic::Access]).await?;
    Ok(report)
}

pub(super) async fn get(pool: &AnyPool, id: &str) -> StoreResult<LeakReport> {
    let mut connection = pool.acquire().await?;
    fetch(&mut connection, id).await
}

pub(super) async fn list(pool: &AnyPool, page: &PageRequest) -> StoreResult<Page<LeakReport>> {
    let (clause, after) = match &page.after {
        Some(after) => (" WHERE id > $1", Some(after.clone())),
        None => ("", None),
    };
    let sql = format!(
        "SELECT {LEAK_COLUMNS} FROM leak_reports{clause} ORDER BY id LIMIT {}",
        page.limit + 1
    );
    let mut query = sqlx::query(AssertSqlSafe(sql));
    if let Some(after) = after {
        query = query.bind(after);
    }
    let rows = query.fetch_all(pool).await?;
    let mut items = rows.iter().map(leak_row).collect::<StoreResult<Vec<_>>>()?;
    let next_cursor = next_cursor(&mut items, page.limit, |r| r.id.clone());
    Ok(Page { items, next_cursor })
}

/// Every report Warden matched to something, for the evaluation of leak findings.
pub(super) async fn matched(pool: &AnyPool) -> StoreResult<Vec<LeakReport>> {
    let sql =
        format!("SELECT {LEAK_COLUMNS} FROM leak_reports WHERE matched <> 'unknown' ORDER BY id");
    let rows = sqlx::query(AssertSqlSafe(sql)).fetch_all(pool).await?;
    rows.iter().map(leak_row).collect()
}

/// The imported identities holding a credential with this id or this recorded fingerprint.
pub(super) async fn credential_holders(
    pool: &AnyPool,
    id_or_fingerprint: &str,
) -> StoreResult<Vec<CredentialHolder>> {
    let rows = sqlx::query(
        "SELECT i.id, i.source, i.kind, i.name, i.external_id, i.owner_id, i.status, \
         c.credential_id, c.kind AS credential_kind, c.active \
         FROM imported_credentials c JOIN imported_identities i ON i.id = c.identity_id \
         WHERE c.credential_id = $1 OR c.fingerprint = $1 ORDER BY i.id",
    )
    .bind(id_or_fingerprint.to_string())
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            let active: i64 = row.try_get("active")?;
            Ok(CredentialHolder {
                identity_id: row.try_get("id")?,
                source: row.try_get("source")?,
                kind: row.try_get("kind")?,
                name: row.try_get("name")?,
                external_id: row.try_get("external_id")?,
                owner_id: row.try_get("owner_id")?,
                presence: row.try_get("status")?,
                credential_id: row.try_get("credential_id")?,
                credential_kind: row.try_get("credential_kind")?,
                active: active != 0,
            })
        })
        .collect()
}

/// The upstream whose current secret has this keyed leak fingerprint: `(name, version)`.
pub(super) async fn upstream_by_leak_fingerprint(
    pool: &AnyPool,
    hash: &str,
) -> StoreResult<Option<(String, i64)>> {
    let row = sqlx::query(
        "SELECT name, secret_version FROM upstreams \
         WHERE secret_leak_fingerprint = $1 AND secret_sealed IS NOT NULL ORDER BY name LIMIT 1",
    )
    .bind(hash.to_string())
    .fetch_optional(pool)
    .await?;
    row.map(|row| Ok((row.try_get("name")?, row.try_get("secret_version")?)))
        .transpose()
}

/// Upstreams with a secret but no leak fingerprint (set before fingerprints were kept).
pub(super) async fn upstreams_missing_leak_fingerprint(pool: &AnyPool) -> StoreResult<Vec<String>> {
    let rows = sqlx::query(
        "SELECT name FROM upstreams WHERE secret_sealed IS NOT NULL AND secret_leak_fingerprint IS NULL ORDER BY name",
    )
    .fetch_all(pool)
    .await?;
    rows.iter().map(|row| Ok(row.try_get("name")?)).collect()
}

/// Records the leak fingerprint of an upstream's secret at `version`; a secret replaced
/// meanwhile is left alone (its writer stored its own).
pub(super) async fn set_upstream_leak_fingerprint(
    store: &SqlStore,
    name: &str,
    version: i64,
    hash: &str,
) -> StoreResult<bool> {
    let mut tx = store.begin_write().await?;
    let updated = sqlx::query(
        "UPDATE upstreams SET secret_leak_fingerprint = $1 WHERE name = $2 AND secret_version = $3",
    )
    .bind(hash.to_string())
    .bind(name.to_string())
    .bind(version)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(updated == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(path: &str) -> LeakLocation {
        LeakLocation {
            path: Some(path.to_string()),
            ..LeakLocation::default()
        }
    }

    #[test]
    fn a_place_seen_again_moves_to_the_end_and_the_oldest_fall_off() {
        let mut locations = Vec::new();
        for n in 0..MAX_LEAK_LOCATIONS + 5 {
            locations = merge_locations(locations, at(&format!("f{n}")));
        }
        assert_eq!(locations.len(), MAX_LEAK_LOCATIONS);
        assert_eq!(locations[0], at("f5"));
        let locations = merge_locations(locations, at("f5"));
        assert_eq!(locations.len(), MAX_LEAK_LOCATIONS);
        assert_eq!(locations.last(), Some(&at("f5")));
        assert_eq!(locations[0], at("f6"));
    }
}
