//! Durable audit append on SQLite: the group-commit writer under concurrent callers, against
//! a baseline measured in the same run: the same number of rows inserted in batches of the
//! same size straight into a table of the same shape, with no chaining, hashing or signing.
//!
//! Run with `cargo bench -p warden-store --bench audit_append`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sqlx::Connection;
use warden_audit::{Actor, AuditSigner, CheckpointPolicy, Decision, EventKind, NewEvent};
use warden_core::Timestamp;
use warden_store::{AuditSettings, SqlStore, Store};

const EVENTS: usize = 10_000;
const CALLERS: usize = 256;

fn event(index: usize) -> NewEvent {
    NewEvent::new(
        EventKind::GatewayDecision,
        Actor::agent(
            format!("id-{}", index % 50),
            format!("agent-{}", index % 50),
        ),
    )
    .upstream("crm")
    .action("tickets.read")
    .resource(format!("Ticket::\"{index}\""))
    .decision(Decision::Allow, ["support-read"])
    .reason("customer asked for a status update")
}

/// Appends EVENTS events from CALLERS concurrent tasks; returns the elapsed time.
async fn group_commit(store: Arc<SqlStore>) -> Duration {
    let started = Instant::now();
    let per_caller = EVENTS / CALLERS + 1;
    let mut tasks = Vec::new();
    for caller in 0..CALLERS {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for index in 0..per_caller {
                let number = caller * per_caller + index;
                if number >= EVENTS {
                    break;
                }
                store
                    .record(event(number), Timestamp::from_millis(1))
                    .await
                    .unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    started.elapsed()
}

/// The same rows, batched 512 to a transaction, into a bare table: what SQLite itself costs.
async fn baseline(url: &str) -> Duration {
    let mut connection = sqlx::AnyConnection::connect(url).await.unwrap();
    sqlx::query("PRAGMA journal_mode = WAL")
        .execute(&mut connection)
        .await
        .unwrap();
    sqlx::query("PRAGMA synchronous = FULL")
        .execute(&mut connection)
        .await
        .unwrap();
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS plain (sequence INTEGER PRIMARY KEY, record TEXT NOT NULL)",
    )
    .execute(&mut connection)
    .await
    .unwrap();
    sqlx::query("DELETE FROM plain")
        .execute(&mut connection)
        .await
        .unwrap();
    let record = serde_json::to_string(&event(0)).unwrap();
    let started = Instant::now();
    for batch in (0..EVENTS).collect::<Vec<_>>().chunks(512) {
        let mut tx = connection.begin().await.unwrap();
        for rows in batch.chunks(64) {
            let placeholders: Vec<String> = (0..rows.len())
                .map(|i| format!("(${}, ${})", 2 * i + 1, 2 * i + 2))
                .collect();
            let sql = format!(
                "INSERT INTO plain (sequence, record) VALUES {}",
                placeholders.join(", ")
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for row in rows {
                query = query
                    .bind(i64::try_from(*row).unwrap())
                    .bind(record.clone());
            }
            query.execute(&mut *tx).await.unwrap();
        }
        tx.commit().await.unwrap();
    }
    started.elapsed()
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("bench.db").display()
    );
    let settings = AuditSettings {
        node: "bench".into(),
        signer: Some(Arc::new(AuditSigner::generate().unwrap())),
        checkpoints: CheckpointPolicy {
            every_events: 1000,
            every_millis: 10_000,
        },
    };
    let store = Arc::new(runtime.block_on(SqlStore::connect(&url, settings)).unwrap());
    sqlx::any::install_default_drivers();

    let mut group = c.benchmark_group("audit_append_sqlite");
    group.throughput(Throughput::Elements(EVENTS as u64));
    group.sample_size(10);
    group.bench_function("group_commit_256_callers", |b| {
        b.iter_custom(|iterations| {
            (0..iterations)
                .map(|_| runtime.block_on(group_commit(store.clone())))
                .sum()
        })
    });
    let baseline_url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("baseline.db").display()
    );
    group.bench_function("baseline_plain_batched_insert", |b| {
        b.iter_custom(|iterations| {
            (0..iterations)
                .map(|_| runtime.block_on(baseline(&baseline_url)))
                .sum()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
