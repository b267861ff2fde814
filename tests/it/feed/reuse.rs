//! Default pages copied from the previous generation instead of compressed
//! again (docs/decisions.md#d67): only pages whose bodies did not change,
//! only when the copies are what this build would write, and always the
//! same bytes as compressing.

use crate::common::feed_support::*;
use std::path::Path;
use std::sync::Arc;
use taxii_edge::feed::{self, Coding, Feed, FeedSpec, PageKind, WriteOptions, WriteStats};

/// 250 indicators in pages of 10: 25 pages, the last one full.
fn first_generation(dir: &Path) -> (FeedSpec, Arc<Feed>) {
    let s = spec(vec![simple(250)], 10);
    let path = dir.join("gen1.taxii");
    feed::write(&s, &path, &WriteOptions::default()).unwrap();
    (s, Arc::new(Feed::open(&path).unwrap()))
}

/// `s` written with `previous` (and `opts`'s levels), and its bytes, next
/// to the bytes of the same spec written without a previous generation.
fn write_both(
    dir: &Path,
    s: &FeedSpec,
    previous: &Arc<Feed>,
    opts: WriteOptions,
) -> (WriteStats, Vec<u8>, Vec<u8>) {
    let path = dir.join("gen2.taxii");
    let with = WriteOptions {
        previous: Some(Arc::clone(previous)),
        ..opts.clone()
    };
    let stats = feed::write(s, &path, &with).unwrap();
    Feed::open(&path).unwrap().verify().unwrap();
    let fresh = feed::write_to_vec(s, &opts).unwrap();
    (stats, std::fs::read(&path).unwrap(), fresh)
}

/// The next generation of `s`: the previous one's boundaries kept.
fn next_generation(s: &FeedSpec, previous: &Feed) -> FeedSpec {
    let mut next = s.clone();
    next.collections[0].cuts = previous.collections()[0].cuts();
    next
}

#[test]
fn nothing_changed_copies_every_page_and_writes_the_same_file() {
    let dir = tempfile::tempdir().unwrap();
    let (s, gen1) = first_generation(dir.path());
    let s2 = next_generation(&s, &gen1);
    let (stats, written, fresh) = write_both(dir.path(), &s2, &gen1, WriteOptions::default());
    assert_eq!(stats.precompressed_pages, 50);
    assert_eq!(stats.pages_reused, 50);
    assert_eq!(written, fresh);
    assert_eq!(
        written,
        std::fs::read(dir.path().join("gen1.taxii")).unwrap()
    );
}

#[test]
fn only_pages_whose_bodies_changed_are_compressed() {
    let dir = tempfile::tempdir().unwrap();
    let (s, gen1) = first_generation(dir.path());
    let mut s2 = next_generation(&s, &gen1);
    // Object 55 (page 5) gets a new version, dated after everything; five
    // new objects follow it. Page 5 loses its last version of 55, page 24
    // gains a `next` token, the tail page is new.
    let objs = &mut s2.collections[0].objects;
    let last = objs.last().unwrap().date_added_us;
    let changed = obj(&objs[55].id, objs[55].version_us + 1000, last + 1);
    objs.push(changed);
    for i in 0..5 {
        objs.push(obj(
            &uuid_id("indicator", 1000 + i),
            T0,
            last + 2 + i as i64,
        ));
    }
    let (stats, written, fresh) = write_both(dir.path(), &s2, &gen1, WriteOptions::default());
    assert_eq!(stats.precompressed_pages, 2 * 26);
    assert_eq!(stats.pages_reused, 2 * 23);
    assert_eq!(written, fresh);
    let gen2 = Feed::open(&dir.path().join("gen2.taxii")).unwrap();
    let copy = |f: &Feed, p| f.collections()[0].precompressed(PageKind::Objects, p, Coding::Zstd);
    assert_eq!(copy(&gen2, 4), copy(&gen1, 4));
    assert_ne!(copy(&gen2, 5), copy(&gen1, 5));
}

#[test]
fn other_compression_levels_compress_every_page() {
    let dir = tempfile::tempdir().unwrap();
    let (s, gen1) = first_generation(dir.path());
    let s2 = next_generation(&s, &gen1);
    let opts = WriteOptions {
        gzip_level: 9,
        zstd_level: 7,
        ..WriteOptions::default()
    };
    let (stats, written, fresh) = write_both(dir.path(), &s2, &gen1, opts);
    assert_eq!(stats.pages_reused, 0);
    assert_eq!(written, fresh);
}

#[test]
fn a_damaged_previous_generation_is_not_copied() {
    let dir = tempfile::tempdir().unwrap();
    let (s, gen1) = first_generation(dir.path());
    // One byte of the last page's last compressed copy: the copies of the
    // first page still match (opening the file does not read PAGEDATA),
    // the section checksum does not.
    let c = &gen1.collections()[0];
    let last = c.default_page_count() - 1;
    let blob = c
        .precompressed(PageKind::Manifest, last, Coding::Zstd)
        .unwrap();
    let mut bytes = std::fs::read(gen1.path()).unwrap();
    let at = blob.as_ptr() as usize
        - c.precompressed(PageKind::Objects, 0, Coding::Gzip)
            .unwrap()
            .as_ptr() as usize;
    let pagedata = sections(&bytes)
        .into_iter()
        .find(|(kind, ..)| *kind == 9)
        .unwrap()
        .2;
    bytes[pagedata + at + blob.len() / 2] ^= 0x40;
    let damaged = dir.path().join("damaged.taxii");
    std::fs::write(&damaged, &bytes).unwrap();
    let damaged = Arc::new(Feed::open(&damaged).unwrap());
    let s2 = next_generation(&s, &damaged);
    let (stats, written, fresh) = write_both(dir.path(), &s2, &damaged, WriteOptions::default());
    assert_eq!(stats.pages_reused, 0);
    assert_eq!(written, fresh);
}
