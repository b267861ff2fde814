//! What every request handler reads: the generation being served and the
//! settings fixed for the life of the server.

use super::access_log::AccessLog;
use super::auth;
use super::metrics::Metrics;
use super::state::Served;
use crate::config::{Config, ServerConfig};
use arc_swap::ArcSwap;
use std::path::PathBuf;
use std::sync::Mutex;

/// State shared by every connection.
pub struct Shared {
    /// The generation being served; requests `load_full` it once.
    pub served: ArcSwap<Served>,
    pub settings: Settings,
    pub metrics: Metrics,
    /// Failed-login throttling and per-user rate buckets: outlive reloads.
    pub gate: auth::Gate,
    /// Where each finished request is logged.
    pub access_log: AccessLog,
    /// The last config that loaded, re-read on reload.
    pub(super) config: Mutex<Config>,
    pub(super) feed_path: PathBuf,
}

impl Shared {
    /// A copy of the last config that loaded.
    pub(super) fn config(&self) -> Config {
        self.config
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Who a request's credentials (`Authorization`, or the connection's
    /// client certificate) name, checked against `served`'s users and
    /// charged to the login throttle and rate buckets like every TAXII
    /// request.
    pub(super) async fn caller(
        &self,
        served: &Served,
        headers: &http::HeaderMap,
        conn: &auth::ConnInfo,
    ) -> Result<auth::Caller, auth::Denied> {
        let header = headers
            .get(http::header::AUTHORIZATION)
            .map(http::HeaderValue::as_bytes);
        self.gate.check(&served.users, header, conn).await
    }
}

/// Settings fixed for the life of the server (limits and URLs are not
/// hot-reloaded; users, readers and the feed are).
pub struct Settings {
    pub server: ServerConfig,
    /// `server.base_path` with a leading and trailing `/`.
    pub base_path: String,
    /// `server.public_url` without a trailing `/`; absolute api_root URLs
    /// when set, relative ones otherwise (TAXII 2.1 section 4.1 allows
    /// both).
    pub public_url: Option<String>,
    /// Base of the absolute TAXII 2.0 api_root URLs (docs/decisions.md#d16):
    /// `public_url`, else `http(s)://<bound address>`.
    pub public_base20: String,
    /// `WWW-Authenticate` of every 401: `Basic realm="…"` with
    /// `server.realm`, else `server.title`.
    pub www_authenticate: http::HeaderValue,
    /// Requests without credentials are challenged where logging in would
    /// show more (`docs/decisions.md#d22`). Off in [`Offline`]: the static
    /// export renders the anonymous view, and the web server in front of
    /// the files does the challenging.
    pub challenge_anonymous: bool,
    /// Bodies of at least this many bytes without a stored copy are
    /// compressed on the fly for a client that accepts gzip or zstd
    /// (`docs/decisions.md#d23`).
    pub compress_min_bytes: u64,
    /// When the server started: the console's uptime.
    pub started: std::time::Instant,
}

/// [`Settings::compress_min_bytes`] of `serve`: below about 1 KB a coding
/// saves less than it costs.
pub const COMPRESS_MIN_BYTES: u64 = 1024;

impl Settings {
    /// `bound`: `scheme://address` of the listener, the 2.0 api-root base
    /// when no `public_url` is configured.
    pub(super) fn new(config: &Config, bound: String) -> Settings {
        let public_url = config
            .server
            .public_url
            .as_ref()
            .map(|u| u.trim_end_matches('/').to_string());
        Settings {
            public_base20: public_url.clone().unwrap_or(bound),
            base_path: normalize_base(&config.server.base_path),
            public_url,
            www_authenticate: basic_challenge(
                config
                    .server
                    .realm
                    .as_deref()
                    .unwrap_or(&config.server.title),
            ),
            challenge_anonymous: true,
            server: config.server.clone(),
            compress_min_bytes: COMPRESS_MIN_BYTES,
            started: std::time::Instant::now(),
        }
    }
}

/// `Basic realm="<realm>"`. A realm is a quoted-string (RFC 7617): `"` and
/// `\` are escaped; a realm that is not printable ASCII (a title in
/// another script, say; config validation refuses such a `server.realm`)
/// falls back to `taxii-edge`, since clients read header bytes beyond ASCII
/// differently.
fn basic_challenge(realm: &str) -> http::HeaderValue {
    let printable = !realm.is_empty() && realm.bytes().all(|b| (b' '..=b'~').contains(&b));
    let realm = if printable { realm } else { "taxii-edge" };
    let escaped = realm.replace('\\', "\\\\").replace('"', "\\\"");
    http::HeaderValue::from_str(&format!("Basic realm=\"{escaped}\""))
        .unwrap_or_else(|_| http::HeaderValue::from_static("Basic realm=\"taxii-edge\""))
}

/// `server.base_path` with one leading and one trailing `/` (`/` alone
/// when empty).
pub(crate) fn normalize_base(p: &str) -> String {
    let mut s = String::from("/");
    s.push_str(p.trim_matches('/'));
    if s.len() > 1 {
        s.push('/');
    }
    s
}
