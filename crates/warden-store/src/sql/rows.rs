//! Reading rows back into domain types. A row that does not decode is reported as corrupt
//! rather than guessed at.

use std::str::FromStr;

use sqlx::Row;
use sqlx::any::AnyRow;
use uuid::Uuid;
use warden_core::{
    Identity, IdentityId, IdentityStatus, Labels, Owner, OwnerId, SuspensionReason, Timestamp,
};

use crate::error::{StoreError, StoreResult};

pub(super) const OWNER_COLUMNS: &str =
    "id, email, name, status, created_at, updated_at, offboarded_at";

pub(super) const IDENTITY_COLUMNS: &str = "i.id, i.kind, i.name, i.owner_id, o.email AS owner_email, \
     i.purpose, i.environment, i.labels, i.status, i.suspension_reason, i.source, i.source_detail, \
     i.parent_id, i.created_at, i.updated_at, i.expires_at, i.last_used_at";

pub(super) const IDENTITY_FROM: &str = " FROM identities i JOIN owners o ON o.id = i.owner_id";

fn corrupt(what: &str, detail: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {detail}"))
}

fn uuid(row: &AnyRow, column: &str) -> StoreResult<Uuid> {
    let text: String = row.try_get(column)?;
    Uuid::parse_str(&text).map_err(|error| corrupt(column, error))
}

fn optional_uuid(row: &AnyRow, column: &str) -> StoreResult<Option<Uuid>> {
    let text: Option<String> = row.try_get(column)?;
    text.map(|text| Uuid::parse_str(&text).map_err(|error| corrupt(column, error)))
        .transpose()
}

fn time(row: &AnyRow, column: &str) -> StoreResult<Timestamp> {
    Ok(Timestamp::from_millis(row.try_get(column)?))
}

fn optional_time(row: &AnyRow, column: &str) -> StoreResult<Option<Timestamp>> {
    let millis: Option<i64> = row.try_get(column)?;
    Ok(millis.map(Timestamp::from_millis))
}

fn parsed<T: FromStr>(row: &AnyRow, column: &str) -> StoreResult<T>
where
    T::Err: std::fmt::Display,
{
    let text: String = row.try_get(column)?;
    text.parse().map_err(|error| corrupt(column, error))
}

fn optional_parsed<T: FromStr>(row: &AnyRow, column: &str) -> StoreResult<Option<T>>
where
    T::Err: std::fmt::Display,
{
    let text: Option<String> = row.try_get(column)?;
    text.map(|text| text.parse().map_err(|error| corrupt(column, error)))
        .transpose()
}

pub(super) fn owner(row: &AnyRow) -> StoreResult<Owner> {
    Ok(Owner {
        id: OwnerId(uuid(row, "id")?),
        email: row.try_get("email")?,
        name: row.try_get("name")?,
        status: parsed(row, "status")?,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
        offboarded_at: optional_time(row, "offboarded_at")?,
    })
}

pub(super) fn identity(row: &AnyRow) -> StoreResult<Identity> {
    let labels_json: String = row.try_get("labels")?;
    let labels: Labels =
        serde_json::from_str(&labels_json).map_err(|error| corrupt("labels", error))?;
    let status: IdentityStatus = parsed(row, "status")?;
    let suspension_reason: Option<SuspensionReason> = optional_parsed(row, "suspension_reason")?;
    Ok(Identity {
        id: IdentityId(uuid(row, "id")?),
        kind: parsed(row, "kind")?,
        name: row.try_get("name")?,
        owner_id: OwnerId(uuid(row, "owner_id")?),
        owner: row.try_get("owner_email")?,
        purpose: row.try_get("purpose")?,
        environment: optional_parsed(row, "environment")?,
        labels,
        status,
        suspension_reason,
        source: parsed(row, "source")?,
        source_detail: row.try_get("source_detail")?,
        parent_id: optional_uuid(row, "parent_id")?.map(IdentityId),
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
        expires_at: optional_time(row, "expires_at")?,
        last_used_at: optional_time(row, "last_used_at")?,
    })
}
