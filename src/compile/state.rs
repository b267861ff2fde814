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

use crate::time::Micros;
use std::collections::HashMap;

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

/// Encodes the rows of a collection whose objects were built under the
/// config fingerprint `config`.
pub fn encode(config: u64, rows: &[Row]) -> Vec<u8> {
    let mut out = Vec::with_capacity(24 + rows.len() * 104);
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.extend_from_slice(&config.to_le_bytes());
    out.extend_from_slice(&(rows.len() as u64).to_le_bytes());
    for r in rows {
        put_str(&mut out, &r.key);
        put_str(&mut out, &r.id);
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
    }
    out
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
    fn string(&mut self) -> Result<String, StateError> {
        let n = self.u32()? as usize;
        let b = self.take(n)?;
        String::from_utf8(b.to_vec()).map_err(|_| StateError("key is not UTF-8"))
    }
}

/// Decodes a state; an empty input is an empty state (a feed written
/// without one, e.g. by tests).
pub fn decode(bytes: &[u8]) -> Result<State, StateError> {
    if bytes.is_empty() {
        return Ok(State::default());
    }
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
    let mut rows = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let key = c.string()?;
        let id = c.string()?;
        let content_hash = c.u64()?;
        let modified = c.i64()?;
        let date_added = c.i64()?;
        let epoch = c.u32()?;
        let flags = c.take(1)?[0];
        let revoked_at = c.i64()?;
        let fingerprint = if v2 { c.u64()? } else { 0 };
        rows.push(Row {
            key,
            id,
            content_hash,
            modified,
            date_added,
            epoch,
            revoked: flags & 1 != 0,
            tombstone: flags & 2 != 0,
            revoked_at,
            present: flags & 4 != 0,
            fingerprint: (flags & 8 != 0).then_some(fingerprint),
        });
    }
    if !c.0.is_empty() {
        return Err(StateError("trailing bytes"));
    }
    Ok(State { config, rows })
}

/// Rows by key.
pub fn index(rows: Vec<Row>) -> HashMap<String, Row> {
    rows.into_iter().map(|r| (r.key.clone(), r)).collect()
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
