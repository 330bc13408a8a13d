//! Validation of the free-form values people type: emails, names, labels, purposes.

use std::collections::BTreeMap;

use crate::error::{DomainError, DomainResult};

pub const MAX_NAME_LEN: usize = 64;
pub const MAX_PURPOSE_LEN: usize = 1024;
pub const MAX_LABELS: usize = 64;
pub const MAX_LABEL_KEY_LEN: usize = 63;
pub const MAX_LABEL_VALUE_LEN: usize = 255;
pub const MAX_OWNER_NAME_LEN: usize = 200;

/// Lower-cases and checks an email address. Deliberately simple: printable ASCII, one `@`, a
/// non-empty local part, a domain with a dot, no spaces or control characters. Delivery is not our concern.
pub fn normalize_email(raw: &str) -> DomainResult<String> {
    let email = raw.trim().to_ascii_lowercase();
    let invalid = || DomainError::InvalidEmail(raw.to_string());
    if email.len() > 254 || !email.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(invalid());
    }
    let (local, domain) = email.split_once('@').ok_or_else(invalid)?;
    let domain_ok = !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..");
    if local.is_empty() || !domain_ok {
        return Err(invalid());
    }
    Ok(email)
}

/// Identity names: 1–64 of lower-case letters, digits, `.`, `_`, `-`, starting with a letter
/// or digit. They appear in URLs, Cedar entity ids and CLI arguments, so no other characters.
pub fn validate_name(name: &str) -> DomainResult<()> {
    let valid_chars = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
    let starts_well = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if name.is_empty() || name.len() > MAX_NAME_LEN || !valid_chars || !starts_well {
        return Err(DomainError::invalid(
            "name",
            format!(
                "`{name}` must be 1-{MAX_NAME_LEN} characters of a-z, 0-9, '.', '_' or '-', starting with a letter or digit"
            ),
        ));
    }
    Ok(())
}

pub fn validate_owner_name(name: &str) -> DomainResult<()> {
    if name.trim().is_empty()
        || name.chars().count() > MAX_OWNER_NAME_LEN
        || name.chars().any(char::is_control)
    {
        return Err(DomainError::invalid(
            "name",
            format!("an owner's name must be 1-{MAX_OWNER_NAME_LEN} printable characters"),
        ));
    }
    Ok(())
}

pub fn validate_purpose(purpose: &str) -> DomainResult<()> {
    if purpose.len() > MAX_PURPOSE_LEN || purpose.chars().any(|c| c.is_control() && c != '\n') {
        return Err(DomainError::invalid(
            "purpose",
            format!("at most {MAX_PURPOSE_LEN} characters, no control characters"),
        ));
    }
    Ok(())
}

/// Label keys follow the Kubernetes shape (an optional `prefix/`, then letters, digits, `.`,
/// `_`, `-`); values are short printable strings.
pub fn validate_labels(labels: &BTreeMap<String, String>) -> DomainResult<()> {
    if labels.len() > MAX_LABELS {
        return Err(DomainError::invalid(
            "labels",
            format!("at most {MAX_LABELS} labels"),
        ));
    }
    for (key, value) in labels {
        validate_label_key(key)?;
        if value.len() > MAX_LABEL_VALUE_LEN || value.chars().any(char::is_control) {
            return Err(DomainError::invalid(
                "labels",
                format!(
                    "the value of `{key}` must be at most {MAX_LABEL_VALUE_LEN} printable characters"
                ),
            ));
        }
    }
    Ok(())
}

pub fn validate_label_key(key: &str) -> DomainResult<()> {
    let valid = !key.is_empty()
        && key.len() <= MAX_LABEL_KEY_LEN
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/'))
        && key
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric());
    if valid {
        Ok(())
    } else {
        Err(DomainError::invalid(
            "labels",
            format!(
                "label key `{key}` must be 1-{MAX_LABEL_KEY_LEN} characters of letters, digits, '.', '_', '-' or '/', starting with a letter or digit"
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalized_and_checked() {
        assert_eq!(
            normalize_email(" Alice@Example.COM ").as_deref(),
            Ok("alice@example.com")
        );
        for bad in [
            "alice",
            "@example.com",
            "alice@",
            "alice@example",
            "a b@example.com",
            "a@b@c.com",
            "alice@.com",
            "alice@example..com",
            "alïce@example.com",
            "alice@exämple.com",
        ] {
            assert_eq!(
                normalize_email(bad),
                Err(DomainError::InvalidEmail(bad.to_string())),
                "{bad}"
            );
        }
    }

    #[test]
    fn names_accept_the_documented_alphabet_only() {
        for good in ["support-bot", "a", "bot.v2_prod", "0day"] {
            assert_eq!(validate_name(good), Ok(()), "{good}");
        }
        let too_long = "a".repeat(MAX_NAME_LEN + 1);
        for bad in [
            "",
            "Support",
            "-bot",
            "bot bot",
            "bot/x",
            "bot:x",
            too_long.as_str(),
        ] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn labels_are_bounded() {
        let mut labels = BTreeMap::new();
        labels.insert("team".to_string(), "support".to_string());
        labels.insert("example.com/tier".to_string(), "1".to_string());
        assert_eq!(validate_labels(&labels), Ok(()));
        labels.insert("bad key".to_string(), "x".to_string());
        assert!(validate_labels(&labels).is_err());
        let mut long_value = BTreeMap::new();
        long_value.insert("k".to_string(), "v".repeat(MAX_LABEL_VALUE_LEN + 1));
        assert!(validate_labels(&long_value).is_err());
    }
}
