//! A three-generation scenario for client tests: a native NDJSON export
//! that changes between compiles (records added, changed, removed), compiled
//! with the real compiler into the live feed path of a running server, and
//! a ledger that checks what a polling client saw against what each
//! generation served.
//!
//! Generation contents (domain indicators `host{i}.example.org`, owners
//! rotating over three names, one of which needs escaping):
//! - gen 1: records 0..240;
//! - gen 2: 0..20 removed (published once more as revoked), 20..40 changed,
//!   240..300 added;
//! - gen 3: 40..55 removed, 20..25 changed again, 55..70 changed, 300..360
//!   added.
//!
//! Removals stay well under the shrink guard, so every compile publishes.
use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use taxii_edge::compile::{self, CompileOptions, Summary};
use taxii_edge::config::Config;
use taxii_edge::feed::Feed;
use taxii_edge::server::{self, Running, ServeOptions};

/// The query-defined collection every client reads.
pub const ALL: &str = "5e0c3f7a-2d4b-4c1e-9a8f-0b1c2d3e4f50";
/// The owners of record `i` (by `i % 3`).
pub const OWNERS: [&str; 3] = ["Acme Intel", "Beta CERT", "Gamma \"Quoted\" \\ Org"];

/// The owner of record `i`.
pub fn owner_of(i: u32) -> &'static str {
    OWNERS[(i % 3) as usize]
}

/// Which records generation `g` (1-based) holds, and at which version.
pub fn records_of(g: u32) -> Vec<(u32, u32)> {
    let mut v = Vec::new();
    match g {
        1 => v.extend((0..240).map(|i| (i, 0))),
        2 => {
            v.extend((20..40).map(|i| (i, 1)));
            v.extend((40..300).map(|i| (i, 0)));
        }
        _ => {
            v.extend((20..25).map(|i| (i, 2)));
            v.extend((25..40).map(|i| (i, 1)));
            v.extend((55..70).map(|i| (i, 1)));
            v.extend((70..360).map(|i| (i, 0)));
        }
    }
    v
}

/// One native NDJSON line; `version` moves `last_modified` by whole days.
pub fn line(i: u32, version: u32, owner: &str) -> String {
    // 2024-01-01T00:00:00Z + i seconds + version days.
    let t = 1_704_067_200_i64 + i64::from(i) + i64::from(version) * 86_400;
    let lm = taxii_edge::time::fmt_ms(t * 1_000_000);
    serde_json::json!({
        "type": "domain",
        "value": format!("host{i}.example.org"),
        "owner": owner,
        "confidence": 50 + (i % 50),
        "created": "2024-01-01T00:00:00Z",
        "last_modified": lm,
        "description": format!("record {i} version {version}"),
    })
    .to_string()
}

/// The config of the scenario: `server_extra` goes under `[server]`,
/// `extra` at the end (more sections).
pub fn config_text(server_extra: &str, extra: &str) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:0"
default_page_size = 100
max_page_size = 1000
{server_extra}

[compile]
out = "live.taxii"

[[api_roots]]
name = "feeds"
title = "Feeds"
default = true

[[inputs]]
path = "export.ndjson"
format = "native"

[[collections]]
id = "{ALL}"
alias = "all"
title = "All"
anonymous = true
taxii_versions = ["2.1", "2.0"]
{extra}
"#
    )
}

/// A scenario on disk: the config, the export, the live feed.
pub struct Scenario {
    pub dir: tempfile::TempDir,
    pub cfg_path: PathBuf,
    pub feed_path: PathBuf,
    /// The generation compiled last (0 before the first compile).
    pub gen: u32,
}

impl Scenario {
    pub fn new(server_extra: &str, extra: &str) -> Scenario {
        let dir = tempfile::tempdir().unwrap();
        let cfg_path = dir.path().join("taxii-edge.toml");
        std::fs::write(&cfg_path, config_text(server_extra, extra)).unwrap();
        let feed_path = dir.path().join("live.taxii");
        Scenario {
            dir,
            cfg_path,
            feed_path,
            gen: 0,
        }
    }

    pub fn config(&self) -> Config {
        Config::load(&self.cfg_path).unwrap()
    }

    /// Writes the export of generation `g` with `owner(i)` as owners.
    pub fn write_export(&self, g: u32, owner: impl Fn(u32) -> Option<String>) {
        let mut text = String::new();
        for (i, v) in records_of(g) {
            match owner(i) {
                Some(o) => text.push_str(&line(i, v, &o)),
                None => {
                    let mut l: serde_json::Value = serde_json::from_str(&line(i, v, "")).unwrap();
                    l.as_object_mut().unwrap().remove("owner");
                    text.push_str(&l.to_string());
                }
            }
            text.push('\n');
        }
        std::fs::write(self.dir.path().join("export.ndjson"), text).unwrap();
    }

    /// Compiles the current export into the live feed.
    pub fn compile(&self, allow_shrink: bool) -> Result<Summary, compile::CompileError> {
        compile::run(&CompileOptions {
            config: self.config(),
            out: Some(self.feed_path.clone()),
            previous: None,
            strict: true,
            allow_shrink,
            progress: false,
            now: None,
            force: false,
        })
    }

    /// Writes and compiles the next generation (default owners).
    pub fn next_generation(&mut self) -> Summary {
        self.gen += 1;
        self.write_export(self.gen, |i| Some(owner_of(i).to_string()));
        self.compile(false)
            .unwrap_or_else(|e| panic!("compile of generation {} failed: {e}", self.gen))
    }

    /// The latest version (`id modified`) of every object collection `col`
    /// serves in the live feed, with its date_added (µs), in date_added
    /// order: what a client polling now must end up having seen.
    pub fn live_added(&self, col: &str) -> Vec<(String, i64)> {
        let feed = Feed::open(&self.feed_path).unwrap();
        let c = &feed.collections()[collection_index(&feed, col)];
        let mut out = Vec::new();
        for i in 0..c.len() {
            let e = c.entry(i);
            if e.last {
                let o: serde_json::Value =
                    serde_json::from_slice(&c.objects_run(i, i + 1)).unwrap();
                out.push((version_key(&o), e.date_added_us));
            }
        }
        out
    }
}

/// The index of collection `col` (its id) in `feed`.
pub fn collection_index(feed: &Feed, col: &str) -> usize {
    feed.meta()
        .collections
        .iter()
        .position(|m| m.id == col)
        .unwrap_or_else(|| panic!("collection {col} in the feed"))
}

/// `id modified` of a STIX object (`created` when it has no `modified`).
pub fn version_key(o: &serde_json::Value) -> String {
    let v = o
        .get("modified")
        .or(o.get("created"))
        .and_then(|v| v.as_str())
        .unwrap_or("");
    format!("{} {v}", o["id"].as_str().unwrap_or(""))
}

/// Starts `serve` on 127.0.0.1 over the scenario's live feed.
pub async fn serve(s: &Scenario) -> Running {
    server::start(ServeOptions {
        config: s.config(),
        feed_path: s.feed_path.clone(),
        listen: Some("127.0.0.1:0".into()),
    })
    .await
    .expect("server starts")
}

/// Asks for a reload and waits until `generation` is served (the file
/// watcher usually gets there first). Bounded, not timed: a server that
/// never reloads fails here after 20 s.
pub async fn wait_for(running: &Running, generation: &str) {
    running.reload();
    for _ in 0..1000 {
        if running.generation() == generation {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the server never served generation {generation}");
}

/// What one client saw over the whole scenario.
#[derive(Debug, Default)]
pub struct Ledger {
    /// How often each object version was received.
    pub seen: HashMap<String, u32>,
    /// Object versions received (duplicates included).
    pub objects: u64,
    /// Versions some generation served that the client never received.
    pub misses: Vec<String>,
    /// HTTP requests made.
    pub requests: u64,
}

impl Ledger {
    pub fn take(&mut self, o: &serde_json::Value) {
        self.objects += 1;
        *self.seen.entry(version_key(o)).or_default() += 1;
    }

    /// After a generation's polls: every version it served must have been
    /// received (now or before).
    pub fn check(&mut self, live: &BTreeSet<String>) {
        for k in live {
            if !self.seen.contains_key(k) {
                self.misses.push(k.clone());
            }
        }
    }

    pub fn duplicates(&self) -> u64 {
        self.objects - self.seen.len() as u64
    }

    /// The one-line summary the issue asks for; also asserts no miss.
    pub fn summary(&self, client: &str) -> String {
        let mut s = String::new();
        let _ = write!(
            s,
            "client={client} objects={} duplicates={} misses={}",
            self.objects,
            self.duplicates(),
            self.misses.len()
        );
        println!("{s} requests={}", self.requests);
        assert!(
            self.misses.is_empty(),
            "{s}: missed {:?}",
            &self.misses[..self.misses.len().min(10)]
        );
        s
    }
}

/// The objects path of collection `col`.
pub fn objects_url(col: &str) -> String {
    format!("/feeds/collections/{col}/objects/")
}

/// The `http://addr` base of a running server.
pub fn base(addr: SocketAddr) -> String {
    format!("http://{addr}")
}
