//! Criterion benches of the compile stages, one group per stage, so that a
//! change to one stage shows up as a change of that stage's ops/s and not
//! only as a slower `taxii-edge compile`.
//!
//! Every bench reads a seeded export made by [`synth::write_export`] and held
//! in memory (no disk in the timed loop), and sets `Throughput::Elements` to
//! the records (or objects) one iteration handles, so criterion reports
//! records per second. Stages:
//!
//! | group | what one iteration does | threads |
//! |---|---|---|
//! | `parse` | `input::parse_bytes` over an NDJSON export: split, simd-json, canonical records | rayon (all cores) |
//! | `json_tape` | only simd-json's tape of each record, buffers reused: the JSON floor | 1 |
//! | `canonicalize` | `input::parse_record` per record: JSON + the profile's canonicalization | 1 |
//! | `filter` | 10 collection queries (`filter::Query`) on every record | 1 |
//! | `stix` | `stix::build_indicator` (with and without mappings), `serialize21`/`20`, `content_hash`, hash + serialize as the lifecycle does it (`hash_then_serialize21`) and with one serialization (`canonical21`) | 1 |
//! | `mapping` | `Mappings::apply`: profile defaults, and with 5 JMESPath overrides | 1 |
//! | `time` | `time::push_ms` / `push_us` (~7 per object and manifest record) | 1 |
//! | `feed` | `feed::write_to_vec` of one collection (objects, manifest, index, gzip+zstd default pages) | rayon |
//!
//! `canonicalize` minus `json_tape` is the canonicalization proper (the
//! profile parsers are crate-private, so they cannot be timed alone; a
//! `parse_record` call also allocates its parse buffers, which
//! `read_files` reuses). Sizes: `TAXII_EDGE_BENCH_RECORDS` records per
//! format (default 20,000), which keeps `cargo bench --bench compile`
//! around three minutes on 2 cores.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::Path;
use std::time::Duration;
use taxii_edge::config::TtlTable;
use taxii_edge::feed::{
    self, ApiRootMeta, CollectionData, CollectionMeta, FeedMeta, FeedSpec, ObjectVersion,
    SpecVersion, WriteOptions,
};
use taxii_edge::filter::{EvalContext, Query};
use taxii_edge::input;
use taxii_edge::mapping::Mappings;
use taxii_edge::record::{Indicator, Origin, Profile, Record};
use taxii_edge::stix::{self, BuildSettings};
use taxii_edge::synth;

const SEED: u64 = 1;
/// 2024-01-01T00:00:00Z, the compile's "now" and the first date_added.
const T0: i64 = 1_704_067_200_000_000;
const COLLECTION: &str = "0f0e0d0c-0b0a-4908-8706-050403020100";
const KEY_HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

fn records_per_format() -> u64 {
    std::env::var("TAXII_EDGE_BENCH_RECORDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(20_000)
}

/// An NDJSON export of `n` records of `format`, in memory.
fn export(format: Profile, n: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(n as usize * 600);
    let mut items = (0..n).map(|i| (i, 0u32));
    synth::write_export(format, SEED, &mut items, synth::Container::Ndjson, &mut out)
        .expect("writing to a Vec cannot fail");
    out
}

fn lines(bytes: &[u8]) -> Vec<&[u8]> {
    bytes
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect()
}

fn indicators(format: Profile, bytes: &[u8]) -> Vec<Indicator> {
    let out = input::parse_bytes(Path::new("bench.ndjson"), bytes, Some(format))
        .expect("a generated export parses");
    assert!(out.rejects.is_empty(), "generated exports have no rejects");
    out.records
        .into_iter()
        .filter_map(|r| match r {
            Record::Indicator(i) => Some(i),
            Record::Stix(_) => None,
        })
        .collect()
}

const INDICATOR_FORMATS: [Profile; 3] = [Profile::Threatconnect, Profile::Xsoar, Profile::Native];

fn bench_parse(c: &mut Criterion) {
    let n = records_per_format();
    let mut g = c.benchmark_group("parse");
    g.sample_size(10).measurement_time(Duration::from_secs(6));
    for format in Profile::ALL {
        let bytes = export(format, n);
        eprintln!(
            "parse/{}: {n} records, {:.1} MB, {:.0} bytes/record",
            format.as_str(),
            bytes.len() as f64 / 1e6,
            bytes.len() as f64 / n as f64
        );
        g.throughput(Throughput::Elements(n));
        g.bench_function(format.as_str(), |b| {
            b.iter(|| {
                let out = input::parse_bytes(Path::new("bench.ndjson"), &bytes, Some(format))
                    .expect("parses");
                assert_eq!(out.records.len() as u64, n);
                out
            })
        });
    }
    g.finish();
}

fn bench_json_and_canonicalize(c: &mut Criterion) {
    let n = records_per_format();
    let exports: Vec<(Profile, Vec<u8>)> = INDICATOR_FORMATS
        .iter()
        .map(|&f| (f, export(f, n)))
        .collect();

    let mut g = c.benchmark_group("json_tape");
    g.sample_size(10).measurement_time(Duration::from_secs(4));
    for (format, bytes) in &exports {
        let recs = lines(bytes);
        g.throughput(Throughput::Elements(recs.len() as u64));
        g.bench_function(format.as_str(), |b| {
            let mut buf: Vec<u8> = Vec::with_capacity(4096);
            let mut buffers = simd_json::Buffers::new(4096);
            b.iter(|| {
                let mut nodes = 0usize;
                for r in &recs {
                    buf.clear();
                    buf.extend_from_slice(r);
                    let tape = simd_json::to_tape_with_buffers(&mut buf, &mut buffers)
                        .expect("valid JSON");
                    nodes += tape.0.len();
                }
                nodes
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("canonicalize");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    for (format, bytes) in &exports {
        let recs = lines(bytes);
        g.throughput(Throughput::Elements(recs.len() as u64));
        g.bench_function(format.as_str(), |b| {
            b.iter(|| {
                let mut ok = 0usize;
                for (i, r) in recs.iter().enumerate() {
                    let origin = Origin {
                        file: 0,
                        position: i as u64 + 1,
                        is_line: true,
                    };
                    if input::parse_record(*format, r, origin).is_ok() {
                        ok += 1;
                    }
                }
                assert_eq!(ok, recs.len());
                ok
            })
        });
    }
    g.finish();
}

/// Ten collection queries of the kind a deployment has: by type, by
/// confidence, by tag, by TLP, by owner, by date, by value, combined.
const QUERIES: [&str; 10] = [
    "",
    r#"type in ("ipv4", "ipv6", "cidr", "domain", "url") and confidence >= 70"#,
    r#"type in ("md5", "sha1", "sha256", "sha512", "file")"#,
    r#"tags contains "apt28" or tags contains "apt29""#,
    r#"tlp <= "green""#,
    r#"owner in ("Acme SOC", "CERT-Example") and active = true"#,
    r#"last_modified > "2024-06-01" and confidence >= 50"#,
    r#"value endswith ".com" and not tags contains "scanner""#,
    r#"type = "url" and value ~ "(?i)\\.php\\?id=[0-9]+$""#,
    r#"(tags contains "ransomware" or tags contains "emotet") and tlp != "red" and confidence > 20"#,
];

fn bench_filter(c: &mut Criterion) {
    let n = records_per_format();
    let bytes = export(Profile::Native, n);
    let records = input::parse_bytes(Path::new("bench.ndjson"), &bytes, Some(Profile::Native))
        .expect("parses")
        .records;
    let queries: Vec<Query> = QUERIES
        .iter()
        .map(|q| Query::parse(q, T0).unwrap_or_else(|e| panic!("{q}: {e}")))
        .collect();
    let source_query =
        Query::parse(r#"source.x_generator.index >= 0"#, T0).expect("source query parses");

    let mut g = c.benchmark_group("filter");
    g.sample_size(20).measurement_time(Duration::from_secs(4));
    g.throughput(Throughput::Elements(records.len() as u64));
    g.bench_function("10_collections", |b| {
        let mut ctx = EvalContext::new();
        b.iter(|| {
            let mut hits = [0u32; 10];
            for r in &records {
                ctx.reset();
                for (h, q) in hits.iter_mut().zip(&queries) {
                    if q.matches(r, &mut ctx) {
                        *h += 1;
                    }
                }
            }
            assert_eq!(hits[0] as usize, records.len());
            hits
        })
    });
    g.bench_function("source_path", |b| {
        let mut ctx = EvalContext::new();
        b.iter(|| {
            let mut hits = 0usize;
            for r in &records {
                ctx.reset();
                if source_query.matches(r, &mut ctx) {
                    hits += 1;
                }
            }
            assert_eq!(hits, records.len());
            hits
        })
    });
    g.finish();
}

fn ttl_global() -> TtlTable {
    let mut t = BTreeMap::new();
    t.insert("default".to_string(), 720);
    t.insert("ipv4".to_string(), 168);
    t.insert("md5".to_string(), -1);
    TtlTable(t)
}

/// Five overrides of the kind users write: plain fields, a function, a
/// projection with a filter, a multi-select hash.
fn five_overrides() -> BTreeMap<String, String> {
    [
        ("x_owner", "ownerName"),
        ("x_web_link", "webLink"),
        ("x_first_seen", "dateAdded"),
        (
            "external_references",
            "[{source_name: 'threatconnect', url: webLink, external_id: to_string(id)}]",
        ),
        (
            "x_attributes",
            "attributes.data[?type == 'Description'].value",
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn bench_stix_and_mapping(c: &mut Criterion) {
    let n = records_per_format();
    let bytes = export(Profile::Threatconnect, n);
    let inds = indicators(Profile::Threatconnect, &bytes);
    // The same indicators with a profile that has no mappings, so that the
    // builder is timed without JMESPath.
    let unmapped: Vec<Indicator> = inds
        .iter()
        .cloned()
        .map(|mut i| {
            i.profile = Profile::Stix;
            i
        })
        .collect();
    let ttl_g = ttl_global();
    let ttl_c = TtlTable::default();
    let settings = BuildSettings {
        collection_id: uuid::Uuid::parse_str(COLLECTION).expect("uuid"),
        ttl_collection: &ttl_c,
        ttl_global: &ttl_g,
        identity_ref: Some("identity--5c1d1a8e-8f4c-5d0e-9a7b-3c2d1e0f9a8b"),
        tlp2: false,
        emit_scos: false,
        valid_from: None,
        undated: T0,
    };
    let defaults = Mappings::defaults();
    let empty = BTreeMap::new();
    let overrides = Mappings::new(&five_overrides(), &empty, "collections[0].mappings")
        .unwrap_or_else(|e| panic!("{e}"));

    let mut g = c.benchmark_group("stix");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    g.throughput(Throughput::Elements(inds.len() as u64));
    g.bench_function("build_nomap", |b| {
        b.iter(|| {
            unmapped
                .iter()
                .map(|i| {
                    stix::build_indicator(i, 0, &settings, &defaults)
                        .pattern
                        .len()
                })
                .sum::<usize>()
        })
    });
    g.bench_function("build_threatconnect_defaults", |b| {
        b.iter(|| {
            inds.iter()
                .map(|i| {
                    stix::build_indicator(i, 0, &settings, &defaults)
                        .fields
                        .len()
                })
                .sum::<usize>()
        })
    });
    let drafts: Vec<stix::Draft> = inds
        .iter()
        .map(|i| stix::build_indicator(i, 0, &settings, &overrides))
        .collect();
    g.bench_function("serialize21", |b| {
        b.iter(|| {
            drafts
                .iter()
                .map(|d| stix::serialize21(d, d.created, false).len())
                .sum::<usize>()
        })
    });
    // The lifecycle hashes every draft to detect changes (docs/decisions.md#d11):
    // serialize21 into a reused buffer, then xxh3.
    g.bench_function("content_hash", |b| {
        b.iter(|| {
            drafts
                .iter()
                .map(stix::serialize::content_hash)
                .fold(0u64, |a, h| a ^ h)
        })
    });
    // What the lifecycle does per object: hash, then serialize with the
    // chosen `modified` (two serializations)...
    g.bench_function("hash_then_serialize21", |b| {
        b.iter(|| {
            drafts
                .iter()
                .map(|d| {
                    let h = stix::serialize::content_hash(d);
                    stix::serialize21(d, d.created + 1_000, false).len() as u64 ^ h
                })
                .fold(0u64, |a, h| a ^ h)
        })
    });
    // ...and the same with one serialization patched in place.
    g.bench_function("canonical21", |b| {
        b.iter(|| {
            drafts
                .iter()
                .map(|d| {
                    let c = stix::serialize::Canonical21::new(d);
                    let h = c.hash();
                    c.finish(d.created + 1_000, false).len() as u64 ^ h
                })
                .fold(0u64, |a, h| a ^ h)
        })
    });
    g.bench_function("serialize20", |b| {
        b.iter(|| {
            drafts
                .iter()
                .map(|d| stix::serialize20(d, d.created, false).len())
                .sum::<usize>()
        })
    });
    g.finish();

    let mut g = c.benchmark_group("mapping");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    g.throughput(Throughput::Elements(inds.len() as u64));
    for (name, maps) in [("defaults", &defaults), ("5_overrides", &overrides)] {
        g.bench_function(name, |b| {
            let mut warnings = Vec::new();
            b.iter(|| {
                let mut props = 0usize;
                for i in &inds {
                    let mut fields = serde_json::Map::new();
                    maps.apply(i.profile, &i.source, &mut fields, &mut warnings);
                    props += fields.len();
                }
                assert!(warnings.is_empty(), "{:?}", warnings.first());
                props
            })
        });
    }
    // The conversion every mapped record pays once, whatever the
    // expressions: source JSON text to a jmespath Variable.
    g.bench_function("variable_from_json", |b| {
        b.iter(|| {
            inds.iter()
                .map(|i| {
                    let v = jmespath::Variable::from_json(i.source.as_str()).expect("json");
                    black_box(v).is_object() as usize
                })
                .sum::<usize>()
        })
    });
    g.finish();

    // Feed write: one collection of every built object, date_added in
    // record order, the default page size of 100.
    let objects: Vec<ObjectVersion> = drafts
        .iter()
        .enumerate()
        .map(|(k, d)| ObjectVersion {
            id: d.id.clone(),
            stix_type: "indicator".into(),
            spec_version: SpecVersion::V21,
            version_us: d.created,
            date_added_us: T0 + k as i64,
            json21: stix::serialize21(d, d.created, false).into(),
            json20: None,
        })
        .collect();
    let spec = FeedSpec {
        meta: meta(),
        collections: vec![CollectionData {
            objects,
            state: Default::default(),
            cuts: Vec::new(),
        }],
    };
    let wopts = WriteOptions {
        zstd_level: 3,
        gzip_level: 6,
        release: None,
        previous: None,
    };
    let mut g = c.benchmark_group("feed");
    g.sample_size(10).measurement_time(Duration::from_secs(8));
    g.throughput(Throughput::Elements(
        spec.collections[0].objects.len() as u64
    ));
    g.bench_function("write_to_vec", |b| {
        b.iter_batched(
            || (),
            |()| feed::write_to_vec(&spec, &wopts).expect("writes").len(),
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

/// Timestamp formatting: every object carries 4-5 of them and every
/// manifest record 2, so its cost is multiplied by ~7 per object.
fn bench_time(c: &mut Criterion) {
    let ts: Vec<i64> = (0..1000i64)
        .map(|i| T0 + i * 7_919_000_123 % 86_400_000_000_000)
        .collect();
    let mut g = c.benchmark_group("time");
    g.sample_size(20).measurement_time(Duration::from_secs(2));
    g.throughput(Throughput::Elements(ts.len() as u64));
    g.bench_function("push_ms", |b| {
        let mut s = String::with_capacity(32);
        b.iter(|| {
            let mut n = 0;
            for &t in &ts {
                s.clear();
                taxii_edge::time::push_ms(&mut s, t);
                n += s.len();
            }
            n
        })
    });
    g.bench_function("push_us", |b| {
        let mut s = String::with_capacity(32);
        b.iter(|| {
            let mut n = 0;
            for &t in &ts {
                s.clear();
                taxii_edge::time::push_us(&mut s, t);
                n += s.len();
            }
            n
        })
    });
    g.finish();
}

fn meta() -> FeedMeta {
    FeedMeta {
        generation: "00000000000000000000000000000001".to_string(),
        created_us: T0,
        title: "bench".to_string(),
        description: None,
        contact: None,
        api_roots: vec![ApiRootMeta {
            name: "feeds".to_string(),
            title: "Feeds".to_string(),
            description: None,
            default: true,
        }],
        collections: vec![CollectionMeta {
            id: COLLECTION.to_string(),
            alias: Some("all".to_string()),
            title: "All".to_string(),
            description: None,
            api_root: "feeds".to_string(),
            taxii_versions: vec!["2.1".to_string()],
        }],
        page_size: 100,
        token_key: KEY_HEX.to_string(),
        compile: None,
    }
}

criterion_group!(
    benches,
    bench_parse,
    bench_json_and_canonicalize,
    bench_filter,
    bench_stix_and_mapping,
    bench_time
);
criterion_main!(benches);
