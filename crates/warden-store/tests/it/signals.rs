//! Signals storage on each backend, with two nodes on one database: the fan-out cursor is a
//! compare-and-set (a batch of audit records fans out once however many nodes race), a
//! claimed delivery is leased to one node (concurrent claims never share one), dead letters
//! are listed and redelivered, and polled security events disappear once acknowledged.

use std::collections::HashSet;

use warden_core::Timestamp;
use warden_store::Store;
use warden_store::signals::{
    AttemptOutcome, DeliveryStatus, NewDelivery, NewSetEvent, NewWebhook, SignalStore, SsfStream,
};

use crate::backends::on_each;

const T0: Timestamp = Timestamp::from_millis(1_800_000_000_000);

fn delivery(id: &str, webhook: &str, sequence: u64) -> NewDelivery {
    NewDelivery {
        id: id.into(),
        webhook_id: webhook.into(),
        event: "kill.applied".into(),
        event_sequence: sequence,
        body: "{}".into(),
    }
}

#[tokio::test]
async fn two_nodes_fan_out_once_and_never_claim_the_same_delivery() {
    on_each(|backend| async move {
        let label = backend.label;
        let first: &dyn SignalStore = backend.store.signals();
        let second_store = backend.second_node().await;
        let second: &dyn SignalStore = second_store.signals();
        first
            .create_webhook(
                &crate::backends::admin(),
                NewWebhook {
                    id: "w1".into(),
                    url: "https://hooks.example/in".into(),
                    events: vec!["kill.applied".into()],
                    description: None,
                    secret_salt: "salt".into(),
                },
                T0,
            )
            .await
            .unwrap_or_else(|e| panic!("{label}: {e}"));
        assert_eq!(first.signal_cursor("c", 0).await.ok(), Some(0));
        assert_eq!(
            second.signal_cursor("c", 99).await.ok(),
            Some(0),
            "{label}: the first start wins"
        );

        // Both nodes computed the same batch; only one moves the cursor and inserts.
        let a: Vec<NewDelivery> = (1..=10)
            .map(|n| delivery(&format!("a{n}"), "w1", n))
            .collect();
        let b: Vec<NewDelivery> = (1..=10)
            .map(|n| delivery(&format!("b{n}"), "w1", n))
            .collect();
        let (won_a, won_b) = tokio::join!(
            first.fan_out("c", 0, 10, a, Vec::new(), T0),
            second.fan_out("c", 0, 10, b, Vec::new(), T0)
        );
        let won = [
            won_a.unwrap_or_else(|e| panic!("{label}: {e}")),
            won_b.unwrap_or_else(|e| panic!("{label}: {e}")),
        ];
        assert_eq!(
            won.iter().filter(|won| **won).count(),
            1,
            "{label}: {won:?}"
        );
        assert_eq!(first.signal_cursor("c", 0).await.ok(), Some(10));
        let listed = first
            .webhook_deliveries(None, None, 100)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(listed.len(), 10, "{label}");

        // Concurrent claims share nothing, and a claimed delivery is leased.
        let (claimed_a, claimed_b) = tokio::join!(
            first.claim_webhook_deliveries(T0, 30_000, 10),
            second.claim_webhook_deliveries(T0, 30_000, 10)
        );
        let claimed_a = claimed_a.unwrap_or_else(|e| panic!("{label}: {e}"));
        let claimed_b = claimed_b.unwrap_or_else(|e| panic!("{label}: {e}"));
        let ids: HashSet<String> = claimed_a
            .iter()
            .chain(&claimed_b)
            .map(|c| c.delivery.id.clone())
            .collect();
        assert_eq!(
            ids.len(),
            claimed_a.len() + claimed_b.len(),
            "{label}: a delivery was claimed twice"
        );
        assert_eq!(ids.len(), 10, "{label}");
        assert!(
            first
                .claim_webhook_deliveries(T0, 30_000, 10)
                .await
                .unwrap_or_default()
                .is_empty()
        );

        // A failed attempt waits; the last one makes a dead letter; redelivery revives it.
        let one = claimed_a
            .first()
            .or(claimed_b.first())
            .map(|c| c.delivery.id.clone())
            .unwrap_or_default();
        let later = Timestamp::from_millis(T0.as_millis() + 1_000);
        first
            .finish_webhook_delivery(
                &one,
                AttemptOutcome::Retry {
                    status: Some(500),
                    error: "answered 500".into(),
                    next_attempt_at: later,
                },
                T0,
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            second
                .claim_webhook_deliveries(T0, 30_000, 10)
                .await
                .unwrap_or_default()
                .is_empty()
        );
        let retried = second
            .claim_webhook_deliveries(later, 30_000, 10)
            .await
            .unwrap_or_default();
        assert_eq!(retried.len(), 1, "{label}");
        assert_eq!(retried[0].delivery.attempts, 1);
        second
            .finish_webhook_delivery(
                &one,
                AttemptOutcome::Dead {
                    status: Some(500),
                    error: "answered 500".into(),
                },
                later,
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let dead = first
            .webhook_deliveries(Some("w1"), Some(DeliveryStatus::Dead), 10)
            .await
            .unwrap_or_default();
        assert_eq!(dead.len(), 1, "{label}");
        assert_eq!((dead[0].attempts, dead[0].last_status), (2, Some(500)));
        let revived = first
            .redeliver_webhook(&one, later)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (revived.status, revived.attempts),
            (DeliveryStatus::Pending, 0)
        );
        assert!(first.redeliver_webhook("nope", later).await.is_err());
        second_store.close().await;
    })
    .await;
}

#[tokio::test]
async fn polled_events_stay_until_acknowledged_and_only_for_their_stream() {
    on_each(|backend| async move {
        let label = backend.label;
        let signals = backend.store.signals();
        let receiver = signals
            .create_ssf_receiver(&crate::backends::admin(), "r1", "rp", "hash", T0)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            signals
                .create_ssf_receiver(&crate::backends::admin(), "r2", "rp", "hash2", T0)
                .await
                .is_err(),
            "{label}: duplicate name"
        );
        assert_eq!(
            signals
                .ssf_receiver_by_token("hash")
                .await
                .ok()
                .flatten()
                .map(|r| r.name),
            Some("rp".into())
        );
        for id in ["s1", "s2"] {
            signals
                .create_ssf_stream(SsfStream {
                    id: id.into(),
                    receiver_id: receiver.id.clone(),
                    receiver_name: receiver.name.clone(),
                    config: r#"{"delivery":{"method":"urn:ietf:rfc:8936"},"events_requested":[]}"#
                        .into(),
                    push_authorization: None,
                    status: "enabled".into(),
                    reason: None,
                    excluded_subjects: Vec::new(),
                    created_at: T0,
                    updated_at: T0,
                })
                .await
                .unwrap_or_else(|e| panic!("{label}: {e}"));
        }
        let sets = (1..=3)
            .map(|n| NewSetEvent {
                jti: format!("j{n}"),
                stream_id: "s1".into(),
                claims: "{}".into(),
            })
            .collect();
        signals
            .enqueue_sets(sets, T0)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let (page, more) = signals
            .poll_sets("s1", &[], 2)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((page.len(), more), (2, true), "{label}");
        // Acknowledging through another stream changes nothing.
        let (_, _) = signals
            .poll_sets("s2", &["j1".into()], 10)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let (page, _) = signals
            .poll_sets("s1", &["j1".into(), "j2".into()], 10)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            page.iter().map(|s| s.jti.as_str()).collect::<Vec<_>>(),
            ["j3"],
            "{label}"
        );
        signals
            .set_ssf_subject("s1", "iss_sub:x|y", true)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let stream = signals
            .get_ssf_stream("s1")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(stream.excluded_subjects, ["iss_sub:x|y"]);
        signals
            .delete_ssf_receiver(&crate::backends::admin(), "rp", T0)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            signals.get_ssf_stream("s1").await.is_err(),
            "{label}: streams go with their receiver"
        );
    })
    .await;
}
