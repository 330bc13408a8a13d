//! Matcher throughput on generated text: source-like lines with secret-sounding names,
//! URLs and near-misses, a few planted secrets. `cargo bench -p warden-scan --bench scan`.

// A benchmark reports a broken setup by panicking.
#![allow(clippy::panic)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use warden_scan::Matcher;

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

fn scan_throughput(c: &mut Criterion) {
    let matcher = Matcher::builtin().unwrap_or_else(|error| panic!("{error}"));
    let text = corpus(16 * 1024 * 1024);
    let mut group = c.benchmark_group("scan");
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.sample_size(10);
    group.bench_function("source_like_text_16MiB", |b| {
        b.iter(|| matcher.scan(std::hint::black_box(&text)))
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
    group.finish();
}

criterion_group!(benches, scan_throughput);
criterion_main!(benches);
