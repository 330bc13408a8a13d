//! Token and sealed-value parsers face untrusted input: whatever arrives, they answer with
//! an error, never a panic, and a token changed anywhere never verifies.

use proptest::prelude::*;
use warden_crypto::jwt::{AccessClaims, Expectations, ExternalVerifier, issue, verify};
use warden_crypto::seal::{DataKey, open, seal};
use warden_crypto::signing::KeyRing;

const NOW: i64 = 1_750_000_000;

fn expect() -> Expectations<'static> {
    Expectations {
        issuer: "iss",
        audience: Some("aud"),
        now: NOW,
        leeway_secs: 0,
    }
}

fn claims() -> AccessClaims {
    AccessClaims {
        iss: "iss".into(),
        sub: "agent".into(),
        aud: "aud".into(),
        exp: NOW + 60,
        iat: NOW,
        nbf: None,
        jti: "jti".into(),
        client_id: "client".into(),
        cred: None,
        scope: None,
        act: None,
        may_act: None,
        authorization_details: None,
        owner: None,
        env: None,
        ancestors: Vec::new(),
    }
}

fn ring() -> KeyRing {
    KeyRing::generate(NOW, 600).unwrap_or_else(|e| panic!("{e}"))
}

proptest! {
    #[test]
    fn arbitrary_text_is_never_a_token(text in "[A-Za-z0-9_.=-]{0,300}") {
        let ring = ring();
        prop_assert!(verify(&ring, &text, &expect()).is_err());
        let verifier = ExternalVerifier::from_jwks(&ring.jwks().to_string())
            .unwrap_or_else(|e| panic!("{e}"));
        prop_assert!(verifier.verify(&text, &expect()).is_err());
    }

    #[test]
    fn a_token_changed_at_any_character_does_not_verify(
        position in 0usize..10_000,
        replacement in "[A-Za-z0-9_.-]",
    ) {
        let ring = ring();
        let token = issue(&ring, &claims()).unwrap_or_else(|e| panic!("{e}"));
        let position = position % token.len();
        let mut changed = token.clone();
        changed.replace_range(position..=position, &replacement);
        prop_assume!(changed != token);
        prop_assert!(verify(&ring, &changed, &expect()).is_err());
    }

    #[test]
    fn arbitrary_bytes_never_open(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let key = DataKey::from_bytes([3; 32]);
        prop_assert!(open(&key, &bytes, b"ad").is_err());
    }

    #[test]
    fn sealing_round_trips_any_plaintext(
        plaintext in proptest::collection::vec(any::<u8>(), 0..500),
        ad in proptest::collection::vec(any::<u8>(), 0..50),
    ) {
        let key = DataKey::from_bytes([4; 32]);
        let sealed = seal(&key, &plaintext, &ad).unwrap_or_else(|e| panic!("{e}"));
        let opened = open(&key, &sealed, &ad).unwrap_or_else(|e| panic!("{e}"));
        prop_assert_eq!(opened.as_slice(), plaintext.as_slice());
    }
}
