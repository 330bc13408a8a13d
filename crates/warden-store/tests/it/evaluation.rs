//! What the last posture evaluation saw of each imported identity, on each backend: which
//! identities a full evaluation must read again (a write to the identity, its owner's
//! offboarding, another basis, the clock reaching the recorded horizon or reading earlier
//! than the evaluation), and the lookups a re-evaluation of the reuse rules makes.

use std::collections::BTreeMap;

use warden_core::{NewOwner, OwnerRef, Timestamp};
use warden_import::{ImportBatch, SourceFormat};
use warden_store::Store;
use warden_store::findings::{EvaluationScope, FindingDraft};
use warden_store::inventory::{EvaluatedSubject, ImportOptions, InventoryItem};

use crate::backends::{admin, on_both};

const T0: Timestamp = Timestamp::from_millis(1_800_000_000_000);
const HEADER: &str = "kind,name,external_id,owner,environment,credential_id,credential_created_at,last_used_at,active\n";
const DEPLOYER: &str = "service_account,deployer,aws:user/deployer,alice@example.com,prod,AKIA0001,2024-01-01T00:00:00Z,2025-01-01T00:00:00Z,true";
const DEPLOYER_ROTATED: &str = "service_account,deployer,aws:user/deployer,alice@example.com,prod,AKIA0009,2025-06-01T00:00:00Z,,true";
const BACKUP: &str =
    "service_account,backup,aws:user/backup,,prod,AKIA0002,2024-01-01T00:00:00Z,,true";

fn batch(rows: &[&str]) -> ImportBatch {
    let text = format!("{HEADER}{}\n", rows.join("\n"));
    warden_import::parse("inventory.csv", text.as_bytes(), Some(SourceFormat::Csv))
        .unwrap_or_else(|e| panic!("{e}"))
}

async fn import(store: &dyn Store, rows: &[&str], now: Timestamp) {
    let options = ImportOptions {
        source: Some("aws-prod".into()),
        full_export: Some(true),
        ..ImportOptions::default()
    };
    store
        .apply_import(&admin(), vec![batch(rows)], options, now)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

/// Every imported identity by name.
async fn items(store: &dyn Store) -> BTreeMap<String, InventoryItem> {
    let mut items = BTreeMap::new();
    store
        .scan_inventory(&mut |item| {
            items.insert(item.identity.name.clone(), item);
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    items
}

/// Records every identity as evaluated at `now` under `basis`, the deployer's findings
/// holding for a day and the backup's until it changes.
async fn record_all(store: &dyn Store, basis: &str, now: Timestamp) {
    let subjects: Vec<EvaluatedSubject> = items(store)
        .await
        .into_values()
        .map(|item| EvaluatedSubject {
            stable_until: (item.identity.name == "deployer").then(|| now.plus_secs(86_400)),
            id: item.id,
            revision: item.revision,
            owner_email: item.owner_email,
            owner_offboarded: item.owner_offboarded,
        })
        .collect();
    store
        .record_evaluated(basis, now, &subjects)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

/// The names of the identities due under `basis` at `now`.
async fn due(store: &dyn Store, basis: &str, now: Timestamp) -> Vec<String> {
    let by_id: BTreeMap<String, String> = items(store)
        .await
        .into_values()
        .map(|item| (item.id, item.identity.name))
        .collect();
    let ids = store
        .inventory_due(basis, now, 100)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("more than 100 due"));
    let mut names: Vec<String> = ids.iter().map(|id| by_id[id].clone()).collect();
    names.sort();
    // The one-pass scan must agree on every identity.
    let mut stale = Vec::new();
    store
        .scan_inventory_against(basis, now, &mut |item, holds| {
            if !holds {
                stale.push(item.identity.name.clone());
            }
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    stale.sort();
    assert_eq!(stale, names, "the scan and the due list disagree");
    names
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|n| n.to_string()).collect()
}

#[tokio::test]
async fn identities_are_due_again_when_anything_their_findings_depend_on_changes() {
    on_both(|store, backend| async move {
        for email in ["alice@example.com", "bob@example.com"] {
            let new = NewOwner::new(email, "Owner").unwrap_or_else(|e| panic!("{e}"));
            store
                .create_owner(&admin(), new, T0)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        }
        import(&*store, &[DEPLOYER, BACKUP], T0).await;
        let both = names(&["backup", "deployer"]);
        assert_eq!(
            due(&*store, "b1", T0).await,
            both,
            "{backend}: never evaluated"
        );

        record_all(&*store, "b1", T0).await;
        assert!(due(&*store, "b1", T0).await.is_empty(), "{backend}");
        assert!(
            due(&*store, "b1", T0.plus_secs(86_399)).await.is_empty(),
            "{backend}"
        );
        assert_eq!(
            due(&*store, "b2", T0).await,
            both,
            "{backend}: another basis"
        );
        assert_eq!(
            due(&*store, "b1", T0.plus_secs(86_400)).await,
            names(&["deployer"]),
            "{backend}: the horizon came"
        );
        assert_eq!(
            due(&*store, "b1", T0.plus_secs(-1)).await,
            both,
            "{backend}: the clock reads earlier than the evaluation"
        );
        // Recording again replaces what was recorded.
        record_all(&*store, "b2", T0).await;
        assert!(due(&*store, "b2", T0).await.is_empty(), "{backend}");
        assert_eq!(due(&*store, "b1", T0).await, both, "{backend}");
        record_all(&*store, "b1", T0).await;

        // The same export again changes nothing; a changed one, at the same instant, does.
        import(&*store, &[DEPLOYER, BACKUP], T0).await;
        assert!(
            due(&*store, "b1", T0).await.is_empty(),
            "{backend}: unchanged"
        );
        import(&*store, &[DEPLOYER_ROTATED, BACKUP], T0).await;
        assert_eq!(
            due(&*store, "b1", T0).await,
            names(&["deployer"]),
            "{backend}: re-imported"
        );
        record_all(&*store, "b1", T0).await;

        store
            .offboard_owner(&admin(), &OwnerRef::Email("alice@example.com".into()), T0)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            due(&*store, "b1", T0).await,
            names(&["deployer"]),
            "{backend}: offboarded"
        );
        record_all(&*store, "b1", T0).await;

        let backup = items(&*store).await["backup"].id.clone();
        store
            .reassign_imported(
                &admin(),
                &backup,
                &OwnerRef::Email("bob@example.com".into()),
                T0,
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            due(&*store, "b1", T0).await,
            names(&["backup"]),
            "{backend}: reassigned"
        );
        record_all(&*store, "b1", T0).await;

        import(&*store, &[DEPLOYER_ROTATED], T0).await;
        assert_eq!(
            due(&*store, "b1", T0).await,
            names(&["backup"]),
            "{backend}: gone"
        );

        // Over the limit, no list.
        let over = store
            .inventory_due("b3", T0, 1)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(over, None, "{backend}");
    })
    .await;
}

#[tokio::test]
async fn a_reuse_re_evaluation_finds_holders_and_the_credentials_findings_name() {
    on_both(|store, backend| async move {
        import(&*store, &[DEPLOYER_ROTATED, BACKUP], T0).await;
        let all = items(&*store).await;
        let deployer = all["deployer"].id.clone();
        let holders = store
            .credential_holders(&["AKIA0009".to_string(), "NOT-HELD".to_string()])
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(holders, vec![deployer.clone()], "{backend}");

        let draft = FindingDraft {
            rule: "credential-shared".into(),
            owasp: "NHI5:2025".into(),
            severity: "high".into(),
            severity_rank: 3,
            subject: deployer.clone(),
            identity: None,
            credential: Some("AKIA0001".into()),
            evidence: "the same credential id is held by two".into(),
            remediation: "issue each its own".into(),
        };
        let scope = EvaluationScope {
            subjects: vec![deployer.clone()],
            full_evaluation: true,
            ..EvaluationScope::default()
        };
        store
            .reconcile_findings(&admin(), &scope, vec![draft], T0)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        // A full evaluation that carried findings forward counts as the last evaluation.
        let summary = store
            .posture_summary(T0)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(summary.last_evaluated_at, Some(T0), "{backend}");
        // Resolved findings still name the credential: its other holders may need resolving.
        store
            .reconcile_findings(&admin(), &scope, vec![], T0.plus_secs(1))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let named = store
            .finding_credentials(
                &["credential-shared".to_string()],
                std::slice::from_ref(&deployer),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(named, vec!["AKIA0001".to_string()], "{backend}");
        let other_rule = store
            .finding_credentials(&["secret-too-old".to_string()], &[deployer])
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(other_rule.is_empty(), "{backend}");
    })
    .await;
}
