//! What one generation remembers for the next: per collection, one row per
//! published object (or remembered key), so that the next compile can keep
//! `date_added` and `modified` of unchanged objects byte for byte, give new
//! and changed versions later date_added values, publish removals once as
//! revocations, and give an indicator that returns after its revocation a
//! new id (epoch).
//!
//! Stored opaquely in the feed's STATE section (the server never reads it).
//! Layout (version 2): magic `TXST`, version u8, the collection's config
//! fingerprint u64, row count u64, then rows: key and id (u32 length +
//! UTF-8), content_hash u64, modified i64, date_added i64, epoch u32,
//! flags u8 (1 revoked, 2 tombstone, 4 present, 8 has a fingerprint),
//! revoked_at i64, fingerprint u64 (0 when flag 8 is clear); integers
//! little-endian. Version 1 had neither fingerprint: it decodes as a state
//! without them, so the first compile after an upgrade rebuilds every
//! object instead of failing (docs/decisions.md#d66). A small hand-written
//! codec: it is a dozen fields, and a format crate would add a dependency
//! and a second serialization story for one table.

use crate::feed::{Spool, Staged};
use crate::time::Micros;
use std::io::{self, Write};
use xxhash_rust::xxh3::xxh3_64;

const MAGIC: &[u8; 4] = b"TXST";
const VERSION: u8 = 2;
/// The version before fingerprints (still decoded).
const VERSION_1: u8 = 1;

/// The last published state of one key in one collection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// Natural key: `ind:<type>:<value>` for compiled indicators,
    /// `obj:<id>:<version µs>` for passthrough STIX objects, `sup:<id>` for
    /// support objects (markings, identity, SCOs).
    pub key: String,
    /// The STIX id published for the key (empty for a remembered key whose
    /// object is gone).
    pub id: String,
    /// [`crate::stix::content_hash`] of what was published (with the
    /// revoked flag mixed in), to detect changes.
    pub content_hash: u64,
    pub modified: Micros,
    pub date_added: Micros,
    /// Revocation epoch of the key (docs/decisions.md#d12).
    pub epoch: u32,
    /// The published version is `revoked: true`.
    pub revoked: bool,
    /// The object is a tombstone published because the key left the
    /// source; `revoked_at` tells when, for the retention.
    pub tombstone: bool,
    pub revoked_at: Micros,
    /// The object is in the feed (false: only the key's epoch is
    /// remembered).
    pub present: bool,
    /// The source record's fingerprint when the published object was built
    /// from one without warnings (`lifecycle::reuse`): the same record
    /// under the same config fingerprint keeps these bytes. `None` for
    /// everything else, and for rows of a version 1 state.
    pub fingerprint: Option<u64>,
}

/// One collection's state.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct State {
    /// The fingerprint of the config the rows' objects were built under
    /// (`lifecycle::reuse`); `None` in a version 1 state.
    pub config: Option<u64>,
    pub rows: Vec<Row>,
}

/// Why a state section could not be decoded.
#[derive(Debug, thiserror::Error)]
#[error("compiler state section is damaged: {0}")]
pub struct StateError(&'static str);

/// Encodes a collection's STATE section one row at a time into a
/// [`Spool`], so that the caller need not hold every row, nor the section,
/// in memory (docs/decisions.md#d72). The row count is written when the
/// section is finished.
pub(crate) struct Encoder {
    out: Spool,
    row: Vec<u8>,
    pushed: u64,
}

/// Where the row count sits in an encoded section (after the magic, the
/// version byte and the config fingerprint).
const COUNT_AT: usize = MAGIC.len() + 1 + 8;

impl Encoder {
    /// A section for rows built under the config fingerprint `config`.
    pub fn new(config: u64, mut out: Spool) -> io::Result<Self> {
        let mut head = Vec::with_capacity(COUNT_AT + 8);
        head.extend_from_slice(MAGIC);
        head.push(VERSION);
        head.extend_from_slice(&config.to_le_bytes());
        debug_assert_eq!(head.len(), COUNT_AT);
        head.extend_from_slice(&0u64.to_le_bytes());
        out.write_all(&head)?;
        Ok(Encoder {
            out,
            row: Vec::with_capacity(128),
            pushed: 0,
        })
    }

    pub fn push(&mut self, r: &Row) -> io::Result<()> {
        let out = &mut self.row;
        out.clear();
        put_str(out, &r.key);
        put_str(out, &r.id);
        out.extend_from_slice(&r.content_hash.to_le_bytes());
        out.extend_from_slice(&r.modified.to_le_bytes());
        out.extend_from_slice(&r.date_added.to_le_bytes());
        out.extend_from_slice(&r.epoch.to_le_bytes());
        let flags = u8::from(r.revoked)
            | u8::from(r.tombstone) << 1
            | u8::from(r.present) << 2
            | u8::from(r.fingerprint.is_some()) << 3;
        out.push(flags);
        out.extend_from_slice(&r.revoked_at.to_le_bytes());
        out.extend_from_slice(&r.fingerprint.unwrap_or(0).to_le_bytes());
        self.out.write_all(out)?;
        self.pushed += 1;
        Ok(())
    }

    /// The encoded section.
    pub fn finish(self) -> io::Result<Staged> {
        let mut staged = self.out.finish()?;
        staged.patch(COUNT_AT as u64, &self.pushed.to_le_bytes())?;
        Ok(staged)
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], StateError> {
        if self.0.len() < n {
            return Err(StateError("truncated"));
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn u32(&mut self) -> Result<u32, StateError> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
    fn u64(&mut self) -> Result<u64, StateError> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
    fn i64(&mut self) -> Result<i64, StateError> {
        Ok(self.u64()? as i64)
    }
    fn str(&mut self) -> Result<&'a str, StateError> {
        let n = self.u32()? as usize;
        let b = self.take(n)?;
        std::str::from_utf8(b).map_err(|_| StateError("key is not UTF-8"))
    }
}

/// One row as stored: its strings borrowed from the section.
pub(crate) struct RowRef<'a> {
    pub key: &'a str,
    pub id: &'a str,
    pub content_hash: u64,
    pub modified: Micros,
    pub date_added: Micros,
    pub epoch: u32,
    flags: u8,
    pub revoked_at: Micros,
    fingerprint: u64,
}

impl RowRef<'_> {
    pub fn present(&self) -> bool {
        self.flags & 4 != 0
    }

    pub fn tombstone(&self) -> bool {
        self.flags & 2 != 0
    }

    pub fn to_row(&self) -> Row {
        Row {
            key: self.key.to_string(),
            id: self.id.to_string(),
            content_hash: self.content_hash,
            modified: self.modified,
            date_added: self.date_added,
            epoch: self.epoch,
            revoked: self.flags & 1 != 0,
            tombstone: self.tombstone(),
            revoked_at: self.revoked_at,
            present: self.present(),
            fingerprint: (self.flags & 8 != 0).then_some(self.fingerprint),
        }
    }
}

/// Reads the row at the cursor (`v2`: with its fingerprint).
fn read_row<'a>(c: &mut Cursor<'a>, v2: bool) -> Result<RowRef<'a>, StateError> {
    Ok(RowRef {
        key: c.str()?,
        id: c.str()?,
        content_hash: c.u64()?,
        modified: c.i64()?,
        date_added: c.i64()?,
        epoch: c.u32()?,
        flags: c.take(1)?[0],
        revoked_at: c.i64()?,
        fingerprint: if v2 { c.u64()? } else { 0 },
    })
}

/// The section's header: whether it is version 2, the config
/// fingerprint, and a cursor on the first of its `n` rows, bounded by the
/// section's size.
fn read_header(bytes: &[u8]) -> Result<(bool, Option<u64>, u64, Cursor<'_>), StateError> {
    let mut c = Cursor(bytes);
    if c.take(4)? != MAGIC {
        return Err(StateError("bad magic"));
    }
    let version = c.take(1)?[0];
    if version != VERSION && version != VERSION_1 {
        return Err(StateError("unknown version"));
    }
    let v2 = version == VERSION;
    let config = if v2 { Some(c.u64()?) } else { None };
    let n = c.u64()?;
    // Each row is at least 45 bytes (53 in version 2): bound the
    // allocation by the input.
    let min_row = if v2 { 53 } else { 45 };
    if n > (bytes.len() as u64) / min_row + 1 {
        return Err(StateError("row count larger than the section"));
    }
    Ok((v2, config, n, c))
}

/// Decodes a state; an empty input is an empty state (a feed written
/// without one, e.g. by tests).
pub fn decode(bytes: &[u8]) -> Result<State, StateError> {
    if bytes.is_empty() {
        return Ok(State::default());
    }
    let (v2, config, n, mut c) = read_header(bytes)?;
    let mut rows = Vec::with_capacity(n as usize);
    for _ in 0..n {
        rows.push(read_row(&mut c, v2)?.to_row());
    }
    if !c.0.is_empty() {
        return Err(StateError("trailing bytes"));
    }
    Ok(State { config, rows })
}

/// A previous generation's STATE looked up in place, in the feed's
/// mapping: per distinct key, its hash and the offset of its row (16
/// bytes, where a decoded row with its strings takes about 300). When a
/// key is stored twice, the later row is the one found, as when the rows
/// were loaded into a map.
#[derive(Default)]
pub(crate) struct StateTable {
    bytes: bytes::Bytes,
    v2: bool,
    config: Option<u64>,
    /// (key hash, row offset), sorted; one entry per distinct key.
    index: Vec<(u64, u64)>,
    /// Where each run of `index` sharing the top `bucket_bits` bits of the
    /// hash starts (one more entry than there are runs): a lookup reads
    /// two cache lines instead of binary-searching millions of entries.
    buckets: Vec<u32>,
    bucket_bits: u32,
}

impl StateTable {
    /// Checks every row of `bytes` (a STATE section) and indexes them,
    /// showing each row as stored (a key stored twice included) to
    /// `visit`: one pass over the section for the caller's figures and
    /// the index.
    pub fn open_with(
        bytes: bytes::Bytes,
        mut visit: impl FnMut(&RowRef<'_>),
    ) -> Result<StateTable, StateError> {
        if bytes.is_empty() {
            return Ok(StateTable::default());
        }
        let (v2, config, n, mut c) = read_header(&bytes)?;
        let mut index = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let at = (bytes.len() - c.0.len()) as u64;
            let row = read_row(&mut c, v2)?;
            visit(&row);
            index.push((xxh3_64(row.key.as_bytes()), at));
        }
        if !c.0.is_empty() {
            return Err(StateError("trailing bytes"));
        }
        index.sort_unstable();
        let mut table = StateTable {
            bytes,
            v2,
            config,
            ..StateTable::default()
        };
        // Keep the last row of a key stored twice: drop an entry when a
        // later one of the same hash has the same key.
        // Rows are read only where hashes repeat: reading every row here
        // again, in hash order, was a random read of the whole section.
        let keep: Vec<bool> = (0..index.len())
            .map(|i| {
                let later = index[i + 1..].iter().take_while(|(h, _)| *h == index[i].0);
                let mut later = later.peekable();
                later.peek().is_none() || {
                    let key = table.row_at(index[i].1).key;
                    later.all(|&(_, at)| table.row_at(at).key != key)
                }
            })
            .collect();
        table.index = index
            .into_iter()
            .zip(keep)
            .filter_map(|(e, k)| k.then_some(e))
            .collect();
        table.index_buckets();
        Ok(table)
    }

    /// Fills `buckets`: about one distinct key per bucket.
    fn index_buckets(&mut self) {
        let n = self.index.len();
        self.bucket_bits = n.max(1).next_power_of_two().trailing_zeros().max(1);
        let shift = 64 - self.bucket_bits;
        let mut at = 0;
        self.buckets = (0..=1u64 << self.bucket_bits)
            .map(|b| {
                while at < n && self.index[at].0 >> shift < b {
                    at += 1;
                }
                at as u32
            })
            .collect();
    }

    /// The config fingerprint the rows were built under (`None` before
    /// fingerprints, or for a new collection).
    pub fn config(&self) -> Option<u64> {
        self.config
    }

    /// The row at `at`, checked by [`StateTable::open_with`].
    fn row_at(&self, at: u64) -> RowRef<'_> {
        read_row(&mut Cursor(&self.bytes[at as usize..]), self.v2)
            .expect("rows are checked when the table opens")
    }

    /// The row of `key`, if the previous generation has one.
    pub fn get(&self, key: &str) -> Option<Row> {
        self.find(key).map(|(_, r)| r.to_row())
    }

    /// The row of `key` and its slot (`0..self.len()`), if there is one.
    pub fn find(&self, key: &str) -> Option<(usize, RowRef<'_>)> {
        if self.index.is_empty() {
            return None;
        }
        let h = xxh3_64(key.as_bytes());
        let b = (h >> (64 - self.bucket_bits)) as usize;
        let start = self.buckets[b] as usize;
        self.index[start..self.buckets[b + 1] as usize]
            .iter()
            .enumerate()
            .skip_while(|&(_, &(x, _))| x < h)
            .take_while(|&(_, &(x, _))| x == h)
            .map(|(i, &(_, at))| (start + i, self.row_at(at)))
            .find(|(_, r)| r.key == key)
    }

    /// The number of distinct keys (slots): slot `s` holds the row
    /// [`StateTable::get`] finds for its key, in no particular order.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// The row in `slot`.
    pub fn slot(&self, slot: usize) -> RowRef<'_> {
        self.row_at(self.index[slot].1)
    }
}

/// Encodes the rows of a collection whose objects were built under the
/// config fingerprint `config`, in memory.
#[cfg(test)]
pub fn encode(config: u64, rows: &[Row]) -> Vec<u8> {
    let mut e = Encoder::new(config, Spool::new(None).unwrap()).unwrap();
    for r in rows {
        e.push(r).unwrap();
    }
    e.finish().unwrap().to_vec().unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_damage() {
        let rows = vec![
            Row {
                key: "ind:ipv4:198.51.100.1".into(),
                id: "indicator--0b1c".into(),
                content_hash: 42,
                modified: 1_700_000_000_000_000,
                date_added: 1_700_000_000_000_001,
                epoch: 2,
                revoked: true,
                tombstone: true,
                revoked_at: 5,
                present: true,
                fingerprint: Some(7),
            },
            Row {
                key: "sup:marking-definition--x".into(),
                id: String::new(),
                content_hash: 0,
                modified: -1,
                date_added: 0,
                epoch: 0,
                revoked: false,
                tombstone: false,
                revoked_at: 0,
                present: false,
                fingerprint: None,
            },
        ];
        let bytes = encode(9, &rows);
        let state = decode(&bytes).unwrap();
        assert_eq!(state.config, Some(9));
        assert_eq!(state.rows, rows);
        assert!(decode(&bytes[..bytes.len() - 1]).is_err());
        let mut extra = bytes.clone();
        extra.push(0);
        assert!(decode(&extra).is_err());
        assert!(decode(b"XXXX").is_err());
        assert_eq!(decode(&[]).unwrap(), State::default());
    }

    fn row(key: &str, date_added: Micros) -> Row {
        Row {
            key: key.into(),
            id: format!("indicator--{key}"),
            content_hash: 1,
            modified: 2,
            date_added,
            epoch: 0,
            revoked: false,
            tombstone: false,
            revoked_at: 0,
            present: true,
            fingerprint: Some(3),
        }
    }

    #[test]
    fn a_table_finds_each_key_in_place_and_the_later_of_a_key_stored_twice() {
        let mut rows: Vec<Row> = (0..500).map(|i| row(&format!("ind:md5:{i}"), i)).collect();
        rows.push(row("ind:md5:7", 9_999));
        let bytes = bytes::Bytes::from(encode(5, &rows));
        let mut stored = 0;
        let table = StateTable::open_with(bytes.clone(), |_| stored += 1).unwrap();
        assert_eq!(table.config(), Some(5));
        for r in &rows[..500] {
            let found = table.get(&r.key).unwrap();
            let want = if r.key == "ind:md5:7" {
                9_999
            } else {
                r.date_added
            };
            assert_eq!(found.date_added, want, "{}", r.key);
            assert_eq!(
                (found.id.as_str(), found.fingerprint),
                (r.id.as_str(), Some(3))
            );
        }
        assert!(table.get("ind:md5:500").is_none());
        assert_eq!(stored, 501);
        let mut keys: Vec<&str> = (0..table.len()).map(|s| table.slot(s).key).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), 500);
        assert_eq!(table.len(), 500);
        assert!(StateTable::open_with(bytes.slice(..bytes.len() - 3), |_| {}).is_err());
        let mut stored = 0;
        let empty = StateTable::open_with(bytes::Bytes::new(), |_| stored += 1).unwrap();
        assert!(empty.get("ind:md5:1").is_none() && empty.config().is_none());
        assert_eq!(stored, 0);
    }

    #[test]
    fn a_small_table_finds_each_of_its_keys() {
        for n in 1..=9 {
            let rows: Vec<Row> = (0..n).map(|i| row(&format!("ind:url:{i}"), i)).collect();
            let table =
                StateTable::open_with(bytes::Bytes::from(encode(1, &rows)), |_| {}).unwrap();
            let mut slots = Vec::new();
            for r in &rows {
                assert_eq!(table.get(&r.key).map(|f| f.date_added), Some(r.date_added));
                let (slot, found) = table.find(&r.key).unwrap();
                assert_eq!(
                    (found.key, table.slot(slot).key),
                    (r.key.as_str(), r.key.as_str())
                );
                slots.push(slot);
            }
            slots.sort_unstable();
            slots.dedup();
            assert_eq!((slots.len(), table.len()), (n as usize, n as usize));
            assert!(table.get("ind:url:x").is_none(), "{n} keys");
        }
    }

    #[test]
    fn a_version_1_state_decodes_without_fingerprints() {
        // One row as version 1 wrote it: no config fingerprint, no
        // row fingerprint.
        let mut v1 = Vec::new();
        v1.extend_from_slice(MAGIC);
        v1.push(VERSION_1);
        v1.extend_from_slice(&1u64.to_le_bytes());
        put_str(&mut v1, "ind:ipv4:198.51.100.1");
        put_str(&mut v1, "indicator--0b1c");
        v1.extend_from_slice(&42u64.to_le_bytes());
        v1.extend_from_slice(&10i64.to_le_bytes());
        v1.extend_from_slice(&11i64.to_le_bytes());
        v1.extend_from_slice(&0u32.to_le_bytes());
        v1.push(4);
        v1.extend_from_slice(&0i64.to_le_bytes());
        let state = decode(&v1).unwrap();
        assert_eq!(state.config, None);
        assert_eq!(state.rows.len(), 1);
        let r = &state.rows[0];
        assert!(r.present && r.fingerprint.is_none());
        assert_eq!((r.content_hash, r.modified, r.date_added), (42, 10, 11));
    }
}
