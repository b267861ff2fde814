//! Round trips through real files: write, open, read every entry.

use crate::common::feed_support::*;
use crate::common::gunzip;
use taxii_edge::feed::token::{Endpoint, PageToken, Position};
use taxii_edge::feed::{self, Coding, Feed, PageKind, SpecVersion, WriteOptions};

fn unzstd(b: &[u8]) -> Vec<u8> {
    zstd::stream::decode_all(b).unwrap()
}

fn manifest_of(o: &feed::ObjectVersion) -> String {
    let version = if o.version_us % 1000 == 0 {
        taxii_edge::time::fmt_ms(o.version_us)
    } else {
        taxii_edge::time::fmt_us(o.version_us)
    };
    format!(
        "{{\"id\":\"{}\",\"date_added\":\"{}\",\"version\":\"{}\",\"media_type\":\"application/stix+json;version={}\"}}",
        o.id,
        taxii_edge::time::fmt_us(o.date_added_us),
        version,
        o.spec_version.as_str()
    )
}

#[test]
fn entries_slices_and_manifest_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("feed.taxii");
    let objs = simple(7);
    let s = spec(vec![objs.clone()], 3);
    let stats = feed::write(&s, &path, &WriteOptions::default()).unwrap();
    assert_eq!(stats.objects, 7);
    assert_eq!(stats.precompressed_pages, 6);
    assert_eq!(stats.bytes, std::fs::metadata(&path).unwrap().len());

    let f = Feed::open(&path).unwrap();
    f.verify().unwrap();
    assert_eq!(f.meta(), &s.meta);
    assert_eq!(f.token_key(), &key());
    let c = &f.collections()[0];
    assert_eq!(c.len(), 7);
    assert_eq!(c.types(), &["indicator".to_string()]);
    for (i, o) in objs.iter().enumerate() {
        let e = c.entry(i);
        assert_eq!(e.date_added_us, o.date_added_us);
        assert_eq!(e.version_us, o.version_us);
        assert_eq!(e.spec_version, SpecVersion::V21);
        assert!(e.first && e.last);
        assert_eq!(c.id_of(i), o.id);
        assert_eq!(&c.object_bytes(i)[..], o.json21.as_bytes());
        assert_eq!(
            std::str::from_utf8(&c.manifest_bytes(i)).unwrap(),
            manifest_of(o)
        );
        assert_eq!(c.versions_of(&o.id), vec![i]);
        assert_eq!(c.rank(i), 1);
    }
    let joined: Vec<&str> = objs[2..5].iter().map(|o| &*o.json21).collect();
    assert_eq!(
        std::str::from_utf8(&c.objects_run(2, 5)).unwrap(),
        joined.join(",")
    );
    let joined: Vec<String> = objs[2..5].iter().map(manifest_of).collect();
    assert_eq!(
        std::str::from_utf8(&c.manifest_run(2, 5)).unwrap(),
        joined.join(",")
    );
    assert!(c.objects_run(3, 3).is_empty());
    assert!(c.objects_run(3, 99).is_empty());
    assert_eq!(&c.state()[..], b"state-0");
    assert_eq!(c.first_after(T0), 0);
    assert_eq!(c.first_after(T0 + 1_000_002), 3);
    assert_eq!(c.first_at_or_after(T0 + 1_000_002), 2);
    assert_eq!(c.first_after(i64::MAX), 7);
    assert!(c
        .versions_of("indicator--00000000-0000-4000-8000-999999999999")
        .is_empty());
}

#[test]
fn default_pages_are_the_documented_envelopes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("feed.taxii");
    let objs = simple(7);
    let s = spec(vec![objs.clone()], 3);
    feed::write(&s, &path, &WriteOptions::default()).unwrap();
    let f = Feed::open(&path).unwrap();
    let c = &f.collections()[0];
    let cm = &s.meta.collections[0];
    assert_eq!(c.default_page_count(), 3);
    assert_eq!(c.default_page_entries(0), Some(0..3));
    assert_eq!(c.default_page_entries(2), Some(6..7));
    assert_eq!(c.default_page_entries(3), None);
    assert_eq!(c.page_at(0), Some(0));
    assert_eq!(c.page_at(2), Some(0));
    assert_eq!(c.page_at(3), Some(1));
    assert_eq!(c.page_at(6), Some(2));
    assert_eq!(c.page_at(7), None);
    assert_eq!(c.cut_count(), 2);
    assert_eq!(c.page_end_cut(0), Some(c.position(2)));
    assert_eq!(c.page_end_cut(1), Some(c.position(5)));
    assert_eq!(c.page_end_cut(2), None);
    for kind in [PageKind::Objects, PageKind::Manifest] {
        for page in 0..3 {
            let items: Vec<String> = objs[page * 3..(page * 3 + 3).min(7)]
                .iter()
                .map(|o| match kind {
                    PageKind::Objects => o.json21.to_string(),
                    PageKind::Manifest => manifest_of(o),
                })
                .collect();
            let expected = if page < 2 {
                let last = &objs[page * 3 + 2];
                let tok = PageToken {
                    endpoint: match kind {
                        PageKind::Objects => Endpoint::Objects,
                        PageKind::Manifest => Endpoint::Manifest,
                    },
                    api_root: "feeds".into(),
                    collection: cm.id.clone(),
                    object_id: None,
                    filters: String::new(),
                    limit: 0,
                    after: Position {
                        date_added_us: last.date_added_us,
                        id: last.id.clone(),
                        version_us: last.version_us,
                    },
                }
                .encode(&key());
                format!(
                    "{{\"more\":true,\"next\":\"{tok}\",\"objects\":[{}]}}",
                    items.join(",")
                )
            } else {
                format!("{{\"more\":false,\"objects\":[{}]}}", items.join(","))
            };
            let gz = c.precompressed(kind, page, Coding::Gzip).unwrap();
            let zs = c.precompressed(kind, page, Coding::Zstd).unwrap();
            assert_eq!(
                String::from_utf8(gunzip(&gz)).unwrap(),
                expected,
                "{kind:?} page {page}"
            );
            assert_eq!(
                String::from_utf8(unzstd(&zs)).unwrap(),
                expected,
                "{kind:?} page {page}"
            );
        }
        assert!(c.precompressed(kind, 3, Coding::Gzip).is_none());
    }
}

#[test]
fn versions_first_last_flags_and_pages_skip_old_versions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("feed.taxii");
    let a = uuid_id("indicator", 1);
    let b = uuid_id("indicator", 2);
    let c_id = uuid_id("malware", 3);
    let d = uuid_id("indicator", 4);
    let mut m = obj(&c_id, T0, T0 + 3);
    m.stix_type = "malware".into();
    m.json21 = format!("{{\"type\":\"malware\",\"id\":\"{c_id}\"}}").into();
    let objs = vec![
        obj(&a, T0 + 5_000, T0 + 1), // a v2 (added first, but a later version)
        obj(&b, T0 + 1_000, T0 + 2), // b only
        m,                           // malware
        obj(&a, T0 + 1_000, T0 + 4), // a v1
        obj(&a, T0 + 9_000_123, T0 + 5), // a v3, not a whole millisecond
        obj(&d, T0 + 7_000, T0 + 5), // d, same date_added as a v3: sorts by id
    ];
    let s = spec(vec![objs.clone()], 2);
    feed::write(&s, &path, &WriteOptions::default()).unwrap();
    let f = Feed::open(&path).unwrap();
    f.verify().unwrap();
    let c = &f.collections()[0];
    let flags: Vec<(bool, bool)> = (0..6)
        .map(|i| (c.entry(i).first, c.entry(i).last))
        .collect();
    assert_eq!(
        flags,
        vec![
            (false, false),
            (true, true),
            (true, true),
            (true, false),
            (false, true),
            (true, true)
        ]
    );
    assert_eq!(c.versions_of(&a), vec![0, 3, 4]);
    assert_eq!(c.types(), &["indicator".to_string(), "malware".to_string()]);
    assert_eq!(c.entry(2).type_id, 1);
    assert_eq!((c.rank(4), c.rank(5)), (1, 2));
    let at = |d: i64, id: &str, v: i64| Position {
        date_added_us: d,
        id: id.into(),
        version_us: v,
    };
    assert_eq!(c.resume_after(&c.position(4)), 5);
    assert_eq!(c.resume_after(&c.position(5)), 6);
    // Positions between and around entries (gone from this generation).
    assert_eq!(c.resume_after(&at(T0 + 5, "", 0)), 4);
    assert_eq!(c.resume_after(&at(T0 + 5, &a, T0 + 9_000_124)), 5);
    assert_eq!(c.resume_after(&at(T0 + 5, "zzz", 0)), 6);
    assert_eq!(c.resume_after(&at(T0 + 4, "zzz", 0)), 4);
    assert_eq!(c.resume_after(&at(i64::MIN, "", 0)), 0);
    assert!(std::str::from_utf8(&c.manifest_bytes(4))
        .unwrap()
        .contains("\"version\":\"2024-01-02T03:04:14.000123Z\""));
    assert!(std::str::from_utf8(&c.manifest_bytes(3))
        .unwrap()
        .contains("\"version\":\"2024-01-02T03:04:05.001Z\""));
    // Last versions: entries 1, 2, 4, 5 → pages [1, 2] and [4, 5].
    assert_eq!(c.default_page_count(), 2);
    assert_eq!(c.default_page_entries(0), Some(1..3));
    assert_eq!(c.default_page_entries(1), Some(4..6));
    assert_eq!(c.page_at(3), Some(1));
    let page0 = unzstd(&c.precompressed(PageKind::Objects, 0, Coding::Zstd).unwrap());
    let page0 = String::from_utf8(page0).unwrap();
    let tok = page0
        .split("\"next\":\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let t = PageToken::decode(tok, f.token_key()).unwrap();
    assert_eq!(
        (t.after, t.endpoint),
        (at(T0 + 3, &c_id, T0), Endpoint::Objects)
    );
    assert!(page0.ends_with(&format!(
        "\"objects\":[{},{}]}}",
        objs[1].json21, objs[2].json21
    )));
    let page1 = String::from_utf8(gunzip(
        &c.precompressed(PageKind::Manifest, 1, Coding::Gzip)
            .unwrap(),
    ))
    .unwrap();
    assert_eq!(
        page1,
        format!(
            "{{\"more\":false,\"objects\":[{},{}]}}",
            manifest_of(&objs[4]),
            manifest_of(&objs[5])
        )
    );
}

#[test]
fn empty_collections_and_stix20_objects() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("feed.taxii");
    let mut objs = simple(3);
    objs[0].json20 = Some(
        format!(
            "{{\"type\":\"indicator\",\"id\":\"{}\",\"labels\":[\"x\"]}}",
            objs[0].id
        )
        .into(),
    );
    objs[2].json20 = Some(
        format!(
            "{{\"type\":\"indicator\",\"id\":\"{}\",\"labels\":[\"y\"]}}",
            objs[2].id
        )
        .into(),
    );
    objs[1].spec_version = SpecVersion::V20;
    let s = spec(vec![vec![], objs.clone(), vec![]], 100);
    feed::write(&s, &path, &WriteOptions::default()).unwrap();
    let f = Feed::open(&path).unwrap();
    f.verify().unwrap();
    let empty = &f.collections()[0];
    assert!(empty.is_empty());
    assert_eq!(empty.default_page_count(), 0);
    assert!(empty
        .precompressed(PageKind::Objects, 0, Coding::Gzip)
        .is_none());
    assert!(empty.objects_run(0, 0).is_empty());
    assert_eq!(empty.first_after(0), 0);
    assert!(empty.types().is_empty());
    assert!(!empty.has_objects20());
    assert_eq!(&f.collections()[2].state()[..], b"state-2");

    let c = &f.collections()[1];
    assert!(c.has_objects20());
    assert_eq!(c.entry(1).spec_version, SpecVersion::V20);
    assert!(std::str::from_utf8(&c.manifest_bytes(1))
        .unwrap()
        .ends_with("\"media_type\":\"application/stix+json;version=2.0\"}"));
    assert_eq!(
        c.object20_bytes(0).unwrap(),
        objs[0].json20.as_deref().unwrap().as_bytes()
    );
    assert!(c.object20_bytes(1).is_none());
    assert_eq!(
        std::str::from_utf8(&c.objects20_run(0, 3)).unwrap(),
        format!(
            "{},{}",
            objs[0].json20.as_deref().unwrap(),
            objs[2].json20.as_deref().unwrap()
        )
    );
    assert!(c.objects20_run(1, 2).is_empty());
    assert_eq!(c.objects20_run(1, 3), c.object20_bytes(2).unwrap());
    assert_eq!(c.default_page_count(), 1);
    let page = String::from_utf8(gunzip(
        &c.precompressed(PageKind::Objects, 0, Coding::Gzip).unwrap(),
    ))
    .unwrap();
    assert_eq!(
        page,
        format!(
            "{{\"more\":false,\"objects\":[{}]}}",
            String::from_utf8(c.objects_run(0, 3).to_vec()).unwrap()
        )
    );
}

/// A feed written to a file and one written to memory must give the same
/// bytes, over several batches of pages, a STIX 2.0 section and empty
/// collections.
#[test]
fn a_feed_written_to_a_file_has_the_bytes_of_one_written_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("feed.taxii");
    let mut mixed = simple(301);
    for o in mixed.iter_mut().step_by(3) {
        o.json20 = Some(format!("{{\"type\":\"indicator\",\"id\":\"{}\"}}", o.id).into());
    }
    let s = spec(vec![simple(1000), vec![], mixed, vec![]], 3);
    let stats = feed::write(&s, &path, &WriteOptions::default()).unwrap();
    assert!(stats.precompressed_pages > 2 * 300, "{stats:?}");
    let on_disk = std::fs::read(&path).unwrap();
    let in_memory = feed::write_to_vec(&s, &WriteOptions::default()).unwrap();
    assert_eq!(on_disk.len(), in_memory.len());
    assert!(on_disk == in_memory, "the two writes differ");
    let f = Feed::open(&path).unwrap();
    f.verify().unwrap();
    let c = &f.collections()[2];
    assert!(c.has_objects20());
    assert_eq!(c.default_page_count(), 101);
}

#[test]
fn writer_refuses_bad_input_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("feed.taxii");
    let mut objs = simple(3);
    objs.swap(0, 2);
    let err = feed::write(&spec(vec![objs], 10), &path, &WriteOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("not sorted by (date_added, id, version) without repeats: object 1"),
        "{err}"
    );
    // The same version twice is refused too: a keyset position must name
    // one entry.
    let mut objs = simple(2);
    objs[1] = objs[0].clone();
    let err = feed::write(&spec(vec![objs], 10), &path, &WriteOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("does not sort after object 0"), "{err}");
    let mut objs = simple(1);
    objs[0].id = "indicator--\"quoted\"".into();
    let err = feed::write(&spec(vec![objs], 10), &path, &WriteOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("printable ASCII"), "{err}");
    let mut s = spec(vec![simple(1)], 10);
    s.meta.token_key = "nothex".into();
    let err = feed::write(&s, &path, &WriteOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("token_key"), "{err}");
}

#[test]
fn inspect_reports_counts() {
    let s = spec(vec![simple(5), vec![]], 2);
    let bytes = feed::write_to_vec(&s, &WriteOptions::default()).unwrap();
    let f = Feed::from_bytes(bytes.into(), std::path::Path::new("mem.taxii")).unwrap();
    let r = feed::inspect(&f);
    assert_eq!(r.collections.len(), 2);
    let c = &r.collections[0];
    assert_eq!((c.entries, c.objects, c.pages.count), (5, 5, 3));
    assert_eq!(c.types["indicator"].objects, 5);
    assert_eq!(c.spec_versions["2.1"], 5);
    assert_eq!(
        c.date_added_first.as_deref(),
        Some("2024-01-02T03:04:06.000000Z")
    );
    assert_eq!(
        c.date_added_last.as_deref(),
        Some("2024-01-02T03:04:06.000004Z")
    );
    let text = r.to_string();
    assert!(
        text.contains("entries       5 versions of 5 objects"),
        "{text}"
    );
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["collections"][1]["entries"], 0);
}

#[test]
fn feed_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Feed>();
    assert_send_sync::<feed::CollectionFeed>();
}

/// A size check run by hand (`cargo test --test it
/// feed::roundtrip::large_feed -- --ignored --nocapture`): 200k objects
/// written, opened and verified.
#[test]
#[ignore]
fn large_feed_writes_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("feed.taxii");
    let s = spec(vec![simple(200_000)], 100);
    let t = std::time::Instant::now();
    let stats = feed::write(&s, &path, &WriteOptions::default()).unwrap();
    eprintln!("write: {:?} {} bytes", t.elapsed(), stats.bytes);
    let t = std::time::Instant::now();
    let f = Feed::open(&path).unwrap();
    eprintln!("open: {:?}", t.elapsed());
    let t = std::time::Instant::now();
    f.verify().unwrap();
    eprintln!("verify: {:?}", t.elapsed());
    assert_eq!(f.collections()[0].default_page_count(), 2000);
}

/// The precompressed objects page `p`, uncompressed.
fn page_text(c: &feed::CollectionFeed, p: usize) -> String {
    String::from_utf8(unzstd(
        &c.precompressed(PageKind::Objects, p, Coding::Zstd).unwrap(),
    ))
    .unwrap()
}

#[test]
fn page_boundaries_survive_a_regeneration() {
    let dir = tempfile::tempdir().unwrap();
    // Generation 1: 10 objects, pages of 3: [0 1 2] [3 4 5] [6 7 8] [9].
    let gen1 = simple(10);
    let p1 = dir.path().join("g1.taxii");
    feed::write(&spec(vec![gen1.clone()], 3), &p1, &WriteOptions::default()).unwrap();
    let f1 = Feed::open(&p1).unwrap();
    let c1 = &f1.collections()[0];
    assert_eq!(c1.default_page_count(), 4);
    // A full tail page closes with a boundary too: 3 boundaries.
    assert_eq!(c1.cut_count(), 3);
    let old: Vec<String> = (0..4).map(|p| page_text(c1, p)).collect();

    // Generation 2: object 4 superseded (its new version sorts last), objects
    // 6, 7 and 8 removed, two new ones.
    let mut gen2: Vec<_> = gen1
        .iter()
        .enumerate()
        .filter(|(i, _)| ![4, 6, 7, 8].contains(i))
        .map(|(_, o)| o.clone())
        .collect();
    gen2.push(obj(&gen1[4].id, T0 + 99_000, T0 + 2_000_000));
    gen2.push(obj(&uuid_id("indicator", 10), T0, T0 + 2_000_001));
    gen2.push(obj(&uuid_id("indicator", 11), T0, T0 + 2_000_002));
    let mut s2 = spec(vec![gen2.clone()], 3);
    s2.collections[0].cuts = c1.cuts();
    let p2 = dir.path().join("g2.taxii");
    feed::write(&s2, &p2, &WriteOptions::default()).unwrap();
    let f2 = Feed::open(&p2).unwrap();
    f2.verify().unwrap();
    let c2 = &f2.collections()[0];
    // Pages: [0 1 2] unchanged; [3 5] shrank; (6 7 8) vanished; [9 4' 10]
    // the old tail, refilled; [11] the new tail.
    let ids = |c: &feed::CollectionFeed, p: usize| -> Vec<String> {
        let r = c.default_page_entries(p).unwrap();
        r.filter(|&i| c.entry(i).last)
            .map(|i| c.id_of(i)[35..].to_string())
            .collect()
    };
    let got: Vec<Vec<String>> = (0..c2.default_page_count()).map(|p| ids(c2, p)).collect();
    let n = |v: &[usize]| -> Vec<String> { v.iter().map(|i| format!("{i:012}")).collect() };
    assert_eq!(
        got,
        vec![n(&[0, 1, 2]), n(&[3, 5]), n(&[9, 4, 10]), n(&[11])]
    );
    assert_eq!(
        page_text(c2, 0),
        old[0],
        "an unchanged page keeps its bytes"
    );
    assert_ne!(page_text(c2, 1), old[1]);
    // Every old boundary is still there (plus the new tail's).
    let cuts2 = c2.cuts();
    for cut in c1.cuts() {
        assert!(cuts2.contains(&cut), "{cut:?} kept");
    }
    assert_eq!(cuts2.len(), 4);
    // Page [3 5] still ends at the old boundary after 5; the page after the
    // vanished one resumes from a token of either boundary.
    assert_eq!(c2.page_end_cut(1), c1.page_end_cut(1));
    let vanished = c1.page_end_cut(1).unwrap();
    assert_eq!(
        c2.page_at(c2.resume_after(&vanished)),
        c2.page_at(c2.resume_after(&c1.page_end_cut(2).unwrap()))
    );

    // Generation 3 from generation 2 with nothing changed: identical pages.
    let mut s3 = spec(vec![gen2], 3);
    s3.collections[0].cuts = c2.cuts();
    let p3 = dir.path().join("g3.taxii");
    feed::write(&s3, &p3, &WriteOptions::default()).unwrap();
    let f3 = Feed::open(&p3).unwrap();
    let c3 = &f3.collections()[0];
    for p in 0..c2.default_page_count() {
        assert_eq!(page_text(c3, p), page_text(c2, p), "page {p}");
    }
    assert_eq!(c3.cuts(), cuts2);
}

#[test]
fn an_overfull_span_between_boundaries_is_split() {
    // Imported objects with old date_added values land between existing
    // boundaries: the span is split so no page exceeds the page size.
    let dir = tempfile::tempdir().unwrap();
    let gen1 = simple(4);
    let p1 = dir.path().join("g1.taxii");
    feed::write(&spec(vec![gen1.clone()], 2), &p1, &WriteOptions::default()).unwrap();
    let f1 = Feed::open(&p1).unwrap();
    let cuts1 = f1.collections()[0].cuts();
    assert_eq!(cuts1.len(), 2);
    let mut gen2 = gen1.clone();
    for k in 0..3 {
        gen2.push(obj(&uuid_id("indicator", 20 + k), T0, T0 + 1_000_000));
    }
    gen2.sort_by(|a, b| (a.date_added_us, &a.id).cmp(&(b.date_added_us, &b.id)));
    let mut s2 = spec(vec![gen2], 2);
    s2.collections[0].cuts = cuts1.clone();
    let p2 = dir.path().join("g2.taxii");
    feed::write(&s2, &p2, &WriteOptions::default()).unwrap();
    let f2 = Feed::open(&p2).unwrap();
    f2.verify().unwrap();
    let c2 = &f2.collections()[0];
    let sizes: Vec<usize> = (0..c2.default_page_count())
        .map(|p| {
            c2.default_page_entries(p)
                .unwrap()
                .filter(|&i| c2.entry(i).last)
                .count()
        })
        .collect();
    assert_eq!(sizes, vec![2, 2, 1, 2]);
    assert!(cuts1.iter().all(|c| c2.cuts().contains(c)));
}
