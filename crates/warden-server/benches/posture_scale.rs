//! Posture at scale, on SQLite: an inventory of 1,000,000 imported identities holding
//! 2,000,000 credentials (set `POSTURE_BENCH_IDENTITIES` for another size).
//!
//! Measured, each once, with wall-clock time and the process's peak memory:
//! - importing a 100,000-user AWS credential report (parse + one transaction);
//! - a full evaluation that opens every finding, and one over an unchanged inventory (which
//!   reads again only the identities due: none), with how long finding those due takes;
//! - full evaluations a day later (identities whose evidence counts days are due) and after
//!   a threshold change (every identity is due, read in one pass);
//! - the baseline in the same run: the plainest correct way to answer the credential rules,
//!   one SQL query per rule over the credentials table, which covers 6 of the rules;
//! - re-evaluating one changed identity (and the holders of its credentials);
//! - listing and filtering pages of findings and of the inventory.
//!
//! Run with `cargo bench -p warden-server --bench posture_scale`. The figures go in
//! BENCHMARKS.md; nothing here asserts a time.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use sqlx::Row;
use warden_audit::Actor;
use warden_core::{NewOwner, PageRequest, Timestamp};
use warden_import::SourceFormat;
use warden_server::posture::Posture;
use warden_store::findings::{FindingFilter, FindingStatus};
use warden_store::inventory::{ImportOptions, ImportedFilter};
use warden_store::{AuditSettings, SqlStore, Store};

/// 2026-01-01T00:00:00Z.
const NOW: Timestamp = Timestamp::from_millis(1_767_225_600_000);
const DAY: i64 = 86_400;
const PER_SOURCE: usize = 50_000;
const REPORT_USERS: usize = 100_000;

fn peak_memory_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches(" kB")
                .trim()
                .parse::<f64>()
                .ok()
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

fn rfc3339(at: Timestamp) -> String {
    at.to_rfc3339()
}

/// One source's worth of the generic CSV: two credentials per identity, with a realistic
/// spread of stale, old, orphaned, over-privileged and shared ones.
fn inventory_csv(source: usize, count: usize) -> String {
    let mut out = String::with_capacity(count * 420);
    out.push_str("kind,name,external_id,owner,environment,created_at,credential_id,credential_created_at,last_used_at,expires_at,active,entitlements\n");
    for n in 0..count {
        let global = source * PER_SOURCE + n;
        let owner = if global.is_multiple_of(10) {
            ""
        } else {
            "owner@example.com"
        };
        let environment = ["prod", "staging", "dev"][global % 3];
        let entitlements = match global % 50 {
            0 => "k8s:clusterrole/cluster-admin",
            1 => "github:repository_selection/all;github:repository/contents:write",
            _ => "k8s:role/apps/reader",
        };
        // Most keys are recent; one identity in ten has keys years old.
        let age = if global % 10 == 3 {
            700 + (global % 300)
        } else {
            5 + (global % 80)
        };
        let created = NOW.plus_secs(-(age as i64) * DAY);
        for k in 0..2 {
            // One identity in a thousand shares its first key with its neighbour.
            let credential = if k == 0 && global % 1000 == 1 {
                format!("KEY{:09}-0", global - 1)
            } else {
                format!("KEY{global:09}-{k}")
            };
            let used = NOW.plus_secs(-(((global * 7 + k) % 100) as i64) * DAY);
            // One identity in ten holds keys that never expire.
            let expires = if global % 10 == 7 {
                String::new()
            } else {
                rfc3339(NOW.plus_secs(365 * DAY))
            };
            let _ = writeln!(
                out,
                "service_account,svc-{global},bench:{source}/svc-{global},{owner},{environment},{},{credential},{},{},{expires},true,{entitlements}",
                rfc3339(created),
                rfc3339(created.plus_secs(k as i64 * DAY)),
                rfc3339(used),
            );
        }
    }
    out
}

/// A credential report in AWS's format with `users` users.
fn credential_report(users: usize) -> String {
    let mut out = String::with_capacity(users * 400);
    out.push_str("user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated\n");
    out.push_str("<root_account>,arn:aws:iam::123456789012:root,2019-03-04T09:12:44+00:00,not_supported,2025-10-02T07:41:09+00:00,not_supported,not_supported,true,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n");
    for n in 0..users {
        let created =
            rfc3339(NOW.plus_secs(-((n % 1500) as i64 + 30) * DAY)).replace(".000Z", "+00:00");
        let used = rfc3339(NOW.plus_secs(-((n % 300) as i64) * DAY)).replace(".000Z", "+00:00");
        let password = if n % 20 == 0 { "true" } else { "false" };
        let _ = writeln!(
            out,
            "svc-{n},arn:aws:iam::123456789012:user/svc-{n},{created},{password},N/A,N/A,N/A,false,true,{created},{used},eu-west-1,s3,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A"
        );
    }
    out
}

async fn time<T>(label: &str, work: impl std::future::Future<Output = T>) -> (T, Duration) {
    let started = Instant::now();
    let out = work.await;
    let took = started.elapsed();
    println!(
        "{label:<58} {:>10.1} ms   peak {:>7.0} MiB",
        took.as_secs_f64() * 1e3,
        peak_memory_mib()
    );
    (out, took)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return;
    }
    let identities: usize = std::env::var("POSTURE_BENCH_IDENTITIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("posture.db");
    let store = SqlStore::open_sqlite(
        &path,
        AuditSettings {
            node: "bench".into(),
            signer: None,
            checkpoints: warden_audit::CheckpointPolicy {
                every_events: 0,
                every_millis: 0,
            },
        },
    )
    .await
    .unwrap();
    let actor = Actor::admin("bench", "bench");
    store
        .create_owner(
            &actor,
            NewOwner::new("owner@example.com", "Owner").unwrap(),
            NOW,
        )
        .await
        .unwrap();
    println!(
        "posture_scale: {identities} identities, {} credentials, SQLite at {}",
        identities * 2,
        path.display()
    );

    // The inventory, built through the import path, one source of 50,000 at a time.
    let started = Instant::now();
    let sources = identities.div_ceil(PER_SOURCE);
    for source in 0..sources {
        let count = PER_SOURCE.min(identities - source * PER_SOURCE);
        let text = inventory_csv(source, count);
        let batch = warden_import::parse("inventory.csv", text.as_bytes(), Some(SourceFormat::Csv))
            .unwrap();
        store
            .apply_import(
                &actor,
                vec![batch],
                ImportOptions {
                    source: Some(format!("bench-{source}")),
                    ..ImportOptions::default()
                },
                NOW,
            )
            .await
            .unwrap();
    }
    println!(
        "{:<58} {:>10.1} s",
        "build the inventory (not a goal)",
        started.elapsed().as_secs_f64()
    );

    let report = credential_report(REPORT_USERS);
    let (_, _) = time(
        "import a 100,000-user credential report (goal 30 s)",
        async {
            let batch =
                warden_import::parse("credential-report.csv", report.as_bytes(), None).unwrap();
            store
                .apply_import(&actor, vec![batch], ImportOptions::default(), NOW)
                .await
                .unwrap()
        },
    )
    .await;
    drop(report);

    let posture = Posture::new(Default::default(), Duration::from_secs(3_600));
    let (first, _) = time(
        "full evaluation, first (opens every finding)",
        posture.evaluate_all(&store, NOW),
    )
    .await;
    println!("    opened {} findings", first.unwrap().opened);
    let (steady, _) = time(
        "full evaluation, unchanged inventory (goal 10 s)",
        posture.evaluate_all(&store, NOW.plus_secs(60)),
    )
    .await;
    let steady = steady.unwrap();
    // For profiling: more unchanged evaluations, so they dominate a `perf record` of the run.
    let repeats: usize = std::env::var("POSTURE_BENCH_REPEAT_STEADY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    for _ in 0..repeats {
        posture
            .evaluate_all(&store, NOW.plus_secs(60))
            .await
            .unwrap();
    }
    println!(
        "    re-read and unchanged {}, updated {}, opened {}, resolved {}",
        steady.unchanged, steady.updated, steady.opened, steady.resolved
    );
    let (due, _) = time("  of which: find the identities due (none)", async {
        store
            .inventory_due(posture.basis(), NOW.plus_secs(60), 200_000)
            .await
            .unwrap()
            .map(|ids| ids.len())
    })
    .await;
    println!("    due: {due:?}");

    // Not the goal, for the whole picture: a day later every identity whose evidence counts
    // days (or that crosses a limit that day) is due; and a change of thresholds makes every
    // identity due.
    let (day_later, _) = time(
        "full evaluation a day later (day counts in evidence move)",
        posture.evaluate_all(&store, NOW.plus_secs(DAY + 60)),
    )
    .await;
    let day_later = day_later.unwrap();
    println!(
        "    re-read and unchanged {}, updated {}, opened {}, resolved {}",
        day_later.unchanged, day_later.updated, day_later.opened, day_later.resolved
    );
    let stricter = Posture::new(
        warden_posture::Thresholds {
            max_expiry_days: 3_000,
            ..Default::default()
        },
        Duration::from_secs(3_600),
    );
    let (changed, _) = time(
        "full evaluation after a threshold change (all due)",
        stricter.evaluate_all(&store, NOW.plus_secs(DAY + 120)),
    )
    .await;
    let changed = changed.unwrap();
    println!(
        "    re-read and unchanged {}, updated {}, opened {}, resolved {}",
        changed.unchanged, changed.updated, changed.opened, changed.resolved
    );

    // Where a full evaluation's time goes: reading the inventory alone, and the rules over it.
    let (_, _) = time("  of which: stream every record from the store", async {
        let mut count = 0usize;
        store.scan_inventory(&mut |_item| count += 1).await.unwrap();
        count
    })
    .await;
    let (_, _) = time("  of which: stream and run the per-identity rules", async {
        let thresholds = warden_posture::Thresholds::default();
        let mut findings = 0usize;
        store
            .scan_inventory(&mut |item| {
                let subject = warden_posture::Subject {
                    identity: &item.identity,
                    owner: warden_posture::OwnerState::Active,
                    owner_email: None,
                    present: item.present,
                    gone_at: None,
                };
                findings += warden_posture::evaluate_subject(&subject, NOW, &thresholds).len();
            })
            .await
            .unwrap();
        findings
    })
    .await;

    // Baseline: one SQL query per credential rule, answering the same questions.
    let pool = sqlx::AnyPool::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    let now = NOW.as_millis();
    let day = DAY * 1000;
    let queries = [
        ("credential-unused", format!("SELECT identity_id, credential_id FROM imported_credentials WHERE active = 1 AND last_used_at IS NOT NULL AND (({now} - last_used_at) / {day}) > 90")),
        ("credential-never-used", format!("SELECT identity_id, credential_id FROM imported_credentials WHERE active = 1 AND kind IN ('access_key', 'personal_access_token') AND last_used_at IS NULL AND created_at IS NOT NULL AND (({now} - created_at) / {day}) > 90")),
        ("secret-too-old (by creation)", format!("SELECT identity_id, credential_id FROM imported_credentials WHERE active = 1 AND created_at IS NOT NULL AND (({now} - created_at) / {day}) > 90")),
        ("secret-no-expiry", "SELECT identity_id, credential_id FROM imported_credentials WHERE active = 1 AND kind IN ('personal_access_token', 'other') AND expires_at IS NULL".to_string()),
        ("secret-expiry-too-far", format!("SELECT identity_id, credential_id FROM imported_credentials WHERE active = 1 AND expires_at IS NOT NULL AND ((expires_at - {now}) / {day}) > 3650")),
        ("credential-shared", "SELECT c.identity_id, c.credential_id FROM imported_credentials c JOIN (SELECT credential_id FROM imported_credentials GROUP BY credential_id HAVING COUNT(DISTINCT identity_id) > 1) s ON s.credential_id = c.credential_id".to_string()),
    ];
    let started = Instant::now();
    let mut rows = 0;
    for (_, sql) in &queries {
        rows += sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
            .fetch_all(&pool)
            .await
            .unwrap()
            .len();
    }
    let baseline = started.elapsed();
    println!(
        "{:<58} {:>10.1} ms   ({} rows, 6 rules, no reconciliation)",
        "baseline: one SQL query per credential rule",
        baseline.as_secs_f64() * 1e3,
        rows
    );

    // One changed identity: a key rotated at the source, re-imported and re-evaluated.
    let changed = store
        .list_imported(
            &ImportedFilter {
                source: Some("bench-0".into()),
                ..ImportedFilter::default()
            },
            &PageRequest::new(Some(2), None).unwrap(),
        )
        .await
        .unwrap()
        .items;
    let shared_holder = changed[1].id.clone();
    // Each five times: the first of a series can pay for a checkpoint of the write-ahead log
    // the previous phase left behind, so the median is the figure and the maximum is shown.
    for (label, id) in [
        (
            "re-evaluate one changed identity (goal 10 ms)",
            changed[0].id.clone(),
        ),
        (
            "re-evaluate one identity that shares a key",
            shared_holder.clone(),
        ),
    ] {
        let mut runs = Vec::new();
        for round in 0..5 {
            let started = Instant::now();
            posture
                .evaluate_identities(
                    &store,
                    std::slice::from_ref(&id),
                    NOW.plus_secs(120 + round),
                )
                .await
                .unwrap();
            runs.push(started.elapsed().as_secs_f64() * 1e3);
        }
        runs.sort_by(f64::total_cmp);
        println!(
            "{label:<58} {:>10.1} ms   (median of 5; max {:.1} ms)",
            runs[2], runs[4]
        );
    }

    // Pages: the first page and the next, filtered as people filter them.
    let page = PageRequest::new(Some(50), None).unwrap();
    let filters = [
        ("findings, no filter", FindingFilter::default()),
        (
            "findings --owasp NHI7",
            FindingFilter {
                owasp: Some("NHI7:2025".into()),
                ..FindingFilter::default()
            },
        ),
        (
            "findings --severity critical",
            FindingFilter {
                min_severity_rank: Some(4),
                ..FindingFilter::default()
            },
        ),
        (
            "findings --status open --rule secret-too-old",
            FindingFilter {
                status: Some(FindingStatus::Open),
                rule: Some("secret-too-old".into()),
                ..FindingFilter::default()
            },
        ),
        (
            "findings --identity svc-123456",
            FindingFilter {
                identity: Some("svc-123456".into()),
                ..FindingFilter::default()
            },
        ),
    ];
    for (label, filter) in filters {
        let (first, _) = time(
            &format!("list (goal 50 ms): {label}"),
            store.list_findings(&filter, &page, NOW),
        )
        .await;
        if let Some(cursor) = first.unwrap().next_cursor {
            let next = PageRequest::new(Some(50), Some(cursor)).unwrap();
            time(
                &format!("list, next page: {label}"),
                store.list_findings(&filter, &next, NOW),
            )
            .await
            .0
            .unwrap();
        }
    }
    time(
        "list (goal 50 ms): inventory --orphaned",
        store.list_imported(
            &ImportedFilter {
                orphaned: Some(true),
                ..ImportedFilter::default()
            },
            &page,
        ),
    )
    .await
    .0
    .unwrap();
    time("posture summary", store.posture_summary(NOW))
        .await
        .0
        .unwrap();
    let count: i64 = sqlx::query("SELECT COUNT(*) AS n FROM findings")
        .fetch_one(&pool)
        .await
        .unwrap()
        .try_get("n")
        .unwrap();
    println!(
        "findings stored: {count}; database {:.0} MiB",
        std::fs::metadata(&path)
            .map(|m| m.len() as f64 / 1048576.0)
            .unwrap_or(0.0)
    );
}
