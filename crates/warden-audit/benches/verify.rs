//! Throughput of the audit chain: appending, verifying in memory (the aim is at least
//! 1,000,000 records per second) and verifying a JSON-lines export.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use uuid::Uuid;
use warden_audit::{
    Actor, AuditEvent, AuditSigner, Chain, ChainHead, Checkpoint, Decision, EventKind,
    ExportHeader, NewEvent, Outcome, RequestDigest, verify, verify_export, write_export,
};
use warden_core::Timestamp;

const EVENTS: u64 = 100_000;
const CHECKPOINT_EVERY: u64 = 1_000;

/// Gateway traffic: a decision then an outcome, the records Warden writes most.
fn event(i: u64) -> NewEvent {
    let agent = Actor::agent("idn_01HZY3", "support-bot");
    if i.is_multiple_of(2) {
        NewEvent::new(EventKind::GatewayDecision, agent)
            .on_behalf_of("user:alice@example.com")
            .owner("own_01HZY1")
            .task(format!("task-{}", i / 10))
            .token("jti-01HZY4")
            .upstream("crm")
            .action("tickets.read")
            .resource(format!("Ticket::\"{i}\""))
            .decision(Decision::Allow, ["policy-support-read"])
            .reason("customer asked about their ticket")
            .request(RequestDigest {
                method: "GET".into(),
                path: format!("/tickets/{i}"),
                query_hmac: None,
                body_hmac: None,
                body_bytes: None,
            })
            .source(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7)))
    } else {
        NewEvent::new(EventKind::GatewayOutcome, agent)
            .upstream("crm")
            .action("tickets.read")
            .outcome(Outcome {
                status: 200,
                bytes: 2_048,
                latency_ms: 12,
                error: None,
            })
    }
}

fn build(
    signer: &AuditSigner,
) -> Result<(Vec<AuditEvent>, Vec<Checkpoint>), warden_audit::ChainError> {
    let mut chain = Chain::new(ChainHead::GENESIS);
    let mut events = Vec::with_capacity(EVENTS as usize);
    let mut checkpoints = Vec::new();
    for i in 0..EVENTS {
        let time = Timestamp::from_millis(1_763_800_000_000 + i as i64);
        events.push(chain.append(event(i), Uuid::from_u128(u128::from(i)), time, "node-a")?);
        if (i + 1).is_multiple_of(CHECKPOINT_EVERY) {
            checkpoints.push(signer.sign(&chain.head(), time, "node-a"));
        }
    }
    Ok((events, checkpoints))
}

fn benches(c: &mut Criterion) {
    let Ok(signer) = AuditSigner::generate() else {
        return;
    };
    let Ok((events, checkpoints)) = build(&signer) else {
        return;
    };
    let key = signer.public_key();

    let mut group = c.benchmark_group("audit");
    group.throughput(Throughput::Elements(EVENTS));
    group.sample_size(10);

    group.bench_function("append_100k", |b| {
        b.iter_batched(
            || (0..EVENTS).map(event).collect::<Vec<_>>(),
            |batch| {
                let mut chain = Chain::new(ChainHead::GENESIS);
                for (i, new) in batch.into_iter().enumerate() {
                    let time = Timestamp::from_millis(i as i64);
                    let record = chain.append(new, Uuid::from_u128(i as u128), time, "node-a");
                    black_box(&record);
                }
                chain.head()
            },
            BatchSize::LargeInput,
        );
    });

    group.bench_function("verify_100k", |b| {
        b.iter(|| verify(black_box(&events), black_box(&checkpoints), &key).is_ok());
    });

    let mut export = Vec::new();
    let header = ExportHeader::new(vec!["node-a".into()], key);
    if write_export(&mut export, &header, &events, &checkpoints).is_ok() {
        group.bench_function("verify_export_100k", |b| {
            b.iter(|| verify_export(black_box(export.as_slice()), &key).is_ok());
        });
    }
    group.finish();
}

criterion_group!(audit, benches);
criterion_main!(audit);
