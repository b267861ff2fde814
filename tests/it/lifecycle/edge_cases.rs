//! Regression tests from the adversarial review of the lifecycle: each one
//! reproduced a defect before its fix (stale duplicates selected by a
//! query, tombstones pointing at dropped markings, a returning indicator
//! reusing id and modified with new content, an identity renamed without a
//! new modified, imported date_added values dated before the previous
//! generation).

use std::path::{Path, PathBuf};
use taxii_edge::compile::{self, CompileOptions};
use taxii_edge::config::Config;
use taxii_edge::feed::Feed;

const COL: &str = "0f0e0d0c-0b0a-4908-8706-050403020100";
const RED: &str = "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed";

fn config(dir: &Path, extra_compile: &str, ttl: i64) -> PathBuf {
    let text = format!(
        r#"
[compile]
out = "feed.taxii"
{extra_compile}
[[api_roots]]
name = "feeds"
title = "Feeds"
[[inputs]]
path = "in/*"
[ttl]
default = {ttl}
[[collections]]
id = "{COL}"
title = "All"
"#
    );
    let p = dir.join("config.toml");
    std::fs::write(&p, text).unwrap();
    p
}

fn rec(ip: &str, tlp: Option<&str>) -> String {
    let tlp = tlp.map(|t| format!(",\"tlp\":\"{t}\"")).unwrap_or_default();
    format!(
        "{{\"type\":\"ipv4\",\"value\":\"{ip}\",\"created\":\"2024-01-02T03:04:05Z\",\"last_modified\":\"2024-01-03T00:00:00Z\"{tlp}}}\n"
    )
}

fn write_native(dir: &Path, lines: &[String]) {
    std::fs::create_dir_all(dir.join("in")).unwrap();
    std::fs::write(dir.join("in/export.ndjson"), lines.concat()).unwrap();
}

fn run(cfg: &Path) {
    compile::run(&CompileOptions {
        config: Config::load(cfg).unwrap(),
        out: None,
        previous: None,
        strict: false,
        allow_shrink: true,
        progress: false,
        now: None,
        force: false,
    })
    .unwrap();
}

/// (id, date_added, json) of every entry of the only collection.
fn entries(feed: &Path) -> Vec<(String, i64, String)> {
    let f = Feed::open(feed).unwrap();
    let c = &f.collections()[0];
    (0..c.len())
        .map(|i| {
            (
                c.id_of(i).to_string(),
                c.entry(i).date_added_us,
                String::from_utf8(c.objects_run(i, i + 1).to_vec()).unwrap(),
            )
        })
        .collect()
}

/// A revoked tombstone keeps `object_marking_refs` to TLP:RED, but the
/// marking definition is dropped from the collection in the same
/// generation (markings are collected before removals are processed).
#[test]
fn tombstone_references_a_marking_definition_that_is_gone() {
    let d = tempfile::tempdir().unwrap();
    let cfg = config(d.path(), "", 720);
    let others: Vec<String> = (2..6)
        .map(|i| rec(&format!("198.51.100.{i}"), None))
        .collect();
    let mut g1 = vec![rec("198.51.100.1", Some("red"))];
    g1.extend(others.clone());
    write_native(d.path(), &g1);
    run(&cfg);
    assert!(entries(&d.path().join("feed.taxii"))
        .iter()
        .any(|(id, _, _)| id == RED));

    write_native(d.path(), &others);
    run(&cfg);
    let e = entries(&d.path().join("feed.taxii"));
    let tomb = e
        .iter()
        .find(|(_, _, j)| j.contains("198.51.100.1'") && j.contains("\"revoked\":true"))
        .expect("a tombstone");
    assert!(tomb.2.contains(RED), "{}", tomb.2);
    assert!(
        e.iter().any(|(id, _, _)| id == RED),
        "the tombstone references {RED} but the collection no longer has it"
    );
}

/// removal = "drop" forgets the key; when the indicator returns after a TTL
/// change it is republished with the SAME id and the SAME `modified` as the
/// first generation, but different content (valid_until): two different
/// objects share id+modified.
#[test]
fn dropped_indicator_returns_with_same_id_and_modified_but_new_content() {
    let d = tempfile::tempdir().unwrap();
    let all: Vec<String> = (1..6)
        .map(|i| rec(&format!("198.51.100.{i}"), None))
        .collect();
    write_native(d.path(), &all);
    run(&config(d.path(), "removal = \"drop\"", 720));
    let g1 = entries(&d.path().join("feed.taxii"));
    let first = g1
        .iter()
        .find(|(_, _, j)| j.contains("198.51.100.1'"))
        .unwrap()
        .clone();

    write_native(d.path(), &all[1..]);
    run(&config(d.path(), "removal = \"drop\"", 720));
    assert!(!entries(&d.path().join("feed.taxii"))
        .iter()
        .any(|(id, _, _)| *id == first.0));

    write_native(d.path(), &all);
    run(&config(d.path(), "removal = \"drop\"", 100));
    let g3 = entries(&d.path().join("feed.taxii"));
    let again = g3.iter().find(|(id, _, _)| *id == first.0).unwrap();
    let v = |j: &str| serde_json::from_str::<serde_json::Value>(j).unwrap();
    let (a, b) = (v(&first.2), v(&again.2));
    assert_ne!(a["valid_until"], b["valid_until"]);
    assert_ne!(
        a["modified"], b["modified"],
        "same id, same modified, different content:\n{}\n{}",
        first.2, again.2
    );
}

/// A passthrough STIX object that first appears in generation 2 keeps the
/// date_added its input gives, which is earlier than everything generation
/// 1 published: a client polling with added_after = generation 1's
/// X-TAXII-Date-Added-Last never sees it (docs/decisions.md#d9).
#[test]
fn new_passthrough_object_is_dated_before_the_previous_generation() {
    let d = tempfile::tempdir().unwrap();
    let cfg = config(d.path(), "", 720);
    let all: Vec<String> = (1..4)
        .map(|i| rec(&format!("198.51.100.{i}"), None))
        .collect();
    write_native(d.path(), &all);
    run(&cfg);
    let cursor = entries(&d.path().join("feed.taxii"))
        .iter()
        .map(|e| e.1)
        .max()
        .unwrap();

    let medallion = r#"{"api1":{"collections":{"91a7b528-80eb-42ed-a74d-c6fbd5a26116":{"id":"91a7b528-80eb-42ed-a74d-c6fbd5a26116","objects":[
{"type":"indicator","spec_version":"2.1","id":"indicator--6b616fc1-1505-48e3-8b2c-0d19337bff38","created":"2020-06-01T00:00:00.000Z","modified":"2020-06-01T00:00:00.000Z","pattern":"[ipv4-addr:value = '203.0.113.9']","pattern_type":"stix","valid_from":"2020-06-01T00:00:00Z",
 "__meta":{"date_added":"2020-06-01T00:00:00.000000Z","media_type":"application/stix+json;version=2.1"}}]}}}}"#;
    std::fs::write(d.path().join("in/medallion.json"), medallion).unwrap();
    run(&cfg);
    let e = entries(&d.path().join("feed.taxii"));
    let new = e
        .iter()
        .find(|(id, _, _)| id == "indicator--6b616fc1-1505-48e3-8b2c-0d19337bff38")
        .expect("passthrough object");
    assert!(
        new.1 > cursor,
        "new object dated {} <= previous generation's last {cursor}: invisible to added_after pollers",
        new.1
    );
}

/// The configured identity has a fixed created/modified; with an explicit
/// id, renaming it changes the content but not id+modified.
#[test]
fn identity_rename_keeps_id_and_modified() {
    let d = tempfile::tempdir().unwrap();
    let all: Vec<String> = (1..4)
        .map(|i| rec(&format!("198.51.100.{i}"), None))
        .collect();
    write_native(d.path(), &all);
    let ident = |n: &str| {
        format!("[compile.identity]\nname = \"{n}\"\nid = \"identity--8f0a3b8e-4a59-4c3b-9a8e-6f0b0c1d2e3f\"\n")
    };
    // [compile.identity] must come after the [compile] keys: put it last.
    let mk = |n: &str| {
        let p = config(d.path(), "", 720);
        let t = std::fs::read_to_string(&p).unwrap();
        std::fs::write(&p, format!("{t}\n{}", ident(n))).unwrap();
        p
    };
    run(&mk("ACME"));
    let g1 = entries(&d.path().join("feed.taxii"));
    run(&mk("ACME Corp"));
    let g2 = entries(&d.path().join("feed.taxii"));
    let pick = |g: &[(String, i64, String)]| {
        g.iter()
            .find(|(id, _, _)| id.starts_with("identity--"))
            .unwrap()
            .clone()
    };
    let (a, b) = (pick(&g1), pick(&g2));
    assert_ne!(a.2, b.2);
    let v = |j: &str| serde_json::from_str::<serde_json::Value>(j).unwrap()["modified"].clone();
    assert_ne!(
        v(&a.2),
        v(&b.2),
        "same id+modified, different content:\n{}\n{}",
        a.2,
        b.2
    );
}

/// Duplicates are merged per collection AFTER the query selected records,
/// so a collection whose query matches only the stale copy publishes it:
/// the newer record (re-marked TLP:RED, or deactivated) is ignored.
#[test]
fn stale_duplicate_wins_when_the_query_only_matches_it() {
    let d = tempfile::tempdir().unwrap();
    let p = config(d.path(), "", 720);
    let t = std::fs::read_to_string(&p).unwrap();
    std::fs::write(&p, format!("{t}query = 'tlp = \"green\"'\n")).unwrap();
    let old = "{\"type\":\"ipv4\",\"value\":\"198.51.100.1\",\"created\":\"2024-01-02T03:04:05Z\",\"last_modified\":\"2024-01-03T00:00:00Z\",\"tlp\":\"green\"}\n".to_string();
    let new = "{\"type\":\"ipv4\",\"value\":\"198.51.100.1\",\"created\":\"2024-01-02T03:04:05Z\",\"last_modified\":\"2024-02-01T00:00:00Z\",\"tlp\":\"red\"}\n".to_string();
    write_native(d.path(), &[old, new]);
    run(&p);
    let e = entries(&d.path().join("feed.taxii"));
    let leaked: Vec<&String> = e
        .iter()
        .map(|x| &x.2)
        .filter(|j| j.contains("198.51.100.1'"))
        .collect();
    assert!(
        leaked.is_empty(),
        "the TLP:GREEN collection publishes an indicator now marked RED: {leaked:?}"
    );
}

/// Indicator records are held as stubs and parsed again from their file to
/// be built (docs/decisions.md#d71): from decompressed exports too, and
/// each key from the file that holds its winning copy.
#[test]
fn records_are_built_from_the_file_that_holds_the_winning_copy() {
    use std::io::Write;
    let line = |ip: &str, modified: &str, tlp: &str| {
        format!(
            "{{\"type\":\"ipv4\",\"value\":\"{ip}\",\"created\":\"2024-01-02T03:04:05Z\",\"last_modified\":\"{modified}\",\"tlp\":\"{tlp}\"}}\n"
        )
    };
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("in");
    std::fs::create_dir_all(&dir).unwrap();
    let plain: String = (1..40)
        .map(|i| line(&format!("198.51.100.{i}"), "2024-01-03T00:00:00Z", "green"))
        .collect();
    std::fs::write(dir.join("a.ndjson"), plain).unwrap();
    // Later copies of two keys, one in a gzip and one in a zstd export.
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(dir.join("b.ndjson.gz")).unwrap(),
        flate2::Compression::default(),
    );
    gz.write_all(line("198.51.100.1", "2024-02-01T00:00:00Z", "red").as_bytes())
        .unwrap();
    gz.finish().unwrap();
    let zst = line("198.51.100.2", "2024-02-02T00:00:00Z", "red");
    std::fs::write(
        dir.join("c.ndjson.zst"),
        zstd::encode_all(zst.as_bytes(), 3).unwrap(),
    )
    .unwrap();
    run(&config(d.path(), "", 720));

    let e = entries(&d.path().join("feed.taxii"));
    let of = |ip: &str| -> Vec<String> {
        e.iter()
            .filter(|(_, _, j)| j.contains(&format!("'{ip}'")))
            .map(|(_, _, j)| j.clone())
            .collect()
    };
    for (ip, modified) in [
        ("198.51.100.1", "2024-02-01"),
        ("198.51.100.2", "2024-02-02"),
    ] {
        let objs = of(ip);
        assert_eq!(objs.len(), 1, "{ip}: {objs:?}");
        assert!(objs[0].contains(RED), "{ip}: {}", objs[0]);
        assert!(
            objs[0].contains(&format!("\"modified\":\"{modified}")),
            "{ip}: {}",
            objs[0]
        );
    }
    let third = of("198.51.100.3");
    assert_eq!(third.len(), 1);
    assert!(!third[0].contains(RED), "{}", third[0]);
    let indicators = e
        .iter()
        .filter(|(id, _, _)| id.starts_with("indicator--"))
        .count();
    assert_eq!(indicators, 39);
}
