//! The HTTP client of the Warden API, and the failures a command can end with.

use reqwest::{Method, StatusCode};
use serde_json::Value;

/// The server refused the request (bad input, unknown name, conflict).
pub const EXIT_REFUSED: u8 = 1;
/// The server could not be reached, or answered that it is unavailable.
pub const EXIT_UNAVAILABLE: u8 = 3;
/// The admin token is missing or wrong.
pub const EXIT_UNAUTHORIZED: u8 = 4;

/// Why a command failed: a message for the person and the exit status for scripts.
#[derive(Debug)]
pub struct Failure {
    pub message: String,
    pub exit_code: u8,
}

impl Failure {
    pub fn refused(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            exit_code: EXIT_REFUSED,
        }
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            exit_code: EXIT_UNAVAILABLE,
        }
    }
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Self {
        Self {
            message: format!("{error:#}"),
            exit_code: EXIT_REFUSED,
        }
    }
}

pub struct Client {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
}

impl Client {
    pub fn new(addr: &str, token: Option<String>) -> Result<Self, Failure> {
        let base = addr.trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(Failure::refused(format!(
                "WARDEN_ADDR `{addr}` must start with http:// or https://, e.g. http://127.0.0.1:8080"
            )));
        }
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .map_err(|error| {
                Failure::unavailable(format!("cannot build the HTTP client: {error}"))
            })?;
        Ok(Self { base, token, http })
    }

    pub async fn get(&self, path: &str, query: &[(String, String)]) -> Result<Value, Failure> {
        self.send(Method::GET, path, query, None).await
    }

    pub async fn post(&self, path: &str, body: Option<Value>) -> Result<Value, Failure> {
        self.send(Method::POST, path, &[], body).await
    }

    /// A POST that may take long on the server (a large import): waits up to `timeout`.
    pub async fn post_slow(
        &self,
        path: &str,
        body: Value,
        timeout: std::time::Duration,
    ) -> Result<Value, Failure> {
        let bytes = self
            .exchange_with(Method::POST, path, &[], Some(body), Some(timeout))
            .await?;
        Ok(serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned())))
    }

    pub async fn patch(&self, path: &str, body: Value) -> Result<Value, Failure> {
        self.send(Method::PATCH, path, &[], Some(body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> Result<Value, Failure> {
        self.send(Method::PUT, path, &[], Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Result<Value, Failure> {
        self.send(Method::DELETE, path, &[], None).await
    }

    /// A GET whose answer is not JSON (exports, keys): the body as bytes.
    pub async fn get_bytes(
        &self,
        path: &str,
        query: &[(String, String)],
    ) -> Result<Vec<u8>, Failure> {
        self.exchange(Method::GET, path, query, None).await
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(String, String)],
        body: Option<Value>,
    ) -> Result<Value, Failure> {
        let bytes = self.exchange(method, path, query, body).await?;
        Ok(serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned())))
    }

    async fn exchange(
        &self,
        method: Method,
        path: &str,
        query: &[(String, String)],
        body: Option<Value>,
    ) -> Result<Vec<u8>, Failure> {
        self.exchange_with(method, path, query, body, None).await
    }

    /// Sends one request; a non-success answer becomes a `Failure` with its message.
    async fn exchange_with(
        &self,
        method: Method,
        path: &str,
        query: &[(String, String)],
        body: Option<Value>,
        timeout: Option<std::time::Duration>,
    ) -> Result<Vec<u8>, Failure> {
        let Some(token) = &self.token else {
            return Err(Failure {
                message: "no admin token: set WARDEN_TOKEN (the first `warden serve` printed it) or pass --token".into(),
                exit_code: EXIT_UNAUTHORIZED,
            });
        };
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token)
            .query(query);
        if let Some(body) = body {
            request = request.json(&body);
        }
        if let Some(timeout) = timeout {
            request = request.timeout(timeout);
        }
        let response = request.send().await.map_err(|error| {
            Failure::unavailable(format!(
                "cannot reach Warden at {}: {}; is `warden serve` running and WARDEN_ADDR right?",
                self.base,
                root_cause(&error)
            ))
        })?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|error| {
            Failure::unavailable(format!("the response was cut short: {error}"))
        })?;
        if status.is_success() {
            return Ok(bytes.to_vec());
        }
        let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let code = value
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("error");
        let message = value
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("no detail given");
        let exit_code = match status {
            StatusCode::UNAUTHORIZED => EXIT_UNAUTHORIZED,
            status if status.is_server_error() => EXIT_UNAVAILABLE,
            _ => EXIT_REFUSED,
        };
        Err(Failure {
            message: format!("{code}: {message}"),
            exit_code,
        })
    }
}

fn root_cause(error: &dyn std::error::Error) -> String {
    let mut cause = error.to_string();
    let mut source = error.source();
    while let Some(next) = source {
        cause = next.to_string();
        source = next.source();
    }
    cause
}

/// Escapes one path segment (emails carry `@`, references carry `:`).
pub fn segment(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~@:".contains(&byte) {
            escaped.push(char::from(byte));
        } else {
            escaped.push_str(&format!("%{byte:02X}"));
        }
    }
    escaped
}
