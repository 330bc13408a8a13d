//! OAuth errors in the RFC 6749 §5.2 shape: `{"error": CODE, "error_description": TEXT}`.
//!
//! These are not the admin API's errors: OAuth clients written by others parse this body.
//! Client authentication failures say only that authentication failed; the reason goes to
//! the log and the audit trail.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    pub code: &'static str,
    pub description: String,
    pub status: StatusCode,
    /// Seconds, for refusals of a rate-limited client.
    pub retry_after: Option<u64>,
}

impl OAuthError {
    fn new(code: &'static str, status: StatusCode, description: impl Into<String>) -> Self {
        Self {
            code,
            description: description.into(),
            status,
            retry_after: None,
        }
    }

    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new("invalid_request", StatusCode::BAD_REQUEST, description)
    }

    /// Deliberately vague: which part of the client's proof was wrong is for the log.
    pub fn invalid_client() -> Self {
        Self::new(
            "invalid_client",
            StatusCode::UNAUTHORIZED,
            "client authentication failed",
        )
    }

    pub fn rate_limited(retry_after: u64) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(
                "invalid_client",
                StatusCode::TOO_MANY_REQUESTS,
                format!("too many failed authentication attempts; retry after {retry_after} s"),
            )
        }
    }

    pub fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new("invalid_grant", StatusCode::BAD_REQUEST, description)
    }

    pub fn invalid_scope(description: impl Into<String>) -> Self {
        Self::new("invalid_scope", StatusCode::BAD_REQUEST, description)
    }

    pub fn invalid_target(description: impl Into<String>) -> Self {
        Self::new("invalid_target", StatusCode::BAD_REQUEST, description)
    }

    /// RFC 9396 §5.
    pub fn invalid_authorization_details(description: impl Into<String>) -> Self {
        Self::new(
            "invalid_authorization_details",
            StatusCode::BAD_REQUEST,
            description,
        )
    }

    pub fn unsupported_grant_type(description: impl Into<String>) -> Self {
        Self::new(
            "unsupported_grant_type",
            StatusCode::BAD_REQUEST,
            description,
        )
    }

    /// The server could not decide (store unreachable): fail closed.
    pub fn unavailable() -> Self {
        Self::new(
            "temporarily_unavailable",
            StatusCode::SERVICE_UNAVAILABLE,
            "the authorization server cannot answer now; retry shortly",
        )
    }

    pub fn server_error() -> Self {
        Self::new(
            "server_error",
            StatusCode::INTERNAL_SERVER_ERROR,
            "the authorization server failed to answer",
        )
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = json!({ "error": self.code, "error_description": self.description });
        let mut response = (self.status, Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"warden\""),
            );
        }
        if let Some(seconds) = self.retry_after
            && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
        {
            headers.insert(header::RETRY_AFTER, value);
        }
        response
    }
}
