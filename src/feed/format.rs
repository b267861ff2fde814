//! The byte layout of a feed file, shared by the writer, the reader and the
//! verifier so that the three can never disagree (FORMAT.md documents the
//! same layout for humans).
//!
//! Everything is little-endian. Fixed-width tables start on 8-byte
//! boundaries so a reader could view them as aligned arrays; we decode with
//! `from_le_bytes` on byte slices anyway, which costs nothing on x86/ARM and
//! keeps the reader free of `unsafe`.

use super::token::{Endpoint, PageToken, Position};
use super::{PageKind, SpecVersion};
use crate::time;

/// `\x89TXFEED\n`: the high byte and the newline catch 7-bit and text-mode
/// transfers (the PNG trick), the letters make `head -c8` readable.
pub(crate) const MAGIC: [u8; 8] = *b"\x89TXFEED\n";
/// The layout version this build writes and reads.
pub(crate) const FORMAT_VERSION: u32 = 2;
/// Bytes of the fixed header at offset 0.
pub(crate) const HEADER_LEN: usize = 64;
/// Bytes of one section-table row.
pub(crate) const TABLE_ROW_LEN: usize = 32;
/// Bytes of one ENTRIES row.
pub(crate) const ENTRY_LEN: usize = 56;
/// Bytes of one IDINDEX row: id hash, entry index.
pub(crate) const IDX_ROW_LEN: usize = 16;
/// Bytes of one OBJECTS20_INDEX row: offset, length, reserved.
pub(crate) const OBJ20_ROW_LEN: usize = 16;
/// Bytes of one PAGES row: first entry, end entry, then (offset, length)
/// for objects/gzip, objects/zstd, manifest/gzip, manifest/zstd, then the
/// index in CUTS of the boundary that ends the page ([`NO_CUT`] for the
/// last page).
pub(crate) const PAGE_ROW_LEN: usize = 88;
/// Bytes of one CUTS row: date_added, version, then (offset, length) of the
/// id in CUTIDS.
pub(crate) const CUT_ROW_LEN: usize = 24;
/// `end_cut` of a page that has no boundary after it.
pub(crate) const NO_CUT: u64 = u64::MAX;
/// The `collection` field of rows that belong to the whole file.
pub(crate) const NO_COLLECTION: u32 = u32::MAX;
/// Entry flag bits.
pub(crate) const FLAG_FIRST: u8 = 1;
pub(crate) const FLAG_LAST: u8 = 2;
/// Sanity bounds applied at open, so a corrupted count cannot make us
/// allocate wildly.
pub(crate) const MAX_SECTIONS: u64 = 1 << 20;
pub(crate) const MAX_META_LEN: u64 = 64 << 20;
pub(crate) const MAX_TYPES_LEN: u64 = 16 << 20;

/// Section kinds (the `kind` field of a table row).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Kind {
    Meta = 1,
    Entries = 2,
    Objects = 3,
    Manifest = 4,
    IdIndex = 5,
    Types = 6,
    Objects20 = 7,
    Objects20Index = 8,
    PageData = 9,
    Pages = 10,
    State = 11,
    Cuts = 12,
    CutIds = 13,
}

impl Kind {
    pub(crate) const ALL: [Kind; 13] = [
        Kind::Meta,
        Kind::Entries,
        Kind::Objects,
        Kind::Manifest,
        Kind::IdIndex,
        Kind::Types,
        Kind::Objects20,
        Kind::Objects20Index,
        Kind::PageData,
        Kind::Pages,
        Kind::State,
        Kind::Cuts,
        Kind::CutIds,
    ];

    pub(crate) fn from_code(c: u16) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| *k as u16 == c)
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Meta => "META",
            Kind::Entries => "ENTRIES",
            Kind::Objects => "OBJECTS",
            Kind::Manifest => "MANIFEST",
            Kind::IdIndex => "IDINDEX",
            Kind::Types => "TYPES",
            Kind::Objects20 => "OBJECTS20",
            Kind::Objects20Index => "OBJECTS20_INDEX",
            Kind::PageData => "PAGEDATA",
            Kind::Pages => "PAGES",
            Kind::State => "STATE",
            Kind::Cuts => "CUTS",
            Kind::CutIds => "CUTIDS",
        }
    }

    /// Row width of fixed-width tables (which must be 8-aligned).
    pub(crate) fn row_len(self) -> Option<usize> {
        match self {
            Kind::Entries => Some(ENTRY_LEN),
            Kind::IdIndex => Some(IDX_ROW_LEN),
            Kind::Objects20Index => Some(OBJ20_ROW_LEN),
            Kind::Pages => Some(PAGE_ROW_LEN),
            Kind::Cuts => Some(CUT_ROW_LEN),
            _ => None,
        }
    }
}

/// One decoded section-table row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SectionRow {
    pub kind: u16,
    pub collection: u32,
    pub offset: u64,
    pub len: u64,
    pub crc: u32,
}

impl SectionRow {
    pub(crate) fn encode(&self) -> [u8; TABLE_ROW_LEN] {
        let mut b = [0u8; TABLE_ROW_LEN];
        b[0..2].copy_from_slice(&self.kind.to_le_bytes());
        b[4..8].copy_from_slice(&self.collection.to_le_bytes());
        b[8..16].copy_from_slice(&self.offset.to_le_bytes());
        b[16..24].copy_from_slice(&self.len.to_le_bytes());
        b[24..28].copy_from_slice(&self.crc.to_le_bytes());
        b
    }

    pub(crate) fn decode(b: &[u8]) -> SectionRow {
        SectionRow {
            kind: u16::from_le_bytes([b[0], b[1]]),
            collection: rd_u32(b, 4),
            offset: rd_u64(b, 8),
            len: rd_u64(b, 16),
            crc: rd_u32(b, 24),
        }
    }
}

/// The fixed header, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub version: u32,
    pub flags: u32,
    pub table_offset: u64,
    pub table_len: u64,
    pub table_crc: u32,
    pub section_count: u32,
    pub file_len: u64,
}

impl Header {
    pub(crate) fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..8].copy_from_slice(&MAGIC);
        b[8..12].copy_from_slice(&self.version.to_le_bytes());
        b[12..16].copy_from_slice(&self.flags.to_le_bytes());
        b[16..24].copy_from_slice(&self.table_offset.to_le_bytes());
        b[24..32].copy_from_slice(&self.table_len.to_le_bytes());
        b[32..36].copy_from_slice(&self.table_crc.to_le_bytes());
        b[36..40].copy_from_slice(&self.section_count.to_le_bytes());
        b[40..48].copy_from_slice(&self.file_len.to_le_bytes());
        let crc = crc32c::crc32c(&b[..60]);
        b[60..64].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Decodes the fields (the caller checks magic and checksum first).
    pub(crate) fn decode(b: &[u8]) -> Header {
        Header {
            version: rd_u32(b, 8),
            flags: rd_u32(b, 12),
            table_offset: rd_u64(b, 16),
            table_len: rd_u64(b, 24),
            table_crc: rd_u32(b, 32),
            section_count: rd_u32(b, 36),
            file_len: rd_u64(b, 40),
        }
    }
}

/// One ENTRIES row, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RawEntry {
    pub date_added_us: i64,
    pub version_us: i64,
    pub id_hash: u64,
    pub obj_off: u64,
    pub man_off: u64,
    pub obj_len: u32,
    pub man_len: u32,
    pub type_id: u16,
    pub spec: u8,
    pub flags: u8,
    pub rank: u32,
}

impl RawEntry {
    pub(crate) fn encode(&self) -> [u8; ENTRY_LEN] {
        let mut b = [0u8; ENTRY_LEN];
        b[0..8].copy_from_slice(&self.date_added_us.to_le_bytes());
        b[8..16].copy_from_slice(&self.version_us.to_le_bytes());
        b[16..24].copy_from_slice(&self.id_hash.to_le_bytes());
        b[24..32].copy_from_slice(&self.obj_off.to_le_bytes());
        b[32..40].copy_from_slice(&self.man_off.to_le_bytes());
        b[40..44].copy_from_slice(&self.obj_len.to_le_bytes());
        b[44..48].copy_from_slice(&self.man_len.to_le_bytes());
        b[48..50].copy_from_slice(&self.type_id.to_le_bytes());
        b[50] = self.spec;
        b[51] = self.flags;
        b[52..56].copy_from_slice(&self.rank.to_le_bytes());
        b
    }

    /// `b` must hold at least [`ENTRY_LEN`] bytes.
    #[inline]
    pub(crate) fn decode(b: &[u8]) -> RawEntry {
        RawEntry {
            date_added_us: rd_u64(b, 0) as i64,
            version_us: rd_u64(b, 8) as i64,
            id_hash: rd_u64(b, 16),
            obj_off: rd_u64(b, 24),
            man_off: rd_u64(b, 32),
            obj_len: rd_u32(b, 40),
            man_len: rd_u32(b, 44),
            type_id: u16::from_le_bytes([b[48], b[49]]),
            spec: b[50],
            flags: b[51],
            rank: rd_u32(b, 52),
        }
    }
}

pub(crate) fn spec_code(v: SpecVersion) -> u8 {
    match v {
        SpecVersion::V20 => 20,
        SpecVersion::V21 => 21,
    }
}

pub(crate) fn spec_from_code(c: u8) -> Option<SpecVersion> {
    match c {
        20 => Some(SpecVersion::V20),
        21 => Some(SpecVersion::V21),
        _ => None,
    }
}

#[inline]
pub(crate) fn rd_u64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

#[inline]
pub(crate) fn rd_u32(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

/// xxh3-64 of an object id: the IDINDEX key and `Entry::id_hash`.
#[inline]
pub(crate) fn id_hash(id: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(id)
}

/// Whether `s` may be written unescaped inside a JSON string and used as an
/// id or type name: printable ASCII other than `"` and `\`. STIX ids
/// (`type--uuid`) and type names always are; refusing anything else lets the
/// manifest records and the id lookup work on raw bytes.
pub(crate) fn plain_token(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 1024
        && s.bytes()
            .all(|c| (0x21..=0x7e).contains(&c) && c != b'"' && c != b'\\')
}

/// Appends one manifest record, exactly:
/// `{"id":"…","date_added":"…","version":"…","media_type":"application/stix+json;version=2.x"}`.
pub(crate) fn push_manifest(
    out: &mut String,
    id: &str,
    date_added_us: i64,
    version_us: i64,
    spec: SpecVersion,
) {
    out.push_str("{\"id\":\"");
    out.push_str(id);
    out.push_str("\",\"date_added\":\"");
    time::push_us(out, date_added_us);
    out.push_str("\",\"version\":\"");
    time::push_version(out, version_us);
    out.push_str("\",\"media_type\":\"application/stix+json;version=");
    out.push_str(spec.as_str());
    out.push_str("\"}");
}

/// The start of a default page's body, up to and including `[`.
pub(crate) fn push_page_head(out: &mut Vec<u8>, next: Option<&str>) {
    match next {
        Some(t) => {
            out.extend_from_slice(b"{\"more\":true,\"next\":\"");
            out.extend_from_slice(t.as_bytes());
            out.extend_from_slice(b"\",\"objects\":[");
        }
        None => out.extend_from_slice(b"{\"more\":false,\"objects\":["),
    }
}

/// The end of a default page's body.
pub(crate) const PAGE_TAIL: &[u8] = b"]}";

/// The `next` token embedded in a default page that is not the last one:
/// the boundary `cut` that ends the page.
pub(crate) fn page_token(
    kind: PageKind,
    api_root: &str,
    collection: &str,
    cut: &Position,
    key: &[u8; 32],
) -> String {
    PageToken {
        endpoint: match kind {
            PageKind::Objects => Endpoint::Objects,
            PageKind::Manifest => Endpoint::Manifest,
        },
        api_root: api_root.to_string(),
        collection: collection.to_string(),
        object_id: None,
        filters: String::new(),
        limit: 0,
        after: cut.clone(),
    }
    .encode(key)
}

/// Index of a (kind, coding) pair among the four blobs of a PAGES row.
pub(crate) fn blob_slot(kind: PageKind, coding: super::Coding) -> usize {
    match (kind, coding) {
        (PageKind::Objects, super::Coding::Gzip) => 0,
        (PageKind::Objects, super::Coding::Zstd) => 1,
        (PageKind::Manifest, super::Coding::Gzip) => 2,
        (PageKind::Manifest, super::Coding::Zstd) => 3,
    }
}

/// Rounds up to a multiple of 8.
pub(crate) fn align8(x: u64) -> u64 {
    x.div_ceil(8) * 8
}
