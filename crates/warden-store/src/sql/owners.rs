//! Owners: creation, lookup, listing, offboarding and bulk reassignment.

use crate::feed::Topic;
use sqlx::{AnyConnection, AnyPool, AssertSqlSafe};
use warden_audit::{Actor, EventKind, NewEvent};
use warden_core::{
    DomainError, Identity, NewOwner, Owner, OwnerFilter, OwnerId, OwnerPatch, OwnerRef, Page,
    PageRequest, Timestamp,
};

use super::query::{Value, Where};
use super::rows::{self, IDENTITY_COLUMNS, IDENTITY_FROM, OWNER_COLUMNS};
use super::{SqlStore, identities};
use crate::error::{StoreError, StoreResult};
use crate::store::Offboarding;

pub(super) async fn create(
    store: &SqlStore,
    actor: &Actor,
    new: NewOwner,
    now: Timestamp,
) -> StoreResult<Owner> {
    let owner = Owner::create(new, OwnerId::new_v7(), now);
    let mut tx = store.begin_write().await?;
    let inserted = sqlx::query(
        "INSERT INTO owners (id, email, name, status, created_at, updated_at, offboarded_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(owner.id.to_string())
    .bind(owner.email.clone())
    .bind(owner.name.clone())
    .bind(owner.status.as_str())
    .bind(owner.created_at.as_millis())
    .bind(owner.updated_at.as_millis())
    .bind(owner.offboarded_at.map(Timestamp::as_millis))
    .execute(&mut *tx)
    .await;
    match inserted {
        Ok(_) => {}
        Err(sqlx::Error::Database(error)) if error.is_unique_violation() => {
            return Err(DomainError::DuplicateOwner(owner.email).into());
        }
        Err(error) => return Err(error.into()),
    }
    store
        .audit_in_tx(
            &mut tx,
            vec![owner_event(EventKind::OwnerCreated, actor, &owner)],
            now,
        )
        .await?;
    store.commit(tx, &[Topic::Access]).await?;
    Ok(owner)
}

/// Reads one owner; `lock` is `Dialect::for_update()` inside write transactions.
pub(super) async fn fetch(
    connection: &mut AnyConnection,
    owner: &OwnerRef,
    lock: &str,
) -> StoreResult<Owner> {
    let (column, key) = match owner {
        OwnerRef::Id(id) => ("id", id.to_string()),
        OwnerRef::Email(email) => ("email", email.clone()),
    };
    let sql = format!("SELECT {OWNER_COLUMNS} FROM owners WHERE {column} = $1{lock}");
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(key)
        .fetch_optional(connection)
        .await?;
    match row {
        Some(row) => rows::owner(&row),
        None => Err(DomainError::UnknownOwner(owner.to_string()).into()),
    }
}

pub(super) async fn list(
    pool: &AnyPool,
    filter: &OwnerFilter,
    page: &PageRequest,
) -> StoreResult<Page<Owner>> {
    let mut conditions = Where::default();
    if let Some(status) = filter.status {
        conditions.and("status = ?", [Value::Text(status.as_str().into())]);
    }
    if let Some(after) = &page.after {
        conditions.and("id > ?", [Value::Text(after.clone())]);
    }
    let sql = format!(
        "SELECT {OWNER_COLUMNS} FROM owners{} ORDER BY id LIMIT {}",
        conditions.sql(),
        page.limit + 1
    );
    let found = conditions.bind_into(sql).fetch_all(pool).await?;
    let mut items = found
        .iter()
        .map(rows::owner)
        .collect::<StoreResult<Vec<_>>>()?;
    let next_cursor = next_cursor(&mut items, page.limit, |owner| owner.id.to_string());
    Ok(Page { items, next_cursor })
}

/// Trims the one extra row fetched to learn whether another page exists.
pub(super) fn next_cursor<T>(
    items: &mut Vec<T>,
    limit: u32,
    id: impl Fn(&T) -> String,
) -> Option<String> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    if items.len() > limit {
        items.truncate(limit);
        items.last().map(id)
    } else {
        None
    }
}

async fn save(connection: &mut AnyConnection, owner: &Owner) -> StoreResult<()> {
    sqlx::query("UPDATE owners SET name = $1, status = $2, updated_at = $3, offboarded_at = $4 WHERE id = $5")
        .bind(owner.name.clone())
        .bind(owner.status.as_str())
        .bind(owner.updated_at.as_millis())
        .bind(owner.offboarded_at.map(Timestamp::as_millis))
        .bind(owner.id.to_string())
        .execute(connection)
        .await?;
    Ok(())
}

pub(super) async fn update(
    store: &SqlStore,
    actor: &Actor,
    reference: &OwnerRef,
    patch: OwnerPatch,
    now: Timestamp,
) -> StoreResult<Owner> {
    let mut tx = store.begin_write().await?;
    let mut owner = fetch(&mut tx, reference, store.dialect.for_update()).await?;
    owner.apply(patch, now)?;
    save(&mut tx, &owner).await?;
    store
        .audit_in_tx(
            &mut tx,
            vec![owner_event(EventKind::OwnerUpdated, actor, &owner)],
            now,
        )
        .await?;
    store.commit(tx, &[Topic::Access]).await?;
    Ok(owner)
}

pub(super) async fn owned_identities(
    connection: &mut AnyConnection,
    owner: OwnerId,
    lock: &str,
) -> StoreResult<Vec<Identity>> {
    // PostgreSQL refuses FOR UPDATE on the nullable side of an outer join but accepts it on
    // an inner join, naming the table to lock.
    let lock = if lock.is_empty() {
        String::new()
    } else {
        format!("{lock} OF i")
    };
    let sql = format!(
        "SELECT {IDENTITY_COLUMNS}{IDENTITY_FROM} WHERE i.owner_id = $1 ORDER BY i.id{lock}"
    );
    let found = sqlx::query(AssertSqlSafe(sql))
        .bind(owner.to_string())
        .fetch_all(connection)
        .await?;
    found.iter().map(rows::identity).collect()
}

pub(super) async fn offboard(
    store: &SqlStore,
    actor: &Actor,
    reference: &OwnerRef,
    now: Timestamp,
) -> StoreResult<Offboarding> {
    let lock = store.dialect.for_update();
    let mut tx = store.begin_write().await?;
    let mut owner = fetch(&mut tx, reference, lock).await?;
    owner.offboard(now)?;
    save(&mut tx, &owner).await?;
    let mut suspended = Vec::new();
    for mut identity in owned_identities(&mut tx, owner.id, lock).await? {
        if identity.on_owner_offboarded(now) {
            identities::save(&mut tx, &identity, false).await?;
            suspended.push(identity);
        }
    }
    let mut events = vec![
        owner_event(EventKind::OwnerOffboarded, actor, &owner)
            .detail("suspended", suspended.len().to_string()),
    ];
    events.extend(suspended.iter().map(|identity| {
        identities::identity_event(EventKind::IdentitySuspended, actor, identity)
            .detail("suspension_reason", "owner_offboarded")
    }));
    store.audit_in_tx(&mut tx, events, now).await?;
    store.commit(tx, &[Topic::Access]).await?;
    Ok(Offboarding { owner, suspended })
}

pub(super) async fn reassign_all(
    store: &SqlStore,
    actor: &Actor,
    from: &OwnerRef,
    to: &OwnerRef,
    now: Timestamp,
) -> StoreResult<Vec<Identity>> {
    let lock = store.dialect.for_update();
    let mut tx = store.begin_write().await?;
    let previous = fetch(&mut tx, from, lock).await?;
    let next = fetch(&mut tx, to, lock).await?;
    if previous.id == next.id {
        return Err(StoreError::Domain(DomainError::invalid(
            "to",
            "the new owner is the current owner; name a different one",
        )));
    }
    next.ensure_active()?;
    let mut moved = Vec::new();
    for mut identity in owned_identities(&mut tx, previous.id, lock).await? {
        if identity.status == warden_core::IdentityStatus::Revoked {
            continue;
        }
        identity.reassign(&next, now)?;
        identities::save(&mut tx, &identity, false).await?;
        moved.push(identity);
    }
    let events = moved
        .iter()
        .map(|identity| {
            identities::identity_event(EventKind::IdentityReassigned, actor, identity)
                .detail("previous_owner", previous.email.clone())
        })
        .collect();
    store.audit_in_tx(&mut tx, events, now).await?;
    store.commit(tx, &[Topic::Access]).await?;
    Ok(moved)
}

/// The audit event for a change to `owner`.
fn owner_event(kind: EventKind, actor: &Actor, owner: &Owner) -> NewEvent {
    NewEvent::new(kind, actor.clone())
        .owner(owner.email.clone())
        .target_named("owner", owner.id.to_string(), owner.email.clone())
}
