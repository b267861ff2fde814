//! The select stage: duplicates merged over all records, then one parallel
//! pass that gives every collection the records it selects. An indicator
//! record was tested against the collections planned before the read as it
//! was parsed (its stub's selection, `super::held`); owner collections,
//! planned after the read, select by owner; passthrough STIX objects are
//! tested here, after the copies merged into them gave them their
//! collections and files.

use super::held::{key_hash, Held, Stub, NO_OWNER};
use super::read::FileNames;
use super::Plan;
use crate::filter::EvalContext;
use crate::record::Record;
use rayon::prelude::*;
use std::sync::Arc;

/// For each collection, the indices of the records it selects, in record
/// order. `read_plans` is how many of `plans` the read evaluated (those
/// after it are owner collections); `owners` names the stubs' owners and
/// `files` the input files for the `file` field.
pub(super) fn select(
    records: &[Held],
    plans: &[Plan],
    read_plans: usize,
    owners: &[Arc<str>],
    files: &FileNames,
) -> Vec<Vec<u32>> {
    let hits: Vec<Vec<u32>> = records
        .par_iter()
        .enumerate()
        .fold(
            || {
                (
                    EvalContext::with_files(files.clone()),
                    vec![Vec::new(); plans.len()],
                )
            },
            |(mut ctx, mut acc), (i, held)| {
                ctx.reset();
                for (p, plan) in plans.iter().enumerate() {
                    let hit = match held {
                        Held::Stub(stub) if p < read_plans => stub.selected.has(p),
                        Held::Stub(stub) => stub_owner_ok(plan, stub, owners),
                        Held::Whole(rec) => selects(plan, rec, &mut ctx),
                    };
                    if hit {
                        acc[p].push(i as u32);
                    }
                }
                (ctx, acc)
            },
        )
        .map(|(_, acc)| acc)
        .reduce(
            || vec![Vec::new(); plans.len()],
            |mut a, b| {
                for (x, y) in a.iter_mut().zip(b) {
                    x.extend(y);
                }
                a
            },
        );
    // rayon's fold/reduce keeps chunks in order, but make it explicit.
    hits.into_iter()
        .map(|mut v| {
            v.sort_unstable();
            v
        })
        .collect()
}

/// One record per indicator (type, value) and per STIX (id, version): the
/// most recently modified indicator record wins (ties: the later one in
/// input order); the first copy of a STIX object version wins, and takes
/// over the medallion collections and input files of the copies merged
/// into it (an object in two medallion collections or two bundles is
/// selected by the `collection` / `file` of either). Returns the winners in
/// input order and how many records were merged away.
pub(super) fn dedupe(mut records: Vec<Held>) -> (Vec<Held>, u64) {
    // Records sorted by a hash of their natural key (16 bytes each, where
    // a map of formatted keys took about 100): each run of one hash is
    // then merged in input order, as if the records were read one by one.
    let mut order: Vec<(u64, u32)> = records
        .iter()
        .enumerate()
        .map(|(i, r)| (natural_key_hash(r), i as u32))
        .collect();
    order.sort_unstable();
    let mut keep = vec![true; records.len()];
    // (winner, merged copy) of STIX object versions.
    let mut stix_merges: Vec<(usize, usize)> = Vec::new();
    // The current winner of each distinct key of a run (a hash shared by
    // two keys makes a run of two keys).
    let mut winners: Vec<usize> = Vec::new();
    for run in order
        .chunk_by(|a, b| a.0 == b.0)
        .filter(|run| run.len() > 1)
    {
        winners.clear();
        for &(_, i) in run {
            let (i, rec) = (i as usize, &records[i as usize]);
            let Some(w) = winners
                .iter_mut()
                .find(|w| same_natural_key(&records[**w], rec))
            else {
                winners.push(i);
                continue;
            };
            let prev = *w;
            let later = match (&records[prev], rec) {
                (Held::Stub(a), Held::Stub(b)) => b.last_modified >= a.last_modified,
                _ => false,
            };
            if later {
                keep[prev] = false;
                *w = i;
            } else {
                keep[i] = false;
                if matches!(rec, Held::Whole(_)) {
                    stix_merges.push((prev, i));
                }
            }
        }
    }
    drop(order);
    // Merged in input order of the copies, as they were read.
    stix_merges.sort_unstable_by_key(|&(_, m)| m);
    for (w, m) in stix_merges {
        let (collections, files) = match &records[m] {
            Held::Whole(r) => match &**r {
                Record::Stix(s) => (s.collections.clone(), s.files.clone()),
                Record::Indicator(_) => continue,
            },
            Held::Stub(_) => continue,
        };
        if let Held::Whole(r) = &mut records[w] {
            if let Record::Stix(s) = &mut **r {
                for c in collections {
                    if !s.collections.contains(&c) {
                        s.collections.push(c);
                    }
                }
                for f in files {
                    if !s.files.contains(&f) {
                        s.files.push(f);
                    }
                }
            }
        }
    }
    let merged = keep.iter().filter(|k| !**k).count() as u64;
    // In place: collecting the winners into a new vector would hold two
    // arrays of every record at once.
    let mut keep = keep.into_iter();
    records.retain(|_| keep.next().unwrap_or(true));
    (records, merged)
}

/// A hash of a record's natural key: (type, value) for an indicator (its
/// stub's), (id, version) for a STIX object.
fn natural_key_hash(rec: &Held) -> u64 {
    match rec {
        Held::Stub(s) => s.key as u64,
        Held::Whole(r) => match &**r {
            Record::Indicator(ind) => key_hash(ind) as u64,
            Record::Stix(s) => {
                let mut h = xxhash_rust::xxh3::Xxh3::new();
                h.update(b"obj\0");
                h.update(s.id.as_bytes());
                h.update(&[u8::from(s.modified.is_some())]);
                h.update(&s.modified.unwrap_or(0).to_le_bytes());
                h.digest()
            }
        },
    }
}

/// Whether two records have the same natural key (for stubs: the same
/// 128-bit key hash).
fn same_natural_key(a: &Held, b: &Held) -> bool {
    match (a, b) {
        (Held::Stub(a), Held::Stub(b)) => a.key == b.key,
        (Held::Whole(a), Held::Whole(b)) => match (&**a, &**b) {
            (Record::Indicator(a), Record::Indicator(b)) => a.kind == b.kind && a.value == b.value,
            (Record::Stix(a), Record::Stix(b)) => a.id == b.id && a.modified == b.modified,
            _ => false,
        },
        _ => false,
    }
}

/// Whether `plan`'s collection selects `rec`: its owner restriction, then
/// its query (`ctx` reset for `rec`).
pub(super) fn selects(plan: &Plan, rec: &Record, ctx: &mut EvalContext) -> bool {
    owner_ok(plan, rec) && (plan.query.matches_all() || plan.query.matches(rec, ctx))
}

/// Whether `rec` passes `plan`'s owner restriction (a STIX object has no
/// owner).
fn owner_ok(plan: &Plan, rec: &Record) -> bool {
    if plan.owners.is_empty() {
        return true;
    }
    match rec {
        Record::Indicator(i) => i
            .owner
            .as_deref()
            .is_some_and(|o| plan.owners.iter().any(|x| x == o)),
        Record::Stix(_) => false,
    }
}

/// [`owner_ok`] for a stub, whose owner is an index into `owners`.
fn stub_owner_ok(plan: &Plan, stub: &Stub, owners: &[Arc<str>]) -> bool {
    if plan.owners.is_empty() {
        return plan.query.matches_all();
    }
    stub.owner != NO_OWNER
        && owners
            .get(stub.owner as usize)
            .is_some_and(|o| plan.owners.iter().any(|x| **x == **o))
        && plan.query.matches_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::held::CompileShelf;
    use crate::input::Shelf;
    use crate::record::IndicatorType;

    /// `records` as the read holds them when no collection is planned.
    fn held(records: Vec<Record>) -> Vec<Held> {
        let shelf = CompileShelf::new(&[], Arc::from(Vec::new()));
        let mut scratch = shelf.scratch();
        records
            .into_iter()
            .map(|r| shelf.shelve(&mut scratch, r, 0..0))
            .collect()
    }

    fn stix_copy(modified: i64, collection: &str, file: u32, position: u64) -> Record {
        use crate::record::{Origin, Source, StixRecord};
        let json: std::sync::Arc<str> = r#"{"type":"malware"}"#.into();
        Record::Stix(Box::new(StixRecord {
            id: "malware--31b940d4-6f7f-459a-80ea-9c1f17b5891b".into(),
            stix_type: "malware".into(),
            spec_version: "2.1".into(),
            created: Some(modified),
            modified: Some(modified),
            date_added: None,
            json: json.clone(),
            origin: Origin {
                file,
                position,
                is_line: false,
            },
            source: Source(json),
            problems: Vec::new(),
            collections: vec![collection.into()],
            files: vec![file],
        }))
    }

    #[test]
    fn merged_stix_copies_keep_every_collection_and_file() {
        let records = vec![
            stix_copy(1, "a", 0, 0),
            stix_copy(1, "b", 0, 1),
            stix_copy(2, "c", 0, 2),
            stix_copy(1, "a", 1, 0),
        ];
        let (kept, merged) = dedupe(held(records));
        assert_eq!(merged, 2);
        let got: Vec<(Vec<String>, Vec<u32>, u64)> = kept
            .iter()
            .map(|r| match r {
                Held::Whole(r) => match &**r {
                    Record::Stix(s) => (
                        s.collections.iter().map(|c| c.to_string()).collect(),
                        s.files.clone(),
                        s.origin.position,
                    ),
                    Record::Indicator(_) => unreachable!(),
                },
                Held::Stub(_) => unreachable!(),
            })
            .collect();
        // The first copy of version 1 wins and is in a, b (files 0 and 1);
        // version 2 is its own record.
        assert_eq!(
            got,
            vec![
                (vec!["a".into(), "b".into()], vec![0, 1], 0),
                (vec!["c".into()], vec![0], 2),
            ]
        );
    }

    fn indicator(kind: IndicatorType, value: &str, last_modified: i64, position: u64) -> Record {
        let mut ind = crate::stix::pattern::tests::ind(kind, value);
        ind.last_modified = Some(last_modified);
        ind.origin.position = position;
        Record::Indicator(ind)
    }

    #[test]
    fn the_latest_indicator_record_of_a_key_wins_and_ties_go_to_the_later() {
        use IndicatorType::{Domain, Url};
        let records = vec![
            indicator(Domain, "a.example", 5, 1),
            indicator(Url, "a.example", 1, 2),
            indicator(Domain, "a.example", 9, 3),
            indicator(Domain, "b.example", 4, 4),
            indicator(Domain, "a.example", 7, 5),
            indicator(Domain, "b.example", 4, 6),
            indicator(Domain, "c.example", 1, 7),
        ];
        let (kept, merged) = dedupe(held(records));
        assert_eq!(merged, 3);
        let got: Vec<u64> = kept
            .iter()
            .map(|r| match r {
                Held::Stub(s) => s.origin.position,
                Held::Whole(_) => unreachable!(),
            })
            .collect();
        // Input order: the url of the same value is another key; a.example
        // at 9 beats 5 and the later 7; b.example's tie goes to the later.
        assert_eq!(got, vec![2, 3, 6, 7]);
    }
}
