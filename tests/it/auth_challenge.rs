//! Requests without credentials are challenged (`docs/decisions.md#d22`):
//! where logging in would show more than the anonymous view, a request with
//! no `Authorization` and no client certificate gets 401 with
//! `WWW-Authenticate: Basic realm="…"` and a TAXII error, before any 404 or
//! 405, over TAXII 2.1 and 2.0, under a `base_path` too; anonymous
//! collections keep working without credentials; `/healthz` and
//! `/metrics` stay open; certificate users are never challenged.
//!
//! The config is tests/common/server_support.rs's: `public` anonymous,
//! `private` for alice (and carol, disabled), `secret` for bob, `orphan` in
//! the feed but not in the config.

use crate::common::pki;
use crate::common::server_support;
use server_support::*;

use taxii_edge::config::Config;
use taxii_edge::feed::{ApiRootMeta, FeedSpec};

const TAXII21: &str = "application/taxii+json;version=2.1";
const TAXII20: &str = "application/vnd.oasis.taxii+json; version=2.0";
const ACC20: &str = "application/vnd.oasis.taxii+json; version=2.0";
const DEFAULT_CHALLENGE: &str = "Basic realm=\"taxii-edge\"";
/// A collection id that is in neither the feed nor the config.
const UNKNOWN: &str = "99999999-9999-4999-8999-999999999999";

/// Every collection offers TAXII 2.1 and 2.0 (so the 2.0 paths have
/// something to show a logged-in user), except `public` when `public20`
/// is false.
fn feed(public20: bool) -> FeedSpec {
    let mut sp = spec("gen-1", 5, objects(6, T0));
    for (k, c) in sp.meta.collections.iter_mut().enumerate() {
        c.taxii_versions = if k == 0 && !public20 {
            vec!["2.1".into()]
        } else {
            vec!["2.1".into(), "2.0".into()]
        };
    }
    for col in &mut sp.collections {
        add_stix20_forms(&mut col.objects);
    }
    sp
}

/// The shared config with `public` no longer anonymous.
fn no_anonymous_config(server_extra: &str) -> String {
    let text = config_text(server_extra);
    assert!(text.contains("anonymous = true\n"));
    text.replace("anonymous = true\n", "")
}

fn oid() -> String {
    objects(1, T0)[0].id.clone()
}

/// Asserts a 401 challenge: status, `WWW-Authenticate`, the TAXII error
/// body and its media type.
fn assert_challenge(r: &Resp, what: &str, media: &str, challenge: &str) {
    assert_eq!(r.status, 401, "{what}: {}", r.text());
    assert_eq!(r.header("www-authenticate"), Some(challenge), "{what}");
    assert_eq!(r.header("content-type"), Some(media), "{what}");
    let v = r.json();
    assert_eq!(v["title"], "Unauthorized", "{what}: {v}");
    assert_eq!(v["http_status"], "401", "{what}: {v}");
}

/// Every TAXII path of the test feed, 2.1 then 2.0 (`(what, method, path,
/// Accept)`), existing or not.
fn taxii_paths() -> Vec<(String, &'static str, String, Option<&'static str>)> {
    let oid = oid();
    let mut v = Vec::new();
    let mut add = |method: &'static str, path: String, accept: Option<&'static str>| {
        let what = format!("{method} {path} ({})", accept.unwrap_or("no Accept"));
        v.push((what, method, path, accept));
    };
    for (accept, c) in [
        (None, PRIVATE.to_string()),
        (None, "private".to_string()),
        (None, PUBLIC.to_string()),
        (None, ORPHAN.to_string()),
        (None, UNKNOWN.to_string()),
        (Some(ACC20), PRIVATE.to_string()),
        (Some(ACC20), UNKNOWN.to_string()),
    ] {
        let base = format!("/feeds/collections/{c}/");
        add("GET", base.clone(), accept);
        add("GET", format!("{base}objects/"), accept);
        add("GET", format!("{base}objects/?limit=1"), accept);
        add("GET", format!("{base}manifest/"), accept);
        add("GET", format!("{base}objects/{oid}/"), accept);
        if accept.is_none() {
            add("GET", format!("{base}objects/{oid}/versions/"), accept);
        }
        add("HEAD", format!("{base}objects/"), accept);
        // Write methods and a method no TAXII resource has.
        add("POST", format!("{base}objects/"), accept);
        add("DELETE", format!("{base}objects/{oid}/"), accept);
        add("PUT", format!("{base}objects/"), accept);
    }
    for accept in [None, Some(TAXII21), Some(ACC20)] {
        for p in [
            "/taxii2/",
            "/taxii2",
            "/taxii/",
            "/feeds/",
            "/feeds",
            "/feeds/collections/",
            "/feeds/status/1234/",
            "/nope/",
            "/nope/collections/",
            "/feeds/junk/",
            "/feeds/collections/x/objects/y/z/w/",
            "/",
            "/favicon.ico",
        ] {
            add("GET", p.to_string(), accept);
        }
        add("POST", "/feeds/collections/".to_string(), accept);
    }
    v
}

/// The media type of a challenge: the version the client asked for (a
/// 2.0 `Accept` anywhere, even on 2.1-only `/taxii2/`), else the path's
/// default (2.0 at `/taxii/`, 2.1 elsewhere).
fn media_of(path: &str, accept: Option<&str>) -> &'static str {
    match accept {
        Some(a) if a == ACC20 => TAXII20,
        Some(_) => TAXII21,
        None if path.starts_with("/taxii/") => TAXII20,
        None => TAXII21,
    }
}

/// No collection is anonymous: every TAXII path, existing or not, any
/// method, any version, is a 401 challenge without credentials; with them
/// nothing changes; `/healthz` and `/metrics` stay open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_anonymous_collection_challenges_every_taxii_path() {
    let s = start_text(&feed(true), &no_anonymous_config("")).await;
    let paths = taxii_paths();
    for (what, method, path, accept) in &paths {
        let h: Vec<(&str, &str)> = accept.iter().map(|a| ("accept", *a)).collect();
        let r = req(s.addr, method, path, &h).await;
        if *method == "HEAD" {
            assert_eq!(r.status, 401, "{what}");
            assert_eq!(r.header("www-authenticate"), Some(DEFAULT_CHALLENGE));
            continue;
        }
        assert_challenge(&r, what, media_of(path, *accept), DEFAULT_CHALLENGE);
        // Nothing of any collection in the answer.
        assert!(!r.text().contains("8000-0000"), "{what}: {}", r.text());
    }
    assert!(paths.len() > 100, "{}", paths.len());

    // With credentials nothing changes.
    let alice = basic("alice", "alice-pw");
    let bob = basic("bob", "bob-pw");
    let wrong = basic("alice", "wrong");
    let cases = [
        ("/taxii2/".to_string(), &alice, 200),
        ("/feeds/".to_string(), &alice, 200),
        ("/feeds/collections/".to_string(), &alice, 200),
        (objects_path(PRIVATE), &alice, 200),
        (objects_path(PRIVATE), &bob, 404),
        (objects_path(UNKNOWN), &alice, 404),
        (objects_path(PUBLIC), &alice, 404),
        ("/nope/".to_string(), &alice, 404),
        ("/feeds/junk/".to_string(), &alice, 404),
        // A wrong password: the same challenge as before.
        ("/taxii2/".to_string(), &wrong, 401),
        (objects_path(UNKNOWN), &wrong, 401),
    ];
    for (path, auth, want) in &cases {
        let r = get(s.addr, path, &[("authorization", auth.as_str())]).await;
        assert_eq!(r.status, *want, "{path} {auth}: {}", r.text());
        if *want == 401 {
            assert_challenge(&r, path, TAXII21, DEFAULT_CHALLENGE);
        }
    }
    let r = get(s.addr, "/feeds/collections/", &[("authorization", &alice)]).await;
    let listed: Vec<String> = r.json()["collections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(listed, [PRIVATE]);
    let r = get(s.addr, "/taxii/", &[("authorization", &alice)]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some(TAXII20));
    let r = get(
        s.addr,
        &objects_path(PRIVATE),
        &[("authorization", &alice), ("accept", ACC20)],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());

    // Open: /healthz and /metrics.
    let r = get(s.addr, "/healthz", &[]).await;
    assert_eq!((r.status, r.text()), (200, "ok gen-1\n".to_string()));
    let r = get(s.addr, "/metrics", &[]).await;
    assert_eq!(r.status, 200);
    assert!(r.header("www-authenticate").is_none());
    s.running.shutdown().await;
}

/// One anonymous collection: it keeps working without credentials (and
/// discovery, the api root and the collections list show it), while a
/// protected collection, one the config does not know and an unknown id
/// all answer the same 401, so their existence does not show; an api root
/// in which anonymous reads nothing is challenged, and so is TAXII 2.0
/// when no anonymous collection offers 2.0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_collection_is_served_and_the_rest_is_challenged() {
    // `secret` lives in a second api root, where nothing is anonymous.
    let mut sp = feed(false);
    sp.meta.api_roots.push(ApiRootMeta {
        name: "partners".into(),
        title: "Partners".into(),
        description: None,
        default: false,
    });
    sp.meta.collections[2].api_root = "partners".into();
    let text = config_text("").replace(
        "alias = \"secret\"\n",
        "alias = \"secret\"\napi_root = \"partners\"\n",
    ) + "\n[[api_roots]]\nname = \"partners\"\ntitle = \"Partners\"\n";
    let s = start_text(&sp, &text).await;

    // The anonymous view, as before.
    let r = get(s.addr, "/taxii2/", &[]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(get(s.addr, "/feeds/", &[]).await.status, 200);
    let r = get(s.addr, "/feeds/collections/", &[]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let listed: Vec<String> = r.json()["collections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(listed, [PUBLIC]);
    for p in [
        format!("/feeds/collections/{PUBLIC}/"),
        objects_path(PUBLIC),
        objects_path("public"),
        format!("/feeds/collections/{PUBLIC}/manifest/"),
        format!("/feeds/collections/{PUBLIC}/objects/{}/versions/", oid()),
    ] {
        let r = get(s.addr, &p, &[]).await;
        assert_eq!(r.status, 200, "{p}: {}", r.text());
    }
    // A missing object of the anonymous collection is still a 404, and a
    // path of no TAXII shape reveals nothing: 404 as before.
    let missing = "indicator--00000000-0000-4000-8000-999999999999";
    let r = get(
        s.addr,
        &format!("/feeds/collections/{PUBLIC}/objects/{missing}/"),
        &[],
    )
    .await;
    assert_eq!(r.status, 404, "{}", r.text());
    assert_eq!(get(s.addr, "/feeds/junk/", &[]).await.status, 404);
    // Write methods on the anonymous collection: as before.
    let r = req(s.addr, "POST", &objects_path(PUBLIC), &[]).await;
    assert_eq!(r.status, 403, "{}", r.text());
    let r = req(s.addr, "PUT", &objects_path(PUBLIC), &[]).await;
    assert_eq!(r.status, 405, "{}", r.text());

    // Protected, unconfigured and unknown collections, by id, alias and
    // any sub-path: one identical 401 each.
    let mut answers = std::collections::BTreeSet::new();
    for c in [
        PRIVATE, "private", SECRET, ORPHAN, "orphan", UNKNOWN, "nope",
    ] {
        for root in ["feeds", "partners"] {
            for tail in [
                "",
                "objects/",
                "manifest/",
                "objects/x/",
                "objects/x/versions/",
            ] {
                let p = format!("/{root}/collections/{c}/{tail}");
                let r = get(s.addr, &p, &[]).await;
                assert_challenge(&r, &p, TAXII21, DEFAULT_CHALLENGE);
                answers.insert(r.body.clone());
            }
            let p = format!("/{root}/collections/{c}/objects/");
            let r = req(s.addr, "POST", &p, &[]).await;
            assert_challenge(&r, &format!("POST {p}"), TAXII21, DEFAULT_CHALLENGE);
            answers.insert(r.body.clone());
        }
    }
    assert_eq!(answers.len(), 1, "the 401s differ: {answers:?}");
    // An api root where anonymous reads nothing, and an unknown one.
    for p in [
        "/partners/",
        "/partners/collections/",
        "/partners/status/1/",
        "/nope/",
        "/nope/collections/",
    ] {
        let r = get(s.addr, p, &[]).await;
        assert_challenge(&r, p, TAXII21, DEFAULT_CHALLENGE);
    }
    let bob = basic("bob", "bob-pw");
    let r = get(s.addr, "/partners/collections/", &[("authorization", &bob)]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["collections"][0]["id"], SECRET);
    let r = get(s.addr, "/nope/", &[("authorization", &bob)]).await;
    assert_eq!(r.status, 404, "{}", r.text());
    let r = get(s.addr, &objects_path(UNKNOWN), &[("authorization", &bob)]).await;
    assert_eq!(r.status, 404, "{}", r.text());

    // TAXII 2.0: `public` is 2.1 only, so anonymous reads nothing in 2.0.
    for (p, accept) in [
        ("/taxii/", None),
        ("/feeds/", Some(ACC20)),
        ("/feeds/collections/", Some(ACC20)),
    ] {
        let h: Vec<(&str, &str)> = accept.iter().map(|a| ("accept", *a)).collect();
        let r = get(s.addr, p, &h).await;
        assert_challenge(&r, p, TAXII20, DEFAULT_CHALLENGE);
    }
    let alice = basic("alice", "alice-pw");
    let r = get(s.addr, "/taxii/", &[("authorization", &alice)]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(get(s.addr, "/healthz", &[]).await.status, 200);
    s.running.shutdown().await;
}

/// The same collections list, with `public` offering 2.0 too: anonymous
/// 2.0 clients get the anonymous view, like 2.1 ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_taxii20_view_is_served_when_a_collection_offers_it() {
    let s = start_with(&feed(true), "").await;
    for (p, accept) in [
        ("/taxii/", None),
        ("/feeds/", Some(ACC20)),
        ("/feeds/collections/", Some(ACC20)),
    ] {
        let h: Vec<(&str, &str)> = accept.iter().map(|a| ("accept", *a)).collect();
        let r = get(s.addr, p, &h).await;
        assert_eq!(r.status, 200, "{p}: {}", r.text());
        assert_eq!(r.header("content-type"), Some(TAXII20), "{p}");
    }
    let r = get(s.addr, &objects_path(PRIVATE), &[("accept", ACC20)]).await;
    assert_challenge(&r, "2.0 private", TAXII20, DEFAULT_CHALLENGE);
    let r = get(s.addr, &objects_path(UNKNOWN), &[("accept", ACC20)]).await;
    assert_challenge(&r, "2.0 unknown", TAXII20, DEFAULT_CHALLENGE);
    s.running.shutdown().await;
}

/// `server.realm`, else `server.title`, names the realm of every 401 (the
/// challenge and a wrong password alike), escaped as a quoted-string; a
/// `base_path` moves the challenged paths, and paths outside it stay 404.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn realm_is_configurable_and_base_path_is_honoured() {
    let text = no_anonymous_config("title = \"ACME \\\"threat\\\" feeds\"\nbase_path = \"/edge/\"");
    let s = start_text(&feed(true), &text).await;
    let want = "Basic realm=\"ACME \\\"threat\\\" feeds\"";
    for p in [
        "/edge/taxii2/",
        "/edge/taxii/",
        "/edge/feeds/collections/",
        "/edge/",
        "/edge",
    ] {
        let r = get(s.addr, p, &[]).await;
        assert_challenge(&r, p, media_of(&p.replace("/edge", ""), None), want);
    }
    let r = get(
        s.addr,
        "/edge/taxii2/",
        &[("authorization", &basic("bob", "x"))],
    )
    .await;
    assert_challenge(&r, "wrong password", TAXII21, want);
    for p in ["/taxii2/", "/feeds/collections/", "/favicon.ico"] {
        let r = get(s.addr, p, &[]).await;
        assert_eq!(r.status, 404, "{p} is outside base_path: {}", r.text());
    }
    assert_eq!(get(s.addr, "/healthz", &[]).await.status, 200);
    let r = get(
        s.addr,
        "/edge/taxii2/",
        &[("authorization", &basic("bob", "bob-pw"))],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    s.running.shutdown().await;

    let text = no_anonymous_config("title = \"Flux de menaces é\"\nrealm = \"Threat feeds\"");
    let s = start_text(&feed(true), &text).await;
    let r = get(s.addr, "/taxii2/", &[]).await;
    assert_challenge(&r, "realm", TAXII21, "Basic realm=\"Threat feeds\"");
    s.running.shutdown().await;

    // A title that is not plain ASCII is not a realm: the default.
    let text = no_anonymous_config("title = \"Flux de menaces é\"");
    let s = start_text(&feed(true), &text).await;
    let r = get(s.addr, "/taxii2/", &[]).await;
    assert_challenge(&r, "non-ASCII title", TAXII21, DEFAULT_CHALLENGE);
    s.running.shutdown().await;

    // An explicit realm must be printable ASCII: a config error naming it.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("c.toml");
    std::fs::write(&p, no_anonymous_config("realm = \"a\\nb\"")).unwrap();
    let err = Config::load(&p).unwrap_err().to_string();
    assert!(err.contains("server.realm"), "{err}");
}

/// A server without users, or whose every collection is anonymous, has
/// nothing more to show a logged-in user: it never challenges, and
/// unknown paths stay 404.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_to_log_in_for_means_no_challenge() {
    // Every configured collection anonymous.
    let text = config_text("")
        .replace("readers = [\"alice\", \"carol\"]", "anonymous = true")
        .replace("readers = [\"bob\"]", "anonymous = true");
    let s = start_text(&feed(true), &text).await;
    for (p, want) in [
        ("/taxii2/", 200),
        ("/feeds/collections/", 200),
        ("/nope/", 404),
        (
            "/feeds/collections/99999999-9999-4999-8999-999999999999/",
            404,
        ),
        // In the feed, not in the config: nobody reads it, logged in or not.
        (
            "/feeds/collections/44444444-4444-4444-8444-444444444444/",
            404,
        ),
    ] {
        let r = get(s.addr, p, &[]).await;
        assert_eq!(r.status, want, "{p}: {}", r.text());
    }
    s.running.shutdown().await;
    // No users at all.
    let text = no_anonymous_config("");
    let cut = text.find("[[users]]").unwrap();
    let text = text[..cut]
        .replace("readers = [\"alice\", \"carol\"]\n", "")
        .replace("readers = [\"bob\"]\n", "");
    let s = start_text(&feed(true), &text).await;
    for (p, want) in [
        ("/taxii2/", 200),
        ("/feeds/collections/", 200),
        ("/nope/", 404),
    ] {
        let r = get(s.addr, p, &[]).await;
        assert_eq!(r.status, want, "{p}: {}", r.text());
    }
    assert_eq!(get(s.addr, &objects_path(PRIVATE), &[]).await.status, 404);
    s.running.shutdown().await;
}

/// A client certificate that maps to a user is a login: never challenged,
/// even where no collection is anonymous; without one, a client on the
/// same `optional` listener is challenged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_users_are_never_challenged() {
    use pki::*;
    let dir = tempfile::tempdir().unwrap();
    let mut ca = Ca::new("taxii-edge test CA");
    let server = ca.server();
    let alice = ca.client("alice.client", &[], &[]);
    let extra =
        format!(
        "tls_cert = {:?}\ntls_key = {:?}\n[server.client_certs]\nmode = \"optional\"\nca = {:?}\n",
        write(dir.path(), "server.pem", &server.cert_pem).display().to_string(),
        write(dir.path(), "server.key", &server.key_pem).display().to_string(),
        write(dir.path(), "ca.pem", &ca.pair.cert_pem).display().to_string(),
    );
    let text = no_anonymous_config(&extra).replace(
        "name = \"alice\"\n",
        "name = \"alice\"\ncert_cn = \"alice.client\"\n",
    );
    let s = start_text(&feed(true), &text).await;
    let ca_pem = &ca.pair.cert_pem;
    let with_cert = || client_config(ca_pem, Some((&alice.cert_pem, &alice.key_pem)));
    for (p, want) in [
        ("/taxii2/", 200),
        ("/feeds/collections/", 200),
        ("/nope/", 404),
        (
            "/feeds/collections/99999999-9999-4999-8999-999999999999/",
            404,
        ),
    ] {
        let r = tls_get(s.addr, with_cert(), p, &[]).await.unwrap();
        assert_eq!(r.status, want, "{p}: {}", r.text());
    }
    let r = tls_get(s.addr, with_cert(), &objects_path(PRIVATE), &[])
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let r = tls_get(s.addr, client_config(ca_pem, None), "/taxii2/", &[])
        .await
        .unwrap();
    assert_challenge(&r, "no certificate", TAXII21, DEFAULT_CHALLENGE);
    s.running.shutdown().await;
}
