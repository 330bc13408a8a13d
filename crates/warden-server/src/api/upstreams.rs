//! `/v1/upstreams`: the systems behind the gateway, their route maps and sealed secrets.
//! A secret goes in once and never comes out: responses say only whether one is set and
//! its version.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;
use warden_core::{
    DomainError, InjectAuth, NewUpstream, Upstream, UpstreamId, UpstreamKind, UpstreamPatch,
};
use warden_policy::stored;
use warden_store::SealedSecret;
use zeroize::Zeroizing;

use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiJson;
use crate::state::AppState;

/// The longest upstream secret accepted, in characters; real API keys and passwords are far
/// smaller.
pub(super) const MAX_SECRET_CHARS: usize = 8 * 1024;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUpstream {
    /// 1-64 of a-z, 0-9, '_', '-'; the first path segment at the gateway.
    pub name: String,
    /// http, mcp, or mcp-stdio (a local MCP server Warden runs as a command; admin only,
    /// since it runs a program on the Warden host).
    pub kind: UpstreamKind,
    /// Base URL requests are forwarded to (http and mcp; left out for mcp-stdio).
    #[serde(default)]
    pub url: String,
    /// bearer, basic (secret is user:password) or header:NAME (http and mcp).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub auth: Option<InjectAuth>,
    /// For mcp-stdio: the program to run, an absolute path or a name found on the server's
    /// PATH; run without a shell.
    #[serde(default)]
    pub command: Option<String>,
    /// For mcp-stdio: the program's arguments, each passed as it is.
    #[serde(default)]
    pub args: Vec<String>,
    /// For mcp-stdio: the environment variable the secret is set in for the program.
    #[serde(default)]
    pub env_secret: Option<String>,
    /// The upstream's own credential; sealed at once, never returned.
    #[serde(default)]
    pub secret: Option<String>,
    /// The route map (TOML): `[[route]]` entries with method, path, action, resource.
    #[serde(default)]
    pub routes: Option<String>,
    /// For an MCP upstream, browser origins (`scheme://host[:port]`) allowed besides the
    /// gateway's own; a request with another `Origin` is refused (403, rule `origin`).
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// What the upstream touches: words of a-z, 0-9, '_', '.', '-' (e.g. `sensitive`,
    /// `external`, `prod`), at most 16.
    #[serde(default)]
    pub labels: Vec<String>,
    /// For an MCP upstream, labels of single tools by tool name, e.g.
    /// `{"send_email": ["external"]}`.
    #[serde(default)]
    pub tool_labels: warden_core::access_label::ToolLabels,
    /// The identity the secret belongs to: a registered identity (`KIND:NAME` or its id) or
    /// an imported identity's id. An unknown one is refused and nothing is created.
    #[serde(default)]
    pub identity: Option<String>,
}

/// A change to an upstream. A URL on another scheme, host or port needs `secret` in the
/// same change (the old secret was registered for the old host); a path-only change does not.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUpstream {
    #[serde(default)]
    pub url: Option<String>,
    /// bearer, basic (secret is user:password) or header:NAME.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub auth: Option<InjectAuth>,
    /// A new route map (TOML), replacing the old one.
    #[serde(default)]
    pub routes: Option<String>,
    /// A new list of allowed origins (MCP), replacing the old one; `[]` clears it.
    #[serde(default)]
    pub allowed_origins: Option<Vec<String>>,
    /// A new list of labels, replacing the old one; `[]` clears it.
    #[serde(default)]
    pub labels: Option<Vec<String>>,
    /// New tool labels (MCP), replacing the old ones; `{}` clears them.
    #[serde(default)]
    pub tool_labels: Option<warden_core::access_label::ToolLabels>,
    /// The identity the secret belongs to (`KIND:NAME`, a registered identity's id, or an
    /// imported identity's id); `null` removes the binding. An unknown one is refused and
    /// nothing is changed.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub identity: Option<Option<String>>,
    /// A new secret for the upstream, sealed at once, never returned; required when the URL
    /// moves to another scheme, host or port.
    #[serde(default)]
    pub secret: Option<String>,
}

/// Tells a field sent as `null` (`Some(None)`) from one left out (`None`).
fn present<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(deserializer).map(Some)
}

impl std::fmt::Debug for UpdateUpstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpdateUpstream")
            .field("url", &self.url)
            .field("secret", &self.secret.as_ref().map(|_| "[redacted]"))
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for CreateUpstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateUpstream")
            .field("name", &self.name)
            .field("secret", &"[redacted]")
            .finish()
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetSecret {
    pub secret: String,
}

impl std::fmt::Debug for SetSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SetSecret([redacted])")
    }
}

/// Seals `secret` for upstream `id` at `version`; the plaintext is wiped when this returns.
fn seal(
    state: &AppState,
    id: UpstreamId,
    version: i64,
    secret: String,
) -> Result<SealedSecret, ApiError> {
    let secret = Zeroizing::new(secret);
    if secret.is_empty() || secret.chars().count() > MAX_SECRET_CHARS {
        return Err(DomainError::invalid(
            "secret",
            format!("must be 1 to {MAX_SECRET_CHARS} characters"),
        )
        .into());
    }
    let version_u64 =
        u64::try_from(version).map_err(|_| ApiError::Internal("negative secret version".into()))?;
    let associated = warden_crypto::seal::associated_data(&id.to_string(), version_u64);
    let bytes = warden_crypto::seal::seal(&state.data_key, secret.as_bytes(), &associated)
        .map_err(|error| ApiError::Internal(format!("sealing failed: {error}")))?;
    Ok(SealedSecret {
        bytes,
        version,
        leak_fingerprint: Some(crate::leaks::upstream_secret_fingerprint(
            &state.pepper,
            secret.as_bytes(),
        )),
    })
}

/// Register an upstream. An `mcp-stdio` upstream is a command this server runs (without a
/// shell, with PATH, HOME and its secret variable as its whole environment) and restarts
/// when it exits; only an admin can register one.
#[utoipa::path(post, path = "/v1/upstreams", tag = "upstreams", request_body = CreateUpstream,
    responses((status = 201, body = Upstream), (status = 409, body = ErrorBody, description = "duplicate_upstream"),
              (status = 422, body = ErrorBody, description = "invalid_field (e.g. a route map line at fault)")))]
pub async fn create_upstream(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CreateUpstream>,
) -> Result<(StatusCode, Json<Upstream>), ApiError> {
    if let Some(routes) = &body.routes {
        stored::parse_routes(routes)?;
    }
    if body.kind.is_mcp() && body.routes.is_some() {
        return Err(DomainError::invalid(
            "routes",
            "MCP upstreams are authorized per tool and take no route map",
        )
        .into());
    }
    let stdio = match (&body.command, body.kind) {
        (Some(command), _) => Some(warden_core::StdioCommand {
            command: command.clone(),
            args: body.args.clone(),
            env_secret: body.env_secret.clone(),
        }),
        (None, _) if !body.args.is_empty() || body.env_secret.is_some() => {
            return Err(DomainError::invalid(
                "command",
                "args and env_secret belong to an mcp-stdio upstream's command; give the command too",
            )
            .into());
        }
        (None, _) => None,
    };
    let auth = match (body.auth, body.kind) {
        (Some(auth), _) => auth,
        // Unused: a local server's secret is its environment variable.
        (None, UpstreamKind::McpStdio) => InjectAuth::Bearer,
        (None, UpstreamKind::Http | UpstreamKind::Mcp) => {
            return Err(DomainError::invalid(
                "auth",
                "say how the secret is injected: bearer, basic or header:NAME",
            )
            .into());
        }
    };
    if body.kind == UpstreamKind::McpStdio && body.secret.is_some() && body.env_secret.is_none() {
        return Err(DomainError::invalid(
            "env_secret",
            "a local MCP server gets its secret as an environment variable; name it with env_secret",
        )
        .into());
    }
    let new = NewUpstream {
        name: body.name,
        kind: body.kind,
        url: body.url,
        auth,
        routes: body.routes,
        allowed_origins: body.allowed_origins,
        stdio,
        labels: body.labels,
        tool_labels: body.tool_labels,
        identity: body.identity,
    };
    new.validate()?;
    // An upstream's name is also a Cedar entity type, where a `.` cannot stand.
    if new.name.contains('.') {
        return Err(DomainError::invalid(
            "name",
            format!(
                "`{}` must be 1-64 characters of a-z, 0-9, '_' or '-', starting with a letter or digit",
                new.name
            ),
        )
        .into());
    }
    if let Some(stdio) = &new.stdio {
        // The program must exist where it will run: on this server.
        warden_stdio::resolve_program(&stdio.command, std::env::var_os("PATH").as_deref())
            .map_err(|why| DomainError::invalid("command", why))?;
    }
    let id = UpstreamId::new_v7();
    let sealed = body
        .secret
        .map(|secret| seal(&state, id, 1, secret))
        .transpose()?;
    let created = state
        .store
        .create_upstream(
            &state.actor,
            id,
            new,
            sealed,
            &stored::check,
            state.clock.now(),
        )
        .await?;
    state.catalog.reload(&*state.store).await;
    tracing::info!(upstream = %created.name, "upstream created");
    Ok((StatusCode::CREATED, Json(created)))
}

/// List upstreams.
#[utoipa::path(get, path = "/v1/upstreams", tag = "upstreams", responses((status = 200, body = Vec<Upstream>)))]
pub async fn list_upstreams(
    State(state): State<AppState>,
) -> Result<Json<Vec<Upstream>>, ApiError> {
    Ok(Json(state.store.list_upstreams().await?))
}

/// Read one upstream (never its secret).
#[utoipa::path(get, path = "/v1/upstreams/{name}", tag = "upstreams",
    params(("name" = String, Path)), responses((status = 200, body = Upstream), (status = 404, body = ErrorBody)))]
pub async fn get_upstream(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Upstream>, ApiError> {
    Ok(Json(state.store.get_upstream(&name).await?))
}

/// Change an upstream's URL, injection, route map, allowed origins, labels, the identity its
/// secret belongs to, and secret with them.
/// A route map that would leave a stored policy invalid is refused with the validator's
/// message; a URL on another scheme, host or port without a new secret is refused with
/// `secret_bound_to_origin` (the store checks it against the row it changes).
#[utoipa::path(patch, path = "/v1/upstreams/{name}", tag = "upstreams", request_body = UpdateUpstream,
    params(("name" = String, Path)),
    responses((status = 200, body = Upstream), (status = 404, body = ErrorBody),
              (status = 422, body = ErrorBody, description = "invalid_field, or secret_bound_to_origin: the URL moves to another host without a new secret")))]
pub async fn update_upstream(
    State(state): State<AppState>,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<UpdateUpstream>,
) -> Result<Json<Upstream>, ApiError> {
    let UpdateUpstream {
        url,
        auth,
        routes,
        allowed_origins,
        labels,
        tool_labels,
        identity,
        secret,
    } = body;
    let patch = UpstreamPatch {
        url,
        auth,
        routes,
        allowed_origins,
        labels,
        tool_labels,
        identity,
    };
    // The route map is parsed here for a precise message; whether the stored policies
    // still compile against it is checked by the store, inside the write's transaction.
    if let Some(routes) = &patch.routes {
        stored::parse_routes(routes)?;
    }
    let sealed = match secret {
        Some(secret) => {
            let current = state.store.get_upstream(&name).await?;
            Some(seal(
                &state,
                current.id,
                current.secret_version + 1,
                secret,
            )?)
        }
        None => None,
    };
    let updated = state
        .store
        .update_upstream(
            &state.actor,
            &name,
            patch,
            sealed,
            &stored::check,
            state.clock.now(),
        )
        .await?;
    state.catalog.reload(&*state.store).await;
    Ok(Json(updated))
}

/// Replace an upstream's secret (sealed under a new version).
#[utoipa::path(put, path = "/v1/upstreams/{name}/secret", tag = "upstreams", request_body = SetSecret,
    params(("name" = String, Path)),
    responses((status = 200, body = Upstream), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn set_upstream_secret(
    State(state): State<AppState>,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<SetSecret>,
) -> Result<Json<Upstream>, ApiError> {
    let current = state.store.get_upstream(&name).await?;
    let sealed = seal(&state, current.id, current.secret_version + 1, body.secret)?;
    let updated = state
        .store
        .set_upstream_secret(&state.actor, &name, sealed, state.clock.now())
        .await?;
    state.catalog.reload(&*state.store).await;
    tracing::info!(upstream = %updated.name, version = updated.secret_version, "upstream secret replaced");
    Ok(Json(updated))
}

/// Remove an upstream. Refused while a stored policy still refers to it (checked inside the
/// removal's transaction, so a policy naming it added at the same moment on another node
/// cannot slip in between).
#[utoipa::path(delete, path = "/v1/upstreams/{name}", tag = "upstreams",
    params(("name" = String, Path)),
    responses((status = 200, body = Upstream), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn delete_upstream(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Upstream>, ApiError> {
    let removed = state
        .store
        .delete_upstream(&state.actor, &name, &stored::check, state.clock.now())
        .await?;
    state.catalog.reload(&*state.store).await;
    Ok(Json(removed))
}
