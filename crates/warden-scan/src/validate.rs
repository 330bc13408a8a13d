//! Validators: checks a candidate must pass beyond its rule's pattern, named in rules files.
//!
//! The checksums are what make prefixed tokens recognisable offline: a look-alike with a
//! wrong checksum is not reported. Warden's own secrets carry the CRC32 of everything before
//! the checksum (`warden_crypto::secret`); GitHub's classic tokens and npm's tokens carry the
//! CRC32 of the random part only (after the `_`), both as 6 base62 digits.

use serde::Deserialize;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const CHECKSUM_LEN: usize = 6;

/// A named check, as written in a rule's `validator` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Validator {
    /// `warden_<kind>_<body><crc>`: CRC32 of everything before the last 6 characters.
    WardenCrc32,
    /// `ghp_…`, `npm_…`: CRC32 of the part between the first `_` and the last 6 characters.
    GithubCrc32,
    /// An AWS access key id: a known prefix and 16 base32 characters (A–Z, 2–7).
    AwsKeyId,
    /// Looks random: letters and digits mixed, not a dotted name or a path of words.
    Entropy,
    /// A password in a URL (capture group 1 is the user): not the user name repeated.
    UrlPassword,
}

impl Validator {
    /// `secret` is the secret's bytes; `user` the URL's user, for [`Validator::UrlPassword`].
    pub fn accepts(self, secret: &[u8], user: Option<&[u8]>) -> bool {
        match self {
            Self::WardenCrc32 => warden_checksum_ok(secret),
            Self::GithubCrc32 => github_checksum_ok(secret),
            Self::AwsKeyId => aws_key_id_ok(secret),
            Self::Entropy => looks_random(secret),
            Self::UrlPassword => user.is_none_or(|user| !user.eq_ignore_ascii_case(secret)),
        }
    }
}

/// The CRC32 of `data` as 6 base62 digits, big-endian, left-padded with '0'.
pub fn crc32_base62(data: &[u8]) -> [u8; CHECKSUM_LEN] {
    let mut value = crc32fast::hash(data);
    let mut digits = [b'0'; CHECKSUM_LEN];
    for digit in digits.iter_mut().rev() {
        *digit = BASE62[(value % 62) as usize];
        value /= 62;
    }
    digits
}

fn split_checksum(secret: &[u8]) -> Option<(&[u8], &[u8])> {
    let cut = secret.len().checked_sub(CHECKSUM_LEN)?;
    Some(secret.split_at(cut))
}

fn warden_checksum_ok(secret: &[u8]) -> bool {
    match split_checksum(secret) {
        Some((signed, checksum)) => !signed.is_empty() && crc32_base62(signed) == checksum,
        None => false,
    }
}

fn github_checksum_ok(secret: &[u8]) -> bool {
    let Some(underscore) = memchr::memchr(b'_', secret) else {
        return false;
    };
    match split_checksum(&secret[underscore + 1..]) {
        Some((random, checksum)) => !random.is_empty() && crc32_base62(random) == checksum,
        None => false,
    }
}

fn aws_key_id_ok(secret: &[u8]) -> bool {
    const PREFIXES: [&[u8]; 4] = [b"AKIA", b"ASIA", b"ABIA", b"ACCA"];
    secret.len() == 20
        && PREFIXES.iter().any(|prefix| secret.starts_with(prefix))
        && secret[4..]
            .iter()
            .all(|byte| byte.is_ascii_uppercase() || (b'2'..=b'7').contains(byte))
}

/// A random value of the lengths generic rules look at nearly always mixes letters and
/// digits; names, paths and prose rarely do.
fn looks_random(secret: &[u8]) -> bool {
    let has_digit = secret.iter().any(u8::is_ascii_digit);
    let has_letter = secret.iter().any(u8::is_ascii_alphabetic);
    let words = secret
        .split(|byte| matches!(byte, b'.' | b'/' | b'-' | b'_'))
        .filter(|part| part.len() >= 4 && part.iter().all(u8::is_ascii_lowercase))
        .count();
    has_digit && has_letter && words < 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_base62_pads_to_six_digits() {
        // CRC32("") is 0.
        assert_eq!(&crc32_base62(b""), b"000000");
        assert_eq!(crc32_base62(b"a").len(), 6);
    }

    #[test]
    fn warden_checksum_matches_warden_crypto() {
        for kind in warden_crypto::secret::SecretKind::ALL {
            let secret = warden_crypto::secret::Secret::generate(kind);
            assert!(warden_checksum_ok(secret.expose().as_bytes()));
            let mut broken = secret.expose().as_bytes().to_vec();
            let last = broken.len() - 1;
            broken[last] = if broken[last] == b'a' { b'b' } else { b'a' };
            assert!(!warden_checksum_ok(&broken));
        }
    }

    #[test]
    fn github_checksum_covers_the_random_part_only() {
        let random = b"zQWBuTSOoRi4A9spHcVY5ncnsDkxkJ";
        let mut token = b"ghp_".to_vec();
        token.extend_from_slice(random);
        token.extend_from_slice(&crc32_base62(random));
        assert!(github_checksum_ok(&token));
        token[5] ^= 0x01;
        assert!(!github_checksum_ok(&token));
        assert!(!github_checksum_ok(b"ghp_"));
        assert!(!github_checksum_ok(b"no-underscore-here"));
    }

    #[test]
    fn aws_key_ids_are_prefix_and_base32() {
        assert!(aws_key_id_ok(b"AKIAQ3EGRZL2MXH4B7WN"));
        assert!(aws_key_id_ok(b"ASIAQ3EGRZL2MXH4B7WN"));
        assert!(!aws_key_id_ok(b"AKIAQ3EGRZL2MXH4B7W0"), "0 is not base32");
        assert!(!aws_key_id_ok(b"AKIAQ3EGRZL2MXH4B7W"), "too short");
        assert!(!aws_key_id_ok(b"AXYZQ3EGRZL2MXH4B7WN"), "unknown prefix");
    }

    #[test]
    fn looks_random_wants_letters_and_digits_and_no_words() {
        assert!(looks_random(b"q8Zr2kPv7xLm4NtW"));
        assert!(!looks_random(b"Rails.application.credentials"));
        assert!(!looks_random(b"abcdefghijklmnopq"));
        assert!(!looks_random(b"config/settings/prod2.yaml"));
    }

    #[test]
    fn a_url_password_equal_to_its_user_is_refused() {
        assert!(!Validator::UrlPassword.accepts(b"postgres", Some(b"postgres")));
        assert!(Validator::UrlPassword.accepts(b"Kq7v2mZp", Some(b"app")));
    }
}
