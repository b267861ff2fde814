//! The feed reader: memory-maps a feed file and hands out zero-copy slices.
//!
//! Opening is O(1) in the file size: header, section table, META and TYPES
//! are checked (all small); the big sections are only bounds-checked, and
//! their checksums are left to [`Feed::verify`], which `publish` runs before
//! a file can go live. Accessors therefore never trust the big sections
//! blindly: a corrupted offset yields an empty slice, never a panic.

use super::format::*;
use super::token::{key_from_hex, Position};
use super::{Coding, CollectionMeta, Entry, FeedError, FeedMeta, PageKind, SpecVersion};
use crate::files::{self, release_pages, shared_bytes};
use bytes::Bytes;
use std::collections::HashSet;
use std::fs::File;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// An open, memory-mapped feed generation. Cheap to share (`Arc<Feed>`).
pub struct Feed {
    /// Named in every error, so an operator knows which generation failed.
    pub(crate) path: PathBuf,
    /// The whole file; every slice handed out keeps the mapping alive.
    pub(crate) bytes: Bytes,
    pub(crate) meta: FeedMeta,
    /// Decoded once from `meta.token_key`, so the server never parses hex
    /// per request.
    pub(crate) token_key: [u8; 32],
    pub(crate) collections: Vec<CollectionFeed>,
    /// The section table as stored (verify re-checks every checksum).
    pub(crate) sections: Vec<SectionRow>,
    /// The mapping behind `bytes` when the feed was opened from a file
    /// (`None` for bytes already in memory): [`Feed::release`] uses it.
    mapping: Option<Arc<memmap2::Mmap>>,
}

impl std::fmt::Debug for Feed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Feed")
            .field("path", &self.path)
            .field("generation", &self.meta.generation)
            .finish_non_exhaustive()
    }
}

/// One collection's view into the mapping.
pub struct CollectionFeed {
    pub(crate) index: usize,
    /// Entry count (ENTRIES length / row width, checked at open).
    pub(crate) n: usize,
    pub(crate) entries: Bytes,
    pub(crate) objects: Bytes,
    pub(crate) manifest: Bytes,
    pub(crate) idindex: Bytes,
    pub(crate) types: Vec<String>,
    /// Empty when no object has a STIX 2.0 serialization.
    pub(crate) objects20: Bytes,
    pub(crate) objects20_index: Bytes,
    pub(crate) has_objects20: bool,
    pub(crate) pagedata: Bytes,
    pub(crate) pages: Bytes,
    pub(crate) state: Bytes,
    /// Page boundaries: fixed rows, ids in `cut_ids`.
    pub(crate) cuts: Bytes,
    pub(crate) cut_ids: Bytes,
    /// Whether it mixes STIX 2.0 and 2.1 versions, as the writer recorded
    /// it (`None` in files written before that).
    pub(crate) mixed_spec: Option<bool>,
}

fn invalid(path: &Path, what: impl Into<String>) -> FeedError {
    FeedError::Invalid {
        path: path.to_path_buf(),
        what: what.into(),
    }
}

/// Maps the feed file as `Bytes` and returns a second handle to the
/// mapping for [`Feed::release`].
fn map(path: &Path) -> Result<(Bytes, Arc<memmap2::Mmap>), FeedError> {
    let io = |e| FeedError::Io {
        path: path.to_path_buf(),
        source: e,
    };
    let file = File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    if len == 0 {
        return Err(invalid(
            path,
            "the file is empty (not a taxii-edge feed file, or truncated to nothing)",
        ));
    }
    // SAFETY: feed files are written under a temporary name and renamed
    // into place, never modified in place.
    let mmap = Arc::new(unsafe { files::map(&file) }.map_err(io)?);
    Ok((shared_bytes(Arc::clone(&mmap)), mmap))
}

impl Feed {
    /// Memory-maps and checks header and section table (O(1) in the size).
    pub fn open(path: &Path) -> Result<Feed, FeedError> {
        let (bytes, mapping) = map(path)?;
        let mut feed = Feed::from_bytes(bytes, path)?;
        feed.mapping = Some(mapping);
        Ok(feed)
    }

    /// Drops this process's resident pages of `range` (file offsets) of a
    /// mapped feed; the next access reads them again from the page cache.
    /// Whole-file passes (verify, a compile reading its previous
    /// generation) call it behind them, so they do not keep a file-sized
    /// resident set. A no-op for feeds held in memory.
    pub fn release(&self, range: Range<usize>) {
        if let Some(m) = &self.mapping {
            release_pages(m, range);
        }
    }

    /// [`Feed::release`] of the whole file.
    pub fn release_all(&self) {
        self.release(0..self.bytes.len());
    }

    /// The file's mapping (`None` for a feed held in memory), for a caller
    /// that keeps slices of it past its own use of the feed and releases
    /// their pages behind its own passes (a compile reusing objects of its
    /// previous generation).
    pub(crate) fn mapping(&self) -> Option<Arc<memmap2::Mmap>> {
        self.mapping.clone()
    }

    /// The whole file.
    pub(crate) fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// The file range of a slice of this feed's bytes (empty when `part`
    /// is not inside them).
    pub(crate) fn range_of(&self, part: &[u8]) -> Range<usize> {
        let base = self.bytes.as_ptr() as usize;
        let at = part.as_ptr() as usize;
        if at < base || at + part.len() > base + self.bytes.len() {
            return 0..0;
        }
        at - base..at - base + part.len()
    }

    /// The same checks over bytes already in memory (tests, fuzzing), in
    /// FORMAT.md's order: header, section table, META, then each collection.
    pub fn from_bytes(bytes: Bytes, name: &Path) -> Result<Feed, FeedError> {
        let header = read_header(&bytes, name)?;
        let sections = read_section_table(&bytes, &header, name)?;
        check_section_layout(&sections, header.table_offset, name)?;
        let index = SectionIndex {
            bytes: &bytes,
            rows: &sections,
            name,
        };
        let (meta, mixed_spec) = index.meta()?;
        let token_key = key_from_hex(&meta.token_key)
            .map_err(|e| invalid(name, format!("META token_key: {}", e.0)))?;
        index.check_collection_numbers(meta.collections.len())?;
        let collections = meta
            .collections
            .iter()
            .enumerate()
            .map(|(ci, cm)| index.collection(ci, cm, mixed_spec.get(ci).copied()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Feed {
            path: name.to_path_buf(),
            bytes,
            meta,
            token_key,
            collections,
            sections,
            mapping: None,
        })
    }

    /// The parsed META section.
    pub fn meta(&self) -> &FeedMeta {
        &self.meta
    }

    /// Collections, parallel to `meta().collections`.
    pub fn collections(&self) -> &[CollectionFeed] {
        &self.collections
    }

    /// The file this feed was opened from (named in errors and logs).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The pagination-token MAC key of this feed (decoded `token_key`). A
    /// configured `server.token_secret` overrides it
    /// ([`super::token::key_from_secret`]).
    pub fn token_key(&self) -> &[u8; 32] {
        &self.token_key
    }

    /// Size of the file in bytes.
    pub fn file_len(&self) -> u64 {
        self.bytes.len() as u64
    }

    /// Index of the collection with this id or alias under `api_root`.
    pub fn find_collection(&self, api_root: &str, id_or_alias: &str) -> Option<usize> {
        let cs = &self.meta.collections;
        cs.iter()
            .position(|c| c.api_root == api_root && c.id == id_or_alias)
            .or_else(|| {
                cs.iter()
                    .position(|c| c.api_root == api_root && c.alias.as_deref() == Some(id_or_alias))
            })
    }
}

// The phases of `Feed::from_bytes`, in FORMAT.md's order.

/// Header: magic, length, version, checksum, flags, and where the table lies.
fn read_header(b: &[u8], name: &Path) -> Result<Header, FeedError> {
    check_magic(b, name)?;
    let len = b.len() as u64;
    if b.len() < HEADER_LEN {
        return Err(invalid(
            name,
            format!(
                "truncated: the file is {len} bytes, shorter than the {HEADER_LEN}-byte header"
            ),
        ));
    }
    check_version(rd_u32(b, 8), name)?;
    let stored = rd_u32(b, 60);
    let computed = crc32c::crc32c(&b[..60]);
    if stored != computed {
        return Err(invalid(
            name,
            format!("header checksum mismatch (stored {stored:08x}, computed {computed:08x}): the file is corrupted"),
        ));
    }
    let h = Header::decode(b);
    if h.flags != 0 {
        return Err(invalid(
            name,
            format!(
                "unknown header flags {:#x}: written by a newer taxii-edge?",
                h.flags
            ),
        ));
    }
    check_table_placement(&h, len, name)?;
    Ok(h)
}

/// Header bytes 0..8: the magic, or a message saying what the file is not.
fn check_magic(b: &[u8], name: &Path) -> Result<(), FeedError> {
    if b.len() >= MAGIC.len() && b[..MAGIC.len()] == MAGIC {
        return Ok(());
    }
    if b.len() < MAGIC.len() && MAGIC.starts_with(b) {
        return Err(invalid(
            name,
            format!("truncated: the file is only {} bytes", b.len()),
        ));
    }
    let shown: Vec<u8> = b.iter().take(8).copied().collect();
    Err(invalid(
        name,
        format!(
            "not a taxii-edge feed file (magic {:?}, expected {:?}); was it written by `taxii-edge compile`?",
            String::from_utf8_lossy(&shown),
            String::from_utf8_lossy(&MAGIC)
        ),
    ))
}

/// Header bytes 8..12: exactly the format version this build reads.
fn check_version(version: u32, name: &Path) -> Result<(), FeedError> {
    if version > FORMAT_VERSION {
        return Err(invalid(
            name,
            format!("format version {version} is newer than this build supports ({FORMAT_VERSION}): upgrade taxii-edge"),
        ));
    }
    if version != FORMAT_VERSION {
        return Err(invalid(
            name,
            format!("format version {version} is not supported by this build (it reads {FORMAT_VERSION}): recompile the feed"),
        ));
    }
    Ok(())
}

/// Header fields 16..48: the table lies in the file, after the header,
/// 8-aligned, sized for its rows, and the file has the length it records.
fn check_table_placement(h: &Header, len: u64, name: &Path) -> Result<(), FeedError> {
    let table_end = h
        .table_offset
        .checked_add(h.table_len)
        .ok_or_else(|| invalid(name, "corrupted header: section table bounds overflow"))?;
    if table_end > len {
        return Err(invalid(
            name,
            format!("truncated: section table ends at {table_end} but file is {len} bytes"),
        ));
    }
    if h.file_len != len {
        return Err(invalid(
            name,
            format!(
                "the file is {len} bytes but its header says {}: truncated or appended to",
                h.file_len
            ),
        ));
    }
    if h.table_offset < HEADER_LEN as u64 || h.table_offset % 8 != 0 {
        return Err(invalid(
            name,
            format!(
                "corrupted header: section table offset {} is invalid",
                h.table_offset
            ),
        ));
    }
    if u64::from(h.section_count) > MAX_SECTIONS
        || h.table_len != u64::from(h.section_count) * TABLE_ROW_LEN as u64
    {
        return Err(invalid(
            name,
            format!(
                "corrupted header: {} sections do not fit a {}-byte table",
                h.section_count, h.table_len
            ),
        ));
    }
    Ok(())
}

/// Section table: its checksum, then its rows decoded.
fn read_section_table(b: &[u8], h: &Header, name: &Path) -> Result<Vec<SectionRow>, FeedError> {
    let table = &b[h.table_offset as usize..(h.table_offset + h.table_len) as usize];
    let computed = crc32c::crc32c(table);
    if computed != h.table_crc {
        return Err(invalid(
            name,
            format!(
                "section table checksum mismatch (stored {:08x}, computed {computed:08x}): the file is corrupted",
                h.table_crc
            ),
        ));
    }
    Ok(table
        .chunks_exact(TABLE_ROW_LEN)
        .map(SectionRow::decode)
        .collect())
}

/// Section table rows: every section known, inside the data area
/// (`HEADER_LEN..data_end`), aligned, listed once, not overlapping.
fn check_section_layout(
    sections: &[SectionRow],
    data_end: u64,
    name: &Path,
) -> Result<(), FeedError> {
    let mut seen = HashSet::new();
    let mut spans = Vec::with_capacity(sections.len());
    for (i, s) in sections.iter().enumerate() {
        let (kind, end) = check_section_row(i, s, data_end, name)?;
        if !seen.insert((s.kind, s.collection)) {
            let label = section_label(kind, s.collection);
            return Err(invalid(name, format!("{label} appears twice")));
        }
        if s.len > 0 {
            spans.push((s.offset, end, i));
        }
    }
    spans.sort_unstable();
    for w in spans.windows(2) {
        if w[0].1 > w[1].0 {
            let (a, b2) = (&sections[w[0].2], &sections[w[1].2]);
            return Err(invalid(
                name,
                format!(
                    "{} overlaps {}: corrupted section table",
                    section_label(Kind::from_code(a.kind).unwrap_or(Kind::Meta), a.collection),
                    section_label(
                        Kind::from_code(b2.kind).unwrap_or(Kind::Meta),
                        b2.collection
                    )
                ),
            ));
        }
    }
    Ok(())
}

/// Section table row `i` on its own: a known kind, inside the data area,
/// whole aligned rows, owned by the file (META) or a collection (the rest).
/// Returns its kind and where it ends.
fn check_section_row(
    i: usize,
    s: &SectionRow,
    data_end: u64,
    name: &Path,
) -> Result<(Kind, u64), FeedError> {
    let kind = Kind::from_code(s.kind).ok_or_else(|| {
        invalid(
            name,
            format!(
                "section {i} has unknown kind {}: written by a newer taxii-edge?",
                s.kind
            ),
        )
    })?;
    let label = section_label(kind, s.collection);
    let end = s
        .offset
        .checked_add(s.len)
        .ok_or_else(|| invalid(name, format!("{label}: bounds overflow")))?;
    if s.offset < HEADER_LEN as u64 || end > data_end {
        return Err(invalid(
            name,
            format!(
                "{label} spans bytes {}..{end}, outside the data area {HEADER_LEN}..{data_end}: truncated or corrupted",
                s.offset
            ),
        ));
    }
    if let Some(w) = kind.row_len() {
        if s.offset % 8 != 0 || s.len % w as u64 != 0 {
            return Err(invalid(
                name,
                format!("{label} is not a whole number of {w}-byte rows at an 8-byte boundary"),
            ));
        }
    }
    if (kind == Kind::Meta) != (s.collection == NO_COLLECTION) {
        return Err(invalid(
            name,
            format!("{label}: META must belong to the file, every other section to a collection"),
        ));
    }
    Ok((kind, end))
}

/// The section table once its layout is checked, over the file's bytes:
/// how the META and collection phases find and slice their sections.
struct SectionIndex<'a> {
    bytes: &'a Bytes,
    rows: &'a [SectionRow],
    /// Named in every error.
    name: &'a Path,
}

impl<'a> SectionIndex<'a> {
    /// The row of `kind` for collection `coll` (`NO_COLLECTION`: the file's).
    fn find(&self, kind: Kind, coll: u32) -> Option<&'a SectionRow> {
        self.rows
            .iter()
            .find(|s| s.kind == kind as u16 && s.collection == coll)
    }

    /// A section's bytes (in bounds: the layout was checked).
    fn slice(&self, s: &SectionRow) -> Bytes {
        self.bytes
            .slice(s.offset as usize..(s.offset + s.len) as usize)
    }

    /// A small section parsed at open: at most `limit` bytes, checksummed.
    fn checked(&self, s: &SectionRow, kind: Kind, limit: u64) -> Result<Bytes, FeedError> {
        let label = section_label(kind, s.collection);
        if s.len > limit {
            return Err(invalid(
                self.name,
                format!("{label} is {} bytes, more than the {limit} allowed", s.len),
            ));
        }
        let data = self.slice(s);
        let computed = crc32c::crc32c(&data);
        if computed != s.crc {
            return Err(invalid(
                self.name,
                format!("{label} checksum mismatch (stored {:08x}, computed {computed:08x}): the file is corrupted", s.crc),
            ));
        }
        Ok(data)
    }

    /// META: present, checksummed, parsed, with a page size; returns the
    /// metadata and the per-collection `mixed_spec` (empty when not stored).
    fn meta(&self) -> Result<(FeedMeta, Vec<bool>), FeedError> {
        let name = self.name;
        let meta_row = self
            .find(Kind::Meta, NO_COLLECTION)
            .ok_or_else(|| invalid(name, "no META section"))?;
        let meta_bytes = self.checked(meta_row, Kind::Meta, MAX_META_LEN)?;
        let stored: super::StoredMeta = serde_json::from_slice(&meta_bytes).map_err(|e| {
            invalid(
                name,
                format!("META section is not valid feed metadata: {e}"),
            )
        })?;
        if stored.meta.page_size == 0 {
            return Err(invalid(name, "META page_size is 0"));
        }
        Ok((stored.meta, stored.mixed_spec.unwrap_or_default()))
    }

    /// Every section's collection number is one of the `count` META lists.
    fn check_collection_numbers(&self, count: usize) -> Result<(), FeedError> {
        for s in self.rows {
            if s.collection != NO_COLLECTION && s.collection as usize >= count {
                return Err(invalid(
                    self.name,
                    format!(
                        "a section belongs to collection {} but META lists only {count} collections",
                        s.collection
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Collection `ci`: its sections present, the ENTRIES-parallel tables
    /// sized for its entries, TYPES parsed.
    fn collection(
        &self,
        ci: usize,
        cm: &CollectionMeta,
        mixed_spec: Option<bool>,
    ) -> Result<CollectionFeed, FeedError> {
        let need = |kind| self.need(kind, ci, cm);
        let entries = self.slice(need(Kind::Entries)?);
        let n = entries.len() / ENTRY_LEN;
        let idindex = self.slice(need(Kind::IdIndex)?);
        if idindex.len() != n * IDX_ROW_LEN {
            return Err(invalid(
                self.name,
                format!(
                    "collection {ci} ({}): IDINDEX has {} rows for {n} entries",
                    cm.id,
                    idindex.len() / IDX_ROW_LEN
                ),
            ));
        }
        let types = self.types(need(Kind::Types)?, ci, cm)?;
        let (objects20, objects20_index, has_objects20) = self.objects20(ci, cm, n)?;
        Ok(CollectionFeed {
            index: ci,
            n,
            entries,
            objects: self.slice(need(Kind::Objects)?),
            manifest: self.slice(need(Kind::Manifest)?),
            idindex,
            types,
            objects20,
            objects20_index,
            has_objects20,
            pagedata: self.slice(need(Kind::PageData)?),
            pages: self.slice(need(Kind::Pages)?),
            state: self.slice(need(Kind::State)?),
            cuts: self.slice(need(Kind::Cuts)?),
            cut_ids: self.slice(need(Kind::CutIds)?),
            mixed_spec,
        })
    }

    /// The `kind` section of collection `ci`, which every collection has.
    fn need(
        &self,
        kind: Kind,
        ci: usize,
        cm: &CollectionMeta,
    ) -> Result<&'a SectionRow, FeedError> {
        self.find(kind, ci as u32).ok_or_else(|| {
            invalid(
                self.name,
                format!("collection {ci} ({}) has no {} section", cm.id, kind.name()),
            )
        })
    }

    /// TYPES of collection `ci`: checksummed, a JSON list of names.
    fn types(
        &self,
        row: &SectionRow,
        ci: usize,
        cm: &CollectionMeta,
    ) -> Result<Vec<String>, FeedError> {
        let types_bytes = self.checked(row, Kind::Types, MAX_TYPES_LEN)?;
        serde_json::from_slice(&types_bytes).map_err(|e| {
            invalid(
                self.name,
                format!(
                    "collection {ci} ({}): TYPES is not a JSON list of names: {e}",
                    cm.id
                ),
            )
        })
    }

    /// OBJECTS20 and OBJECTS20_INDEX of collection `ci`: both or neither,
    /// the index one row per entry. Returns (objects, index, present).
    fn objects20(
        &self,
        ci: usize,
        cm: &CollectionMeta,
        n: usize,
    ) -> Result<(Bytes, Bytes, bool), FeedError> {
        let c = ci as u32;
        match (
            self.find(Kind::Objects20, c),
            self.find(Kind::Objects20Index, c),
        ) {
            (Some(d), Some(i)) => {
                let idx = self.slice(i);
                if idx.len() != n * OBJ20_ROW_LEN {
                    return Err(invalid(
                        self.name,
                        format!(
                            "collection {ci} ({}): OBJECTS20_INDEX has {} rows for {n} entries",
                            cm.id,
                            idx.len() / OBJ20_ROW_LEN
                        ),
                    ));
                }
                Ok((self.slice(d), idx, true))
            }
            (None, None) => Ok((Bytes::new(), Bytes::new(), false)),
            _ => Err(invalid(
                self.name,
                format!(
                    "collection {ci} ({}): OBJECTS20 and OBJECTS20_INDEX must come together",
                    cm.id
                ),
            )),
        }
    }
}

/// `"ENTRIES of collection 2"`: how errors name a section.
pub(crate) fn section_label(kind: Kind, coll: u32) -> String {
    if coll == NO_COLLECTION {
        format!("section {}", kind.name())
    } else {
        format!("section {} of collection {coll}", kind.name())
    }
}

/// `b[off..off+len]`, or empty if that is out of bounds (corrupted file).
fn slice_checked(b: &Bytes, off: u64, len: u64) -> Bytes {
    match off.checked_add(len) {
        Some(end) if end <= b.len() as u64 => b.slice(off as usize..end as usize),
        _ => Bytes::new(),
    }
}

impl CollectionFeed {
    /// Number of entries (object versions).
    pub fn len(&self) -> usize {
        self.n
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Position of this collection in `meta().collections`.
    pub fn index(&self) -> usize {
        self.index
    }

    #[inline]
    pub(crate) fn raw(&self, i: usize) -> RawEntry {
        RawEntry::decode(&self.entries[i * ENTRY_LEN..(i + 1) * ENTRY_LEN])
    }

    /// Entry `i` (0-based, date_added order). Panics if `i >= len()`, like
    /// slice indexing.
    pub fn entry(&self, i: usize) -> Entry {
        let r = self.raw(i);
        Entry {
            date_added_us: r.date_added_us,
            version_us: r.version_us,
            id_hash: r.id_hash,
            type_id: r.type_id,
            spec_version: spec_from_code(r.spec).unwrap_or(SpecVersion::V21),
            first: r.flags & FLAG_FIRST != 0,
            last: r.flags & FLAG_LAST != 0,
        }
    }

    /// date_added of entry `i` (reads 8 bytes; for binary searches).
    #[inline]
    pub fn date_added(&self, i: usize) -> i64 {
        rd_u64(&self.entries, i * ENTRY_LEN) as i64
    }

    /// 1-based position of entry `i` within the run of entries sharing its
    /// date_added (diagnostics; tokens hold a [`Position`]).
    pub fn rank(&self, i: usize) -> u32 {
        rd_u32(&self.entries, i * ENTRY_LEN + 52)
    }

    /// The keyset position of entry `i`.
    pub fn position(&self, i: usize) -> Position {
        let r = self.raw(i);
        Position {
            date_added_us: r.date_added_us,
            id: self.id_of(i).to_string(),
            version_us: r.version_us,
        }
    }

    /// STIX type names; `Entry::type_id` indexes this.
    pub fn types(&self) -> &[String] {
        &self.types
    }

    /// The type id of a STIX type name, if any entry has that type.
    pub fn type_id(&self, name: &str) -> Option<u16> {
        self.types.iter().position(|t| t == name).map(|p| p as u16)
    }

    /// The STIX 2.1 JSON of entry `i`.
    pub fn object_bytes(&self, i: usize) -> Bytes {
        let r = self.raw(i);
        slice_checked(&self.objects, r.obj_off, u64::from(r.obj_len))
    }

    /// The manifest record of entry `i`.
    pub fn manifest_bytes(&self, i: usize) -> Bytes {
        let r = self.raw(i);
        slice_checked(&self.manifest, r.man_off, u64::from(r.man_len))
    }

    /// Whether the collection holds both STIX 2.0 and 2.1 versions, as
    /// stored by the writer (`None`: not stored, scan the entries).
    pub fn mixed_spec(&self) -> Option<bool> {
        self.mixed_spec
    }

    /// The STIX id of entry `i`, read from its manifest record (which starts
    /// with `{"id":"<id>"`); empty if the file is corrupted.
    pub fn id_of(&self, i: usize) -> &str {
        let r = self.raw(i);
        let start = match r.man_off.checked_add(7) {
            Some(s) if s <= self.manifest.len() as u64 => s as usize,
            _ => return "",
        };
        let end = start
            .saturating_add(r.man_len as usize)
            .min(self.manifest.len());
        let rest = &self.manifest[start..end];
        match memchr::memchr(b'"', rest) {
            Some(q) => std::str::from_utf8(&rest[..q]).unwrap_or(""),
            None => "",
        }
    }

    /// The STIX 2.1 JSON of entries `from..to` joined by `,` (one slice).
    /// Empty when the range is empty or out of bounds.
    pub fn objects_run(&self, from: usize, to: usize) -> Bytes {
        if from >= to || to > self.n {
            return Bytes::new();
        }
        let (a, b) = (self.raw(from), self.raw(to - 1));
        let end = b.obj_off.saturating_add(u64::from(b.obj_len));
        if end < a.obj_off {
            return Bytes::new();
        }
        slice_checked(&self.objects, a.obj_off, end - a.obj_off)
    }

    /// The manifest records of entries `from..to` joined by `,`.
    pub fn manifest_run(&self, from: usize, to: usize) -> Bytes {
        if from >= to || to > self.n {
            return Bytes::new();
        }
        let (a, b) = (self.raw(from), self.raw(to - 1));
        let end = b.man_off.saturating_add(u64::from(b.man_len));
        if end < a.man_off {
            return Bytes::new();
        }
        slice_checked(&self.manifest, a.man_off, end - a.man_off)
    }

    /// Whether the collection stores STIX 2.0 serializations.
    pub fn has_objects20(&self) -> bool {
        self.has_objects20
    }

    fn obj20(&self, i: usize) -> (u64, u64) {
        if !self.has_objects20 {
            return (0, 0);
        }
        let at = i * OBJ20_ROW_LEN;
        (
            rd_u64(&self.objects20_index, at),
            u64::from(rd_u32(&self.objects20_index, at + 8)),
        )
    }

    /// Whether entry `i` has a STIX 2.0 serialization (reads the index row
    /// only; the TAXII 2.0 walk asks this for every candidate entry).
    pub fn has_object20(&self, i: usize) -> bool {
        i < self.n && self.obj20(i).1 > 0
    }

    /// The STIX 2.0 JSON of entry `i`, if it has one.
    pub fn object20_bytes(&self, i: usize) -> Option<Bytes> {
        let (off, len) = self.obj20(i);
        if len == 0 {
            return None;
        }
        Some(slice_checked(&self.objects20, off, len))
    }

    /// The STIX 2.0 JSON of those entries in `from..to` that have one,
    /// joined by `,` (one slice: entries without a 2.0 form take no bytes).
    pub fn objects20_run(&self, from: usize, to: usize) -> Bytes {
        if !self.has_objects20 || from >= to || to > self.n {
            return Bytes::new();
        }
        let first = (from..to).find(|&i| self.obj20(i).1 > 0);
        let last = (from..to).rev().find(|&i| self.obj20(i).1 > 0);
        match (first, last) {
            (Some(f), Some(l)) => {
                let (a, (b, blen)) = (self.obj20(f).0, self.obj20(l));
                let end = b.saturating_add(blen);
                if end < a {
                    return Bytes::new();
                }
                slice_checked(&self.objects20, a, end - a)
            }
            _ => Bytes::new(),
        }
    }

    /// First entry index whose date_added is strictly later than `t`.
    pub fn first_after(&self, t: i64) -> usize {
        self.partition(|d| d <= t)
    }

    /// First entry index whose date_added is `t` or later.
    pub fn first_at_or_after(&self, t: i64) -> usize {
        self.partition(|d| d < t)
    }

    /// Where a `next` token resumes: the first entry that sorts after `p`
    /// (which need not be an entry of this generation).
    pub fn resume_after(&self, p: &Position) -> usize {
        let (mut lo, mut hi) = (
            self.first_at_or_after(p.date_added_us),
            self.first_after(p.date_added_us),
        );
        // Same date_added: ordered by (id, version).
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let k = (self.id_of(mid), self.raw(mid).version_us);
            if k <= (p.id.as_str(), p.version_us) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// The first index whose date_added fails `pred` (dates are sorted).
    fn partition(&self, pred: impl Fn(i64) -> bool) -> usize {
        let (mut lo, mut hi) = (0, self.n);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if pred(self.date_added(mid)) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// Entry indices of every version of `id`, ascending.
    pub fn versions_of(&self, id: &str) -> Vec<usize> {
        let h = id_hash(id.as_bytes());
        let rows = self.idindex.len() / IDX_ROW_LEN;
        let hash_at = |r: usize| rd_u64(&self.idindex, r * IDX_ROW_LEN);
        let (mut lo, mut hi) = (0, rows);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if hash_at(mid) < h {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let mut out = Vec::new();
        let mut r = lo;
        while r < rows && hash_at(r) == h {
            let i = rd_u64(&self.idindex, r * IDX_ROW_LEN + 8);
            // Compare the real id: xxh3 collisions are possible.
            if i < self.n as u64 && self.id_of(i as usize) == id {
                out.push(i as usize);
            }
            r += 1;
        }
        out.sort_unstable();
        out
    }

    /// Number of default pages (the same for objects and manifest); 0 for
    /// an empty collection.
    pub fn default_page_count(&self) -> usize {
        self.pages.len() / PAGE_ROW_LEN
    }

    /// The entries default page `page` spans: from its first item to one
    /// past its last item (entries in between without the `last` flag are
    /// not part of the page).
    pub fn default_page_entries(&self, page: usize) -> Option<Range<usize>> {
        if page >= self.default_page_count() {
            return None;
        }
        let at = page * PAGE_ROW_LEN;
        let (first, end) = (rd_u64(&self.pages, at), rd_u64(&self.pages, at + 8));
        (first < end && end <= self.n as u64).then_some(first as usize..end as usize)
    }

    /// The default page a walk starting at entry `i` falls in: the first
    /// page that ends after `i`.
    pub fn page_at(&self, i: usize) -> Option<usize> {
        let count = self.default_page_count();
        let end_at = |p: usize| rd_u64(&self.pages, p * PAGE_ROW_LEN + 8);
        let (mut lo, mut hi) = (0, count);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if end_at(mid) <= i as u64 {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        (lo < count).then_some(lo)
    }

    /// The boundary that ends default page `page`: what its `next` token
    /// holds. `None` for the last page (which has no `next`) and for a
    /// corrupted index.
    pub fn page_end_cut(&self, page: usize) -> Option<Position> {
        if page + 1 >= self.default_page_count() {
            return None;
        }
        let k = rd_u64(&self.pages, page * PAGE_ROW_LEN + 80);
        usize::try_from(k).ok().and_then(|k| self.cut(k))
    }

    /// Number of page boundaries (every boundary any generation drew).
    pub fn cut_count(&self) -> usize {
        self.cuts.len() / CUT_ROW_LEN
    }

    /// Page boundary `k`, in order.
    pub fn cut(&self, k: usize) -> Option<Position> {
        if k >= self.cut_count() {
            return None;
        }
        let at = k * CUT_ROW_LEN;
        let (off, len) = (
            u64::from(rd_u32(&self.cuts, at + 16)),
            u64::from(rd_u32(&self.cuts, at + 20)),
        );
        let id = slice_checked(&self.cut_ids, off, len);
        Some(Position {
            date_added_us: rd_u64(&self.cuts, at) as i64,
            version_us: rd_u64(&self.cuts, at + 8) as i64,
            id: std::str::from_utf8(&id).ok()?.to_string(),
        })
    }

    /// Every page boundary, in order (what the next generation keeps).
    pub fn cuts(&self) -> Vec<Position> {
        (0..self.cut_count()).filter_map(|k| self.cut(k)).collect()
    }

    /// The precompressed body of default page `page` (0-based), if stored.
    pub fn precompressed(&self, kind: PageKind, page: usize, coding: Coding) -> Option<Bytes> {
        if page >= self.default_page_count() {
            return None;
        }
        let at = page * PAGE_ROW_LEN + 16 + blob_slot(kind, coding) * 16;
        let (off, len) = (rd_u64(&self.pages, at), rd_u64(&self.pages, at + 8));
        let b = slice_checked(&self.pagedata, off, len);
        (!b.is_empty()).then_some(b)
    }

    /// The compiler state carried between generations.
    pub fn state(&self) -> Bytes {
        self.state.clone()
    }
}
