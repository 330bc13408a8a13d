//! Matcher throughput on generated text: source-like lines with secret-sounding names,
//! URLs and near-misses, a few planted secrets. `cargo bench -p warden-scan --bench scan`.
//!
//! Beside the matcher, the same run measures a baseline: the built-in keywords searched the
//! way the matcher did before its keyword pass had lanes (the overlapping iterator of one
//! case-insensitive Aho-Corasick DFA, nothing else), so a figure can be compared with it on
//! the same machine under the same load.

// A benchmark reports a broken setup by panicking.
#![allow(clippy::panic)]

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use warden_scan::{Matcher, RuleSet};

/// A small deterministic generator, so every run scans the same bytes.
struct Generator(u64);

impl Generator {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn word<'a>(&mut self, words: &[&'a str]) -> &'a str {
        words[(self.next() % words.len() as u64) as usize]
    }

    fn alnum(&mut self, count: usize) -> String {
        const ALNUM: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        (0..count)
            .map(|_| char::from(ALNUM[(self.next() % 62) as usize]))
            .collect()
    }
}

const WORDS: &[&str] = &[
    "let",
    "value",
    "config",
    "request",
    "response",
    "client",
    "server",
    "return",
    "match",
    "user",
    "name",
    "path",
    "file",
    "buffer",
    "index",
    "count",
    "result",
    "error",
    "async",
    "await",
    "self",
    "struct",
    "impl",
    "for",
    "while",
    "if",
    "else",
    "true",
    "false",
    "token_count",
    "keyboard",
    "monkey",
    "secretary",
    "password_policy",
    "authority",
];

/// About `size` bytes of text that looks like source code and configuration.
fn corpus(size: usize) -> Vec<u8> {
    let mut generator = Generator(42);
    let mut text = String::with_capacity(size + 256);
    let mut line = 0u64;
    while text.len() < size {
        line += 1;
        match generator.next() % 20 {
            0 => text.push_str(&format!(
                "    let url = \"https://example.org/{}/{}\";\n",
                generator.word(WORDS),
                generator.alnum(12)
            )),
            1 => text.push_str(&format!(
                "    api_key = config.get(\"{}\")?;\n",
                generator.word(WORDS)
            )),
            2 => text.push_str(&format!(
                "    // the {} token is checked here\n",
                generator.word(WORDS)
            )),
            _ => {
                text.push_str("    ");
                for _ in 0..(6 + generator.next() % 8) {
                    text.push_str(generator.word(WORDS));
                    text.push(' ');
                }
                text.push_str(";\n");
            }
        }
        if line.is_multiple_of(5000) {
            text.push_str(&format!("AWS_ACCESS_KEY_ID=AKIA{}\n", "Q3EGRZL2MXH4B7WN"));
        }
    }
    text.into_bytes()
}

/// The keyword search the matcher used before its keyword pass had lanes.
fn overlapping_iterator() -> AhoCorasick {
    let rules = RuleSet::builtin().unwrap_or_else(|error| panic!("{error}"));
    let mut keywords: Vec<String> = Vec::new();
    for keyword in rules.rules().iter().flat_map(|rule| &rule.keywords) {
        let folded = keyword.to_ascii_lowercase();
        if !keywords.contains(&folded) {
            keywords.push(folded);
        }
    }
    AhoCorasick::builder()
        .ascii_case_insensitive(true)
        .match_kind(MatchKind::Standard)
        .kind(Some(AhoCorasickKind::DFA))
        .build(&keywords)
        .unwrap_or_else(|error| panic!("{error}"))
}

fn scan_throughput(c: &mut Criterion) {
    let matcher = Matcher::builtin().unwrap_or_else(|error| panic!("{error}"));
    let baseline = overlapping_iterator();
    let text = corpus(16 * 1024 * 1024);
    let mut group = c.benchmark_group("scan");
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.sample_size(10);
    group.bench_function("source_like_text_16MiB", |b| {
        b.iter(|| matcher.scan(std::hint::black_box(&text)))
    });
    // The CLI scans file by file; most source files are a few KiB.
    group.bench_function("source_like_text_as_16KiB_files", |b| {
        b.iter(|| {
            std::hint::black_box(&text)
                .chunks(16 * 1024)
                .map(|file| matcher.scan(file).len())
                .sum::<usize>()
        })
    });
    group.bench_function("baseline_overlapping_keyword_search_alone", |b| {
        b.iter(|| {
            baseline
                .find_overlapping_iter(std::hint::black_box(&text))
                .count()
        })
    });
    let prose: Vec<u8> = b"The quick brown fox jumps over the lazy dog, again and again.\n"
        .iter()
        .copied()
        .cycle()
        .take(16 * 1024 * 1024)
        .collect();
    group.throughput(Throughput::Bytes(prose.len() as u64));
    group.bench_function("keyword_free_text_16MiB", |b| {
        b.iter(|| matcher.scan(std::hint::black_box(&prose)))
    });
    group.bench_function(
        "keyword_free_text_baseline_overlapping_keyword_search_alone",
        |b| {
            b.iter(|| {
                baseline
                    .find_overlapping_iter(std::hint::black_box(&prose))
                    .count()
            })
        },
    );
    group.finish();
}

criterion_group!(benches, scan_throughput);
criterion_main!(benches);
