//! A recompile whose inputs, config and binary are those of the live
//! generation publishes nothing, until the clock reaches a decision of
//! that generation (docs/decisions.md#d70).

use std::path::{Path, PathBuf};
use std::process::Command;
use taxii_edge::compile::{self, CompileOptions, Summary};
use taxii_edge::config::Config;
use taxii_edge::feed::Feed;
use taxii_edge::time::{parse_rfc3339, Micros, DAY};

const COL: &str = "0f0e0d0c-0b0a-4908-8706-050403020100";

fn config(dir: &Path, ttl: i64, collection: &str) -> PathBuf {
    let text = format!(
        r#"
[compile]
out = "feed.taxii"
[[api_roots]]
name = "feeds"
title = "Feeds"
[[inputs]]
path = "export.ndjson"
[ttl]
default = {ttl}
[[collections]]
id = "{COL}"
title = "All"
{collection}
"#
    );
    let p = dir.join("config.toml");
    std::fs::write(&p, text).unwrap();
    p
}

/// Native records: (IPv4 address, last_modified).
fn export(dir: &Path, records: &[(&str, &str)]) {
    let text: String = records
        .iter()
        .map(|(ip, modified)| {
            format!(
                "{{\"type\":\"ipv4\",\"value\":\"{ip}\",\"created\":\"2024-01-01T00:00:00Z\",\"last_modified\":\"{modified}\"}}\n"
            )
        })
        .collect();
    std::fs::write(dir.join("export.ndjson"), text).unwrap();
}

/// Compiles `config` into its live file at `now` (the wall clock when
/// `None`).
fn run(config: &Path, now: Option<Micros>, force: bool) -> Summary {
    compile::run(&CompileOptions {
        config: Config::load(config).unwrap(),
        out: None,
        previous: None,
        strict: false,
        allow_shrink: true,
        progress: false,
        now,
        force,
    })
    .unwrap()
}

fn at(t: &str) -> Micros {
    parse_rfc3339(t).unwrap()
}

/// (id, date_added, bytes) of every entry of the only collection.
fn entries(feed: &Path) -> Vec<(String, i64, Vec<u8>)> {
    let f = Feed::open(feed).unwrap();
    let c = &f.collections()[0];
    (0..c.len())
        .map(|i| {
            (
                c.id_of(i).to_string(),
                c.entry(i).date_added_us,
                c.objects_run(i, i + 1).to_vec(),
            )
        })
        .collect()
}

fn inode(p: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(p).unwrap().ino()
}

#[test]
fn an_unchanged_recompile_leaves_the_live_file_alone_until_an_input_or_the_config_changes() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("feed.taxii");
    let cfg = config(dir.path(), -1, "");
    let records = [
        ("198.51.100.1", "2024-01-03T00:00:00Z"),
        ("198.51.100.2", "2024-01-04T00:00:00Z"),
    ];
    export(dir.path(), &records);
    let s1 = run(&cfg, None, false);
    assert!(!s1.unchanged);
    let meta = Feed::open(&live).unwrap().meta().compile.clone().unwrap();
    assert!(meta.fingerprint.is_some() && meta.stable_until_us.is_none());
    let (bytes1, ino1) = (std::fs::read(&live).unwrap(), inode(&live));

    // Same inputs: nothing published, the summary names the live generation.
    let s2 = run(&cfg, None, false);
    assert!(s2.unchanged, "{s2:?}");
    assert_eq!(s2.generation, s1.generation);
    assert_eq!((s2.records_read, s2.records_ok), (2, 2));
    assert_eq!(s2.collections[0].objects, s1.collections[0].objects);
    assert_eq!(
        (std::fs::read(&live).unwrap(), inode(&live)),
        (bytes1, ino1)
    );
    // Rewriting a file with the same bytes changes nothing either.
    export(dir.path(), &records);
    assert!(run(&cfg, None, false).unchanged);

    // --force publishes a new generation with the same objects.
    let before = entries(&live);
    let s3 = run(&cfg, None, true);
    assert!(!s3.unchanged && s3.generation != s1.generation);
    assert_eq!(entries(&live), before);
    assert!(run(&cfg, None, false).unchanged);

    // One new record: built and published.
    export(
        dir.path(),
        &[
            records[0],
            records[1],
            ("198.51.100.3", "2024-01-05T00:00:00Z"),
        ],
    );
    let s4 = run(&cfg, None, false);
    assert!(!s4.unchanged && s4.collections[0].added == 1, "{s4:?}");
    assert!(run(&cfg, None, false).unchanged);

    // A changed setting: rebuilt.
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, text.replace("title = \"All\"", "title = \"Every\"")).unwrap();
    let s5 = run(&cfg, None, false);
    assert!(!s5.unchanged, "{s5:?}");
    assert_eq!(s5.collections[0].title, "Every");

    // Another previous generation than the live file: always built.
    let other = dir.path().join("other.taxii");
    std::fs::copy(&live, &other).unwrap();
    let s6 = compile::run(&CompileOptions {
        config: Config::load(&cfg).unwrap(),
        out: None,
        previous: Some(other),
        strict: false,
        allow_shrink: true,
        progress: false,
        now: None,
        force: false,
    })
    .unwrap();
    assert!(!s6.unchanged);
}

#[test]
fn a_query_that_reads_now_rebuilds_every_time() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), -1, "query = 'last_modified > now() - 36500d'");
    export(dir.path(), &[("198.51.100.1", "2024-01-03T00:00:00Z")]);
    run(&cfg, None, false);
    let s = run(&cfg, None, false);
    assert!(!s.unchanged);
    let meta = Feed::open(&dir.path().join("feed.taxii"))
        .unwrap()
        .meta()
        .compile
        .clone();
    assert_eq!(meta.unwrap().fingerprint, None);
}

#[test]
fn an_indicator_that_expires_under_drop_expired_ends_the_skip() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("feed.taxii");
    // valid_until = last_modified + 24 h.
    let cfg = config(dir.path(), 24, "drop_expired = true");
    export(
        dir.path(),
        &[
            ("198.51.100.1", "2024-01-03T00:00:00Z"),
            ("198.51.100.2", "2024-01-05T00:00:00Z"),
        ],
    );
    let s1 = run(&cfg, Some(at("2024-01-03T12:00:00Z")), false);
    assert_eq!(s1.collections[0].objects, 2, "{s1:?}");
    let until = |p: &Path| {
        Feed::open(p)
            .unwrap()
            .meta()
            .compile
            .clone()
            .unwrap()
            .stable_until_us
    };
    assert_eq!(until(&live), Some(at("2024-01-04T00:00:00Z")));

    let s2 = run(&cfg, Some(at("2024-01-04T00:00:00Z") - 1), false);
    assert!(s2.unchanged, "{s2:?}");
    // The first indicator's valid_until has come: it leaves the feed.
    let s3 = run(&cfg, Some(at("2024-01-04T00:00:00Z")), false);
    assert!(!s3.unchanged);
    assert_eq!(s3.collections[0].expired, 1, "{s3:?}");
    assert_eq!(until(&live), Some(at("2024-01-06T00:00:00Z")));
    assert!(run(&cfg, Some(at("2024-01-05T00:00:00Z")), false).unchanged);
}

#[test]
fn a_tombstone_whose_retention_ends_ends_the_skip() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("feed.taxii");
    let cfg = config(dir.path(), -1, "");
    let a = ("198.51.100.1", "2024-01-03T00:00:00Z");
    export(dir.path(), &[a, ("198.51.100.2", "2024-01-03T00:00:00Z")]);
    run(&cfg, Some(at("2024-02-01T00:00:00Z")), false);
    // The second indicator leaves: revoked now, kept 7 days (the default
    // retention) as a tombstone.
    export(dir.path(), &[a]);
    let removed_at = at("2024-02-02T00:00:00Z");
    let s2 = run(&cfg, Some(removed_at), false);
    assert_eq!(s2.collections[0].revoked, 1, "{s2:?}");
    let end = removed_at + 7 * DAY;
    let meta = Feed::open(&live).unwrap().meta().compile.clone().unwrap();
    assert_eq!(meta.stable_until_us, Some(end + 1));

    assert!(run(&cfg, Some(end), false).unchanged);
    let s4 = run(&cfg, Some(end + 1), false);
    assert!(!s4.unchanged);
    assert_eq!(s4.collections[0].dropped, 1, "{s4:?}");
    assert_eq!(entries(&live).len(), 1);
}

#[test]
fn the_command_line_says_when_nothing_was_published() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), -1, "");
    export(dir.path(), &[("198.51.100.1", "2024-01-03T00:00:00Z")]);
    let compile = |extra: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_taxii-edge"))
            .args(["compile", "--config"])
            .arg(&cfg)
            .args(extra)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    assert!(compile(&[]).starts_with("published "));
    let again = compile(&[]);
    assert!(again.starts_with("unchanged: "), "{again}");
    assert!(compile(&["--force"]).starts_with("published "));
    let json: serde_json::Value = serde_json::from_str(&compile(&["--json"])).unwrap();
    assert_eq!(json["unchanged"], true, "{json}");
}
