//! The TAXII 2.1 read API over real sockets: every endpoint, filter,
//! status code and header, and docs/decisions.md#d1–#d8, #d13 and #d14.

use crate::common::gunzip;
use crate::common::server_support;
use server_support::*;
use taxii_edge::feed::ObjectVersion;

const PAGE: u32 = 5;
const N: u32 = 23;

fn objs() -> Vec<ObjectVersion> {
    objects(N, T0)
}

/// `id modified` of the entries matching `pred`, in date_added order; `last`
/// is true for the latest version of each id.
fn model(objs: &[ObjectVersion], pred: impl Fn(&ObjectVersion, bool, bool) -> bool) -> Vec<String> {
    let mut v: Vec<&ObjectVersion> = objs.iter().collect();
    v.sort_by_key(|o| o.date_added_us);
    v.iter()
        .filter(|o| {
            let max = objs
                .iter()
                .filter(|p| p.id == o.id)
                .map(|p| p.version_us)
                .max()
                .unwrap();
            let min = objs
                .iter()
                .filter(|p| p.id == o.id)
                .map(|p| p.version_us)
                .min()
                .unwrap();
            pred(o, o.version_us == min, o.version_us == max)
        })
        .map(|o| format!("{} {}", o.id, taxii_edge::time::fmt_ms(o.version_us)))
        .collect()
}

fn lasts() -> Vec<String> {
    model(&objs(), |_, _, last| last)
}

async fn server() -> TestServer {
    start_with(&spec("gen-1", PAGE, objs()), "").await
}

const TAXII: &str = "application/taxii+json;version=2.1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_api_root_collections() {
    let s = server().await;
    let r = get(s.addr, "/taxii2/", &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some(TAXII));
    assert_eq!(
        r.json(),
        serde_json::json!({"title":"Test feed","description":"for tests","default":"/feeds/","api_roots":["/feeds/"]})
    );
    // Trailing slash optional.
    assert_eq!(get(s.addr, "/taxii2", &[]).await.status, 200);

    let r = get(s.addr, "/feeds/", &[]).await;
    assert_eq!(
        r.json(),
        serde_json::json!({"title":"Feeds","versions":[TAXII],"max_content_length":65536})
    );
    // An unknown api root: 404 for a logged-in caller; without
    // credentials the challenge, as anonymous reads nothing there
    // (docs/decisions.md#d22).
    let alice = basic("alice", "alice-pw");
    let r = get(s.addr, "/nope/", &[("authorization", &alice)]).await;
    assert_eq!(r.status, 404);
    assert_eq!(get(s.addr, "/nope/", &[]).await.status, 401);

    // Anonymous: only the anonymous collection (unreadable ones hidden by default).
    let r = get(s.addr, "/feeds/collections/", &[]).await;
    let cols = r.json()["collections"].as_array().unwrap().clone();
    assert_eq!(cols.len(), 1);
    assert_eq!(
        cols[0],
        serde_json::json!({"id":PUBLIC,"title":"Public","description":"the public one","alias":"public",
            "can_read":true,"can_write":false,"media_types":["application/stix+json;version=2.1"]})
    );
    let r = get(s.addr, "/feeds/collections", &[("authorization", &alice)]).await;
    let ids: Vec<String> = r.json()["collections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, vec![PUBLIC, PRIVATE]);

    // By id and by alias.
    let r = get(s.addr, &format!("/feeds/collections/{PUBLIC}/"), &[]).await;
    assert_eq!(r.json()["id"], PUBLIC);
    let r = get(s.addr, "/feeds/collections/public", &[]).await;
    assert_eq!(r.json()["id"], PUBLIC);
    let r = get(
        s.addr,
        "/feeds/collections/nope/",
        &[("authorization", &alice)],
    )
    .await;
    assert_eq!(r.status, 404);
    // Without credentials an unknown collection is indistinguishable from
    // a protected one (docs/decisions.md#d22).
    assert_eq!(
        get(s.addr, "/feeds/collections/nope/", &[]).await.status,
        401
    );

    // Status: we have none.
    let r = get(
        s.addr,
        "/feeds/status/2d086da7-4bdc-4f91-900e-d77486753710/",
        &[],
    )
    .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.header("content-type"), Some(TAXII));
    assert_eq!(r.json()["http_status"], "404");
    assert_eq!(get(s.addr, "/", &[]).await.status, 404);
    s.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_with_any_limit_returns_everything_once() {
    let s = server().await;
    let path = objects_path(PUBLIC);
    let want = lasts();
    assert_eq!(want.len(), N as usize);
    for limit in [1u32, 2, 5, 7, 23, 100] {
        let q = format!("limit={limit}");
        let (got, pages) = page_all(s.addr, &path, &q, &[], "objects").await;
        assert_eq!(got, want, "limit {limit}");
        assert_eq!(
            pages,
            (N as usize).div_ceil(limit as usize),
            "limit {limit}"
        );
    }
    // Default page size.
    let (got, pages) = page_all(s.addr, &path, "", &[], "objects").await;
    assert_eq!(got, want);
    assert_eq!(pages, 5);

    // Manifest pages the same way.
    let (got, _) = page_all(
        s.addr,
        &format!("/feeds/collections/{PUBLIC}/manifest/"),
        "limit=4",
        &[],
        "objects",
    )
    .await;
    let want_manifest: Vec<String> = want.clone();
    assert_eq!(got, want_manifest);

    // `next` alone (Elastic): the token carries filters and limit.
    let all_indicators = model(&objs(), |o, _, last| last && &*o.stix_type == "indicator");
    let first = get(
        s.addr,
        &format!("{path}?limit=3&match%5Btype%5D=indicator"),
        &[],
    )
    .await;
    let mut v = first.json();
    let mut got: Vec<String> = Vec::new();
    let mut sizes = Vec::new();
    loop {
        let objs = v["objects"].as_array().unwrap();
        sizes.push(objs.len());
        for o in objs {
            assert_eq!(o["type"], "indicator");
            got.push(format!(
                "{} {}",
                o["id"].as_str().unwrap(),
                o["modified"].as_str().unwrap()
            ));
        }
        if v["more"] != true {
            break;
        }
        let next = v["next"].as_str().unwrap().to_string();
        let r = get(s.addr, &format!("{path}?next={next}"), &[]).await;
        assert_eq!(r.status, 200, "{}", r.text());
        v = r.json();
    }
    assert_eq!(got, all_indicators);
    assert!(
        sizes[..sizes.len() - 1].iter().all(|&n| n == 3),
        "{sizes:?}"
    );
    s.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn precompressed_default_pages_equal_uncompressed() {
    let s = server().await;
    for endpoint in ["objects", "manifest"] {
        let path = format!("/feeds/collections/{PUBLIC}/{endpoint}/");
        let mut next: Option<String> = None;
        let mut pages = 0;
        loop {
            let url = match &next {
                None => path.clone(),
                Some(n) => format!("{path}?next={n}"),
            };
            let plain = get(s.addr, &url, &[("accept-encoding", "identity")]).await;
            assert_eq!(plain.status, 200);
            assert_eq!(plain.header("content-encoding"), None);
            let gz = get(s.addr, &url, &[("accept-encoding", "gzip, deflate")]).await;
            assert_eq!(gz.header("content-encoding"), Some("gzip"), "{url}");
            assert_eq!(gunzip(&gz.body), plain.body);
            let zs = get(s.addr, &url, &[("accept-encoding", "zstd, gzip")]).await;
            assert_eq!(zs.header("content-encoding"), Some("zstd"));
            assert_eq!(zstd::decode_all(&zs.body[..]).unwrap(), plain.body);
            let refused = get(s.addr, &url, &[("accept-encoding", "gzip;q=0")]).await;
            assert_eq!(refused.header("content-encoding"), None);
            let tags = [plain.header("etag"), gz.header("etag"), zs.header("etag")];
            assert!(
                tags[0] != tags[1] && tags[1] != tags[2] && tags[0] != tags[2],
                "{tags:?}"
            );
            assert_eq!(
                gz.header("vary"),
                Some("Accept, Accept-Encoding, Authorization")
            );
            pages += 1;
            let v = plain.json();
            // `limit` = page size explicitly gives the same bytes.
            if next.is_none() {
                let explicit = get(s.addr, &format!("{path}?limit={PAGE}"), &[]).await;
                assert_eq!(explicit.body, plain.body);
            }
            if v["more"] == true {
                next = Some(v["next"].as_str().unwrap().to_string());
            } else {
                break;
            }
        }
        assert_eq!(pages, 5);
    }
    // A filtered request has no stored copy: it is compressed on the fly
    // (tests/content_coding.rs covers that path).
    let url = format!("{}?match[type]=indicator&limit=20", objects_path(PUBLIC));
    let plain = get(s.addr, &url, &[]).await;
    let r = get(s.addr, &url, &[("accept-encoding", "gzip")]).await;
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert_eq!(gunzip(&r.body), plain.body);
    s.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_and_their_errors() {
    let s = server().await;
    let path = objects_path(PUBLIC);
    let all = objs();
    let list = |r: &Resp| -> Vec<String> {
        let v = r.json();
        match v.get("objects") {
            None => Vec::new(),
            Some(a) => a
                .as_array()
                .unwrap()
                .iter()
                .map(|o| {
                    format!(
                        "{} {}",
                        o["id"].as_str().unwrap(),
                        o["modified"].as_str().unwrap()
                    )
                })
                .collect(),
        }
    };
    let q = |query: &str| format!("{path}?limit=1000&{query}");

    // added_after: strictly later, on date_added; several spellings.
    let mut sorted = all.clone();
    sorted.sort_by_key(|o| o.date_added_us);
    let cut = sorted[9].date_added_us;
    let want = model(&all, |o, _, last| last && o.date_added_us > cut);
    let us = taxii_edge::time::fmt_us(cut);
    let r = get(s.addr, &q(&format!("added_after={us}")), &[]).await;
    assert_eq!(list(&r), want);
    assert_eq!(
        r.header("x-taxii-date-added-first"),
        Some(taxii_edge::time::fmt_us(cut + 1_000_000).as_str())
    );
    assert_eq!(
        r.header("x-taxii-date-added-last"),
        Some(taxii_edge::time::fmt_us(sorted.last().unwrap().date_added_us).as_str())
    );
    let plus = us.replace('Z', "%2B00:00");
    assert_eq!(
        list(&get(s.addr, &q(&format!("added_after={plus}")), &[]).await),
        want
    );
    let plus_raw = us.replace('Z', "+00:00");
    assert_eq!(
        list(&get(s.addr, &q(&format!("added_after={plus_raw}")), &[]).await),
        want
    );
    let nanos = us.replace('Z', "999Z");
    assert_eq!(
        list(&get(s.addr, &q(&format!("added_after={nanos}")), &[]).await),
        want
    );
    let secs = taxii_edge::time::fmt_us(cut).replace(".000000Z", "Z");
    assert_eq!(
        list(&get(s.addr, &q(&format!("added_after={secs}")), &[]).await),
        want
    );

    // match[type], match[id] (OR within, AND across), encoded names.
    let want = model(&all, |o, _, last| last && &*o.stix_type == "malware");
    assert_eq!(
        list(&get(s.addr, &q("match%5Btype%5D=malware"), &[]).await),
        want
    );
    let both = model(&all, |_, _, last| last);
    assert_eq!(
        list(&get(s.addr, &q("match[type]=malware%2Cindicator"), &[]).await),
        both
    );
    let id0 = &all[0].id;
    let id5 = &all[5].id;
    let want = model(&all, |o, _, last| last && (o.id == *id0 || o.id == *id5));
    assert_eq!(
        list(&get(s.addr, &q(&format!("match[id]={id0},{id5}")), &[]).await),
        want
    );
    let want = model(&all, |o, _, last| {
        last && o.id == *id5 && &*o.stix_type == "malware"
    });
    assert_eq!(
        list(
            &get(
                s.addr,
                &q(&format!("match[id]={id0},{id5}&match[type]=malware")),
                &[]
            )
            .await
        ),
        want
    );

    // match[version]: all, first, last, a timestamp, lists.
    let want = model(&all, |_, _, _| true);
    assert_eq!(
        list(&get(s.addr, &q("match[version]=all"), &[]).await),
        want
    );
    let want = model(&all, |_, first, _| first);
    assert_eq!(
        list(&get(s.addr, &q("match[version]=first"), &[]).await),
        want
    );
    let v2 = taxii_edge::time::fmt_ms(T0 + 2_000_000);
    let want = model(&all, |o, _, _| o.version_us == T0 + 2_000_000);
    assert_eq!(want.len(), 6);
    assert_eq!(
        list(&get(s.addr, &q(&format!("match[version]={v2}")), &[]).await),
        want
    );
    let want = model(&all, |o, first, _| first || o.version_us == T0 + 2_000_000);
    assert_eq!(
        list(&get(s.addr, &q(&format!("match[version]=first,{v2}")), &[]).await),
        want
    );

    // match[spec_version].
    assert_eq!(
        list(&get(s.addr, &q("match[spec_version]=2.1"), &[]).await),
        model(&all, |_, _, l| l)
    );
    let r = get(s.addr, &q("match[spec_version]=2.0"), &[]).await;
    assert_eq!(r.body, b"{}");

    // docs/decisions.md#d1 and #d2: empty → {}, headers echo added_after or are absent.
    let r = get(s.addr, &q("added_after=2099-01-01T00:00:00.1234567Z"), &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"{}");
    assert_eq!(
        r.header("x-taxii-date-added-first"),
        Some("2099-01-01T00:00:00.123456Z")
    );
    assert_eq!(
        r.header("x-taxii-date-added-last"),
        Some("2099-01-01T00:00:00.123456Z")
    );
    let r = get(s.addr, &q("match[type]=campaign"), &[]).await;
    assert_eq!(r.body, b"{}");
    assert_eq!(r.header("x-taxii-date-added-first"), None);

    // Unknown parameters are ignored.
    assert_eq!(
        list(&get(s.addr, &q("foo=1&foo=2&match[bogus]=x"), &[]).await),
        model(&all, |_, _, l| l)
    );

    // Limit clamps to max_page_size (1000 here) silently; bad values are 400s.
    for bad in [
        "limit=0",
        "limit=-1",
        "limit=abc",
        "match[type]=a&match[type]=b",
        "match%5Btype%5D=a&match[type]=b",
        "added_after=yesterday",
        "added_after=2024-01-01T00:00:00+02:00",
        "match[version]=newest",
        "match[spec_version]=3.0",
        "match[type]=%zz",
        "match[type]=%C3%28",
        "next=garbage",
    ] {
        let r = get(s.addr, &format!("{path}?{bad}"), &[]).await;
        assert_eq!(r.status, 400, "{bad}: {}", r.text());
        assert_eq!(r.header("content-type"), Some(TAXII), "{bad}");
        let v = r.json();
        assert!(v["title"].is_string(), "{bad}");
        assert_eq!(v["http_status"], "400");
    }
    s.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_checked() {
    let s = server().await;
    let path = objects_path(PUBLIC);
    let alice = basic("alice", "alice-pw");
    let r = get(
        s.addr,
        &format!("{path}?limit=2&match[type]=indicator"),
        &[],
    )
    .await;
    let v = r.json();
    assert_eq!(v["more"], true);
    let next = v["next"].as_str().unwrap().to_string();
    // Same filters again: fine; different: 400 ProcessingError; changed limit: fine.
    let r = get(
        s.addr,
        &format!("{path}?match[type]=indicator&next={next}"),
        &[],
    )
    .await;
    assert_eq!(r.status, 200);
    let r = get(
        s.addr,
        &format!("{path}?match[type]=malware&next={next}"),
        &[],
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["title"], "ProcessingError");
    let r = get(s.addr, &format!("{path}?limit=4&next={next}"), &[]).await;
    assert_eq!(r.json()["objects"].as_array().unwrap().len(), 4);

    // Tampered: flip one character.
    let mut t: Vec<u8> = next.clone().into_bytes();
    let i = t.len() / 2;
    t[i] = if t[i] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(t).unwrap();
    let r = get(s.addr, &format!("{path}?next={tampered}"), &[]).await;
    assert_eq!(r.status, 400);

    // Another endpoint or collection: 400.
    let r = get(
        s.addr,
        &format!("/feeds/collections/{PUBLIC}/manifest/?next={next}"),
        &[],
    )
    .await;
    assert_eq!(r.status, 400);
    let r = get(
        s.addr,
        &format!("{}?next={next}", objects_path(PRIVATE)),
        &[("authorization", &alice)],
    )
    .await;
    assert_eq!(r.status, 400);
    // Alias and id route to the same collection: the token still fits.
    let r = get(
        s.addr,
        &format!("/feeds/collections/public/objects/?next={next}"),
        &[],
    )
    .await;
    assert_eq!(r.status, 200);

    // Authorization is re-checked on every use: a private token is useless anonymously.
    let r = get(
        s.addr,
        &format!("{}?limit=1", objects_path(PRIVATE)),
        &[("authorization", &alice)],
    )
    .await;
    let pnext = r.json()["next"].as_str().unwrap().to_string();
    let r = get(
        s.addr,
        &format!("{}?next={pnext}", objects_path(PRIVATE)),
        &[],
    )
    .await;
    assert_eq!(r.status, 401);
    let bob = basic("bob", "bob-pw");
    let r = get(
        s.addr,
        &format!("{}?next={pnext}", objects_path(PRIVATE)),
        &[("authorization", &bob)],
    )
    .await;
    assert_eq!(r.status, 404);
    s.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn negotiation_head_etag_cache_headers() {
    let s = server().await;
    let path = objects_path(PUBLIC);
    for ok in [
        None,
        Some("application/taxii+json;version=2.1"),
        Some("application/taxii+json; version=\"2.1\""),
        Some("application/taxii+json"),
        Some("*/*"),
        Some("application/*"),
        Some("text/html, application/taxii+json;version=2.1;q=0.5"),
    ] {
        let h: Vec<(&str, &str)> = ok.iter().map(|v| ("accept", *v)).collect();
        let r = get(s.addr, &path, &h).await;
        assert_eq!(r.status, 200, "{ok:?}");
        assert_eq!(r.header("content-type"), Some(TAXII));
    }
    for bad in [
        "application/json",
        "application/taxii+json;version=2.0",
        "text/html",
    ] {
        let r = get(s.addr, &path, &[("accept", bad)]).await;
        assert_eq!(r.status, 406, "{bad}");
        assert_eq!(r.header("content-type"), Some(TAXII));
        assert_eq!(r.json()["http_status"], "406");
    }

    let g = get(s.addr, &path, &[]).await;
    assert_eq!(g.header("cache-control"), Some("public, max-age=60"));
    assert_eq!(
        g.header("vary"),
        Some("Accept, Accept-Encoding, Authorization")
    );
    let etag = g.header("etag").unwrap().to_string();
    assert!(etag.starts_with('"') && etag.ends_with('"'));
    let h = req(s.addr, "HEAD", &path, &[]).await;
    assert_eq!(h.status, 200);
    assert!(h.body.is_empty());
    assert_eq!(
        h.header("content-length"),
        Some(g.body.len().to_string().as_str())
    );
    assert_eq!(h.header("etag"), Some(etag.as_str()));
    assert_eq!(
        h.header("x-taxii-date-added-first"),
        g.header("x-taxii-date-added-first")
    );

    let r = get(s.addr, &path, &[("if-none-match", &etag)]).await;
    assert_eq!(r.status, 304);
    assert!(r.body.is_empty());
    assert_eq!(r.header("etag"), Some(etag.as_str()));
    let r = get(s.addr, &path, &[("if-none-match", "\"other\"")]).await;
    assert_eq!(r.status, 200);
    // Another request has another ETag.
    let r = get(s.addr, &format!("{path}?limit=2"), &[]).await;
    assert_ne!(r.header("etag"), Some(etag.as_str()));

    let alice = basic("alice", "alice-pw");
    let r = get(s.addr, &objects_path(PRIVATE), &[("authorization", &alice)]).await;
    assert_eq!(r.header("cache-control"), Some("private"));

    // Request heads beyond server.max_header_bytes (16 KiB) are refused.
    let big = "x".repeat(20 * 1024);
    let r = get(s.addr, &path, &[("x-big", &big)]).await;
    assert_eq!(r.status, 431);
    s.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_matrix() {
    let s = server().await;
    let alice = basic("alice", "alice-pw");
    let bob = basic("bob", "bob-pw");
    let carol = basic("carol", "carol-pw");
    let wrong = basic("alice", "nope");
    let ghost = basic("ghost", "x");
    let cases: &[(&str, Option<&str>, u16)] = &[
        (PUBLIC, None, 200),
        (PUBLIC, Some(&alice), 200),
        (PUBLIC, Some(&wrong), 401),
        (PRIVATE, None, 401),
        (PRIVATE, Some(&alice), 200),
        (PRIVATE, Some(&bob), 404),
        (PRIVATE, Some(&carol), 401),
        (PRIVATE, Some(&ghost), 401),
        (PRIVATE, Some("Bearer abc"), 401),
        (SECRET, Some(&bob), 200),
        (SECRET, Some(&alice), 404),
        // In the feed but not in the config: nobody.
        (ORPHAN, Some(&alice), 404),
        // Without credentials it answers like a protected or unknown
        // collection (docs/decisions.md#d22).
        (ORPHAN, None, 401),
    ];
    for (col, auth, want) in cases {
        let h: Vec<(&str, &str)> = auth.iter().map(|a| ("authorization", *a)).collect();
        let r = get(s.addr, &objects_path(col), &h).await;
        assert_eq!(r.status, *want, "{col} {auth:?}: {}", r.text());
        if *want == 401 {
            assert_eq!(
                r.header("www-authenticate"),
                Some("Basic realm=\"taxii-edge\"")
            );
            assert_eq!(r.header("content-type"), Some(TAXII));
        }
    }
    // Cached credentials keep working; a wrong password never hits the cache.
    for _ in 0..3 {
        assert_eq!(
            get(s.addr, &objects_path(PRIVATE), &[("authorization", &alice)])
                .await
                .status,
            200
        );
    }
    assert_eq!(
        get(s.addr, "/taxii2/", &[("authorization", &wrong)])
            .await
            .status,
        401
    );
    s.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_methods_and_other_methods() {
    let s = server().await;
    let alice = basic("alice", "alice-pw");
    let oid = objs()[0].id.clone();
    let r = req(s.addr, "POST", &objects_path(PUBLIC), &[]).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.header("content-type"), Some(TAXII));
    let r = req(
        s.addr,
        "POST",
        &objects_path(SECRET),
        &[("authorization", &alice)],
    )
    .await;
    assert_eq!(r.status, 404);
    let r = req(s.addr, "POST", &objects_path(PRIVATE), &[]).await;
    assert_eq!(r.status, 401);
    let r = req(
        s.addr,
        "DELETE",
        &format!("{}{oid}/", objects_path(PUBLIC)),
        &[],
    )
    .await;
    assert_eq!(r.status, 403);
    let r = req(
        s.addr,
        "DELETE",
        &format!("{}{oid}/", objects_path(SECRET)),
        &[("authorization", &alice)],
    )
    .await;
    assert_eq!(r.status, 404);
    let r = req(s.addr, "PUT", &objects_path(PUBLIC), &[]).await;
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, HEAD, POST"));
    assert_eq!(r.json()["http_status"], "405");
    let r = req(s.addr, "POST", "/feeds/collections/", &[]).await;
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, HEAD"));
    let r = req(s.addr, "DELETE", &objects_path(PUBLIC), &[]).await;
    assert_eq!(r.status, 405);
    let r = req(
        s.addr,
        "POST",
        &format!("{}{oid}/", objects_path(PUBLIC)),
        &[],
    )
    .await;
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, HEAD, DELETE"));
    s.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_versions_and_manifest() {
    let s = server().await;
    let all = objs();
    let id = all[4].id.clone(); // two versions
    let base = format!("{}{id}/", objects_path(PUBLIC));
    let v1 = taxii_edge::time::fmt_ms(T0 + 1_000_000);
    let v2 = taxii_edge::time::fmt_ms(T0 + 2_000_000);

    let r = get(s.addr, &base, &[]).await;
    let v = r.json();
    assert_eq!(v["more"], false);
    let o = v["objects"].as_array().unwrap();
    assert_eq!(o.len(), 1);
    assert_eq!(o[0]["modified"], v2);
    let r = get(s.addr, &format!("{base}?match[version]=all"), &[]).await;
    let mods: Vec<_> = r.json()["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["modified"].clone())
        .collect();
    assert_eq!(mods, vec![v1.clone(), v2.clone()]);
    // Paged one at a time.
    let (got, pages) = page_all(s.addr, &base, "match[version]=all&limit=1", &[], "objects").await;
    assert_eq!(got, vec![format!("{id} {v1}"), format!("{id} {v2}")]);
    assert_eq!(pages, 2);
    let r = get(s.addr, &format!("{base}?match[version]=first"), &[]).await;
    assert_eq!(r.json()["objects"][0]["modified"], v1);
    // Filters the object endpoint does not support are ignored.
    let r = get(s.addr, &format!("{base}?match[type]=malware"), &[]).await;
    assert_eq!(r.json()["objects"].as_array().unwrap().len(), 1);
    // Nothing left after filters: {} (docs/decisions.md#d1); unknown object: 404.
    let r = get(
        s.addr,
        &format!("{base}?added_after=2099-01-01T00:00:00Z"),
        &[],
    )
    .await;
    assert_eq!((r.status, r.body.as_slice()), (200, &b"{}"[..]));
    let r = get(
        s.addr,
        &format!(
            "{}indicator--00000000-0000-4000-8000-999999999999/",
            objects_path(PUBLIC)
        ),
        &[],
    )
    .await;
    assert_eq!(r.status, 404);

    // Versions: ascending by date_added (docs/decisions.md#d14), pageable.
    let r = get(s.addr, &format!("{base}versions/"), &[]).await;
    assert_eq!(
        r.json(),
        serde_json::json!({"more": false, "versions": [v1, v2]})
    );
    assert!(r.header("x-taxii-date-added-first").is_some());
    let r = get(s.addr, &format!("{base}versions?limit=1"), &[]).await;
    let v = r.json();
    assert_eq!(v["versions"], serde_json::json!([v1]));
    let r = get(
        s.addr,
        &format!("{base}versions/?next={}", v["next"].as_str().unwrap()),
        &[],
    )
    .await;
    assert_eq!(
        r.json(),
        serde_json::json!({"more": false, "versions": [v2]})
    );
    let r = get(
        s.addr,
        &format!(
            "{}indicator--00000000-0000-4000-8000-999999999999/versions/",
            objects_path(PUBLIC)
        ),
        &[],
    )
    .await;
    assert_eq!(r.status, 404);

    // Manifest records.
    let r = get(
        s.addr,
        &format!("/feeds/collections/{PUBLIC}/manifest/?match[id]={id}&match[version]=all"),
        &[],
    )
    .await;
    let v = r.json();
    let recs = v["objects"].as_array().unwrap();
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[1]["id"], id.as_str());
    assert_eq!(recs[1]["version"], v2);
    assert_eq!(recs[1]["media_type"], "application/stix+json;version=2.1");
    let da = all
        .iter()
        .filter(|o| o.id == id)
        .map(|o| o.date_added_us)
        .max()
        .unwrap();
    assert_eq!(recs[1]["date_added"], taxii_edge::time::fmt_us(da));
    assert_eq!(
        r.header("x-taxii-date-added-last"),
        Some(taxii_edge::time::fmt_us(da).as_str())
    );
    s.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_empty_as_list_and_listing_unreadable() {
    let s = start_with(
        &spec("gen-1", PAGE, objs()),
        "empty_as_list = true\nlist_unreadable_collections = true\nbase_path = \"/edge/\"\npublic_url = \"https://taxii.example.com\"",
    )
    .await;
    let r = get(s.addr, "/edge/taxii2/", &[]).await;
    assert_eq!(
        r.json()["api_roots"],
        serde_json::json!(["https://taxii.example.com/edge/feeds/"])
    );
    assert_eq!(r.json()["default"], "https://taxii.example.com/edge/feeds/");
    assert_eq!(get(s.addr, "/taxii2/", &[]).await.status, 404);
    let path = format!("/edge/feeds/collections/{PUBLIC}/objects/");
    let r = get(s.addr, &format!("{path}?match[type]=campaign"), &[]).await;
    assert_eq!(r.body, b"{\"more\":false,\"objects\":[]}");

    let alice = basic("alice", "alice-pw");
    let r = get(
        s.addr,
        "/edge/feeds/collections/",
        &[("authorization", &alice)],
    )
    .await;
    let cols = r.json()["collections"].as_array().unwrap().clone();
    let secret = cols.iter().find(|c| c["id"] == SECRET).expect("listed");
    assert_eq!(secret["can_read"], false);
    assert!(
        cols.iter().all(|c| c["id"] != ORPHAN)
            || cols
                .iter()
                .any(|c| c["id"] == ORPHAN && c["can_read"] == false)
    );
    let r = get(
        s.addr,
        &format!("/edge/feeds/collections/{SECRET}/objects/"),
        &[("authorization", &alice)],
    )
    .await;
    assert_eq!(r.status, 403);
    let r = get(
        s.addr,
        &format!("/edge/feeds/collections/{SECRET}/"),
        &[("authorization", &alice)],
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["can_read"], false);
    s.running.shutdown().await;
}
