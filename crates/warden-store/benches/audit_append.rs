//! Durable audit append: the group-commit writer under concurrent callers, against a
//! baseline measured in the same run: the same number of rows inserted in batches straight
//! into a bare table, with no chaining, hashing, signing or query indexes. On SQLite, and on
//! PostgreSQL when the test server is reachable (otherwise skipped with a note).
//!
//! Run with `cargo bench -p warden-store --bench audit_append`; `-- sqlite` or
//! `-- postgres` runs one backend.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr
)]

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

/// Which database a baseline runs against.
#[derive(Clone, Copy)]
enum Backend {
    Sqlite,
    Postgres,
}

/// The same rows, batched 512 to a transaction, into a bare table: what the database itself
/// costs. It binds anonymous `?` placeholders on SQLite and `$N` on PostgreSQL, and sends
/// 64 rows per statement on SQLite, as the store does, and 16 on PostgreSQL (small enough
/// not to stall on Nagle's algorithm; the store fills each statement up to
/// `POSTGRES_STATEMENT_BYTES`).
async fn baseline(url: &str, backend: Backend) -> Duration {
    let mut connection = sqlx::AnyConnection::connect(url).await.unwrap();
    if let Backend::Sqlite = backend {
        sqlx::query("PRAGMA journal_mode = WAL")
            .execute(&mut connection)
            .await
            .unwrap();
        sqlx::query("PRAGMA synchronous = FULL")
            .execute(&mut connection)
            .await
            .unwrap();
    }
    // On SQLite the key is the rowid, as `audit_events.sequence` is.
    let key = match backend {
        Backend::Sqlite => "INTEGER",
        Backend::Postgres => "BIGINT",
    };
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE TABLE IF NOT EXISTS plain (sequence {key} PRIMARY KEY, record TEXT NOT NULL)"
    )))
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
        let chunk = match backend {
            Backend::Sqlite => 64,
            Backend::Postgres => 16,
        };
        for rows in batch.chunks(chunk) {
            let placeholders: Vec<String> = (0..rows.len())
                .map(|i| match backend {
                    Backend::Sqlite => "(?, ?)".to_string(),
                    Backend::Postgres => format!("(${}, ${})", 2 * i + 1, 2 * i + 2),
                })
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

fn settings() -> AuditSettings {
    AuditSettings {
        node: "bench".into(),
        signer: Some(Arc::new(AuditSigner::generate().unwrap())),
        checkpoints: CheckpointPolicy {
            every_events: 1000,
            every_millis: 10_000,
        },
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn sqlite(c: &mut Criterion) {
    let runtime = runtime();
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("bench.db").display()
    );
    let store = Arc::new(
        runtime
            .block_on(SqlStore::connect(&url, settings()))
            .unwrap(),
    );

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
                .map(|_| runtime.block_on(baseline(&baseline_url, Backend::Sqlite)))
                .sum()
        })
    });
    group.finish();
}

/// The same benchmark on PostgreSQL (`WARDEN_TEST_DATABASE_URL`, default the test server
/// the store's conformance suite uses), in a schema of its own that is dropped afterwards.
/// Skipped with a note when the server is unreachable.
fn postgres(c: &mut Criterion) {
    let runtime = runtime();
    let base = std::env::var("WARDEN_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string());
    let schema = format!("warden_bench_{}", uuid::Uuid::now_v7().simple());
    if let Err(error) = runtime.block_on(admin(&base, &format!("CREATE SCHEMA {schema}"))) {
        eprintln!(
            "audit_append: PostgreSQL at {base} is unreachable ({error}); skipping its benchmark"
        );
        return;
    }
    let separator = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{separator}options=-c%20search_path%3D{schema}");
    let store = Arc::new(
        runtime
            .block_on(SqlStore::connect(&url, settings()))
            .unwrap(),
    );

    let mut group = c.benchmark_group("audit_append_postgres");
    group.throughput(Throughput::Elements(EVENTS as u64));
    group.sample_size(10);
    group.bench_function("group_commit_256_callers", |b| {
        b.iter_custom(|iterations| {
            (0..iterations)
                .map(|_| runtime.block_on(group_commit(store.clone())))
                .sum()
        })
    });
    group.bench_function("baseline_plain_batched_insert", |b| {
        b.iter_custom(|iterations| {
            (0..iterations)
                .map(|_| runtime.block_on(baseline(&url, Backend::Postgres)))
                .sum()
        })
    });
    group.finish();
    runtime.block_on(store.close());
    if let Err(error) = runtime.block_on(admin(&base, &format!("DROP SCHEMA {schema} CASCADE"))) {
        eprintln!("audit_append: could not drop the benchmark schema {schema}: {error}");
    }
}

async fn admin(base: &str, statement: &str) -> Result<(), String> {
    let connect = sqlx::AnyConnection::connect(base);
    let mut connection = tokio::time::timeout(Duration::from_secs(5), connect)
        .await
        .map_err(|_| "timed out after 5 s".to_string())?
        .map_err(|error| error.to_string())?;
    sqlx::query(sqlx::AssertSqlSafe(statement.to_string()))
        .execute(&mut connection)
        .await
        .map_err(|error| error.to_string())?;
    Ok(())
}

fn install_drivers(_: &mut Criterion) {
    sqlx::any::install_default_drivers();
}

criterion_group!(benches, install_drivers, sqlite, postgres);
criterion_main!(benches);
