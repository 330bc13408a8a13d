//! The horizon an evaluation reports (`stable_until`) is safe to carry findings forward to:
//! at any instant before it, the same subject with the same thresholds is found exactly as
//! before. A full evaluation that skips identities relies on this.

use proptest::prelude::*;
use warden_core::Timestamp;
use warden_import::{CredentialKind, ImportedCredential, ImportedIdentity};
use warden_posture::{OwnerState, Subject, Thresholds, evaluate_subject_until};

use crate::{NOW, identity};

const DAY_MS: i64 = 86_400_000;

fn at(offset_ms: i64) -> Timestamp {
    Timestamp::from_millis(NOW.as_millis() + offset_ms)
}

/// An instant within about four years either side of now, not on whole days.
fn instant() -> impl Strategy<Value = Option<i64>> {
    prop_oneof![
        1 => Just(None),
        6 => (-1_500 * DAY_MS..1_500 * DAY_MS).prop_map(Some),
    ]
}

fn credential() -> impl Strategy<Value = ImportedCredential> {
    (
        prop_oneof![
            Just(CredentialKind::AccessKey),
            Just(CredentialKind::PersonalAccessToken),
            Just(CredentialKind::ServiceAccountKey),
            Just(CredentialKind::Other),
        ],
        instant(),
        instant(),
        instant(),
        instant(),
        any::<bool>(),
    )
        .prop_map(|(kind, created, rotated, used, expires, active)| {
            let mut credential = ImportedCredential::new(kind, "k", active);
            credential.created_at = created.map(at);
            credential.last_rotated_at = rotated.map(at);
            credential.last_used_at = used.map(at);
            credential.expires_at = expires.map(at);
            credential
        })
}

fn subject_identity() -> impl Strategy<Value = ImportedIdentity> {
    proptest::collection::vec(credential(), 0..4).prop_map(|credentials| {
        let mut identity = identity("svc");
        identity.credentials = credentials
            .into_iter()
            .enumerate()
            .map(|(n, mut c)| {
                c.id = format!("k{n}");
                c
            })
            .collect();
        identity
    })
}

fn thresholds() -> impl Strategy<Value = Thresholds> {
    (0i64..400, 0i64..400, 0i64..4_000, 0i64..30).prop_map(|(unused, age, expiry, overlap)| {
        Thresholds {
            unused_days: unused,
            max_secret_age_days: age,
            max_expiry_days: expiry,
            rotation_overlap_days: overlap,
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn findings_hold_until_the_reported_horizon(
        identity in subject_identity(),
        thresholds in thresholds(),
        first in -DAY_MS..DAY_MS,
        fraction in 0.0f64..1.0,
    ) {
        let subject = Subject {
            identity: &identity,
            owner: OwnerState::Active,
            owner_email: Some("owner@example.com"),
            present: true,
            gone_at: None,
        };
        let then = at(first);
        let before = evaluate_subject_until(&subject, then, &thresholds);
        // No horizon: nothing the clock does changes the findings; try up to ten years on.
        let horizon = before
            .stable_until
            .map_or(then.as_millis() + 3_650 * DAY_MS, Timestamp::as_millis);
        prop_assert!(horizon > then.as_millis(), "the horizon must lie ahead");
        let later = then.as_millis() + ((horizon - 1 - then.as_millis()) as f64 * fraction) as i64;
        let after = evaluate_subject_until(&subject, Timestamp::from_millis(later), &thresholds);
        prop_assert_eq!(&after.findings, &before.findings);
        // The last instant before the horizon too, where an off-by-one would show.
        let last = evaluate_subject_until(&subject, Timestamp::from_millis(horizon - 1), &thresholds);
        prop_assert_eq!(&last.findings, &before.findings);
    }
}

#[test]
fn a_key_that_will_cross_the_age_limit_is_due_again_on_that_day() {
    let mut identity = identity("svc");
    identity.credentials = vec![crate::key(CredentialKind::AccessKey, "AKIA1", 80)];
    identity.credentials[0].expires_at = Some(NOW.plus_secs(30 * 86_400));
    let subject = Subject {
        identity: &identity,
        owner: OwnerState::Active,
        owner_email: Some("owner@example.com"),
        present: true,
        gone_at: None,
    };
    let thresholds = Thresholds::default();
    let today = evaluate_subject_until(&subject, NOW, &thresholds);
    assert!(today.findings.is_empty());
    // Used a day ago: the unused rule turns first, 90 days on; the age limit turns at 91
    // days after creation, 11 days on.
    assert_eq!(today.stable_until, Some(NOW.plus_secs(11 * 86_400)));
    let then = evaluate_subject_until(&subject, NOW.plus_secs(11 * 86_400), &thresholds);
    assert_eq!(then.findings.len(), 1);
    assert_eq!(then.findings[0].rule, "secret-too-old");
    // Firing, its evidence counts days, so it is due again the next day.
    assert_eq!(then.stable_until, Some(NOW.plus_secs(12 * 86_400)));
}

#[test]
fn the_basis_changes_with_every_threshold() {
    let base = Thresholds::default();
    let basis = warden_posture::evaluation_basis(&base);
    assert_eq!(basis, warden_posture::evaluation_basis(&base.clone()));
    let changed = [
        Thresholds {
            unused_days: base.unused_days + 1,
            ..base.clone()
        },
        Thresholds {
            max_secret_age_days: base.max_secret_age_days + 1,
            ..base.clone()
        },
        Thresholds {
            max_expiry_days: base.max_expiry_days + 1,
            ..base.clone()
        },
        Thresholds {
            rotation_overlap_days: base.rotation_overlap_days + 1,
            ..base.clone()
        },
    ];
    for thresholds in changed {
        assert_ne!(warden_posture::evaluation_basis(&thresholds), basis);
    }
}
