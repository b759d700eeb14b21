//! The HTTP server's connections: how many, for how long, and who goes when there are too many.
//!
//! A browser opens a few connections and uses them; a careless or hostile client can open
//! thousands and send nothing. Each costs the daemon a file descriptor, and when they run out
//! nobody is answered, `/api/health` included. So:
//! - A connection must send a request's headers within [`Limits::header_timeout`] of opening,
//!   and of its previous answer (hyper's header-read timeout, which also ends idle keep-alive
//!   connections).
//! - At most [`Limits::max`] connections are open at once, well below the process's file limit
//!   ([`raise_file_limit`] lifts the soft limit to the hard one; the unit sets `LimitNOFILE`).
//! - When a connection arrives at the cap, the oldest connection that has not sent a request yet
//!   is closed to make room: idle connections can never lock out a newcomer, so health checks
//!   and the dashboard keep being answered (the reserve). Only when every connection is in use
//!   (requests, Socket.IO) is the newcomer refused.
//!
//! A Socket.IO connection that upgraded to a WebSocket keeps its slot until it closes.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tower::ServiceExt as _;

/// See the module docs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    pub max: usize,
    pub header_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max: 1024,
            header_timeout: Duration::from_secs(10),
        }
    }
}

impl Limits {
    /// The default, lowered to fit under a file limit of `nofile` (keeping 64 descriptors for
    /// the model, GStreamer, the journal and the store).
    pub fn for_file_limit(nofile: u64) -> Self {
        let d = Self::default();
        let fit = usize::try_from(nofile.saturating_sub(64)).unwrap_or(usize::MAX);
        Self {
            max: d.max.min(fit).max(16),
            ..d
        }
    }
}

/// Lifts the soft file-descriptor limit to the hard one (systemd's `LimitNOFILE`, or the
/// shell's) and returns it.
pub fn raise_file_limit() -> u64 {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => hard,
            Err(e) => {
                log::warn!("cannot raise the open-file limit from {soft} to {hard}: {e}");
                soft
            }
        },
        Ok((soft, _)) => soft,
        Err(_) => 1024,
    }
}

struct Entry {
    /// It has sent a request (or upgraded): it is in use, not idle.
    used: Arc<AtomicBool>,
    close: Arc<Notify>,
}

/// The open connections, oldest first.
#[derive(Default)]
struct Table {
    next_id: u64,
    open: BTreeMap<u64, Entry>,
}

impl Table {
    /// Makes room for one more under `max`: closes the oldest idle connection when full.
    /// `false` when every connection is in use.
    fn make_room(&mut self, max: usize) -> bool {
        if self.open.len() < max {
            return true;
        }
        let idle = self
            .open
            .iter()
            .find(|(_, e)| !e.used.load(Ordering::Relaxed))
            .map(|(id, _)| *id);
        match idle.and_then(|id| self.open.remove(&id)) {
            Some(e) => {
                e.close.notify_one();
                true
            }
            None => false,
        }
    }
}

/// A connection's slot in the table, freed when the connection's socket is dropped (after the
/// request, or after the WebSocket it upgraded to).
struct Slot {
    id: u64,
    table: Arc<Mutex<Table>>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.table.lock().open.remove(&self.id);
    }
}

/// A TCP stream that holds its slot.
struct Tracked {
    stream: TcpStream,
    _slot: Slot,
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// Serves `app` on `listener` within `limits` until `shutdown` resolves; then lets the open
/// requests finish (the caller bounds how long it waits). Each request carries its client's
/// address (`ConnectInfo<SocketAddr>`).
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let table = Arc::new(Mutex::new(Table::default()));
    let stopping = Arc::new(Notify::new());
    // Every connection's task holds a sender; all are gone once every connection ended.
    let (alive, mut all_done) = tokio::sync::mpsc::channel::<()>(1);
    let mut shutdown = std::pin::pin!(shutdown);
    let mut refused_at: Option<tokio::time::Instant> = None;
    loop {
        let (stream, addr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors (EMFILE, ENFILE) or a connection reset before it was
                    // accepted: make room and go on.
                    log::debug!("accepting a connection failed: {e}");
                    table.lock().make_room(0);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let (id, used, close) = {
            let mut t = table.lock();
            if !t.make_room(limits.max) {
                drop(t);
                let now = tokio::time::Instant::now();
                if refused_at.is_none_or(|at| now - at > Duration::from_secs(10)) {
                    log::warn!(
                        "{} connections are in use (the cap): refusing {addr}",
                        limits.max
                    );
                    refused_at = Some(now);
                }
                continue;
            }
            let id = t.next_id;
            t.next_id += 1;
            let used = Arc::new(AtomicBool::new(false));
            let close = Arc::new(Notify::new());
            t.open.insert(
                id,
                Entry {
                    used: used.clone(),
                    close: close.clone(),
                },
            );
            (id, used, close)
        };
        let io = Tracked {
            stream,
            _slot: Slot {
                id,
                table: table.clone(),
            },
        };
        let app = app.clone();
        let stopping = stopping.clone();
        let alive = alive.clone();
        tokio::spawn(async move {
            let _alive = alive;
            let service = hyper::service::service_fn(move |mut req| {
                used.store(true, Ordering::Relaxed);
                req.extensions_mut().insert(ConnectInfo(addr));
                app.clone().oneshot(req)
            });
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .max_buf_size(64 * 1024);
            let conn = http
                .serve_connection(TokioIo::new(io), service)
                .with_upgrades();
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        log::trace!("connection from {addr}: {e}");
                    }
                }
                _ = close.notified() => {
                    log::debug!("closed the idle connection from {addr} to make room");
                }
                _ = stopping.notified() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
    }
    drop(listener);
    stopping.notify_waiters();
    drop(alive);
    let _ = all_done.recv().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_idle_connection_makes_room() {
        let mut t = Table::default();
        let add = |t: &mut Table, used: bool| {
            let id = t.next_id;
            t.next_id += 1;
            let close = Arc::new(Notify::new());
            t.open.insert(
                id,
                Entry {
                    used: Arc::new(AtomicBool::new(used)),
                    close: close.clone(),
                },
            );
            close
        };
        let _busy = add(&mut t, true);
        let _idle_old = add(&mut t, false);
        let _idle_new = add(&mut t, false);
        assert!(t.make_room(4), "under the cap");
        assert!(t.make_room(3));
        assert_eq!(t.open.keys().copied().collect::<Vec<_>>(), [0, 2]);
        assert!(t.make_room(2));
        assert_eq!(t.open.keys().copied().collect::<Vec<_>>(), [0]);
        assert!(!t.make_room(1), "every connection is in use");
    }

    #[test]
    fn the_cap_fits_under_the_file_limit() {
        assert_eq!(Limits::for_file_limit(1 << 20).max, 1024);
        assert_eq!(Limits::for_file_limit(1024).max, 960);
        assert_eq!(Limits::for_file_limit(10).max, 16);
    }
}
