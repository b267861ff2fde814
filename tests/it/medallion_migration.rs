//! Migrating from medallion (README "Migrating from medallion"): the
//! config `testdata/medallion.toml` compiles medallion's sample data file
//! and serves it with medallion's discovery, api roots, collection ids,
//! titles and descriptions; every collection's objects and manifest list
//! exactly the object versions the data file puts in that collection (an
//! object version in two collections is in both). Everything expected is
//! read from the data file itself, not written down here.

use crate::common::server_support;

use server_support::*;
use std::collections::BTreeSet;
use std::path::Path;
use taxii_edge::compile::{self, CompileOptions};
use taxii_edge::config::Config;
use taxii_edge::server::{self, ServeOptions};

/// One medallion collection as its data file declares it.
#[derive(Debug)]
struct Declared {
    api_root: String,
    id: String,
    meta: serde_json::Value,
    /// (id, version) of every object version, the version as µs.
    versions: BTreeSet<(String, i64)>,
}

fn us(s: &str) -> i64 {
    taxii_edge::time::parse_rfc3339(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn declared(data: &serde_json::Value) -> Vec<Declared> {
    let mut out = Vec::new();
    for (root, v) in data.as_object().unwrap() {
        if root == "/discovery" {
            continue;
        }
        let cols: Vec<&serde_json::Value> = match &v["collections"] {
            serde_json::Value::Array(a) => a.iter().collect(),
            serde_json::Value::Object(m) => m.values().collect(),
            other => panic!("{root}: collections {other}"),
        };
        for c in cols {
            let versions = c["objects"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| {
                    let v = o.get("modified").or(o.get("created")).unwrap();
                    (
                        o["id"].as_str().unwrap().to_string(),
                        us(v.as_str().unwrap()),
                    )
                })
                .collect();
            out.push(Declared {
                api_root: root.clone(),
                id: c["id"].as_str().unwrap().to_string(),
                meta: serde_json::json!({
                    "id": c["id"],
                    "title": c["title"],
                    "description": c["description"],
                    "can_read": true,
                    "media_types": c["media_types"],
                }),
                versions,
            });
        }
    }
    out
}

/// The served fields medallion's data also declares (taxii-edge is
/// read-only, so `can_write` is not compared; `can_read` is true for a
/// reader).
fn comparable(served: &serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "id": served["id"],
        "title": served["title"],
        "description": served["description"],
        "can_read": served["can_read"],
        "media_types": served["media_types"],
    })
}

/// `id version` lines of a paged listing → (id, version µs).
fn parsed(lines: Vec<String>) -> BTreeSet<(String, i64)> {
    lines
        .into_iter()
        .map(|l| {
            let (id, v) = l.split_once(' ').unwrap();
            (id.to_string(), us(v))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn medallion_config_serves_medallions_collections() {
    let testdata = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let data: serde_json::Value = serde_json::from_slice(
        &std::fs::read(testdata.join("inputs/medallion-default_data.json")).unwrap(),
    )
    .unwrap();
    let want = declared(&data);
    // The sample covers both layouts and an object in two collections.
    assert_eq!(want.len(), 3, "{want:?}");
    let shared: Vec<_> = want[0].versions.intersection(&want[1].versions).collect();
    assert_eq!(shared.len(), 2, "{want:?}");

    // The config exactly as README shows it; only the output goes to a
    // temp dir.
    let config = Config::load(&testdata.join("medallion.toml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let feed_path = dir.path().join("medallion.taxii");
    let summary = compile::run(&CompileOptions {
        config: config.clone(),
        out: Some(feed_path.clone()),
        previous: None,
        strict: true,
        allow_shrink: false,
        progress: false,
        now: None,
        force: false,
    })
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(summary.stix_check.is_empty(), "{:?}", summary.stix_check);
    let running = server::start(ServeOptions {
        config,
        feed_path,
        listen: Some("127.0.0.1:0".into()),
    })
    .await
    .unwrap();
    let addr = running.local_addr;
    let auth = basic("medallion", "medallion");
    let h = [("authorization", auth.as_str())];

    // Discovery and api roots.
    let disc = &data["/discovery"];
    let d = get(addr, "/taxii2/", &h).await.json();
    for k in ["title", "description", "contact"] {
        assert_eq!(d[k], disc[k], "discovery {k}");
    }
    let tail = |u: &serde_json::Value| {
        let s = u.as_str().unwrap().trim_end_matches('/');
        s.rsplit('/').next().unwrap().to_string()
    };
    assert_eq!(tail(&d["default"]), tail(&disc["default"]));
    let roots: BTreeSet<String> = d["api_roots"]
        .as_array()
        .unwrap()
        .iter()
        .map(tail)
        .collect();
    let declared_roots: BTreeSet<String> = data
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| *k != "/discovery")
        .cloned()
        .collect();
    assert_eq!(roots, declared_roots);
    for root in &declared_roots {
        let r = get(addr, &format!("/{root}/"), &h).await.json();
        let info = &data[root]["information"];
        assert_eq!(
            (&r["title"], &r["description"]),
            (&info["title"], &info["description"]),
            "api root {root}"
        );
        // The collections listing of each root: exactly medallion's.
        let listed = get(addr, &format!("/{root}/collections/"), &h).await.json();
        let mut got: Vec<serde_json::Value> = listed
            .get("collections")
            .and_then(|c| c.as_array())
            .map(|a| a.iter().map(comparable).collect())
            .unwrap_or_default();
        let mut exp: Vec<serde_json::Value> = want
            .iter()
            .filter(|c| &c.api_root == root)
            .map(|c| c.meta.clone())
            .collect();
        got.sort_by_key(|c| c["id"].to_string());
        exp.sort_by_key(|c| c["id"].to_string());
        assert_eq!(got, exp, "collections of {root}");
    }

    // Each collection: its resource, its objects and its manifest (every
    // version of every spec version: by default a listing shows each
    // object's latest spec version only, docs/decisions.md#d21).
    let all = "match[version]=all&match[spec_version]=2.0,2.1";
    for c in &want {
        let base = format!("/{}/collections/{}", c.api_root, c.id);
        let r = get(addr, &format!("{base}/"), &h).await;
        assert_eq!(r.status, 200, "{base}: {}", r.text());
        assert_eq!(comparable(&r.json()), c.meta, "{base}");
        let (objects, _) = page_all(addr, &format!("{base}/objects/"), all, &h, "objects").await;
        assert_eq!(parsed(objects), c.versions, "{base}/objects/");
        let (manifest, _) = page_all(addr, &format!("{base}/manifest/"), all, &h, "objects").await;
        assert_eq!(parsed(manifest), c.versions, "{base}/manifest/");
    }
    running.shutdown().await;
}

/// `file` selects by input file, as `[[inputs]]` names it (relative to the
/// config's directory); `collection` is absent outside medallion files.
#[test]
fn file_and_collection_select_by_origin() {
    let dir = tempfile::tempdir().unwrap();
    taxii_edge::cli::demo::write_samples(dir.path()).unwrap();
    let config = r#"
[compile]
out = "feed.taxii"
[[api_roots]]
name = "feeds"
title = "Feeds"
[[inputs]]
path = "inputs/stix-*.json"
[[inputs]]
path = "inputs/medallion-default_data.json"
[[inputs]]
path = "inputs/native.ndjson"
[[collections]]
id = "0f0e0d0c-0b0a-4908-8706-050403020101"
title = "Bundle"
query = 'file = "inputs/stix-bundle.json"'
[[collections]]
id = "0f0e0d0c-0b0a-4908-8706-050403020102"
title = "Medallion"
query = 'file endswith "/medallion-default_data.json"'
[[collections]]
id = "0f0e0d0c-0b0a-4908-8706-050403020103"
title = "Not from medallion"
query = 'not collection exists'
[[collections]]
id = "0f0e0d0c-0b0a-4908-8706-050403020104"
title = "Native"
query = 'file = "inputs/native.ndjson"'
"#;
    let path = dir.path().join("files.toml");
    std::fs::write(&path, config).unwrap();
    let s = compile::run(&CompileOptions {
        config: Config::load(&path).unwrap(),
        out: None,
        previous: None,
        strict: true,
        allow_shrink: false,
        progress: false,
        now: None,
        force: false,
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let selected: Vec<u64> = s.collections.iter().map(|c| c.selected).collect();
    let files: Vec<u64> = s.files.iter().map(|f| f.records).collect();
    // Bundle: 8 objects; medallion: 9 read, 2 merged duplicates; native:
    // every record of its file.
    assert_eq!(files[..2], [8, 9]);
    assert_eq!(
        selected,
        vec![8, 7, files[0] + files[2], files[2]],
        "{:?}",
        s.collections
    );
}
