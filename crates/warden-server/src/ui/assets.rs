//! The dashboard's stylesheet and script, compiled into the binary so that Warden serves
//! everything its pages load and needs no files beside it.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

const STYLESHEET: &str = include_str!("../../assets/ui/warden.css");
const SCRIPT: &str = include_str!("../../assets/ui/warden.js");

/// `/ui/assets/{name}`: one of the embedded files, or 404.
pub async fn serve(Path(name): Path<String>) -> Response {
    let (body, content_type) = match name.as_str() {
        "warden.css" => (STYLESHEET, "text/css; charset=utf-8"),
        "warden.js" => (SCRIPT, "text/javascript; charset=utf-8"),
        _ => {
            return super::error_page(
                StatusCode::NOT_FOUND,
                "no_such_asset",
                "the dashboard has no such file",
            );
        }
    };
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
        body,
    )
        .into_response()
}
