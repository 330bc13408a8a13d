//! The gateway's connections: every accepted connection is read through a
//! [`FramingSniffer`], so what the HTTP parser would silently repair or hide (both
//! `Content-Length` and `Transfer-Encoding`, equal duplicate lengths, a `#fragment`) or
//! what the sniffer cannot follow (an upgrade, `CONNECT`, an overlong line) is known to the
//! gateway (see `warden_gateway::sniff`). Such a connection is cut off after the offending
//! request head, and [`refuse_untrusted_connections`] answers that request with 400 and
//! `Connection: close`, before any handler runs. Accepting, timeouts and connection caps
//! are the listener machinery shared with the API, in `warden-server`'s `listen`.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::HeaderValue;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use warden_gateway::sniff::Suspicion;
use warden_gateway::{FramingSniffer, Refusal, RefusalCode};

use super::Gateway;
use super::pipeline::Refused;

/// What the pipeline knows of the connection a request came on.
#[derive(Debug, Clone)]
pub struct GatewayPeer {
    pub addr: SocketAddr,
    suspicion: Arc<OnceLock<Suspicion>>,
}

impl GatewayPeer {
    /// Why the connection is no longer trusted, if it is not. Once set, it stays set.
    pub fn suspicion(&self) -> Option<Suspicion> {
        self.suspicion.get().copied()
    }
}

/// Wraps an accepted connection in its sniffer.
pub fn sniffed(stream: TcpStream, addr: SocketAddr) -> (SniffedStream, GatewayPeer) {
    let suspicion = Arc::new(OnceLock::new());
    let io = SniffedStream {
        inner: stream,
        sniffer: FramingSniffer::new(),
        suspicion: Arc::clone(&suspicion),
    };
    (io, GatewayPeer { addr, suspicion })
}

/// Middleware on every gateway route: a request on a connection the sniffer no longer
/// trusts is refused with 400 and `Connection: close`, so nothing from it is forwarded and
/// the connection ends with the response.
pub async fn refuse_untrusted_connections(
    State(gateway): State<Arc<Gateway>>,
    request: Request,
    next: Next,
) -> Response {
    let suspicion = request
        .extensions()
        .get::<ConnectInfo<GatewayPeer>>()
        .map(|ConnectInfo(peer)| peer.suspicion());
    let suspicion = match suspicion {
        Some(None) => return next.run(request).await,
        Some(Some(suspicion)) => suspicion.to_string(),
        // Every gateway connection is sniffed; a request without a peer is impossible,
        // and is refused rather than trusted.
        None => "the connection was not inspected".to_string(),
    };
    metrics::counter!("warden_gateway_requests_total", "upstream" => "unknown", "outcome" => "bad_request")
        .increment(1);
    let refusal = Refusal::new(RefusalCode::BadRequest, suspicion).with_rule("framing");
    // A token that verifies names its agent, and its refusals are on the record.
    gateway.record_untrusted(request, &refusal).await;
    let refused = Refused::from(refusal);
    let mut response = refused.into_response();
    response
        .headers_mut()
        .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// A TCP stream whose incoming bytes pass through a sniffer on their way to the parser.
/// Once the sniffer closes, the parser is given nothing more: reads stay pending (an end
/// of stream would make the parser drop the refusal it is about to write) until the
/// response with `Connection: close`, or a timeout, ends the connection.
pub struct SniffedStream {
    inner: TcpStream,
    sniffer: FramingSniffer,
    suspicion: Arc<OnceLock<Suspicion>>,
}

impl AsyncRead for SniffedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.sniffer.closed() {
            return Poll::Pending;
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        let Poll::Ready(Ok(())) = polled else {
            return polled;
        };
        let read = buf.filled().get(before..).unwrap_or_default();
        if read.is_empty() {
            return polled;
        }
        let passed = this.sniffer.feed(read);
        if let Some(suspicion) = this.sniffer.suspicion() {
            let _ = this.suspicion.set(suspicion);
        }
        if passed < read.len() {
            buf.set_filled(before + passed);
            if passed == 0 {
                return Poll::Pending;
            }
        }
        polled
    }
}

impl AsyncWrite for SniffedStream {
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
