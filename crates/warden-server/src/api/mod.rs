//! The HTTP API under `/v1`, the health endpoints and the OpenAPI document.
//!
//! Routes are registered through `utoipa_axum`, which records each handler's `#[utoipa::path]`
//! as it mounts it, so the document served at `/openapi.json` lists exactly the routes the
//! server answers.

pub(crate) mod approvals;
pub(crate) mod audit;
mod contract;
pub(crate) mod credentials;
pub(crate) mod findings;
mod graph;
mod health;
pub(crate) mod identities;
mod imports;
mod leaks;
mod owners;
pub(crate) mod policies;
mod tools;
pub(crate) mod upstreams;
mod webhooks;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::require_admin;
use crate::error::ApiError;
use crate::state::AppState;

/// The largest request body the API accepts.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

#[derive(OpenApi)]
#[openapi(
    info(title = "Warden API", description = "Inventory, credentials, policy and audit for non-human identities."),
    modifiers(&AdminBearer),
    security(("admin_token" = [])),
    components(schemas(crate::error::ErrorBody))
)]
struct ApiDoc;

struct AdminBearer;

impl Modify for AdminBearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "admin_token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The API router and its OpenAPI document.
pub fn router(state: AppState) -> Router {
    let admin = OpenApiRouter::new()
        .routes(routes!(owners::create_owner, owners::list_owners))
        .routes(routes!(owners::get_owner, owners::update_owner))
        .routes(routes!(owners::offboard_owner))
        .routes(routes!(owners::reassign_owner))
        .routes(routes!(
            identities::create_identity,
            identities::list_identities
        ))
        .routes(routes!(
            identities::get_identity,
            identities::update_identity
        ))
        .routes(routes!(identities::suspend_identity))
        .routes(routes!(identities::restore_identity))
        .routes(routes!(identities::revoke_identity))
        .routes(routes!(identities::reassign_identity))
        .routes(routes!(graph::identity_graph))
        .routes(routes!(
            credentials::issue_credential,
            credentials::list_credentials
        ))
        .routes(routes!(credentials::rotate_credential))
        .routes(routes!(credentials::revoke_credential))
        .routes(routes!(credentials::kill))
        .routes(routes!(credentials::restore))
        .routes(routes!(credentials::revoke))
        .routes(routes!(credentials::list_keys))
        .routes(routes!(credentials::rotate_keys))
        .routes(routes!(credentials::verify_token))
        .routes(routes!(
            upstreams::create_upstream,
            upstreams::list_upstreams
        ))
        .routes(routes!(
            upstreams::get_upstream,
            upstreams::update_upstream,
            upstreams::delete_upstream
        ))
        .routes(routes!(upstreams::set_upstream_secret))
        .routes(routes!(tools::list_tools))
        .routes(routes!(tools::accept_tool))
        .routes(routes!(policies::put_policy, policies::list_policies))
        .routes(routes!(policies::schema))
        .routes(routes!(policies::test_policy))
        .routes(routes!(policies::get_policy, policies::delete_policy))
        .routes(routes!(approvals::list_approvals))
        .routes(routes!(approvals::get_approval))
        .routes(routes!(approvals::approve))
        .routes(routes!(approvals::deny))
        .routes(routes!(audit::list_events))
        .routes(routes!(audit::verify))
        .routes(routes!(audit::public_key))
        .routes(routes!(audit::export))
        .routes(routes!(imports::list_imported))
        .routes(routes!(imports::get_imported))
        .routes(routes!(imports::reassign_imported))
        .routes(routes!(findings::list_findings))
        .routes(routes!(findings::export_findings))
        .routes(routes!(findings::get_finding))
        .routes(routes!(findings::suppress_finding))
        .routes(routes!(findings::unsuppress_finding))
        .routes(routes!(findings::posture))
        .routes(routes!(findings::evaluate))
        .routes(routes!(leaks::report_leak, leaks::list_leaks))
        .routes(routes!(leaks::get_leak))
        .routes(routes!(webhooks::add_webhook, webhooks::list_webhooks))
        .routes(routes!(webhooks::remove_webhook))
        .routes(routes!(webhooks::list_deliveries))
        .routes(routes!(webhooks::redeliver))
        .routes(routes!(webhooks::add_receiver, webhooks::list_receivers))
        .routes(routes!(webhooks::remove_receiver))
        // Exports are large: the import endpoint has its own body limit (`[posture]
        // max_import_bytes`); the inner limit overrides the API's default.
        .merge(
            OpenApiRouter::new()
                .routes(routes!(imports::create_import))
                .layer(DefaultBodyLimit::max(state.max_import_bytes)),
        )
        .layer(middleware::from_fn_with_state(state.clone(), require_admin));
    let public = OpenApiRouter::new()
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz));
    let (router, document) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(admin)
        .merge(public)
        .split_for_parts();
    // Serialising our own document cannot fail; `Null` would be served if it ever did.
    let document = contract::complete(serde_json::to_value(&document).unwrap_or_default());
    let document = std::sync::Arc::new(document);
    router
        .merge(crate::oauth::router())
        .merge(crate::ui::router(std::sync::Arc::new(
            crate::ui::Sessions::new(state.pepper.clone()),
        )))
        .merge(crate::ssf::router())
        .route(
            "/openapi.json",
            axum::routing::get(move || {
                let document = document.clone();
                async move { axum::Json((*document).clone()) }
            }),
        )
        .route("/metrics", axum::routing::get(crate::metrics::render))
        .fallback(|| async { ApiError::NoSuchEndpoint })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn(crate::metrics::track))
        .layer(
            // The dashboard's session cookie is as good as a password while it lives.
            tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer::new([
                axum::http::header::AUTHORIZATION,
                axum::http::header::COOKIE,
            ]),
        )
        .with_state(state)
}
