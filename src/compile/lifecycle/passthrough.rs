//! Passthrough STIX objects: published with the bytes their input gives,
//! keyed by (id, version). They keep the date_added their input gives
//! (medallion `__meta.date_added` / manifest) when it is still ahead of
//! what was published, so a collection can reproduce another server's.

use super::previous::Previous;
use super::{park_tail, Assembly, Pending, ORDER_RECORD, PARK_BATCH};
use crate::compile::spill::Spill;
use crate::feed::{self, SpecVersion};
use crate::record::StixRecord;
use crate::time::Micros;
use xxhash_rust::xxh3::xxh3_64;

impl Assembly {
    /// Adds the passthrough objects, parking their JSON as it goes. They
    /// come after the collection's `indicators` in the build order.
    pub(super) fn add_passthrough(
        &mut self,
        spill: &Spill,
        previous: &Previous,
        passthrough: &[(String, &StixRecord)],
        indicators: usize,
    ) -> Result<(), feed::FeedError> {
        for (pos, (key, s)) in passthrough.iter().enumerate() {
            if pos % PARK_BATCH == 0 {
                park_tail(spill, &mut self.objects)?;
            }
            let hash = xxh3_64(s.json.as_bytes());
            let date_added = self.passthrough_date_added(previous, key, s, hash);
            let order = ORDER_RECORD + (indicators + pos) as u64;
            self.objects
                .push(passthrough_object(key, s, hash, date_added, order));
        }
        park_tail(spill, &mut self.objects)
    }

    /// The date_added a passthrough object keeps or is given (`None`: it
    /// is dated at publish), counted in the report.
    fn passthrough_date_added(
        &mut self,
        previous: &Previous,
        key: &str,
        s: &StixRecord,
        hash: u64,
    ) -> Option<Micros> {
        match previous.claim(key).filter(|r| r.present) {
            Some(r) if r.content_hash == hash => {
                self.report.unchanged += 1;
                Some(r.date_added)
            }
            Some(_) => {
                // Same id and version, different bytes: STIX says that
                // cannot happen, but inputs do it. Publish the new bytes as
                // newly added, so incremental pollers fetch them.
                self.report.changed += 1;
                *self.warnings
                    .entry("a STIX input object changed its content without changing its modified; republished with a new date_added".into())
                    .or_default() += 1;
                None
            }
            None => {
                self.report.added += 1;
                // An input's own date_added (medallion) is reproduced only
                // when it is later than everything already published;
                // otherwise pollers past that point would never see the
                // object (docs/decisions.md#d9).
                s.date_added.filter(|d| *d > previous.last)
            }
        }
    }
}

/// A passthrough object on its way into the feed, its bytes unchanged.
fn passthrough_object(
    key: &str,
    s: &StixRecord,
    hash: u64,
    date_added: Option<Micros>,
    order: u64,
) -> Pending {
    let json: &str = &s.json;
    let spec = if s.spec_version == "2.0" {
        SpecVersion::V20
    } else {
        SpecVersion::V21
    };
    Pending {
        key: key.into(),
        support: false,
        id: s.id.as_str().into(),
        stix_type: feed::type_name(&s.stix_type),
        spec,
        version_us: s.modified.or(s.created),
        date_added,
        json21: json.into(),
        // A 2.0 object passes through to TAXII 2.0 as it is; 2.1 objects
        // are not rewritten for 2.0 (passthrough means unchanged).
        json20: (spec == SpecVersion::V20).then(|| json.into()),
        content_hash: hash,
        epoch: 0,
        revoked: false,
        tombstone: false,
        revoked_at: 0,
        order,
        fingerprint: None,
    }
}
