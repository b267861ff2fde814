//! The two depths of feed verification: `Depth::Publish` (checksums,
//! structure and every object's JSON, for a file the writer just produced)
//! and `Depth::Full` (`taxii-edge verify`: also every precompressed page
//! inflated and compared). What each one catches, asserted exactly,
//! including what only the full check sees.

use crate::common::feed_support::*;
use std::path::Path;
use taxii_edge::feed::{self, Depth, Feed, WriteOptions};

fn sample_bytes() -> Vec<u8> {
    feed::write_to_vec(
        &spec(vec![simple(9), simple(2)], 4),
        &WriteOptions::default(),
    )
    .unwrap()
}

fn open(b: Vec<u8>) -> Feed {
    Feed::from_bytes(b.into(), Path::new("/srv/feed.taxii")).unwrap()
}

#[test]
fn both_depths_accept_a_sound_file() {
    let f = open(sample_bytes());
    f.verify_with(Depth::Publish).unwrap();
    f.verify_with(Depth::Full).unwrap();
    f.verify().unwrap();
}

#[test]
fn publish_depth_catches_bad_checksums_and_structure() {
    let b = sample_bytes();
    let secs = sections(&b);
    // A flipped byte in a page blob, checksums left alone.
    let pagedata = secs.iter().find(|s| s.0 == 9 && s.1 == 0).unwrap().2;
    let mut x = b.clone();
    x[pagedata + 20] ^= 0xff;
    let e = open(x).verify_with(Depth::Publish).unwrap_err().to_string();
    assert!(e.contains("checksum mismatch"), "{e}");
    assert!(e.contains("the file is corrupted"), "{e}");
    // Entry damage behind valid checksums.
    let entries = secs.iter().find(|s| s.0 == 2 && s.1 == 0).unwrap().2;
    let mut x = b.clone();
    x[entries + 52] = 2;
    refresh_checksums(&mut x);
    let e = open(x).verify_with(Depth::Publish).unwrap_err().to_string();
    assert!(
        e.starts_with(
            "/srv/feed.taxii: collection 0 (11111111-2222-4333-8444-000000000000): entry 0: rank 2 but 1 expected"
        ),
        "{e}"
    );
}

#[test]
fn only_the_full_depth_inflates_pages() {
    let b = sample_bytes();
    let secs = sections(&b);
    let pagedata = secs.iter().find(|s| s.0 == 9 && s.1 == 0).unwrap().2;
    let mut x = b.clone();
    x[pagedata + 20] ^= 0xff;
    refresh_checksums(&mut x);
    let f = open(x);
    f.verify_with(Depth::Publish).unwrap();
    let e = f.verify_with(Depth::Full).unwrap_err().to_string();
    assert!(e.contains("default page 0 (Objects, Gzip)"), "{e}");
}

#[test]
fn both_depths_parse_every_object() {
    let b = sample_bytes();
    let secs = sections(&b);
    let objects = secs.iter().find(|s| s.0 == 3 && s.1 == 1).unwrap().2;
    let mut x = b.clone();
    x[objects] = b'[';
    refresh_checksums(&mut x);
    let f = open(x);
    for depth in [Depth::Publish, Depth::Full] {
        let e = f.verify_with(depth).unwrap_err().to_string();
        assert!(
            e.contains("collection 1")
                && e.contains("entry 0")
                && e.contains("not valid STIX JSON"),
            "{depth:?}: {e}"
        );
    }
}

/// Resident kilobytes of this process's mappings of `path` (Linux smaps).
#[cfg(target_os = "linux")]
fn resident_kb(path: &Path) -> u64 {
    let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
    let name = path.to_str().unwrap();
    let mut inside = false;
    let mut kb = 0;
    for line in smaps.lines() {
        let first = line.split_whitespace().next().unwrap_or("");
        let header =
            first.contains('-') && first.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
        if header {
            inside = line.ends_with(name);
        } else if let Some(v) = line.strip_prefix("Rss:").filter(|_| inside) {
            kb += v
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .unwrap();
        }
    }
    kb
}

/// Verifying reads the whole file, but must not leave it resident in the
/// process (a compile verifies a multi-GB file right before it exits, and
/// its peak RSS would double): every pass releases the pages behind it, and
/// released pages read back the same bytes.
#[cfg(target_os = "linux")]
#[test]
fn verify_leaves_little_of_a_mapped_file_resident_and_release_keeps_the_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.taxii");
    let objs = simple(30_000);
    feed::write(
        &spec(vec![objs.clone()], 100),
        &path,
        &WriteOptions::default(),
    )
    .unwrap();
    let size_kb = std::fs::metadata(&path).unwrap().len() / 1024;
    assert!(size_kb > 8_000, "the feed is only {size_kb} kB");

    let f = Feed::open(&path).unwrap();
    let c = &f.collections()[0];
    // Touch everything, as a reader would.
    let sum: u64 = (0..c.len()).map(|i| c.object_bytes(i).len() as u64).sum();
    let before: Vec<u8> = c.object_bytes(29_999).to_vec();
    assert!(sum > 0);
    assert!(resident_kb(&path) > 0);

    for depth in [Depth::Publish, Depth::Full] {
        f.verify_with(depth).unwrap();
        let rss = resident_kb(&path);
        assert!(
            rss * 4 < size_kb,
            "{depth:?}: {rss} kB of the {size_kb} kB file still resident after verify"
        );
    }
    // Released pages are read again from the file, unchanged.
    assert_eq!(&c.object_bytes(29_999)[..], &before[..]);
    assert_eq!(&c.object_bytes(0)[..], objs[0].json21.as_bytes());
}

/// The writer records per collection whether it mixes STIX 2.0 and 2.1
/// versions (the server's first request needs it; scanning the entries
/// took 170 ms at 10M objects), and verify checks it against the entries.
#[test]
fn the_stored_mixed_spec_flag_is_read_and_verified() {
    let mut mixed = simple(3);
    mixed[1].spec_version = taxii_edge::feed::SpecVersion::V20;
    let b = feed::write_to_vec(&spec(vec![simple(4), mixed], 2), &WriteOptions::default()).unwrap();
    let f = open(b.clone());
    assert_eq!(f.collections()[0].mixed_spec(), Some(false));
    assert_eq!(f.collections()[1].mixed_spec(), Some(true));
    f.verify_with(Depth::Publish).unwrap();

    // A flag that lies (checksums recomputed) is refused by both depths.
    let needle = b"\"mixed_spec\":[false,true]";
    let at = b
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("META records the flags");
    let mut x = b;
    x[at..at + needle.len()].copy_from_slice(b"\"mixed_spec\":[true ,true]");
    refresh_checksums(&mut x);
    for depth in [Depth::Publish, Depth::Full] {
        let e = open(x.clone()).verify_with(depth).unwrap_err().to_string();
        assert!(
            e.contains("META records mixed_spec = true, but the entries do not hold both"),
            "{e}"
        );
    }
}
