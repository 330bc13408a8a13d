//! The gateway listener: `/{upstream}/{path…}`. Until upstreams are registered, every
//! request names an unknown upstream and is refused without being forwarded anywhere.

use axum::Json;
use axum::Router;
use axum::http::StatusCode;
use serde_json::json;

pub fn router() -> Router {
    Router::new().fallback(|| async {
        (
            StatusCode::NOT_FOUND,
            Json(json!({
                "error": "unknown_upstream",
                "message": "no upstream is registered under this name",
            })),
        )
    })
}
