//! What the last posture evaluation saw of each imported identity (`posture_evaluated_subjects`),
//! and the comparison that tells a full evaluation which identities it must read again.
//!
//! An identity's last evaluation still holds when it was made under the same basis (rules
//! and thresholds), the identity's revision is the one read then (every write to its row
//! bumps it), its owner's email and offboarding are as read then, and the first instant at
//! which a rule reading the clock could answer differently has not come. The comparison runs
//! inside the database over an index that covers it, so an evaluation over an unchanged
//! inventory reads no record at all.
//!
//! Imported identities are never deleted (a full export marks them gone), so no finding
//! is left behind by an identity that disappeared without being evaluated again.

use futures::TryStreamExt as _;
use sqlx::{AnyPool, AssertSqlSafe, Row};
use warden_core::{OwnerStatus, Timestamp};

use super::SqlStore;
use super::inventory::{ITEM_COLUMNS, RECORD_FROM, item_row};
use super::query::placeholders;
use crate::error::StoreResult;
use crate::inventory::{EvaluatedSubject, InventoryItem};

/// Rows per multi-row upsert of evaluated subjects (7 values each).
const ROWS_PER_UPSERT: usize = 100;

const EVALUATED_JOIN: &str = " LEFT JOIN posture_evaluated_subjects s ON s.identity_id = i.id";

/// True when the identity must be evaluated again; binds the basis as `$1`, now as `$2` and
/// the offboarded status as `$3`. A clock that reads earlier than the last evaluation makes
/// it due too: its findings hold from then on, not before. A missing `stable_until` compares as unknown, which is
/// not true: only a change to the identity or its owner makes such an identity due.
const DUE: &str = "(s.identity_id IS NULL OR s.revision <> i.revision OR s.basis <> $1 \
     OR s.stable_until <= $2 OR s.evaluated_at > $2 \
     OR COALESCE(s.owner_email, '') <> COALESCE(o.email, '') \
     OR s.owner_offboarded <> CASE WHEN o.status = $3 THEN 1 ELSE 0 END)";

/// The ids of the imported identities whose last evaluation under `basis` no longer holds
/// at `now` (or that were never evaluated), or `None` when there are more than `limit`.
pub(super) async fn due(
    pool: &AnyPool,
    basis: &str,
    now: Timestamp,
    limit: usize,
) -> StoreResult<Option<Vec<String>>> {
    let sql = format!(
        "SELECT i.id FROM imported_identities i LEFT JOIN owners o ON o.id = i.owner_id\
         {EVALUATED_JOIN} WHERE {DUE} LIMIT {}",
        limit.saturating_add(1)
    );
    let rows = sqlx::query(AssertSqlSafe(sql))
        .bind(basis.to_string())
        .bind(now.as_millis())
        .bind(OwnerStatus::Offboarded.as_str())
        .fetch_all(pool)
        .await?;
    if rows.len() > limit {
        return Ok(None);
    }
    let ids = rows
        .iter()
        .map(|row| row.try_get("id"))
        .collect::<Result<Vec<String>, _>>()?;
    Ok(Some(ids))
}

/// Streams every imported identity to `visit`, with whether its last evaluation under
/// `basis` still holds at `now`.
pub(super) async fn scan(
    pool: &AnyPool,
    basis: &str,
    now: Timestamp,
    visit: &mut (dyn FnMut(InventoryItem, bool) + Send),
) -> StoreResult<()> {
    let sql = format!(
        "SELECT {ITEM_COLUMNS}, CASE WHEN {DUE} THEN 0 ELSE 1 END AS still_holds\
         {RECORD_FROM}{EVALUATED_JOIN}"
    );
    let mut rows = sqlx::query(AssertSqlSafe(sql))
        .bind(basis.to_string())
        .bind(now.as_millis())
        .bind(OwnerStatus::Offboarded.as_str())
        .fetch(pool);
    while let Some(row) = rows.try_next().await? {
        let holds: i64 = row.try_get("still_holds")?;
        visit(item_row(&row)?, holds != 0);
    }
    Ok(())
}

/// Records what an evaluation at `evaluated_at` read of these identities, under `basis`,
/// replacing what an earlier one recorded.
pub(super) async fn record(
    store: &SqlStore,
    basis: &str,
    evaluated_at: Timestamp,
    subjects: &[EvaluatedSubject],
) -> StoreResult<()> {
    if subjects.is_empty() {
        return Ok(());
    }
    let mut tx = store.begin_write().await?;
    for chunk in subjects.chunks(ROWS_PER_UPSERT) {
        let rows: Vec<String> = (0..chunk.len())
            .map(|n| format!("({})", placeholders(store.dialect, n * 7 + 1, 7)))
            .collect();
        let sql = format!(
            "INSERT INTO posture_evaluated_subjects (identity_id, revision, owner_email, \
             owner_offboarded, basis, evaluated_at, stable_until) VALUES {} \
             ON CONFLICT (identity_id) DO UPDATE SET revision = excluded.revision, \
             owner_email = excluded.owner_email, owner_offboarded = excluded.owner_offboarded, \
             basis = excluded.basis, evaluated_at = excluded.evaluated_at, \
             stable_until = excluded.stable_until",
            rows.join(", ")
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for subject in chunk {
            query = query
                .bind(subject.id.clone())
                .bind(subject.revision)
                .bind(subject.owner_email.clone())
                .bind(i64::from(subject.owner_offboarded))
                .bind(basis.to_string())
                .bind(evaluated_at.as_millis())
                .bind(subject.stable_until.map(Timestamp::as_millis));
        }
        query.execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(())
}
