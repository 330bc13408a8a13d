//! Liveness and readiness. `/healthz` says the process answers; `/readyz` says it can do
//! its work, which needs the store.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct HealthStatus {
    /// `ok` or `unavailable`.
    pub status: &'static str,
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", security(()), tag = "health",
    responses((status = 200, body = HealthStatus)))]
pub async fn healthz() -> Json<HealthStatus> {
    Json(HealthStatus { status: "ok" })
}

/// The process can serve: the store answers.
#[utoipa::path(get, path = "/readyz", security(()), tag = "health",
    responses((status = 200, body = HealthStatus), (status = 503, body = HealthStatus)))]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<HealthStatus>) {
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, Json(HealthStatus { status: "ok" })),
        Err(error) => {
            tracing::warn!(%error, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(HealthStatus {
                    status: "unavailable",
                }),
            )
        }
    }
}
