//! HTTP Basic authentication against the config's users.
//!
//! Passwords are stored as argon2id PHC strings; one verification costs
//! ~35 ms of CPU, so a verified `Authorization` header is remembered in a
//! small cache keyed by its SHA-256 (the header itself is never stored).
//! The cache lives in [`Users`], which is rebuilt on every reload, so a
//! changed password or a disabled user takes effect at the next reload.
//!
//! Timing: the cache key is a hash, and the stored hash is compared in
//! constant time (`subtle`); a name that is unknown, disabled or locked
//! still costs one full argon2 verification against a dummy hash, so
//! response times do not reveal which user names exist.

use crate::config::Config;
use argon2::password_hash::PasswordHasher;
use argon2::{Argon2, PasswordHash, PasswordVerifier};
use base64::Engine;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use subtle::ConstantTimeEq;

/// Cached verified headers; the cache is cleared when it fills (simple and
/// bounded: a burst of distinct valid credentials only costs re-hashing).
const CACHE_CAP: usize = 4096;

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

/// Verified-credential cache: SHA-256 of the header value → (the same
/// digest, compared in constant time on a hit, and the user name).
type CredentialCache = HashMap<[u8; 32], ([u8; 32], Arc<str>)>;

struct UserEntry {
    name: Arc<str>,
    hash: String,
    active: bool,
}

/// The users of one config generation plus their verified-credential cache.
pub struct Users {
    by_name: HashMap<String, UserEntry>,
    /// SHA-256 of a verified header value → user name.
    cache: Mutex<CredentialCache>,
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_password("taxii-edge dummy password for timing"))
}

impl Users {
    /// The users of `cfg`.
    pub fn from_config(cfg: &Config) -> Users {
        let by_name = cfg
            .users
            .iter()
            .map(|u| {
                let active = matches!(u.state.as_deref(), None | Some("active"));
                (
                    u.name.clone(),
                    UserEntry {
                        name: Arc::from(u.name.as_str()),
                        hash: u.password_hash.clone(),
                        active,
                    },
                )
            })
            .collect();
        Users {
            by_name,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Whether any user is configured (401 makes sense only then).
    pub fn any(&self) -> bool {
        !self.by_name.is_empty()
    }

    /// Computes the dummy hash now so the first failed login does not pay
    /// for it twice. Blocking: call from a blocking thread.
    pub fn warm_up() {
        let _ = dummy_hash();
    }

    /// Checks an `Authorization` header. `Ok(Caller::Anonymous)` when there
    /// is none; `Err(())` when credentials are present but wrong (401).
    pub async fn authenticate(self: &Arc<Self>, header: Option<&[u8]>) -> Result<Caller, ()> {
        let Some(value) = header else {
            return Ok(Caller::Anonymous);
        };
        let key: [u8; 32] = Sha256::digest(value).into();
        if let Some(name) = self.cached(&key) {
            return Ok(Caller::User(name));
        }
        let (user, pass) = parse_basic(value).ok_or(())?;
        let this = Arc::clone(self);
        let verified = tokio::task::spawn_blocking(move || this.verify(&user, &pass))
            .await
            .map_err(|_| ())?;
        match verified {
            Some(name) => {
                let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
                if cache.len() >= CACHE_CAP {
                    cache.clear();
                }
                cache.insert(key, (key, Arc::clone(&name)));
                Ok(Caller::User(name))
            }
            None => Err(()),
        }
    }

    fn cached(&self, key: &[u8; 32]) -> Option<Arc<str>> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        let (stored, name) = cache.get(key)?;
        bool::from(stored.ct_eq(key)).then(|| Arc::clone(name))
    }

    /// One argon2 verification, whatever the outcome (blocking).
    fn verify(&self, user: &str, pass: &str) -> Option<Arc<str>> {
        let entry = self.by_name.get(user).filter(|e| e.active);
        let hash = entry
            .map(|e| e.hash.as_str())
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
        match entry {
            Some(e) if ok => Some(Arc::clone(&e.name)),
            _ => None,
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
