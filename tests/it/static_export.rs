//! `export-static` end to end on real files and sockets: every file holds
//! `serve`'s bytes for the same request; a regeneration rewrites only the
//! pages that changed (the rest are hard links into the previous
//! generation); a client paging across the `current` swap sees no
//! duplicate and no gap; nginx with the generated configuration serves
//! the export to the OASIS `taxii2-client`, sending filtered requests to
//! the origin; and nginx checks credentials before every file of a private
//! collection and every request it passes on, by asking the origin
//! (`/taxii-edge/auth`), or from htpasswd files.

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
/// (alias `ipv4`) readable by `demo` / `demo-pw`; `other` / `other-pw` is a
/// valid user who may not read it.
fn write_config(dir: &Path) -> PathBuf {
    write_config_with(dir, "demo-pw", "")
}

/// [`write_config`] with `demo`'s password and extra `[server]` lines.
fn write_config_with(dir: &Path, demo_pw: &str, server_extra: &str) -> PathBuf {
    let text = format!(
        r#"
[server]
default_page_size = {PAGE}
{server_extra}
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
alias = "ipv4"
title = "IPv4"
query = 'type = "ipv4"'
readers = ["demo"]
[[users]]
name = "demo"
password_hash = "{}"
htpasswd = "{}"
[[users]]
name = "other"
password_hash = "{}"
htpasswd = "{}"
"#,
        server::hash_password(demo_pw),
        htpasswd_hash(demo_pw),
        server::hash_password("other-pw"),
        htpasswd_hash("other-pw"),
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

fn start_nginx(
    dir: &Path,
    config: &Path,
    out: &Path,
    origin: &str,
    auth: nginx::NginxAuth,
) -> Nginx {
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
            auth,
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
    let ngx = start_nginx(dir.path(), &config, &out, &origin, nginx::NginxAuth::Origin);

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

/// nginx's access log, one `(status, upstream, uri)` per request; the
/// upstream is `-` when none answered (a file, or nginx itself).
fn log_lines(ngx: &Nginx) -> Vec<(String, String, String)> {
    let log = std::fs::read_to_string(ngx.prefix.join("logs/access.log")).unwrap_or_default();
    log.lines()
        .filter_map(|line| {
            let mut f = line.splitn(3, ' ');
            Some((
                f.next()?.to_string(),
                f.next()?.to_string(),
                f.next()?.to_string(),
            ))
        })
        .collect()
}

/// What nginx logged for `uri` after the first `before` lines. nginx
/// writes the line once the response is sent, so this waits for it (a
/// bounded wait, not a timing assertion).
fn logged_after(ngx: &Nginx, before: usize, uri: &str) -> (String, String) {
    for _ in 0..500 {
        let lines = log_lines(ngx);
        if let Some((status, upstream, _)) = lines.iter().skip(before).find(|l| l.2 == uri) {
            return (status.clone(), upstream.clone());
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!(
        "{uri} never reached nginx's access log: {:?}",
        log_lines(ngx)
    );
}

/// The same request to nginx and to `serve`.
struct Both<'a> {
    rt: &'a tokio::runtime::Runtime,
    ngx: &'a Nginx,
    origin: std::net::SocketAddr,
}

impl Both<'_> {
    fn nginx(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> server_support::Resp {
        self.nginx_logged(method, path, headers).0
    }

    /// The answer, and the `(status, upstream)` nginx logged for it.
    fn nginx_logged(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> (server_support::Resp, (String, String)) {
        let addr = format!("127.0.0.1:{}", self.ngx.port).parse().unwrap();
        let before = log_lines(self.ngx).len();
        let r = self
            .rt
            .block_on(server_support::req(addr, method, path, headers));
        (r, logged_after(self.ngx, before, path))
    }

    fn serve(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> server_support::Resp {
        self.rt
            .block_on(server_support::req(self.origin, method, path, headers))
    }

    /// nginx answers like `serve` (status, body, media type): from a file
    /// when `from_file`, else from the origin.
    fn same(&self, method: &str, path: &str, headers: &[(&str, &str)], from_file: bool) -> u16 {
        let (n, (_, upstream)) = self.nginx_logged(method, path, headers);
        let s = self.serve(method, path, headers);
        assert_eq!(
            (n.status, n.header("content-type")),
            (s.status, s.header("content-type")),
            "{method} {path} {headers:?}: nginx {} / serve {}",
            n.text(),
            s.text()
        );
        assert!(
            n.body == s.body,
            "{method} {path}: nginx {} / serve {}",
            n.text(),
            s.text()
        );
        assert_eq!(
            upstream == "-",
            from_file,
            "{method} {path}: upstream {upstream}; {:?}",
            log_lines(self.ngx)
        );
        n.status
    }

    /// nginx refuses with 401 by itself (the origin never sees the request),
    /// with `serve`'s challenge and TAXII error body.
    fn refused(&self, method: &str, path: &str, headers: &[(&str, &str)]) {
        let (n, log) = self.nginx_logged(method, path, headers);
        assert_eq!(n.status, 401, "{method} {path} {headers:?}: {}", n.text());
        assert_eq!(log, ("401".into(), "-".into()), "{path}");
        assert!(
            n.header("www-authenticate")
                .is_some_and(|v| v.starts_with("Basic ")),
            "{path}: {:?}",
            n.headers
        );
        assert_eq!(n.header("cache-control"), Some("no-store"));
        assert_eq!(n.json()["http_status"], "401", "{path}");
        assert!(n
            .header("content-type")
            .unwrap()
            .starts_with("application/"));
    }
}

#[test]
fn static_export_nginx_checks_credentials_at_the_origin() {
    // Every request nginx makes comes from 127.0.0.1 here, so the
    // failed-login throttle must allow this test's wrong passwords.
    const LENIENT: &str = "[server.login_throttle]\nmax_failures = 1000";
    let (dir, _) = setup(1_200);
    let config = write_config_with(dir.path(), "demo-pw", LENIENT);
    let out = dir.path().join("www");
    export_to(&config, &out);
    let (rt, running) = serve(&config);
    let origin = running.local_addr;
    let ngx = start_nginx(
        dir.path(),
        &config,
        &out,
        &origin.to_string(),
        nginx::NginxAuth::Origin,
    );
    let both = Both {
        rt: &rt,
        ngx: &ngx,
        origin,
    };
    let demo = basic("demo", "demo-pw");
    let good = [("authorization", demo.as_str())];
    let wrong = basic("demo", "not-the-password");
    let bad = [("authorization", wrong.as_str())];
    let other = basic("other", "other-pw");
    let not_reader = [("authorization", other.as_str())];
    let private = format!("/feeds/collections/{IPV4}/");
    let objects = format!("{private}objects/");

    // The right credentials: files, byte for byte serve's answers.
    assert_eq!(both.same("GET", &objects, &good, true), 200);
    let next = both.nginx("GET", &objects, &good).json()["next"]
        .as_str()
        .unwrap()
        .to_string();
    both.same("GET", &format!("{objects}?next={next}"), &good, true);
    both.same("GET", &private, &good, true);
    both.same("HEAD", &objects, &good, true);
    // No credentials, or wrong ones: refused at nginx, as serve refuses.
    for h in [&[][..], &bad[..]] {
        both.refused("GET", &objects, h);
        let n = both.nginx("GET", &objects, h);
        assert_eq!(n.body, both.serve("GET", &objects, h).body);
    }
    // A valid user who is not a reader gets serve's exact answer (the
    // collection is hidden from them: 404), from the origin.
    assert_eq!(both.same("GET", &objects, &not_reader, false), 404);
    both.same("GET", &private, &not_reader, false);

    // Every request nginx passes to the origin is checked at nginx first:
    // filters, `limit`, another page size, the alias, TAXII 2.0, other
    // methods, and the anonymous collection's and discovery's too.
    let filtered = format!("{objects}?added_after=2000-01-01T00:00:00Z");
    let v20 = [("accept", "application/vnd.oasis.taxii+json; version=2.0")];
    let public_filtered = format!("/feeds/collections/{ALL}/objects/?match[type]=indicator");
    let proxied: Vec<(&str, String)> = vec![
        ("GET", filtered.clone()),
        ("GET", format!("{objects}?limit=7")),
        ("GET", "/feeds/collections/ipv4/objects/".into()),
        ("GET", "/feeds/collections/ipv4/".into()),
        ("POST", objects.clone()),
        ("GET", public_filtered.clone()),
        ("GET", "/taxii/".into()),
    ];
    for (method, path) in &proxied {
        both.refused(method, path, &bad);
        // With the right credentials nginx passes them on: serve's answer.
        both.same(method, path, &good, false);
    }
    both.refused("GET", &objects, &[&bad[..], &v20[..]].concat());
    let n = both.nginx("GET", &objects, &[&bad[..], &v20[..]].concat());
    assert_eq!(
        n.header("content-type"),
        Some("application/vnd.oasis.taxii+json; version=2.0"),
        "a TAXII 2.0 client gets its media type"
    );
    // Paths nginx normalizes onto the private files are not vouched for:
    // the origin answers them as sent (404, or 401 for an object id "."),
    // with or without credentials.
    for odd in [
        format!("/feeds//collections/{IPV4}/objects/"),
        format!("/feeds/collections/{ALL}/../{IPV4}/objects/"),
        format!("/feeds/./collections/{IPV4}/objects/"),
        format!("/feeds/collections%2F{IPV4}/objects/"),
        format!("/feeds/collections/{IPV4}/objects/%2e/"),
    ] {
        for h in [&[][..], &good[..]] {
            let status = both.same("GET", &odd, h, false);
            assert!(matches!(status, 401 | 404), "{odd}: {status}");
        }
    }
    // Without credentials the anonymous collection's filtered request is
    // passed on; the private one's is refused.
    both.same("GET", &public_filtered, &[], false);
    both.refused("GET", &filtered, &[]);
    // Anonymous files need no check at all (nginx does not look at the
    // header there, serve would refuse wrong credentials).
    let public_page = format!("/feeds/collections/{ALL}/objects/");
    let (r, log) = both.nginx_logged("GET", &public_page, &bad);
    assert_eq!((r.status, log), (200, ("200".into(), "-".into())));

    // A changed password takes effect at serve's next reload, for nginx's
    // files too: nothing is cached at nginx.
    write_config_with(dir.path(), "new-pw", LENIENT);
    running.reload();
    let renewed = basic("demo", "new-pw");
    let renewed_h = [("authorization", renewed.as_str())];
    // A bounded wait for the asynchronous reload.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while both.nginx("GET", &objects, &renewed_h).status != 200 {
        assert!(std::time::Instant::now() < deadline, "no reload");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    both.refused("GET", &objects, &good);
    drop(ngx);
    rt.block_on(running.shutdown());
}

#[test]
fn auth_request_endpoint_answers_trusted_proxies_per_client_address() {
    let (dir, _) = setup(200);
    let config = write_config_with(
        dir.path(),
        "demo-pw",
        "[server.login_throttle]\nmax_failures = 2\nwindow_secs = 600",
    );
    let (rt, running) = serve(&config);
    let addr = running.local_addr;
    let objects = format!("/feeds/collections/{IPV4}/objects/?next=x");
    let demo = basic("demo", "demo-pw");
    let wrong = basic("demo", "wrong");
    let other = basic("other", "other-pw");
    let ask = |uri: &str, client: &str, auth: Option<&str>| {
        let mut h = vec![("x-original-uri", uri), ("x-real-ip", client)];
        if let Some(a) = auth {
            h.push(("authorization", a));
        }
        rt.block_on(get(addr, "/taxii-edge/auth", &h))
    };
    assert_eq!(ask(&objects, "10.0.0.1", Some(&demo)).status, 204);
    assert_eq!(
        ask("/feeds/collections/ipv4/", "10.0.0.1", Some(&demo)).status,
        204
    );
    let anon = ask(&objects, "10.0.0.1", None);
    assert_eq!(anon.status, 401);
    assert_eq!(anon.header("x-taxii-edge-status"), Some("401"));
    assert!(anon.header("www-authenticate").is_some());
    assert_eq!(ask(&objects, "10.0.0.1", Some(&other)).status, 403);
    let public = format!("/feeds/collections/{ALL}/objects/");
    assert_eq!(ask(&public, "10.0.0.1", None).status, 204);
    assert_eq!(ask("/taxii2/", "10.0.0.1", None).status, 204);
    assert_eq!(ask("/taxii2/", "10.0.0.1", Some(&other)).status, 204);

    // Failed logins count against the client nginx names, not nginx.
    for _ in 0..2 {
        let r = ask(&objects, "10.0.0.1", Some(&wrong));
        assert_eq!(
            (r.status, r.header("x-taxii-edge-status")),
            (401, Some("401"))
        );
    }
    let r = ask(&objects, "10.0.0.1", Some(&demo));
    assert_eq!(
        (r.status, r.header("x-taxii-edge-status")),
        (401, Some("429"))
    );
    assert!(r.header("retry-after").is_some());
    let body: serde_json::Value =
        serde_json::from_str(r.header("x-taxii-edge-error").unwrap()).unwrap();
    assert_eq!(body["http_status"], "429");
    assert_eq!(ask(&objects, "10.0.0.2", Some(&demo)).status, 204);

    // Without the original URI it cannot answer (a configuration error).
    let r = rt.block_on(get(addr, "/taxii-edge/auth", &[]));
    assert_eq!(r.status, 400, "{}", r.text());
    rt.block_on(running.shutdown());

    // To an address that is not a trusted proxy the endpoint does not exist.
    let config = write_config_with(dir.path(), "demo-pw", "trusted_proxies = [\"192.0.2.1\"]");
    let (rt, running) = serve(&config);
    let r = rt.block_on(get(
        running.local_addr,
        "/taxii-edge/auth",
        &[("x-original-uri", public.as_str())],
    ));
    assert_eq!(r.status, 404, "{}", r.text());
    rt.block_on(running.shutdown());
}

#[test]
fn static_export_nginx_htpasswd_checks_proxied_requests_too() {
    let (dir, config) = setup(300);
    let out = dir.path().join("www");
    export_to(&config, &out);
    let (rt, running) = serve(&config);
    let origin = running.local_addr;
    let ngx = start_nginx(
        dir.path(),
        &config,
        &out,
        &origin.to_string(),
        nginx::NginxAuth::Htpasswd,
    );
    let both = Both {
        rt: &rt,
        ngx: &ngx,
        origin,
    };
    let demo = basic("demo", "demo-pw");
    let good = [("authorization", demo.as_str())];
    let objects = format!("/feeds/collections/{IPV4}/objects/");
    assert_eq!(both.same("GET", &objects, &good, true), 200);
    // nginx's own 401 (auth_basic), before anything reaches the origin:
    // for files, for filtered requests and under the alias.
    for path in [
        objects.clone(),
        format!("{objects}?added_after=2000-01-01T00:00:00Z"),
        "/feeds/collections/ipv4/objects/".into(),
    ] {
        let (n, log) = both.nginx_logged("GET", &path, &[]);
        assert_eq!((n.status, log), (401, ("401".into(), "-".into())), "{path}");
        both.same("GET", &path, &good, path == objects);
    }
    // `other` has an htpasswd hash but is not a reader: not in the file.
    let other = basic("other", "other-pw");
    assert_eq!(
        both.nginx("GET", &objects, &[("authorization", other.as_str())])
            .status,
        401
    );
    drop(ngx);
    rt.block_on(running.shutdown());
}

#[test]
fn static_export_nginx_relays_the_failed_login_throttle() {
    let (dir, _) = setup(200);
    let config = write_config_with(
        dir.path(),
        "demo-pw",
        "[server.login_throttle]\nmax_failures = 2\nwindow_secs = 600",
    );
    let out = dir.path().join("www");
    export_to(&config, &out);
    let (rt, running) = serve(&config);
    let origin = running.local_addr;
    let ngx = start_nginx(
        dir.path(),
        &config,
        &out,
        &origin.to_string(),
        nginx::NginxAuth::Origin,
    );
    let both = Both {
        rt: &rt,
        ngx: &ngx,
        origin,
    };
    let objects = format!("/feeds/collections/{IPV4}/objects/");
    let wrong = basic("demo", "wrong");
    for _ in 0..2 {
        both.refused("GET", &objects, &[("authorization", wrong.as_str())]);
    }
    // Over the limit: serve's 429, answered by nginx (no argon2 at all).
    let demo = basic("demo", "demo-pw");
    let (r, log) = both.nginx_logged("GET", &objects, &[("authorization", demo.as_str())]);
    assert_eq!(
        (r.status, log),
        (429, ("429".into(), "-".into())),
        "{}",
        r.text()
    );
    assert!(r
        .header("retry-after")
        .is_some_and(|s| s.parse::<u64>().is_ok()));
    assert_eq!(r.json()["http_status"], "429");
    assert_eq!(
        r.header("content-type"),
        Some("application/taxii+json;version=2.1")
    );
    drop(ngx);
    rt.block_on(running.shutdown());
}
