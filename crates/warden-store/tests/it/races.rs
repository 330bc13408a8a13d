//! Writes that stay valid when two nodes race on one database: a change to policies or
//! upstreams is checked inside its own serialised transaction, an owner deciding an
//! approval is checked in the decision's transaction, and a kill commits with its audit
//! event. Each race runs as a second store on the same database would, many rounds over.

use std::sync::Arc;

use warden_audit::{AuditEvent, EventKind};
use warden_core::{
    ApprovalBinding, ApprovalStatus, DomainError, Environment, IdentityKind, IdentityRef,
    IdentityStatus, InjectAuth, Labels, NewApproval, NewIdentity, NewOwner, NewUpstream, OwnerRef,
    Source, StoredPolicy, Timestamp, Upstream, UpstreamId, UpstreamKind, UpstreamPatch,
};
use warden_store::{
    ApprovalVerdict, Approver, AuditFilter, AuditQuery, IdentityChange, SqlStore, Store, StoreError,
};

use crate::backends::{TestStore, admin, on_both, on_each};

const T0: Timestamp = Timestamp::from_millis(1_800_000_000_000);
const ROUNDS: usize = 12;

/// A stand-in for the Cedar compiler: a policy's text is the names of the upstreams it
/// needs, and a set compiles only when every one exists. A text starting with `only:` may
/// stand in the set once (two policies each valid alone but not together).
fn needs(upstreams: &[Upstream], policies: &[StoredPolicy]) -> Result<(), DomainError> {
    for policy in policies {
        if let Some(word) = policy.text.strip_prefix("only:") {
            let holders = policies.iter().filter(|other| other.text == policy.text);
            if holders.count() > 1 {
                return Err(DomainError::InvalidPolicy(format!(
                    "`{word}` may be claimed by one policy only"
                )));
            }
            continue;
        }
        for name in policy.text.split_whitespace() {
            if !upstreams.iter().any(|upstream| upstream.name == name) {
                return Err(DomainError::InvalidPolicy(format!(
                    "policy `{}` names upstream `{name}`, which does not exist",
                    policy.id
                )));
            }
        }
    }
    Ok(())
}

fn http(name: &str) -> NewUpstream {
    NewUpstream {
        name: name.into(),
        kind: UpstreamKind::Http,
        url: format!("https://{name}.example.com"),
        auth: InjectAuth::Bearer,
        routes: None,
        allowed_origins: Vec::new(),
        stdio: None,
        labels: Vec::new(),
        tool_labels: Default::default(),
        identity: None,
    }
}

fn refused<T: std::fmt::Debug>(result: Result<T, StoreError>) -> DomainError {
    match result {
        Err(StoreError::Domain(error)) => error,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

async fn events(store: &dyn Store, kind: EventKind) -> Vec<AuditEvent> {
    store
        .audit_events(&AuditQuery {
            filter: AuditFilter {
                kind: Some(kind),
                ..Default::default()
            },
            after: None,
            limit: 1000,
            newest: false,
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

fn about<'a>(events: &'a [AuditEvent], id: &str) -> Vec<&'a AuditEvent> {
    events
        .iter()
        .filter(|event| event.target.as_ref().is_some_and(|target| target.id == id))
        .collect()
}

/// The store on the first node and a second store opened on the same database.
async fn two_nodes(backend: &TestStore) -> (Arc<SqlStore>, SqlStore) {
    (backend.store.clone(), backend.second_node().await)
}

#[tokio::test]
async fn a_refused_check_writes_nothing() {
    on_both(|store, backend| async move {
        store
            .create_upstream(
                &admin(),
                UpstreamId::new_v7(),
                http("crm"),
                None,
                &needs,
                T0,
            )
            .await
            .unwrap_or_else(|e| panic!("{backend}: {e}"));
        store
            .put_policy(&admin(), "uses-crm", "crm", false, &needs, T0)
            .await
            .unwrap_or_else(|e| panic!("{backend}: {e}"));
        let version = store
            .list_policies()
            .await
            .unwrap_or_else(|e| panic!("{e}"));

        // The check sees the set with the change in it: a policy naming a missing upstream.
        let refusal = refused(
            store
                .put_policy(&admin(), "uses-billing", "billing", false, &needs, T0)
                .await,
        );
        assert!(
            matches!(&refusal, DomainError::InvalidPolicy(message) if message.contains("billing")),
            "{backend}: {refusal:?}"
        );
        // A replacement is checked the same way and leaves the old text.
        refused(
            store
                .put_policy(&admin(), "uses-crm", "crm billing", true, &needs, T0)
                .await,
        );
        // Removing an upstream a policy names, or renaming it away by a refused change.
        refused(store.delete_upstream(&admin(), "crm", &needs, T0).await);
        let nothing_compiles = |_: &[Upstream], _: &[StoredPolicy]| -> Result<(), DomainError> {
            Err(DomainError::InvalidPolicy("refused by the test".into()))
        };
        refused(
            store
                .update_upstream(
                    &admin(),
                    "crm",
                    UpstreamPatch {
                        url: Some("https://crm.example.com/v2".into()),
                        ..Default::default()
                    },
                    None,
                    &nothing_compiles,
                    T0,
                )
                .await,
        );
        refused(
            store
                .create_upstream(
                    &admin(),
                    UpstreamId::new_v7(),
                    http("billing"),
                    None,
                    &nothing_compiles,
                    T0,
                )
                .await,
        );

        assert_eq!(
            store
                .list_policies()
                .await
                .unwrap_or_else(|e| panic!("{e}")),
            version,
            "{backend}: a refused policy change wrote nothing"
        );
        let upstreams = store
            .list_upstreams()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(upstreams.len(), 1, "{backend}");
        assert_eq!(upstreams[0].url, "https://crm.example.com", "{backend}");
        assert_eq!(events(&*store, EventKind::PolicyCreated).await.len(), 1);
        assert_eq!(events(&*store, EventKind::PolicyUpdated).await.len(), 0);
        assert_eq!(events(&*store, EventKind::UpstreamCreated).await.len(), 1);
        assert_eq!(events(&*store, EventKind::UpstreamUpdated).await.len(), 0);
        assert_eq!(events(&*store, EventKind::UpstreamDeleted).await.len(), 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_removed_while_a_policy_naming_it_is_added_leaves_a_valid_set() {
    on_each(|backend| async move {
        let label = backend.label;
        let (first, second) = two_nodes(&backend).await;
        let mut kept_upstream = 0;
        for round in 0..ROUNDS {
            let upstream = format!("u{round}");
            first
                .create_upstream(
                    &admin(),
                    UpstreamId::new_v7(),
                    http(&upstream),
                    None,
                    &needs,
                    T0,
                )
                .await
                .unwrap_or_else(|e| panic!("{label}: {e}"));
            let policy = format!("p{round}");
            let actor = admin();
            let (removed, added) = tokio::join!(
                first.delete_upstream(&actor, &upstream, &needs, T0),
                second.put_policy(&actor, &policy, &upstream, false, &needs, T0),
            );
            // One after the other: whichever came second was checked against the first.
            match (removed, added) {
                (Ok(_), Err(StoreError::Domain(DomainError::InvalidPolicy(_)))) => {}
                (Err(StoreError::Domain(DomainError::InvalidPolicy(_))), Ok(_)) => {
                    kept_upstream += 1;
                }
                other => panic!("{label}: round {round}: both or neither won: {other:?}"),
            }
        }
        let upstreams = first
            .list_upstreams()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let policies = first
            .list_policies()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        needs(&upstreams, &policies).unwrap_or_else(|e| panic!("{label}: {e}"));
        assert_eq!(
            (upstreams.len(), policies.len()),
            (kept_upstream, kept_upstream),
            "{label}"
        );
        second.close().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_policy_changes_valid_alone_but_not_together_cannot_both_be_stored() {
    on_each(|backend| async move {
        let label = backend.label;
        let (first, second) = two_nodes(&backend).await;
        for round in 0..ROUNDS {
            let claim = format!("only:slot-{round}");
            let actor = admin();
            let (a_id, b_id) = (format!("a{round}"), format!("b{round}"));
            let (a, b) = tokio::join!(
                first.put_policy(&actor, &a_id, &claim, false, &needs, T0),
                second.put_policy(&actor, &b_id, &claim, false, &needs, T0),
            );
            assert!(
                a.is_ok() != b.is_ok(),
                "{label}: round {round}: exactly one may win: {a:?} {b:?}"
            );
        }
        let policies = first
            .list_policies()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(policies.len(), ROUNDS, "{label}");
        needs(&[], &policies).unwrap_or_else(|e| panic!("{label}: {e}"));
        // Versions stayed one at a time across both nodes.
        let mut versions: Vec<i64> = policies.iter().map(|policy| policy.version).collect();
        versions.sort_unstable();
        assert_eq!(versions, (1..=ROUNDS as i64).collect::<Vec<_>>(), "{label}");
        second.close().await;
    })
    .await;
}

async fn owner(store: &dyn Store, email: &str) {
    let new = NewOwner::new(email, "Someone").unwrap_or_else(|e| panic!("{e}"));
    store
        .create_owner(&admin(), new, T0)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

/// Registers alice and her agent `name`; returns the agent's identity id.
async fn agent(store: &dyn Store, name: &str) -> String {
    let new = NewIdentity {
        kind: IdentityKind::Agent,
        name: name.into(),
        purpose: None,
        environment: Some(Environment::Prod),
        labels: Labels::new(),
        expires_at: None,
        source: Source::Issued,
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
        .unwrap_or_else(|e| panic!("{e}"))
        .id
        .to_string()
}

fn held(agent_id: &str, path: String) -> NewApproval {
    NewApproval {
        binding: ApprovalBinding {
            agent_id: agent_id.to_string(),
            upstream: "crm".into(),
            method: "POST".into(),
            path,
            body_digest: "digest".into(),
            task_id: None,
        },
        agent_name: "support-bot".into(),
        owner_email: "alice@example.com".into(),
        on_behalf_of: None,
        action: "tickets.refund".into(),
        resource: "Ticket::\"42\"".into(),
        reason: None,
        policy_ids: vec!["refunds".into()],
        token_jti: None,
        expires_at: T0.plus_secs(600),
        max_pending_for_agent: 100,
    }
}

fn as_owner(email: &str) -> ApprovalVerdict {
    ApprovalVerdict {
        approver: Approver::Owner(OwnerRef::Email(email.into())),
        approve: true,
        comment: None,
    }
}

#[tokio::test]
async fn an_offboarded_owner_cannot_decide_and_the_approval_stays_pending() {
    on_both(|store, backend| async move {
        owner(&*store, "alice@example.com").await;
        owner(&*store, "bob@example.com").await;
        let agent_id = agent(&*store, "support-bot").await;
        let approval = store
            .create_approval(&admin(), held(&agent_id, "/refund".into()), None, T0)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        store
            .offboard_owner(&admin(), &OwnerRef::Email("bob@example.com".into()), T0)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            refused(
                store
                    .decide_approval(&admin(), &approval.id, as_owner("bob@example.com"), T0)
                    .await
            ),
            DomainError::OwnerNotActive("bob@example.com".into()),
            "{backend}"
        );
        assert!(matches!(
            refused(
                store
                    .decide_approval(&admin(), &approval.id, as_owner("nobody@example.com"), T0)
                    .await
            ),
            DomainError::UnknownOwner(_)
        ));
        let unchanged = store
            .get_approval(&approval.id, T0)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(unchanged.status, ApprovalStatus::Pending, "{backend}");
        assert!(events(&*store, EventKind::ApprovalGranted).await.is_empty());
        // An active owner decides, recorded by email.
        let decided = store
            .decide_approval(&admin(), &approval.id, as_owner("alice@example.com"), T0)
            .await
            .unwrap_or_else(|e| panic!("{backend}: {e}"));
        assert_eq!(decided.decided_by.as_deref(), Some("alice@example.com"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_offboarded_on_another_node_decides_only_before_the_offboarding() {
    on_each(|backend| async move {
        let label = backend.label;
        let (first, second) = two_nodes(&backend).await;
        owner(&*first, "alice@example.com").await;
        let agent_id = agent(&*first, "support-bot").await;
        for round in 0..ROUNDS {
            let approver = format!("approver-{round}@example.com");
            owner(&*first, &approver).await;
            let approval = first
                .create_approval(&admin(), held(&agent_id, format!("/r/{round}")), None, T0)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            let actor = admin();
            let leaving = OwnerRef::Email(approver.clone());
            let (decided, offboarded) = tokio::join!(
                first.decide_approval(&actor, &approval.id, as_owner(&approver), T0),
                second.offboard_owner(&actor, &leaving, T0),
            );
            offboarded.unwrap_or_else(|e| panic!("{label}: {e}"));
            let granted = events(&*first, EventKind::ApprovalGranted).await;
            let granted: Vec<_> = granted
                .iter()
                .filter(|event| event.approval_id.as_deref() == Some(approval.id.as_str()))
                .collect();
            let offboarding = events(&*first, EventKind::OwnerOffboarded).await;
            let offboarding = offboarding
                .iter()
                .find(|event| event.owner.as_deref() == Some(approver.as_str()))
                .unwrap_or_else(|| panic!("{label}: no owner.offboarded"));
            match decided {
                // A decision that won committed before the offboarding did.
                Ok(approval) => {
                    assert_eq!(approval.status, ApprovalStatus::Approved);
                    assert_eq!(granted.len(), 1, "{label}");
                    assert!(
                        granted[0].sequence < offboarding.sequence,
                        "{label}: round {round}: decided by an owner already offboarded"
                    );
                }
                Err(StoreError::Domain(DomainError::OwnerNotActive(_))) => {
                    assert!(granted.is_empty(), "{label}");
                    let pending = first
                        .get_approval(&approval.id, T0)
                        .await
                        .unwrap_or_else(|e| panic!("{e}"));
                    assert_eq!(pending.status, ApprovalStatus::Pending, "{label}");
                }
                Err(other) => panic!("{label}: round {round}: {other:?}"),
            }
        }
        second.close().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_commits_with_its_audit_event_exactly_once() {
    on_each(|backend| async move {
        let label = backend.label;
        let (first, second) = two_nodes(&backend).await;
        owner(&*first, "alice@example.com").await;
        for round in 0..ROUNDS {
            let name = format!("bot-{round}");
            let id = agent(&*first, &name).await;
            let reference = IdentityRef::parse(&id).unwrap_or_else(|e| panic!("{e}"));
            // Two nodes pull the switch on one agent at once: one kill, one refusal.
            let actor = admin();
            let (a, b) = tokio::join!(
                first.kill_identity(&actor, &reference, 1, T0),
                second.kill_identity(&actor, &reference, 1, T0),
            );
            assert!(a.is_ok() != b.is_ok(), "{label}: {a:?} {b:?}");
            let killed = a.or(b).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(killed.status, IdentityStatus::Suspended);
            let applied = events(&*first, EventKind::KillApplied).await;
            let applied = about(&applied, &id);
            let suspended = events(&*first, EventKind::IdentitySuspended).await;
            let suspended = about(&suspended, &id);
            assert_eq!((applied.len(), suspended.len()), (1, 1), "{label}");
            // Written in the suspension's own transaction: the very next record.
            assert_eq!(applied[0].sequence, suspended[0].sequence + 1, "{label}");
            assert_eq!(
                applied[0].details.get("reached").map(String::as_str),
                Some("1")
            );

            let actor = admin();
            let (a, b) = tokio::join!(
                first.restore_identity(&actor, &reference, T0),
                second.restore_identity(&actor, &reference, T0),
            );
            assert!(a.is_ok() != b.is_ok(), "{label}: {a:?} {b:?}");
            let restored = events(&*first, EventKind::KillRestored).await;
            assert_eq!(about(&restored, &id).len(), 1, "{label}");
        }
        // A kill that is refused (the identity is revoked) records nothing.
        let id = agent(&*first, "gone-bot").await;
        let reference = IdentityRef::parse(&id).unwrap_or_else(|e| panic!("{e}"));
        first
            .change_identity(&admin(), &reference, IdentityChange::Revoke, T0)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        refused(first.kill_identity(&admin(), &reference, 1, T0).await);
        let applied = events(&*first, EventKind::KillApplied).await;
        assert!(about(&applied, &id).is_empty(), "{label}");
        second.close().await;
    })
    .await;
}
