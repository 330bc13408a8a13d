//! The change feed on each backend: a committed change is heard with its topic, by this
//! store and (on PostgreSQL) by another node's; a change that rolled back is never heard;
//! a beat comes back.

use std::time::Duration;

use warden_core::{
    Environment, IdentityKind, IdentityRef, Labels, NewIdentity, NewOwner, OwnerRef, Source,
    Timestamp,
};
use warden_store::{ChangeFeed, Heard, IdentityChange, Store, Topic};

use crate::backends::{TestStore, accept_all, admin};

const T0: Timestamp = Timestamp::from_millis(1_800_000_000_000);

/// The next change heard, past `Resync` (a listener announces its first connection with
/// one) and beats (one sent while waiting for the listener may come back late), failing
/// after five seconds of silence.
async fn next_heard(feed: &mut ChangeFeed, backend: &str) -> Heard {
    loop {
        let heard = tokio::time::timeout(Duration::from_secs(5), feed.next())
            .await
            .unwrap_or_else(|_| panic!("{backend}: nothing heard for 5 s"));
        if !matches!(heard, Heard::Resync | Heard::Beat) {
            return heard;
        }
    }
}

/// Waits until the feed is listening: a beat sent now comes back.
async fn until_listening(store: &dyn Store, feed: &mut ChangeFeed, backend: &str) {
    for _ in 0..50 {
        store
            .beat()
            .await
            .unwrap_or_else(|e| panic!("{backend}: {e}"));
        let heard = tokio::time::timeout(Duration::from_millis(200), feed.next()).await;
        if heard == Ok(Heard::Beat) {
            return;
        }
    }
    panic!("{backend}: the feed never heard its own beat");
}

fn agent(name: &str) -> NewIdentity {
    NewIdentity {
        kind: IdentityKind::Agent,
        name: name.into(),
        purpose: None,
        environment: Some(Environment::Dev),
        labels: Labels::new(),
        expires_at: None,
        source: Source::Issued,
        source_detail: None,
    }
}

/// Makes changes through `writer` and checks `listener` (the same store, or another node's)
/// hears each with its topic, and nothing for a change that failed.
async fn changes_are_heard(writer: &dyn Store, listener: &dyn Store, backend: &'static str) {
    let mut feed = listener.changes();
    until_listening(listener, &mut feed, backend).await;

    writer
        .create_owner(
            &admin(),
            NewOwner::new("alice@example.com", "Alice").unwrap(),
            T0,
        )
        .await
        .unwrap();
    assert_eq!(
        next_heard(&mut feed, backend).await,
        Heard::Changed(Topic::Access),
        "{backend}: a new owner"
    );
    writer
        .create_identity(
            &admin(),
            agent("planner"),
            &OwnerRef::Email("alice@example.com".into()),
            None,
            T0,
        )
        .await
        .unwrap();
    assert_eq!(
        next_heard(&mut feed, backend).await,
        Heard::Changed(Topic::Access),
        "{backend}: a new agent"
    );

    // Refused inside its transaction (the owner does not exist): rolled back, unheard.
    let refused = writer
        .create_identity(
            &admin(),
            agent("orphan"),
            &OwnerRef::Email("nobody@example.com".into()),
            None,
            T0,
        )
        .await;
    assert!(refused.is_err(), "{backend}: {refused:?}");

    let planner = IdentityRef::Name {
        kind: IdentityKind::Agent,
        name: "planner".into(),
    };
    writer
        .change_identity(
            &admin(),
            &planner,
            IdentityChange::Suspend(warden_core::SuspensionReason::Killed),
            T0,
        )
        .await
        .unwrap();
    assert_eq!(
        next_heard(&mut feed, backend).await,
        Heard::Changed(Topic::Access),
        "{backend}: a kill (and nothing for the refused change before it)"
    );

    writer
        .put_policy(
            &admin(),
            "reads",
            "permit(principal, action, resource);",
            false,
            &accept_all,
            T0,
        )
        .await
        .unwrap();
    assert_eq!(
        next_heard(&mut feed, backend).await,
        Heard::Changed(Topic::Catalog),
        "{backend}: a policy"
    );

    // Nothing else is pending: no change is heard before the beat sent now comes back.
    listener.beat().await.unwrap();
    loop {
        let heard = tokio::time::timeout(Duration::from_secs(5), feed.next())
            .await
            .unwrap_or_else(|_| panic!("{backend}: the beat never came back"));
        match heard {
            Heard::Beat => break,
            Heard::Changed(topic) => panic!("{backend}: an unexpected change: {topic:?}"),
            Heard::Resync | Heard::Lost(_) => {}
        }
    }
}

#[tokio::test]
async fn sqlite_changes_are_heard_in_process() {
    let sqlite = TestStore::sqlite().await;
    changes_are_heard(&*sqlite.store, &*sqlite.store, sqlite.label).await;
    sqlite.finish().await;
}

#[tokio::test]
async fn postgres_changes_are_heard_by_every_node() {
    let Some(postgres) = TestStore::postgres_own_database().await else {
        return;
    };
    let other = postgres.second_node().await;
    changes_are_heard(&*postgres.store, &other, "postgres, another node").await;
    other.close().await;
    postgres.finish().await;
}

#[tokio::test]
async fn postgres_a_lost_listening_connection_comes_back_with_a_resync() {
    let Some(postgres) = TestStore::postgres_own_database().await else {
        return;
    };
    let mut feed = postgres.store.changes();
    until_listening(&*postgres.store, &mut feed, "postgres").await;
    // Cut the listener from the server's side, as a restart or a network fault would.
    postgres
        .raw(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE query LIKE 'LISTEN%' AND pid <> pg_backend_pid() \
             AND datname = current_database()",
        )
        .await;
    let mut lost = false;
    loop {
        let heard = tokio::time::timeout(Duration::from_secs(10), feed.next())
            .await
            .unwrap_or_else(|_| panic!("postgres: no resync within 10 s of losing the listener"));
        match heard {
            Heard::Lost(_) => lost = true,
            Heard::Resync if lost => break,
            _ => {}
        }
    }
    // And it hears again.
    until_listening(&*postgres.store, &mut feed, "postgres").await;
    postgres.finish().await;
}
