//! The format of secrets Warden issues: `warden_<kind>_<body><checksum>`.
//!
//! The body is 32 random bytes in base62 (43 characters); the checksum is the CRC32 of
//! everything before it, in base62 (6 characters). A scanner can therefore recognise a
//! Warden secret offline, tell which kind it is, and discard look-alikes whose checksum
//! fails, without asking the server: the scheme GitHub uses for its tokens.

use std::fmt;

use zeroize::Zeroizing;

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
pub const BODY_LEN: usize = 43;
pub const CHECKSUM_LEN: usize = 6;

/// What a secret unlocks; each kind has its own prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecretKind {
    /// The administrator's API token.
    Admin,
    /// An agent's OAuth client secret.
    ClientSecret,
}

impl SecretKind {
    pub const ALL: [Self; 2] = [Self::Admin, Self::ClientSecret];

    pub fn prefix(self) -> &'static str {
        match self {
            Self::Admin => "warden_admin_",
            Self::ClientSecret => "warden_cs_",
        }
    }
}

/// A plaintext secret: zeroized on drop, never printed by `Debug` or `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// Wraps a secret that came from elsewhere (a header, a file, the environment).
    pub fn new(value: String) -> Self {
        Self(Zeroizing::new(value))
    }

    /// A fresh secret of the given kind.
    pub fn generate(kind: SecretKind) -> Self {
        let random = Zeroizing::new(crate::random::random_bytes::<32>());
        let mut text = String::with_capacity(kind.prefix().len() + BODY_LEN + CHECKSUM_LEN);
        text.push_str(kind.prefix());
        push_base62(&mut text, &random[..], BODY_LEN);
        let checksum = crc32fast::hash(text.as_bytes());
        push_base62(&mut text, &checksum.to_be_bytes(), CHECKSUM_LEN);
        Self(Zeroizing::new(text))
    }

    /// The plaintext, for the one moment it must be shown or hashed.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Checks prefix, length, alphabet and checksum; says which kind this is.
    pub fn recognise(&self) -> Result<SecretKind, SecretFormatError> {
        recognise(self.expose())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SecretFormatError {
    #[error("not a Warden secret: unknown prefix")]
    UnknownPrefix,
    #[error("not a Warden secret: wrong length")]
    WrongLength,
    #[error("not a Warden secret: characters outside base62")]
    NotBase62,
    #[error("not a Warden secret: checksum mismatch")]
    BadChecksum,
}

/// Recognises a Warden secret in `text` (exactly, with nothing around it).
pub fn recognise(text: &str) -> Result<SecretKind, SecretFormatError> {
    let kind = SecretKind::ALL
        .into_iter()
        .find(|kind| text.starts_with(kind.prefix()))
        .ok_or(SecretFormatError::UnknownPrefix)?;
    let rest = &text[kind.prefix().len()..];
    if rest.len() != BODY_LEN + CHECKSUM_LEN {
        return Err(SecretFormatError::WrongLength);
    }
    if !rest.bytes().all(|byte| byte.is_ascii_alphanumeric()) {
        return Err(SecretFormatError::NotBase62);
    }
    let (signed, checksum) = text.split_at(text.len() - CHECKSUM_LEN);
    let mut expected = String::with_capacity(CHECKSUM_LEN);
    push_base62(
        &mut expected,
        &crc32fast::hash(signed.as_bytes()).to_be_bytes(),
        CHECKSUM_LEN,
    );
    if expected != checksum {
        return Err(SecretFormatError::BadChecksum);
    }
    Ok(kind)
}

/// Appends `bytes`, read as one big-endian number, in base62, left-padded with '0' to
/// exactly `width` digits (the width is chosen so the number always fits).
fn push_base62(out: &mut String, bytes: &[u8], width: usize) {
    let mut number: Zeroizing<Vec<u8>> = Zeroizing::new(bytes.to_vec());
    let mut digits: Zeroizing<Vec<u8>> = Zeroizing::new(Vec::with_capacity(width));
    while digits.len() < width {
        // Long division of `number` by 62, keeping the remainder as the next digit.
        let mut remainder: u32 = 0;
        for byte in number.iter_mut() {
            let value = (remainder << 8) | u32::from(*byte);
            *byte = (value / 62) as u8;
            remainder = value % 62;
        }
        digits.push(ALPHABET[remainder as usize]);
    }
    out.extend(digits.iter().rev().map(|&digit| char::from(digit)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_are_recognised_with_their_kind() {
        for kind in SecretKind::ALL {
            let secret = Secret::generate(kind);
            assert!(secret.expose().starts_with(kind.prefix()));
            assert_eq!(
                secret.expose().len(),
                kind.prefix().len() + BODY_LEN + CHECKSUM_LEN
            );
            assert_eq!(secret.recognise(), Ok(kind));
        }
    }

    #[test]
    fn secrets_are_distinct() {
        let a = Secret::generate(SecretKind::ClientSecret);
        let b = Secret::generate(SecretKind::ClientSecret);
        assert_ne!(a, b);
    }

    #[test]
    fn one_changed_character_breaks_the_checksum() {
        let secret = Secret::generate(SecretKind::Admin);
        let mut text = secret.expose().to_string();
        let position = SecretKind::Admin.prefix().len() + 5;
        let replacement = if &text[position..=position] == "a" {
            "b"
        } else {
            "a"
        };
        text.replace_range(position..=position, replacement);
        assert_eq!(recognise(&text), Err(SecretFormatError::BadChecksum));
    }

    #[test]
    fn look_alikes_are_refused_for_the_right_reason() {
        assert_eq!(recognise("ghp_abc"), Err(SecretFormatError::UnknownPrefix));
        assert_eq!(
            recognise("warden_cs_short"),
            Err(SecretFormatError::WrongLength)
        );
        let bad_alphabet = format!("warden_cs_{}", "-".repeat(BODY_LEN + CHECKSUM_LEN));
        assert_eq!(recognise(&bad_alphabet), Err(SecretFormatError::NotBase62));
    }

    #[test]
    fn base62_is_big_endian_and_padded() {
        let mut out = String::new();
        push_base62(&mut out, &[0, 0, 0, 61], 6);
        assert_eq!(out, "00000z");
        out.clear();
        push_base62(&mut out, &[0, 0, 0, 62], 6);
        assert_eq!(out, "000010");
        out.clear();
        push_base62(&mut out, &u32::MAX.to_be_bytes(), 6);
        assert_eq!(out, "4gfFC3");
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let secret = Secret::generate(SecretKind::ClientSecret);
        assert_eq!(format!("{secret:?}"), "Secret([redacted])");
    }
}
