//! Copies SQLite's write-ahead log back into the database beside the writer, so the copy
//! is off the commit path.
//!
//! In WAL mode every commit appends pages to the log, and the log must now and then be
//! copied into the database file (a checkpoint) before it can start over. Left to SQLite,
//! the commit that crosses `wal_autocheckpoint` pages does the copy itself, and every
//! gateway decision waiting on that commit waits for the copy too. Here a connection of its
//! own runs a `PASSIVE` checkpoint a few times a second: it copies what no reader still
//! needs, takes no lock the writer waits on, and syncs the database file on its own
//! connection's thread. The writer keeps a high `wal_autocheckpoint` only as the log's
//! bound, reached when this task falls behind (a disk too slow for the load, a reader that
//! holds an old snapshot), so the log cannot grow without limit.

use std::sync::{Arc, Weak};
use std::time::Duration;

use sqlx::{AnyPool, Row};

/// How often the log is copied back. At the audit trail's busiest (tens of thousands of
/// events a second) this keeps the log to a few thousand pages.
const INTERVAL: Duration = Duration::from_millis(100);

/// Log pages after which the writer's own commit copies the log back: the bound for when
/// the checkpointer falls behind (about 40 MiB of log at 4 KiB pages).
pub(super) const WAL_BOUND_PAGES: u32 = 10_000;

/// Runs the checkpoints on `pool` (a pool of one connection, used for nothing else) until
/// every clone of the store that holds `alive` is gone or the pool is closed.
pub(super) fn spawn(pool: AnyPool, alive: &Arc<()>) {
    let alive: Weak<()> = Arc::downgrade(alive);
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(INTERVAL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if alive.strong_count() == 0 || pool.is_closed() {
                break;
            }
            if let Err(error) = checkpoint(&pool).await {
                if pool.is_closed() {
                    break;
                }
                tracing::warn!(%error, "the write-ahead log could not be copied back; the writer's bound still applies");
            }
        }
        pool.close().await;
    });
}

/// One passive checkpoint; records how far behind the log was.
async fn checkpoint(pool: &AnyPool) -> Result<(), sqlx::Error> {
    let row = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
        .fetch_one(pool)
        .await?;
    // (busy, pages in the log, pages copied back); -1 when the database is not in WAL mode.
    let log: i64 = row.try_get(1)?;
    let copied: i64 = row.try_get(2)?;
    if log >= 0 {
        // Page counts are far below 2^52, so the conversions are exact.
        metrics::histogram!("warden_store_wal_pages").record(log as f64);
        metrics::histogram!("warden_store_wal_pages_left").record((log - copied).max(0) as f64);
    }
    Ok(())
}
