//! What the previous generation of a collection published: its STATE rows
//! by key, and the figures the new generation is measured against.

use super::CollectionBuild;
use crate::compile::state::{Row, RowRef, StateTable};
use crate::compile::CompileError;
use crate::feed::{self, CollectionFeed};
use crate::time::Micros;
use std::sync::atomic::{AtomicU64, Ordering};

/// The previous generation of one collection, as the build compares with
/// it (all empty for a new collection).
pub(super) struct Previous {
    /// Every key it published or remembered, looked up in the previous
    /// feed's mapping ([`StateTable`]), not loaded beside the new rows.
    rows: StateTable,
    /// One bit per row of `rows`: set when this generation has the row's
    /// key ([`Previous::claim`]); the rows left unset are the removals.
    /// (A set of this generation's keys cost a hash and a string compare
    /// per previous row, and a random read of each row in the mapping.)
    claimed: Vec<AtomicU64>,
    /// The config fingerprint its indicators were built under (`None`:
    /// a new collection, or a state from before fingerprints).
    pub config: Option<u64>,
    /// The latest date_added it published: new versions are dated after it.
    pub last: Micros,
    /// Indicators and passthrough objects it served (tombstones excluded):
    /// the shrink guard's baseline.
    pub live: u64,
}

impl Previous {
    /// Reads the collection's STATE rows from the previous feed.
    pub fn read(b: &CollectionBuild<'_>) -> Result<Self, CompileError> {
        let (mut last, mut live) = (i64::MIN, 0u64);
        let count = |r: &RowRef<'_>| {
            if r.present() {
                last = last.max(r.date_added);
                live += u64::from(!r.tombstone() && !r.key.starts_with("sup:"));
            }
        };
        let rows = match b.prev_col {
            Some(c) => {
                StateTable::open_with(c.state(), count).map_err(|e| CompileError::Previous {
                    path: b.cfg.resolve(&b.cfg.compile.out),
                    message: format!("collection {}: {e}", b.plan.id),
                })?
            }
            None => StateTable::default(),
        };
        if let Some(c) = b.prev_col {
            if !c.is_empty() {
                last = last.max(c.entry(c.len() - 1).date_added_us);
            }
        }
        // Indexing read every row: the lookups fault in only what they use.
        if let Some(f) = b.prev_feed {
            f.release_all();
        }
        Ok(Previous {
            config: rows.config(),
            claimed: (0..rows.len().div_ceil(64))
                .map(|_| AtomicU64::new(0))
                .collect(),
            rows,
            last,
            live,
        })
    }

    /// The row of `key`, if the previous generation has one.
    pub fn row(&self, key: &str) -> Option<Row> {
        self.rows.get(key)
    }

    /// The row of `key`, a key this generation has (so its row is not a
    /// removal), if the previous generation has one. Safe from parallel
    /// builders.
    pub fn claim(&self, key: &str) -> Option<Row> {
        let (slot, row) = self.rows.find(key)?;
        self.claimed[slot / 64].fetch_or(1 << (slot % 64), Ordering::Relaxed);
        Some(row.to_row())
    }

    /// One row per key no [`Previous::claim`] asked for, in no particular
    /// order. (Called after the parallel builds, which `rayon` joins: every
    /// claim is visible.)
    pub fn unclaimed(&self) -> impl Iterator<Item = RowRef<'_>> {
        (0..self.rows.len())
            .filter(|&s| self.claimed[s / 64].load(Ordering::Relaxed) & (1 << (s % 64)) == 0)
            .map(|s| self.rows.slot(s))
    }
}

/// The entry of `id`'s version published with `date_added` and
/// `version_us` in a previous generation, if it is there. Reads the
/// entries only (the id by its hash: a collision would need the same
/// date_added and version too), so that a compile looking up a million
/// objects does not make the manifest resident.
pub(super) fn stored_version(
    c: &CollectionFeed,
    id: &str,
    date_added: Micros,
    version_us: Micros,
) -> Option<usize> {
    let h = feed::id_hash(id.as_bytes());
    (c.first_at_or_after(date_added)..c.len())
        .take_while(|&i| c.date_added(i) == date_added)
        .find(|&i| {
            let e = c.entry(i);
            e.version_us == version_us && e.id_hash == h
        })
}

/// The stored JSON (2.1 and, when present, 2.0) of the latest version of
/// `id` in a previous generation.
pub(super) fn stored_json(c: &CollectionFeed, id: &str) -> Option<(String, Option<String>)> {
    let i = *c.versions_of(id).last()?;
    let j21 = String::from_utf8(c.objects_run(i, i + 1).to_vec()).ok()?;
    let j20 = c
        .object20_bytes(i)
        .and_then(|b| String::from_utf8(b.to_vec()).ok());
    Some((j21, j20))
}
