//! The feed file: one immutable, checksummed file per generation holding
//! everything the edge server needs, pre-serialized (see FORMAT.md).
//!
//! - [`write`] builds a file from fully decided objects (date_added already
//!   assigned by the compiler) and [`publish`] makes it live atomically.
//! - [`Feed::open`] memory-maps a file in O(1) (header and section-table
//!   checks only); [`Feed::verify`] checks every checksum and invariant.
//! - [`token`] is the pagination-token format: it is part of the feed
//!   contract because the writer pre-mints the `next` tokens embedded in the
//!   precompressed default pages, and the server must mint byte-identical
//!   ones.
//!
//! API contract (the server and the compiler are written against it):
//! every byte range handed out is a [`bytes::Bytes`] slice of the mapping,
//! so it keeps the mapping alive and costs a refcount bump.

mod format;
mod inspect;
mod json;
mod reader;
mod reuse;
mod staged;
pub mod token;
mod verify;
mod writer;

/// For the static exporter: the same page tokens and compression as the
/// writer's.
pub(crate) use format::{id_hash, page_token};
pub use inspect::{inspect, CollectionReport, InspectReport, PageReport, SectionReport, TypeCount};
pub use json::Json;
pub use reader::{CollectionFeed, Feed};
pub(crate) use staged::Spool;
pub use staged::Staged;
pub use token::Position;
pub use verify::Depth;
pub(crate) use writer::{gzip, zstd};
pub use writer::{publish, write, write_to_vec};

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// STIX spec version of one stored object version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum SpecVersion {
    #[serde(rename = "2.0")]
    V20,
    #[serde(rename = "2.1")]
    V21,
}

impl SpecVersion {
    /// `"2.0"` or `"2.1"`.
    pub fn as_str(self) -> &'static str {
        match self {
            SpecVersion::V20 => "2.0",
            SpecVersion::V21 => "2.1",
        }
    }
}

/// Why a feed file was refused. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Not a feed file, wrong version, truncated, checksum mismatch, broken
    /// invariant: `what` says which, in words a user can act on.
    #[error("{path}: {what}")]
    Invalid { path: PathBuf, what: String },
}

/// Server-facing description of the feed, stored as JSON in the META
/// section (small, parsed once at open).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FeedMeta {
    /// Random 128-bit id of this generation, hex.
    pub generation: String,
    /// Creation time, µs since the epoch.
    pub created_us: i64,
    /// Discovery `title`.
    pub title: String,
    pub description: Option<String>,
    pub contact: Option<String>,
    pub api_roots: Vec<ApiRootMeta>,
    pub collections: Vec<CollectionMeta>,
    /// Page size of the default (and precompressed) pages.
    pub page_size: u32,
    /// MAC key of pagination tokens, hex (32 bytes). Carried over from the
    /// previous generation so tokens survive a regeneration.
    pub token_key: String,
    /// What the compile that wrote this generation read, for the web
    /// console's overview (docs/decisions.md#d68); `None` in feeds written
    /// before it was recorded, and in feeds not written by `compile`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compile: Option<CompileRecord>,
}

/// The part of a compile's summary a generation keeps (META `compile`,
/// FORMAT.md): records read, usable and rejected, per input file and per
/// reason. Informative only: nothing the server answers over TAXII
/// depends on it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CompileRecord {
    pub records_read: u64,
    pub records_ok: u64,
    /// Rejected records per reason.
    #[serde(default)]
    pub rejected: std::collections::BTreeMap<String, u64>,
    /// Records merged with another copy of the same indicator or object.
    #[serde(default)]
    pub duplicates: u64,
    #[serde(default)]
    pub files: Vec<InputRecord>,
    /// What decided this generation's content (binary, config, flags,
    /// input files): a compile with the same fingerprint, before
    /// `stable_until_us`, publishes nothing (docs/decisions.md#d70).
    /// Absent when a query reads `now()`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// The first instant (µs) at which a decision of this generation taken
    /// from the clock would go the other way (an indicator expiring under
    /// `drop_expired`, a tombstone's retention ending); absent when none
    /// was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stable_until_us: Option<i64>,
}

/// One input file of [`CompileRecord`].
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct InputRecord {
    pub path: String,
    /// The input profile it was read with (`native`, `threatconnect`…).
    pub profile: String,
    pub bytes: u64,
    pub records: u64,
    pub rejected: u64,
}

/// The META section as stored: [`FeedMeta`] plus what the writer derives
/// from the objects (absent in files written before it existed).
#[derive(Serialize, Deserialize)]
pub(crate) struct StoredMeta {
    #[serde(flatten)]
    pub meta: FeedMeta,
    /// Per collection: whether it holds both STIX 2.0 and 2.1 versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mixed_spec: Option<Vec<bool>>,
}

/// One API root.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ApiRootMeta {
    pub name: String,
    pub title: String,
    pub description: Option<String>,
    pub default: bool,
}

/// One collection as the server describes it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CollectionMeta {
    /// UUID, lower-case.
    pub id: String,
    pub alias: Option<String>,
    pub title: String,
    pub description: Option<String>,
    /// Name of its API root.
    pub api_root: String,
    /// `"2.1"` and/or `"2.0"`.
    pub taxii_versions: Vec<String>,
}

/// A STIX type name, shared: a feed holds a handful of types and
/// millions of objects, and a `String` per object took 56 bytes of each.
pub type TypeName = std::sync::Arc<str>;

/// The shared [`TypeName`] of `name`: one allocation per type name and
/// thread.
pub fn type_name(name: &str) -> TypeName {
    use std::cell::RefCell;
    use std::collections::HashSet;
    thread_local! {
        static NAMES: RefCell<HashSet<TypeName>> = RefCell::new(HashSet::new());
    }
    NAMES.with(|names| {
        let mut names = names.borrow_mut();
        if let Some(n) = names.get(name) {
            return n.clone();
        }
        let n = TypeName::from(name);
        names.insert(n.clone());
        n
    })
}

/// One object version handed to the writer.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectVersion {
    /// `type--uuid`.
    pub id: String,
    /// STIX `type`.
    pub stix_type: TypeName,
    pub spec_version: SpecVersion,
    /// `modified` (or `created`), µs; the TAXII "version".
    pub version_us: i64,
    /// Unique within the collection together with the order of the list.
    pub date_added_us: i64,
    /// Compact JSON of the STIX 2.1 serialization (or the object as given,
    /// for passthrough objects).
    pub json21: Json,
    /// Compact JSON of the STIX 2.0 serialization, for collections that
    /// offer TAXII 2.0.
    pub json20: Option<Json>,
}

/// One collection handed to the writer.
#[derive(Debug, Clone, Default)]
pub struct CollectionData {
    /// Sorted by `date_added_us` ascending (ties: any fixed order, kept).
    pub objects: Vec<ObjectVersion>,
    /// Opaque compiler state carried to the next generation (stable
    /// date_added, epochs, tombstones). Stored and checksummed, never read
    /// by the server. Staged in a file beside the output at scale.
    pub state: Staged,
    /// The default-page boundaries of the previous generation (empty for a
    /// first one). The writer keeps every one of them, so pages whose
    /// objects did not change keep their bytes and `next` tokens; see
    /// [`writer::plan_pages`].
    pub cuts: Vec<Position>,
}

/// Everything one generation holds.
#[derive(Debug, Clone)]
pub struct FeedSpec {
    pub meta: FeedMeta,
    /// Parallel to `meta.collections`.
    pub collections: Vec<CollectionData>,
}

/// Knobs of the writer.
#[derive(Debug, Clone)]
pub struct WriteOptions {
    pub zstd_level: i32,
    pub gzip_level: u32,
    /// Called behind each pass over the objects' JSON (every few thousand
    /// objects, and after each batch of default pages): a caller whose JSON
    /// lives in mapped files drops their resident pages there, so writing
    /// does not make them resident all at once. `None`: nothing to release.
    pub release: Option<ReleaseHook>,
    /// The previous generation: a default page whose body has not changed
    /// takes its compressed copies from it instead of being compressed
    /// again (docs/decisions.md#d67). `None`: every page is compressed.
    pub previous: Option<std::sync::Arc<Feed>>,
}

/// See [`WriteOptions::release`].
#[derive(Clone)]
pub struct ReleaseHook(pub std::sync::Arc<dyn Fn() + Send + Sync>);

impl std::fmt::Debug for ReleaseHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReleaseHook")
    }
}

/// What the writer produced.
#[derive(Debug, Clone, Default, Serialize)]
pub struct WriteStats {
    pub bytes: u64,
    pub objects: u64,
    pub precompressed_pages: u64,
    /// Of `precompressed_pages`, those whose compressed copies were copied
    /// from the previous generation ([`WriteOptions::previous`]).
    pub pages_reused: u64,
}

/// One row of a collection's entry table, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub date_added_us: i64,
    pub version_us: i64,
    /// xxh3-64 of the object id string.
    pub id_hash: u64,
    /// Index into [`CollectionFeed::types`].
    pub type_id: u16,
    pub spec_version: SpecVersion,
    /// This is the earliest version of its id in the collection.
    pub first: bool,
    /// This is the latest version of its id in the collection.
    pub last: bool,
}

/// Content codings of precompressed pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    Gzip,
    Zstd,
}

/// Which list resource a page belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageKind {
    Objects,
    Manifest,
}
