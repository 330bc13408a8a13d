//! Request extractors whose rejections speak the API's error format, so that malformed
//! JSON, unknown fields, wrong types and oversized bodies all get a precise JSON answer.

use axum::body::{Body, Bytes};
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Like `axum::Json`, with our error body on rejection.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (headers, bytes) = read_body(request, state).await?;
        // Every body the API takes is a JSON object; serde would also fill a struct from an
        // array, field by field in order, which no caller means and the document forbids.
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
            return Err(ApiError::bad_request(
                "wrong_type",
                "the body does not match the expected shape: it must be a JSON object, not an array",
            ));
        }
        let mut request = Request::new(Body::from(bytes));
        *request.headers_mut() = headers;
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

/// A JSON body that may be left out: an empty body or `null` reads as `None`. A body that is sent is
/// read exactly as `ApiJson` reads it, so one without the JSON content type is refused
/// rather than ignored.
#[derive(Debug, Clone, Copy, Default)]
pub struct OptionalApiJson<T>(pub Option<T>);

impl<T, S> FromRequest<S> for OptionalApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (headers, bytes) = read_body(request, state).await?;
        if bytes.is_empty() {
            return Ok(Self(None));
        }
        let mut request = Request::new(Body::from(bytes));
        *request.headers_mut() = headers;
        // A JSON `null` says "nothing" as plainly as an empty body does.
        ApiJson::<Option<T>>::from_request(request, state)
            .await
            .map(|ApiJson(value)| Self(value))
    }
}

/// The request's headers and its body, read whole within the body limit the router set.
async fn read_body<S: Send + Sync>(
    request: Request,
    state: &S,
) -> Result<(axum::http::HeaderMap, Bytes), ApiError> {
    let headers = request.headers().clone();
    let bytes = Bytes::from_request(request, state)
        .await
        .map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                too_large()
            } else {
                ApiError::bad_request("invalid_body", rejection.body_text())
            }
        })?;
    Ok((headers, bytes))
}

fn too_large() -> ApiError {
    ApiError::PayloadTooLarge(format!(
        "the body is larger than the {} KiB this endpoint accepts",
        crate::api::MAX_BODY_BYTES / 1024
    ))
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => ApiError::UnsupportedMediaType(
            "send the body as JSON with `Content-Type: application/json`".into(),
        ),
        JsonRejection::JsonSyntaxError(error) => ApiError::bad_request(
            "malformed_json",
            format!("the body is not valid JSON: {}", source_text(&error)),
        ),
        JsonRejection::JsonDataError(error) => {
            let detail = source_text(&error);
            // serde names the problem in words; lift the common ones into codes clients
            // can branch on.
            let code = if detail.contains("unknown field") {
                "unknown_field"
            } else if detail.contains("invalid type") {
                "wrong_type"
            } else if detail.contains("missing field") {
                "missing_field"
            } else {
                "invalid_body"
            };
            ApiError::bad_request(
                code,
                format!("the body does not match the expected shape: {detail}"),
            )
        }
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => too_large(),
        other => ApiError::bad_request("invalid_body", other.body_text()),
    }
}

/// serde's message (which names the field and the problem) without axum's prefix.
fn source_text(error: &dyn std::error::Error) -> String {
    let mut innermost = error.to_string();
    let mut source = error.source();
    while let Some(next) = source {
        innermost = next.to_string();
        source = next.source();
    }
    innermost
}

/// The query string as ordered pairs, so repeated keys (`label=a=1&label=b=2`) survive and
/// unknown keys can be refused by name.
#[derive(Debug, Clone, Default)]
pub struct QueryPairs(pub Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for QueryPairs {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        serde_urlencoded::from_str(query)
            .map(Self)
            .map_err(|error| {
                ApiError::bad_request("invalid_query", format!("malformed query string: {error}"))
            })
    }
}

impl QueryPairs {
    /// Fails on the first key not in `known`, naming it and the accepted ones.
    pub fn only(&self, known: &[&str]) -> Result<(), ApiError> {
        match self
            .0
            .iter()
            .find(|(key, _)| !known.contains(&key.as_str()))
        {
            Some((key, _)) => Err(ApiError::bad_request(
                "invalid_query",
                format!(
                    "unknown query parameter `{key}`; accepted: {}",
                    known.join(", ")
                ),
            )),
            None => Ok(()),
        }
    }

    /// The single value of `key`, refusing repeats.
    pub fn one(&self, key: &str) -> Result<Option<&str>, ApiError> {
        let mut values = self
            .0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str());
        let first = values.next();
        if values.next().is_some() {
            return Err(ApiError::bad_request(
                "invalid_query",
                format!("query parameter `{key}` may appear only once"),
            ));
        }
        Ok(first)
    }

    pub fn all(&self, key: &str) -> impl Iterator<Item = &str> {
        self.0
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}
