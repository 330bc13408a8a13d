//! `/v1/upstreams/{name}/tools`: the MCP tools the gateway has pinned for an upstream (the
//! definition accepted and the one last seen), and accepting a changed definition so the
//! gateway lists and passes the tool again. Acceptance is audited as the administrator's.

use axum::Json;
use axum::extract::{Path, State};
use warden_core::DomainError;
use warden_store::tool_pins::ToolPin;

use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// The pinned tools of an MCP upstream: each with the digest of its accepted definition,
/// the digest last seen, and `changed` while they differ (hidden, calls refused).
#[utoipa::path(get, path = "/v1/upstreams/{name}/tools", tag = "upstreams",
    params(("name" = String, Path, description = "the upstream's name")),
    responses((status = 200, body = Vec<ToolPin>),
              (status = 404, body = ErrorBody, description = "unknown_upstream"),
              (status = 422, body = ErrorBody, description = "invalid_field: the upstream is not an MCP server")))]
pub async fn list_tools(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Vec<ToolPin>>, ApiError> {
    mcp_upstream(&state, &name).await?;
    Ok(Json(state.store.tool_pins(Some(&name)).await?))
}

/// Accept the definition of `tool` last seen, so the gateway lists and passes it again.
#[utoipa::path(post, path = "/v1/upstreams/{name}/tools/{tool}/accept", tag = "upstreams",
    params(("name" = String, Path, description = "the upstream's name"),
           ("tool" = String, Path, description = "the tool's name")),
    responses((status = 200, body = ToolPin),
              (status = 404, body = ErrorBody, description = "unknown_upstream, or unknown_tool: no such tool seen"),
              (status = 422, body = ErrorBody, description = "invalid_field: not an MCP upstream")))]
pub async fn accept_tool(
    State(state): State<AppState>,
    Path((name, tool)): Path<(String, String)>,
) -> Result<Json<ToolPin>, ApiError> {
    mcp_upstream(&state, &name).await?;
    let pin = state
        .store
        .accept_tool_definition(&state.actor, &name, &tool, state.clock.now())
        .await?;
    state.tool_pins.apply(std::slice::from_ref(&pin));
    tracing::info!(upstream = %name, tool = %tool, "an MCP tool definition was accepted");
    Ok(Json(pin))
}

async fn mcp_upstream(state: &AppState, name: &str) -> Result<(), ApiError> {
    let upstream = state.store.get_upstream(name).await?;
    if !upstream.kind.is_mcp() {
        return Err(DomainError::invalid(
            "upstream",
            format!("upstream `{name}` is an HTTP API; only MCP upstreams have tools"),
        )
        .into());
    }
    Ok(())
}
