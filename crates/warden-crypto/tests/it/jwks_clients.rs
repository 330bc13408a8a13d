//! Tokens checked the way others check them: a third-party client holding only our JWKS
//! (through `jsonwebtoken`), and our `ExternalVerifier` reading other issuers' JWKS with
//! EdDSA, ES256 and RS256 keys.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _, RSA_PKCS1_SHA256, RsaKeyPair,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use warden_crypto::jwt::{
    AccessClaims, Expectations, ExternalVerifier, JwksError, TokenError, issue, verify,
};
use warden_crypto::signing::KeyRing;

const ISSUER: &str = "https://warden.example";
const AUDIENCE: &str = "https://crm.example";
const NOW: i64 = 1_750_000_000;

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn wall_clock() -> i64 {
    // Only the test reads the clock: jsonwebtoken checks `exp` against it.
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or_else(|e| panic!("{e}"))
}

fn claims(now: i64) -> AccessClaims {
    AccessClaims {
        iss: ISSUER.into(),
        sub: "agent-1".into(),
        aud: AUDIENCE.into(),
        exp: now + 300,
        iat: now,
        nbf: None,
        jti: "jti-1".into(),
        client_id: "client-1".into(),
        cred: None,
        scope: Some("tickets.read".into()),
        act: None,
        may_act: None,
        authorization_details: None,
        owner: None,
        env: None,
        ancestors: Vec::new(),
    }
}

fn expect(now: i64) -> Expectations<'static> {
    Expectations {
        issuer: ISSUER,
        audience: Some(AUDIENCE),
        now,
        leeway_secs: 0,
    }
}

/// What a third-party resource server does with our JWKS and nothing else.
fn third_party_decode(
    jwks: &str,
    token: &str,
) -> Result<AccessClaims, jsonwebtoken::errors::Error> {
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_str(jwks)?;
    let header = jsonwebtoken::decode_header(token)?;
    let kid = header.kid.unwrap_or_default();
    let jwk = set
        .find(&kid)
        .ok_or(jsonwebtoken::errors::ErrorKind::InvalidKeyFormat)?;
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk)?;
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    validation.set_audience(&[AUDIENCE]);
    validation.set_issuer(&[ISSUER]);
    Ok(jsonwebtoken::decode::<AccessClaims>(token, &key, &validation)?.claims)
}

#[test]
fn a_third_party_client_verifies_our_tokens_with_only_the_jwks() -> TestResult {
    let now = wall_clock();
    let mut ring = KeyRing::generate(now, 900)?;
    let before_rotation = issue(&ring, &claims(now))?;
    ring.rotate(now)?;
    let after_rotation = issue(&ring, &claims(now))?;
    let jwks = ring.jwks().to_string();

    assert_eq!(third_party_decode(&jwks, &before_rotation)?, claims(now));
    assert_eq!(third_party_decode(&jwks, &after_rotation)?, claims(now));

    let (input, _) = after_rotation.rsplit_once('.').unwrap_or_default();
    let (_, signature) = before_rotation.rsplit_once('.').unwrap_or_default();
    assert!(third_party_decode(&jwks, &format!("{input}.{signature}")).is_err());

    ring.prune(now + 900);
    assert!(third_party_decode(&ring.jwks().to_string(), &before_rotation).is_err());
    Ok(())
}

#[test]
fn our_jwks_feeds_our_external_verifier() -> TestResult {
    let ring = KeyRing::generate(NOW, 900)?;
    let token = issue(&ring, &claims(NOW))?;
    let verifier = ExternalVerifier::from_jwks(&ring.jwks().to_string())?.require_type("at+jwt");
    let verified = verifier.verify(&token, &expect(NOW))?;
    assert_eq!(verified.sub, "agent-1");
    assert_eq!(verified.aud, [AUDIENCE]);
    assert_eq!(verified.other["client_id"], "client-1");
    assert_eq!(verify(&ring, &token, &expect(NOW))?, claims(NOW));
    Ok(())
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn token(header: &Value, claims: &Value, sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let signature = sign(input.as_bytes());
    format!("{input}.{}", b64(&signature))
}

fn external_claims() -> Value {
    json!({
        "iss": ISSUER,
        "sub": "user@example.com",
        "aud": ["other", AUDIENCE],
        "exp": NOW + 60,
        "iat": NOW,
        "email": "user@example.com",
    })
}

struct Issuer {
    jwks: String,
    es256: EcdsaKeyPair,
    rs256: RsaKeyPair,
}

fn external_issuer() -> Result<Issuer, Box<dyn std::error::Error>> {
    let es256 = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)?;
    let point = es256.public_key().as_ref();
    let rs256 = RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)?;
    let public = rs256.public_key();
    let jwks = json!({"keys": [
        {"kty": "EC", "crv": "P-256", "kid": "ec-1", "use": "sig",
         "x": b64(&point[1..33]), "y": b64(&point[33..65])},
        {"kty": "RSA", "kid": "rsa-1", "alg": "RS256",
         "n": b64(public.modulus().big_endian_without_leading_zero()),
         "e": b64(public.exponent().big_endian_without_leading_zero())},
        {"kty": "RSA", "kid": "rsa-enc", "use": "enc", "n": "AQAB", "e": "AQAB"},
        {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
    ]})
    .to_string();
    Ok(Issuer { jwks, es256, rs256 })
}

impl Issuer {
    fn es256_sign(&self, message: &[u8]) -> Vec<u8> {
        self.es256
            .sign(&SystemRandom::new(), message)
            .map(|signature| signature.as_ref().to_vec())
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn rs256_sign(&self, message: &[u8]) -> Vec<u8> {
        let mut signature = vec![0; self.rs256.public_modulus_len()];
        self.rs256
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                message,
                &mut signature,
            )
            .unwrap_or_else(|e| panic!("{e}"));
        signature
    }
}

#[test]
fn es256_and_rs256_tokens_from_an_external_issuer_verify() -> TestResult {
    let issuer = external_issuer()?;
    let verifier = ExternalVerifier::from_jwks(&issuer.jwks)?;
    assert_eq!(
        verifier.kids().collect::<Vec<_>>(),
        [Some("ec-1"), Some("rsa-1")],
        "encryption and symmetric keys are skipped"
    );

    let es = token(
        &json!({"alg": "ES256", "typ": "JWT", "kid": "ec-1"}),
        &external_claims(),
        |m| issuer.es256_sign(m),
    );
    let claims = verifier.verify(&es, &expect(NOW))?;
    assert_eq!(claims.sub, "user@example.com");
    assert_eq!(claims.other["email"], "user@example.com");

    let rs = token(
        &json!({"alg": "RS256", "kid": "rsa-1"}),
        &external_claims(),
        |m| issuer.rs256_sign(m),
    );
    assert_eq!(verifier.verify(&rs, &expect(NOW))?.exp, NOW + 60);
    Ok(())
}

#[test]
fn external_tokens_are_refused_for_the_same_reasons() -> TestResult {
    let issuer = external_issuer()?;
    let verifier = ExternalVerifier::from_jwks(&issuer.jwks)?;
    let es = |header: Value, claims: Value| token(&header, &claims, |m| issuer.es256_sign(m));
    let refused = |token: &str| verifier.verify(token, &expect(NOW)).err();

    // alg none, and HMAC keyed by the public key material.
    let unsigned = token(
        &json!({"alg": "none", "kid": "ec-1"}),
        &external_claims(),
        |_| Vec::new(),
    );
    assert_eq!(refused(&unsigned), Some(TokenError::UnsupportedAlgorithm));
    let hs256 = jsonwebtoken::encode(
        &jsonwebtoken::Header {
            kid: Some("rsa-1".into()),
            ..jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256)
        },
        &external_claims(),
        &jsonwebtoken::EncodingKey::from_secret(issuer.rs256.public_key().as_ref()),
    )?;
    assert_eq!(refused(&hs256), Some(TokenError::UnsupportedAlgorithm));
    // A supported algorithm that is not the named key's algorithm.
    let confused = es(json!({"alg": "RS256", "kid": "ec-1"}), external_claims());
    assert_eq!(refused(&confused), Some(TokenError::UnsupportedAlgorithm));
    // Unknown kid, and a missing kid when the set has several keys.
    let unknown = es(json!({"alg": "ES256", "kid": "ec-2"}), external_claims());
    assert_eq!(refused(&unknown), Some(TokenError::UnknownKey));
    let no_kid = es(json!({"alg": "ES256"}), external_claims());
    assert_eq!(refused(&no_kid), Some(TokenError::UnknownKey));
    // Tampered payload.
    let good = es(json!({"alg": "ES256", "kid": "ec-1"}), external_claims());
    let mut forged = external_claims();
    forged["sub"] = json!("admin@example.com");
    let parts: Vec<&str> = good.split('.').collect();
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        b64(forged.to_string().as_bytes()),
        parts[2]
    );
    assert_eq!(refused(&tampered), Some(TokenError::BadSignature));
    // Time, issuer, audience.
    assert_eq!(
        verifier.verify(&good, &expect(NOW + 60)).err(),
        Some(TokenError::Expired)
    );
    let mut later = external_claims();
    later["nbf"] = json!(NOW + 10);
    let later = es(json!({"alg": "ES256", "kid": "ec-1"}), later);
    assert_eq!(refused(&later), Some(TokenError::NotYetValid));
    let wrong_iss = Expectations {
        issuer: "https://elsewhere.example",
        ..expect(NOW)
    };
    assert_eq!(
        verifier.verify(&good, &wrong_iss).err(),
        Some(TokenError::WrongIssuer)
    );
    let wrong_aud = Expectations {
        audience: Some("https://billing.example"),
        ..expect(NOW)
    };
    assert_eq!(
        verifier.verify(&good, &wrong_aud).err(),
        Some(TokenError::WrongAudience)
    );
    // A required type.
    let typed = ExternalVerifier::from_jwks(&issuer.jwks)?.require_type("at+jwt");
    assert_eq!(
        typed.verify(&good, &expect(NOW)).err(),
        Some(TokenError::WrongType)
    );
    // A missing exp is malformed: external tokens must expire too.
    let mut forever = external_claims();
    forever.as_object_mut().map(|claims| claims.remove("exp"));
    let forever = es(json!({"alg": "ES256", "kid": "ec-1"}), forever);
    assert!(matches!(refused(&forever), Some(TokenError::Malformed(_))));
    Ok(())
}

#[test]
fn fractional_dates_and_single_audiences_are_read() -> TestResult {
    let issuer = external_issuer()?;
    let verifier = ExternalVerifier::from_jwks(&issuer.jwks)?;
    let mut claims = external_claims();
    claims["aud"] = json!(AUDIENCE);
    claims["exp"] = json!(NOW as f64 + 60.75);
    let token = token(&json!({"alg": "ES256", "kid": "ec-1"}), &claims, |m| {
        issuer.es256_sign(m)
    });
    let verified = verifier.verify(&token, &expect(NOW))?;
    assert_eq!(verified.aud, [AUDIENCE]);
    assert_eq!(verified.exp, NOW + 60);
    Ok(())
}

#[test]
fn a_kidless_token_is_matched_only_when_the_set_has_one_key() -> TestResult {
    let issuer = external_issuer()?;
    let point = issuer.es256.public_key().as_ref();
    let jwks = json!({"keys": [
        {"kty": "EC", "crv": "P-256", "x": b64(&point[1..33]), "y": b64(&point[33..65])}
    ]});
    let verifier = ExternalVerifier::from_jwks(&jwks.to_string())?;
    let token = token(&json!({"alg": "ES256"}), &external_claims(), |m| {
        issuer.es256_sign(m)
    });
    verifier.verify(&token, &expect(NOW))?;
    Ok(())
}

#[test]
fn bad_jwks_documents_are_refused() {
    assert!(matches!(
        ExternalVerifier::from_jwks("not json"),
        Err(JwksError::Json(_))
    ));
    assert_eq!(
        ExternalVerifier::from_jwks(r#"{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}"#).err(),
        Some(JwksError::NoUsableKeys)
    );
    assert!(matches!(
        ExternalVerifier::from_jwks(
            r#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k","x":"AAAA"}]}"#
        ),
        Err(JwksError::InvalidKey { .. })
    ));
    assert!(matches!(
        ExternalVerifier::from_jwks(
            r#"{"keys":[{"kty":"EC","crv":"P-256","kid":"k","x":"AAAA"}]}"#
        ),
        Err(JwksError::InvalidKey { .. })
    ));
}
