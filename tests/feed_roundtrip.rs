//! Round trips through real files: write, open, read every entry.

mod feed_common;

use feed_common::*;
use std::io::Read;
use taxii_edge::feed::token::{Endpoint, PageToken};
use taxii_edge::feed::{self, Coding, Feed, PageKind, SpecVersion, WriteOptions};

fn gunzip(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(b)
        .read_to_end(&mut out)
        .unwrap();
    out
}

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
    assert_eq!(c.default_page_after(2), Some(1));
    assert_eq!(c.default_page_after(5), Some(2));
    assert_eq!(c.default_page_after(6), None);
    assert_eq!(c.default_page_after(3), None);
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
                    after_us: last.date_added_us,
                    rank: 1,
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
