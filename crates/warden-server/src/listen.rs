//! The listeners' connection guards, shared by the API and the gateway: an accept loop that
//! caps open connections (in total and per source address), and per connection a deadline
//! for the request head, an idle deadline between requests and a stall deadline for request
//! bodies, so that slow or idle clients cannot hold connections (and the process's file
//! descriptors) for ever, and a flooded gateway cannot starve the API of descriptors.
//!
//! The timeouts are kept here rather than left to hyper because hyper's
//! `header_read_timeout` starts when hyper begins waiting for a head, which on a keep-alive
//! connection is right after the previous response: it would be the idle timeout too, and
//! the two could not differ. Here a fresh connection must send its head within the header
//! timeout; after a response the idle timeout runs until the next request's first byte,
//! which starts the header timeout again; while a request is in flight neither runs, and a
//! request body that stalls longer than the body timeout between two reads fails, the
//! request is answered 408 and the connection closes.
//!
//! Listeners speak HTTP/1.1 only: the gateway's byte-level framing check follows HTTP/1.1,
//! and one protocol keeps every guard on one path.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderValue, StatusCode};
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::time::{Instant, Sleep};
use tower::ServiceExt as _;

pub const DEFAULT_HEADER_READ_TIMEOUT_SECS: u64 = 10;
pub const DEFAULT_IDLE_TIMEOUT_SECS: u64 = 60;
pub const DEFAULT_BODY_TIMEOUT_SECS: u64 = 30;

/// Descriptors kept back from the connection caps: the database pool, the data files,
/// the listeners themselves, logs.
const RESERVED_DESCRIPTORS: u64 = 64;
/// The largest default cap, whatever the descriptor limit.
const MAX_DERIVED_CONNECTIONS: u64 = 16 * 1024;
/// Assumed when the descriptor limit is unlimited or cannot be read.
const ASSUMED_DESCRIPTOR_LIMIT: u64 = 1024;

/// One listener's guards, every gap filled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenSettings {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub body_timeout: Duration,
    pub max_connections: usize,
    pub max_connections_per_source: usize,
}

/// One listener's guards as configured (`[api]` or `[gateway]`), each optional.
#[derive(Debug, Clone, Copy, Default)]
pub struct ListenConfig {
    pub header_read_timeout_secs: Option<u64>,
    pub idle_timeout_secs: Option<u64>,
    pub body_timeout_secs: Option<u64>,
    pub max_connections: Option<usize>,
    pub max_connections_per_source: Option<usize>,
}

/// Why the listeners' settings cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ListenError {
    #[error("[{listener}] {field} must be at least 1")]
    Zero {
        listener: &'static str,
        field: &'static str,
    },
    #[error(
        "[{listener}] max_connections_per_source ({per_source}) is larger than max_connections ({total})"
    )]
    PerSourceOverTotal {
        listener: &'static str,
        per_source: usize,
        total: usize,
    },
    #[error(
        "the process may open {limit} files, too few for the connection caps: {gateway} gateway \
         connections (each may hold an upstream connection too) and {api} API connections need about \
         {needed}; lower [gateway] and [api] max_connections or raise the limit (ulimit -n)"
    )]
    OverDescriptorBudget {
        limit: u64,
        gateway: usize,
        api: usize,
        needed: u64,
    },
}

/// The guards of both listeners, checked together against the descriptor limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerGuards {
    pub api: ListenSettings,
    pub gateway: ListenSettings,
}

impl ListenerGuards {
    /// Fills gaps with defaults: caps derived from `descriptor_limit` so that both
    /// listeners at their caps (a gateway connection counted twice, for the upstream
    /// connection it may hold) stay well inside it, and refuses caps that do not.
    pub fn resolve(
        api: ListenConfig,
        gateway: ListenConfig,
        descriptor_limit: u64,
    ) -> Result<Self, ListenError> {
        let budget = descriptor_limit.saturating_sub(RESERVED_DESCRIPTORS);
        let derived = usize::try_from((budget / 4).min(MAX_DERIVED_CONNECTIONS)).unwrap_or(1);
        let api = resolve_one("api", api, derived)?;
        let gateway = resolve_one("gateway", gateway, derived)?;
        let needed = (gateway.max_connections as u64)
            .saturating_mul(2)
            .saturating_add(api.max_connections as u64)
            .saturating_add(RESERVED_DESCRIPTORS);
        if needed > descriptor_limit {
            return Err(ListenError::OverDescriptorBudget {
                limit: descriptor_limit,
                gateway: gateway.max_connections,
                api: api.max_connections,
                needed,
            });
        }
        Ok(Self { api, gateway })
    }
}

fn resolve_one(
    listener: &'static str,
    config: ListenConfig,
    derived_cap: usize,
) -> Result<ListenSettings, ListenError> {
    let secs = |value: Option<u64>, default: u64, field: &'static str| match value {
        Some(0) => Err(ListenError::Zero { listener, field }),
        value => Ok(Duration::from_secs(value.unwrap_or(default))),
    };
    let total = match config.max_connections {
        Some(0) => {
            return Err(ListenError::Zero {
                listener,
                field: "max_connections",
            });
        }
        Some(n) => n,
        None => derived_cap.max(1),
    };
    let per_source = match config.max_connections_per_source {
        Some(0) => {
            return Err(ListenError::Zero {
                listener,
                field: "max_connections_per_source",
            });
        }
        Some(n) if n > total => {
            return Err(ListenError::PerSourceOverTotal {
                listener,
                per_source: n,
                total,
            });
        }
        Some(n) => n,
        None => (total / 4).max(1),
    };
    Ok(ListenSettings {
        header_read_timeout: secs(
            config.header_read_timeout_secs,
            DEFAULT_HEADER_READ_TIMEOUT_SECS,
            "header_read_timeout_secs",
        )?,
        idle_timeout: secs(
            config.idle_timeout_secs,
            DEFAULT_IDLE_TIMEOUT_SECS,
            "idle_timeout_secs",
        )?,
        body_timeout: secs(
            config.body_timeout_secs,
            DEFAULT_BODY_TIMEOUT_SECS,
            "body_timeout_secs",
        )?,
        max_connections: total,
        max_connections_per_source: per_source,
    })
}

/// Raises the soft limit on open files to the hard limit (so the caps derived from it are
/// as generous as the system allows) and returns the soft limit in effect.
pub fn raise_descriptor_limit() -> u64 {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        let raised = rustix::process::Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        if let Err(error) = setrlimit(Resource::Nofile, raised) {
            tracing::warn!(%error, "cannot raise the open-files limit to its hard limit");
        }
    }
    getrlimit(Resource::Nofile)
        .current
        .unwrap_or(ASSUMED_DESCRIPTOR_LIMIT)
}

/// Serves `router` on `listener` until `stop` turns true, then stops accepting, lets the
/// requests in flight finish (idle connections close at once) and returns when every
/// connection has ended. `prepare` wraps each accepted stream and says what the handlers
/// see of it (`ConnectInfo<C>`).
pub async fn serve<P, I, C>(
    listener: TcpListener,
    router: Router,
    settings: ListenSettings,
    name: &'static str,
    prepare: P,
    mut stop: watch::Receiver<bool>,
) where
    P: Fn(TcpStream, SocketAddr) -> (I, C),
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    C: Clone + Send + Sync + 'static,
{
    let settings = Arc::new(settings);
    let admission = Arc::new(Admission::default());
    // Every connection task holds a receiver; when all are gone, every connection ended.
    let (open_tx, open_rx) = watch::channel(());
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.wait_for(|stop| *stop) => break,
        };
        let (stream, addr) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // A connection reset before it was accepted is the client's affair; out
                // of descriptors (which the caps should prevent) passes with time.
                if !is_connection_error(&error) {
                    tracing::warn!(listener = name, %error, "cannot accept a connection; retrying");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                continue;
            }
        };
        let admitted = match admission.admit(addr.ip(), &settings) {
            Ok(admitted) => admitted,
            Err(cap) => {
                metrics::counter!("warden_listener_connections_refused_total", "listener" => name, "cap" => cap)
                    .increment(1);
                refuse_over_cap(&stream);
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let (io, info) = prepare(stream, addr);
        let connection = Connection {
            router: router.clone(),
            settings: Arc::clone(&settings),
            activity: Arc::new(Activity::new()),
            name,
        };
        let stop = stop.clone();
        let open = open_rx.clone();
        tokio::spawn(async move {
            metrics::gauge!("warden_listener_connections", "listener" => name).increment(1.0);
            connection.serve(io, info, stop).await;
            metrics::gauge!("warden_listener_connections", "listener" => name).decrement(1.0);
            drop(admitted);
            drop(open);
        });
    }
    drop(open_rx);
    open_tx.closed().await;
}

fn is_connection_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// A connection over a cap gets a short 503, if the socket takes it at once, and is closed.
fn refuse_over_cap(stream: &TcpStream) {
    const BODY: &str = r#"{"error":"too_many_connections","message":"too many open connections; close idle ones and retry later"}"#;
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\nretry-after: 1\r\n\r\n{BODY}",
        BODY.len()
    );
    let _ = stream.try_write(answer.as_bytes());
}

/// Open connections, in total and per source address.
#[derive(Debug, Default)]
struct Admission {
    open: Mutex<OpenConnections>,
}

#[derive(Debug, Default)]
struct OpenConnections {
    total: usize,
    per_source: HashMap<IpAddr, usize>,
}

impl Admission {
    fn lock(&self) -> MutexGuard<'_, OpenConnections> {
        match self.open.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Counts a new connection from `source`, or names the cap it would exceed.
    fn admit(
        self: &Arc<Self>,
        source: IpAddr,
        settings: &ListenSettings,
    ) -> Result<Admitted, &'static str> {
        let mut open = self.lock();
        if open.total >= settings.max_connections {
            return Err("total");
        }
        let from_source = open.per_source.entry(source).or_default();
        if *from_source >= settings.max_connections_per_source {
            return Err("per_source");
        }
        *from_source += 1;
        open.total += 1;
        Ok(Admitted {
            admission: Arc::clone(self),
            source,
        })
    }
}

/// One admitted connection; dropping it frees its place.
struct Admitted {
    admission: Arc<Admission>,
    source: IpAddr,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut open = self.admission.lock();
        open.total = open.total.saturating_sub(1);
        if let Some(count) = open.per_source.get_mut(&self.source) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.per_source.remove(&self.source);
            }
        }
    }
}

/// Where a connection is between requests, for its deadlines.
#[derive(Debug)]
struct Activity {
    state: Mutex<ActivityState>,
    changed: Notify,
}

#[derive(Debug)]
struct ActivityState {
    /// Requests whose responses have not ended.
    in_flight: usize,
    /// When the connection last became idle (accepted, or its last response ended).
    idle_since: Instant,
    /// When the next request head began, if it has.
    head_started: Option<Instant>,
}

#[derive(Debug, Clone, Copy)]
enum Deadline {
    Head(Instant),
    Idle(Instant),
}

impl Activity {
    fn new() -> Self {
        let now = Instant::now();
        Self {
            // A new connection owes its first head within the header timeout.
            state: Mutex::new(ActivityState {
                in_flight: 0,
                idle_since: now,
                head_started: Some(now),
            }),
            changed: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, ActivityState> {
        match self.state.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Bytes arrived: between requests, they begin the next head.
    fn bytes_read(&self) {
        let mut state = self.lock();
        if state.in_flight == 0 && state.head_started.is_none() {
            state.head_started = Some(Instant::now());
            drop(state);
            self.changed.notify_one();
        }
    }

    fn request_started(self: &Arc<Self>) -> InFlight {
        let mut state = self.lock();
        state.in_flight += 1;
        state.head_started = None;
        drop(state);
        self.changed.notify_one();
        InFlight(Arc::clone(self))
    }

    fn request_ended(&self) {
        let mut state = self.lock();
        state.in_flight = state.in_flight.saturating_sub(1);
        if state.in_flight == 0 {
            state.idle_since = Instant::now();
            state.head_started = None;
        }
        drop(state);
        self.changed.notify_one();
    }

    /// The deadline that runs now, if any.
    fn deadline(&self, settings: &ListenSettings) -> Option<Deadline> {
        let state = self.lock();
        if state.in_flight > 0 {
            return None;
        }
        Some(match state.head_started {
            Some(started) => Deadline::Head(started + settings.header_read_timeout),
            None => Deadline::Idle(state.idle_since + settings.idle_timeout),
        })
    }
}

/// A request in flight on a connection; dropped when its response has ended (or the
/// request was abandoned).
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.request_ended();
    }
}

/// One accepted connection and what serving it needs.
struct Connection {
    router: Router,
    settings: Arc<ListenSettings>,
    activity: Arc<Activity>,
    name: &'static str,
}

impl Connection {
    async fn serve<I, C>(self, io: I, info: C, mut stop: watch::Receiver<bool>)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
        C: Clone + Send + Sync + 'static,
    {
        let Self {
            router,
            settings,
            activity,
            name,
        } = self;
        let service = {
            let activity = Arc::clone(&activity);
            let settings = Arc::clone(&settings);
            hyper::service::service_fn(move |request: http::Request<Incoming>| {
                let in_flight = activity.request_started();
                handle(
                    router.clone(),
                    request,
                    info.clone(),
                    settings.body_timeout,
                    in_flight,
                    name,
                )
            })
        };
        let io = TokioIo::new(Tracked {
            inner: io,
            activity: Arc::clone(&activity),
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        // Head and idle deadlines are kept below (see the module's doc), not by hyper.
        builder.timer(TokioTimer::new()).header_read_timeout(None);
        let connection = builder.serve_connection(io, service);
        tokio::pin!(connection);
        let mut stopping = false;
        loop {
            let deadline = activity.deadline(&settings);
            let until = match deadline {
                Some(Deadline::Head(at) | Deadline::Idle(at)) => Some(at),
                None => None,
            };
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(error) = result {
                        tracing::debug!(listener = name, %error, "connection ended with an error");
                    }
                    return;
                }
                () = sleep_until(until) => {
                    // Still the same deadline, not one moved by activity meanwhile?
                    if let Some(kind) = expired(activity.deadline(&settings)) {
                        metrics::counter!("warden_listener_timeouts_total", "listener" => name, "kind" => kind)
                            .increment(1);
                        // Nothing is in flight: dropping the connection closes it.
                        return;
                    }
                }
                () = activity.changed.notified() => {}
                _ = stop.wait_for(|stop| *stop), if !stopping => {
                    stopping = true;
                    connection.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The kind of deadline that has passed, if one has.
fn expired(deadline: Option<Deadline>) -> Option<&'static str> {
    let now = Instant::now();
    match deadline? {
        Deadline::Head(at) if at <= now => Some("header"),
        Deadline::Idle(at) if at <= now => Some("idle"),
        Deadline::Head(_) | Deadline::Idle(_) => None,
    }
}

/// One request through the router: the connection's `ConnectInfo` inserted, the body
/// guarded against stalls, the response body tied to the request's place in flight. A
/// request whose body stalled is answered 408 whatever the handler made of the failure.
async fn handle<C>(
    router: Router,
    request: http::Request<Incoming>,
    info: C,
    body_timeout: Duration,
    in_flight: InFlight,
    name: &'static str,
) -> Result<Response, Infallible>
where
    C: Clone + Send + Sync + 'static,
{
    let stalled = Arc::new(AtomicBool::new(false));
    let (mut parts, body) = request.into_parts();
    parts.extensions.insert(ConnectInfo(info));
    let body = Body::new(StallGuard {
        inner: body,
        timeout: body_timeout,
        sleep: None,
        stalled: Arc::clone(&stalled),
    });
    let response = match router.oneshot(http::Request::from_parts(parts, body)).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    let response = if stalled.load(Ordering::Acquire) {
        metrics::counter!("warden_listener_timeouts_total", "listener" => name, "kind" => "body")
            .increment(1);
        body_stalled(body_timeout)
    } else {
        response
    };
    let (parts, body) = response.into_parts();
    Ok(Response::from_parts(
        parts,
        Body::new(UntilEnd {
            inner: body,
            _in_flight: in_flight,
        }),
    ))
}

fn body_stalled(timeout: Duration) -> Response {
    let mut response = (
        StatusCode::REQUEST_TIMEOUT,
        axum::Json(serde_json::json!({
            "error": "request_timeout",
            "message": format!(
                "the request body stalled for more than {} s; the connection is closed",
                timeout.as_secs()
            ),
        })),
    )
        .into_response();
    response
        .headers_mut()
        .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// The request body failed because the client sent nothing for the body timeout.
#[derive(Debug, thiserror::Error)]
#[error("the request body stalled")]
pub struct BodyStalled;

/// A request body that fails when no frame arrives within `timeout` of being asked for.
struct StallGuard {
    inner: Incoming,
    timeout: Duration,
    sleep: Option<Pin<Box<Sleep>>>,
    stalled: Arc<AtomicBool>,
}

impl HttpBody for StallGuard {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        if this.stalled.load(Ordering::Acquire) {
            return Poll::Ready(Some(Err(axum::Error::new(BodyStalled))));
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.sleep = None;
                Poll::Ready(frame.map(|frame| frame.map_err(axum::Error::new)))
            }
            Poll::Pending => {
                let timeout = this.timeout;
                let sleep = this
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                match sleep.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        this.stalled.store(true, Ordering::Release);
                        Poll::Ready(Some(Err(axum::Error::new(BodyStalled))))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A response body that holds its request's place in flight until it ends or is dropped.
struct UntilEnd {
    inner: Body,
    _in_flight: InFlight,
}

impl HttpBody for UntilEnd {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A connection's stream, telling its [`Activity`] when bytes arrive.
struct Tracked<I> {
    inner: I,
    activity: Arc<Activity>,
}

impl<I: AsyncRead + Unpin> AsyncRead for Tracked<I> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled
            && buf.filled().len() > before
        {
            this.activity.bytes_read();
        }
        polled
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Tracked<I> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_caps_leave_room_for_both_listeners_inside_the_descriptor_limit() {
        let guards =
            ListenerGuards::resolve(ListenConfig::default(), ListenConfig::default(), 1024)
                .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(guards.gateway.max_connections, 240);
        assert_eq!(guards.gateway.max_connections_per_source, 60);
        assert_eq!(guards.api.max_connections, 240);
        assert!(2 * guards.gateway.max_connections + guards.api.max_connections + 64 <= 1024);
        assert_eq!(guards.api.header_read_timeout, Duration::from_secs(10));
        assert_eq!(guards.api.idle_timeout, Duration::from_secs(60));
        assert_eq!(guards.api.body_timeout, Duration::from_secs(30));
    }

    #[test]
    fn caps_beyond_the_descriptor_limit_and_zeros_are_refused() {
        let big = ListenConfig {
            max_connections: Some(1000),
            ..ListenConfig::default()
        };
        let error = ListenerGuards::resolve(ListenConfig::default(), big, 1024).unwrap_err();
        assert!(
            matches!(error, ListenError::OverDescriptorBudget { .. }),
            "{error}"
        );
        assert!(error.to_string().contains("ulimit -n"), "{error}");
        let zero = ListenConfig {
            idle_timeout_secs: Some(0),
            ..ListenConfig::default()
        };
        let error = ListenerGuards::resolve(zero, ListenConfig::default(), 1024).unwrap_err();
        assert_eq!(
            error.to_string(),
            "[api] idle_timeout_secs must be at least 1"
        );
        let lopsided = ListenConfig {
            max_connections: Some(4),
            max_connections_per_source: Some(5),
            ..ListenConfig::default()
        };
        assert!(ListenerGuards::resolve(ListenConfig::default(), lopsided, 1024).is_err());
    }

    #[test]
    fn connections_over_either_cap_are_not_admitted_and_places_are_freed() {
        let settings = ListenSettings {
            header_read_timeout: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(1),
            body_timeout: Duration::from_secs(1),
            max_connections: 3,
            max_connections_per_source: 2,
        };
        let admission = Arc::new(Admission::default());
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        let c: IpAddr = [10, 0, 0, 3].into();
        let first = admission.admit(a, &settings);
        let _second = admission.admit(a, &settings);
        assert_eq!(admission.admit(a, &settings).err(), Some("per_source"));
        let _third = admission.admit(b, &settings);
        assert_eq!(admission.admit(c, &settings).err(), Some("total"));
        drop(first);
        assert!(admission.admit(c, &settings).is_ok());
    }
}
