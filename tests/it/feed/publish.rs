//! `publish`: atomic replacement, no temp file left, live untouched on error.

use crate::common::feed_support::*;
use taxii_edge::feed::{self, Feed, WriteOptions};

fn names(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn publish_replaces_atomically_and_leaves_no_temp_file() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("feed.taxii");
    let stats = feed::publish(spec(vec![simple(3)], 10), &live, &WriteOptions::default()).unwrap();
    assert_eq!(stats.objects, 3);
    assert_eq!(names(dir.path()), vec!["feed.taxii"]);
    let old = Feed::open(&live).unwrap();

    let mut next = spec(vec![simple(5)], 10);
    next.meta.generation = "ffffffffffffffffffffffffffffffff".into();
    feed::publish(next, &live, &WriteOptions::default()).unwrap();
    assert_eq!(names(dir.path()), vec!["feed.taxii"]);
    // The old mapping still reads its own generation after the rename.
    assert_eq!(old.collections()[0].len(), 3);
    assert_eq!(old.collections()[0].id_of(2), uuid_id("indicator", 2));
    let new = Feed::open(&live).unwrap();
    assert_eq!(new.meta().generation, "ffffffffffffffffffffffffffffffff");
    assert_eq!(new.collections()[0].len(), 5);
}

#[test]
fn failed_publish_leaves_live_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("feed.taxii");
    feed::publish(spec(vec![simple(3)], 10), &live, &WriteOptions::default()).unwrap();
    let before = std::fs::read(&live).unwrap();

    // Invalid JSON passes the writer but fails verification.
    let mut objs = simple(2);
    objs[1].json21 = "{not json".into();
    let e = feed::publish(spec(vec![objs], 10), &live, &WriteOptions::default()).unwrap_err();
    assert!(
        e.to_string().contains("object is not valid STIX JSON"),
        "{e}"
    );
    assert_eq!(names(dir.path()), vec!["feed.taxii"]);
    assert_eq!(std::fs::read(&live).unwrap(), before);

    // An object whose JSON id differs from its entry is refused as well.
    let mut objs = simple(2);
    objs[0].id = uuid_id("indicator", 77);
    let e = feed::publish(spec(vec![objs], 10), &live, &WriteOptions::default()).unwrap_err();
    assert!(e.to_string().contains("not its entry's"), "{e}");
    assert_eq!(std::fs::read(&live).unwrap(), before);
    assert_eq!(names(dir.path()), vec!["feed.taxii"]);
}
