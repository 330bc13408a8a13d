//! The audit trail in the store: every change recorded with it, group commit, one chain
//! across nodes, and verification that catches direct tampering with the database.

use std::sync::Arc;

use warden_audit::verify::{Problem, VerifyFailure};
use warden_audit::{Actor, Decision, EventKind, NewEvent};
use warden_core::{IdentityKind, IdentityRef, NewOwner, OwnerRef, Timestamp};
use warden_store::{AuditFilter, AuditQuery, AuditVerifyError, IdentityChange, Store};

use crate::backends::{TestStore, admin, audit_signer, on_each};

const T0: Timestamp = Timestamp::from_millis(1_800_000_000_000);

fn all(limit: u32) -> AuditQuery {
    AuditQuery {
        filter: AuditFilter::default(),
        after: None,
        limit,
        newest: false,
    }
}

fn gateway_event(index: usize) -> NewEvent {
    NewEvent::new(
        EventKind::GatewayDecision,
        Actor::agent(format!("id-{}", index % 3), format!("bot-{}", index % 3)),
    )
    .upstream("crm")
    .action("tickets.read")
    .decision(Decision::Allow, ["policy-1"])
}

/// Fills the trail with 23 events: admin changes and group-committed gateway decisions.
async fn populate(store: &dyn Store) {
    let owner = NewOwner::new("alice@example.com", "Alice").unwrap_or_else(|e| panic!("{e}"));
    store
        .create_owner(&admin(), owner, T0)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    for index in 0..20 {
        store
            .record(gateway_event(index), T0.plus_secs(1))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let new = warden_core::NewIdentity {
        kind: IdentityKind::Agent,
        name: "bot".into(),
        purpose: None,
        environment: None,
        labels: Default::default(),
        expires_at: None,
        source: warden_core::Source::Issued,
        source_detail: None,
    };
    store
        .create_identity(
            &admin(),
            new,
            &OwnerRef::Email("alice@example.com".into()),
            None,
            T0,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let bot = IdentityRef::Name {
        kind: IdentityKind::Agent,
        name: "bot".into(),
    };
    store
        .change_identity(
            &admin(),
            &bot,
            IdentityChange::Suspend(warden_core::SuspensionReason::Manual),
            T0.plus_secs(2),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

async fn failure(backend: &TestStore) -> VerifyFailure {
    match backend
        .store
        .verify_audit(&audit_signer().public_key())
        .await
    {
        Err(AuditVerifyError::Broken(failure)) => failure,
        other => panic!("{}: expected a broken chain, got {other:?}", backend.label),
    }
}

async fn broken(backend: &TestStore) -> (u64, Problem) {
    let failure = failure(backend).await;
    (failure.sequence, failure.problem)
}

#[tokio::test]
async fn changes_are_recorded_with_who_did_them() {
    on_each(|backend| async move {
        let store = &*backend.store;
        populate(store).await;
        let events = store
            .audit_events(&all(100))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(events.len(), 23, "{}", backend.label);
        let sequences: Vec<u64> = events.iter().map(|event| event.sequence).collect();
        assert_eq!(
            sequences,
            (1..=23).collect::<Vec<_>>(),
            "{}: one gap-free chain",
            backend.label
        );
        assert_eq!(events[0].kind, EventKind::OwnerCreated);
        assert_eq!(events[0].actor, admin());
        let suspended = events.last().unwrap_or_else(|| panic!("no events"));
        assert_eq!(suspended.kind, EventKind::IdentitySuspended);
        assert_eq!(suspended.owner.as_deref(), Some("alice@example.com"));
        assert_eq!(
            suspended.target.as_ref().and_then(|t| t.name.as_deref()),
            Some("bot")
        );

        let report = store
            .verify_audit(&audit_signer().public_key())
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", backend.label));
        assert_eq!(report.events_verified, 23);
        assert!(
            report.checkpoints_verified >= 4,
            "{}: checkpoints every 5 events: {report:?}",
            backend.label
        );

        let filtered = store
            .audit_events(&AuditQuery {
                filter: AuditFilter {
                    actor: Some("bot-1".into()),
                    ..Default::default()
                },
                after: None,
                limit: 100,
                newest: false,
            })
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(filtered.len(), 7, "{}", backend.label);
        let tail = store
            .audit_events(&AuditQuery {
                newest: true,
                ..all(3)
            })
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            tail.iter().map(|e| e.sequence).collect::<Vec<_>>(),
            [21, 22, 23],
            "{}",
            backend.label
        );
    })
    .await;
}

#[tokio::test]
async fn a_refused_change_records_nothing() {
    on_each(|backend| async move {
        let store = &*backend.store;
        let owner =
            || NewOwner::new("alice@example.com", "Alice").unwrap_or_else(|e| panic!("{e}"));
        store
            .create_owner(&admin(), owner(), T0)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(store.create_owner(&admin(), owner(), T0).await.is_err());
        let events = store
            .audit_events(&all(10))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            events.len(),
            1,
            "{}: the duplicate left no event",
            backend.label
        );
    })
    .await;
}

#[tokio::test]
async fn concurrent_writers_on_two_nodes_share_one_chain() {
    on_each(|backend| async move {
        let other = Arc::new(backend.second_node().await);
        let mut writers = Vec::new();
        for index in 0..200 {
            let store: Arc<dyn Store> = if index % 2 == 0 {
                backend.store.clone()
            } else {
                other.clone()
            };
            writers.push(tokio::spawn(async move {
                store.record(gateway_event(index), T0).await
            }));
        }
        for writer in writers {
            writer
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let events = backend
            .store
            .audit_events(&all(500))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(events.len(), 200, "{}", backend.label);
        let nodes: std::collections::BTreeSet<&str> =
            events.iter().map(|e| e.node.as_str()).collect();
        assert_eq!(nodes.len(), 2, "{}: both nodes wrote", backend.label);
        let report = backend
            .store
            .verify_audit(&audit_signer().public_key())
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", backend.label));
        assert_eq!(
            report.events_verified, 200,
            "{}: the chain did not fork",
            backend.label
        );
        other.close().await;
    })
    .await;
}

/// One transaction appending more events than one INSERT statement carries on SQLite (64
/// rows): every chunk lands, in order, on one chain. (PostgreSQL splits by bytes; see
/// `awkward_text_survives_a_batch_of_many_statements`.)
#[tokio::test]
async fn a_batch_larger_than_one_statement_is_written_whole() {
    on_each(|backend| async move {
        let store = &backend.store;
        for email in ["alice@example.com", "bob@example.com"] {
            let owner = NewOwner::new(email, "Someone").unwrap_or_else(|e| panic!("{e}"));
            store
                .create_owner(&admin(), owner, T0)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        }
        for index in 0..70 {
            let new = warden_core::NewIdentity {
                kind: IdentityKind::Agent,
                name: format!("bot-{index}"),
                purpose: None,
                environment: None,
                labels: Default::default(),
                expires_at: None,
                source: warden_core::Source::Issued,
                source_detail: None,
            };
            store
                .create_identity(
                    &admin(),
                    new,
                    &OwnerRef::Email("alice@example.com".into()),
                    None,
                    T0,
                )
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let before = store
            .audit_events(&all(1000))
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .len();
        let moved = store
            .reassign_identities(
                &admin(),
                &OwnerRef::Email("alice@example.com".into()),
                &OwnerRef::Email("bob@example.com".into()),
                T0.plus_secs(1),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(moved.len(), 70, "{}", backend.label);
        let events = store
            .audit_events(&all(1000))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            events.len() >= before + 70,
            "{}: {} events after the reassignment, {before} before",
            backend.label,
            events.len()
        );
        for (index, event) in events.iter().enumerate() {
            assert_eq!(event.sequence, index as u64 + 1, "{}", backend.label);
        }
        let report = store
            .verify_audit(&audit_signer().public_key())
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", backend.label));
        assert_eq!(
            report.events_verified,
            events.len() as u64,
            "{}",
            backend.label
        );
    })
    .await;
}

/// Text that means something to SQL or to a literal's syntax (quotes, backslashes, braces,
/// commas, the word NULL, empty strings, other scripts) survives a group-committed batch of
/// large events, split over many statements, column by column and inside the hashed record.
#[tokio::test]
async fn awkward_text_survives_a_batch_of_many_statements() {
    on_each(|backend| async move {
        let awkward = [
            r#"a "quoted" word"#,
            r"back\slash \\ and \",
            "{braces},{and, commas}",
            "NULL",
            "",
            "  padded  ",
            "ünïcødé ✓ 監査",
            "it's O'Reilly; DROP TABLE audit_events; --",
        ];
        let padding = "x".repeat(4_000);
        let mut writers = Vec::new();
        for index in 0..120 {
            let store = backend.store.clone();
            let text = awkward[index % awkward.len()];
            let mut event = NewEvent::new(
                EventKind::GatewayDecision,
                Actor::agent(format!("id-{index}"), format!("{text}-{index}")),
            )
            .upstream(text)
            .action(text)
            .owner(text)
            .task(format!("{text}{index}"))
            .decision(Decision::Deny, [text])
            .reason(format!("{text} {padding}"))
            .detail("text", text);
            if index % 3 == 0 {
                event = event.on_behalf_of(text);
            }
            writers.push(tokio::spawn(async move { store.record(event, T0).await }));
        }
        let mut written = Vec::new();
        for writer in writers {
            written.push(
                writer
                    .await
                    .unwrap_or_else(|e| panic!("{e}"))
                    .unwrap_or_else(|e| panic!("{e}")),
            );
        }
        written.sort_by_key(|event| event.sequence);
        let stored = backend
            .store
            .audit_events(&all(500))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(stored, written, "{}", backend.label);
        for text in awkward {
            let by_upstream = backend
                .store
                .audit_events(&AuditQuery {
                    filter: AuditFilter {
                        upstream: Some(text.to_string()),
                        ..AuditFilter::default()
                    },
                    ..all(500)
                })
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                by_upstream.len(),
                15,
                "{}: upstream {text:?}",
                backend.label
            );
        }
        let report = backend
            .store
            .verify_audit(&audit_signer().public_key())
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", backend.label));
        assert_eq!(report.events_verified, 120, "{}", backend.label);
    })
    .await;
}

#[tokio::test]
async fn editing_a_record_is_caught() {
    on_each(|backend| async move {
        populate(&*backend.store).await;
        backend.raw("UPDATE audit_events SET record = REPLACE(record, 'tickets.read', 'tickets.wipe') WHERE sequence = 7").await;
        assert_eq!(broken(&backend).await, (7, Problem::Edited), "{}", backend.label);
    })
    .await;
}

#[tokio::test]
async fn editing_a_query_column_is_caught() {
    on_each(|backend| async move {
        populate(&*backend.store).await;
        backend
            .raw("UPDATE audit_events SET actor = 'someone-else' WHERE sequence = 4")
            .await;
        assert_eq!(
            broken(&backend).await,
            (4, Problem::Edited),
            "{}",
            backend.label
        );
    })
    .await;
}

#[tokio::test]
async fn editing_the_node_column_is_caught() {
    on_each(|backend| async move {
        populate(&*backend.store).await;
        backend
            .raw("UPDATE audit_events SET node = 'another-node' WHERE sequence = 6")
            .await;
        let failure = failure(&backend).await;
        assert_eq!(
            (failure.sequence, failure.problem),
            (6, Problem::Edited),
            "{}",
            backend.label
        );
        assert!(
            failure.detail.contains("`node` column of record 6"),
            "{}: {}",
            backend.label,
            failure.detail
        );
    })
    .await;
}

#[tokio::test]
async fn editing_the_id_column_is_caught() {
    on_each(|backend| async move {
        populate(&*backend.store).await;
        backend
            .raw("UPDATE audit_events SET id = '00000000-0000-7000-8000-000000000000' WHERE sequence = 3")
            .await;
        let failure = failure(&backend).await;
        assert_eq!(
            (failure.sequence, failure.problem),
            (3, Problem::Edited),
            "{}",
            backend.label
        );
        assert!(failure.detail.contains("`id` column"), "{}: {}", backend.label, failure.detail);
    })
    .await;
}

#[tokio::test]
async fn deleting_a_row_is_caught() {
    on_each(|backend| async move {
        populate(&*backend.store).await;
        backend
            .raw("DELETE FROM audit_events WHERE sequence = 9")
            .await;
        let (sequence, problem) = broken(&backend).await;
        assert_eq!(sequence, 9, "{}", backend.label);
        assert!(
            matches!(problem, Problem::Deleted { first: 9, last: 9 }),
            "{}: {problem:?}",
            backend.label
        );
    })
    .await;
}

#[tokio::test]
async fn inserting_a_row_is_caught() {
    on_each(|backend| async move {
        populate(&*backend.store).await;
        // A forged copy of record 5 slipped in after it, with every later record moved up.
        backend.raw("UPDATE audit_events SET sequence = sequence + 1000 WHERE sequence > 5").await;
        backend.raw("UPDATE audit_events SET sequence = sequence - 999 WHERE sequence > 1000").await;
        backend
            .raw("INSERT INTO audit_events (sequence, id, time, node, kind, actor, on_behalf_of, owner, task_id, upstream, action, decision, record, hash) \
                  SELECT 6, 'forged', time, node, kind, actor, on_behalf_of, owner, task_id, upstream, action, decision, record, hash FROM audit_events WHERE sequence = 5")
            .await;
        // The forged row claims to be record 5, so that is where the chain breaks.
        assert_eq!(broken(&backend).await, (5, Problem::Inserted), "{}", backend.label);
    })
    .await;
}

#[tokio::test]
async fn swapping_two_rows_is_caught() {
    on_each(|backend| async move {
        populate(&*backend.store).await;
        backend
            .raw("UPDATE audit_events SET sequence = -1 WHERE sequence = 12")
            .await;
        backend
            .raw("UPDATE audit_events SET sequence = 12 WHERE sequence = 13")
            .await;
        backend
            .raw("UPDATE audit_events SET sequence = 13 WHERE sequence = -1")
            .await;
        let (sequence, problem) = broken(&backend).await;
        assert_eq!(sequence, 12, "{}: {problem:?}", backend.label);
        assert!(
            matches!(problem, Problem::Reordered | Problem::Edited),
            "{}: {problem:?}",
            backend.label
        );
    })
    .await;
}

#[tokio::test]
async fn cutting_the_tail_after_a_checkpoint_is_caught() {
    on_each(|backend| async move {
        populate(&*backend.store).await;
        backend
            .raw("DELETE FROM audit_events WHERE sequence > 12")
            .await;
        let (_, problem) = broken(&backend).await;
        assert!(
            matches!(
                problem,
                Problem::TruncatedAfterCheckpoint {
                    last_present: 12,
                    ..
                }
            ),
            "{}: {problem:?}",
            backend.label
        );
    })
    .await;
}

#[tokio::test]
async fn a_seal_anchors_the_whole_tail_so_a_cut_after_it_is_caught() {
    on_each(|backend| async move {
        populate(&*backend.store).await;
        // A node whose policy never asks for a checkpoint: its records stay unanchored
        // until it seals.
        let quiet = backend.quiet_node().await;
        for index in 0..3 {
            quiet
                .record(gateway_event(index), T0.plus_secs(3))
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        }
        // Three more whose callers gave up waiting at once (as a task cancelled at shutdown
        // does): they are queued, and the seal must still cover them. The writer, on its own
        // thread, may already have written one before its caller gave up; the seal covers
        // that one just the same, so whether it did is not what this checks.
        for index in 3..6 {
            let _gave_up = tokio::time::timeout(
                std::time::Duration::ZERO,
                quiet.record(gateway_event(index), T0.plus_secs(3)),
            )
            .await;
        }
        let key = audit_signer().public_key();
        let before = quiet
            .verify_audit(&key)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", backend.label));
        assert!(
            before.unanchored_events >= 3,
            "{}: {before:?}",
            backend.label
        );

        let sealed = quiet
            .seal_audit(T0.plus_secs(4))
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", backend.label))
            .unwrap_or_else(|| panic!("{}: an unanchored tail was not sealed", backend.label));
        let after = quiet
            .verify_audit(&key)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", backend.label));
        assert_eq!(
            after.events_verified, 29,
            "{}: every queued event was written",
            backend.label
        );
        assert_eq!(sealed.sequence, 29, "{}", backend.label);
        assert_eq!(after.unanchored_events, 0, "{}: {after:?}", backend.label);
        assert_eq!(after.last_checkpoint, Some(29), "{}", backend.label);
        assert!(
            quiet
                .seal_audit(T0.plus_secs(5))
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .is_none(),
            "{}: nothing new to seal",
            backend.label
        );
        quiet.close().await;

        backend
            .raw("DELETE FROM audit_events WHERE sequence > 27")
            .await;
        let (_, problem) = broken(&backend).await;
        assert_eq!(
            problem,
            Problem::TruncatedAfterCheckpoint {
                last_present: 27,
                checkpoint: 29
            },
            "{}",
            backend.label
        );
    })
    .await;
}

#[tokio::test]
async fn a_store_without_an_audit_key_seals_nothing() {
    on_each(|backend| async move {
        let unsigned = backend.unsigned_node().await;
        unsigned
            .record(gateway_event(0), T0)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let sealed = unsigned
            .seal_audit(T0)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(sealed.is_none(), "{}: {sealed:?}", backend.label);
        unsigned.close().await;
    })
    .await;
}

#[tokio::test]
async fn a_store_that_refuses_writes_fails_the_record_call() {
    on_each(|backend| async move {
        backend
            .store
            .record(gateway_event(0), T0)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        backend.store.close().await;
        let refused = backend.store.record(gateway_event(1), T0).await;
        assert!(
            refused.is_err(),
            "{}: a closed store must not report the event as written",
            backend.label
        );
    })
    .await;
}

#[tokio::test]
async fn an_audit_store_that_refuses_writes_refuses_the_change_too() {
    on_each(|backend| async move {
        if backend.label == "sqlite" {
            backend.raw("CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events BEGIN SELECT RAISE(ABORT, 'audit refused'); END").await;
        } else {
            backend
                .raw("CREATE FUNCTION refuse_audit() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'audit refused'; END $$ LANGUAGE plpgsql")
                .await;
            backend
                .raw("CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION refuse_audit()")
                .await;
        }
        let store = &*backend.store;
        let owner = NewOwner::new("alice@example.com", "Alice").unwrap_or_else(|e| panic!("{e}"));
        let refused = store.create_owner(&admin(), owner, T0).await;
        assert!(matches!(refused, Err(warden_store::StoreError::Unavailable(_))), "{}: {refused:?}", backend.label);
        let missing = store.get_owner(&OwnerRef::Email("alice@example.com".into())).await;
        assert!(missing.is_err(), "{}: the change must not outlive its refused audit record", backend.label);
        assert!(store.record(gateway_event(0), T0).await.is_err(), "{}", backend.label);
    })
    .await;
}

#[tokio::test]
async fn detached_records_join_the_chain_in_order_and_the_seal_covers_them() {
    on_each(|backend| async move {
        let quiet = backend.quiet_node().await;
        quiet
            .record(gateway_event(0), T0)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", backend.label));
        for index in 1..6 {
            quiet.record_detached(gateway_event(index), T0.plus_secs(1));
        }
        // Nothing was awaited; the seal goes through the same queue, behind them.
        let sealed = quiet
            .seal_audit(T0.plus_secs(2))
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", backend.label))
            .unwrap_or_else(|| panic!("{}: nothing was sealed", backend.label));
        assert_eq!(sealed.sequence, 6, "{}", backend.label);
        let events = quiet
            .audit_events(&all(100))
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", backend.label));
        let actors: Vec<String> = events
            .iter()
            .map(|event| match &event.actor {
                Actor::Agent { id, .. } => id.clone(),
                other => panic!("{}: unexpected actor {other:?}", backend.label),
            })
            .collect();
        assert_eq!(
            actors,
            ["id-0", "id-1", "id-2", "id-0", "id-1", "id-2"],
            "{}: written in the order queued",
            backend.label
        );
        let report = quiet
            .verify_audit(&audit_signer().public_key())
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", backend.label));
        assert_eq!(report.events_verified, 6, "{}", backend.label);
        assert_eq!(report.unanchored_events, 0, "{}", backend.label);
        quiet.close().await;
    })
    .await;
}

/// The write-ahead log is copied back into the database file by the checkpointer, not by
/// the writer's commits: with the writer's own bound far away, the database file still
/// grows to hold what was written.
#[tokio::test]
async fn sqlite_copies_the_log_back_beside_the_writer() {
    let backend = TestStore::sqlite().await;
    let path = backend
        .url
        .trim_start_matches("sqlite://")
        .trim_end_matches("?mode=rwc")
        .to_string();
    let size = || std::fs::metadata(&path).map_or(0, |meta| meta.len());
    let before = size();
    let store = Arc::clone(&backend.store);
    let writers: Vec<_> = (0..8)
        .map(|writer| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                for index in 0..250 {
                    let event = gateway_event(index).reason("x".repeat(400 + writer));
                    store
                        .record(event, T0)
                        .await
                        .unwrap_or_else(|e| panic!("{e}"));
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap_or_else(|e| panic!("{e}"));
    }
    // 2,000 records of about 1 KiB: some 2 MiB of pages, well under the writer's bound.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while size() < before + 1_500_000 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        size() >= before + 1_500_000,
        "the database file stayed at {} bytes (from {before}): the log was not copied back",
        size()
    );
}
