//! The HTTP listener: a bounded number of connections, each with a
//! header-read timeout and an idle timeout.
//!
//! `axum::serve` accepts every connection and keeps it for as long as the
//! peer likes, so hundreds of idle sockets (or a client that never finishes
//! its headers) would hold file descriptors and memory without end. Here at
//! most `max_connections` are open: a new one makes room by closing the
//! oldest connection that never sent a byte (a flood of idle sockets cannot
//! lock out a scraper), and is refused when every open one has spoken. A
//! request head must arrive within `HEADER_READ_TIMEOUT`, and a connection
//! with no traffic either way for `idle` is closed.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::time::{Instant, Sleep};

use crate::lock::lock;

/// Longest a client may take to send a request's head (a slowloris guard).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the accept loop waits after a failed accept (out of file
/// descriptors, say) before it tries again, instead of spinning.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// Bounds on what HTTP clients may hold.
#[derive(Debug, Clone, Copy)]
pub struct HttpLimits {
    pub max_connections: usize,
    pub idle_timeout: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            max_connections: crate::config::defaults::HTTP_MAX_CONNECTIONS,
            idle_timeout: crate::config::defaults::HTTP_IDLE_TIMEOUT,
        }
    }
}

/// One open connection, as the accept loop sees it.
struct Open {
    id: u64,
    /// The peer has sent at least one byte.
    spoke: Arc<AtomicBool>,
    /// Tells the connection's task to close it (to make room).
    evict: Arc<Notify>,
}

/// The open connections, oldest first.
#[derive(Default)]
struct Registry(Mutex<Vec<Open>>);

impl Registry {
    /// Register a new connection if there is room, making room by evicting
    /// the oldest connection that never sent a byte; `None` when full of
    /// connections that all spoke.
    fn admit(&self, id: u64, max: usize) -> Option<(Arc<AtomicBool>, Arc<Notify>)> {
        let mut open = lock(&self.0);
        if open.len() >= max {
            let silent = open.iter().position(|c| !c.spoke.load(Ordering::Relaxed))?;
            let evicted = open.remove(silent);
            evicted.evict.notify_one();
        }
        let (spoke, evict) = (Arc::new(AtomicBool::new(false)), Arc::new(Notify::new()));
        open.push(Open {
            id,
            spoke: spoke.clone(),
            evict: evict.clone(),
        });
        Some((spoke, evict))
    }

    fn remove(&self, id: u64) {
        lock(&self.0).retain(|c| c.id != id);
    }
}

/// Serve `app` on `listener` until the task is aborted.
pub(super) async fn accept_loop(listener: TcpListener, app: Router, limits: HttpLimits) {
    let registry = Arc::new(Registry::default());
    let mut refusing = false;
    for id in 0u64.. {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "HTTP accept failed");
                tokio::time::sleep(ACCEPT_RETRY).await;
                continue;
            }
        };
        let Some((spoke, evict)) = registry.admit(id, limits.max_connections) else {
            if !refusing {
                tracing::warn!(max_connections = limits.max_connections, %peer, "HTTP connection limit reached with every connection busy: refusing new connections until some close");
                refusing = true;
            }
            drop(stream);
            continue;
        };
        refusing = false;
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let idle = limits.idle_timeout;
        let registry = registry.clone();
        tokio::spawn(async move {
            let io = TokioIo::new(IdleTimeout::new(stream, idle, spoke));
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT.min(idle));
            tokio::select! {
                served = http.serve_connection(io, service) => {
                    if let Err(e) = served {
                        tracing::debug!(%peer, error = %e, "HTTP connection ended");
                    }
                }
                () = evict.notified() => {
                    tracing::debug!(%peer, "HTTP connection closed to make room: it never sent a byte");
                }
            }
            registry.remove(id);
        });
    }
}

/// A stream that fails with `TimedOut` once neither side has moved for
/// `idle`: covers a keep-alive connection that sends no next request and a
/// client that stops reading its response.
struct IdleTimeout {
    inner: TcpStream,
    idle: Duration,
    expires: Pin<Box<Sleep>>,
    /// Set on the first byte read (the connection is no longer evictable).
    spoke: Arc<AtomicBool>,
}

impl IdleTimeout {
    fn new(inner: TcpStream, idle: Duration, spoke: Arc<AtomicBool>) -> Self {
        IdleTimeout {
            inner,
            idle,
            expires: Box::pin(tokio::time::sleep(idle)),
            spoke,
        }
    }

    /// Push the deadline on after progress; on no progress, fail once it passed.
    fn after<T>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        match polled {
            Poll::Ready(r) => {
                let next = Instant::now() + self.idle;
                self.expires.as_mut().reset(next);
                Poll::Ready(r)
            }
            Poll::Pending => match self.expires.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "idle timeout")))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl AsyncRead for IdleTimeout {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.spoke.store(true, Ordering::Relaxed);
        }
        self.after(cx, polled)
    }
}

impl AsyncWrite for IdleTimeout {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.after(cx, polled)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_flush(cx);
        self.after(cx, polled)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.after(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
