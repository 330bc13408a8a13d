//! Approvals in SQL: held requests, the human decision on each, and the single use of a
//! granted one.
//!
//! Deciding and consuming read the row locked (`FOR UPDATE` on PostgreSQL, the single writer
//! on SQLite), apply the rule from `warden_core::Approval`, and write the result guarded by
//! the status they read, so two concurrent consumers of one approval cannot both win.
//!
//! An owner who decides is read in the decision's transaction too (`FOR SHARE` on
//! PostgreSQL), so an offboarding that commits first refuses the decision, and one that
//! comes later waits for it.
//!
//! The held request itself is kept sealed (the server seals and opens it) only while the
//! approval can be used: every write that ends an approval clears it in the same statement,
//! and `purge_requests` clears those that expired unread.

use crate::feed::Topic;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AnyPool, AssertSqlSafe, Row};
use uuid::Uuid;
use warden_audit::{Actor, EventKind, NewEvent};
use warden_core::{
    Approval, ApprovalBinding, ApprovalDecision, ApprovalFilter, ApprovalStatus, DomainError,
    NewApproval, Page, PageRequest, Timestamp,
};

use super::SqlStore;
use super::owners::{self, next_cursor};
use super::query::{Value, Where};
use crate::error::{StoreError, StoreResult};
use crate::store::{ApprovalVerdict, Approver};
use crate::upstreams::SealedRequest;

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
    // An approval that can no longer be used keeps no copy of its request.
    let clear = match approval.status {
        ApprovalStatus::Pending | ApprovalStatus::Approved => "",
        ApprovalStatus::Denied | ApprovalStatus::Used | ApprovalStatus::Expired => {
            ", request_sealed = NULL"
        }
    };
    let sql = format!(
        "UPDATE approvals SET status = $1, decided_by = $2, decided_at = $3, comment = $4, used_at = $5{clear} \
         WHERE id = $6 AND status = $7"
    );
    let written = sqlx::query(AssertSqlSafe(sql))
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

/// How many approvals of `agent_id` wait for a human at `now`. On PostgreSQL the agent's
/// identity row is locked first, so two held requests of one agent count one after the
/// other and the cap holds under concurrency (SQLite has a single writer).
async fn pending_for_agent(
    store: &SqlStore,
    connection: &mut AnyConnection,
    agent_id: &str,
    now: Timestamp,
) -> StoreResult<u64> {
    let lock = store.dialect.for_update();
    if !lock.is_empty() {
        let sql = format!("SELECT id FROM identities WHERE id = $1{lock}");
        sqlx::query(AssertSqlSafe(sql))
            .bind(agent_id.to_string())
            .fetch_optional(&mut *connection)
            .await?;
    }
    let row = sqlx::query(
        "SELECT COUNT(*) AS pending FROM approvals WHERE agent_id = $1 AND status = 'pending' AND expires_at > $2",
    )
    .bind(agent_id.to_string())
    .bind(now.as_millis())
    .fetch_one(&mut *connection)
    .await?;
    let pending: i64 = row.try_get("pending")?;
    Ok(u64::try_from(pending).unwrap_or(0))
}

pub(super) async fn create(
    store: &SqlStore,
    actor: &Actor,
    new: NewApproval,
    request: Option<SealedRequest>,
    now: Timestamp,
) -> StoreResult<Approval> {
    // The request is sealed against the approval's id, so the id comes with it.
    let id = request.as_ref().map_or_else(
        || Uuid::now_v7().to_string(),
        |sealed| sealed.approval_id.clone(),
    );
    let mut tx = store.begin_write().await?;
    let pending = pending_for_agent(store, &mut tx, &new.binding.agent_id, now).await?;
    new.check_pending_cap(pending)?;
    let created = Approval::create(new, id, now)?;
    let policy_ids = serde_json::to_string(&created.policy_ids)
        .map_err(|error| corrupt("approval policy_ids", error))?;
    let binding = &created.binding;
    let inserted = sqlx::query(
        "INSERT INTO approvals (id, agent_id, agent_name, owner_email, on_behalf_of, upstream, method, \
         path, body_digest, task_id, action, resource, reason, policy_ids, token_jti, status, \
         requested_at, expires_at, request_sealed) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)",
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
    .bind(request.map(|sealed| sealed.bytes))
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
    store.commit(tx, &[Topic::Approvals]).await?;
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
    if let Some(owner) = &filter.owner_email {
        conditions.and("owner_email = ?", [Value::Text(owner.clone())]);
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
    verdict: ApprovalVerdict,
    now: Timestamp,
) -> StoreResult<Approval> {
    let mut tx = store.begin_write().await?;
    // The owner first: an approver who is not active is refused whatever the approval's
    // state, and the owner row is always locked before the approval row.
    let approver = match verdict.approver {
        Approver::Owner(reference) => {
            let owner = owners::fetch(&mut tx, &reference, store.dialect.for_share()).await?;
            owner.ensure_active()?;
            owner.email
        }
        Approver::Caller(name) => name,
    };
    let decision = ApprovalDecision {
        approve: verdict.approve,
        approver,
        comment: verdict.comment,
    };
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
            store.commit(tx, &[Topic::Approvals]).await?;
            Ok(approval)
        }
        // A decision that comes too late is refused, and the approval is recorded as
        // expired so that it stops reading as pending to anyone who looks at the row.
        Err(refusal @ DomainError::ApprovalExpired(_)) => {
            if approval.expire(now) {
                save(&mut tx, &approval, was).await?;
                let expired = event(EventKind::ApprovalExpired, actor, &approval);
                store.audit_in_tx(&mut tx, vec![expired], now).await?;
                store.commit(tx, &[Topic::Approvals]).await?;
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
    store.commit(tx, &[Topic::Approvals]).await?;
    Ok(approval)
}

/// The sealed held request of approval `id`, while the approval can still be used at `now`;
/// `None` once it was used, denied or expired (whether or not the purge has run yet).
pub(super) async fn sealed_request(
    pool: &AnyPool,
    id: &str,
    now: Timestamp,
) -> StoreResult<Option<Vec<u8>>> {
    let row = sqlx::query(
        "SELECT request_sealed FROM approvals \
         WHERE id = $1 AND status IN ('pending', 'approved') AND expires_at > $2",
    )
    .bind(id.to_string())
    .bind(now.as_millis())
    .fetch_optional(pool)
    .await?;
    match row {
        Some(row) => Ok(row.try_get("request_sealed")?),
        None => Ok(None),
    }
}

/// Clears the held request of every approval that can no longer be used at `now`: expired
/// ones above all, which nothing else writes. Returns how many were cleared.
pub(super) async fn purge_requests(store: &SqlStore, now: Timestamp) -> StoreResult<u64> {
    let mut tx = store.begin_write().await?;
    let purged = sqlx::query(
        "UPDATE approvals SET request_sealed = NULL \
         WHERE request_sealed IS NOT NULL \
         AND (status NOT IN ('pending', 'approved') OR expires_at <= $1)",
    )
    .bind(now.as_millis())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    store.commit(tx, &[Topic::Approvals]).await?;
    Ok(purged)
}

/// Every held request still kept, sealed, by approval id (for a data key rotation).
pub(super) async fn all_sealed_requests(pool: &AnyPool) -> StoreResult<Vec<SealedRequest>> {
    let rows = sqlx::query(
        "SELECT id, request_sealed FROM approvals WHERE request_sealed IS NOT NULL ORDER BY id",
    )
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(SealedRequest {
                approval_id: row.try_get("id")?,
                bytes: row.try_get("request_sealed")?,
            })
        })
        .collect()
}
