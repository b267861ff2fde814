//! The last stage of a compile: date every new or changed object version,
//! write the feed file and publish it atomically (docs/decisions.md#d35).

use super::{Built, Pending};
use crate::compile::spill::{Body, Parked};
use crate::compile::state::{self, Row};
use crate::compile::{CollectionReport, CompileError};
use crate::feed::{self, FeedMeta, FeedSpec, ObjectVersion, Spool, WriteOptions};
use crate::time::{self, Micros, MILLI, SECOND};
use std::collections::BTreeMap;
use std::io;
use std::path::Path;

/// The first date_added of a generation's `n` new versions (1 µs apart),
/// no earlier than `earliest`, chosen so that the last one falls on a whole
/// millisecond. Clients that keep their cursor in milliseconds (OpenCTI
/// truncates `X-TAXII-Date-Added-Last` to ms) then resume exactly after the
/// generation instead of fetching its last millisecond again. Costs < 1 ms
/// of delay.
fn aligned_first(earliest: Micros, n: usize) -> Micros {
    let span = n.saturating_sub(1) as i64;
    let last = earliest.saturating_add(span);
    let aligned_last = last.saturating_add((MILLI - last.rem_euclid(MILLI)) % MILLI);
    aligned_last - span
}

/// One collection's report and its builder warnings counted by message.
pub(crate) type Outcomes = (CollectionReport, BTreeMap<String, u64>);

/// Assigns date_added to every new or changed object, writes the feed and
/// publishes it atomically. Returns the writer's statistics and each
/// collection's report and warnings.
pub(crate) fn publish(
    meta: FeedMeta,
    built: Vec<Built>,
    parked: Parked,
    live: &Path,
    wopts: &WriteOptions,
) -> Result<(feed::WriteStats, Vec<Outcomes>), CompileError> {
    let visible = visible_at(&built);
    let mut spec = FeedSpec {
        meta,
        collections: Vec::with_capacity(built.len()),
    };
    let mut reports = Vec::with_capacity(built.len());
    let staging = crate::files::containing_dir(live);
    for b in built {
        let (data, outcomes) = collection_data(b, visible, &parked, &staging)?;
        spec.collections.push(data);
        reports.push(outcomes);
    }
    parked.release();
    let wopts = WriteOptions {
        release: parked.release_hook(),
        ..wopts.clone()
    };
    let stats = feed::publish(spec, live, &wopts)?;
    let late = time::now() - visible;
    if late > 0 {
        tracing::warn!(
            late_ms = late / MILLI,
            "the feed became visible after the date_added of its new versions (writing took longer than estimated); clients that poll with their own clock as added_after may miss versions added in the last {} ms",
            late / MILLI
        );
    }
    Ok((stats, reports))
}

/// When the file will become visible, estimated from what it holds.
fn visible_at(built: &[Built]) -> Micros {
    // docs/decisions.md#d9: date_added is never earlier than the moment the version
    // becomes visible. The file becomes visible when it is renamed into
    // place, after it is written and verified, so new versions are dated
    // after a generous estimate of that moment (written at ~50 MB/s, twice
    // over, plus five seconds). Clients that poll in between see them as
    // "added in the future" and at worst fetch them twice, never miss them.
    let bytes: usize = built
        .iter()
        .flat_map(|b| &b.objects)
        .map(|o| o.json21.len() + o.json20.as_ref().map_or(0, Body::len))
        .sum();
    let margin = 5 * SECOND + (bytes as i64 / 50) * 2;
    time::now() + margin
}

/// One collection as the writer takes it: its objects dated and in
/// date_added order, with their JSON back from the spill file, and its
/// STATE rows, staged in a file in `staging`; beside it, its report and
/// warnings.
fn collection_data(
    b: Built,
    visible: Micros,
    parked: &Parked,
    staging: &Path,
) -> Result<(feed::CollectionData, Outcomes), CompileError> {
    let staging_io = |e: io::Error| {
        CompileError::Feed(feed::FeedError::Io {
            path: staging.to_path_buf(),
            source: io::Error::new(e.kind(), format!("staging the STATE section: {e}")),
        })
    };
    let Built {
        mut objects,
        remembered,
        previous_last,
        cuts,
        config,
        mut report,
        warnings,
        ..
    } = b;
    date_new_versions(
        &mut objects,
        visible.max(previous_last.saturating_add(1)),
        parked,
    );
    // Each object's STATE row is encoded as the object is converted: a
    // vector of every row beside the versions was the peak of the write
    // stage's start.
    let mut rows = state::Encoder::new(config, Spool::new(Some(staging)).map_err(staging_io)?)
        .map_err(staging_io)?;
    let mut out = Vec::with_capacity(objects.len());
    // Taken from the end of the reversed array, which shrinks behind
    // every run: walked front to back, the whole array (a quarter of a GB
    // at a million objects) stayed allocated beside the versions and rows
    // made from it, the peak of the write stage's start.
    objects.reverse();
    let mut converted = 0;
    while let Some(o) = objects.pop() {
        if converted % CONVERT_RUN == 0 {
            objects.shrink_to_fit();
            // Resolving checks each parked object's UTF-8: release the
            // spill's pages behind it.
            parked.release();
        }
        converted += 1;
        let date_added = o.date_added.expect("assigned above");
        let version = o.version_us.unwrap_or(date_added);
        match report.by_type.get_mut(&*o.stix_type) {
            Some(n) => *n += 1,
            None => {
                report.by_type.insert(o.stix_type.to_string(), 1);
            }
        }
        let row = Row {
            key: String::from(&*parked.resolve(o.key)?),
            id: String::from(&*parked.resolve(o.id)?),
            content_hash: o.content_hash,
            modified: version,
            date_added,
            epoch: o.epoch,
            revoked: o.revoked,
            tombstone: o.tombstone,
            revoked_at: o.revoked_at,
            present: true,
            fingerprint: o.fingerprint,
        };
        rows.push(&row).map_err(staging_io)?;
        out.push(ObjectVersion {
            id: row.id,
            stix_type: o.stix_type,
            spec_version: o.spec,
            version_us: version,
            date_added_us: date_added,
            json21: parked.resolve(o.json21)?,
            json20: o.json20.map(|j| parked.resolve(j)).transpose()?,
        });
    }
    report.objects = out.len() as u64;
    for r in &remembered {
        rows.push(r).map_err(staging_io)?;
    }
    let data = feed::CollectionData {
        objects: out,
        state: rows.finish().map_err(staging_io)?,
        cuts,
    };
    Ok((data, (report, warnings)))
}

/// Objects converted between two shrinks of the pending array.
const CONVERT_RUN: usize = 1 << 15;

/// Dates the objects that have no date_added yet, 1 µs apart in build
/// order from no earlier than `earliest` ([`aligned_first`]), then sorts
/// all of them in date_added order (then id, version and build order),
/// reading the ids they tie on from `parked`.
fn date_new_versions(objects: &mut [Pending], earliest: Micros, parked: &Parked) {
    let mut fresh: Vec<usize> = (0..objects.len())
        .filter(|&i| objects[i].date_added.is_none())
        .collect();
    let first = aligned_first(earliest, fresh.len());
    fresh.sort_by_key(|&i| objects[i].order);
    for (date_added, i) in (first..).zip(fresh) {
        objects[i].date_added = Some(date_added);
    }
    // Not a stable sort: that takes a buffer of half the array, 840 MB
    // at ten million objects and the compile's peak. `order` (unique but
    // for an indicator and its SCOs, whose ids differ) decides the ties a
    // stable sort would have left in build order. Ids compare as bytes, as
    // strings do.
    objects.sort_unstable_by(|a, b| {
        a.date_added
            .cmp(&b.date_added)
            .then_with(|| parked.peek(&a.id).cmp(parked.peek(&b.id)))
            .then_with(|| (a.version_us, a.order).cmp(&(b.version_us, b.order)))
    });
}

#[cfg(test)]
mod align_tests {
    use super::*;

    #[test]
    fn a_generation_ends_on_a_whole_millisecond() {
        assert_eq!(aligned_first(5_000, 1), 5_000);
        assert_eq!(aligned_first(5_001, 1), 6_000);
        assert_eq!(aligned_first(5_001, 1_000), 5_001);
        assert_eq!(aligned_first(5_002, 1_000), 6_001);
        assert_eq!(aligned_first(5_500, 3), 5_998);
        assert_eq!(aligned_first(-1_500, 1), -1_000);
        assert_eq!(aligned_first(7_000, 0), 7_000);
    }
}
