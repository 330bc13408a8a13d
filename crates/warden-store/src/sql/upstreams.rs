//! Upstreams and policies in SQL.
//!
//! The policy set is compiled against a schema made from the upstreams, so a change to
//! either can leave a set that no longer compiles. Every such change takes `POLICY_LOCK`
//! first, makes its change, reads back every upstream and policy in the same transaction
//! and asks the caller's `PolicySetCheck` before it commits: two changes racing on two
//! nodes run one after the other, and the second is checked against the first.

use crate::feed::Topic;
use sqlx::{AnyConnection, AnyPool, Row};
use warden_audit::{Actor, EventKind, NewEvent};
use warden_core::access_label::{ToolLabels, normalize_access_labels};
use warden_core::upstream::validate_tool_labels;
use warden_core::{
    BindingSource, DomainError, IdentityRef, NewUpstream, StoredPolicy, Timestamp, Upstream,
    UpstreamId, UpstreamIdentity, UpstreamPatch,
};

use super::SqlStore;
use crate::error::{StoreError, StoreResult};
use crate::upstreams::{PolicySetCheck, SealedSecret};

const UPSTREAM_COLUMNS: &str = "id, name, kind, url, auth, \
     CASE WHEN secret_sealed IS NULL THEN 0 ELSE 1 END AS has_secret_flag, secret_version, routes, allowed_origins, command, args, env_secret, labels, tool_labels, identity_id, identity_source, identity_ref, created_at, updated_at";

/// The advisory-lock key that serialises, on PostgreSQL, every change to the policy set and
/// to the upstreams it is compiled against (and so makes policy-set versions one at a time).
const POLICY_LOCK: i64 = 0x5741_5244_454e_0003;

/// Takes `POLICY_LOCK` until the transaction ends; on SQLite the single writer already
/// serialises. Taken before any row lock, so it cannot deadlock with one.
async fn lock_policies(
    store: &SqlStore,
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
) -> StoreResult<()> {
    if store.dialect == super::Dialect::Postgres {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(POLICY_LOCK)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Reads the policy set as this transaction leaves it (its own change included) and refuses
/// it unless `check` accepts it.
async fn check_policy_set(
    connection: &mut AnyConnection,
    check: &dyn PolicySetCheck,
) -> StoreResult<()> {
    let upstreams = read_upstreams(&mut *connection).await?;
    let policies = read_policies(&mut *connection).await?;
    check.check(&upstreams, &policies)?;
    Ok(())
}

fn corrupt(what: &str, detail: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {detail}"))
}

fn upstream(row: &sqlx::any::AnyRow) -> StoreResult<Upstream> {
    let id: String = row.try_get("id")?;
    let kind: String = row.try_get("kind")?;
    let auth: String = row.try_get("auth")?;
    // Booleans do not cross the Any driver on every backend, hence the integer flag.
    let has_secret: i64 = row.try_get("has_secret_flag")?;
    let allowed_origins: Option<String> = row.try_get("allowed_origins")?;
    let allowed_origins = match allowed_origins {
        Some(text) => serde_json::from_str(&text)
            .map_err(|error| corrupt("upstream allowed_origins", error))?,
        None => Vec::new(),
    };
    let args: Option<String> = row.try_get("args")?;
    let args = match args {
        Some(text) => {
            serde_json::from_str(&text).map_err(|error| corrupt("upstream args", error))?
        }
        None => Vec::new(),
    };
    let labels: Option<String> = row.try_get("labels")?;
    let labels = match labels {
        Some(text) => {
            serde_json::from_str(&text).map_err(|error| corrupt("upstream labels", error))?
        }
        None => Vec::new(),
    };
    let tool_labels: Option<String> = row.try_get("tool_labels")?;
    let tool_labels = match tool_labels {
        Some(text) => {
            serde_json::from_str(&text).map_err(|error| corrupt("upstream tool_labels", error))?
        }
        None => ToolLabels::new(),
    };
    let identity_id: Option<String> = row.try_get("identity_id")?;
    let identity = match identity_id {
        Some(id) => {
            let source: Option<String> = row.try_get("identity_source")?;
            let reference: Option<String> = row.try_get("identity_ref")?;
            Some(UpstreamIdentity {
                id,
                source: source
                    .unwrap_or_default()
                    .parse()
                    .map_err(|e| corrupt("upstream identity_source", e))?,
                reference: reference.unwrap_or_default(),
            })
        }
        None => None,
    };
    Ok(Upstream {
        id: UpstreamId(uuid::Uuid::parse_str(&id).map_err(|e| corrupt("upstream id", e))?),
        name: row.try_get("name")?,
        kind: kind.parse().map_err(|e| corrupt("upstream kind", e))?,
        url: row.try_get("url")?,
        auth: auth.parse().map_err(|e| corrupt("upstream auth", e))?,
        has_secret: has_secret != 0,
        secret_version: row.try_get("secret_version")?,
        routes: row.try_get("routes")?,
        allowed_origins,
        command: row.try_get("command")?,
        args,
        env_secret: row.try_get("env_secret")?,
        labels,
        tool_labels,
        identity,
        created_at: Timestamp::from_millis(row.try_get("created_at")?),
        updated_at: Timestamp::from_millis(row.try_get("updated_at")?),
    })
}

async fn fetch(connection: &mut AnyConnection, name: &str, lock: &str) -> StoreResult<Upstream> {
    let sql = format!("SELECT {UPSTREAM_COLUMNS} FROM upstreams WHERE name = $1{lock}");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(name.to_string())
        .fetch_optional(connection)
        .await?;
    match row {
        Some(row) => upstream(&row),
        None => Err(DomainError::UnknownUpstream(name.to_string()).into()),
    }
}

/// The stored form of allowed origins: a JSON array, or NULL for none.
fn origins_text(origins: &[String]) -> StoreResult<Option<String>> {
    if origins.is_empty() {
        return Ok(None);
    }
    serde_json::to_string(origins)
        .map(Some)
        .map_err(|error| corrupt("upstream allowed_origins", error))
}

/// The stored form of labels: a JSON array, or NULL for none.
fn labels_text(labels: &[String]) -> StoreResult<Option<String>> {
    if labels.is_empty() {
        return Ok(None);
    }
    serde_json::to_string(labels)
        .map(Some)
        .map_err(|error| corrupt("upstream labels", error))
}

/// The stored form of tool labels: a JSON object, or NULL for none.
fn tool_labels_text(tools: &ToolLabels) -> StoreResult<Option<String>> {
    if tools.is_empty() {
        return Ok(None);
    }
    serde_json::to_string(tools)
        .map(Some)
        .map_err(|error| corrupt("upstream tool_labels", error))
}

/// Resolves the identity an upstream's secret belongs to, inside the write's transaction:
/// a registered identity (`KIND:NAME` or its id) first, then an imported identity's id.
async fn resolve_identity(
    connection: &mut AnyConnection,
    reference: &str,
) -> StoreResult<UpstreamIdentity> {
    let unknown = || {
        StoreError::from(DomainError::invalid(
            "identity",
            format!(
                "`{reference}` is neither a registered identity (KIND:NAME or its id, see `warden identity list`) nor an imported identity's id (see `warden inventory list`)"
            ),
        ))
    };
    let registered = match IdentityRef::parse(reference) {
        Ok(parsed) => match super::identities::fetch(connection, &parsed, "").await {
            Ok(identity) => Some(identity),
            Err(StoreError::Domain(DomainError::UnknownIdentity(_))) => None,
            Err(error) => return Err(error),
        },
        Err(_) => None,
    };
    if let Some(identity) = registered {
        return Ok(UpstreamIdentity {
            id: identity.id.to_string(),
            source: BindingSource::Registered,
            reference: identity.reference(),
        });
    }
    if uuid::Uuid::parse_str(reference).is_err() {
        return Err(unknown());
    }
    let row = sqlx::query("SELECT id, kind, name FROM imported_identities WHERE id = $1")
        .bind(reference.to_string())
        .fetch_optional(connection)
        .await?
        .ok_or_else(unknown)?;
    let kind: String = row.try_get("kind")?;
    let name: String = row.try_get("name")?;
    Ok(UpstreamIdentity {
        id: row.try_get("id")?,
        source: BindingSource::Imported,
        reference: format!("{kind}:{name}"),
    })
}

/// Writes an upstream's identity binding (or clears it).
async fn write_identity(
    connection: &mut AnyConnection,
    id: UpstreamId,
    identity: Option<&UpstreamIdentity>,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE upstreams SET identity_id = $1, identity_source = $2, identity_ref = $3 WHERE id = $4",
    )
    .bind(identity.map(|bound| bound.id.clone()))
    .bind(identity.map(|bound| bound.source.as_str().to_string()))
    .bind(identity.map(|bound| bound.reference.clone()))
    .bind(id.to_string())
    .execute(connection)
    .await?;
    Ok(())
}

fn upstream_event(kind: EventKind, actor: &Actor, upstream: &Upstream) -> NewEvent {
    NewEvent::new(kind, actor.clone())
        .upstream(upstream.name.clone())
        .target_named("upstream", upstream.id.to_string(), upstream.name.clone())
}

pub(super) async fn create(
    store: &SqlStore,
    actor: &Actor,
    id: UpstreamId,
    new: NewUpstream,
    secret: Option<SealedSecret>,
    check: &dyn PolicySetCheck,
    now: Timestamp,
) -> StoreResult<Upstream> {
    new.validate()?;
    let labels = normalize_access_labels("labels", &new.labels)?;
    let tool_labels = validate_tool_labels(new.kind, &new.tool_labels)?;
    let mut tx = store.begin_write().await?;
    lock_policies(store, &mut tx).await?;
    let identity = match &new.identity {
        Some(reference) => Some(resolve_identity(&mut tx, reference).await?),
        None => None,
    };
    let version = secret.as_ref().map_or(0, |sealed| sealed.version);
    let leak_fingerprint = secret
        .as_ref()
        .and_then(|sealed| sealed.leak_fingerprint.clone());
    let stdio = new.stdio.clone();
    let args = match &stdio {
        Some(stdio) if !stdio.args.is_empty() => Some(
            serde_json::to_string(&stdio.args).map_err(|error| corrupt("upstream args", error))?,
        ),
        _ => None,
    };
    let inserted = sqlx::query(
        "INSERT INTO upstreams (id, name, kind, url, auth, secret_sealed, secret_version, routes, allowed_origins, created_at, updated_at, secret_leak_fingerprint, command, args, env_secret, labels, tool_labels) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
    )
    .bind(id.to_string())
    .bind(new.name.clone())
    .bind(new.kind.as_str())
    .bind(new.url.clone())
    .bind(new.auth.as_text())
    .bind(secret.map(|sealed| sealed.bytes))
    .bind(version)
    .bind(new.routes.clone())
    .bind(origins_text(&new.allowed_origins)?)
    .bind(now.as_millis())
    .bind(now.as_millis())
    .bind(leak_fingerprint)
    .bind(stdio.as_ref().map(|stdio| stdio.command.clone()))
    .bind(args)
    .bind(stdio.and_then(|stdio| stdio.env_secret))
    .bind(labels_text(&labels)?)
    .bind(tool_labels_text(&tool_labels)?)
    .execute(&mut *tx)
    .await;
    match inserted {
        Ok(_) => {}
        Err(sqlx::Error::Database(error)) if error.is_unique_violation() => {
            return Err(DomainError::DuplicateUpstream(new.name).into());
        }
        Err(error) => return Err(error.into()),
    }
    if identity.is_some() {
        write_identity(&mut tx, id, identity.as_ref()).await?;
    }
    let created = fetch(&mut tx, &new.name, "").await?;
    check_policy_set(&mut tx, check).await?;
    let mut event = match &created.command {
        // Running a program on the Warden host is worth its own line on the record.
        Some(command) => upstream_event(EventKind::UpstreamCreated, actor, &created)
            .detail("command", command.clone()),
        None => upstream_event(EventKind::UpstreamCreated, actor, &created),
    };
    if let Some(bound) = &created.identity {
        event = event.detail("identity", bound.reference.clone());
    }
    store.audit_in_tx(&mut tx, vec![event], now).await?;
    store.commit(tx, &[Topic::Catalog]).await?;
    Ok(created)
}

pub(super) async fn get(pool: &AnyPool, name: &str) -> StoreResult<Upstream> {
    let mut connection = pool.acquire().await?;
    fetch(&mut connection, name, "").await
}

pub(super) async fn list(pool: &AnyPool) -> StoreResult<Vec<Upstream>> {
    read_upstreams(pool).await
}

async fn read_upstreams<'c>(
    executor: impl sqlx::Executor<'c, Database = sqlx::Any>,
) -> StoreResult<Vec<Upstream>> {
    let sql = format!("SELECT {UPSTREAM_COLUMNS} FROM upstreams ORDER BY name");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(executor)
        .await?;
    rows.iter().map(upstream).collect()
}

pub(super) async fn update(
    store: &SqlStore,
    actor: &Actor,
    name: &str,
    patch: UpstreamPatch,
    secret: Option<SealedSecret>,
    check: &dyn PolicySetCheck,
    now: Timestamp,
) -> StoreResult<Upstream> {
    let mut tx = store.begin_write().await?;
    lock_policies(store, &mut tx).await?;
    let current = fetch(&mut tx, name, store.dialect.for_update()).await?;
    // Checked against the row as locked, so no concurrent change slips between the check
    // and the write (a secret set meanwhile, say).
    current.check_patch(&patch, secret.is_some())?;
    if let Some(sealed) = &secret
        && sealed.version != current.secret_version + 1
    {
        return Err(DomainError::InvalidState(format!(
            "the secret of `{name}` changed while this update was being made; try again"
        ))
        .into());
    }
    let origins = match &patch.allowed_origins {
        Some(origins) => origins_text(origins)?,
        None => origins_text(&current.allowed_origins)?,
    };
    let labels = match &patch.labels {
        Some(labels) => normalize_access_labels("labels", labels)?,
        None => current.labels.clone(),
    };
    let tool_labels = match &patch.tool_labels {
        Some(tools) => validate_tool_labels(current.kind, tools)?,
        None => current.tool_labels.clone(),
    };
    sqlx::query(
        "UPDATE upstreams SET url = $1, auth = $2, routes = $3, allowed_origins = $4, updated_at = $5, labels = $6, tool_labels = $7 WHERE id = $8",
    )
    .bind(patch.url.clone().unwrap_or(current.url.clone()))
    .bind(patch.auth.clone().unwrap_or(current.auth.clone()).as_text())
    .bind(patch.routes.clone().or(current.routes.clone()))
    .bind(origins)
    .bind(now.as_millis())
    .bind(labels_text(&labels)?)
    .bind(tool_labels_text(&tool_labels)?)
    .bind(current.id.to_string())
    .execute(&mut *tx)
    .await?;
    if let Some(identity) = &patch.identity {
        let bound = match identity {
            Some(reference) => Some(resolve_identity(&mut tx, reference).await?),
            None => None,
        };
        write_identity(&mut tx, current.id, bound.as_ref()).await?;
    }
    if let Some(sealed) = &secret {
        sqlx::query(
            "UPDATE upstreams SET secret_sealed = $1, secret_version = $2, secret_leak_fingerprint = $3 WHERE id = $4",
        )
        .bind(sealed.bytes.clone())
        .bind(sealed.version)
        .bind(sealed.leak_fingerprint.clone())
        .bind(current.id.to_string())
            .execute(&mut *tx)
            .await?;
    }
    let updated = fetch(&mut tx, name, "").await?;
    check_policy_set(&mut tx, check).await?;
    let changed: Vec<&str> = [
        ("url", patch.url.is_some()),
        ("auth", patch.auth.is_some()),
        ("routes", patch.routes.is_some()),
        ("allowed_origins", patch.allowed_origins.is_some()),
        ("labels", patch.labels.is_some()),
        ("tool_labels", patch.tool_labels.is_some()),
        ("identity", patch.identity.is_some()),
        ("secret", secret.is_some()),
    ]
    .into_iter()
    .filter_map(|(field, present)| present.then_some(field))
    .collect();
    let mut event = upstream_event(EventKind::UpstreamUpdated, actor, &updated)
        .detail("changed", changed.join(","));
    if secret.is_some() {
        event = event.detail("secret_version", updated.secret_version.to_string());
    }
    store.audit_in_tx(&mut tx, vec![event], now).await?;
    store.commit(tx, &[Topic::Catalog]).await?;
    Ok(updated)
}

pub(super) async fn set_secret(
    store: &SqlStore,
    actor: &Actor,
    name: &str,
    secret: SealedSecret,
    now: Timestamp,
) -> StoreResult<Upstream> {
    let mut tx = store.begin_write().await?;
    let current = fetch(&mut tx, name, store.dialect.for_update()).await?;
    if secret.version != current.secret_version + 1 {
        // The caller sealed against a version that has since moved on: another writer won.
        return Err(DomainError::InvalidState(format!(
            "the secret of `{name}` changed while this one was being set; try again"
        ))
        .into());
    }
    sqlx::query("UPDATE upstreams SET secret_sealed = $1, secret_version = $2, updated_at = $3, secret_leak_fingerprint = $4 WHERE id = $5")
        .bind(secret.bytes)
        .bind(secret.version)
        .bind(now.as_millis())
        .bind(secret.leak_fingerprint)
        .bind(current.id.to_string())
        .execute(&mut *tx)
        .await?;
    let updated = fetch(&mut tx, name, "").await?;
    let event = upstream_event(EventKind::UpstreamUpdated, actor, &updated)
        .detail("changed", "secret")
        .detail("secret_version", updated.secret_version.to_string());
    store.audit_in_tx(&mut tx, vec![event], now).await?;
    store.commit(tx, &[Topic::Catalog]).await?;
    Ok(updated)
}

pub(super) async fn sealed_secret(pool: &AnyPool, name: &str) -> StoreResult<Option<SealedSecret>> {
    let row = sqlx::query(
        "SELECT secret_sealed, secret_version, secret_leak_fingerprint FROM upstreams WHERE name = $1",
    )
        .bind(name.to_string())
        .fetch_optional(pool)
        .await?;
    let Some(row) = row else {
        return Err(DomainError::UnknownUpstream(name.to_string()).into());
    };
    let bytes: Option<Vec<u8>> = row.try_get("secret_sealed")?;
    let version: i64 = row.try_get("secret_version")?;
    let leak_fingerprint: Option<String> = row.try_get("secret_leak_fingerprint")?;
    Ok(bytes.map(|bytes| SealedSecret {
        bytes,
        version,
        leak_fingerprint,
    }))
}

pub(super) async fn delete(
    store: &SqlStore,
    actor: &Actor,
    name: &str,
    check: &dyn PolicySetCheck,
    now: Timestamp,
) -> StoreResult<Upstream> {
    let mut tx = store.begin_write().await?;
    lock_policies(store, &mut tx).await?;
    let current = fetch(&mut tx, name, store.dialect.for_update()).await?;
    sqlx::query("DELETE FROM upstreams WHERE id = $1")
        .bind(current.id.to_string())
        .execute(&mut *tx)
        .await?;
    check_policy_set(&mut tx, check).await?;
    store
        .audit_in_tx(
            &mut tx,
            vec![upstream_event(EventKind::UpstreamDeleted, actor, &current)],
            now,
        )
        .await?;
    store.commit(tx, &[Topic::Catalog]).await?;
    Ok(current)
}

fn policy(row: &sqlx::any::AnyRow) -> StoreResult<StoredPolicy> {
    Ok(StoredPolicy {
        id: row.try_get("id")?,
        text: row.try_get("text")?,
        version: row.try_get("version")?,
        created_at: Timestamp::from_millis(row.try_get("created_at")?),
        updated_at: Timestamp::from_millis(row.try_get("updated_at")?),
    })
}

pub(super) async fn list_policies(pool: &AnyPool) -> StoreResult<Vec<StoredPolicy>> {
    read_policies(pool).await
}

async fn read_policies<'c>(
    executor: impl sqlx::Executor<'c, Database = sqlx::Any>,
) -> StoreResult<Vec<StoredPolicy>> {
    let rows =
        sqlx::query("SELECT id, text, version, created_at, updated_at FROM policies ORDER BY id")
            .fetch_all(executor)
            .await?;
    rows.iter().map(policy).collect()
}

pub(super) async fn get_policy(pool: &AnyPool, id: &str) -> StoreResult<StoredPolicy> {
    let row =
        sqlx::query("SELECT id, text, version, created_at, updated_at FROM policies WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(pool)
            .await?;
    match row {
        Some(row) => policy(&row),
        None => Err(DomainError::UnknownPolicy(id.to_string()).into()),
    }
}

pub(super) async fn policy_set_version(connection: &mut AnyConnection) -> StoreResult<i64> {
    let row = sqlx::query("SELECT COALESCE(MAX(version), 0) AS version FROM policy_history")
        .fetch_one(connection)
        .await?;
    Ok(row.try_get("version")?)
}

fn policy_event(kind: EventKind, actor: &Actor, id: &str, version: i64) -> NewEvent {
    NewEvent::new(kind, actor.clone())
        .target("policy", id.to_string())
        .detail("policy_set_version", version.to_string())
}

async fn record_history(
    connection: &mut AnyConnection,
    version: i64,
    id: &str,
    change: &str,
    text: Option<&str>,
    now: Timestamp,
) -> StoreResult<()> {
    sqlx::query("INSERT INTO policy_history (version, policy_id, change, text, at) VALUES ($1, $2, $3, $4, $5)")
        .bind(version)
        .bind(id.to_string())
        .bind(change.to_string())
        .bind(text.map(str::to_string))
        .bind(now.as_millis())
        .execute(connection)
        .await?;
    Ok(())
}

pub(super) async fn put_policy(
    store: &SqlStore,
    actor: &Actor,
    id: &str,
    text: &str,
    replace: bool,
    check: &dyn PolicySetCheck,
    now: Timestamp,
) -> StoreResult<StoredPolicy> {
    warden_core::policy::validate_policy_id(id)?;
    let mut tx = store.begin_write().await?;
    lock_policies(store, &mut tx).await?;
    let exists = sqlx::query("SELECT id FROM policies WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(&mut *tx)
        .await?
        .is_some();
    if exists && !replace {
        return Err(DomainError::DuplicatePolicy(id.to_string()).into());
    }
    let version = policy_set_version(&mut tx).await? + 1;
    if exists {
        sqlx::query("UPDATE policies SET text = $1, version = $2, updated_at = $3 WHERE id = $4")
            .bind(text.to_string())
            .bind(version)
            .bind(now.as_millis())
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
    } else {
        sqlx::query("INSERT INTO policies (id, text, version, created_at, updated_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(id.to_string())
            .bind(text.to_string())
            .bind(version)
            .bind(now.as_millis())
            .bind(now.as_millis())
            .execute(&mut *tx)
            .await?;
    }
    let (change, kind) = if exists {
        ("updated", EventKind::PolicyUpdated)
    } else {
        ("created", EventKind::PolicyCreated)
    };
    check_policy_set(&mut tx, check).await?;
    record_history(&mut tx, version, id, change, Some(text), now).await?;
    store
        .audit_in_tx(&mut tx, vec![policy_event(kind, actor, id, version)], now)
        .await?;
    let stored =
        sqlx::query("SELECT id, text, version, created_at, updated_at FROM policies WHERE id = $1")
            .bind(id.to_string())
            .fetch_one(&mut *tx)
            .await?;
    let stored = policy(&stored)?;
    store.commit(tx, &[Topic::Catalog]).await?;
    Ok(stored)
}

pub(super) async fn delete_policy(
    store: &SqlStore,
    actor: &Actor,
    id: &str,
    now: Timestamp,
) -> StoreResult<StoredPolicy> {
    let mut tx = store.begin_write().await?;
    lock_policies(store, &mut tx).await?;
    let row =
        sqlx::query("SELECT id, text, version, created_at, updated_at FROM policies WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&mut *tx)
            .await?;
    let Some(row) = row else {
        return Err(DomainError::UnknownPolicy(id.to_string()).into());
    };
    let removed = policy(&row)?;
    let version = policy_set_version(&mut tx).await? + 1;
    sqlx::query("DELETE FROM policies WHERE id = $1")
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
    record_history(&mut tx, version, id, "deleted", None, now).await?;
    store
        .audit_in_tx(
            &mut tx,
            vec![policy_event(EventKind::PolicyDeleted, actor, id, version)],
            now,
        )
        .await?;
    store.commit(tx, &[Topic::Catalog]).await?;
    Ok(removed)
}
