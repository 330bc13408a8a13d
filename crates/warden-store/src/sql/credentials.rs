//! The credential plane's tables: client credentials, revoked tokens, the signing key ring,
//! owner-wide kill switches, and the revocation snapshot that verification keeps in memory.

use crate::feed::Topic;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AnyPool, Row};
use warden_audit::{Actor, EventKind, NewEvent};
use warden_core::{
    DomainError, Identity, IdentityRef, IdentityStatus, OwnerRef, SuspensionReason, Timestamp,
};

use super::{SqlStore, identities, owners};
use crate::credentials::{
    Credential, CredentialKind, CredentialStatus, DATA_KEY_FINGERPRINT_SETTING, IdentityState,
    NewCredential, ResealedData, RevocationSnapshot, StoredSigningKey, TokenRevocation,
};
use crate::error::{StoreError, StoreResult};

const CREDENTIAL_COLUMNS: &str = "id, identity_id, kind, secret_hash, public_jwk, scope, status, \
     created_at, expires_at, revoked_at";

fn credential(row: &AnyRow) -> StoreResult<Credential> {
    let kind: String = row.try_get("kind")?;
    let status: String = row.try_get("status")?;
    let jwk: Option<String> = row.try_get("public_jwk")?;
    let public_jwk = jwk
        .map(|text| serde_json::from_str(&text))
        .transpose()
        .map_err(|error| StoreError::Corrupt(format!("public_jwk: {error}")))?;
    Ok(Credential {
        id: row.try_get("id")?,
        identity_id: row.try_get("identity_id")?,
        kind: CredentialKind::parse(&kind)
            .map_err(|_| StoreError::Corrupt(format!("credential kind `{kind}`")))?,
        secret_hash: row.try_get("secret_hash")?,
        public_jwk,
        scope: row.try_get("scope")?,
        status: CredentialStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("credential status `{status}`")))?,
        created_at: Timestamp::from_millis(row.try_get("created_at")?),
        expires_at: Timestamp::from_millis(row.try_get("expires_at")?),
        revoked_at: row
            .try_get::<Option<i64>, _>("revoked_at")?
            .map(Timestamp::from_millis),
    })
}

fn credential_event(
    kind: EventKind,
    actor: &Actor,
    identity: &Identity,
    credential: &Credential,
) -> NewEvent {
    identities::identity_event(kind, actor, identity)
        .credential(credential.id.clone())
        .detail("credential_kind", credential.kind.as_str())
}

async fn insert(connection: &mut AnyConnection, credential: &Credential) -> StoreResult<()> {
    let jwk = credential
        .public_jwk
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(|error| StoreError::Corrupt(format!("public_jwk: {error}")))?;
    let inserted = sqlx::query(
        "INSERT INTO credentials (id, identity_id, kind, secret_hash, public_jwk, scope, status, \
         created_at, expires_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(credential.id.clone())
    .bind(credential.identity_id.clone())
    .bind(credential.kind.as_str())
    .bind(credential.secret_hash.clone())
    .bind(jwk)
    .bind(credential.scope.clone())
    .bind(credential.status.as_str())
    .bind(credential.created_at.as_millis())
    .bind(credential.expires_at.as_millis())
    .bind(credential.revoked_at.map(Timestamp::as_millis))
    .execute(connection)
    .await;
    match inserted {
        Ok(_) => Ok(()),
        // A duplicate id or secret hash means 256 random bits collided: a bug, not input.
        Err(sqlx::Error::Database(error)) if error.is_unique_violation() => Err(
            StoreError::Corrupt("a new credential collides with a stored one".into()),
        ),
        Err(error) => Err(error.into()),
    }
}

/// Credentials may be issued only to identities that can act.
fn ensure_active(identity: &Identity, now: Timestamp) -> StoreResult<()> {
    match identity.effective_status(now) {
        IdentityStatus::Active => Ok(()),
        IdentityStatus::Revoked => Err(DomainError::Revoked(identity.reference()).into()),
        status => Err(DomainError::InvalidState(format!(
            "`{}` is {status}; credentials are issued only to active identities",
            identity.reference()
        ))
        .into()),
    }
}

fn build(identity: &Identity, new: NewCredential, now: Timestamp) -> Credential {
    Credential {
        id: new.id,
        identity_id: identity.id.to_string(),
        kind: new.kind,
        secret_hash: new.secret_hash,
        public_jwk: new.public_jwk,
        scope: new.scope,
        status: CredentialStatus::Active,
        created_at: now,
        expires_at: new.expires_at,
        revoked_at: None,
    }
}

pub(super) async fn create(
    store: &SqlStore,
    actor: &Actor,
    reference: &IdentityRef,
    new: NewCredential,
    now: Timestamp,
) -> StoreResult<Credential> {
    let lock = store.dialect.for_update();
    let mut tx = store.begin_write().await?;
    let identity = identities::fetch(&mut tx, reference, lock).await?;
    ensure_active(&identity, now)?;
    let credential = build(&identity, new, now);
    insert(&mut tx, &credential).await?;
    let event = credential_event(EventKind::CredentialIssued, actor, &identity, &credential);
    store.audit_in_tx(&mut tx, vec![event], now).await?;
    store.commit(tx, &[Topic::Access]).await?;
    Ok(credential)
}

pub(super) async fn list(pool: &AnyPool, reference: &IdentityRef) -> StoreResult<Vec<Credential>> {
    let mut connection = pool.acquire().await?;
    let identity = identities::fetch(&mut connection, reference, "").await?;
    let sql =
        format!("SELECT {CREDENTIAL_COLUMNS} FROM credentials WHERE identity_id = $1 ORDER BY id");
    let found = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(identity.id.to_string())
        .fetch_all(&mut *connection)
        .await?;
    found.iter().map(credential).collect()
}

pub(super) async fn get(pool: &AnyPool, id: &str) -> StoreResult<Credential> {
    let sql = format!("SELECT {CREDENTIAL_COLUMNS} FROM credentials WHERE id = $1");
    match sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id.to_string())
        .fetch_optional(pool)
        .await?
    {
        Some(row) => credential(&row),
        None => Err(DomainError::UnknownCredential(id.to_string()).into()),
    }
}

pub(super) async fn by_secret_hash(pool: &AnyPool, hash: &str) -> StoreResult<Option<Credential>> {
    let sql = format!("SELECT {CREDENTIAL_COLUMNS} FROM credentials WHERE secret_hash = $1");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(hash.to_string())
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(credential)
        .transpose()
}

pub(super) async fn rotate(
    store: &SqlStore,
    actor: &Actor,
    reference: &IdentityRef,
    new: NewCredential,
    overlap_until: Timestamp,
    now: Timestamp,
) -> StoreResult<(Credential, Vec<Credential>)> {
    let lock = store.dialect.for_update();
    let mut tx = store.begin_write().await?;
    let identity = identities::fetch(&mut tx, reference, lock).await?;
    ensure_active(&identity, now)?;
    let sql = format!(
        "SELECT {CREDENTIAL_COLUMNS} FROM credentials WHERE identity_id = $1 AND kind = $2 \
         AND status = 'active' ORDER BY id{lock}"
    );
    let previous = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(identity.id.to_string())
        .bind(new.kind.as_str())
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(credential)
        .collect::<StoreResult<Vec<_>>>()?;
    if previous.is_empty() {
        return Err(DomainError::InvalidState(format!(
            "`{}` has no active {} credential to rotate; issue one with `warden credential issue`",
            identity.reference(),
            new.kind.as_str()
        ))
        .into());
    }
    let mut retired = Vec::with_capacity(previous.len());
    for mut old in previous {
        old.status = CredentialStatus::Rotated;
        old.expires_at = old.expires_at.min(overlap_until);
        sqlx::query("UPDATE credentials SET status = 'rotated', expires_at = $1 WHERE id = $2")
            .bind(old.expires_at.as_millis())
            .bind(old.id.clone())
            .execute(&mut *tx)
            .await?;
        retired.push(old);
    }
    let scope = new
        .scope
        .clone()
        .or_else(|| retired.iter().rev().find_map(|old| old.scope.clone()));
    let credential = build(&identity, NewCredential { scope, ..new }, now);
    insert(&mut tx, &credential).await?;
    let previous_ids: Vec<&str> = retired.iter().map(|old| old.id.as_str()).collect();
    let event = credential_event(EventKind::CredentialRotated, actor, &identity, &credential)
        .detail("previous", previous_ids.join(","))
        .detail("overlap_until", overlap_until.to_rfc3339());
    store.audit_in_tx(&mut tx, vec![event], now).await?;
    store.commit(tx, &[Topic::Access]).await?;
    Ok((credential, retired))
}

pub(super) async fn revoke(
    store: &SqlStore,
    actor: &Actor,
    id: &str,
    now: Timestamp,
) -> StoreResult<Credential> {
    let lock = store.dialect.for_update();
    let mut tx = store.begin_write().await?;
    let sql = format!("SELECT {CREDENTIAL_COLUMNS} FROM credentials WHERE id = $1{lock}");
    let mut found = match sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id.to_string())
        .fetch_optional(&mut *tx)
        .await?
    {
        Some(row) => credential(&row)?,
        None => return Err(DomainError::UnknownCredential(id.to_string()).into()),
    };
    if found.status == CredentialStatus::Revoked {
        return Err(
            DomainError::InvalidState(format!("credential `{id}` is already revoked")).into(),
        );
    }
    let identity = identities::fetch(&mut tx, &IdentityRef::parse(&found.identity_id)?, "").await?;
    found.status = CredentialStatus::Revoked;
    found.revoked_at = Some(now);
    sqlx::query("UPDATE credentials SET status = 'revoked', revoked_at = $1 WHERE id = $2")
        .bind(now.as_millis())
        .bind(found.id.clone())
        .execute(&mut *tx)
        .await?;
    let event = credential_event(EventKind::CredentialRevoked, actor, &identity, &found);
    store.audit_in_tx(&mut tx, vec![event], now).await?;
    store.commit(tx, &[Topic::Access]).await?;
    Ok(found)
}

pub(super) async fn revoke_token(
    store: &SqlStore,
    actor: &Actor,
    revocation: TokenRevocation,
    now: Timestamp,
) -> StoreResult<()> {
    let mut tx = store.begin_write().await?;
    sqlx::query(
        "INSERT INTO revoked_tokens (jti, identity_id, expires_at, revoked_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (jti) DO NOTHING",
    )
    .bind(revocation.jti.clone())
    .bind(revocation.identity_id.clone())
    .bind(revocation.expires_at.as_millis())
    .bind(now.as_millis())
    .execute(&mut *tx)
    .await?;
    let mut event = NewEvent::new(EventKind::TokenRevoked, actor.clone()).token(revocation.jti);
    if let Some(identity) = revocation.identity_id {
        event = event.target("identity", identity);
    }
    store.audit_in_tx(&mut tx, vec![event], now).await?;
    store.commit(tx, &[Topic::Access]).await?;
    Ok(())
}

/// One statement, so the check and the mark cannot be split by another node: the insert
/// wins, or takes over a row that has expired, or changes nothing (a replay).
pub(super) async fn use_client_assertion(
    store: &SqlStore,
    client_id: &str,
    jti: &str,
    expires_at: Timestamp,
    now: Timestamp,
) -> StoreResult<bool> {
    let result = sqlx::query(
        "INSERT INTO used_client_assertions (client_id, jti, expires_at, used_at) \
         VALUES ($1, $2, $3, $4) \
         ON CONFLICT (client_id, jti) DO UPDATE \
         SET expires_at = excluded.expires_at, used_at = excluded.used_at \
         WHERE used_client_assertions.expires_at <= excluded.used_at",
    )
    .bind(client_id.to_string())
    .bind(jti.to_string())
    .bind(expires_at.as_millis())
    .bind(now.as_millis())
    .execute(&store.writer)
    .await?;
    Ok(result.rows_affected() == 1)
}

pub(super) async fn purge_client_assertions(store: &SqlStore, now: Timestamp) -> StoreResult<u64> {
    let result = sqlx::query("DELETE FROM used_client_assertions WHERE expires_at <= $1")
        .bind(now.as_millis())
        .execute(&store.writer)
        .await?;
    Ok(result.rows_affected())
}

pub(super) async fn snapshot(pool: &AnyPool, now: Timestamp) -> StoreResult<RevocationSnapshot> {
    let identities = sqlx::query(
        "SELECT i.id, i.kind, i.name, i.owner_id, o.email AS owner_email, i.parent_id, i.status, \
         i.suspension_reason, i.expires_at, i.environment FROM identities i JOIN owners o ON o.id = i.owner_id",
    )
    .fetch_all(pool)
    .await?
    .iter()
    .map(|row| {
        Ok(IdentityState {
            id: row.try_get("id")?,
            kind: row.try_get("kind")?,
            name: row.try_get("name")?,
            owner_id: row.try_get("owner_id")?,
            owner_email: row.try_get("owner_email")?,
            parent_id: row.try_get("parent_id")?,
            status: row.try_get("status")?,
            suspension_reason: row.try_get("suspension_reason")?,
            expires_at: row
                .try_get::<Option<i64>, _>("expires_at")?
                .map(Timestamp::from_millis),
            environment: row.try_get("environment")?,
        })
    })
    .collect::<StoreResult<Vec<_>>>()?;
    let offboarded_owners = sqlx::query("SELECT id FROM owners WHERE status = 'offboarded'")
        .fetch_all(pool)
        .await?
        .iter()
        .map(|row| row.try_get("id"))
        .collect::<Result<Vec<String>, _>>()?;
    let revoked_credentials = sqlx::query("SELECT id FROM credentials WHERE status = 'revoked'")
        .fetch_all(pool)
        .await?
        .iter()
        .map(|row| row.try_get("id"))
        .collect::<Result<Vec<String>, _>>()?;
    let revoked_tokens =
        sqlx::query("SELECT jti, expires_at FROM revoked_tokens WHERE expires_at > $1")
            .bind(now.as_millis())
            .fetch_all(pool)
            .await?
            .iter()
            .map(|row| {
                Ok((
                    row.try_get("jti")?,
                    Timestamp::from_millis(row.try_get("expires_at")?),
                ))
            })
            .collect::<StoreResult<Vec<_>>>()?;
    Ok(RevocationSnapshot {
        identities,
        offboarded_owners,
        revoked_credentials,
        revoked_tokens,
    })
}

/// Suspends (kill) or revokes (`permanent`) every identity of an owner that is not already
/// stopped; returns the identities changed.
pub(super) async fn kill_owner(
    store: &SqlStore,
    actor: &Actor,
    reference: &OwnerRef,
    permanent: bool,
    now: Timestamp,
) -> StoreResult<Vec<Identity>> {
    let lock = store.dialect.for_update();
    let mut tx = store.begin_write().await?;
    let owner = owners::fetch(&mut tx, reference, lock).await?;
    let mut changed = Vec::new();
    let mut events = Vec::new();
    for mut identity in owners::owned_identities(&mut tx, owner.id, lock).await? {
        let event = if permanent {
            if identity.status == IdentityStatus::Revoked {
                continue;
            }
            identity.revoke(now)?;
            identities::identity_event(EventKind::IdentityRevoked, actor, &identity)
        } else {
            if identity.status != IdentityStatus::Active {
                continue;
            }
            identity.suspend(SuspensionReason::Killed, now)?;
            identities::identity_event(EventKind::IdentitySuspended, actor, &identity)
                .detail("suspension_reason", SuspensionReason::Killed.as_str())
        };
        identities::save(&mut tx, &identity, false).await?;
        events.push(event);
        changed.push(identity);
    }
    events.push(
        NewEvent::new(EventKind::KillApplied, actor.clone())
            .owner(owner.email.clone())
            .target_named("owner", owner.id.to_string(), owner.email.clone())
            .detail("mode", if permanent { "revoke" } else { "suspend" })
            .detail("stopped", changed.len().to_string()),
    );
    store.audit_in_tx(&mut tx, events, now).await?;
    store.commit(tx, &[Topic::Access]).await?;
    Ok(changed)
}

/// Lifts the kill-switch suspensions of an owner's identities (other suspensions stay).
pub(super) async fn restore_owner(
    store: &SqlStore,
    actor: &Actor,
    reference: &OwnerRef,
    now: Timestamp,
) -> StoreResult<Vec<Identity>> {
    let lock = store.dialect.for_update();
    let mut tx = store.begin_write().await?;
    let owner = owners::fetch(&mut tx, reference, lock).await?;
    let mut changed = Vec::new();
    let mut events = Vec::new();
    for mut identity in owners::owned_identities(&mut tx, owner.id, lock).await? {
        if identity.status != IdentityStatus::Suspended
            || identity.suspension_reason != Some(SuspensionReason::Killed)
        {
            continue;
        }
        identity.restore(&owner, now)?;
        identities::save(&mut tx, &identity, false).await?;
        events.push(identities::identity_event(
            EventKind::IdentityRestored,
            actor,
            &identity,
        ));
        changed.push(identity);
    }
    events.push(
        NewEvent::new(EventKind::KillRestored, actor.clone())
            .owner(owner.email.clone())
            .target_named("owner", owner.id.to_string(), owner.email.clone())
            .detail("restored", changed.len().to_string()),
    );
    store.audit_in_tx(&mut tx, events, now).await?;
    store.commit(tx, &[Topic::Access]).await?;
    Ok(changed)
}

fn signing_key(row: &AnyRow) -> StoreResult<StoredSigningKey> {
    Ok(StoredSigningKey {
        kid: row.try_get("kid")?,
        sealed: row.try_get("sealed")?,
        created_at: row.try_get("created_at")?,
        retired_at: row.try_get("retired_at")?,
        not_after: row.try_get("not_after")?,
    })
}

pub(super) async fn signing_keys(pool: &AnyPool) -> StoreResult<Vec<StoredSigningKey>> {
    sqlx::query(
        "SELECT kid, sealed, created_at, retired_at, not_after FROM signing_keys ORDER BY created_at",
    )
    .fetch_all(pool)
    .await?
    .iter()
    .map(signing_key)
    .collect()
}

async fn insert_key(connection: &mut AnyConnection, key: &StoredSigningKey) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO signing_keys (kid, sealed, created_at, retired_at, not_after) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(key.kid.clone())
    .bind(key.sealed.clone())
    .bind(key.created_at)
    .bind(key.retired_at)
    .bind(key.not_after)
    .execute(connection)
    .await?;
    Ok(())
}

/// Stores the first key ring unless one exists; returns whether ours was stored.
pub(super) async fn init_signing_keys(
    store: &SqlStore,
    keys: Vec<StoredSigningKey>,
) -> StoreResult<bool> {
    let mut tx = store.begin_write().await?;
    if store.dialect == super::Dialect::Postgres {
        sqlx::query("LOCK TABLE signing_keys IN EXCLUSIVE MODE")
            .execute(&mut *tx)
            .await?;
    }
    let existing: i64 = sqlx::query("SELECT COUNT(*) AS n FROM signing_keys")
        .fetch_one(&mut *tx)
        .await?
        .try_get("n")?;
    if existing > 0 {
        return Ok(false);
    }
    for key in &keys {
        insert_key(&mut tx, key).await?;
    }
    store.commit(tx, &[Topic::Keys]).await?;
    Ok(true)
}

/// Replaces the whole key ring (after a rotation or a prune) and records the rotation.
pub(super) async fn replace_signing_keys(
    store: &SqlStore,
    actor: &Actor,
    keys: Vec<StoredSigningKey>,
    now: Timestamp,
) -> StoreResult<()> {
    let mut tx = store.begin_write().await?;
    sqlx::query("DELETE FROM signing_keys")
        .execute(&mut *tx)
        .await?;
    for key in &keys {
        insert_key(&mut tx, key).await?;
    }
    let active = keys
        .iter()
        .find(|key| key.retired_at.is_none())
        .map(|key| key.kid.clone())
        .unwrap_or_default();
    let event = NewEvent::new(EventKind::KeyRotated, actor.clone())
        .target("signing_key", active)
        .detail("published_keys", keys.len().to_string());
    store.audit_in_tx(&mut tx, vec![event], now).await?;
    store.commit(tx, &[Topic::Keys]).await?;
    Ok(())
}

/// Replaces every sealed value with its re-sealing under a new data key, and the recorded
/// fingerprint with the new key's, in one transaction: either every secret opens under the
/// new key afterwards or nothing changed. Refused when the recorded fingerprint is not
/// `old_fingerprint` (another rotation got there first) or an upstream's secret moved on.
pub(super) async fn reseal_data(
    store: &SqlStore,
    actor: &Actor,
    resealed: ResealedData,
    now: Timestamp,
) -> StoreResult<()> {
    let mut tx = store.begin_write().await?;
    let changed = sqlx::query("UPDATE settings SET value = $1 WHERE key = $2 AND value = $3")
        .bind(&resealed.new_fingerprint)
        .bind(DATA_KEY_FINGERPRINT_SETTING)
        .bind(&resealed.old_fingerprint)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if changed != 1 {
        return Err(DomainError::InvalidState(
            "the database's data key is not the one this rotation started from; nothing was changed".into(),
        )
        .into());
    }
    for (id, secret) in &resealed.upstream_secrets {
        let changed = sqlx::query(
            "UPDATE upstreams SET secret_sealed = $1 WHERE id = $2 AND secret_version = $3",
        )
        .bind(secret.bytes.clone())
        .bind(id.to_string())
        .bind(secret.version)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed != 1 {
            return Err(DomainError::InvalidState(format!(
                "upstream {id} changed during the rotation; nothing was changed, run it again"
            ))
            .into());
        }
    }
    for key in &resealed.signing_keys {
        sqlx::query("UPDATE signing_keys SET sealed = $1 WHERE kid = $2")
            .bind(&key.sealed)
            .bind(&key.kid)
            .execute(&mut *tx)
            .await?;
    }
    for request in &resealed.approval_requests {
        // One purged meanwhile stays purged: nothing is written where nothing was kept.
        sqlx::query(
            "UPDATE approvals SET request_sealed = $1 WHERE id = $2 AND request_sealed IS NOT NULL",
        )
        .bind(request.bytes.clone())
        .bind(request.approval_id.clone())
        .execute(&mut *tx)
        .await?;
    }
    for (stream, sealed) in &resealed.stream_authorizations {
        sqlx::query(
            "UPDATE ssf_streams SET push_authorization = $1 WHERE id = $2 AND push_authorization IS NOT NULL",
        )
        .bind(sealed.clone())
        .bind(stream.clone())
        .execute(&mut *tx)
        .await?;
    }
    let event = NewEvent::new(EventKind::KeyRotated, actor.clone())
        .target("data_key", resealed.new_fingerprint.clone())
        .detail("previous_fingerprint", resealed.old_fingerprint.clone())
        .detail(
            "resealed_upstream_secrets",
            resealed.upstream_secrets.len().to_string(),
        )
        .detail(
            "resealed_signing_keys",
            resealed.signing_keys.len().to_string(),
        )
        .detail(
            "resealed_approval_requests",
            resealed.approval_requests.len().to_string(),
        )
        .detail(
            "resealed_stream_authorizations",
            resealed.stream_authorizations.len().to_string(),
        );
    store.audit_in_tx(&mut tx, vec![event], now).await?;
    store.commit(tx, &[Topic::Keys, Topic::Catalog]).await?;
    Ok(())
}
