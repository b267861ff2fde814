//! `server.base_path`: every TAXII URL lives under the prefix (for reverse
//! proxies: `/taxii-edge/`, XSOAR's `/instance/execute/feed/`). Discovery
//! (2.1 and the absolute 2.0 api_roots), api roots, collections, objects
//! with `next` and TAXII 2.0 Range pages all answer under it, every URL the
//! server writes carries it, and the same paths without the prefix are 404.

use crate::common::server_support;

use server_support::*;

const ACC20: &str = "application/vnd.oasis.taxii+json; version=2.0";
const STIX20: &str = "application/vnd.oasis.stix+json; version=2.0";

/// The public collection offers 2.0 as well, with 2.0 serializations.
fn spec_both() -> taxii_edge::feed::FeedSpec {
    let mut sp = spec("gen-bp", 4, objects(10, T0));
    sp.meta.collections[0].taxii_versions = vec!["2.1".into(), "2.0".into()];
    add_stix20_forms(&mut sp.collections[0].objects);
    sp
}

async fn check_prefix(base: &str, public_url: Option<&str>) {
    let mut extra = format!("base_path = {base:?}");
    if let Some(u) = public_url {
        extra.push_str(&format!("\npublic_url = {u:?}"));
    }
    let s = start_with(&spec_both(), &extra).await;
    let origin = public_url
        .map(|u| u.trim_end_matches('/').to_string())
        .unwrap_or_else(|| format!("http://{}", s.addr));

    // TAXII 2.1 discovery: api_roots relative to the host (or absolute
    // with public_url), both under the prefix; `default` is one of them.
    let r = get(s.addr, &format!("{base}taxii2/"), &[]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    let root21 = match public_url {
        Some(_) => format!("{origin}{base}feeds/"),
        None => format!("{base}feeds/"),
    };
    assert_eq!(v["api_roots"], serde_json::json!([root21]));
    assert_eq!(v["default"], root21.as_str());

    // TAXII 2.0 discovery: absolute api_roots (docs/decisions.md#d16) under the
    // prefix; `default` byte for byte one of them.
    let r = get(s.addr, &format!("{base}taxii/"), &[("accept", ACC20)]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    let root20 = format!("{origin}{base}feeds/");
    assert_eq!(v["api_roots"], serde_json::json!([root20]));
    assert_eq!(v["default"], root20.as_str());

    // Following the discovered api root: the path part of the URL.
    let root_path = format!("{base}feeds/");
    let r = get(s.addr, &root_path, &[]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["title"], "Feeds");
    let r = get(s.addr, &format!("{root_path}collections/"), &[]).await;
    assert_eq!(r.status, 200);
    let cols = r.json()["collections"].as_array().unwrap().clone();
    assert_eq!(cols.len(), 1, "anonymous sees the public collection only");
    assert_eq!(cols[0]["id"], PUBLIC);
    let col = format!("{root_path}collections/{PUBLIC}/");
    assert_eq!(get(s.addr, &col, &[]).await.json()["id"], PUBLIC);
    // Objects, paged with `next` (page size 4): every object, once.
    let (ids, pages) = page_all(s.addr, &format!("{col}objects/"), "", &[], "objects").await;
    assert_eq!(ids.len(), 10);
    assert_eq!(pages, 3);
    let mut uniq = ids.clone();
    uniq.sort();
    uniq.dedup();
    assert_eq!(uniq.len(), 10);
    let (m, _) = page_all(s.addr, &format!("{col}manifest/"), "", &[], "objects").await;
    assert_eq!(m.len(), 10);
    // Alias routing under the prefix too.
    let r = get(
        s.addr,
        &format!("{root_path}collections/public/objects/"),
        &[],
    )
    .await;
    assert_eq!(r.status, 200);

    // TAXII 2.0 under the prefix: the collection list, and a Range page.
    let r = get(
        s.addr,
        &format!("{root_path}collections/"),
        &[("accept", ACC20)],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["collections"][0]["id"], PUBLIC);
    let r = get(
        s.addr,
        &format!("{col}objects/"),
        &[("accept", STIX20), ("range", "items=0-2")],
    )
    .await;
    assert_eq!(r.status, 206, "{}", r.text());
    assert_eq!(r.header("content-range"), Some("items 0-2/10"));
    assert_eq!(r.json()["objects"].as_array().unwrap().len(), 3);

    // Outside the prefix: nothing.
    for p in [
        "/taxii2/".to_string(),
        "/taxii/".to_string(),
        "/feeds/".to_string(),
        format!("/feeds/collections/{PUBLIC}/objects/"),
        base.trim_end_matches('/').to_string(),
        format!("{}x/taxii2/", base.trim_end_matches('/')),
        format!("{base}taxii2/extra/"),
    ] {
        let r = get(s.addr, &p, &[]).await;
        assert_eq!(r.status, 404, "{p}: {}", r.text());
        assert_eq!(r.json()["http_status"], "404", "{p}");
    }
    // Operational endpoints stay at the root.
    assert_eq!(get(s.addr, "/healthz", &[]).await.status, 200);
    s.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn base_path_taxii_edge_prefix() {
    check_prefix("/taxii-edge/", None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn base_path_xsoar_instance_prefix_with_public_url() {
    check_prefix(
        "/instance/execute/feed/",
        Some("https://xsoar.example.com/"),
    )
    .await;
}

/// A base path written without its trailing slash means the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn base_path_without_trailing_slash_is_normalized() {
    let s = start_with(&spec_both(), "base_path = \"/taxii-edge\"").await;
    let r = get(s.addr, "/taxii-edge/taxii2/", &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["api_roots"][0], "/taxii-edge/feeds/");
    assert_eq!(get(s.addr, "/taxii-edge/feeds", &[]).await.status, 200);
    assert_eq!(get(s.addr, "/taxii2/", &[]).await.status, 404);
    s.running.shutdown().await;
}
