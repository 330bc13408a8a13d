//! Signing in with the admin token, and signing out.
//!
//! The token is checked exactly as the API checks a bearer token (`auth`); a right one
//! opens a server-side session (`session`) whose random id is the only thing the browser
//! keeps. A wrong one changes nothing and says only that it was wrong.

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::Deserialize;
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::guard::{self, CheckedForm, SameOriginForm};
use super::session::{self, COOKIE, MAX_AGE_SECS};
use crate::error::ApiError;
use crate::state::AppState;

#[derive(Template)]
#[template(path = "ui/sign_in.html")]
struct SignInPage<'a> {
    person: &'a str,
    problem: Option<&'a str>,
}

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
    })
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
    let cookie = format!(
        "{COOKIE}={}; Path=/ui; HttpOnly; SameSite=Strict; Max-Age={MAX_AGE_SECS}{}",
        opened.cookie_value,
        if behind_tls(&state, &headers) {
            "; Secure"
        } else {
            ""
        },
    );
    let mut response = super::see_other("/ui");
    set_cookie(&mut response, &cookie)?;
    Ok(response)
}

/// `POST /ui/sign-out`: ends the session and clears its cookie.
pub async fn sign_out(
    State(state): State<AppState>,
    headers: HeaderMap,
    sessions: axum::Extension<std::sync::Arc<super::Sessions>>,
    CheckedForm { signed_in, .. }: CheckedForm<SignOutForm>,
) -> Result<Response, ApiError> {
    if let Some(value) = guard::session_cookie(&headers) {
        sessions.close(value);
    }
    tracing::info!(person = %signed_in.session.person(), "dashboard sign-out");
    let cookie = format!(
        "{COOKIE}=; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=0{}",
        if behind_tls(&state, &headers) {
            "; Secure"
        } else {
            ""
        },
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
