//! Support objects: the marking definitions and the identity the
//! collection's objects reference. They are derived from what the other
//! phases published, so they come last.

use super::previous::Previous;
use super::{type_of_id, Assembly, CollectionBuild, Pending, ORDER_SUPPORT};
use crate::feed::SpecVersion;
use crate::record::StixRecord;
use crate::stix;
use crate::time::{self, Micros, MILLI};
use std::collections::HashSet;
use xxhash_rust::xxh3::xxh3_64;

/// A support object: its id, its 2.1 JSON and its 2.0 JSON.
type Support = (String, String, Option<String>);

impl Assembly {
    /// Adds the support objects: the marking definitions referenced (by
    /// live objects and tombstones alike) and `identity`, unless an input
    /// carries them.
    pub(super) fn add_support(
        &mut self,
        b: &CollectionBuild<'_>,
        previous: &Previous,
        passthrough: &[(String, &StixRecord)],
        identity: Option<&(String, String, String)>,
    ) {
        let offers_20 = b.plan.offers_20;
        let support = self.support_objects(offers_20, identity, passthrough);
        for (pos, s) in support.into_iter().enumerate() {
            let order = ORDER_SUPPORT + pos as u64;
            self.objects
                .push(support_object(s, previous, b.now, offers_20, order));
        }
    }

    /// The support objects to publish: the marking definitions in id
    /// order, then the identity.
    fn support_objects(
        &mut self,
        offers_20: bool,
        identity: Option<&(String, String, String)>,
        passthrough: &[(String, &StixRecord)],
    ) -> Vec<Support> {
        let mut support: Vec<Support> = Vec::new();
        if offers_20 {
            // STIX 2.0 has no TLP 2.0: the 2.0 form references the TLP 1.0
            // equivalents (amber+strict → red, docs/decisions.md#d20), so their
            // definitions must be in the collection too.
            let for_20: Vec<String> = self
                .markings
                .iter()
                .map(|m| stix::marking::ref_for_20(m).to_string())
                .collect();
            self.markings.extend(for_20);
        }
        for m in &self.markings {
            if let Some((j21, j20)) = stix::marking_object(m) {
                support.push((m.clone(), j21.to_string(), j20.map(str::to_string)));
            }
        }
        if let Some((id, j21, j20)) = identity {
            support.push((id.clone(), j21.clone(), Some(j20.clone())));
        }
        // An input may carry the same standard object (a TLP marking definition
        // is the usual case): the input's copy wins, one id stays one object.
        let given: HashSet<&str> = passthrough.iter().map(|(_, s)| s.id.as_str()).collect();
        support.retain(|(id, _, _)| !given.contains(id.as_str()));
        support
    }
}

/// A support object on its way into the feed. Unchanged since the
/// previous generation, it keeps its version and date_added.
fn support_object(
    (id, mut j21, mut j20): Support,
    previous: &Previous,
    now: Micros,
    offers_20: bool,
    order: u64,
) -> Pending {
    let key = format!("sup:{id}");
    let hash = xxh3_64(j21.as_bytes());
    let prev_row = previous.row(&key).filter(|r| r.present);
    let mut version_us = version_of(&j21);
    let date_added = match prev_row {
        Some(r) if r.content_hash == hash => {
            version_us = Some(r.modified);
            Some(r.date_added)
        }
        Some(r) => {
            // Changed (a renamed identity): a new version needs a later
            // `modified` than the one published (docs/decisions.md#d11). Only the
            // identity carries one; marking definitions never change.
            if let Some(old) = version_of(&j21) {
                let new = (r.modified + MILLI).max(time::truncate_ms(now));
                (j21, j20) = with_modified(j21, j20, old, new);
                version_us = Some(new);
            }
            None
        }
        None => None,
    };
    let stix_type = type_of_id(&id);
    Pending {
        key: key.into(),
        support: true,
        version_us,
        date_added,
        id: id.into(),
        stix_type,
        spec: SpecVersion::V21,
        json21: j21.into(),
        json20: if offers_20 { j20.map(Into::into) } else { None },
        // The hash of the object as built (before any `modified` bump),
        // so an unchanged identity is recognised next time.
        content_hash: hash,
        epoch: 0,
        revoked: false,
        tombstone: false,
        revoked_at: 0,
        order,
        fingerprint: None,
    }
}

/// A support object's JSON (2.1, 2.0) with its `modified` moved from
/// `old` to `new`.
fn with_modified(
    j21: String,
    j20: Option<String>,
    old: Micros,
    new: Micros,
) -> (String, Option<String>) {
    let (from, to) = (
        format!("\"modified\":\"{}\"", time::fmt_ms(old)),
        format!("\"modified\":\"{}\"", time::fmt_ms(new)),
    );
    (
        j21.replacen(&from, &to, 1),
        j20.map(|j| j.replacen(&from, &to, 1)),
    )
}

/// `modified` (or `created`) of a small support object's JSON, µs.
fn version_of(json: &str) -> Option<Micros> {
    let v: serde_json::Value = serde_json::from_str(json).ok()?;
    let t = v.get("modified").or_else(|| v.get("created"))?.as_str()?;
    time::parse_rfc3339(t).ok()
}
