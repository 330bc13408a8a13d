//! Full posture evaluations that carry forward the findings of identities that cannot have
//! changed: after every step (time passing with no import, a re-import, an offboarded
//! owner, changed thresholds, a suppression) the stored findings must be exactly those an
//! evaluation from scratch would raise. Each test runs on SQLite and, when it is reachable,
//! on PostgreSQL.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use warden_audit::Actor;
use warden_core::{NewOwner, OwnerRef, PageRequest, Timestamp};
use warden_import::{ImportBatch, SourceFormat};
use warden_posture::{OwnerState, Subject, Thresholds, evaluate_subjects};
use warden_server::posture::Posture;
use warden_store::findings::{FindingFilter, FindingStatus, Suppression};
use warden_store::inventory::{ImportOptions, ImportedFilter};
use warden_store::{AuditSettings, SqlStore, Store};

/// 2026-06-01T00:00:00Z.
const T0: Timestamp = Timestamp::from_millis(1_780_272_000_000);
const DAY: i64 = 86_400;

const HEADER: &str = "kind,name,external_id,owner,environment,credential_id,credential_created_at,last_used_at,expires_at,active\n";

fn days_before(days: i64) -> String {
    T0.plus_secs(-days * DAY).to_rfc3339()
}

fn days_after(days: i64) -> String {
    T0.plus_secs(days * DAY).to_rfc3339()
}

/// One row: a service account holding one key, created and last used so many days before T0.
fn row(name: &str, owner: &str, environment: &str, key: &str, born: i64, used: i64) -> String {
    format!(
        "service_account,{name},bench:{name},{owner},{environment},{key},{},{},{},true",
        days_before(born),
        days_before(used),
        days_after(365)
    )
}

fn batch(rows: &[String]) -> ImportBatch {
    let text = format!("{HEADER}{}\n", rows.join("\n"));
    warden_import::parse("inventory.csv", text.as_bytes(), Some(SourceFormat::Csv))
        .unwrap_or_else(|e| panic!("{e}"))
}

fn admin() -> Actor {
    Actor::admin("admin", "admin")
}

async fn import(store: &dyn Store, source: &str, rows: &[String], now: Timestamp) {
    store
        .apply_import(
            &admin(),
            vec![batch(rows)],
            ImportOptions {
                source: Some(source.to_string()),
                full_export: Some(true),
                ..ImportOptions::default()
            },
            now,
        )
        .await
        .unwrap_or_else(|e| panic!("import: {e}"));
}

fn posture(thresholds: Thresholds) -> Posture {
    Posture::new(thresholds, Duration::from_secs(3_600))
}

/// A finding as compared here: rule, subject, credential, evidence.
type Key = (String, String, Option<String>, String);

/// What an evaluation from scratch raises over the whole inventory at `now`.
async fn from_scratch(store: &dyn Store, now: Timestamp, thresholds: &Thresholds) -> BTreeSet<Key> {
    let mut items = Vec::new();
    store
        .scan_inventory(&mut |item| items.push(item))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    items.sort_by(|a, b| a.id.cmp(&b.id));
    let subjects: Vec<Subject<'_>> = items
        .iter()
        .map(|item| Subject {
            identity: &item.identity,
            owner: match (&item.owner_email, item.owner_offboarded) {
                (None, _) => OwnerState::Missing,
                (Some(_), true) => OwnerState::Offboarded,
                (Some(_), false) => OwnerState::Active,
            },
            owner_email: item.owner_email.as_deref(),
            present: item.present,
            gone_at: item.gone_at,
        })
        .collect();
    evaluate_subjects(&subjects, now, thresholds)
        .into_iter()
        .map(|(index, f)| {
            (
                f.rule.to_string(),
                items[index].id.clone(),
                f.credential,
                f.evidence,
            )
        })
        .collect()
}

/// The open findings (suppressed or not) about imported identities, as stored.
async fn stored_open(store: &dyn Store, now: Timestamp) -> BTreeSet<Key> {
    let mut out = BTreeSet::new();
    for status in [FindingStatus::Open, FindingStatus::Suppressed] {
        let mut after = None;
        loop {
            let page = PageRequest::new(Some(500), after).unwrap_or_else(|e| panic!("{e}"));
            let filter = FindingFilter {
                status: Some(status),
                ..FindingFilter::default()
            };
            let found = store
                .list_findings(&filter, &page, now)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            out.extend(
                found
                    .items
                    .into_iter()
                    .map(|f| (f.rule, f.subject, f.credential, f.evidence)),
            );
            match found.next_cursor {
                Some(cursor) => after = Some(cursor),
                None => break,
            }
        }
    }
    out
}

/// Evaluates everything at `now` and checks the result against an evaluation from scratch.
async fn evaluate_and_check(
    store: &dyn Store,
    posture: &Posture,
    now: Timestamp,
    backend: &str,
    step: &str,
) -> warden_store::findings::ReconcileOutcome {
    let outcome = posture
        .evaluate_all(store, now)
        .await
        .unwrap_or_else(|e| panic!("{backend}, {step}: {e}"));
    let stored = stored_open(store, now).await;
    let expected = from_scratch(store, now, posture.thresholds()).await;
    assert_eq!(
        stored, expected,
        "{backend}, {step}: stored findings differ from a fresh evaluation"
    );
    outcome
}

fn has(findings: &BTreeSet<Key>, rule: &str, evidence_part: &str) -> bool {
    findings
        .iter()
        .any(|(r, _, _, evidence)| r == rule && evidence.contains(evidence_part))
}

async fn open_store(backend: Backend) -> Option<(Arc<SqlStore>, Cleanup)> {
    let settings = || AuditSettings {
        node: "test".into(),
        signer: None,
        checkpoints: warden_audit::CheckpointPolicy {
            every_events: 0,
            every_millis: 0,
        },
    };
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
            let store = SqlStore::open_sqlite(&dir.path().join("warden.db"), settings())
                .await
                .unwrap_or_else(|e| panic!("open sqlite: {e}"));
            Some((
                Arc::new(store),
                Cleanup {
                    _dir: Some(dir),
                    schema: None,
                },
            ))
        }
        Backend::Postgres => {
            let base = std::env::var("WARDEN_TEST_DATABASE_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string());
            let schema = format!("warden_posture_{}", uuid::Uuid::now_v7().simple());
            if let Err(error) = execute(&base, &format!("CREATE SCHEMA {schema}")).await {
                if std::env::var("CI").is_ok_and(|value| value == "true") {
                    panic!("CI=true requires PostgreSQL at {base}: {error}");
                }
                eprintln!("NOTICE: PostgreSQL at {base} is unreachable ({error}); skipped");
                return None;
            }
            let url = format!("{base}?options=-c%20search_path%3D{schema}");
            let store = SqlStore::connect(&url, settings())
                .await
                .unwrap_or_else(|e| panic!("connect postgres: {e}"));
            Some((
                Arc::new(store),
                Cleanup {
                    _dir: None,
                    schema: Some((base, schema)),
                },
            ))
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Backend {
    Sqlite,
    Postgres,
}

/// What a test store leaves behind: its SQLite directory, or its PostgreSQL schema.
struct Cleanup {
    _dir: Option<tempfile::TempDir>,
    schema: Option<(String, String)>,
}

impl Cleanup {
    async fn finish(self) {
        if let Some((base, schema)) = self.schema {
            let _ = execute(&base, &format!("DROP SCHEMA {schema} CASCADE")).await;
        }
    }
}

async fn execute(url: &str, statement: &str) -> Result<(), String> {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let connect = sqlx::AnyConnection::connect(url);
    let mut connection = tokio::time::timeout(Duration::from_secs(5), connect)
        .await
        .map_err(|_| "timed out after 5 s".to_string())?
        .map_err(|e| e.to_string())?;
    sqlx::query(sqlx::AssertSqlSafe(statement.to_string()))
        .execute(&mut connection)
        .await
        .map_err(|e| e.to_string())?;
    connection.close().await.map_err(|e| e.to_string())
}

/// Runs `test` on SQLite, then on PostgreSQL when it is reachable.
async fn on_both<F, Fut>(test: F)
where
    F: Fn(Arc<SqlStore>, &'static str) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for (backend, label) in [(Backend::Sqlite, "sqlite"), (Backend::Postgres, "postgres")] {
        if let Some((store, cleanup)) = open_store(backend).await {
            test(store.clone(), label).await;
            store.close().await;
            cleanup.finish().await;
        }
    }
}

async fn add_owner(store: &dyn Store, email: &str) {
    store
        .create_owner(
            &admin(),
            NewOwner::new(email, "Owner").unwrap_or_else(|e| panic!("{e}")),
            T0,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test]
async fn time_alone_opens_updates_and_resolves_findings_of_identities_not_read_again() {
    on_both(|store, backend| async move {
        add_owner(&*store, "alice@example.com").await;
        import(
            &*store,
            "src",
            &[
                // 85 days old: crosses the 90-day age limit 6 days on.
                row("ageing", "alice@example.com", "prod", "KEY-A", 85, 1),
                // Already too old and unused: its evidence counts days.
                row("stale", "alice@example.com", "prod", "KEY-S", 200, 120),
                // Nothing the clock can change for a long while.
                row("fresh", "alice@example.com", "prod", "KEY-F", 10, 1),
            ],
            T0,
        )
        .await;
        let posture = posture(Thresholds::default());
        let first = evaluate_and_check(&*store, &posture, T0, backend, "first").await;
        assert!(first.opened > 0, "{backend}: {first:?}");
        let stored = stored_open(&*store, T0).await;
        assert!(!has(&stored, "secret-too-old", "86 days"), "{backend}");
        assert!(
            has(&stored, "credential-unused", "last used 120 days ago"),
            "{backend}"
        );

        // An hour later nothing can have changed: nothing is read again or written.
        let hour = evaluate_and_check(
            &*store,
            &posture,
            T0.plus_secs(3_600),
            backend,
            "an hour on",
        )
        .await;
        assert_eq!(
            (hour.opened, hour.updated, hour.resolved, hour.unchanged),
            (0, 0, 0, 0),
            "{backend}: {hour:?}"
        );

        // A day later the day counts in the evidence have moved.
        let day =
            evaluate_and_check(&*store, &posture, T0.plus_secs(DAY), backend, "a day on").await;
        assert!(day.updated > 0, "{backend}: {day:?}");
        let stored = stored_open(&*store, T0.plus_secs(DAY)).await;
        assert!(
            has(&stored, "credential-unused", "last used 121 days ago"),
            "{backend}"
        );

        // Six days on, with no import in between, the ageing key crosses the limit.
        let later = T0.plus_secs(6 * DAY);
        let crossed = evaluate_and_check(&*store, &posture, later, backend, "six days on").await;
        assert!(crossed.opened >= 1, "{backend}: {crossed:?}");
        let stored = stored_open(&*store, later).await;
        assert!(
            has(&stored, "secret-too-old", "91 days since it was created"),
            "{backend}"
        );

        // A clock that reads earlier than the last evaluation is evaluated as it reads.
        evaluate_and_check(&*store, &posture, T0, backend, "back at the start").await;
    })
    .await;
}

#[tokio::test]
async fn changed_thresholds_re_evaluate_identities_whose_records_hold() {
    on_both(|store, backend| async move {
        add_owner(&*store, "alice@example.com").await;
        import(
            &*store,
            "src",
            &[row("svc", "alice@example.com", "prod", "KEY-1", 40, 1)],
            T0,
        )
        .await;
        let default = posture(Thresholds::default());
        evaluate_and_check(&*store, &default, T0, backend, "default thresholds").await;
        assert!(
            !has(&stored_open(&*store, T0).await, "secret-too-old", ""),
            "{backend}"
        );
        let strict = posture(Thresholds {
            max_secret_age_days: 30,
            ..Thresholds::default()
        });
        let now = T0.plus_secs(60);
        evaluate_and_check(&*store, &strict, now, backend, "stricter thresholds").await;
        assert!(
            has(
                &stored_open(&*store, now).await,
                "secret-too-old",
                "(limit 30)"
            ),
            "{backend}"
        );
        evaluate_and_check(
            &*store,
            &default,
            now.plus_secs(60),
            backend,
            "default again",
        )
        .await;
    })
    .await;
}

#[tokio::test]
async fn owners_offboarded_since_and_reassignments_are_found() {
    on_both(|store, backend| async move {
        add_owner(&*store, "alice@example.com").await;
        add_owner(&*store, "bob@example.com").await;
        import(
            &*store,
            "src",
            &[
                row("owned", "alice@example.com", "prod", "KEY-1", 10, 1),
                row("orphan", "", "prod", "KEY-2", 10, 1),
            ],
            T0,
        )
        .await;
        let posture = posture(Thresholds::default());
        evaluate_and_check(&*store, &posture, T0, backend, "first").await;
        store
            .offboard_owner(&admin(), &OwnerRef::Email("alice@example.com".into()), T0)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        // Same instant as the evaluation before: nothing but the owner's state changed.
        evaluate_and_check(&*store, &posture, T0, backend, "owner offboarded").await;
        assert!(
            has(
                &stored_open(&*store, T0).await,
                "owner-offboarded",
                "alice@example.com"
            ),
            "{backend}"
        );
        let orphan = store
            .list_imported(
                &ImportedFilter {
                    orphaned: Some(true),
                    ..ImportedFilter::default()
                },
                &PageRequest::new(Some(10), None).unwrap_or_else(|e| panic!("{e}")),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .items;
        store
            .reassign_imported(
                &admin(),
                &orphan[0].id,
                &OwnerRef::Email("bob@example.com".into()),
                T0,
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        evaluate_and_check(&*store, &posture, T0, backend, "orphan reassigned").await;
    })
    .await;
}

#[tokio::test]
async fn reimports_at_the_same_instant_and_shared_keys_dropped_by_one_holder_are_found() {
    on_both(|store, backend| async move {
        add_owner(&*store, "alice@example.com").await;
        // Two sources, so re-importing one leaves the other's identity untouched.
        import(
            &*store,
            "one",
            &[row("a", "alice@example.com", "prod", "SHARED", 10, 1)],
            T0,
        )
        .await;
        import(
            &*store,
            "two",
            &[row("b", "alice@example.com", "dev", "SHARED", 10, 1)],
            T0,
        )
        .await;
        import(
            &*store,
            "three",
            &[row("c", "alice@example.com", "prod", "OWN", 10, 1)],
            T0,
        )
        .await;
        let posture = posture(Thresholds::default());
        evaluate_and_check(&*store, &posture, T0, backend, "first").await;
        let stored = stored_open(&*store, T0).await;
        assert!(
            has(&stored, "credential-shared", "held by bench:a, bench:b"),
            "{backend}"
        );
        assert!(
            has(
                &stored,
                "credential-shared-across-environments",
                "dev, prod"
            ),
            "{backend}"
        );
        // `a` rotates its key at the source: the same instant, so only its revision tells.
        import(
            &*store,
            "one",
            &[row("a", "alice@example.com", "prod", "ROTATED", 200, 1)],
            T0,
        )
        .await;
        evaluate_and_check(&*store, &posture, T0, backend, "a dropped the shared key").await;
        let stored = stored_open(&*store, T0).await;
        assert!(
            !has(&stored, "credential-shared", ""),
            "{backend}: {stored:?}"
        );
        assert!(has(&stored, "secret-too-old", "200 days"), "{backend}");
        // `c` picks the key up: `b`, unchanged, is found sharing it again.
        import(
            &*store,
            "three",
            &[row("c", "alice@example.com", "prod", "SHARED", 10, 1)],
            T0,
        )
        .await;
        evaluate_and_check(&*store, &posture, T0, backend, "c took the shared key").await;
        assert!(
            has(
                &stored_open(&*store, T0).await,
                "credential-shared",
                "held by bench:b, bench:c"
            ),
            "{backend}"
        );
        // `c` goes missing from its source's full export.
        import(
            &*store,
            "three",
            &[row("d", "alice@example.com", "prod", "OWN-D", 10, 1)],
            T0.plus_secs(10),
        )
        .await;
        evaluate_and_check(&*store, &posture, T0.plus_secs(10), backend, "c gone").await;
        assert!(
            has(
                &stored_open(&*store, T0.plus_secs(10)).await,
                "gone-but-active",
                "SHARED"
            ),
            "{backend}"
        );
    })
    .await;
}

#[tokio::test]
async fn suppressions_hold_while_findings_are_carried_forward() {
    on_both(|store, backend| async move {
        import(
            &*store,
            "src",
            &[row("svc", "", "prod", "KEY-1", 200, 1)],
            T0,
        )
        .await;
        let posture = posture(Thresholds::default());
        evaluate_and_check(&*store, &posture, T0, backend, "first").await;
        let page = PageRequest::new(Some(50), None).unwrap_or_else(|e| panic!("{e}"));
        let target = store
            .list_findings(
                &FindingFilter {
                    rule: Some("secret-too-old".into()),
                    ..FindingFilter::default()
                },
                &page,
                T0,
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .items
            .remove(0);
        store
            .suppress_finding(
                &admin(),
                &target.id,
                Some(Suppression {
                    reason: "accepted until the migration".into(),
                    until: T0.plus_secs(30 * DAY),
                    by: "admin".into(),
                }),
                T0,
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        for (step, now) in [
            ("an hour on", T0.plus_secs(3_600)),
            ("two days on", T0.plus_secs(2 * DAY)),
        ] {
            evaluate_and_check(&*store, &posture, now, backend, step).await;
            let finding = store
                .get_finding(&target.id, now)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                finding.status,
                FindingStatus::Suppressed,
                "{backend}, {step}"
            );
        }
    })
    .await;
}
