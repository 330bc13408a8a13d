//! Human approvals: held, decided, spent once, expired and audited alike on both backends.

use std::sync::Arc;

use warden_audit::{Actor, EventKind};
use warden_core::{
    ApprovalBinding, ApprovalFilter, ApprovalStatus, DomainError, Environment, IdentityKind,
    Labels, NewApproval, NewIdentity, NewOwner, OwnerRef, Source, Timestamp,
};
use warden_store::{ApprovalVerdict, Approver, AuditFilter, AuditQuery, Store, StoreError};

use crate::backends::{admin, on_both};

/// A named change to one field of a binding.
type BindingChange = (&'static str, fn(&mut ApprovalBinding));

const T0: Timestamp = Timestamp::from_millis(1_800_000_000_000);
/// Approvals in these tests expire ten minutes after they are requested.
const TTL_SECS: i64 = 600;

fn later(secs: i64) -> Timestamp {
    T0.plus_secs(secs)
}

fn domain_error(result: Result<impl std::fmt::Debug, StoreError>) -> DomainError {
    match result {
        Err(StoreError::Domain(error)) => error,
        other => panic!("expected a domain error, got {other:?}"),
    }
}

/// Registers alice and her agent `support-bot`; returns the agent's identity id.
async fn agent(store: &dyn Store) -> String {
    let owner = NewOwner::new("alice@example.com", "Alice").unwrap_or_else(|e| panic!("{e}"));
    store
        .create_owner(&admin(), owner, T0)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let new = NewIdentity {
        kind: IdentityKind::Agent,
        name: "support-bot".into(),
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

fn gateway() -> Actor {
    Actor::agent("gateway-test", "support-bot")
}

fn binding(agent_id: &str) -> ApprovalBinding {
    ApprovalBinding {
        agent_id: agent_id.to_string(),
        upstream: "crm".into(),
        method: "POST".into(),
        path: "/tickets/42/refund".into(),
        body_digest: "hmac-of-method-query-and-body".into(),
        task_id: Some("task-7".into()),
    }
}

fn held(agent_id: &str) -> NewApproval {
    NewApproval {
        binding: binding(agent_id),
        agent_name: "support-bot".into(),
        owner_email: "alice@example.com".into(),
        on_behalf_of: Some("carol@example.com".into()),
        action: "tickets.refund".into(),
        resource: "Ticket::\"42\"".into(),
        reason: Some("the customer was charged twice".into()),
        policy_ids: vec!["refunds-need-approval".into()],
        token_jti: Some("jti-1".into()),
        expires_at: later(TTL_SECS),
        max_pending_for_agent: 20,
    }
}

/// A decision in the caller's own name (no owner looked up).
fn by(approver: &str, approve: bool) -> ApprovalVerdict {
    ApprovalVerdict {
        approver: Approver::Caller(approver.to_string()),
        approve,
        comment: Some("checked the invoice".into()),
    }
}

async fn events(store: &dyn Store, kind: EventKind) -> Vec<warden_audit::AuditEvent> {
    store
        .audit_events(&AuditQuery {
            filter: AuditFilter {
                kind: Some(kind),
                ..Default::default()
            },
            after: None,
            limit: 100,
            newest: false,
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test]
async fn held_requests_are_listed_and_read_back_whole() {
    on_both(|store, backend| async move {
        let agent_id = agent(&*store).await;
        let first = store
            .create_approval(&gateway(), held(&agent_id), None, T0)
            .await
            .unwrap_or_else(|e| panic!("{backend}: {e}"));
        assert_eq!(first.status, ApprovalStatus::Pending, "{backend}");
        assert_eq!(first.requested_at, T0);
        assert!(uuid::Uuid::parse_str(&first.id).is_ok(), "{}", first.id);

        let read = store
            .get_approval(&first.id, later(1))
            .await
            .unwrap_or_else(|e| panic!("{backend}: {e}"));
        assert_eq!(read, first, "{backend}");

        let mut other = held(&agent_id);
        other.binding.path = "/tickets/43/refund".into();
        other.on_behalf_of = None;
        other.binding.task_id = None;
        let second = store
            .create_approval(&gateway(), other, None, later(1))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(second.binding.task_id, None);
        assert_eq!(second.on_behalf_of, None);

        let all = store
            .list_approvals(&ApprovalFilter::default(), later(2))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let ids: Vec<&str> = all.items.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(ids, [first.id.as_str(), second.id.as_str()], "{backend}");
        assert_eq!(all.next_cursor, None);

        // One per page, continuing from the cursor.
        let page = store
            .list_approvals(
                &ApprovalFilter {
                    limit: 1,
                    ..Default::default()
                },
                later(2),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(page.items.len(), 1);
        let rest = store
            .list_approvals(
                &ApprovalFilter {
                    limit: 1,
                    cursor: page.next_cursor.clone(),
                    ..Default::default()
                },
                later(2),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(rest.items[0].id, second.id, "{backend}");
        assert_eq!(rest.next_cursor, None);

        // By accountable owner: every approval here is alice's agent's; nobody else's.
        for (owner, expected) in [("alice@example.com", 2), ("bob@example.com", 0)] {
            let owned = store
                .list_approvals(
                    &ApprovalFilter {
                        owner_email: Some(owner.to_string()),
                        ..Default::default()
                    },
                    later(2),
                )
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(owned.items.len(), expected, "{backend}: {owner}");
            assert!(owned.items.iter().all(|a| a.owner_email == owner));
        }

        store
            .decide_approval(
                &admin(),
                &second.id,
                by("alice@example.com", false),
                later(3),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let filtered = |status: Option<ApprovalStatus>, agent: Option<String>| {
            let store = Arc::clone(&store);
            async move {
                store
                    .list_approvals(
                        &ApprovalFilter {
                            status,
                            agent_id: agent,
                            ..Default::default()
                        },
                        later(4),
                    )
                    .await
                    .unwrap_or_else(|e| panic!("{e}"))
                    .items
                    .into_iter()
                    .map(|a| a.id)
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(
            filtered(Some(ApprovalStatus::Pending), None).await,
            std::slice::from_ref(&first.id)
        );
        assert_eq!(
            filtered(Some(ApprovalStatus::Denied), Some(agent_id.clone())).await,
            std::slice::from_ref(&second.id)
        );
        assert!(
            filtered(None, Some(uuid::Uuid::now_v7().to_string()))
                .await
                .is_empty()
        );

        assert_eq!(
            domain_error(store.get_approval("no-such-approval", T0).await),
            DomainError::UnknownApproval("no-such-approval".into()),
            "{backend}"
        );
        assert!(matches!(
            domain_error(
                store
                    .list_approvals(
                        &ApprovalFilter {
                            cursor: Some("not-a-cursor".into()),
                            ..Default::default()
                        },
                        T0
                    )
                    .await
            ),
            DomainError::InvalidField {
                field: "cursor",
                ..
            }
        ));
    })
    .await;
}

#[tokio::test]
async fn a_request_for_an_unknown_agent_or_an_invalid_one_is_not_held() {
    on_both(|store, backend| async move {
        let agent_id = agent(&*store).await;
        let stranger = uuid::Uuid::now_v7().to_string();
        assert_eq!(
            domain_error(
                store
                    .create_approval(&gateway(), held(&stranger), None, T0)
                    .await
            ),
            DomainError::UnknownIdentity(stranger.clone()),
            "{backend}"
        );
        let mut already_expired = held(&agent_id);
        already_expired.expires_at = T0;
        assert!(matches!(
            domain_error(
                store
                    .create_approval(&gateway(), already_expired, None, T0)
                    .await
            ),
            DomainError::InvalidField {
                field: "expires_at",
                ..
            }
        ));
        let listed = store
            .list_approvals(&ApprovalFilter::default(), T0)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(listed.items.is_empty(), "{backend}");
        assert!(
            events(&*store, EventKind::ApprovalRequested)
                .await
                .is_empty()
        );
    })
    .await;
}

#[tokio::test]
async fn an_approval_lets_its_request_through_exactly_once() {
    on_both(|store, backend| async move {
        let agent_id = agent(&*store).await;
        let approval = store
            .create_approval(&gateway(), held(&agent_id), None, T0)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            domain_error(
                store
                    .consume_approval(&approval.id, &binding(&agent_id), later(1))
                    .await
            ),
            DomainError::ApprovalPending(approval.id.clone()),
            "{backend}"
        );

        let approved = store
            .decide_approval(
                &admin(),
                &approval.id,
                by("alice@example.com", true),
                later(2),
            )
            .await
            .unwrap_or_else(|e| panic!("{backend}: {e}"));
        assert_eq!(approved.status, ApprovalStatus::Approved);
        assert_eq!(approved.decided_by.as_deref(), Some("alice@example.com"));
        assert_eq!(approved.decided_at, Some(later(2)));
        assert_eq!(approved.comment.as_deref(), Some("checked the invoice"));

        let used = store
            .consume_approval(&approval.id, &binding(&agent_id), later(3))
            .await
            .unwrap_or_else(|e| panic!("{backend}: {e}"));
        assert_eq!(used.status, ApprovalStatus::Used, "{backend}");
        assert_eq!(used.used_at, Some(later(3)));

        assert_eq!(
            domain_error(
                store
                    .consume_approval(&approval.id, &binding(&agent_id), later(4))
                    .await
            ),
            DomainError::ApprovalUsed(approval.id.clone()),
            "{backend}"
        );
        assert!(matches!(
            domain_error(
                store
                    .decide_approval(
                        &admin(),
                        &approval.id,
                        by("alice@example.com", false),
                        later(5)
                    )
                    .await
            ),
            DomainError::ApprovalDecided { status: "used", .. }
        ));
        let read = store
            .get_approval(&approval.id, later(TTL_SECS * 2))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            read.status,
            ApprovalStatus::Used,
            "a used approval never expires"
        );

        for (what, result) in [
            (
                "consume",
                store
                    .consume_approval("missing", &binding(&agent_id), later(6))
                    .await
                    .map(|_| ()),
            ),
            (
                "decide",
                store
                    .decide_approval(&admin(), "missing", by("alice@example.com", true), later(6))
                    .await
                    .map(|_| ()),
            ),
        ] {
            assert_eq!(
                domain_error(result),
                DomainError::UnknownApproval("missing".into()),
                "{backend}: {what}"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn a_different_request_cannot_spend_an_approval() {
    on_both(|store, backend| async move {
        let agent_id = agent(&*store).await;
        let approval = store
            .create_approval(&gateway(), held(&agent_id), None, T0)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        store
            .decide_approval(
                &admin(),
                &approval.id,
                by("alice@example.com", true),
                later(1),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let changes: [BindingChange; 6] = [
            ("agent", |b| b.agent_id = uuid::Uuid::now_v7().to_string()),
            ("upstream", |b| b.upstream = "billing".into()),
            ("method", |b| b.method = "PUT".into()),
            ("path", |b| b.path = "/tickets/42/refund/all".into()),
            ("query, content type or body", |b| {
                b.body_digest = "another-hmac".into();
            }),
            ("task", |b| b.task_id = Some("task-8".into())),
        ];
        for (field, change) in changes {
            let mut other = binding(&agent_id);
            change(&mut other);
            let refused =
                domain_error(store.consume_approval(&approval.id, &other, later(2)).await);
            assert_eq!(
                refused,
                DomainError::ApprovalMismatch {
                    id: approval.id.clone(),
                    field
                },
                "{backend}"
            );
            let message = refused.to_string();
            assert!(
                !message.contains("hmac"),
                "the refusal must not echo the digest: {message}"
            );
        }
        // Refused attempts spent nothing: the approved request still goes through.
        let used = store
            .consume_approval(&approval.id, &binding(&agent_id), later(3))
            .await
            .unwrap_or_else(|e| panic!("{backend}: {e}"));
        assert_eq!(used.status, ApprovalStatus::Used);
    })
    .await;
}

#[tokio::test]
async fn a_denied_approval_is_final() {
    on_both(|store, backend| async move {
        let agent_id = agent(&*store).await;
        let approval = store
            .create_approval(&gateway(), held(&agent_id), None, T0)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let denied = store
            .decide_approval(
                &admin(),
                &approval.id,
                by("alice@example.com", false),
                later(1),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(denied.status, ApprovalStatus::Denied, "{backend}");
        assert_eq!(
            domain_error(
                store
                    .consume_approval(&approval.id, &binding(&agent_id), later(2))
                    .await
            ),
            DomainError::ApprovalDenied(approval.id.clone()),
            "{backend}"
        );
        assert!(matches!(
            domain_error(
                store
                    .decide_approval(
                        &admin(),
                        &approval.id,
                        by("alice@example.com", true),
                        later(3)
                    )
                    .await
            ),
            DomainError::ApprovalDecided {
                status: "denied",
                ..
            }
        ));
        // A denied approval does not turn into an expired one.
        let read = store
            .get_approval(&approval.id, later(TTL_SECS * 2))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(read.status, ApprovalStatus::Denied);
    })
    .await;
}

#[tokio::test]
async fn approvals_expire_undecided_or_unused() {
    on_both(|store, backend| async move {
        let agent_id = agent(&*store).await;
        let pending = store
            .create_approval(&gateway(), held(&agent_id), None, T0)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let approved = store
            .create_approval(&gateway(), held(&agent_id), None, T0)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        store
            .decide_approval(
                &admin(),
                &approved.id,
                by("alice@example.com", true),
                later(1),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));

        let expiry = later(TTL_SECS);
        let before = Timestamp::from_millis(expiry.as_millis() - 1);
        let read = |id: String, at: Timestamp| {
            let store = Arc::clone(&store);
            async move {
                store
                    .get_approval(&id, at)
                    .await
                    .unwrap_or_else(|e| panic!("{e}"))
                    .status
            }
        };
        assert_eq!(
            read(pending.id.clone(), before).await,
            ApprovalStatus::Pending
        );
        assert_eq!(
            read(pending.id.clone(), expiry).await,
            ApprovalStatus::Expired
        );
        assert_eq!(
            read(approved.id.clone(), expiry).await,
            ApprovalStatus::Expired
        );

        let expired_ids = store
            .list_approvals(
                &ApprovalFilter {
                    status: Some(ApprovalStatus::Expired),
                    ..Default::default()
                },
                expiry,
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .items
            .into_iter()
            .map(|a| a.id)
            .collect::<Vec<_>>();
        assert_eq!(
            expired_ids,
            [pending.id.clone(), approved.id.clone()],
            "{backend}"
        );
        let still_pending = store
            .list_approvals(
                &ApprovalFilter {
                    status: Some(ApprovalStatus::Pending),
                    ..Default::default()
                },
                expiry,
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(still_pending.items.is_empty(), "{backend}");

        assert_eq!(
            domain_error(
                store
                    .consume_approval(&approved.id, &binding(&agent_id), expiry)
                    .await
            ),
            DomainError::ApprovalExpired(approved.id.clone()),
            "{backend}"
        );

        // A late decision is refused, and the approval is recorded as expired.
        assert_eq!(
            domain_error(
                store
                    .decide_approval(&admin(), &pending.id, by("alice@example.com", true), expiry)
                    .await
            ),
            DomainError::ApprovalExpired(pending.id.clone()),
            "{backend}"
        );
        let expired = events(&*store, EventKind::ApprovalExpired).await;
        assert_eq!(expired.len(), 1, "{backend}");
        assert_eq!(expired[0].approval_id.as_deref(), Some(pending.id.as_str()));
        // Stored as expired: it reads expired even at a time before its expiry.
        assert_eq!(read(pending.id.clone(), T0).await, ApprovalStatus::Expired);
        assert_eq!(events(&*store, EventKind::ApprovalGranted).await.len(), 1);
    })
    .await;
}

#[tokio::test]
async fn nobody_approves_their_own_request() {
    on_both(|store, backend| async move {
        let agent_id = agent(&*store).await;
        let approval = store
            .create_approval(&gateway(), held(&agent_id), None, T0)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        for approver in [
            agent_id.as_str(),
            "support-bot",
            "carol@example.com",
            "Carol@Example.com",
        ] {
            assert_eq!(
                domain_error(
                    store
                        .decide_approval(&admin(), &approval.id, by(approver, true), later(1))
                        .await
                ),
                DomainError::SelfApproval(approver.to_string()),
                "{backend}: {approver}"
            );
        }
        let read = store
            .get_approval(&approval.id, later(2))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(read.status, ApprovalStatus::Pending, "{backend}");
        assert!(events(&*store, EventKind::ApprovalGranted).await.is_empty());
    })
    .await;
}

#[tokio::test]
async fn of_concurrent_consumers_exactly_one_wins() {
    on_both(|store, backend| async move {
        let agent_id = agent(&*store).await;
        let approval = store
            .create_approval(&gateway(), held(&agent_id), None, T0)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        store
            .decide_approval(
                &admin(),
                &approval.id,
                by("alice@example.com", true),
                later(1),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let attempts: Vec<_> = (0..8)
            .map(|_| {
                let store = Arc::clone(&store);
                let id = approval.id.clone();
                let binding = binding(&agent_id);
                tokio::spawn(async move { store.consume_approval(&id, &binding, later(2)).await })
            })
            .collect();
        let mut won = 0;
        for attempt in attempts {
            match attempt.await.unwrap_or_else(|e| panic!("{e}")) {
                Ok(used) => {
                    assert_eq!(used.status, ApprovalStatus::Used);
                    won += 1;
                }
                Err(StoreError::Domain(DomainError::ApprovalUsed(_))) => {}
                Err(other) => panic!("{backend}: unexpected {other}"),
            }
        }
        assert_eq!(won, 1, "{backend}");
    })
    .await;
}

#[tokio::test]
async fn every_step_is_in_the_audit_trail() {
    on_both(|store, backend| async move {
        let agent_id = agent(&*store).await;
        let granted = store
            .create_approval(&gateway(), held(&agent_id), None, T0)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let denied = store
            .create_approval(&gateway(), held(&agent_id), None, T0)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        store
            .decide_approval(
                &admin(),
                &granted.id,
                by("alice@example.com", true),
                later(1),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        store
            .decide_approval(
                &admin(),
                &denied.id,
                ApprovalVerdict {
                    approver: Approver::Caller("bob@example.com".into()),
                    approve: false,
                    comment: None,
                },
                later(2),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));

        let requested = events(&*store, EventKind::ApprovalRequested).await;
        assert_eq!(requested.len(), 2, "{backend}");
        let first = &requested[0];
        assert_eq!(first.actor, gateway());
        assert_eq!(first.approval_id.as_deref(), Some(granted.id.as_str()));
        assert_eq!(first.policy_ids, ["refunds-need-approval"]);
        assert_eq!(
            first.reason.as_deref(),
            Some("the customer was charged twice")
        );
        assert_eq!(first.on_behalf_of.as_deref(), Some("carol@example.com"));
        assert_eq!(first.task_id.as_deref(), Some("task-7"));
        assert_eq!(first.token_jti.as_deref(), Some("jti-1"));
        assert!(
            !serde_json::to_string(first)
                .unwrap_or_default()
                .contains("hmac-of"),
            "the body digest stays out of the trail"
        );

        let grants = events(&*store, EventKind::ApprovalGranted).await;
        assert_eq!(grants.len(), 1, "{backend}");
        let grant = &grants[0];
        assert_eq!(grant.actor, admin());
        assert_eq!(grant.approved_by.as_deref(), Some("alice@example.com"));
        assert_eq!(grant.approval_id.as_deref(), Some(granted.id.as_str()));
        assert_eq!(grant.owner.as_deref(), Some("alice@example.com"));
        assert_eq!(grant.upstream.as_deref(), Some("crm"));
        assert_eq!(grant.action.as_deref(), Some("tickets.refund"));
        assert_eq!(grant.resource.as_deref(), Some("Ticket::\"42\""));
        assert_eq!(grant.reason.as_deref(), Some("checked the invoice"));
        let target = grant.target.as_ref().unwrap_or_else(|| panic!("no target"));
        assert_eq!(
            (
                target.kind.as_str(),
                target.id.as_str(),
                target.name.as_deref()
            ),
            ("identity", agent_id.as_str(), Some("support-bot"))
        );

        let denials = events(&*store, EventKind::ApprovalDenied).await;
        assert_eq!(denials.len(), 1, "{backend}");
        assert_eq!(denials[0].approved_by.as_deref(), Some("bob@example.com"));
        assert_eq!(denials[0].approval_id.as_deref(), Some(denied.id.as_str()));

        // Refusals write nothing.
        let _ = store
            .decide_approval(
                &admin(),
                &granted.id,
                by("alice@example.com", false),
                later(3),
            )
            .await;
        assert_eq!(events(&*store, EventKind::ApprovalDenied).await.len(), 1);
    })
    .await;
}

fn sealed(id: &str, byte: u8) -> warden_store::SealedRequest {
    warden_store::SealedRequest {
        approval_id: id.to_string(),
        bytes: vec![byte; 48],
    }
}

/// The ids of approvals whose held request is still stored, whatever their status.
async fn kept(store: &dyn Store) -> Vec<String> {
    store
        .sealed_approval_requests()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .map(|request| request.approval_id)
        .collect()
}

#[tokio::test]
async fn a_held_request_is_kept_sealed_only_while_its_approval_can_be_used() {
    on_both(|store, backend| async move {
        let agent_id = agent(&*store).await;
        let mut ids = Vec::new();
        for byte in 1..=4_u8 {
            let id = uuid::Uuid::now_v7().to_string();
            let created = store
                .create_approval(&gateway(), held(&agent_id), Some(sealed(&id, byte)), T0)
                .await
                .unwrap_or_else(|e| panic!("{backend}: {e}"));
            assert_eq!(
                created.id, id,
                "{backend}: the approval takes the sealed id"
            );
            ids.push(id);
        }
        let [used, denied, expiring, pending] =
            <[String; 4]>::try_from(ids).unwrap_or_else(|_| panic!("four ids"));
        assert_eq!(
            store
                .approval_request(&used, later(1))
                .await
                .unwrap_or_else(|e| panic!("{e}")),
            Some(vec![1; 48]),
            "{backend}"
        );

        store
            .decide_approval(&admin(), &used, by("alice@example.com", true), later(1))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            kept(&*store).await.contains(&used),
            "{backend}: approved is still open"
        );
        store
            .consume_approval(&used, &binding(&agent_id), later(2))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        store
            .decide_approval(&admin(), &denied, by("alice@example.com", false), later(2))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let still = kept(&*store).await;
        assert!(
            !still.contains(&used),
            "{backend}: a used approval kept its request"
        );
        assert!(
            !still.contains(&denied),
            "{backend}: a denied approval kept its request"
        );
        for gone in [&used, &denied] {
            assert_eq!(
                store
                    .approval_request(gone, later(3))
                    .await
                    .unwrap_or_else(|e| panic!("{e}")),
                None
            );
        }

        // Expiry is read, not written: the request stops being served at once and is
        // removed by the purge.
        assert_eq!(
            store
                .approval_request(&expiring, later(TTL_SECS))
                .await
                .unwrap_or_else(|e| panic!("{e}")),
            None,
            "{backend}"
        );
        assert!(kept(&*store).await.contains(&pending), "{backend}");
        let purged = store
            .purge_approval_requests(later(TTL_SECS))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(purged, 2, "{backend}: both approvals held at T0 expired");
        assert!(kept(&*store).await.is_empty(), "{backend}");

        // One that is still open when the purge runs keeps its request.

        let mut longer = held(&agent_id);
        longer.expires_at = later(TTL_SECS * 2);
        let id = uuid::Uuid::now_v7().to_string();
        store
            .create_approval(&gateway(), longer, Some(sealed(&id, 9)), later(1))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            store
                .purge_approval_requests(later(TTL_SECS))
                .await
                .unwrap_or_else(|e| panic!("{e}")),
            0
        );
        assert_eq!(
            kept(&*store).await,
            vec![id],
            "{backend}: an open approval keeps its request"
        );
    })
    .await;
}

#[tokio::test]
async fn an_agent_cannot_have_more_pending_approvals_than_its_cap() {
    on_both(|store, backend| async move {
        let agent_id = agent(&*store).await;
        let capped = || {
            let mut new = held(&agent_id);
            new.max_pending_for_agent = 3;
            new
        };
        let mut first = None;
        for _ in 0..3 {
            let created = store
                .create_approval(&gateway(), capped(), None, T0)
                .await
                .unwrap_or_else(|e| panic!("{backend}: {e}"));
            first.get_or_insert(created.id);
        }
        let refused = domain_error(
            store
                .create_approval(&gateway(), capped(), None, later(1))
                .await,
        );
        assert_eq!(
            refused,
            DomainError::TooManyPendingApprovals {
                agent: "support-bot".into(),
                limit: 3
            },
            "{backend}"
        );
        let all = store
            .list_approvals(&ApprovalFilter::default(), later(1))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            all.items.len(),
            3,
            "{backend}: a refused hold wrote an approval"
        );
        assert_eq!(events(&*store, EventKind::ApprovalRequested).await.len(), 3);

        // A decided approval no longer counts, nor does an expired one.
        let first = first.unwrap_or_else(|| panic!("none created"));
        store
            .decide_approval(&admin(), &first, by("alice@example.com", false), later(2))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        store
            .create_approval(&gateway(), capped(), None, later(3))
            .await
            .unwrap_or_else(|e| panic!("{backend}: {e}"));
        let mut late = capped();
        late.expires_at = later(TTL_SECS * 2);
        store
            .create_approval(&gateway(), late, None, later(TTL_SECS))
            .await
            .unwrap_or_else(|e| panic!("{backend}: the expired ones still counted: {e}"));
    })
    .await;
}
