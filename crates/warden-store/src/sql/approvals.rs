//! Approvals in SQL: held requests, the human decision on each, and the single use of a
//! granted one.
//!
//! Deciding and consuming read the row locked (`FOR UPDATE` on PostgreSQL, the single writer
//! on SQLite), apply the rule from `warden_core::Approval`, and write the result guarded by
//! the status they read, so two concurrent consumers of one approval cannot both win.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AnyPool, AssertSqlSafe, Row};
use uuid::Uuid;
use warden_audit::{Actor, EventKind, NewEvent};
use warden_core::{
    Approval, ApprovalBinding, ApprovalDecision, ApprovalFilter, ApprovalStatus, DomainError,
    NewApproval, Page, PageRequest, Timestamp,
};

use super::SqlStore;
use super::owners::next_cursor;
use super::query::{Value, Where};
use crate::error::{StoreError, StoreResult};

const APPROVAL_COLUMNS: &str = "id, agent_id, agent_name, owner_email, on_behalf_of, upstream, \
     method, path, body_digest, task_id, action, resource, reason, policy_ids, token_jti, status, \
     requested_at, expires_at, decided_by, decided_at, comment, used_at";

fn corrupt(what: &str, detail: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {detail}"))
}

fn optional_time(row: &AnyRow, column: &str) -> StoreResult<Option<Timestamp>> {
    let millis: Option<i64> = row.try_get(column)?;
    Ok(millis.map(Timestamp::from_millis))
}

/// The stored row, with its status as stored (not as seen at any time).
fn approval(row: &AnyRow) -> StoreResult<Approval> {
    let status: String = row.try_get("status")?;
    let policy_ids: String = row.try_get("policy_ids")?;
    Ok(Approval {
        id: row.try_get("id")?,
        status: status
            .parse()
            .map_err(|error| corrupt("approval status", error))?,
        binding: ApprovalBinding {
            agent_id: row.try_get("agent_id")?,
            upstream: row.try_get("upstream")?,
            method: row.try_get("method")?,
            path: row.try_get("path")?,
            body_digest: row.try_get("body_digest")?,
            task_id: row.try_get("task_id")?,
        },
        agent_name: row.try_get("agent_name")?,
        owner_email: row.try_get("owner_email")?,
        on_behalf_of: row.try_get("on_behalf_of")?,
        action: row.try_get("action")?,
        resource: row.try_get("resource")?,
        reason: row.try_get("reason")?,
        policy_ids: serde_json::from_str(&policy_ids)
            .map_err(|error| corrupt("approval policy_ids", error))?,
        token_jti: row.try_get("token_jti")?,
        requested_at: Timestamp::from_millis(row.try_get("requested_at")?),
        expires_at: Timestamp::from_millis(row.try_get("expires_at")?),
        decided_by: row.try_get("decided_by")?,
        decided_at: optional_time(row, "decided_at")?,
        comment: row.try_get("comment")?,
        used_at: optional_time(row, "used_at")?,
    })
}

/// Reads one approval as stored; `lock` is `Dialect::for_update()` inside write transactions.
async fn fetch(connection: &mut AnyConnection, id: &str, lock: &str) -> StoreResult<Approval> {
    let sql = format!("SELECT {APPROVAL_COLUMNS} FROM approvals WHERE id = $1{lock}");
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(id.to_string())
        .fetch_optional(connection)
        .await?;
    match row {
        Some(row) => approval(&row),
        None => Err(DomainError::UnknownApproval(id.to_string()).into()),
    }
}

/// Writes the decision or use of an approval, provided its stored status is still `was`.
async fn save(
    connection: &mut AnyConnection,
    approval: &Approval,
    was: ApprovalStatus,
) -> StoreResult<()> {
    let written = sqlx::query(
        "UPDATE approvals SET status = $1, decided_by = $2, decided_at = $3, comment = $4, used_at = $5 \
         WHERE id = $6 AND status = $7",
    )
    .bind(approval.status.as_str())
    .bind(approval.decided_by.clone())
    .bind(approval.decided_at.map(Timestamp::as_millis))
    .bind(approval.comment.clone())
    .bind(approval.used_at.map(Timestamp::as_millis))
    .bind(approval.id.clone())
    .bind(was.as_str())
    .execute(connection)
    .await?;
    if written.rows_affected() == 1 {
        Ok(())
    } else {
        // The row was locked when read, so this means something outside the store wrote it.
        Err(DomainError::InvalidState(format!(
            "approval `{}` changed while this request was handled; read it again",
            approval.id
        ))
        .into())
    }
}

/// The facts every approval event carries: which approval, whose agent, what request.
fn event(kind: EventKind, actor: &Actor, approval: &Approval) -> NewEvent {
    let binding = &approval.binding;
    let mut event = NewEvent::new(kind, actor.clone())
        .approval(approval.id.clone())
        .owner(approval.owner_email.clone())
        .upstream(binding.upstream.clone())
        .action(approval.action.clone())
        .resource(approval.resource.clone())
        .target_named(
            "identity",
            binding.agent_id.clone(),
            approval.agent_name.clone(),
        )
        .detail("method", binding.method.clone())
        .detail("path", binding.path.clone())
        .detail("expires_at", approval.expires_at.to_rfc3339());
    if let Some(user) = &approval.on_behalf_of {
        event = event.on_behalf_of(user.clone());
    }
    if let Some(task) = &binding.task_id {
        event = event.task(task.clone());
    }
    if let Some(jti) = &approval.token_jti {
        event = event.token(jti.clone());
    }
    event
}

pub(super) async fn create(
    store: &SqlStore,
    actor: &Actor,
    new: NewApproval,
    now: Timestamp,
) -> StoreResult<Approval> {
    let created = Approval::create(new, Uuid::now_v7().to_string(), now)?;
    let policy_ids = serde_json::to_string(&created.policy_ids)
        .map_err(|error| corrupt("approval policy_ids", error))?;
    let binding = &created.binding;
    let mut tx = store.begin_write().await?;
    let inserted = sqlx::query(
        "INSERT INTO approvals (id, agent_id, agent_name, owner_email, on_behalf_of, upstream, method, \
         path, body_digest, task_id, action, resource, reason, policy_ids, token_jti, status, \
         requested_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)",
    )
    .bind(created.id.clone())
    .bind(binding.agent_id.clone())
    .bind(created.agent_name.clone())
    .bind(created.owner_email.clone())
    .bind(created.on_behalf_of.clone())
    .bind(binding.upstream.clone())
    .bind(binding.method.clone())
    .bind(binding.path.clone())
    .bind(binding.body_digest.clone())
    .bind(binding.task_id.clone())
    .bind(created.action.clone())
    .bind(created.resource.clone())
    .bind(created.reason.clone())
    .bind(policy_ids)
    .bind(created.token_jti.clone())
    .bind(created.status.as_str())
    .bind(created.requested_at.as_millis())
    .bind(created.expires_at.as_millis())
    .execute(&mut *tx)
    .await;
    match inserted {
        Ok(_) => {}
        Err(sqlx::Error::Database(error)) if error.is_foreign_key_violation() => {
            return Err(DomainError::UnknownIdentity(binding.agent_id.clone()).into());
        }
        Err(error) => return Err(error.into()),
    }
    let mut requested = event(EventKind::ApprovalRequested, actor, &created);
    requested.policy_ids = created.policy_ids.clone();
    if let Some(reason) = &created.reason {
        requested = requested.reason(reason.clone());
    }
    store.audit_in_tx(&mut tx, vec![requested], now).await?;
    tx.commit().await?;
    Ok(created)
}

pub(super) async fn get(pool: &AnyPool, id: &str, now: Timestamp) -> StoreResult<Approval> {
    let mut connection = pool.acquire().await?;
    Ok(fetch(&mut connection, id, "").await?.as_seen_at(now))
}

pub(super) async fn list(
    pool: &AnyPool,
    filter: &ApprovalFilter,
    now: Timestamp,
) -> StoreResult<Page<Approval>> {
    let page = PageRequest::new(Some(filter.limit), filter.cursor.clone())?;
    let mut conditions = Where::default();
    let at = Value::Int(now.as_millis());
    match filter.status {
        Some(status @ (ApprovalStatus::Pending | ApprovalStatus::Approved)) => conditions.and(
            "status = ? AND expires_at > ?",
            [Value::Text(status.as_str().into()), at],
        ),
        Some(ApprovalStatus::Expired) => conditions.and(
            "(status = 'expired' OR (status IN ('pending', 'approved') AND expires_at <= ?))",
            [at],
        ),
        Some(status) => conditions.and("status = ?", [Value::Text(status.as_str().into())]),
        None => {}
    }
    if let Some(agent) = &filter.agent_id {
        conditions.and("agent_id = ?", [Value::Text(agent.clone())]);
    }
    if let Some(after) = &page.after {
        conditions.and("id > ?", [Value::Text(after.clone())]);
    }
    let sql = format!(
        "SELECT {APPROVAL_COLUMNS} FROM approvals{} ORDER BY id LIMIT {}",
        conditions.sql(),
        page.limit + 1
    );
    let found = conditions.bind_into(sql).fetch_all(pool).await?;
    let mut items = found
        .iter()
        .map(|row| approval(row).map(|approval| approval.as_seen_at(now)))
        .collect::<StoreResult<Vec<_>>>()?;
    let next_cursor = next_cursor(&mut items, page.limit, |approval| approval.id.clone());
    Ok(Page { items, next_cursor })
}

pub(super) async fn decide(
    store: &SqlStore,
    actor: &Actor,
    id: &str,
    decision: ApprovalDecision,
    now: Timestamp,
) -> StoreResult<Approval> {
    let mut tx = store.begin_write().await?;
    let mut approval = fetch(&mut tx, id, store.dialect.for_update()).await?;
    let was = approval.status;
    match approval.decide(&decision, now) {
        Ok(()) => {
            save(&mut tx, &approval, was).await?;
            let kind = if decision.approve {
                EventKind::ApprovalGranted
            } else {
                EventKind::ApprovalDenied
            };
            let mut decided = event(kind, actor, &approval).approved_by(decision.approver.clone());
            if let Some(comment) = &approval.comment {
                decided = decided.reason(comment.clone());
            }
            store.audit_in_tx(&mut tx, vec![decided], now).await?;
            tx.commit().await?;
            Ok(approval)
        }
        // A decision that comes too late is refused, and the approval is recorded as
        // expired so that it stops reading as pending to anyone who looks at the row.
        Err(refusal @ DomainError::ApprovalExpired(_)) => {
            if approval.expire(now) {
                save(&mut tx, &approval, was).await?;
                let expired = event(EventKind::ApprovalExpired, actor, &approval);
                store.audit_in_tx(&mut tx, vec![expired], now).await?;
                tx.commit().await?;
            }
            Err(refusal.into())
        }
        Err(refusal) => Err(refusal.into()),
    }
}

pub(super) async fn consume(
    store: &SqlStore,
    id: &str,
    binding: &ApprovalBinding,
    now: Timestamp,
) -> StoreResult<Approval> {
    let mut tx = store.begin_write().await?;
    let mut approval = fetch(&mut tx, id, store.dialect.for_update()).await?;
    let was = approval.status;
    approval.consume(binding, now)?;
    save(&mut tx, &approval, was).await?;
    tx.commit().await?;
    Ok(approval)
}
