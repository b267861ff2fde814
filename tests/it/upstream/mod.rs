//! Upstream TAXII inputs (`[[inputs]]` with `taxii`) against real servers
//! on 127.0.0.1: our own `serve` over TLS with a required client
//! certificate (its key encrypted by the openssl command line tool), and a
//! scripted TAXII 2.1 server that fails on purpose (500, 429, a body that
//! stalls mid-page, a source that never recovers). `cargo test upstream`
//! runs them all.

mod servers;

use crate::common::generations::{self, Scenario, ALL};
use crate::common::pki::{write, Ca};
use servers::*;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;
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
    std::fs::create_dir_all(dir).unwrap();
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
query = 'owner = "up" and type in ("domain", "ipv4")'
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

/// Compiles the aggregator (`--strict`) and checks that its source did not
/// fail and fetched `fetched` new objects of its first collection in
/// `requests` requests (`None`: not checked).
fn fetch_ok(cfg: &Path, fetched: u64, requests: Option<u64>) -> Summary {
    let s = compile_agg(cfg, true).unwrap_or_else(|e| panic!("compile: {e}"));
    let u = &s.upstream[0];
    assert_eq!(u.failed, None, "{u:?}");
    assert_eq!(u.collections[0].fetched, fetched, "{u:?}");
    if let Some(r) = requests {
        assert_eq!(u.requests, r, "{u:?}");
    }
    s
}

/// [`fetch_ok`] from an async test.
async fn fetch_ok_async(cfg: &Path, fetched: u64, requests: Option<u64>) -> Summary {
    let c = cfg.to_path_buf();
    tokio::task::spawn_blocking(move || fetch_ok(&c, fetched, requests))
        .await
        .unwrap()
}

/// Every object of `col` in the feed at `path`.
fn objects_in(path: &Path, col: &str) -> Vec<serde_json::Value> {
    let feed = Feed::open(path).unwrap();
    let c = &feed.collections()[generations::collection_index(&feed, col)];
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
    // Discovery, collections, then the pages.
    let s1 = fetch_ok_async(
        &cfg,
        gen1.len() as u64,
        Some(2 + pages(gen1.len(), page_size)),
    )
    .await;
    let u = &s1.upstream[0];
    assert_eq!(u.version.as_deref(), Some("2.1"));
    assert_eq!(u.collections.len(), 1, "{u:?}");
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
    fetch_ok_async(
        &cfg,
        delta.len() as u64,
        Some(2 + pages(delta.len(), page_size)),
    )
    .await;
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
    let s3 = fetch_ok_async(&cfg, 0, Some(3)).await;
    assert!(s3.unchanged, "same cache, same feed");

    // A server the CA bundle does not vouch for: refused at once (a retry
    // cannot change a certificate), the source reported failed.
    let stranger = write(
        agg.path(),
        "other-ca.pem",
        &Ca::new("some other CA").pair.cert_pem,
    );
    let wrong_ca = aggregator(
        &agg.path().join("wrong-ca"),
        &taxii.replace(&format!("{ca_pem:?}"), &format!("{stranger:?}")),
    );
    let s = tokio::task::spawn_blocking(move || compile_agg(&wrong_ca, false))
        .await
        .unwrap()
        .unwrap();
    let u = &s.upstream[0];
    assert!(
        u.failed.as_deref().is_some_and(|f| f.contains("TLS")),
        "{u:?}"
    );
    assert_eq!((u.requests, u.retries), (1, 0), "{u:?}");

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
    // Discovery, collections, then one `Range: items` request per page.
    let s1 = fetch_ok_async(
        &cfg,
        gen1.len() as u64,
        Some(2 + pages(gen1.len(), page_size)),
    )
    .await;
    assert_eq!(s1.upstream[0].version.as_deref(), Some("2.0"));
    assert_eq!(versions_in(&agg.path().join("agg.taxii"), AGG), gen1);

    let s = up.next_generation();
    generations::wait_for(&running, &s.generation).await;
    let gen2: BTreeSet<String> = up.live_added(ALL).into_iter().map(|(k, _)| k).collect();
    let delta = gen2.difference(&gen1).count();
    fetch_ok_async(&cfg, delta as u64, Some(2 + pages(delta, page_size))).await;
    running.shutdown().await;
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
    let sum = fetch_ok(&cfg, 5, None);
    let u = &sum.upstream[0];
    // Discovery, collections, then 3 pages of which 3 were retried once.
    let log = s.requests();
    assert_eq!(log.len(), 2 + 3 + 3, "{log:#?}");
    assert_eq!(u.requests, log.len() as u64);
    assert_eq!(u.retries, 3);
    // The unreadable collection was not asked for.
    assert!(log.iter().all(|l| !l.contains("unreadable")), "{log:#?}");
    assert_eq!(
        u.collections[0].cursor.as_deref(),
        Some("2026-01-01T00:00:04.000000Z")
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
    fetch_ok(&cfg, 3, None);
    let log = s.requests()[before..].to_vec();
    let objects: Vec<&String> = log.iter().filter(|l| l.contains("/objects/")).collect();
    assert!(objects[0].contains("next=2"), "{log:#?}");
    assert_eq!(versions_in(&agg.path().join("agg.taxii"), AGG).len(), 5);

    // A source that is down: without --strict the compile publishes what
    // it has (nothing yet) and says why; with it, the compile stops.
    let dead = tempfile::tempdir().unwrap();
    let cfg = aggregator(
        dead.path(),
        "url = \"http://127.0.0.1:9/taxii2/\", retry_for = \"1s\"",
    );
    let sum = compile_agg(&cfg, false).unwrap();
    let u = &sum.upstream[0];
    assert!(
        u.failed
            .as_deref()
            .is_some_and(|f| f.contains("127.0.0.1:9")),
        "{u:?}"
    );
    assert!(u.requests >= 2 && u.retries >= 1, "retried: {u:?}");
    let e = compile_agg(&cfg, true).unwrap_err().to_string();
    assert!(e.contains("upstream up") && e.contains("--strict"), "{e}");
}

#[test]
fn upstream_resume_token_the_server_refuses_starts_the_query_again() {
    // A compile that stopped part-way left a resume point whose token the
    // server no longer knows (it answers 400): the next compile starts the
    // query again instead of failing, and adds nothing twice.
    let s = Scripted::start(Vec::new());
    let agg = tempfile::tempdir().unwrap();
    let cfg = aggregator(agg.path(), &scripted_taxii(&s, "5s"));
    let dir = agg.path().join("agg.taxii.upstream/up");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("cursor.json"),
        serde_json::json!({
            "format": 1,
            "url": s.url(),
            "collections": {UP_COLLECTION: {
                "title": "Scripted",
                "added_after": null,
                "resume": {"added_after": null, "next": "expired-token", "offset": null, "last": null},
                "objects": 0,
            }},
        })
        .to_string(),
    )
    .unwrap();
    // The refused token, then the three pages from the start.
    fetch_ok(&cfg, 5, Some(2 + 1 + 3));
    let log = s.requests();
    let objects: Vec<&String> = log.iter().filter(|l| l.contains("/objects/")).collect();
    assert!(objects[0].contains("next=expired-token"), "{log:#?}");
    assert!(!objects[1].contains("next="), "{log:#?}");
}

#[test]
fn upstream_pages_by_added_after_without_next_and_never_loops() {
    // `more` without `next`: the rest is asked for with added_after.
    let s = Scripted::start(vec![Act::NoNext, Act::NoNext, Act::NoNext]);
    let agg = tempfile::tempdir().unwrap();
    let cfg = aggregator(agg.path(), &scripted_taxii(&s, "5s"));
    fetch_ok(&cfg, 5, Some(2 + 3));
    let log = s.requests();
    let objects: Vec<&String> = log.iter().filter(|l| l.contains("/objects/")).collect();
    assert!(!objects[0].contains("added_after"), "{log:#?}");
    assert!(
        objects[1].contains("added_after=2026-01-01T00%3A00%3A01"),
        "{log:#?}"
    );
    assert!(
        objects[2].contains("added_after=2026-01-01T00%3A00%3A03"),
        "{log:#?}"
    );

    // The same config pointed at another server starts a new cache: its
    // first request asks for everything, not from the old cursor.
    let other = Scripted::start(Vec::new());
    let cfg = aggregator(agg.path(), &scripted_taxii(&other, "5s"));
    fetch_ok(&cfg, 5, Some(2 + 3));
    let first = other
        .requests()
        .into_iter()
        .find(|l| l.contains("/objects/"));
    assert!(
        first.as_deref().is_some_and(|l| !l.contains("added_after")),
        "{first:?}"
    );

    // A server whose `next` leads back to pages already seen is given up
    // on, not followed forever; the compile still publishes.
    let looping = Scripted::start(vec![Act::Page, Act::Loop, Act::Loop, Act::Loop]);
    let dir = tempfile::tempdir().unwrap();
    let cfg = aggregator(dir.path(), &scripted_taxii(&looping, "5s"));
    let sum = compile_agg(&cfg, false).unwrap();
    let u = &sum.upstream[0];
    assert!(
        u.failed
            .as_deref()
            .is_some_and(|f| f.contains("nothing new")),
        "{u:?}"
    );
    assert_eq!(u.requests, 2 + 3, "{u:?}");
    assert_eq!(u.collections[0].fetched, 4);
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
    fetch_ok(&cfg, 25, Some(2 + pages(25, 10)));
    let live = dir.path().join("agg.taxii");
    let want: BTreeSet<String> = (12..37)
        .map(|i| generations::version_key(&med_indicator(i)))
        .collect();
    assert_eq!(versions_in(&live, AGG), want);

    // medallion gets 7 more objects and a new version of indicator 20
    // with another value; the next run asks for exactly those.
    std::thread::sleep(Duration::from_millis(20));
    let mut added: Vec<serde_json::Value> = (100..107).map(med_indicator).collect();
    let mut changed = med_indicator(20);
    changed["modified"] = serde_json::json!("2026-02-01T00:00:00.000Z");
    changed["pattern"] = serde_json::json!("[ipv4-addr:value = '203.0.113.20']");
    added.push(changed);
    med.add(&added);
    fetch_ok(&cfg, 8, Some(2 + 1));
    let mut want = want;
    want.extend(added.iter().map(generations::version_key));
    assert_eq!(versions_in(&live, AGG), want);

    // As canonical indicators: the new value is live, the old one revoked
    // (not left live until its TTL), the others untouched.
    let canon = latest_indicators(&live, CANON);
    assert_eq!(
        canon.get("[ipv4-addr:value = '203.0.113.20']"),
        Some(&false),
        "{canon:#?}"
    );
    assert_eq!(
        canon.get("[ipv4-addr:value = '198.51.100.20']"),
        Some(&true),
        "{canon:#?}"
    );
    assert_eq!(
        canon.get("[ipv4-addr:value = '198.51.100.21']"),
        Some(&false),
        "{canon:#?}"
    );
    assert_eq!(canon.len(), 25 + 7 + 1, "{canon:#?}");
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
    let sum = fetch_ok(&cfg, 5, None);
    let u = &sum.upstream[0];
    // Every request went through the proxy, to the upstream's port.
    let log = std::fs::read_to_string(&proxy.log).unwrap();
    let through = log
        .lines()
        .filter(|l| l.contains("Request") && l.contains(&s.addr.to_string()))
        .count();
    assert_eq!(through as u64, u.requests, "{log}");
    assert_eq!(s.requests().len() as u64, u.requests);

    // With the proxy gone, the source fails instead of going direct.
    drop(proxy);
    let other = tempfile::tempdir().unwrap();
    let cfg = aggregator(other.path(), &taxii);
    let sum = compile_agg(&cfg, false).unwrap();
    assert!(sum.upstream[0].failed.is_some(), "{:?}", sum.upstream[0]);
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
    fetch_ok(&cfg, 15, Some(2 + pages(15, 10)));
    let live = dir.path().join("agg.taxii");
    assert_eq!(objects_in(&live, AGG).len(), 15);

    // Four more; the next run asks for exactly those, in one page.
    std::thread::sleep(Duration::from_millis(20));
    let more: Vec<serde_json::Value> = (200..204).map(med_indicator).collect();
    ot.add(&more);
    fetch_ok(&cfg, 4, Some(2 + 1));
    assert_eq!(objects_in(&live, AGG).len(), 19);
}
