//! TAXII 2.0 next to 2.1 over real sockets: discovery at `/taxii/`, the
//! version negotiation matrix, STIX 2.0 bundles, the 2.0 manifest shape,
//! filters, `Range: items` pagination (docs/decisions.md#d15) and the
//! headers every answer carries.

use crate::common::server_support;
use server_support::*;
use taxii_edge::feed::{FeedSpec, ObjectVersion};
use taxii_edge::server::response::{STIX20, TAXII20, TAXII21};

const N: u32 = 23;
const ACC20: &str = "application/vnd.oasis.taxii+json; version=2.0";
const ACC_STIX20: &str = "application/vnd.oasis.stix+json; version=2.0";
/// The passthrough STIX 2.1 object (no 2.0 form) added to `public`.
const PASS21: &str = "malware--00000000-0000-4000-8000-000000000900";
/// A passthrough object with a STIX 2.0 version, then a later STIX 2.1
/// version (no 2.0 form): 2.0 shows the first, 2.1 the second.
const MIXED: &str = "malware--00000000-0000-4000-8000-000000000901";

/// `ov` with a STIX 2.0 serialization (distinct bytes: no spec_version,
/// "(2.0)" in the name).
fn with20(mut o: ObjectVersion) -> ObjectVersion {
    let n = o.id.rsplit('-').next().unwrap().trim_start_matches('0');
    let n = if n.is_empty() { "0" } else { n };
    let v = (o.version_us - T0) / 1_000_000;
    o.json20 = Some(
        format!(
            "{{\"type\":\"{}\",\"id\":\"{}\",\"created\":\"{}\",\"modified\":\"{}\",\"name\":\"o{n} v{v} (2.0)\"}}",
            o.stix_type,
            o.id,
            taxii_edge::time::fmt_ms(T0),
            taxii_edge::time::fmt_ms(o.version_us)
        )
        .into(),
    );
    o
}

fn public_objs() -> Vec<ObjectVersion> {
    let mut v: Vec<ObjectVersion> = objects(N, T0).into_iter().map(with20).collect();
    let last = v.last().unwrap().date_added_us;
    v.push(ov("malware", 900, 1, last + 1_000_000));
    let mut p20 = with20(ov("malware", 901, 1, last + 2_000_000));
    p20.spec_version = taxii_edge::feed::SpecVersion::V20;
    p20.json21 = p20.json20.clone().unwrap();
    v.push(p20);
    v.push(ov("malware", 901, 2, last + 3_000_000));
    v
}

/// `public` offers 2.1 and 2.0, `private` 2.0 only, `secret` 2.1 only.
fn spec20(max_page_extra: &str) -> (FeedSpec, String) {
    let mut sp = spec("gen-20", 5, public_objs());
    sp.meta.collections[0].taxii_versions = vec!["2.1".into(), "2.0".into()];
    sp.meta.collections[1].taxii_versions = vec!["2.0".into()];
    sp.collections[1].objects = objects(3, T0).into_iter().map(with20).collect();
    (sp, max_page_extra.to_string())
}

async fn server_with(extra: &str) -> TestServer {
    let (sp, extra) = spec20(extra);
    start_with(&sp, &extra).await
}

/// `id modified` of the latest 2.0 version of each object, date_added order.
fn model20(pred: impl Fn(&ObjectVersion, bool, bool) -> bool) -> Vec<String> {
    let objs = public_objs();
    objs.iter()
        .filter(|o| o.json20.is_some())
        .filter(|o| {
            let vs = objs
                .iter()
                .filter(|p| p.id == o.id && p.json20.is_some())
                .map(|p| p.version_us);
            let max = vs.clone().max().unwrap();
            let min = vs.min().unwrap();
            pred(o, o.version_us == min, o.version_us == max)
        })
        .map(|o| format!("{} {}", o.id, taxii_edge::time::fmt_ms(o.version_us)))
        .collect()
}

fn lasts() -> Vec<String> {
    model20(|_, _, last| last)
}

/// `id modified` of a bundle's objects; checks the bundle's shape.
fn bundle_items(r: &Resp) -> Vec<String> {
    let v = r.json();
    assert_eq!(v["type"], "bundle", "{}", r.text());
    assert_eq!(v["spec_version"], "2.0");
    let id = v["id"].as_str().unwrap();
    let u = uuid::Uuid::parse_str(id.strip_prefix("bundle--").unwrap()).unwrap();
    assert_eq!(u.get_version_num(), 4);
    let Some(objs) = v.get("objects") else {
        return Vec::new();
    };
    let objs = objs.as_array().unwrap();
    assert!(!objs.is_empty(), "d17: no empty objects list");
    objs.iter()
        .map(|o| {
            assert!(
                o.get("spec_version").is_none(),
                "a 2.1 object in a 2.0 bundle: {o}"
            );
            assert!(o["name"].as_str().unwrap().ends_with("(2.0)"));
            format!(
                "{} {}",
                o["id"].as_str().unwrap(),
                o["modified"].as_str().unwrap()
            )
        })
        .collect()
}

async fn get20(addr: std::net::SocketAddr, path: &str, extra: &[(&str, &str)]) -> Resp {
    let mut h = vec![("accept", ACC_STIX20)];
    h.extend_from_slice(extra);
    get(addr, path, &h).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_api_root_collections_and_version_matrix() {
    let s = server_with("").await;
    let root_url = format!("http://{}/feeds/", s.addr);
    // /taxii/ is 2.0 only: no Accept and */* mean 2.0 there.
    for acc in [
        None,
        Some("*/*"),
        Some(ACC20),
        Some("application/vnd.oasis.taxii+json"),
    ] {
        let h: Vec<(&str, &str)> = acc.iter().map(|v| ("accept", *v)).collect();
        let r = get(s.addr, "/taxii/", &h).await;
        assert_eq!(r.status, 200, "{acc:?}");
        assert_eq!(r.header("content-type"), Some(TAXII20));
        assert_eq!(
            r.json(),
            serde_json::json!({"title":"Test feed","description":"for tests",
                "default":root_url,"api_roots":[root_url]})
        );
    }
    assert_eq!(get(s.addr, "/taxii", &[]).await.status, 200);
    let r = get(s.addr, "/taxii/", &[("accept", TAXII21)]).await;
    assert_eq!(r.status, 406);
    assert_eq!(r.header("content-type"), Some(TAXII21));
    // /taxii2/ is 2.1 only.
    let r = get(s.addr, "/taxii2/", &[("accept", ACC20)]).await;
    assert_eq!(r.status, 406);
    assert_eq!(r.header("content-type"), Some(TAXII20));
    assert_eq!(r.json()["http_status"], "406");

    // API root: Accept decides; the default stays 2.1.
    let r = get(s.addr, "/feeds/", &[("accept", ACC20)]).await;
    assert_eq!(r.header("content-type"), Some(TAXII20));
    assert_eq!(
        r.json(),
        serde_json::json!({"title":"Feeds","versions":["taxii-2.0"],"max_content_length":65536})
    );
    let r = get(s.addr, "/feeds/", &[]).await;
    assert_eq!(r.header("content-type"), Some(TAXII21));
    assert_eq!(r.json()["versions"], serde_json::json!([TAXII21]));
    let r = get(s.addr, "/feeds/", &[("accept", "*/*")]).await;
    assert_eq!(r.header("content-type"), Some(TAXII21));

    // Collections: only those offering the version, media_types of 2.0, no alias.
    let alice = basic("alice", "alice-pw");
    let bob = basic("bob", "bob-pw");
    let ids = |r: &Resp| -> Vec<String> {
        r.json()["collections"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|c| c["id"].as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    let r = get(s.addr, "/feeds/collections/", &[("accept", ACC20)]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some(TAXII20));
    assert_eq!(r.header("content-range"), Some("items 0-0/1"));
    assert_eq!(r.header("accept-ranges"), Some("items"));
    assert_eq!(
        r.json()["collections"][0],
        serde_json::json!({"id":PUBLIC,"title":"Public","description":"the public one",
            "can_read":true,"can_write":false,"media_types":[STIX20]})
    );
    let r = get(
        s.addr,
        "/feeds/collections/",
        &[("accept", ACC20), ("authorization", &alice)],
    )
    .await;
    assert_eq!(ids(&r), vec![PUBLIC, PRIVATE]);
    assert_eq!(r.header("content-range"), Some("items 0-1/2"));
    // Collections are paginated too (TAXII 2.0 section 5.1).
    let r = get(
        s.addr,
        "/feeds/collections/",
        &[
            ("accept", ACC20),
            ("authorization", &alice),
            ("range", "items=1-1"),
        ],
    )
    .await;
    assert_eq!(r.status, 206);
    assert_eq!(ids(&r), vec![PRIVATE]);
    assert_eq!(r.header("content-range"), Some("items 1-1/2"));
    let r = get(s.addr, "/feeds/collections/", &[("authorization", &alice)]).await;
    assert_eq!(ids(&r), vec![PUBLIC], "private is 2.0 only");
    let r = get(
        s.addr,
        "/feeds/collections/",
        &[("accept", ACC20), ("authorization", &bob)],
    )
    .await;
    assert_eq!(ids(&r), vec![PUBLIC], "secret is 2.1 only");

    // A version the collection does not offer: 406 in the requested version.
    let secret = format!("/feeds/collections/{SECRET}/");
    let r = get(
        s.addr,
        &secret,
        &[("accept", ACC20), ("authorization", &bob)],
    )
    .await;
    assert_eq!(r.status, 406);
    assert_eq!(r.header("content-type"), Some(TAXII20));
    let r = get20(
        s.addr,
        &format!("{secret}objects/"),
        &[("authorization", &bob)],
    )
    .await;
    assert_eq!(r.status, 406);
    assert_eq!(r.header("content-type"), Some(TAXII20));
    let r = get(s.addr, &secret, &[("authorization", &bob)]).await;
    assert_eq!(r.status, 200);
    let private = format!("/feeds/collections/{PRIVATE}/");
    for p in [
        private.clone(),
        format!("{private}objects/"),
        format!("{private}manifest/"),
    ] {
        let r = get(s.addr, &p, &[("authorization", &alice)]).await;
        assert_eq!(r.status, 406, "{p}");
        assert_eq!(r.header("content-type"), Some(TAXII21));
    }
    // An Accept naming both versions gets the one the collection offers;
    // a wildcard keeps meaning 2.1 on the api-root paths.
    let both =
        "application/taxii+json;version=2.1, application/vnd.oasis.stix+json; version=2.0;q=0.5";
    let r = get(
        s.addr,
        &format!("{private}objects/"),
        &[("accept", both), ("authorization", &alice)],
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some(STIX20));
    let r = get(
        s.addr,
        &format!("{private}objects/"),
        &[("accept", "*/*"), ("authorization", &alice)],
    )
    .await;
    assert_eq!(r.status, 406);
    let r = get(
        s.addr,
        &format!("{secret}objects/"),
        &[("accept", both), ("authorization", &bob)],
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some(TAXII21));
    // …but access comes first: a hidden collection stays hidden.
    let r = get(
        s.addr,
        &secret,
        &[("accept", ACC20), ("authorization", &alice)],
    )
    .await;
    assert_eq!(r.status, 404);
    let r = get(s.addr, &private, &[("accept", ACC20)]).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.header("content-type"), Some(TAXII20));
    assert!(r.header("www-authenticate").is_some());
    let r = get(
        s.addr,
        &private,
        &[("accept", ACC20), ("authorization", &alice)],
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["media_types"], serde_json::json!([STIX20]));
    let r = get(s.addr, "/feeds/collections/public/", &[("accept", ACC20)]).await;
    assert_eq!(r.json()["id"], PUBLIC, "aliases route in 2.0 too");

    // 2.1 never sees 2.0 bytes, 2.0 never sees 2.1 bytes.
    let objects = objects_path(PUBLIC);
    for acc in [
        None,
        Some("*/*"),
        Some(TAXII21),
        Some("application/taxii+json"),
    ] {
        let h: Vec<(&str, &str)> = acc.iter().map(|v| ("accept", *v)).collect();
        let r = get(s.addr, &objects, &h).await;
        assert_eq!(r.header("content-type"), Some(TAXII21), "{acc:?}");
        assert!(!r.text().contains("(2.0)") && !r.text().contains("bundle"));
        assert!(r.header("content-range").is_none());
    }
    for acc in [
        ACC20,
        ACC_STIX20,
        "application/vnd.oasis.stix+json; version=\"2.0\"",
        "text/html, application/vnd.oasis.stix+json;version=2.0;q=0.4",
    ] {
        let r = get(s.addr, &objects, &[("accept", acc)]).await;
        assert_eq!(r.status, 200, "{acc}");
        assert_eq!(r.header("content-type"), Some(STIX20), "{acc}");
        assert!(!r.text().contains("\"spec_version\":\"2.1\""));
        assert_eq!(bundle_items(&r), lasts());
    }
    let r = get(
        s.addr,
        &objects,
        &[("accept", "application/taxii+json;version=2.0")],
    )
    .await;
    assert_eq!(r.status, 406);
    // Versions exists in 2.1 only.
    let r = get20(
        s.addr,
        &format!(
            "{objects}{}/versions/",
            lasts()[0].split(' ').next().unwrap()
        ),
        &[],
    )
    .await;
    assert_eq!(r.status, 406);
    assert_eq!(r.header("content-type"), Some(TAXII20));
    s.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_url_and_base_path_make_the_api_roots() {
    let s = server_with("public_url = \"https://taxii.example.com/\"\nbase_path = \"/edge\"").await;
    let r = get(s.addr, "/edge/taxii/", &[]).await;
    assert_eq!(r.status, 200);
    let want = "https://taxii.example.com/edge/feeds/";
    assert_eq!(r.json()["api_roots"], serde_json::json!([want]));
    assert_eq!(r.json()["default"], want);
    assert_eq!(get(s.addr, "/taxii/", &[]).await.status, 404);
    s.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_bundle_headers_and_ranges() {
    let s = server_with("").await;
    let path = objects_path(PUBLIC);
    let all = lasts();
    let t = all.len();
    assert_eq!(t, N as usize + 1);
    assert_eq!(
        all[t - 1],
        format!("{MIXED} {}", taxii_edge::time::fmt_ms(T0 + 1_000_000))
    );

    let r = get20(s.addr, &path, &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some(STIX20));
    assert_eq!(
        r.header("content-range"),
        Some(format!("items 0-{}/{t}", t - 1).as_str())
    );
    assert_eq!(r.header("accept-ranges"), Some("items"));
    assert_eq!(
        r.header("vary"),
        Some("Accept, Accept-Encoding, Authorization, Range")
    );
    assert_eq!(r.header("cache-control"), Some("public, max-age=60"));
    assert!(r.header("content-encoding").is_none());
    assert!(r.header("x-taxii-date-added-first").is_some());
    assert_eq!(bundle_items(&r), all);
    assert!(
        !r.text().contains(PASS21),
        "no 2.0 form: never in a 2.0 answer"
    );
    // Deterministic bytes and ETag; compressed on the fly for a client
    // that accepts a coding, with its own ETag (tests/content_coding.rs).
    let again = get20(s.addr, &path, &[]).await;
    assert_eq!(again.body, r.body);
    assert_eq!(again.header("etag"), r.header("etag"));
    let zs = get20(s.addr, &path, &[("accept-encoding", "gzip, zstd")]).await;
    assert_eq!(zs.header("content-encoding"), Some("zstd"));
    assert_eq!(zstd::decode_all(&zs.body[..]).unwrap(), r.body);
    assert_ne!(zs.header("etag"), r.header("etag"));
    let etag = r.header("etag").unwrap().to_string();
    let nm = get20(s.addr, &path, &[("if-none-match", &etag)]).await;
    assert_eq!(nm.status, 304);
    assert!(nm.body.is_empty());
    let h = req(s.addr, "HEAD", &path, &[("accept", ACC_STIX20)]).await;
    assert_eq!(h.status, 200);
    assert!(h.body.is_empty());
    assert_eq!(
        h.header("content-length"),
        Some(r.body.len().to_string().as_str())
    );
    assert_eq!(h.header("content-range"), r.header("content-range"));

    // First item only, last item, a middle window, both syntaxes.
    for (range, a, b) in [
        ("items=0-0", 0, 0),
        (&*format!("items={}-{}", t - 1, t - 1), t - 1, t - 1),
        ("items=2-4", 2, 4),
        ("items 2-4", 2, 4),
        ("Items = 5 - 6", 5, 6),
        (&*format!("items=20-{}", t + 50), 20, t - 1),
        ("items=21-", 21, t - 1),
        ("items=-2", t - 2, t - 1),
    ] {
        let r = get20(s.addr, &path, &[("range", range)]).await;
        assert_eq!(r.status, 206, "{range}");
        assert_eq!(
            r.header("content-range"),
            Some(format!("items {a}-{b}/{t}").as_str()),
            "{range}"
        );
        assert_eq!(bundle_items(&r), all[a..=b].to_vec(), "{range}");
        assert_ne!(r.json()["id"], get20(s.addr, &path, &[]).await.json()["id"]);
    }
    // Beyond the end: 416 with items */TOTAL, in the 2.0 media type.
    let r = get20(s.addr, &path, &[("range", &format!("items={t}-{}", t + 5))]).await;
    assert_eq!(r.status, 416);
    assert_eq!(
        r.header("content-range"),
        Some(format!("items */{t}").as_str())
    );
    assert_eq!(r.header("content-type"), Some(TAXII20));
    assert_eq!(r.json()["http_status"], "416");
    // Malformed items ranges: 400; other units are ignored (RFC 9110 14.2).
    for bad in ["items=5-2", "items=x-y", "items=0-1,4-5", "items"] {
        let r = get20(s.addr, &path, &[("range", bad)]).await;
        assert_eq!(r.status, 400, "{bad}");
        assert_eq!(r.header("content-type"), Some(TAXII20));
    }
    let r = get20(s.addr, &path, &[("range", "bytes=0-10")]).await;
    assert_eq!(r.status, 200);
    assert_eq!(bundle_items(&r), all);
    // Range on a 2.1 request: ignored, no Content-Range.
    let r = get(s.addr, &path, &[("range", "items=0-0")]).await;
    assert_eq!(r.status, 200);
    assert!(r.header("content-range").is_none());

    // Empty result: 200, items 0-0/0, bundle without objects, never 416.
    let future = "2100-01-01T00:00:00Z";
    for range in [None, Some("items=0-9"), Some("items=3-5")] {
        let mut h = vec![];
        if let Some(rg) = range {
            h.push(("range", rg));
        }
        let r = get20(s.addr, &format!("{path}?added_after={future}"), &h).await;
        assert_eq!(r.status, 200, "{range:?}");
        assert_eq!(r.header("content-range"), Some("items 0-0/0"));
        assert!(r.json().get("objects").is_none());
        assert_eq!(bundle_items(&r), Vec::<String>::new());
        assert_eq!(
            r.header("x-taxii-date-added-first"),
            Some("2100-01-01T00:00:00.000000Z")
        );
        assert_eq!(
            r.header("x-taxii-date-added-last"),
            Some("2100-01-01T00:00:00.000000Z")
        );
    }
    // Filters: type, id, version, added_after; TOTAL counts matches.
    let r = get20(s.addr, &format!("{path}?match[type]=malware"), &[]).await;
    let want = model20(|o, _, last| last && &*o.stix_type == "malware");
    assert_eq!(bundle_items(&r), want);
    assert_eq!(
        r.header("content-range"),
        Some(format!("items 0-{}/{}", want.len() - 1, want.len()).as_str())
    );
    let r = get20(s.addr, &format!("{path}?match%5Bversion%5D=all"), &[]).await;
    assert_eq!(bundle_items(&r), model20(|_, _, _| true));
    let r = get20(s.addr, &format!("{path}?match[version]=first"), &[]).await;
    assert_eq!(bundle_items(&r), model20(|_, first, _| first));
    let id4 = "indicator--00000000-0000-4000-8000-000000000004";
    let r = get20(
        s.addr,
        &format!("{path}?match[id]={id4},{PASS21}&match[version]=all"),
        &[],
    )
    .await;
    assert_eq!(bundle_items(&r), model20(|o, _, _| o.id == id4));
    // match[spec_version], limit and next do not exist in 2.0: ignored.
    let r = get20(
        s.addr,
        &format!("{path}?match[spec_version]=2.1&limit=1&next=zzz"),
        &[],
    )
    .await;
    assert_eq!(bundle_items(&r), all);
    let r = get20(s.addr, &format!("{path}?match[type]=a&match[type]=b"), &[]).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.header("content-type"), Some(TAXII20));
    let r = get20(s.addr, &format!("{path}?added_after=yesterday"), &[]).await;
    assert_eq!(r.status, 400);
    // added_after: strictly later, on date_added.
    let mid = get20(s.addr, &path, &[("range", "items=10-10")]).await;
    let da = mid.header("x-taxii-date-added-last").unwrap().to_string();
    let r = get20(s.addr, &format!("{path}?added_after={da}"), &[]).await;
    assert_eq!(bundle_items(&r), all[11..].to_vec());
    assert_eq!(
        r.header("content-range"),
        Some(format!("items 0-{}/{}", t - 12, t - 11).as_str())
    );

    // Paging a filtered view with ranges: everything once.
    let every = model20(|_, _, _| true);
    let mut got = Vec::new();
    let mut start = 0;
    loop {
        let r = get20(
            s.addr,
            &format!("{path}?match[version]=all"),
            &[("range", &format!("items={start}-{}", start + 2))],
        )
        .await;
        if r.status == 416 {
            assert_eq!(
                r.header("content-range"),
                Some(format!("items */{}", every.len()).as_str())
            );
            break;
        }
        assert_eq!(r.status, 206);
        got.extend(bundle_items(&r));
        start += 3;
    }
    assert_eq!(got, every);
    s.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clamping_and_the_hard_cap() {
    let s = server_with("default_page_size = 2\nmax_page_size = 4\nmax_range_items = 10").await;
    let path = objects_path(PUBLIC);
    let all = lasts();
    let t = all.len();
    // TOTAL larger than the requested range: clamped to the max page.
    let r = get20(s.addr, &path, &[("range", "items=0-9")]).await;
    assert_eq!(r.status, 206);
    assert_eq!(
        r.header("content-range"),
        Some(format!("items 0-3/{t}").as_str())
    );
    assert_eq!(bundle_items(&r), all[..4].to_vec());
    // The request covers the rest: not clamped to the page (the client
    // would not adapt), only to the hard cap.
    let r = get20(
        s.addr,
        &path,
        &[("range", &format!("items=15-{}", t + 100))],
    )
    .await;
    assert_eq!(
        r.header("content-range"),
        Some(format!("items 15-{}/{t}", t - 1).as_str())
    );
    assert_eq!(bundle_items(&r), all[15..].to_vec());
    let r = get20(s.addr, &path, &[("range", &format!("items=0-{}", t + 100))]).await;
    assert_eq!(
        r.header("content-range"),
        Some(format!("items 0-9/{t}").as_str())
    );
    // No Range: the hard cap bounds the answer, with 206.
    let r = get20(s.addr, &path, &[]).await;
    assert_eq!(r.status, 206);
    assert_eq!(
        r.header("content-range"),
        Some(format!("items 0-9/{t}").as_str())
    );
    assert_eq!(bundle_items(&r), all[..10].to_vec());
    let r = get(
        s.addr,
        &format!("/feeds/collections/{PUBLIC}/manifest/"),
        &[("accept", ACC20)],
    )
    .await;
    assert_eq!(r.status, 206);
    assert_eq!(r.json()["objects"].as_array().unwrap().len(), 10);
    s.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manifest_shape_and_grouped_versions() {
    let s = server_with("").await;
    let path = format!("/feeds/collections/{PUBLIC}/manifest/");
    let objs = public_objs();
    let r = get(s.addr, &path, &[("accept", ACC20)]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some(TAXII20));
    let items = r.json()["objects"].as_array().unwrap().clone();
    let t = N as usize + 1;
    assert_eq!(items.len(), t);
    assert_eq!(
        r.header("content-range"),
        Some(format!("items 0-{}/{t}", t - 1).as_str())
    );
    let lasts: Vec<String> = lasts();
    for (m, want) in items.iter().zip(&lasts) {
        let keys: Vec<&str> = m.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["id", "date_added", "versions", "media_types"]);
        let (id, version) = want.split_once(' ').unwrap();
        assert_eq!(m["id"], id);
        assert_eq!(m["versions"], serde_json::json!([version]));
        assert_eq!(m["media_types"], serde_json::json!([STIX20]));
        let o = objs
            .iter()
            .find(|o| o.id == id && taxii_edge::time::fmt_ms(o.version_us) == version)
            .unwrap();
        assert_eq!(m["date_added"], taxii_edge::time::fmt_us(o.date_added_us));
    }
    // All versions: one entry per id, versions most recent first, placed
    // at (and dated by) its latest matching version.
    let r = get(
        s.addr,
        &format!("{path}?match[version]=all"),
        &[("accept", ACC20)],
    )
    .await;
    let items = r.json()["objects"].as_array().unwrap().clone();
    assert_eq!(items.len(), t);
    let ids: Vec<&str> = items.iter().map(|m| m["id"].as_str().unwrap()).collect();
    let want_ids: Vec<&str> = lasts.iter().map(|l| l.split(' ').next().unwrap()).collect();
    assert_eq!(ids, want_ids);
    let id4 = "indicator--00000000-0000-4000-8000-000000000004";
    let m4 = items.iter().find(|m| m["id"] == id4).unwrap();
    assert_eq!(
        m4["versions"],
        serde_json::json!([
            taxii_edge::time::fmt_ms(T0 + 2_000_000),
            taxii_edge::time::fmt_ms(T0 + 1_000_000)
        ])
    );
    let r = get(
        s.addr,
        &format!("{path}?match[version]=first"),
        &[("accept", ACC20)],
    )
    .await;
    let m4: Vec<serde_json::Value> = r.json()["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["id"] == id4)
        .cloned()
        .collect();
    assert_eq!(
        m4[0]["versions"],
        serde_json::json!([taxii_edge::time::fmt_ms(T0 + 1_000_000)])
    );
    // Ranges and 416 on the manifest.
    let r = get(s.addr, &path, &[("accept", ACC20), ("range", "items 3-4")]).await;
    assert_eq!(r.status, 206);
    assert_eq!(
        r.header("content-range"),
        Some(format!("items 3-4/{t}").as_str())
    );
    let ids: Vec<String> = r.json()["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        ids,
        want_ids[3..5]
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
    );
    let r = get(
        s.addr,
        &path,
        &[("accept", ACC20), ("range", "items=99-100")],
    )
    .await;
    assert_eq!(r.status, 416);
    // Empty: {} with items 0-0/0.
    let r = get(
        s.addr,
        &format!("{path}?match[type]=campaign"),
        &[("accept", ACC20)],
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "{}");
    assert_eq!(r.header("content-range"), Some("items 0-0/0"));
    s.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_by_id_auth_and_write_methods() {
    let s = server_with("").await;
    let base = objects_path(PUBLIC);
    let id4 = "indicator--00000000-0000-4000-8000-000000000004";
    let r = get20(s.addr, &format!("{base}{id4}/"), &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some(STIX20));
    assert_eq!(bundle_items(&r), model20(|o, _, last| last && o.id == id4));
    assert!(r.header("content-range").is_none());
    let r = get20(s.addr, &format!("{base}{id4}/?match[version]=all"), &[]).await;
    assert_eq!(bundle_items(&r), model20(|o, _, _| o.id == id4));
    let r = get20(
        s.addr,
        &format!("{base}{id4}/?added_after=2100-01-01T00:00:00Z"),
        &[],
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(bundle_items(&r), Vec::<String>::new());
    // A 2.1-only object does not exist in 2.0.
    let r = get20(s.addr, &format!("{base}{PASS21}/"), &[]).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.header("content-type"), Some(TAXII20));
    assert_eq!(
        get(s.addr, &format!("{base}{PASS21}/"), &[]).await.status,
        200
    );
    // Mixed passthrough: each version answers with its own latest.
    let r = get20(s.addr, &format!("{base}{MIXED}/"), &[]).await;
    assert_eq!(
        bundle_items(&r),
        vec![format!(
            "{MIXED} {}",
            taxii_edge::time::fmt_ms(T0 + 1_000_000)
        )]
    );
    let r = get(s.addr, &format!("{base}{MIXED}/"), &[]).await;
    let v = r.json();
    assert_eq!(v["objects"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(
        v["objects"][0]["modified"],
        taxii_edge::time::fmt_ms(T0 + 2_000_000)
    );

    // Write methods (docs/decisions.md#d13) in the 2.0 media type.
    let r = req(s.addr, "POST", &base, &[("accept", ACC20)]).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.header("content-type"), Some(TAXII20));
    let r = req(s.addr, "PUT", &base, &[("accept", ACC20)]).await;
    assert_eq!(r.status, 405);
    assert_eq!(r.header("content-type"), Some(TAXII20));
    assert_eq!(r.header("allow"), Some("GET, HEAD, POST"));
    // Auth on a 2.0-only collection.
    let private = objects_path(PRIVATE);
    let r = get20(s.addr, &private, &[]).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.header("content-type"), Some(TAXII20));
    let r = get20(
        s.addr,
        &private,
        &[("authorization", &basic("alice", "wrong"))],
    )
    .await;
    assert_eq!(r.status, 401);
    let r = get20(
        s.addr,
        &private,
        &[("authorization", &basic("alice", "alice-pw"))],
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("cache-control"), Some("private"));
    assert_eq!(bundle_items(&r).len(), 3);
    s.running.shutdown().await;
}
