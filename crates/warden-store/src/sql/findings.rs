//! Findings: reconciling an evaluation with what is stored, and reading, suppressing and
//! counting them.
//!
//! Reconciling opens what is new, reopens what had been resolved, updates what changed, and
//! resolves what the evaluation speaks for but did not raise again, all in one transaction
//! with an audit event for every finding opened, reopened or resolved. An open finding's
//! `last_seen` is the latest evaluation's time (kept as a setting) unless it changed since:
//! an evaluation that finds nothing new writes nothing per finding.

use std::collections::{HashMap, HashSet};

use futures::TryStreamExt as _;
use sqlx::any::AnyRow;
use sqlx::{Any, AnyPool, AssertSqlSafe, Row, Transaction};
use uuid::Uuid;
use warden_audit::{Actor, EventKind, NewEvent};
use warden_core::{DomainError, Page, PageRequest, Timestamp};

use super::Dialect;
use super::SqlStore;
use super::owners::next_cursor;
use super::query::{Value, Where, placeholders};
use crate::error::{StoreError, StoreResult};
use crate::findings::{
    EvaluationScope, FindingDraft, FindingFilter, FindingIdentity, FindingStatus, LEAK_RULE,
    OwaspCounts, PostureSummary, ReconcileOutcome, SeverityCounts, StoredFinding, SubjectPosture,
    Suppression,
};

/// The setting that holds when the last full evaluation ran.
pub(super) const LAST_EVALUATED_SETTING: &str = "posture.last_evaluated_at";

/// Audit events appended per call inside one reconciliation, to bound memory.
const AUDIT_CHUNK: usize = 5_000;
/// Rows per multi-row INSERT of findings (15 values each).
const FINDING_ROWS_PER_INSERT: usize = 100;

const FINDING_COLUMNS: &str = "id, rule, owasp, severity, status, subject_id, identity_id, \
     identity_kind, identity_name, credential, evidence, remediation, first_seen, last_seen, \
     resolved_at, suppressed_until, suppression_reason, suppressed_by";

struct Stored {
    id: String,
    open: bool,
    evidence: String,
    severity: String,
    rule: String,
    subject: String,
}

pub(super) async fn reconcile(
    store: &SqlStore,
    actor: &Actor,
    scope: &EvaluationScope,
    drafts: Vec<FindingDraft>,
    now: Timestamp,
) -> StoreResult<ReconcileOutcome> {
    let mut tx = store.begin_write().await?;
    let mut stored = stored_in_scope(&mut tx, store.dialect, scope).await?;
    stored.retain(|_, finding| (finding.rule == LEAK_RULE) == scope.leaks);
    let mut outcome = ReconcileOutcome::default();
    let mut events = Vec::new();
    let mut inserts = Vec::new();
    let mut raised = HashSet::with_capacity(drafts.len());
    for draft in drafts {
        let key = draft.key();
        if !raised.insert(key.clone()) {
            continue;
        }
        match stored.remove(&key) {
            None => {
                let id = Uuid::now_v7().to_string();
                events.push(finding_event(EventKind::FindingOpened, actor, &id, &draft));
                inserts.push((id, key, draft));
                outcome.opened += 1;
            }
            Some(existing) if !existing.open => {
                sqlx::query(
                    "UPDATE findings SET status = 'open', resolved_at = NULL, last_seen = $1, \
                     evidence = $2, severity = $3, severity_rank = $4 WHERE id = $5",
                )
                .bind(now.as_millis())
                .bind(draft.evidence.clone())
                .bind(draft.severity.clone())
                .bind(draft.severity_rank)
                .bind(existing.id.clone())
                .execute(&mut *tx)
                .await?;
                events.push(
                    finding_event(EventKind::FindingOpened, actor, &existing.id, &draft)
                        .detail("reopened", "true"),
                );
                outcome.reopened += 1;
            }
            Some(existing)
                if existing.evidence != draft.evidence || existing.severity != draft.severity =>
            {
                sqlx::query(
                    "UPDATE findings SET last_seen = $1, evidence = $2, severity = $3, severity_rank = $4 WHERE id = $5",
                )
                .bind(now.as_millis())
                .bind(draft.evidence.clone())
                .bind(draft.severity.clone())
                .bind(draft.severity_rank)
                .bind(existing.id.clone())
                .execute(&mut *tx)
                .await?;
                outcome.updated += 1;
            }
            Some(_) => outcome.unchanged += 1,
        }
        if events.len() >= AUDIT_CHUNK {
            store
                .audit_in_tx(&mut tx, std::mem::take(&mut events), now)
                .await?;
        }
    }
    insert_findings(&mut tx, store.dialect, &inserts, now).await?;
    drop(inserts);
    let mut resolved = Vec::new();
    for (_, existing) in stored.into_iter().filter(|(_, s)| s.open) {
        resolved.push(existing.id.clone());
        events.push(
            NewEvent::new(EventKind::FindingResolved, actor.clone())
                .target_named("finding", existing.id, existing.rule)
                .detail("subject", existing.subject),
        );
        outcome.resolved += 1;
        if events.len() >= AUDIT_CHUNK {
            store
                .audit_in_tx(&mut tx, std::mem::take(&mut events), now)
                .await?;
        }
    }
    for chunk in resolved.chunks(500) {
        let sql = format!(
            "UPDATE findings SET status = 'resolved', resolved_at = {at}, last_seen = {seen} WHERE id IN ({})",
            placeholders(store.dialect, 3, chunk.len()),
            at = placeholders(store.dialect, 1, 1),
            seen = placeholders(store.dialect, 2, 1),
        );
        let mut query = sqlx::query(AssertSqlSafe(sql))
            .bind(now.as_millis())
            .bind(now.as_millis());
        for id in chunk {
            query = query.bind(id.clone());
        }
        query.execute(&mut *tx).await?;
    }
    store.audit_in_tx(&mut tx, events, now).await?;
    if scope.all || scope.full_evaluation {
        sqlx::query(
            "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = $2",
        )
        .bind(LAST_EVALUATED_SETTING)
        .bind(now.as_millis().to_string())
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(outcome)
}

/// The credentials that stored findings (open or resolved) of these rules about these
/// subjects name: what a re-evaluation of the reuse rules over them must look at again, since
/// a credential they no longer hold still has findings on its other holders.
pub(super) async fn credentials_of(
    pool: &AnyPool,
    dialect: Dialect,
    rules: &[String],
    subjects: &[String],
) -> StoreResult<Vec<String>> {
    let mut credentials = HashSet::new();
    if rules.is_empty() {
        return Ok(Vec::new());
    }
    for chunk in subjects.chunks(400) {
        let sql = format!(
            "SELECT DISTINCT credential FROM findings WHERE credential IS NOT NULL \
             AND rule IN ({}) AND subject_id IN ({})",
            placeholders(dialect, 1, rules.len()),
            placeholders(dialect, rules.len() + 1, chunk.len())
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for rule in rules {
            query = query.bind(rule.clone());
        }
        for subject in chunk {
            query = query.bind(subject.clone());
        }
        for row in query.fetch_all(pool).await? {
            credentials.insert(row.try_get::<String, _>("credential")?);
        }
    }
    let mut credentials: Vec<String> = credentials.into_iter().collect();
    credentials.sort();
    Ok(credentials)
}

fn finding_event(kind: EventKind, actor: &Actor, id: &str, draft: &FindingDraft) -> NewEvent {
    let mut event = NewEvent::new(kind, actor.clone())
        .target_named("finding", id.to_string(), draft.rule.clone())
        .detail("owasp", draft.owasp.clone())
        .detail("severity", draft.severity.clone())
        .detail("subject", draft.subject.clone());
    if let Some(credential) = &draft.credential {
        event = event.credential(credential.clone());
    }
    event
}

async fn stored_in_scope(
    tx: &mut Transaction<'static, Any>,
    dialect: Dialect,
    scope: &EvaluationScope,
) -> StoreResult<HashMap<String, Stored>> {
    let mut stored = HashMap::new();
    let select =
        "SELECT id, finding_key, status, evidence, severity, rule, subject_id FROM findings";
    let take = |row: AnyRow, stored: &mut HashMap<String, Stored>| -> StoreResult<()> {
        let status: String = row.try_get("status")?;
        stored.insert(
            row.try_get("finding_key")?,
            Stored {
                id: row.try_get("id")?,
                open: status == "open",
                evidence: row.try_get("evidence")?,
                severity: row.try_get("severity")?,
                rule: row.try_get("rule")?,
                subject: row.try_get("subject_id")?,
            },
        );
        Ok(())
    };
    if scope.leaks {
        let sql = format!("{select} WHERE rule = $1");
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(LEAK_RULE)
            .fetch_all(&mut **tx)
            .await?;
        for row in rows {
            take(row, &mut stored)?;
        }
        return Ok(stored);
    }
    if scope.all {
        let mut rows = sqlx::query(select).fetch(&mut **tx);
        while let Some(row) = rows.try_next().await? {
            take(row, &mut stored)?;
        }
        return Ok(stored);
    }
    if scope.records {
        let sql = format!(
            "{select} WHERE subject_id LIKE 'upstream:%' OR subject_id LIKE 'policy:%' OR subject_id LIKE 'path:%'"
        );
        for row in sqlx::query(AssertSqlSafe(sql)).fetch_all(&mut **tx).await? {
            take(row, &mut stored)?;
        }
    }
    for chunk in scope.subjects.chunks(400) {
        let sql = format!(
            "{select} WHERE subject_id IN ({})",
            placeholders(dialect, 1, chunk.len())
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for subject in chunk {
            query = query.bind(subject.clone());
        }
        for row in query.fetch_all(&mut **tx).await? {
            take(row, &mut stored)?;
        }
    }
    if !scope.rules_on_credentials.is_empty() {
        for chunk in scope.credentials.chunks(400) {
            let rules = scope.rules_on_credentials.len();
            let sql = format!(
                "{select} WHERE rule IN ({}) AND credential IN ({})",
                placeholders(dialect, 1, rules),
                placeholders(dialect, rules + 1, chunk.len())
            );
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for rule in &scope.rules_on_credentials {
                query = query.bind(rule.clone());
            }
            for credential in chunk {
                query = query.bind(credential.clone());
            }
            for row in query.fetch_all(&mut **tx).await? {
                take(row, &mut stored)?;
            }
        }
    }
    Ok(stored)
}

async fn insert_findings(
    tx: &mut Transaction<'static, Any>,
    dialect: Dialect,
    inserts: &[(String, String, FindingDraft)],
    now: Timestamp,
) -> StoreResult<()> {
    for chunk in inserts.chunks(FINDING_ROWS_PER_INSERT) {
        let rows: Vec<String> = (0..chunk.len())
            .map(|n| format!("({}, 'open')", placeholders(dialect, n * 15 + 1, 15)))
            .collect();
        let sql = format!(
            "INSERT INTO findings (id, finding_key, rule, owasp, severity, severity_rank, subject_id, \
             identity_id, identity_kind, identity_name, credential, evidence, remediation, first_seen, last_seen, status) \
             VALUES {}",
            rows.join(", ")
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for (id, key, draft) in chunk {
            let identity = draft.identity.as_ref();
            query = query
                .bind(id.clone())
                .bind(key.clone())
                .bind(draft.rule.clone())
                .bind(draft.owasp.clone())
                .bind(draft.severity.clone())
                .bind(draft.severity_rank)
                .bind(draft.subject.clone())
                .bind(identity.and_then(|i| i.id.clone()))
                .bind(identity.map(|i| i.kind.clone()))
                .bind(identity.map(|i| i.name.clone()))
                .bind(draft.credential.clone())
                .bind(draft.evidence.clone())
                .bind(draft.remediation.clone())
                .bind(now.as_millis())
                .bind(now.as_millis());
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

fn finding_row(
    row: &AnyRow,
    now: Timestamp,
    last_evaluated: Option<Timestamp>,
) -> StoreResult<StoredFinding> {
    let status: String = row.try_get("status")?;
    let suppressed_until: Option<i64> = row.try_get("suppressed_until")?;
    let suppression = match suppressed_until {
        Some(until) => Some(Suppression {
            reason: row
                .try_get::<Option<String>, _>("suppression_reason")?
                .unwrap_or_default(),
            until: Timestamp::from_millis(until),
            by: row
                .try_get::<Option<String>, _>("suppressed_by")?
                .unwrap_or_default(),
        }),
        None => None,
    };
    let open = status == "open";
    let suppressed = open && suppression.as_ref().is_some_and(|s| s.until > now);
    let status = match (open, suppressed) {
        (true, true) => FindingStatus::Suppressed,
        (true, false) => FindingStatus::Open,
        (false, _) => FindingStatus::Resolved,
    };
    let kind: Option<String> = row.try_get("identity_kind")?;
    let name: Option<String> = row.try_get("identity_name")?;
    let identity = match (kind, name) {
        (Some(kind), Some(name)) => Some(FindingIdentity {
            id: row.try_get("identity_id")?,
            kind,
            name,
        }),
        _ => None,
    };
    let mut last_seen = Timestamp::from_millis(row.try_get("last_seen")?);
    if open && let Some(evaluated) = last_evaluated {
        last_seen = last_seen.max(evaluated);
    }
    let resolved_at: Option<i64> = row.try_get("resolved_at")?;
    Ok(StoredFinding {
        id: row.try_get("id")?,
        rule: row.try_get("rule")?,
        owasp: row.try_get("owasp")?,
        severity: row.try_get("severity")?,
        status,
        subject: row.try_get("subject_id")?,
        identity,
        credential: row.try_get("credential")?,
        evidence: row.try_get("evidence")?,
        remediation: row.try_get("remediation")?,
        first_seen: Timestamp::from_millis(row.try_get("first_seen")?),
        last_seen,
        resolved_at: resolved_at.map(Timestamp::from_millis),
        suppression,
    })
}

pub(super) async fn last_evaluated(pool: &AnyPool) -> StoreResult<Option<Timestamp>> {
    let value = super::settings::get(pool, LAST_EVALUATED_SETTING).await?;
    Ok(value
        .and_then(|v| v.parse::<i64>().ok())
        .map(Timestamp::from_millis))
}

pub(super) async fn get(pool: &AnyPool, id: &str, now: Timestamp) -> StoreResult<StoredFinding> {
    let last = last_evaluated(pool).await?;
    let sql = format!("SELECT {FINDING_COLUMNS} FROM findings WHERE id = $1");
    match sqlx::query(AssertSqlSafe(sql))
        .bind(id.to_string())
        .fetch_optional(pool)
        .await?
    {
        Some(row) => finding_row(&row, now, last),
        None => Err(unknown(id)),
    }
}

fn unknown(id: &str) -> StoreError {
    DomainError::UnknownFinding(id.to_string()).into()
}

pub(super) async fn list(
    pool: &AnyPool,
    filter: &FindingFilter,
    page: &PageRequest,
    now: Timestamp,
) -> StoreResult<Page<StoredFinding>> {
    let last = last_evaluated(pool).await?;
    let mut clauses = Where::default();
    if let Some(owasp) = &filter.owasp {
        clauses.and("owasp = ?", [Value::Text(owasp.clone())]);
    }
    if let Some(rank) = filter.min_severity_rank {
        clauses.and("severity_rank >= ?", [Value::Int(rank)]);
    }
    match filter.status {
        Some(FindingStatus::Open) => clauses.and(
            "status = 'open' AND (suppressed_until IS NULL OR suppressed_until <= ?)",
            [Value::Int(now.as_millis())],
        ),
        Some(FindingStatus::Suppressed) => clauses.and(
            "status = 'open' AND suppressed_until > ?",
            [Value::Int(now.as_millis())],
        ),
        Some(FindingStatus::Resolved) => clauses.and("status = 'resolved'", []),
        None => {}
    }
    if let Some(identity) = &filter.identity {
        clauses.and(
            "(subject_id = ? OR identity_name = ?)",
            [Value::Text(identity.clone()), Value::Text(identity.clone())],
        );
    }
    if let Some(rule) = &filter.rule {
        clauses.and("rule = ?", [Value::Text(rule.clone())]);
    }
    if let Some(after) = &page.after {
        clauses.and("id > ?", [Value::Text(after.clone())]);
    }
    let sql = format!(
        "SELECT {FINDING_COLUMNS} FROM findings{} ORDER BY id LIMIT {}",
        clauses.sql(),
        page.limit + 1
    );
    let rows = clauses.bind_into(sql).fetch_all(pool).await?;
    let mut items = rows
        .iter()
        .map(|row| finding_row(row, now, last))
        .collect::<StoreResult<Vec<_>>>()?;
    let next_cursor = next_cursor(&mut items, page.limit, |f| f.id.clone());
    Ok(Page { items, next_cursor })
}

pub(super) async fn suppress(
    store: &SqlStore,
    actor: &Actor,
    id: &str,
    suppression: Option<Suppression>,
    now: Timestamp,
) -> StoreResult<StoredFinding> {
    let mut tx = store.begin_write().await?;
    let sql = format!(
        "SELECT {FINDING_COLUMNS} FROM findings WHERE id = $1{}",
        store.dialect.for_update()
    );
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(id.to_string())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| unknown(id))?;
    let before = finding_row(&row, now, None)?;
    let event = match &suppression {
        Some(suppression) => {
            if before.status == FindingStatus::Resolved {
                return Err(DomainError::InvalidState(format!(
                    "finding `{id}` is resolved; only an open finding can be suppressed"
                ))
                .into());
            }
            if suppression.until <= now {
                return Err(DomainError::invalid(
                    "until",
                    "the suppression must end in the future; give a later time or a duration like 30d",
                )
                .into());
            }
            if suppression.reason.trim().is_empty() {
                return Err(DomainError::invalid(
                    "reason",
                    "say why the finding is accepted, for whoever reads it next",
                )
                .into());
            }
            sqlx::query(
                "UPDATE findings SET suppressed_until = $1, suppression_reason = $2, suppressed_by = $3 WHERE id = $4",
            )
            .bind(suppression.until.as_millis())
            .bind(suppression.reason.clone())
            .bind(suppression.by.clone())
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
            NewEvent::new(EventKind::FindingSuppressed, actor.clone())
                .target_named("finding", id.to_string(), before.rule.clone())
                .reason(suppression.reason.clone())
                .detail("until", suppression.until.to_rfc3339())
                .detail("subject", before.subject.clone())
        }
        None => {
            if before.suppression.is_none() {
                return Err(
                    DomainError::InvalidState(format!("finding `{id}` is not suppressed")).into(),
                );
            }
            sqlx::query(
                "UPDATE findings SET suppressed_until = NULL, suppression_reason = NULL, suppressed_by = NULL WHERE id = $1",
            )
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
            NewEvent::new(EventKind::FindingUnsuppressed, actor.clone())
                .target_named("finding", id.to_string(), before.rule.clone())
                .detail("subject", before.subject.clone())
        }
    };
    store.audit_in_tx(&mut tx, vec![event], now).await?;
    tx.commit().await?;
    get(&store.reader, id, now).await
}

/// How many subjects the "worst first" list names.
const WORST_SUBJECTS: usize = 10;

pub(super) async fn summary(
    pool: &AnyPool,
    now: Timestamp,
    imported: (u64, u64),
) -> StoreResult<PostureSummary> {
    let open_clause = "status = 'open' AND (suppressed_until IS NULL OR suppressed_until <= $1)";
    let mut open = SeverityCounts::default();
    let mut by_owasp: Vec<OwaspCounts> = Vec::new();
    let sql = format!(
        "SELECT owasp, severity, COUNT(*) AS n FROM findings WHERE {open_clause} GROUP BY owasp, severity ORDER BY owasp"
    );
    for row in sqlx::query(AssertSqlSafe(sql))
        .bind(now.as_millis())
        .fetch_all(pool)
        .await?
    {
        let owasp: String = row.try_get("owasp")?;
        let severity: String = row.try_get("severity")?;
        let n: i64 = row.try_get("n")?;
        let n = n.max(0) as u64;
        open.add(&severity, n);
        match by_owasp.iter_mut().find(|c| c.owasp == owasp) {
            Some(entry) => entry.counts.add(&severity, n),
            None => {
                let mut counts = SeverityCounts::default();
                counts.add(&severity, n);
                by_owasp.push(OwaspCounts { owasp, counts });
            }
        }
    }
    // NHI1..NHI10 in their own order, not text order (NHI10 after NHI9).
    by_owasp.sort_by_key(|c| {
        c.owasp
            .trim_start_matches("NHI")
            .split(':')
            .next()
            .and_then(|n| n.parse::<u32>().ok())
            .unwrap_or(u32::MAX)
    });
    let suppressed: i64 = sqlx::query(
        "SELECT COUNT(*) AS n FROM findings WHERE status = 'open' AND suppressed_until > $1",
    )
    .bind(now.as_millis())
    .fetch_one(pool)
    .await?
    .try_get("n")?;
    // The worst subjects: by their worst severity, then by a weighted count.
    let sql = format!(
        "SELECT subject_id, MAX(identity_id) AS identity_id, MAX(identity_kind) AS identity_kind, \
         MAX(identity_name) AS identity_name, MAX(severity_rank) AS worst, \
         SUM(CASE severity_rank WHEN 4 THEN 1000 WHEN 3 THEN 100 WHEN 2 THEN 10 ELSE 1 END) AS score, \
         SUM(CASE severity_rank WHEN 4 THEN 1 ELSE 0 END) AS critical, \
         SUM(CASE severity_rank WHEN 3 THEN 1 ELSE 0 END) AS high, \
         SUM(CASE severity_rank WHEN 2 THEN 1 ELSE 0 END) AS medium, \
         SUM(CASE severity_rank WHEN 1 THEN 1 ELSE 0 END) AS low \
         FROM findings WHERE {open_clause} GROUP BY subject_id \
         ORDER BY worst DESC, score DESC, subject_id LIMIT {WORST_SUBJECTS}"
    );
    let mut worst = Vec::new();
    for row in sqlx::query(AssertSqlSafe(sql))
        .bind(now.as_millis())
        .fetch_all(pool)
        .await?
    {
        let count = |name: &str| -> StoreResult<u64> {
            let n: i64 = row.try_get(name)?;
            Ok(n.max(0) as u64)
        };
        let counts = SeverityCounts {
            critical: count("critical")?,
            high: count("high")?,
            medium: count("medium")?,
            low: count("low")?,
            total: count("critical")? + count("high")? + count("medium")? + count("low")?,
        };
        let worst_rank: i64 = row.try_get("worst")?;
        let kind: Option<String> = row.try_get("identity_kind")?;
        let name: Option<String> = row.try_get("identity_name")?;
        worst.push(SubjectPosture {
            subject: row.try_get("subject_id")?,
            identity: match (kind, name) {
                (Some(kind), Some(name)) => Some(FindingIdentity {
                    id: row.try_get("identity_id")?,
                    kind,
                    name,
                }),
                _ => None,
            },
            worst_severity: match worst_rank {
                4 => "critical",
                3 => "high",
                2 => "medium",
                _ => "low",
            }
            .to_string(),
            counts,
        });
    }
    Ok(PostureSummary {
        open,
        suppressed: suppressed.max(0) as u64,
        by_owasp,
        worst,
        imported_identities: imported.0,
        orphaned_identities: imported.1,
        last_evaluated_at: last_evaluated(pool).await?,
    })
}

/// Every finding, oldest first, for export.
pub(super) async fn all(pool: &AnyPool, now: Timestamp) -> StoreResult<Vec<StoredFinding>> {
    let last = last_evaluated(pool).await?;
    let sql = format!("SELECT {FINDING_COLUMNS} FROM findings ORDER BY id");
    let rows = sqlx::query(AssertSqlSafe(sql)).fetch_all(pool).await?;
    rows.iter().map(|row| finding_row(row, now, last)).collect()
}
