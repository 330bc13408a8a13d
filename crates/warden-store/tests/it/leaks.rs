//! Leak reports on each backend: idempotent by fingerprint hash, answered once, matched to
//! imported credentials and upstream secrets; leak findings kept out of every other scope.

use warden_audit::EventKind;
use warden_core::{InjectAuth, NewUpstream, PageRequest, Timestamp, UpstreamId, UpstreamKind};
use warden_import::{ImportBatch, SourceFormat};
use warden_store::findings::{
    EvaluationScope, FindingDraft, FindingFilter, FindingIdentity, FindingStatus, LEAK_RULE,
};
use warden_store::inventory::ImportOptions;
use warden_store::leaks::{LeakLocation, LeakMatch, LeakResponse, LeakSubject, NewLeakReport};
use warden_store::{AuditFilter, AuditQuery, SealedSecret, Store};

use crate::backends::{accept_all, admin, on_both};

const T0: Timestamp = Timestamp::from_millis(1_800_000_000_000);

const CSV: &str = "kind,name,external_id,owner,environment,credential_id,credential_created_at,last_used_at,active\n\
service_account,deployer,aws:user/deployer,,prod,AKIAQ3LEAKTEST00001,2024-01-01T00:00:00Z,,true\n";

fn inventory() -> ImportBatch {
    warden_import::parse("inventory.csv", CSV.as_bytes(), Some(SourceFormat::Csv))
        .unwrap_or_else(|e| panic!("{e}"))
}

fn at(path: &str, line: u64) -> LeakLocation {
    LeakLocation {
        path: Some(path.into()),
        line: Some(line),
        source: Some("test".into()),
        ..LeakLocation::default()
    }
}

fn report(hash: &str, subject: LeakSubject, location: LeakLocation) -> NewLeakReport {
    NewLeakReport {
        fingerprint_hash: hash.into(),
        secret_kind: Some("aws_access_key_id".into()),
        subject,
        location,
    }
}

fn imported(identity: &str) -> LeakSubject {
    LeakSubject {
        matched: LeakMatch::ImportedCredential,
        subject_id: Some(identity.into()),
        identity_kind: Some("service_account".into()),
        identity_name: Some("deployer".into()),
        owner_id: None,
        credential_id: Some("AKIAQ3LEAKTEST00001".into()),
        secret_version: None,
    }
}

async fn leak_events(store: &dyn Store, kind: EventKind) -> usize {
    let query = AuditQuery {
        filter: AuditFilter {
            kind: Some(kind),
            ..AuditFilter::default()
        },
        after: None,
        limit: 100,
        newest: false,
    };
    store
        .audit_events(&query)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .len()
}

#[tokio::test]
async fn a_secret_reported_twice_is_one_report_with_its_places_and_one_response() {
    on_both(|store, backend| async move {
        store
            .apply_import(&admin(), vec![inventory()], ImportOptions::default(), T0)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let holders = store
            .leaked_credential_holders("AKIAQ3LEAKTEST00001")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(holders.len(), 1, "{backend}");
        assert!(holders[0].active && holders[0].presence == "present");
        assert_eq!(holders[0].credential_kind, "other");
        let identity = holders[0].identity_id.clone();

        // Unknown first (reported before the import was matched), then known.
        let first = store
            .record_leak(
                &admin(),
                report("h1", LeakSubject::unknown(), at("a.env", 3)),
                T0,
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(first.new, "{backend}");
        assert_eq!(first.report.subject.matched, LeakMatch::Unknown);
        let second = store
            .record_leak(
                &admin(),
                report("h1", imported(&identity), at("b.env", 1)),
                T0.plus_secs(5),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(!second.new);
        assert_eq!(second.report.id, first.report.id);
        assert_eq!(second.report.report_count, 2);
        assert_eq!(second.report.subject, imported(&identity), "{backend}");
        assert_eq!(
            second.report.locations,
            vec![at("a.env", 3), at("b.env", 1)]
        );
        assert_eq!(second.report.last_reported_at, T0.plus_secs(5));
        assert_eq!(second.report.first_reported_at, T0);

        // A later report that knows less keeps what was matched; a place seen again moves last.
        let third = store
            .record_leak(
                &admin(),
                report("h1", LeakSubject::unknown(), at("a.env", 3)),
                T0.plus_secs(6),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(third.report.subject.matched, LeakMatch::ImportedCredential);
        assert_eq!(third.report.locations, vec![at("b.env", 1), at("a.env", 3)]);

        let answered = store
            .respond_to_leak(
                &admin(),
                &first.report.id,
                LeakResponse::Suspended,
                T0.plus_secs(7),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(answered.response, LeakResponse::Suspended);
        assert_eq!(answered.responded_at, Some(T0.plus_secs(7)));
        let again = store
            .respond_to_leak(
                &admin(),
                &first.report.id,
                LeakResponse::Revoked,
                T0.plus_secs(8),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (again.response, again.responded_at),
            (LeakResponse::Suspended, Some(T0.plus_secs(7))),
            "the first response stands"
        );
        let record = store
            .get_imported(&identity)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(record.suspended_at, Some(T0.plus_secs(7)), "{backend}");

        assert_eq!(leak_events(&*store, EventKind::LeakReported).await, 3);
        assert_eq!(leak_events(&*store, EventKind::LeakResponded).await, 1);

        let page = PageRequest::new(Some(10), None).unwrap_or_else(|e| panic!("{e}"));
        let listed = store
            .list_leaks(&page)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(listed.items.len(), 1);
        assert_eq!(
            store
                .matched_leaks()
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .len(),
            1
        );
        let missing = store.get_leak("no-such-report").await;
        assert!(
            matches!(
                missing,
                Err(warden_store::StoreError::Domain(
                    warden_core::DomainError::UnknownLeak(_)
                ))
            ),
            "{backend}: {missing:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn an_upstream_secret_is_found_by_its_leak_fingerprint_until_it_is_replaced() {
    on_both(|store, backend| async move {
        let upstream = NewUpstream {
            name: "billing".into(),
            kind: UpstreamKind::Http,
            url: "https://billing.example.com".into(),
            auth: InjectAuth::Bearer,
            routes: None,
            allowed_origins: Vec::new(),
            stdio: None,
            labels: Vec::new(),
            tool_labels: Default::default(),
            identity: None,
        };
        store
            .create_upstream(
                &admin(),
                UpstreamId::new_v7(),
                upstream,
                Some(SealedSecret {
                    bytes: vec![1, 2, 3],
                    version: 1,
                    leak_fingerprint: Some("fp-one".into()),
                }),
                &accept_all,
                T0,
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let found = store
            .upstream_by_leak_fingerprint("fp-one")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(found, Some(("billing".to_string(), 1)), "{backend}");
        store
            .set_upstream_secret(
                &admin(),
                "billing",
                SealedSecret {
                    bytes: vec![4, 5, 6],
                    version: 2,
                    leak_fingerprint: None,
                },
                T0.plus_secs(1),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            store
                .upstream_by_leak_fingerprint("fp-one")
                .await
                .unwrap_or_else(|e| panic!("{e}")),
            None,
            "a replaced secret's fingerprint goes with it"
        );
        assert_eq!(
            store
                .upstreams_missing_leak_fingerprint()
                .await
                .unwrap_or_else(|e| panic!("{e}")),
            vec!["billing".to_string()]
        );
        assert!(
            !store
                .set_upstream_leak_fingerprint("billing", 1, "stale")
                .await
                .unwrap_or_else(|e| panic!("{e}")),
            "a fingerprint for an old version is not stored"
        );
        assert!(
            store
                .set_upstream_leak_fingerprint("billing", 2, "fp-two")
                .await
                .unwrap_or_else(|e| panic!("{e}"))
        );
        assert_eq!(
            store
                .upstream_by_leak_fingerprint("fp-two")
                .await
                .unwrap_or_else(|e| panic!("{e}")),
            Some(("billing".to_string(), 2)),
            "{backend}"
        );
        assert!(
            store
                .upstreams_missing_leak_fingerprint()
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .is_empty()
        );
    })
    .await;
}

fn leak_draft(subject: &str) -> FindingDraft {
    FindingDraft {
        rule: LEAK_RULE.into(),
        owasp: "NHI2:2025".into(),
        severity: "critical".into(),
        severity_rank: 4,
        subject: subject.into(),
        identity: Some(FindingIdentity {
            id: Some(subject.into()),
            kind: "service_account".into(),
            name: "deployer".into(),
        }),
        credential: Some("AKIAQ3LEAKTEST00001".into()),
        evidence: "found in a.env".into(),
        remediation: "deactivate it".into(),
    }
}

#[tokio::test]
async fn only_the_leak_scope_opens_or_resolves_leak_findings() {
    on_both(|store, backend| async move {
        let leaks = EvaluationScope {
            leaks: true,
            ..EvaluationScope::default()
        };
        let opened = store
            .reconcile_findings(&admin(), &leaks, vec![leak_draft("id-1")], T0)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(opened.opened, 1, "{backend}");

        // Every other scope over the same subject leaves it open.
        for scope in [
            EvaluationScope {
                all: true,
                ..EvaluationScope::default()
            },
            EvaluationScope {
                subjects: vec!["id-1".into()],
                ..EvaluationScope::default()
            },
            EvaluationScope {
                rules_on_credentials: vec![LEAK_RULE.into()],
                credentials: vec!["AKIAQ3LEAKTEST00001".into()],
                ..EvaluationScope::default()
            },
        ] {
            let outcome = store
                .reconcile_findings(&admin(), &scope, vec![], T0.plus_secs(1))
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(outcome.resolved, 0, "{backend}: {scope:?}");
        }
        let open = store
            .list_findings(
                &FindingFilter {
                    status: Some(FindingStatus::Open),
                    rule: Some(LEAK_RULE.into()),
                    ..FindingFilter::default()
                },
                &PageRequest::new(Some(10), None).unwrap_or_else(|e| panic!("{e}")),
                T0.plus_secs(1),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(open.items.len(), 1, "{backend}");

        // The leak scope resolves it when the leak no longer raises it.
        let resolved = store
            .reconcile_findings(&admin(), &leaks, vec![], T0.plus_secs(2))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(resolved.resolved, 1, "{backend}");
    })
    .await;
}
