//! Accepting connections: the connection limit, TLS, protocol selection,
//! per-connection timeouts, and the graceful drain.
//!
//! Shaped like mini-redis's `Listener`: one accept loop owns a semaphore
//! (max connections: the next accept waits for a permit, so excess clients
//! wait in the kernel backlog) and a `JoinSet` of connection tasks; one
//! shutdown signal (a `watch` channel) is the only way to stop.
//!
//! Where connections run ([`Workers`]): `serve` runs one current-thread
//! tokio runtime per core (thread-per-core, `server.workers`); the accept
//! loop, on its own small runtime, hands each accepted socket to the worker
//! with the fewest open connections, and the connection lives there to the
//! end (its socket re-registered with that worker's reactor). Requests
//! never hop threads and a wake-up never crosses cores, which is what the
//! multi-threaded scheduler spent most of its time on when wrk shared the
//! two cores (docs/decisions.md#d57). In-process servers (tests, `start`) run
//! connections on the caller's runtime instead ([`Workers::inline`]). The
//! `JoinSet` tracks connections on any runtime, so the drain is the same.
//!
//! Protocol selection (docs/decisions.md#d56): on TLS the protocol comes from
//! ALPN, after a handshake bounded by the header timeout; on plain TCP we
//! read the first bytes ourselves under the same timeout and compare them
//! with the HTTP/2 preface (prior knowledge), instead of hyper-util's
//! auto-builder whose sniff has no timeout. Both h1 and h2 connections are
//! closed after `idle_timeout_secs` without a new request or a byte written
//! (bytes read that never complete a request do not count).

use super::auth::ConnInfo;
use super::router;
use super::shared::Shared;
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

/// Shutdown phases sent through the watch channel.
pub(crate) const RUNNING: u8 = 0;
/// Stop accepting; finish in-flight requests.
pub(crate) const DRAINING: u8 = 1;
/// The grace period is over: drop every connection.
pub(crate) const FORCE: u8 = 2;

const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The runtimes connections are served on.
#[derive(Clone, Default)]
pub struct Workers {
    /// Empty: the accept loop's own runtime.
    workers: Arc<[Worker]>,
}

struct Worker {
    handle: tokio::runtime::Handle,
    /// Connections open on this worker (balancing).
    open: Arc<AtomicUsize>,
}

impl Workers {
    /// Connections run on the accept loop's runtime (in-process servers).
    pub fn inline() -> Workers {
        Workers::default()
    }

    /// The worker a new connection goes to: the fewest open connections,
    /// the lowest index on a tie.
    fn pick(&self) -> Option<&Worker> {
        self.workers
            .iter()
            .min_by_key(|w| w.open.load(Ordering::Relaxed))
    }

    /// How many worker runtimes there are (0: inline).
    pub fn len(&self) -> usize {
        self.workers.len()
    }

    /// Whether connections run inline.
    pub fn is_empty(&self) -> bool {
        self.workers.is_empty()
    }

    /// Connections open on each worker now.
    pub fn open_counts(&self) -> Vec<usize> {
        self.workers
            .iter()
            .map(|w| w.open.load(Ordering::Relaxed))
            .collect()
    }
}

/// `n` threads, each running a current-thread tokio runtime (IO and time
/// enabled) until [`WorkerPool::stop`].
pub struct WorkerPool {
    workers: Workers,
    stops: Vec<tokio::sync::oneshot::Sender<()>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl WorkerPool {
    /// Starts `n` (at least 1) worker threads.
    pub fn start(n: usize) -> io::Result<WorkerPool> {
        let n = n.max(1);
        let mut workers = Vec::with_capacity(n);
        let mut stops = Vec::with_capacity(n);
        let mut threads = Vec::with_capacity(n);
        for i in 0..n {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .thread_name(format!("taxii-edge-w{i}"))
                .build()?;
            let handle = rt.handle().clone();
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let thread = std::thread::Builder::new()
                .name(format!("taxii-edge-w{i}"))
                .spawn(move || {
                    rt.block_on(async {
                        let _ = stopped.await;
                    });
                })?;
            workers.push(Worker {
                handle,
                open: Arc::new(AtomicUsize::new(0)),
            });
            stops.push(stop);
            threads.push(thread);
        }
        Ok(WorkerPool {
            workers: Workers {
                workers: workers.into(),
            },
            stops,
            threads,
        })
    }

    /// The handles to pass to the accept loop.
    pub fn workers(&self) -> Workers {
        self.workers.clone()
    }

    /// Stops every worker runtime (dropping what still runs on it) and
    /// joins the threads. Call after the accept loop has drained.
    pub fn stop(self) {
        for s in self.stops {
            let _ = s.send(());
        }
        for t in self.threads {
            let _ = t.join();
        }
    }
}

/// Decrements a worker's open-connection count however the connection
/// task ends (aborted at the end of a forced shutdown included).
struct OpenGuard(Arc<AtomicUsize>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The accept loop. Returns after a shutdown has drained (or forced) every
/// connection.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    shared: Arc<Shared>,
    workers: Workers,
    mut shutdown: watch::Receiver<u8>,
    force: watch::Sender<u8>,
) {
    let s = &shared.settings.server;
    let permits = s.max_connections.clamp(1, Semaphore::MAX_PERMITS);
    let sem = Arc::new(Semaphore::new(permits));
    let mut conns = JoinSet::new();
    loop {
        while conns.try_join_next().is_some() {}
        let permit = tokio::select! {
            p = Arc::clone(&sem).acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            _ = shutdown.changed() => break,
        };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        let _ = stream.set_nodelay(true);
        let shared = Arc::clone(&shared);
        let tls = tls.clone();
        let rx = force.subscribe();
        match workers.pick() {
            None => {
                conns.spawn(async move {
                    serve_connection(stream, peer.ip(), tls, shared, rx).await;
                    drop(permit);
                });
            }
            Some(w) => {
                // Off this runtime's reactor, onto the worker's.
                let std = match stream.into_std() {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::debug!("cannot hand a connection to a worker: {e}");
                        continue;
                    }
                };
                w.open.fetch_add(1, Ordering::Relaxed);
                let open = OpenGuard(Arc::clone(&w.open));
                conns.spawn_on(
                    async move {
                        let _open = open;
                        match TcpStream::from_std(std) {
                            Ok(stream) => {
                                serve_connection(stream, peer.ip(), tls, shared, rx).await
                            }
                            Err(e) => tracing::debug!("cannot register a connection: {e}"),
                        }
                        drop(permit);
                    },
                    &w.handle,
                );
            }
        }
    }
    // Stop listening first so new clients get refused, not queued.
    drop(listener);
    let _ = force.send(DRAINING);
    let grace = Duration::from_secs(shared.settings.server.shutdown_grace_secs);
    let drained =
        tokio::time::timeout(grace, async { while conns.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::warn!(
            open = conns.len(),
            "shutdown grace period over: closing the remaining connections"
        );
        let _ = force.send(FORCE);
        conns.abort_all();
        while conns.join_next().await.is_some() {}
    }
}

async fn serve_connection(
    mut stream: TcpStream,
    peer: std::net::IpAddr,
    tls: Option<TlsAcceptor>,
    shared: Arc<Shared>,
    phase: watch::Receiver<u8>,
) {
    let s = &shared.settings.server;
    let head_timeout = Duration::from_secs(s.header_read_timeout_secs.max(1));
    let activity = Arc::new(AtomicU64::new(0));
    let epoch = Instant::now();
    match tls {
        Some(acceptor) => {
            let tls = match tokio::time::timeout(head_timeout, acceptor.accept(stream)).await {
                Ok(Ok(t)) => t,
                Ok(Err(e)) => {
                    tracing::debug!("TLS handshake failed: {e}");
                    return;
                }
                Err(_) => {
                    tracing::debug!("TLS handshake timed out");
                    return;
                }
            };
            let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
            // rustls verified the chain during the handshake; map the leaf
            // to a user once for the whole connection.
            let leaf = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .map(|c| c.as_ref());
            let conn = ConnInfo::new(Some(peer), leaf, &shared.served.load().users);
            let io = Tracked::new(tls, Vec::new(), Arc::clone(&activity), epoch);
            drive(io, h2, &shared, conn, phase, Arc::clone(&activity), epoch).await;
        }
        None => {
            // Read until the h2 preface is complete or ruled out.
            let mut buf = Vec::with_capacity(H2_PREFACE.len());
            let sniff = async {
                let mut chunk = [0u8; 24];
                while buf.len() < H2_PREFACE.len() && H2_PREFACE.starts_with(&buf) {
                    let want = H2_PREFACE.len() - buf.len();
                    let n = stream.read(&mut chunk[..want]).await?;
                    if n == 0 {
                        return Err(io::Error::from(io::ErrorKind::UnexpectedEof));
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                Ok::<(), io::Error>(())
            };
            match tokio::time::timeout(head_timeout, sniff).await {
                Ok(Ok(())) => {}
                _ => return,
            }
            let h2 = buf == H2_PREFACE;
            let conn = ConnInfo::new(Some(peer), None, &shared.served.load().users);
            let io = Tracked::new(stream, buf, Arc::clone(&activity), epoch);
            drive(io, h2, &shared, conn, phase, Arc::clone(&activity), epoch).await;
        }
    }
}

async fn drive<T>(
    io: Tracked<T>,
    h2: bool,
    shared: &Arc<Shared>,
    conn: ConnInfo,
    mut phase: watch::Receiver<u8>,
    activity: Arc<AtomicU64>,
    epoch: Instant,
) where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let s = &shared.settings.server;
    let idle = Duration::from_secs(s.idle_timeout_secs.max(1));
    let sh = Arc::clone(shared);
    let started = Arc::clone(&activity);
    let conn = Arc::new(conn);
    let svc = service_fn(move |req| {
        // A complete request resets the idle clock; bytes that never make
        // one (a HEADERS frame dribbled over h2, where hyper has no header
        // read timeout) do not.
        started.store(epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
        let sh = Arc::clone(&sh);
        let conn = Arc::clone(&conn);
        async move { Ok::<_, Infallible>(router::handle(sh, &conn, req).await) }
    });
    let activity = &*activity;
    let io = TokioIo::new(io);
    if h2 {
        let mut b = http2::Builder::new(TokioExecutor::new());
        b.timer(TokioTimer::new())
            .max_header_list_size(u32::try_from(s.max_header_bytes).unwrap_or(u32::MAX))
            .max_concurrent_streams(256);
        let conn = b.serve_connection(io, svc);
        supervise(
            conn,
            |c| c.graceful_shutdown(),
            &mut phase,
            activity,
            epoch,
            idle,
        )
        .await;
    } else {
        let mut b = http1::Builder::new();
        b.timer(TokioTimer::new())
            .header_read_timeout(Duration::from_secs(s.header_read_timeout_secs.max(1)))
            .max_header_size(s.max_header_bytes)
            .max_buf_size(s.max_header_bytes.saturating_add(8192))
            .keep_alive(true);
        let conn = b.serve_connection(io, svc);
        supervise(
            conn,
            |c| c.graceful_shutdown(),
            &mut phase,
            activity,
            epoch,
            idle,
        )
        .await;
    }
}

/// Runs one connection to its end, starting a graceful close when the
/// server drains or the connection has been idle too long, and dropping it
/// when the grace period is over.
async fn supervise<C>(
    conn: C,
    graceful: impl Fn(Pin<&mut C>),
    phase: &mut watch::Receiver<u8>,
    activity: &AtomicU64,
    epoch: Instant,
    idle: Duration,
) where
    C: std::future::Future<Output = hyper::Result<()>>,
{
    tokio::pin!(conn);
    let mut closing = false;
    // When an idle close started: a peer that ignores it (an h2 client that
    // never finishes its HEADERS frame) is dropped one idle period later.
    let mut idle_close_at: Option<Duration> = None;
    if *phase.borrow() >= DRAINING {
        graceful(conn.as_mut());
        closing = true;
    }
    let tick = (idle / 4).max(Duration::from_millis(250));
    loop {
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!("connection ended: {e}");
                }
                return;
            }
            changed = phase.changed() => {
                let p = if changed.is_ok() { *phase.borrow() } else { FORCE };
                if p >= FORCE {
                    return;
                }
                if p >= DRAINING && !closing {
                    graceful(conn.as_mut());
                    closing = true;
                }
            }
            _ = tokio::time::sleep(tick), if !closing || idle_close_at.is_some() => {
                if let Some(at) = idle_close_at {
                    if epoch.elapsed().saturating_sub(at) >= idle {
                        return;
                    }
                    continue;
                }
                let last = Duration::from_millis(activity.load(Ordering::Relaxed));
                if epoch.elapsed().saturating_sub(last) >= idle {
                    graceful(conn.as_mut());
                    closing = true;
                    idle_close_at = Some(epoch.elapsed());
                }
            }
        }
    }
}

/// An IO stream that replays the bytes read while sniffing the protocol
/// and stamps the time of the last write (for the idle timeout).
pub(crate) struct Tracked<T> {
    inner: T,
    prefix: Vec<u8>,
    at: usize,
    activity: Arc<AtomicU64>,
    epoch: Instant,
}

impl<T> Tracked<T> {
    fn new(inner: T, prefix: Vec<u8>, activity: Arc<AtomicU64>, epoch: Instant) -> Self {
        Tracked {
            inner,
            prefix,
            at: 0,
            activity,
            epoch,
        }
    }

    fn touch(&self) {
        self.activity
            .store(self.epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Tracked<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.at < self.prefix.len() {
            let n = (self.prefix.len() - self.at).min(buf.remaining());
            let at = self.at;
            buf.put_slice(&self.prefix[at..at + n]);
            self.at += n;
            return Poll::Ready(Ok(()));
        }
        // Reads do not reset the idle clock (see `drive`): only complete
        // requests and bytes written do.
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Tracked<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
