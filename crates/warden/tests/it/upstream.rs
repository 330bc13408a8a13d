//! A real HTTP upstream for gateway tests: an axum server on an ephemeral port that
//! records every request it receives (method, target, headers, body) and answers with
//! JSON, or with an endless event stream under `/stream`.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// One request as the upstream saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub target: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// Whether the whole body arrived (a request cut off midway is recorded too).
    pub complete: bool,
}

#[derive(Clone, Default)]
pub struct Recorder(Arc<Mutex<Vec<Seen>>>);

impl Recorder {
    pub fn seen(&self) -> Vec<Seen> {
        self.0.lock().unwrap().clone()
    }
}

pub struct TestUpstream {
    pub addr: SocketAddr,
    pub recorder: Recorder,
    _server: tokio::task::JoinHandle<()>,
}

impl TestUpstream {
    /// Binds 127.0.0.1:0 first, then serves in the background.
    pub async fn start() -> Self {
        let recorder = Recorder::default();
        let app = Router::new().fallback(answer).with_state(recorder.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            addr,
            recorder,
            _server: server,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/api", self.addr)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.recorder.seen()
    }
}

async fn answer(State(recorder): State<Recorder>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 64 * 1024 * 1024).await;
    let complete = body.is_ok();
    let body = body.unwrap_or_default();
    let target = parts
        .uri
        .path_and_query()
        .map_or_else(String::new, |pq| pq.as_str().to_string());
    let accepts_gzip = parts
        .headers
        .get("accept-encoding")
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.contains("gzip"));
    recorder.0.lock().unwrap().push(Seen {
        method: parts.method.to_string(),
        target: target.clone(),
        headers: parts.headers,
        body: body.clone(),
        complete,
    });
    // The gateway forwards `/NAME` to the base path with a slash after it.
    let path = target.trim_end_matches('/');
    if path.ends_with("/gzipped-tools") || path.ends_with("/negotiated-tools") {
        // A `tools/list` answer, compressed: always (a hostile server), or only when the
        // request accepts gzip (a well-behaved one).
        let tools = br#"{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"echo"},{"name":"secret_tool"}]}}"#;
        if path.ends_with("/gzipped-tools") || accepts_gzip {
            return Response::builder()
                .header("content-type", "application/json")
                .header("content-encoding", "gzip")
                .body(Body::from(gzip_stored(tools)))
                .unwrap();
        }
        return Response::builder()
            .header("content-type", "application/json")
            .body(Body::from(&tools[..]))
            .unwrap();
    }
    if target.ends_with("/mislabelled") {
        // An MCP `tools/list` answer that does not say it is JSON.
        return Response::builder()
            .header("content-type", "text/plain")
            .body(Body::from(
                r#"{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"echo"},{"name":"secret_tool"}]}}"#,
            ))
            .unwrap();
    }
    if target.ends_with("/stream") {
        // An event every 20 ms, forever: only the gateway can end it.
        let ticks = futures::stream::unfold(0u64, |n| async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            Some((
                Ok::<_, std::io::Error>(Bytes::from(format!("data: tick {n}\n\n"))),
                n + 1,
            ))
        });
        return Response::builder()
            .header("content-type", "text/event-stream")
            .body(Body::from_stream(ticks))
            .unwrap();
    }
    axum::Json(json!({
        "upstream": "crm",
        "method": parts.method.as_str(),
        "target": target,
        "body_bytes": body.len(),
    }))
    .into_response()
}

/// `data` as a gzip member with one stored (uncompressed) deflate block: valid gzip that any
/// client decodes, without a compression library.
fn gzip_stored(data: &[u8]) -> Vec<u8> {
    let len = u16::try_from(data.len()).unwrap();
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    out.push(1); // the final block, stored
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&(!len).to_le_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(&crc32fast::hash(data).to_le_bytes());
    out.extend_from_slice(&u32::try_from(data.len()).unwrap().to_le_bytes());
    out
}
