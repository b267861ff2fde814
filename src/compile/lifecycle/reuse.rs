//! Reusing an indicator's bytes from the previous generation
//! (docs/decisions.md#d66): an indicator whose source record and
//! collection config are unchanged would be built into the very bytes the
//! previous generation published, so it keeps them, decided before
//! building it. A nightly recompile then costs in proportion to what
//! changed, not to the size of the feed.
//!
//! Two fingerprints decide it, both xxh3 of a fixed little-endian encoding
//! (the same on every run and machine):
//! - the record's ([`record_fingerprint`]): every canonical field the
//!   builder may read and the source JSON that mappings read, stored in
//!   the key's STATE row;
//! - the collection's config ([`config_fingerprint`]): everything that
//!   shapes its indicators, the crate version and [`SCHEMA`], stored once
//!   in the collection's STATE.

use super::indicators::Outcome;
use super::previous::stored_version;
use super::{CollectionBuild, Pending, ORDER_RECORD, UNDATED};
use crate::compile::spill::Body;
use crate::compile::state::Row;
use crate::config::resolve_ttl;
use crate::feed::{CollectionFeed, Feed, SpecVersion};
use crate::record::{FileHashes, Indicator, IndicatorType};
use crate::stix::{self, BuildSettings};
use bytes::Bytes;
use xxhash_rust::xxh3::xxh3_64;

/// The serialization schema of compiled indicators: bump it when a change
/// makes the builder or the serializer write different bytes for the same
/// record and config within one crate version (the crate version is part
/// of the config fingerprint too), so that no stale bytes are reused.
const SCHEMA: u64 = 1;

/// A fingerprint under construction: each value is written with its
/// length or a presence byte, so that different inputs cannot concatenate
/// into the same stream, and the stream is hashed once (one xxh3 call is
/// faster than a streaming hasher fed a dozen small pieces).
struct Fingerprint(Vec<u8>);

impl Fingerprint {
    fn new() -> Self {
        Fingerprint(Vec::with_capacity(512))
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn flag(&mut self, v: bool) {
        self.0.push(u8::from(v));
    }
    fn str(&mut self, s: &str) {
        self.u64(s.len() as u64);
        self.0.extend_from_slice(s.as_bytes());
    }
    fn opt_str(&mut self, s: Option<&str>) {
        self.flag(s.is_some());
        if let Some(s) = s {
            self.str(s);
        }
    }
    fn opt_u64(&mut self, v: Option<u64>) {
        self.flag(v.is_some());
        if let Some(v) = v {
            self.u64(v);
        }
    }
    fn digest(&self) -> u64 {
        xxh3_64(&self.0)
    }
}

/// The fingerprint of everything the builder reads from a record: all its
/// canonical fields but its origin (where it was read), and its source
/// JSON (mappings read it).
pub(super) fn record_fingerprint(ind: &Indicator) -> u64 {
    // Destructured so that a new field cannot be forgotten here.
    let Indicator {
        kind,
        value,
        hashes,
        registry_value_name,
        owner,
        confidence,
        rating,
        score,
        tags,
        tlp,
        active,
        created,
        last_modified,
        expiration,
        description,
        profile,
        origin: _,
        source,
    } = ind;
    let FileHashes {
        md5,
        sha1,
        sha256,
        sha512,
    } = &**hashes;
    let mut f = Fingerprint::new();
    f.str(kind.as_str());
    f.str(value);
    for h in [md5, sha1, sha256, sha512] {
        f.opt_str(h.as_deref());
    }
    f.opt_str(registry_value_name.as_deref());
    f.opt_str(owner.as_deref());
    f.opt_u64(confidence.map(u64::from));
    f.opt_u64(rating.map(f64::to_bits));
    f.opt_u64(score.map(u64::from));
    f.u64(tags.len() as u64);
    for t in tags {
        f.str(t);
    }
    f.opt_str(tlp.map(|t| t.as_str()));
    f.flag(*active);
    for t in [created, last_modified, expiration] {
        f.opt_u64(t.map(|t| t as u64));
    }
    f.opt_str(description.as_deref());
    f.str(profile.as_str());
    f.str(source.as_str());
    f.digest()
}

/// The fingerprint of everything that shapes a collection's indicators
/// besides their records: the crate version and [`SCHEMA`], the collection
/// id, the effective TTL of every type, the global and collection mappings,
/// the identity referenced, the marking, SCO, id and TAXII 2.0 settings.
pub(super) fn config_fingerprint(b: &CollectionBuild<'_>, identity_ref: Option<&str>) -> u64 {
    let (cfg, plan, col) = (b.cfg, b.plan, b.col());
    let mut f = Fingerprint::new();
    f.str(env!("CARGO_PKG_VERSION"));
    f.u64(SCHEMA);
    f.str(&plan.id.to_string());
    for kind in IndicatorType::ALL {
        f.opt_u64(resolve_ttl(kind, &col.ttl, &cfg.ttl).map(|h| h as u64));
    }
    for maps in [&cfg.mappings, &col.mappings] {
        f.u64(maps.len() as u64);
        for (k, v) in maps {
            f.str(k);
            f.str(v);
        }
    }
    f.opt_str(identity_ref);
    f.flag(cfg.server.tlp2_markings);
    f.flag(col.emit_scos);
    f.flag(plan.offers_20);
    f.opt_str(plan.xsoar_ids.map(|ns| ns.to_string()).as_deref());
    f.u64(UNDATED as u64);
    f.digest()
}

/// The previous generation's object for an indicator that may keep it:
/// `prev` is its key's row, `fingerprint` its record's, and the
/// collection's config fingerprint matched. `None` when anything differs,
/// and the indicator is built.
///
/// Reused: the object published, unrevoked, from the same record (the row
/// has its fingerprint; rows of objects whose build warned have none, so
/// that their warnings are reported again), under the same id, still
/// unexpired where `drop_expired` leaves expired ones out, and still in
/// the previous feed. It keeps its bytes, version, date_added, content
/// hash and epoch, and references the same markings and SCOs as built.
/// The key moves into the object when it is reused (left as it is when
/// not).
#[allow(clippy::too_many_arguments)]
pub(super) fn reuse(
    b: &CollectionBuild<'_>,
    settings: &BuildSettings,
    key: &mut String,
    ind: &Indicator,
    fingerprint: u64,
    pos: usize,
    xsoar_id: Option<Option<&str>>,
    prev: &Row,
) -> Option<Outcome> {
    let (prev_col, prev_feed) = (b.prev_col?, b.prev_feed?);
    let unchanged = prev.present
        && !prev.revoked
        && !prev.tombstone
        && prev.fingerprint == Some(fingerprint)
        && !stix::is_revoked(ind);
    // Our own ids follow from the key, the collection and the epoch, all
    // unchanged; XSOAR's are chosen among the collection's records.
    let same_id = xsoar_id.is_none_or(|id| id == Some(prev.id.as_str()));
    if !unchanged || !same_id {
        return None;
    }
    if b.col().drop_expired {
        // The builder's own rule (`stix::dates`), on the same record and TTL.
        let valid_until = stix::dates(ind, settings, &mut Vec::new()).valid_until;
        match valid_until {
            Some(v) if v <= b.now => return None,
            Some(v) => b.stable_until.holds_before(v),
            None => {}
        }
    }
    let (json21, json20) = kept_bodies(prev_feed, prev_col, prev, b.plan.offers_20)?;
    let scos = if settings.emit_scos {
        super::indicators::sco_objects(stix::sco(ind).as_slice(), pos)
    } else {
        Vec::new()
    };
    Some(Outcome::Object {
        pending: Pending {
            key: std::mem::take(key).into(),
            support: false,
            id: prev.id.as_str().into(),
            stix_type: crate::feed::type_name("indicator"),
            spec: SpecVersion::V21,
            version_us: Some(prev.modified),
            date_added: Some(prev.date_added),
            json21,
            json20,
            content_hash: prev.content_hash,
            epoch: prev.epoch,
            revoked: false,
            tombstone: false,
            revoked_at: 0,
            order: ORDER_RECORD + pos as u64,
            fingerprint: Some(fingerprint),
        },
        markings: ind
            .tlp
            .map(|t| vec![stix::marking_ref(t, settings.tlp2)])
            .unwrap_or_default(),
        scos,
        warnings: Vec::new(),
        changed: false,
        added: false,
        reused: true,
    })
}

/// The previous generation's 2.1 and (when the collection offers 2.0) 2.0
/// bytes of the version `prev` names, as spans of its file.
fn kept_bodies(
    prev_feed: &Feed,
    prev_col: &CollectionFeed,
    prev: &Row,
    offers_20: bool,
) -> Option<(Body, Option<Body>)> {
    let i = stored_version(prev_col, &prev.id, prev.date_added, prev.modified)?;
    // An empty slice is a damaged entry: build instead. The bytes are not
    // read here (`Body::Kept`).
    let kept = |bytes: Bytes| Body::kept(prev_feed, &bytes);
    let json21 = kept(prev_col.object_bytes(i))?;
    let json20 = if offers_20 {
        Some(kept(prev_col.object20_bytes(i)?)?)
    } else {
        None
    };
    Some((json21, json20))
}
