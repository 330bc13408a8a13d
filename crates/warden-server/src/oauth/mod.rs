//! The OAuth 2.0 authorization server: `/oauth/token` (client credentials and RFC 8693
//! token exchange), `/oauth/introspect` (RFC 7662), `/oauth/revoke` (RFC 7009), the RFC 8414
//! metadata document and the JWKS.
//!
//! These routes are not behind the admin token: clients authenticate themselves (HTTP
//! Basic, form fields, or an RFC 7523 assertion, see `client`). Requests are
//! `application/x-www-form-urlencoded`; a parameter given twice is refused, as RFC 6749 §3.2
//! requires. Errors have the RFC 6749 §5.2 shape (`error`).

mod client;
pub mod error;
mod introspect;
mod token;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

pub use error::OAuthError;

use crate::api::MAX_BODY_BYTES;
use crate::state::AppState;

pub const TOKEN_PATH: &str = "/oauth/token";
pub const INTROSPECT_PATH: &str = "/oauth/introspect";
pub const REVOKE_PATH: &str = "/oauth/revoke";
pub const JWKS_PATH: &str = "/.well-known/jwks.json";
pub const METADATA_PATH: &str = "/.well-known/oauth-authorization-server";

pub const GRANT_CLIENT_CREDENTIALS: &str = "client_credentials";
pub const GRANT_TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
pub const TOKEN_TYPE_ACCESS: &str = "urn:ietf:params:oauth:token-type:access_token";
pub const TOKEN_TYPE_JWT: &str = "urn:ietf:params:oauth:token-type:jwt";
pub const ASSERTION_TYPE_JWT_BEARER: &str =
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The keyed hash (hex) under which a client secret is stored and looked up.
pub fn client_secret_hash(
    pepper: &warden_crypto::Pepper,
    secret: &warden_crypto::Secret,
) -> String {
    pepper
        .hash(client::CLIENT_SECRET_DOMAIN, secret.expose().as_bytes())
        .to_hex()
}

/// The OAuth routes, to be merged into the API router.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(TOKEN_PATH, post(token::token))
        .route(INTROSPECT_PATH, post(introspect::introspect))
        .route(REVOKE_PATH, post(introspect::revoke))
        .route(JWKS_PATH, get(jwks))
        .route(METADATA_PATH, get(metadata))
}

/// A request as the OAuth handlers see it: headers, form parameters, source address.
pub(crate) struct OAuthRequest {
    pub headers: HeaderMap,
    pub form: HashMap<String, String>,
    pub source: Option<IpAddr>,
}

impl OAuthRequest {
    pub(crate) async fn read(request: Request) -> Result<Self, OAuthError> {
        let source = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| info.0.ip());
        let (parts, body) = request.into_parts();
        let form_type = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| {
                value.split(';').next().is_some_and(|media| {
                    media
                        .trim()
                        .eq_ignore_ascii_case("application/x-www-form-urlencoded")
                })
            });
        if !form_type {
            return Err(OAuthError::invalid_request(
                "send the parameters as application/x-www-form-urlencoded",
            ));
        }
        let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES)
            .await
            .map_err(|_| OAuthError::invalid_request("the request body is too large"))?;
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes)
            .map_err(|_| OAuthError::invalid_request("the request body is not a valid form"))?;
        let mut form = HashMap::with_capacity(pairs.len());
        for (key, value) in pairs {
            if form.contains_key(&key) {
                return Err(OAuthError::invalid_request(format!(
                    "parameter `{key}` is given more than once"
                )));
            }
            form.insert(key, value);
        }
        Ok(Self {
            headers: parts.headers,
            form,
            source,
        })
    }

    /// A parameter, treating an empty value as absent (RFC 6749 §3.1).
    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.form
            .get(name)
            .map(String::as_str)
            .filter(|value| !value.is_empty())
    }

    pub(crate) fn required(&self, name: &str) -> Result<&str, OAuthError> {
        self.param(name)
            .ok_or_else(|| OAuthError::invalid_request(format!("parameter `{name}` is required")))
    }
}

/// A JSON response that must not be cached (RFC 6749 §5.1).
pub(crate) fn no_store(body: serde_json::Value) -> Response {
    let mut response = axum::Json(body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

async fn jwks(State(state): State<AppState>) -> Response {
    let mut response = axum::Json(state.credentials.tokens.ring().jwks()).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=60"),
    );
    response
}

/// RFC 8414 metadata: everything a standard client needs to find the rest.
async fn metadata(State(state): State<AppState>) -> Response {
    let issuer = &state.credentials.settings.tokens.issuer;
    axum::Json(json!({
        "issuer": issuer,
        "token_endpoint": format!("{issuer}{TOKEN_PATH}"),
        "jwks_uri": format!("{issuer}{JWKS_PATH}"),
        "introspection_endpoint": format!("{issuer}{INTROSPECT_PATH}"),
        "revocation_endpoint": format!("{issuer}{REVOKE_PATH}"),
        "grant_types_supported": [GRANT_CLIENT_CREDENTIALS, GRANT_TOKEN_EXCHANGE],
        "response_types_supported": [],
        "token_endpoint_auth_methods_supported":
            ["client_secret_basic", "client_secret_post", "private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["EdDSA", "ES256", "RS256"],
        "introspection_endpoint_auth_methods_supported":
            ["client_secret_basic", "client_secret_post", "private_key_jwt"],
        "revocation_endpoint_auth_methods_supported":
            ["client_secret_basic", "client_secret_post", "private_key_jwt"],
        "authorization_details_types_supported": ["warden_task"],
        "access_token_signing_alg_values_supported": ["EdDSA"],
    }))
    .into_response()
}
