//! TAXII 2.0 selection and bodies: which entries a 2.0 request returns
//! ([`Matcher`], [`View20`]), as bundles and 2.0 manifests; the
//! decisions are listed in the module docs of `v20`.

use super::body::Body;
use super::query::Filters;
use super::response::STIX20;
use crate::feed::{CollectionFeed, SpecVersion};
use crate::time;
use bytes::Bytes;

/// Items between two checkpoints of a [`View20`].
const STRIDE: u64 = 64;

/// The unfiltered TAXII 2.0 view of one collection (the latest 2.0 version
/// of each object, in date_added order): its size and where every
/// 64th item sits in the entry table.
#[derive(Debug)]
pub struct View20 {
    pub total: u64,
    marks: Vec<usize>,
}

impl View20 {
    pub(super) fn build(cf: &CollectionFeed, mixed: bool) -> View20 {
        let (mut total, mut marks) = (0u64, Vec::new());
        for i in 0..cf.len() {
            if cf.has_object20(i) && flags20(cf, i, mixed).1 {
                if total % STRIDE == 0 {
                    marks.push(i);
                }
                total += 1;
            }
        }
        View20 { total, marks }
    }

    /// Where to start walking to reach item `k`: (entry index, number of
    /// the item found there).
    pub(super) fn seek(&self, k: u64, len: usize) -> (usize, u64) {
        let m = k / STRIDE;
        match self.marks.get(m as usize) {
            Some(&i) => (i, m * STRIDE),
            None => (len, self.total),
        }
    }
}

/// `first`/`last` of entry `i` among the versions of its id that have a
/// 2.0 form. The feed's flags are exact unless the collection mixes STIX
/// 2.0 and 2.1 versions and `i` is a 2.0 (passthrough) version.
fn flags20(cf: &CollectionFeed, i: usize, mixed: bool) -> (bool, bool) {
    let e = cf.entry(i);
    if !mixed || e.spec_version == SpecVersion::V21 {
        return (e.first, e.last);
    }
    let key = |j: usize| {
        let ej = cf.entry(j);
        (ej.version_us, ej.date_added_us, j)
    };
    let mine = key(i);
    let (mut first, mut last) = (true, true);
    for j in cf.versions_of(cf.id_of(i)) {
        if j == i || !cf.has_object20(j) {
            continue;
        }
        if key(j) < mine {
            first = false;
        } else {
            last = false;
        }
    }
    (first, last)
}

/// The filter predicate of one request (`added_after` and `match[id]`
/// decide the candidates instead).
pub(super) struct Matcher<'a> {
    cf: &'a CollectionFeed,
    f: &'a Filters,
    type_mask: Option<Vec<bool>>,
    mixed: bool,
}

impl<'a> Matcher<'a> {
    pub(super) fn new(cf: &'a CollectionFeed, f: &'a Filters, mixed: bool) -> Self {
        let type_mask = f.types.as_ref().map(|want| {
            cf.types()
                .iter()
                .map(|name| want.iter().any(|w| w == name))
                .collect()
        });
        Matcher {
            cf,
            f,
            type_mask,
            mixed,
        }
    }

    fn matches(&self, i: usize) -> bool {
        if !self.cf.has_object20(i) {
            return false;
        }
        let e = self.cf.entry(i);
        if let Some(mask) = &self.type_mask {
            if !mask.get(usize::from(e.type_id)).copied().unwrap_or(false) {
                return false;
            }
        }
        let v = &self.f.version;
        if v.all || v.at.binary_search(&e.version_us).is_ok() {
            return true;
        }
        if !(v.first || v.last) {
            return false;
        }
        let (first, last) = flags20(self.cf, i, self.mixed);
        (v.first && first) || (v.last && last)
    }

    /// Whether every id has at most one matching version.
    pub(super) fn unique_per_id(&self) -> bool {
        let v = &self.f.version;
        !v.all && v.at.is_empty() && v.first != v.last
    }

    /// Whether `i` (a match) is its id's most recently added match.
    fn is_anchor(&self, i: usize) -> bool {
        self.unique_per_id()
            || !self
                .cf
                .versions_of(self.cf.id_of(i))
                .into_iter()
                .any(|j| j > i && self.matches(j))
    }

    /// Visits the items from candidate position `start` in order until
    /// `visit` returns false. Manifest items are anchors.
    pub(super) fn items(
        &self,
        start: usize,
        ids: Option<&[usize]>,
        manifest: bool,
        mut visit: impl FnMut(usize) -> bool,
    ) {
        let mut go = |i: usize| -> bool {
            if self.matches(i) && (!manifest || self.is_anchor(i)) {
                visit(i)
            } else {
                true
            }
        };
        match ids {
            Some(list) => {
                let from = list.partition_point(|&j| j < start);
                for &i in &list[from..] {
                    if !go(i) {
                        break;
                    }
                }
            }
            None => {
                for i in start..self.cf.len() {
                    if !go(i) {
                        break;
                    }
                }
            }
        }
    }
}

/// Pushes the 2.0 objects of entries `idx` (ascending) as slices: one per
/// run of consecutive entries.
fn push_objects(cf: &CollectionFeed, idx: &[usize], out: &mut Body) {
    let Some(&first) = idx.first() else { return };
    let (mut run_start, mut prev, mut first_run) = (first, first, true);
    let mut emit = |a: usize, b: usize, out: &mut Body| {
        if !first_run {
            out.push(Bytes::from_static(b","));
        }
        first_run = false;
        out.push(cf.objects20_run(a, b));
    };
    for &i in &idx[1..] {
        if i != prev + 1 {
            emit(run_start, prev + 1, out);
            run_start = i;
        }
        prev = i;
    }
    emit(run_start, prev + 1, out);
}

pub(super) fn bundle_body(id: &str, cf: &CollectionFeed, idx: &[usize]) -> Body {
    let mut body = Body::empty();
    let mut head = String::with_capacity(96);
    head.push_str("{\"type\":\"bundle\",\"id\":\"");
    head.push_str(id);
    head.push_str("\",\"spec_version\":\"2.0\"");
    if idx.is_empty() {
        // docs/decisions.md#d17: no `objects` in an empty bundle.
        head.push('}');
        body.push(Bytes::from(head));
        return body;
    }
    head.push_str(",\"objects\":[");
    body.push(Bytes::from(head));
    push_objects(cf, idx, &mut body);
    body.push(Bytes::from_static(b"]}"));
    body
}

/// The manifest body: one entry per anchor in `idx`.
pub(super) fn manifest_body(m: &Matcher<'_>, start: usize, idx: &[usize]) -> Body {
    if idx.is_empty() {
        return Body::from_bytes(Bytes::from_static(b"{}"));
    }
    let cf = m.cf;
    let unique = m.unique_per_id();
    let mut s = String::with_capacity(idx.len() * 200 + 16);
    s.push_str("{\"objects\":[");
    let mut versions: Vec<i64> = Vec::new();
    for (n, &i) in idx.iter().enumerate() {
        if n > 0 {
            s.push(',');
        }
        let e = cf.entry(i);
        s.push_str("{\"id\":\"");
        s.push_str(cf.id_of(i));
        s.push_str("\",\"date_added\":\"");
        time::push_us(&mut s, e.date_added_us);
        s.push_str("\",\"versions\":[");
        versions.clear();
        if unique {
            versions.push(e.version_us);
        } else {
            versions.extend(
                cf.versions_of(cf.id_of(i))
                    .into_iter()
                    .filter(|&j| j >= start && m.matches(j))
                    .map(|j| cf.entry(j).version_us),
            );
            versions.sort_unstable_by(|a, b| b.cmp(a));
            versions.dedup();
        }
        for (k, &v) in versions.iter().enumerate() {
            if k > 0 {
                s.push(',');
            }
            s.push('"');
            time::push_version(&mut s, v);
            s.push('"');
        }
        s.push_str("],\"media_types\":[\"");
        s.push_str(STIX20);
        s.push_str("\"]}");
    }
    s.push_str("]}");
    Body::from_bytes(s)
}
