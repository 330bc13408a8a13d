//! Server-wide settings: small values decided once and shared by every node.

use sqlx::{AnyPool, Row};

use super::SqlStore;
use crate::error::StoreResult;

pub(super) async fn get(pool: &AnyPool, key: &str) -> StoreResult<Option<String>> {
    let row = sqlx::query("SELECT value FROM settings WHERE key = $1")
        .bind(key.to_string())
        .fetch_optional(pool)
        .await?;
    Ok(row.map(|row| row.try_get("value")).transpose()?)
}

pub(super) async fn put_if_absent(store: &SqlStore, key: &str, value: &str) -> StoreResult<String> {
    let mut tx = store.begin_write().await?;
    sqlx::query("INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
        .bind(key.to_string())
        .bind(value.to_string())
        .execute(&mut *tx)
        .await?;
    let stored: String = sqlx::query("SELECT value FROM settings WHERE key = $1")
        .bind(key.to_string())
        .fetch_one(&mut *tx)
        .await?
        .try_get("value")?;
    tx.commit().await?;
    Ok(stored)
}
