//! Shared fixtures for the unit tests: a realistic chain with checkpoints.

use std::net::{IpAddr, Ipv4Addr};

use uuid::Uuid;
use warden_core::Timestamp;

use crate::{
    Actor, AuditEvent, AuditHmacKey, AuditSigner, Chain, ChainHead, Checkpoint, Decision,
    EventKind, NewEvent, Outcome, RequestDigest,
};

pub(crate) const T0: i64 = 1_763_800_000_000;

pub(crate) fn signer() -> AuditSigner {
    AuditSigner::generate().unwrap_or_else(|e| panic!("{e}"))
}

/// A varied event for position `i`, cycling through the kinds of record Warden writes.
pub(crate) fn sample_event(i: u64) -> NewEvent {
    let agent = Actor::agent(format!("idn_{}", i % 7), "support-bot");
    let hmac = AuditHmacKey::new(b"test pepper, not a real secret!!");
    match i % 5 {
        0 => NewEvent::new(EventKind::TokenIssued, agent)
            .credential("crd_1")
            .token(format!("jti-{i}"))
            .source(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7))),
        1 => NewEvent::new(EventKind::GatewayDecision, agent)
            .on_behalf_of("user:alice")
            .owner("own_1")
            .task(format!("task-{}", i / 5))
            .token(format!("jti-{}", i - 1))
            .upstream("crm")
            .action("tickets.read")
            .resource(format!("Ticket::\"{i}\""))
            .decision(Decision::Allow, ["policy-support-read"])
            .reason("customer asked about their ticket")
            .request(RequestDigest {
                method: "GET".into(),
                path: format!("/tickets/{i}"),
                query_hmac: Some(hmac.hash(b"expand=all")),
                body_hmac: None,
                body_bytes: None,
            }),
        2 => NewEvent::new(EventKind::GatewayOutcome, agent)
            .upstream("crm")
            .action("tickets.read")
            .outcome(Outcome {
                status: 200,
                bytes: 512 + i,
                latency_ms: 12,
                error: None,
            }),
        3 => NewEvent::new(EventKind::IdentityUpdated, Actor::admin("adm_1", "alice"))
            .target_named("identity", format!("idn_{}", i % 7), "support-bot")
            .detail("changed", "labels"),
        _ => NewEvent::new(EventKind::PolicyUpdated, Actor::system("policy-loader"))
            .target("policy", "policy-support-read")
            .reason("reloaded from disk"),
    }
}

/// `n` chained records, with a checkpoint every `every` records (none when 0).
pub(crate) fn chain_of(
    n: u64,
    every: u64,
    signer: &AuditSigner,
) -> (Vec<AuditEvent>, Vec<Checkpoint>) {
    let mut chain = Chain::new(ChainHead::GENESIS);
    let mut events = Vec::new();
    let mut checkpoints = Vec::new();
    for i in 0..n {
        let time = Timestamp::from_millis(T0 + i as i64);
        let event = chain
            .append(
                sample_event(i),
                Uuid::from_u128(u128::from(i) + 1),
                time,
                "node-a",
            )
            .unwrap_or_else(|e| panic!("{e}"));
        events.push(event);
        if every > 0 && (i + 1) % every == 0 {
            checkpoints.push(signer.sign(&chain.head(), time, "node-a"));
        }
    }
    (events, checkpoints)
}
