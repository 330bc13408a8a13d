//! Owners sign in with OpenID Connect: the authorization code flow with PKCE (RFC 7636,
//! `S256`) against the provider in `[dashboard.oidc]`.
//!
//! What makes a sign-in trustworthy, each checked here:
//! - the provider's metadata names the configured issuer (OIDC Discovery §4.3), and its
//!   keys come from its own `jwks_uri`;
//! - the `state` that comes back was made by this node for this browser: it is single use,
//!   ten minutes at most, and bound to a random cookie the browser got when it left (so a
//!   callback URL planted in someone else's browser signs nobody in);
//! - the code is redeemed with the PKCE verifier only this node knows, so an intercepted
//!   code is useless;
//! - the ID token is signed by one of the provider's keys, is for this client (`aud`, and
//!   `azp` when there are several audiences), is current, and carries the nonce of this
//!   attempt;
//! - its email is not marked unverified, and names an active owner in the inventory.
//!
//! Nothing the provider returns is shown back except its error code; tokens are never
//! logged or kept: the session that results knows only the owner.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use subtle::ConstantTimeEq as _;
use warden_core::Timestamp;
use warden_crypto::jwt::{Expectations, ExternalVerifier};
use zeroize::Zeroizing;

use crate::config::OidcConfig;

/// The cookie that binds a sign-in in progress to the browser that started it.
pub const ATTEMPT_COOKIE: &str = "warden_oidc";
/// Where the provider sends the browser back, under the dashboard.
pub const CALLBACK_PATH: &str = "/ui/oidc/callback";
/// How long a sign-in may take, from leaving for the provider to coming back.
pub const ATTEMPT_SECS: i64 = 600;
/// Sign-ins in progress at most; the oldest is dropped beyond it.
const MAX_ATTEMPTS: usize = 1024;
/// How long the provider's metadata and keys are used before they are read again.
const PROVIDER_TTL_SECS: i64 = 3600;
/// Tolerated clock skew on the ID token's times.
const LEEWAY_SECS: i64 = 60;
/// The largest answer read from the provider.
const MAX_ANSWER_BYTES: usize = 1024 * 1024;

/// Why a sign-in did not happen, in words for the person trying.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    #[error(
        "the identity provider cannot be reached or answered something unusable ({0}); try again, or ask an administrator to check [dashboard.oidc]"
    )]
    Provider(String),
    #[error(
        "this sign-in was not started here, was already used, or took longer than ten minutes; start again"
    )]
    UnknownAttempt,
    #[error("the identity provider refused the sign-in ({0})")]
    Refused(String),
    #[error(
        "the identity provider's answer does not prove who you are ({0}); nothing was signed in"
    )]
    BadToken(&'static str),
    #[error("your email at the identity provider is not verified")]
    Unverified,
    #[error("the identity provider gave no email, so no owner can be found")]
    NoEmail,
}

/// The provider's endpoints and keys, as last read.
struct Provider {
    authorization_endpoint: String,
    token_endpoint: String,
    keys: ExternalVerifier,
    read_at: Timestamp,
}

/// One sign-in in progress, by its `state`.
struct Attempt {
    /// The keyed hash of the attempt cookie's value.
    browser: [u8; 32],
    verifier: Zeroizing<String>,
    nonce: String,
    started: Timestamp,
}

/// The owner sign-in of this node.
pub struct OwnerSignIn {
    issuer: String,
    client_id: String,
    client_secret: Option<Zeroizing<String>>,
    redirect_url: String,
    email_claim: String,
    http: reqwest::Client,
    pepper: warden_crypto::Pepper,
    provider: tokio::sync::Mutex<Option<Provider>>,
    attempts: Mutex<HashMap<String, Attempt>>,
}

impl std::fmt::Debug for OwnerSignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OwnerSignIn")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("redirect_url", &self.redirect_url)
            .finish_non_exhaustive()
    }
}

/// What the browser is sent to the provider with.
pub struct Departure {
    /// The provider's authorization URL for this attempt.
    pub url: String,
    /// The attempt cookie's value.
    pub cookie_value: String,
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
    #[serde(default)]
    code_challenge_methods_supported: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct TokenAnswer {
    #[serde(default)]
    id_token: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

impl OwnerSignIn {
    /// Checks `[dashboard.oidc]` and reads the client secret file; the provider itself is
    /// read at the first sign-in, so Warden starts while it is away.
    pub fn resolve(
        config: &OidcConfig,
        public_url: &str,
        pepper: warden_crypto::Pepper,
    ) -> anyhow::Result<Self> {
        let issuer = config.issuer.trim_end_matches('/').to_string();
        check_url("[dashboard.oidc] issuer", &issuer)?;
        anyhow::ensure!(
            !config.client_id.trim().is_empty(),
            "[dashboard.oidc] client_id is empty; give the client id registered at the provider"
        );
        let client_secret = match &config.client_secret_file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|error| {
                    anyhow::anyhow!(
                        "[dashboard.oidc] client_secret_file {} cannot be read: {error}",
                        path.display()
                    )
                })?;
                let secret = text.trim().to_string();
                anyhow::ensure!(
                    !secret.is_empty(),
                    "[dashboard.oidc] client_secret_file {} is empty",
                    path.display()
                );
                Some(Zeroizing::new(secret))
            }
            None => None,
        };
        let redirect_url = config
            .redirect_url
            .clone()
            .unwrap_or_else(|| format!("{}{CALLBACK_PATH}", public_url.trim_end_matches('/')));
        check_url("[dashboard.oidc] redirect_url", &redirect_url)?;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|error| anyhow::anyhow!("cannot make the OIDC client: {error}"))?;
        Ok(Self {
            issuer,
            client_id: config.client_id.trim().to_string(),
            client_secret,
            redirect_url,
            email_claim: config
                .email_claim
                .clone()
                .unwrap_or_else(|| "email".to_string()),
            http,
            pepper,
            provider: tokio::sync::Mutex::new(None),
            attempts: Mutex::new(HashMap::new()),
        })
    }

    /// The provider's issuer, as shown on the sign-in page.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Starts a sign-in: a fresh state, nonce and PKCE verifier, kept for this browser.
    pub async fn depart(&self, now: Timestamp) -> Result<Departure, SignInError> {
        let authorization_endpoint = {
            let mut provider = self.provider.lock().await;
            self.current(&mut provider, now, false).await?;
            provider
                .as_ref()
                .map(|provider| provider.authorization_endpoint.clone())
                .ok_or_else(|| SignInError::Provider("no metadata".into()))?
        };
        let state = random_text();
        let nonce = random_text();
        let verifier = Zeroizing::new(random_text());
        let challenge = URL_SAFE_NO_PAD.encode(warden_crypto::sha256(verifier.as_bytes()));
        let cookie_value = random_text();
        let attempt = Attempt {
            browser: self.browser_key(&cookie_value),
            verifier,
            nonce: nonce.clone(),
            started: now,
        };
        {
            let mut attempts = self.lock_attempts();
            attempts.retain(|_, attempt| !expired(attempt, now));
            if attempts.len() >= MAX_ATTEMPTS
                && let Some(oldest) = attempts
                    .iter()
                    .min_by_key(|(_, attempt)| attempt.started)
                    .map(|(state, _)| state.clone())
            {
                attempts.remove(&oldest);
            }
            attempts.insert(state.clone(), attempt);
        }
        let query = serde_urlencoded::to_string([
            ("response_type", "code"),
            ("client_id", self.client_id.as_str()),
            ("redirect_uri", self.redirect_url.as_str()),
            ("scope", "openid email"),
            ("state", state.as_str()),
            ("nonce", nonce.as_str()),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ])
        .map_err(|error| SignInError::Provider(error.to_string()))?;
        let separator = if authorization_endpoint.contains('?') {
            '&'
        } else {
            '?'
        };
        Ok(Departure {
            url: format!("{authorization_endpoint}{separator}{query}"),
            cookie_value,
        })
    }

    /// Finishes a sign-in that came back with `state` and `code` in a browser holding the
    /// attempt cookie `cookie_value`: the owner's email, once everything checks.
    pub async fn arrive(
        &self,
        state: &str,
        code: &str,
        cookie_value: Option<&str>,
        now: Timestamp,
    ) -> Result<String, SignInError> {
        // Single use: the attempt is gone whatever happens next.
        let attempt = self
            .lock_attempts()
            .remove(state)
            .ok_or(SignInError::UnknownAttempt)?;
        let same_browser = cookie_value
            .is_some_and(|value| bool::from(self.browser_key(value).ct_eq(&attempt.browser)));
        if !same_browser || expired(&attempt, now) {
            return Err(SignInError::UnknownAttempt);
        }
        let token_endpoint = {
            let mut provider = self.provider.lock().await;
            self.current(&mut provider, now, false).await?;
            provider
                .as_ref()
                .map(|provider| provider.token_endpoint.clone())
                .ok_or_else(|| SignInError::Provider("no metadata".into()))?
        };
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", self.redirect_url.as_str()),
            ("code_verifier", attempt.verifier.as_str()),
        ];
        if self.client_secret.is_none() {
            form.push(("client_id", self.client_id.as_str()));
        }
        let encoded = serde_urlencoded::to_string(&form)
            .map_err(|error| SignInError::Provider(error.to_string()))?;
        let mut request = self
            .http
            .post(&token_endpoint)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(encoded);
        if let Some(secret) = &self.client_secret {
            // RFC 6749 §2.3.1: both halves form-encoded before they are joined.
            let user = form_encode(&self.client_id);
            let password = form_encode(secret);
            request = request.basic_auth(user, Some(password));
        }
        let answer = request
            .send()
            .await
            .map_err(|error| SignInError::Provider(without_url(&error)))?;
        let status = answer.status();
        let bytes = read_limited(answer).await?;
        let answer: TokenAnswer = serde_json::from_slice(&bytes).map_err(|_| {
            SignInError::Provider(format!("the token endpoint answered {status} without JSON"))
        })?;
        if let Some(error) = answer.error {
            return Err(SignInError::Refused(short_code(&error)));
        }
        let id_token = answer
            .id_token
            .ok_or(SignInError::BadToken("the token endpoint sent no ID token"))?;
        let claims = self.verify(&id_token, now).await?;
        let audiences_ok = claims.aud.len() == 1
            || claims
                .other
                .get("azp")
                .and_then(serde_json::Value::as_str)
                .is_some_and(|azp| azp == self.client_id);
        if !audiences_ok {
            return Err(SignInError::BadToken(
                "the ID token has several audiences and does not name this client as its party",
            ));
        }
        let nonce_ok = claims
            .other
            .get("nonce")
            .and_then(serde_json::Value::as_str)
            .is_some_and(|nonce| bool::from(nonce.as_bytes().ct_eq(attempt.nonce.as_bytes())));
        if !nonce_ok {
            return Err(SignInError::BadToken(
                "the ID token is not for this sign-in (its nonce differs)",
            ));
        }
        if claims.other.get("email_verified") == Some(&serde_json::Value::Bool(false)) {
            return Err(SignInError::Unverified);
        }
        claims
            .other
            .get(&self.email_claim)
            .and_then(serde_json::Value::as_str)
            .and_then(|email| warden_core::validate::normalize_email(email).ok())
            .ok_or(SignInError::NoEmail)
    }

    /// The ID token's claims once its signature, issuer, audience and times check; keys
    /// are read again once when the token names a key they do not have (a rotation).
    async fn verify(
        &self,
        id_token: &str,
        now: Timestamp,
    ) -> Result<warden_crypto::jwt::ExternalClaims, SignInError> {
        let expect = Expectations {
            issuer: &self.issuer,
            audience: Some(&self.client_id),
            now: now.as_millis() / 1_000,
            leeway_secs: LEEWAY_SECS,
        };
        let mut provider = self.provider.lock().await;
        self.current(&mut provider, now, false).await?;
        let first = provider
            .as_ref()
            .map(|provider| provider.keys.verify(id_token, &expect));
        let outcome = match first {
            Some(Err(warden_crypto::TokenError::UnknownKey)) => {
                self.current(&mut provider, now, true).await?;
                provider
                    .as_ref()
                    .map(|provider| provider.keys.verify(id_token, &expect))
            }
            other => other,
        };
        match outcome {
            Some(Ok(claims)) => Ok(claims),
            Some(Err(error)) => {
                tracing::warn!(%error, "an owner's ID token was refused");
                Err(SignInError::BadToken(
                    "its signature, issuer, audience or times do not check",
                ))
            }
            None => Err(SignInError::Provider("no keys".into())),
        }
    }

    /// Reads the provider's metadata and keys when there are none, they are old, or
    /// `again` asks for it.
    async fn current(
        &self,
        provider: &mut Option<Provider>,
        now: Timestamp,
        again: bool,
    ) -> Result<(), SignInError> {
        let fresh = provider
            .as_ref()
            .is_some_and(|known| now < known.read_at.plus_secs(PROVIDER_TTL_SECS));
        if fresh && !again {
            return Ok(());
        }
        let discovery_url = format!("{}/.well-known/openid-configuration", self.issuer);
        let discovery: Discovery = serde_json::from_slice(&self.fetch(&discovery_url).await?)
            .map_err(|_| {
                SignInError::Provider("its metadata is not OpenID Connect discovery JSON".into())
            })?;
        if discovery.issuer.trim_end_matches('/') != self.issuer {
            return Err(SignInError::Provider(
                "its metadata names another issuer".into(),
            ));
        }
        if let Some(methods) = &discovery.code_challenge_methods_supported
            && !methods.iter().any(|method| method == "S256")
        {
            return Err(SignInError::Provider(
                "it does not support PKCE with S256".into(),
            ));
        }
        for url in [
            &discovery.authorization_endpoint,
            &discovery.token_endpoint,
            &discovery.jwks_uri,
        ] {
            check_url("the provider's endpoint", url)
                .map_err(|error| SignInError::Provider(error.to_string()))?;
        }
        let jwks = self.fetch(&discovery.jwks_uri).await?;
        let keys = std::str::from_utf8(&jwks)
            .ok()
            .and_then(|text| ExternalVerifier::from_jwks(text).ok())
            .ok_or_else(|| SignInError::Provider("its keys are not a usable JWKS".into()))?;
        *provider = Some(Provider {
            authorization_endpoint: discovery.authorization_endpoint,
            token_endpoint: discovery.token_endpoint,
            keys,
            read_at: now,
        });
        Ok(())
    }

    async fn fetch(&self, url: &str) -> Result<Vec<u8>, SignInError> {
        let answer = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|error| SignInError::Provider(without_url(&error)))?;
        if !answer.status().is_success() {
            return Err(SignInError::Provider(format!(
                "{url} answered {}",
                answer.status()
            )));
        }
        read_limited(answer).await
    }

    fn browser_key(&self, cookie_value: &str) -> [u8; 32] {
        *self
            .pepper
            .hash("warden-ui-oidc-attempt", cookie_value.as_bytes())
            .as_bytes()
    }

    fn lock_attempts(&self) -> std::sync::MutexGuard<'_, HashMap<String, Attempt>> {
        self.attempts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    #[cfg(test)]
    fn has_read_provider(&self) -> bool {
        self.provider
            .try_lock()
            .map_or(true, |provider| provider.is_some())
    }
}

fn expired(attempt: &Attempt, now: Timestamp) -> bool {
    now >= attempt.started.plus_secs(ATTEMPT_SECS)
}

/// 32 random bytes as unpadded base64url: states, nonces, PKCE verifiers (43 characters,
/// within RFC 7636's 43-128), attempt cookies.
fn random_text() -> String {
    URL_SAFE_NO_PAD.encode(warden_crypto::random::random_bytes::<32>())
}

fn form_encode(text: &str) -> String {
    serde_urlencoded::to_string([("", text)])
        .map(|pair| pair.trim_start_matches('=').to_string())
        .unwrap_or_default()
}

/// An OAuth error code as shown to a person: the code's own characters only (RFC 6749
/// §5.2 allows printable ASCII), at most 64 of them.
pub fn short_code(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_graphic())
        .take(64)
        .collect()
}

/// A request error without the URL, which could carry a query.
fn without_url(error: &reqwest::Error) -> String {
    let error = error.to_string();
    error
        .split(" for url")
        .next()
        .unwrap_or_default()
        .to_string()
}

async fn read_limited(mut answer: reqwest::Response) -> Result<Vec<u8>, SignInError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = answer
        .chunk()
        .await
        .map_err(|error| SignInError::Provider(without_url(&error)))?
    {
        if bytes.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(SignInError::Provider("its answer is too large".into()));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// Provider URLs are `https`, or `http` to this machine (a provider on loopback, as in
/// development and tests).
fn check_url(what: &str, url: &str) -> anyhow::Result<()> {
    let parsed: http::Uri = url
        .parse()
        .map_err(|error| anyhow::anyhow!("{what} {url:?} is not a URL: {error}"))?;
    let host = parsed.host().unwrap_or_default();
    let loopback = host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match parsed.scheme_str() {
        Some("https") if !host.is_empty() => Ok(()),
        Some("http") if loopback => Ok(()),
        _ => anyhow::bail!(
            "{what} {url:?} must be an https URL (http only to this machine's loopback address)"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(issuer: &str) -> OidcConfig {
        OidcConfig {
            issuer: issuer.to_string(),
            client_id: "warden".to_string(),
            client_secret_file: None,
            redirect_url: None,
            email_claim: None,
        }
    }

    #[test]
    fn only_https_or_loopback_providers_are_accepted() {
        let pepper = || warden_crypto::Pepper::from_bytes([1; 32]);
        for good in [
            "https://idp.example.com",
            "http://127.0.0.1:9000",
            "http://localhost:1",
        ] {
            assert!(
                OwnerSignIn::resolve(&config(good), "https://warden.example.com", pepper()).is_ok(),
                "{good}"
            );
        }
        for bad in [
            "http://idp.example.com",
            "ftp://idp.example.com",
            "idp.example.com",
            "",
        ] {
            let refused =
                OwnerSignIn::resolve(&config(bad), "https://warden.example.com", pepper());
            let message = refused.err().map(|e| e.to_string()).unwrap_or_default();
            assert!(
                message.contains("[dashboard.oidc] issuer"),
                "{bad}: {message}"
            );
        }
        let signed_in = OwnerSignIn::resolve(
            &config("https://idp.example.com/"),
            "https://warden.example.com/",
            pepper(),
        );
        let signed_in = signed_in.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(signed_in.issuer(), "https://idp.example.com");
        assert_eq!(
            signed_in.redirect_url,
            "https://warden.example.com/ui/oidc/callback"
        );
        assert!(
            !signed_in.has_read_provider(),
            "the provider is read at the first sign-in"
        );
    }

    #[test]
    fn an_empty_client_id_or_secret_file_is_refused_with_what_to_do() {
        let pepper = || warden_crypto::Pepper::from_bytes([1; 32]);
        let mut blank = config("https://idp.example.com");
        blank.client_id = " ".into();
        let message = OwnerSignIn::resolve(&blank, "https://w.example.com", pepper())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(message.contains("client_id is empty"), "{message}");

        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let file = dir.path().join("secret");
        std::fs::write(&file, "\n").unwrap_or_else(|e| panic!("{e}"));
        let mut empty = config("https://idp.example.com");
        empty.client_secret_file = Some(file);
        let message = OwnerSignIn::resolve(&empty, "https://w.example.com", pepper())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(message.contains("is empty"), "{message}");
    }

    #[test]
    fn the_pkce_challenge_is_rfc_7636s() {
        // RFC 7636, appendix B.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert_eq!(
            URL_SAFE_NO_PAD.encode(warden_crypto::sha256(verifier.as_bytes())),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert_eq!(random_text().len(), 43);
    }

    #[test]
    fn secrets_are_form_encoded_before_basic_authentication() {
        assert_eq!(form_encode("a b:c/d"), "a+b%3Ac%2Fd");
        assert_eq!(
            short_code("invalid_grant\n<script>"),
            "invalid_grant<script>"
        );
    }

    #[tokio::test]
    async fn an_attempt_is_single_use_and_bound_to_its_browser() {
        let signed_in = OwnerSignIn::resolve(
            &config("https://idp.example.com"),
            "https://warden.example.com",
            warden_crypto::Pepper::from_bytes([1; 32]),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let now = Timestamp::from_millis(1_800_000_000_000);
        let cookie = random_text();
        signed_in.lock_attempts().insert(
            "state-1".into(),
            Attempt {
                browser: signed_in.browser_key(&cookie),
                verifier: Zeroizing::new(random_text()),
                nonce: random_text(),
                started: now,
            },
        );
        // Another browser (or none) cannot finish it, and the attempt is then spent.
        let other = signed_in
            .arrive("state-1", "code", Some("someone-else"), now)
            .await;
        assert!(matches!(other, Err(SignInError::UnknownAttempt)));
        let again = signed_in
            .arrive("state-1", "code", Some(&cookie), now)
            .await;
        assert!(matches!(again, Err(SignInError::UnknownAttempt)));

        // An attempt older than ten minutes is refused even from the right browser.
        signed_in.lock_attempts().insert(
            "state-2".into(),
            Attempt {
                browser: signed_in.browser_key(&cookie),
                verifier: Zeroizing::new(random_text()),
                nonce: random_text(),
                started: now,
            },
        );
        let late = signed_in
            .arrive(
                "state-2",
                "code",
                Some(&cookie),
                now.plus_secs(ATTEMPT_SECS),
            )
            .await;
        assert!(matches!(late, Err(SignInError::UnknownAttempt)));
    }
}
