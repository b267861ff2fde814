//! Building a collection's indicators: their ids (our own, or XSOAR's),
//! their STIX objects, and how each compares with the previous generation.
//! One whose record and config are unchanged keeps its previous bytes
//! without being built (`reuse.rs`).

use super::previous::Previous;
use super::reuse;
use super::{Assembly, CollectionBuild, Pending, Records, ORDER_RECORD, PARK_BATCH, UNDATED};
use crate::compile::spill::Body;
use crate::compile::state::Row;
use crate::compile::CompileError;
use crate::feed::SpecVersion;
use crate::input::Scratch;
use crate::record::{Indicator, Profile};
use crate::stix::{self, BuildSettings, Draft, Sco};
use crate::time::{Micros, MILLI};
use rayon::prelude::*;
use std::collections::{BTreeMap, HashSet};
use xxhash_rust::xxh3::xxh3_64;

/// Mixes the revoked flag into a content hash, so that a revocation is a
/// change.
fn with_revoked(h: u64, revoked: bool) -> u64 {
    if revoked {
        h ^ 0x9e37_79b9_7f4a_7c15
    } else {
        h
    }
}

/// What building one indicator gave.
// Nearly every outcome is an `Object`: boxing it would cost an allocation
// per indicator to shrink the rare others.
#[allow(clippy::large_enum_variant)]
pub(super) enum Outcome {
    Object {
        pending: Pending,
        markings: Vec<&'static str>,
        /// Each with its id, by which the collection keeps one.
        scos: Vec<(String, Pending)>,
        warnings: Vec<String>,
        changed: bool,
        added: bool,
        /// Kept from the previous generation without building it.
        reused: bool,
    },
    Expired(Option<Row>),
    /// Not published: revoked in a collection with XSOAR's ids, or its id
    /// is taken by another object (the key's row, kept absent).
    LeftOut(Option<Row>),
}

impl Outcome {
    fn bodies(&mut self) -> impl Iterator<Item = &mut Body> {
        let (main, scos) = match self {
            Outcome::Object { pending, scos, .. } => (Some(pending), &mut scos[..]),
            Outcome::Expired(_) | Outcome::LeftOut(_) => (None, &mut [][..]),
        };
        main.into_iter()
            .chain(scos.iter_mut().map(|(_, s)| s))
            .flat_map(Pending::bodies)
    }
}

/// Batches built in parallel before their outcomes are added to the
/// assembly: enough to keep every core busy, few enough that only a
/// bounded number of outcomes is ever held (not one per indicator). Each
/// outcome holds its JSON until its batch is parked: 16 batches held
/// about 40 MB more at the build's peak than 8, for no measurable speed.
const GROUP_BATCHES: usize = 8;

/// Groups built between two heap trims.
const TRIM_GROUPS: usize = 4;

/// Builds the collection's indicators (`inds`: indices in `records`) in
/// parallel batches; each batch parses its records again from their files
/// ([`Records::indicator`]) and drops each once it is built, and parks
/// its JSON in the spill file, so only (offset, length) stays in memory
/// per object. Each key is made as its record is built and moves into its
/// object. Each group of batches is added to `acc` (in `inds` order)
/// before the next is built. Returns the indicators' SCOs, one per id, for
/// [`Assembly::add_scos`].
#[allow(clippy::too_many_arguments)]
pub(super) fn build(
    b: &CollectionBuild<'_>,
    previous: &Previous,
    config: u64,
    inds: Vec<u32>,
    records: &Records,
    identity_ref: Option<&str>,
    acc: &mut Assembly,
) -> Result<BTreeMap<String, Pending>, CompileError> {
    let (cfg, plan, col) = (b.cfg, b.plan, b.col());
    let group = PARK_BATCH * GROUP_BATCHES;
    // XSOAR's ids are chosen before the parallel build: one record's
    // stixid may be another's id, or a passthrough object's.
    let xsoar = match plan.xsoar_ids {
        Some(ns) => {
            let taken = b
                .selected
                .iter()
                .filter_map(|&ri| records.stix(ri).map(|s| s.id.clone()))
                .collect();
            let mut ids = XsoarIds::new(ns, taken);
            let mut out = Vec::with_capacity(inds.len());
            for group_inds in inds.chunks(group) {
                for ind in records.indicators(group_inds)? {
                    out.push(ids.next(&ind, &mut acc.warnings));
                }
            }
            Some(out)
        }
        None => None,
    };
    let settings = BuildSettings {
        collection_id: plan.id,
        ttl_collection: &col.ttl,
        ttl_global: &cfg.ttl,
        identity_ref,
        tlp2: cfg.server.tlp2_markings,
        emit_scos: col.emit_scos,
        valid_from: None,
        undated: UNDATED,
    };
    // Bytes built under another config (or a state from before
    // fingerprints) are never reused.
    let reusable = previous.config == Some(config);
    let mut scos = BTreeMap::new();
    for (g, group_inds) in inds.chunks(group).enumerate() {
        let batches: Vec<Vec<Outcome>> = group_inds
            .par_chunks(PARK_BATCH)
            .enumerate()
            .map(|(batch, chunk)| {
                let mut scratch = Scratch::default();
                let mut out: Vec<Outcome> = chunk
                    .iter()
                    .enumerate()
                    .map(|(k, &ri)| {
                        let ind = &records.indicator(&mut scratch, ri)?;
                        let mut key = super::indicator_key(ind);
                        let pos = g * group + batch * PARK_BATCH + k;
                        let xsoar_id = xsoar.as_ref().map(|ids| ids[pos].as_deref());
                        let prev = previous.claim(&key);
                        let fingerprint = reuse::record_fingerprint(ind);
                        let kept = prev.as_ref().filter(|_| reusable).and_then(|r| {
                            reuse::reuse(b, &settings, &mut key, ind, fingerprint, pos, xsoar_id, r)
                        });
                        Ok(kept.unwrap_or_else(|| {
                            let ind = (key, ind, fingerprint);
                            build_indicator(b, &settings, ind, pos, xsoar_id, prev.as_ref())
                        }))
                    })
                    .collect::<Result<_, CompileError>>()?;
                b.spill.park(out.iter_mut().flat_map(Outcome::bodies))?;
                Ok(out)
            })
            .collect::<Result<_, CompileError>>()?;
        records.release(group_inds);
        acc.add_indicators(batches.into_iter().flatten(), &mut scos);
        if g % TRIM_GROUPS == TRIM_GROUPS - 1 {
            // Freed records stay resident in glibc's arenas until trimmed
            // (docs/decisions.md#d64); a trim walks the heap, so not after
            // every group. The previous generation's pages the lookups
            // made resident go too.
            crate::files::trim_heap();
            if let Some(f) = b.prev_feed {
                f.release_all();
            }
        }
    }
    Ok(scos)
}

impl Assembly {
    /// Adds built indicators (`outcomes`, in build order) and counts
    /// them; their SCOs go to `scos_by_id`, one per id.
    fn add_indicators(
        &mut self,
        outcomes: impl Iterator<Item = Outcome>,
        scos_by_id: &mut BTreeMap<String, Pending>,
    ) {
        for o in outcomes {
            match o {
                Outcome::Object {
                    pending,
                    markings,
                    scos,
                    warnings,
                    changed,
                    added,
                    reused,
                } => {
                    for m in markings {
                        // Nearly always known already: no String for those.
                        if !self.markings.contains(m) {
                            self.markings.insert(m.to_string());
                        }
                    }
                    for msg in warnings {
                        *self.warnings.entry(msg).or_default() += 1;
                    }
                    for (id, s) in scos {
                        scos_by_id.entry(id).or_insert(s);
                    }
                    if added {
                        self.report.added += 1;
                    } else if changed {
                        self.report.changed += 1;
                    } else {
                        self.report.unchanged += 1;
                    }
                    self.report.reused += u64::from(reused);
                    self.objects.push(pending);
                }
                Outcome::Expired(row) => {
                    self.report.expired += 1;
                    self.remembered.extend(row);
                }
                Outcome::LeftOut(row) => {
                    self.report.dropped += 1;
                    self.remembered.extend(row);
                }
            }
        }
    }

    /// Adds the indicators' SCOs: one unchanged since the previous
    /// generation keeps its date_added and version.
    pub(super) fn add_scos(&mut self, scos_by_id: BTreeMap<String, Pending>, previous: &Previous) {
        for (id, mut s) in scos_by_id {
            if let Some(r) = previous
                .row(&format!("sup:{id}"))
                .filter(|r| r.present && r.content_hash == s.content_hash)
            {
                s.date_added = Some(r.date_added);
                s.version_us = Some(r.modified);
            }
            self.objects.push(s);
        }
    }
}

/// The ids of a collection with XSOAR's ids, given to its indicators one
/// at a time in build order ([`XsoarIds::next`]).
struct XsoarIds {
    namespace: uuid::Uuid,
    /// Every id given so far, starting with the ids of the collection's
    /// passthrough objects.
    taken: HashSet<String>,
}

impl XsoarIds {
    fn new(namespace: uuid::Uuid, taken: HashSet<String>) -> Self {
        XsoarIds { namespace, taken }
    }

    /// The id of `ind`: the record's `CustomFields.stixid` when it is an
    /// indicator id that no earlier object of the collection has, else
    /// XSOAR's id of the record's own `value` (of the canonical value for
    /// records of other profiles); `None` when that id is taken too, and
    /// the record is left out (one id, one object). Problems are counted
    /// in `warnings`.
    fn next(&mut self, ind: &Indicator, warnings: &mut BTreeMap<String, u64>) -> Option<String> {
        /// The two members XSOAR's ids are made of (the source keeps them,
        /// `compile::read::source_reads`).
        #[derive(serde::Deserialize)]
        struct IdFields {
            value: Option<serde_json::Value>,
            #[serde(rename = "CustomFields")]
            custom: Option<serde_json::Value>,
        }
        let mut warn = |m: &str| *warnings.entry(m.to_string()).or_default() += 1;
        let fields = (ind.profile == Profile::Xsoar)
            .then(|| serde_json::from_str::<IdFields>(ind.source.as_str()).ok())
            .flatten();
        let (value, stixid) = match &fields {
            Some(f) => (
                f.value.as_ref().and_then(|v| v.as_str()),
                f.custom
                    .as_ref()
                    .and_then(|c| c.get("stixid"))
                    .and_then(|s| s.as_str())
                    .filter(|s| !s.trim().is_empty()),
            ),
            None => (None, None),
        };
        if let Some(given) = stixid {
            match stix::id::indicator_stixid(given) {
                Some(id) if self.taken.insert(id.clone()) => return Some(id),
                Some(_) => warn(
                    "CustomFields.stixid is already the id of another object of the collection; XSOAR's id of the value is used",
                ),
                None => warn(
                    "CustomFields.stixid is not an indicator id (XSOAR's own server would publish it as is, which is invalid STIX); XSOAR's id of the value is used",
                ),
            }
        }
        let id = stix::id::xsoar_indicator_id(&self.namespace, value.unwrap_or(&ind.value));
        if self.taken.insert(id.clone()) {
            Some(id)
        } else {
            warn("XSOAR's id of the value is already the id of another object of the collection; the record is left out");
            None
        }
    }
}

/// Builds one indicator's object, the `pos`th of the collection, from
/// its (key, record, record fingerprint); the key had `prev` in the
/// previous generation. `xsoar_id` is `None` in a
/// collection with our own ids, else the id [`xsoar_ids`] chose
/// (`Some(None)`: none).
fn build_indicator(
    b: &CollectionBuild<'_>,
    settings: &BuildSettings,
    (key, ind, fingerprint): (String, &Indicator, u64),
    pos: usize,
    xsoar_id: Option<Option<&str>>,
    prev: Option<&Row>,
) -> Outcome {
    let (plan, col, now) = (b.plan, b.col(), b.now);
    let absent = || {
        prev.map(|r| Row {
            present: false,
            tombstone: false,
            ..r.clone()
        })
    };
    let revoked = stix::is_revoked(ind);
    // docs/decisions.md#d12: a key that was revoked and is not any more gets a new id.
    let epoch = match prev {
        Some(r) if r.revoked && !revoked => r.epoch + 1,
        Some(r) => r.epoch,
        None => 0,
    };
    let draft = match xsoar_id {
        None => stix::build_indicator(ind, epoch, settings, &plan.mappings),
        Some(Some(id)) => stix::build_indicator_as(ind, id.to_string(), settings, &plan.mappings),
        Some(None) => return Outcome::LeftOut(absent()),
    };
    if col.drop_expired {
        if let Some(v) = draft.valid_until {
            if v <= now {
                // An expired indicator is left out without a revocation:
                // its valid_until already tells clients it no longer
                // applies.
                return Outcome::Expired(absent());
            }
            b.stable_until.holds_before(v);
        }
    }
    if revoked && xsoar_id.is_some() {
        // XSOAR's ids cannot be revoked (config/ids.rs).
        return Outcome::LeftOut(absent());
    }
    let canon = stix::serialize::Canonical21::new(&draft);
    let extra20 = if plan.offers_20 {
        stix::serialize::hash20_extra(&draft)
    } else {
        0
    };
    let hash = with_revoked(canon.hash() ^ extra20, revoked);
    // The id this key published before (live, or remembered after it left).
    let same_id = prev.filter(|r| r.id == draft.id);
    let unchanged = same_id.is_some_and(|r| r.present && !r.tombstone && r.content_hash == hash);
    let (modified, date_added) = version(ind, &draft, same_id, unchanged, hash);
    let json21 = canon.finish(modified, revoked);
    let json20 = plan
        .offers_20
        .then(|| stix::serialize20(&draft, modified, revoked));
    let scos = sco_objects(&draft.scos, pos);
    Outcome::Object {
        pending: Pending {
            key: key.into(),
            support: false,
            id: draft.id.as_str().into(),
            stix_type: crate::feed::type_name("indicator"),
            spec: SpecVersion::V21,
            version_us: Some(modified),
            date_added,
            json21: json21.into(),
            json20: json20.map(Into::into),
            content_hash: hash,
            epoch,
            revoked,
            tombstone: false,
            revoked_at: 0,
            order: ORDER_RECORD + pos as u64,
            // A build that warned is not reused: its warnings are
            // reported on every compile.
            fingerprint: draft.warnings.is_empty().then_some(fingerprint),
        },
        markings: draft.markings.clone(),
        scos,
        warnings: draft.warnings.clone(),
        added: same_id.is_none_or(|r| !r.present),
        changed: !unchanged,
        reused: false,
    }
}

/// The `modified` and date_added of an indicator whose key published
/// `same_id` under the draft's id before (`None`: a new id). Unchanged, it
/// keeps both; otherwise it is dated at publish (`None`).
fn version(
    ind: &Indicator,
    draft: &Draft,
    same_id: Option<&Row>,
    unchanged: bool,
    hash: u64,
) -> (Micros, Option<Micros>) {
    let base = ind
        .last_modified
        .unwrap_or(draft.created)
        .max(draft.created);
    match same_id {
        Some(r) if unchanged => (r.modified, Some(r.date_added)),
        // Back with exactly the content published before: the same version,
        // newly added.
        Some(r) if r.content_hash == hash => (r.modified, None),
        // Different content under a known id: a later `modified` than any
        // published (docs/decisions.md#d11).
        Some(r) => (base.max(r.modified + MILLI), None),
        None => (base, None),
    }
}

/// The SCOs an indicator carries (`emit_scos`), ordered with it.
pub(super) fn sco_objects(scos: &[Sco], pos: usize) -> Vec<(String, Pending)> {
    scos.iter()
        .map(|s| {
            (
                s.id.clone(),
                Pending {
                    key: format!("sup:{}", s.id).into(),
                    support: true,
                    id: s.id.as_str().into(),
                    stix_type: crate::feed::type_name(s.stix_type),
                    spec: SpecVersion::V21,
                    version_us: None,
                    date_added: None,
                    content_hash: xxh3_64(s.json.as_bytes()),
                    json21: s.json.clone().into(),
                    json20: None,
                    epoch: 0,
                    revoked: false,
                    tombstone: false,
                    revoked_at: 0,
                    order: ORDER_RECORD + pos as u64,
                    fingerprint: None,
                },
            )
        })
        .collect()
}
