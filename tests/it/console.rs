//! The web console (`docs/console.md`, docs/decisions.md#d68) on a real
//! server over a compiled feed: security headers on every answer, GET and
//! HEAD only, off by config, the same access as TAXII (anonymous callers
//! see the anonymous collections, each user exactly what it may read),
//! attacker-chosen values rendered as text, and preview pages that list
//! the same objects as the TAXII objects endpoint.
//!
//! [`browser`] drives headless Chromium through chromedriver with
//! tools/console/browser_check.py (docs/testing.md, "Console in a
//! browser") and writes screenshots under target/console-screenshots/.

use crate::common::compile_support::{compile_into, python};
use crate::common::server_support::{self, basic, get, hashes, req, Resp};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use taxii_edge::config::Config;
use taxii_edge::server::{self, Running, ServeOptions};

const PUBLIC: &str = "11111111-1111-4111-8111-111111111111";
const PRIVATE: &str = "22222222-2222-4222-8222-222222222222";
const SECRET: &str = "33333333-3333-4333-8333-333333333333";
const CSP: &str = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; \
                   frame-ancestors 'none'; base-uri 'none'; form-action 'self'";
/// An indicator value that would run script if it reached the page as HTML.
const XSS: &str = "<img src=x onerror=alert(1)>";

/// Public: anonymous domains; private: everything, for alice; secret: URLs,
/// for bob. `server_extra` goes at the end of `[server]`.
fn config_text(server_extra: &str) -> String {
    let (a, b, _) = hashes();
    format!(
        r#"
[server]
listen = "127.0.0.1:0"
title = "Console test"
default_page_size = 10
{server_extra}

[compile]
out = "live.taxii"
reject_threshold = 0.1

[[api_roots]]
name = "feeds"
title = "Feeds"
default = true

[[inputs]]
path = "export.ndjson"
format = "native"

[[collections]]
id = "{PUBLIC}"
alias = "public"
title = "Public domains"
query = 'type = "domain"'
anonymous = true

[[collections]]
id = "{PRIVATE}"
alias = "private"
title = "Private everything"
readers = ["alice"]
[collections.ttl]
url = 24

[[collections]]
id = "{SECRET}"
alias = "secret"
title = "Secret URLs"
query = 'type = "url"'
readers = ["bob"]

[[users]]
name = "alice"
password_hash = "{a}"

[[users]]
name = "bob"
password_hash = "{b}"
"#
    )
}

/// 40 domains, 15 URLs, one mutex whose value is markup and one invalid
/// IPv4 address.
fn export() -> String {
    let mut lines = Vec::new();
    for i in 0..40 {
        lines.push(serde_json::json!({
            "type": "domain", "value": format!("host{i}.example.org"), "owner": "SOC",
            "confidence": 50 + i, "tlp": "amber", "created": "2024-01-01T00:00:00Z",
        }));
    }
    for i in 0..15 {
        lines.push(serde_json::json!({
            "type": "url", "value": format!("http://bad{i}.example.com/x?a=1&b='2'"), "owner": "SOC",
            "confidence": 90, "created": "2024-01-02T00:00:00Z",
        }));
    }
    lines.push(serde_json::json!({
        "type": "mutex", "value": XSS, "owner": "SOC", "confidence": 10,
        "created": "2024-01-03T00:00:00Z", "description": XSS,
    }));
    // Rejected by the compile: the overview counts it by reason.
    lines.push(serde_json::json!({
        "type": "ipv4", "value": "999.1.1.1", "owner": "SOC", "created": "2024-01-03T00:00:00Z",
    }));
    lines
        .iter()
        .map(|l| l.to_string() + "\n")
        .collect::<String>()
}

/// A compiled feed served on 127.0.0.1.
struct Site {
    /// Holds the config, the export and the feed.
    _dir: tempfile::TempDir,
    /// Serves until dropped.
    _running: Running,
    addr: SocketAddr,
}

async fn site(server_extra: &str) -> Site {
    let dir = tempfile::tempdir().unwrap();
    let cfg_path = dir.path().join("taxii-edge.toml");
    std::fs::write(&cfg_path, config_text(server_extra)).unwrap();
    std::fs::write(dir.path().join("export.ndjson"), export()).unwrap();
    let feed_path = compile_into(&cfg_path, dir.path());
    let running = server::start(ServeOptions {
        config: Config::load(&cfg_path).unwrap(),
        feed_path,
        listen: Some("127.0.0.1:0".into()),
    })
    .await
    .expect("server starts");
    let addr = running.local_addr;
    Site {
        _dir: dir,
        _running: running,
        addr,
    }
}

fn alice() -> String {
    basic("alice", "alice-pw")
}

async fn as_user(addr: SocketAddr, path: &str, auth: Option<&str>) -> Resp {
    match auth {
        Some(a) => get(addr, path, &[("authorization", a)]).await,
        None => get(addr, path, &[]).await,
    }
}

fn assert_secure(r: &Resp, what: &str) {
    assert_eq!(r.header("content-security-policy"), Some(CSP), "{what}");
    assert_eq!(
        r.header("x-content-type-options"),
        Some("nosniff"),
        "{what}"
    );
    assert_eq!(r.header("referrer-policy"), Some("no-referrer"), "{what}");
    assert_eq!(r.header("cache-control"), Some("no-store"), "{what}");
}

/// The `data-id` of every element with class `class` (`collection` rows,
/// `object` rows), in page order.
fn data_ids(html: &str, class: &str) -> Vec<String> {
    let marker = format!("class=\"{class}\" data-id=\"");
    html.split(&marker)
        .skip(1)
        .map(|s| s[..s.find('"').unwrap()].to_string())
        .collect()
}

/// The `href` of the element with id `id`, `&amp;` decoded.
fn href_of(html: &str, id: &str) -> Option<String> {
    let marker = format!("id=\"{id}\" href=\"");
    let at = html.find(&marker)? + marker.len();
    let end = at + html[at..].find('"')?;
    Some(html[at..end].replace("&amp;", "&"))
}

#[tokio::test]
async fn every_answer_carries_the_security_headers_and_only_get_and_head_exist() {
    let s = site("").await;
    let a = alice();
    for path in [
        "/ui/",
        "/ui",
        "/ui/collections",
        &format!("/ui/collections/feeds/{PRIVATE}"),
        "/ui/settings",
        "/ui/assets/console.css",
        "/ui/assets/console.js",
    ] {
        let r = as_user(s.addr, path, Some(&a)).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        assert_secure(&r, path);
    }
    let r = as_user(s.addr, "/ui/", Some(&a)).await;
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    for (path, status) in [
        ("/ui/nope", 404),
        ("/ui/assets/nope.css", 404),
        (&*format!("/ui/collections/feeds/{SECRET}"), 404),
    ] {
        let r = as_user(s.addr, path, Some(&a)).await;
        assert_eq!(r.status, status, "{path}");
        assert_secure(&r, path);
    }
    for method in ["POST", "PUT", "DELETE", "PATCH"] {
        let r = req(s.addr, method, "/ui/", &[("authorization", &a)]).await;
        assert_eq!(r.status, 405, "{method}");
        assert_eq!(r.header("allow"), Some("GET, HEAD"));
        assert_secure(&r, method);
    }
    let head = req(s.addr, "HEAD", "/ui/collections", &[("authorization", &a)]).await;
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert_secure(&head, "HEAD");
    // A wrong password is a 401 with the challenge, not the anonymous view.
    let r = as_user(s.addr, "/ui/", Some(&basic("alice", "wrong"))).await;
    assert_eq!(r.status, 401);
    assert!(r.header("www-authenticate").unwrap().starts_with("Basic "));
    assert_secure(&r, "401");
}

#[tokio::test]
async fn each_caller_sees_exactly_the_collections_it_may_read() {
    let s = site("").await;
    let expect = |ids: &[&str]| ids.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    for (auth, ids) in [
        (None, expect(&[PUBLIC])),
        (Some(alice()), expect(&[PUBLIC, PRIVATE])),
        (Some(basic("bob", "bob-pw")), expect(&[PUBLIC, SECRET])),
    ] {
        let r = as_user(s.addr, "/ui/collections", auth.as_deref()).await;
        assert_eq!(r.status, 200);
        let seen: BTreeSet<String> = data_ids(&r.text(), "collection").into_iter().collect();
        assert_eq!(seen, ids, "{auth:?}");
        // The overview links the same ones, and nothing else.
        let overview = as_user(s.addr, "/ui/", auth.as_deref()).await.text();
        for id in [PUBLIC, PRIVATE, SECRET] {
            assert_eq!(
                overview.contains(&format!("/ui/collections/feeds/{id}")),
                ids.contains(id),
                "{auth:?} {id}"
            );
        }
    }
    // Anonymous: the anonymous view with a login link that challenges.
    let anon = as_user(s.addr, "/ui/", None).await.text();
    assert!(anon.contains("id=\"login\" href=\"/ui/login\""), "{anon}");
    let login = as_user(s.addr, "/ui/login", None).await;
    assert_eq!(login.status, 401);
    assert_eq!(
        login.header("www-authenticate"),
        Some("Basic realm=\"Console test\"")
    );
    let after = as_user(s.addr, "/ui/login", Some(&alice())).await;
    assert_eq!(after.status, 303);
    assert_eq!(after.header("location"), Some("/ui/"));
    // A collection the caller cannot read is a 404, like an unknown one.
    for path in [
        format!("/ui/collections/feeds/{PRIVATE}"),
        "/ui/collections/feeds/private".into(),
        "/ui/collections/feeds/99999999-9999-4999-8999-999999999999".into(),
    ] {
        assert_eq!(as_user(s.addr, &path, None).await.status, 404, "{path}");
    }
    assert!(!as_user(s.addr, "/ui/settings", None)
        .await
        .text()
        .contains("Private everything"));
}

#[tokio::test]
async fn without_anonymous_collections_the_console_challenges() {
    let text = config_text("").replace("anonymous = true", "anonymous = false\nreaders = [\"*\"]");
    let dir = tempfile::tempdir().unwrap();
    let cfg_path = dir.path().join("taxii-edge.toml");
    std::fs::write(&cfg_path, text).unwrap();
    std::fs::write(dir.path().join("export.ndjson"), export()).unwrap();
    let feed_path = compile_into(&cfg_path, dir.path());
    let running = server::start(ServeOptions {
        config: Config::load(&cfg_path).unwrap(),
        feed_path,
        listen: Some("127.0.0.1:0".into()),
    })
    .await
    .unwrap();
    let r = get(running.local_addr, "/ui/", &[]).await;
    assert_eq!(r.status, 401);
    assert!(r.header("www-authenticate").is_some());
    assert_secure(&r, "challenge");
    let r = as_user(running.local_addr, "/ui/collections", Some(&alice())).await;
    assert_eq!(
        data_ids(&r.text(), "collection").len(),
        2,
        "public (every user) and private"
    );
}

#[tokio::test]
async fn a_disabled_console_is_not_found() {
    let s = site("[server.console]\nenabled = false").await;
    for auth in [None, Some(alice())] {
        for path in ["/ui/", "/ui/assets/console.css", "/ui/login"] {
            let r = as_user(s.addr, path, auth.as_deref()).await;
            assert_eq!(r.status, 404, "{path}");
            assert!(r.header("content-security-policy").is_none());
        }
    }
    // TAXII is unchanged.
    let r = get(
        s.addr,
        &format!("/feeds/collections/{PUBLIC}/objects/"),
        &[],
    )
    .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn markup_in_values_is_rendered_as_text() {
    let s = site("").await;
    let path = format!("/ui/collections/feeds/{PRIVATE}?q=onerror");
    let r = as_user(s.addr, &path, Some(&alice())).await;
    assert_eq!(r.status, 200);
    let html = r.text();
    assert_eq!(data_ids(&html, "object").len(), 1, "{html}");
    assert!(
        html.contains("<code>&lt;img src=x onerror=alert(1)&gt;</code>"),
        "{html}"
    );
    assert!(!html.contains("<img"), "{html}");
    // The search box echoes the query as an escaped attribute value.
    let r = as_user(
        s.addr,
        &format!("/ui/collections/feeds/{PRIVATE}?q=%22%3E%3Cscript%3Ex%3C%2Fscript%3E"),
        Some(&alice()),
    )
    .await
    .text();
    assert!(!r.contains("<script>x"), "{r}");
    assert!(
        r.contains("value=\"&quot;&gt;&lt;script&gt;x&lt;/script&gt;\""),
        "{r}"
    );
}

/// Ids of the preview's rows, following `Next` from `first` (a console
/// path with its query).
async fn console_ids(addr: SocketAddr, first: &str, auth: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut next = Some(first.to_string());
    let mut pages = 0;
    while let Some(path) = next {
        let r = as_user(addr, &path, Some(auth)).await;
        assert_eq!(r.status, 200, "{path}");
        let html = r.text();
        ids.extend(data_ids(&html, "object"));
        next = href_of(&html, "next");
        pages += 1;
        assert!(pages < 1000);
    }
    ids
}

/// Ids of a TAXII objects listing (latest versions), following `next`.
async fn taxii_ids(addr: SocketAddr, col: &str, query: &str, auth: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let mut path = format!("{}?{query}", server_support::objects_path(col));
        if let Some(n) = &next {
            path.push_str(&format!("&next={n}"));
        }
        let r = get(addr, &path, &[("authorization", auth)]).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        let v = r.json();
        for o in v["objects"].as_array().into_iter().flatten() {
            ids.push(o["id"].as_str().unwrap().to_string());
        }
        match v["next"].as_str() {
            Some(n) if v["more"] == true => next = Some(n.to_string()),
            _ => return ids,
        }
    }
}

#[tokio::test]
async fn preview_pages_list_what_taxii_lists() {
    let s = site("").await;
    let a = alice();
    let base = format!("/ui/collections/feeds/{PRIVATE}");
    let taxii = taxii_ids(s.addr, PRIVATE, "limit=7", &a).await;
    assert!(taxii.len() > 56, "{}", taxii.len());
    assert_eq!(
        console_ids(s.addr, &format!("{base}?size=7"), &a).await,
        taxii
    );
    let taxii = taxii_ids(s.addr, PRIVATE, "match[type]=indicator", &a).await;
    assert_eq!(
        console_ids(s.addr, &format!("{base}?size=9&type=indicator"), &a).await,
        taxii
    );
    let markings = taxii_ids(s.addr, PRIVATE, "match[type]=marking-definition", &a).await;
    assert_eq!(
        console_ids(s.addr, &format!("{base}?type=marking-definition"), &a).await,
        markings
    );
    // page=N starts at entry (N - 1) × size.
    let all = taxii_ids(s.addr, PRIVATE, "", &a).await;
    let r = as_user(s.addr, &format!("{base}?size=5&page=3"), Some(&a)).await;
    assert_eq!(data_ids(&r.text(), "object"), all[10..15]);
    // Text search is on the indicator value, case-insensitively.
    let r = as_user(s.addr, &format!("{base}?q=BAD1"), Some(&a)).await;
    let found = data_ids(&r.text(), "object");
    assert_eq!(found.len(), 6, "bad1 and bad10..bad14");
}

#[tokio::test]
async fn the_overview_shows_the_compile_and_older_feeds_say_not_recorded() {
    let s = site("").await;
    let html = as_user(s.addr, "/ui/", Some(&alice())).await.text();
    assert!(
        html.contains("57 records read, 56 usable, 1 rejected"),
        "{html}"
    );
    assert!(html.contains("<th>Rejected because</th>"), "{html}");
    assert!(html.contains("export.ndjson"));
    // Input paths describe the server: not shown to anonymous callers.
    let anon = as_user(s.addr, "/ui/", None).await.text();
    assert!(!anon.contains("export.ndjson"), "{anon}");
    assert!(anon.contains("Log in to see what the compile read."));
    // A feed without the compile record (hand-made, as written before it
    // existed) still opens.
    let old = server_support::start_with(&server_support::spec1(), "").await;
    let html = as_user(old.addr, "/ui/", Some(&alice())).await.text();
    assert!(html.contains("Not recorded"), "{html}");
}

/// Where the browser test writes its screenshots.
fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("console-screenshots")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser() {
    for bin in ["/usr/bin/chromium", "/usr/bin/chromedriver"] {
        assert!(
            Path::new(bin).exists(),
            "{bin} is missing: tools/need-apt /usr/bin/chromium:chromium /usr/bin/chromedriver:chromium-driver (tools/test.sh runs it)"
        );
    }
    let s = site("").await;
    let shots = screenshot_dir();
    std::fs::create_dir_all(&shots).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/console/browser_check.py");
    let base = format!("http://{}", s.addr);
    let out = {
        let (base, shots) = (base.clone(), shots.clone());
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(python())
                .arg(script)
                .args(["--base", &base, "--user", "alice", "--password", "alice-pw"])
                .args(["--collection", PRIVATE, "--screenshots"])
                .arg(&shots)
                .output()
                .expect("python runs")
        })
        .await
        .unwrap()
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "browser_check.py failed:\n{stderr}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));

    // Login: the challenge first, then the credentials.
    assert_eq!(v["login"]["status"], 401, "{v}");
    let challenge = get(s.addr, "/ui/login", &[]).await;
    assert_eq!(
        challenge.header("www-authenticate"),
        Some("Basic realm=\"Console test\"")
    );
    assert_eq!(v["signed_in_as"], "alice");
    // Exactly alice's collections, with the real TAXII URLs to copy.
    let cols: BTreeSet<&str> = v["collections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(cols, BTreeSet::from([PUBLIC, PRIVATE]));
    let a = alice();
    for url in v["copy_urls"].as_array().unwrap() {
        let url = url.as_str().unwrap();
        let path = url
            .strip_prefix(&base)
            .expect("absolute URL of this server");
        assert!(path.starts_with("/feeds/collections/") && path.ends_with("/objects/"));
        let r = get(s.addr, path, &[("authorization", &a)]).await;
        assert_eq!(r.status, 200, "{url}");
    }
    assert_eq!(v["copy_urls"].as_array().unwrap().len(), 2);
    // Paging and the type filter, clicked through, list what TAXII lists.
    let strings = |k: &str| -> Vec<String> {
        v[k].as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(strings("paged"), taxii_ids(s.addr, PRIVATE, "", &a).await);
    assert_eq!(
        strings("indicators"),
        taxii_ids(s.addr, PRIVATE, "match[type]=indicator", &a).await
    );
    // Markup stays text: no element injected, no script run, a clean log.
    assert_eq!(v["xss"]["text"], XSS);
    assert_eq!(v["xss"]["injected_imgs"], 0);
    assert_eq!(v["xss"]["alert"], false);
    assert_eq!(v["console_log"], serde_json::json!([]), "{v}");
    for page in [
        "anonymous",
        "overview",
        "collections",
        "preview",
        "settings",
    ] {
        assert!(shots.join(format!("{page}.png")).exists(), "{page}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_certificate_logs_in_without_a_password() {
    use crate::common::pki;
    let dir = tempfile::tempdir().unwrap();
    let mut ca = pki::Ca::new("console test CA");
    let server = ca.server();
    let alice = ca.client("alice.client", &[], &[]);
    let extra = format!(
        "tls_cert = {:?}\ntls_key = {:?}\n[server.client_certs]\nmode = \"optional\"\nca = {:?}\n",
        pki::write(dir.path(), "server.pem", &server.cert_pem),
        pki::write(dir.path(), "server.key", &server.key_pem),
        pki::write(dir.path(), "ca.pem", &ca.pair.cert_pem),
    );
    let text = server_support::config_text(&extra).replace(
        "name = \"alice\"\n",
        "name = \"alice\"\ncert_cn = \"alice.client\"\n",
    );
    let s = server_support::start_text(&server_support::spec1(), &text).await;
    let with_cert = pki::client_config(&ca.pair.cert_pem, Some((&alice.cert_pem, &alice.key_pem)));
    let r = pki::tls_get(s.addr, with_cert, "/ui/collections", &[])
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_secure(&r, "mTLS");
    let seen: BTreeSet<String> = data_ids(&r.text(), "collection").into_iter().collect();
    assert_eq!(seen, BTreeSet::from([PUBLIC.into(), PRIVATE.into()]));
    assert!(r.text().contains("Signed in as <strong>alice</strong>"));
    // Without a certificate (optional mode): the anonymous view.
    let plain = pki::client_config(&ca.pair.cert_pem, None);
    let r = pki::tls_get(s.addr, plain, "/ui/collections", &[])
        .await
        .unwrap();
    assert_eq!(data_ids(&r.text(), "collection"), [PUBLIC]);
}
