//! Signing in with the admin token, or as an owner through the identity provider, and
//! signing out.
//!
//! The token is checked exactly as the API checks a bearer token (`auth`); a right one
//! opens a server-side session (`session`) whose random id is the only thing the browser
//! keeps. A wrong one changes nothing and says only that it was wrong. An owner leaves for
//! the provider and comes back (`owner_sign_in` checks everything the provider says); the
//! email it proves must be an active owner's, and opens an owner's session.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::Deserialize;
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::guard::{self, CheckedForm, Everyone, SameOriginForm};
use super::owner_sign_in::{ATTEMPT_COOKIE, ATTEMPT_SECS, CALLBACK_PATH, SignInError, short_code};
use super::session::{self, COOKIE, MAX_AGE_SECS};
use crate::error::ApiError;
use crate::state::AppState;

#[derive(Template)]
#[template(path = "ui/sign_in.html")]
struct SignInPage<'a> {
    person: &'a str,
    problem: Option<&'a str>,
    /// The identity provider owners sign in with, when there is one.
    owner_issuer: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "ui/signed_in.html")]
struct SignedInPage<'a> {
    person: &'a str,
    next: &'a str,
}

/// Where an owner lands once signed in.
const OWNER_HOME: &str = "/ui/approvals";

/// Wiped from memory when dropped, since it holds the admin token.
#[derive(Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct SignInForm {
    #[serde(default)]
    person: String,
    #[serde(default)]
    token: String,
}

#[derive(Deserialize)]
pub struct SignOutForm {}

/// `GET /ui/sign-in`: the form, or the overview for someone already signed in.
pub async fn form(
    State(state): State<AppState>,
    headers: HeaderMap,
    sessions: axum::Extension<std::sync::Arc<super::Sessions>>,
) -> Result<Response, ApiError> {
    let now = state.clock.now();
    if guard::session_cookie(&headers).is_some_and(|value| sessions.find(value, now).is_some()) {
        return Ok(super::see_other("/ui"));
    }
    super::render(&SignInPage {
        person: "",
        problem: None,
        owner_issuer: owner_issuer(&state),
    })
}

fn owner_issuer(state: &AppState) -> Option<&str> {
    state
        .owner_sign_in
        .as_deref()
        .map(|sign_in| sign_in.issuer())
}

/// The sign-in page again, saying what went wrong.
fn sign_in_problem(
    state: &AppState,
    status: StatusCode,
    problem: &str,
) -> Result<Response, ApiError> {
    let mut page = super::render(&SignInPage {
        person: "",
        problem: Some(problem),
        owner_issuer: owner_issuer(state),
    })?;
    *page.status_mut() = status;
    Ok(page)
}

/// `GET /ui/sign-in/owner`: to the identity provider, with a cookie that ties the way back
/// to this browser.
pub async fn owner_departs(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Some(sign_in) = state.owner_sign_in.clone() else {
        return sign_in_problem(
            &state,
            StatusCode::NOT_FOUND,
            "owners cannot sign in here: no identity provider is configured ([dashboard.oidc])",
        );
    };
    let departure = match sign_in.depart(state.clock.now()).await {
        Ok(departure) => departure,
        Err(error) => {
            tracing::warn!(%error, "an owner sign-in could not start");
            return sign_in_problem(&state, StatusCode::BAD_GATEWAY, &error.to_string());
        }
    };
    // Lax, not Strict: the way back is a navigation from the provider's site.
    let cookie = format!(
        "{ATTEMPT_COOKIE}={}; Path={CALLBACK_PATH}; HttpOnly; SameSite=Lax; Max-Age={ATTEMPT_SECS}{}",
        departure.cookie_value,
        secure(&state, &headers),
    );
    let mut response = super::see_other(&departure.url);
    set_cookie(&mut response, &cookie)?;
    Ok(response)
}

/// What the provider sends the browser back with.
#[derive(Deserialize)]
pub struct Arrival {
    state: Option<String>,
    code: Option<String>,
    error: Option<String>,
}

/// `GET /ui/oidc/callback`: the provider's answer; an owner's session when it proves an
/// active owner.
pub async fn owner_arrives(
    State(state): State<AppState>,
    headers: HeaderMap,
    sessions: axum::Extension<std::sync::Arc<super::Sessions>>,
    Query(arrival): Query<Arrival>,
) -> Result<Response, ApiError> {
    let Some(sign_in) = state.owner_sign_in.clone() else {
        return sign_in_problem(
            &state,
            StatusCode::NOT_FOUND,
            "owners cannot sign in here: no identity provider is configured ([dashboard.oidc])",
        );
    };
    let now = state.clock.now();
    let proven = match (&arrival.state, &arrival.code, &arrival.error) {
        (_, _, Some(error)) => Err(SignInError::Refused(short_code(error))),
        (Some(attempt), Some(code), None) => {
            sign_in
                .arrive(attempt, code, guard::cookie(&headers, ATTEMPT_COOKIE), now)
                .await
        }
        _ => Err(SignInError::UnknownAttempt),
    };
    let email = match proven {
        Ok(email) => email,
        Err(error) => {
            tracing::warn!(%error, "an owner sign-in was refused");
            let status = match error {
                SignInError::Provider(_) => StatusCode::BAD_GATEWAY,
                SignInError::UnknownAttempt => StatusCode::BAD_REQUEST,
                _ => StatusCode::UNAUTHORIZED,
            };
            return sign_in_problem(&state, status, &error.to_string());
        }
    };
    let owner = state
        .store
        .get_owner(&warden_core::OwnerRef::Email(email.clone()))
        .await
        .ok()
        .filter(|owner| owner.status == warden_core::OwnerStatus::Active);
    let Some(owner) = owner else {
        tracing::warn!(email = %email, "an owner sign-in named no active owner");
        return sign_in_problem(
            &state,
            StatusCode::FORBIDDEN,
            &format!(
                "{email} is not an active owner in Warden's inventory; ask an administrator to add you (warden owner add)"
            ),
        );
    };
    if let Some(old) = guard::session_cookie(&headers) {
        sessions.close(old);
    }
    let opened = sessions.open_owner(&owner.id.to_string(), &owner.email, now);
    tracing::info!(owner = %owner.email, "dashboard sign-in by an owner");
    // A page rather than a redirect: the session cookie is SameSite=Strict, and a browser
    // does not send it on a redirect that a navigation from the provider's site started.
    let mut response = super::render(&SignedInPage {
        person: &owner.email,
        next: OWNER_HOME,
    })?;
    set_cookie(
        &mut response,
        &session_cookie(&state, &headers, &opened.cookie_value),
    )?;
    let spent = format!(
        "{ATTEMPT_COOKIE}=; Path={CALLBACK_PATH}; HttpOnly; SameSite=Lax; Max-Age=0{}",
        secure(&state, &headers)
    );
    let spent = HeaderValue::from_str(&spent)
        .map_err(|error| ApiError::Internal(format!("a cookie is not a header value: {error}")))?;
    response.headers_mut().append(header::SET_COOKIE, spent);
    Ok(response)
}

fn secure(state: &AppState, headers: &HeaderMap) -> &'static str {
    if behind_tls(state, headers) {
        "; Secure"
    } else {
        ""
    }
}

fn session_cookie(state: &AppState, headers: &HeaderMap, value: &str) -> String {
    format!(
        "{COOKIE}={value}; Path=/ui; HttpOnly; SameSite=Strict; Max-Age={MAX_AGE_SECS}{}",
        secure(state, headers)
    )
}

/// `POST /ui/sign-in`: a session for the right admin token, the form again otherwise.
pub async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    sessions: axum::Extension<std::sync::Arc<super::Sessions>>,
    SameOriginForm(form): SameOriginForm<SignInForm>,
) -> Result<Response, ApiError> {
    let refuse = |status: StatusCode, problem: &str| -> Result<Response, ApiError> {
        let mut page = super::render(&SignInPage {
            person: form.person.trim(),
            problem: Some(problem),
            owner_issuer: owner_issuer(&state),
        })?;
        *page.status_mut() = status;
        Ok(page)
    };
    let person = match session::check_person(&form.person) {
        Ok(person) => person,
        Err(problem) => return refuse(StatusCode::UNPROCESSABLE_ENTITY, &problem),
    };
    if !crate::auth::admin_token_matches(&state, form.token.trim()) {
        tracing::warn!("dashboard sign-in with a wrong admin token refused");
        return refuse(
            StatusCode::UNAUTHORIZED,
            "that is not the admin token; nothing was changed",
        );
    }
    // A new sign-in never continues an old session, so an id planted before it is useless.
    if let Some(old) = guard::session_cookie(&headers) {
        sessions.close(old);
    }
    let opened = sessions.open(&person, state.clock.now());
    tracing::info!(person = %person, "dashboard sign-in");
    let cookie = session_cookie(&state, &headers, &opened.cookie_value);
    let mut response = super::see_other("/ui");
    set_cookie(&mut response, &cookie)?;
    Ok(response)
}

/// `POST /ui/sign-out`: ends the session and clears its cookie.
pub async fn sign_out(
    State(state): State<AppState>,
    headers: HeaderMap,
    sessions: axum::Extension<std::sync::Arc<super::Sessions>>,
    CheckedForm { signed_in, .. }: CheckedForm<SignOutForm, Everyone>,
) -> Result<Response, ApiError> {
    if let Some(value) = guard::session_cookie(&headers) {
        sessions.close(value);
    }
    tracing::info!(person = %signed_in.session.person(), "dashboard sign-out");
    let cookie = format!(
        "{COOKIE}=; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=0{}",
        secure(&state, &headers)
    );
    let mut response = super::see_other(guard::SIGN_IN_PATH);
    set_cookie(&mut response, &cookie)?;
    Ok(response)
}

/// Whether browsers reach this server over TLS: its public address is `https` (the issuer
/// it names in tokens), or a TLS-terminating proxy in front says so. Either way the cookie
/// is then marked `Secure`; a spoofed header could only make it stricter.
fn behind_tls(state: &AppState, headers: &HeaderMap) -> bool {
    state
        .credentials
        .settings
        .tokens
        .issuer
        .starts_with("https://")
        || headers
            .get("x-forwarded-proto")
            .and_then(|value| value.to_str().ok())
            .is_some_and(|proto| proto.eq_ignore_ascii_case("https"))
}

fn set_cookie(response: &mut Response, cookie: &str) -> Result<(), ApiError> {
    let value = HeaderValue::from_str(cookie).map_err(|error| {
        ApiError::Internal(format!("the session cookie is not a header value: {error}"))
    })?;
    response.headers_mut().insert(header::SET_COOKIE, value);
    Ok(())
}
