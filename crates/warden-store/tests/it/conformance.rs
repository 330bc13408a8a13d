//! The behaviour every `Store` must have, run on each backend by `backends::on_both`.

use std::sync::Arc;

use warden_core::{
    DomainError, Environment, IdentityFilter, IdentityKind, IdentityPatch, IdentityRef,
    IdentityStatus, Labels, NewIdentity, NewOwner, OwnerFilter, OwnerPatch, OwnerRef, OwnerStatus,
    PageRequest, Source, SuspensionReason, Timestamp,
};
use warden_store::{IdentityChange, Store, StoreError};

use crate::backends::{admin, on_both};

const T0: Timestamp = Timestamp::from_millis(1_800_000_000_000);

fn later(secs: i64) -> Timestamp {
    T0.plus_secs(secs)
}

fn owner_ref(email: &str) -> OwnerRef {
    OwnerRef::Email(email.to_string())
}

fn agent_ref(name: &str) -> IdentityRef {
    IdentityRef::Name {
        kind: IdentityKind::Agent,
        name: name.to_string(),
    }
}

fn new_identity(kind: IdentityKind, name: &str) -> NewIdentity {
    NewIdentity {
        kind,
        name: name.to_string(),
        purpose: Some("answers support tickets".into()),
        environment: Some(Environment::Prod),
        labels: Labels::new(),
        expires_at: None,
        source: Source::Issued,
        source_detail: None,
    }
}

async fn add_owner(store: &dyn Store, email: &str) {
    let new = NewOwner::new(email, "Test Owner").unwrap_or_else(|e| panic!("{e}"));
    store
        .create_owner(&admin(), new, T0)
        .await
        .unwrap_or_else(|e| panic!("create owner {email}: {e}"));
}

async fn add_agent(store: &dyn Store, name: &str, owner: &str) {
    store
        .create_identity(
            &admin(),
            new_identity(IdentityKind::Agent, name),
            &owner_ref(owner),
            None,
            T0,
        )
        .await
        .unwrap_or_else(|e| panic!("create agent {name}: {e}"));
}

fn domain_error(result: Result<impl std::fmt::Debug, StoreError>) -> DomainError {
    match result {
        Err(StoreError::Domain(error)) => error,
        other => panic!("expected a domain error, got {other:?}"),
    }
}

async fn count_identities(store: &dyn Store) -> usize {
    let page = PageRequest::new(Some(500), None).unwrap_or_else(|e| panic!("{e}"));
    store
        .list_identities(&IdentityFilter::default(), &page, T0)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .items
        .len()
}

#[tokio::test]
async fn owners_are_created_found_and_unique() {
    on_both(|store, backend| async move {
        add_owner(&*store, "alice@example.com").await;
        let by_email = store
            .get_owner(&owner_ref("alice@example.com"))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let by_id = store
            .get_owner(&OwnerRef::Id(by_email.id))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(by_email, by_id, "{backend}");
        assert_eq!(by_email.status, OwnerStatus::Active);

        let again =
            NewOwner::new("ALICE@example.com", "Alice Again").unwrap_or_else(|e| panic!("{e}"));
        let duplicate = domain_error(store.create_owner(&admin(), again, T0).await);
        assert_eq!(
            duplicate,
            DomainError::DuplicateOwner("alice@example.com".into()),
            "{backend}"
        );
        let renamed = store
            .update_owner(
                &admin(),
                &owner_ref("alice@example.com"),
                OwnerPatch {
                    name: Some("Alice Liddell".into()),
                },
                later(1),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(renamed.name, "Alice Liddell");
        assert_eq!(renamed.updated_at, later(1));

        let missing = domain_error(store.get_owner(&owner_ref("nobody@example.com")).await);
        assert_eq!(
            missing,
            DomainError::UnknownOwner("nobody@example.com".into())
        );
    })
    .await;
}

#[tokio::test]
async fn owner_listing_pages_and_filters() {
    on_both(|store, backend| async move {
        for index in 0..7 {
            add_owner(&*store, &format!("owner{index}@example.com")).await;
        }
        store
            .offboard_owner(&admin(), &owner_ref("owner3@example.com"), later(1))
            .await
            .unwrap_or_else(|e| panic!("{e}"));

        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let page = PageRequest::new(Some(3), cursor).unwrap_or_else(|e| panic!("{e}"));
            let result = store
                .list_owners(&OwnerFilter::default(), &page)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            assert!(result.items.len() <= 3);
            seen.extend(result.items.into_iter().map(|owner| owner.email));
            cursor = result.next_cursor;
            if cursor.is_none() {
                break;
            }
        }
        let mut expected: Vec<String> = (0..7).map(|i| format!("owner{i}@example.com")).collect();
        let mut sorted_seen = seen.clone();
        sorted_seen.sort();
        expected.sort();
        assert_eq!(sorted_seen, expected, "{backend}: every owner exactly once");

        let offboarded = store
            .list_owners(
                &OwnerFilter {
                    status: Some(OwnerStatus::Offboarded),
                },
                &PageRequest::default(),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let emails: Vec<_> = offboarded
            .items
            .iter()
            .map(|owner| owner.email.as_str())
            .collect();
        assert_eq!(emails, ["owner3@example.com"], "{backend}");
    })
    .await;
}

#[tokio::test]
async fn identities_need_an_existing_active_owner() {
    on_both(|store, backend| async move {
        let unknown = domain_error(
            store
                .create_identity(
                    &admin(),
                    new_identity(IdentityKind::Agent, "bot"),
                    &owner_ref("ghost@example.com"),
                    None,
                    T0,
                )
                .await,
        );
        assert_eq!(
            unknown,
            DomainError::UnknownOwner("ghost@example.com".into()),
            "{backend}"
        );

        add_owner(&*store, "gone@example.com").await;
        store
            .offboard_owner(&admin(), &owner_ref("gone@example.com"), later(1))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let refused = domain_error(
            store
                .create_identity(
                    &admin(),
                    new_identity(IdentityKind::Agent, "bot"),
                    &owner_ref("gone@example.com"),
                    None,
                    later(2),
                )
                .await,
        );
        assert_eq!(
            refused,
            DomainError::OwnerNotActive("gone@example.com".into()),
            "{backend}"
        );
        assert_eq!(
            count_identities(&*store).await,
            0,
            "{backend}: nothing was written"
        );
    })
    .await;
}

#[tokio::test]
async fn names_are_unique_per_kind() {
    on_both(|store, backend| async move {
        add_owner(&*store, "alice@example.com").await;
        add_agent(&*store, "support-bot", "alice@example.com").await;
        let duplicate = domain_error(
            store
                .create_identity(
                    &admin(),
                    new_identity(IdentityKind::Agent, "support-bot"),
                    &owner_ref("alice@example.com"),
                    None,
                    T0,
                )
                .await,
        );
        assert!(
            matches!(duplicate, DomainError::DuplicateName { .. }),
            "{backend}: {duplicate:?}"
        );
        // The same name under another kind is a different identity.
        store
            .create_identity(
                &admin(),
                new_identity(IdentityKind::ApiKey, "support-bot"),
                &owner_ref("alice@example.com"),
                None,
                T0,
            )
            .await
            .unwrap_or_else(|e| panic!("{backend}: {e}"));
        assert_eq!(count_identities(&*store).await, 2, "{backend}");
    })
    .await;
}

#[tokio::test]
async fn identities_round_trip_every_field() {
    on_both(|store, backend| async move {
        add_owner(&*store, "alice@example.com").await;
        add_agent(&*store, "parent", "alice@example.com").await;
        let mut new = new_identity(IdentityKind::Webhook, "billing-hook");
        new.labels.insert("team".into(), "billing".into());
        new.labels.insert("example.com/tier".into(), "1".into());
        new.environment = Some(Environment::Staging);
        new.expires_at = Some(later(3600));
        new.source = Source::Imported;
        new.source_detail = Some("github:hooks/42".into());
        let created = store
            .create_identity(
                &admin(),
                new,
                &owner_ref("alice@example.com"),
                Some(&agent_ref("parent")),
                T0,
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let by_name = store
            .get_identity(&IdentityRef::Name {
                kind: IdentityKind::Webhook,
                name: "billing-hook".into(),
            })
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let by_id = store
            .get_identity(&IdentityRef::Id(created.id))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(created, by_name, "{backend}");
        assert_eq!(created, by_id, "{backend}");
        assert_eq!(by_id.owner, "alice@example.com");
        assert!(by_id.parent_id.is_some());
    })
    .await;
}

#[tokio::test]
async fn listing_filters_narrow_and_pages_cover_everything_once() {
    on_both(|store, backend| async move {
        add_owner(&*store, "alice@example.com").await;
        add_owner(&*store, "bob@example.com").await;
        for index in 0..5 {
            let mut new = new_identity(IdentityKind::Agent, &format!("agent-{index}"));
            new.labels.insert(
                "team".into(),
                if index % 2 == 0 { "even" } else { "odd" }.into(),
            );
            new.environment = Some(if index < 2 {
                Environment::Dev
            } else {
                Environment::Prod
            });
            if index == 4 {
                new.expires_at = Some(later(10));
            }
            store
                .create_identity(&admin(), new, &owner_ref("alice@example.com"), None, T0)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        }
        store
            .create_identity(
                &admin(),
                new_identity(IdentityKind::ServiceAccount, "ci"),
                &owner_ref("bob@example.com"),
                Some(&agent_ref("agent-0")),
                T0,
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));

        let list = |filter: IdentityFilter, now: Timestamp| {
            let store = store.clone();
            async move {
                let mut names: Vec<String> = store
                    .list_identities(&filter, &PageRequest::default(), now)
                    .await
                    .unwrap_or_else(|e| panic!("{e}"))
                    .items
                    .into_iter()
                    .map(|identity| identity.name)
                    .collect();
                names.sort();
                names
            }
        };
        assert_eq!(
            list(
                IdentityFilter {
                    kind: Some(IdentityKind::ServiceAccount),
                    ..Default::default()
                },
                T0
            )
            .await,
            ["ci"],
            "{backend}"
        );
        assert_eq!(
            list(
                IdentityFilter {
                    owner: Some(owner_ref("bob@example.com")),
                    ..Default::default()
                },
                T0
            )
            .await,
            ["ci"]
        );
        assert_eq!(
            list(
                IdentityFilter {
                    labels: vec![("team".into(), "even".into())],
                    ..Default::default()
                },
                T0
            )
            .await,
            ["agent-0", "agent-2", "agent-4"]
        );
        assert_eq!(
            list(
                IdentityFilter {
                    labels: vec![("team".into(), "even".into())],
                    environment: Some(Environment::Dev),
                    ..Default::default()
                },
                T0
            )
            .await,
            ["agent-0"]
        );
        assert_eq!(
            list(
                IdentityFilter {
                    parent: Some(agent_ref("agent-0")),
                    ..Default::default()
                },
                T0
            )
            .await,
            ["ci"]
        );
        assert_eq!(
            list(
                IdentityFilter {
                    status: Some(IdentityStatus::Expired),
                    ..Default::default()
                },
                later(20)
            )
            .await,
            ["agent-4"]
        );
        assert_eq!(
            list(
                IdentityFilter {
                    status: Some(IdentityStatus::Active),
                    kind: Some(IdentityKind::Agent),
                    ..Default::default()
                },
                later(20)
            )
            .await,
            ["agent-0", "agent-1", "agent-2", "agent-3"]
        );

        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let page = PageRequest::new(Some(4), cursor).unwrap_or_else(|e| panic!("{e}"));
            let result = store
                .list_identities(&IdentityFilter::default(), &page, T0)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            seen.extend(result.items.into_iter().map(|identity| identity.name));
            cursor = result.next_cursor;
            if cursor.is_none() {
                break;
            }
        }
        seen.sort();
        assert_eq!(
            seen,
            ["agent-0", "agent-1", "agent-2", "agent-3", "agent-4", "ci"],
            "{backend}"
        );
    })
    .await;
}

#[tokio::test]
async fn parents_must_exist_and_never_form_a_cycle() {
    on_both(|store, backend| async move {
        add_owner(&*store, "alice@example.com").await;
        let unknown = domain_error(
            store
                .create_identity(
                    &admin(),
                    new_identity(IdentityKind::Agent, "orphan"),
                    &owner_ref("alice@example.com"),
                    Some(&agent_ref("nobody")),
                    T0,
                )
                .await,
        );
        assert_eq!(
            unknown,
            DomainError::UnknownParent("agent:nobody".into()),
            "{backend}"
        );

        add_agent(&*store, "root", "alice@example.com").await;
        for (child, parent) in [("child", "root"), ("grandchild", "child")] {
            store
                .create_identity(
                    &admin(),
                    new_identity(IdentityKind::Agent, child),
                    &owner_ref("alice@example.com"),
                    Some(&agent_ref(parent)),
                    T0,
                )
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let patch = IdentityPatch {
            parent: Some(Some("agent:grandchild".into())),
            ..Default::default()
        };
        let cyclic = domain_error(
            store
                .update_identity(&admin(), &agent_ref("root"), patch, later(1))
                .await,
        );
        assert!(
            matches!(cyclic, DomainError::CyclicParent { .. }),
            "{backend}: {cyclic:?}"
        );
        let root = store
            .get_identity(&agent_ref("root"))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            root.parent_id, None,
            "{backend}: the refused change left nothing behind"
        );

        let self_parent = IdentityPatch {
            parent: Some(Some("agent:root".into())),
            ..Default::default()
        };
        let refused = domain_error(
            store
                .update_identity(&admin(), &agent_ref("root"), self_parent, later(1))
                .await,
        );
        assert!(
            matches!(refused, DomainError::CyclicParent { .. }),
            "{backend}"
        );

        let detach = IdentityPatch {
            parent: Some(None),
            ..Default::default()
        };
        let detached = store
            .update_identity(&admin(), &agent_ref("grandchild"), detach, later(2))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(detached.parent_id, None);
    })
    .await;
}

#[tokio::test]
async fn offboarding_suspends_until_reassigned() {
    on_both(|store, backend| async move {
        add_owner(&*store, "alice@example.com").await;
        add_owner(&*store, "bob@example.com").await;
        add_agent(&*store, "bot", "alice@example.com").await;
        add_agent(&*store, "paused", "alice@example.com").await;
        add_agent(&*store, "retired", "alice@example.com").await;
        store
            .change_identity(
                &admin(),
                &agent_ref("paused"),
                IdentityChange::Suspend(SuspensionReason::Manual),
                later(1),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        store
            .change_identity(
                &admin(),
                &agent_ref("retired"),
                IdentityChange::Revoke,
                later(1),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));

        let offboarding = store
            .offboard_owner(&admin(), &owner_ref("alice@example.com"), later(2))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            offboarding.owner.status,
            OwnerStatus::Offboarded,
            "{backend}"
        );
        let suspended: Vec<_> = offboarding
            .suspended
            .iter()
            .map(|identity| identity.name.as_str())
            .collect();
        assert_eq!(suspended, ["bot"], "{backend}");
        let bot = store
            .get_identity(&agent_ref("bot"))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (bot.status, bot.suspension_reason),
            (
                IdentityStatus::Suspended,
                Some(SuspensionReason::OwnerOffboarded)
            )
        );

        let again = domain_error(
            store
                .offboard_owner(&admin(), &owner_ref("alice@example.com"), later(3))
                .await,
        );
        assert!(matches!(again, DomainError::InvalidState(_)), "{backend}");
        let restore = domain_error(
            store
                .change_identity(
                    &admin(),
                    &agent_ref("bot"),
                    IdentityChange::Restore,
                    later(3),
                )
                .await,
        );
        assert!(matches!(restore, DomainError::InvalidState(_)), "{backend}");

        let moved = store
            .reassign_identities(
                &admin(),
                &owner_ref("alice@example.com"),
                &owner_ref("bob@example.com"),
                later(4),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let mut moved_names: Vec<_> = moved
            .iter()
            .map(|identity| identity.name.as_str())
            .collect();
        moved_names.sort();
        assert_eq!(
            moved_names,
            ["bot", "paused"],
            "{backend}: revoked identities stay where they are"
        );
        let bot = store
            .get_identity(&agent_ref("bot"))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (bot.status, bot.owner.as_str()),
            (IdentityStatus::Active, "bob@example.com"),
            "{backend}"
        );
        let paused = store
            .get_identity(&agent_ref("paused"))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            paused.status,
            IdentityStatus::Suspended,
            "{backend}: a manual suspension survives"
        );
    })
    .await;
}

#[tokio::test]
async fn reassignment_to_an_offboarded_owner_changes_nothing() {
    on_both(|store, backend| async move {
        add_owner(&*store, "alice@example.com").await;
        add_owner(&*store, "carol@example.com").await;
        add_agent(&*store, "bot", "alice@example.com").await;
        store
            .offboard_owner(&admin(), &owner_ref("carol@example.com"), later(1))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let refused = domain_error(
            store
                .reassign_identities(
                    &admin(),
                    &owner_ref("alice@example.com"),
                    &owner_ref("carol@example.com"),
                    later(2),
                )
                .await,
        );
        assert_eq!(
            refused,
            DomainError::OwnerNotActive("carol@example.com".into()),
            "{backend}"
        );
        let single = domain_error(
            store
                .change_identity(
                    &admin(),
                    &agent_ref("bot"),
                    IdentityChange::Reassign(owner_ref("carol@example.com")),
                    later(2),
                )
                .await,
        );
        assert_eq!(
            single,
            DomainError::OwnerNotActive("carol@example.com".into())
        );
        let bot = store
            .get_identity(&agent_ref("bot"))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(bot.owner, "alice@example.com", "{backend}");
    })
    .await;
}

#[tokio::test]
async fn revoked_identities_are_never_restored() {
    on_both(|store, backend| async move {
        add_owner(&*store, "alice@example.com").await;
        add_agent(&*store, "bot", "alice@example.com").await;
        let suspended = store
            .change_identity(
                &admin(),
                &agent_ref("bot"),
                IdentityChange::Suspend(SuspensionReason::Manual),
                later(1),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(suspended.status, IdentityStatus::Suspended, "{backend}");
        let restored = store
            .change_identity(
                &admin(),
                &agent_ref("bot"),
                IdentityChange::Restore,
                later(2),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(restored.status, IdentityStatus::Active, "{backend}");
        store
            .change_identity(
                &admin(),
                &agent_ref("bot"),
                IdentityChange::Revoke,
                later(3),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let refused = domain_error(
            store
                .change_identity(
                    &admin(),
                    &agent_ref("bot"),
                    IdentityChange::Restore,
                    later(4),
                )
                .await,
        );
        assert_eq!(
            refused,
            DomainError::Revoked("agent:bot".into()),
            "{backend}"
        );
        let patch = IdentityPatch {
            purpose: Some(Some("new".into())),
            ..Default::default()
        };
        let edit = domain_error(
            store
                .update_identity(&admin(), &agent_ref("bot"), patch, later(4))
                .await,
        );
        assert_eq!(edit, DomainError::Revoked("agent:bot".into()), "{backend}");
        let bot = store
            .get_identity(&agent_ref("bot"))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (bot.status, bot.updated_at),
            (IdentityStatus::Revoked, later(3)),
            "{backend}"
        );
    })
    .await;
}

#[tokio::test]
async fn label_edits_replace_the_indexed_labels() {
    on_both(|store, backend| async move {
        add_owner(&*store, "alice@example.com").await;
        add_agent(&*store, "bot", "alice@example.com").await;
        let mut labels = Labels::new();
        labels.insert("team".into(), "support".into());
        let patch = IdentityPatch {
            labels: Some(labels),
            ..Default::default()
        };
        store
            .update_identity(&admin(), &agent_ref("bot"), patch, later(1))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let by_label = |value: &'static str| {
            let store = store.clone();
            async move {
                let filter = IdentityFilter {
                    labels: vec![("team".into(), value.into())],
                    ..Default::default()
                };
                store
                    .list_identities(&filter, &PageRequest::default(), later(1))
                    .await
                    .unwrap_or_else(|e| panic!("{e}"))
                    .items
                    .len()
            }
        };
        assert_eq!(by_label("support").await, 1, "{backend}");
        let mut relabelled = Labels::new();
        relabelled.insert("team".into(), "billing".into());
        let patch = IdentityPatch {
            labels: Some(relabelled),
            ..Default::default()
        };
        store
            .update_identity(&admin(), &agent_ref("bot"), patch, later(2))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(by_label("support").await, 0, "{backend}");
        assert_eq!(by_label("billing").await, 1, "{backend}");
    })
    .await;
}

#[tokio::test]
async fn concurrent_creates_of_one_name_admit_exactly_one() {
    on_both(|store, backend| async move {
        add_owner(&*store, "alice@example.com").await;
        let attempts = (0..8).map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                store
                    .create_identity(
                        &admin(),
                        new_identity(IdentityKind::Agent, "contested"),
                        &owner_ref("alice@example.com"),
                        None,
                        T0,
                    )
                    .await
            })
        });
        let mut created = 0;
        for attempt in attempts {
            match attempt.await.unwrap_or_else(|e| panic!("{e}")) {
                Ok(_) => created += 1,
                Err(StoreError::Domain(DomainError::DuplicateName { .. })) => {}
                Err(other) => panic!("{backend}: unexpected {other}"),
            }
        }
        assert_eq!(created, 1, "{backend}");
    })
    .await;
}

#[tokio::test]
async fn settings_keep_the_first_value() {
    on_both(|store, backend| async move {
        assert_eq!(
            store
                .get_setting("admin_token_hash")
                .await
                .unwrap_or_else(|e| panic!("{e}")),
            None,
            "{backend}"
        );
        let first = store
            .put_setting_if_absent("admin_token_hash", "one")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let second = store
            .put_setting_if_absent("admin_token_hash", "two")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (first.as_str(), second.as_str()),
            ("one", "one"),
            "{backend}"
        );
        assert_eq!(
            store
                .get_setting("admin_token_hash")
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .as_deref(),
            Some("one")
        );
    })
    .await;
}

#[tokio::test]
async fn a_store_reopened_keeps_its_data() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("warden.db");
    {
        let store = warden_store::SqlStore::open_sqlite(
            &path,
            warden_store::AuditSettings::unsigned("test"),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        add_owner(&store, "alice@example.com").await;
        store.close().await;
    }
    let store =
        warden_store::SqlStore::open_sqlite(&path, warden_store::AuditSettings::unsigned("test"))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    let alice = store
        .get_owner(&owner_ref("alice@example.com"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(alice.created_at, T0);
}
