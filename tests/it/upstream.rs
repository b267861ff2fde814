//! Upstream TAXII inputs (`[[inputs]]` with `taxii`) against real servers
//! on 127.0.0.1: our own `serve` over TLS with a required client
//! certificate (its key encrypted by the openssl command line tool), and a
//! scripted TAXII 2.1 server that fails on purpose (500, 429, a body that
//! stalls mid-page, a source that never recovers). `cargo test upstream`
//! runs them all.

use crate::common::generations::{self, Scenario, ALL};
use crate::common::pki::{write, Ca};
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use taxii_edge::compile::{self, CompileOptions, Summary};
use taxii_edge::config::Config;
use taxii_edge::feed::Feed;

/// The aggregator's collection: everything from the upstream `up`.
const AGG: &str = "0b5d7c1e-3f2a-4d6b-8e9c-1a2b3c4d5e6f";
/// Its collection of canonical indicators made from `up`'s simple ones.
const CANON: &str = "6a7b8c9d-0e1f-4a2b-8c3d-4e5f6a7b8c9d";

/// Writes an aggregator config in `dir` whose one input is `taxii` (the
/// inside of `taxii = { … }`) and compiles it.
fn aggregator(dir: &Path, taxii: &str) -> PathBuf {
    let cfg = dir.join("agg.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"
[compile]
out = "agg.taxii"
shrink_guard = 1.0

[[api_roots]]
name = "feeds"
title = "Feeds"
default = true

[[inputs]]
name = "up"
taxii = {{ {taxii} }}

[ttl]
domain = 8760

[[collections]]
id = "{AGG}"
title = "From upstream"
query = 'file = "taxii:up"'
anonymous = true

[[collections]]
id = "{CANON}"
title = "Upstream domains as our own indicators"
query = 'owner = "up" and type = "domain"'
anonymous = true
"#
        ),
    )
    .unwrap();
    cfg
}

fn compile_agg(cfg: &Path, strict: bool) -> Result<Summary, compile::CompileError> {
    compile::run(&CompileOptions {
        config: Config::load(cfg).unwrap(),
        out: None,
        previous: None,
        strict,
        allow_shrink: true,
        progress: false,
        now: None,
        force: false,
    })
}

/// Every object of `col` in the feed at `path`.
fn objects_in(path: &Path, col: &str) -> Vec<serde_json::Value> {
    let feed = Feed::open(path).unwrap();
    let ci = feed
        .meta()
        .collections
        .iter()
        .position(|m| m.id == col)
        .expect("collection in feed");
    let c = &feed.collections()[ci];
    (0..c.len())
        .map(|i| serde_json::from_slice(&c.objects_run(i, i + 1)).unwrap())
        .collect()
}

/// pattern → revoked, of the latest version of every indicator of `col`.
fn latest_indicators(path: &Path, col: &str) -> std::collections::BTreeMap<String, bool> {
    let mut latest: std::collections::BTreeMap<String, serde_json::Value> = Default::default();
    for o in objects_in(path, col) {
        if o["type"] != "indicator" {
            continue;
        }
        let id = o["id"].as_str().unwrap().to_string();
        let newer = latest
            .get(&id)
            .is_none_or(|l| l["modified"].as_str() < o["modified"].as_str());
        if newer {
            latest.insert(id, o);
        }
    }
    latest
        .values()
        .map(|o| {
            (
                o["pattern"].as_str().unwrap().to_string(),
                o["revoked"].as_bool().unwrap_or(false),
            )
        })
        .collect()
}

/// Every object version (`id modified`) of `col` in the feed at `path`.
fn versions_in(path: &Path, col: &str) -> BTreeSet<String> {
    objects_in(path, col)
        .iter()
        .map(generations::version_key)
        .collect()
}

/// `key` encrypted as PKCS#8 (PBES2, AES-256-CBC) by the openssl tool,
/// with the passphrase in `pass`.
fn openssl_encrypt(dir: &Path, key_pem: &str, pass: &Path) -> PathBuf {
    let plain = write(dir, "client.plain.key", key_pem);
    let out = dir.join("client.enc.key");
    let st = std::process::Command::new("openssl")
        .args(["pkcs8", "-topk8", "-v2", "aes-256-cbc", "-in"])
        .arg(&plain)
        .arg("-out")
        .arg(&out)
        .arg("-passout")
        .arg(format!("file:{}", pass.display()))
        .status()
        .expect("openssl runs (tools/test.sh installs it)");
    assert!(st.success());
    assert!(std::fs::read_to_string(&out)
        .unwrap()
        .contains("BEGIN ENCRYPTED PRIVATE KEY"));
    out
}

fn pages(objects: usize, page_size: usize) -> u64 {
    objects.div_ceil(page_size).max(1) as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_own_serve_over_mtls_then_only_the_delta() {
    // The upstream: our own serve over TLS, client certificates required,
    // the aggregator's certificate mapped to a user.
    let pki = tempfile::tempdir().unwrap();
    let mut ca = Ca::new("upstream test CA");
    let server = ca.server();
    let client = ca.client("aggregator", &[], &[]);
    let ca_pem = write(pki.path(), "ca.pem", &ca.pair.cert_pem);
    let server_extra = format!(
        "tls_cert = {:?}\ntls_key = {:?}\n[server.client_certs]\nmode = \"required\"\nca = {:?}\n",
        write(pki.path(), "server.pem", &server.cert_pem),
        write(pki.path(), "server.key", &server.key_pem),
        ca_pem,
    );
    let mut up = Scenario::new(
        &server_extra,
        "\n[[users]]\nname = \"aggregator\"\ncert_cn = \"aggregator\"\n",
    );
    up.next_generation();
    let running = generations::serve(&up).await;
    let gen1: BTreeSet<String> = up.live_added(ALL).into_iter().map(|(k, _)| k).collect();

    // The aggregator: the client key encrypted, its passphrase in a file.
    let agg = tempfile::tempdir().unwrap();
    let pass = write(agg.path(), "passphrase", "correct horse\n");
    let key = openssl_encrypt(agg.path(), &client.key_pem, &pass);
    let page_size = 64;
    let taxii = format!(
        "url = \"https://127.0.0.1:{}/taxii2/\", collections = [\"All\"], ca_bundle = {:?}, client_cert = {:?}, client_key = {:?}, client_key_passphrase_file = {:?}, page_size = {page_size}, timeout = \"20s\", retry_for = \"20s\"",
        running.local_addr.port(),
        ca_pem,
        write(agg.path(), "client.pem", &client.cert_pem),
        key,
        pass,
    );
    let cfg = aggregator(agg.path(), &taxii);

    // First run: everything (the window is "all"), in whole pages.
    let c = cfg.clone();
    let s1 = tokio::task::spawn_blocking(move || compile_agg(&c, true))
        .await
        .unwrap()
        .unwrap();
    let u = &s1.upstream[0];
    assert_eq!(u.failed, None, "{u:?}");
    assert_eq!(u.version.as_deref(), Some("2.1"));
    assert_eq!(u.collections.len(), 1, "{u:?}");
    assert_eq!(u.collections[0].fetched, gen1.len() as u64);
    // Discovery, collections, then the pages.
    assert_eq!(u.requests, 2 + pages(gen1.len(), page_size), "{u:?}");
    assert_eq!(u.retries, 0);
    let live = agg.path().join("agg.taxii");
    assert_eq!(versions_in(&live, AGG), gen1);

    // The upstream adds, changes and revokes; the second run asks only for
    // what was added after the first run's cursor.
    let s = up.next_generation();
    generations::wait_for(&running, &s.generation).await;
    let gen2: BTreeSet<String> = up.live_added(ALL).into_iter().map(|(k, _)| k).collect();
    let delta: BTreeSet<&String> = gen2.difference(&gen1).collect();
    assert!(delta.len() > page_size, "the delta spans several pages");
    let c = cfg.clone();
    let s2 = tokio::task::spawn_blocking(move || compile_agg(&c, true))
        .await
        .unwrap()
        .unwrap();
    let u = &s2.upstream[0];
    assert_eq!(u.failed, None, "{u:?}");
    assert_eq!(u.collections[0].fetched, delta.len() as u64, "{u:?}");
    assert_eq!(u.requests, 2 + pages(delta.len(), page_size), "{u:?}");
    // The aggregator keeps what it fetched before: every version of both
    // generations (a client asking for the latest gets gen 2's).
    let union: BTreeSet<String> = gen1.union(&gen2).cloned().collect();
    assert_eq!(versions_in(&live, AGG), union);
    // The upstream's domain indicators are canonical indicators here too,
    // revoked where the upstream revoked them.
    assert_eq!(
        latest_indicators(&live, CANON),
        latest_indicators(&up.feed_path, ALL)
    );

    // Nothing new upstream: one page that is empty, nothing published.
    let c = cfg.clone();
    let s3 = tokio::task::spawn_blocking(move || compile_agg(&c, true))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s3.upstream[0].collections[0].fetched, 0);
    assert_eq!(s3.upstream[0].requests, 3);
    assert!(s3.unchanged, "same cache, same feed");

    // A wrong passphrase is a config problem: the compile stops, naming it.
    std::fs::write(&pass, "wrong\n").unwrap();
    let c = cfg.clone();
    let e = tokio::task::spawn_blocking(move || compile_agg(&c, false))
        .await
        .unwrap()
        .unwrap_err()
        .to_string();
    assert!(e.contains("client_key") && e.contains("passphrase"), "{e}");
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_own_serve_in_taxii20_pages_by_range() {
    let mut up = Scenario::new("", "");
    up.next_generation();
    let running = generations::serve(&up).await;
    let gen1: BTreeSet<String> = up.live_added(ALL).into_iter().map(|(k, _)| k).collect();
    let agg = tempfile::tempdir().unwrap();
    let page_size = 50;
    let cfg = aggregator(
        agg.path(),
        &format!(
            "url = \"http://127.0.0.1:{}/taxii/\", version = \"2.0\", page_size = {page_size}, retry_for = \"10s\"",
            running.local_addr.port()
        ),
    );
    let c = cfg.clone();
    let s1 = tokio::task::spawn_blocking(move || compile_agg(&c, true))
        .await
        .unwrap()
        .unwrap();
    let u = &s1.upstream[0];
    assert_eq!(u.failed, None, "{u:?}");
    assert_eq!(u.version.as_deref(), Some("2.0"));
    assert_eq!(u.collections[0].fetched, gen1.len() as u64, "{u:?}");
    // Discovery, collections, then one `Range: items` request per page.
    assert_eq!(u.requests, 2 + pages(gen1.len(), page_size), "{u:?}");
    assert_eq!(versions_in(&agg.path().join("agg.taxii"), AGG), gen1);

    let s = up.next_generation();
    generations::wait_for(&running, &s.generation).await;
    let gen2: BTreeSet<String> = up.live_added(ALL).into_iter().map(|(k, _)| k).collect();
    let delta = gen2.difference(&gen1).count();
    let c = cfg.clone();
    let s2 = tokio::task::spawn_blocking(move || compile_agg(&c, true))
        .await
        .unwrap()
        .unwrap();
    let u = &s2.upstream[0];
    assert_eq!(u.failed, None, "{u:?}");
    assert_eq!(u.collections[0].fetched, delta as u64, "{u:?}");
    assert_eq!(u.requests, 2 + pages(delta, page_size), "{u:?}");
    running.shutdown().await;
}

/// What the scripted server does with one objects request.
#[derive(Clone, Copy, Debug)]
enum Act {
    Page,
    Fail500,
    /// 429 with `Retry-After: 1`.
    Busy,
    /// Headers and half the body, then nothing for 3 s.
    Stall,
}

/// A TAXII 2.1 server on 127.0.0.1 with one collection of five indicators
/// served two per page; the n-th objects request (0-based) gets
/// `script[n]` (`Page` after the script ends). It logs every request line
/// and stops by itself after 60 s.
struct Scripted {
    addr: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
}

const UP_COLLECTION: &str = "91a7b3c5-2d4e-4f60-8a1b-c2d3e4f5a6b7";

fn indicator(i: u32) -> serde_json::Value {
    serde_json::json!({
        "type": "indicator",
        "spec_version": "2.1",
        "id": format!("indicator--00000000-0000-4000-8000-00000000000{i}"),
        "created": "2026-01-01T00:00:00.000Z",
        "modified": "2026-01-01T00:00:00.000Z",
        "name": format!("bad{i}.example.net"),
        "pattern": format!("[domain-name:value = 'bad{i}.example.net']"),
        "pattern_type": "stix",
        "valid_from": "2026-01-01T00:00:00Z",
    })
}

impl Scripted {
    fn start(script: Vec<Act>) -> Scripted {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let l = log.clone();
        std::thread::spawn(move || {
            let until = Instant::now() + Duration::from_secs(60);
            let mut objects_requests = 0usize;
            while Instant::now() < until {
                let Ok((conn, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                conn.set_nonblocking(false).unwrap();
                let line = read_request(&conn);
                l.lock().unwrap().push(line.clone());
                let act = if line.contains("/objects/") {
                    objects_requests += 1;
                    script
                        .get(objects_requests - 1)
                        .copied()
                        .unwrap_or(Act::Page)
                } else {
                    Act::Page
                };
                // Each connection on its own thread, so a stall does not
                // hold up the retry that follows it.
                std::thread::spawn(move || answer(conn, addr, &line, act));
            }
        });
        Scripted { addr, log }
    }

    fn url(&self) -> String {
        format!("http://{}/taxii2/", self.addr)
    }

    fn requests(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

fn read_request(conn: &TcpStream) -> String {
    let mut r = BufReader::new(conn);
    let mut first = String::new();
    let _ = r.read_line(&mut first);
    loop {
        let mut h = String::new();
        match r.read_line(&mut h) {
            Ok(n) if n > 2 => continue,
            _ => break,
        }
    }
    first.trim().to_string()
}

fn answer(mut conn: TcpStream, addr: SocketAddr, line: &str, act: Act) {
    let path = line.split(' ').nth(1).unwrap_or("/");
    let (status, extra, body) = match act {
        Act::Fail500 => ("500 Internal Server Error", String::new(), "{}".to_string()),
        Act::Busy => (
            "429 Too Many Requests",
            "Retry-After: 1\r\n".to_string(),
            "{}".to_string(),
        ),
        Act::Page | Act::Stall => route(addr, path),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/taxii+json;version=2.1\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n",
        body.len()
    );
    let _ = conn.write_all(head.as_bytes());
    if let Act::Stall = act {
        let _ = conn.write_all(&body.as_bytes()[..body.len() / 2]);
        let _ = conn.flush();
        std::thread::sleep(Duration::from_secs(3));
        return;
    }
    let _ = conn.write_all(body.as_bytes());
}

/// Discovery, the API root's collections, and the objects pages (`next`
/// is the offset of the following page).
fn route(addr: SocketAddr, path: &str) -> (&'static str, String, String) {
    let ok = "200 OK";
    if path == "/taxii2/" {
        let d =
            serde_json::json!({"title": "scripted", "api_roots": [format!("http://{addr}/api/")]});
        return (ok, String::new(), d.to_string());
    }
    if path == "/api/collections/" {
        let c = serde_json::json!({"collections": [
            {"id": UP_COLLECTION, "title": "Scripted", "can_read": true, "can_write": false},
            {"id": "unreadable", "title": "Closed", "can_read": false, "can_write": false},
        ]});
        return (ok, String::new(), c.to_string());
    }
    let start: u32 = path
        .split("next=")
        .nth(1)
        .and_then(|n| n.split('&').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let end = (start + 2).min(5);
    let objects: Vec<_> = (start..end).map(indicator).collect();
    let mut env = serde_json::json!({"more": end < 5, "objects": objects});
    if end < 5 {
        env["next"] = serde_json::json!(end.to_string());
    }
    let last = format!(
        "X-TAXII-Date-Added-First: 2026-01-01T00:00:0{start}.000Z\r\nX-TAXII-Date-Added-Last: 2026-01-01T00:00:0{}.000Z\r\n",
        end - 1
    );
    (ok, last, env.to_string())
}

fn scripted_taxii(s: &Scripted, retry_for: &str) -> String {
    format!(
        "url = {:?}, page_size = 2, timeout = \"1s\", retry_for = {retry_for:?}",
        s.url()
    )
}

#[test]
fn upstream_retries_500_429_and_a_stalled_page() {
    let s = Scripted::start(vec![
        Act::Fail500,
        Act::Page,
        Act::Stall,
        Act::Page,
        Act::Busy,
    ]);
    let agg = tempfile::tempdir().unwrap();
    let cfg = aggregator(agg.path(), &scripted_taxii(&s, "30s"));
    let sum = compile_agg(&cfg, true).unwrap();
    let u = &sum.upstream[0];
    assert_eq!(u.failed, None, "{u:?}");
    assert_eq!(u.collections[0].fetched, 5);
    // Discovery, collections, then 3 pages of which 3 were retried once.
    let log = s.requests();
    assert_eq!(log.len(), 2 + 3 + 3, "{log:#?}");
    assert_eq!(u.requests, log.len() as u64);
    assert_eq!(u.retries, 3);
    // The unreadable collection was not asked for.
    assert!(log.iter().all(|l| !l.contains("unreadable")), "{log:#?}");
    assert_eq!(
        u.collections[0].cursor.as_deref(),
        Some("2026-01-01T00:00:04.000Z")
    );
    assert_eq!(versions_in(&agg.path().join("agg.taxii"), AGG).len(), 5);

    // The five simple indicators are canonical indicators too: selected
    // by owner and type, with this config's TTL and our own ids.
    assert_eq!(u.collections[0].indicators, 5);
    let canon = objects_in(&agg.path().join("agg.taxii"), CANON);
    let indicators: Vec<&serde_json::Value> =
        canon.iter().filter(|o| o["type"] == "indicator").collect();
    assert_eq!(indicators.len(), 5, "{canon:#?}");
    for i in 0..5u32 {
        let o = indicators
            .iter()
            .find(|o| o["pattern"] == format!("[domain-name:value = 'bad{i}.example.net']"))
            .unwrap_or_else(|| panic!("bad{i} in {indicators:#?}"));
        assert_ne!(o["id"], indicator(i)["id"], "our own id");
        // last_modified 2026-01-01 + 8760 hours.
        assert_eq!(o["valid_until"], "2027-01-01T00:00:00.000Z", "{o}");
    }
}

#[test]
fn upstream_that_fails_keeps_its_objects_and_resumes_where_it_stopped() {
    // A first compile gets page 1, then page 2 keeps failing past
    // retry_for: the feed is published with page 1, the summary says the
    // source failed, and --strict refuses.
    let s = Scripted::start(vec![Act::Page, Act::Fail500, Act::Fail500, Act::Fail500]);
    let agg = tempfile::tempdir().unwrap();
    let cfg = aggregator(agg.path(), &scripted_taxii(&s, "1s"));
    let sum = compile_agg(&cfg, false).unwrap();
    let u = &sum.upstream[0];
    assert!(
        u.failed.as_deref().is_some_and(|f| f.contains("HTTP 500")),
        "{u:?}"
    );
    assert_eq!(u.collections[0].fetched, 2);
    let rendered = compile::render_summary(&sum);
    assert!(rendered.contains("FAILED"), "{rendered}");
    assert_eq!(versions_in(&agg.path().join("agg.taxii"), AGG).len(), 2);

    // The next compile goes on from page 2 (its `next` token), not from
    // the start; the server has recovered.
    let before = s.requests().len();
    let sum = compile_agg(&cfg, true).unwrap();
    let u = &sum.upstream[0];
    assert_eq!(u.failed, None, "{u:?}");
    assert_eq!(u.collections[0].fetched, 3);
    let log = s.requests()[before..].to_vec();
    let objects: Vec<&String> = log.iter().filter(|l| l.contains("/objects/")).collect();
    assert!(objects[0].contains("next=2"), "{log:#?}");
    assert_eq!(versions_in(&agg.path().join("agg.taxii"), AGG).len(), 5);

    // A source that is down: with --strict the compile stops; without, it
    // publishes (nothing new: the feed stays) and says so.
    let dead = tempfile::tempdir().unwrap();
    let cfg = aggregator(
        dead.path(),
        "url = \"http://127.0.0.1:9/taxii2/\", retry_for = \"1s\"",
    );
    let e = compile_agg(&cfg, true).unwrap_err().to_string();
    assert!(e.contains("upstream up") && e.contains("--strict"), "{e}");
}

/// medallion (the OASIS TAXII 2.1 reference server, from PyPI) started on
/// 127.0.0.1 over a generated data file; killed by PID when dropped.
struct Medallion {
    child: std::process::Child,
    port: u16,
}

impl Drop for Medallion {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const MED_COLLECTION: &str = "64993447-4d7e-4f70-b94d-d7f33742ee63";

fn med_indicator(i: u32) -> serde_json::Value {
    serde_json::json!({
        "type": "indicator",
        "spec_version": "2.1",
        "id": format!("indicator--{:08x}-0000-4000-8000-000000000000", i),
        "created": "2026-01-01T00:00:00.000Z",
        "modified": "2026-01-01T00:00:00.000Z",
        "name": format!("198.51.100.{i}"),
        "pattern": format!("[ipv4-addr:value = '198.51.100.{i}']"),
        "pattern_type": "stix",
        "valid_from": "2026-01-01T00:00:00Z",
    })
}

impl Medallion {
    /// `old` objects added 30 days ago and `recent` added an hour ago, in
    /// one writable collection; user `admin`, password `Password0`.
    fn start(dir: &Path, old: u32, recent: u32) -> Medallion {
        let port = crate::common::server_support::free_port();
        let now = taxii_edge::time::now();
        let day = 86_400_000_000i64;
        // medallion 3.0's layout: a collections list, each with its
        // objects and a manifest that holds their date_added.
        let objects: Vec<serde_json::Value> = (0..old + recent).map(med_indicator).collect();
        let manifest: Vec<serde_json::Value> = (0..old + recent)
            .map(|i| {
                let added = if i < old {
                    now - 30 * day + i64::from(i) * 1_000_000
                } else {
                    now - day / 24 + i64::from(i) * 1_000_000
                };
                serde_json::json!({
                    "id": med_indicator(i)["id"],
                    "date_added": taxii_edge::time::fmt_us(added),
                    "version": "2026-01-01T00:00:00.000Z",
                    "media_type": "application/stix+json;version=2.1",
                })
            })
            .collect();
        let data = serde_json::json!({
            "/discovery": {
                "title": "medallion under test",
                "default": format!("http://127.0.0.1:{port}/root1/"),
                "api_roots": [format!("http://127.0.0.1:{port}/root1/")],
            },
            "root1": {
                "information": {
                    "title": "Root 1",
                    "versions": ["application/taxii+json;version=2.1"],
                    "max_content_length": 9_765_625,
                },
                "status": [],
                "collections": [{
                    "id": MED_COLLECTION,
                    "title": "Medallion indicators",
                    "can_read": true,
                    "can_write": true,
                    "media_types": ["application/stix+json;version=2.1"],
                    "objects": objects,
                    "manifest": manifest,
                }],
            },
        });
        let data_path = dir.join("medallion-data.json");
        std::fs::write(&data_path, data.to_string()).unwrap();
        let conf = dir.join("medallion.json");
        std::fs::write(
            &conf,
            serde_json::json!({
                "backend": {
                    "module": "medallion.backends.memory_backend",
                    "module_class": "MemoryBackend",
                    "filename": data_path,
                },
                "users": {"admin": "Password0"},
                "taxii": {"max_page_size": 100},
            })
            .to_string(),
        )
        .unwrap();
        let bin = crate::common::compile_support::python().with_file_name("medallion");
        let child = std::process::Command::new(&bin)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .arg(&conf)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "{}: {e} (tools/interop/setup.sh installs medallion)",
                    bin.display()
                )
            });
        let m = Medallion { child, port };
        // Up when it answers discovery; bounded.
        for _ in 0..200 {
            if m.get("/taxii2/").is_ok() {
                return m;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("medallion did not start on port {port}");
    }

    fn get(&self, path: &str) -> Result<u16, ureq::Error> {
        let r = ureq::get(format!("http://127.0.0.1:{}{path}", self.port))
            .header("Accept", "application/taxii+json;version=2.1")
            .header("Authorization", "Basic YWRtaW46UGFzc3dvcmQw")
            .call()?;
        Ok(r.status().as_u16())
    }

    /// Adds objects through medallion's own POST (it stamps date_added).
    fn add(&self, objects: &[serde_json::Value]) {
        let r = ureq::post(format!(
            "http://127.0.0.1:{}/root1/collections/{MED_COLLECTION}/objects/",
            self.port
        ))
        .header("Accept", "application/taxii+json;version=2.1")
        .header("Content-Type", "application/taxii+json;version=2.1")
        .header("Authorization", "Basic YWRtaW46UGFzc3dvcmQw")
        .send(serde_json::json!({ "objects": objects }).to_string())
        .unwrap();
        assert_eq!(r.status().as_u16(), 202);
    }
}

#[test]
fn upstream_medallion_window_then_only_what_was_added() {
    let dir = tempfile::tempdir().unwrap();
    let med = Medallion::start(dir.path(), 12, 25);
    let pass = write(dir.path(), "medallion.pass", "Password0\n");
    let taxii = format!(
        "url = \"http://127.0.0.1:{}/taxii2/\", user = \"admin\", password_file = {:?}, initial_window = \"7d\", page_size = 10, retry_for = \"5s\"",
        med.port, pass
    );
    let cfg = aggregator(dir.path(), &taxii);

    // First run: only what was added in the last 7 days, 10 per page.
    let s = compile_agg(&cfg, true).unwrap();
    let u = &s.upstream[0];
    assert_eq!(u.failed, None, "{u:?}");
    assert_eq!(u.collections[0].fetched, 25, "{u:?}");
    assert_eq!(u.requests, 2 + pages(25, 10), "{u:?}");
    let live = dir.path().join("agg.taxii");
    let want: BTreeSet<String> = (12..37)
        .map(|i| generations::version_key(&med_indicator(i)))
        .collect();
    assert_eq!(versions_in(&live, AGG), want);

    // medallion gets 7 more objects (and one already known again, which it
    // keeps as it is); the next run asks for exactly the new ones.
    std::thread::sleep(Duration::from_millis(20));
    let added: Vec<serde_json::Value> = (100..107).map(med_indicator).collect();
    med.add(&added);
    let s = compile_agg(&cfg, true).unwrap();
    let u = &s.upstream[0];
    assert_eq!(u.failed, None, "{u:?}");
    assert_eq!(u.collections[0].fetched, 7, "{u:?}");
    assert_eq!(u.requests, 2 + 1, "{u:?}");
    let mut want = want;
    want.extend(added.iter().map(generations::version_key));
    assert_eq!(versions_in(&live, AGG), want);
}

/// tinyproxy (Debian's package) on 127.0.0.1 in the foreground, its log
/// on stdout in a file; killed by PID when dropped.
struct Tinyproxy {
    child: std::process::Child,
    port: u16,
    log: PathBuf,
}

impl Drop for Tinyproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Tinyproxy {
    fn start(dir: &Path) -> Tinyproxy {
        let port = crate::common::server_support::free_port();
        let conf = write(
            dir,
            "tinyproxy.conf",
            &format!(
                "User nobody\nGroup nogroup\nPort {port}\nListen 127.0.0.1\nTimeout 30\nLogLevel Connect\nMaxClients 10\nAllow 127.0.0.1\n"
            ),
        );
        let log = dir.join("tinyproxy.log");
        let child = std::process::Command::new("tinyproxy")
            .arg("-d")
            .arg("-c")
            .arg(&conf)
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("tinyproxy runs (tools/test.sh installs it)");
        let t = Tinyproxy { child, port, log };
        for _ in 0..200 {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return t;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("tinyproxy did not start on port {port}");
    }
}

#[test]
fn upstream_through_a_proxy() {
    let dir = tempfile::tempdir().unwrap();
    let proxy = Tinyproxy::start(dir.path());
    let s = Scripted::start(Vec::new());
    let taxii = format!(
        "{}, proxy = \"http://127.0.0.1:{}\"",
        scripted_taxii(&s, "5s"),
        proxy.port
    );
    let cfg = aggregator(dir.path(), &taxii);
    let sum = compile_agg(&cfg, true).unwrap();
    let u = &sum.upstream[0];
    assert_eq!(u.failed, None, "{u:?}");
    assert_eq!(u.collections[0].fetched, 5);
    // Every request went through the proxy, to the upstream's port.
    let log = std::fs::read_to_string(&proxy.log).unwrap();
    let through = log
        .lines()
        .filter(|l| l.contains("Request") && l.contains(&s.addr.to_string()))
        .count();
    assert!(through >= 1, "{log}");
    assert_eq!(s.requests().len() as u64, u.requests);

    // With the proxy gone, the source fails instead of going direct.
    drop(proxy);
    let other = tempfile::tempdir().unwrap();
    let cfg = aggregator(other.path(), &taxii);
    let sum = compile_agg(&cfg, false).unwrap();
    assert!(sum.upstream[0].failed.is_some(), "{:?}", sum.upstream[0]);
}

/// OpenTAXII (PyPI) through `tools/interop/opentaxii_server.py`: SQLite
/// under `dir`, account `admin`, one API root and collection; the script
/// stops by itself after 120 s and is killed by PID when dropped.
struct OpenTaxii {
    child: std::process::Child,
    port: u16,
    api_root: String,
    collection: String,
}

impl Drop for OpenTaxii {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl OpenTaxii {
    fn start(dir: &Path) -> OpenTaxii {
        let port = crate::common::server_support::free_port();
        let mut child = std::process::Command::new(crate::common::compile_support::python())
            .arg(crate::common::compile_support::interop_script(
                "opentaxii_server.py",
            ))
            .arg(dir)
            .arg(port.to_string())
            .arg("120")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("python runs (tools/interop/setup.sh installs opentaxii)");
        let mut first = String::new();
        let stdout = child.stdout.take().unwrap();
        let _ = BufReader::new(stdout).read_line(&mut first);
        let ids: serde_json::Value = serde_json::from_str(&first).unwrap_or_default();
        let mut o = OpenTaxii {
            child,
            port,
            api_root: ids["api_root"].as_str().unwrap_or_default().to_string(),
            collection: ids["collection"].as_str().unwrap_or_default().to_string(),
        };
        assert!(
            !o.collection.is_empty(),
            "OpenTAXII did not set up: {first:?}"
        );
        for _ in 0..200 {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return o;
            }
            if let Ok(Some(st)) = o.child.try_wait() {
                panic!("OpenTAXII exited: {st}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        o.child.kill().ok();
        panic!("OpenTAXII did not start on port {port}");
    }

    /// Adds objects through OpenTAXII's own POST (it stamps date_added).
    fn add(&self, objects: &[serde_json::Value]) {
        let r = ureq::post(format!(
            "http://127.0.0.1:{}/taxii2/{}/collections/{}/objects/",
            self.port, self.api_root, self.collection
        ))
        .header("Accept", "application/taxii+json;version=2.1")
        .header("Content-Type", "application/taxii+json;version=2.1")
        .header("Authorization", "Basic YWRtaW46UGFzc3dvcmQw")
        .send(serde_json::json!({ "objects": objects }).to_string())
        .unwrap();
        assert_eq!(r.status().as_u16(), 202);
    }
}

#[test]
fn upstream_opentaxii_first_run_then_only_what_was_added() {
    let dir = tempfile::tempdir().unwrap();
    let ot = OpenTaxii::start(dir.path());
    let first: Vec<serde_json::Value> = (0..15).map(med_indicator).collect();
    ot.add(&first);
    let pass = write(dir.path(), "opentaxii.pass", "Password0");
    let taxii = format!(
        "url = \"http://127.0.0.1:{}/taxii2/\", user = \"admin\", password_file = {:?}, page_size = 10, retry_for = \"10s\"",
        ot.port, pass
    );
    let cfg = aggregator(dir.path(), &taxii);
    let s = compile_agg(&cfg, true).unwrap();
    let u = &s.upstream[0];
    assert_eq!(u.failed, None, "{u:?}");
    assert_eq!(u.collections[0].fetched, 15, "{u:?}");
    assert_eq!(u.requests, 2 + pages(15, 10), "{u:?}");
    let live = dir.path().join("agg.taxii");
    assert_eq!(objects_in(&live, AGG).len(), 15);

    // Four more; the next run asks for exactly those, in one page.
    std::thread::sleep(Duration::from_millis(20));
    let more: Vec<serde_json::Value> = (200..204).map(med_indicator).collect();
    ot.add(&more);
    let s = compile_agg(&cfg, true).unwrap();
    let u = &s.upstream[0];
    assert_eq!(u.failed, None, "{u:?}");
    assert_eq!(u.collections[0].fetched, 4, "{u:?}");
    assert_eq!(u.requests, 2 + 1, "{u:?}");
    assert_eq!(objects_in(&live, AGG).len(), 19);
}
