//! Parsing a generated 100,000-row credential report: the parser's share of the import goal
//! (a 100,000-row report imported end to end in at most 30 s).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fmt::Write;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const HEADER: &str = "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated";

/// A report with the root row and `users` service users, every third with a second key and
/// every fifth never having used its first.
fn report(users: usize) -> String {
    let mut text = String::with_capacity(users * 320);
    text.push_str(HEADER);
    text.push('\n');
    text.push_str("<root_account>,arn:aws:iam::123456789012:root,2019-03-04T09:12:44+00:00,not_supported,2025-10-02T07:41:09+00:00,not_supported,not_supported,true,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n");
    for n in 0..users {
        let used = if n % 5 == 0 {
            "N/A,N/A,N/A"
        } else {
            "2025-11-20T22:10:00+00:00,eu-west-1,s3"
        };
        let second = if n % 3 == 0 {
            "true,2025-08-01T10:00:00+00:00,2025-11-21T08:30:00+00:00,us-east-1,ecr"
        } else {
            "false,N/A,N/A,N/A,N/A"
        };
        writeln!(
            text,
            "svc-{n:06},arn:aws:iam::123456789012:user/service/svc-{n:06},2021-06-15T14:02:11+00:00,false,N/A,N/A,N/A,false,true,2021-06-15T14:05:30+00:00,{used},{second},false,N/A,false,N/A"
        )
        .unwrap();
    }
    text
}

fn parse_report(c: &mut Criterion) {
    let text = report(100_000);
    let mut group = c.benchmark_group("credential_report");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.bench_function("parse_100k_rows", |b| {
        b.iter(|| {
            let batch =
                warden_import::aws_credential_report::parse("report.csv", text.as_bytes()).unwrap();
            assert_eq!(batch.identities.len(), 100_001);
            batch
        });
    });
    group.finish();
}

criterion_group!(benches, parse_report);
criterion_main!(benches);
