//! The select stage: duplicates merged over all records, then one parallel
//! pass that evaluates every collection's query on every record.

use super::read::FileNames;
use super::Plan;
use crate::filter::EvalContext;
use crate::record::Record;
use rayon::prelude::*;

/// One pass over all records evaluating every collection's query: for each
/// collection, the indices of the records it selects, in record order.
/// `files` names the input files for the `file` field.
pub(super) fn select(records: &[Record], plans: &[Plan], files: &FileNames) -> Vec<Vec<u32>> {
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
            |(mut ctx, mut acc), (i, rec)| {
                ctx.reset();
                for (p, plan) in plans.iter().enumerate() {
                    if owner_ok(plan, rec)
                        && (plan.query.matches_all() || plan.query.matches(rec, &mut ctx))
                    {
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
pub(super) fn dedupe(mut records: Vec<Record>) -> (Vec<Record>, u64) {
    use std::collections::hash_map::Entry;
    use std::collections::HashMap;
    let mut winner: HashMap<String, usize> = HashMap::with_capacity(records.len());
    let mut keep = vec![true; records.len()];
    // (winner, merged copy) of STIX object versions.
    let mut stix_merges: Vec<(usize, usize)> = Vec::new();
    for (i, rec) in records.iter().enumerate() {
        let key = match rec {
            Record::Indicator(ind) => format!("ind:{}:{}", ind.kind.as_str(), ind.value),
            Record::Stix(s) => format!("obj:{}:{:?}", s.id, s.modified),
        };
        match winner.entry(key) {
            Entry::Vacant(v) => {
                v.insert(i);
            }
            Entry::Occupied(mut o) => {
                let prev = *o.get();
                let later = match (&records[prev], rec) {
                    (Record::Indicator(a), Record::Indicator(b)) => {
                        b.last_modified >= a.last_modified
                    }
                    _ => false,
                };
                if later {
                    keep[prev] = false;
                    o.insert(i);
                } else {
                    keep[i] = false;
                    if matches!(rec, Record::Stix(_)) {
                        stix_merges.push((prev, i));
                    }
                }
            }
        }
    }
    for (w, m) in stix_merges {
        let (collections, files) = match &records[m] {
            Record::Stix(s) => (s.collections.clone(), s.files.clone()),
            Record::Indicator(_) => continue,
        };
        if let Record::Stix(s) = &mut records[w] {
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
    let merged = keep.iter().filter(|k| !**k).count() as u64;
    let winners = records
        .into_iter()
        .zip(keep)
        .filter_map(|(r, k)| k.then_some(r))
        .collect();
    (winners, merged)
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn stix_copy(modified: i64, collection: &str, file: u32, position: u64) -> Record {
        use crate::record::{Origin, Source, StixRecord};
        let json: std::sync::Arc<str> = r#"{"type":"malware"}"#.into();
        Record::Stix(StixRecord {
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
        })
    }

    #[test]
    fn merged_stix_copies_keep_every_collection_and_file() {
        let records = vec![
            stix_copy(1, "a", 0, 0),
            stix_copy(1, "b", 0, 1),
            stix_copy(2, "c", 0, 2),
            stix_copy(1, "a", 1, 0),
        ];
        let (kept, merged) = dedupe(records);
        assert_eq!(merged, 2);
        let got: Vec<(Vec<String>, Vec<u32>, u64)> = kept
            .iter()
            .map(|r| match r {
                Record::Stix(s) => (
                    s.collections.iter().map(|c| c.to_string()).collect(),
                    s.files.clone(),
                    s.origin.position,
                ),
                Record::Indicator(_) => unreachable!(),
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
}
