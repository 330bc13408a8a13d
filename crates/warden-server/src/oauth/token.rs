//! `POST /oauth/token`: the `client_credentials` grant and RFC 8693 token exchange.
//!
//! Both grants end in the same place: an RFC 9068 access token for exactly one upstream
//! (the RFC 8707 `resource`), with the scopes and RFC 9396 task bounds asked for, living the
//! default lifetime or the one asked for up to the ceiling. Token exchange narrows, never
//! widens: the result carries no scope, task or lifetime beyond what the subject token
//! carried, no scope beyond what the agent's credential allows, and the audience of a
//! Warden subject token. The subject's `may_act`, its actor chain and its ancestry carry
//! forward (see `delegation`), so these limits hold at every hop, not only the first, and
//! a chain never grows past `[credentials] max_delegation_depth` actors.

use std::collections::BTreeSet;

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::json;
use warden_audit::{EventKind, NewEvent};
use warden_core::Timestamp;
use warden_crypto::jwt::{Expectations, MAX_TOKEN_LEN};
use warden_crypto::{AccessClaims, Actor, Ancestor, AuthorizationDetail, TaskDetail};

use super::client::{self, AuthenticatedClient};
use super::{
    GRANT_CLIENT_CREDENTIALS, GRANT_TOKEN_EXCHANGE, OAuthError, OAuthRequest, TOKEN_TYPE_ACCESS,
    TOKEN_TYPE_JWT, no_store,
};
use crate::state::AppState;
use warden_plane::delegation::{self, DelegationError, Exchanger, Lineage};

/// Longest upstream name, as the gateway will accept it.
const MAX_UPSTREAM_LEN: usize = 64;

pub(super) async fn token(State(state): State<AppState>, request: Request) -> Response {
    // Like the gateway, a node that cannot confirm it is current issues nothing: it could
    // be handing a token to an agent another node killed.
    if let Err(stale) = state.freshness.check() {
        tracing::warn!(%stale, "token endpoint refusing while this node is stale");
        return OAuthError::unavailable().into_response();
    }
    let request = match OAuthRequest::read(request).await {
        Ok(request) => request,
        Err(error) => return error.into_response(),
    };
    let now = state.clock.now();
    match grant(&state, &request, now).await {
        Ok(response) => response,
        Err((error, client)) => {
            if let Some(client) = client
                && error.code != "invalid_client"
            {
                client::refused(
                    &state,
                    &request,
                    client.client_id(),
                    &error.description,
                    now,
                )
                .await;
            }
            error.into_response()
        }
    }
}

type GrantError = (OAuthError, Option<AuthenticatedClient>);

async fn grant(
    state: &AppState,
    request: &OAuthRequest,
    now: Timestamp,
) -> Result<Response, GrantError> {
    let grant_type = request.required("grant_type").map_err(|e| (e, None))?;
    if grant_type != GRANT_CLIENT_CREDENTIALS && grant_type != GRANT_TOKEN_EXCHANGE {
        return Err((
            OAuthError::unsupported_grant_type(format!(
                "grant_type `{grant_type}` is not supported; use {GRANT_CLIENT_CREDENTIALS} or {GRANT_TOKEN_EXCHANGE}"
            )),
            None,
        ));
    }
    let client = client::authenticate(state, request, now)
        .await
        .map_err(|e| (e, None))?;
    let fail = |error: OAuthError| (error, Some(client.clone()));
    let wanted = Wanted::read(state, request, &client).map_err(fail)?;
    registered(state, &wanted.upstream).await.map_err(fail)?;
    if grant_type == GRANT_CLIENT_CREDENTIALS {
        client_credentials(state, &client, wanted, now)
            .await
            .map_err(fail)
    } else {
        exchange(state, request, &client, wanted, now)
            .await
            .map_err(fail)
    }
}

/// A token is for one upstream that exists: an unknown name is `invalid_target`.
async fn registered(state: &AppState, upstream: &str) -> Result<(), OAuthError> {
    match state.store.get_upstream(upstream).await {
        Ok(_) => Ok(()),
        Err(warden_store::StoreError::Domain(error)) => Err(OAuthError::invalid_target(format!(
            "{error}; a token is for one registered upstream"
        ))),
        Err(error) => {
            tracing::error!(%error, "cannot look up an upstream");
            Err(OAuthError::unavailable())
        }
    }
}

/// What the client asked for, checked for form but not yet against any subject.
struct Wanted {
    upstream: String,
    audience: String,
    scopes: Option<BTreeSet<String>>,
    tasks: Option<Vec<TaskDetail>>,
    ttl_secs: i64,
}

impl Wanted {
    fn read(
        state: &AppState,
        request: &OAuthRequest,
        client: &AuthenticatedClient,
    ) -> Result<Self, OAuthError> {
        let settings = &state.credentials.settings.tokens;
        let resource = request.param("resource").ok_or_else(|| {
            OAuthError::invalid_target(format!(
                "`resource` is required: the upstream the token is for, as {}/NAME or NAME",
                settings.gateway_url
            ))
        })?;
        let upstream = upstream_name(&settings.gateway_url, resource)?;
        let scopes = request.param("scope").map(parse_scopes).transpose()?;
        if let (Some(wanted), Some(allowed)) = (&scopes, &client.credential.scope) {
            let allowed = scope_set(allowed);
            if let Some(extra) = wanted.iter().find(|scope| !allowed.contains(*scope)) {
                return Err(OAuthError::invalid_scope(format!(
                    "scope `{extra}` is beyond what this client's credential allows"
                )));
            }
        }
        let tasks = request
            .param("authorization_details")
            .map(parse_tasks)
            .transpose()?;
        let ttl_secs = match request.param("expires_in") {
            None => settings.default_ttl_secs,
            Some(text) => {
                let asked: i64 = text.parse().map_err(|_| {
                    OAuthError::invalid_request("`expires_in` must be a whole number of seconds")
                })?;
                if asked < 1 || asked > settings.max_ttl_secs {
                    return Err(OAuthError::invalid_request(format!(
                        "`expires_in` must be between 1 and {} seconds",
                        settings.max_ttl_secs
                    )));
                }
                asked
            }
        };
        Ok(Self {
            audience: settings.audience_for(&upstream),
            upstream,
            scopes,
            tasks,
            ttl_secs,
        })
    }
}

/// `http://GATEWAY/NAME` or the bare `NAME`, to the upstream's name.
fn upstream_name(gateway_url: &str, resource: &str) -> Result<String, OAuthError> {
    let name = match resource.strip_prefix(gateway_url) {
        Some(rest) => rest.strip_prefix('/').unwrap_or(""),
        None if resource.contains(':') || resource.contains('/') => {
            return Err(OAuthError::invalid_target(format!(
                "resource `{resource}` is not an upstream of this gateway; use {gateway_url}/NAME or NAME"
            )));
        }
        None => resource,
    };
    let valid = !name.is_empty()
        && name.len() <= MAX_UPSTREAM_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b))
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric());
    if !valid {
        return Err(OAuthError::invalid_target(format!(
            "`{name}` is not a valid upstream name: 1-{MAX_UPSTREAM_LEN} of a-z, 0-9, '-', '_', '.'"
        )));
    }
    Ok(name.to_string())
}

fn scope_set(text: &str) -> BTreeSet<String> {
    text.split(' ')
        .filter(|scope| !scope.is_empty())
        .map(str::to_string)
        .collect()
}

/// RFC 6749 §3.3: space-separated tokens of printable ASCII without `"` or `\`.
fn parse_scopes(text: &str) -> Result<BTreeSet<String>, OAuthError> {
    let scopes = scope_set(text);
    let valid = scopes.iter().all(|scope| {
        scope
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
    });
    if !valid || scopes.is_empty() {
        return Err(OAuthError::invalid_scope(
            "scope must be space-separated printable ASCII without quotes or backslashes",
        ));
    }
    Ok(scopes)
}

fn parse_tasks(text: &str) -> Result<Vec<TaskDetail>, OAuthError> {
    let details: Vec<AuthorizationDetail> = serde_json::from_str(text).map_err(|error| {
        OAuthError::invalid_authorization_details(format!(
            "authorization_details must be a JSON array of {{\"type\":\"warden_task\",\"task_id\",\"actions\",\"resources\"}}: {error}"
        ))
    })?;
    let tasks: Vec<TaskDetail> = details
        .into_iter()
        .map(|AuthorizationDetail::WardenTask(task)| task)
        .collect();
    if tasks.is_empty() || tasks.iter().any(|task| task.task_id.trim().is_empty()) {
        return Err(OAuthError::invalid_authorization_details(
            "every warden_task needs a non-empty task_id",
        ));
    }
    Ok(tasks)
}

fn random_jti() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(warden_crypto::random::random_bytes::<16>())
}

fn join(scopes: &BTreeSet<String>) -> Option<String> {
    (!scopes.is_empty()).then(|| scopes.iter().cloned().collect::<Vec<_>>().join(" "))
}

fn details(tasks: Option<Vec<TaskDetail>>) -> Option<Vec<AuthorizationDetail>> {
    tasks.map(|tasks| {
        tasks
            .into_iter()
            .map(AuthorizationDetail::WardenTask)
            .collect()
    })
}

async fn client_credentials(
    state: &AppState,
    client: &AuthenticatedClient,
    wanted: Wanted,
    now: Timestamp,
) -> Result<Response, OAuthError> {
    let scope = match &wanted.scopes {
        Some(scopes) => join(scopes),
        None => client.credential.scope.clone(),
    };
    let claims = AccessClaims {
        iss: state.credentials.settings.tokens.issuer.clone(),
        sub: client.client_id().to_string(),
        aud: wanted.audience.clone(),
        exp: now.as_secs() + wanted.ttl_secs,
        iat: now.as_secs(),
        nbf: None,
        jti: random_jti(),
        client_id: client.client_id().to_string(),
        scope,
        act: None,
        may_act: None,
        authorization_details: details(wanted.tasks),
        owner: Some(client.identity.owner_email.clone()),
        env: None,
        cred: Some(client.credential.id.clone()),
        ancestors: Vec::new(),
    };
    let event = NewEvent::new(EventKind::TokenIssued, client.actor());
    respond(state, claims, event, &wanted.upstream, None, now).await
}

/// Signs, records and answers. The event is durable before the token is handed out.
async fn respond(
    state: &AppState,
    claims: AccessClaims,
    event: NewEvent,
    upstream: &str,
    issued_token_type: Option<&str>,
    now: Timestamp,
) -> Result<Response, OAuthError> {
    let token = state.credentials.tokens.sign(&claims).map_err(|error| {
        tracing::error!(%error, "cannot sign an access token");
        OAuthError::server_error()
    })?;
    let mut event = event
        .owner(claims.owner.clone().unwrap_or_default())
        .token(claims.jti.clone())
        .upstream(upstream.to_string())
        .detail("expires_at", claims.exp.to_string());
    if let Some(credential) = &claims.cred {
        event = event.credential(credential.clone());
    }
    if let Some(task) = claims.tasks().next() {
        event = event.task(task.task_id.clone());
    }
    if claims.sub != claims.client_id {
        event = event.on_behalf_of(claims.sub.clone());
    }
    if let Some(scope) = &claims.scope {
        event = event.detail("scope", scope.clone());
    }
    if let Err(error) = state.store.record(event, now).await {
        tracing::error!(%error, "cannot record token issuance; refusing to issue");
        return Err(OAuthError::unavailable());
    }
    let grant = if issued_token_type.is_some() {
        "token_exchange"
    } else {
        "client_credentials"
    };
    metrics::counter!("warden_tokens_issued_total", "grant" => grant).increment(1);
    let mut body = json!({
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": claims.exp - now.as_secs(),
    });
    if let Some(scope) = &claims.scope {
        body["scope"] = json!(scope);
    }
    if let Some(token_type) = issued_token_type {
        body["issued_token_type"] = json!(token_type);
    }
    Ok(no_store(body))
}

/// What a subject token says about the user and their authority.
struct Subject {
    issuer: String,
    sub: String,
    /// `None` when the subject token carries no scope: then nothing may be asked for.
    scopes: Option<BTreeSet<String>>,
    tasks: Vec<TaskDetail>,
    /// The audience a Warden subject token was for; the exchanged token keeps it.
    audience: Option<String>,
    exp: i64,
    /// What the exchanged token inherits: actors, `may_act`, ancestor tokens.
    lineage: Lineage,
    jti: Option<String>,
}

/// The `iss` of a JWT, unverified, only to choose the verifier.
fn unverified_issuer(token: &str) -> Option<String> {
    if token.len() > MAX_TOKEN_LEN {
        return None;
    }
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    value.get("iss")?.as_str().map(str::to_string)
}

fn subject(state: &AppState, token: &str, now: Timestamp) -> Result<Subject, OAuthError> {
    let plane = &state.credentials;
    let issuer = unverified_issuer(token)
        .ok_or_else(|| OAuthError::invalid_grant("subject_token is not a JWT with an issuer"))?;
    if issuer == plane.settings.tokens.issuer {
        let claims = plane
            .tokens
            .verify_token(token, None, now)
            .map_err(|refusal| {
                tracing::info!(%refusal, "subject token refused");
                OAuthError::invalid_grant("subject_token is invalid, expired or revoked")
            })?;
        let mut ancestors = claims.ancestors.clone();
        ancestors.push(Ancestor {
            jti: claims.jti.clone(),
            cred: claims.cred.clone(),
        });
        return Ok(Subject {
            issuer,
            sub: claims.sub.clone(),
            scopes: claims.scope.as_deref().map(scope_set),
            tasks: claims.tasks().cloned().collect(),
            audience: Some(claims.aud.clone()),
            exp: claims.exp,
            lineage: Lineage {
                act: claims.act.clone(),
                may_act: claims.may_act.clone(),
                ancestors,
            },
            jti: Some(claims.jti.clone()),
        });
    }
    let Some(trusted) = plane
        .settings
        .trusted_issuers
        .iter()
        .find(|trusted| trusted.issuer == issuer)
    else {
        return Err(OAuthError::invalid_grant(
            "subject_token is from an issuer this server does not trust",
        ));
    };
    let expect = Expectations {
        issuer: &trusted.issuer,
        audience: None,
        now: now.as_secs(),
        leeway_secs: plane.settings.tokens.leeway_secs,
    };
    let claims = trusted.verifier.verify(token, &expect).map_err(|error| {
        tracing::info!(%error, issuer = %issuer, "external subject token refused");
        OAuthError::invalid_grant("subject_token is invalid or expired")
    })?;
    let ours = &plane.settings.tokens.issuer;
    let token_endpoint = format!("{ours}{}", super::TOKEN_PATH);
    if !claims
        .aud
        .iter()
        .any(|aud| aud == ours || aud == &token_endpoint)
    {
        return Err(OAuthError::invalid_grant(
            "subject_token is not addressed to this server (aud)",
        ));
    }
    let bad =
        |what: &str| OAuthError::invalid_grant(format!("subject_token has a malformed `{what}`"));
    let scopes = match claims.other.get("scope") {
        None => None,
        Some(serde_json::Value::String(text)) => Some(scope_set(text)),
        Some(_) => return Err(bad("scope")),
    };
    // Another issuer's delegation chain names parties Warden cannot check (they are not
    // Warden identities), so such a token is refused rather than its chain dropped.
    if claims.other.contains_key("act") {
        return Err(OAuthError::invalid_grant(
            "subject_token from another issuer is itself delegated (act); exchange the user's own token",
        ));
    }
    let may_act = claims
        .other
        .get("may_act")
        .map(|value| serde_json::from_value::<Actor>(value.clone()))
        .transpose()
        .map_err(|_| bad("may_act"))?;
    let tasks = match claims.other.get("authorization_details") {
        None => Vec::new(),
        Some(value) => serde_json::from_value::<Vec<AuthorizationDetail>>(value.clone())
            .map_err(|_| bad("authorization_details"))?
            .into_iter()
            .map(|AuthorizationDetail::WardenTask(task)| task)
            .collect(),
    };
    Ok(Subject {
        issuer,
        sub: claims.sub,
        scopes,
        tasks,
        audience: None,
        exp: claims.exp,
        lineage: Lineage {
            act: None,
            may_act,
            ancestors: Vec::new(),
        },
        jti: claims.jti,
    })
}

/// Whether `wanted` stays inside `granted`: same task, no new action or resource.
fn within(wanted: &TaskDetail, granted: &[TaskDetail]) -> bool {
    granted.iter().any(|task| {
        task.task_id == wanted.task_id
            && wanted
                .actions
                .iter()
                .all(|action| task.actions.contains(action))
            && wanted
                .resources
                .iter()
                .all(|resource| task.resources.contains(resource))
    })
}

async fn exchange(
    state: &AppState,
    request: &OAuthRequest,
    client: &AuthenticatedClient,
    wanted: Wanted,
    now: Timestamp,
) -> Result<Response, OAuthError> {
    let token = request.required("subject_token")?;
    let token_type = request.required("subject_token_type")?;
    if token_type != TOKEN_TYPE_ACCESS && token_type != TOKEN_TYPE_JWT {
        return Err(OAuthError::invalid_request(format!(
            "subject_token_type must be {TOKEN_TYPE_ACCESS} or {TOKEN_TYPE_JWT}"
        )));
    }
    if request.param("actor_token").is_some() {
        return Err(OAuthError::invalid_request(
            "actor_token is not accepted: the actor is the authenticated client",
        ));
    }
    if let Some(requested) = request.param("requested_token_type")
        && requested != TOKEN_TYPE_ACCESS
    {
        return Err(OAuthError::invalid_request(format!(
            "requested_token_type must be {TOKEN_TYPE_ACCESS}"
        )));
    }
    let subject = subject(state, token, now)?;
    let client_id = client.client_id();
    let reference = format!("{}:{}", client.identity.kind, client.identity.name);
    let max_depth = state.credentials.settings.max_delegation_depth;
    let lineage = delegation::next_hop(
        subject.lineage,
        Exchanger {
            id: client_id,
            reference: &reference,
        },
        max_depth,
    )
    .map_err(|error| match error {
        DelegationError::TooDeep { depth, max } => OAuthError::invalid_grant(format!(
            "the subject token has already been exchanged {} times; [credentials] max_delegation_depth allows {max} actors in a chain",
            depth.saturating_sub(1)
        )),
        DelegationError::NotPermitted(_) => OAuthError::invalid_grant(
            "the subject token's may_act does not name this client: its subject allowed another party to act for it",
        ),
        other => OAuthError::invalid_grant(other.to_string()),
    })?;
    if let Some(audience) = &subject.audience
        && *audience != wanted.audience
    {
        return Err(OAuthError::invalid_target(
            "the subject token is for another upstream; an exchange keeps the audience",
        ));
    }
    let allowed_by_credential = client.credential.scope.as_deref().map(scope_set);
    let scopes = match &wanted.scopes {
        Some(asked) => {
            let Some(granted) = &subject.scopes else {
                return Err(OAuthError::invalid_scope(
                    "the subject token carries no scope, so none can be asked for",
                ));
            };
            if let Some(extra) = asked.iter().find(|scope| !granted.contains(*scope)) {
                return Err(OAuthError::invalid_scope(format!(
                    "scope `{extra}` is beyond what the subject token grants"
                )));
            }
            asked.clone()
        }
        None => {
            let granted = subject.scopes.clone().unwrap_or_default();
            match &allowed_by_credential {
                Some(allowed) => granted.intersection(allowed).cloned().collect(),
                None => granted,
            }
        }
    };
    let tasks = match (wanted.tasks, subject.tasks.is_empty()) {
        (None, true) => None,
        (None, false) => Some(subject.tasks.clone()),
        (Some(asked), true) => Some(asked),
        (Some(asked), false) => {
            if let Some(beyond) = asked.iter().find(|task| !within(task, &subject.tasks)) {
                return Err(OAuthError::invalid_authorization_details(format!(
                    "task `{}` asks for actions or resources beyond the subject token's task",
                    beyond.task_id
                )));
            }
            Some(asked)
        }
    };
    let exp = (now.as_secs() + wanted.ttl_secs).min(subject.exp);
    if exp <= now.as_secs() {
        return Err(OAuthError::invalid_grant("subject_token has expired"));
    }
    let claims = AccessClaims {
        iss: state.credentials.settings.tokens.issuer.clone(),
        sub: subject.sub.clone(),
        aud: wanted.audience.clone(),
        exp,
        iat: now.as_secs(),
        nbf: None,
        jti: random_jti(),
        client_id: client_id.to_string(),
        scope: join(&scopes),
        act: lineage.act,
        may_act: lineage.may_act,
        authorization_details: details(tasks),
        owner: Some(client.identity.owner_email.clone()),
        env: None,
        cred: Some(client.credential.id.clone()),
        ancestors: lineage.ancestors,
    };
    let mut event = NewEvent::new(EventKind::TokenExchanged, client.actor())
        .detail("subject_issuer", subject.issuer);
    if let Some(jti) = subject.jti {
        event = event.detail("subject_jti", jti);
    }
    respond(
        state,
        claims,
        event,
        &wanted.upstream,
        Some(TOKEN_TYPE_ACCESS),
        now,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_name_one_upstream_of_this_gateway() {
        let gateway = "http://127.0.0.1:8081";
        assert_eq!(
            upstream_name(gateway, "http://127.0.0.1:8081/github").ok(),
            Some("github".into())
        );
        assert_eq!(upstream_name(gateway, "github").ok(), Some("github".into()));
        for bad in [
            "http://elsewhere/github",
            "http://127.0.0.1:8081/",
            "http://127.0.0.1:8081/a/b",
            "GitHub",
            "",
            "-x",
        ] {
            assert_eq!(
                upstream_name(gateway, bad).map_err(|e| e.code),
                Err("invalid_target"),
                "{bad}"
            );
        }
    }

    #[test]
    fn scopes_follow_rfc_6749() {
        assert!(parse_scopes("read write").is_ok());
        assert!(parse_scopes("bad\"quote").is_err());
        assert!(parse_scopes("   ").is_err());
    }

    #[test]
    fn tasks_narrow_only() {
        let granted = vec![TaskDetail {
            task_id: "t1".into(),
            actions: vec!["read".into(), "list".into()],
            resources: vec!["repo:a".into()],
        }];
        let narrower = TaskDetail {
            actions: vec!["read".into()],
            ..granted[0].clone()
        };
        assert!(within(&narrower, &granted));
        let wider = TaskDetail {
            actions: vec!["delete".into()],
            ..granted[0].clone()
        };
        assert!(!within(&wider, &granted));
        let other = TaskDetail {
            task_id: "t2".into(),
            ..narrower
        };
        assert!(!within(&other, &granted));
    }
}
