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
    /// Why the node cannot serve, when it cannot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", security(()), tag = "health",
    responses((status = 200, body = HealthStatus)))]
pub async fn healthz() -> Json<HealthStatus> {
    Json(HealthStatus {
        status: "ok",
        reason: None,
    })
}

/// The process can serve: the store answers, and the node has heard the change feed within
/// `[cluster] max_staleness_millis` (otherwise its gateway refuses, and this says why).
#[utoipa::path(get, path = "/readyz", security(()), tag = "health",
    responses((status = 200, body = HealthStatus), (status = 503, body = HealthStatus)))]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<HealthStatus>) {
    let unavailable = |reason: String| {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(HealthStatus {
                status: "unavailable",
                reason: Some(reason),
            }),
        )
    };
    if let Err(stale) = state.freshness.check() {
        return unavailable(stale.to_string());
    }
    match state.store.ping().await {
        Ok(()) => (
            StatusCode::OK,
            Json(HealthStatus {
                status: "ok",
                reason: None,
            }),
        ),
        Err(error) => {
            tracing::warn!(%error, "readiness check failed");
            unavailable("the database does not answer".into())
        }
    }
}
