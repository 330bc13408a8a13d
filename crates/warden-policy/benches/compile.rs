//! Compiling a large policy set against a large catalog: 1,000 upstreams of 50 routes each
//! (50,000 route actions) and 10,000 policies, what every policy write and every catalog
//! reload pays.
//!
//! - `schema`: generating and parsing the schema alone, the floor under any compile.
//! - `engine_10000_policies`: [`PolicyEngine::with_schema`] on that schema: parse, strict
//!   validation (each policy against the part of the schema it can reach), index.
//! - `whole_schema_validation_10_policies`: the baseline, Cedar's validator given the whole
//!   schema, for 10 of the same policies; multiplied by 1,000 it is what the 10,000 cost
//!   validated that way.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fmt::Write as _;
use std::str::FromStr;

use cedar_policy::{PolicySet, ValidationMode, Validator};
use criterion::{Criterion, criterion_group, criterion_main};
use warden_policy::{
    GeneratedSchema, PolicyDocument, PolicyEngine, RouteMap, SchemaInput, UpstreamKind,
    UpstreamSchemaInput,
};

const UPSTREAMS: usize = 1_000;
const ROUTES: usize = 50;
const POLICIES: usize = 10_000;

fn input() -> SchemaInput {
    SchemaInput {
        upstreams: (0..UPSTREAMS)
            .map(|upstream| {
                let mut text = String::new();
                for route in 0..ROUTES {
                    let _ = write!(
                        text,
                        "[[route]]\nmethod = \"GET\"\npath = \"/r{route}/{{id}}\"\naction = \"u{upstream}.a{route}\"\nresource = \"Item{}::{{id}}\"\n",
                        route % 5
                    );
                }
                UpstreamSchemaInput {
                    name: format!("u{upstream}"),
                    kind: UpstreamKind::Http {
                        routes: RouteMap::from_toml(&text).unwrap(),
                    },
                }
            })
            .collect(),
    }
}

/// A fleet's policies: most name one agent and one action, some an owner, a few every
/// principal, and one in a hundred every action of an upstream's resources.
fn policy_text(i: usize) -> String {
    let upstream = (i * 7) % UPSTREAMS;
    let action = format!("u{upstream}.a{}", i % ROUTES);
    match i % 100 {
        0 => format!(
            r#"@approval("x") permit(principal == Agent::"bot-{i}", action == Action::"{action}", resource);"#
        ),
        1 => format!(
            r#"permit(principal in Owner::"owner{}@example.com", action == Action::"{action}", resource) when {{ context has reason }};"#,
            i % 50
        ),
        2 => format!(
            r#"forbid(principal, action == Action::"{action}", resource) unless {{ context.scopes.contains("x") }};"#
        ),
        3 => format!(
            r#"permit(principal == Agent::"bot-{i}", action, resource in Upstream::"u{upstream}") when {{ context has environment && context.environment == "prod" }};"#
        ),
        4 => format!(
            r#"permit(principal == Agent::"bot-{i}", action in [Action::"{action}", Action::"u{upstream}.a{}"], resource);"#,
            (i + 1) % ROUTES
        ),
        _ => format!(
            r#"permit(principal == Agent::"bot-{}", action == Action::"{action}", resource in Upstream::"u{upstream}");"#,
            i % 997
        ),
    }
}

fn bench(c: &mut Criterion) {
    let input = input();
    let schema = GeneratedSchema::generate(&input).unwrap();
    let documents: Vec<PolicyDocument> = (0..POLICIES)
        .map(|i| PolicyDocument::new(format!("p{i}"), policy_text(i)))
        .collect();
    let sample = PolicySet::from_str(
        &(0..10)
            .map(|i| format!("@id(\"p{i}\") {}", policy_text(i * 97)))
            .collect::<Vec<_>>()
            .join("\n"),
    )
    .unwrap();
    let whole = Validator::new(schema.cedar().clone());
    assert!(
        whole
            .validate(&sample, ValidationMode::Strict)
            .validation_passed()
    );
    PolicyEngine::with_schema(schema.clone(), &documents).unwrap();

    let mut group = c.benchmark_group("compile_1000x50");
    group.sample_size(10);
    group.bench_function("schema", |b| {
        b.iter(|| GeneratedSchema::generate(&input).unwrap())
    });
    group.bench_function("engine_10000_policies", |b| {
        b.iter(|| PolicyEngine::with_schema(schema.clone(), &documents).unwrap())
    });
    group.bench_function("whole_schema_validation_10_policies", |b| {
        b.iter(|| whole.validate(&sample, ValidationMode::Strict))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
