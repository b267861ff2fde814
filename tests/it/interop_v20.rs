//! TAXII 2.0 interoperability with the OASIS `taxii2-client` (`v20`
//! classes), run as a real process from the virtualenv `tools/test.sh`
//! creates (`TAXII_EDGE_PYTHON`): the bundled samples plus a generated
//! native export of 1,500 records are compiled, served, and read through
//! discovery, api roots and collections; every 2.0 collection is paged with
//! `as_pages` at `per_request` 1, 7, 100 and larger than the max page, and
//! must give exactly the compiled objects, no loss, no duplicate, one
//! request per page.

use crate::common::compile_support::{compile_into, interop_script, python};
use std::collections::HashMap;
use std::io::Write;
use std::process::Command;
use taxii_edge::config::Config;
use taxii_edge::feed::Feed;
use taxii_edge::record::Profile;
use taxii_edge::{server, synth, time};

/// The expectations of `taxii20_client.py` for one user: per collection
/// offering 2.0 and readable by the user, the latest version having a STIX
/// 2.0 form of each object, in date_added order (an independent model: it
/// groups the entries by id itself instead of trusting the feed's flags).
fn expectations(
    feed: &Feed,
    readable: &[&str],
    root_url: &str,
    max_page: u32,
) -> serde_json::Value {
    let mut cols = serde_json::Map::new();
    for (meta, c) in feed.meta().collections.iter().zip(feed.collections()) {
        let alias = meta.alias.as_deref().unwrap_or("");
        if !readable.contains(&alias) || !meta.taxii_versions.iter().any(|v| v == "2.0") {
            continue;
        }
        // id → (version, date_added, entry) of its latest 2.0 version.
        let mut latest: HashMap<String, (i64, i64, usize)> = HashMap::new();
        for i in 0..c.len() {
            if c.object20_bytes(i).is_none() {
                continue;
            }
            let e = c.entry(i);
            let id = c.id_of(i).to_string();
            let key = (e.version_us, e.date_added_us, i);
            let slot = latest.entry(id).or_insert(key);
            if key > *slot {
                *slot = key;
            }
        }
        let mut items: Vec<(usize, String, i64)> = latest
            .into_iter()
            .map(|(id, (v, _, i))| (i, id, v))
            .collect();
        items.sort();
        let (mut objects, mut manifest, mut added) = (vec![], vec![], vec![]);
        for (i, id, v) in items {
            let obj: serde_json::Value =
                serde_json::from_slice(&c.object20_bytes(i).unwrap()).unwrap();
            assert_eq!(obj["id"], id.as_str());
            assert!(obj.get("spec_version").is_none(), "{obj}");
            let version = obj.get("modified").or(obj.get("created")).unwrap().clone();
            objects.push(serde_json::json!([id, version]));
            let mut s = String::new();
            taxii_edge::time::push_version(&mut s, v);
            manifest.push(serde_json::json!([id, [s]]));
            added.push(serde_json::Value::String(time::fmt_us(
                c.entry(i).date_added_us,
            )));
        }
        cols.insert(
            meta.id.clone(),
            serde_json::json!({"objects": objects, "manifest": manifest, "date_added": added}),
        );
    }
    serde_json::json!({
        "title": feed.meta().title,
        "root_url": root_url,
        "max_page": max_page,
        "sizes": [1, 7, 100, max_page + 500],
        "collections": cols,
    })
}

#[test]
fn taxii2_client_v20_pages_through_every_collection() {
    let dir = tempfile::tempdir().unwrap();
    taxii_edge::cli::demo::write_samples(dir.path()).unwrap();
    // A generated native export makes the collections span many pages.
    let gen = dir.path().join("inputs/generated.ndjson");
    let mut w = std::io::BufWriter::new(std::fs::File::create(&gen).unwrap());
    let mut items = (0..1_500u64).map(|i| (i, 0u32));
    synth::write_export(
        Profile::Native,
        3,
        &mut items,
        synth::Container::Ndjson,
        &mut w,
    )
    .unwrap();
    w.flush().unwrap();
    // Offer 2.0 on the anonymous and the passthrough collections too (the
    // latter mixes passthrough STIX 2.0 and 2.1 objects).
    let text = std::fs::read_to_string(dir.path().join("example.toml"))
        .unwrap()
        .replace(
            "alias = \"public-hashes\"\n",
            "alias = \"public-hashes\"\ntaxii_versions = [\"2.1\", \"2.0\"]\n",
        )
        .replace(
            "alias = \"stix-passthrough\"\n",
            "alias = \"stix-passthrough\"\ntaxii_versions = [\"2.1\", \"2.0\"]\n",
        )
        + "\n[[inputs]]\npath = \"inputs/generated.ndjson\"\n";
    assert_eq!(
        text.matches("taxii_versions = [\"2.1\", \"2.0\"]").count(),
        3
    );
    std::fs::write(dir.path().join("example.toml"), text).unwrap();
    let out = compile_into(&dir.path().join("example.toml"), dir.path());
    let feed = Feed::open(&out).unwrap();

    let mut config = Config::load(&dir.path().join("example.toml")).unwrap();
    config.server.max_page_size = 1000;
    let max_page = config.server.max_page_size;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let running = rt
        .block_on(server::start(server::ServeOptions {
            config,
            feed_path: out.clone(),
            listen: Some("127.0.0.1:0".into()),
        }))
        .expect("server starts");
    let url = format!("http://{}/taxii/", running.local_addr);
    let root_url = format!("http://{}/feeds/", running.local_addr);

    for (user, readable) in [
        (
            Some("demo"),
            &["all", "network-high", "stix-passthrough", "public-hashes"][..],
        ),
        (
            Some("analyst"),
            &["all", "apt28", "stix-passthrough", "public-hashes"][..],
        ),
        (None, &["public-hashes"][..]),
    ] {
        let expect_v = expectations(&feed, readable, &root_url, max_page);
        let cols = expect_v["collections"].as_object().unwrap();
        assert!(!cols.is_empty());
        if user == Some("demo") {
            // The big collection spans several max pages of 2.0 objects.
            assert!(cols
                .values()
                .any(|c| c["objects"].as_array().unwrap().len() > 1_000));
        }
        let expect = dir
            .path()
            .join(format!("expect20-{}.json", user.unwrap_or("anonymous")));
        std::fs::write(&expect, serde_json::to_vec(&expect_v).unwrap()).unwrap();
        let mut cmd = Command::new(python());
        cmd.arg(interop_script("taxii20_client.py"))
            .arg("--url")
            .arg(&url)
            .arg("--expect")
            .arg(&expect);
        if let Some(u) = user {
            cmd.args(["--user", u, "--password", u]);
        }
        let out = cmd.output().expect("run python");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success(),
            "taxii2-client v20 as {user:?}:\n{text}"
        );
        eprintln!("taxii2-client v20 as {user:?}: {text}");
    }
    rt.block_on(running.shutdown());
}
