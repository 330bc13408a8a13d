//! The cost of access tokens on one core: issuing one, and verifying one never seen before
//! (signature check and claims parse included), and verifying one seen before through a
//! `VerifiedCache`. Aims: issuance ≤ 50 µs, verification of a new token ≤ 40 µs.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use warden_crypto::cache::VerifiedCache;
use warden_crypto::jwt::{
    AccessClaims, Actor, AuthorizationDetail, Expectations, TaskDetail, issue, verify,
};
use warden_crypto::signing::KeyRing;

const NOW: i64 = 1_750_000_000;

/// A realistic, fairly full token: task-bound and on behalf of a user.
fn claims() -> AccessClaims {
    AccessClaims {
        iss: "https://warden.example".into(),
        sub: "0197a3c2-5b1e-7c4d-9a10-3f2e8d6b4a21".into(),
        aud: "https://crm.example/api".into(),
        exp: NOW + 300,
        iat: NOW,
        nbf: Some(NOW),
        jti: "0197a3c2-5b1e-7c4d-9a10-3f2e8d6b4a22".into(),
        client_id: "support-bot".into(),
        cred: None,
        scope: Some("tickets.read tickets.write".into()),
        act: Some(Actor {
            sub: "alice@example.com".into(),
            iss: None,
            act: None,
        }),
        may_act: None,
        authorization_details: Some(vec![AuthorizationDetail::WardenTask(TaskDetail {
            task_id: "task-42".into(),
            actions: vec!["tickets.read".into(), "tickets.comment".into()],
            resources: vec!["Ticket::\"123\"".into()],
        })]),
        owner: Some("alice@example.com".into()),
        env: Some("prod".into()),
        ancestors: Vec::new(),
    }
}

fn tokens(c: &mut Criterion) {
    let Ok(ring) = KeyRing::generate(NOW, 900) else {
        return;
    };
    let claims = claims();
    c.bench_function("issue", |b| {
        b.iter(|| issue(black_box(&ring), black_box(&claims)))
    });

    let Ok(token) = issue(&ring, &claims) else {
        return;
    };
    let expect = Expectations {
        issuer: "https://warden.example",
        audience: Some("https://crm.example/api"),
        now: NOW + 1,
        leeway_secs: 30,
    };
    c.bench_function("verify_fresh", |b| {
        b.iter(|| verify(black_box(&ring), black_box(&token), black_box(&expect)))
    });

    let mut cache = VerifiedCache::new(10_000);
    c.bench_function("verify_seen_cached", |b| {
        b.iter(|| cache.verify(black_box(&ring), black_box(&token), black_box(&expect)))
    });
}

criterion_group!(benches, tokens);
criterion_main!(benches);
