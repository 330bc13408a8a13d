//! Expands the templates of `tests/cases.toml` with a seeded generator, so the repository
//! holds no value shaped like a live credential.

use warden_scan::validate::crc32_base62;

/// A small deterministic generator (SplitMix64): the same seed, the same values.
pub struct Generator(u64);

impl Generator {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn pick(&mut self, alphabet: &[u8], count: usize) -> String {
        (0..count)
            .map(|_| char::from(alphabet[(self.next_u64() % alphabet.len() as u64) as usize]))
            .collect()
    }
}

pub const ALNUM: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const HEX: &[u8] = b"0123456789abcdef";
const DIGITS: &[u8] = b"0123456789";
const UPPER32: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";

/// Expands `{generator:argument}` directives; a checksum covers the token it ends (what
/// precedes it back to the last byte no token contains).
pub fn expand(template: &str, generator: &mut Generator) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('}') else {
            out.push_str(&rest[open..]);
            return out;
        };
        let directive = &rest[open + 1..open + close];
        match directive.split_once(':') {
            Some((name, argument)) if is_directive(name) => {
                out.push_str(&run(name, argument, &out, generator));
            }
            _ => out.push_str(&rest[open..=open + close]),
        }
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    out
}

fn is_directive(name: &str) -> bool {
    matches!(
        name,
        "alnum" | "hex" | "digits" | "upper32" | "b64" | "url64" | "pem" | "crc" | "badcrc"
    )
}

fn run(name: &str, argument: &str, so_far: &str, generator: &mut Generator) -> String {
    let count = || argument.parse::<usize>().expect("a count");
    match name {
        "alnum" => generator.pick(ALNUM, count()),
        "hex" => generator.pick(HEX, count()),
        "digits" => generator.pick(DIGITS, count()),
        "upper32" => generator.pick(UPPER32, count()),
        "b64" => generator.pick(B64, count()),
        "url64" => generator.pick(URL64, count()),
        "pem" => {
            let body = generator.pick(B64, count());
            body.as_bytes()
                .chunks(64)
                .map(|line| std::str::from_utf8(line).expect("ascii"))
                .collect::<Vec<_>>()
                .join("\n")
        }
        "crc" | "badcrc" => {
            // The token being built starts after the last byte no token contains.
            let token_start = so_far
                .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
                .map_or(0, |position| position + 1);
            let token = &so_far[token_start..];
            let covered = match argument {
                "warden" => token,
                "github" => token.split_once('_').map_or(token, |(_, after)| after),
                other => panic!("unknown checksum {other}"),
            };
            let mut digits = crc32_base62(covered.as_bytes());
            if name == "badcrc" {
                digits[5] = if digits[5] == b'0' { b'1' } else { b'0' };
            }
            String::from_utf8(digits.to_vec()).expect("base62")
        }
        other => panic!("unknown directive {other}"),
    }
}
