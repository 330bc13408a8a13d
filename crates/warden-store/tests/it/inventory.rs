//! The external inventory and findings on each backend: imports that are idempotent, mark the
//! missing as gone and match owners; findings that open, stay, resolve, reopen and suppress.

use warden_core::{DomainError, NewOwner, OwnerRef, PageRequest, Timestamp};
use warden_import::{ImportBatch, SourceFormat};
use warden_store::findings::{
    EvaluationScope, FindingDraft, FindingFilter, FindingIdentity, FindingStatus, Suppression,
};
use warden_store::inventory::{ImportOptions, ImportedFilter, PresenceStatus};
use warden_store::{Store, StoreError};

use crate::backends::{admin, on_both};

const T0: Timestamp = Timestamp::from_millis(1_800_000_000_000);

const HEADER: &str = "kind,name,external_id,owner,environment,credential_id,credential_created_at,last_used_at,active\n";

fn batch(rows: &[&str]) -> ImportBatch {
    let text = format!("{HEADER}{}\n", rows.join("\n"));
    warden_import::parse("inventory.csv", text.as_bytes(), Some(SourceFormat::Csv))
        .unwrap_or_else(|e| panic!("{e}"))
}

const DEPLOYER: &str = "service_account,deployer,aws:user/deployer,alice@example.com,prod,AKIA0001,2024-01-01T00:00:00Z,2025-01-01T00:00:00Z,true";
const BACKUP: &str =
    "service_account,backup,aws:user/backup,,prod,AKIA0002,2024-01-01T00:00:00Z,,true";
const DEPLOYER_ROTATED: &str = "service_account,deployer,aws:user/deployer,alice@example.com,prod,AKIA0009,2025-06-01T00:00:00Z,,true";

fn full() -> ImportOptions {
    ImportOptions {
        source: Some("aws-prod".into()),
        full_export: Some(true),
        ..ImportOptions::default()
    }
}

async fn add_owner(store: &dyn Store, email: &str) {
    let new = NewOwner::new(email, "Owner").unwrap_or_else(|e| panic!("{e}"));
    store
        .create_owner(&admin(), new, T0)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

async fn all_imported(
    store: &dyn Store,
    filter: ImportedFilter,
) -> Vec<warden_store::inventory::ImportedRecord> {
    let page = PageRequest::new(Some(500), None).unwrap_or_else(|e| panic!("{e}"));
    store
        .list_imported(&filter, &page)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .items
}

#[tokio::test]
async fn reimporting_updates_never_duplicates_and_a_full_export_marks_the_missing_gone() {
    on_both(|store, backend| async move {
        add_owner(&*store, "alice@example.com").await;
        let first = store
            .apply_import(&admin(), vec![batch(&[DEPLOYER, BACKUP])], full(), T0)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(first.sources[0].created, 2, "{backend}");
        assert_eq!(first.sources[0].orphaned, 1, "{backend}");
        assert_eq!(first.changed.len(), 2);

        let again = store
            .apply_import(
                &admin(),
                vec![batch(&[DEPLOYER, BACKUP])],
                full(),
                T0.plus_secs(60),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (
                again.sources[0].created,
                again.sources[0].updated,
                again.sources[0].unchanged
            ),
            (0, 0, 2),
            "{backend}"
        );
        assert!(again.changed.is_empty());
        assert_eq!(
            all_imported(&*store, ImportedFilter::default()).await.len(),
            2
        );

        let rotated = store
            .apply_import(
                &admin(),
                vec![batch(&[DEPLOYER_ROTATED])],
                full(),
                T0.plus_secs(120),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (rotated.sources[0].updated, rotated.sources[0].gone),
            (1, 1),
            "{backend}"
        );
        let gone = all_imported(
            &*store,
            ImportedFilter {
                status: Some(PresenceStatus::Gone),
                ..ImportedFilter::default()
            },
        )
        .await;
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].external_id, "aws:user/backup");
        assert_eq!(gone[0].gone_at, Some(T0.plus_secs(120)));
        let deployer = all_imported(
            &*store,
            ImportedFilter {
                status: Some(PresenceStatus::Present),
                ..ImportedFilter::default()
            },
        )
        .await;
        assert_eq!(deployer[0].record.credentials[0].id, "AKIA0009");
        assert_eq!(deployer[0].first_seen, T0, "first_seen stays");
        assert_eq!(deployer[0].last_seen, T0.plus_secs(120));

        // A partial export marks nothing gone.
        let partial = store
            .apply_import(
                &admin(),
                vec![batch(&[BACKUP])],
                ImportOptions {
                    full_export: Some(false),
                    ..full()
                },
                T0.plus_secs(180),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (partial.sources[0].updated, partial.sources[0].gone),
            (1, 0),
            "{backend}"
        );
    })
    .await;
}

#[tokio::test]
async fn owners_are_matched_kept_when_assigned_and_a_dry_run_changes_nothing() {
    on_both(|store, backend| async move {
        add_owner(&*store, "alice@example.com").await;
        add_owner(&*store, "ops@example.com").await;
        let dry = store
            .apply_import(
                &admin(),
                vec![batch(&[DEPLOYER, BACKUP])],
                ImportOptions {
                    dry_run: true,
                    ..full()
                },
                T0,
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(dry.sources[0].created, 2);
        assert!(
            all_imported(&*store, ImportedFilter::default())
                .await
                .is_empty(),
            "{backend}"
        );

        store
            .apply_import(&admin(), vec![batch(&[DEPLOYER, BACKUP])], full(), T0)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let orphans = all_imported(
            &*store,
            ImportedFilter {
                orphaned: Some(true),
                ..ImportedFilter::default()
            },
        )
        .await;
        assert_eq!(orphans.len(), 1, "{backend}");
        assert_eq!(orphans[0].name, "backup");
        let matched = all_imported(
            &*store,
            ImportedFilter {
                owner: Some("alice@example.com".into()),
                ..ImportedFilter::default()
            },
        )
        .await;
        assert_eq!(matched.len(), 1);
        assert_eq!(matched[0].owner.as_deref(), Some("alice@example.com"));

        let assigned = store
            .reassign_imported(
                &admin(),
                &orphans[0].id,
                &OwnerRef::Email("ops@example.com".into()),
                T0,
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(assigned.owner_assigned && !assigned.orphaned);
        // The source still names no owner; the assignment stays.
        store
            .apply_import(
                &admin(),
                vec![batch(&[DEPLOYER, BACKUP])],
                full(),
                T0.plus_secs(1),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let kept = store
            .get_imported(&orphans[0].id)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(kept.owner.as_deref(), Some("ops@example.com"), "{backend}");

        // One identity listed twice in one import is refused by name, stored or not.
        let mut twice = batch(&[DEPLOYER]);
        twice.identities.push(twice.identities[0].clone());
        let repeated = store
            .apply_import(&admin(), vec![twice], full(), T0.plus_secs(2))
            .await;
        assert!(
            matches!(
                repeated,
                Err(StoreError::Domain(DomainError::InvalidField {
                    field: "external_id",
                    ..
                }))
            ),
            "{backend}: {repeated:?}"
        );

        // A default owner that does not exist refuses the whole import.
        let refused = store
            .apply_import(
                &admin(),
                vec![batch(&[DEPLOYER])],
                ImportOptions {
                    default_owner: Some(OwnerRef::Email("nobody@example.com".into())),
                    ..full()
                },
                T0.plus_secs(2),
            )
            .await;
        assert!(
            matches!(
                refused,
                Err(StoreError::Domain(DomainError::UnknownOwner(_)))
            ),
            "{refused:?}"
        );
    })
    .await;
}

fn draft(rule: &str, subject: &str, evidence: &str, severity: &str, rank: i64) -> FindingDraft {
    FindingDraft {
        rule: rule.into(),
        owasp: "NHI7:2025".into(),
        severity: severity.into(),
        severity_rank: rank,
        subject: subject.into(),
        identity: Some(FindingIdentity {
            id: Some(subject.into()),
            kind: "service_account".into(),
            name: format!("name-of-{subject}"),
        }),
        credential: Some("KEY1".into()),
        evidence: evidence.into(),
        remediation: "rotate".into(),
    }
}

fn all() -> EvaluationScope {
    EvaluationScope {
        all: true,
        ..EvaluationScope::default()
    }
}

async fn findings(
    store: &dyn Store,
    status: Option<FindingStatus>,
    now: Timestamp,
) -> Vec<warden_store::findings::StoredFinding> {
    let page = PageRequest::new(Some(500), None).unwrap_or_else(|e| panic!("{e}"));
    let filter = FindingFilter {
        status,
        ..FindingFilter::default()
    };
    store
        .list_findings(&filter, &page, now)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .items
}

#[tokio::test]
async fn findings_open_stay_resolve_reopen_and_suppress() {
    on_both(|store, backend| async move {
        let old = draft("secret-too-old", "a", "100 days", "medium", 2);
        let admin_grant = draft("admin-permission", "b", "admin", "high", 3);
        let outcome = store
            .reconcile_findings(&admin(), &all(), vec![old.clone(), admin_grant.clone()], T0)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(outcome.opened, 2, "{backend}");

        let same = store
            .reconcile_findings(
                &admin(),
                &all(),
                vec![old.clone(), admin_grant.clone()],
                T0.plus_secs(10),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (same.opened, same.unchanged, same.resolved),
            (0, 2, 0),
            "{backend}"
        );
        let open = findings(&*store, Some(FindingStatus::Open), T0.plus_secs(10)).await;
        assert!(
            open.iter().all(|f| f.last_seen == T0.plus_secs(10)),
            "last_seen is the last evaluation"
        );
        assert!(open.iter().all(|f| f.first_seen == T0));

        // A targeted scope over subject `a` does not resolve `b`'s finding.
        let targeted = EvaluationScope {
            subjects: vec!["a".into()],
            ..EvaluationScope::default()
        };
        let narrowed = store
            .reconcile_findings(&admin(), &targeted, vec![], T0.plus_secs(20))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(narrowed.resolved, 1, "{backend}");
        let resolved = findings(&*store, Some(FindingStatus::Resolved), T0.plus_secs(20)).await;
        assert_eq!(resolved.len(), 1);
        assert_eq!(resolved[0].rule, "secret-too-old");
        assert_eq!(resolved[0].resolved_at, Some(T0.plus_secs(20)));

        let reopened = store
            .reconcile_findings(
                &admin(),
                &all(),
                vec![
                    draft("secret-too-old", "a", "130 days", "medium", 2),
                    admin_grant.clone(),
                ],
                T0.plus_secs(30),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(reopened.reopened, 1, "{backend}");
        let again = store
            .get_finding(&resolved[0].id, T0.plus_secs(30))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(again.status, FindingStatus::Open);
        assert_eq!(again.evidence, "130 days");

        let suppressed = store
            .suppress_finding(
                &admin(),
                &again.id,
                Some(Suppression {
                    reason: "key retires with the old cluster".into(),
                    until: T0.plus_secs(3_600),
                    by: "admin".into(),
                }),
                T0.plus_secs(40),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(suppressed.status, FindingStatus::Suppressed, "{backend}");
        assert_eq!(
            findings(&*store, Some(FindingStatus::Suppressed), T0.plus_secs(41))
                .await
                .len(),
            1
        );
        // It reads as open again once the suppression ends.
        assert_eq!(
            store
                .get_finding(&again.id, T0.plus_secs(3_601))
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .status,
            FindingStatus::Open
        );
        let summary = store
            .posture_summary(T0.plus_secs(41))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (summary.open.total, summary.open.high, summary.suppressed),
            (1, 1, 1),
            "{backend}"
        );
        assert_eq!(summary.worst[0].subject, "b");

        let lifted = store
            .suppress_finding(&admin(), &again.id, None, T0.plus_secs(50))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(lifted.status, FindingStatus::Open);
        assert!(lifted.suppression.is_none());
        let not_suppressed = store
            .suppress_finding(&admin(), &again.id, None, T0.plus_secs(51))
            .await;
        assert!(matches!(
            not_suppressed,
            Err(StoreError::Domain(DomainError::InvalidState(_)))
        ));
        let past = store
            .suppress_finding(
                &admin(),
                &again.id,
                Some(Suppression {
                    reason: "r".into(),
                    until: T0,
                    by: "admin".into(),
                }),
                T0.plus_secs(52),
            )
            .await;
        assert!(
            matches!(
                past,
                Err(StoreError::Domain(DomainError::InvalidField {
                    field: "until",
                    ..
                }))
            ),
            "{past:?}"
        );
        let unknown = store.get_finding("no-such", T0).await;
        assert!(matches!(
            unknown,
            Err(StoreError::Domain(DomainError::UnknownFinding(_)))
        ));
    })
    .await;
}
