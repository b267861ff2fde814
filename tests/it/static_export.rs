//! `export-static` end to end on real files and sockets: every file holds
//! `serve`'s bytes for the same request; a regeneration rewrites only the
//! pages that changed (the rest are hard links into the previous
//! generation); a client paging across the `current` swap sees no
//! duplicate and no gap; and nginx with the generated configuration serves
//! the export to the OASIS `taxii2-client`, sending filtered requests to
//! the origin.

use crate::common::compile_support;
use crate::common::server_support;

use crate::common::gunzip;
use compile_support::python;

use server_support::{basic, free_port, get};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use taxii_edge::config::Config;
use taxii_edge::export::{self, nginx, ExportOptions, ExportReport};
use taxii_edge::feed::Feed;
use taxii_edge::server::{self, ServeOptions};
use taxii_edge::synth;

const ALL: &str = "5a0e0d0c-0b0a-4908-8706-050403020100";
const IPV4: &str = "5b0e0d0c-0b0a-4908-8706-050403020101";
const PAGE: usize = 50;

fn write_native_export(path: &Path, items: impl Iterator<Item = (u64, u32)>) {
    compile_support::write_native_export(path, 11, items);
}

fn compile(config: &Path) {
    compile_support::compile_config(config).unwrap();
}

/// A crypt(3) hash for nginx's htpasswd, made at test time.
fn htpasswd_hash(pw: &str) -> String {
    let out = Command::new("openssl")
        .args(["passwd", "-6", pw])
        .output()
        .expect("openssl must be installed (tools/test.sh installs it)");
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A config with a public collection of everything and a private IPv4 one
/// readable by `demo` / `demo-pw`.
fn write_config(dir: &Path) -> PathBuf {
    let text = format!(
        r#"
[server]
default_page_size = {PAGE}
[compile]
out = "feed.taxii"
[[api_roots]]
name = "feeds"
title = "Feeds"
[[inputs]]
path = "export.ndjson"
[ttl]
default = 720
[[collections]]
id = "{ALL}"
title = "All"
anonymous = true
[[collections]]
id = "{IPV4}"
title = "IPv4"
query = 'type = "ipv4"'
readers = ["demo"]
[[users]]
name = "demo"
password_hash = "{}"
htpasswd = "{}"
"#,
        server::hash_password("demo-pw"),
        htpasswd_hash("demo-pw"),
    );
    let p = dir.join("config.toml");
    std::fs::write(&p, text).unwrap();
    p
}

fn export_to(config: &Path, out: &Path) -> ExportReport {
    export_with(config, out, false)
}

fn export_with(config: &Path, out: &Path, objects_by_id: bool) -> ExportReport {
    export::export(ExportOptions {
        config: Config::load(config).unwrap(),
        feed: config.parent().unwrap().join("feed.taxii"),
        out: out.to_path_buf(),
        public_url: None,
        retention: 2,
        objects_by_id,
    })
    .unwrap()
}

/// Every uncompressed file of a generation, relative path → bytes.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "json") {
                let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// The request a file answers: `a/b/index.json` → `/a/b/`,
/// `…/objects/next/T.json` → `…/objects/?next=T`.
fn url_of(rel: &str) -> String {
    match rel.split_once("/next/") {
        Some((list, t)) => format!("/{list}/?next={}", t.trim_end_matches(".json")),
        None => format!("/{}", rel.trim_end_matches("index.json")),
    }
}

/// `serve` on 127.0.0.1 (in process) over the compiled feed.
fn serve(config: &Path) -> (tokio::runtime::Runtime, server::Running) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let running = rt
        .block_on(server::start(ServeOptions {
            config: Config::load(config).unwrap(),
            feed_path: config.parent().unwrap().join("feed.taxii"),
            listen: Some("127.0.0.1:0".into()),
        }))
        .unwrap();
    (rt, running)
}

fn setup(records: u64) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    write_native_export(
        &dir.path().join("export.ndjson"),
        (0..records).map(|i| (i, 0)),
    );
    let config = write_config(dir.path());
    compile(&config);
    (dir, config)
}

#[test]
fn static_export_files_are_the_bytes_serve_answers() {
    let (dir, config) = setup(1_500);
    let out = dir.path().join("www");
    // With the object-by-id and versions files: they are compared too.
    let report = export_with(&config, &out, true);
    let current = export::current_generation(&out).unwrap();
    assert_eq!(current, out.join("generations").join(&report.generation));
    let all = files(&current);
    assert_eq!(
        report.files as usize,
        all.len() * 3,
        "every file has .gz and .zst"
    );

    let (rt, running) = serve(&config);
    let addr = running.local_addr;
    let auth = basic("demo", "demo-pw");
    let mut pages: BTreeMap<&str, usize> = BTreeMap::new();
    for (rel, bytes) in &all {
        let url = url_of(rel);
        let private = url.contains(IPV4);
        let headers: Vec<(&str, &str)> = if private {
            vec![("authorization", auth.as_str())]
        } else {
            vec![]
        };
        let r = rt.block_on(get(addr, &url, &headers));
        assert_eq!(r.status, 200, "{url}: {}", r.text());
        assert!(
            r.body == *bytes,
            "{rel} differs from GET {url}:\nfile:  {}\nserve: {}",
            String::from_utf8_lossy(bytes),
            r.text()
        );
        let p = current.join(rel);
        let gz = std::fs::read(format!("{}.gz", p.display())).unwrap();
        let zst = std::fs::read(format!("{}.zst", p.display())).unwrap();
        assert_eq!(gunzip(&gz), *bytes, "{rel}.gz");
        assert_eq!(zstd::decode_all(&zst[..]).unwrap(), *bytes, "{rel}.zst");
        if rel.contains("/objects/next/") || rel.ends_with("/objects/index.json") {
            *pages
                .entry(if private { "ipv4" } else { "all" })
                .or_default() += 1;
        } else if rel.ends_with("/versions/index.json") {
            *pages.entry("versions").or_default() += 1;
        }
    }
    // 1,500 records in pages of 50 (plus support objects), and the IPv4
    // share of them: both collections span several pages.
    assert!(pages["all"] >= 12, "{pages:?}");
    assert!(pages["ipv4"] >= 2, "{pages:?}");
    // One versions file per object of each collection.
    assert!(pages["versions"] >= 1_500, "{pages:?}");

    // The same feed exported again goes to a new directory (the current
    // one may be serving) made entirely of hard links.
    let again = export_with(&config, &out, true);
    assert_eq!(again.generation, report.generation);
    assert_eq!((again.linked, again.written), (again.files, 0), "{again:?}");
    let current2 = export::current_generation(&out).unwrap();
    assert_eq!(
        current2,
        out.join("generations")
            .join(format!("{}.1", report.generation))
    );
    assert!(
        current.join("taxii2/index.json").exists(),
        "the previous directory stays"
    );
    rt.block_on(running.shutdown());
}

/// The objects pages of a generation as the client sees them: walks from
/// `objects/index.json` through `next/T.json`.
fn read_page(gen: &Path, col: &str, token: Option<&str>) -> serde_json::Value {
    let dir = gen.join(format!("feeds/collections/{col}/objects"));
    let p = match token {
        None => dir.join("index.json"),
        Some(t) => dir.join(format!("next/{t}.json")),
    };
    let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_slice(&bytes).unwrap()
}

fn versions_of(page: &serde_json::Value) -> Vec<(String, String)> {
    page["objects"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|o| {
                    (
                        o["id"].as_str().unwrap().to_string(),
                        o["modified"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn static_export_regeneration_rewrites_only_changed_pages() {
    let records = 3_000u64;
    let (dir, config) = setup(records);
    let out = dir.path().join("www");
    let r1 = export_to(&config, &out);
    let gen1 = export::current_generation(&out).unwrap();
    let files1 = files(&gen1);

    // A client reads the first half of the pages from generation 1.
    let link = out.join("current");
    let mut seen: Vec<(String, String)> = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..records / PAGE as u64 / 2 {
        let page = read_page(&link, ALL, token.as_deref());
        seen.extend(versions_of(&page));
        token = page["next"].as_str().map(str::to_string);
    }
    assert!(token.is_some());

    // 1% of the records change (one in a hundred, spread over the pages).
    let changed: HashSet<u64> = (0..records).filter(|i| i % 100 == 37).collect();
    write_native_export(
        &dir.path().join("export.ndjson"),
        (0..records).map(|i| (i, u32::from(changed.contains(&i)))),
    );
    let feed1 = Feed::open(&dir.path().join("feed.taxii")).unwrap();
    compile(&config);
    let r2 = export_to(&config, &out);
    let gen2 = export::current_generation(&out).unwrap();
    assert_ne!(gen1, gen2);
    let files2 = files(&gen2);

    // Which generation-1 pages held a changed object (or were the last,
    // whose `more` flips): exactly those objects/manifest page files may
    // differ; every other page file must be a hard link with equal bytes.
    let ids1: BTreeMap<String, Vec<String>> = files1
        .iter()
        .filter(|(rel, _)| rel.contains(ALL) && rel.contains("/objects/"))
        .map(|(rel, b)| {
            let v: serde_json::Value = serde_json::from_slice(b).unwrap();
            (
                rel.clone(),
                versions_of(&v).into_iter().map(|x| x.0).collect(),
            )
        })
        .collect();
    let changed_ids: HashSet<String> = {
        let feed2 = Feed::open(&dir.path().join("feed.taxii")).unwrap();
        let (c1, c2) = (&feed1.collections()[0], &feed2.collections()[0]);
        let last1: HashSet<String> = (0..c1.len())
            .filter(|&i| c1.entry(i).last)
            .map(|i| format!("{}@{}", c1.id_of(i), c1.entry(i).version_us))
            .collect();
        (0..c2.len())
            .filter(|&i| c2.entry(i).last)
            .filter(|&i| !last1.contains(&format!("{}@{}", c2.id_of(i), c2.entry(i).version_us)))
            .map(|i| c2.id_of(i).to_string())
            .collect()
    };
    assert!(changed_ids.len() >= changed.len(), "{}", changed_ids.len());
    let (mut same_pages, mut new_pages) = (0, 0);
    for (rel, bytes) in &files2 {
        if !(rel.contains(ALL) && rel.contains("/objects/")) {
            continue;
        }
        let old = ids1.get(rel);
        let touched = old.is_none_or(|ids| {
            ids.iter().any(|id| changed_ids.contains(id))
                || serde_json::from_slice::<serde_json::Value>(&files1[rel]).unwrap()["more"]
                    == false
        });
        let linked = gen1.join(rel).metadata().is_ok_and(|m1| {
            let m2 = gen2.join(rel).metadata().unwrap();
            (m1.dev(), m1.ino()) == (m2.dev(), m2.ino())
        });
        if touched {
            new_pages += 1;
            assert!(!linked, "{rel} changed but is a link");
            assert!(
                old.is_none() || files1[rel] != *bytes,
                "{rel} expected to change"
            );
        } else {
            same_pages += 1;
            assert!(linked, "{rel} is unchanged but was rewritten");
            assert_eq!(files1[rel], *bytes);
        }
    }
    let total = same_pages + new_pages;
    eprintln!(
        "regeneration of {records} records, 1% changed: {new_pages} of {total} objects page files of the collection changed; export v1 {} files, v2 {} written + {} hard-linked",
        r1.files, r2.written, r2.linked
    );
    // 30 changed objects touch at most 30 pages, plus the old and new tail.
    assert!(new_pages <= changed.len() + 3, "{new_pages}");
    assert!(same_pages >= total - changed.len() - 3);
    assert!(r2.linked > 0, "{r2:?}");

    // The client goes on after the swap, through `current`.
    loop {
        let page = read_page(&link, ALL, token.as_deref());
        seen.extend(versions_of(&page));
        match page["next"].as_str() {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    let distinct: BTreeSet<&(String, String)> = seen.iter().collect();
    assert_eq!(distinct.len(), seen.len(), "a version was returned twice");
    let seen_ids: HashSet<&str> = seen.iter().map(|(id, _)| id.as_str()).collect();
    let feed2 = Feed::open(&dir.path().join("feed.taxii")).unwrap();
    let c2 = &feed2.collections()[0];
    let mut missing = Vec::new();
    for i in (0..c2.len()).filter(|&i| c2.entry(i).last) {
        let v: serde_json::Value = serde_json::from_slice(&c2.object_bytes(i)).unwrap();
        let key = (
            v["id"].as_str().unwrap().to_string(),
            v["modified"].as_str().unwrap_or("").to_string(),
        );
        if !distinct.contains(&key) {
            missing.push(key);
        }
    }
    assert!(missing.is_empty(), "gap: {missing:?}");
    assert!(seen_ids.len() as u64 >= records / 2);
}

/// nginx (started here, by PID) with the generated configuration.
struct Nginx {
    child: Child,
    port: u16,
    prefix: PathBuf,
}

impl Drop for Nginx {
    /// SIGTERM to the master we started (it stops its workers), then wait.
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_nginx(dir: &Path, config: &Path, out: &Path, origin: &str) -> Nginx {
    let port = free_port();
    let prefix = dir.join("nginx");
    for d in ["logs", "tmp"] {
        std::fs::create_dir_all(prefix.join(d)).unwrap();
    }
    let cfg = Config::load(config).unwrap();
    let meta = Feed::open(&dir.join("feed.taxii")).unwrap().meta().clone();
    let (text, warnings) = nginx::write(
        &cfg,
        &meta,
        &nginx::NginxOptions {
            listen: format!("127.0.0.1:{port}"),
            export_root: out.to_path_buf(),
            origin: origin.to_string(),
            htpasswd_dir: prefix.join("htpasswd"),
        },
    )
    .unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    nginx::write_conf(&prefix.join("taxii-edge.conf"), &text).unwrap();
    let p = prefix.display();
    let main = format!(
        r#"daemon off;
worker_processes 1;
pid {p}/nginx.pid;
error_log {p}/logs/error.log warn;
events {{ worker_connections 256; }}
http {{
  client_body_temp_path {p}/tmp/body;
  proxy_temp_path {p}/tmp/proxy;
  fastcgi_temp_path {p}/tmp/fastcgi;
  uwsgi_temp_path {p}/tmp/uwsgi;
  scgi_temp_path {p}/tmp/scgi;
  log_format te '$status $upstream_addr $request_uri';
  access_log {p}/logs/access.log te;
  include {p}/taxii-edge.conf;
}}
"#
    );
    std::fs::write(prefix.join("nginx.conf"), main).unwrap();
    let nginx_bin = ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("nginx is not installed: tools/test.sh installs it from Debian packages");
    let child = Command::new(nginx_bin)
        .arg("-p")
        .arg(&prefix)
        .arg("-c")
        .arg(prefix.join("nginx.conf"))
        .arg("-e")
        .arg(prefix.join("logs/error.log"))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "nginx did not start: {}",
            std::fs::read_to_string(prefix.join("logs/error.log")).unwrap_or_default()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Nginx {
        child,
        port,
        prefix,
    }
}

#[test]
fn static_export_through_nginx_reads_like_serve_with_taxii2_client() {
    let (dir, config) = setup(1_200);
    let out = dir.path().join("www");
    export_to(&config, &out);
    let (rt, running) = serve(&config);
    let origin = running.local_addr.to_string();
    let ngx = start_nginx(dir.path(), &config, &out, &origin);

    // What serve returns for each collection: every object, and those
    // added after the middle one, read with taxii2-client from the origin.
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/interop/static_client.py");
    let read = |base: &str| -> serde_json::Value {
        let o = Command::new(python())
            .arg(&script)
            .args(["--base", base, "--user", "demo", "--password", "demo-pw"])
            .args(["--collection", ALL, "--collection", IPV4])
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "static_client.py against {base}:\n{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let via_serve = read(&format!("http://{origin}/"));
    let via_nginx = read(&format!("http://127.0.0.1:{}/", ngx.port));
    assert_eq!(via_nginx, via_serve);
    for col in [ALL, IPV4] {
        let n = via_serve[col]["all"].as_array().unwrap().len();
        assert!(n > PAGE, "{col}: {n} objects");
        let after = via_serve[col]["after_middle"].as_array().unwrap().len();
        assert!(after > 0 && after < n, "{col}: {after} of {n}");
    }

    // Unfiltered pages came from files, filtered requests from the origin.
    let log = std::fs::read_to_string(ngx.prefix.join("logs/access.log")).unwrap();
    let (mut from_files, mut from_origin) = (0, 0);
    for line in log.lines() {
        let mut f = line.splitn(3, ' ');
        let (status, upstream, uri) = (f.next().unwrap(), f.next().unwrap(), f.next().unwrap());
        if uri.contains("/objects/") && status == "200" {
            if uri.contains("added_after") || uri.contains("match") {
                assert_ne!(
                    upstream, "-",
                    "{line}: a filtered request must reach the origin"
                );
                from_origin += 1;
            } else if upstream == "-" {
                from_files += 1;
            }
        }
    }
    eprintln!("through nginx: {from_files} objects pages from files, {from_origin} filtered requests from the origin");
    assert!(from_files >= 2 * (1_200 / PAGE) / 2, "{from_files}");
    assert!(from_origin >= 2, "{from_origin}");
    // Without credentials the private collection is refused by nginx.
    let r = rt.block_on(get(
        format!("127.0.0.1:{}", ngx.port).parse().unwrap(),
        &format!("/feeds/collections/{IPV4}/objects/"),
        &[],
    ));
    assert_eq!(r.status, 401);
    drop(ngx);
    rt.block_on(running.shutdown());
}

#[test]
fn default_page_etags_survive_a_regeneration_and_revalidate() {
    // A CDN revalidating an unchanged page after a regeneration gets a 304;
    // a page that changed gets a new ETag.
    let (dir, config) = setup(400);
    let (rt, running) = serve(&config);
    let addr = running.local_addr;
    let list = format!("/feeds/collections/{ALL}/objects/");
    let first = rt.block_on(get(addr, &list, &[]));
    let etag1 = first.header("etag").unwrap().to_string();
    let next = first.json()["next"].as_str().unwrap().to_string();
    let second_url = format!("{list}?next={next}");
    let second = rt.block_on(get(addr, &second_url, &[]));
    let etag2 = second.header("etag").unwrap().to_string();
    let gz = rt.block_on(get(addr, &list, &[("accept-encoding", "gzip")]));
    assert_ne!(
        gz.header("etag").unwrap(),
        etag1,
        "each coding its own ETag"
    );

    // Change the record behind the second page's first indicator.
    let ids_of = |r: &server_support::Resp| -> Vec<String> {
        versions_of(&r.json()).into_iter().map(|v| v.0).collect()
    };
    let pattern = second.json()["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|o| o["pattern"].as_str().map(str::to_string))
        .expect("an indicator on the second page");
    let target = (0..400u64)
        .find(|&i| {
            let text = synth::record_json(taxii_edge::record::Profile::Native, 11, i, 0);
            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
            v["value"]
                .as_str()
                .is_some_and(|value| pattern.contains(&format!("'{value}'")))
        })
        .expect("the record of that indicator");
    let generation = running.generation();
    write_native_export(
        &dir.path().join("export.ndjson"),
        (0..400).map(|i| (i, u32::from(i == target))),
    );
    compile(&config);
    running.reload();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while running.generation() == generation {
        assert!(std::time::Instant::now() < deadline, "no reload");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }

    let again = rt.block_on(get(addr, &list, &[("if-none-match", etag1.as_str())]));
    assert_eq!(again.status, 304, "unchanged page revalidates");
    let changed = rt.block_on(get(addr, &second_url, &[("if-none-match", etag2.as_str())]));
    assert_eq!(changed.status, 200);
    assert_ne!(changed.header("etag").unwrap(), etag2);
    assert!(!ids_of(&changed).is_empty());
    rt.block_on(running.shutdown());
}
