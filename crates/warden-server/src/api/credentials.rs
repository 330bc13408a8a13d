//! `/v1` routes of the credential plane: issuing, rotating, listing and revoking client
//! credentials; the kill switch (`/v1/kill`, `/v1/restore`) and permanent revocation
//! (`/v1/revoke`) of tokens, credentials, identities and whole fleets; the signing keys;
//! and token verification for the gateway.
//!
//! Every handler that stops something refreshes this node's revocation state before it
//! answers, so what it stopped is refused from the moment the caller hears back.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;
use warden_audit::EventKind;
use warden_core::{DomainError, IdentityRef, OwnerRef, Timestamp};
use warden_crypto::{Secret, SecretKind};
use warden_store::{Credential, CredentialKind, IdentityChange, IdentityState, NewCredential};

use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiJson;
use crate::oauth::client_secret_hash;
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueCredential {
    /// `client_secret` (the default) or `private_key_jwt`.
    #[serde(default)]
    pub kind: Option<String>,
    /// The public key (a JWK: OKP/Ed25519, EC/P-256 or RSA) for `private_key_jwt`.
    #[serde(default)]
    pub public_jwk: Option<Value>,
    /// Space-separated scopes tokens may carry; absent leaves them unrestricted.
    #[serde(default)]
    pub scope: Option<String>,
    /// Lifetime in days, at most the configured ceiling (which is the default).
    #[serde(default)]
    pub expires_in_days: Option<i64>,
    /// Rotation only: how long the previous credential keeps working, in seconds
    /// [default: the configured overlap].
    #[serde(default)]
    pub overlap_secs: Option<i64>,
}

/// A credential as shown: never its secret, except once, right after it is made.
#[derive(Debug, Serialize, ToSchema)]
pub struct IssuedCredential {
    pub client_id: String,
    /// Present only in the response that created it; Warden keeps only a keyed hash.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    #[schema(value_type = Object)]
    pub credential: Value,
    /// Rotation only: the credentials rotated out, with the end of their overlap.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<Object>)]
    pub rotated: Vec<Value>,
}

fn show(credential: &Credential) -> Value {
    json!({
        "id": credential.id,
        "client_id": credential.identity_id,
        "kind": credential.kind,
        "status": credential.status,
        "scope": credential.scope,
        "public_jwk": credential.public_jwk,
        "created_at": credential.created_at,
        "expires_at": credential.expires_at,
        "revoked_at": credential.revoked_at,
    })
}

fn identity_ref(text: &str) -> Result<IdentityRef, ApiError> {
    // A name no identity can have (an unknown kind) names no identity: 404, like any other.
    IdentityRef::parse(text).map_err(|_| DomainError::UnknownIdentity(text.to_string()).into())
}

/// Builds a new credential from the request; returns it and the secret to show once.
fn new_credential(
    state: &AppState,
    body: &IssueCredential,
    now: Timestamp,
) -> Result<(NewCredential, Option<Secret>), ApiError> {
    let kind = CredentialKind::parse(body.kind.as_deref().unwrap_or("client_secret"))?;
    let ceiling = state.credentials.settings.credential_max_ttl_secs;
    let ttl = match body.expires_in_days {
        None => ceiling,
        Some(days) if days >= 1 && days.saturating_mul(86_400) <= ceiling => days * 86_400,
        Some(_) => {
            return Err(DomainError::invalid(
                "expires_in_days",
                format!("must be between 1 and {} (the ceiling)", ceiling / 86_400),
            )
            .into());
        }
    };
    if let Some(scope) = &body.scope
        && (scope.trim().is_empty()
            || !scope.bytes().all(|b| {
                b == b' ' || b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b)
            }))
    {
        return Err(DomainError::invalid(
            "scope",
            "must be space-separated printable ASCII without quotes or backslashes",
        )
        .into());
    }
    let (secret, secret_hash, public_jwk) = match kind {
        CredentialKind::ClientSecret => {
            if body.public_jwk.is_some() {
                return Err(DomainError::invalid(
                    "public_jwk",
                    "only a private_key_jwt credential has a public key",
                )
                .into());
            }
            let secret = Secret::generate(SecretKind::ClientSecret);
            let hash = client_secret_hash(&state.pepper, &secret);
            (Some(secret), Some(hash), None)
        }
        CredentialKind::PrivateKeyJwt => {
            let Some(jwk) = &body.public_jwk else {
                return Err(DomainError::invalid(
                    "public_jwk",
                    "a private_key_jwt credential needs the client's public key as a JWK",
                )
                .into());
            };
            if jwk.get("d").is_some() {
                return Err(DomainError::invalid(
                    "public_jwk",
                    "this JWK holds a private key; register only the public half",
                )
                .into());
            }
            warden_crypto::ExternalVerifier::from_jwks(&json!({ "keys": [jwk] }).to_string())
                .map_err(|error| {
                    DomainError::invalid("public_jwk", format!("not a usable key: {error}"))
                })?;
            (None, None, Some(jwk.clone()))
        }
    };
    let id = uuid::Uuid::now_v7().to_string();
    Ok((
        NewCredential {
            id,
            kind,
            secret_hash,
            public_jwk,
            scope: body.scope.as_deref().map(|s| s.trim().to_string()),
            expires_at: now.plus_secs(ttl),
        },
        secret,
    ))
}

/// Issue a credential to an active identity; a client secret is shown only in this response.
#[utoipa::path(post, path = "/v1/identities/{identity}/credentials", tag = "credentials",
    params(("identity" = String, Path, description = "id or KIND:NAME")),
    request_body = IssueCredential,
    responses((status = 201, body = IssuedCredential), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub async fn issue_credential(
    State(state): State<AppState>,
    Path(identity): Path<String>,
    ApiJson(body): ApiJson<IssueCredential>,
) -> Result<(StatusCode, Json<IssuedCredential>), ApiError> {
    if body.overlap_secs.is_some() {
        return Err(DomainError::invalid("overlap_secs", "applies only to rotation").into());
    }
    let reference = identity_ref(&identity)?;
    let now = state.clock.now();
    let (new, secret) = new_credential(&state, &body, now)?;
    let credential = state
        .store
        .create_credential(&state.actor, &reference, new, now)
        .await?;
    tracing::info!(credential = %credential.id, client_id = %credential.identity_id, "credential issued");
    Ok((
        StatusCode::CREATED,
        Json(IssuedCredential {
            client_id: credential.identity_id.clone(),
            client_secret: secret.map(|secret| secret.expose().to_string()),
            credential: show(&credential),
            rotated: Vec::new(),
        }),
    ))
}

/// Issue a new credential and retire the identity's current ones of the same kind after the
/// overlap.
#[utoipa::path(post, path = "/v1/identities/{identity}/credentials/rotate", tag = "credentials",
    params(("identity" = String, Path, description = "id or KIND:NAME")),
    request_body = IssueCredential,
    responses((status = 201, body = IssuedCredential), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn rotate_credential(
    State(state): State<AppState>,
    Path(identity): Path<String>,
    ApiJson(body): ApiJson<IssueCredential>,
) -> Result<(StatusCode, Json<IssuedCredential>), ApiError> {
    let reference = identity_ref(&identity)?;
    let now = state.clock.now();
    let overlap = body
        .overlap_secs
        .unwrap_or(state.credentials.settings.rotation_overlap_secs);
    if overlap < 0 {
        return Err(DomainError::invalid("overlap_secs", "cannot be negative").into());
    }
    let (new, secret) = new_credential(&state, &body, now)?;
    let (credential, rotated) = state
        .store
        .rotate_credential(&state.actor, &reference, new, now.plus_secs(overlap), now)
        .await?;
    if overlap == 0 {
        state.credentials.refresh(&*state.store, now).await?;
    }
    Ok((
        StatusCode::CREATED,
        Json(IssuedCredential {
            client_id: credential.identity_id.clone(),
            client_secret: secret.map(|secret| secret.expose().to_string()),
            credential: show(&credential),
            rotated: rotated.iter().map(show).collect(),
        }),
    ))
}

/// List an identity's credentials (never their secrets).
#[utoipa::path(get, path = "/v1/identities/{identity}/credentials", tag = "credentials",
    params(("identity" = String, Path, description = "id or KIND:NAME")),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody)))]
pub async fn list_credentials(
    State(state): State<AppState>,
    Path(identity): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let credentials = state
        .store
        .list_credentials(&identity_ref(&identity)?)
        .await?;
    Ok(Json(
        json!({ "items": credentials.iter().map(show).collect::<Vec<_>>() }),
    ))
}

/// What a kill, restore or revoke names: exactly one of these.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// An identity by id or KIND:NAME; its sub-agents stop with it.
    #[serde(default)]
    pub identity: Option<String>,
    /// An owner by email or id: their whole fleet.
    #[serde(default)]
    pub owner: Option<String>,
    /// Revoke only: one credential by id.
    #[serde(default)]
    pub credential: Option<String>,
    /// Revoke only: one access token (the token itself, or its `jti`).
    #[serde(default)]
    pub token: Option<String>,
    /// List what would stop, change nothing.
    #[serde(default)]
    pub dry_run: bool,
}

enum Named {
    Identity(IdentityRef),
    Owner(OwnerRef),
    Credential(String),
    Token(String),
}

fn named(target: &Target, allow_credentials: bool) -> Result<Named, ApiError> {
    let given = [
        target.identity.is_some(),
        target.owner.is_some(),
        target.credential.is_some(),
        target.token.is_some(),
    ]
    .iter()
    .filter(|given| **given)
    .count();
    if given != 1 {
        return Err(ApiError::bad_request(
            "invalid_target",
            if allow_credentials {
                "name exactly one of identity, owner, credential or token"
            } else {
                "name exactly one of identity or owner"
            },
        ));
    }
    if let Some(identity) = &target.identity {
        return Ok(Named::Identity(identity_ref(identity)?));
    }
    if let Some(owner) = &target.owner {
        return Ok(Named::Owner(OwnerRef::parse(owner)?));
    }
    if !allow_credentials {
        return Err(ApiError::bad_request(
            "invalid_target",
            "only identities and owners can be suspended; revoke credentials and tokens with /v1/revoke",
        ));
    }
    if let Some(credential) = &target.credential {
        return Ok(Named::Credential(credential.clone()));
    }
    Ok(Named::Token(target.token.clone().unwrap_or_default()))
}

fn stopped(states: &[&IdentityState]) -> Vec<Value> {
    states
        .iter()
        .map(|state| {
            json!({
                "id": state.id,
                "kind": state.kind,
                "name": state.name,
                "owner": state.owner_email,
                "status": state.status,
            })
        })
        .collect()
}

/// The identities a kill or revoke of `named` reaches, from the in-memory state.
async fn reach(state: &AppState, named: &Named) -> Result<Vec<Value>, ApiError> {
    let revocations = state.credentials.tokens.revocations.current();
    Ok(match named {
        Named::Identity(reference) => {
            let identity = state.store.get_identity(reference).await?;
            stopped(&revocations.descendants(&identity.id.to_string()))
        }
        Named::Owner(reference) => {
            let owner = state.store.get_owner(reference).await?;
            stopped(&revocations.owned_by(&owner.id.to_string()))
        }
        Named::Credential(_) | Named::Token(_) => Vec::new(),
    })
}

/// Suspend an identity (and so its sub-agents and every token they hold) or an owner's whole
/// fleet; reversible with `/v1/restore`. A dry run of an identity's kill also lists what it
/// could reach (`reaches`: per identity and upstream, the actions and tools not denied).
#[utoipa::path(post, path = "/v1/kill", tag = "kill switch", request_body = Target,
    responses((status = 200, body = Object), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn kill(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<Target>,
) -> Result<Json<Value>, ApiError> {
    let named = named(&body, false)?;
    let reached = reach(&state, &named).await?;
    if body.dry_run {
        // What the identity could reach is what a kill takes away: its upstreams and the
        // actions and tools some request of it (or of a sub-agent) could get through.
        let reaches = match &named {
            Named::Identity(reference) => crate::access_graph::graph_of(
                &state,
                reference,
                2,
                super::graph::DEFAULT_DAYS,
                true,
            )
            .await?
            .reach(),
            Named::Owner(_) | Named::Credential(_) | Named::Token(_) => Vec::new(),
        };
        return Ok(Json(
            json!({ "dry_run": true, "stops": reached, "reaches": reaches }),
        ));
    }
    let now = state.clock.now();
    match &named {
        Named::Identity(reference) => {
            state
                .store
                .kill_identity(&state.actor, reference, reached.len(), now)
                .await?;
            count_kill(EventKind::KillApplied);
        }
        Named::Owner(reference) => {
            state
                .store
                .kill_owner(&state.actor, reference, false, now)
                .await?;
        }
        Named::Credential(_) | Named::Token(_) => {}
    }
    state.credentials.refresh(&*state.store, now).await?;
    tracing::warn!(stopped = reached.len(), "kill switch applied");
    Ok(Json(json!({ "dry_run": false, "stops": reached })))
}

/// Counts a kill-switch change of one identity (the store recorded its event with it).
fn count_kill(kind: EventKind) {
    metrics::counter!("warden_kill_switch_total", "kind" => kind.as_str()).increment(1);
}

/// Lift a kill-switch suspension of an identity or an owner's fleet.
#[utoipa::path(post, path = "/v1/restore", tag = "kill switch", request_body = Target,
    responses((status = 200, body = Object), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn restore(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<Target>,
) -> Result<Json<Value>, ApiError> {
    let named = named(&body, false)?;
    if body.dry_run {
        return Err(ApiError::bad_request(
            "invalid_field",
            "dry_run applies to kill and revoke only",
        ));
    }
    let now = state.clock.now();
    let restored: Vec<Value> = match &named {
        Named::Identity(reference) => {
            let identity = state
                .store
                .restore_identity(&state.actor, reference, now)
                .await?;
            count_kill(EventKind::KillRestored);
            vec![json!({ "id": identity.id, "kind": identity.kind, "name": identity.name })]
        }
        Named::Owner(reference) => state
            .store
            .restore_owner(&state.actor, reference, now)
            .await?
            .iter()
            .map(|identity| {
                json!({ "id": identity.id, "kind": identity.kind, "name": identity.name })
            })
            .collect(),
        Named::Credential(_) | Named::Token(_) => Vec::new(),
    };
    state.credentials.refresh(&*state.store, now).await?;
    Ok(Json(json!({ "restored": restored })))
}

/// Revoke for good: one token, one credential, one identity (with its sub-agents,
/// credentials and every token issued to or exchanged through them) or an owner's fleet.
#[utoipa::path(post, path = "/v1/revoke", tag = "kill switch", request_body = Target,
    responses((status = 200, body = Object), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn revoke(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<Target>,
) -> Result<Json<Value>, ApiError> {
    let named = named(&body, true)?;
    let now = state.clock.now();
    let mut reached = reach(&state, &named).await?;
    match &named {
        Named::Token(token) => {
            // A whole token names its jti, issued-to identity and expiry; a bare jti is
            // kept until the longest possible token lifetime has passed.
            let (jti, identity, exp) = match state.credentials.tokens.verify_token(token, None, now)
            {
                Ok(claims) => (
                    claims.jti.clone(),
                    Some(claims.client_id.clone()),
                    claims.exp,
                ),
                Err(_) if token.contains('.') => {
                    return Err(ApiError::bad_request(
                        "invalid_token",
                        "this token is not a valid Warden token (or has expired); nothing to revoke",
                    ));
                }
                Err(_) => (
                    token.clone(),
                    None,
                    now.as_secs() + state.credentials.settings.key_publication_secs(),
                ),
            };
            reached = vec![json!({ "jti": jti })];
            if !body.dry_run {
                state
                    .store
                    .revoke_token(
                        &state.actor,
                        warden_store::TokenRevocation {
                            jti,
                            identity_id: identity,
                            expires_at: Timestamp::from_millis(exp.saturating_mul(1000)),
                        },
                        now,
                    )
                    .await?;
            }
        }
        Named::Credential(id) => {
            let credential = state.store.get_credential(id).await?;
            reached = vec![show(&credential)];
            if !body.dry_run {
                state.store.revoke_credential(&state.actor, id, now).await?;
            }
        }
        Named::Identity(reference) => {
            if !body.dry_run {
                state
                    .store
                    .change_identity(&state.actor, reference, IdentityChange::Revoke, now)
                    .await?;
            }
        }
        Named::Owner(reference) => {
            if !body.dry_run {
                state
                    .store
                    .kill_owner(&state.actor, reference, true, now)
                    .await?;
            }
        }
    }
    if !body.dry_run {
        state.credentials.refresh(&*state.store, now).await?;
        metrics::counter!("warden_revocations_total", "scope" => "kill_switch_revoke").increment(1);
        settle_leak_findings(&state, now).await;
    }
    Ok(Json(json!({ "dry_run": body.dry_run, "stops": reached })))
}

/// Revoke one credential by id.
#[utoipa::path(post, path = "/v1/credentials/{id}/revoke", tag = "credentials",
    params(("id" = String, Path, description = "credential id")),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn revoke_credential(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let now = state.clock.now();
    let credential = state
        .store
        .revoke_credential(&state.actor, &id, now)
        .await?;
    state.credentials.refresh(&*state.store, now).await?;
    metrics::counter!("warden_revocations_total", "scope" => "credential").increment(1);
    settle_leak_findings(&state, now).await;
    Ok(Json(show(&credential)))
}

/// A revoked credential may be a leaked one: its leak finding resolves now rather than at
/// the next evaluation. A failure here does not undo the revocation.
async fn settle_leak_findings(state: &AppState, now: Timestamp) {
    if let Err(error) = state.posture.evaluate_leaks(&*state.store, now).await {
        tracing::warn!(%error, "the evaluation of leak findings failed");
    }
}

fn keys_body(state: &AppState) -> Value {
    let ring = state.credentials.tokens.ring();
    let keys: Vec<Value> = ring
        .keys()
        .map(|key| {
            json!({
                "kid": key.kid(),
                "active": key.is_active(),
                "created_at": Timestamp::from_millis(key.created_at() * 1000),
                "retired_at": key.retired_at().map(|at| Timestamp::from_millis(at * 1000)),
                "published_until": key.not_after().map(|at| Timestamp::from_millis(at * 1000)),
            })
        })
        .collect();
    json!({ "items": keys })
}

/// The token-signing keys: the active one and the retired ones still published.
#[utoipa::path(get, path = "/v1/keys", tag = "keys", responses((status = 200, body = Object)))]
pub async fn list_keys(State(state): State<AppState>) -> Json<Value> {
    Json(keys_body(&state))
}

/// Start signing with a new key; the previous one stays in the JWKS until the last token it
/// signed has expired.
#[utoipa::path(post, path = "/v1/keys/rotate", tag = "keys",
    responses((status = 200, body = Object), (status = 503, body = ErrorBody)))]
pub async fn rotate_keys(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let now = state.clock.now();
    let plane = &state.credentials;
    let ring = warden_plane::tokens::rotate_ring(
        &*state.store,
        &state.actor,
        &plane.data_key,
        plane.settings.key_publication_secs(),
        now,
    )
    .await
    .map_err(|error| match error {
        warden_plane::tokens::RingError::Store(error) => ApiError::from(error),
        other => ApiError::Internal(other.to_string()),
    })?;
    plane.tokens.set_ring(ring);
    Ok(Json(keys_body(&state)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyToken {
    pub token: String,
    /// The upstream the token is presented to (its name).
    pub upstream: String,
}

/// The verification API: who a bearer token stands for at an upstream, or why it is refused.
#[utoipa::path(post, path = "/v1/tokens/verify", tag = "credentials", request_body = VerifyToken,
    responses((status = 200, body = Object)))]
pub async fn verify_token(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<VerifyToken>,
) -> Json<Value> {
    let now = state.clock.now();
    match state
        .credentials
        .tokens
        .verify(&body.token, &body.upstream, now)
    {
        Ok(principal) => Json(json!({
            "valid": true,
            "agent": principal.agent,
            "on_behalf_of": principal.on_behalf_of,
            "audience": principal.audience,
            "scopes": principal.scopes,
            "tasks": principal.tasks,
            "jti": principal.jti,
            "expires_at": principal.expires_at,
        })),
        Err(refusal) => Json(json!({ "valid": false, "reason": refusal.to_string() })),
    }
}
