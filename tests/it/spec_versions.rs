//! Version selection when a collection mixes STIX 2.0 and 2.1 versions of
//! the same objects (docs/decisions.md#d21), over real sockets on a feed
//! compiled from a real STIX bundle.
//!
//! Passthrough imports (medallion data, bundles from older tools) mix spec
//! versions. TAXII 2.1 (sections 3.4.2 and 3.4.3) returns the versions of
//! the objects that match the rest of the request: `match[spec_version]`
//! (default: the latest spec version each object has) picks the versions
//! that take part, then `match[version]` (default `last`) chooses among
//! them. So an object whose newest version is STIX 2.0 and an older one 2.1
//! is listed with its 2.1 version by default, and never disappears.
//!
//! Every answer here is checked against [`model`], a direct transcription
//! of that rule over what the compiled feed holds.

use crate::common::compile_support;
use crate::common::server_support;

use server_support::{get, page_all, Resp};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use taxii_edge::config::Config;
use taxii_edge::feed::{Feed, SpecVersion};
use taxii_edge::server::{self, ServeOptions};

const COL: &str = "6d1f8a52-3c4b-4e7a-9b0c-1d2e3f405162";
const ACC20: &str = "application/vnd.oasis.taxii+json; version=2.0";
const ACC_STIX20: &str = "application/vnd.oasis.stix+json; version=2.0";

/// A 2.1 version, then a later 2.0 version (an older tool re-exported it).
const NEWER20: &str = "indicator--0a000000-0000-4000-8000-000000000001";
/// A 2.0 version, then a later 2.1 version (the usual upgrade).
const NEWER21: &str = "malware--0b000000-0000-4000-8000-000000000002";
/// Only 2.0 versions (two).
const ONLY20: &str = "indicator--0c000000-0000-4000-8000-000000000003";
/// Only 2.1 versions (two): the case every collection has.
const ONLY21: &str = "malware--0d000000-0000-4000-8000-000000000004";
/// Three versions: 2.1, 2.0, 2.1 again, then 2.0 newest: first and last
/// differ in every spec selection.
const ZIGZAG: &str = "indicator--0e000000-0000-4000-8000-000000000005";
/// One 2.0 version among the others.
const SINGLE20: &str = "malware--0f000000-0000-4000-8000-000000000006";

fn obj(id: &str, spec: &str, modified: &str) -> String {
    let ty = id.split("--").next().unwrap();
    let spec_field = if spec == "2.1" {
        "\"spec_version\":\"2.1\","
    } else {
        ""
    };
    let body = if ty == "indicator" {
        if spec == "2.1" {
            "\"pattern\":\"[ipv4-addr:value = '198.51.100.7']\",\"pattern_type\":\"stix\",\"valid_from\":\"2024-01-01T00:00:00Z\"".to_string()
        } else {
            "\"pattern\":\"[ipv4-addr:value = '198.51.100.7']\",\"valid_from\":\"2024-01-01T00:00:00Z\",\"labels\":[\"malicious-activity\"]".to_string()
        }
    } else if spec == "2.1" {
        "\"is_family\":false".to_string()
    } else {
        "\"labels\":[\"trojan\"]".to_string()
    };
    format!(
        "{{\"type\":\"{ty}\",{spec_field}\"id\":\"{id}\",\"created\":\"2024-01-01T00:00:00.000Z\",\"modified\":\"{modified}\",\"name\":\"{id} {spec} {modified}\",{body}}}"
    )
}

/// The input, in bundle order. Some newer versions come first, so the
/// date_added order is not the version order.
fn bundle() -> String {
    let objects = [
        obj(NEWER20, "2.0", "2024-03-01T00:00:00.000Z"),
        obj(NEWER20, "2.1", "2024-02-01T00:00:00.000Z"),
        obj(NEWER21, "2.0", "2024-02-01T00:00:00.000Z"),
        obj(NEWER21, "2.1", "2024-03-01T00:00:00.000Z"),
        obj(ONLY20, "2.0", "2024-02-01T00:00:00.000Z"),
        obj(ONLY21, "2.1", "2024-03-01T00:00:00.000Z"),
        obj(ONLY21, "2.1", "2024-02-01T00:00:00.000Z"),
        obj(ONLY20, "2.0", "2024-03-01T00:00:00.000Z"),
        obj(ZIGZAG, "2.0", "2024-04-01T00:00:00.000Z"),
        obj(ZIGZAG, "2.1", "2024-01-01T00:00:00.000Z"),
        obj(ZIGZAG, "2.0", "2024-02-01T00:00:00.000Z"),
        obj(ZIGZAG, "2.1", "2024-03-01T00:00:00.000Z"),
        obj(SINGLE20, "2.0", "2024-02-01T00:00:00.000Z"),
    ];
    format!(
        "{{\"type\":\"bundle\",\"id\":\"bundle--5e1c0a3b-8d7f-4e2a-9c6b-0f1e2d3c4b5a\",\"objects\":[{}]}}",
        objects.join(",")
    )
}

/// One version as the feed holds it.
#[derive(Debug, Clone)]
struct Version {
    id: String,
    modified: String,
    spec: SpecVersion,
    date_added: i64,
}

impl Version {
    fn key(&self) -> String {
        format!("{} {}", self.id, self.modified)
    }
}

/// Every version the feed holds, in date_added order.
fn held(feed: &Path) -> Vec<Version> {
    let f = Feed::open(feed).unwrap();
    let c = &f.collections()[f.find_collection("feeds", COL).unwrap()];
    assert_eq!(c.mixed_spec(), Some(true));
    (0..c.len())
        .map(|i| {
            let v: serde_json::Value = serde_json::from_slice(&c.objects_run(i, i + 1)).unwrap();
            Version {
                id: c.id_of(i).to_string(),
                modified: v["modified"].as_str().unwrap().to_string(),
                spec: c.entry(i).spec_version,
                date_added: c.entry(i).date_added_us,
            }
        })
        .collect()
}

/// A `match[spec_version]` value: `None` is the default.
type Spec = Option<&'static [SpecVersion]>;
const V20: &[SpecVersion] = &[SpecVersion::V20];
const V21: &[SpecVersion] = &[SpecVersion::V21];
const BOTH: &[SpecVersion] = &[SpecVersion::V20, SpecVersion::V21];

/// docs/decisions.md#d21: per object, the versions of the requested spec versions
/// (default: the object's latest spec version) take part; `version`
/// (`first`, `last`, `all` or a modified timestamp, `None` = `last`)
/// chooses among them. Keys in date_added order, optionally of one type.
fn model(held: &[Version], spec: Spec, version: Option<&str>, ty: Option<&str>) -> Vec<String> {
    let mut by_id: BTreeMap<&str, Vec<&Version>> = BTreeMap::new();
    for v in held {
        by_id.entry(&v.id).or_default().push(v);
    }
    let mut out: Vec<&Version> = Vec::new();
    for (id, vs) in by_id {
        if ty.is_some_and(|t| !id.starts_with(&format!("{t}--"))) {
            continue;
        }
        let latest = vs.iter().map(|v| v.spec).max().unwrap();
        let part: Vec<&Version> = vs
            .iter()
            .copied()
            .filter(|v| match spec {
                None => v.spec == latest,
                Some(set) => set.contains(&v.spec),
            })
            .collect();
        // Timestamps of one millisecond precision sort as strings.
        let first = part.iter().map(|v| &v.modified).min();
        let last = part.iter().map(|v| &v.modified).max();
        out.extend(part.iter().copied().filter(|v| match version {
            None | Some("last") => Some(&v.modified) == last,
            Some("first") => Some(&v.modified) == first,
            Some("all") => true,
            Some(t) => v.modified == t,
        }));
    }
    out.sort_by_key(|v| v.date_added);
    out.iter().map(|v| v.key()).collect()
}

fn spec_param(spec: Spec) -> Option<String> {
    spec.map(|s| {
        let names: Vec<&str> = s.iter().map(|v| v.as_str()).collect();
        format!("match[spec_version]={}", names.join(","))
    })
}

fn query(parts: &[Option<String>]) -> String {
    parts
        .iter()
        .flatten()
        .cloned()
        .collect::<Vec<_>>()
        .join("&")
}

fn url(path: &str, q: &str) -> String {
    if q.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{q}")
    }
}

/// `id modified` of an envelope's objects (`{}` is an empty list).
fn objects(r: &Resp) -> Vec<String> {
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    let Some(a) = v.get("objects") else {
        assert_eq!(r.body, b"{}");
        return Vec::new();
    };
    assert_eq!(v["more"], false);
    a.as_array()
        .unwrap()
        .iter()
        .map(|o| {
            let key = format!(
                "{} {}",
                o["id"].as_str().unwrap(),
                o["modified"].as_str().unwrap()
            );
            // The object's bytes are the version's own (its spec version
            // and modified are in its name).
            let name = o["name"].as_str().unwrap();
            assert!(name.ends_with(o["modified"].as_str().unwrap()), "{o}");
            assert_eq!(
                name.contains(" 2.1 "),
                o.get("spec_version").is_some(),
                "{o}"
            );
            key
        })
        .collect()
}

/// `id version` of a manifest; checks each record's media type against
/// the spec version the feed holds for it.
fn manifest(r: &Resp, held: &[Version]) -> Vec<String> {
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    let Some(a) = v.get("objects") else {
        return Vec::new();
    };
    a.as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let key = format!(
                "{} {}",
                m["id"].as_str().unwrap(),
                m["version"].as_str().unwrap()
            );
            let h = held.iter().find(|h| h.key() == key).expect("held version");
            assert_eq!(
                m["media_type"],
                format!("application/stix+json;version={}", h.spec.as_str()),
                "{m}"
            );
            key
        })
        .collect()
}

struct Setup {
    _dir: tempfile::TempDir,
    held: Vec<Version>,
    running: server::Running,
    addr: SocketAddr,
}

async fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("in")).unwrap();
    std::fs::write(d.join("in/import.json"), bundle()).unwrap();
    let cfg = format!(
        r#"
[compile]
out = "feed.taxii"

[server]
listen = "127.0.0.1:0"

[[api_roots]]
name = "feeds"
title = "Feeds"
default = true

[[inputs]]
path = "in/*"
format = "stix"

[[collections]]
id = "{COL}"
alias = "imported"
title = "Imported"
anonymous = true
taxii_versions = ["2.1", "2.0"]
"#
    );
    std::fs::write(d.join("config.toml"), cfg).unwrap();
    compile_support::compile_config(&d.join("config.toml")).unwrap();
    let held = held(&d.join("feed.taxii"));
    assert_eq!(held.len(), 13, "every version of the bundle is held");
    // The feed dates versions in input order, so the newer 2.0 version of
    // NEWER20 was added before its older 2.1 version: selection goes by
    // version, not by date_added.
    let da = |k: &str| held.iter().find(|h| h.key() == k).unwrap().date_added;
    assert!(da(&key(NEWER20, "2024-03-01")) < da(&key(NEWER20, "2024-02-01")));
    let running = server::start(ServeOptions {
        config: Config::load(&d.join("config.toml")).unwrap(),
        feed_path: d.join("feed.taxii"),
        listen: Some("127.0.0.1:0".to_string()),
    })
    .await
    .unwrap();
    let addr = running.local_addr;
    Setup {
        _dir: dir,
        held,
        running,
        addr,
    }
}

fn key(id: &str, modified: &str) -> String {
    format!("{id} {modified}T00:00:00.000Z")
}

const SPECS: [Spec; 4] = [None, Some(V20), Some(V21), Some(BOTH)];
const VERSIONS: [Option<&str>; 5] = [
    None,
    Some("first"),
    Some("last"),
    Some("all"),
    Some("2024-02-01T00:00:00.000Z"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_and_manifest_select_versions_within_the_spec_versions() {
    let s = setup().await;
    let held = &s.held;
    let objects_path = format!("/feeds/collections/{COL}/objects/");
    let manifest_path = format!("/feeds/collections/{COL}/manifest/");

    // The default listing, spelled out: every object, each with the latest
    // version of its latest spec version.
    let mut want = vec![
        key(NEWER20, "2024-02-01"),
        key(NEWER21, "2024-03-01"),
        key(ONLY21, "2024-03-01"),
        key(ONLY20, "2024-03-01"),
        key(ZIGZAG, "2024-03-01"),
        key(SINGLE20, "2024-02-01"),
    ];
    let order = |k: &String| held.iter().find(|h| h.key() == *k).unwrap().date_added;
    want.sort_by_key(order);
    assert_eq!(model(held, None, None, None), want);
    let r = get(s.addr, &objects_path, &[]).await;
    assert_eq!(objects(&r), want);
    // The date headers span the returned versions.
    let first_da = taxii_edge::time::fmt_us(order(&want[0]));
    let last_da = taxii_edge::time::fmt_us(order(want.last().unwrap()));
    assert_eq!(
        r.header("x-taxii-date-added-first"),
        Some(first_da.as_str())
    );
    assert_eq!(r.header("x-taxii-date-added-last"), Some(last_da.as_str()));

    // Every combination of match[spec_version], match[version] and
    // match[type], on objects and manifest.
    for spec in SPECS {
        for version in VERSIONS {
            for ty in [None, Some("indicator"), Some("malware")] {
                let q = query(&[
                    spec_param(spec),
                    version.map(|v| format!("match[version]={v}")),
                    ty.map(|t| format!("match[type]={t}")),
                ]);
                let want = model(held, spec, version, ty);
                let r = get(s.addr, &url(&objects_path, &q), &[]).await;
                assert_eq!(objects(&r), want, "objects/?{q}");
                let r = get(s.addr, &url(&manifest_path, &q), &[]).await;
                assert_eq!(manifest(&r, held), want, "manifest/?{q}");
            }
        }
    }

    // Paged one item at a time: the look-ahead (`more`) and the `next`
    // tokens see the same selection.
    for spec in SPECS {
        for version in [None, Some("first"), Some("all")] {
            let q = query(&[
                spec_param(spec),
                version.map(|v| format!("match[version]={v}")),
                Some("limit=1".to_string()),
            ]);
            let want = model(held, spec, version, None);
            let (got, pages) = page_all(s.addr, &objects_path, &q, &[], "objects").await;
            assert_eq!(got, want, "objects/?{q}");
            assert_eq!(pages, want.len().max(1), "objects/?{q}: one page per item");
            let (got, _) = page_all(s.addr, &manifest_path, &q, &[], "objects").await;
            assert_eq!(got, want, "manifest/?{q}");
        }
    }

    // added_after narrows the listing, but never changes which version of
    // an object is the selected one.
    let cut = held[held.len() / 2].date_added;
    let q = format!("added_after={}", taxii_edge::time::fmt_us(cut));
    let want: Vec<String> = model(held, None, None, None)
        .into_iter()
        .filter(|k| order(k) > cut)
        .collect();
    assert_eq!(
        objects(&get(s.addr, &url(&objects_path, &q), &[]).await),
        want
    );

    // match[id] of the object whose newest version is 2.0.
    let q = format!("match[id]={NEWER20}");
    assert_eq!(
        objects(&get(s.addr, &url(&objects_path, &q), &[]).await),
        vec![key(NEWER20, "2024-02-01")]
    );
    s.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_by_id_and_versions_select_within_the_spec_versions() {
    let s = setup().await;
    let held = &s.held;
    for id in [NEWER20, NEWER21, ONLY20, ONLY21, ZIGZAG, SINGLE20] {
        let mine: Vec<Version> = held.iter().filter(|h| h.id == id).cloned().collect();
        let path = format!("/feeds/collections/{COL}/objects/{id}/");
        for spec in SPECS {
            for version in VERSIONS {
                let q = query(&[
                    spec_param(spec),
                    version.map(|v| format!("match[version]={v}")),
                ]);
                let want = model(&mine, spec, version, None);
                let r = get(s.addr, &url(&path, &q), &[]).await;
                assert_eq!(objects(&r), want, "{path}?{q}");
            }
            // Versions: every version of the selected spec versions,
            // ascending by date_added (docs/decisions.md#d14).
            let q = query(&[spec_param(spec)]);
            let vpath = format!("{path}versions/");
            let want: Vec<String> = model(&mine, spec, Some("all"), None)
                .iter()
                .map(|k| k.rsplit(' ').next().unwrap().to_string())
                .collect();
            let r = get(s.addr, &url(&vpath, &q), &[]).await;
            assert_eq!(r.status, 200, "{vpath}?{q}: {}", r.text());
            let got: Vec<String> = r
                .json()
                .get("versions")
                .map(|a| {
                    a.as_array()
                        .unwrap()
                        .iter()
                        .map(|v| v.as_str().unwrap().to_string())
                        .collect()
                })
                .unwrap_or_default();
            assert_eq!(got, want, "{vpath}?{q}");
            let q = query(&[spec_param(spec), Some("limit=1".to_string())]);
            let (paged, _) = page_all(s.addr, &vpath, &q, &[], "versions").await;
            assert_eq!(paged, want, "{vpath}?{q}");
        }
    }
    // The object whose newest version is 2.0 is found by id, with its 2.1
    // version by default and its 2.0 version on request.
    let path = format!("/feeds/collections/{COL}/objects/{NEWER20}/");
    assert_eq!(
        objects(&get(s.addr, &path, &[]).await),
        vec![key(NEWER20, "2024-02-01")]
    );
    assert_eq!(
        objects(&get(s.addr, &format!("{path}?match[spec_version]=2.0,2.1"), &[]).await),
        vec![key(NEWER20, "2024-03-01")]
    );
    s.running.shutdown().await;
}

/// TAXII 2.0 has no `match[spec_version]`: its view is the versions that
/// have a STIX 2.0 form (the passthrough 2.0 versions here), and
/// `match[version]` chooses among them, the same rule as 2.1 with
/// `match[spec_version]=2.0`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn taxii20_selects_among_the_stix20_versions() {
    let s = setup().await;
    let held = &s.held;
    let bundle_items = |r: &Resp| -> Vec<String> {
        assert!(r.status == 200 || r.status == 206, "{}", r.text());
        let v = r.json();
        v.get("objects")
            .map(|a| {
                a.as_array()
                    .unwrap()
                    .iter()
                    .map(|o| {
                        assert!(o.get("spec_version").is_none(), "{o}");
                        format!(
                            "{} {}",
                            o["id"].as_str().unwrap(),
                            o["modified"].as_str().unwrap()
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    for version in [None, Some("first"), Some("last"), Some("all")] {
        let q = query(&[version.map(|v| format!("match[version]={v}"))]);
        let want = model(held, Some(V20), version, None);
        let r = get(
            s.addr,
            &url(&format!("/feeds/collections/{COL}/objects/"), &q),
            &[("accept", ACC_STIX20)],
        )
        .await;
        assert_eq!(bundle_items(&r), want, "2.0 objects/?{q}");
        // The 2.0 manifest: one entry per object, its matching versions.
        let r = get(
            s.addr,
            &url(&format!("/feeds/collections/{COL}/manifest/"), &q),
            &[("accept", ACC20)],
        )
        .await;
        let mut got: Vec<String> = Vec::new();
        for m in r.json()["objects"].as_array().unwrap() {
            for v in m["versions"].as_array().unwrap() {
                got.push(format!(
                    "{} {}",
                    m["id"].as_str().unwrap(),
                    v.as_str().unwrap()
                ));
            }
        }
        got.sort();
        let mut want = want.clone();
        want.sort();
        assert_eq!(got, want, "2.0 manifest/?{q}");
        for id in [NEWER20, NEWER21, ONLY20, ZIGZAG, SINGLE20] {
            let mine: Vec<Version> = held.iter().filter(|h| h.id == id).cloned().collect();
            let r = get(
                s.addr,
                &url(&format!("/feeds/collections/{COL}/objects/{id}/"), &q),
                &[("accept", ACC_STIX20)],
            )
            .await;
            assert_eq!(
                bundle_items(&r),
                model(&mine, Some(V20), version, None),
                "2.0 objects/{id}/?{q}"
            );
        }
    }
    s.running.shutdown().await;
}
