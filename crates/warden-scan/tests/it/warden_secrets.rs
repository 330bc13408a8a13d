//! Secrets minted by `warden-crypto` itself are found, with their kind, for every kind.

use warden_crypto::secret::{Secret, SecretKind};
use warden_scan::Matcher;

fn expected_kind(kind: SecretKind) -> &'static str {
    // Exhaustive on purpose: a new kind of secret does not compile here until the scanner
    // has a rule for it.
    match kind {
        SecretKind::Admin => "warden_admin",
        SecretKind::ClientSecret => "warden_client_secret",
    }
}

#[test]
fn every_kind_of_warden_secret_is_found_with_its_kind() {
    let matcher = Matcher::builtin().expect("built-in rules compile");
    for kind in SecretKind::ALL {
        for _ in 0..20 {
            let secret = Secret::generate(kind);
            let text = format!("config:\n  token: {}\n", secret.expose());
            let findings = matcher.scan(text.as_bytes());
            assert_eq!(findings.len(), 1, "{kind:?}: {findings:?}");
            assert_eq!(findings[0].kind, expected_kind(kind));
            assert_eq!((findings[0].line, findings[0].column), (2, 10));
        }
    }
}

#[test]
fn a_warden_secret_with_one_changed_character_is_not_reported() {
    let matcher = Matcher::builtin().expect("built-in rules compile");
    for kind in SecretKind::ALL {
        let secret = Secret::generate(kind);
        let mut text = secret.expose().to_string();
        let position = kind.prefix().len() + 3;
        let replacement = if &text[position..=position] == "Q" {
            "R"
        } else {
            "Q"
        };
        text.replace_range(position..=position, replacement);
        assert!(matcher.scan(format!("token: {text}").as_bytes()).is_empty());
    }
}
