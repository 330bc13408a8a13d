//! Client authentication at the OAuth endpoints: `client_secret_basic`,
//! `client_secret_post` and `private_key_jwt` (RFC 7523), exactly one per request.
//!
//! A client secret is checked offline first (prefix, length, checksum), then hashed under
//! the pepper and looked up through the unique index on the hash, so the comparison is of
//! keyed hashes and says nothing about how close a guess was. Every failure counts against
//! the source address and against the (client id, source address) pair in the
//! `FailureLimiter`, never against the client id alone, so a guesser throttles only itself:
//! the holder of the right credential, from an address without failures, is never held
//! back. Every failure is recorded as a `token.refused` event and answered with a bare
//! `invalid_client`.
//!
//! A `private_key_jwt` assertion is accepted once, ever: its `jti` is marked used in the
//! database (on every node, across restarts) until the assertion could no longer be valid.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use uuid::Uuid;
use warden_audit::{Actor, EventKind, NewEvent};
use warden_core::{IdentityId, IdentityRef, Timestamp};
use warden_crypto::jwt::Expectations;
use warden_crypto::{ExternalVerifier, SecretKind};
use warden_plane::ratelimit::FailureKeys;
use warden_store::{Credential, CredentialKind, IdentityState};

use super::{ASSERTION_TYPE_JWT_BEARER, OAuthError, OAuthRequest, TOKEN_PATH};
use crate::state::AppState;

/// The domain label client secrets are hashed under.
pub const CLIENT_SECRET_DOMAIN: &str = "warden.client-secret";
/// Client assertions may live at most this long (RFC 7523 asks for short lifetimes).
const MAX_ASSERTION_LIFETIME_SECS: i64 = 600;

/// A client that proved who it is.
#[derive(Debug, Clone)]
pub struct AuthenticatedClient {
    pub identity: IdentityState,
    pub credential: Credential,
}

impl AuthenticatedClient {
    pub fn client_id(&self) -> &str {
        &self.identity.id
    }

    pub fn actor(&self) -> Actor {
        Actor::agent(self.identity.id.clone(), self.identity.name.clone())
    }
}

enum Presented {
    Secret {
        client_id: String,
        secret: String,
    },
    Assertion {
        client_id: String,
        assertion: String,
    },
}

/// Why authentication failed, for the log and the audit trail only.
struct Failure(String);

fn percent_decoded(text: &str) -> Option<String> {
    // RFC 6749 §2.3.1: Basic credentials are form-urlencoded before base64.
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(&format!("v={}", text.replace('&', "%26"))).ok()?;
    pairs.into_iter().next().map(|(_, value)| value)
}

fn presented(request: &OAuthRequest) -> Result<Presented, OAuthError> {
    let basic = request
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            let (scheme, rest) = value.split_once(' ')?;
            scheme.eq_ignore_ascii_case("basic").then(|| rest.trim())
        });
    let form_secret = request.param("client_secret");
    let assertion = request.param("client_assertion");
    let methods = usize::from(basic.is_some())
        + usize::from(form_secret.is_some())
        + usize::from(assertion.is_some());
    if methods > 1 {
        return Err(OAuthError::invalid_request(
            "use exactly one client authentication method",
        ));
    }
    if let Some(encoded) = basic {
        let decoded = STANDARD
            .decode(encoded)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(OAuthError::invalid_client)?;
        let (id, secret) = decoded
            .split_once(':')
            .ok_or_else(OAuthError::invalid_client)?;
        let client_id = percent_decoded(id).ok_or_else(OAuthError::invalid_client)?;
        let secret = percent_decoded(secret).ok_or_else(OAuthError::invalid_client)?;
        if let Some(form_id) = request.param("client_id")
            && form_id != client_id
        {
            return Err(OAuthError::invalid_request(
                "client_id in the form differs from the authenticated client",
            ));
        }
        return Ok(Presented::Secret { client_id, secret });
    }
    if let Some(secret) = form_secret {
        let client_id = request.required("client_id")?.to_string();
        return Ok(Presented::Secret {
            client_id,
            secret: secret.to_string(),
        });
    }
    if let Some(assertion) = assertion {
        if request.param("client_assertion_type") != Some(ASSERTION_TYPE_JWT_BEARER) {
            return Err(OAuthError::invalid_request(format!(
                "client_assertion_type must be {ASSERTION_TYPE_JWT_BEARER}"
            )));
        }
        let client_id = match request.param("client_id") {
            Some(id) => id.to_string(),
            None => unverified_subject(assertion).ok_or_else(OAuthError::invalid_client)?,
        };
        return Ok(Presented::Assertion {
            client_id,
            assertion: assertion.to_string(),
        });
    }
    Err(OAuthError::invalid_client())
}

/// The `sub` of a JWT, read without verifying anything, only to know whose key to try.
fn unverified_subject(token: &str) -> Option<String> {
    if token.len() > warden_crypto::jwt::MAX_TOKEN_LEN {
        return None;
    }
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    value.get("sub")?.as_str().map(str::to_string)
}

/// Authenticates the client of `request` or refuses it (rate-limited, recorded).
pub(crate) async fn authenticate(
    state: &AppState,
    request: &OAuthRequest,
    now: Timestamp,
) -> Result<AuthenticatedClient, OAuthError> {
    let presented = presented(request)?;
    let client_id = match &presented {
        Presented::Secret { client_id, .. } | Presented::Assertion { client_id, .. } => {
            client_id.clone()
        }
    };
    let keys = FailureKeys::new(&client_id, request.source);
    let limiter = &state.credentials.limiter;
    if let Some(wait) = limiter.retry_after(&keys, now.as_millis()) {
        // Not recorded one by one: a flood must not turn into a flood of audit writes. The
        // failures that emptied the bucket are recorded.
        tracing::debug!(client_id = %client_id, "client authentication rate limited");
        return Err(OAuthError::rate_limited(wait));
    }
    match verify(state, &presented, &client_id, now).await {
        Ok(client) => Ok(client),
        Err(Verdict::Unavailable(detail)) => {
            tracing::error!(%detail, "client authentication could not reach the store");
            Err(OAuthError::unavailable())
        }
        Err(Verdict::Refused(Failure(reason))) => {
            limiter.fail(&keys, now.as_millis());
            tracing::warn!(client_id = %client_id, %reason, "client authentication failed");
            refused(state, request, &client_id, &reason, now).await;
            Err(OAuthError::invalid_client())
        }
    }
}

/// Records a refusal at the token endpoints. If even that fails, the log has it.
pub(crate) async fn refused(
    state: &AppState,
    request: &OAuthRequest,
    client_id: &str,
    reason: &str,
    now: Timestamp,
) {
    let actor = match state
        .credentials
        .tokens
        .revocations
        .current()
        .identity(client_id)
    {
        Some(identity) => Actor::agent(identity.id.clone(), identity.name.clone()),
        None => Actor::system("oauth"),
    };
    metrics::counter!("warden_tokens_refused_total").increment(1);
    let mut event = NewEvent::new(EventKind::TokenRefused, actor).reason(reason.to_string());
    if let Some(address) = request.source {
        event = event.source(address);
    }
    if let Err(error) = state.store.record(event, now).await {
        tracing::error!(%error, "cannot record a token refusal");
    }
}

enum Verdict {
    Refused(Failure),
    Unavailable(String),
}

impl From<warden_store::StoreError> for Verdict {
    fn from(error: warden_store::StoreError) -> Self {
        match error {
            warden_store::StoreError::Domain(error) => Self::Refused(Failure(error.to_string())),
            other => Self::Unavailable(other.to_string()),
        }
    }
}

fn refuse(reason: impl Into<String>) -> Verdict {
    Verdict::Refused(Failure(reason.into()))
}

async fn verify(
    state: &AppState,
    presented: &Presented,
    client_id: &str,
    now: Timestamp,
) -> Result<AuthenticatedClient, Verdict> {
    let credential = match presented {
        Presented::Secret { secret, .. } => {
            if warden_crypto::secret::recognise(secret) != Ok(SecretKind::ClientSecret) {
                return Err(refuse("not a Warden client secret"));
            }
            let hash = super::client_secret_hash(
                &state.pepper,
                &warden_crypto::Secret::new(secret.clone()),
            );
            let Some(credential) = state.store.credential_by_secret_hash(&hash).await? else {
                return Err(refuse("unknown client secret"));
            };
            if credential.identity_id != client_id
                || credential.kind != CredentialKind::ClientSecret
            {
                return Err(refuse("the secret belongs to another client"));
            }
            credential
        }
        Presented::Assertion { assertion, .. } => {
            verify_assertion(state, client_id, assertion, now).await?
        }
    };
    if !credential.is_usable(now) {
        return Err(refuse(format!(
            "credential {} is {} or expired",
            credential.id,
            credential.status.as_str()
        )));
    }
    let mut revocations = state.credentials.tokens.revocations.current();
    if revocations.identity(client_id).is_none() {
        // Registered since the last refresh (here or on another node): read it now. The
        // token endpoint may touch the store; only verification may not.
        state.credentials.refresh(&*state.store, now).await?;
        revocations = state.credentials.tokens.revocations.current();
    }
    if let Err(revoked) = revocations.check_identity(client_id, now) {
        return Err(refuse(revoked.to_string()));
    }
    let Some(identity) = revocations.identity(client_id).cloned() else {
        return Err(refuse("unknown client"));
    };
    Ok(AuthenticatedClient {
        identity,
        credential,
    })
}

async fn verify_assertion(
    state: &AppState,
    client_id: &str,
    assertion: &str,
    now: Timestamp,
) -> Result<Credential, Verdict> {
    let Ok(uuid) = Uuid::parse_str(client_id) else {
        return Err(refuse("client_id is not a Warden client id"));
    };
    let credentials = state
        .store
        .list_credentials(&IdentityRef::Id(IdentityId(uuid)))
        .await?;
    let issuer = &state.credentials.settings.tokens.issuer;
    let token_endpoint = format!("{issuer}{TOKEN_PATH}");
    let expect = Expectations {
        issuer: client_id,
        audience: None,
        now: now.as_secs(),
        leeway_secs: state.credentials.settings.tokens.leeway_secs,
    };
    for credential in credentials {
        if credential.kind != CredentialKind::PrivateKeyJwt || !credential.is_usable(now) {
            continue;
        }
        let Some(jwk) = &credential.public_jwk else {
            continue;
        };
        let Ok(verifier) =
            ExternalVerifier::from_jwks(&serde_json::json!({ "keys": [jwk] }).to_string())
        else {
            continue;
        };
        let Ok(claims) = verifier.verify(assertion, &expect) else {
            continue;
        };
        if claims.sub != client_id {
            return Err(refuse("assertion sub is not the client"));
        }
        if !claims
            .aud
            .iter()
            .any(|aud| aud == &token_endpoint || aud == issuer)
        {
            return Err(refuse("assertion audience is not this server"));
        }
        if claims.exp - now.as_secs() > MAX_ASSERTION_LIFETIME_SECS {
            return Err(refuse("assertion lives too long"));
        }
        let Some(jti) = &claims.jti else {
            return Err(refuse("assertion has no jti"));
        };
        if !state
            .credentials
            .first_use_of_assertion(&*state.store, client_id, jti, claims.exp, now)
            .await?
        {
            return Err(refuse("assertion replayed"));
        }
        return Ok(credential);
    }
    Err(refuse("no registered key verifies the assertion"))
}
