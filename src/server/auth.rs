//! Authentication: HTTP Basic against the config's users, client
//! certificates (mTLS) mapped to users, user states, per-user request rates
//! and the per-address throttling of failed logins.
//!
//! Passwords are stored as argon2id PHC strings; one verification costs
//! ~35 ms of CPU, so a verified `Authorization` header is remembered in a
//! small cache keyed by its SHA-256 (the header itself is never stored).
//! The cache lives in [`Users`], which is rebuilt on every reload, so a
//! changed password or a disabled user takes effect at the next reload.
//!
//! Timing: the cache key is a hash, and the stored hash is compared in
//! constant time (`subtle`); a name that is unknown or disabled still costs
//! one full argon2 verification against a dummy hash, so response times do
//! not reveal which user names exist. A locked user is verified against
//! their real hash: only the right password learns that the account is
//! locked (a distinct error description), a wrong one gets a plain 401.
//!
//! Client certificates are verified by rustls during the handshake (see
//! `server::tls_acceptor`); [`ConnInfo`] reads the verified leaf once per
//! connection (subject CN, SANs, SHA-256 fingerprint) and maps it to a user
//! once per connection and config generation, so requests pay a pointer
//! comparison. A verified certificate that maps to no user is answered like
//! a wrong password.
//!
//! [`Gate`] outlives reloads (it is part of the server's shared state): the
//! failed-login table keyed by peer IP address (a sliding window; beyond the
//! limit, Basic attempts get 429 before any hashing) and the per-user token
//! buckets would otherwise reset whenever the feed is republished.

use crate::config::{normalize_sha256, Config, LoginThrottleConfig};
use argon2::password_hash::PasswordHasher;
use argon2::{Argon2, PasswordHash, PasswordVerifier};
use base64::Engine;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;

/// Cached verified headers; the cache is cleared when it fills (simple and
/// bounded: a burst of distinct valid credentials only costs re-hashing).
const CACHE_CAP: usize = 4096;

/// Gives every [`Users`] a distinct number, so a connection knows whether
/// its certificate mapping was made against the current config generation.
static USERS_GENERATION: AtomicU64 = AtomicU64::new(1);

/// An argon2id PHC string for `password`, with default parameters and a
/// random salt (the `hash-password` command).
pub fn hash_password(password: &str) -> String {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        // Only fails on RNG failure or absurd lengths; neither is data.
        .expect("argon2 hashing with default parameters")
}

/// Who is asking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// No `Authorization` header.
    Anonymous,
    /// Verified user name.
    User(Arc<str>),
}

impl Caller {
    /// The name for the access log (`-` when anonymous).
    pub fn name(&self) -> &str {
        match self {
            Caller::Anonymous => "-",
            Caller::User(u) => u,
        }
    }
}

/// `[[users]] state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UserState {
    Active,
    /// Always 401, whatever the credentials.
    Disabled,
    /// 401 with a distinct description once the credentials are right.
    Locked,
}

/// The outcome of a verified Basic header (what the cache remembers).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verified {
    Active(Arc<str>),
    Locked(Arc<str>),
}

/// Verified-credential cache: SHA-256 of the header value → (the same
/// digest, compared in constant time on a hit, and the outcome).
type CredentialCache = HashMap<[u8; 32], ([u8; 32], Verified)>;

struct UserEntry {
    name: Arc<str>,
    hash: Option<String>,
    state: UserState,
    rate_per_minute: Option<u32>,
}

/// The users of one config generation plus their verified-credential cache
/// and certificate-mapping indexes.
pub struct Users {
    by_name: HashMap<String, UserEntry>,
    /// Subject common name → user.
    by_cn: HashMap<String, Arc<str>>,
    /// Subject alternative name (DNS, email, URI) → user.
    by_san: HashMap<String, Arc<str>>,
    /// SHA-256 of the certificate's DER → user.
    by_sha256: HashMap<[u8; 32], Arc<str>>,
    /// SHA-256 of a verified header value → outcome.
    cache: Mutex<CredentialCache>,
    /// Distinct per instance (see [`USERS_GENERATION`]).
    generation: u64,
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_password("taxii-edge dummy password for timing"))
}

fn hex32(s: &str) -> Option<[u8; 32]> {
    let hex = normalize_sha256(s)?;
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

impl Users {
    /// The users of `cfg`.
    pub fn from_config(cfg: &Config) -> Users {
        let mut by_name = HashMap::new();
        let (mut by_cn, mut by_san, mut by_sha256) =
            (HashMap::new(), HashMap::new(), HashMap::new());
        for u in &cfg.users {
            let name: Arc<str> = Arc::from(u.name.as_str());
            let state = match u.state.as_deref() {
                None | Some("active") => UserState::Active,
                Some("locked") => UserState::Locked,
                // Validation refuses anything else; fail closed regardless.
                _ => UserState::Disabled,
            };
            if let Some(cn) = &u.cert_cn {
                by_cn.insert(cn.clone(), Arc::clone(&name));
            }
            for san in &u.cert_san {
                by_san.insert(san.clone(), Arc::clone(&name));
            }
            for f in &u.cert_sha256 {
                if let Some(d) = hex32(f) {
                    by_sha256.insert(d, Arc::clone(&name));
                }
            }
            by_name.insert(
                u.name.clone(),
                UserEntry {
                    name,
                    hash: u.password_hash.clone(),
                    state,
                    rate_per_minute: u.rate_limit_per_minute,
                },
            );
        }
        Users {
            by_name,
            by_cn,
            by_san,
            by_sha256,
            cache: Mutex::new(HashMap::new()),
            generation: USERS_GENERATION.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// Whether any user is configured (401 makes sense only then).
    pub fn any(&self) -> bool {
        !self.by_name.is_empty()
    }

    /// Computes the dummy hash now so the first failed login does not pay
    /// for it twice. Blocking: call from a blocking thread.
    pub(crate) fn warm_up() {
        let _ = dummy_hash();
    }

    /// The user a verified certificate logs in as: the fingerprint first
    /// (the most specific), then the subject CN, then the SANs in order.
    pub(crate) fn map_certificate(&self, cert: &CertIdentity) -> Option<Arc<str>> {
        if let Some(u) = self.by_sha256.get(&cert.sha256) {
            return Some(Arc::clone(u));
        }
        if let Some(u) = cert.cn.as_deref().and_then(|cn| self.by_cn.get(cn)) {
            return Some(Arc::clone(u));
        }
        cert.sans
            .iter()
            .find_map(|s| self.by_san.get(s.as_str()))
            .map(Arc::clone)
    }

    fn state_of(&self, name: &str) -> Option<&UserEntry> {
        self.by_name.get(name)
    }

    /// Checks a Basic header: `None` when it is malformed or wrong.
    async fn verify_header(self: &Arc<Self>, value: &[u8]) -> Option<Verified> {
        let key: [u8; 32] = Sha256::digest(value).into();
        if let Some(v) = self.cached(&key) {
            return Some(v);
        }
        let (user, pass) = parse_basic(value)?;
        let this = Arc::clone(self);
        let verified = tokio::task::spawn_blocking(move || this.verify(&user, &pass))
            .await
            .ok()??;
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= CACHE_CAP {
            cache.clear();
        }
        cache.insert(key, (key, verified.clone()));
        Some(verified)
    }

    fn cached(&self, key: &[u8; 32]) -> Option<Verified> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        let (stored, v) = cache.get(key)?;
        bool::from(stored.ct_eq(key)).then(|| v.clone())
    }

    /// One argon2 verification, whatever the outcome (blocking). Disabled
    /// users and users without a password verify against the dummy hash.
    fn verify(&self, user: &str, pass: &str) -> Option<Verified> {
        let entry = self.by_name.get(user);
        let real = entry.filter(|e| e.state != UserState::Disabled && e.hash.is_some());
        let hash = real
            .and_then(|e| e.hash.as_deref())
            .unwrap_or_else(|| dummy_hash());
        let ok = match PasswordHash::new(hash) {
            Ok(h) => Argon2::default()
                .verify_password(pass.as_bytes(), &h)
                .is_ok(),
            Err(e) => {
                tracing::warn!(user, "password_hash of user is not a valid PHC string: {e}");
                false
            }
        };
        if let Some(e) = entry.filter(|e| e.state == UserState::Disabled) {
            tracing::info!(user = %e.name, "login refused: the user is disabled");
        }
        match real {
            Some(e) if ok && e.state == UserState::Locked => {
                Some(Verified::Locked(Arc::clone(&e.name)))
            }
            Some(e) if ok => Some(Verified::Active(Arc::clone(&e.name))),
            _ => None,
        }
    }
}

/// The identity of a verified client certificate, read once per connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertIdentity {
    /// SHA-256 of the certificate's DER encoding.
    pub sha256: [u8; 32],
    /// The subject's first common name.
    pub cn: Option<String>,
    /// DNS names, email addresses and URIs of the subjectAltName extension.
    pub sans: Vec<String>,
}

impl CertIdentity {
    /// Reads a DER certificate (already verified by rustls). A certificate
    /// x509-parser cannot read still has a fingerprint.
    pub(crate) fn from_der(der: &[u8]) -> CertIdentity {
        use x509_parser::extensions::GeneralName;
        let sha256: [u8; 32] = Sha256::digest(der).into();
        let mut id = CertIdentity {
            sha256,
            cn: None,
            sans: Vec::new(),
        };
        let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
            return id;
        };
        id.cn = cert
            .subject()
            .iter_common_name()
            .next()
            .and_then(|a| a.as_str().ok())
            .map(str::to_string);
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for n in &san.value.general_names {
                match n {
                    GeneralName::DNSName(s) | GeneralName::RFC822Name(s) | GeneralName::URI(s) => {
                        id.sans.push((*s).to_string())
                    }
                    _ => {}
                }
            }
        }
        id
    }

    /// The fingerprint as lowercase hex (for logs).
    pub(crate) fn sha256_hex(&self) -> String {
        self.sha256.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// What the listener knows about one connection.
pub struct ConnInfo {
    /// The peer's IP address: the key of the failed-login table.
    pub peer: Option<IpAddr>,
    /// The verified client certificate, if the client sent one.
    pub cert: Option<CertIdentity>,
    /// (users generation, mapped user) of the last mapping, so a reload
    /// re-maps once and requests in between compare a number.
    mapped: Mutex<(u64, Option<Arc<str>>)>,
}

impl ConnInfo {
    /// A connection from `peer`, with the verified leaf certificate (DER)
    /// if any. Maps the certificate against `users` now.
    pub fn new(peer: Option<IpAddr>, cert_der: Option<&[u8]>, users: &Users) -> ConnInfo {
        let cert = cert_der.map(CertIdentity::from_der);
        let mapped = cert.as_ref().map(|c| {
            let u = users.map_certificate(c);
            match &u {
                Some(name) => {
                    tracing::debug!(user = %name, cn = ?c.cn, "client certificate mapped")
                }
                None => tracing::warn!(
                    cn = ?c.cn,
                    sans = ?c.sans,
                    sha256 = %c.sha256_hex(),
                    "client certificate maps to no user: its requests get 401"
                ),
            }
            u
        });
        ConnInfo {
            peer,
            cert,
            mapped: Mutex::new((users.generation, mapped.flatten())),
        }
    }

    /// A connection with nothing known (in-process callers).
    pub fn unknown() -> ConnInfo {
        ConnInfo {
            peer: None,
            cert: None,
            mapped: Mutex::new((0, None)),
        }
    }

    fn cert_user(&self, users: &Users) -> Option<Arc<str>> {
        let cert = self.cert.as_ref()?;
        let mut m = self.mapped.lock().unwrap_or_else(|e| e.into_inner());
        if m.0 != users.generation {
            *m = (users.generation, users.map_certificate(cert));
        }
        m.1.clone()
    }
}

/// Why a request is refused before it reaches a resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// Wrong, malformed or unmapped credentials, or a disabled user: 401.
    Unauthorized,
    /// Right credentials of a locked user: 401 with its own description.
    Locked,
    /// Too many failed logins from this address: 429.
    Throttled { retry_after_secs: u64 },
    /// The user's request rate is exhausted: 429.
    RateLimited { retry_after_secs: u64 },
}

impl Denied {
    /// The TAXII error answering this refusal (with `Retry-After` for 429).
    pub(crate) fn into_response(
        self,
        v: super::negotiate::TaxiiVersion,
    ) -> http::Response<super::body::Body> {
        use super::response::TaxiiError;
        use http::StatusCode;
        let (e, retry) = match self {
            Denied::Unauthorized => (TaxiiError::unauthorized(), None),
            Denied::Locked => (
                TaxiiError::new(
                    StatusCode::UNAUTHORIZED,
                    "Unauthorized",
                    "this account is locked; ask the feed's administrator to unlock it",
                ),
                None,
            ),
            Denied::Throttled { retry_after_secs } => (
                TaxiiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "Too Many Requests",
                    "too many failed logins from this address; retry later",
                ),
                Some(retry_after_secs),
            ),
            Denied::RateLimited { retry_after_secs } => (
                TaxiiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "Too Many Requests",
                    "this user's request rate limit is exhausted; retry later",
                ),
                Some(retry_after_secs),
            ),
        };
        let mut r = e.in_version(v).into_response();
        if let Some(s) = retry {
            r.headers_mut()
                .insert(http::header::RETRY_AFTER, http::HeaderValue::from(s.max(1)));
        }
        r
    }
}

/// The failed logins of one address: their times, oldest first, at most
/// `max_failures` of them (older ones no longer matter).
struct Failures {
    times: VecDeque<Instant>,
}

/// Failed logins per client address in a sliding window.
struct Throttle {
    max_failures: usize,
    window: Duration,
    max_addresses: usize,
    table: Mutex<HashMap<IpAddr, Failures>>,
}

impl Throttle {
    /// `Some(seconds until the oldest failure leaves the window)` when the
    /// address is over the limit.
    fn blocked(&self, ip: IpAddr, now: Instant) -> Option<u64> {
        let mut t = self.table.lock().unwrap_or_else(|e| e.into_inner());
        let f = t.get_mut(&ip)?;
        while f
            .times
            .front()
            .is_some_and(|&at| now.duration_since(at) >= self.window)
        {
            f.times.pop_front();
        }
        if f.times.is_empty() {
            t.remove(&ip);
            return None;
        }
        (f.times.len() >= self.max_failures).then(|| {
            let oldest = f.times[0];
            let left = self.window.saturating_sub(now.duration_since(oldest));
            left.as_secs() + u64::from(left.subsec_nanos() > 0)
        })
    }

    fn record(&self, ip: IpAddr, now: Instant) {
        let mut t = self.table.lock().unwrap_or_else(|e| e.into_inner());
        if !t.contains_key(&ip) && t.len() >= self.max_addresses {
            // Full: drop what has expired, else the address whose latest
            // failure is the oldest. O(table) but rare, and every call here
            // follows an argon2 verification that costs far more.
            let window = self.window;
            t.retain(|_, f| {
                f.times
                    .back()
                    .is_some_and(|&at| now.duration_since(at) < window)
            });
            if t.len() >= self.max_addresses {
                let oldest = t
                    .iter()
                    .min_by_key(|(_, f)| f.times.back().copied())
                    .map(|(ip, _)| *ip);
                if let Some(o) = oldest {
                    t.remove(&o);
                }
            }
        }
        let f = t.entry(ip).or_insert_with(|| Failures {
            times: VecDeque::with_capacity(self.max_failures.min(64)),
        });
        if f.times.len() >= self.max_failures {
            f.times.pop_front();
        }
        f.times.push_back(now);
    }
}

/// One user's token bucket.
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Authentication state that outlives reloads: the failed-login table and
/// the per-user request-rate buckets.
pub struct Gate {
    throttle: Option<Throttle>,
    buckets: Mutex<HashMap<Arc<str>, Bucket>>,
}

impl Gate {
    /// From `[server.login_throttle]`.
    pub fn new(cfg: &LoginThrottleConfig) -> Gate {
        Gate {
            throttle: cfg.enabled.then(|| Throttle {
                max_failures: cfg.max_failures.max(1) as usize,
                window: Duration::from_secs(cfg.window_secs.max(1)),
                max_addresses: cfg.max_addresses.max(1),
                table: Mutex::new(HashMap::new()),
            }),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Who is asking, or why not. A verified client certificate decides
    /// alone (an `Authorization` header next to it is ignored); otherwise
    /// the Basic header, if any.
    pub async fn check(
        &self,
        users: &Arc<Users>,
        header: Option<&[u8]>,
        conn: &ConnInfo,
    ) -> Result<Caller, Denied> {
        self.check_charging(users, header, conn, true).await
    }

    /// [`Gate::check`] without taking a request-rate token: for the
    /// authentication subrequests of a proxy (`server::auth_request`),
    /// which are not requests for data themselves.
    pub(crate) async fn check_credentials(
        &self,
        users: &Arc<Users>,
        header: Option<&[u8]>,
        conn: &ConnInfo,
    ) -> Result<Caller, Denied> {
        self.check_charging(users, header, conn, false).await
    }

    async fn check_charging(
        &self,
        users: &Arc<Users>,
        header: Option<&[u8]>,
        conn: &ConnInfo,
        charge: bool,
    ) -> Result<Caller, Denied> {
        let now = Instant::now();
        let name = if conn.cert.is_some() {
            conn.cert_user(users).ok_or(Denied::Unauthorized)?
        } else {
            let Some(value) = header else {
                return Ok(Caller::Anonymous);
            };
            let throttle = self.throttle.as_ref().zip(conn.peer);
            if let Some((t, ip)) = throttle {
                if let Some(secs) = t.blocked(ip, now) {
                    return Err(Denied::Throttled {
                        retry_after_secs: secs,
                    });
                }
            }
            match users.verify_header(value).await {
                Some(Verified::Active(n)) => n,
                Some(Verified::Locked(n)) => {
                    tracing::warn!(user = %n, "login refused: the user is locked");
                    return Err(Denied::Locked);
                }
                None => {
                    if let Some((t, ip)) = throttle {
                        t.record(ip, Instant::now());
                    }
                    return Err(Denied::Unauthorized);
                }
            }
        };
        // State and rate of the user as of this config generation (a
        // certificate mapping, or a cached header, may be older).
        let Some(entry) = users.state_of(&name) else {
            return Err(Denied::Unauthorized);
        };
        match entry.state {
            UserState::Active => {}
            UserState::Disabled => {
                tracing::info!(user = %name, "login refused: the user is disabled");
                return Err(Denied::Unauthorized);
            }
            UserState::Locked => {
                tracing::warn!(user = %name, "login refused: the user is locked");
                return Err(Denied::Locked);
            }
        }
        if let Some(rate) = entry.rate_per_minute.filter(|_| charge) {
            self.take_token(&entry.name, rate, now)?;
        }
        Ok(Caller::User(name))
    }

    /// Token bucket: `rate` tokens per minute, at most `rate` stored.
    fn take_token(&self, name: &Arc<str>, rate: u32, now: Instant) -> Result<(), Denied> {
        let rate = f64::from(rate.max(1));
        let per_sec = rate / 60.0;
        let mut b = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let bucket = b.entry(Arc::clone(name)).or_insert(Bucket {
            tokens: rate,
            at: now,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * per_sec).min(rate);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - bucket.tokens) / per_sec;
            Err(Denied::RateLimited {
                retry_after_secs: wait.ceil() as u64,
            })
        }
    }
}

/// `Basic base64(user:pass)`; the scheme is case-insensitive (RFC 9110
/// 11.1).
fn parse_basic(value: &[u8]) -> Option<(String, String)> {
    let s = std::str::from_utf8(value).ok()?.trim();
    let (scheme, b64) = s.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (u, p) = text.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_header_parsing() {
        assert_eq!(
            parse_basic(b"Basic YWxpY2U6czNjcjN0OmV4dHJh"),
            Some(("alice".into(), "s3cr3t:extra".into()))
        );
        assert_eq!(
            parse_basic(b"basic YWxpY2U6"),
            Some(("alice".into(), "".into()))
        );
        assert_eq!(parse_basic(b"Bearer abc"), None);
        assert_eq!(parse_basic(b"Basic !!!"), None);
        assert_eq!(parse_basic(b"Basic YWxpY2U"), None);
        assert_eq!(parse_basic(&[0xff, 0xfe]), None);
    }

    #[test]
    fn hash_verifies_and_is_salted() {
        let a = hash_password("pw");
        let b = hash_password("pw");
        assert!(a.starts_with("$argon2id$"));
        assert_ne!(a, b);
        let h = PasswordHash::new(&a).unwrap();
        assert!(Argon2::default().verify_password(b"pw", &h).is_ok());
        assert!(Argon2::default().verify_password(b"px", &h).is_err());
    }
}
