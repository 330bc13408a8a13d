//! `/v1/policies`: Cedar policies, validated in strict mode against the schema Warden
//! generates from its upstreams; the generated schema; and a dry run that answers allow,
//! deny or hold for a hypothetical request and says which policies decided.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use warden_core::{DomainError, IdentityKind, IdentityRef, StoredPolicy, UpstreamKind};
use warden_policy::{DecisionRequest, PrincipalKind, RequestContext, stored};
use warden_proxy::decide::Ask;

use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiJson;
use crate::state::AppState;

/// Ids that would collide with the fixed paths under `/v1/policies`.
const RESERVED_IDS: &[&str] = &["schema", "test"];

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutPolicy {
    /// 1-64 of letters, digits, '.', '_' or '-'.
    pub id: String,
    /// Cedar policy text (one or more policies).
    pub text: String,
    /// Replace an existing policy with this id instead of refusing.
    #[serde(default)]
    pub replace: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyTest {
    /// The identity's name (an agent's, unless `kind` says otherwise).
    pub agent: String,
    /// The identity's kind [default: agent]; each kind is its own principal type.
    pub kind: Option<IdentityKind>,
    /// The scopes the token would carry, as `context.scopes`.
    #[serde(default)]
    pub scopes: Vec<String>,
    pub upstream: String,
    /// With `path`: the request, matched against the upstream's route map.
    pub method: Option<String>,
    pub path: Option<String>,
    /// For MCP upstreams: the tool called.
    pub tool: Option<String>,
    /// Instead of method and path: the action and the resource as `Type::id`.
    pub action: Option<String>,
    pub resource: Option<String>,
    /// The user the agent acts for.
    pub user: Option<String>,
    pub reason: Option<String>,
    pub task: Option<String>,
    /// With `task`: the actions the task already did, as `context.task.actions`.
    #[serde(default)]
    pub task_actions: Vec<String>,
    /// With `task`: the labels of what the task already touched, as `context.task.labels`.
    #[serde(default)]
    pub task_labels: Vec<String>,
    /// With `task`: the tools (`UPSTREAM/TOOL`) the task already called, as `context.task.tools`.
    #[serde(default)]
    pub task_tools: Vec<String>,
    /// Defaults to the agent's environment.
    pub environment: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub arguments: Option<serde_json::Map<String, serde_json::Value>>,
    /// Whether a human approved this exact request.
    #[serde(default)]
    pub approved: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PolicyVerdict {
    /// allow, deny or hold.
    pub decision: String,
    /// permit, approved, approval_required, forbid, no_permit, evaluation_error.
    pub reason: String,
    /// The policies that decided.
    pub policies: Vec<String>,
    pub action: String,
    pub resource: String,
    pub errors: Vec<String>,
}

fn check_id(id: &str) -> Result<(), ApiError> {
    warden_core::policy::validate_policy_id(id)?;
    if RESERVED_IDS.contains(&id) {
        return Err(DomainError::invalid(
            "id",
            format!("`{id}` is reserved; choose another policy id"),
        )
        .into());
    }
    Ok(())
}

/// List policies.
#[utoipa::path(get, path = "/v1/policies", tag = "policies", responses((status = 200, body = Vec<StoredPolicy>)))]
pub async fn list_policies(
    State(state): State<AppState>,
) -> Result<Json<Vec<StoredPolicy>>, ApiError> {
    Ok(Json(state.store.list_policies().await?))
}

/// Add (or with `replace`, change) a policy. The whole resulting set is validated in strict
/// mode against the generated schema inside the write's transaction, serialised with every
/// other change to policies and upstreams on any node; one that does not validate is
/// refused with the validator's message and nothing changes.
#[utoipa::path(post, path = "/v1/policies", tag = "policies", request_body = PutPolicy,
    responses((status = 201, body = StoredPolicy), (status = 409, body = ErrorBody, description = "duplicate_policy"),
              (status = 422, body = ErrorBody, description = "invalid_policy")))]
pub async fn put_policy(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<PutPolicy>,
) -> Result<(StatusCode, Json<StoredPolicy>), ApiError> {
    check_id(&body.id)?;
    let now = state.clock.now();
    let stored = state
        .store
        .put_policy(
            &state.actor,
            &body.id,
            &body.text,
            body.replace,
            &stored::check,
            now,
        )
        .await?;
    state.catalog.reload(&*state.store).await;
    tracing::info!(policy = %stored.id, version = stored.version, "policy stored");
    Ok((StatusCode::CREATED, Json(stored)))
}

/// Read one policy.
#[utoipa::path(get, path = "/v1/policies/{id}", tag = "policies", params(("id" = String, Path)),
    responses((status = 200, body = StoredPolicy), (status = 404, body = ErrorBody)))]
pub async fn get_policy(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<StoredPolicy>, ApiError> {
    Ok(Json(state.store.get_policy(&id).await?))
}

/// Remove a policy.
#[utoipa::path(delete, path = "/v1/policies/{id}", tag = "policies", params(("id" = String, Path)),
    responses((status = 200, body = StoredPolicy), (status = 404, body = ErrorBody)))]
pub async fn delete_policy(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<StoredPolicy>, ApiError> {
    let removed = state
        .store
        .delete_policy(&state.actor, &id, state.clock.now())
        .await?;
    state.catalog.reload(&*state.store).await;
    Ok(Json(removed))
}

/// The Cedar schema Warden generates from its upstreams (Cedar schema syntax).
#[utoipa::path(get, path = "/v1/policies/schema", tag = "policies",
    responses((status = 200, description = "Cedar schema text", content_type = "text/plain", body = String)))]
pub async fn schema(State(state): State<AppState>) -> Result<String, ApiError> {
    let upstreams = state.store.list_upstreams().await?;
    let input = stored::schema_input(&upstreams)?;
    let generated = warden_policy::GeneratedSchema::generate(&input)
        .map_err(|error| DomainError::InvalidPolicy(error.to_string()))?;
    Ok(generated.text().to_string())
}

/// Decide a hypothetical request with the stored policies, without doing anything.
#[utoipa::path(post, path = "/v1/policies/test", tag = "policies", request_body = PolicyTest,
    responses((status = 200, body = PolicyVerdict), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn test_policy(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<PolicyTest>,
) -> Result<Json<PolicyVerdict>, ApiError> {
    let agent = state
        .store
        .get_identity(&IdentityRef::Name {
            kind: body.kind.unwrap_or(IdentityKind::Agent),
            name: body.agent.clone(),
        })
        .await?;
    let kind = PrincipalKind::from_identity_kind(agent.kind.as_str()).ok_or_else(|| {
        DomainError::invalid("kind", "this kind of identity cannot be a principal")
    })?;
    let upstreams = state.store.list_upstreams().await?;
    let upstream = upstreams
        .iter()
        .find(|upstream| upstream.name == body.upstream)
        .ok_or_else(|| DomainError::UnknownUpstream(body.upstream.clone()))?;
    // What the request asks, worked out as the gateway works it out.
    let ask = match (
        &body.method,
        &body.path,
        &body.tool,
        &body.action,
        &body.resource,
    ) {
        (Some(method), Some(path), None, None, None) => {
            if upstream.kind != UpstreamKind::Http {
                return Err(
                    DomainError::invalid("path", "MCP upstreams are tested with `tool`").into(),
                );
            }
            let routes = stored::parse_routes(upstream.routes.as_deref().unwrap_or_default())?;
            Ask::route(&routes, &method.to_ascii_uppercase(), path).ok_or_else(|| {
                DomainError::invalid(
                    "path",
                    format!(
                        "{method} {path} matches no route of `{}` (unknown_route)",
                        upstream.name
                    ),
                )
            })?
        }
        (None, None, Some(tool), None, None) => {
            if upstream.kind == UpstreamKind::Http {
                return Err(DomainError::invalid(
                    "tool",
                    "HTTP upstreams are tested with `method` and `path`",
                )
                .into());
            }
            Ask::tool_call(&upstream.name, tool, None)
        }
        (None, None, None, Some(action), Some(resource)) => {
            let (kind, id) = resource.split_once("::").ok_or_else(|| {
                DomainError::invalid(
                    "resource",
                    "write the resource as Type::id, e.g. Ticket::42",
                )
            })?;
            Ask {
                action: action.clone(),
                resource_type: kind.to_string(),
                resource_id: id.trim_matches('"').to_string(),
                arguments: None,
                labels: Vec::new(),
            }
        }
        _ => {
            return Err(DomainError::invalid(
                "request",
                "give either method and path, or tool, or action and resource",
            )
            .into());
        }
    };
    let policies = state.store.list_policies().await?;
    let engine = stored::build(&upstreams, &policies)?;
    let environment = body
        .environment
        .clone()
        .or_else(|| agent.environment.map(|env| env.as_str().to_string()));
    if body.task.is_none()
        && !(body.task_actions.is_empty()
            && body.task_labels.is_empty()
            && body.task_tools.is_empty())
    {
        return Err(DomainError::invalid(
            "task",
            "task_actions, task_labels and task_tools describe a task; give its id with task",
        )
        .into());
    }
    let sorted = |items: &[String]| {
        let mut items = items.to_vec();
        items.sort();
        items.dedup();
        items
    };
    let seen = warden_policy::TaskSeen::new(
        sorted(&body.task_actions),
        sorted(&body.task_labels),
        sorted(&body.task_tools),
    );
    let request = DecisionRequest {
        kind,
        name: &agent.name,
        owner: &agent.owner,
        on_behalf_of: body.user.as_deref(),
        upstream: &upstream.name,
        action: &ask.action,
        resource_type: &ask.resource_type,
        resource_id: &ask.resource_id,
        context: RequestContext {
            reason: body.reason.as_deref(),
            task: body
                .task
                .as_deref()
                .map(|id| warden_policy::TaskContext { id, seen: &seen }),
            environment: environment.as_deref(),
            arguments: body.arguments.as_ref(),
            scopes: &body.scopes,
        },
        approved: body.approved,
    };
    let decision = engine.decide(&request);
    let effect = match decision.effect {
        warden_policy::Effect::Allow => "allow",
        warden_policy::Effect::Deny => "deny",
        warden_policy::Effect::Hold => "hold",
    };
    Ok(Json(PolicyVerdict {
        decision: effect.to_string(),
        reason: decision.reason.as_str().to_string(),
        policies: decision.policy_ids,
        resource: ask.resource_text(),
        action: ask.action,
        errors: decision.errors,
    }))
}
