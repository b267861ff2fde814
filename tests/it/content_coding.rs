//! Content coding over real sockets (`docs/decisions.md#d23`): every
//! answer of about 1 KB or more goes out gzip or zstd when
//! `Accept-Encoding` allows it — a stored copy for whole default pages,
//! compressed on the fly for everything else (filtered pages, manifests,
//! collection lists, TAXII 2.0 bundles) — with an exact `Content-Length`,
//! `Vary: Accept-Encoding` and one ETag per coding; smaller answers and
//! clients that refuse the codings get identity.

use crate::common::gunzip;
use crate::common::server_support;
use server_support::*;
use taxii_edge::feed::{FeedSpec, ObjectVersion};

const ACC21: &str = "application/taxii+json;version=2.1";
const ACC_STIX20: &str = "application/vnd.oasis.stix+json; version=2.0";
const ACC_TAXII20: &str = "application/vnd.oasis.taxii+json; version=2.0";
const N: u32 = 40;
const BIG: u32 = 3000;

/// `ov` with a STIX 2.0 serialization as well.
fn with20(mut o: ObjectVersion) -> ObjectVersion {
    o.json20 = Some(
        format!(
            "{{\"type\":\"{}\",\"id\":\"{}\",\"created\":\"{}\",\"modified\":\"{}\",\"name\":\"2.0 form\"}}",
            o.stix_type,
            o.id,
            taxii_edge::time::fmt_ms(T0),
            taxii_edge::time::fmt_ms(o.version_us)
        )
        .into(),
    );
    o
}

/// `public` (page size 5) and `private` offer 2.1 and 2.0; both carry a
/// long description so that a collections list is well over 1 KB.
/// `private` holds enough objects for answers of several hundred KB (the
/// ones compressed off the worker thread).
fn coding_spec() -> FeedSpec {
    let mut sp = spec(
        "gen-coding",
        5,
        objects(N, T0).into_iter().map(with20).collect(),
    );
    sp.collections[1].objects = objects(BIG, T0).into_iter().map(with20).collect();
    for c in &mut sp.meta.collections[..2] {
        c.taxii_versions = vec!["2.1".into(), "2.0".into()];
        c.description = Some(format!("{} ", c.title).repeat(120));
    }
    sp
}

/// The answer's body as sent, checked against its `Content-Length`.
fn exact(r: &Resp) -> &[u8] {
    assert_eq!(
        r.header("content-length"),
        Some(r.body.len().to_string().as_str()),
        "Content-Length must be the exact body length"
    );
    assert!(r.header("transfer-encoding").is_none());
    &r.body
}

/// Fetches `path` as identity, gzip and zstd and checks the docs/decisions.md#d23
/// contract; returns the three answers.
async fn three_ways(
    addr: std::net::SocketAddr,
    path: &str,
    base: &[(&str, &str)],
    vary: &str,
) -> [Resp; 3] {
    let with = |ae: &'static str| {
        let mut h = base.to_vec();
        h.push(("accept-encoding", ae));
        h
    };
    let plain = get(addr, path, base).await;
    let gz = get(addr, path, &with("gzip, deflate")).await;
    let zs = get(addr, path, &with("zstd, gzip")).await;
    for r in [&plain, &gz, &zs] {
        assert!(r.status == 200 || r.status == 206, "{path}: {}", r.status);
        assert_eq!(r.status, plain.status, "{path}");
        assert_eq!(r.header("vary"), Some(vary), "{path}");
        assert_eq!(r.header("content-type"), plain.header("content-type"));
        assert_eq!(r.header("content-range"), plain.header("content-range"));
    }
    assert!(plain.body.len() >= 1024, "{path}: test body too small");
    assert_eq!(plain.header("content-encoding"), None, "{path}");
    exact(&plain);
    assert_eq!(gz.header("content-encoding"), Some("gzip"), "{path}");
    assert_eq!(gunzip(exact(&gz)), plain.body, "{path}");
    assert!(gz.body.len() < plain.body.len(), "{path}");
    assert_eq!(zs.header("content-encoding"), Some("zstd"), "{path}");
    assert_eq!(zstd::decode_all(exact(&zs)).unwrap(), plain.body, "{path}");
    let tags = [&plain, &gz, &zs].map(|r| r.header("etag").expect("an ETag").to_string());
    assert!(
        tags[0] != tags[1] && tags[1] != tags[2] && tags[0] != tags[2],
        "{path}: one ETag per coding: {tags:?}"
    );
    // Deterministic bytes: the same answer again is the same bytes.
    let again = get(addr, path, &with("gzip")).await;
    assert_eq!(again.body, gz.body, "{path}");
    assert_eq!(again.header("etag"), gz.header("etag"));

    // If-None-Match is per coding: a coding's own ETag gives a 304 in that
    // coding only.
    for (ae, tag, hit) in [
        ("gzip", &tags[1], true),
        ("zstd", &tags[2], true),
        ("identity", &tags[0], true),
        ("gzip", &tags[0], false),
        ("identity", &tags[1], false),
        ("zstd", &tags[1], false),
    ] {
        let mut h = base.to_vec();
        h.push(("accept-encoding", ae));
        h.push(("if-none-match", tag));
        let r = get(addr, path, &h).await;
        if hit {
            assert_eq!(r.status, 304, "{path} {ae} {tag}");
            assert!(r.body.is_empty());
            assert_eq!(r.header("etag"), Some(tag.as_str()));
            assert_eq!(r.header("content-encoding"), None);
            assert_eq!(r.header("vary"), Some(vary));
        } else {
            assert_eq!(r.status, plain.status, "{path} {ae} {tag}");
            assert_ne!(r.header("etag"), Some(tag.as_str()));
        }
    }

    // HEAD: the headers of the GET, Content-Length of the coded body.
    let mut h = with("gzip");
    h.retain(|(k, _)| *k != "if-none-match");
    let head = req(addr, "HEAD", path, &h).await;
    assert!(head.body.is_empty());
    assert_eq!(head.header("content-encoding"), Some("gzip"));
    assert_eq!(
        head.header("content-length"),
        Some(gz.body.len().to_string().as_str())
    );
    assert_eq!(head.header("etag"), gz.header("etag"));

    // Codings refused: identity, the same bytes and ETag as without.
    for ae in ["identity;q=1, gzip;q=0", "gzip;q=0, zstd;q=0", "br"] {
        let r = get(addr, path, &with(ae)).await;
        assert_eq!(r.header("content-encoding"), None, "{path} {ae}");
        assert_eq!(r.body, plain.body, "{path} {ae}");
        assert_eq!(r.header("etag"), plain.header("etag"), "{path} {ae}");
    }
    [plain, gz, zs]
}

const VARY21: &str = "Accept, Accept-Encoding, Authorization";
const VARY20: &str = "Accept, Accept-Encoding, Authorization, Range";

fn encoded_count(metrics: &str, coding: &str, source: &str) -> u64 {
    let key =
        format!("taxii_edge_encoded_responses_total{{coding=\"{coding}\",source=\"{source}\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(key.as_str()))
        .unwrap_or_else(|| panic!("no {key} in\n{metrics}"))
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filtered_pages_manifests_and_lists_are_compressed_on_the_fly() {
    let s = start_with(&coding_spec(), "").await;
    let objects = objects_path(PUBLIC);
    let manifest = format!("/feeds/collections/{PUBLIC}/manifest/");
    let after = taxii_edge::time::fmt_us(T0 + 10_000_000);
    let accept = [("accept", ACC21)];

    // added_after (the way pollers ask), match[type], both, and a manifest.
    for path in [
        format!("{objects}?added_after={after}&limit=30"),
        format!("{objects}?match[type]=indicator&limit=30"),
        format!("{objects}?added_after={after}&match[type]=indicator,malware&limit=25"),
        format!("{manifest}?added_after={after}&limit=30"),
    ] {
        let [plain, ..] = three_ways(s.addr, &path, &accept, VARY21).await;
        assert!(plain.json()["objects"].as_array().unwrap().len() >= 5);
    }

    // The collections list (alice reads both long-described collections).
    let alice = basic("alice", "alice-pw");
    let auth = [("accept", ACC21), ("authorization", alice.as_str())];
    let [plain, ..] = three_ways(s.addr, "/feeds/collections/", &auth, VARY21).await;
    assert_eq!(plain.json()["collections"].as_array().unwrap().len(), 2);
    let m = get(s.addr, "/metrics", &[]).await.text();
    let fly_gzip = encoded_count(&m, "gzip", "on_the_fly");
    assert!(fly_gzip >= 5 * 3, "{m}");
    assert!(encoded_count(&m, "zstd", "on_the_fly") >= 5, "{m}");
    assert_eq!(encoded_count(&m, "gzip", "stored"), 0, "{m}");

    // A whole default page is still its stored copy.
    let stored = get(s.addr, &objects, &[("accept-encoding", "gzip")]).await;
    assert_eq!(stored.header("content-encoding"), Some("gzip"));
    exact(&stored);
    let m = get(s.addr, "/metrics", &[]).await.text();
    assert_eq!(encoded_count(&m, "gzip", "stored"), 1, "{m}");
    assert_eq!(encoded_count(&m, "gzip", "on_the_fly"), fly_gzip, "{m}");

    // Under the threshold: identity whatever the client accepts, and the
    // identity ETag.
    for path in ["/taxii2/", "/feeds/", &format!("{objects}?limit=1")] {
        let plain = get(s.addr, path, &accept).await;
        let r = get(
            s.addr,
            path,
            &[("accept", ACC21), ("accept-encoding", "gzip, zstd")],
        )
        .await;
        assert_eq!(r.status, 200, "{path}");
        assert!(r.body.len() < 1024, "{path}: {}", r.body.len());
        assert_eq!(r.header("content-encoding"), None, "{path}");
        assert_eq!(r.body, plain.body);
        assert_eq!(r.header("etag"), plain.header("etag"));
        assert_eq!(r.header("vary"), Some(VARY21));
        exact(&r);
    }
    s.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn taxii20_answers_are_compressed_on_the_fly() {
    let s = start_with(&coding_spec(), "").await;
    let objects = objects_path(PUBLIC);
    let manifest = format!("/feeds/collections/{PUBLIC}/manifest/");
    let after = taxii_edge::time::fmt_us(T0 + 10_000_000);

    // A Range page (206), a whole 2.0 bundle with added_after, a manifest.
    let ranged = [("accept", ACC_STIX20), ("range", "items 0-9")];
    let [plain, ..] = three_ways(s.addr, &objects, &ranged, VARY20).await;
    assert_eq!(plain.status, 206);
    assert_eq!(plain.header("content-range"), Some("items 0-9/40"));
    assert_eq!(plain.json()["objects"].as_array().unwrap().len(), 10);
    let stix = [("accept", ACC_STIX20)];
    three_ways(
        s.addr,
        &format!("{objects}?added_after={after}"),
        &stix,
        VARY20,
    )
    .await;
    let taxii = [("accept", ACC_TAXII20)];
    three_ways(s.addr, &manifest, &taxii, VARY20).await;

    // The 2.0 collections list.
    let alice = basic("alice", "alice-pw");
    let auth = [("accept", ACC_TAXII20), ("authorization", alice.as_str())];
    let [plain, ..] = three_ways(s.addr, "/feeds/collections/", &auth, VARY20).await;
    assert_eq!(plain.json()["collections"].as_array().unwrap().len(), 2);

    // A big answer (the whole 2.0 bundle of `private`, over 256 KiB: it is
    // compressed on the blocking pool) and a 1000-object 2.1 page.
    let private = objects_path(PRIVATE);
    let big = [("accept", ACC_STIX20), ("authorization", alice.as_str())];
    let [plain, gz, _] = three_ways(s.addr, &private, &big, VARY20).await;
    assert!(plain.body.len() > 400 * 1024, "{}", plain.body.len());
    assert_eq!(
        plain.json()["objects"].as_array().unwrap().len(),
        BIG as usize
    );
    assert!(gz.body.len() * 4 < plain.body.len());
    let big21 = [("accept", ACC21), ("authorization", alice.as_str())];
    three_ways(s.addr, &format!("{private}?limit=1000"), &big21, VARY21).await;

    // One object's bundle: small, identity.
    let one = format!("{objects}indicator--00000000-0000-4000-8000-000000000001/");
    let r = get(
        s.addr,
        &one,
        &[("accept", ACC_STIX20), ("accept-encoding", "gzip")],
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(r.body.len() < 1024);
    assert_eq!(r.header("content-encoding"), None);
    s.running.shutdown().await;
}
