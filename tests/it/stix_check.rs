//! The structural check of passthrough STIX objects (`compile.stix_check`):
//! the bundled samples pass it; `warn` keeps a flawed object and counts a
//! warning; `reject` leaves it out with a reject record (file, line,
//! reason) counted like any other reject; the counts per reason are in the
//! summary, its text form and `compile --json`.

use crate::common::compile_support::compile_config as run;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use taxii_edge::compile::{self, CompileOptions};
use taxii_edge::config::Config;
use taxii_edge::exit::ExitStatus;
use taxii_edge::feed::Feed;

/// One clean object, then four with one or two problems each.
const FLAWED: &str = concat!(
    r#"{"type":"indicator","spec_version":"2.1","id":"indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f","created":"2023-03-02T10:15:30.123Z","modified":"2023-03-02T10:15:30.123Z","pattern":"[ipv4-addr:value = '198.51.100.99']","pattern_type":"stix","valid_from":"2023-03-02T10:15:30.123Z"}"#,
    "\n",
    // A STIX 2.1 malware without is_family.
    r#"{"type":"malware","spec_version":"2.1","id":"malware--31b940d4-6f7f-459a-80ea-9c1f17b5891b","created":"2023-03-01T09:30:00.000Z","modified":"2023-03-01T09:30:00.000Z","name":"Poison Ivy"}"#,
    "\n",
    // No spec_version: a STIX 2.0 indicator, without labels and with a
    // created of second precision.
    r#"{"type":"indicator","id":"indicator--c6a5e1e2-3f5b-4c4e-9d5e-0b6f0c6d2a11","created":"2023-03-03T00:00:00Z","modified":"2023-03-03T00:00:00.000Z","pattern":"[ipv4-addr:value = '198.51.100.1']","valid_from":"2023-03-03T00:00:00Z"}"#,
    "\n",
    // A relationship whose source is not an identifier.
    r#"{"type":"relationship","spec_version":"2.1","id":"relationship--44298a74-ba52-4f0c-87a3-1824e67d7fad","created":"2023-03-02T10:20:00.000Z","modified":"2023-03-02T10:20:00.000Z","relationship_type":"indicates","source_ref":"indicator--poison","target_ref":"malware--31b940d4-6f7f-459a-80ea-9c1f17b5891b"}"#,
    "\n",
    // A cyber-observable that says it is STIX 2.0.
    r#"{"type":"ipv4-addr","spec_version":"2.0","id":"ipv4-addr--4f1b9c2a-6d3e-4a5b-8c7d-0e1f2a3b4c5d","value":"198.51.100.7"}"#,
    "\n",
);

fn setup(compile_extra: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("flawed.ndjson"), FLAWED).unwrap();
    let config = format!(
        r#"
[compile]
out = "feed.taxii"
{compile_extra}
[[api_roots]]
name = "feeds"
title = "Feeds"
[[inputs]]
path = "flawed.ndjson"
[[collections]]
id = "6a5b4c3d-2e1f-4a0b-9c8d-7e6f5a4b3c2d"
title = "Passthrough"
"#
    );
    let path = dir.path().join("check.toml");
    std::fs::write(&path, config).unwrap();
    (dir, path)
}

fn expected_counts() -> BTreeMap<String, u64> {
    [
        ("id", 1),
        ("missing-property", 2),
        ("spec-version", 1),
        ("timestamp", 1),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

fn ids_in_feed(path: &Path) -> Vec<String> {
    let feed = Feed::open(path).unwrap();
    let c = &feed.collections()[0];
    let mut ids: Vec<String> = (0..c.len())
        .map(|i| {
            let v: serde_json::Value = serde_json::from_slice(&c.objects_run(i, i + 1)).unwrap();
            v["id"].as_str().unwrap().to_string()
        })
        .collect();
    ids.sort();
    ids
}

#[test]
fn warn_keeps_flawed_objects_and_counts_each_reason() {
    let (dir, config) = setup("");
    let s = run(&config).unwrap();
    assert_eq!(s.stix_check, expected_counts());
    assert_eq!(s.warnings.get("stix-check"), Some(&4), "{:?}", s.warnings);
    assert!(s.rejected.is_empty(), "{:?}", s.rejected);
    assert_eq!(s.records_ok, 5);
    assert_eq!(ids_in_feed(&dir.path().join("feed.taxii")).len(), 5);
    // Each warning names the file, the line, the object and every problem.
    let w: Vec<&String> = s
        .warning_examples
        .iter()
        .filter(|w| w.contains(": stix-check: "))
        .collect();
    assert_eq!(w.len(), 4, "{w:?}");
    assert!(
        w[0].ends_with(
            "flawed.ndjson: line 2: stix-check: malware--31b940d4-6f7f-459a-80ea-9c1f17b5891b: \
             missing-property: malware (STIX 2.1) has no \"is_family\""
        ),
        "{}",
        w[0]
    );
    assert!(
        w[1].contains("line 3: stix-check: indicator--c6a5e1e2-3f5b-4c4e-9d5e-0b6f0c6d2a11: timestamp: created \"2023-03-03T00:00:00Z\" must have exactly 3 fraction digits")
            && w[1].contains("; missing-property: indicator (STIX 2.0) has no \"labels\""),
        "{}",
        w[1]
    );
    assert!(w[2].contains("line 4: stix-check: relationship--44298a74-ba52-4f0c-87a3-1824e67d7fad: id: source_ref \"indicator--poison\" is not of the form <type>--<uuid>"), "{}", w[2]);
    assert!(w[3].contains("line 5: stix-check: ipv4-addr--4f1b9c2a-6d3e-4a5b-8c7d-0e1f2a3b4c5d: spec-version: ipv4-addr is a STIX 2.1 cyber-observable, but its spec_version says 2.0"), "{}", w[3]);
    let text = compile::render_summary(&s);
    assert!(
        text.contains("  warning stix-check: 4\n  stix check: id 1, missing-property 2, spec-version 1, timestamp 1\n"),
        "{text}"
    );
    assert!(
        text.contains("flawed.ndjson: line 2: stix-check: malware--"),
        "{text}"
    );
}

#[test]
fn reject_drops_flawed_objects_as_rejected_records() {
    let (dir, config) = setup("stix_check = \"reject\"\nreject_threshold = 1.0");
    let s = run(&config).unwrap();
    assert_eq!(s.stix_check, expected_counts());
    assert_eq!(s.rejected.get("stix-check"), Some(&4), "{:?}", s.rejected);
    assert!(!s.warnings.contains_key("stix-check"), "{:?}", s.warnings);
    assert_eq!((s.records_read, s.records_ok), (5, 1));
    assert_eq!((s.files[0].records, s.files[0].rejected), (1, 4));
    assert_eq!(
        ids_in_feed(&dir.path().join("feed.taxii")),
        vec!["indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"]
    );
    let lines: Vec<&str> = s
        .reject_examples
        .iter()
        .map(|e| {
            let (_, rest) = e.split_once("flawed.ndjson: ").unwrap();
            rest.split(": stix-check: ").next().unwrap()
        })
        .collect();
    assert_eq!(lines, vec!["line 2", "line 3", "line 4", "line 5"]);
    assert!(s.reject_examples[0].ends_with(
        ": stix-check: malware--31b940d4-6f7f-459a-80ea-9c1f17b5891b: missing-property: malware (STIX 2.1) has no \"is_family\""
    ));
    let text = compile::render_summary(&s);
    assert!(text.contains("  rejected stix-check: 4\n"), "{text}");
}

#[test]
fn rejected_objects_count_against_the_reject_threshold() {
    let (dir, config) = setup("stix_check = \"reject\"");
    let e = run(&config).unwrap_err();
    assert_eq!(e.exit_code(), 2, "{e}");
    let msg = e.to_string();
    assert!(msg.starts_with("4 of 5 records were rejected"), "{msg}");
    assert!(msg.contains("flawed.ndjson: line 2: stix-check: "), "{msg}");
    assert!(!dir.path().join("feed.taxii").exists());
    // Under warn the same input publishes.
    let (_dir, config) = setup("");
    run(&config).unwrap();
}

#[test]
fn compile_json_reports_the_counts() {
    let (_dir, config) = setup("");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_taxii-edge"))
        .args(["compile", "--json", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["stix_check"],
        serde_json::json!({"id": 1, "missing-property": 2, "spec-version": 1, "timestamp": 1})
    );
    assert_eq!(v["warnings"]["stix-check"], 4);
}

#[test]
fn an_unknown_mode_is_a_config_error() {
    let (_dir, config) = setup("stix_check = \"drop\"");
    let e = Config::load(&config).unwrap_err().to_string();
    assert!(e.contains("stix_check") && e.contains("warn"), "{e}");
}

/// The demo: the example config over every bundled sample has no STIX
/// problem (the validator test in `interop.rs` checks the same objects with
/// stix2-validator).
#[test]
fn bundled_samples_pass_the_check() {
    let dir = tempfile::tempdir().unwrap();
    taxii_edge::cli::demo::write_samples(dir.path()).unwrap();
    let mut cfg = Config::load(&dir.path().join("example.toml")).unwrap();
    cfg.compile.stix_check = taxii_edge::config::StixCheckMode::Reject;
    let s = compile::run(&CompileOptions {
        config: cfg,
        out: Some(dir.path().join("demo.taxii")),
        previous: None,
        strict: true,
        allow_shrink: false,
        progress: false,
        now: None,
        force: false,
    })
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(s.stix_check.is_empty(), "{:?}", s.stix_check);
    assert!(s.rejected.is_empty(), "{:?}", s.reject_examples);
}
