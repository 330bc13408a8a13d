//! What stands between a browser request and a dashboard page: the session cookie, the
//! same-origin check and the CSRF token.
//!
//! Pages take [`SignedIn`]: without a live session the request is sent to the sign-in page
//! and the handler never runs. Every change takes [`CheckedForm`], which refuses a
//! cross-site request, a request without a session, and a form whose CSRF token is not the
//! session's, before the form is even read into the handler's type, so nothing changes.
//!
//! Both admit administrators only unless a handler asks for `SignedIn<Everyone>` (or
//! `CheckedForm<T, Everyone>`): an owner's session reaches only the pages written to
//! show an owner what is theirs, and a new page is closed to owners until it is.

use std::marker::PhantomData;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::de::DeserializeOwned;

use super::session::{COOKIE, Role, Session, Sessions};
use crate::state::AppState;

/// Where a request without a session is sent.
pub const SIGN_IN_PATH: &str = "/ui/sign-in";
/// The form field that carries the CSRF token.
pub const CSRF_FIELD: &str = "csrf";

/// Who a page or form is open to.
pub trait Admits {
    fn admits(role: &Role) -> bool;
}

/// Administrators only: the default of every page and form.
#[derive(Debug, Clone)]
pub struct Administrators;

impl Admits for Administrators {
    fn admits(role: &Role) -> bool {
        *role == Role::Administrator
    }
}

/// Administrators and owners: for the pages that show an owner what is theirs.
#[derive(Debug, Clone)]
pub struct Everyone;

impl Admits for Everyone {
    fn admits(_: &Role) -> bool {
        true
    }
}

/// A request from a signed-in person whom `A` admits.
#[derive(Debug, Clone)]
pub struct SignedIn<A = Administrators> {
    pub session: Session,
    admits: PhantomData<A>,
}

impl<A> SignedIn<A> {
    /// The application state with this person as the actor, so what the API's code paths
    /// change on their behalf is audited as theirs.
    pub fn acting(&self, state: &AppState) -> AppState {
        let mut acting = state.clone();
        acting.actor = self.session.actor();
        acting
    }
}

/// The session store every dashboard route shares; `None` only if the router was wired
/// without it.
pub fn sessions(parts: &Parts) -> Option<Arc<Sessions>> {
    parts.extensions.get::<Arc<Sessions>>().cloned()
}

/// The session cookie's value, if the request carries one.
pub fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    cookie(headers, COOKIE)
}

/// The value of the cookie `name`, if the request carries one.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(found, _)| *found == name)
        .map(|(_, value)| value)
}

impl<A: Admits + Send + Sync> FromRequestParts<AppState> for SignedIn<A> {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some(sessions) = sessions(parts) else {
            // Fail closed: without the table nobody is signed in.
            tracing::error!("the dashboard's session store is not wired into its router");
            return Err((StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response());
        };
        let now = state.clock.now();
        match session_cookie(&parts.headers).and_then(|value| sessions.find(value, now)) {
            Some(session) if A::admits(session.role()) => Ok(Self {
                session,
                admits: PhantomData,
            }),
            Some(_) => Err(refusal(
                StatusCode::FORBIDDEN,
                "this page is for administrators; as an owner you see your own identities and the approvals of your agents",
            )),
            None => Err(Redirect::to(SIGN_IN_PATH).into_response()),
        }
    }
}

/// A form posted from one of our own pages by the signed-in person it was made for.
#[derive(Debug)]
pub struct CheckedForm<T, A = Administrators> {
    pub signed_in: SignedIn<A>,
    pub form: T,
}

impl<T: DeserializeOwned, A: Admits + Send + Sync> FromRequest<AppState> for CheckedForm<T, A> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        if let Err(problem) = same_origin(&parts.headers) {
            tracing::warn!(problem, "dashboard change from another site refused");
            return Err(refusal(StatusCode::FORBIDDEN, problem));
        }
        let signed_in = SignedIn::<A>::from_request_parts(&mut parts, state).await?;
        let bytes = read_form(Request::from_parts(parts, body), state).await?;
        let fields: Vec<(String, String)> =
            serde_urlencoded::from_bytes(&bytes).map_err(|error| {
                refusal(
                    StatusCode::BAD_REQUEST,
                    &format!("the form cannot be read: {error}"),
                )
            })?;
        let presented = single(&fields, CSRF_FIELD);
        if !presented.is_some_and(|token| signed_in.session.csrf_matches(token)) {
            tracing::warn!("dashboard change without this session's CSRF token refused");
            return Err(refusal(
                StatusCode::FORBIDDEN,
                "this form is not from your current session (its security token is missing or wrong); reload the page and try again",
            ));
        }
        let form = serde_urlencoded::from_bytes(&bytes).map_err(|error| {
            refusal(
                StatusCode::BAD_REQUEST,
                &format!("the form cannot be read: {error}"),
            )
        })?;
        Ok(Self { signed_in, form })
    }
}

/// A form posted from one of our pages, before anyone has signed in (the sign-in form).
#[derive(Debug)]
pub struct SameOriginForm<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for SameOriginForm<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        if let Err(problem) = same_origin(request.headers()) {
            tracing::warn!(problem, "dashboard sign-in from another site refused");
            return Err(refusal(StatusCode::FORBIDDEN, problem));
        }
        let bytes = read_form(request, state).await?;
        serde_urlencoded::from_bytes(&bytes)
            .map(Self)
            .map_err(|error| {
                refusal(
                    StatusCode::BAD_REQUEST,
                    &format!("the form cannot be read: {error}"),
                )
            })
    }
}

/// The value of `name` if the form has it exactly once; a repeated field is not trusted.
fn single<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    let mut values = fields.iter().filter(|(key, _)| key == name);
    match (values.next(), values.next()) {
        (Some((_, value)), None) => Some(value.as_str()),
        _ => None,
    }
}

async fn read_form(request: Request, state: &AppState) -> Result<Bytes, Response> {
    let is_form = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|media| {
            media
                .trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !is_form {
        return Err(refusal(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "dashboard forms are sent as application/x-www-form-urlencoded",
        ));
    }
    Bytes::from_request(request, state)
        .await
        .map_err(|rejection| {
            refusal(
                rejection.status(),
                &format!("the form cannot be read: {}", rejection.body_text()),
            )
        })
}

/// Refuses a change that a browser says came from another site. Browsers send
/// `Sec-Fetch-Site` and `Origin` on every form POST; a client that sends neither is not a
/// browser a page could have tricked, and still needs the session's CSRF token.
pub fn same_origin(headers: &HeaderMap) -> Result<(), &'static str> {
    if let Some(site) = headers.get("sec-fetch-site")
        && site.as_bytes() != b"same-origin"
    {
        return Err("this change came from another site and was refused; use Warden's own pages");
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let host = headers
            .get(header::HOST)
            .and_then(|host| host.to_str().ok());
        let origin = origin.to_str().ok();
        let matches = match (origin, host) {
            (Some(origin), Some(host)) => origin
                .strip_prefix("http://")
                .or_else(|| origin.strip_prefix("https://"))
                .is_some_and(|rest| rest.eq_ignore_ascii_case(host)),
            _ => false,
        };
        if !matches {
            return Err(
                "this change came from another origin and was refused; use Warden's own pages",
            );
        }
    }
    Ok(())
}

/// A refusal page: plain, so it renders whatever went wrong. `super::error_page` dresses
/// it when it can.
pub fn refusal(status: StatusCode, message: &str) -> Response {
    super::error_page(status, "refused", message)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn a_same_origin_browser_post_passes() {
        let map = headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://127.0.0.1:8080"),
            ("sec-fetch-site", "same-origin"),
        ]);
        assert_eq!(same_origin(&map), Ok(()));
    }

    #[test]
    fn a_client_that_is_not_a_browser_passes_to_the_csrf_check() {
        assert_eq!(same_origin(&headers(&[("host", "warden:8080")])), Ok(()));
    }

    #[test]
    fn a_cross_site_post_is_refused() {
        for pairs in [
            &[("host", "warden:8080"), ("sec-fetch-site", "cross-site")][..],
            &[("host", "warden:8080"), ("sec-fetch-site", "same-site")][..],
            &[("host", "warden:8080"), ("sec-fetch-site", "none")][..],
            &[("host", "warden:8080"), ("origin", "http://evil.example")][..],
            &[("host", "warden:8080"), ("origin", "null")][..],
            &[("host", "warden:8080"), ("origin", "http://warden:8081")][..],
            &[("origin", "http://warden:8080")][..],
        ] {
            assert!(same_origin(&headers(pairs)).is_err(), "{pairs:?}");
        }
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let map = headers(&[("cookie", "theme=dark; warden_session=abc; other=1")]);
        assert_eq!(session_cookie(&map), Some("abc"));
        let map = headers(&[("cookie", "theme=dark"), ("cookie", "warden_session=xyz")]);
        assert_eq!(session_cookie(&map), Some("xyz"));
        assert_eq!(
            session_cookie(&headers(&[("cookie", "warden_sessionx=1")])),
            None
        );
    }

    #[test]
    fn a_repeated_csrf_field_is_not_trusted() {
        let fields = vec![
            ("csrf".to_string(), "a".to_string()),
            ("csrf".to_string(), "b".to_string()),
        ];
        assert_eq!(single(&fields, "csrf"), None);
        assert_eq!(single(&fields[..1], "csrf"), Some("a"));
        assert_eq!(single(&[], "csrf"), None);
    }
}
