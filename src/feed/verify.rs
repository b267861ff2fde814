//! Full verification of a feed file: what `Feed::open` deliberately skips.
//!
//! Two depths ([`Depth`]):
//! - [`Depth::Full`] (`taxii-edge verify`, [`Feed::verify`]) is O(size):
//!   every section checksum, every entry invariant, every object's JSON
//!   (parsed with serde_json, in parallel), the id index, the STIX 2.0
//!   table, and every precompressed page, which is decompressed and
//!   compared byte for byte with the body the server would build itself.
//! - [`Depth::Publish`] (`taxii-edge verify --quick`, meant for the check
//!   before a freshly written file goes live) keeps every section checksum
//!   (which proves the file holds the bytes the writer produced), every
//!   structural invariant and every object's JSON (the writer takes object
//!   bytes as given, so this is what refuses a bad object before it goes
//!   live); it skips inflating each precompressed page and comparing it with
//!   its entries, which re-checks the writer's own compression at ~12% of a
//!   compile's CPU.
//!
//! The first problem found is reported, naming the collection, the entry
//! and what is wrong.
//!
//! Ordering decision: `date_added` must be non-decreasing, not strictly
//! increasing. Compiled feeds are strictly increasing (docs/decisions.md#d9), but imported STIX data may repeat values; the stored `rank` keeps
//! pagination exact in that case, so the format allows it.

use super::format::*;
use super::reader::section_label;
use super::{Coding, CollectionFeed, Feed, FeedError, PageKind, Position, SpecVersion};
use foldhash::HashMapExt;
use rayon::prelude::*;
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::HashSet;
use std::io::Read;
use std::ops::Range;

/// The two properties verify cross-checks against the entry table; serde
/// still validates the syntax of everything it skips.
#[derive(Deserialize)]
struct Head<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(borrow, rename = "type")]
    ty: Cow<'a, str>,
}

/// Bytes checksummed between two releases of resident pages.
const RELEASE_WINDOW: usize = 64 << 20;
/// Objects JSON-checked between two releases of resident pages (about
/// 11 MB of a feed of indicators; 65,536 left about 50 MB more resident,
/// which counted in a compile's peak).
const RELEASE_RUN: usize = 1 << 14;

/// How much [`Feed::verify_with`] checks (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    /// Checksums, structure and every object's JSON: what a file the
    /// writer just produced needs.
    Publish,
    /// Everything, including every precompressed page inflated and compared.
    Full,
}

/// The first problem verify finds in a collection, and which collection:
/// displayed, the message [`FeedError::Invalid`] carries.
#[derive(Debug, thiserror::Error)]
#[error("collection {index} ({id}): {problem}")]
struct CollectionError {
    /// Position in META `collections`.
    index: usize,
    id: String,
    /// Boxed: errors are rare, and a `Result` should stay small.
    problem: Box<Problem>,
}

/// What is wrong in a collection, and in which part of it (the entry,
/// index row, boundary or page), so every message names where to look.
#[derive(Debug, thiserror::Error)]
enum Problem {
    /// The collection as a whole: TYPES, OBJECTS20, META's record of it,
    /// its default pages together.
    #[error("{0}")]
    Collection(String),
    /// One ENTRIES row and where its bytes lie.
    #[error("entry {entry}: {what}")]
    Entry { entry: usize, what: String },
    /// One entry whose id is readable.
    #[error("entry {entry} ({id}): {what}")]
    Object {
        entry: usize,
        id: String,
        what: String,
    },
    /// The JSON of an entry's object; `form` is `"object"` (STIX 2.1) or
    /// `"STIX 2.0 object"`.
    #[error("entry {entry} ({id}): {form} {problem}")]
    Json {
        entry: usize,
        id: String,
        form: &'static str,
        problem: JsonProblem,
    },
    /// Entry `entry` does not sort after the one before it.
    #[error("entry {entry} ({id}) does not sort after entry {prev} ({prev_id}) by (date_added, id, version)")]
    Order {
        entry: usize,
        id: String,
        prev: usize,
        prev_id: String,
    },
    /// One IDINDEX row.
    #[error("IDINDEX row {row} {what}")]
    IdIndex { row: usize, what: String },
    /// One page boundary (CUTS row).
    #[error("page boundary {cut} {what}")]
    Cut { cut: usize, what: String },
    /// One default page (PAGES row).
    #[error("default page {page} {what}")]
    Page { page: usize, what: String },
    /// A default page lacks one of its four compressed copies.
    #[error("default page {page} has no {kind:?} {coding:?} copy")]
    MissingCopy {
        page: usize,
        kind: PageKind,
        coding: Coding,
    },
    /// One compressed copy of a default page.
    #[error("default page {page} ({kind:?}, {coding:?}) {what}")]
    Copy {
        page: usize,
        kind: PageKind,
        coding: Coding,
        what: String,
    },
}

impl Problem {
    fn entry(entry: usize, what: String) -> Problem {
        Problem::Entry { entry, what }
    }

    fn object(entry: usize, id: &str, what: String) -> Problem {
        Problem::Object {
            entry,
            id: id.to_string(),
            what,
        }
    }

    fn id_index(row: usize, what: String) -> Problem {
        Problem::IdIndex { row, what }
    }

    fn cut(cut: usize, what: String) -> Problem {
        Problem::Cut { cut, what }
    }

    fn page(page: usize, what: String) -> Problem {
        Problem::Page { page, what }
    }
}

/// Why an object's JSON does not match its entry.
#[derive(Debug, thiserror::Error)]
enum JsonProblem {
    #[error("is not valid STIX JSON: {0}")]
    Syntax(serde_json::Error),
    #[error("has id {0:?}, not its entry's")]
    Id(String),
    #[error("has type {found:?} but its entry says {expected:?}")]
    Type { found: String, expected: String },
}

impl Feed {
    /// Full verification: every checksum and invariant, every object's JSON.
    pub fn verify(&self) -> Result<(), FeedError> {
        self.verify_with(Depth::Full)
    }

    /// Verification at the given depth.
    pub fn verify_with(&self, depth: Depth) -> Result<(), FeedError> {
        let result = self.verify_inner(depth);
        self.release_all();
        result
    }

    fn verify_inner(&self, depth: Depth) -> Result<(), FeedError> {
        // Checksums, a window at a time, each window's pages released behind
        // it: verifying a file must not make it resident as a whole.
        self.sections
            .par_iter()
            .try_for_each(|s| self.check_checksum(s))?;
        let mut ids = HashSet::new();
        for cm in &self.meta.collections {
            if !ids.insert((&cm.api_root, &cm.id)) {
                return Err(self.invalid(format!(
                    "collection id {} appears twice in api root {}",
                    cm.id, cm.api_root
                )));
            }
        }
        for c in &self.collections {
            self.verify_collection(c, depth)
                .map_err(|e| self.invalid(e.to_string()))?;
        }
        Ok(())
    }

    /// The checksums of collection `ci`'s sections of `kinds` (the writer
    /// checks those it copies default pages from, docs/decisions.md#d67).
    pub(crate) fn check_collection_checksums(
        &self,
        ci: usize,
        kinds: &[Kind],
    ) -> Result<(), FeedError> {
        self.sections
            .par_iter()
            .filter(|s| {
                s.collection as usize == ci
                    && Kind::from_code(s.kind).is_some_and(|k| kinds.contains(&k))
            })
            .try_for_each(|s| self.check_checksum(s))
    }

    /// One section's checksum, a window at a time, each window's pages
    /// released behind it.
    fn check_checksum(&self, s: &SectionRow) -> Result<(), FeedError> {
        let (start, end) = (s.offset as usize, (s.offset + s.len) as usize);
        let mut computed = 0;
        for at in (start..end).step_by(RELEASE_WINDOW) {
            let window = at..(at + RELEASE_WINDOW).min(end);
            computed = crc32c::crc32c_append(computed, &self.bytes[window.clone()]);
            self.release(window);
        }
        if computed == s.crc {
            return Ok(());
        }
        let kind = Kind::from_code(s.kind).unwrap_or(Kind::Meta);
        Err(self.invalid(format!(
            "{} checksum mismatch (stored {:08x}, computed {computed:08x}): the file is corrupted",
            section_label(kind, s.collection),
            s.crc
        )))
    }

    fn invalid(&self, what: String) -> FeedError {
        FeedError::Invalid {
            path: self.path.clone(),
            what,
        }
    }

    /// One collection: the first problem [`Feed::check_collection`] finds,
    /// with the collection it is in.
    fn verify_collection(&self, c: &CollectionFeed, depth: Depth) -> Result<(), CollectionError> {
        self.check_collection(c, depth)
            .map_err(|problem| CollectionError {
                index: c.index,
                id: self.meta.collections[c.index].id.clone(),
                problem: Box::new(problem),
            })
    }

    /// Every check of one collection, in order; the first problem found is
    /// reported.
    fn check_collection(&self, c: &CollectionFeed, depth: Depth) -> Result<(), Problem> {
        check_types(c)?;
        // The entry scan is one thread's pass: the objects' JSON is parsed
        // on the other workers meanwhile. (It reads the entries unchecked,
        // so it must not trust them: see `check_objects_json`.) The
        // problem reported is the first in the order of the checks all
        // the same.
        let (scan, json) = rayon::join(|| self.check_entries(c), || self.check_objects_json(c));
        let scan = scan?;
        check_first_last(c, &scan.flags)?;
        check_mixed_spec(c, scan.has20, scan.has21)?;
        json?;
        // Each whole pass below leaves what it read resident: released
        // between passes, verifying never holds more than one pass's
        // sections.
        self.release_collection(c);
        check_id_index(c)?;
        self.release_collection(c);
        if c.has_objects20 {
            self.check_objects20(c)?;
        }
        check_entry_order(self, c)?;
        self.release_collection(c);
        let cuts = read_cuts(c)?;
        let pages = self.check_page_layout(c, &scan.flags, &cuts)?;
        self.check_page_bodies(c, &pages, depth == Depth::Full)
    }

    /// [`Feed::release`] of the entry rows and the manifest (where the ids
    /// are): what the passes that go through the entries in order read.
    /// They release it every [`RELEASE_RUN`] rows; each of those passes
    /// alone would otherwise leave about 2 GB of a 10-million-object feed
    /// resident.
    fn release_rows(&self, c: &CollectionFeed) {
        self.release(self.range_of(&c.entries));
        self.release(self.range_of(&c.manifest));
    }

    /// [`Feed::release`] of every section of collection `c`, as the
    /// section table lists them.
    fn release_collection(&self, c: &CollectionFeed) {
        for s in self
            .sections
            .iter()
            .filter(|s| s.collection as usize == c.index)
        {
            self.release(s.offset as usize..(s.offset + s.len) as usize);
        }
    }

    /// ENTRIES in one pass: each row's fields, where its object and
    /// manifest record lie, and that record's bytes; also works out the
    /// first/last flags the rows should carry.
    fn check_entries(&self, c: &CollectionFeed) -> Result<EntryScan, Problem> {
        let n = c.n;
        let mut span: foldhash::HashMap<&str, (usize, usize)> = foldhash::HashMap::with_capacity(n);
        let (mut obj_next, mut man_next) = (0u64, 0u64);
        let mut scratch = String::with_capacity(256);
        let mut prev: Option<RawEntry> = None;
        let (mut has20, mut has21) = (false, false);
        for i in 0..n {
            if i % RELEASE_RUN == 0 {
                self.release_rows(c);
                self.release(self.range_of(&c.objects));
                self.release(self.range_of(&c.idindex));
            }
            let r = c.raw(i);
            let spec = check_entry_row(c, i, &r, prev.as_ref())?;
            has20 |= spec == SpecVersion::V20;
            has21 |= spec == SpecVersion::V21;
            check_entry_slices(c, i, &r, &mut obj_next, &mut man_next)?;
            let id = check_manifest_record(c, i, &r, spec, &mut scratch)?;
            let e = span.entry(id).or_insert((i, i));
            let key = |j: usize| {
                let r = c.raw(j);
                (r.version_us, r.date_added_us)
            };
            let k = (r.version_us, r.date_added_us);
            if k < key(e.0) {
                e.0 = i;
            }
            if k >= key(e.1) {
                e.1 = i;
            }
            prev = Some(r);
        }
        if n == 0 && (!c.objects.is_empty() || !c.manifest.is_empty()) {
            return Err(Problem::Collection(
                "no entries but OBJECTS or MANIFEST is not empty".into(),
            ));
        }
        let mut flags = vec![0u8; n];
        for &(f, l) in span.values() {
            flags[f] |= FLAG_FIRST;
            flags[l] |= FLAG_LAST;
        }
        Ok(EntryScan {
            flags,
            has20,
            has21,
        })
    }

    /// Every object parses and carries the id and type of its entry; the
    /// objects are read in runs, each released behind it. Runs beside
    /// [`Self::check_entries`], so an entry's fields are not trusted here
    /// (an unknown type is an empty name; the entry scan reports it).
    fn check_objects_json(&self, c: &CollectionFeed) -> Result<(), Problem> {
        let n = c.n;
        for run in (0..n).step_by(RELEASE_RUN) {
            let run = run..(run + RELEASE_RUN).min(n);
            run.clone().into_par_iter().try_for_each(|i| {
                let bytes = c.object_bytes(i);
                check_json(&bytes, c.id_of(i), type_name(c, i)).map_err(|problem| Problem::Json {
                    entry: i,
                    id: c.id_of(i).to_string(),
                    form: "object",
                    problem,
                })
            })?;
            self.release(self.range_of(&c.objects));
            self.release(self.range_of(&c.manifest));
        }
        Ok(())
    }

    /// STIX 2.0 forms: joined by ',' in entry order, each valid.
    fn check_objects20(&self, c: &CollectionFeed) -> Result<(), Problem> {
        let present = objects20_layout(c)?;
        for run in present.chunks(RELEASE_RUN) {
            run.par_iter().try_for_each(|&i| {
                let bytes = c.object20_bytes(i).unwrap_or_default();
                check_json(&bytes, c.id_of(i), type_name(c, i)).map_err(|problem| Problem::Json {
                    entry: i,
                    id: c.id_of(i).to_string(),
                    form: "STIX 2.0 object",
                    problem,
                })
            })?;
            self.release(self.range_of(&c.objects20));
        }
        Ok(())
    }

    /// Default pages (PAGES rows): together they return every last version
    /// once, in order, at most page_size each, each ending at its boundary.
    /// Returns the entries of each page.
    fn check_page_layout(
        &self,
        c: &CollectionFeed,
        flags: &[u8],
        cuts: &[Position],
    ) -> Result<Vec<Vec<usize>>, Problem> {
        let n = c.n;
        let page_size = self.meta.page_size as usize;
        let count = c.default_page_count();
        let mut pages: Vec<Vec<usize>> = Vec::with_capacity(count);
        let mut next_last = 0;
        let mut prev_cut: Option<u64> = None;
        let run = (RELEASE_RUN / page_size.max(1)).max(1);
        for p in 0..count {
            if p % run == 0 {
                self.release_rows(c);
            }
            let r = c
                .default_page_entries(p)
                .ok_or_else(|| Problem::page(p, "has an invalid entry range".into()))?;
            if r.start < next_last {
                return Err(Problem::page(p, "overlaps the page before it".into()));
            }
            if (next_last..r.start).any(|i| flags[i] & FLAG_LAST != 0) {
                return Err(Problem::page(p, "skips a last version before it".into()));
            }
            let items: Vec<usize> = r.clone().filter(|&i| flags[i] & FLAG_LAST != 0).collect();
            if items.is_empty() || items.len() > page_size {
                return Err(Problem::page(
                    p,
                    format!("holds {} objects (1..={page_size} expected)", items.len()),
                ));
            }
            if items[0] != r.start || items[items.len() - 1] + 1 != r.end {
                return Err(Problem::page(
                    p,
                    "does not start and end at its objects".into(),
                ));
            }
            check_page_boundary(c, p, &r, items[items.len() - 1], cuts, &mut prev_cut)?;
            next_last = r.end;
            pages.push(items);
        }
        if (next_last..n).any(|i| flags[i] & FLAG_LAST != 0) {
            return Err(Problem::Collection(
                "a last version lies after the last default page".into(),
            ));
        }
        Ok(pages)
    }

    /// Every default page's compressed copies, in runs of pages (each run's
    /// sections released behind it).
    fn check_page_bodies(
        &self,
        c: &CollectionFeed,
        pages: &[Vec<usize>],
        deep: bool,
    ) -> Result<(), Problem> {
        let cm = &self.meta.collections[c.index];
        let run = (RELEASE_RUN / self.meta.page_size.max(1) as usize).max(1);
        for (r, chunk) in pages.chunks(run).enumerate() {
            self.verify_pages(c, cm, chunk, r * run, deep)?;
            // Every section the bodies read, the entries included (each
            // body reads its items' rows, so the whole entry table would
            // otherwise be resident by the last run).
            self.release_collection(c);
        }
        Ok(())
    }

    /// Checks the compressed copies of default pages `first..` (`pages`
    /// holds each page's entries): all present, and with `deep` each one
    /// inflating to exactly the body the server would build.
    fn verify_pages(
        &self,
        c: &CollectionFeed,
        cm: &super::CollectionMeta,
        pages: &[Vec<usize>],
        first: usize,
        deep: bool,
    ) -> Result<(), Problem> {
        pages.par_iter().enumerate().try_for_each(|(j, items)| {
            let p = first + j;
            if !deep {
                return check_page_copies_present(c, p);
            }
            let next = c.page_end_cut(p);
            for kind in [PageKind::Objects, PageKind::Manifest] {
                let body = self.page_body(c, cm, kind, items, next.as_ref());
                for coding in [Coding::Gzip, Coding::Zstd] {
                    check_page_copy(c, p, kind, coding, &body)?;
                }
            }
            Ok(())
        })
    }

    /// The body the server builds for a default page of `items` that ends
    /// at `next` (FORMAT.md "Default pages").
    fn page_body(
        &self,
        c: &CollectionFeed,
        cm: &super::CollectionMeta,
        kind: PageKind,
        items: &[usize],
        next: Option<&Position>,
    ) -> Vec<u8> {
        let token = next.map(|cut| page_token(kind, &cm.api_root, &cm.id, cut, &self.token_key));
        let mut body = Vec::new();
        push_page_head(&mut body, token.as_deref());
        for (k, &i) in items.iter().enumerate() {
            if k > 0 {
                body.push(b',');
            }
            match kind {
                PageKind::Objects => body.extend_from_slice(&c.object_bytes(i)),
                PageKind::Manifest => body.extend_from_slice(&c.manifest_bytes(i)),
            }
        }
        body.extend_from_slice(PAGE_TAIL);
        body
    }
}

/// Default page `p` has all four compressed copies.
fn check_page_copies_present(c: &CollectionFeed, p: usize) -> Result<(), Problem> {
    for kind in [PageKind::Objects, PageKind::Manifest] {
        for coding in [Coding::Gzip, Coding::Zstd] {
            if c.precompressed(kind, p, coding).is_none() {
                return Err(Problem::MissingCopy {
                    page: p,
                    kind,
                    coding,
                });
            }
        }
    }
    Ok(())
}

/// The `kind`, `coding` copy of default page `p` is present and inflates to
/// exactly `body`.
fn check_page_copy(
    c: &CollectionFeed,
    p: usize,
    kind: PageKind,
    coding: Coding,
    body: &[u8],
) -> Result<(), Problem> {
    let blob = c
        .precompressed(kind, p, coding)
        .ok_or(Problem::MissingCopy {
            page: p,
            kind,
            coding,
        })?;
    let got = decompress(&blob, coding, body.len() as u64 + 1).map_err(|e| Problem::Copy {
        page: p,
        kind,
        coding,
        what: format!("does not decompress: {e}"),
    })?;
    if got != body {
        return Err(Problem::Copy {
            page: p,
            kind,
            coding,
            what: "differs from its entries".into(),
        });
    }
    Ok(())
}

/// What the ENTRIES pass learns for the checks after it.
struct EntryScan {
    /// The first/last flags each entry should carry.
    flags: Vec<u8>,
    /// Whether some entry is a STIX 2.0 version.
    has20: bool,
    /// Whether some entry is a STIX 2.1 version.
    has21: bool,
}

/// TYPES: valid names, none repeated.
fn check_types(c: &CollectionFeed) -> Result<(), Problem> {
    let mut seen_types = HashSet::new();
    for t in &c.types {
        if !plain_token(t) || !seen_types.insert(t) {
            return Err(Problem::Collection(format!(
                "TYPES holds an invalid or repeated name {t:?}"
            )));
        }
    }
    Ok(())
}

/// ENTRIES row `i` on its own and against the previous row: spec version,
/// type id, flags, date_added order and rank. Returns its spec version.
fn check_entry_row(
    c: &CollectionFeed,
    i: usize,
    r: &RawEntry,
    prev: Option<&RawEntry>,
) -> Result<SpecVersion, Problem> {
    let spec = spec_from_code(r.spec)
        .ok_or_else(|| Problem::entry(i, format!("unknown spec version code {}", r.spec)))?;
    if usize::from(r.type_id) >= c.types.len() {
        return Err(Problem::entry(
            i,
            format!("type id {} but only {} types", r.type_id, c.types.len()),
        ));
    }
    if r.flags & !(FLAG_FIRST | FLAG_LAST) != 0 {
        return Err(Problem::entry(i, format!("unknown flags {:#x}", r.flags)));
    }
    let expected_rank = match prev {
        Some(p) if p.date_added_us > r.date_added_us => {
            return Err(Problem::entry(
                i,
                format!(
                    "date_added {} is earlier than the previous entry's {}",
                    crate::time::fmt_us(r.date_added_us),
                    crate::time::fmt_us(p.date_added_us)
                ),
            ))
        }
        Some(p) if p.date_added_us == r.date_added_us => p.rank.saturating_add(1),
        _ => 1,
    };
    if r.rank != expected_rank {
        return Err(Problem::entry(
            i,
            format!("rank {} but {expected_rank} expected", r.rank),
        ));
    }
    Ok(spec)
}

/// Entry `i`'s object and manifest record start where the previous one's
/// ended plus the `,`, and are joined by `,` (the last ends its section);
/// `obj_next` and `man_next` move past them.
fn check_entry_slices(
    c: &CollectionFeed,
    i: usize,
    r: &RawEntry,
    obj_next: &mut u64,
    man_next: &mut u64,
) -> Result<(), Problem> {
    if r.obj_off != *obj_next || r.obj_len == 0 {
        return Err(Problem::entry(
            i,
            format!(
                "object at {} (+{}) but {obj_next} expected",
                r.obj_off, r.obj_len
            ),
        ));
    }
    *obj_next = r.obj_off + u64::from(r.obj_len) + 1;
    if r.man_off != *man_next {
        return Err(Problem::entry(
            i,
            format!("manifest record at {} but {man_next} expected", r.man_off),
        ));
    }
    *man_next = r.man_off + u64::from(r.man_len) + 1;
    for (what, data, end) in [
        ("OBJECTS", &c.objects, *obj_next - 1),
        ("MANIFEST", &c.manifest, *man_next - 1),
    ] {
        let ok = if i + 1 < c.n {
            data.get(end as usize) == Some(&b',')
        } else {
            end == data.len() as u64
        };
        if !ok {
            return Err(Problem::entry(
                i,
                format!("{what} is not joined by ',' or does not end after the last entry"),
            ));
        }
    }
    Ok(())
}

/// Entry `i`'s manifest record: a valid id, exactly the bytes its entry
/// implies (built in `scratch`), and that id's hash. Returns the id.
fn check_manifest_record<'c>(
    c: &'c CollectionFeed,
    i: usize,
    r: &RawEntry,
    spec: SpecVersion,
    scratch: &mut String,
) -> Result<&'c str, Problem> {
    let id = c.id_of(i);
    if !plain_token(id) {
        return Err(Problem::entry(
            i,
            "manifest record does not start with a valid id".into(),
        ));
    }
    scratch.clear();
    push_manifest(scratch, id, r.date_added_us, r.version_us, spec);
    if c.manifest_bytes(i)[..] != *scratch.as_bytes() {
        return Err(Problem::object(
            i,
            id,
            format!("manifest record differs from its entry (expected {scratch})"),
        ));
    }
    if r.id_hash != id_hash(id.as_bytes()) {
        return Err(Problem::object(i, id, "id hash mismatch".into()));
    }
    Ok(id)
}

/// Every entry carries the first/last flags its versions imply.
fn check_first_last(c: &CollectionFeed, flags: &[u8]) -> Result<(), Problem> {
    for (i, f) in flags.iter().enumerate() {
        if c.raw(i).flags != *f {
            return Err(Problem::object(
                i,
                c.id_of(i),
                format!("first/last flags {:#x} but {f:#x} expected", c.raw(i).flags),
            ));
        }
    }
    Ok(())
}

/// The stored "mixes 2.0 and 2.1" flag agrees with the entries.
fn check_mixed_spec(c: &CollectionFeed, has20: bool, has21: bool) -> Result<(), Problem> {
    if let Some(stored) = c.mixed_spec {
        let mixed = has20 && has21;
        if stored != mixed {
            return Err(Problem::Collection(format!(
                "META records mixed_spec = {stored}, but the entries {} both STIX 2.0 and 2.1 versions",
                if mixed { "hold" } else { "do not hold" }
            )));
        }
    }
    Ok(())
}

/// The id index: a permutation of the entries, sorted by (hash, entry).
fn check_id_index(c: &CollectionFeed) -> Result<(), Problem> {
    let n = c.n;
    let mut indexed = vec![false; n];
    let mut last_row: Option<(u64, u64)> = None;
    for r in 0..n {
        let row = (
            rd_u64(&c.idindex, r * IDX_ROW_LEN),
            rd_u64(&c.idindex, r * IDX_ROW_LEN + 8),
        );
        if last_row.is_some_and(|l| l >= row) {
            return Err(Problem::id_index(r, "is out of order".into()));
        }
        last_row = Some(row);
        let i = usize::try_from(row.1)
            .ok()
            .filter(|&i| i < n)
            .ok_or_else(|| Problem::id_index(r, "points past the entries".into()))?;
        if indexed[i] || c.raw(i).id_hash != row.0 {
            return Err(Problem::id_index(r, format!("does not match entry {i}")));
        }
        indexed[i] = true;
    }
    Ok(())
}

/// OBJECTS20_INDEX: the 2.0 forms lie in entry order, joined by ',', and
/// end OBJECTS20. Returns the entries that have one.
fn objects20_layout(c: &CollectionFeed) -> Result<Vec<usize>, Problem> {
    let mut next = 0u64;
    let mut present = Vec::new();
    for i in 0..c.n {
        let at = i * OBJ20_ROW_LEN;
        let (off, len) = (
            rd_u64(&c.objects20_index, at),
            rd_u32(&c.objects20_index, at + 8),
        );
        if len == 0 {
            if off != 0 {
                return Err(Problem::entry(
                    i,
                    "OBJECTS20_INDEX row without a length has an offset".into(),
                ));
            }
            continue;
        }
        if off != next || (!present.is_empty() && c.objects20.get(off as usize - 1) != Some(&b','))
        {
            return Err(Problem::entry(
                i,
                format!("STIX 2.0 object at {off} but {next} expected"),
            ));
        }
        next = off + u64::from(len) + 1;
        present.push(i);
    }
    if next.saturating_sub(1) != c.objects20.len() as u64 || present.is_empty() {
        return Err(Problem::Collection(
            "OBJECTS20 does not end after its last object".into(),
        ));
    }
    Ok(present)
}

/// Entries sort strictly by (date_added, id, version): keyset tokens rely
/// on it.
fn check_entry_order(feed: &Feed, c: &CollectionFeed) -> Result<(), Problem> {
    for i in 1..c.n {
        if i % RELEASE_RUN == 0 {
            feed.release_rows(c);
        }
        let (a, b) = (c.raw(i - 1), c.raw(i));
        if (a.date_added_us, c.id_of(i - 1), a.version_us)
            >= (b.date_added_us, c.id_of(i), b.version_us)
        {
            return Err(Problem::Order {
                entry: i,
                id: c.id_of(i).to_string(),
                prev: i - 1,
                prev_id: c.id_of(i - 1).to_string(),
            });
        }
    }
    Ok(())
}

/// Page boundaries (CUTS, CUTIDS): valid UTF-8 ids, strictly ascending.
fn read_cuts(c: &CollectionFeed) -> Result<Vec<Position>, Problem> {
    let cuts: Vec<Position> = (0..c.cut_count())
        .map(|k| {
            c.cut(k)
                .ok_or_else(|| Problem::cut(k, "is unreadable".into()))
        })
        .collect::<Result<_, _>>()?;
    if let Some(k) = (1..cuts.len()).find(|&k| cuts[k - 1] >= cuts[k]) {
        return Err(Problem::cut(
            k,
            format!("does not sort after boundary {}", k - 1),
        ));
    }
    Ok(cuts)
}

/// The boundary default page `p` (entries `r`, last item `last`) ends at:
/// one of `cuts`, after the previous page's, and where a walk resumes just
/// after the page; only the final page may have none.
fn check_page_boundary(
    c: &CollectionFeed,
    p: usize,
    r: &Range<usize>,
    last: usize,
    cuts: &[Position],
    prev_cut: &mut Option<u64>,
) -> Result<(), Problem> {
    let end_cut = rd_u64(&c.pages, p * PAGE_ROW_LEN + 80);
    if end_cut != NO_CUT {
        let cut = usize::try_from(end_cut)
            .ok()
            .and_then(|k| cuts.get(k))
            .ok_or_else(|| Problem::page(p, "ends at a missing boundary".into()))?;
        if prev_cut.is_some_and(|q| q >= end_cut) {
            return Err(Problem::page(p, "ends at a boundary out of order".into()));
        }
        *prev_cut = Some(end_cut);
        let after = c.resume_after(cut);
        if after <= last || (r.end < c.n && after > r.end) {
            return Err(Problem::page(p, "does not end at its boundary".into()));
        }
    } else if p + 1 != c.default_page_count() {
        return Err(Problem::page(
            p,
            "has no boundary but is not the last".into(),
        ));
    }
    Ok(())
}

/// The type name entry `i` names, or "" when its type id is out of range.
fn type_name(c: &CollectionFeed, i: usize) -> &str {
    c.types
        .get(usize::from(c.raw(i).type_id))
        .map_or("", String::as_str)
}

/// An object's JSON parses and carries the `id` and type `ty` of its entry.
fn check_json(bytes: &[u8], id: &str, ty: &str) -> Result<(), JsonProblem> {
    let head: Head = serde_json::from_slice(bytes).map_err(JsonProblem::Syntax)?;
    if head.id != id {
        return Err(JsonProblem::Id(head.id.into_owned()));
    }
    if head.ty != ty {
        return Err(JsonProblem::Type {
            found: head.ty.into_owned(),
            expected: ty.to_string(),
        });
    }
    Ok(())
}

/// Decompresses at most `limit` bytes (a corrupted blob cannot balloon).
fn decompress(blob: &[u8], coding: Coding, limit: u64) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    match coding {
        Coding::Gzip => {
            flate2::read::GzDecoder::new(blob)
                .take(limit)
                .read_to_end(&mut out)?;
        }
        Coding::Zstd => {
            zstd::stream::read::Decoder::new(blob)?
                .take(limit)
                .read_to_end(&mut out)?;
        }
    }
    Ok(out)
}
