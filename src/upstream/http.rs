//! The HTTP side of an upstream: one `ureq` agent per source (TLS with the
//! configured trust and client certificate, the proxy, the time limit) and
//! GETs retried with backoff on what a retry can cure (docs/decisions.md#d73).

use crate::config::upstream::{Secret, TaxiiSource};
use base64::Engine;
use std::path::Path;
use std::time::{Duration, Instant};
use ureq::tls::{Certificate, ClientCert, PemItem, PrivateKey, RootCerts, TlsConfig};

/// The largest response body read (a page of 100,000 large objects).
const BODY_LIMIT: u64 = 1 << 30;
/// The first pause before a retry; doubled each time up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(500);
const MAX_PAUSE: Duration = Duration::from_secs(30);

/// A response read whole.
pub(super) struct Reply {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// One source's HTTP client, counting what it sent.
pub(super) struct Client {
    agent: ureq::Agent,
    authorization: Option<String>,
    retry_for: Duration,
    /// Requests sent, retries included.
    pub requests: u64,
    /// Of those, retries.
    pub retries: u64,
}

impl Client {
    /// The client of `src`, paths relative to `base`. Errors name the key
    /// and the file.
    pub fn new(src: &TaxiiSource, base: &Path) -> Result<Client, String> {
        let mut tls = TlsConfig::builder();
        if let Some(ca) = &src.ca_bundle {
            let certs = certificates(base, ca, "ca_bundle")?;
            tls = tls.root_certs(RootCerts::new_with_certs(&certs));
        }
        if let (Some(cert), Some(key)) = (&src.client_cert, &src.client_key) {
            let chain = certificates(base, cert, "client_cert")?;
            let passphrase = src
                .passphrase()
                .map(|s| reveal(&s, base, "client_key_passphrase"))
                .transpose()?;
            let key = private_key(&read(base, key, "client_key")?, passphrase.as_deref())
                .map_err(|e| format!("client_key {key}: {e}"))?;
            tls = tls.client_cert(Some(ClientCert::new_with_certs(&chain, key)));
        }
        let proxy = src
            .proxy
            .as_deref()
            .map(|p| ureq::Proxy::new(p).map_err(|e| format!("proxy {p:?}: {e}")))
            .transpose()?;
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            // Credentials follow a redirect only to the same host, and an
            // https source is never followed to plain http.
            .redirect_auth_headers(ureq::config::RedirectAuthHeaders::SameHost)
            .https_only(src.url.trim().starts_with("https://"))
            .timeout_global(Some(src.timeout()))
            .tls_config(tls.build())
            .proxy(proxy)
            .user_agent(concat!("taxii-edge/", env!("CARGO_PKG_VERSION")))
            .build()
            .new_agent();
        let authorization = match (&src.user, src.password()) {
            (Some(user), Some(secret)) => {
                let password = reveal(&secret, base, "password")?;
                Some(format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
                ))
            }
            _ => None,
        };
        Ok(Client {
            agent,
            authorization,
            retry_for: src.retry_for(),
            requests: 0,
            retries: 0,
        })
    }

    /// GETs `url`, retrying 5xx, 429, timeouts and broken connections with
    /// backoff (a `Retry-After` is honoured) for at most `retry_for` in
    /// all. Any other answer is returned as it is, for the caller to judge.
    pub fn get(&mut self, url: &str, headers: &[(&str, &str)]) -> Result<Reply, String> {
        let started = Instant::now();
        let mut pause = FIRST_PAUSE;
        let mut attempts = 0;
        loop {
            attempts += 1;
            self.requests += 1;
            let (problem, wait) = match self.once(url, headers) {
                Ok(r) if r.status == 429 || r.status >= 500 => {
                    let wait = r.header("retry-after").and_then(retry_after);
                    (format!("HTTP {}", r.status), wait)
                }
                Ok(r) => return Ok(r),
                Err(Attempt::Retry(e)) => (e, None),
                Err(Attempt::Fatal(e)) => return Err(format!("{url}: {e}")),
            };
            // A Retry-After of 0 or in the past still waits the backoff.
            let wait = wait.map_or(pause, |w| w.max(pause));
            if started.elapsed() + wait > self.retry_for {
                return Err(format!(
                    "{url}: {problem}, still after {attempts} requests over {} s (retry_for)",
                    started.elapsed().as_secs()
                ));
            }
            tracing::warn!(
                url,
                problem,
                wait_ms = wait.as_millis() as u64,
                "upstream: retrying"
            );
            std::thread::sleep(wait);
            pause = (pause * 2).min(MAX_PAUSE);
            self.retries += 1;
        }
    }

    fn once(&self, url: &str, headers: &[(&str, &str)]) -> Result<Reply, Attempt> {
        let mut req = self.agent.get(url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(a) = &self.authorization {
            req = req.header("Authorization", a);
        }
        let mut resp = req.call().map_err(classify)?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp
            .body_mut()
            .with_config()
            .limit(BODY_LIMIT)
            .read_to_vec()
            .map_err(classify)?;
        Ok(Reply {
            status,
            headers,
            body,
        })
    }
}

enum Attempt {
    Retry(String),
    Fatal(String),
}

/// Which failures a retry can cure: the network's, not the config's. A
/// TLS failure (an untrusted or expired certificate, a name mismatch, a
/// refused client certificate) comes as an I/O error of kind
/// `InvalidData`; asking again cannot change its answer.
fn classify(e: ureq::Error) -> Attempt {
    use ureq::Error as E;
    match e {
        E::Io(io) if io.kind() == std::io::ErrorKind::InvalidData => {
            Attempt::Fatal(format!("TLS: {io}"))
        }
        E::Timeout(_) | E::Io(_) | E::ConnectionFailed | E::HostNotFound | E::Protocol(_) => {
            Attempt::Retry(e.to_string())
        }
        other => Attempt::Fatal(other.to_string()),
    }
}

/// `Retry-After`: seconds, or an HTTP date.
fn retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(s) = v.parse::<u64>() {
        return Some(Duration::from_secs(s));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(
        at.duration_since(std::time::SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// The certificates of a PEM file (at least one).
fn certificates(base: &Path, file: &str, key: &str) -> Result<Vec<Certificate<'static>>, String> {
    let pem = read(base, file, key)?;
    let certs: Vec<Certificate<'static>> = ureq::tls::parse_pem(&pem)
        .filter_map(|i| match i {
            Ok(PemItem::Certificate(c)) => Some(Ok(c)),
            Ok(_) => None,
            Err(e) => Some(Err(e)),
        })
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{key} {file}: {e}"))?;
    if certs.is_empty() {
        return Err(format!("{key} {file}: no CERTIFICATE in it"));
    }
    Ok(certs)
}

fn read(base: &Path, file: &str, key: &str) -> Result<Vec<u8>, String> {
    let path = base.join(file);
    std::fs::read(&path).map_err(|e| format!("{key} {}: {e}", path.display()))
}

/// A secret's value: inline, from the environment, or from a file (one
/// trailing newline dropped).
fn reveal(s: &Secret, base: &Path, key: &str) -> Result<String, String> {
    match s {
        Secret::Inline(v) => Ok(v.clone()),
        Secret::Env(var) => std::env::var(var)
            .map_err(|_| format!("{key}_env: environment variable {var} is not set")),
        Secret::File(f) => {
            let text = String::from_utf8(read(base, f, &format!("{key}_file"))?)
                .map_err(|_| format!("{key}_file {f}: not UTF-8 text"))?;
            let text = text.strip_suffix('\n').unwrap_or(&text);
            Ok(text.strip_suffix('\r').unwrap_or(text).to_string())
        }
    }
}

/// A PEM private key: PKCS#8, PKCS#1 or SEC1, or PKCS#8 encrypted with
/// `passphrase` (PBES2).
fn private_key(pem: &[u8], passphrase: Option<&str>) -> Result<PrivateKey<'static>, String> {
    let text = std::str::from_utf8(pem).map_err(|_| "not a PEM file".to_string())?;
    if text.contains("Proc-Type: 4,ENCRYPTED") {
        return Err("an OpenSSL legacy encrypted key; convert it to encrypted PKCS#8 with `openssl pkcs8 -topk8 -v2 aes-256-cbc -in OLD -out NEW`".into());
    }
    if !text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
        if passphrase.is_some() {
            return Err("a passphrase is configured but the key is not encrypted".into());
        }
        return PrivateKey::from_pem(pem).map_err(|e| e.to_string());
    }
    let passphrase = passphrase.ok_or(
        "the key is encrypted: set client_key_passphrase_env or client_key_passphrase_file",
    )?;
    let (_, doc) = pkcs8::SecretDocument::from_pem(text).map_err(|e| e.to_string())?;
    let info = pkcs8::EncryptedPrivateKeyInfoRef::try_from(doc.as_bytes())
        .map_err(|e| format!("not an encrypted PKCS#8 key: {e}"))?;
    let plain = info
        .decrypt(passphrase)
        .map_err(|e| format!("cannot decrypt it (wrong passphrase?): {e}"))?;
    let pem = plain
        .to_pem("PRIVATE KEY", pkcs8::LineEnding::LF)
        .map_err(|e| e.to_string())?;
    PrivateKey::from_pem(pem.as_bytes()).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        assert_eq!(retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(
            retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after("soon"), None);
    }

    #[test]
    fn secrets_from_env_and_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pw"), "s3cret\n").unwrap();
        assert_eq!(
            reveal(&Secret::File("pw".into()), dir.path(), "password").unwrap(),
            "s3cret"
        );
        let e = reveal(
            &Secret::Env("TAXII_EDGE_TEST_UNSET_VAR".into()),
            dir.path(),
            "password",
        )
        .unwrap_err();
        assert!(e.contains("TAXII_EDGE_TEST_UNSET_VAR"), "{e}");
    }
}
