//! Identities: creation, lookup, filtered listing, edits and lifecycle changes.

use crate::feed::Topic;
use sqlx::{AnyConnection, AnyPool, AssertSqlSafe, Row};
use warden_audit::{Actor, EventKind, NewEvent};
use warden_core::identity::check_parent_chain;
use warden_core::{
    DomainError, Identity, IdentityFilter, IdentityId, IdentityPatch, IdentityRef, IdentityStatus,
    NewIdentity, OwnerRef, Page, PageRequest, Timestamp,
};

use super::SqlStore;
use super::owners::{self, next_cursor};
use super::query::{Value, Where};
use super::rows::{self, IDENTITY_COLUMNS, IDENTITY_FROM};
use crate::error::{StoreError, StoreResult};
use crate::store::IdentityChange;

/// Reads one identity; `lock` is `Dialect::for_update()` inside write transactions.
pub(super) async fn fetch(
    connection: &mut AnyConnection,
    identity: &IdentityRef,
    lock: &str,
) -> StoreResult<Identity> {
    let lock = if lock.is_empty() {
        String::new()
    } else {
        format!("{lock} OF i")
    };
    let query = match identity {
        IdentityRef::Id(id) => {
            let sql = format!("SELECT {IDENTITY_COLUMNS}{IDENTITY_FROM} WHERE i.id = $1{lock}");
            sqlx::query(AssertSqlSafe(sql)).bind(id.to_string())
        }
        IdentityRef::Name { kind, name } => {
            let sql = format!(
                "SELECT {IDENTITY_COLUMNS}{IDENTITY_FROM} WHERE i.kind = $1 AND i.name = $2{lock}"
            );
            sqlx::query(AssertSqlSafe(sql))
                .bind(kind.as_str())
                .bind(name.clone())
        }
    };
    match query.fetch_optional(connection).await? {
        Some(row) => rows::identity(&row),
        None => Err(DomainError::UnknownIdentity(identity.to_string()).into()),
    }
}

/// Resolves a parent reference, reporting a missing one as an unknown parent.
async fn fetch_parent(
    connection: &mut AnyConnection,
    parent: &IdentityRef,
    lock: &str,
) -> StoreResult<Identity> {
    match fetch(connection, parent, lock).await {
        Err(StoreError::Domain(DomainError::UnknownIdentity(_))) => {
            Err(DomainError::UnknownParent(parent.to_string()).into())
        }
        other => other,
    }
}

fn labels_json(identity: &Identity) -> StoreResult<String> {
    serde_json::to_string(&identity.labels)
        .map_err(|error| StoreError::Corrupt(format!("labels: {error}")))
}

async fn write_labels(connection: &mut AnyConnection, identity: &Identity) -> StoreResult<()> {
    sqlx::query("DELETE FROM identity_labels WHERE identity_id = $1")
        .bind(identity.id.to_string())
        .execute(&mut *connection)
        .await?;
    for (key, value) in &identity.labels {
        sqlx::query("INSERT INTO identity_labels (identity_id, key, value) VALUES ($1, $2, $3)")
            .bind(identity.id.to_string())
            .bind(key.clone())
            .bind(value.clone())
            .execute(&mut *connection)
            .await?;
    }
    Ok(())
}

async fn insert(connection: &mut AnyConnection, identity: &Identity) -> StoreResult<()> {
    let inserted = sqlx::query(
        "INSERT INTO identities (id, kind, name, owner_id, purpose, environment, labels, status, \
         suspension_reason, source, source_detail, parent_id, created_at, updated_at, expires_at, \
         last_used_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
    )
    .bind(identity.id.to_string())
    .bind(identity.kind.as_str())
    .bind(identity.name.clone())
    .bind(identity.owner_id.to_string())
    .bind(identity.purpose.clone())
    .bind(identity.environment.map(|env| env.as_str()))
    .bind(labels_json(identity)?)
    .bind(identity.status.as_str())
    .bind(identity.suspension_reason.map(|reason| reason.as_str()))
    .bind(identity.source.as_str())
    .bind(identity.source_detail.clone())
    .bind(identity.parent_id.map(|id| id.to_string()))
    .bind(identity.created_at.as_millis())
    .bind(identity.updated_at.as_millis())
    .bind(identity.expires_at.map(Timestamp::as_millis))
    .bind(identity.last_used_at.map(Timestamp::as_millis))
    .execute(&mut *connection)
    .await;
    match inserted {
        Ok(_) => {}
        Err(sqlx::Error::Database(error)) if error.is_unique_violation() => {
            return Err(DomainError::DuplicateName {
                kind: identity.kind.to_string(),
                name: identity.name.clone(),
            }
            .into());
        }
        Err(error) => return Err(error.into()),
    }
    write_labels(connection, identity).await
}

/// Writes back every mutable column; rewrites the label rows when `labels_changed`.
pub(super) async fn save(
    connection: &mut AnyConnection,
    identity: &Identity,
    labels_changed: bool,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE identities SET owner_id = $1, purpose = $2, environment = $3, labels = $4, \
         status = $5, suspension_reason = $6, parent_id = $7, updated_at = $8, expires_at = $9, \
         last_used_at = $10 WHERE id = $11",
    )
    .bind(identity.owner_id.to_string())
    .bind(identity.purpose.clone())
    .bind(identity.environment.map(|env| env.as_str()))
    .bind(labels_json(identity)?)
    .bind(identity.status.as_str())
    .bind(identity.suspension_reason.map(|reason| reason.as_str()))
    .bind(identity.parent_id.map(|id| id.to_string()))
    .bind(identity.updated_at.as_millis())
    .bind(identity.expires_at.map(Timestamp::as_millis))
    .bind(identity.last_used_at.map(Timestamp::as_millis))
    .bind(identity.id.to_string())
    .execute(&mut *connection)
    .await?;
    if labels_changed {
        write_labels(connection, identity).await?;
    }
    Ok(())
}

pub(super) async fn create(
    store: &SqlStore,
    actor: &Actor,
    new: NewIdentity,
    owner: &OwnerRef,
    parent: Option<&IdentityRef>,
    now: Timestamp,
) -> StoreResult<Identity> {
    // Refuse malformed requests before touching the database at all.
    new.validate(now)?;
    let lock = store.dialect.for_update();
    let mut tx = store.begin_write().await?;
    let owner = owners::fetch(&mut tx, owner, lock).await?;
    let parent = match parent {
        Some(reference) => Some(fetch_parent(&mut tx, reference, lock).await?),
        None => None,
    };
    let identity = Identity::create(new, IdentityId::new_v7(), &owner, parent.as_ref(), now)?;
    insert(&mut tx, &identity).await?;
    store
        .audit_in_tx(
            &mut tx,
            vec![identity_event(EventKind::IdentityCreated, actor, &identity)],
            now,
        )
        .await?;
    store.commit(tx, &[Topic::Access]).await?;
    Ok(identity)
}

pub(super) async fn list(
    pool: &AnyPool,
    filter: &IdentityFilter,
    page: &PageRequest,
    now: Timestamp,
) -> StoreResult<Page<Identity>> {
    let mut conditions = Where::default();
    if let Some(kind) = filter.kind {
        conditions.and("i.kind = ?", [Value::Text(kind.as_str().into())]);
    }
    if let Some(name) = &filter.name {
        conditions.and("i.name = ?", [Value::Text(name.clone())]);
    }
    match &filter.owner {
        Some(OwnerRef::Id(id)) => conditions.and("i.owner_id = ?", [Value::Text(id.to_string())]),
        Some(OwnerRef::Email(email)) => conditions.and("o.email = ?", [Value::Text(email.clone())]),
        None => {}
    }
    let now = Value::Int(now.as_millis());
    match filter.status {
        Some(IdentityStatus::Active) => conditions.and(
            "i.status = 'active' AND (i.expires_at IS NULL OR i.expires_at > ?)",
            [now],
        ),
        Some(IdentityStatus::Expired) => {
            conditions.and("i.status = 'active' AND i.expires_at <= ?", [now]);
        }
        Some(status) => conditions.and("i.status = ?", [Value::Text(status.as_str().into())]),
        None => {}
    }
    if let Some(environment) = filter.environment {
        conditions.and(
            "i.environment = ?",
            [Value::Text(environment.as_str().into())],
        );
    }
    if let Some(source) = filter.source {
        conditions.and("i.source = ?", [Value::Text(source.as_str().into())]);
    }
    match &filter.parent {
        Some(IdentityRef::Id(id)) => {
            conditions.and("i.parent_id = ?", [Value::Text(id.to_string())])
        }
        Some(IdentityRef::Name { kind, name }) => conditions.and(
            "i.parent_id IN (SELECT id FROM identities WHERE kind = ? AND name = ?)",
            [Value::Text(kind.as_str().into()), Value::Text(name.clone())],
        ),
        None => {}
    }
    for (key, value) in &filter.labels {
        conditions.and(
            "EXISTS (SELECT 1 FROM identity_labels l WHERE l.identity_id = i.id AND l.key = ? AND l.value = ?)",
            [Value::Text(key.clone()), Value::Text(value.clone())],
        );
    }
    if let Some(after) = &page.after {
        conditions.and("i.id > ?", [Value::Text(after.clone())]);
    }
    let sql = format!(
        "SELECT {IDENTITY_COLUMNS}{IDENTITY_FROM}{} ORDER BY i.id LIMIT {}",
        conditions.sql(),
        page.limit + 1
    );
    let found = conditions.bind_into(sql).fetch_all(pool).await?;
    let mut items = found
        .iter()
        .map(rows::identity)
        .collect::<StoreResult<Vec<_>>>()?;
    let next_cursor = next_cursor(&mut items, page.limit, |identity| identity.id.to_string());
    Ok(Page { items, next_cursor })
}

pub(super) async fn update(
    store: &SqlStore,
    actor: &Actor,
    reference: &IdentityRef,
    patch: IdentityPatch,
    now: Timestamp,
) -> StoreResult<Identity> {
    let lock = store.dialect.for_update();
    let mut tx = store.begin_write().await?;
    let mut identity = fetch(&mut tx, reference, lock).await?;
    let new_parent = match &patch.parent {
        None => None,
        Some(None) => Some(None),
        Some(Some(text)) => {
            store.lock_hierarchy(&mut tx).await?;
            let parent_ref =
                IdentityRef::parse(text).map_err(|_| DomainError::UnknownParent(text.clone()))?;
            let parent = fetch_parent(&mut tx, &parent_ref, lock).await?;
            let chain = parent_chain(&mut tx, parent.id).await?;
            check_parent_chain(&identity, &parent, |id| {
                chain
                    .iter()
                    .find(|(child, _)| *child == id)
                    .and_then(|(_, up)| *up)
            })?;
            Some(Some(parent))
        }
    };
    identity.apply(&patch, new_parent.as_ref().map(Option::as_ref), now)?;
    save(&mut tx, &identity, patch.labels.is_some()).await?;
    let changed: Vec<&str> = [
        ("purpose", patch.purpose.is_some()),
        ("environment", patch.environment.is_some()),
        ("labels", patch.labels.is_some()),
        ("expires_at", patch.expires_at.is_some()),
        ("parent", patch.parent.is_some()),
    ]
    .into_iter()
    .filter_map(|(field, present)| present.then_some(field))
    .collect();
    let event = identity_event(EventKind::IdentityUpdated, actor, &identity)
        .detail("changed", changed.join(","));
    store.audit_in_tx(&mut tx, vec![event], now).await?;
    store.commit(tx, &[Topic::Access]).await?;
    Ok(identity)
}

/// The ancestors of `start` as (identity, its parent) pairs, read one step at a time and
/// bounded so that even a corrupt hierarchy ends.
async fn parent_chain(
    connection: &mut AnyConnection,
    start: IdentityId,
) -> StoreResult<Vec<(IdentityId, Option<IdentityId>)>> {
    let mut chain = Vec::new();
    let mut cursor = Some(start);
    while let Some(id) = cursor {
        if chain.len() > warden_core::identity::MAX_PARENT_DEPTH
            || chain.iter().any(|(seen, _)| *seen == id)
        {
            break;
        }
        let parent: Option<String> = sqlx::query("SELECT parent_id FROM identities WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&mut *connection)
            .await?
            .map(|row| row.try_get("parent_id"))
            .transpose()?
            .flatten();
        let parent = parent
            .map(|text| uuid::Uuid::parse_str(&text).map(IdentityId))
            .transpose()
            .map_err(|error| StoreError::Corrupt(format!("parent_id: {error}")))?;
        chain.push((id, parent));
        cursor = parent;
    }
    Ok(chain)
}

pub(super) async fn change(
    store: &SqlStore,
    actor: &Actor,
    reference: &IdentityRef,
    change: IdentityChange,
    now: Timestamp,
) -> StoreResult<Identity> {
    change_recording(store, actor, reference, change, None, now).await
}

/// The kill switch for one identity: the suspension and its `kill.applied` event commit
/// together, so neither is ever seen without the other.
pub(super) async fn kill(
    store: &SqlStore,
    actor: &Actor,
    reference: &IdentityRef,
    reached: usize,
    now: Timestamp,
) -> StoreResult<Identity> {
    let suspend = IdentityChange::Suspend(warden_core::SuspensionReason::Killed);
    let event = (EventKind::KillApplied, reached);
    change_recording(store, actor, reference, suspend, Some(event), now).await
}

/// Lifts a suspension of one identity, with its `kill.restored` event in the same
/// transaction.
pub(super) async fn restore(
    store: &SqlStore,
    actor: &Actor,
    reference: &IdentityRef,
    now: Timestamp,
) -> StoreResult<Identity> {
    let event = (EventKind::KillRestored, 1);
    change_recording(
        store,
        actor,
        reference,
        IdentityChange::Restore,
        Some(event),
        now,
    )
    .await
}

/// Applies `change`, recording the identity's own event and, when `switch` names one, the
/// kill-switch event (with how many identities it `reached`) in the same transaction.
async fn change_recording(
    store: &SqlStore,
    actor: &Actor,
    reference: &IdentityRef,
    change: IdentityChange,
    switch: Option<(EventKind, usize)>,
    now: Timestamp,
) -> StoreResult<Identity> {
    let lock = store.dialect.for_update();
    let mut tx = store.begin_write().await?;
    let mut identity = fetch(&mut tx, reference, lock).await?;
    let previous_owner = identity.owner.clone();
    let event = match change {
        IdentityChange::Suspend(reason) => {
            identity.suspend(reason, now)?;
            identity_event(EventKind::IdentitySuspended, actor, &identity)
                .detail("suspension_reason", reason.as_str())
        }
        IdentityChange::Revoke => {
            identity.revoke(now)?;
            identity_event(EventKind::IdentityRevoked, actor, &identity)
        }
        IdentityChange::Restore => {
            let owner = owners::fetch(&mut tx, &OwnerRef::Id(identity.owner_id), lock).await?;
            identity.restore(&owner, now)?;
            identity_event(EventKind::IdentityRestored, actor, &identity)
        }
        IdentityChange::Reassign(owner) => {
            let owner = owners::fetch(&mut tx, &owner, lock).await?;
            identity.reassign(&owner, now)?;
            identity_event(EventKind::IdentityReassigned, actor, &identity)
                .detail("previous_owner", previous_owner)
        }
    };
    save(&mut tx, &identity, false).await?;
    let mut events = vec![event];
    if let Some((kind, reached)) = switch {
        events.push(identity_event(kind, actor, &identity).detail("reached", reached.to_string()));
    }
    store.audit_in_tx(&mut tx, events, now).await?;
    store.commit(tx, &[Topic::Access]).await?;
    Ok(identity)
}

/// The audit event for a change to `identity`.
pub(super) fn identity_event(kind: EventKind, actor: &Actor, identity: &Identity) -> NewEvent {
    NewEvent::new(kind, actor.clone())
        .owner(identity.owner.clone())
        .target_named(
            identity.kind.as_str(),
            identity.id.to_string(),
            identity.name.clone(),
        )
}
