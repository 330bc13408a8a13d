//! Access tokens: JWTs in the RFC 9068 profile, signed with EdDSA by the key ring, and the
//! verification of tokens from Warden itself and from trusted external issuers.
//!
//! The compact JWS is assembled and taken apart here, with the signature made and checked
//! by aws-lc-rs through keys parsed once (see `signing`). Verification reads the header
//! before anything else and refuses every algorithm but the one the key was made for, so a
//! token can never choose its own algorithm: `none` and HMAC (the classic trick of using
//! the public key as an HMAC secret) are refused before any key is looked at. The current
//! time is an argument; nothing here reads a clock.
//!
//! `jsonwebtoken` is used only in tests, as the independent client that must accept what
//! we issue and publish.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Deserializer, Serialize};

use crate::signing::KeyRing;

/// Tokens longer than this are refused before any decoding, so an attacker cannot make us
/// base64-decode and parse megabytes per request.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// The JOSE `typ` of an RFC 9068 access token.
pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";

/// The claims of a Warden access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    /// The agent's identity id.
    pub sub: String,
    /// One audience (RFC 8707 resource): the upstream the token is for.
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    pub jti: String,
    pub client_id: String,
    /// Space-separated scopes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The acting party when the token was obtained by token exchange (RFC 8693 §4.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Actor>,
    /// Who may act for the subject (RFC 8693 §4.4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub may_act: Option<Actor>,
    /// RFC 9396 rich authorization: the task this token is bound to. Unknown detail types
    /// make the whole token unparseable, so a token is never accepted with bounds we
    /// would silently ignore.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_details: Option<Vec<AuthorizationDetail>>,
    /// The accountable owner of the agent, so the gateway can apply owner-wide kill switches
    /// without a lookup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// The agent's environment (prod, staging, dev).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    /// The id of the credential the client authenticated with, so that revoking one
    /// credential also stops the tokens obtained with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cred: Option<String>,
    /// The Warden tokens this one was exchanged from, oldest first, so that revoking any
    /// of them (or the credential it was obtained with) stops this one too, without a
    /// lookup.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ancestors: Vec<Ancestor>,
}

/// A token an exchanged token descends from: its `jti` and the credential it was
/// obtained with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ancestor {
    pub jti: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cred: Option<String>,
}

impl AccessClaims {
    /// The scopes, split on spaces.
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scope
            .as_deref()
            .unwrap_or("")
            .split(' ')
            .filter(|s| !s.is_empty())
    }

    /// The Warden task details, if the token is bound to tasks.
    pub fn tasks(&self) -> impl Iterator<Item = &TaskDetail> {
        self.authorization_details
            .iter()
            .flatten()
            .map(|detail| match detail {
                AuthorizationDetail::WardenTask(task) => task,
            })
    }
}

/// An RFC 8693 `act` / `may_act` party; `act` nests for a chain of delegation, the most
/// recent actor outermost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Box<Actor>>,
}

/// One RFC 9396 authorization detail, told apart by its `type`. Only the types listed here
/// parse; anything else fails the token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum AuthorizationDetail {
    #[serde(rename = "warden_task")]
    WardenTask(TaskDetail),
}

/// `{"type":"warden_task","task_id":…,"actions":[…],"resources":[…]}`: the task a token
/// is bound to, and the only actions and resources it may touch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskDetail {
    pub task_id: String,
    pub actions: Vec<String>,
    pub resources: Vec<String>,
}

/// What a verified token must satisfy besides its signature.
#[derive(Debug, Clone, Copy)]
pub struct Expectations<'a> {
    pub issuer: &'a str,
    /// `None` skips the audience check, for callers that check it themselves.
    pub audience: Option<&'a str>,
    /// Unix seconds.
    pub now: i64,
    /// Tolerated clock skew, applied to `exp`, `nbf` and `iat`.
    pub leeway_secs: i64,
}

/// Why a token was refused. Precise for the log; the wire should say only "invalid token".
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    #[error("token algorithm is not accepted for this key")]
    UnsupportedAlgorithm,
    #[error("token type is not at+jwt")]
    WrongType,
    #[error("token is signed by an unknown key")]
    UnknownKey,
    #[error("token signature does not verify")]
    BadSignature,
    #[error("token has expired")]
    Expired,
    #[error("token is not valid yet")]
    NotYetValid,
    #[error("token is from the wrong issuer")]
    WrongIssuer,
    #[error("token is for another audience")]
    WrongAudience,
}

/// Why a token could not be issued.
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    #[error("could not encode the token claims: {0}")]
    Claims(#[from] serde_json::Error),
}

/// Signs `claims` with the ring's active key: header `{"alg":"EdDSA","typ":"at+jwt","kid":…}`.
pub fn issue(ring: &KeyRing, claims: &AccessClaims) -> Result<String, IssueError> {
    let key = ring.active();
    let payload = serde_json::to_vec(claims)?;
    let header = key.encoded_header();
    let mut token = String::with_capacity(header.len() + payload.len() * 4 / 3 + 92);
    token.push_str(header);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(&payload, &mut token);
    let signature = key.sign(token.as_bytes());
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(signature.as_ref(), &mut token);
    Ok(token)
}

/// Signs a Security Event Token (RFC 8417) with the ring's active key: header
/// `{"alg":"EdDSA","typ":"secevent+jwt","kid":…}`, so receivers verify it with the same
/// JWKS as access tokens while the `typ` keeps one from passing for the other.
pub fn issue_security_event(
    ring: &KeyRing,
    claims: &serde_json::Value,
) -> Result<String, IssueError> {
    let key = ring.active();
    let header = serde_json::json!({ "alg": "EdDSA", "typ": "secevent+jwt", "kid": key.kid() });
    let header = serde_json::to_vec(&header)?;
    let payload = serde_json::to_vec(claims)?;
    let mut token = URL_SAFE_NO_PAD.encode(&header);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(&payload, &mut token);
    let signature = key.sign(token.as_bytes());
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(signature.as_ref(), &mut token);
    Ok(token)
}

/// Verifies a Warden access token against the ring and the expectations.
pub fn verify(
    ring: &KeyRing,
    token: &str,
    expect: &Expectations<'_>,
) -> Result<AccessClaims, TokenError> {
    verify_with_kid(ring, token, expect).map(|(claims, _)| claims)
}

/// `verify`, also giving the id of the key that signed the token.
pub(crate) fn verify_with_kid(
    ring: &KeyRing,
    token: &str,
    expect: &Expectations<'_>,
) -> Result<(AccessClaims, String), TokenError> {
    let parts = Parts::split(token)?;
    if parts.header.alg != "EdDSA" {
        return Err(TokenError::UnsupportedAlgorithm);
    }
    if !is_access_token_type(parts.header.typ.as_deref()) {
        return Err(TokenError::WrongType);
    }
    let kid = parts.header.kid.as_deref().ok_or(TokenError::UnknownKey)?;
    let key = ring.get(kid).ok_or(TokenError::UnknownKey)?;
    if !key.verify(parts.signing_input.as_bytes(), &parts.signature()?) {
        return Err(TokenError::BadSignature);
    }
    let claims: AccessClaims = parts.claims()?;
    check_claims(&claims, expect)?;
    Ok((claims, key.kid().to_owned()))
}

/// The checks on a Warden token's claims once its signature is known good: issuer,
/// audience, expiry and start. Also run on every hit of a `VerifiedCache`.
pub(crate) fn check_claims(
    claims: &AccessClaims,
    expect: &Expectations<'_>,
) -> Result<(), TokenError> {
    check_issuer(&claims.iss, expect)?;
    if let Some(audience) = expect.audience
        && claims.aud != audience
    {
        return Err(TokenError::WrongAudience);
    }
    check_times(claims.exp, claims.nbf, Some(claims.iat), expect)
}

/// RFC 9068 §4: `at+jwt`, or its full media type, compared without regard to case.
fn is_access_token_type(typ: Option<&str>) -> bool {
    typ.is_some_and(|typ| {
        typ.eq_ignore_ascii_case(ACCESS_TOKEN_TYPE)
            || typ.eq_ignore_ascii_case("application/at+jwt")
    })
}

fn check_issuer(iss: &str, expect: &Expectations<'_>) -> Result<(), TokenError> {
    if iss == expect.issuer {
        Ok(())
    } else {
        Err(TokenError::WrongIssuer)
    }
}

fn check_times(
    exp: i64,
    nbf: Option<i64>,
    iat: Option<i64>,
    expect: &Expectations<'_>,
) -> Result<(), TokenError> {
    let leeway = expect.leeway_secs.max(0);
    // RFC 7519 §4.1.4: not accepted on or after `exp`.
    if expect.now >= exp.saturating_add(leeway) {
        return Err(TokenError::Expired);
    }
    // A token issued in the future is as suspect as one not valid yet.
    let start = nbf.into_iter().chain(iat).max();
    if start.is_some_and(|start| start > expect.now.saturating_add(leeway)) {
        return Err(TokenError::NotYetValid);
    }
    Ok(())
}

/// The JOSE header fields we look at. Duplicate fields fail to parse, so a header cannot
/// say one algorithm to us and another to someone else.
#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    typ: Option<String>,
    #[serde(default)]
    kid: Option<String>,
    /// RFC 7515 §4.1.11: we understand no extensions, so any `crit` refuses the token.
    #[serde(default)]
    crit: Option<serde::de::IgnoredAny>,
}

/// A compact JWS split into its parts, with the header decoded and nothing trusted yet.
struct Parts<'t> {
    header: Header,
    /// `header.payload`, the bytes the signature covers.
    signing_input: &'t str,
    payload: &'t str,
    signature: &'t str,
}

impl<'t> Parts<'t> {
    fn split(token: &'t str) -> Result<Self, TokenError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Malformed("token too long"));
        }
        let (signing_input, signature) = token
            .rsplit_once('.')
            .ok_or(TokenError::Malformed("not three parts"))?;
        let (header, payload) = signing_input
            .split_once('.')
            .ok_or(TokenError::Malformed("not three parts"))?;
        if payload.contains('.') {
            return Err(TokenError::Malformed("not three parts"));
        }
        let header = URL_SAFE_NO_PAD
            .decode(header)
            .map_err(|_| TokenError::Malformed("header is not base64url"))?;
        let header: Header = serde_json::from_slice(&header)
            .map_err(|_| TokenError::Malformed("header is not a JOSE header"))?;
        if header.crit.is_some() {
            return Err(TokenError::Malformed("critical header extensions"));
        }
        Ok(Self {
            header,
            signing_input,
            payload,
            signature,
        })
    }

    fn signature(&self) -> Result<Vec<u8>, TokenError> {
        URL_SAFE_NO_PAD
            .decode(self.signature)
            .map_err(|_| TokenError::Malformed("signature is not base64url"))
    }

    /// Only called once the signature has verified.
    fn claims<C: serde::de::DeserializeOwned>(&self) -> Result<C, TokenError> {
        let payload = URL_SAFE_NO_PAD
            .decode(self.payload)
            .map_err(|_| TokenError::Malformed("payload is not base64url"))?;
        serde_json::from_slice(&payload).map_err(|_| TokenError::Malformed("claims do not parse"))
    }
}

/// Verifies tokens from an external issuer (RFC 8693 subject tokens) against the keys in
/// that issuer's JWKS. Supports EdDSA (Ed25519), ES256 (P-256) and RS256 (RSA ≥ 2048 bits).
#[derive(Debug)]
pub struct ExternalVerifier {
    keys: Vec<ExternalKey>,
    required_type: Option<String>,
}

struct ExternalKey {
    kid: Option<String>,
    alg: JwsAlgorithm,
    key: aws_lc_rs::signature::ParsedPublicKey,
}

impl std::fmt::Debug for ExternalKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExternalKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

/// The signature algorithms accepted from external issuers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwsAlgorithm {
    EdDSA,
    ES256,
    RS256,
}

impl JwsAlgorithm {
    pub fn name(self) -> &'static str {
        match self {
            Self::EdDSA => "EdDSA",
            Self::ES256 => "ES256",
            Self::RS256 => "RS256",
        }
    }
}

/// Why a JWKS document was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwksError {
    #[error("not a JWKS document: {0}")]
    Json(String),
    #[error("key {kid:?} in the JWKS is invalid: {reason}")]
    InvalidKey { kid: Option<String>, reason: String },
    #[error("the JWKS has no EdDSA, ES256 or RS256 signing key")]
    NoUsableKeys,
}

#[derive(Deserialize)]
struct JwkSet {
    keys: Vec<serde_json::Map<String, serde_json::Value>>,
}

impl ExternalVerifier {
    /// Reads an issuer's JWKS. Keys for encryption, or of types and algorithms we do not
    /// accept, are skipped; a key of an accepted type whose material is broken refuses the
    /// whole document, since it means the issuer or the transport is wrong.
    pub fn from_jwks(json: &str) -> Result<Self, JwksError> {
        let set: JwkSet =
            serde_json::from_str(json).map_err(|error| JwksError::Json(error.to_string()))?;
        let mut keys = Vec::new();
        for jwk in &set.keys {
            if let Some(key) = external_key(jwk)? {
                keys.push(key);
            }
        }
        if keys.is_empty() {
            return Err(JwksError::NoUsableKeys);
        }
        Ok(Self {
            keys,
            required_type: None,
        })
    }

    /// Also require this JOSE `typ` (compared without regard to case). By default any
    /// `typ` is accepted, since issuers differ (`JWT`, `at+jwt`, none).
    pub fn require_type(mut self, typ: &str) -> Self {
        self.required_type = Some(typ.to_owned());
        self
    }

    /// The key ids this verifier knows, in JWKS order.
    pub fn kids(&self) -> impl Iterator<Item = Option<&str>> {
        self.keys.iter().map(|key| key.kid.as_deref())
    }

    /// Verifies a token: the header's `alg` must be the algorithm of the key its `kid`
    /// names (a token without `kid` is accepted only when the JWKS has one key).
    pub fn verify(
        &self,
        token: &str,
        expect: &Expectations<'_>,
    ) -> Result<ExternalClaims, TokenError> {
        let parts = Parts::split(token)?;
        let alg = match parts.header.alg.as_str() {
            "EdDSA" => JwsAlgorithm::EdDSA,
            "ES256" => JwsAlgorithm::ES256,
            "RS256" => JwsAlgorithm::RS256,
            _ => return Err(TokenError::UnsupportedAlgorithm),
        };
        if let Some(required) = &self.required_type
            && !parts
                .header
                .typ
                .as_deref()
                .is_some_and(|typ| typ.eq_ignore_ascii_case(required))
        {
            return Err(TokenError::WrongType);
        }
        let key = match parts.header.kid.as_deref() {
            Some(kid) => self.keys.iter().find(|key| key.kid.as_deref() == Some(kid)),
            None if self.keys.len() == 1 => self.keys.first(),
            None => None,
        }
        .ok_or(TokenError::UnknownKey)?;
        if key.alg != alg {
            return Err(TokenError::UnsupportedAlgorithm);
        }
        if key
            .key
            .verify_sig(parts.signing_input.as_bytes(), &parts.signature()?)
            .is_err()
        {
            return Err(TokenError::BadSignature);
        }
        let claims: ExternalClaims = parts.claims()?;
        check_issuer(&claims.iss, expect)?;
        if let Some(audience) = expect.audience
            && !claims.aud.iter().any(|aud| aud == audience)
        {
            return Err(TokenError::WrongAudience);
        }
        check_times(claims.exp, claims.nbf, claims.iat, expect)?;
        Ok(claims)
    }
}

fn external_key(
    jwk: &serde_json::Map<String, serde_json::Value>,
) -> Result<Option<ExternalKey>, JwksError> {
    use aws_lc_rs::signature::{
        ECDSA_P256_SHA256_FIXED, ED25519, ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256,
        RsaPublicKeyComponents,
    };

    let text = |name: &str| jwk.get(name).and_then(serde_json::Value::as_str);
    let kid = text("kid").map(str::to_owned);
    let invalid = |reason: &str| JwksError::InvalidKey {
        kid: kid.clone(),
        reason: reason.to_owned(),
    };
    let bytes = |name: &str| -> Result<Vec<u8>, JwksError> {
        let value = text(name).ok_or_else(|| invalid(&format!("missing {name}")))?;
        URL_SAFE_NO_PAD
            .decode(value)
            .map_err(|_| invalid(&format!("{name} is not base64url")))
    };
    if text("use").is_some_and(|usage| usage != "sig") {
        return Ok(None);
    }
    let declared = text("alg");
    let (alg, key) = match (text("kty"), text("crv")) {
        (Some("OKP"), Some("Ed25519")) if declared.is_none_or(|alg| alg == "EdDSA") => {
            let x = bytes("x")?;
            let key = ParsedPublicKey::new(&ED25519, x)
                .map_err(|rejected| invalid(&rejected.to_string()))?;
            (JwsAlgorithm::EdDSA, key)
        }
        (Some("EC"), Some("P-256")) if declared.is_none_or(|alg| alg == "ES256") => {
            let (x, y) = (bytes("x")?, bytes("y")?);
            if x.len() != 32 || y.len() != 32 {
                return Err(invalid("P-256 coordinates must be 32 bytes"));
            }
            let mut point = Vec::with_capacity(65);
            point.push(0x04);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            let key = ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)
                .map_err(|rejected| invalid(&rejected.to_string()))?;
            (JwsAlgorithm::ES256, key)
        }
        (Some("RSA"), _) if declared.is_none_or(|alg| alg == "RS256") => {
            let (n, e) = (bytes("n")?, bytes("e")?);
            // RFC 7518 forbids leading zeros, but some issuers emit them; aws-lc-rs
            // refuses them, so they are trimmed rather than failing the issuer.
            let trim = |value: &[u8]| -> Vec<u8> {
                let start = value.iter().position(|&b| b != 0).unwrap_or(value.len());
                value[start..].to_vec()
            };
            let components = RsaPublicKeyComponents {
                n: trim(&n),
                e: trim(&e),
            };
            let key = components
                .to_parsed_public_key(&RSA_PKCS1_2048_8192_SHA256)
                .map_err(|rejected| invalid(&rejected.to_string()))?;
            (JwsAlgorithm::RS256, key)
        }
        _ => return Ok(None),
    };
    Ok(Some(ExternalKey { kid, alg, key }))
}

/// The registered claims of an external token, and everything else it carried.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ExternalClaims {
    pub iss: String,
    pub sub: String,
    /// RFC 7519 allows one audience as a string or several as an array; both become a list.
    #[serde(default, deserialize_with = "one_or_many")]
    pub aud: Vec<String>,
    #[serde(deserialize_with = "numeric_date")]
    pub exp: i64,
    #[serde(default, deserialize_with = "optional_numeric_date")]
    pub nbf: Option<i64>,
    #[serde(default, deserialize_with = "optional_numeric_date")]
    pub iat: Option<i64>,
    #[serde(default)]
    pub jti: Option<String>,
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

fn one_or_many<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(deserializer)? {
        OneOrMany::One(aud) => vec![aud],
        OneOrMany::Many(auds) => auds,
    })
}

/// RFC 7519 NumericDate may carry a fraction; it is truncated to whole seconds.
fn numeric_date<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    let value = serde_json::Number::deserialize(deserializer)?;
    if let Some(seconds) = value.as_i64() {
        return Ok(seconds);
    }
    match value.as_f64() {
        Some(seconds) if seconds.is_finite() && seconds.abs() < 1e15 =>
        {
            #[allow(clippy::cast_possible_truncation)]
            Ok(seconds.trunc() as i64)
        }
        _ => Err(serde::de::Error::custom("NumericDate out of range")),
    }
}

fn optional_numeric_date<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<i64>, D::Error> {
    numeric_date(deserializer).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::SigningKey;

    const NOW: i64 = 1_750_000_000;
    const ISSUER: &str = "https://warden.example";
    const AUDIENCE: &str = "https://crm.example";

    fn ring() -> KeyRing {
        KeyRing::generate(NOW, 900).unwrap_or_else(|e| panic!("{e}"))
    }

    fn claims() -> AccessClaims {
        AccessClaims {
            iss: ISSUER.into(),
            sub: "agent-1".into(),
            aud: AUDIENCE.into(),
            exp: NOW + 300,
            iat: NOW,
            nbf: Some(NOW),
            jti: "jti-1".into(),
            client_id: "client-1".into(),
            cred: None,
            scope: Some("tickets.read tickets.write".into()),
            act: Some(Actor {
                sub: "user-1".into(),
                iss: None,
                act: None,
            }),
            may_act: None,
            authorization_details: Some(vec![AuthorizationDetail::WardenTask(TaskDetail {
                task_id: "task-7".into(),
                actions: vec!["tickets.read".into()],
                resources: vec!["Ticket::\"123\"".into()],
            })]),
            owner: Some("alice@example.com".into()),
            env: Some("prod".into()),
            ancestors: Vec::new(),
        }
    }

    fn expect(now: i64) -> Expectations<'static> {
        Expectations {
            issuer: ISSUER,
            audience: Some(AUDIENCE),
            now,
            leeway_secs: 30,
        }
    }

    fn issued(ring: &KeyRing, claims: &AccessClaims) -> String {
        issue(ring, claims).unwrap_or_else(|e| panic!("{e}"))
    }

    fn b64(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    fn decoded_json(part: &str) -> serde_json::Value {
        let bytes = URL_SAFE_NO_PAD
            .decode(part)
            .unwrap_or_else(|e| panic!("{e}"));
        serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{e}"))
    }

    /// A token with the given header, the claims, and a signature by `key` over both.
    fn signed_with(key: &SigningKey, header: &serde_json::Value, claims: &AccessClaims) -> String {
        let payload = serde_json::to_vec(claims).unwrap_or_else(|e| panic!("{e}"));
        let input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(&payload));
        let signature = key.sign(input.as_bytes());
        format!("{input}.{}", b64(signature.as_ref()))
    }

    #[test]
    fn round_trip() -> Result<(), TokenError> {
        let ring = ring();
        let token = issued(&ring, &claims());
        assert_eq!(verify(&ring, &token, &expect(NOW))?, claims());
        Ok(())
    }

    #[test]
    fn header_is_rfc_9068() {
        let ring = ring();
        let token = issued(&ring, &claims());
        let header = decoded_json(token.split('.').next().unwrap_or_default());
        assert_eq!(
            header,
            serde_json::json!({"alg": "EdDSA", "typ": "at+jwt", "kid": ring.active().kid()})
        );
    }

    #[test]
    fn claims_serialise_as_the_standards_name_them() {
        let ring = ring();
        let token = issued(&ring, &claims());
        let payload = decoded_json(token.split('.').nth(1).unwrap_or_default());
        assert_eq!(payload["act"], serde_json::json!({"sub": "user-1"}));
        assert_eq!(
            payload["authorization_details"],
            serde_json::json!([{
                "type": "warden_task",
                "task_id": "task-7",
                "actions": ["tickets.read"],
                "resources": ["Ticket::\"123\""],
            }])
        );
        assert_eq!(payload["aud"], AUDIENCE);
        assert!(payload.get("may_act").is_none());
    }

    #[test]
    fn minimal_claims_round_trip() -> Result<(), TokenError> {
        let ring = ring();
        let minimal = AccessClaims {
            nbf: None,
            scope: None,
            act: None,
            authorization_details: None,
            owner: None,
            env: None,
            cred: None,
            ..claims()
        };
        let token = issued(&ring, &minimal);
        assert_eq!(verify(&ring, &token, &expect(NOW))?, minimal);
        assert_eq!(minimal.scopes().count(), 0);
        assert_eq!(minimal.tasks().count(), 0);
        Ok(())
    }

    #[test]
    fn scopes_and_tasks_are_read_back() {
        let claims = claims();
        assert_eq!(
            claims.scopes().collect::<Vec<_>>(),
            ["tickets.read", "tickets.write"]
        );
        assert_eq!(
            claims
                .tasks()
                .map(|t| t.task_id.as_str())
                .collect::<Vec<_>>(),
            ["task-7"]
        );
    }

    #[test]
    fn alg_none_is_refused() {
        let ring = ring();
        let header =
            serde_json::json!({"alg": "none", "typ": "at+jwt", "kid": ring.active().kid()});
        let payload = serde_json::to_vec(&claims()).unwrap_or_else(|e| panic!("{e}"));
        for signature in ["", "AAAA"] {
            let token = format!(
                "{}.{}.{signature}",
                b64(header.to_string().as_bytes()),
                b64(&payload)
            );
            assert_eq!(
                verify(&ring, &token, &expect(NOW)),
                Err(TokenError::UnsupportedAlgorithm)
            );
        }
    }

    #[test]
    fn hs256_keyed_with_the_public_key_is_refused() {
        let ring = ring();
        let key = ring.active();
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        header.typ = Some("at+jwt".into());
        header.kid = Some(key.kid().into());
        for secret in [
            key.public_key().to_vec(),
            b64(key.public_key()).into_bytes(),
            key.jwk().to_string().into_bytes(),
        ] {
            let token = jsonwebtoken::encode(
                &header,
                &claims(),
                &jsonwebtoken::EncodingKey::from_secret(&secret),
            )
            .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                verify(&ring, &token, &expect(NOW)),
                Err(TokenError::UnsupportedAlgorithm)
            );
        }
    }

    #[test]
    fn other_algorithms_and_lookalike_spellings_are_refused() {
        let ring = ring();
        let key = ring.active();
        for alg in ["eddsa", "EDDSA", "Ed25519", "ES256", "RS256", "HS512", ""] {
            let header = serde_json::json!({"alg": alg, "typ": "at+jwt", "kid": key.kid()});
            let token = signed_with(key, &header, &claims());
            assert_eq!(
                verify(&ring, &token, &expect(NOW)),
                Err(TokenError::UnsupportedAlgorithm),
                "{alg}"
            );
        }
    }

    #[test]
    fn typ_must_be_at_jwt() -> Result<(), TokenError> {
        let ring = ring();
        let key = ring.active();
        for typ in [serde_json::json!("JWT"), serde_json::json!(null)] {
            let header = serde_json::json!({"alg": "EdDSA", "typ": typ, "kid": key.kid()});
            let token = signed_with(key, &header, &claims());
            assert_eq!(
                verify(&ring, &token, &expect(NOW)),
                Err(TokenError::WrongType)
            );
        }
        let header = serde_json::json!({"alg": "EdDSA", "kid": key.kid()});
        let token = signed_with(key, &header, &claims());
        assert_eq!(
            verify(&ring, &token, &expect(NOW)),
            Err(TokenError::WrongType)
        );
        for typ in ["AT+JWT", "application/at+jwt"] {
            let header = serde_json::json!({"alg": "EdDSA", "typ": typ, "kid": key.kid()});
            verify(&ring, &signed_with(key, &header, &claims()), &expect(NOW))?;
        }
        Ok(())
    }

    #[test]
    fn unknown_or_missing_kid_is_refused() -> Result<(), KeyError> {
        let ring = ring();
        let stranger = SigningKey::generate(NOW)?;
        let token = signed_with(
            &stranger,
            &serde_json::json!({"alg": "EdDSA", "typ": "at+jwt", "kid": stranger.kid()}),
            &claims(),
        );
        assert_eq!(
            verify(&ring, &token, &expect(NOW)),
            Err(TokenError::UnknownKey)
        );
        let token = signed_with(
            ring.active(),
            &serde_json::json!({"alg": "EdDSA", "typ": "at+jwt"}),
            &claims(),
        );
        assert_eq!(
            verify(&ring, &token, &expect(NOW)),
            Err(TokenError::UnknownKey)
        );
        Ok(())
    }

    use crate::signing::KeyError;

    #[test]
    fn a_stranger_signing_under_our_kid_fails_the_signature() -> Result<(), KeyError> {
        let ring = ring();
        let stranger = SigningKey::generate(NOW)?;
        let token = signed_with(
            &stranger,
            &serde_json::json!({"alg": "EdDSA", "typ": "at+jwt", "kid": ring.active().kid()}),
            &claims(),
        );
        assert_eq!(
            verify(&ring, &token, &expect(NOW)),
            Err(TokenError::BadSignature)
        );
        Ok(())
    }

    #[test]
    fn tampered_payload_fails_the_signature() {
        let ring = ring();
        let token = issued(&ring, &claims());
        let parts: Vec<&str> = token.split('.').collect();
        let mut forged = claims();
        forged.sub = "agent-admin".into();
        let payload = serde_json::to_vec(&forged).unwrap_or_else(|e| panic!("{e}"));
        let token = format!("{}.{}.{}", parts[0], b64(&payload), parts[2]);
        assert_eq!(
            verify(&ring, &token, &expect(NOW)),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn tampered_signature_fails() {
        let ring = ring();
        let token = issued(&ring, &claims());
        let (input, signature) = token.rsplit_once('.').unwrap_or_default();
        let mut bytes = URL_SAFE_NO_PAD
            .decode(signature)
            .unwrap_or_else(|e| panic!("{e}"));
        bytes[10] ^= 1;
        let token = format!("{input}.{}", b64(&bytes));
        assert_eq!(
            verify(&ring, &token, &expect(NOW)),
            Err(TokenError::BadSignature)
        );
        let token = format!("{input}.{}", b64(&bytes[..63]));
        assert_eq!(
            verify(&ring, &token, &expect(NOW)),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn malformed_tokens_are_refused_as_malformed() {
        let ring = ring();
        let token = issued(&ring, &claims());
        let cases = [
            String::new(),
            "abc".into(),
            "a.b".into(),
            format!("{token}.extra"),
            format!("{token}=="),
            format!("{token}!"),
            format!("x{token}"),
            format!(
                "{}.{}",
                b64(br#"{"alg":"EdDSA","typ":"at+jwt","crit":["exp"],"kid":"k"}"#),
                token
                    .split_once('.')
                    .map(|(_, rest)| rest)
                    .unwrap_or_default()
            ),
            format!(
                "{}.{}",
                b64(br#"{"alg":"EdDSA","alg":"none","typ":"at+jwt"}"#),
                token
                    .split_once('.')
                    .map(|(_, rest)| rest)
                    .unwrap_or_default()
            ),
            "a".repeat(MAX_TOKEN_LEN + 1),
        ];
        for case in cases {
            assert!(
                matches!(
                    verify(&ring, &case, &expect(NOW)),
                    Err(TokenError::Malformed(_))
                ),
                "{case:.80}"
            );
        }
    }

    #[test]
    fn unknown_authorization_detail_types_are_refused() {
        let ring = ring();
        let key = ring.active();
        let mut payload = serde_json::to_value(claims()).unwrap_or_else(|e| panic!("{e}"));
        payload["authorization_details"] =
            serde_json::json!([{"type": "payment_initiation", "amount": "10"}]);
        let header = serde_json::json!({"alg": "EdDSA", "typ": "at+jwt", "kid": key.kid()});
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(payload.to_string().as_bytes())
        );
        let token = format!("{input}.{}", b64(key.sign(input.as_bytes()).as_ref()));
        assert_eq!(
            verify(&ring, &token, &expect(NOW)),
            Err(TokenError::Malformed("claims do not parse"))
        );
        // A warden_task with fields it should not have is refused as well.
        payload["authorization_details"] = serde_json::json!([{
            "type": "warden_task", "task_id": "t", "actions": [], "resources": [], "admin": true
        }]);
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(payload.to_string().as_bytes())
        );
        let token = format!("{input}.{}", b64(key.sign(input.as_bytes()).as_ref()));
        assert!(matches!(
            verify(&ring, &token, &expect(NOW)),
            Err(TokenError::Malformed(_))
        ));
    }

    #[test]
    fn expiry_and_not_before_respect_the_leeway() -> Result<(), TokenError> {
        let ring = ring();
        let token = issued(&ring, &claims());
        // exp = NOW + 300, leeway 30.
        verify(&ring, &token, &expect(NOW + 329))?;
        assert_eq!(
            verify(&ring, &token, &expect(NOW + 330)),
            Err(TokenError::Expired)
        );
        // nbf = iat = NOW.
        verify(&ring, &token, &expect(NOW - 30))?;
        assert_eq!(
            verify(&ring, &token, &expect(NOW - 31)),
            Err(TokenError::NotYetValid)
        );
        let strict = Expectations {
            leeway_secs: 0,
            ..expect(NOW + 300)
        };
        assert_eq!(verify(&ring, &token, &strict), Err(TokenError::Expired));
        Ok(())
    }

    #[test]
    fn issued_in_the_future_is_not_yet_valid() {
        let ring = ring();
        let future = AccessClaims {
            iat: NOW + 120,
            nbf: None,
            exp: NOW + 400,
            ..claims()
        };
        let token = issued(&ring, &future);
        assert_eq!(
            verify(&ring, &token, &expect(NOW)),
            Err(TokenError::NotYetValid)
        );
    }

    #[test]
    fn wrong_issuer_and_audience_are_refused() -> Result<(), TokenError> {
        let ring = ring();
        let token = issued(&ring, &claims());
        let other_issuer = Expectations {
            issuer: "https://evil.example",
            ..expect(NOW)
        };
        assert_eq!(
            verify(&ring, &token, &other_issuer),
            Err(TokenError::WrongIssuer)
        );
        let other_audience = Expectations {
            audience: Some("https://billing.example"),
            ..expect(NOW)
        };
        assert_eq!(
            verify(&ring, &token, &other_audience),
            Err(TokenError::WrongAudience)
        );
        let any_audience = Expectations {
            audience: None,
            ..expect(NOW)
        };
        verify(&ring, &token, &any_audience)?;
        Ok(())
    }

    #[test]
    fn rotation_keeps_old_tokens_verifiable_until_pruned() -> Result<(), Box<dyn std::error::Error>>
    {
        let mut ring = ring();
        let old_token = issued(&ring, &claims());
        let old_kid = ring.active().kid().to_owned();
        ring.rotate(NOW + 10)?;
        let new_token = issued(&ring, &claims());
        assert_ne!(ring.active().kid(), old_kid);
        assert_eq!(verify(&ring, &old_token, &expect(NOW + 20))?, claims());
        assert_eq!(verify(&ring, &new_token, &expect(NOW + 20))?, claims());
        assert!(ring.prune(NOW + 20).is_empty());
        assert_eq!(ring.prune(NOW + 10 + 900), vec![old_kid]);
        assert_eq!(
            verify(&ring, &old_token, &expect(NOW + 20)),
            Err(TokenError::UnknownKey)
        );
        verify(&ring, &new_token, &expect(NOW + 20))?;
        Ok(())
    }

    #[test]
    fn a_ring_restored_from_pkcs8_verifies_tokens_of_the_original()
    -> Result<(), Box<dyn std::error::Error>> {
        let ring = ring();
        let token = issued(&ring, &claims());
        let restored = SigningKey::from_pkcs8(&ring.active().export_pkcs8()?, NOW)?;
        let restored = KeyRing::from_keys(vec![restored], 900)?;
        assert_eq!(verify(&restored, &token, &expect(NOW))?, claims());
        assert_eq!(
            issued(&restored, &claims()),
            token,
            "Ed25519 is deterministic"
        );
        Ok(())
    }

    #[test]
    fn jsonwebtoken_tokens_from_our_pkcs8_verify() -> Result<(), Box<dyn std::error::Error>> {
        let ring = ring();
        let key = ring.active();
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
        header.typ = Some("at+jwt".into());
        header.kid = Some(key.kid().into());
        let token = jsonwebtoken::encode(
            &header,
            &claims(),
            &jsonwebtoken::EncodingKey::from_ed_der(&key.export_pkcs8()?),
        )?;
        assert_eq!(verify(&ring, &token, &expect(NOW))?, claims());
        Ok(())
    }
}
