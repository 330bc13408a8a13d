//! The one place where errors become HTTP responses: `{"error": CODE, "message": TEXT}`.
//!
//! Every error the API can produce passes through `ApiError::into_response`, whose `match`
//! has no catch-all arm, so a new error variant cannot ship without a status code. Store
//! failures are logged here, once, with their detail, and answered without it.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use warden_core::DomainError;
use warden_store::StoreError;

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// A stable machine-readable code, e.g. `unknown_owner`.
    pub error: String,
    /// What went wrong and, where possible, what to do.
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Domain(#[from] DomainError),

    /// The request could not be read: malformed JSON, an unknown field, a wrong type, a bad
    /// query parameter.
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },

    /// A well-formed request whose content cannot be used (an export that does not parse).
    #[error("{message}")]
    Unprocessable { code: &'static str, message: String },

    #[error("{0}")]
    PayloadTooLarge(String),

    #[error("{0}")]
    UnsupportedMediaType(String),

    #[error("missing or invalid admin token")]
    Unauthorized,

    #[error("no such endpoint")]
    NoSuchEndpoint,

    #[error("method not allowed here")]
    MethodNotAllowed,

    #[error("store unavailable")]
    Unavailable(String),

    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::BadRequest {
            code,
            message: message.into(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Domain(error) => Self::Domain(error),
            StoreError::Unavailable(detail) => Self::Unavailable(detail),
            StoreError::Corrupt(detail) => Self::Internal(detail),
        }
    }
}

fn domain_status(error: &DomainError) -> StatusCode {
    match error {
        DomainError::InvalidField { .. }
        | DomainError::InvalidEmail(_)
        | DomainError::CyclicParent { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        DomainError::UnknownOwner(_)
        | DomainError::UnknownIdentity(_)
        | DomainError::UnknownParent(_)
        | DomainError::UnknownCredential(_) => StatusCode::NOT_FOUND,
        DomainError::DuplicateOwner(_)
        | DomainError::DuplicateName { .. }
        | DomainError::OwnerNotActive(_)
        | DomainError::InvalidState(_)
        | DomainError::Revoked(_)
        | DomainError::DuplicateUpstream(_)
        | DomainError::DuplicatePolicy(_)
        | DomainError::DuplicateReceiver(_) => StatusCode::CONFLICT,
        DomainError::UnknownUpstream(_) | DomainError::UnknownPolicy(_) => StatusCode::NOT_FOUND,
        DomainError::InvalidPolicy(_) => StatusCode::UNPROCESSABLE_ENTITY,
        DomainError::UnknownApproval(_)
        | DomainError::UnknownFinding(_)
        | DomainError::UnknownLeak(_)
        | DomainError::UnknownWebhook(_)
        | DomainError::UnknownDelivery(_)
        | DomainError::UnknownStream(_)
        | DomainError::UnknownReceiver(_)
        | DomainError::UnknownTool { .. } => StatusCode::NOT_FOUND,
        DomainError::ApprovalDecided { .. }
        | DomainError::ApprovalPending(_)
        | DomainError::ApprovalUsed(_) => StatusCode::CONFLICT,
        DomainError::ApprovalExpired(_) => StatusCode::GONE,
        DomainError::SelfApproval(_)
        | DomainError::ApprovalDenied(_)
        | DomainError::ApprovalMismatch { .. } => StatusCode::FORBIDDEN,
        DomainError::TooManyPendingApprovals { .. } => StatusCode::TOO_MANY_REQUESTS,
        DomainError::SecretBoundToOrigin(_) => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, message) = match &self {
            Self::Domain(error) => (domain_status(error), error.code(), error.to_string()),
            Self::BadRequest { code, message } => (StatusCode::BAD_REQUEST, *code, message.clone()),
            Self::Unprocessable { code, message } => {
                (StatusCode::UNPROCESSABLE_ENTITY, *code, message.clone())
            }
            Self::PayloadTooLarge(message) => (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", message.clone()),
            Self::UnsupportedMediaType(message) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", message.clone())
            }
            Self::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "missing or invalid admin token; send it as `Authorization: Bearer TOKEN` (the CLI reads WARDEN_TOKEN)".to_string(),
            ),
            Self::NoSuchEndpoint => (
                StatusCode::NOT_FOUND,
                "no_such_endpoint",
                "no such endpoint; the API is described at /openapi.json".to_string(),
            ),
            Self::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this endpoint does not accept that method; see /openapi.json".to_string(),
            ),
            Self::Unavailable(detail) => {
                tracing::error!(%detail, "store unavailable");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the store is unavailable; nothing was changed, try again shortly".to_string(),
                )
            }
            Self::Internal(detail) => {
                tracing::error!(%detail, "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error; nothing was changed and the server log has the detail".to_string(),
                )
            }
        };
        let mut response = (
            status,
            Json(ErrorBody {
                error: code.to_string(),
                message,
            }),
        )
            .into_response();
        if status == StatusCode::UNAUTHORIZED
            && let Ok(value) = axum::http::HeaderValue::from_str("Bearer realm=\"warden\"")
        {
            response
                .headers_mut()
                .insert(axum::http::header::WWW_AUTHENTICATE, value);
        }
        response
    }
}
