//! The nightly lifecycle end to end, on real files: date_added stability
//! across regenerations, versions for changes, revocations for removals, a
//! changed query, the shrink and reject guards, and SIGKILL during publish.

mod edge_cases;
mod reuse;
mod unchanged;

use crate::common::compile_support;
use taxii_edge::exit::ExitStatus;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use taxii_edge::compile::{self, CompileError, CompileOptions, Summary};
use taxii_edge::config::Config;
use taxii_edge::feed::Feed;
use taxii_edge::record::{Origin, Profile, Record};
use taxii_edge::{input, stix, synth};

const ALL: &str = "0f0e0d0c-0b0a-4908-8706-050403020100";
const IPV4: &str = "1f0e0d0c-0b0a-4908-8706-050403020101";
const HIGH: &str = "2f0e0d0c-0b0a-4908-8706-050403020102";

fn write_export(path: &Path, items: impl Iterator<Item = (u64, u32)>) {
    compile_support::write_native_export(path, 11, items);
}

fn write_config(dir: &Path, high_query: &str, extra: &str) -> PathBuf {
    let text = format!(
        r#"
[compile]
out = "feed.taxii"
{extra}
[[api_roots]]
name = "feeds"
title = "Feeds"
[[inputs]]
path = "export.ndjson"
[ttl]
default = 720
[[collections]]
id = "{ALL}"
title = "All"
[[collections]]
id = "{IPV4}"
title = "IPv4"
query = 'type = "ipv4"'
[[collections]]
id = "{HIGH}"
title = "High"
query = '{high_query}'
"#
    );
    let p = dir.join("config.toml");
    std::fs::write(&p, text).unwrap();
    p
}

fn compile(config: &Path) -> Result<Summary, CompileError> {
    compile_support::compile_config(config)
}

/// Per collection id: object id → (date_added µs, object bytes).
type Snapshot = BTreeMap<String, BTreeMap<String, (i64, Vec<u8>)>>;

fn snapshot(path: &Path) -> Snapshot {
    let feed = Feed::open(path).unwrap();
    feed.verify().unwrap();
    let mut out = Snapshot::new();
    for (meta, c) in feed.meta().collections.iter().zip(feed.collections()) {
        let mut m = BTreeMap::new();
        let mut last = i64::MIN;
        for i in 0..c.len() {
            let e = c.entry(i);
            assert!(e.date_added_us > last, "date_added not strictly increasing");
            last = e.date_added_us;
            let prev = m.insert(
                c.id_of(i).to_string(),
                (e.date_added_us, c.objects_run(i, i + 1).to_vec()),
            );
            assert!(prev.is_none(), "one version per compiled object");
        }
        out.insert(meta.id.clone(), m);
    }
    out
}

/// The indicator id each generated record gets in a collection.
fn ids_of(collection: &str, indices: impl Iterator<Item = u64>, revision: u32) -> BTreeSet<String> {
    let col = uuid::Uuid::parse_str(collection).unwrap();
    indices
        .map(|i| {
            let text = synth::record_json(Profile::Native, 11, i, revision);
            let origin = Origin {
                file: 0,
                position: i,
                is_line: true,
            };
            let (rec, _) = input::parse_record(Profile::Native, text.as_bytes(), origin).unwrap();
            let Record::Indicator(ind) = rec else {
                panic!("native records are indicators")
            };
            stix::indicator_id(&col, ind.kind, &ind.value, 0)
        })
        .collect()
}

fn last_added(s: &BTreeMap<String, (i64, Vec<u8>)>) -> i64 {
    s.values().map(|(d, _)| *d).max().unwrap_or(i64::MIN)
}

#[test]
fn regeneration_keeps_date_added_and_publishes_exactly_the_changes() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("export.ndjson");
    let feed = dir.path().join("feed.taxii");

    // v1: records 0..5000.
    write_export(&export, (0..5000).map(|i| (i, 0)));
    let config = write_config(dir.path(), "confidence >= 50", "");
    let s1 = compile(&config).unwrap();
    assert!(s1.collections.iter().all(|c| c.objects > 0), "{s1:?}");
    let v1 = snapshot(&feed);

    // v2: remove 100..400, modify 1000..1500, add 5000..6000, and widen the
    // "High" collection's query.
    let removed = 100..400u64;
    let modified = 1000..1500u64;
    let added = 5000..6000u64;
    write_export(
        &export,
        (0..6000u64)
            .filter(|i| !removed.contains(i))
            .map(|i| (i, u32::from(modified.contains(&i)))),
    );
    let config = write_config(dir.path(), "confidence >= 40", "");
    let s2 = compile(&config).unwrap();
    let v2 = snapshot(&feed);

    for (col, after) in &v2 {
        let before = &v1[col];
        let cutoff = last_added(before);
        let fresh: BTreeSet<&String> = after
            .iter()
            .filter(|(_, (d, _))| *d > cutoff)
            .map(|(id, _)| id)
            .collect();
        // Exactly the new ids and the ids whose bytes changed are after v1's
        // last date_added…
        let mut changed: BTreeSet<&String> = BTreeSet::new();
        for (id, (d, bytes)) in after {
            match before.get(id) {
                None => {
                    changed.insert(id);
                }
                Some((d1, b1)) if b1 != bytes => {
                    changed.insert(id);
                }
                // …and every unchanged object kept its date_added.
                Some((d1, _)) => {
                    assert_eq!(d1, d, "{col}: {id} kept its bytes but not its date_added")
                }
            }
        }
        assert_eq!(
            fresh, changed,
            "{col}: fresh set differs from the changed set"
        );
    }

    // In "All", the changes are exactly: added, modified and revoked.
    let all1 = &v1[ALL];
    let all2 = &v2[ALL];
    let cutoff = last_added(all1);
    let fresh: BTreeSet<String> = all2
        .iter()
        .filter(|(_, (d, _))| *d > cutoff)
        .map(|(id, _)| id.clone())
        .collect();
    let want_added = ids_of(ALL, added.clone(), 0);
    let want_modified = ids_of(ALL, modified.clone(), 0);
    // Records that were already inactive at the source were published as
    // revoked in v1: their removal changes nothing.
    let already_revoked =
        |id: &String| String::from_utf8_lossy(&all1[id].1).contains("\"revoked\":true");
    let want_revoked: BTreeSet<String> = ids_of(ALL, removed.clone(), 0)
        .into_iter()
        .filter(|id| !already_revoked(id))
        .collect();
    assert!(
        want_revoked.len() > 200,
        "the generator makes most records active"
    );
    let mut want: BTreeSet<String> = BTreeSet::new();
    want.extend(want_added.iter().cloned());
    want.extend(want_modified.iter().cloned());
    want.extend(want_revoked.iter().cloned());
    assert_eq!(fresh.len(), 1000 + 500 + want_revoked.len());
    assert_eq!(fresh, want);
    for id in &want_revoked {
        let text = String::from_utf8(all2[id].1.clone()).unwrap();
        assert!(text.contains("\"revoked\":true"), "{text}");
        // A revocation is a new version: modified moved forward.
        let old = String::from_utf8(all1[id].1.clone()).unwrap();
        assert_ne!(modified_of(&old), modified_of(&text));
    }
    for id in &want_modified {
        let (old, new) = (&all1[id].1, &all2[id].1);
        assert!(
            modified_of(&String::from_utf8(new.clone()).unwrap())
                > modified_of(&String::from_utf8(old.clone()).unwrap())
        );
    }
    let all_report = s2.collections.iter().find(|c| c.id == ALL).unwrap();
    assert_eq!(
        (all_report.added, all_report.changed, all_report.revoked),
        (1000, 500, want_revoked.len() as u64),
        "{all_report:?}"
    );

    // "High" gained the records with confidence 40..49 as new objects.
    let high_report = s2.collections.iter().find(|c| c.id == HIGH).unwrap();
    assert!(high_report.added > 1000, "{high_report:?}");

    // v3: the same input rebuilt changes nothing at all.
    let s3 = compile_support::compile_config_with(&config, true).unwrap();
    assert!(!s3.unchanged && s3.generation != s2.generation, "{s3:?}");
    let v3 = snapshot(&feed);
    assert_eq!(v2, v3, "an identical input must give identical collections");
}

fn modified_of(json: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    v["modified"].as_str().unwrap().to_string()
}

#[test]
fn revoked_indicator_that_returns_gets_a_new_id_and_tombstones_expire() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("export.ndjson");
    let feed = dir.path().join("feed.taxii");
    let config = write_config(dir.path(), "confidence >= 50", "revoked_retention_days = 0");
    write_export(&export, (0..50).map(|i| (i, 0)));
    compile(&config).unwrap();
    let original = ids_of(ALL, 7..8, 0);
    let id = original.iter().next().unwrap().clone();

    // Gone: published once as revoked.
    write_export(&export, (0..50).filter(|&i| i != 7).map(|i| (i, 0)));
    compile(&config).unwrap();
    let v = snapshot(&feed);
    assert!(String::from_utf8_lossy(&v[ALL][&id].1).contains("\"revoked\":true"));

    // Still gone after the retention (0 days): dropped.
    std::thread::sleep(Duration::from_millis(5));
    compile(&config).unwrap();
    let v = snapshot(&feed);
    assert!(!v[ALL].contains_key(&id));

    // Back: a new id (epoch 1), never the revoked one.
    write_export(&export, (0..50).map(|i| (i, 0)));
    compile(&config).unwrap();
    let v = snapshot(&feed);
    assert!(!v[ALL].contains_key(&id));
    let col = uuid::Uuid::parse_str(ALL).unwrap();
    let text = synth::record_json(Profile::Native, 11, 7, 0);
    let origin = Origin {
        file: 0,
        position: 7,
        is_line: true,
    };
    let (Record::Indicator(ind), _) =
        input::parse_record(Profile::Native, text.as_bytes(), origin).unwrap()
    else {
        panic!()
    };
    let new_id = stix::indicator_id(&col, ind.kind, &ind.value, 1);
    let obj = String::from_utf8(v[ALL][&new_id].1.clone()).unwrap();
    assert!(!obj.contains("\"revoked\""), "{obj}");
}

#[test]
fn shrink_guard_refuses_a_truncated_export_and_keeps_the_feed() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("export.ndjson");
    let feed = dir.path().join("feed.taxii");
    let config = write_config(dir.path(), "confidence >= 50", "");
    write_export(&export, (0..1000).map(|i| (i, 0)));
    compile(&config).unwrap();
    let before = std::fs::read(&feed).unwrap();
    let staying = ids_of(ALL, 0..100, 0);
    let active_leaving = snapshot(&feed)[ALL]
        .iter()
        .filter(|(id, (_, b))| {
            id.starts_with("indicator--")
                && !String::from_utf8_lossy(b).contains("\"revoked\":true")
                && !staying.contains(*id)
        })
        .count() as u64;

    write_export(&export, (0..100).map(|i| (i, 0)));
    let err = compile(&config).unwrap_err();
    assert_eq!(err.exit_code(), 2, "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("shrink guard") && msg.contains("--allow-shrink"),
        "{msg}"
    );
    assert_eq!(
        std::fs::read(&feed).unwrap(),
        before,
        "refused compile touched the feed"
    );

    // --allow-shrink publishes (and revokes the 900 that left).
    let s = compile::run(&CompileOptions {
        config: Config::load(&config).unwrap(),
        out: None,
        previous: None,
        strict: false,
        allow_shrink: true,
        progress: false,
        now: None,
        force: false,
    })
    .unwrap();
    let all = s.collections.iter().find(|c| c.id == ALL).unwrap();
    assert!(active_leaving > 800, "{active_leaving}");
    assert_eq!(all.revoked, active_leaving);
}

#[test]
fn rejects_over_the_threshold_fail_without_writing() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("export.ndjson");
    let feed = dir.path().join("feed.taxii");
    let config = write_config(dir.path(), "confidence >= 50", "");
    write_export(&export, (0..50).map(|i| (i, 0)));
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&export)
        .unwrap();
    writeln!(f, "{{\"type\": \"ipv4\", \"value\": \"999.1.1.1\"}}").unwrap();
    writeln!(f, "{{not json").unwrap();
    drop(f);
    let err = compile(&config).unwrap_err();
    assert_eq!(err.exit_code(), 2);
    let msg = err.to_string();
    assert!(msg.contains("2 of 52 records were rejected"), "{msg}");
    assert!(
        msg.contains("line 51") && msg.contains("invalid-value"),
        "{msg}"
    );
    assert!(
        msg.contains("line 52") && msg.contains("parse-error"),
        "{msg}"
    );
    assert!(!feed.exists());
}

/// SIGKILL `compile` at spread-out moments during its run: the live file is
/// always a complete generation that passes verify (the old one, or the new
/// one when the kill came after the rename), never a partial file.
#[test]
fn sigkill_during_compile_never_exposes_a_partial_feed() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("export.ndjson");
    let feed = dir.path().join("feed.taxii");
    let config = write_config(dir.path(), "confidence >= 50", "");
    write_export(&export, (0..20_000).map(|i| (i, 0)));
    compile(&config).unwrap();
    let gen1 = std::fs::read(&feed).unwrap();
    write_export(&export, (0..20_000).map(|i| (i, 1)));

    let bin = env!("CARGO_BIN_EXE_taxii-edge");
    let run = || {
        std::process::Command::new(bin)
            .args(["compile", "--config"])
            .arg(&config)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    // How long a full compile takes here, to spread the kills over it.
    let t = Instant::now();
    let status = run().wait().unwrap();
    assert!(status.success());
    let full = t.elapsed();
    std::fs::write(&feed, &gen1).unwrap();

    let mut outcomes = BTreeMap::new();
    for k in 0..20u32 {
        let mut child = run();
        std::thread::sleep(full.mul_f64(f64::from(k) / 18.0));
        let _ = child.kill();
        let _ = child.wait();
        let now = std::fs::read(&feed).unwrap();
        let f = Feed::open(&feed).unwrap_or_else(|e| panic!("run {k}: live feed unreadable: {e}"));
        f.verify()
            .unwrap_or_else(|e| panic!("run {k}: live feed fails verify: {e}"));
        let kind = if now == gen1 { "old" } else { "new" };
        *outcomes.entry(kind).or_insert(0) += 1;
        std::fs::write(&feed, &gen1).unwrap();
    }
    eprintln!("sigkill outcomes: {outcomes:?}");
    assert!(outcomes.get("old").copied().unwrap_or(0) > 0);
}

#[test]
fn stale_temp_files_of_dead_publishers_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("export.ndjson");
    let config = write_config(dir.path(), "confidence >= 50", "");
    write_export(&export, (0..20).map(|i| (i, 0)));
    // A pid far above pid_max cannot be running.
    let stale = dir.path().join("feed.taxii.tmp.4294967");
    std::fs::write(&stale, b"partial").unwrap();
    compile(&config).unwrap();
    assert!(!stale.exists());
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp."))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn drop_expired_leaves_out_indicators_whose_valid_until_has_passed() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("export.ndjson");
    let feed = dir.path().join("feed.taxii");
    std::fs::write(
        &export,
        concat!(
            r#"{"type":"ipv4","value":"198.51.100.1","last_modified":"2020-01-01T00:00:00Z"}"#,
            "\n",
            r#"{"type":"ipv4","value":"198.51.100.2","last_modified":"2999-01-01T00:00:00Z"}"#,
            "\n",
            r#"{"type":"sha256","value":"2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae","last_modified":"2020-01-01T00:00:00Z"}"#,
            "\n"
        ),
    )
    .unwrap();
    let mut config = std::fs::read_to_string(write_config(dir.path(), "confidence >= 50", ""))
        .unwrap()
        .replace("default = 720", "default = 720\nsha256 = -1");
    config = config.replacen("title = \"All\"", "title = \"All\"\ndrop_expired = true", 1);
    std::fs::write(dir.path().join("config.toml"), config).unwrap();
    let s = compile(&dir.path().join("config.toml")).unwrap();
    let all = s.collections.iter().find(|c| c.id == ALL).unwrap();
    assert_eq!(all.expired, 1, "{all:?}");
    let v = snapshot(&feed);
    let names: Vec<String> = v[ALL]
        .values()
        .map(|(_, b)| String::from_utf8_lossy(b).to_string())
        .filter(|t| t.contains("\"type\":\"indicator\""))
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(
        names.iter().all(|t| !t.contains("198.51.100.1'")),
        "{names:?}"
    );
    // The default (keep) publishes all three in the IPv4 collection's peer.
    let ipv4 = s.collections.iter().find(|c| c.id == IPV4).unwrap();
    assert_eq!(ipv4.expired, 0);
    assert_eq!(ipv4.added, 2);
}

#[test]
fn a_collection_removed_from_the_config_is_a_shrink() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("export.ndjson");
    let config = write_config(dir.path(), "confidence >= 50", "");
    write_export(&export, (0..100).map(|i| (i, 0)));
    compile(&config).unwrap();
    let text = std::fs::read_to_string(&config).unwrap();
    let cut = text
        .find(&format!("[[collections]]\nid = \"{HIGH}\""))
        .unwrap();
    std::fs::write(&config, &text[..cut]).unwrap();
    let err = compile(&config).unwrap_err();
    assert_eq!(err.exit_code(), 2);
    assert!(err.to_string().contains("no longer in the config"), "{err}");
}

/// Every default page's four compressed copies, per collection.
fn page_copies(path: &Path) -> Vec<Vec<Vec<u8>>> {
    use taxii_edge::feed::{Coding, PageKind};
    let feed = Feed::open(path).unwrap();
    feed.collections()
        .iter()
        .map(|c| {
            let mut copies = Vec::new();
            for p in 0..c.default_page_count() {
                for kind in [PageKind::Objects, PageKind::Manifest] {
                    for coding in [Coding::Gzip, Coding::Zstd] {
                        copies.push(c.precompressed(kind, p, coding).unwrap().to_vec());
                    }
                }
            }
            copies
        })
        .collect()
}

#[test]
fn a_recompile_copies_the_compressed_pages_that_did_not_change() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("export.ndjson");
    let feed = dir.path().join("feed.taxii");
    let config = write_config(dir.path(), "confidence >= 50", "");
    write_export(&export, (0..3000).map(|i| (i, 0)));
    let s1 = compile(&config).unwrap();
    assert!(s1.precompressed_pages > 60, "{s1:?}");
    assert_eq!(s1.pages_reused, 0);
    let v1 = page_copies(&feed);

    // Nothing changed, rebuilt: every page is copied, and every copy is
    // the same.
    let s2 = compile_support::compile_config_with(&config, true).unwrap();
    assert_eq!(s2.precompressed_pages, s1.precompressed_pages);
    assert_eq!(s2.pages_reused, s2.precompressed_pages);
    assert_eq!(page_copies(&feed), v1);
    Feed::open(&feed).unwrap().verify().unwrap();

    // Records 0..20 changed: the pages that held them are compressed again
    // (with the tail), the others copied.
    write_export(&export, (0..3000).map(|i| (i, u32::from(i < 20))));
    let s3 = compile(&config).unwrap();
    assert!(s3.pages_reused > 0, "{s3:?}");
    assert!(s3.pages_reused < s3.precompressed_pages, "{s3:?}");
    Feed::open(&feed).unwrap().verify().unwrap();
}
