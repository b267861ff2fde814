//! Damaged files are refused with a message naming the file and the
//! problem, never a panic; open is O(1) and leaves big sections to verify.

use crate::common::feed_support::*;
use std::path::Path;
use taxii_edge::feed::{self, Feed, FeedError, WriteOptions};

fn sample_bytes() -> Vec<u8> {
    let mut objs = simple(9);
    objs[3].json20 = Some(format!("{{\"type\":\"indicator\",\"id\":\"{}\"}}", objs[3].id).into());
    feed::write_to_vec(&spec(vec![objs, simple(2)], 4), &WriteOptions::default()).unwrap()
}

fn open_err(bytes: Vec<u8>) -> String {
    match Feed::from_bytes(bytes.into(), Path::new("/srv/feed.taxii")) {
        Ok(_) => panic!("accepted"),
        Err(e) => {
            let s = e.to_string();
            assert!(s.starts_with("/srv/feed.taxii: "), "{s}");
            s
        }
    }
}

#[test]
fn wrong_magic_and_versions() {
    let b = sample_bytes();
    let mut x = b.clone();
    x[0] = b'P';
    assert!(open_err(x).contains("not a taxii-edge feed file"));
    assert!(open_err(b"{\"objects\":[]}".to_vec()).contains("not a taxii-edge feed file"));
    let mut x = b.clone();
    x[8..12].copy_from_slice(&7u32.to_le_bytes());
    assert!(open_err(x).contains("format version 7 is newer than this build supports (2)"));
    let mut x = b.clone();
    x[8..12].copy_from_slice(&0u32.to_le_bytes());
    assert!(open_err(x).contains("format version 0 is not supported"));
    assert!(open_err(Vec::new()).contains("truncated"));
}

#[test]
fn truncation_at_many_points_is_refused() {
    let b = sample_bytes();
    let step = (b.len() / 97).max(1);
    let mut points: Vec<usize> = (0..b.len()).step_by(step).collect();
    points.extend([1, 7, 8, 63, 64, b.len() - 1]);
    for at in points {
        let e = open_err(b[..at].to_vec());
        assert!(e.contains("truncated"), "at {at}: {e}");
    }
    // Appending is caught too.
    let mut x = b.clone();
    x.extend_from_slice(b"junk");
    assert!(open_err(x).contains("truncated or appended to"));
}

#[test]
fn exact_truncation_message() {
    let b = sample_bytes();
    let table_end = u64::from_le_bytes(b[16..24].try_into().unwrap())
        + u64::from_le_bytes(b[24..32].try_into().unwrap());
    let e = open_err(b[..1000].to_vec());
    assert_eq!(
        e,
        format!(
            "/srv/feed.taxii: truncated: section table ends at {table_end} but file is 1000 bytes"
        )
    );
}

#[test]
fn header_and_table_damage_fails_open() {
    let b = sample_bytes();
    for at in [12usize, 20, 30, 40, 50, 61] {
        let mut x = b.clone();
        x[at] ^= 0x40;
        let e = open_err(x);
        assert!(
            e.contains("header checksum mismatch") || e.contains("newer"),
            "at {at}: {e}"
        );
    }
    let table = u64::from_le_bytes(b[16..24].try_into().unwrap()) as usize;
    for at in (table..b.len()).step_by(13) {
        let mut x = b.clone();
        x[at] ^= 0x01;
        assert!(open_err(x).contains("section table checksum mismatch"));
    }
}

#[test]
fn a_flipped_byte_in_every_section_is_caught() {
    let b = sample_bytes();
    let secs = sections(&b);
    assert_eq!(secs.len(), 23);
    for (kind, coll, off, len) in secs {
        if len == 0 {
            continue;
        }
        for at in [off, off + len / 2, off + len - 1] {
            let mut x = b.clone();
            x[at] ^= 0x20;
            match Feed::from_bytes(x.into(), Path::new("/srv/feed.taxii")) {
                // META and TYPES are checked at open.
                Err(e) => {
                    assert!(matches!(kind, 1 | 6), "kind {kind} failed open: {e}");
                    assert!(e.to_string().contains("checksum mismatch"), "{e}");
                }
                Ok(f) => {
                    assert!(!matches!(kind, 1 | 6), "kind {kind} passed open");
                    // Walking a damaged file never panics.
                    walk(&f);
                    let e = f.verify().unwrap_err().to_string();
                    assert!(e.starts_with("/srv/feed.taxii: "), "{e}");
                    assert!(
                        e.contains(&format!("of collection {coll} checksum mismatch")),
                        "kind {kind} at {at}: {e}"
                    );
                }
            }
        }
    }
}

/// Reads everything an edge server would.
fn walk(f: &Feed) {
    for c in f.collections() {
        for i in 0..c.len() {
            let e = c.entry(i);
            let _ = (
                c.object_bytes(i),
                c.manifest_bytes(i),
                c.object20_bytes(i),
                c.rank(i),
            );
            let _ = c.versions_of(c.id_of(i));
            let _ = c.first_after(e.date_added_us);
            let _ = c.page_at(i);
            let _ = c.resume_after(&c.position(i));
        }
        let _ = (
            c.objects_run(0, c.len()),
            c.manifest_run(0, c.len()),
            c.objects20_run(0, c.len()),
        );
        for p in 0..c.default_page_count() + 1 {
            let _ = c.default_page_entries(p);
            let _ = c.page_end_cut(p);
            for k in [feed::PageKind::Objects, feed::PageKind::Manifest] {
                for cd in [feed::Coding::Gzip, feed::Coding::Zstd] {
                    let _ = c.precompressed(k, p, cd);
                }
            }
        }
    }
    let _ = feed::inspect(f);
}

#[test]
fn open_does_not_read_big_sections() {
    // Damage OBJECTS and recompute nothing: open succeeds (O(1)), verify fails.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("feed.taxii");
    let mut b = sample_bytes();
    let (_, _, off, len) = sections(&b)
        .into_iter()
        .find(|s| s.0 == 3 && s.1 == 0)
        .unwrap();
    for x in &mut b[off..off + len] {
        *x = b'#';
    }
    std::fs::write(&path, &b).unwrap();
    let f = Feed::open(&path).unwrap();
    assert_eq!(f.collections()[0].len(), 9);
    let e = f.verify().unwrap_err();
    assert!(matches!(e, FeedError::Invalid { .. }));
    assert_eq!(
        e.to_string()
            .split(": ")
            .skip(1)
            .collect::<Vec<_>>()
            .join(": ")
            .split(" (stored")
            .next()
            .unwrap(),
        "section OBJECTS of collection 0 checksum mismatch"
    );
    assert!(e.to_string().starts_with(&path.display().to_string()));
}

#[test]
fn missing_file_is_an_io_error_naming_it() {
    let e = Feed::open(Path::new("/nonexistent/feed.taxii"))
        .err()
        .unwrap();
    assert!(matches!(e, FeedError::Io { .. }));
    assert!(e.to_string().starts_with("/nonexistent/feed.taxii: "));
}

/// With checksums made consistent, verify still finds semantic damage.
#[test]
fn verify_catches_damage_behind_valid_checksums() {
    let b = sample_bytes();
    let secs = sections(&b);
    let entries = secs.iter().find(|s| s.0 == 2 && s.1 == 0).unwrap().2;
    let cases: Vec<(usize, u8, &str)> = vec![
        (entries + 51, 0, "first/last flags"), // entry 0 flags cleared
        (entries + 56 + 6, 0, "earlier than the previous"), // entry 1 date_added
        (entries + 52, 2, "rank 2 but 1 expected"), // entry 0 rank
        (entries + 16, 0, "id hash mismatch"), // entry 0 hash
        (entries + 48, 9, "type id 9"),        // entry 0 type
    ];
    for (at, val, want) in cases {
        let mut x = b.clone();
        x[at] = val;
        refresh_checksums(&mut x);
        let f = Feed::from_bytes(x.into(), Path::new("/srv/feed.taxii")).unwrap();
        walk(&f);
        let e = f.verify().unwrap_err().to_string();
        assert!(e.contains(want), "{want}: {e}");
        assert!(
            e.starts_with(
                "/srv/feed.taxii: collection 0 (11111111-2222-4333-8444-000000000000): entry"
            ),
            "{e}"
        );
    }
    // A byte of an object: JSON or manifest checks fail, checksums do not.
    let objects = secs.iter().find(|s| s.0 == 3 && s.1 == 1).unwrap().2;
    let mut x = b.clone();
    x[objects] = b'[';
    refresh_checksums(&mut x);
    let f = Feed::from_bytes(x.into(), Path::new("/srv/feed.taxii")).unwrap();
    let e = f.verify().unwrap_err().to_string();
    assert!(
        e.contains("collection 1") && e.contains("entry 0") && e.contains("not valid STIX JSON"),
        "{e}"
    );
    // A page blob: decompression or comparison fails.
    let pagedata = secs.iter().find(|s| s.0 == 9 && s.1 == 0).unwrap().2;
    let mut x = b.clone();
    x[pagedata + 20] ^= 0xff;
    refresh_checksums(&mut x);
    let f = Feed::from_bytes(x.into(), Path::new("/srv/feed.taxii")).unwrap();
    let e = f.verify().unwrap_err().to_string();
    assert!(e.contains("default page 0 (Objects, Gzip)"), "{e}");
}

proptest::proptest! {
    // Failing cases are kept beside this file, in
    // corruption.proptest-regressions, and replayed first. (Proptest's
    // default would use tests/proptest-regressions/feed/corruption.txt:
    // it files them next to the nearest directory holding a main.rs,
    // here tests/it.)
    #![proptest_config(proptest::prelude::ProptestConfig {
        cases: 400,
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::WithSource("proptest-regressions"),
        )),
        ..proptest::prelude::ProptestConfig::default()
    })]

    /// The fuzz target's body on mutated valid files: open, verify and a
    /// full walk never panic, whatever the bytes (checksums refreshed so
    /// mutations reach the structural checks).
    #[test]
    fn mutated_files_never_panic(
        muts in proptest::collection::vec((proptest::num::usize::ANY, proptest::num::u8::ANY), 1..6),
        cut in proptest::option::of(proptest::num::usize::ANY),
        refresh in proptest::bool::ANY,
    ) {
        let mut b = sample_bytes();
        for (at, v) in muts {
            let at = at % b.len();
            b[at] = v;
        }
        if let Some(c) = cut {
            b.truncate(c % (b.len() + 1));
        }
        if refresh && b.len() >= 64 {
            refresh_checksums(&mut b);
        }
        if let Ok(f) = Feed::from_bytes(b.into(), Path::new("fuzz.taxii")) {
            let _ = f.verify();
            walk(&f);
        }
    }
}
