//! `[[inputs]]` with `taxii = { … }`: an upstream TAXII 2.1 or 2.0 server
//! whose collections are fetched at the start of each compile
//! ([`crate::upstream`]; docs/decisions.md#d73).

use serde::Deserialize;
use std::time::Duration;

/// One upstream TAXII server and what to fetch from it.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaxiiSource {
    /// The discovery URL (`https://host/taxii2/`) or an API root's URL.
    pub url: String,
    /// Collection ids or titles; empty means every collection the account
    /// can read.
    #[serde(default)]
    pub collections: Vec<String>,
    /// `"2.1"` or `"2.0"`; by default the version the server answers in.
    pub version: Option<String>,
    /// Basic authentication: the user name, with exactly one of
    /// `password`, `password_env` (an environment variable) or
    /// `password_file` (a file holding it; one trailing newline dropped).
    pub user: Option<String>,
    pub password: Option<String>,
    pub password_env: Option<String>,
    pub password_file: Option<String>,
    /// A client certificate chain (PEM) and its private key (PEM: PKCS#8,
    /// PKCS#1 or SEC1; or encrypted PKCS#8 with one of the passphrase keys).
    pub client_cert: Option<String>,
    pub client_key: Option<String>,
    pub client_key_passphrase: Option<String>,
    pub client_key_passphrase_env: Option<String>,
    pub client_key_passphrase_file: Option<String>,
    /// CA certificates (PEM) to trust instead of the bundled Mozilla roots.
    pub ca_bundle: Option<String>,
    /// `http://host:port` (HTTP CONNECT); the proxy environment variables
    /// are not read, so a compile does what its config says.
    pub proxy: Option<String>,
    /// Time limit of one request, body included (`"60s"`, `"2m"`).
    #[serde(default = "default_timeout")]
    pub timeout: String,
    /// How far back the first fetch of a collection goes (`"7d"`, `"12h"`),
    /// or `"all"`.
    #[serde(default = "default_window")]
    pub initial_window: String,
    /// Objects asked for per request.
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// How long one request may keep being retried (after 5xx, 429,
    /// timeouts, resets) before the source is given up for this compile.
    #[serde(default = "default_retry_for")]
    pub retry_for: String,
}

fn default_timeout() -> String {
    "60s".into()
}
fn default_window() -> String {
    "all".into()
}
fn default_page_size() -> u32 {
    1000
}
fn default_retry_for() -> String {
    "5m".into()
}

/// Secrets are left out, so that logging a config never prints them.
impl std::fmt::Debug for TaxiiSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secret = |s: &Option<String>| s.as_ref().map(|_| "<secret>");
        f.debug_struct("TaxiiSource")
            .field("url", &self.url)
            .field("collections", &self.collections)
            .field("version", &self.version)
            .field("user", &self.user)
            .field("password", &secret(&self.password))
            .field("password_env", &self.password_env)
            .field("password_file", &self.password_file)
            .field("client_cert", &self.client_cert)
            .field("client_key", &self.client_key)
            .field(
                "client_key_passphrase",
                &secret(&self.client_key_passphrase),
            )
            .field("client_key_passphrase_env", &self.client_key_passphrase_env)
            .field(
                "client_key_passphrase_file",
                &self.client_key_passphrase_file,
            )
            .field("ca_bundle", &self.ca_bundle)
            .field("proxy", &self.proxy.as_deref().map(without_userinfo))
            .field("timeout", &self.timeout)
            .field("initial_window", &self.initial_window)
            .field("page_size", &self.page_size)
            .field("retry_for", &self.retry_for)
            .finish()
    }
}

/// Where a secret comes from: inline, an environment variable or a file.
#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    Inline(String),
    Env(String),
    File(String),
}

/// An inline secret prints as `<secret>`.
impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Secret::Inline(_) => f.write_str("Inline(<secret>)"),
            Secret::Env(v) => f.debug_tuple("Env").field(v).finish(),
            Secret::File(p) => f.debug_tuple("File").field(p).finish(),
        }
    }
}

/// `url` without any `user:password@` (for Debug and messages).
fn without_userinfo(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s && !url[s + 3..at].contains('/') => {
            format!("{}<secret>@{}", &url[..s + 3], &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

impl TaxiiSource {
    /// The Basic password's source, if one is set.
    pub fn password(&self) -> Option<Secret> {
        secret(&self.password, &self.password_env, &self.password_file)
    }

    /// The client key passphrase's source, if one is set.
    pub fn passphrase(&self) -> Option<Secret> {
        secret(
            &self.client_key_passphrase,
            &self.client_key_passphrase_env,
            &self.client_key_passphrase_file,
        )
    }

    /// `timeout` as a duration (validated).
    pub fn timeout(&self) -> Duration {
        parse_duration(&self.timeout).unwrap_or(Duration::from_secs(60))
    }

    /// `retry_for` as a duration (validated).
    pub fn retry_for(&self) -> Duration {
        parse_duration(&self.retry_for).unwrap_or(Duration::from_secs(300))
    }

    /// `initial_window` as a duration; `None` for `"all"`.
    pub fn initial_window(&self) -> Option<Duration> {
        if self.initial_window.trim() == "all" {
            None
        } else {
            parse_duration(&self.initial_window).ok()
        }
    }

    /// What this machine lacks for the fetch, as `key: message` notes: an
    /// unset `*_env` variable, a missing file. Not config errors: the
    /// compile may run with another environment (a systemd unit's).
    pub fn local_notes(&self, base: &std::path::Path) -> Vec<String> {
        let mut notes = Vec::new();
        for (key, var) in [
            ("password_env", &self.password_env),
            ("client_key_passphrase_env", &self.client_key_passphrase_env),
        ] {
            if let Some(v) = var {
                if std::env::var_os(v).is_none() {
                    notes.push(format!(
                        "{key}: {v} is not set here (the compile needs it in its environment)"
                    ));
                }
            }
        }
        for (key, file) in [
            ("password_file", &self.password_file),
            (
                "client_key_passphrase_file",
                &self.client_key_passphrase_file,
            ),
            ("client_cert", &self.client_cert),
            ("client_key", &self.client_key),
            ("ca_bundle", &self.ca_bundle),
        ] {
            if let Some(f) = file {
                if !base.join(f).is_file() {
                    notes.push(format!("{key}: {f} does not exist here"));
                }
            }
        }
        notes
    }

    /// Every problem, each with its key under `key` (`inputs[2].taxii`).
    pub(super) fn check(&self, key: &str, add: &mut impl FnMut(String, String)) {
        let url = self.url.trim();
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            add(
                format!("{key}.url"),
                format!("{url:?} is not an http:// or https:// URL"),
            );
        } else if without_userinfo(url) != url {
            add(
                format!("{key}.url"),
                "credentials in the URL would be logged and reported: give user and password_env (or password_file) instead".into(),
            );
        }
        if let Some(v) = &self.version {
            if v != "2.1" && v != "2.0" {
                add(
                    format!("{key}.version"),
                    format!("{v:?}: expected \"2.1\" or \"2.0\""),
                );
            }
        }
        for (name, given) in [
            (
                "password",
                [&self.password, &self.password_env, &self.password_file],
            ),
            (
                "client_key_passphrase",
                [
                    &self.client_key_passphrase,
                    &self.client_key_passphrase_env,
                    &self.client_key_passphrase_file,
                ],
            ),
        ] {
            if given.iter().filter(|s| s.is_some()).count() > 1 {
                add(
                    format!("{key}.{name}"),
                    format!("give only one of {name}, {name}_env and {name}_file"),
                );
            }
        }
        if self.user.is_some() != self.password().is_some() {
            add(
                format!("{key}.user"),
                "user and a password (password, password_env or password_file) go together".into(),
            );
        }
        if self.client_cert.is_some() != self.client_key.is_some() {
            add(
                format!("{key}.client_cert"),
                "client_cert and client_key go together".into(),
            );
        }
        if self.passphrase().is_some() && self.client_key.is_none() {
            add(
                format!("{key}.client_key_passphrase"),
                "a passphrase needs client_key".into(),
            );
        }
        if let Some(p) = &self.proxy {
            if !p.starts_with("http://") {
                add(
                    format!("{key}.proxy"),
                    format!("{p:?}: expected http://host:port (an HTTP CONNECT proxy)"),
                );
            }
        }
        for (name, value) in [("timeout", &self.timeout), ("retry_for", &self.retry_for)] {
            if let Err(e) = parse_duration(value) {
                add(format!("{key}.{name}"), e);
            }
        }
        if self.initial_window.trim() != "all" {
            if let Err(e) = parse_duration(&self.initial_window) {
                add(format!("{key}.initial_window"), format!("{e}, or \"all\""));
            }
        }
        if !(1..=100_000).contains(&self.page_size) {
            add(
                format!("{key}.page_size"),
                "must be between 1 and 100000".into(),
            );
        }
    }
}

fn secret(inline: &Option<String>, env: &Option<String>, file: &Option<String>) -> Option<Secret> {
    inline
        .clone()
        .map(Secret::Inline)
        .or_else(|| env.clone().map(Secret::Env))
        .or_else(|| file.clone().map(Secret::File))
}

/// `"90s"`, `"15m"`, `"12h"`, `"7d"`: a whole number and one unit.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let bad = || format!("{s:?} is not a duration such as \"90s\", \"15m\", \"12h\" or \"7d\"");
    let n: u64 = n.parse().map_err(|_| bad())?;
    let unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(bad()),
    };
    // Ten years is more than any window or timeout needs, and keeps the
    // microsecond arithmetic on it far from overflow.
    match n.checked_mul(unit) {
        Some(secs) if secs <= 10 * 366 * 86_400 => Ok(Duration::from_secs(secs)),
        _ => Err(format!("{s:?} is longer than ten years")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_notes_name_what_is_missing_here() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), "x").unwrap();
        let src: TaxiiSource = toml::from_str(
            r#"url = "https://u/"
user = "a"
password_env = "TAXII_EDGE_TEST_SURELY_UNSET"
ca_bundle = "ca.pem"
client_cert = "missing.pem"
client_key = "missing.key""#,
        )
        .unwrap();
        let notes = src.local_notes(dir.path());
        assert_eq!(notes.len(), 3, "{notes:?}");
        assert!(notes[0].starts_with("password_env: TAXII_EDGE_TEST_SURELY_UNSET"));
        assert!(notes[1].starts_with("client_cert: missing.pem"));
        assert!(notes[2].starts_with("client_key: missing.key"));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration(" 7d "), Ok(Duration::from_secs(7 * 86_400)));
        assert_eq!(parse_duration("12h"), Ok(Duration::from_secs(12 * 3600)));
        assert!(parse_duration("7").is_err());
        assert!(parse_duration("d").is_err());
        assert!(parse_duration("3w").is_err());
        assert!(parse_duration("99999999999999999999d").is_err());
        assert!(parse_duration("4000d").is_err());
        assert_eq!(
            without_userinfo("http://u:p@proxy:3128"),
            "http://<secret>@proxy:3128"
        );
        assert_eq!(without_userinfo("https://h/a@b"), "https://h/a@b");
        assert!(!format!("{:?}", Secret::Inline("hunter2".into())).contains("hunter2"));
    }
}
