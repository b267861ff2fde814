//! The configuration file (TOML): server identity, API roots, inputs, TTLs,
//! mappings, collections and users. One file drives both `compile` and
//! `serve`; `testdata/example.toml` documents every key.
//!
//! Loading is two steps: serde reads the TOML (unknown keys are errors, so a
//! typo never silently falls back to a default), then [`Config::validate`]
//! checks what serde cannot (ids, references between sections, ranges) and
//! names the offending key in every message. Relative paths are resolved
//! against the directory of the config file.

mod ids;
pub mod owners;
pub mod upstream;

pub use ids::{name_based_v4, IdScheme};

use crate::record::{IndicatorType, Profile};
use serde::Deserialize;
use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

/// A config problem, naming the key (`collections[2].id`) and what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("{path}: {}", format_problems(.problems))]
    Invalid {
        path: PathBuf,
        problems: Vec<Problem>,
    },
}

fn format_problems(problems: &[Problem]) -> String {
    if problems.len() == 1 {
        return problems[0].to_string();
    }
    let mut s = format!("{} problems:", problems.len());
    for p in problems {
        s.push_str("\n  - ");
        s.push_str(&p.to_string());
    }
    s
}

/// One validation problem: the key path and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// e.g. `collections[1].ttl.ipv4`.
    pub key: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where the file was read from; relative paths resolve against its
    /// directory.
    #[serde(skip)]
    pub path: PathBuf,
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub compile: CompileConfig,
    /// API roots; at least one. The first with `default = true` (or the
    /// first) is discovery's `default`.
    #[serde(default)]
    pub api_roots: Vec<ApiRootConfig>,
    #[serde(default)]
    pub inputs: Vec<InputConfig>,
    /// Global TTL table: hours per indicator type, `-1` = never expires.
    #[serde(default)]
    pub ttl: TtlTable,
    /// Global mappings: STIX property → JMESPath over the source record.
    #[serde(default)]
    pub mappings: BTreeMap<String, String>,
    #[serde(default)]
    pub collections: Vec<CollectionConfig>,
    /// `[owner_collections]`: one built-in collection per source owner.
    #[serde(default)]
    pub owner_collections: Option<OwnerCollectionsConfig>,
    #[serde(default)]
    pub users: Vec<UserConfig>,
}

/// `[server]`: identity shown in discovery, listener and limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub title: String,
    pub description: Option<String>,
    pub contact: Option<String>,
    /// Realm of the Basic challenge (`WWW-Authenticate`) of 401 answers;
    /// defaults to `title`.
    pub realm: Option<String>,
    /// Listen address for `serve` (overridden by `--listen`).
    pub listen: String,
    /// Public base URL (`https://taxii.example.com`), used for the absolute
    /// TAXII 2.0 api_roots (docs/decisions.md#d16). Defaults to
    /// `http://<listen>`.
    pub public_url: Option<String>,
    /// Path prefix under which every TAXII URL lives (e.g. `/taxii-edge/`).
    pub base_path: String,
    /// Page size of default pages (no `limit`), and of the precompressed
    /// pages in the feed file.
    pub default_page_size: u32,
    /// Largest `limit` honoured; larger values are clamped.
    pub max_page_size: u32,
    /// Hard cap of items in one TAXII 2.0 Range answer (docs/decisions.md#d15).
    pub max_range_items: u32,
    /// PEM certificate chain; TLS is on when both this and `tls_key` are set.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key.
    pub tls_key: Option<PathBuf>,
    /// Seconds allowed to receive a request's headers.
    pub header_read_timeout_secs: u64,
    /// Seconds an idle keep-alive connection is kept.
    pub idle_timeout_secs: u64,
    /// Concurrent connections accepted; more wait in the kernel backlog.
    pub max_connections: usize,
    /// Threads serving connections, each with its own single-threaded
    /// runtime (thread-per-core); 0 = one per available core.
    pub workers: usize,
    /// Largest request head (request line + headers) in bytes.
    pub max_header_bytes: usize,
    /// Largest request body accepted (we never need one: read-only server).
    pub max_body_bytes: usize,
    /// Seconds to drain connections on SIGTERM before closing them.
    pub shutdown_grace_secs: u64,
    /// docs/decisions.md#d1: answer an empty list as `{"more":false,"objects":[]}`
    /// instead of `{}` (for Elastic). Off by default.
    pub empty_as_list: bool,
    /// Whether collections the caller cannot read are listed (with
    /// `can_read: false`) or hidden.
    pub list_unreadable_collections: bool,
    /// Overrides the pagination-token MAC key carried in the feed file.
    pub token_secret: Option<String>,
    /// Use the TLP 2.0 marking definitions instead of TLP 1.0 (docs/decisions.md#d20).
    pub tlp2_markings: bool,
    /// `Cache-Control: max-age` for anonymous responses, seconds.
    pub cache_max_age_secs: u64,
    /// `[server.client_certs]`: client-certificate (mTLS) verification.
    pub client_certs: ClientCertConfig,
    /// `[server.login_throttle]`: failed logins per client address.
    pub login_throttle: LoginThrottleConfig,
    /// Addresses of the proxies (an nginx in front of a static export)
    /// that may ask `/taxii-edge/auth`, and whose `X-Real-IP` names the
    /// client there. Loopback by default.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// `[server.console]`: the read-only web console under `ui/`.
    pub console: ConsoleConfig,
}

/// `[server.console]`: the read-only web console (`docs/console.md`),
/// served under `<base_path>ui/` behind the same authentication and
/// collection access as TAXII (docs/decisions.md#d68).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleConfig {
    /// Off switch (on by default): when off, `ui/` is a 404 like any
    /// unknown path.
    pub enabled: bool,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig { enabled: true }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            title: "taxii-edge".into(),
            description: None,
            contact: None,
            realm: None,
            listen: "127.0.0.1:8080".into(),
            public_url: None,
            base_path: "/".into(),
            default_page_size: 100,
            max_page_size: 1000,
            max_range_items: 100_000,
            tls_cert: None,
            tls_key: None,
            header_read_timeout_secs: 10,
            idle_timeout_secs: 60,
            max_connections: 10_000,
            workers: 0,
            max_header_bytes: 16 * 1024,
            max_body_bytes: 64 * 1024,
            shutdown_grace_secs: 10,
            empty_as_list: false,
            list_unreadable_collections: false,
            token_secret: None,
            tlp2_markings: false,
            cache_max_age_secs: 60,
            client_certs: ClientCertConfig::default(),
            login_throttle: LoginThrottleConfig::default(),
            trusted_proxies: vec![
                std::net::Ipv4Addr::LOCALHOST.into(),
                std::net::Ipv6Addr::LOCALHOST.into(),
            ],
            console: ConsoleConfig::default(),
        }
    }
}

/// Whether the TLS listener asks for client certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ClientCertMode {
    /// No certificate is requested (the default).
    #[default]
    Off,
    /// A certificate is requested; a client without one may use Basic.
    Optional,
    /// The TLS handshake fails without a valid certificate.
    Required,
}

/// `[server.client_certs]`: client certificates are verified against `ca`
/// (and the CRLs) by rustls during the handshake; a verified certificate is
/// mapped to a `[[users]]` entry by `cert_cn`, `cert_san` or `cert_sha256`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClientCertConfig {
    pub mode: ClientCertMode,
    /// PEM bundle of the CA certificates client certificates must chain to.
    pub ca: Option<PathBuf>,
    /// PEM or DER certificate revocation lists; a revoked certificate fails
    /// the handshake.
    pub crls: Vec<PathBuf>,
}

/// `[server.login_throttle]`: a sliding window of failed logins per client
/// IP address; beyond `max_failures` in `window_secs`, Basic attempts from
/// that address get 429 without running the password hash.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoginThrottleConfig {
    /// Off switch (on by default).
    pub enabled: bool,
    /// Failed logins allowed per address within the window.
    pub max_failures: u32,
    /// Length of the sliding window, seconds.
    pub window_secs: u64,
    /// Addresses tracked at most; the oldest entry is evicted beyond it, so
    /// memory stays bounded under a distributed attack.
    pub max_addresses: usize,
}

impl Default for LoginThrottleConfig {
    fn default() -> Self {
        LoginThrottleConfig {
            enabled: true,
            max_failures: 10,
            window_secs: 60,
            max_addresses: 10_000,
        }
    }
}

/// What `compile` does with an indicator that left the source or stopped
/// matching its collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum RemovalPolicy {
    /// Publish one last `revoked: true` version, keep it for
    /// `revoked_retention_days`, then drop it.
    #[default]
    Revoke,
    /// Just leave it out of the next generation.
    Drop,
}

/// What `compile` does with a passthrough STIX object that fails the
/// structural check (README "STIX passthrough check").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum StixCheckMode {
    /// Keep the object and count a warning.
    #[default]
    Warn,
    /// Leave the object out and count a rejected record.
    Reject,
}

/// `[compile]`: how the compiler runs and publishes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CompileConfig {
    /// The live feed file (overridden by `--out`).
    pub out: PathBuf,
    /// Share of rejected records (0.0–1.0) above which the compile fails.
    pub reject_threshold: f64,
    /// Largest share of a collection's objects that may disappear in one
    /// generation before publishing is refused (without `--allow-shrink`).
    pub shrink_guard: f64,
    pub removal: RemovalPolicy,
    /// Days a revoked tombstone stays in the feed.
    pub revoked_retention_days: u32,
    /// The identity referenced by `created_by_ref` (none when absent).
    pub identity: Option<IdentityConfig>,
    /// zstd level of precompressed pages.
    pub zstd_level: i32,
    /// gzip level of precompressed pages.
    pub gzip_level: u32,
    /// Passthrough STIX objects with structural problems: kept with a
    /// warning, or rejected.
    pub stix_check: StixCheckMode,
}

impl Default for CompileConfig {
    fn default() -> Self {
        CompileConfig {
            out: PathBuf::from("feed.taxii"),
            reject_threshold: 0.01,
            shrink_guard: 0.5,
            removal: RemovalPolicy::Revoke,
            revoked_retention_days: 7,
            identity: None,
            zstd_level: 3,
            gzip_level: 6,
            stix_check: StixCheckMode::Warn,
        }
    }
}

/// The producer identity object (`created_by_ref`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityConfig {
    pub name: String,
    /// `identity--<uuid>`; derived from the name when absent.
    pub id: Option<String>,
    #[serde(default = "default_identity_class")]
    pub identity_class: String,
}

fn default_identity_class() -> String {
    "organization".into()
}

/// `[[api_roots]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiRootConfig {
    /// The URL path segment (`feeds` → `/feeds/`).
    pub name: String,
    pub title: String,
    pub description: Option<String>,
    #[serde(default)]
    pub default: bool,
}

/// `[[inputs]]`: one path or glob, optionally with a forced format; or an
/// upstream TAXII server (`taxii = { … }`) with the `name` its fetched
/// objects are known by.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputConfig {
    /// A file path or glob (`exports/*.json.zst`), relative to the config.
    pub path: Option<String>,
    /// Force a profile instead of sniffing.
    pub format: Option<String>,
    /// An upstream TAXII server's name: its cache directory, and the
    /// `file` query field of its objects (`taxii:NAME`).
    pub name: Option<String>,
    pub taxii: Option<upstream::TaxiiSource>,
}

impl InputConfig {
    /// The upstream source with its name, for a `taxii` input.
    pub fn upstream(&self) -> Option<(&str, &upstream::TaxiiSource)> {
        Some((self.name.as_deref()?, self.taxii.as_ref()?))
    }
}

/// TTL table: hours per indicator type; `-1` never expires. `default`
/// applies to types without their own entry.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(transparent)]
pub struct TtlTable(pub BTreeMap<String, i64>);

/// The TTL in hours for one type after collection → global → default
/// resolution; `None` = never expires.
pub fn resolve_ttl(kind: IndicatorType, collection: &TtlTable, global: &TtlTable) -> Option<i64> {
    let pick = |t: &TtlTable| {
        t.0.get(kind.as_str())
            .or_else(|| t.0.get("default"))
            .copied()
    };
    // A collection entry for the type wins, then the global entry for the
    // type, then the collection default, then the global default.
    let hours = collection
        .0
        .get(kind.as_str())
        .or_else(|| global.0.get(kind.as_str()))
        .copied()
        .or_else(|| pick(collection))
        .or_else(|| pick(global))
        .unwrap_or(-1);
    if hours < 0 {
        None
    } else {
        Some(hours)
    }
}

/// `[[collections]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectionConfig {
    /// Stable UUID; required (validation prints a fresh one to paste in).
    pub id: Option<String>,
    pub alias: Option<String>,
    pub title: String,
    pub description: Option<String>,
    /// Which API root serves it; defaults to the default root.
    pub api_root: Option<String>,
    /// Filter query (empty = every record).
    #[serde(default)]
    pub query: String,
    /// Only records of these owners (in addition to the query).
    #[serde(default)]
    pub owners: Vec<String>,
    #[serde(default)]
    pub ttl: TtlTable,
    #[serde(default)]
    pub mappings: BTreeMap<String, String>,
    /// User names that may read; `"*"` = every authenticated user.
    #[serde(default)]
    pub readers: Vec<String>,
    /// Readable without credentials.
    #[serde(default)]
    pub anonymous: bool,
    /// `["2.1"]` (default) or `["2.1", "2.0"]`.
    pub taxii_versions: Option<Vec<String>>,
    /// Leave out indicators whose valid_until is already past.
    #[serde(default)]
    pub drop_expired: bool,
    /// Also emit STIX Cyber-observable objects with deterministic ids.
    #[serde(default)]
    pub emit_scos: bool,
    /// How indicator ids are made (`ids.rs`): ours, or XSOAR's.
    #[serde(default)]
    pub ids: IdScheme,
    /// The XSOAR tenant's license id, for `ids = "xsoar"`.
    pub xsoar_license_id: Option<String>,
}

/// `[owner_collections]`: ThreatConnect's model, one collection per source
/// owner (`ownerName`, native `owner`), built by `compile::owners` next to
/// the `[[collections]]`. The owner's records are selected exactly as
/// `owners = ["X"]` would; everything else is the usual collection setting,
/// shared by every owner collection.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OwnerCollectionsConfig {
    /// Off unless set: a new collection per owner is a visible change.
    #[serde(default)]
    pub enabled: bool,
    /// The API root that serves them; defaults to the default root. Part of
    /// each collection's id.
    pub api_root: Option<String>,
    /// Title template; must contain `{owner}` exactly once (the server
    /// recognises an owner collection by its title and id).
    #[serde(default = "default_owner_title")]
    pub title: String,
    /// Description template; `{owner}` is replaced.
    pub description: Option<String>,
    /// Owners that get no collection.
    #[serde(default)]
    pub exclude: Vec<String>,
    #[serde(default)]
    pub readers: Vec<String>,
    #[serde(default)]
    pub anonymous: bool,
    pub taxii_versions: Option<Vec<String>>,
    #[serde(default)]
    pub ttl: TtlTable,
    #[serde(default)]
    pub mappings: BTreeMap<String, String>,
    #[serde(default)]
    pub drop_expired: bool,
    #[serde(default)]
    pub emit_scos: bool,
}

fn default_owner_title() -> String {
    "{owner}".into()
}

impl Config {
    /// `[owner_collections]` checks (the same rules as `[[collections]]`).
    fn check_owner_collections(&self, add: &mut impl FnMut(String, String)) {
        let Some(oc) = &self.owner_collections else {
            return;
        };
        let key = |k: &str| format!("owner_collections.{k}");
        if oc.title.matches("{owner}").count() != 1 {
            add(
                key("title"),
                format!(
                    "{:?} must contain {{owner}} exactly once, e.g. \"{{owner}} indicators\"",
                    oc.title
                ),
            );
        }
        if let Some(root) = &oc.api_root {
            if !self.api_roots.iter().any(|r| &r.name == root) {
                add(
                    key("api_root"),
                    format!("no [[api_roots]] entry is named {root:?}"),
                );
            }
        }
        for r in &oc.readers {
            if r != "*" && !self.users.iter().any(|u| &u.name == r) {
                add(
                    key("readers"),
                    format!("{r:?} is not a user in [[users]] (or \"*\" for every user)"),
                );
            }
        }
        if let Some(vs) = &oc.taxii_versions {
            if vs.is_empty() || vs.iter().any(|v| v != "2.1" && v != "2.0") {
                add(
                    key("taxii_versions"),
                    format!("{vs:?}: expected [\"2.1\"], [\"2.0\"] or both"),
                );
            }
        }
        check_ttl(&oc.ttl, &key("ttl"), add);
        check_mappings(&oc.mappings, &key("mappings"), add);
    }
}

/// `[[users]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    pub name: String,
    /// PHC string from `taxii-edge hash-password` (argon2id). Optional for a
    /// user who only logs in with a client certificate.
    #[serde(default)]
    pub password_hash: Option<String>,
    /// `active` (default), `disabled` or `locked`.
    #[serde(default)]
    pub state: Option<String>,
    /// A crypt(3) hash of the same password (`openssl passwd -6`), for the
    /// htpasswd files of a static export behind nginx with
    /// `--nginx-auth htpasswd` (nginx cannot check argon2). Not used by
    /// `serve`, nor by the default `--nginx-auth origin`.
    #[serde(default)]
    pub htpasswd: Option<String>,
    /// Client certificates whose subject common name is this value log in
    /// as this user.
    #[serde(default)]
    pub cert_cn: Option<String>,
    /// Client certificates with one of these subject alternative names
    /// (DNS name, email address or URI; exact match) log in as this user.
    #[serde(default, deserialize_with = "one_or_many")]
    pub cert_san: Vec<String>,
    /// Client certificates whose SHA-256 fingerprint (hex, colons allowed)
    /// is one of these log in as this user.
    #[serde(default, deserialize_with = "one_or_many")]
    pub cert_sha256: Vec<String>,
    /// Requests per minute this user may make (token bucket, burst = the
    /// same number); beyond it, 429 with `Retry-After`. Unlimited when unset.
    #[serde(default)]
    pub rate_limit_per_minute: Option<u32>,
}

/// `key = "a"` or `key = ["a", "b"]`.
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    })
}

/// A SHA-256 fingerprint as written in the config (`AB:CD:…` or `abcd…`),
/// normalized to 64 lowercase hex digits; `None` when it is not one.
pub fn normalize_sha256(s: &str) -> Option<String> {
    let hex: String = s
        .chars()
        .filter(|c| *c != ':' && !c.is_whitespace())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then_some(hex)
}

/// The STIX properties a mapping may never set: the builder owns them and
/// they are required or derived (a mapping cannot remove required properties:
/// docs/decisions.md#d45).
pub const PROTECTED_PROPERTIES: &[&str] = &[
    "type",
    "spec_version",
    "id",
    "created",
    "modified",
    "pattern",
    "pattern_type",
    "pattern_version",
    "valid_from",
    "valid_until",
    "revoked",
];

impl Config {
    /// Reads, parses and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Config::from_toml(&text, path)
    }

    /// Parses and validates TOML text; `path` names the file in messages and
    /// anchors relative paths.
    pub fn from_toml(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let mut cfg: Config = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        })?;
        cfg.path = path.to_path_buf();
        let problems = cfg.validate();
        if problems.is_empty() {
            Ok(cfg)
        } else {
            Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                problems,
            })
        }
    }

    /// The directory relative paths resolve against.
    pub fn base_dir(&self) -> PathBuf {
        self.path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."))
    }

    /// Resolves a config-relative path.
    pub fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base_dir().join(p)
        }
    }

    /// The name of the default API root.
    pub fn default_api_root(&self) -> &str {
        self.api_roots
            .iter()
            .find(|r| r.default)
            .or_else(|| self.api_roots.first())
            .map(|r| r.name.as_str())
            .unwrap_or("")
    }

    /// Every problem found, each naming its key. Empty means valid.
    pub fn validate(&self) -> Vec<Problem> {
        let mut p = Vec::new();
        let mut add = |key: String, message: String| p.push(Problem { key, message });
        self.check_server(&mut add);
        self.check_compile(&mut add);
        self.check_api_roots(&mut add);
        self.check_inputs(&mut add);
        check_ttl(&self.ttl, "ttl", &mut add);
        check_mappings(&self.mappings, "mappings", &mut add);
        self.check_collections(&mut add);
        self.check_users(&mut add);
        ids::check(&self.collections, &mut add);
        self.check_owner_collections(&mut add);
        p
    }

    /// `[server]`.
    fn check_server(&self, add: &mut impl FnMut(String, String)) {
        let s = &self.server;
        if s.default_page_size == 0 {
            add(
                "server.default_page_size".into(),
                "must be at least 1".into(),
            );
        }
        if s.max_page_size < s.default_page_size {
            add(
                "server.max_page_size".into(),
                format!(
                    "must be at least server.default_page_size ({})",
                    s.default_page_size
                ),
            );
        }
        if s.max_range_items == 0 {
            add("server.max_range_items".into(), "must be at least 1".into());
        }
        if s.tls_cert.is_some() != s.tls_key.is_some() {
            add(
                "server.tls_cert".into(),
                "tls_cert and tls_key must be set together".into(),
            );
        }
        let cc = &s.client_certs;
        if cc.mode != ClientCertMode::Off {
            if cc.ca.is_none() {
                add(
                    "server.client_certs.ca".into(),
                    "a CA bundle (PEM) is required when client certificates are optional or required".into(),
                );
            }
            if s.tls_cert.is_none() {
                add(
                    "server.client_certs.mode".into(),
                    "client certificates need TLS: set server.tls_cert and server.tls_key".into(),
                );
            }
        }
        let lt = &s.login_throttle;
        if lt.enabled {
            if lt.max_failures == 0 {
                add(
                    "server.login_throttle.max_failures".into(),
                    "must be at least 1 (set enabled = false to turn throttling off)".into(),
                );
            }
            if lt.window_secs == 0 {
                add(
                    "server.login_throttle.window_secs".into(),
                    "must be at least 1".into(),
                );
            }
            if lt.max_addresses == 0 {
                add(
                    "server.login_throttle.max_addresses".into(),
                    "must be at least 1".into(),
                );
            }
        }
        if !s.base_path.starts_with('/') {
            add(
                "server.base_path".into(),
                format!("must start with '/', got {:?}", s.base_path),
            );
        }
        if let Some(realm) = &s.realm {
            if realm.is_empty() || !realm.bytes().all(|b| (b' '..=b'~').contains(&b)) {
                add(
                    "server.realm".into(),
                    format!("must be non-empty printable ASCII (clients read other header bytes differently), got {realm:?}"),
                );
            }
        }
        if let Some(url) = &s.public_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                add(
                    "server.public_url".into(),
                    format!("must start with http:// or https://, got {url:?}"),
                );
            }
        }
    }

    /// `[compile]`.
    fn check_compile(&self, add: &mut impl FnMut(String, String)) {
        let c = &self.compile;
        if !(0.0..=1.0).contains(&c.reject_threshold) {
            add(
                "compile.reject_threshold".into(),
                format!("must be between 0.0 and 1.0, got {}", c.reject_threshold),
            );
        }
        if !(0.0..=1.0).contains(&c.shrink_guard) {
            add(
                "compile.shrink_guard".into(),
                format!("must be between 0.0 and 1.0, got {}", c.shrink_guard),
            );
        }
        if !(1..=22).contains(&c.zstd_level) {
            add(
                "compile.zstd_level".into(),
                "must be between 1 and 22".into(),
            );
        }
        if c.gzip_level > 9 {
            add(
                "compile.gzip_level".into(),
                "must be between 0 and 9".into(),
            );
        }
    }

    /// `[[api_roots]]`: names usable in URLs, unique, one default at most.
    fn check_api_roots(&self, add: &mut impl FnMut(String, String)) {
        if self.api_roots.is_empty() {
            add(
                "api_roots".into(),
                "at least one [[api_roots]] is required, e.g. name = \"feeds\"".into(),
            );
        }
        let mut root_names = HashSet::new();
        for (i, r) in self.api_roots.iter().enumerate() {
            if !is_path_segment(&r.name) || r.name == "taxii2" || r.name == "taxii" {
                add(
                    format!("api_roots[{i}].name"),
                    format!(
                        "{:?} is not usable as a URL path segment (letters, digits, '-', '_', '.'; not taxii or taxii2)",
                        r.name
                    ),
                );
            }
            if r.name == "ui" && self.server.console.enabled {
                add(
                    format!("api_roots[{i}].name"),
                    "\"ui\" is the path of the web console: rename the api root, or turn the console off with [server.console] enabled = false".into(),
                );
            }
            if !root_names.insert(r.name.as_str()) {
                add(
                    format!("api_roots[{i}].name"),
                    format!("duplicate api root {:?}", r.name),
                );
            }
        }
        if self.api_roots.iter().filter(|r| r.default).count() > 1 {
            add(
                "api_roots".into(),
                "more than one api root has default = true".into(),
            );
        }
    }

    /// `[[inputs]]`.
    fn check_inputs(&self, add: &mut impl FnMut(String, String)) {
        let mut names = HashSet::new();
        for (i, input) in self.inputs.iter().enumerate() {
            match (&input.path, &input.taxii) {
                (Some(p), None) if p.trim().is_empty() => {
                    add(format!("inputs[{i}].path"), "must not be empty".into())
                }
                (Some(_), None) => {
                    if input.name.is_some() {
                        add(
                            format!("inputs[{i}].name"),
                            "only a taxii input has a name (a file's is its path)".into(),
                        );
                    }
                }
                (None, Some(t)) => {
                    t.check(&format!("inputs[{i}].taxii"), add);
                    if input.format.is_some() {
                        add(
                            format!("inputs[{i}].format"),
                            "a taxii input is always STIX".into(),
                        );
                    }
                    match input.name.as_deref() {
                        None => add(
                            format!("inputs[{i}].name"),
                            "a taxii input needs a name (letters, digits, - and _)".into(),
                        ),
                        Some(n)
                            if n.is_empty()
                                || !n
                                    .chars()
                                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') =>
                        {
                            add(
                                format!("inputs[{i}].name"),
                                format!("{n:?}: use letters, digits, - and _ only"),
                            )
                        }
                        Some(n) => {
                            if !names.insert(n) {
                                add(
                                    format!("inputs[{i}].name"),
                                    format!("{n:?} names another taxii input too"),
                                );
                            }
                        }
                    }
                }
                _ => add(
                    format!("inputs[{i}]"),
                    "give either path (files) or taxii (an upstream server)".into(),
                ),
            }
            if let Some(f) = &input.format {
                if Profile::parse(f).is_none() {
                    add(
                        format!("inputs[{i}].format"),
                        format!(
                            "unknown format {f:?}; expected one of threatconnect, xsoar, native, stix"
                        ),
                    );
                }
            }
        }
    }

    /// `[[collections]]`: ids, aliases, roots, TTLs, mappings, readers, versions.
    fn check_collections(&self, add: &mut impl FnMut(String, String)) {
        let root_names: HashSet<&str> = self.api_roots.iter().map(|r| r.name.as_str()).collect();
        let user_names: HashSet<&str> = self.users.iter().map(|u| u.name.as_str()).collect();
        let mut ids = HashSet::new();
        let mut aliases = HashSet::new();
        for (i, col) in self.collections.iter().enumerate() {
            let key = |k: &str| format!("collections[{i}].{k}");
            match &col.id {
                None => add(
                    key("id"),
                    format!(
                        "missing: every collection needs a stable id that never changes; paste this freshly generated one into the collection titled {:?}:\n      id = \"{}\"",
                        col.title,
                        uuid::Uuid::new_v4()
                    ),
                ),
                Some(id) => match uuid::Uuid::parse_str(id) {
                    Ok(u) if u.to_string() == id.to_ascii_lowercase() => {
                        if !ids.insert(u) {
                            add(key("id"), format!("duplicate collection id {id}"));
                        }
                    }
                    _ => add(
                        key("id"),
                        format!(
                            "{id:?} is not a UUID in the form xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx; e.g. \"{}\"",
                            uuid::Uuid::new_v4()
                        ),
                    ),
                },
            }
            if let Some(alias) = &col.alias {
                if !is_path_segment(alias) {
                    add(
                        key("alias"),
                        format!("{alias:?} is not usable as a URL path segment"),
                    );
                } else if uuid::Uuid::parse_str(alias).is_ok() {
                    add(key("alias"), "an alias must not look like a UUID".into());
                } else if !aliases.insert(alias.as_str()) {
                    add(key("alias"), format!("duplicate alias {alias:?}"));
                }
            }
            if col.title.trim().is_empty() {
                add(key("title"), "must not be empty".into());
            }
            if let Some(root) = &col.api_root {
                if !root_names.contains(root.as_str()) {
                    add(
                        key("api_root"),
                        format!("no [[api_roots]] entry is named {root:?}"),
                    );
                }
            }
            check_ttl(&col.ttl, &key("ttl"), add);
            check_mappings(&col.mappings, &key("mappings"), add);
            for r in &col.readers {
                if r != "*" && !user_names.contains(r.as_str()) {
                    add(
                        key("readers"),
                        format!("{r:?} is not a user in [[users]] (or \"*\" for every user)"),
                    );
                }
            }
            if let Some(vs) = &col.taxii_versions {
                if vs.is_empty() {
                    add(key("taxii_versions"), "must not be empty".into());
                }
                for v in vs {
                    if v != "2.1" && v != "2.0" {
                        add(
                            key("taxii_versions"),
                            format!("unknown TAXII version {v:?}; expected \"2.1\" or \"2.0\""),
                        );
                    }
                }
            }
        }
    }

    /// `[[users]]`: names, credentials, rate limits, states.
    fn check_users(&self, add: &mut impl FnMut(String, String)) {
        let mut names = HashSet::new();
        for (i, u) in self.users.iter().enumerate() {
            if u.name.is_empty() || u.name.contains(':') {
                add(
                    format!("users[{i}].name"),
                    "must be non-empty and contain no ':'".into(),
                );
            }
            if !names.insert(u.name.as_str()) {
                add(
                    format!("users[{i}].name"),
                    format!("duplicate user {:?}", u.name),
                );
            }
            match &u.password_hash {
                Some(h) if !h.starts_with("$argon2") => add(
                    format!("users[{i}].password_hash"),
                    "must be an argon2 PHC string; make one with `taxii-edge hash-password`".into(),
                ),
                None if u.cert_cn.is_none() && u.cert_san.is_empty() && u.cert_sha256.is_empty() => {
                    add(
                        format!("users[{i}].password_hash"),
                        "a user needs a password_hash (make one with `taxii-edge hash-password`) or a certificate mapping (cert_cn, cert_san, cert_sha256)".into(),
                    )
                }
                _ => {}
            }
            for (j, f) in u.cert_sha256.iter().enumerate() {
                if normalize_sha256(f).is_none() {
                    add(
                        format!("users[{i}].cert_sha256[{j}]"),
                        format!("{f:?} is not a SHA-256 fingerprint (64 hex digits, colons allowed); `openssl x509 -noout -fingerprint -sha256 -in client.pem` prints one"),
                    );
                }
            }
            if u.rate_limit_per_minute == Some(0) {
                add(
                    format!("users[{i}].rate_limit_per_minute"),
                    "must be at least 1 (leave it out for no limit; set state = \"disabled\" to refuse the user)".into(),
                );
            }
            if let Some(st) = &u.state {
                if !matches!(st.as_str(), "active" | "disabled" | "locked") {
                    add(
                        format!("users[{i}].state"),
                        format!("unknown state {st:?}; expected active, disabled or locked"),
                    );
                }
            }
        }
    }
}

impl CollectionConfig {
    /// The TAXII versions this collection is served in.
    pub fn versions(&self) -> Vec<String> {
        self.taxii_versions
            .clone()
            .unwrap_or_else(|| vec!["2.1".to_string()])
    }
}

fn is_path_segment(s: &str) -> bool {
    !s.is_empty()
        && s != "."
        && s != ".."
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn check_ttl(t: &TtlTable, key: &str, add: &mut impl FnMut(String, String)) {
    for (k, v) in &t.0 {
        if k != "default" && IndicatorType::parse(k).is_none() {
            let names: Vec<&str> = IndicatorType::ALL.iter().map(|t| t.as_str()).collect();
            add(
                format!("{key}.{k}"),
                format!(
                    "unknown indicator type; expected default or one of {}",
                    names.join(", ")
                ),
            );
        }
        if *v < -1 {
            add(
                format!("{key}.{k}"),
                format!("{v} is not a TTL: use hours >= 0, or -1 for never expires"),
            );
        }
    }
}

fn check_mappings(m: &BTreeMap<String, String>, key: &str, add: &mut impl FnMut(String, String)) {
    for (field, expr) in m {
        if PROTECTED_PROPERTIES.contains(&field.as_str()) {
            add(
                format!("{key}.{field}"),
                "is set by the STIX builder and cannot be mapped (it is required or derived)"
                    .into(),
            );
        }
        if let Err(e) = jmespath::compile(expr) {
            add(
                format!("{key}.{field}"),
                format!("invalid JMESPath expression {expr:?}: {e}"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::from_toml(text, Path::new("test.toml"))
    }

    const MINIMAL: &str = r#"
[[api_roots]]
name = "feeds"
title = "Feeds"
"#;

    #[test]
    fn taxii_inputs_are_checked() {
        let ok = format!(
            "{MINIMAL}\n[[inputs]]\nname = \"isac\"\ntaxii = {{ url = \"https://isac.example/taxii2/\", user = \"u\", password_env = \"ISAC_PW\", initial_window = \"7d\" }}\n"
        );
        let c = parse(&ok).unwrap();
        let (name, src) = c.inputs[0].upstream().unwrap();
        assert_eq!(name, "isac");
        assert_eq!(
            src.initial_window(),
            Some(std::time::Duration::from_secs(7 * 86_400))
        );
        // The variable's name is not a secret; it is what a log should show.
        assert!(format!("{src:?}").contains("ISAC_PW"));
        let inline = ok.replace("password_env = \"ISAC_PW\"", "password = \"hunter2\"");
        assert!(!format!("{:?}", parse(&inline).unwrap()).contains("hunter2"));
        let bad = [
            (ok.replace("name = \"isac\"\n", ""), "inputs[0].name"),
            (
                ok.replace("https://isac", "ftp://isac"),
                "inputs[0].taxii.url",
            ),
            (ok.replace("password_env", "passwrd_env"), "unknown field"),
            (
                ok.replace(
                    "password_env = \"ISAC_PW\"",
                    "password_env = \"A\", password_file = \"f\"",
                ),
                "inputs[0].taxii.password",
            ),
            (
                ok.replace("\"7d\"", "\"7 days\""),
                "inputs[0].taxii.initial_window",
            ),
            (
                ok.replace("user = \"u\", ", "client_key = \"k.pem\", "),
                "inputs[0].taxii.client_cert",
            ),
            (format!("{ok}path = \"x.json\"\n"), "give either path"),
            (
                format!("{ok}\n[[inputs]]\nname = \"isac\"\ntaxii = {{ url = \"http://b/\" }}\n"),
                "names another taxii input",
            ),
        ];
        for (text, want) in bad {
            let err = parse(&text).unwrap_err().to_string();
            assert!(err.contains(want), "want {want:?} in: {err}");
        }
    }

    #[test]
    fn minimal_config_is_valid() {
        let c = parse(MINIMAL).unwrap();
        assert_eq!(c.default_api_root(), "feeds");
        assert_eq!(c.server.default_page_size, 100);
    }

    #[test]
    fn the_console_is_on_by_default_and_owns_the_ui_path() {
        assert!(parse(MINIMAL).unwrap().server.console.enabled);
        let ui = MINIMAL.replace("\"feeds\"", "\"ui\"");
        let err = parse(&ui).unwrap_err().to_string();
        assert!(err.contains("api_roots[0].name"), "{err}");
        assert!(err.contains("[server.console] enabled = false"), "{err}");
        let off = format!("[server.console]\nenabled = false\n{ui}");
        assert!(!parse(&off).unwrap().server.console.enabled);
        assert!(parse(&format!("[server.console]\nenabeld = true\n{MINIMAL}")).is_err());
    }

    #[test]
    fn missing_collection_id_prints_a_fresh_uuid() {
        let text = format!("{MINIMAL}\n[[collections]]\ntitle = \"All\"\n");
        let err = parse(&text).unwrap_err().to_string();
        assert!(err.contains("collections[0].id"), "{err}");
        let line = err.lines().find(|l| l.contains("id = \"")).expect(&err);
        let uuid = line.split('"').nth(1).unwrap();
        assert!(uuid::Uuid::parse_str(uuid).is_ok(), "{err}");
    }

    #[test]
    fn unknown_key_is_a_syntax_error_naming_it() {
        let text = format!("{MINIMAL}\n[server]\ntitel = \"x\"\n");
        let err = parse(&text).unwrap_err().to_string();
        assert!(err.contains("titel"), "{err}");
    }

    #[test]
    fn problems_name_their_keys() {
        let text = format!(
            "{MINIMAL}\n[ttl]\nipv5 = 3\nipv4 = -7\n[mappings]\npattern = \"value\"\nname = \"foo[\"\n\
             [[collections]]\nid = \"not-a-uuid\"\ntitle = \"x\"\nreaders = [\"nobody\"]\napi_root = \"nope\"\n"
        );
        let err = parse(&text).unwrap_err().to_string();
        for key in [
            "ttl.ipv5",
            "ttl.ipv4",
            "mappings.pattern",
            "mappings.name",
            "collections[0].id",
            "collections[0].readers",
            "collections[0].api_root",
        ] {
            assert!(err.contains(key), "{key} missing from: {err}");
        }
    }

    #[test]
    fn ttl_resolution_order() {
        let global = TtlTable([("ipv4".to_string(), 24), ("default".to_string(), 100)].into());
        let col = TtlTable([("default".to_string(), 5)].into());
        let none = TtlTable::default();
        assert_eq!(resolve_ttl(IndicatorType::Ipv4, &none, &global), Some(24));
        assert_eq!(
            resolve_ttl(IndicatorType::Domain, &none, &global),
            Some(100)
        );
        assert_eq!(resolve_ttl(IndicatorType::Ipv4, &col, &global), Some(24));
        assert_eq!(resolve_ttl(IndicatorType::Domain, &col, &global), Some(5));
        let never = TtlTable([("domain".to_string(), -1)].into());
        assert_eq!(resolve_ttl(IndicatorType::Domain, &never, &global), None);
        assert_eq!(resolve_ttl(IndicatorType::Url, &none, &none), None);
    }
}
