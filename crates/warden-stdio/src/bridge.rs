//! The streamable-HTTP face of one local MCP server, for the gateway only.
//!
//! It listens on a loopback port of its own, and answers only under a path that begins
//! with a random per-process token (`http://127.0.0.1:PORT/TOKEN`): the catalog gives the
//! gateway that URL, and no other local process learns it, so nothing reaches the child
//! without passing the gateway's decision and audit first. Anything else is 404.
//!
//! What it speaks (MCP streamable HTTP, as SDK clients use it):
//! - `POST` a JSON-RPC request: the answer as `application/json`, with the client's id.
//!   `initialize` is answered from the child's own answer to the bridge's `initialize`
//!   (the child is initialized once per start) with a new `Mcp-Session-Id`.
//! - `POST` a notification or a response: `202 Accepted`; nothing is passed to the child
//!   (the bridge itself told the child it is initialized, and offered it no client
//!   capabilities to answer for).
//! - `GET` (a server-initiated stream): `405`. `DELETE`: ends the session.
//! - A request without `Mcp-Session-Id` is served (stateless clients); one with an unknown
//!   session id is `404`, so the client initializes again.
//! - Batches are refused with a JSON-RPC error.
//!
//! Requests from the child to its client (sampling, elicitation, roots) are not passed on:
//! the bridge offers no client capabilities, and such a request is logged and dropped
//! (see `child`). Notifications from the child (logging, progress) are dropped too, so every
//! answer is plain JSON.

use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::DefaultBodyLimit;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use subtle::ConstantTimeEq;
use tokio::sync::watch;

use crate::child::{CallError, Connection};
use crate::supervisor::Settings;

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

const SESSION_HEADER: &str = "mcp-session-id";
/// The most sessions one bridge keeps; an `initialize` beyond it is refused.
const MAX_SESSIONS: usize = 10_000;
/// The largest request body, in bytes (the gateway's own MCP limit is lower by default).
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// JSON-RPC error codes the bridge answers with.
const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;
/// A server error: the child is not there to answer.
const SERVER_UNAVAILABLE: i64 = -32000;

struct Shared {
    upstream: String,
    token: String,
    ready: watch::Receiver<Option<Arc<Connection>>>,
    sessions: Mutex<HashSet<String>>,
    settings: Settings,
}

/// A bound, not yet serving, bridge.
pub struct Bridge {
    listener: tokio::net::TcpListener,
    address: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Receiver<bool>,
}

impl Bridge {
    pub async fn bind(
        upstream: String,
        ready: watch::Receiver<Option<Arc<Connection>>>,
        settings: Settings,
        stop: watch::Receiver<bool>,
    ) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let address = listener.local_addr()?;
        let token = hex(&warden_crypto::random::random_bytes::<32>());
        Ok(Self {
            listener,
            address,
            shared: Arc::new(Shared {
                upstream,
                token,
                ready,
                sessions: Mutex::default(),
                settings,
            }),
            stop,
        })
    }

    /// The URL the gateway forwards to; it carries the token, so it is never shown.
    pub fn base_url(&self) -> String {
        format!("http://{}/{}", self.address, self.shared.token)
    }

    /// Serves until told to stop.
    pub async fn serve(self) {
        let router = Router::new()
            .fallback(handle)
            .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
            .with_state(Arc::clone(&self.shared));
        let mut stop = self.stop;
        let served = axum::serve(self.listener, router)
            .with_graceful_shutdown(async move {
                let _ = stop.wait_for(|stop| *stop).await;
            })
            .await;
        if let Err(error) = served {
            tracing::error!(upstream = %self.shared.upstream, %error, "the stdio bridge stopped");
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Whether the path is under `/TOKEN`, compared in constant time.
fn authorized(uri: &Uri, token: &str) -> bool {
    let path = uri.path().strip_prefix('/').unwrap_or_default();
    let first = path.split('/').next().unwrap_or_default();
    first.len() == token.len() && bool::from(first.as_bytes().ct_eq(token.as_bytes()))
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !authorized(&uri, &shared.token) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let session = headers
        .get(SESSION_HEADER)
        .and_then(|value| value.to_str().ok())
        .map(str::to_string);
    match method {
        Method::POST => post(&shared, session, &body).await,
        Method::DELETE => match session {
            Some(session) if lock(&shared.sessions).remove(&session) => {
                StatusCode::NO_CONTENT.into_response()
            }
            Some(_) => StatusCode::NOT_FOUND.into_response(),
            None => StatusCode::BAD_REQUEST.into_response(),
        },
        _ => (
            StatusCode::METHOD_NOT_ALLOWED,
            [(http::header::ALLOW, "POST, DELETE")],
        )
            .into_response(),
    }
}

fn json_response(status: StatusCode, value: &Value, session: Option<&str>) -> Response {
    let mut response = Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/json");
    if let Some(session) = session {
        response = response.header(SESSION_HEADER, session);
    }
    response
        .body(Body::from(serde_json::to_vec(value).unwrap_or_default()))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

fn rpc_error(id: Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

async fn post(shared: &Shared, session: Option<String>, body: &[u8]) -> Response {
    let message = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(message)) => message,
        Ok(Value::Array(_)) => {
            return json_response(
                StatusCode::BAD_REQUEST,
                &rpc_error(
                    Value::Null,
                    INVALID_REQUEST,
                    "batches are not supported by local MCP servers; send one request per POST",
                ),
                None,
            );
        }
        Ok(_) | Err(_) => {
            return json_response(
                StatusCode::BAD_REQUEST,
                &rpc_error(
                    Value::Null,
                    PARSE_ERROR,
                    "the body is not a JSON-RPC message",
                ),
                None,
            );
        }
    };
    let id = message.get("id").cloned();
    let method = message
        .get("method")
        .and_then(Value::as_str)
        .map(str::to_string);
    let (Some(id), Some(method)) = (id, method) else {
        // A notification, or a client's answer to a request the bridge never passes on.
        return StatusCode::ACCEPTED.into_response();
    };
    if method != "initialize"
        && let Some(session) = &session
        && !lock(&shared.sessions).contains(session)
    {
        return json_response(
            StatusCode::NOT_FOUND,
            &rpc_error(
                id,
                INVALID_REQUEST,
                "the session has ended; initialize again",
            ),
            None,
        );
    }
    let Some(connection) = ready(shared).await else {
        return json_response(
            StatusCode::OK,
            &rpc_error(
                id,
                SERVER_UNAVAILABLE,
                "the local MCP server is not running; Warden is restarting it, try again shortly",
            ),
            None,
        );
    };
    if method == "initialize" {
        return initialize(shared, &connection, id);
    }
    match connection
        .call(message, shared.settings.request_timeout)
        .await
    {
        Ok(answer) => json_response(StatusCode::OK, &Value::Object(answer), None),
        Err(error @ (CallError::Exited | CallError::Timeout)) => json_response(
            StatusCode::OK,
            &rpc_error(id, SERVER_UNAVAILABLE, &error.to_string()),
            None,
        ),
    }
}

/// The connection to a running, initialized child, waiting a while for one that restarts.
async fn ready(shared: &Shared) -> Option<Arc<Connection>> {
    let mut ready = shared.ready.clone();
    let waited = tokio::time::timeout(
        shared.settings.ready_wait,
        ready.wait_for(|connection| connection.as_ref().is_some_and(|c| c.is_open())),
    )
    .await;
    match waited {
        Ok(Ok(connection)) => connection.clone(),
        _ => None,
    }
}

fn initialize(shared: &Shared, connection: &Connection, id: Value) -> Response {
    let Some(result) = lock(&connection.initialized).clone() else {
        return json_response(
            StatusCode::OK,
            &rpc_error(
                id,
                SERVER_UNAVAILABLE,
                "the local MCP server has not initialized yet; try again shortly",
            ),
            None,
        );
    };
    let session = hex(&warden_crypto::random::random_bytes::<16>());
    {
        let mut sessions = lock(&shared.sessions);
        if sessions.len() >= MAX_SESSIONS {
            return json_response(
                StatusCode::SERVICE_UNAVAILABLE,
                &rpc_error(
                    id,
                    SERVER_UNAVAILABLE,
                    "too many sessions with this local MCP server; end one (DELETE) and try again",
                ),
                None,
            );
        }
        sessions.insert(session.clone());
    }
    let mut answer = Map::new();
    answer.insert("jsonrpc".into(), json!("2.0"));
    answer.insert("id".into(), id);
    answer.insert("result".into(), result);
    json_response(StatusCode::OK, &Value::Object(answer), Some(&session))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_token_path_is_served() {
        let token = "ab".repeat(32);
        for good in [
            format!("/{token}"),
            format!("/{token}/"),
            format!("/{token}/mcp"),
        ] {
            assert!(
                authorized(&good.parse().unwrap_or_else(|e| panic!("{e}")), &token),
                "{good}"
            );
        }
        for bad in [
            "/".to_string(),
            "/mcp".into(),
            format!("/{token}x"),
            format!("/x{token}"),
        ] {
            assert!(
                !authorized(&bad.parse().unwrap_or_else(|e| panic!("{e}")), &token),
                "{bad}"
            );
        }
    }
}
