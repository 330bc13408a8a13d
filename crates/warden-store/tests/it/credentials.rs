//! The credential plane's storage, on each backend: credentials by keyed hash, rotation with
//! overlap, revocation, revoked tokens, the owner kill switch, the revocation snapshot and
//! the sealed key ring.

use std::sync::Arc;

use warden_core::{
    DomainError, Environment, IdentityKind, IdentityRef, Labels, NewIdentity, NewOwner, OwnerRef,
    Source, Timestamp,
};
use warden_store::{
    CredentialKind, CredentialStatus, NewCredential, Store, StoreError, StoredSigningKey,
    TokenRevocation,
};

use crate::backends::{admin, on_both};

const T0: Timestamp = Timestamp::from_millis(1_800_000_000_000);

fn agent(name: &str) -> IdentityRef {
    IdentityRef::Name {
        kind: IdentityKind::Agent,
        name: name.into(),
    }
}

async fn setup(store: &dyn Store) {
    for email in ["alice@example.com", "bob@example.com"] {
        store
            .create_owner(&admin(), NewOwner::new(email, "Owner").unwrap(), T0)
            .await
            .unwrap();
    }
    for (name, owner, parent) in [
        ("planner", "alice@example.com", None),
        ("researcher", "alice@example.com", Some(agent("planner"))),
        ("other", "bob@example.com", None),
    ] {
        store
            .create_identity(
                &admin(),
                NewIdentity {
                    kind: IdentityKind::Agent,
                    name: name.into(),
                    purpose: None,
                    environment: Some(Environment::Prod),
                    labels: Labels::new(),
                    expires_at: None,
                    source: Source::Issued,
                    source_detail: None,
                },
                &OwnerRef::Email(owner.into()),
                parent.as_ref(),
                T0,
            )
            .await
            .unwrap();
    }
}

fn secret(id: &str, hash: &str) -> NewCredential {
    NewCredential {
        id: id.into(),
        kind: CredentialKind::ClientSecret,
        secret_hash: Some(hash.into()),
        public_jwk: None,
        scope: Some("read".into()),
        expires_at: T0.plus_secs(86_400),
    }
}

#[tokio::test]
async fn credentials_are_found_by_hash_rotated_with_overlap_and_revoked() {
    on_both(|store: Arc<dyn Store>, label| async move {
        setup(&*store).await;
        let first = store
            .create_credential(&admin(), &agent("planner"), secret("c1", "aa11"), T0)
            .await
            .unwrap();
        assert_eq!(first.status, CredentialStatus::Active, "{label}");
        let found = store
            .credential_by_secret_hash("aa11")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found.id, "c1");
        assert_eq!(found.scope.as_deref(), Some("read"));
        assert!(
            store
                .credential_by_secret_hash("bb22")
                .await
                .unwrap()
                .is_none()
        );

        let (fresh, rotated) = store
            .rotate_credential(
                &admin(),
                &agent("planner"),
                NewCredential {
                    scope: None,
                    ..secret("c2", "bb22")
                },
                T0.plus_secs(60),
                T0,
            )
            .await
            .unwrap();
        assert_eq!(
            fresh.scope.as_deref(),
            Some("read"),
            "rotation keeps the scope"
        );
        assert_eq!(rotated.len(), 1);
        assert_eq!(rotated[0].expires_at, T0.plus_secs(60));
        let old = store.get_credential("c1").await.unwrap();
        assert_eq!(old.status, CredentialStatus::Rotated);
        assert!(old.is_usable(T0.plus_secs(59)) && !old.is_usable(T0.plus_secs(60)));

        let revoked = store.revoke_credential(&admin(), "c2", T0).await.unwrap();
        assert_eq!(revoked.status, CredentialStatus::Revoked);
        assert!(matches!(
            store.revoke_credential(&admin(), "c2", T0).await,
            Err(StoreError::Domain(DomainError::InvalidState(_)))
        ));
        assert!(matches!(
            store.revoke_credential(&admin(), "nope", T0).await,
            Err(StoreError::Domain(DomainError::UnknownCredential(_)))
        ));
        assert_eq!(
            store
                .list_credentials(&agent("planner"))
                .await
                .unwrap()
                .len(),
            2
        );
        // Nothing to rotate, and no credentials for an identity that cannot act.
        assert!(
            store
                .rotate_credential(&admin(), &agent("other"), secret("c3", "cc33"), T0, T0)
                .await
                .is_err()
        );
        store
            .change_identity(
                &admin(),
                &agent("other"),
                warden_store::IdentityChange::Revoke,
                T0,
            )
            .await
            .unwrap();
        assert!(matches!(
            store
                .create_credential(&admin(), &agent("other"), secret("c4", "dd44"), T0)
                .await,
            Err(StoreError::Domain(DomainError::Revoked(_)))
        ));
        assert!(
            store.get_credential("c4").await.is_err(),
            "a refusal leaves nothing"
        );
    })
    .await;
}

#[tokio::test]
async fn the_snapshot_holds_revocations_and_the_owner_kill_switch() {
    on_both(|store: Arc<dyn Store>, label| async move {
        setup(&*store).await;
        store
            .create_credential(&admin(), &agent("planner"), secret("c1", "aa11"), T0)
            .await
            .unwrap();
        store.revoke_credential(&admin(), "c1", T0).await.unwrap();
        for (jti, exp) in [("live", 600), ("stale", -1)] {
            store
                .revoke_token(
                    &admin(),
                    TokenRevocation {
                        jti: jti.into(),
                        identity_id: None,
                        expires_at: T0.plus_secs(exp),
                    },
                    T0,
                )
                .await
                .unwrap();
        }
        // Revoking twice is harmless.
        store
            .revoke_token(
                &admin(),
                TokenRevocation {
                    jti: "live".into(),
                    identity_id: None,
                    expires_at: T0.plus_secs(600),
                },
                T0,
            )
            .await
            .unwrap();
        let killed = store
            .kill_owner(
                &admin(),
                &OwnerRef::Email("alice@example.com".into()),
                false,
                T0,
            )
            .await
            .unwrap();
        assert_eq!(killed.len(), 2, "{label}");
        let snapshot = store.revocation_snapshot(T0).await.unwrap();
        assert_eq!(snapshot.revoked_credentials, vec!["c1".to_string()]);
        let jtis: Vec<&str> = snapshot
            .revoked_tokens
            .iter()
            .map(|(jti, _)| jti.as_str())
            .collect();
        assert_eq!(jtis, vec!["live"]);
        let researcher = snapshot
            .identities
            .iter()
            .find(|state| state.name == "researcher")
            .unwrap();
        assert_eq!(researcher.status, "suspended");
        assert_eq!(researcher.suspension_reason.as_deref(), Some("killed"));
        assert!(researcher.parent_id.is_some());

        let restored = store
            .restore_owner(&admin(), &OwnerRef::Email("alice@example.com".into()), T0)
            .await
            .unwrap();
        assert_eq!(restored.len(), 2);
        let revoked = store
            .kill_owner(
                &admin(),
                &OwnerRef::Email("alice@example.com".into()),
                true,
                T0,
            )
            .await
            .unwrap();
        assert_eq!(revoked.len(), 2);
        let snapshot = store.revocation_snapshot(T0).await.unwrap();
        assert!(
            snapshot
                .identities
                .iter()
                .filter(|state| state.owner_email == "alice@example.com")
                .all(|state| state.status == "revoked")
        );
        store
            .offboard_owner(&admin(), &OwnerRef::Email("bob@example.com".into()), T0)
            .await
            .unwrap();
        assert_eq!(
            store
                .revocation_snapshot(T0)
                .await
                .unwrap()
                .offboarded_owners
                .len(),
            1
        );
    })
    .await;
}

#[tokio::test]
async fn the_key_ring_is_stored_once_and_replaced_whole() {
    on_both(|store: Arc<dyn Store>, label| async move {
        let key = |kid: &str, retired: Option<i64>| StoredSigningKey {
            kid: kid.into(),
            sealed: format!("sealed-{kid}"),
            created_at: 100,
            retired_at: retired,
            not_after: retired.map(|at| at + 600),
        };
        assert!(store.signing_keys().await.unwrap().is_empty());
        assert!(
            store
                .init_signing_keys(vec![key("k1", None)])
                .await
                .unwrap(),
            "{label}"
        );
        assert!(
            !store
                .init_signing_keys(vec![key("k9", None)])
                .await
                .unwrap()
        );
        store
            .replace_signing_keys(&admin(), vec![key("k1", Some(200)), key("k2", None)], T0)
            .await
            .unwrap();
        let stored = store.signing_keys().await.unwrap();
        assert_eq!(stored.len(), 2);
        assert_eq!(
            stored.iter().find(|k| k.kid == "k1").unwrap().not_after,
            Some(800)
        );
    })
    .await;
}

#[tokio::test]
async fn a_client_assertion_is_used_once_until_it_expires() {
    on_both(|store: Arc<dyn Store>, label| async move {
        let until = T0.plus_secs(60);
        assert!(
            store
                .use_client_assertion("client-a", "jti-1", until, T0)
                .await
                .unwrap(),
            "{label}: the first use"
        );
        assert!(
            !store
                .use_client_assertion("client-a", "jti-1", until, T0.plus_secs(1))
                .await
                .unwrap(),
            "{label}: a replay"
        );
        // The same jti from another client is that client's own assertion.
        assert!(
            store
                .use_client_assertion("client-b", "jti-1", until, T0)
                .await
                .unwrap()
        );
        // Concurrent uses of one assertion: exactly one wins.
        let mut racers = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let store = store.clone();
            racers.spawn(async move {
                store
                    .use_client_assertion("client-a", "jti-race", until, T0)
                    .await
                    .unwrap()
            });
        }
        let wins = racers
            .join_all()
            .await
            .into_iter()
            .filter(|won| *won)
            .count();
        assert_eq!(wins, 1, "{label}");
        // Once it can no longer be valid, its row may be taken over or purged.
        assert!(
            !store
                .use_client_assertion("client-a", "jti-1", until, until.plus_secs(-1))
                .await
                .unwrap()
        );
        assert!(
            store
                .use_client_assertion("client-a", "jti-1", until.plus_secs(60), until)
                .await
                .unwrap(),
            "{label}: an expired row is taken over"
        );
        assert_eq!(store.purge_client_assertions(until).await.unwrap(), 2);
        assert_eq!(
            store
                .purge_client_assertions(until.plus_secs(60))
                .await
                .unwrap(),
            1
        );
        assert!(
            store
                .use_client_assertion("client-b", "jti-1", until, T0)
                .await
                .unwrap(),
            "{label}: a purged assertion is forgotten"
        );
    })
    .await;
}
