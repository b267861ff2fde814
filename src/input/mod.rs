//! Reading exports: discover files, map or decompress them, sniff or force
//! the profile, split into chunks at record boundaries, parse in parallel.
//!
//! The shape follows the cost: a plain file is memory-mapped (no copy); a
//! `.gz` / `.zst` file is decompressed into memory once. The container is
//! then split into records by a byte scanner ([`chunk`]) in one cheap
//! sequential pass, and the records are parsed in parallel with rayon and
//! simd-json, each copied into a per-worker buffer that is reused (simd-json
//! parses in place, and the mapping is read-only). Results are collected in
//! input order, so the output is the same whatever the parallelism: files in
//! the order given, records by position.
//!
//! A record is never dropped silently: each one read ends up either in
//! [`ReadOutcome::records`] or in [`ReadOutcome::rejects`] with a reason.
//! Whole-file problems (unreadable, corrupt compression, not JSON, unknown
//! container or format) are an [`InputError`] naming the file.
//!
//! # Containers (detected from content, whatever the profile)
//! | content | `container` |
//! |---|---|
//! | one JSON value per line (blank lines skipped, CRLF allowed) | `ndjson` |
//! | `[ ... ]` | `array` |
//! | `{"data": [ ... ]}` (ThreatConnect page) | `data` |
//! | `{"data": { ... }}` (ThreatConnect single record) | `data-object` |
//! | `{"iocs": [ ... ]}` (XSOAR `searchIndicators`; `null` = empty) | `iocs` |
//! | `{"iocObjects": [ ... ]}` (XSOAR REST search) | `iocObjects` |
//! | `{"type": "bundle", "objects": [ ... ]}` | `bundle` |
//! | medallion `default_data.json` (`"/discovery"` + API roots) | `medallion` |
//! | one JSON object over several lines that is none of the above: one record | `object` |
//!
//! A file is NDJSON when its first line holds a complete JSON value and more
//! follows it; otherwise the file is one JSON document.
//!
//! # Profile sniffing (unless forced)
//! The container decides first: `data` → threatconnect, `iocs`/`iocObjects`
//! → xsoar, `bundle`/`medallion` → stix. Otherwise the first records (up to
//! 16, skipping unparseable ones) are looked at, in this order:
//! 1. `id` is a string containing `--` and `type` is a string → stix;
//! 2. has `indicator_type` → xsoar;
//! 3. `type` is a canonical type name (`ipv4`, `registry-key`…) → native;
//! 4. has `ownerName`, `summary`, `dateAdded` or `webLink`, or `type` is a
//!    ThreatConnect type name and there is no `value` → threatconnect;
//! 5. has `value` and `type` → xsoar.
//!
//! If nothing matches, the file is refused and the message says how to
//! force a format.

mod chunk;
pub mod native;
mod normalize;
pub mod stix;
pub(crate) mod stix_check;
pub mod threatconnect;
pub mod xsoar;

use crate::record::{Keep, Origin, Profile, Record, Source};
use rayon::prelude::*;
use simd_json::prelude::*;
use simd_json::tape::Value as JValue;
use std::fmt;
use std::io::Read;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// One input file to read, with the profile forced by the config (or
/// `None` to sniff it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputFile {
    pub path: PathBuf,
    pub format: Option<Profile>,
}

/// What reading a file produced, for the compile summary.
#[derive(Debug, Clone, PartialEq)]
pub struct FileSummary {
    pub path: PathBuf,
    /// The profile used (forced or sniffed).
    pub profile: Profile,
    /// The container found (see the module docs for the names).
    pub container: &'static str,
    /// Size on disk (compressed size for `.gz` / `.zst`).
    pub bytes: u64,
    /// Records accepted.
    pub records: u64,
    /// Records rejected.
    pub rejected: u64,
}

/// Why one record was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectReason {
    /// Not valid JSON, or not a JSON object.
    ParseError,
    /// A type the profile does not support (`Hashtag`, `CVE`…).
    UnsupportedType,
    /// No type or no value.
    MissingValue,
    /// A value (or another field) that is not valid for its type.
    InvalidValue,
    /// A passthrough STIX object that failed the structural check, under
    /// `compile.stix_check = "reject"` (the compile turns such records
    /// into rejects; the reader never does).
    StixCheck,
}

impl RejectReason {
    /// The name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::ParseError => "parse-error",
            RejectReason::UnsupportedType => "unsupported-type",
            RejectReason::MissingValue => "missing-value",
            RejectReason::InvalidValue => "invalid-value",
            RejectReason::StixCheck => "stix-check",
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refused record: where it is, why, and what exactly was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    pub origin: Origin,
    pub path: PathBuf,
    pub reason: RejectReason,
    pub detail: String,
}

fn write_where(f: &mut fmt::Formatter<'_>, path: &Path, origin: &Origin) -> fmt::Result {
    let what = if origin.is_line { "line" } else { "record" };
    write!(f, "{}: {what} {}", path.display(), origin.position)
}

impl fmt::Display for Reject {
    /// `exports/tc.json: record 17: unsupported-type: ThreatConnect type "Hashtag" is not supported`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_where(f, &self.path, &self.origin)?;
        write!(f, ": {}: {}", self.reason, self.detail)
    }
}

/// What kind of fix a warning reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WarningKind {
    /// A defanged value (`hxxp`, `[.]`…) was refanged.
    Refanged,
    /// Whitespace around a value was removed.
    Trimmed,
    /// A passthrough STIX object failed the structural check and was kept
    /// (`compile.stix_check = "warn"`; added by the compile).
    StixCheck,
}

impl WarningKind {
    /// The name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            WarningKind::Refanged => "refanged",
            WarningKind::Trimmed => "trimmed",
            WarningKind::StixCheck => "stix-check",
        }
    }
}

/// A record that was accepted after a fix the user should know about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub origin: Origin,
    pub path: PathBuf,
    pub kind: WarningKind,
    pub detail: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_where(f, &self.path, &self.origin)?;
        write!(f, ": {}: {}", self.kind.as_str(), self.detail)
    }
}

/// Everything read from a list of files. `R` is what each accepted
/// record is kept as ([`Shelf`]): the record itself unless the caller
/// shelves it.
#[derive(Debug, Clone)]
pub struct ReadOutcome<R = Record> {
    pub files: Vec<FileSummary>,
    /// Accepted records, in file order then position.
    pub records: Vec<R>,
    /// Refused records, in file order then position.
    pub rejects: Vec<Reject>,
    pub warnings: Vec<Warning>,
    /// Records seen: `records.len() + rejects.len()`.
    pub records_seen: u64,
    /// Bytes on disk of all files.
    pub bytes_in: u64,
    /// Each file's bytes, indexed like `Origin::file`, when the shelf
    /// keeps them ([`Shelf::KEEP_BYTES`]); empty otherwise.
    pub inputs: Vec<Arc<InputBytes>>,
}

impl<R> Default for ReadOutcome<R> {
    fn default() -> Self {
        ReadOutcome {
            files: Vec::new(),
            records: Vec::new(),
            rejects: Vec::new(),
            warnings: Vec::new(),
            records_seen: 0,
            bytes_in: 0,
            inputs: Vec::new(),
        }
    }
}

/// What the read keeps of each accepted record, decided in the parallel
/// parse right after the record is parsed: the record itself
/// ([`Whole`]), or something smaller that a later stage can parse again
/// from the file's bytes ([`InputBytes::reparse`]).
pub trait Shelf: Sync {
    /// What a record is kept as.
    type Held: Send;
    /// Per-worker state, reused across records.
    type Scratch: Send;
    /// Whether the read keeps every file's bytes ([`ReadOutcome::inputs`]).
    const KEEP_BYTES: bool;
    fn scratch(&self) -> Self::Scratch;
    /// Keeps `record`, which was parsed from `range` of its file's bytes
    /// (an empty range for an object of a medallion data file, which is
    /// not parsed alone).
    fn shelve(
        &self,
        scratch: &mut Self::Scratch,
        record: Record,
        range: Range<usize>,
    ) -> Self::Held;
}

/// Keeps every record as parsed.
pub struct Whole;

impl Shelf for Whole {
    type Held = Record;
    type Scratch = ();
    const KEEP_BYTES: bool = false;
    fn scratch(&self) {}
    fn shelve(&self, _: &mut (), record: Record, _: Range<usize>) -> Record {
        record
    }
}

/// One input file's bytes, kept after the read so that a shelved record
/// can be parsed again from its place.
pub struct InputBytes {
    path: PathBuf,
    data: Data,
    profile: Profile,
    bundle_spec: Option<String>,
}

impl fmt::Debug for InputBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InputBytes")
            .field("path", &self.path)
            .field("len", &self.data.bytes().len())
            .field("profile", &self.profile)
            .finish()
    }
}

impl InputBytes {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The profile the file was read with.
    pub fn profile(&self) -> Profile {
        self.profile
    }

    /// Parses the record at `range` again, exactly as the read parsed it
    /// (its warnings were counted then, and are dropped).
    pub(crate) fn reparse(
        &self,
        scratch: &mut Scratch,
        range: Range<usize>,
        origin: Origin,
        keep: &Keep,
    ) -> Result<Record, Rejection> {
        let text = self.data.bytes().get(range).ok_or((
            RejectReason::ParseError,
            "the record's place is past the end of the file".to_string(),
        ))?;
        let mut fixes = Vec::new();
        parse_one(
            scratch,
            self.profile,
            text,
            origin,
            self.bundle_spec.as_deref(),
            keep,
            &mut fixes,
        )
    }

    /// Lets the kernel drop the pages of `range` (a mapped file's; a
    /// decompressed one stays in memory).
    pub(crate) fn release(&self, range: Range<usize>) {
        if let Data::Mapped(m) = &self.data {
            crate::files::release_pages(m, range);
        }
    }
}

/// A whole-file failure. Every variant names the file (or the pattern) and
/// says what to do.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("input pattern {pattern:?} matches no file; check the path (relative paths are resolved from the working directory)")]
    NoMatch { pattern: String },
    #[error("input pattern {pattern:?} is not a valid glob: {source}")]
    BadPattern {
        pattern: String,
        #[source]
        source: glob::PatternError,
    },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: is a directory; name its files, e.g. {}/*.json", path.display(), path.display())]
    IsDirectory { path: PathBuf },
    #[error("{}: corrupt {format} data: {source}", path.display())]
    Decompress {
        path: PathBuf,
        format: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: not valid JSON: {detail}", path.display())]
    NotJson { path: PathBuf, detail: String },
    #[error("{}: {detail}", path.display())]
    UnknownContainer { path: PathBuf, detail: String },
    #[error("{}: cannot tell which export format this is (threatconnect, xsoar, native or stix); set `format` for this input in the config", path.display())]
    UnknownProfile { path: PathBuf },
    #[error("{}: {} {}: the file changed while the compile read it (the record no longer reads as it did); nothing was published: compile again once the export is written (replace exports by rename, not in place)", path.display(), if origin.is_line { "line" } else { "record" }, origin.position)]
    Changed { path: PathBuf, origin: Origin },
}

/// Expands paths and globs into files, in the order given (each glob's
/// matches sorted by name); a file named twice is read once. A pattern that
/// matches no file is an error naming it.
pub fn expand(patterns: &[(String, Option<Profile>)]) -> Result<Vec<InputFile>, InputError> {
    let mut out: Vec<InputFile> = Vec::new();
    let push = |path: PathBuf, format: Option<Profile>, out: &mut Vec<InputFile>| {
        if !out.iter().any(|f| f.path == path) {
            out.push(InputFile { path, format });
        }
    };
    for (pattern, format) in patterns {
        let is_glob = pattern.contains(['*', '?', '[']);
        if !is_glob {
            let path = PathBuf::from(pattern);
            match std::fs::metadata(&path) {
                Ok(m) if m.is_dir() => return Err(InputError::IsDirectory { path }),
                Ok(_) => push(path, *format, &mut out),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(InputError::NoMatch {
                        pattern: pattern.clone(),
                    })
                }
                Err(source) => return Err(InputError::Io { path, source }),
            }
            continue;
        }
        let paths = glob::glob(pattern).map_err(|source| InputError::BadPattern {
            pattern: pattern.clone(),
            source,
        })?;
        let mut found: Vec<PathBuf> = Vec::new();
        for p in paths {
            let p = p.map_err(|e| InputError::Io {
                path: e.path().to_path_buf(),
                source: std::io::Error::new(e.error().kind(), e.error().to_string()),
            })?;
            if p.is_file() {
                found.push(p);
            }
        }
        if found.is_empty() {
            return Err(InputError::NoMatch {
                pattern: pattern.clone(),
            });
        }
        found.sort();
        for p in found {
            push(p, *format, &mut out);
        }
    }
    Ok(out)
}

/// The bytes of one file: mapped, or decompressed into memory.
enum Data {
    Mapped(memmap2::Mmap),
    Owned(Vec<u8>),
    Empty,
}

impl Data {
    fn bytes(&self) -> &[u8] {
        match self {
            Data::Mapped(m) => m,
            Data::Owned(v) => v,
            Data::Empty => &[],
        }
    }
}

fn load(path: &Path) -> Result<(Data, u64), InputError> {
    let io = |source| InputError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let disk = file.metadata().map_err(io)?.len();
    let name = path.to_string_lossy().to_ascii_lowercase();
    if name.ends_with(".gz") {
        let mut out = Vec::with_capacity((disk as usize).saturating_mul(4));
        flate2::read::MultiGzDecoder::new(std::io::BufReader::new(file))
            .read_to_end(&mut out)
            .map_err(|source| InputError::Decompress {
                path: path.to_path_buf(),
                format: "gzip",
                source,
            })?;
        return Ok((Data::Owned(out), disk));
    }
    if name.ends_with(".zst") {
        let out = zstd::stream::decode_all(std::io::BufReader::new(file)).map_err(|source| {
            InputError::Decompress {
                path: path.to_path_buf(),
                format: "zstd",
                source,
            }
        })?;
        return Ok((Data::Owned(out), disk));
    }
    if disk == 0 {
        return Ok((Data::Empty, 0));
    }
    // SAFETY: the file is only read; exports are not expected to be
    // modified while a compile reads them (if one is, the worst case is a
    // parse error or a wrong record, never memory unsafety in our code, as
    // every access goes through the slice bounds).
    let map = unsafe { crate::files::map(&file) }.map_err(io)?;
    Ok((Data::Mapped(map), disk))
}

/// The source text a record keeps: all of it, or only the top-level
/// members `keep` names, copied as they are (`{"tags":…,"rating":2}`), so
/// mappings and `source.` filters read exactly what they would read in the
/// whole record. A member whose name holds an escape is kept (it may spell
/// a needed name); text that does not scan as an object is kept whole.
fn kept(text: &str, keep: &Keep) -> Arc<str> {
    let Keep::Members(names) = keep else {
        return Arc::from(text);
    };
    let b = text.as_bytes();
    let open = chunk::skip_ws(b, 0);
    if b.get(open) != Some(&b'{') {
        return Arc::from(text);
    }
    let Ok((members, _)) = chunk::object_members(b, open) else {
        return Arc::from(text);
    };
    let mut out = String::with_capacity(64);
    out.push('{');
    for m in members {
        let key = &text[m.key.clone()];
        if key.contains('\\') || names.iter().any(|n| n == key) {
            if out.len() > 1 {
                out.push(',');
            }
            out.push_str(&text[m.key.start - 1..m.key.end + 1]);
            out.push(':');
            out.push_str(&text[m.value]);
        }
    }
    out.push('}');
    Arc::from(out)
}

/// One record's place in the file's bytes.
#[derive(Debug, Clone)]
struct Item {
    range: Range<usize>,
    position: u64,
    is_line: bool,
}

/// How a file is laid out, found by [`plan`].
struct Plan {
    container: &'static str,
    items: Vec<Item>,
    /// A profile implied by the container.
    implied: Option<Profile>,
    /// The bundle's own `spec_version` (STIX 2.0 bundles carry one).
    bundle_spec: Option<String>,
}

fn elements(
    bytes: &[u8],
    range: Range<usize>,
    behind: &mut chunk::Behind<'_>,
) -> Result<Vec<Item>, chunk::ScanError> {
    let (els, _) = chunk::array_elements(bytes, range.start, behind)?;
    Ok(els
        .into_iter()
        .enumerate()
        .map(|(i, r)| Item {
            range: r,
            position: i as u64,
            is_line: false,
        })
        .collect())
}

fn key_is(bytes: &[u8], m: &chunk::Member, key: &str) -> bool {
    &bytes[m.key.clone()] == key.as_bytes()
}

/// Finds the container and the records' byte ranges.
fn plan(path: &Path, bytes: &[u8], behind: &mut chunk::Behind<'_>) -> Result<Plan, InputError> {
    let not_json = |e: chunk::ScanError| InputError::NotJson {
        path: path.to_path_buf(),
        detail: e.describe(bytes),
    };
    let mut start = 0;
    if bytes.starts_with(b"\xEF\xBB\xBF") {
        start = 3;
    }
    let start = chunk::skip_ws(bytes, start);
    let ndjson = |start: usize, behind: &mut chunk::Behind<'_>| Plan {
        container: "ndjson",
        items: chunk::lines(
            bytes,
            start,
            1 + memchr::memchr_iter(b'\n', &bytes[..start]).count() as u64,
            behind,
        )
        .into_iter()
        .map(|l| Item {
            range: l.range,
            position: l.number,
            is_line: true,
        })
        .collect(),
        implied: None,
        bundle_spec: None,
    };
    if start >= bytes.len() {
        return Ok(ndjson(start, behind));
    }
    // NDJSON when the first line is a complete value and more follows.
    let line_end = memchr::memchr(b'\n', &bytes[start..]).map_or(bytes.len(), |k| start + k);
    if let Ok(end) = chunk::skip_value(&bytes[..line_end], start) {
        if chunk::skip_ws(&bytes[..line_end], end) == line_end
            && chunk::skip_ws(bytes, line_end) < bytes.len()
        {
            return Ok(ndjson(start, behind));
        }
    }
    match bytes[start] {
        b'[' => {
            let (els, end) = chunk::array_elements(bytes, start, behind).map_err(not_json)?;
            trailing(path, bytes, end)?;
            Ok(Plan {
                container: "array",
                items: els
                    .into_iter()
                    .enumerate()
                    .map(|(i, r)| Item {
                        range: r,
                        position: i as u64,
                        is_line: false,
                    })
                    .collect(),
                implied: None,
                bundle_spec: None,
            })
        }
        b'{' => {
            let (members, end) = chunk::object_members(bytes, start).map_err(not_json)?;
            trailing(path, bytes, end)?;
            let find = |k: &str| members.iter().find(|m| key_is(bytes, m, k));
            let first = |r: &Range<usize>| bytes.get(r.start).copied();
            let is_bundle = find("type").is_some_and(|m| &bytes[m.value.clone()] == b"\"bundle\"");
            if let Some(m) = find("objects").filter(|_| is_bundle || find("data").is_none()) {
                if first(&m.value) == Some(b'[') {
                    let bundle_spec = find("spec_version").and_then(|m| {
                        serde_json::from_slice::<String>(&bytes[m.value.clone()]).ok()
                    });
                    return Ok(Plan {
                        container: "bundle",
                        items: elements(bytes, m.value.clone(), behind).map_err(not_json)?,
                        implied: Some(Profile::Stix),
                        bundle_spec,
                    });
                }
            }
            for (key, name) in [("iocs", "iocs"), ("iocObjects", "iocObjects")] {
                if let Some(m) = find(key) {
                    let items = match first(&m.value) {
                        Some(b'[') => elements(bytes, m.value.clone(), behind).map_err(not_json)?,
                        _ if &bytes[m.value.clone()] == b"null" => Vec::new(),
                        _ => {
                            return Err(InputError::UnknownContainer {
                                path: path.to_path_buf(),
                                detail: format!("\"{key}\" must be an array or null"),
                            })
                        }
                    };
                    return Ok(Plan {
                        container: name,
                        items,
                        implied: Some(Profile::Xsoar),
                        bundle_spec: None,
                    });
                }
            }
            if let Some(m) = find("data") {
                let (container, items) = match first(&m.value) {
                    Some(b'[') => (
                        "data",
                        elements(bytes, m.value.clone(), behind).map_err(not_json)?,
                    ),
                    Some(b'{') => (
                        "data-object",
                        vec![Item {
                            range: m.value.clone(),
                            position: 0,
                            is_line: false,
                        }],
                    ),
                    _ => {
                        return Err(InputError::UnknownContainer {
                            path: path.to_path_buf(),
                            detail: "\"data\" must be an array of records or one record object"
                                .into(),
                        })
                    }
                };
                return Ok(Plan {
                    container,
                    items,
                    implied: Some(Profile::Threatconnect),
                    bundle_spec: None,
                });
            }
            if find("/discovery").is_some() || stix::looks_like_medallion(bytes, &members) {
                return Ok(Plan {
                    container: "medallion",
                    items: Vec::new(),
                    implied: Some(Profile::Stix),
                    bundle_spec: None,
                });
            }
            if end <= line_end {
                // One record on one line: NDJSON with a single line.
                return Ok(ndjson(start, behind));
            }
            Ok(Plan {
                container: "object",
                items: vec![Item {
                    range: start..end,
                    position: 0,
                    is_line: false,
                }],
                implied: None,
                bundle_spec: None,
            })
        }
        _ => {
            // A scalar document, or garbage: NDJSON of one broken line at most.
            if memchr::memchr(b'\n', &bytes[start..]).is_some() || bytes[start] == b'"' {
                Ok(ndjson(start, behind))
            } else {
                Err(InputError::NotJson {
                    path: path.to_path_buf(),
                    detail: chunk::ScanError {
                        offset: start,
                        what: "expected a JSON object, an array or one JSON object per line".into(),
                    }
                    .describe(bytes),
                })
            }
        }
    }
}

fn trailing(path: &Path, bytes: &[u8], end: usize) -> Result<(), InputError> {
    let t = chunk::skip_ws(bytes, end);
    if t < bytes.len() {
        return Err(InputError::NotJson {
            path: path.to_path_buf(),
            detail: chunk::ScanError {
                offset: t,
                what: "unexpected data after the end of the JSON document".into(),
            }
            .describe(bytes),
        });
    }
    Ok(())
}

/// ThreatConnect v3 type names (for sniffing).
const TC_TYPES: [&str; 11] = [
    "Address",
    "Host",
    "URL",
    "EmailAddress",
    "File",
    "ASN",
    "CIDR",
    "Mutex",
    "Registry Key",
    "User Agent",
    "Email Subject",
];

/// Guesses the profile of one parsed record (rules in the module docs).
fn sniff_record(v: JValue<'_, '_>) -> Option<Profile> {
    let ty = v.get("type").and_then(|t| t.into_string());
    if ty.is_some()
        && v.get("id")
            .and_then(|i| i.into_string())
            .is_some_and(|i| i.contains("--"))
    {
        return Some(Profile::Stix);
    }
    if v.contains_key("indicator_type") {
        return Some(Profile::Xsoar);
    }
    if ty.is_some_and(|t| crate::record::IndicatorType::parse(t).is_some()) {
        return Some(Profile::Native);
    }
    let has_value = v.contains_key("value");
    if ["ownerName", "summary", "dateAdded", "webLink"]
        .iter()
        .any(|k| v.contains_key(k))
        || (ty.is_some_and(|t| TC_TYPES.contains(&t)) && !has_value)
    {
        return Some(Profile::Threatconnect);
    }
    if has_value && ty.is_some() {
        return Some(Profile::Xsoar);
    }
    None
}

/// Per-worker parse state, reused across records so that parsing does not
/// allocate beyond the record itself.
pub(crate) struct Scratch {
    buf: Vec<u8>,
    buffers: simd_json::Buffers,
    tape: Option<simd_json::Tape<'static>>,
}

impl Default for Scratch {
    fn default() -> Self {
        Scratch {
            buf: Vec::with_capacity(4096),
            buffers: simd_json::Buffers::new(4096),
            tape: Some(simd_json::Tape::null().reset()),
        }
    }
}

impl Scratch {
    /// Parses `text` and hands the value to `f`.
    pub(crate) fn with_value<R>(
        &mut self,
        text: &[u8],
        f: impl FnOnce(JValue<'_, '_>) -> R,
    ) -> Result<R, simd_json::Error> {
        let Scratch { buf, buffers, tape } = self;
        buf.clear();
        buf.extend_from_slice(text);
        let mut t = tape
            .take()
            .unwrap_or_else(|| simd_json::Tape::null().reset())
            .reset();
        let res = simd_json::fill_tape(buf, buffers, &mut t);
        let out = res.map(|()| f(t.as_value()));
        *tape = Some(t.reset());
        out
    }
}

/// A refusal: reason and detail.
pub type Rejection = (RejectReason, String);

/// Collects warnings for one record.
pub type Fixes = Vec<(WarningKind, String)>;

/// The outcome of one record, kept as `H`.
struct Out<H> {
    origin: Origin,
    result: Result<H, Rejection>,
    warnings: Fixes,
}

/// Parses one record of an indicator profile (not stix) from its JSON text.
/// Public for the fuzz target and tests; [`read_files`] is the normal way in.
pub fn parse_record(
    profile: Profile,
    text: &[u8],
    origin: Origin,
) -> Result<(Record, Fixes), Rejection> {
    let mut scratch = Scratch::default();
    let mut fixes = Vec::new();
    let r = parse_one(
        &mut scratch,
        profile,
        text,
        origin,
        None,
        &Keep::Whole,
        &mut fixes,
    )?;
    Ok((r, fixes))
}

fn parse_one(
    scratch: &mut Scratch,
    profile: Profile,
    text: &[u8],
    origin: Origin,
    bundle_spec: Option<&str>,
    keep: &Keep,
    fixes: &mut Fixes,
) -> Result<Record, Rejection> {
    let parse_err = |e: &dyn fmt::Display| (RejectReason::ParseError, format!("invalid JSON: {e}"));
    let Ok(s) = std::str::from_utf8(text) else {
        return Err((
            RejectReason::ParseError,
            "the record is not valid UTF-8".into(),
        ));
    };
    if profile == Profile::Stix {
        return stix::parse_object(s, origin, bundle_spec).map(|s| Record::Stix(Box::new(s)));
    }
    let source = || Source(kept(s, keep));
    scratch
        .with_value(text, |v| {
            if v.as_object().is_none() {
                return Err((
                    RejectReason::ParseError,
                    "the record is not a JSON object".into(),
                ));
            }
            let r = match profile {
                Profile::Threatconnect => threatconnect::parse(v, origin, source, fixes),
                Profile::Xsoar => xsoar::parse(v, origin, source, fixes),
                Profile::Native => native::parse(v, origin, source, fixes),
                Profile::Stix => unreachable!("handled above"),
            };
            r.map(Record::Indicator)
        })
        .map_err(|e| parse_err(&e))?
}

/// Reads every file, in order. `progress(n)` is called with the number of
/// bytes (on disk) processed since the last call.
pub fn read_files(
    files: &[InputFile],
    progress: Option<&(dyn Fn(u64) + Sync)>,
) -> Result<ReadOutcome, InputError> {
    read_files_keeping(files, progress, &Default::default())
}

/// [`read_files`], keeping of each record's source text only the members
/// `keep[i]` names for a record of profile `Profile::ALL[i]`.
pub fn read_files_keeping(
    files: &[InputFile],
    progress: Option<&(dyn Fn(u64) + Sync)>,
    keep: &[Keep; 4],
) -> Result<ReadOutcome, InputError> {
    read_files_shelving(files, progress, keep, &Whole)
}

/// [`read_files_keeping`], each accepted record kept as `shelf` keeps it.
pub fn read_files_shelving<S: Shelf>(
    files: &[InputFile],
    progress: Option<&(dyn Fn(u64) + Sync)>,
    keep: &[Keep; 4],
    shelf: &S,
) -> Result<ReadOutcome<S::Held>, InputError> {
    let mut out = ReadOutcome::default();
    for (index, file) in files.iter().enumerate() {
        read_file(index as u32, file, progress, keep, shelf, &mut out)?;
    }
    out.records_seen = (out.records.len() + out.rejects.len()) as u64;
    Ok(out)
}

/// Records per parallel task: large enough to amortise scheduling, small
/// enough to balance two cores on a few thousand records.
const TASK_BYTES: usize = 256 * 1024;
const TASK_ITEMS: usize = 2048;

fn read_file<S: Shelf>(
    index: u32,
    file: &InputFile,
    progress: Option<&(dyn Fn(u64) + Sync)>,
    keep: &[Keep; 4],
    shelf: &S,
    out: &mut ReadOutcome<S::Held>,
) -> Result<(), InputError> {
    let (data, disk) = load(&file.path)?;
    // Records copy what they keep, so a mapped export's pages are released
    // behind the parse: reading a file does not leave it resident.
    let release = |range: Range<usize>| {
        if let Data::Mapped(m) = &data {
            crate::files::release_pages(m, range);
        }
    };
    let (profile, bundle_spec) = read_bytes(
        index,
        &file.path,
        file.format,
        data.bytes(),
        disk,
        progress,
        Some(&release),
        keep,
        shelf,
        out,
    )?;
    if S::KEEP_BYTES {
        out.inputs.push(Arc::new(InputBytes {
            path: file.path.clone(),
            data,
            profile,
            bundle_spec,
        }));
    }
    Ok(())
}

/// Reads one export already in memory, as [`read_files`] reads a file
/// (`path` is only used in messages). For the fuzz target and for callers
/// that hold the bytes themselves.
pub fn parse_bytes(
    path: &Path,
    bytes: &[u8],
    format: Option<Profile>,
) -> Result<ReadOutcome, InputError> {
    let mut out = ReadOutcome::default();
    read_bytes(
        0,
        path,
        format,
        bytes,
        bytes.len() as u64,
        None,
        None,
        &Default::default(),
        &Whole,
        &mut out,
    )?;
    out.records_seen = (out.records.len() + out.rejects.len()) as u64;
    Ok(out)
}

/// `release(range)` is called behind each whole pass over a byte range
/// (the caller may drop those pages from memory). Returns the profile the
/// file was read with and its bundle's `spec_version`, if any.
#[allow(clippy::too_many_arguments)]
fn read_bytes<S: Shelf>(
    index: u32,
    path: &Path,
    format: Option<Profile>,
    bytes: &[u8],
    disk: u64,
    progress: Option<&(dyn Fn(u64) + Sync)>,
    release: Option<&(dyn Fn(Range<usize>) + Sync)>,
    keep: &[Keep; 4],
    shelf: &S,
    out: &mut ReadOutcome<S::Held>,
) -> Result<(Profile, Option<String>), InputError> {
    let release = |r: Range<usize>| {
        if let Some(f) = release {
            f(r);
        }
    };
    let plan = plan(path, bytes, &mut chunk::Behind::new(&release))?;
    release(0..bytes.len());
    out.bytes_in += disk;

    if plan.container == "medallion" {
        let profile = format.unwrap_or(Profile::Stix);
        if profile != Profile::Stix {
            return Err(InputError::UnknownContainer {
                path: path.to_path_buf(),
                detail: format!(
                    "a medallion data file holds STIX objects, but format {:?} was forced",
                    profile.as_str()
                ),
            });
        }
        let objs = stix::medallion(bytes, index).map_err(|detail| InputError::NotJson {
            path: path.to_path_buf(),
            detail,
        })?;
        if let Some(p) = progress {
            p(disk);
        }
        let summary_profile = Profile::Stix;
        let mut scratch = shelf.scratch();
        let o: Vec<Out<S::Held>> = objs
            .into_iter()
            .map(|(origin, result)| Out {
                origin,
                result: result.map(|s| shelf.shelve(&mut scratch, Record::Stix(Box::new(s)), 0..0)),
                warnings: Vec::new(),
            })
            .collect();
        let mut moved = Moved::new(path, summary_profile, "medallion", disk, out);
        moved.take(vec![o]);
        moved.finish();
        return Ok((summary_profile, None));
    }
    {
        let profile = match format.or(plan.implied) {
            Some(p) => p,
            None => sniff(bytes, &plan.items).ok_or_else(|| InputError::UnknownProfile {
                path: path.to_path_buf(),
            })?,
        };
        // Group records into tasks by size.
        let mut tasks: Vec<Range<usize>> = Vec::new();
        let mut s = 0;
        let mut acc = 0;
        for (i, it) in plan.items.iter().enumerate() {
            acc += it.range.len();
            if acc >= TASK_BYTES || i + 1 - s >= TASK_ITEMS {
                tasks.push(s..i + 1);
                s = i + 1;
                acc = 0;
            }
        }
        if s < plan.items.len() {
            tasks.push(s..plan.items.len());
        }
        let total = bytes.len().max(1) as u64;
        let processed = AtomicU64::new(0);
        let reported = AtomicU64::new(0);
        let bundle_spec = plan.bundle_spec.as_deref();
        let keep_of = &keep[profile.index()];
        let items = &plan.items;
        let parse_task = |(scratch, held): &mut (Scratch, S::Scratch), task: &Range<usize>| {
            let mut v = Vec::with_capacity(task.len());
            let mut n = 0u64;
            for it in &items[task.clone()] {
                let origin = Origin {
                    file: index,
                    position: it.position,
                    is_line: it.is_line,
                };
                let mut warnings = Vec::new();
                let result = parse_one(
                    scratch,
                    profile,
                    &bytes[it.range.clone()],
                    origin,
                    bundle_spec,
                    keep_of,
                    &mut warnings,
                )
                .map(|r| shelf.shelve(held, r, it.range.clone()));
                if result.is_err() {
                    warnings.clear();
                }
                n += it.range.len() as u64;
                v.push(Out {
                    origin,
                    result,
                    warnings,
                });
            }
            if let (Some(first), Some(last)) = (items.get(task.start), items.get(task.end - 1)) {
                release(first.range.start..last.range.end);
            }
            if let Some(p) = progress {
                let done = processed.fetch_add(n, Ordering::Relaxed) + n;
                let target = (u128::from(done) * u128::from(disk) / u128::from(total)) as u64;
                let prev = reported.fetch_max(target, Ordering::Relaxed);
                if target > prev {
                    p(target - prev);
                }
            }
            v
        };
        // A window of tasks at a time, moved into the records before the
        // next is parsed: parsing them all first would hold every
        // record's parse output (larger than the record) beside the
        // records it becomes.
        let mut moved = Moved::new(path, profile, plan.container, disk, out);
        moved.out.records.reserve(items.len());
        for window in tasks.chunks(WINDOW_TASKS) {
            let parts: Vec<Vec<Out<S::Held>>> = window
                .par_iter()
                .map_init(|| (Scratch::default(), shelf.scratch()), parse_task)
                .collect();
            moved.take(parts);
            // Each task released its own range, but with tasks parsed on
            // both cores that left about half of a 3.3 GB export mapped
            // by the end of the read (not at 333 MB): releasing the
            // window's whole range as well keeps the export's resident
            // pages to about one window.
            if let (Some(first), Some(last)) = (window.first(), window.last()) {
                if let (Some(a), Some(b)) = (items.get(first.start), items.get(last.end - 1)) {
                    release(a.range.start..b.range.end);
                }
            }
        }
        if let Some(p) = progress {
            let prev = reported.swap(disk, Ordering::Relaxed);
            if disk > prev {
                p(disk - prev);
            }
        }
        moved.finish();
        Ok((profile, plan.bundle_spec))
    }
}

/// Tasks parsed together before their records are moved into the
/// outcome: about 130,000 records, a few dozen tasks per core.
const WINDOW_TASKS: usize = 64;

/// Moves one file's parsed items into the outcome, a window of parts at a
/// time (in file order), and counts them in the file's summary.
struct Moved<'a, H> {
    path: &'a Path,
    summary: FileSummary,
    out: &'a mut ReadOutcome<H>,
    /// Items moved since the heap was last trimmed.
    since_trim: usize,
}

impl<'a, H> Moved<'a, H> {
    fn new(
        path: &'a Path,
        profile: Profile,
        container: &'static str,
        disk: u64,
        out: &'a mut ReadOutcome<H>,
    ) -> Self {
        Moved {
            path,
            summary: FileSummary {
                path: path.to_path_buf(),
                profile,
                container,
                bytes: disk,
                records: 0,
                rejected: 0,
            },
            out,
            since_trim: 0,
        }
    }

    /// Moves `parts` (in file order, each freed once moved).
    fn take(&mut self, parts: Vec<Vec<Out<H>>>) {
        self.out.records.reserve(parts.iter().map(Vec::len).sum());
        // The parts are freed as they are moved, but glibc keeps their
        // memory resident in its arenas: trimmed every so often, the read
        // holds the records and about one window of parts, not more
        // (docs/decisions.md#d64).
        const TRIM_EVERY: usize = (64 << 20) / std::mem::size_of::<Out<Record>>();
        for part in parts {
            if self.since_trim >= TRIM_EVERY {
                self.since_trim = 0;
                crate::files::trim_heap();
            }
            self.since_trim += part.len();
            for o in part {
                for (kind, detail) in o.warnings {
                    self.out.warnings.push(Warning {
                        origin: o.origin,
                        path: self.path.to_path_buf(),
                        kind,
                        detail,
                    });
                }
                match o.result {
                    Ok(r) => {
                        self.summary.records += 1;
                        self.out.records.push(r);
                    }
                    Err((reason, detail)) => {
                        self.summary.rejected += 1;
                        self.out.rejects.push(Reject {
                            origin: o.origin,
                            path: self.path.to_path_buf(),
                            reason,
                            detail,
                        });
                    }
                }
            }
        }
    }

    fn finish(self) {
        self.out.files.push(self.summary);
    }
}

fn sniff(bytes: &[u8], items: &[Item]) -> Option<Profile> {
    let mut scratch = Scratch::default();
    items.iter().take(16).find_map(|it| {
        scratch
            .with_value(&bytes[it.range.clone()], sniff_record)
            .ok()
            .flatten()
    })
}

// ---- helpers over simd-json tape values, shared by the profiles ----

/// A string field; `None` when absent, null or not a string.
pub(crate) fn get_str<'t, 'i>(v: JValue<'t, 'i>, key: &str) -> Option<&'i str> {
    v.get(key).and_then(|x| x.into_string())
}

/// A non-empty string field (after trimming).
pub(crate) fn get_nonempty<'t, 'i>(v: JValue<'t, 'i>, key: &str) -> Option<&'i str> {
    get_str(v, key).filter(|s| !s.trim().is_empty())
}

/// True when the field is absent or null.
pub(crate) fn absent(v: JValue<'_, '_>, key: &str) -> bool {
    v.get(key).is_none_or(|x| x.is_null())
}

/// A number given as a JSON number or a numeric string (`"3.00"`).
/// `Ok(None)` when absent/null/empty; `Err` with a message when not numeric.
pub(crate) fn get_number(v: JValue<'_, '_>, key: &str) -> Result<Option<f64>, String> {
    let Some(x) = v.get(key) else { return Ok(None) };
    if x.is_null() {
        return Ok(None);
    }
    if let Some(f) = x.as_f64() {
        return Ok(Some(f));
    }
    if let Some(i) = x.as_i64() {
        return Ok(Some(i as f64));
    }
    if let Some(u) = x.as_u64() {
        return Ok(Some(u as f64));
    }
    if let Some(s) = x.as_str() {
        let t = s.trim();
        if t.is_empty() {
            return Ok(None);
        }
        if let Ok(f) = t.parse::<f64>() {
            if f.is_finite() {
                return Ok(Some(f));
            }
        }
        return Err(format!("{key} {} is not a number", normalize::shown(s)));
    }
    Err(format!("{key} is not a number"))
}

/// An integer field in `0..=max` (as number or numeric string).
pub(crate) fn get_int(v: JValue<'_, '_>, key: &str, max: u8) -> Result<Option<u8>, String> {
    match get_number(v, key)? {
        None => Ok(None),
        Some(f) if f.fract() == 0.0 && (0.0..=f64::from(max)).contains(&f) => Ok(Some(f as u8)),
        Some(f) => Err(format!("{key} {f} is not an integer from 0 to {max}")),
    }
}

/// A timestamp field (see [`normalize::date`]).
pub(crate) fn get_date(
    v: JValue<'_, '_>,
    key: &str,
) -> Result<Option<crate::time::Micros>, Rejection> {
    match get_str(v, key) {
        None => Ok(None),
        Some(s) if s.trim().is_empty() => Ok(None),
        Some(s) => normalize::date(key, s).map_err(|e| (RejectReason::InvalidValue, e)),
    }
}

/// Trims and refangs a value for `kind`, collecting warnings; an empty
/// result is `missing-value`.
pub(crate) fn cleaned<'a>(
    kind: crate::record::IndicatorType,
    raw: &'a str,
    fixes: &mut Fixes,
) -> Result<std::borrow::Cow<'a, str>, Rejection> {
    let c = normalize::clean(kind, raw, &mut |f, d| {
        fixes.push((
            match f {
                normalize::Fix::Trimmed => WarningKind::Trimmed,
                normalize::Fix::Refanged => WarningKind::Refanged,
            },
            d,
        ))
    });
    if c.is_empty() {
        return Err((
            RejectReason::MissingValue,
            format!("the {kind} value is empty"),
        ));
    }
    Ok(c)
}

/// Cleans and validates a value of `kind`, collecting warnings.
pub(crate) fn value_of(
    kind: crate::record::IndicatorType,
    raw: &str,
    fixes: &mut Fixes,
) -> Result<String, Rejection> {
    let c = cleaned(kind, raw, fixes)?;
    normalize::canonical(kind, &c).map_err(|e| (RejectReason::InvalidValue, e))
}

/// An IP address of either family (ThreatConnect `Address`, XSOAR `IP`).
pub(crate) fn ip_value(
    raw: &str,
    fixes: &mut Fixes,
) -> Result<(crate::record::IndicatorType, String), Rejection> {
    use crate::record::IndicatorType as T;
    let c = cleaned(T::Ipv4, raw, fixes)?;
    if let Ok(x) = normalize::canonical(T::Ipv4, &c) {
        return Ok((T::Ipv4, x));
    }
    if let Ok(x) = normalize::canonical(T::Ipv6, &c) {
        return Ok((T::Ipv6, x));
    }
    Err((
        RejectReason::InvalidValue,
        format!(
            "{} is neither an IPv4 nor an IPv6 address",
            normalize::shown(&c)
        ),
    ))
}

/// A list of strings given as a JSON array (non-strings skipped), or a
/// single string, trimmed, empty ones dropped.
pub(crate) fn string_list(v: Option<JValue<'_, '_>>) -> Vec<String> {
    let Some(v) = v else { return Vec::new() };
    if let Some(s) = v.as_str() {
        let t = s.trim();
        return if t.is_empty() {
            Vec::new()
        } else {
            vec![t.to_string()]
        };
    }
    let Some(a) = v.as_array() else {
        return Vec::new();
    };
    a.iter()
        .filter_map(|x| x.into_string())
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests;
