//! Reusing unchanged indicators' bytes across generations
//! (docs/decisions.md#d66): a recompile with unchanged records and config
//! keeps every live indicator without building it, and publishes exactly
//! what a full rebuild publishes; a changed TTL, mapping or record
//! rebuilds what it touches; a state from before fingerprints rebuilds
//! everything; an indicator that expired in between is not reused.

use super::{snapshot, write_export, Snapshot, ALL, HIGH, IPV4};
use std::path::{Path, PathBuf};
use taxii_edge::compile::state::{self, Row};
use taxii_edge::compile::{self, CompileOptions, Summary};
use taxii_edge::config::Config;
use taxii_edge::feed::{self, CollectionData, Feed, FeedSpec, Json, ObjectVersion, WriteOptions};
use taxii_edge::time::{parse_rfc3339, HOUR};

/// All three collections of the lifecycle tests' config, the IPv4 one
/// with SCOs and the high one offering TAXII 2.0 too, so that every form
/// of reuse is exercised. `ttl` is the global default TTL (hours); `all`
/// is appended to the "All" collection.
fn write_config(dir: &Path, ttl: i64, all: &str) -> PathBuf {
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
id = "{ALL}"
title = "All"
{all}
[[collections]]
id = "{IPV4}"
title = "IPv4"
query = 'type = "ipv4"'
emit_scos = true
[[collections]]
id = "{HIGH}"
title = "High"
query = 'confidence >= 50'
taxii_versions = ["2.1", "2.0"]
"#
    );
    let p = dir.join("config.toml");
    std::fs::write(&p, text).unwrap();
    p
}

/// Compiles `config` from the previous generation `previous` into `out`,
/// at a fixed "now" so that two compiles of the same inputs revoke at the
/// same `modified`.
fn compile_from(config: &Path, previous: &Path, out: &Path) -> Summary {
    compile::run(&CompileOptions {
        config: Config::load(config).unwrap(),
        out: Some(out.to_path_buf()),
        previous: Some(previous.to_path_buf()),
        strict: false,
        allow_shrink: true,
        progress: false,
        now: Some(parse_rfc3339("2026-01-01T00:00:00Z").unwrap()),
        force: false,
    })
    .unwrap()
}

fn report<'a>(s: &'a Summary, id: &str) -> &'a compile::CollectionReport {
    s.collections.iter().find(|c| c.id == id).unwrap()
}

/// Live (unrevoked) indicators of a collection in a snapshot.
fn live_indicators(s: &Snapshot, id: &str) -> u64 {
    s[id]
        .values()
        .filter(|(_, b)| {
            let t = String::from_utf8_lossy(b);
            t.contains("\"type\":\"indicator\"") && !t.contains("\"revoked\":true")
        })
        .count() as u64
}

/// The feed at `from` written again to `to` with its STATE in version 1
/// (no fingerprints), as a feed compiled before reuse existed has it.
fn with_version_1_state(from: &Path, to: &Path) {
    let prev = Feed::open(from).unwrap();
    let mut collections = Vec::new();
    for c in prev.collections() {
        let objects = (0..c.len())
            .map(|i| {
                let e = c.entry(i);
                ObjectVersion {
                    id: c.id_of(i).to_string(),
                    stix_type: c.types()[e.type_id as usize].as_str().into(),
                    spec_version: e.spec_version,
                    version_us: e.version_us,
                    date_added_us: e.date_added_us,
                    json21: Json::from_shared(c.object_bytes(i)).unwrap(),
                    json20: c.object20_bytes(i).map(|b| Json::from_shared(b).unwrap()),
                }
            })
            .collect();
        let rows = state::decode(&c.state()).unwrap().rows;
        assert!(rows.iter().any(|r| r.fingerprint.is_some()));
        collections.push(CollectionData {
            objects,
            state: encode_version_1(&rows).into(),
            cuts: c.cuts(),
        });
    }
    let spec = FeedSpec {
        meta: prev.meta().clone(),
        collections,
    };
    let opts = WriteOptions {
        zstd_level: 3,
        gzip_level: 6,
        release: None,
        previous: None,
    };
    feed::write(&spec, to, &opts).unwrap();
}

/// The version 1 STATE layout (`compile::state` before fingerprints).
fn encode_version_1(rows: &[Row]) -> Vec<u8> {
    let mut out = b"TXST\x01".to_vec();
    out.extend_from_slice(&(rows.len() as u64).to_le_bytes());
    let put = |out: &mut Vec<u8>, s: &str| {
        out.extend_from_slice(&(s.len() as u32).to_le_bytes());
        out.extend_from_slice(s.as_bytes());
    };
    for r in rows {
        put(&mut out, &r.key);
        put(&mut out, &r.id);
        out.extend_from_slice(&r.content_hash.to_le_bytes());
        out.extend_from_slice(&r.modified.to_le_bytes());
        out.extend_from_slice(&r.date_added.to_le_bytes());
        out.extend_from_slice(&r.epoch.to_le_bytes());
        out.push(u8::from(r.revoked) | u8::from(r.tombstone) << 1 | u8::from(r.present) << 2);
        out.extend_from_slice(&r.revoked_at.to_le_bytes());
    }
    out
}

/// The 2.0 form of every object of `collection` that has one, by id.
fn objects20(path: &Path, collection: &str) -> Vec<(String, Vec<u8>)> {
    let f = Feed::open(path).unwrap();
    let i = f
        .meta()
        .collections
        .iter()
        .position(|m| m.id == collection)
        .unwrap();
    let c = &f.collections()[i];
    (0..c.len())
        .filter_map(|k| Some((c.id_of(k).to_string(), c.object20_bytes(k)?.to_vec())))
        .collect()
}

/// A first generation of `n` records in `dir/gen1.taxii`.
fn first_generation(dir: &Path, n: u64) -> (PathBuf, PathBuf) {
    write_export(&dir.join("export.ndjson"), (0..n).map(|i| (i, 0)));
    let config = write_config(dir, 720, "");
    let gen1 = dir.join("gen1.taxii");
    let s = compile::run(&CompileOptions {
        config: Config::load(&config).unwrap(),
        out: Some(gen1.clone()),
        previous: None,
        strict: false,
        allow_shrink: false,
        progress: false,
        now: None,
        force: false,
    })
    .unwrap();
    assert!(s.collections.iter().all(|c| c.reused == 0), "{s:?}");
    (config, gen1)
}

#[test]
fn an_unchanged_recompile_reuses_every_live_indicator_and_publishes_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let (config, gen1) = first_generation(dir.path(), 2000);
    let reused = dir.path().join("reused.taxii");
    let s = compile_from(&config, &gen1, &reused);
    let got = snapshot(&reused);
    for id in [ALL, IPV4, HIGH] {
        let r = report(&s, id);
        assert_eq!(r.reused, live_indicators(&got, id), "{r:?}");
        assert!(r.reused > 0, "{r:?}");
        assert_eq!((r.added, r.changed), (0, 0), "{r:?}");
    }

    // The same compile from a state without fingerprints builds every
    // indicator: what it publishes is what reuse published, byte for byte.
    let v1 = dir.path().join("gen1-v1.taxii");
    with_version_1_state(&gen1, &v1);
    let rebuilt = dir.path().join("rebuilt.taxii");
    let s = compile_from(&config, &v1, &rebuilt);
    assert!(s.collections.iter().all(|c| c.reused == 0), "{s:?}");
    assert_eq!(got, snapshot(&rebuilt));
    assert_eq!(got, snapshot(&gen1));
    assert_eq!(objects20(&reused, HIGH), objects20(&rebuilt, HIGH));
    assert!(!objects20(&reused, HIGH).is_empty());

    // And the state it leaves lets the next compile reuse again.
    let again = dir.path().join("again.taxii");
    let s = compile_from(&config, &rebuilt, &again);
    assert_eq!(report(&s, ALL).reused, live_indicators(&got, ALL));
}

#[test]
fn a_changed_record_ttl_or_mapping_rebuilds_what_it_touches() {
    let dir = tempfile::tempdir().unwrap();
    let (config, gen1) = first_generation(dir.path(), 1000);
    let live = live_indicators(&snapshot(&gen1), ALL);

    // Records 0..100 revised: those are built, the rest reused.
    write_export(
        &dir.path().join("export.ndjson"),
        (0..1000).map(|i| (i, u32::from(i < 100))),
    );
    let revised = dir.path().join("revised.taxii");
    let s = compile_from(&config, &gen1, &revised);
    let all = report(&s, ALL);
    assert!(all.changed > 0, "{all:?}");
    assert!(all.reused < live && all.reused >= live - 100, "{all:?}");
    // The same inputs rebuilt from a state without fingerprints give the
    // same objects (new versions' date_added aside: they follow the clock).
    let v1 = dir.path().join("gen1-v1.taxii");
    with_version_1_state(&gen1, &v1);
    let rebuilt = dir.path().join("rebuilt.taxii");
    compile_from(&config, &v1, &rebuilt);
    let bytes = |s: Snapshot| -> Vec<(String, Vec<String>)> {
        s.into_iter()
            .map(|(c, m)| {
                let v = m
                    .into_iter()
                    .map(|(id, (_, b))| format!("{id} {}", String::from_utf8(b).unwrap()))
                    .collect();
                (c, v)
            })
            .collect()
    };
    assert_eq!(bytes(snapshot(&revised)), bytes(snapshot(&rebuilt)));

    // A TTL: every indicator of every collection changes (valid_until).
    let ttl = write_config(dir.path(), 700, "");
    let out = dir.path().join("ttl.taxii");
    let s = compile_from(&ttl, &revised, &out);
    for id in [ALL, IPV4, HIGH] {
        let r = report(&s, id);
        assert_eq!(r.reused, 0, "{r:?}");
        assert!(r.changed > 0, "{r:?}");
    }
    let before = snapshot(&revised);
    let after = snapshot(&out);
    let changed = before[ALL]
        .iter()
        .filter(|(id, (_, b))| after[ALL].get(*id).is_some_and(|(_, a)| a != b))
        .count() as u64;
    assert!(changed >= live, "{changed} of {live} changed");

    // A mapping of one collection: only that collection rebuilds.
    let mapped = write_config(
        dir.path(),
        700,
        "[collections.mappings]\nx_feed = \"'all'\"",
    );
    let out2 = dir.path().join("mapped.taxii");
    let s = compile_from(&mapped, &out, &out2);
    assert_eq!(report(&s, ALL).reused, 0);
    assert!(report(&s, IPV4).reused > 0);
    assert!(report(&s, HIGH).reused > 0);
    let all = snapshot(&out2);
    assert_eq!(
        live_indicators(&all, ALL),
        all[ALL]
            .values()
            .filter(|(_, b)| String::from_utf8_lossy(b).contains("\"x_feed\":\"all\""))
            .filter(|(_, b)| !String::from_utf8_lossy(b).contains("\"revoked\":true"))
            .count() as u64
    );
}

#[test]
fn a_previous_state_from_before_fingerprints_recompiles_without_reuse() {
    let dir = tempfile::tempdir().unwrap();
    let (config, gen1) = first_generation(dir.path(), 500);
    let v1 = dir.path().join("gen1-v1.taxii");
    with_version_1_state(&gen1, &v1);
    let out = dir.path().join("out.taxii");
    let s = compile_from(&config, &v1, &out);
    for c in &s.collections {
        assert_eq!(c.reused, 0, "{c:?}");
        assert_eq!((c.added, c.changed), (0, 0), "{c:?}");
        assert!(c.unchanged > 0, "{c:?}");
    }
    assert_eq!(snapshot(&out), snapshot(&gen1));
}

#[test]
fn an_indicator_that_expired_in_between_is_not_reused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("export.ndjson"),
        concat!(
            r#"{"type":"ipv4","value":"198.51.100.1","last_modified":"2030-01-01T00:00:00Z"}"#,
            "\n",
            r#"{"type":"ipv4","value":"198.51.100.2","last_modified":"2030-06-01T00:00:00Z"}"#,
            "\n",
        ),
    )
    .unwrap();
    let config = write_config(dir.path(), 720, "drop_expired = true");
    let t = |s: &str| parse_rfc3339(s).unwrap();
    let run = |previous: Option<&Path>, out: &Path, now: i64| {
        compile::run(&CompileOptions {
            config: Config::load(&config).unwrap(),
            out: Some(out.to_path_buf()),
            previous: previous.map(Path::to_path_buf),
            strict: false,
            allow_shrink: true,
            progress: false,
            now: Some(now),
            force: false,
        })
        .unwrap()
    };
    // Valid for 720 h after their last_modified: until 2030-01-31 and
    // 2030-07-01.
    let gen1 = dir.path().join("gen1.taxii");
    let s = run(None, &gen1, t("2030-01-31T00:00:00Z") - HOUR);
    assert_eq!(report(&s, ALL).expired, 0);
    // By then the first has expired, the second has not.
    let gen2 = dir.path().join("gen2.taxii");
    let s = run(Some(&gen1), &gen2, t("2030-06-30T00:00:00Z"));
    let all = report(&s, ALL);
    assert_eq!((all.expired, all.reused), (1, 1), "{all:?}");
    let names: Vec<String> = snapshot(&gen2)[ALL]
        .values()
        .map(|(_, b)| String::from_utf8_lossy(b).to_string())
        .filter(|t| t.contains("\"type\":\"indicator\""))
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(names[0].contains("198.51.100.2"), "{names:?}");
}
