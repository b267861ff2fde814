//! The feed writer: turns fully decided object versions into one feed file,
//! and `publish` makes a file live atomically.
//!
//! The writer streams: sections are written one after another through a
//! buffered writer while their CRC is computed on the fly, then the section
//! table goes at the end and the header (which points at the table) is
//! rewritten last. Nothing but the small per-entry tables is held in memory
//! beyond what the caller already holds, and default pages are built and
//! compressed in parallel batches so memory stays bounded at any feed size.
//!
//! A collection's default pages (PAGEDATA, the costly section: compression)
//! are written into a spool file by the other workers while this thread
//! writes the sections that come before them in the file, then copied in
//! after those (docs/decisions.md#d69): both cores stay busy through the
//! write stage.

use super::format::*;
use super::reuse::Reuse;
use super::staged::{Spool, Staged};
use super::token::{key_from_hex, Position};
use super::{
    CollectionData, CollectionMeta, Feed, FeedError, FeedSpec, ObjectVersion, PageKind,
    WriteOptions, WriteStats,
};
use crate::files;
use bytes::Bytes;
use rayon::prelude::*;
use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, BufWriter, Cursor, Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::Path;

/// Default pages compressed per parallel batch: enough to keep every core
/// busy, small enough that a batch's compressed bytes stay a few MB.
const PAGE_BATCH: usize = 64;

/// Objects written between two calls of [`WriteOptions::release`].
const RELEASE_EVERY: usize = 1 << 15;

fn release(opts: &WriteOptions) {
    if let Some(hook) = &opts.release {
        (hook.0)();
    }
}

impl Default for WriteOptions {
    /// zstd 3 and gzip 6: the measured sweet spots (docs/decisions.md#d30).
    fn default() -> Self {
        WriteOptions {
            zstd_level: 3,
            gzip_level: 6,
            release: None,
            previous: None,
        }
    }
}

/// Writes a complete feed file at `path` and fsyncs it (not atomically;
/// see [`publish`]).
pub fn write(spec: &FeedSpec, path: &Path, opts: &WriteOptions) -> Result<WriteStats, FeedError> {
    let io = |e| FeedError::Io {
        path: path.to_path_buf(),
        source: e,
    };
    let file = File::create(path).map_err(io)?;
    let spool_dir = files::containing_dir(path);
    let (stats, w) = write_impl(
        spec,
        BufWriter::with_capacity(1 << 20, files::Writeback::new(file)),
        opts,
        path,
        Some(&spool_dir),
    )?;
    let file = w.into_inner().map_err(|e| io(e.into_error()))?.into_inner();
    file.sync_all().map_err(io)?;
    Ok(stats)
}

/// Writes a complete feed file into memory (tests, fuzz seeds, tools).
pub fn write_to_vec(spec: &FeedSpec, opts: &WriteOptions) -> Result<Vec<u8>, FeedError> {
    let (_, cur) = write_impl(
        spec,
        Cursor::new(Vec::new()),
        opts,
        Path::new("<memory>"),
        None,
    )?;
    Ok(cur.into_inner())
}

/// Writes `spec` to a temporary file beside `live`, fsyncs it, verifies it,
/// renames it over `live` and fsyncs the directory. On any error `live` is
/// untouched and the temporary file is removed. `spec` is dropped once
/// written: the verification reads the file, and holding every object
/// version beside it made the verification a compile's peak.
pub fn publish(spec: FeedSpec, live: &Path, opts: &WriteOptions) -> Result<WriteStats, FeedError> {
    let file_name = live.file_name().ok_or_else(|| FeedError::Invalid {
        path: live.to_path_buf(),
        what: "the live feed path has no file name".into(),
    })?;
    remove_stale_temps(live, &file_name.to_string_lossy());
    let mut tmp_name = file_name.to_os_string();
    tmp_name.push(format!(".tmp.{}", std::process::id()));
    let tmp = live.with_file_name(tmp_name);
    let result = (|| {
        let stats = write(&spec, &tmp, opts)?;
        drop(spec);
        files::trim_heap();
        Feed::open(&tmp)?.verify_with(super::Depth::Publish)?;
        files::rename_durably(&tmp, live).map_err(|e| FeedError::Io {
            path: live.to_path_buf(),
            source: e,
        })?;
        Ok(stats)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Removes `<live>.tmp.<pid>` files left by a publisher that was killed
/// (its process no longer exists), so crashes do not accumulate garbage
/// beside the live feed. A temp file of a running process is left alone.
fn remove_stale_temps(live: &Path, file_name: &str) {
    let dir = files::containing_dir(live);
    let Ok(entries) = fs::read_dir(&dir) else {
        return;
    };
    let prefix = format!("{file_name}.tmp.");
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(&prefix))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        let alive = pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists();
        if !alive {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// The section writer: tracks the position, the open section and its CRC.
struct Out<W> {
    w: W,
    pos: u64,
    start: u64,
    crc: u32,
    kind: Kind,
    coll: u32,
    rows: Vec<SectionRow>,
}

impl<W: Write> Out<W> {
    fn new(w: W) -> Self {
        Out {
            w,
            pos: 0,
            start: 0,
            crc: 0,
            kind: Kind::Meta,
            coll: NO_COLLECTION,
            rows: Vec::new(),
        }
    }

    fn pad8(&mut self) -> io::Result<()> {
        let pad = align8(self.pos) - self.pos;
        self.w.write_all(&[0u8; 8][..pad as usize])?;
        self.pos += pad;
        Ok(())
    }

    fn begin(&mut self, kind: Kind, coll: u32) -> io::Result<()> {
        self.pad8()?;
        self.start = self.pos;
        self.crc = 0;
        self.kind = kind;
        self.coll = coll;
        Ok(())
    }

    fn put(&mut self, b: &[u8]) -> io::Result<()> {
        self.crc = crc32c::crc32c_append(self.crc, b);
        self.w.write_all(b)?;
        self.pos += b.len() as u64;
        Ok(())
    }

    fn end(&mut self) {
        self.rows.push(SectionRow {
            kind: self.kind as u16,
            collection: self.coll,
            offset: self.start,
            len: self.pos - self.start,
            crc: self.crc,
        });
    }

    /// A whole section written elsewhere: `spool` holds one section (its
    /// offsets relative to its start) and its CRC.
    fn append(&mut self, spool: Out<Spool>) -> io::Result<()> {
        self.begin(spool.kind, spool.coll)?;
        let w = &mut self.w;
        let len = spool.w.finish()?.copy_to(|b| w.write_all(b))?;
        if len != spool.pos {
            return Err(io::Error::other(format!(
                "the page spool holds {len} bytes, {} were written to it",
                spool.pos
            )));
        }
        self.pos += len;
        self.crc = spool.crc;
        self.end();
        Ok(())
    }

    /// A whole section staged before the writer ran, its CRC computed as
    /// it is copied.
    fn staged(&mut self, kind: Kind, coll: u32, b: &Staged) -> io::Result<()> {
        self.begin(kind, coll)?;
        b.copy_to(|b| self.put(b))?;
        self.end();
        Ok(())
    }

    /// A whole section from one buffer.
    fn section(&mut self, kind: Kind, coll: u32, b: &[u8]) -> io::Result<()> {
        self.begin(kind, coll)?;
        self.put(b)?;
        self.end();
        Ok(())
    }
}

/// Writes the file and returns the writer (so callers can fsync it or take
/// the buffer). Default pages are spooled in `spool_dir` (in memory when
/// `None`).
fn write_impl<W: Write + Seek + Send>(
    spec: &FeedSpec,
    w: W,
    opts: &WriteOptions,
    name: &Path,
    spool_dir: Option<&Path>,
) -> Result<(WriteStats, W), FeedError> {
    let invalid = |what: String| FeedError::Invalid {
        path: name.to_path_buf(),
        what,
    };
    let io = |e| FeedError::Io {
        path: name.to_path_buf(),
        source: e,
    };
    let meta = &spec.meta;
    if meta.collections.len() != spec.collections.len() {
        return Err(invalid(format!(
            "cannot write: META lists {} collections but {} were given (they must be parallel)",
            meta.collections.len(),
            spec.collections.len()
        )));
    }
    if meta.page_size == 0 {
        return Err(invalid("cannot write: page_size must be at least 1".into()));
    }
    let key = key_from_hex(&meta.token_key)
        .map_err(|e| invalid(format!("cannot write: META token_key: {}", e.0)))?;

    let mut out = Out::new(w);
    out.w.write_all(&[0u8; HEADER_LEN]).map_err(io)?;
    out.pos = HEADER_LEN as u64;

    // Per collection, whether it mixes STIX 2.0 and 2.1 versions: the
    // server needs it on a collection's first request, and it is O(1) here
    // but a scan of the whole entry table there.
    let mixed_spec = spec
        .collections
        .iter()
        .map(|c| {
            let has = |v| c.objects.iter().any(|o| o.spec_version == v);
            has(super::SpecVersion::V20) && has(super::SpecVersion::V21)
        })
        .collect();
    let meta_json = serde_json::to_vec(&super::StoredMeta {
        meta: meta.clone(),
        mixed_spec: Some(mixed_spec),
    })
    .map_err(|e| invalid(format!("cannot serialize META: {e}")))?;
    out.section(Kind::Meta, NO_COLLECTION, &meta_json)
        .map_err(io)?;

    let mut stats = WriteStats::default();
    for (ci, (cm, cd)) in meta.collections.iter().zip(&spec.collections).enumerate() {
        write_collection(
            &mut out,
            ci,
            cm,
            cd,
            &key,
            meta.page_size as usize,
            opts,
            spool_dir,
            &mut stats,
        )
        .map_err(|e| match e {
            CollErr::Io(e) => io(e),
            CollErr::Invalid(what) => {
                invalid(format!("cannot write collection {ci} ({}): {what}", cm.id))
            }
        })?;
    }

    out.pad8().map_err(io)?;
    let table_offset = out.pos;
    let mut table = Vec::with_capacity(out.rows.len() * TABLE_ROW_LEN);
    for r in &out.rows {
        table.extend_from_slice(&r.encode());
    }
    out.w.write_all(&table).map_err(io)?;
    out.pos += table.len() as u64;
    let header = Header {
        version: FORMAT_VERSION,
        flags: 0,
        table_offset,
        table_len: table.len() as u64,
        table_crc: crc32c::crc32c(&table),
        section_count: out.rows.len() as u32,
        file_len: out.pos,
    };
    out.w.seek(SeekFrom::Start(0)).map_err(io)?;
    out.w.write_all(&header.encode()).map_err(io)?;
    out.w.flush().map_err(io)?;
    stats.bytes = out.pos;
    Ok((stats, out.w))
}

enum CollErr {
    Io(io::Error),
    Invalid(String),
}

impl From<io::Error> for CollErr {
    fn from(e: io::Error) -> Self {
        CollErr::Io(e)
    }
}

/// One compressed default page: gzip and zstd of the objects body and of
/// the manifest body, compressed here or copied from the previous
/// generation.
struct PageBlobs {
    first: usize,
    end: usize,
    blobs: [Bytes; 4],
    /// The blobs are the previous generation's (docs/decisions.md#d67).
    reused: bool,
}

/// Writes the sections of collection `ci` in FORMAT.md's order (after the
/// objects are checked and their entry fields worked out) and counts them
/// in `stats`. The default pages are built on the other workers, into a
/// spool in `spool_dir`, while this thread writes the sections before
/// them.
#[allow(clippy::too_many_arguments)]
fn write_collection<W: Write + Send>(
    out: &mut Out<W>,
    ci: usize,
    cm: &CollectionMeta,
    cd: &CollectionData,
    key: &[u8; 32],
    page_size: usize,
    opts: &WriteOptions,
    spool_dir: Option<&Path>,
    stats: &mut WriteStats,
) -> Result<(), CollErr> {
    let objs = &cd.objects;
    check_objects(objs)?;
    let table = EntryTable::build(objs)?;
    let w = CollectionWriter {
        c: ci as u32,
        cm,
        objs,
        key,
        page_size,
        opts,
    };
    let mut spool = Out::new(Spool::new(spool_dir)?);
    let (before, pages) = rayon::join(
        || -> Result<(), CollErr> {
            w.objects(out)?;
            let man_len = w.manifest(out)?;
            let hashes = w.entries(out, &table, &man_len)?;
            drop(man_len);
            w.id_index(out, hashes)?;
            w.types(out, &table.types)?;
            if objs.iter().any(|o| o.json20.is_some()) {
                w.objects20(out)?;
            }
            Ok(())
        },
        || w.default_pages(&mut spool, &table.flags, &cd.cuts),
    );
    before?;
    let (cuts, rows, pages) = pages?;
    out.append(spool)?;
    out.section(Kind::Pages, w.c, &rows)?;
    w.cuts(out, &cuts)?;
    out.staged(Kind::State, w.c, &cd.state)?;

    stats.objects += objs.len() as u64;
    stats.precompressed_pages += 2 * pages.written as u64;
    stats.pages_reused += 2 * pages.reused as u64;
    Ok(())
}

/// Checks what the reader relies on, with messages naming the object: ids
/// and types plain, JSON present and under 4 GiB, objects in entry order.
fn check_objects(objs: &[ObjectVersion]) -> Result<(), CollErr> {
    // In parallel (a million objects take a serial pass of ~0.1 s); the
    // first bad object by position is the one reported.
    match (0..objs.len())
        .into_par_iter()
        .find_map_first(|i| object_problem(objs, i))
    {
        Some(what) => Err(CollErr::Invalid(what)),
        None => Ok(()),
    }
}

/// What is wrong with object `i`, if anything (see [`check_objects`]).
fn object_problem(objs: &[ObjectVersion], i: usize) -> Option<String> {
    let o = &objs[i];
    if !plain_token(&o.id) {
        return Some(format!(
            "object {i} has id {:?}: ids must be 1-1024 printable ASCII characters without quotes or backslashes, like indicator--<uuid>",
            o.id
        ));
    }
    if !plain_token(&o.stix_type) {
        return Some(format!(
            "object {i} ({}) has an invalid type {:?}",
            o.id, o.stix_type
        ));
    }
    if o.json21.is_empty() || o.json21.len() > u32::MAX as usize {
        return Some(format!(
            "object {i} ({}) has an empty or over-long (4 GiB) JSON",
            o.id
        ));
    }
    if let Some(j) = &o.json20 {
        if j.is_empty() || j.len() > u32::MAX as usize {
            return Some(format!(
                "object {i} ({}) has an empty or over-long STIX 2.0 JSON",
                o.id
            ));
        }
    }
    if i > 0 && position(o) <= position(&objs[i - 1]) {
        let p = &objs[i - 1];
        return Some(format!(
            "objects are not sorted by (date_added, id, version) without repeats: object {i} ({} added {} version {}) does not sort after object {} ({} added {} version {})",
            o.id,
            crate::time::fmt_us(o.date_added_us),
            crate::time::fmt_us(o.version_us),
            i - 1,
            p.id,
            crate::time::fmt_us(p.date_added_us),
            crate::time::fmt_us(p.version_us),
        ));
    }
    None
}

/// The ENTRIES fields worked out over all of a collection's objects before
/// any section is written.
struct EntryTable<'a> {
    /// TYPES: the STIX type names, in order of first appearance.
    types: Vec<&'a str>,
    /// Per object, its index in `types`.
    type_ids: Vec<u16>,
    /// Per object, its `FLAG_FIRST`/`FLAG_LAST` bits.
    flags: Vec<u8>,
    /// Per object, its 1-based position among objects sharing its date_added.
    ranks: Vec<u32>,
}

impl<'a> EntryTable<'a> {
    /// Types, flags and ranks of `objs` (already checked).
    fn build(objs: &'a [ObjectVersion]) -> Result<EntryTable<'a>, CollErr> {
        let (types, type_ids) = type_table(objs)?;
        Ok(EntryTable {
            types,
            type_ids,
            flags: first_last_flags(objs),
            ranks: ranks(objs),
        })
    }
}

/// The type table, in order of first appearance, and each object's type id.
fn type_table(objs: &[ObjectVersion]) -> Result<(Vec<&str>, Vec<u16>), CollErr> {
    let mut types: Vec<&str> = Vec::new();
    let mut type_of: HashMap<&str, u16> = HashMap::new();
    let mut type_ids = Vec::with_capacity(objs.len());
    let mut last: Option<(&str, u16)> = None;
    for o in objs {
        let t = match last {
            // Runs of one type are the rule: no lookup for those.
            Some((name, t)) if name == &*o.stix_type => t,
            _ => match type_of.get(&*o.stix_type) {
                Some(t) => *t,
                None => {
                    let t = u16::try_from(types.len()).map_err(|_| {
                        CollErr::Invalid("more than 65536 distinct STIX types".into())
                    })?;
                    types.push(&o.stix_type);
                    type_of.insert(&o.stix_type, t);
                    t
                }
            },
        };
        last = Some((&o.stix_type, t));
        type_ids.push(t);
    }
    Ok((types, type_ids))
}

/// first/last flags: by version, ties by date_added, then by position.
///
/// The positions are sorted by (id, version, date_added, position), which
/// puts each id's first and last version at the ends of its run. A hash
/// map of every id took 33 bytes per bucket, 550 MB at ten million objects
/// and the compile's peak; the positions take 8 bytes per object.
fn first_last_flags(objs: &[ObjectVersion]) -> Vec<u8> {
    let key = |i: usize| {
        let o = &objs[i];
        (o.id.as_str(), o.version_us, o.date_added_us, i)
    };
    let mut order: Vec<usize> = (0..objs.len()).collect();
    order.par_sort_unstable_by(|&a, &b| key(a).cmp(&key(b)));
    let mut flags = vec![0u8; objs.len()];
    for run in order.chunk_by(|&a, &b| objs[a].id == objs[b].id) {
        flags[run[0]] |= FLAG_FIRST;
        flags[run[run.len() - 1]] |= FLAG_LAST;
    }
    flags
}

/// Ranks: 1-based positions within each run of equal date_added.
fn ranks(objs: &[ObjectVersion]) -> Vec<u32> {
    let mut ranks = vec![1u32; objs.len()];
    for i in 1..objs.len() {
        if objs[i].date_added_us == objs[i - 1].date_added_us {
            ranks[i] = ranks[i - 1].saturating_add(1);
        }
    }
    ranks
}

/// One collection being written: what its sections are built from.
struct CollectionWriter<'a> {
    /// The collection index the section table records.
    c: u32,
    /// Named in the pre-minted `next` tokens of default pages.
    cm: &'a CollectionMeta,
    objs: &'a [ObjectVersion],
    /// The token key of the feed.
    key: &'a [u8; 32],
    page_size: usize,
    opts: &'a WriteOptions,
}

impl<'a> CollectionWriter<'a> {
    /// OBJECTS: the STIX 2.1 JSON joined by ','. Each object's offset
    /// follows from the lengths before it ([`CollectionWriter::entries`]).
    fn objects<W: Write>(&self, out: &mut Out<W>) -> io::Result<()> {
        out.begin(Kind::Objects, self.c)?;
        for (i, o) in self.objs.iter().enumerate() {
            if i > 0 {
                out.put(b",")?;
                if i % RELEASE_EVERY == 0 {
                    release(self.opts);
                }
            }
            out.put(o.json21.as_bytes())?;
        }
        out.end();
        release(self.opts);
        Ok(())
    }

    /// MANIFEST: the manifest records joined by ','. Returns each record's
    /// length (its offset follows from the lengths before it): 4 bytes per
    /// object where offsets beside them took 16, at ten million objects
    /// while the id hashes are made.
    fn manifest<W: Write>(&self, out: &mut Out<W>) -> io::Result<Vec<u32>> {
        let mut man = Vec::with_capacity(self.objs.len());
        let mut scratch = String::with_capacity(256);
        out.begin(Kind::Manifest, self.c)?;
        for (i, o) in self.objs.iter().enumerate() {
            if i > 0 {
                out.put(b",")?;
            }
            scratch.clear();
            push_manifest(
                &mut scratch,
                &o.id,
                o.date_added_us,
                o.version_us,
                o.spec_version,
            );
            man.push(scratch.len() as u32);
            out.put(scratch.as_bytes())?;
        }
        out.end();
        Ok(man)
    }

    /// ENTRIES: one row per object. Returns the (id hash, entry) pairs
    /// IDINDEX is sorted from.
    fn entries<W: Write>(
        &self,
        out: &mut Out<W>,
        table: &EntryTable,
        man_len: &[u32],
    ) -> io::Result<Vec<(u64, u64)>> {
        out.begin(Kind::Entries, self.c)?;
        let mut hashes = Vec::with_capacity(self.objs.len());
        // Both sections join their records with one ','.
        let (mut obj_off, mut man_off) = (0u64, 0u64);
        for (i, o) in self.objs.iter().enumerate() {
            let h = id_hash(o.id.as_bytes());
            hashes.push((h, i as u64));
            let (obj_len, man_len) = (o.json21.len() as u32, man_len[i]);
            let e = RawEntry {
                date_added_us: o.date_added_us,
                version_us: o.version_us,
                id_hash: h,
                obj_off,
                man_off,
                obj_len,
                man_len,
                type_id: table.type_ids[i],
                spec: spec_code(o.spec_version),
                flags: table.flags[i],
                rank: table.ranks[i],
            };
            out.put(&e.encode())?;
            obj_off += u64::from(obj_len) + 1;
            man_off += u64::from(man_len) + 1;
        }
        out.end();
        Ok(hashes)
    }

    /// IDINDEX: the (hash, entry) pairs, sorted.
    fn id_index<W: Write>(&self, out: &mut Out<W>, mut hashes: Vec<(u64, u64)>) -> io::Result<()> {
        hashes.sort_unstable();
        out.begin(Kind::IdIndex, self.c)?;
        for (h, i) in &hashes {
            let mut row = [0u8; IDX_ROW_LEN];
            row[..8].copy_from_slice(&h.to_le_bytes());
            row[8..].copy_from_slice(&i.to_le_bytes());
            out.put(&row)?;
        }
        out.end();
        Ok(())
    }

    /// TYPES: a JSON array of names.
    fn types<W: Write>(&self, out: &mut Out<W>, types: &[&str]) -> Result<(), CollErr> {
        let types_json =
            serde_json::to_vec(types).map_err(|e| CollErr::Invalid(format!("types: {e}")))?;
        out.section(Kind::Types, self.c, &types_json)?;
        Ok(())
    }

    /// OBJECTS20 and OBJECTS20_INDEX: the STIX 2.0 forms joined by ',', and
    /// one index row per object (length 0 for those without one).
    fn objects20<W: Write>(&self, out: &mut Out<W>) -> io::Result<()> {
        let mut index = Vec::with_capacity(self.objs.len() * OBJ20_ROW_LEN);
        out.begin(Kind::Objects20, self.c)?;
        let base = out.pos;
        let mut any = false;
        for (i, o) in self.objs.iter().enumerate() {
            if i % RELEASE_EVERY == RELEASE_EVERY - 1 {
                release(self.opts);
            }
            let mut row = [0u8; OBJ20_ROW_LEN];
            if let Some(j) = &o.json20 {
                if any {
                    out.put(b",")?;
                }
                any = true;
                row[..8].copy_from_slice(&(out.pos - base).to_le_bytes());
                row[8..12].copy_from_slice(&(j.len() as u32).to_le_bytes());
                out.put(j.as_bytes())?;
            }
            index.extend_from_slice(&row);
        }
        out.end();
        release(self.opts);
        out.section(Kind::Objects20Index, self.c, &index)
    }

    /// PAGEDATA, alone in `out`: the default pages over the entries that
    /// carry the last flag, bounded by the previous generation's cuts
    /// (stable boundaries), built and compressed in parallel batches; a
    /// page whose body the previous generation already holds takes its
    /// compressed copies from there (docs/decisions.md#d67). Returns the
    /// boundaries, the PAGES rows and the page counts.
    fn default_pages<W: Write>(
        &self,
        out: &mut Out<W>,
        flags: &[u8],
        previous: &[Position],
    ) -> io::Result<(Vec<Position>, Vec<u8>, PageCounts)> {
        let lasts: Vec<usize> = (0..self.objs.len())
            .filter(|&i| flags[i] & FLAG_LAST != 0)
            .collect();
        let (cuts, pages) = plan_pages(self.objs, &lasts, previous, self.page_size);
        // The boundary page `p`'s `next` token names (none on the final page).
        let next = |p: usize| {
            pages[p]
                .end_cut
                .filter(|_| p + 1 < pages.len())
                .map(|k| &cuts[k])
        };
        let mut reuse = Reuse::new(self.opts.previous.as_deref(), self.cm, self.key);
        // Whether copies stand in for compression: decided on the first
        // page that could be copied (see `Reuse::trust`).
        let mut trusted = false;
        let mut counts = PageCounts {
            written: pages.len(),
            reused: 0,
        };
        let mut rows = Vec::with_capacity(pages.len() * PAGE_ROW_LEN);
        out.begin(Kind::PageData, self.c)?;
        let base = out.pos;
        for (bi, batch) in pages.chunks(PAGE_BATCH).enumerate() {
            let first = bi * PAGE_BATCH;
            // The previous page each page of the batch equals, if any.
            let found: Vec<Option<usize>> = match &reuse {
                Some(r) => batch
                    .par_iter()
                    .enumerate()
                    .map_init(String::new, |record, (j, page)| {
                        r.find(next(first + j), page.items, self.objs, record)
                    })
                    .collect(),
                None => vec![None; batch.len()],
            };
            if let (Some(r), false) = (&reuse, trusted) {
                if let Some((j, Some(q))) = found.iter().enumerate().find(|(_, q)| q.is_some()) {
                    let page = &batch[j];
                    let fresh = build_page(
                        self.cm,
                        self.objs,
                        page.items,
                        next(first + j),
                        self.key,
                        self.opts,
                        &mut PageScratch::default(),
                    )?;
                    trusted = r.trust(*q, &fresh.blobs);
                }
            }
            let built: Vec<io::Result<PageBlobs>> = batch
                .par_iter()
                .zip(&found)
                .enumerate()
                .map_init(PageScratch::default, |scratch, (j, (page, q))| {
                    let copies = reuse
                        .as_ref()
                        .zip(q.filter(|_| trusted))
                        .and_then(|(r, q)| r.copies(q));
                    match copies {
                        Some(blobs) => Ok(PageBlobs::copied(page.items, blobs)),
                        None => build_page(
                            self.cm,
                            self.objs,
                            page.items,
                            next(first + j),
                            self.key,
                            self.opts,
                            scratch,
                        ),
                    }
                })
                .collect();
            for (page, plan) in built.into_iter().zip(batch) {
                let page = page?;
                counts.reused += usize::from(page.reused);
                rows.extend_from_slice(&put_page(out, base, &page, plan.end_cut)?);
            }
            if let Some(r) = &reuse {
                r.release(previous_span(r, first..first + batch.len(), &next));
                if !trusted && found.iter().any(Option::is_some) {
                    // Refused: nothing more to compare.
                    reuse = None;
                }
            }
            release(self.opts);
        }
        out.end();
        Ok((cuts, rows, counts))
    }

    /// CUTS and CUTIDS: one row per boundary, and their ids concatenated.
    fn cuts<W: Write>(&self, out: &mut Out<W>, cuts: &[Position]) -> Result<(), CollErr> {
        let mut cut_rows = Vec::with_capacity(cuts.len() * CUT_ROW_LEN);
        let mut cut_ids = Vec::with_capacity(cuts.len() * 48);
        for cut in cuts {
            let id_len = u32::try_from(cut.id.len())
                .map_err(|_| CollErr::Invalid("a page boundary id is over 4 GiB".into()))?;
            let id_off = u32::try_from(cut_ids.len())
                .map_err(|_| CollErr::Invalid("page boundary ids exceed 4 GiB".into()))?;
            cut_rows.extend_from_slice(&cut.date_added_us.to_le_bytes());
            cut_rows.extend_from_slice(&cut.version_us.to_le_bytes());
            cut_rows.extend_from_slice(&id_off.to_le_bytes());
            cut_rows.extend_from_slice(&id_len.to_le_bytes());
            cut_ids.extend_from_slice(cut.id.as_bytes());
        }
        out.section(Kind::Cuts, self.c, &cut_rows)?;
        out.section(Kind::CutIds, self.c, &cut_ids)?;
        Ok(())
    }
}

/// What [`CollectionWriter::default_pages`] wrote.
struct PageCounts {
    /// Default pages (each has an objects and a manifest body).
    written: usize,
    /// Of those, the pages whose copies came from the previous generation.
    reused: usize,
}

impl PageBlobs {
    /// A page of `items` whose copies are the previous generation's.
    fn copied(items: &[usize], blobs: [Bytes; 4]) -> PageBlobs {
        PageBlobs {
            first: items[0],
            end: items[items.len() - 1] + 1,
            blobs,
            reused: true,
        }
    }
}

/// The previous pages that new pages `pages` were compared with: from the
/// first to the last that has a candidate.
fn previous_span<'p>(
    reuse: &Reuse,
    pages: Range<usize>,
    next: &dyn Fn(usize) -> Option<&'p Position>,
) -> Range<usize> {
    let mut found = pages.filter_map(|p| reuse.candidate(next(p)));
    let Some(first) = found.next() else {
        return 0..0;
    };
    let (lo, hi) = found.fold((first, first), |(lo, hi), q| (lo.min(q), hi.max(q)));
    lo..hi + 1
}

/// Appends one built page's four blobs to PAGEDATA (which starts at file
/// offset `base`) and returns its PAGES row.
fn put_page<W: Write>(
    out: &mut Out<W>,
    base: u64,
    page: &PageBlobs,
    end_cut: Option<usize>,
) -> io::Result<[u8; PAGE_ROW_LEN]> {
    let mut row = [0u8; PAGE_ROW_LEN];
    row[0..8].copy_from_slice(&(page.first as u64).to_le_bytes());
    row[8..16].copy_from_slice(&(page.end as u64).to_le_bytes());
    for (s, blob) in page.blobs.iter().enumerate() {
        let at = 16 + s * 16;
        row[at..at + 8].copy_from_slice(&(out.pos - base).to_le_bytes());
        row[at + 8..at + 16].copy_from_slice(&(blob.len() as u64).to_le_bytes());
        out.put(blob)?;
    }
    let end_cut = end_cut.map_or(NO_CUT, |k| k as u64);
    row[80..88].copy_from_slice(&end_cut.to_le_bytes());
    Ok(row)
}

/// The sort key of an object version (the order of the entry table).
fn position(o: &ObjectVersion) -> (i64, &str, i64) {
    (o.date_added_us, &o.id, o.version_us)
}

fn position_of(o: &ObjectVersion) -> Position {
    Position {
        date_added_us: o.date_added_us,
        id: o.id.clone(),
        version_us: o.version_us,
    }
}

/// One default page as planned: the entries it returns and the index (in
/// the new cut list) of the boundary that ends it, if any.
pub(crate) struct PagePlan<'a> {
    pub items: &'a [usize],
    pub end_cut: Option<usize>,
}

/// Lays out the default pages of a collection with stable boundaries.
///
/// A *cut* is a keyset position that ends a page; the next page starts
/// after it, and its `next` token is that position. Every cut of the
/// previous generation is kept (in order), so:
/// - a page whose entries did not change between two cuts keeps its exact
///   bytes, its `next` token and (in a static export) its file name;
/// - a page that lost entries (superseded, revoked away, dropped) shrinks
///   but keeps its boundaries; one that lost them all is simply not
///   materialized, and a token naming its cut resumes at the next page;
/// - entries after the last cut (new versions, which sort after everything
///   older) fill new pages of `page_size`, each closed by a new cut at its
///   last entry, so only the tail page changes from one run to the next;
/// - a span between two cuts that holds more than `page_size` entries (only
///   imported data with old date_added values can grow one) is split by new
///   cuts.
///
/// `lasts` are the indices of the entries a default page returns (the last
/// version of each object), ascending.
pub(crate) fn plan_pages<'a>(
    objs: &[ObjectVersion],
    lasts: &'a [usize],
    previous: &[Position],
    page_size: usize,
) -> (Vec<Position>, Vec<PagePlan<'a>>) {
    let mut prev: Vec<&Position> = previous.iter().collect();
    prev.sort();
    prev.dedup();
    let mut cuts: Vec<Position> = Vec::with_capacity(prev.len() + lasts.len() / page_size + 1);
    let mut pages: Vec<PagePlan<'a>> = Vec::with_capacity(lasts.len() / page_size + 1);
    // Splits `group` into pages; the last one ends at `end` when given.
    let mut close = |group: &'a [usize], end: Option<&Position>, cuts: &mut Vec<Position>| {
        let mut chunks = group.chunks(page_size).peekable();
        while let Some(chunk) = chunks.next() {
            let last_chunk = chunks.peek().is_none();
            let end_cut = match (last_chunk, end) {
                (true, Some(end)) => {
                    cuts.push(end.clone());
                    Some(cuts.len() - 1)
                }
                (true, None) if chunk.len() < page_size => None,
                _ => {
                    cuts.push(position_of(&objs[chunk[chunk.len() - 1]]));
                    Some(cuts.len() - 1)
                }
            };
            pages.push(PagePlan {
                items: chunk,
                end_cut,
            });
        }
        if group.is_empty() {
            if let Some(end) = end {
                cuts.push(end.clone());
            }
        }
    };
    let mut start = 0;
    let mut pi = 0;
    for (k, &i) in lasts.iter().enumerate() {
        let key = position(&objs[i]);
        while pi < prev.len() && as_key(prev[pi]) < key {
            close(&lasts[start..k], Some(prev[pi]), &mut cuts);
            start = k;
            pi += 1;
        }
    }
    while pi < prev.len() {
        close(&lasts[start..], Some(prev[pi]), &mut cuts);
        start = lasts.len();
        pi += 1;
    }
    close(&lasts[start..], None, &mut cuts);
    (cuts, pages)
}

fn as_key(p: &Position) -> (i64, &str, i64) {
    (p.date_added_us, &p.id, p.version_us)
}

/// The buffers a page is built in, kept from page to page (a page body is
/// ~60 KB: allocating it per page showed in the profile).
#[derive(Default)]
struct PageScratch {
    body: Vec<u8>,
    /// One manifest record.
    record: String,
}

/// Builds the objects and manifest bodies of one default page (the exact
/// bytes documented in FORMAT.md) and compresses each both ways.
fn build_page(
    cm: &CollectionMeta,
    objs: &[ObjectVersion],
    items: &[usize],
    next: Option<&Position>,
    key: &[u8; 32],
    opts: &WriteOptions,
    scratch: &mut PageScratch,
) -> io::Result<PageBlobs> {
    let (first, last) = match (items.first(), items.last()) {
        (Some(f), Some(l)) => (*f, *l),
        _ => return Err(io::Error::other("empty default page")),
    };
    let mut blobs: [Bytes; 4] = Default::default();
    let PageScratch { body, record } = scratch;
    for kind in [PageKind::Objects, PageKind::Manifest] {
        let token = next.map(|cut| page_token(kind, &cm.api_root, &cm.id, cut, key));
        body.clear();
        body.reserve(
            64 + items
                .iter()
                .map(|&i| {
                    if kind == PageKind::Objects {
                        objs[i].json21.len() + 1
                    } else {
                        160
                    }
                })
                .sum::<usize>(),
        );
        push_page_head(body, token.as_deref());
        for (k, &i) in items.iter().enumerate() {
            if k > 0 {
                body.push(b',');
            }
            let o = &objs[i];
            match kind {
                PageKind::Objects => body.extend_from_slice(o.json21.as_bytes()),
                PageKind::Manifest => {
                    record.clear();
                    push_manifest(record, &o.id, o.date_added_us, o.version_us, o.spec_version);
                    body.extend_from_slice(record.as_bytes());
                }
            }
        }
        body.extend_from_slice(PAGE_TAIL);
        let slot = blob_slot(kind, super::Coding::Gzip);
        blobs[slot] = gzip(body, opts.gzip_level)?.into();
        blobs[slot + 1] = zstd(body, opts.zstd_level)?.into();
    }
    Ok(PageBlobs {
        first,
        end: last + 1,
        blobs,
        reused: false,
    })
}

/// A single gzip member with mtime 0 (deterministic bytes), by libdeflate:
/// whole-buffer compression of a page at level 6 runs ~1.7x faster than
/// zlib-rs and is slightly smaller (docs/decisions.md#d30). The compressor
/// (~1 MB of state) and its output buffer (the bound is larger than the
/// input, and zeroing a fresh one per page showed in the profile) are kept
/// per thread.
pub(crate) fn gzip(data: &[u8], level: u32) -> io::Result<Vec<u8>> {
    use libdeflater::{CompressionLvl, Compressor};
    use std::cell::RefCell;
    thread_local! {
        static COMPRESSOR: RefCell<Option<(u32, Compressor, Vec<u8>)>> = const { RefCell::new(None) };
    }
    COMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.as_ref().is_none_or(|(l, ..)| *l != level) {
            let lvl = CompressionLvl::new(level.min(12) as i32)
                .map_err(|e| io::Error::other(format!("gzip level {level}: {e:?}")))?;
            *slot = Some((level, Compressor::new(lvl), Vec::new()));
        }
        let Some((_, c, out)) = slot.as_mut() else {
            return Err(io::Error::other("no gzip compressor"));
        };
        let bound = c.gzip_compress_bound(data.len());
        if out.len() < bound {
            out.resize(bound, 0);
        }
        let n = c
            .gzip_compress(data, out)
            .map_err(|e| io::Error::other(format!("gzip: {e:?}")))?;
        Ok(out[..n].to_vec())
    })
}

/// A zstd frame of `data` at `level`, by a compression context kept per
/// thread (the server compresses answers on the fly with it; creating a
/// context per call allocates and initializes its tables every time).
pub(crate) fn zstd(data: &[u8], level: i32) -> io::Result<Vec<u8>> {
    use std::cell::RefCell;
    thread_local! {
        static CONTEXT: RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> =
            const { RefCell::new(None) };
    }
    CONTEXT.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.as_ref().is_none_or(|(l, _)| *l != level) {
            *slot = Some((level, zstd::bulk::Compressor::new(level)?));
        }
        let Some((_, c)) = slot.as_mut() else {
            return Err(io::Error::other("no zstd compressor"));
        };
        c.compress(data)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The compressor state and buffers kept per thread give the bytes a
    /// fresh compressor gives, whatever was compressed before: copies of
    /// unchanged pages (docs/decisions.md#d67) are compared against them.
    #[test]
    fn kept_compressors_give_the_bytes_of_fresh_ones() {
        let big: Vec<u8> = (0..200_000u32)
            .flat_map(|i| format!("{{\"n\":{},\"s\":\"{}\"}},", i % 977, i * 7919).into_bytes())
            .collect();
        for data in [
            &big[..],
            b"{\"more\":false,\"objects\":[]}",
            &big[..5000],
            &big[1..],
        ] {
            let fresh_zstd = zstd::bulk::compress(data, 3).unwrap();
            assert_eq!(super::zstd(data, 3).unwrap(), fresh_zstd);
            let mut c = libdeflater::Compressor::new(libdeflater::CompressionLvl::new(6).unwrap());
            let mut out = vec![0; c.gzip_compress_bound(data.len())];
            let n = c.gzip_compress(data, &mut out).unwrap();
            assert_eq!(gzip(data, 6).unwrap(), &out[..n]);
        }
    }
}
