//! Writing and reading the audit chain in SQL.
//!
//! There is one chain per deployment, shared by every node. Appends take the chain's lock
//! (the single writer connection on SQLite, a transaction-scoped advisory lock on
//! PostgreSQL), read the head inside that transaction, and insert; so the chain cannot fork
//! however many nodes write. Two paths append:
//!
//! - changes to owners and identities append their event inside the transaction that makes
//!   the change, so a change and its record commit together or not at all;
//! - everything else (gateway decisions, token events) goes through the group-commit writer:
//!   concurrent `record` calls are batched into one transaction, one fsync, and each caller
//!   is answered only once its batch is durable.

use std::sync::Arc;

use sqlx::{Any, AnyConnection, AnyPool, AssertSqlSafe, Row, Transaction};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;
use warden_audit::verify::{Problem, VerifyFailure, VerifyReport};
use warden_audit::{AuditEvent, AuditPublicKey, Chain, ChainHash, ChainHead, Checkpoint, NewEvent};
use warden_core::Timestamp;

use super::Dialect;
use super::query::{Value, Where};
use crate::audit::{AuditQuery, AuditSettings, AuditVerifyError};
use crate::error::{StoreError, StoreResult};

/// The advisory-lock key that makes appends to the chain one at a time on PostgreSQL.
const CHAIN_LOCK: i64 = 0x5741_5244_454e_0002;
/// The most events one group commit writes.
const MAX_BATCH: usize = 512;
/// How many times the writer yields to let callers queue more before it writes a batch.
const MAX_YIELDS: usize = 8;
/// Rows read per round trip when verifying.
const VERIFY_CHUNK: i64 = 10_000;

const EVENT_COLUMNS: usize = 14;

fn corrupt(detail: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("audit: {detail}"))
}

fn to_i64(sequence: u64) -> StoreResult<i64> {
    i64::try_from(sequence).map_err(|_| corrupt("sequence out of range"))
}

/// Appends `events` to the chain inside `tx`, signing a checkpoint when one is due.
pub(super) async fn append_in_tx(
    tx: &mut Transaction<'static, Any>,
    dialect: Dialect,
    settings: &AuditSettings,
    events: Vec<NewEvent>,
    now: Timestamp,
) -> StoreResult<Vec<AuditEvent>> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    if dialect == Dialect::Postgres {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(CHAIN_LOCK)
            .execute(&mut **tx)
            .await?;
    }
    let head = read_head(tx).await?;
    let mut chain = Chain::new(head);
    let mut records = Vec::with_capacity(events.len());
    for event in events {
        let record = chain
            .append(event, Uuid::now_v7(), now, &settings.node)
            .map_err(|error| StoreError::Unavailable(error.to_string()))?;
        records.push(record);
    }
    insert_records(tx, dialect, &records).await?;
    if let Some(signer) = &settings.signer {
        let last = last_checkpoint(tx).await?;
        let head = chain.head();
        if settings.checkpoints.due(last.as_ref(), &head, now) {
            let checkpoint = signer.sign(&head, now, &settings.node);
            insert_checkpoint(tx, &checkpoint).await?;
        }
    }
    Ok(records)
}

/// When [`checkpoint_tail`] signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Anchor {
    /// When records are unanchored and the checkpoint policy says one is due: the timer of
    /// a running node.
    WhenDue,
    /// Whenever records are unanchored, whatever the policy says: the last checkpoint of a
    /// node that stops, so a clean stop leaves no record protected by the chain alone.
    Always,
}

/// Signs a checkpoint over the current head if records were appended since the last one
/// and `anchor` says so; idle nodes call this on a timer so the tail of the log is anchored
/// without waiting for the next event, and a stopping node calls it once more at the end.
pub(super) async fn checkpoint_tail(
    pool: &AnyPool,
    dialect: Dialect,
    settings: &AuditSettings,
    now: Timestamp,
    anchor: Anchor,
) -> StoreResult<Option<Checkpoint>> {
    let Some(signer) = &settings.signer else {
        return Ok(None);
    };
    let mut tx = super::begin_write(pool, dialect).await?;
    if dialect == Dialect::Postgres {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(CHAIN_LOCK)
            .execute(&mut *tx)
            .await?;
    }
    let head = read_head(&mut tx).await?;
    let last = last_checkpoint(&mut tx).await?;
    let behind = last
        .as_ref()
        .map_or(head.sequence > 0, |last| last.sequence < head.sequence);
    let wanted = match anchor {
        Anchor::WhenDue => settings.checkpoints.due(last.as_ref(), &head, now),
        Anchor::Always => true,
    };
    if !behind || !wanted {
        return Ok(None);
    }
    let checkpoint = signer.sign(&head, now, &settings.node);
    insert_checkpoint(&mut tx, &checkpoint).await?;
    tx.commit().await?;
    Ok(Some(checkpoint))
}

async fn read_head(connection: &mut AnyConnection) -> StoreResult<ChainHead> {
    let row = sqlx::query("SELECT sequence, hash FROM audit_events ORDER BY sequence DESC LIMIT 1")
        .fetch_optional(connection)
        .await?;
    let Some(row) = row else {
        return Ok(ChainHead::GENESIS);
    };
    let sequence: i64 = row.try_get("sequence")?;
    let hash: String = row.try_get("hash")?;
    Ok(ChainHead {
        sequence: u64::try_from(sequence).map_err(|_| corrupt("negative sequence"))?,
        hash: hash.parse::<ChainHash>().map_err(corrupt)?,
    })
}

async fn last_checkpoint(connection: &mut AnyConnection) -> StoreResult<Option<Checkpoint>> {
    let row = sqlx::query("SELECT record FROM audit_checkpoints ORDER BY sequence DESC LIMIT 1")
        .fetch_optional(connection)
        .await?;
    row.map(|row| {
        let text: String = row.try_get("record")?;
        serde_json::from_str(&text).map_err(corrupt)
    })
    .transpose()
}

async fn insert_checkpoint(
    connection: &mut AnyConnection,
    checkpoint: &Checkpoint,
) -> StoreResult<()> {
    sqlx::query("INSERT INTO audit_checkpoints (sequence, record) VALUES ($1, $2)")
        .bind(to_i64(checkpoint.sequence)?)
        .bind(serde_json::to_string(checkpoint).map_err(corrupt)?)
        .execute(connection)
        .await?;
    Ok(())
}

/// The `actor` column: the actor's name, or the component for Warden itself.
fn actor_text(event: &AuditEvent) -> &str {
    match &event.actor {
        warden_audit::Actor::Admin { name, .. } | warden_audit::Actor::Agent { name, .. } => name,
        warden_audit::Actor::System { component } => component,
    }
}

fn actor_name(event: &AuditEvent) -> String {
    actor_text(event).to_owned()
}

/// Rows per INSERT statement on SQLite: one statement per chunk rather than one per row,
/// since each statement is a round trip to the connection's worker thread.
const SQLITE_CHUNK: usize = 64;

/// The text of a multi-row INSERT of `rows` audit rows.
///
/// SQLite gets anonymous `?` placeholders: sqlx binds a named or numbered one (`$7`) by
/// looking its name up in SQLite's list of parameter names, a linear search per
/// parameter, which makes binding a statement quadratic in its parameter count (with
/// 64 rows of 14 columns that was most of the cost of the insert). PostgreSQL needs `$N`.
///
/// On SQLite, `OR FAIL` rather than the default `ABORT`: to undo only the failing
/// statement, `ABORT` makes SQLite copy every existing page a multi-row statement changes
/// into a statement journal first (the query indexes' leaf pages, past its 64 KiB in
/// memory, into a temporary file). `FAIL` keeps the rows before a failure, and nothing is
/// lost by that: every caller rolls the whole transaction back on any error from the
/// append.
fn insert_sql(dialect: Dialect, rows: usize) -> String {
    let mut sql = String::with_capacity(160 + rows * EVENT_COLUMNS * 6);
    sql.push_str(match dialect {
        Dialect::Sqlite => "INSERT OR FAIL INTO",
        Dialect::Postgres => "INSERT INTO",
    });
    sql.push_str(
        " audit_events (sequence, id, time, node, kind, actor, on_behalf_of, owner, task_id, \
         upstream, action, decision, record, hash) VALUES ",
    );
    let mut parameter = 0;
    for row in 0..rows {
        sql.push_str(if row == 0 { "(" } else { ", (" });
        for column in 0..EVENT_COLUMNS {
            if column > 0 {
                sql.push_str(", ");
            }
            parameter += 1;
            match dialect {
                Dialect::Sqlite => sql.push('?'),
                Dialect::Postgres => {
                    sql.push('$');
                    sql.push_str(&parameter.to_string());
                }
            }
        }
        sql.push(')');
    }
    sql
}

/// The most bytes of column values one PostgreSQL INSERT carries.
///
/// sqlx 0.9.0 leaves Nagle's algorithm on for TCP connections (transact-rs/sqlx#4335), and
/// a new socket's send buffer holds 16 KiB (Linux's default `tcp_wmem`). A statement larger
/// than that leaves its tail for a second write, which Nagle holds back until the server
/// acknowledges the first part, and the server delays that acknowledgement by about 40 ms:
/// statements of 64 rows held the audit append on PostgreSQL to ~1,200 events/s, and in
/// the benchmark anything above about 16,000 bytes stalled. Under the limit a statement
/// goes out in one write, and the one before it was acknowledged by its answer. A single
/// row larger than the limit is sent on its own.
const POSTGRES_STATEMENT_BYTES: usize = 15_000;

async fn insert_records(
    connection: &mut AnyConnection,
    dialect: Dialect,
    records: &[AuditEvent],
) -> StoreResult<()> {
    match dialect {
        Dialect::Sqlite => insert_sqlite(connection, records).await,
        Dialect::Postgres => insert_postgres(connection, records).await,
    }
}

/// Inserts on SQLite in statements of [`SQLITE_CHUNK`] rows. The statements run on the
/// connection's worker thread, so each next statement's arguments (the record's JSON, the
/// column copies) are built here while the worker thread runs the one before.
async fn insert_sqlite(connection: &mut AnyConnection, records: &[AuditEvent]) -> StoreResult<()> {
    let mut chunks = records.chunks(SQLITE_CHUNK);
    let mut next = chunks.next().map(sqlite_insert).transpose()?;
    while let Some(statement) = next.take() {
        let chunk = chunks.next();
        let (executed, built) = futures::join!(statement.execute(&mut *connection), async {
            chunk.map(sqlite_insert).transpose()
        });
        executed?;
        next = built?;
    }
    Ok(())
}

/// One SQLite INSERT of `chunk`, its arguments bound.
fn sqlite_insert(
    chunk: &[AuditEvent],
) -> StoreResult<sqlx::query::Query<'static, Any, sqlx::any::AnyArguments>> {
    let rows = chunk
        .iter()
        .map(|record| Ok((record, serde_json::to_string(record).map_err(corrupt)?)))
        .collect::<StoreResult<Vec<_>>>()?;
    bind_rows(Dialect::Sqlite, rows.into_iter())
}

/// Inserts on PostgreSQL in statements of as many rows as fit in
/// [`POSTGRES_STATEMENT_BYTES`].
async fn insert_postgres(
    connection: &mut AnyConnection,
    records: &[AuditEvent],
) -> StoreResult<()> {
    let mut rows: Vec<(&AuditEvent, String)> = Vec::new();
    let mut bytes = 0;
    for record in records {
        let json = serde_json::to_string(record).map_err(corrupt)?;
        let size = wire_bytes(record, &json);
        if !rows.is_empty() && bytes + size > POSTGRES_STATEMENT_BYTES {
            bind_rows(Dialect::Postgres, rows.drain(..))?
                .execute(&mut *connection)
                .await?;
            bytes = 0;
        }
        bytes += size;
        rows.push((record, json));
    }
    if !rows.is_empty() {
        bind_rows(Dialect::Postgres, rows.drain(..))?
            .execute(&mut *connection)
            .await?;
    }
    Ok(())
}

/// About how many bytes a row's values take in a PostgreSQL `Bind` message: each value is
/// its length (4 bytes) and its bytes, integers 8.
fn wire_bytes(record: &AuditEvent, json: &str) -> usize {
    let optional = [
        &record.on_behalf_of,
        &record.owner,
        &record.task_id,
        &record.upstream,
        &record.action,
    ]
    .into_iter()
    .map(|value| value.as_ref().map_or(0, String::len))
    .sum::<usize>();
    EVENT_COLUMNS * 4
        + 2 * 8
        + 36
        + record.node.len()
        + record.kind.as_str().len()
        + actor_text(record).len()
        + optional
        + record
            .decision
            .map_or(0, |decision| decision.as_str().len())
        + json.len()
        + 64
}

/// One multi-row INSERT of `rows` (each a record and its JSON), its arguments bound.
fn bind_rows<'a>(
    dialect: Dialect,
    rows: impl ExactSizeIterator<Item = (&'a AuditEvent, String)>,
) -> StoreResult<sqlx::query::Query<'static, Any, sqlx::any::AnyArguments>> {
    let mut query = sqlx::query(AssertSqlSafe(insert_sql(dialect, rows.len())));
    for (record, json) in rows {
        query = query
            .bind(to_i64(record.sequence)?)
            .bind(record.id.to_string())
            .bind(record.time.as_millis())
            .bind(record.node.clone())
            .bind(record.kind.as_str())
            .bind(actor_name(record))
            .bind(record.on_behalf_of.clone())
            .bind(record.owner.clone())
            .bind(record.task_id.clone())
            .bind(record.upstream.clone())
            .bind(record.action.clone())
            .bind(record.decision.map(|decision| decision.as_str()))
            .bind(json)
            .bind(record.hash.to_string());
    }
    Ok(query)
}

/// A request waiting in the group-commit queue.
struct Pending {
    event: NewEvent,
    now: Timestamp,
    /// Who waits for the record; `None` for a detached append.
    reply: Option<oneshot::Sender<StoreResult<AuditEvent>>>,
}

/// A request for a final checkpoint, queued behind the events it must cover.
struct Seal {
    now: Timestamp,
    reply: oneshot::Sender<StoreResult<Option<Checkpoint>>>,
}

/// What the group-commit writer is asked to do, in the order it was asked.
///
/// Appends are the hot path and stay unboxed: the queue held `Pending` by value before a
/// seal could be queued, so the larger variant costs nothing new, while boxing it would cost
/// an allocation per event. A seal is sent once, when a node stops.
#[allow(clippy::large_enum_variant)]
enum Job {
    Append(Pending),
    Seal(Seal),
}

/// The handle callers use to append through the group-commit writer.
#[derive(Debug, Clone)]
pub(super) struct GroupCommit {
    queue: mpsc::Sender<Job>,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("kind", &self.event.kind)
            .finish()
    }
}

fn writer_stopped() -> StoreError {
    StoreError::Unavailable("the audit writer has stopped".into())
}

fn writer_gone() -> StoreError {
    StoreError::Unavailable("the audit writer stopped before answering".into())
}

impl GroupCommit {
    pub(super) fn spawn(pool: AnyPool, dialect: Dialect, settings: Arc<AuditSettings>) -> Self {
        let (queue, receiver) = mpsc::channel(8 * MAX_BATCH);
        tokio::spawn(run_writer(pool, dialect, settings, receiver));
        Self { queue }
    }

    /// Appends one event; returns once the batch holding it is committed.
    pub(super) async fn record(&self, event: NewEvent, now: Timestamp) -> StoreResult<AuditEvent> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Job::Append(Pending {
                event,
                now,
                reply: Some(reply),
            }))
            .await
            .map_err(|_| writer_stopped())?;
        answer.await.map_err(|_| writer_gone())?
    }

    /// Queues one event without waiting for it to be written. Taking a free place in the
    /// queue costs no task and no reply channel; only when the queue is full does a task
    /// wait for room, so a burst is delayed, never dropped.
    pub(super) fn record_detached(&self, event: NewEvent, now: Timestamp) {
        let job = Job::Append(Pending {
            event,
            now,
            reply: None,
        });
        match self.queue.try_send(job) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(job)) => {
                let queue = self.queue.clone();
                let Ok(runtime) = tokio::runtime::Handle::try_current() else {
                    tracing::error!(
                        "an audit record was dropped: its queue is full and no runtime is running"
                    );
                    return;
                };
                runtime.spawn(async move {
                    if queue.send(job).await.is_err() {
                        tracing::error!(error = %writer_stopped(), "an audit record was not written");
                    }
                });
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                tracing::error!(error = %writer_stopped(), "an audit record was not written");
            }
        }
    }

    /// Signs a checkpoint over the head once every event queued before this call is
    /// written. Going through the queue is what makes "before" hold: an event whose caller
    /// gave up waiting (a task aborted at shutdown) is still in the queue and still written,
    /// and a checkpoint signed beside the queue could miss it.
    pub(super) async fn seal(&self, now: Timestamp) -> StoreResult<Option<Checkpoint>> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Job::Seal(Seal { now, reply }))
            .await
            .map_err(|_| writer_stopped())?;
        answer.await.map_err(|_| writer_gone())?
    }
}

async fn run_writer(
    pool: AnyPool,
    dialect: Dialect,
    settings: Arc<AuditSettings>,
    mut queue: mpsc::Receiver<Job>,
) {
    while let Some(job) = queue.recv().await {
        let first = match job {
            Job::Append(pending) => pending,
            Job::Seal(seal) => {
                answer_seal(&pool, dialect, &settings, seal).await;
                continue;
            }
        };
        // Callers answered by the previous batch are runnable but may not have queued their
        // next event yet. Yielding until the queue stops growing lets them, so batches grow
        // with the load instead of alternating between stragglers and everyone else; when
        // nobody else is waiting this costs one yield. A seal ends the batch: it covers what
        // was queued before it, so it is answered right after the batch commits.
        let mut batch = vec![first];
        let mut seal = None;
        'collect: for _ in 0..MAX_YIELDS {
            tokio::task::yield_now().await;
            let before = batch.len();
            while batch.len() < MAX_BATCH {
                match queue.try_recv() {
                    Ok(Job::Append(next)) => batch.push(next),
                    Ok(Job::Seal(next)) => {
                        seal = Some(next);
                        break 'collect;
                    }
                    Err(_) => break,
                }
            }
            if batch.len() == before || batch.len() == MAX_BATCH {
                break;
            }
        }
        commit_batch(&pool, dialect, &settings, batch).await;
        if let Some(seal) = seal {
            answer_seal(&pool, dialect, &settings, seal).await;
        }
    }
}

async fn answer_seal(pool: &AnyPool, dialect: Dialect, settings: &AuditSettings, seal: Seal) {
    let signed = checkpoint_tail(pool, dialect, settings, seal.now, Anchor::Always).await;
    let _ = seal.reply.send(signed);
}

/// Writes one batch in one transaction and answers each of its callers.
async fn commit_batch(
    pool: &AnyPool,
    dialect: Dialect,
    settings: &AuditSettings,
    batch: Vec<Pending>,
) {
    let now = batch
        .iter()
        .map(|pending| pending.now)
        .max()
        .unwrap_or(Timestamp::from_millis(0));
    // The events move into the chain; only the reply channels stay behind.
    let size = batch.len();
    let (events, replies): (Vec<NewEvent>, Vec<_>) = batch
        .into_iter()
        .map(|pending| (pending.event, pending.reply))
        .unzip();
    let started = std::time::Instant::now();
    let written = write_batch(pool, dialect, settings, events, now).await;
    // Batch sizes are at most MAX_BATCH, so the float conversions are exact.
    metrics::histogram!("warden_audit_commit_seconds").record(started.elapsed().as_secs_f64());
    metrics::histogram!("warden_audit_batch_size").record(size as f64);
    let outcome = if written.is_ok() {
        "committed"
    } else {
        "failed"
    };
    metrics::counter!("warden_audit_events_total", "outcome" => outcome).increment(size as u64);
    match written {
        Ok(records) => {
            for (reply, record) in replies.into_iter().zip(records) {
                if let Some(reply) = reply {
                    let _ = reply.send(Ok(record));
                }
            }
        }
        Err(error) => {
            tracing::error!(%error, events = size, "audit batch could not be written");
            let message = error.to_string();
            for reply in replies.into_iter().flatten() {
                let _ = reply.send(Err(StoreError::Unavailable(message.clone())));
            }
        }
    }
}

async fn write_batch(
    pool: &AnyPool,
    dialect: Dialect,
    settings: &AuditSettings,
    events: Vec<NewEvent>,
    now: Timestamp,
) -> StoreResult<Vec<AuditEvent>> {
    let mut tx = super::begin_write(pool, dialect).await?;
    let records = append_in_tx(&mut tx, dialect, settings, events, now).await?;
    tx.commit().await?;
    Ok(records)
}

fn decode_event(row: &sqlx::any::AnyRow) -> StoreResult<AuditEvent> {
    let text: String = row.try_get("record")?;
    serde_json::from_str(&text).map_err(corrupt)
}

pub(super) async fn query(pool: &AnyPool, request: &AuditQuery) -> StoreResult<Vec<AuditEvent>> {
    let filter = &request.filter;
    let mut conditions = Where::default();
    let text = |value: &Option<String>| value.clone().map(Value::Text);
    let columns = [
        (
            "kind",
            filter.kind.map(|kind| Value::Text(kind.as_str().into())),
        ),
        ("actor", text(&filter.actor)),
        ("owner", text(&filter.owner)),
        ("on_behalf_of", text(&filter.on_behalf_of)),
        ("upstream", text(&filter.upstream)),
        ("action", text(&filter.action)),
        (
            "decision",
            filter
                .decision
                .map(|decision| Value::Text(decision.as_str().into())),
        ),
        ("task_id", text(&filter.task_id)),
    ];
    for (column, value) in columns {
        if let Some(value) = value {
            conditions.and(&format!("{column} = ?"), [value]);
        }
    }
    if let Some(since) = filter.since {
        conditions.and("time >= ?", [Value::Int(since.as_millis())]);
    }
    if let Some(until) = filter.until {
        conditions.and("time < ?", [Value::Int(until.as_millis())]);
    }
    if let Some(after) = request.after {
        conditions.and("sequence > ?", [Value::Int(to_i64(after)?)]);
    }
    let order = if request.newest { "DESC" } else { "ASC" };
    let sql = format!(
        "SELECT record FROM audit_events{} ORDER BY sequence {order} LIMIT {}",
        conditions.sql(),
        request.limit
    );
    let rows = conditions.bind_into(sql).fetch_all(pool).await?;
    let mut events = rows
        .iter()
        .map(decode_event)
        .collect::<StoreResult<Vec<_>>>()?;
    if request.newest {
        events.reverse();
    }
    Ok(events)
}

pub(super) async fn checkpoints(pool: &AnyPool) -> StoreResult<Vec<Checkpoint>> {
    let rows = sqlx::query("SELECT record FROM audit_checkpoints ORDER BY sequence")
        .fetch_all(pool)
        .await?;
    rows.iter()
        .map(|row| {
            let text: String = row.try_get("record")?;
            serde_json::from_str(&text).map_err(corrupt)
        })
        .collect()
}

/// Checks that a row's query columns say what its record says; a mismatch means someone
/// edited the columns behind the chain's back. Every column but `record` is a copy taken
/// from the record when it was written, so each one is compared: a column left out here
/// could be rewritten without verification noticing, misleading whoever reads it.
fn columns_agree(row: &sqlx::any::AnyRow, event: &AuditEvent) -> StoreResult<Option<&'static str>> {
    let sequence: i64 = row.try_get("sequence")?;
    if u64::try_from(sequence).ok() != Some(event.sequence) {
        return Ok(None);
    }
    let checks: [(&'static str, Option<String>, Option<String>); 11] = [
        ("id", row.try_get("id")?, Some(event.id.to_string())),
        ("node", row.try_get("node")?, Some(event.node.clone())),
        (
            "kind",
            row.try_get("kind")?,
            Some(event.kind.as_str().to_string()),
        ),
        ("actor", row.try_get("actor")?, Some(actor_name(event))),
        (
            "on_behalf_of",
            row.try_get("on_behalf_of")?,
            event.on_behalf_of.clone(),
        ),
        ("owner", row.try_get("owner")?, event.owner.clone()),
        ("task_id", row.try_get("task_id")?, event.task_id.clone()),
        ("upstream", row.try_get("upstream")?, event.upstream.clone()),
        ("action", row.try_get("action")?, event.action.clone()),
        (
            "decision",
            row.try_get("decision")?,
            event.decision.map(|d| d.as_str().to_string()),
        ),
        ("hash", row.try_get("hash")?, Some(event.hash.to_string())),
    ];
    let time: i64 = row.try_get("time")?;
    if time != event.time.as_millis() {
        return Ok(Some("time"));
    }
    Ok(checks
        .into_iter()
        .find(|(_, column, record)| column != record)
        .map(|(name, _, _)| name))
}

/// Verifies the stored chain and checkpoints, reading the trail in chunks so memory stays
/// bounded however long it is.
pub(super) async fn verify(
    pool: &AnyPool,
    key: &AuditPublicKey,
) -> Result<VerifyReport, AuditVerifyError> {
    let all_checkpoints = checkpoints(pool).await?;
    let mut head = ChainHead::GENESIS;
    let mut total: Option<VerifyReport> = None;
    let mut after: i64 = i64::MIN;
    loop {
        let rows = sqlx::query(
            "SELECT sequence, id, time, node, kind, actor, on_behalf_of, owner, task_id, upstream, action, decision, record, hash \
             FROM audit_events WHERE sequence > $1 ORDER BY sequence LIMIT $2",
        )
        .bind(after)
        .bind(VERIFY_CHUNK)
        .fetch_all(pool)
        .await
        .map_err(StoreError::from)?;
        let last_chunk = i64::try_from(rows.len()).unwrap_or(i64::MAX) < VERIFY_CHUNK;
        let mut events = Vec::with_capacity(rows.len());
        for row in &rows {
            let event = decode_event(row).map_err(|error| VerifyFailure {
                sequence: row
                    .try_get::<i64, _>("sequence")
                    .ok()
                    .and_then(|s| u64::try_from(s).ok())
                    .unwrap_or(0),
                problem: Problem::Edited,
                detail: format!("the stored record cannot be read: {error}"),
            })?;
            let stored_sequence: i64 = row.try_get("sequence").map_err(StoreError::from)?;
            if let Some(column) = columns_agree(row, &event)? {
                return Err(VerifyFailure {
                    sequence: event.sequence,
                    problem: Problem::Edited,
                    detail: format!(
                        "the `{column}` column of record {} does not match the hashed record",
                        event.sequence
                    ),
                }
                .into());
            }
            after = stored_sequence;
            events.push(event);
        }
        // Each chunk continues from the head the previous one ended at; the checkpoints
        // inside the chunk are checked with it, and the last chunk takes every later one
        // so a log cut short after a checkpoint is caught.
        let chunk_end = events.last().map_or(head.sequence, |event| event.sequence);
        let in_chunk: Vec<Checkpoint> = all_checkpoints
            .iter()
            .filter(|checkpoint| {
                checkpoint.sequence > head.sequence
                    && (last_chunk || checkpoint.sequence <= chunk_end)
            })
            .cloned()
            .collect();
        let report = warden_audit::verify::verify_from(head, &events, &in_chunk, key)?;
        head = ChainHead {
            sequence: report.last_sequence,
            hash: report.last_hash,
        };
        total = Some(match total {
            None => report,
            Some(previous) => VerifyReport {
                events_verified: previous.events_verified + report.events_verified,
                first_sequence: previous.first_sequence.or(report.first_sequence),
                last_sequence: report.last_sequence,
                last_hash: report.last_hash,
                checkpoints_verified: previous.checkpoints_verified + report.checkpoints_verified,
                last_checkpoint: report.last_checkpoint.or(previous.last_checkpoint),
                unanchored_events: report.unanchored_events,
            },
        });
        if last_chunk {
            break;
        }
    }
    match total {
        Some(report) => Ok(report),
        None => Ok(warden_audit::verify::verify(
            Vec::<AuditEvent>::new(),
            &all_checkpoints,
            key,
        )?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_inserts_use_anonymous_placeholders() {
        let sql = insert_sql(Dialect::Sqlite, 2);
        assert!(sql.starts_with("INSERT OR FAIL INTO audit_events"));
        assert!(!sql.contains('$'));
        assert_eq!(sql.matches('?').count(), 2 * EVENT_COLUMNS);
        assert!(sql.ends_with("?, ?), (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
    }

    #[test]
    fn postgres_inserts_number_placeholders_across_rows() {
        let sql = insert_sql(Dialect::Postgres, 2);
        assert!(sql.starts_with("INSERT INTO audit_events"));
        assert!(!sql.contains('?'));
        assert!(sql.contains("($1, $2, "));
        assert!(sql.contains("$14), ($15, "));
        assert!(sql.ends_with("$28)"));
    }
}
