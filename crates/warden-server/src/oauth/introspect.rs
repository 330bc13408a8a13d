//! `POST /oauth/introspect` (RFC 7662) and `POST /oauth/revoke` (RFC 7009), both for
//! authenticated clients.
//!
//! Introspection answers `{"active": false}` for every token that verification would
//! refuse, revoked and killed ones included, without saying why, and for every token the
//! caller may not see: a client sees only tokens issued to it (`client_id`), unless it is
//! listed in `[credentials] introspectors`. The answer for a token the caller may not see
//! is the answer for a garbage token, so introspection tells a stranger nothing, not even
//! that the token exists. Revocation lets a client
//! revoke its own tokens (those it obtained, or acts in); anything else is answered 200
//! and changes nothing, as RFC 7009 §2.2 asks.

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use warden_core::Timestamp;
use warden_store::TokenRevocation;

use super::client;
use super::{OAuthRequest, no_store};
use crate::state::AppState;

pub(super) async fn introspect(State(state): State<AppState>, request: Request) -> Response {
    let request = match OAuthRequest::read(request).await {
        Ok(request) => request,
        Err(error) => return error.into_response(),
    };
    let now = state.clock.now();
    let caller = match client::authenticate(&state, &request, now).await {
        Ok(caller) => caller,
        Err(error) => return error.into_response(),
    };
    let token = match request.required("token") {
        Ok(token) => token,
        Err(error) => return error.into_response(),
    };
    match state.credentials.tokens.verify_token(token, None, now) {
        Ok(claims)
            if claims.client_id == caller.client_id()
                || state
                    .credentials
                    .settings
                    .may_introspect_others(&caller.identity) =>
        {
            let mut body = serde_json::to_value(&*claims).unwrap_or_else(|_| json!({}));
            body["active"] = json!(true);
            body["token_type"] = json!("Bearer");
            no_store(body)
        }
        Ok(_) | Err(_) => no_store(json!({ "active": false })),
    }
}

pub(super) async fn revoke(State(state): State<AppState>, request: Request) -> Response {
    let request = match OAuthRequest::read(request).await {
        Ok(request) => request,
        Err(error) => return error.into_response(),
    };
    let now = state.clock.now();
    let client = match client::authenticate(&state, &request, now).await {
        Ok(client) => client,
        Err(error) => return error.into_response(),
    };
    let token = match request.required("token") {
        Ok(token) => token,
        Err(error) => return error.into_response(),
    };
    // Revoking needs the signature and issuer to hold, not the token to be live.
    let claims = match state.credentials.tokens.verify_token(token, None, now) {
        Ok(claims) => claims,
        Err(_) => return no_store(json!({})),
    };
    let mut involved = claims.client_id == client.client_id();
    let mut actor = claims.act.as_ref();
    while let Some(current) = actor {
        involved |= current.sub == client.client_id();
        actor = current.act.as_deref();
    }
    if !involved {
        return no_store(json!({}));
    }
    match revoke_jti(
        &state,
        &client.actor(),
        &claims.jti,
        &claims.client_id,
        claims.exp,
        now,
    )
    .await
    {
        Ok(()) => no_store(json!({})),
        Err(error) => {
            tracing::error!(%error, "cannot revoke a token");
            super::OAuthError::unavailable().into_response()
        }
    }
}

/// Records the revocation and refreshes this node's state before returning, so the token
/// is refused from the moment the caller hears back.
pub(crate) async fn revoke_jti(
    state: &AppState,
    actor: &warden_audit::Actor,
    jti: &str,
    identity_id: &str,
    exp_secs: i64,
    now: Timestamp,
) -> warden_store::StoreResult<()> {
    state
        .store
        .revoke_token(
            actor,
            TokenRevocation {
                jti: jti.to_string(),
                identity_id: Some(identity_id.to_string()),
                expires_at: Timestamp::from_millis(exp_secs.saturating_mul(1000)),
            },
            now,
        )
        .await?;
    metrics::counter!("warden_revocations_total", "scope" => "token").increment(1);
    state.credentials.refresh(&*state.store, now).await
}
