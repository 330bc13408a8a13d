//! The dashboard: server-rendered HTML pages under `/ui` on the API listener.
//!
//! Every page is rendered from the same functions the `/v1` handlers are, called in
//! process (never over HTTP), so a page shows exactly what the API would answer and a
//! button changes exactly what the API would change, audited as the signed-in person
//! (`guard::SignedIn::acting`). Templates are askama's (checked when the crate compiles,
//! HTML-escaped by default); the stylesheet and the one small script are compiled into the
//! binary (`assets`). Every response carries a Content-Security-Policy that allows no
//! inline script or style, and is never cached.
//!
//! Rooms: `session` (who is signed in, and as what), `guard` (cookie, same-origin and
//! CSRF checks, and who each page is open to), `sign_in` (the admin token, and owners
//! through `owner_sign_in`'s OpenID Connect flow), `view` (values as people read them),
//! one module per page.

mod approvals;
mod assets;
mod audit;
mod findings;
pub mod guard;
mod identity;
mod inventory;
mod live;
mod overview;
pub mod owner_sign_in;
mod policies;
pub mod session;
mod sign_in;
mod upstreams;
mod view;

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use http_body_util::BodyExt as _;

use crate::error::ApiError;
use crate::state::AppState;
pub use session::Sessions;

/// What a dashboard page may load: only what Warden itself serves, no inline script or
/// style, no framing, forms only back to Warden, and the approval queue's live stream.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The largest error body from the API's code paths that is turned into an error page.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// The dashboard's routes, to be merged into the API router.
pub fn router(sessions: Arc<Sessions>) -> Router<AppState> {
    Router::new()
        .route("/ui", get(overview::page))
        .route("/ui/", get(overview::page))
        .route("/ui/sign-in", get(sign_in::form).post(sign_in::sign_in))
        .route("/ui/sign-out", post(sign_in::sign_out))
        .route("/ui/sign-in/owner", get(sign_in::owner_departs))
        .route(owner_sign_in::CALLBACK_PATH, get(sign_in::owner_arrives))
        .route("/ui/identities", get(inventory::page))
        .route("/ui/identities/{id}", get(identity::page))
        .route(
            "/ui/identities/{id}/kill",
            get(identity::kill_preview).post(identity::kill),
        )
        .route("/ui/identities/{id}/restore", post(identity::restore))
        .route("/ui/approvals", get(approvals::page))
        .route("/ui/approvals/live", get(live::approvals))
        .route("/ui/approvals/{id}/approve", post(approvals::approve))
        .route("/ui/approvals/{id}/deny", post(approvals::deny))
        .route("/ui/findings", get(findings::page))
        .route("/ui/findings/{id}/suppress", post(findings::suppress))
        .route("/ui/findings/{id}/unsuppress", post(findings::unsuppress))
        .route("/ui/audit", get(audit::page))
        .route("/ui/audit/export", get(audit::export))
        .route("/ui/audit/public-key", get(audit::public_key))
        .route("/ui/upstreams", get(upstreams::page))
        .route("/ui/policies", get(policies::page))
        .route("/ui/policies/test", post(policies::test))
        .route("/ui/assets/{name}", get(assets::serve))
        .route("/ui/{*rest}", get(not_found).post(not_found))
        .layer(middleware::from_fn(as_error_page))
        .layer(middleware::from_fn(security_headers))
        .layer(axum::Extension(sessions))
}

async fn not_found() -> Response {
    error_page(
        StatusCode::NOT_FOUND,
        "no_such_page",
        "there is no such dashboard page; start from the overview at /ui",
    )
}

/// Adds the security headers to every dashboard response, errors and redirects included.
async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        // Not `no-referrer`: under it a browser sends `Origin: null` with our own forms,
        // which the same-origin check must refuse. `same-origin` still sends nothing to
        // any other site.
        (header::REFERRER_POLICY, "same-origin"),
        (header::CACHE_CONTROL, "no-store"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    headers.insert(
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
    response
}

/// The API's code paths answer errors as JSON (`crate::error`, the one mapping of errors
/// to statuses); on a dashboard route that answer becomes a page with the same status and
/// message.
async fn as_error_page(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"));
    if !is_json || !(response.status().is_client_error() || response.status().is_server_error()) {
        return response;
    }
    let status = response.status();
    let body = http_body_util::Limited::new(response.into_body(), MAX_ERROR_BODY)
        .collect()
        .await;
    let parsed = body.ok().and_then(|collected| {
        serde_json::from_slice::<serde_json::Value>(&collected.to_bytes()).ok()
    });
    let code = parsed
        .as_ref()
        .and_then(|body| body["error"].as_str())
        .unwrap_or("error")
        .to_string();
    let message = parsed
        .as_ref()
        .and_then(|body| body["message"].as_str())
        .unwrap_or("the request failed; the server log has the detail")
        .to_string();
    error_page(status, &code, &message)
}

#[derive(Template)]
#[template(path = "ui/error.html")]
struct ErrorPage<'a> {
    status: u16,
    reason: &'a str,
    code: &'a str,
    message: &'a str,
}

/// An error page naming the problem.
pub fn error_page(status: StatusCode, code: &str, message: &str) -> Response {
    let page = ErrorPage {
        status: status.as_u16(),
        reason: status.canonical_reason().unwrap_or("Error"),
        code,
        message,
    };
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(error) => {
            tracing::error!(%error, "the error page does not render");
            (status, message.to_string()).into_response()
        }
    }
}

/// Renders `template` as a page; a template that fails to render is an internal error.
pub fn render<T: Template>(template: &T) -> Result<Response, ApiError> {
    template
        .render()
        .map(|html| Html(html).into_response())
        .map_err(|error| ApiError::Internal(format!("a dashboard page does not render: {error}")))
}

/// What every signed-in page shows around its content: who is signed in, the sign-out
/// form's CSRF token and which section is open.
#[derive(Debug)]
pub struct Chrome {
    pub person: String,
    pub csrf: String,
    pub section: &'static str,
    /// Whether the sections only administrators may open are shown.
    pub administrator: bool,
}

impl Chrome {
    pub fn new<A>(signed_in: &guard::SignedIn<A>, section: &'static str) -> Self {
        Self {
            person: signed_in.session.person().to_string(),
            csrf: signed_in.session.csrf_token().to_string(),
            section,
            administrator: signed_in.session.owner_email().is_none(),
        }
    }
}

/// A 303 to `location` after a change, so reloading the page does not repeat it.
pub fn see_other(location: &str) -> Response {
    axum::response::Redirect::to(location).into_response()
}

/// A query for one of the API's list handlers, as if it had come in the URL.
pub fn query(pairs: &[(&str, &str)]) -> crate::extract::QueryPairs {
    crate::extract::QueryPairs(
        pairs
            .iter()
            .map(|(key, value)| ((*key).to_string(), (*value).to_string()))
            .collect(),
    )
}
