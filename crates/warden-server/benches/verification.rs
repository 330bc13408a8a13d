//! The gateway's verification path on one core: a token seen before (cache hit plus the
//! revocation checks), a token never seen (signature, claims, revocation), and the
//! revocation lookup alone against a state of 10,000 identities and 10,000 revoked tokens.
//! Aims: seen before ≤ 2 µs, new ≤ 40 µs.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use warden_core::Timestamp;
use warden_crypto::{AccessClaims, Actor, AuthorizationDetail, KeyRing, TaskDetail};
use warden_plane::revocation::{RevocationState, Revocations};
use warden_plane::tokens::{TokenService, TokenSettings};
use warden_store::{IdentityState, RevocationSnapshot};

const NOW: i64 = 1_750_000_000;
const IDENTITIES: usize = 10_000;

fn identity(index: usize, parent: Option<usize>) -> IdentityState {
    IdentityState {
        id: format!("id-{index}"),
        kind: "agent".into(),
        name: format!("agent-{index}"),
        owner_id: format!("owner-{}", index % 100),
        owner_email: format!("owner{}@example.com", index % 100),
        parent_id: parent.map(|parent| format!("id-{parent}")),
        status: "active".into(),
        suspension_reason: None,
        expires_at: None,
        environment: None,
    }
}

fn state() -> Revocations {
    // Every tenth agent is a sub-agent three levels deep.
    let identities = (0..IDENTITIES)
        .map(|index| identity(index, (index % 10 == 0 && index > 3).then(|| index - 1)))
        .collect();
    Revocations::from_snapshot(RevocationSnapshot {
        identities,
        offboarded_owners: vec!["owner-gone".into()],
        revoked_credentials: (0..1000).map(|index| format!("cred-{index}")).collect(),
        revoked_tokens: (0..10_000)
            .map(|index| {
                (
                    format!("jti-{index}"),
                    Timestamp::from_millis(NOW * 1000 + 600_000),
                )
            })
            .collect(),
    })
}

fn claims(jti: &str) -> AccessClaims {
    AccessClaims {
        iss: "https://warden.example".into(),
        sub: "alice@example.com".into(),
        aud: "https://gateway.example/crm".into(),
        exp: NOW + 300,
        iat: NOW,
        nbf: None,
        jti: jti.into(),
        client_id: "id-500".into(),
        cred: Some("cred-live".into()),
        scope: Some("tickets.read".into()),
        act: Some(Actor {
            sub: "id-500".into(),
            iss: None,
            act: Some(Box::new(Actor {
                sub: "id-40".into(),
                iss: None,
                act: None,
            })),
        }),
        may_act: None,
        authorization_details: Some(vec![AuthorizationDetail::WardenTask(TaskDetail {
            task_id: "task-42".into(),
            actions: vec!["tickets.read".into()],
            resources: vec!["Ticket::\"123\"".into()],
        })]),
        owner: Some("owner0@example.com".into()),
        env: None,
        ancestors: Vec::new(),
    }
}

fn verification(c: &mut Criterion) {
    let Ok(ring) = KeyRing::generate(NOW, 900) else {
        return;
    };
    let service = TokenService::new(
        TokenSettings {
            issuer: "https://warden.example".into(),
            gateway_url: "https://gateway.example".into(),
            default_ttl_secs: 300,
            max_ttl_secs: 3600,
            leeway_secs: warden_plane::tokens::DEFAULT_LEEWAY_SECS,
        },
        ring,
        RevocationState::new(state()),
    );
    let now = Timestamp::from_millis((NOW + 1) * 1000);
    let Ok(token) = service.sign(&claims("live-token")) else {
        return;
    };
    c.bench_function("verify_seen_before", |b| {
        b.iter(|| service.verify(black_box(&token), black_box("crm"), now))
    });

    // A token never seen: what a cache miss costs (signature, claims, revocation), without
    // the cache, which would remember any finite set of tokens after one pass.
    let ring = service.ring();
    let fresh_state = state();
    let Ok(fresh) = service.sign(&claims("fresh-token")) else {
        return;
    };
    let expect = warden_crypto::Expectations {
        issuer: "https://warden.example",
        audience: Some("https://gateway.example/crm"),
        now: NOW + 1,
        leeway_secs: 30,
    };
    c.bench_function("verify_new", |b| {
        b.iter(|| {
            let claims = warden_crypto::jwt::verify(black_box(&ring), black_box(&fresh), &expect);
            claims.map(|claims| fresh_state.check_claims(&claims, now).is_ok())
        })
    });

    let revocations = state();
    let live = claims("live-token");
    c.bench_function("revocation_lookup", |b| {
        b.iter(|| revocations.check_claims(black_box(&live), now))
    });
    let revoked = claims("jti-5000");
    c.bench_function("revocation_lookup_revoked", |b| {
        b.iter(|| revocations.check_claims(black_box(&revoked), now))
    });
}

criterion_group!(benches, verification);
criterion_main!(benches);
