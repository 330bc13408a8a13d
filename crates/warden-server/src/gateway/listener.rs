//! The gateway's TCP listener: every accepted connection is read through a
//! [`FramingSniffer`], so a request head that carried both `Content-Length` and
//! `Transfer-Encoding` is known to the pipeline even though the HTTP parser dropped one of
//! them (see `warden_gateway::sniff`).

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use warden_gateway::FramingSniffer;

/// What the pipeline knows of the connection a request came on.
#[derive(Debug, Clone)]
pub struct GatewayPeer {
    pub addr: SocketAddr,
    ambiguous: Arc<AtomicBool>,
}

impl GatewayPeer {
    /// Whether a request on this connection carried ambiguous framing.
    pub fn ambiguous_framing(&self) -> bool {
        self.ambiguous.load(Ordering::Acquire)
    }
}

impl Connected<IncomingStream<'_, SniffingListener>> for GatewayPeer {
    fn connect_info(stream: IncomingStream<'_, SniffingListener>) -> Self {
        stream.remote_addr().clone()
    }
}

/// A TCP listener whose connections are sniffed.
pub struct SniffingListener(pub TcpListener);

impl Listener for SniffingListener {
    type Io = SniffedStream;
    type Addr = GatewayPeer;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (stream, addr) = Listener::accept(&mut self.0).await;
        let _ = stream.set_nodelay(true);
        let ambiguous = Arc::new(AtomicBool::new(false));
        let io = SniffedStream {
            inner: stream,
            sniffer: FramingSniffer::new(),
            ambiguous: Arc::clone(&ambiguous),
        };
        (io, GatewayPeer { addr, ambiguous })
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(GatewayPeer {
            addr: self.0.local_addr()?,
            ambiguous: Arc::default(),
        })
    }
}

/// A TCP stream whose incoming bytes pass through a sniffer on their way to the parser.
pub struct SniffedStream {
    inner: TcpStream,
    sniffer: FramingSniffer,
    ambiguous: Arc<AtomicBool>,
}

impl AsyncRead for SniffedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled
            && let Some(read) = buf.filled().get(before..)
            && !read.is_empty()
            && !this.sniffer.lost()
        {
            this.sniffer.feed(read);
            if this.sniffer.conflict() {
                this.ambiguous.store(true, Ordering::Release);
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
