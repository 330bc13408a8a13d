//! Admin authentication for the `/v1` API and the dashboard's sign-in: a token whose keyed
//! hash must equal the stored one. The comparison is in constant time (`KeyedHash`'s
//! equality), and hashing first means the time taken says nothing about how much of a guess
//! was right.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::bootstrap::ADMIN_TOKEN_DOMAIN;
use crate::error::ApiError;
use crate::state::AppState;

pub async fn require_admin(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let presented = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            value
                .strip_prefix("Bearer ")
                .or_else(|| value.strip_prefix("bearer "))
        })
        .map(str::trim);
    let Some(token) = presented else {
        return Err(ApiError::Unauthorized);
    };
    if !admin_token_matches(&state, token) {
        tracing::warn!("admin API request with a wrong token refused");
        return Err(ApiError::Unauthorized);
    }
    Ok(next.run(request).await)
}

/// Whether `token` is the admin token: the one check behind both the API's bearer token
/// and the dashboard's sign-in.
pub fn admin_token_matches(state: &AppState, token: &str) -> bool {
    state.pepper.hash(ADMIN_TOKEN_DOMAIN, token.as_bytes()) == state.admin_token_hash
}
