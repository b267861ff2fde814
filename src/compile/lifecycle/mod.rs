//! The nightly lifecycle of a collection: compare what this compile builds
//! with what the previous generation published, and decide for every object
//! its `modified`, its `date_added` and whether it is new, changed,
//! unchanged, revoked or dropped (docs/decisions.md#d9, #d11 and #d12).
//!
//! The rules, in one place:
//! - an object whose content (everything but `modified`) is unchanged keeps
//!   its `modified` and `date_added`, so its bytes are identical;
//! - a changed object gets `modified` = max(source last_modified, previous
//!   modified + 1 ms) and a new date_added;
//! - new and changed versions get date_added values after everything the
//!   previous generation published, in 1 µs steps, starting no earlier than
//!   the moment the file can become visible (see [`publish`]);
//! - an indicator that left the source (or its collection) is published
//!   once more as `revoked: true` and dropped after the retention
//!   (`removal = "revoke"`), or simply left out (`removal = "drop"`);
//! - an indicator that comes back after its revocation gets a new id (its
//!   epoch is bumped and remembered even after the tombstone is dropped);
//! - a collection with XSOAR's ids (`ids = "xsoar"`, `config/ids.rs`)
//!   never revokes: an indicator that leaves it, or that its source marks
//!   inactive, is simply left out (its id cannot change, and other
//!   collections share it);
//! - passthrough STIX objects keep the date_added their input gives
//!   (medallion `__meta.date_added` / manifest), so a collection can
//!   reproduce another server's exactly; otherwise they follow the rules
//!   above, keyed by (id, version).
//!
//! [`build_collection`] runs one collection's phases in this order, one
//! file each: `previous.rs` reads the previous generation's STATE rows;
//! `indicators.rs` builds the indicators (in parallel) and their SCOs;
//! `passthrough.rs` adds the input's own STIX objects; `removals.rs`
//! revokes, keeps or drops what left; `support.rs` adds the marking
//! definitions and the identity the rest references. [`publish`]
//! (`publish.rs`) then dates every new version and writes the feed.

mod indicators;
mod passthrough;
mod previous;
mod publish;
mod removals;
mod reuse;
mod support;

pub(crate) use publish::{publish, Outcomes};

use super::held::Records;
use super::spill::{Body, Spill};
use super::state::Row;
use super::unchanged::StableUntil;
use super::{CollectionReport, CompileError, Plan};
use crate::config::{CollectionConfig, Config};
use crate::feed::{self, CollectionFeed, SpecVersion};
use crate::record::{Indicator, StixRecord};
use crate::stix;
use crate::time::Micros;
use previous::Previous;
use std::collections::{BTreeMap, BTreeSet};

/// One object version on its way into the feed.
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    /// Its key in the STATE rows and its id, parked in the spill file with
    /// its JSON: read when its row is written, and the id when the sort
    /// meets two objects added at the same time (docs/decisions.md#d72).
    pub key: Body,
    pub id: Body,
    /// A support object (marking definition, identity, SCO; its key starts
    /// with `sup:`): not counted by the shrink guard.
    pub support: bool,
    pub stix_type: feed::TypeName,
    pub spec: SpecVersion,
    /// `None`: the object has no `modified`/`created` (SCOs): its version is
    /// its date_added.
    pub version_us: Option<Micros>,
    /// `Some` when kept from the previous generation or given by the input.
    pub date_added: Option<Micros>,
    pub json21: Body,
    pub json20: Option<Body>,
    pub content_hash: u64,
    pub epoch: u32,
    pub revoked: bool,
    pub tombstone: bool,
    pub revoked_at: Micros,
    /// Order among the new objects of this generation (support objects
    /// first, then records in input order, then revocations).
    pub order: u64,
    /// The fingerprint of the record an indicator was built from, when
    /// its build raised no warning (`reuse.rs`); `None` otherwise.
    pub fingerprint: Option<u64>,
}

/// A collection after the build stage.
pub(crate) struct Built {
    pub objects: Vec<Pending>,
    /// Keys without an object whose epoch must be remembered.
    pub remembered: Vec<Row>,
    /// Indicators and passthrough objects the previous generation served
    /// (tombstones excluded): the shrink guard's baseline.
    pub previous_live: u64,
    /// The same count for this generation.
    pub live: u64,
    /// The latest date_added the previous generation published.
    pub previous_last: Micros,
    /// The previous generation's default-page boundaries, kept so that
    /// unchanged pages keep their bytes (`feed::writer::plan_pages`).
    pub cuts: Vec<feed::Position>,
    /// The config fingerprint the indicators were built under, kept in
    /// the state for the next generation (`reuse.rs`).
    pub config: u64,
    pub report: CollectionReport,
    /// Builder/mapping warnings counted by message.
    pub warnings: BTreeMap<String, u64>,
}

const ORDER_SUPPORT: u64 = 0;
const ORDER_RECORD: u64 = 1 << 40;
const ORDER_TOMBSTONE: u64 = 2 << 40;

/// Objects built between two writes to the spill file.
const PARK_BATCH: usize = 4096;

impl Pending {
    fn bodies(&mut self) -> impl Iterator<Item = &mut Body> {
        [&mut self.key, &mut self.id, &mut self.json21]
            .into_iter()
            .chain(self.json20.as_mut())
    }
}

/// Parks the JSON of the last [`PARK_BATCH`] objects (those already
/// parked are skipped).
fn park_tail(spill: &Spill, objects: &mut [Pending]) -> Result<(), feed::FeedError> {
    let from = objects.len().saturating_sub(PARK_BATCH);
    spill.park(objects[from..].iter_mut().flat_map(Pending::bodies))
}

/// What one collection's build reads. Everything is borrowed from the
/// compile; the build's only product is a [`Built`].
pub(crate) struct CollectionBuild<'a> {
    /// The whole config: identity, TTLs, removal policy and retention are
    /// global.
    pub cfg: &'a Config,
    /// The collection's query, mappings and id scheme, ready to use.
    pub plan: &'a Plan,
    /// Indices into the compile's records ([`Records`]) of those the
    /// collection's query selected, in record order (the order new
    /// objects are dated in).
    pub selected: &'a [u32],
    /// The collection in the previous generation, when it had one: its
    /// STATE rows and stored objects decide what is unchanged or removed.
    pub prev_col: Option<&'a CollectionFeed>,
    /// The previous generation's file, whose pages the build releases
    /// behind its lookups (its STATE rows are read in place).
    pub prev_feed: Option<&'a feed::Feed>,
    /// The compile's "now" (tests pin it): expiry, revocations' `modified`
    /// and the tombstone retention are measured from it.
    pub now: Micros,
    /// Where built objects park their JSON until the writer runs, so a
    /// collection's bodies need not fit in memory.
    pub spill: &'a Spill,
    /// Told of each decision taken from `now`: until when it holds
    /// (docs/decisions.md#d70).
    pub stable_until: &'a StableUntil,
}

impl<'a> CollectionBuild<'a> {
    /// The collection's config entry (the plan says which).
    fn col(&self) -> &'a CollectionConfig {
        &self.cfg.collections[self.plan.index]
    }
}

/// Builds one collection's objects and compares them with the previous
/// generation. Each phase reads what the earlier ones left: removals need
/// every key this generation has, support objects every reference.
pub(crate) fn build_collection(
    b: &CollectionBuild<'_>,
    records: &Records,
) -> Result<Built, CompileError> {
    let previous = Previous::read(b)?;
    let inds = indicator_records(b, records);
    let identity = identity(b.cfg);
    let identity_id = identity.as_ref().map(|(id, _, _)| id.as_str());
    let config = reuse::config_fingerprint(b, identity_id);
    let mut acc = Assembly::new(b.selected.len());

    let indicators = inds.len();
    let scos = indicators::build(b, &previous, config, inds, records, identity_id, &mut acc)?;
    let live_indicators = !acc.objects.is_empty();
    let passthrough = passthrough_keyed(b, records);
    acc.add_passthrough(b.spill, &previous, &passthrough, indicators)?;
    acc.add_scos(scos, &previous);
    let tombstone_identity = acc.add_removals(b, &previous, identity_id);
    // The identity is published while something references it.
    let identity = identity
        .as_ref()
        .filter(|_| live_indicators || tombstone_identity);
    acc.add_support(b, &previous, &passthrough, identity);
    Ok(acc.finish(&previous, b.prev_col, config))
}

/// The indices in [`Records`] of the selected indicator records. Their
/// keys are made as each is built ([`indicator_key`]): made up front, a
/// million keys would be held at once.
fn indicator_records(b: &CollectionBuild<'_>, records: &Records) -> Vec<u32> {
    b.selected
        .iter()
        .copied()
        .filter(|&ri| records.is_indicator(ri))
        .collect()
}

/// An indicator's key in the STATE rows: `ind:<type>:<value>`.
fn indicator_key(ind: &Indicator) -> String {
    format!("ind:{}:{}", ind.kind.as_str(), ind.value)
}

/// The selected passthrough STIX objects, each with its key in the STATE
/// rows (`obj:<id>:<modified>`).
fn passthrough_keyed<'r>(
    b: &CollectionBuild<'_>,
    records: &'r Records,
) -> Vec<(String, &'r StixRecord)> {
    b.selected
        .iter()
        .filter_map(|&ri| records.stix(ri))
        .map(|s| {
            (
                format!("obj:{}:{}", s.id, s.modified.unwrap_or(i64::MIN)),
                s,
            )
        })
        .collect()
}

/// The STIX type an id names (`indicator--…` → `indicator`).
fn type_of_id(id: &str) -> feed::TypeName {
    feed::type_name(id.split("--").next().unwrap_or_default())
}

/// The configured identity object (id, 2.1 JSON, 2.0 JSON), if any.
fn identity(cfg: &Config) -> Option<(String, String, String)> {
    cfg.compile.identity.as_ref().map(|i| {
        stix::identity_object(
            &i.name,
            i.id.as_deref(),
            &i.identity_class,
            IDENTITY_CREATED,
        )
    })
}

/// A collection's build in progress: what its phases add to, in order
/// (indicators, passthrough objects, removals, support objects).
struct Assembly {
    /// This generation's objects so far.
    objects: Vec<Pending>,
    /// Keys without an object whose epoch must be remembered.
    remembered: Vec<Row>,
    /// The marking definitions referenced (by live objects and tombstones
    /// alike): the support phase adds them.
    markings: BTreeSet<String>,
    report: CollectionReport,
    /// Builder/mapping warnings counted by message.
    warnings: BTreeMap<String, u64>,
}

impl Assembly {
    /// An empty build of a collection that selected `selected` records
    /// (each one a key).
    fn new(selected: usize) -> Self {
        Assembly {
            objects: Vec::with_capacity(selected),
            remembered: Vec::new(),
            markings: BTreeSet::new(),
            report: CollectionReport {
                selected: selected as u64,
                ..CollectionReport::default()
            },
            warnings: BTreeMap::new(),
        }
    }

    /// The build's product, with the live counts the shrink guard compares.
    fn finish(self, previous: &Previous, prev_col: Option<&CollectionFeed>, config: u64) -> Built {
        let live = self
            .objects
            .iter()
            .filter(|o| !o.tombstone && !o.support)
            .count() as u64;
        Built {
            objects: self.objects,
            remembered: self.remembered,
            previous_live: previous.live,
            live,
            previous_last: previous.last,
            cuts: prev_col.map(CollectionFeed::cuts).unwrap_or_default(),
            config,
            report: self.report,
            warnings: self.warnings,
        }
    }
}

/// `created` of the configured identity object: fixed, so the identity's
/// bytes (and its date_added) never change from run to run.
const IDENTITY_CREATED: Micros = 1_704_067_200_000_000; // 2024-01-01T00:00:00Z

/// `created` of a record that carries no date at all: fixed for the same
/// reason (a compile-time "now" would make such indicators change version
/// on every run). Documented in the README.
const UNDATED: Micros = IDENTITY_CREATED;

#[cfg(test)]
mod tests {
    use super::*;

    /// One is held per built object from the build to the write: at ten
    /// million objects every 8 bytes here are 80 MB of the peak
    /// (docs/decisions.md#d72).
    #[test]
    fn a_pending_object_stays_within_its_size() {
        assert!(std::mem::size_of::<Pending>() <= 160);
    }
}
