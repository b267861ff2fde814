//! Keys the previous generation published that this one no longer has:
//! revoked once, kept as tombstones until the retention ends, or dropped
//! (`removal = "drop"`, XSOAR's ids). A key that leaves is remembered (its
//! id, last modified, content hash and epoch): if it returns, it must not
//! reuse an id with the same modified for different content, nor a
//! revoked id (docs/decisions.md#d12, #d34).

use super::previous::{stored_json, Previous};
use super::{type_of_id, Assembly, CollectionBuild, Pending, ORDER_TOMBSTONE};
use crate::compile::state::Row;
use crate::config::RemovalPolicy;
use crate::feed::SpecVersion;
use crate::stix;
use crate::time::{self, Micros, DAY, MILLI};
use xxhash_rust::xxh3::xxh3_64;

impl Assembly {
    /// Handles every key the previous generation had and this one has not,
    /// in key order. Returns whether the stored version of one of them
    /// references `identity_id`: what the tombstones reference must stay
    /// in the collection too.
    pub(super) fn add_removals(
        &mut self,
        b: &CollectionBuild<'_>,
        previous: &Previous,
        identity_id: Option<&str>,
    ) -> bool {
        // Support objects (markings, identity) are derived from what
        // remains, so their previous rows are not removals.
        let mut gone: Vec<Row> = previous
            .unclaimed()
            .filter(|r| !r.key.starts_with("sup:"))
            .map(|r| r.to_row())
            .collect();
        gone.sort_by(|a, b| a.key.cmp(&b.key));
        let mut tombstone_identity = false;
        for (pos, row) in gone.iter().enumerate() {
            let order = ORDER_TOMBSTONE + pos as u64;
            tombstone_identity |= self.remove(b, row, order, identity_id);
        }
        tombstone_identity
    }

    /// One key that left: remembered, dropped, kept as a tombstone or
    /// revoked now. Returns whether its stored version references
    /// `identity_id`.
    fn remove(
        &mut self,
        b: &CollectionBuild<'_>,
        row: &Row,
        order: u64,
        identity_id: Option<&str>,
    ) -> bool {
        let now = b.now;
        let retention = i64::from(b.cfg.compile.revoked_retention_days) * DAY;
        let remember = |revoked: bool| Row {
            present: false,
            revoked,
            tombstone: false,
            ..row.clone()
        };
        if !row.present {
            self.remembered.push(row.clone());
            return false;
        }
        if !row.key.starts_with("ind:") {
            self.report.dropped += 1;
            return false;
        }
        if b.cfg.compile.removal == RemovalPolicy::Drop || b.plan.xsoar_ids.is_some() {
            self.report.dropped += 1;
            self.remembered.push(remember(row.revoked));
            return false;
        }
        let revoked_at = if row.tombstone { row.revoked_at } else { now };
        if row.revoked && now - revoked_at > retention {
            self.report.dropped += 1;
            self.remembered.push(remember(true));
            return false;
        }
        // Kept as a tombstone (or revoked now, so from now): until the
        // retention ends.
        b.stable_until
            .holds_before(revoked_at.saturating_add(retention).saturating_add(1));
        let Some((old21, old20)) = b.prev_col.and_then(|c| stored_json(c, &row.id)) else {
            // The previous feed lacks the object its state names: nothing to
            // revoke from; remember the key so a return gets a new id.
            self.report.dropped += 1;
            self.remembered.push(remember(true));
            return false;
        };
        let (refs, by) = references(&old21);
        self.markings.extend(refs);
        let references_identity = by.is_some() && by.as_deref() == identity_id;
        if row.revoked {
            // Already published as revoked (a tombstone, or inactive at the
            // source): keep those bytes until the retention ends.
            self.objects
                .push(tombstone(row, old21, old20, revoked_at, order));
        } else if let Some(revocation) = revocation(row, &old21, old20.as_deref(), now, order) {
            self.report.revoked += 1;
            self.objects.push(revocation);
        } else {
            self.report.dropped += 1;
            self.remembered.push(remember(true));
        }
        references_identity
    }
}

/// A tombstone published before, with its stored bytes.
fn tombstone(
    row: &Row,
    old21: String,
    old20: Option<String>,
    revoked_at: Micros,
    order: u64,
) -> Pending {
    Pending {
        key: row.key.as_str().into(),
        support: false,
        id: row.id.as_str().into(),
        stix_type: type_of_id(&row.id),
        spec: SpecVersion::V21,
        version_us: Some(row.modified),
        date_added: Some(row.date_added),
        json21: old21.into(),
        json20: old20.map(Into::into),
        content_hash: row.content_hash,
        epoch: row.epoch,
        revoked: true,
        tombstone: true,
        revoked_at,
        order,
        fingerprint: None,
    }
}

/// The revocation of a key's last published version (`old21`, `old20`),
/// a new version dated at publish; `None` when that JSON cannot be revoked.
fn revocation(
    row: &Row,
    old21: &str,
    old20: Option<&str>,
    now: Micros,
    order: u64,
) -> Option<Pending> {
    let modified = (row.modified + MILLI).max(time::truncate_ms(now));
    let j21 = stix::revoke_json21(old21, modified)?;
    let j20 = old20.and_then(|j| stix::revoke_json20(j, modified));
    Some(Pending {
        key: row.key.as_str().into(),
        support: false,
        id: row.id.as_str().into(),
        stix_type: type_of_id(&row.id),
        spec: SpecVersion::V21,
        version_us: Some(modified),
        date_added: None,
        content_hash: xxh3_64(j21.as_bytes()),
        json21: j21.into(),
        json20: j20.map(Into::into),
        epoch: row.epoch,
        revoked: true,
        tombstone: true,
        revoked_at: now,
        order,
        fingerprint: None,
    })
}

/// The marking-definition ids and `created_by_ref` a stored object
/// references (tombstones keep their references, so the collection must
/// keep serving what they point to).
fn references(json: &str) -> (Vec<String>, Option<String>) {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(json) else {
        return (Vec::new(), None);
    };
    let refs = v
        .get("object_marking_refs")
        .and_then(|r| r.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let by = v
        .get("created_by_ref")
        .and_then(|b| b.as_str())
        .map(str::to_string);
    (refs, by)
}
