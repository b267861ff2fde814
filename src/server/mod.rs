//! The edge server: TAXII 2.1 and 2.0 over a memory-mapped feed file.
//!
//! A request's cost is: parse path and query, check credentials (cached),
//! find the start (binary search on date_added or the `next` token's
//! keyset position), walk the entry table applying filters, and send
//! slices of the mapping (docs/decisions.md#d25). Nothing on that
//! path parses JSON or allocates per object.
//!
//! Module map (each file imports only files below it in this list, so
//! there is no import loop):
//! - [`listener`]: accept loop, connection limit, TLS/ALPN, plain-text h2
//!   prior knowledge, timeouts, graceful drain;
//! - [`router`]: the request pipeline only: the authentication challenge,
//!   methods, body size, credentials, version negotiation, then one of the
//!   resources; HEAD, on-the-fly compression, access log and metrics;
//! - [`auth_request`]: the authentication subrequest of an nginx in front
//!   of a static export;
//! - [`v21`] and [`v20`]: the TAXII 2.1 and 2.0 resources, siblings that
//!   do not import each other;
//! - [`list`] (2.1) and [`list20`] (2.0): which entries a list request
//!   returns and their bodies; [`range`]: TAXII 2.0 item ranges;
//! - [`resource`]: what both versions' resources share (access errors,
//!   discovery fields, ETag, 304, cache headers, content coding choice);
//! - [`route`]: paths to resources;
//! - [`shared`]: the settings and the state every handler reads;
//!   [`state`]: one generation as served, swapped whole on reload;
//! - [`query`], [`negotiate`], [`auth`], [`body`], [`response`],
//!   [`metrics`], [`access_log`]: the leaves.
//!
//! TAXII 2.0: discovery at `/taxii/` (under `server.base_path`), and the
//! same api-root paths as 2.1, where `Accept` picks the version
//! (`application/vnd.oasis.taxii+json; version=2.0` or
//! `application/vnd.oasis.stix+json; version=2.0` → 2.0; `*/*` or no
//! `Accept` → 2.1 there, 2.0 at `/taxii/`). Only collections whose config
//! lists `"2.0"` in `taxii_versions` answer 2.0 (406 otherwise, and the
//! other way round); a 2.1 answer never carries 2.0 bytes and vice versa.
//! Objects come back as STIX 2.0 bundles built from slices of the feed's
//! 2.0 serializations, manifests in the 2.0 shape (one entry per object id
//! with its `versions`), pages by `Range: items=A-B` / `Content-Range`
//! (docs/decisions.md#d15). The decisions are listed in [`v20`].
//!
//! Reload: a rename onto the feed path (watched with `notify`), SIGHUP, or
//! [`Running::reload`] re-opens the feed and re-reads the config in a
//! blocking task and swaps both in atomically; a feed that fails to open is
//! logged and the old generation keeps serving.

pub mod access_log;
pub mod auth;
pub(crate) mod auth_request;
pub mod body;
pub(crate) mod console;
pub mod list;
pub(crate) mod list20;
pub mod listener;
pub(crate) mod metrics;
pub mod negotiate;
pub mod query;
pub mod range;
pub(crate) mod resource;
pub mod response;
pub(crate) mod route;
pub(crate) mod router;
pub(crate) mod shared;
pub mod state;
pub(crate) mod v20;
pub(crate) mod v21;

pub use auth::hash_password;
pub(crate) use shared::normalize_base;
use shared::{Settings, Shared};

use crate::config::{Config, ServerConfig};
use crate::feed::FeedError;
use access_log::AccessLog;
use arc_swap::ArcSwap;
use metrics::Metrics;
use notify::Watcher;
use state::Served;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, watch};

/// What the `serve` command passes in.
pub struct ServeOptions {
    pub config: Config,
    /// The live feed file (replaced by rename on publish).
    pub feed_path: PathBuf,
    /// Overrides `server.listen`.
    pub listen: Option<String>,
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot serve the feed: {0}")]
    Feed(#[from] FeedError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("TLS setup: {0}")]
    Tls(String),
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

/// The server without a socket: answers requests in process through the
/// same router, so what it returns are exactly `serve`'s bytes. The static
/// exporter renders its files with it. It never challenges a request
/// without credentials ([`Settings::challenge_anonymous`]).
pub struct Offline {
    shared: Arc<Shared>,
    /// Nothing on the GET path awaits I/O (authenticating a cached or
    /// absent header completes at once): a bare current-thread runtime
    /// drives it.
    rt: tokio::runtime::Runtime,
}

impl Offline {
    /// Opens the feed under `config` (blocking).
    pub fn new(config: Config, feed_path: &Path) -> Result<Offline, ServeError> {
        let served = Served::load(feed_path, &config)?;
        let mut settings = Settings::new(&config, "http://localhost".into());
        settings.challenge_anonymous = false;
        // Stored copies only: the exporter compresses what has none itself,
        // at the stored levels (its files are written once, sent often).
        settings.compress_min_bytes = u64::MAX;
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .map_err(ServeError::Runtime)?;
        Ok(Offline {
            rt,
            shared: Arc::new(Shared {
                served: ArcSwap::from_pointee(served),
                settings,
                gate: auth::Gate::new(&config.server.login_throttle),
                access_log: AccessLog::Off,
                metrics: Metrics::default(),
                config: Mutex::new(config),
                feed_path: feed_path.to_path_buf(),
            }),
        })
    }

    /// `GET path_and_query` with `headers`: status, headers, whole body.
    /// No access log, no metrics.
    pub fn get(
        &self,
        path_and_query: &str,
        headers: &[(&str, &str)],
    ) -> Result<(http::StatusCode, http::HeaderMap, bytes::Bytes), http::Error> {
        let mut b = http::Request::get(path_and_query);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let req = b.body(())?;
        let served = self.shared.served.load_full();
        let (resp, _, _) = self.rt.block_on(router::dispatch(
            &self.shared,
            &served,
            &auth::ConnInfo::unknown(),
            &req,
        ));
        let (parts, body) = resp.into_parts();
        Ok((
            parts.status,
            parts.headers,
            bytes::Bytes::from(body.to_vec()),
        ))
    }

    /// The key `next` tokens are minted with.
    pub fn token_key(&self) -> [u8; 32] {
        self.shared.served.load().key
    }

    /// The generation being rendered.
    pub fn feed(&self) -> Arc<crate::feed::Feed> {
        Arc::clone(&self.shared.served.load().feed)
    }

    /// `server.base_path`, with a leading and trailing `/`.
    pub fn base_path(&self) -> &str {
        &self.shared.settings.base_path
    }
}

/// A started server.
pub struct Running {
    /// The bound address (useful with port 0).
    pub local_addr: SocketAddr,
    shared: Arc<Shared>,
    reload_tx: mpsc::UnboundedSender<()>,
    shutdown_tx: watch::Sender<u8>,
    accept: tokio::task::JoinHandle<()>,
    reloader: tokio::task::JoinHandle<()>,
    _watcher: Option<notify::RecommendedWatcher>,
}

impl Running {
    /// Asks for a reload of the feed and the config (asynchronous: watch
    /// `/healthz` or the log for the new generation).
    pub fn reload(&self) {
        let _ = self.reload_tx.send(());
    }

    /// The generation id being served now.
    pub fn generation(&self) -> String {
        self.shared.served.load().feed.meta().generation.clone()
    }

    /// Stops accepting, lets in-flight requests finish for up to
    /// `server.shutdown_grace_secs`, then closes what is left.
    pub async fn shutdown(self) {
        let _ = self.shutdown_tx.send(listener::DRAINING);
        let _ = self.accept.await;
        self.reloader.abort();
        let _ = self.reloader.await;
        let log = self.shared.access_log.clone();
        let _ = tokio::task::spawn_blocking(move || log.close()).await;
    }

    /// The server's access log (to flush it, or reopen its file).
    pub fn access_log(&self) -> &AccessLog {
        &self.shared.access_log
    }
}

fn tls_acceptor(cfg: &Config) -> Result<Option<tokio_rustls::TlsAcceptor>, ServeError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let (Some(cert), Some(key)) = (&cfg.server.tls_cert, &cfg.server.tls_key) else {
        return Ok(None);
    };
    let cert = cfg.resolve(cert);
    let key = cfg.resolve(key);
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| ServeError::Tls(format!("{}: {e}", cert.display())))?;
    if certs.is_empty() {
        return Err(ServeError::Tls(format!(
            "{}: no PEM CERTIFICATE found",
            cert.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_file(&key)
        .map_err(|e| ServeError::Tls(format!("{}: {e}", key.display())))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| ServeError::Tls(e.to_string()))?;
    let builder = match client_verifier(cfg, provider)? {
        Some(v) => builder.with_client_cert_verifier(v),
        None => builder.with_no_client_auth(),
    };
    let mut sc = builder
        .with_single_cert(certs, key)
        .map_err(|e| ServeError::Tls(format!("certificate/key: {e}")))?;
    sc.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Some(tokio_rustls::TlsAcceptor::from(Arc::new(sc))))
}

/// The client-certificate verifier of `[server.client_certs]`: webpki over
/// the CA bundle, with the CRLs (a revoked certificate fails the
/// handshake; an expired one too, by webpki's own checks). `optional` lets
/// clients without a certificate through to Basic authentication.
fn client_verifier(
    cfg: &Config,
    provider: Arc<rustls::crypto::CryptoProvider>,
) -> Result<Option<Arc<dyn rustls::server::danger::ClientCertVerifier>>, ServeError> {
    use crate::config::ClientCertMode;
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, CertificateRevocationListDer};
    let cc = &cfg.server.client_certs;
    if cc.mode == ClientCertMode::Off {
        return Ok(None);
    }
    let Some(ca) = &cc.ca else {
        return Err(ServeError::Tls(
            "server.client_certs.ca: a CA bundle is required".into(),
        ));
    };
    let ca = cfg.resolve(ca);
    let mut roots = rustls::RootCertStore::empty();
    let cas: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&ca)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| ServeError::Tls(format!("server.client_certs.ca {}: {e}", ca.display())))?;
    for c in cas {
        roots.add(c).map_err(|e| {
            ServeError::Tls(format!(
                "server.client_certs.ca {}: not a usable CA certificate: {e}",
                ca.display()
            ))
        })?;
    }
    if roots.is_empty() {
        return Err(ServeError::Tls(format!(
            "server.client_certs.ca {}: no PEM CERTIFICATE found",
            ca.display()
        )));
    }
    let mut crls = Vec::new();
    for p in &cc.crls {
        let p = cfg.resolve(p);
        let bytes = std::fs::read(&p).map_err(|e| {
            ServeError::Tls(format!("server.client_certs.crls {}: {e}", p.display()))
        })?;
        if bytes.starts_with(b"-----BEGIN") {
            let it = CertificateRevocationListDer::pem_slice_iter(&bytes)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| {
                    ServeError::Tls(format!("server.client_certs.crls {}: {e}", p.display()))
                })?;
            if it.is_empty() {
                return Err(ServeError::Tls(format!(
                    "server.client_certs.crls {}: no PEM X509 CRL found",
                    p.display()
                )));
            }
            crls.extend(it);
        } else {
            crls.push(CertificateRevocationListDer::from(bytes));
        }
    }
    let mut b =
        rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
            .with_crls(crls);
    if cc.mode == ClientCertMode::Optional {
        b = b.allow_unauthenticated();
    }
    b.build()
        .map(Some)
        .map_err(|e| ServeError::Tls(format!("server.client_certs: {e}")))
}

/// Binds, loads the feed, spawns the accept loop, the reloader and the
/// file watcher. Must run inside a tokio runtime. Requests are logged as
/// `tracing` events (target `taxii_edge::access`); see [`start_with_log`].
pub async fn start(opts: ServeOptions) -> Result<Running, ServeError> {
    start_with_log(opts, AccessLog::Tracing).await
}

/// [`start`] with a given access log (the `serve` command opens a batched
/// one, see [`access_log`]).
pub async fn start_with_log(
    opts: ServeOptions,
    access_log: AccessLog,
) -> Result<Running, ServeError> {
    start_on(opts, access_log, listener::Workers::inline()).await
}

/// [`start_with_log`] serving connections on `workers` (see
/// [`listener::Workers`]); the accept loop, the reloader and the watcher
/// run on the caller's runtime.
pub async fn start_on(
    opts: ServeOptions,
    access_log: AccessLog,
    workers: listener::Workers,
) -> Result<Running, ServeError> {
    let ServeOptions {
        config,
        feed_path,
        listen,
    } = opts;
    let tls = tls_acceptor(&config)?;
    // The dummy argon2 hash (equal cost for unknown users) is computed in
    // the background: tens of ms that must not delay the first answer
    // (the first-request goal in docs/performance.md); a login arriving before it is
    // ready waits for it.
    drop(tokio::task::spawn_blocking(auth::Users::warm_up));
    let served = {
        let (p, c) = (feed_path.clone(), config.clone());
        tokio::task::spawn_blocking(move || Served::load(&p, &c))
            .await
            .map_err(|e| ServeError::Runtime(std::io::Error::other(e)))??
    };
    let addr = listen.unwrap_or_else(|| config.server.listen.clone());
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|source| ServeError::Bind {
            addr: addr.clone(),
            source,
        })?;
    let local_addr = listener.local_addr().map_err(|source| ServeError::Bind {
        addr: addr.clone(),
        source,
    })?;
    let metrics = Metrics::default();
    metrics.set_generation(
        &served.feed.meta().generation,
        served.feed.meta().created_us,
    );
    tracing::info!(
        generation = %served.feed.meta().generation,
        feed = %feed_path.display(),
        "serving feed"
    );
    let settings = Settings::new(
        &config,
        format!(
            "{}://{}",
            if tls.is_some() { "https" } else { "http" },
            local_addr
        ),
    );
    let shared = Arc::new(Shared {
        served: ArcSwap::from_pointee(served),
        settings,
        metrics,
        gate: auth::Gate::new(&config.server.login_throttle),
        access_log,
        config: Mutex::new(config),
        feed_path: feed_path.clone(),
    });

    let (reload_tx, reload_rx) = mpsc::unbounded_channel();
    let reloader = tokio::spawn(reload_loop(Arc::clone(&shared), reload_rx));
    let watcher = watch_feed(&feed_path, reload_tx.clone());

    let (shutdown_tx, shutdown_rx) = watch::channel(listener::RUNNING);
    let (force_tx, _) = watch::channel(listener::RUNNING);
    let accept = tokio::spawn(listener::accept_loop(
        listener,
        tls,
        Arc::clone(&shared),
        workers,
        shutdown_rx,
        force_tx,
    ));
    Ok(Running {
        local_addr,
        shared,
        reload_tx,
        shutdown_tx,
        accept,
        reloader,
        _watcher: watcher,
    })
}

/// Watches the feed's directory for a rename (or create) onto the feed
/// path. A failure to watch is a warning: SIGHUP still works.
fn watch_feed(
    feed_path: &Path,
    tx: mpsc::UnboundedSender<()>,
) -> Option<notify::RecommendedWatcher> {
    let name = feed_path.file_name()?.to_os_string();
    let dir = crate::files::containing_dir(feed_path);
    let handler = move |res: notify::Result<notify::Event>| {
        let Ok(ev) = res else { return };
        use notify::EventKind;
        let relevant = matches!(
            ev.kind,
            EventKind::Create(_) | EventKind::Modify(_) | EventKind::Any | EventKind::Other
        ) && ev
            .paths
            .iter()
            .any(|p| p.file_name() == Some(name.as_os_str()));
        if relevant {
            let _ = tx.send(());
        }
    };
    match notify::recommended_watcher(handler) {
        Ok(mut w) => match w.watch(&dir, notify::RecursiveMode::NonRecursive) {
            Ok(()) => Some(w),
            Err(e) => {
                tracing::warn!(dir = %dir.display(), "cannot watch the feed directory ({e}); reload with SIGHUP");
                None
            }
        },
        Err(e) => {
            tracing::warn!("cannot start the file watcher ({e}); reload with SIGHUP");
            None
        }
    }
}

async fn reload_loop(shared: Arc<Shared>, mut rx: mpsc::UnboundedReceiver<()>) {
    while rx.recv().await.is_some() {
        // Coalesce a burst of events (a rename shows up as several).
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        while rx.try_recv().is_ok() {}
        let sh = Arc::clone(&shared);
        let result = tokio::task::spawn_blocking(move || reload_now(&sh)).await;
        if let Err(e) = result {
            tracing::error!("reload task failed: {e}");
            shared.metrics.reload(false);
        }
    }
}

/// Re-reads the config (if it is a file) and re-opens the feed; swaps them
/// in on success. Blocking.
fn reload_now(shared: &Shared) {
    let config = {
        let old = shared.config();
        if old.path.is_file() {
            match Config::load(&old.path) {
                Ok(c) => c,
                Err(e) => {
                    tracing::error!(
                        "config reload failed, keeping the previous users and readers: {e}"
                    );
                    old
                }
            }
        } else {
            old
        }
    };
    match Served::load(&shared.feed_path, &config) {
        Ok(served) => {
            let meta = served.feed.meta();
            shared
                .metrics
                .set_generation(&meta.generation, meta.created_us);
            tracing::info!(
                generation = %meta.generation,
                feed = %shared.feed_path.display(),
                "reloaded feed"
            );
            shared.served.store(Arc::new(served));
            *shared.config.lock().unwrap_or_else(|e| e.into_inner()) = config;
            shared.metrics.reload(true);
        }
        Err(e) => {
            tracing::error!(
                feed = %shared.feed_path.display(),
                "reload failed, still serving generation {}: {e}",
                shared.served.load().feed.meta().generation
            );
            shared.metrics.reload(false);
        }
    }
}

/// How many worker runtimes `serve` runs: `server.workers`, or one per
/// available core when it is 0.
pub fn worker_count(server: &ServerConfig) -> usize {
    match server.workers {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
}

/// Runs the server until SIGTERM or SIGINT (graceful shutdown); SIGHUP
/// reloads (and reopens an access-log file).
///
/// Runtime shape (docs/decisions.md#d57): thread-per-core. A current-thread
/// runtime on this thread accepts, reloads and handles signals; each of
/// [`worker_count`] threads runs its own current-thread runtime and serves
/// the connections handed to it (see [`listener`]). Measured against the
/// multi-threaded runtime (work stealing), this cut the server's CPU per
/// request and its cross-core wake-ups when the load generator shares the
/// cores (docs/performance.md).
pub fn run(opts: ServeOptions, access_log: AccessLog) -> Result<(), ServeError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(ServeError::Runtime)?;
    let pool = listener::WorkerPool::start(worker_count(&opts.config.server))
        .map_err(ServeError::Runtime)?;
    let workers = pool.workers();
    let result = rt.block_on(async move {
        let running = match start_on(opts, access_log.clone(), workers).await {
            Ok(r) => r,
            Err(e) => {
                access_log.close();
                return Err(e);
            }
        };
        tracing::info!("listening on {}", running.local_addr);
        wait_for_signals(&running).await;
        tracing::info!("shutting down: draining connections");
        running.shutdown().await;
        tracing::info!("stopped");
        Ok(())
    });
    pool.stop();
    result
}

#[cfg(unix)]
async fn wait_for_signals(running: &Running) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        tracing::error!("cannot install signal handlers; stopping on Ctrl-C only");
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    loop {
        tokio::select! {
            _ = term.recv() => return,
            _ = int.recv() => return,
            _ = hup.recv() => {
                tracing::info!("SIGHUP: reloading");
                running.reload();
                running.access_log().reopen();
            }
        }
    }
}

#[cfg(not(unix))]
async fn wait_for_signals(_running: &Running) {
    let _ = tokio::signal::ctrl_c().await;
}
