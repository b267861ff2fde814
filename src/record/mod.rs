//! The canonical record: what every input profile produces and what the
//! collection filter and the STIX builder read.
//!
//! Two kinds of record flow through the compiler:
//! - [`Indicator`]: a flat indicator of compromise (docs/input-formats.md#canonical-indicator) built from ThreatConnect, XSOAR or native records;
//! - [`StixRecord`]: a STIX object read from a STIX input, passed through as
//!   it is.
//!
//! Both keep the source record's JSON text ([`Source`]) so that JMESPath
//! mappings and `source.<path>` filters can read fields the canonical form
//! does not carry.

use crate::time::Micros;
use std::fmt;
use std::sync::Arc;

/// The indicator types the compiler understands. The string forms (used in
/// filters, TTL tables and config) are [`IndicatorType::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IndicatorType {
    Ipv4,
    Ipv6,
    /// An IPv4 or IPv6 network in CIDR notation (`198.51.100.0/24`).
    Cidr,
    Domain,
    Url,
    Email,
    EmailSubject,
    Md5,
    Sha1,
    Sha256,
    Sha512,
    /// A file known by several hashes (see [`Indicator::hashes`]); its value
    /// is the strongest hash.
    File,
    /// An autonomous system number; the value is digits only.
    Asn,
    Mutex,
    RegistryKey,
    UserAgent,
}

impl IndicatorType {
    /// Every type, in a fixed order (used by tables and the generator).
    pub const ALL: [IndicatorType; 16] = [
        IndicatorType::Ipv4,
        IndicatorType::Ipv6,
        IndicatorType::Cidr,
        IndicatorType::Domain,
        IndicatorType::Url,
        IndicatorType::Email,
        IndicatorType::EmailSubject,
        IndicatorType::Md5,
        IndicatorType::Sha1,
        IndicatorType::Sha256,
        IndicatorType::Sha512,
        IndicatorType::File,
        IndicatorType::Asn,
        IndicatorType::Mutex,
        IndicatorType::RegistryKey,
        IndicatorType::UserAgent,
    ];

    /// The canonical name, as written in filters and config.
    pub fn as_str(self) -> &'static str {
        match self {
            IndicatorType::Ipv4 => "ipv4",
            IndicatorType::Ipv6 => "ipv6",
            IndicatorType::Cidr => "cidr",
            IndicatorType::Domain => "domain",
            IndicatorType::Url => "url",
            IndicatorType::Email => "email",
            IndicatorType::EmailSubject => "email-subject",
            IndicatorType::Md5 => "md5",
            IndicatorType::Sha1 => "sha1",
            IndicatorType::Sha256 => "sha256",
            IndicatorType::Sha512 => "sha512",
            IndicatorType::File => "file",
            IndicatorType::Asn => "asn",
            IndicatorType::Mutex => "mutex",
            IndicatorType::RegistryKey => "registry-key",
            IndicatorType::UserAgent => "user-agent",
        }
    }

    /// The inverse of [`IndicatorType::as_str`].
    pub fn parse(s: &str) -> Option<IndicatorType> {
        IndicatorType::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

impl fmt::Display for IndicatorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// STIX 2.1 cyber-observable object types: the input reader needs them to
/// default a passthrough object's spec version, the filter to accept them in
/// `type =`.
pub const STIX_SCO_TYPES: [&str; 18] = [
    "artifact",
    "autonomous-system",
    "directory",
    "domain-name",
    "email-addr",
    "email-message",
    "file",
    "ipv4-addr",
    "ipv6-addr",
    "mac-addr",
    "mutex",
    "network-traffic",
    "process",
    "software",
    "url",
    "user-account",
    "windows-registry-key",
    "x509-certificate",
];

/// Traffic Light Protocol level (TLP 1.0 and 2.0 names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Tlp {
    /// TLP 2.0 `CLEAR`; the same as TLP 1.0 `WHITE`.
    Clear,
    White,
    Green,
    Amber,
    /// TLP 2.0 only; never loosened to `amber`.
    AmberStrict,
    Red,
}

impl Tlp {
    /// Parses `white`, `TLP:AMBER+STRICT`, `Green`… (case-insensitive,
    /// optional `TLP:` prefix).
    pub fn parse(s: &str) -> Option<Tlp> {
        let s = s.trim();
        // `get` rather than slicing: byte 4 may fall inside a multi-byte
        // character of hostile input.
        let s = if s.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("tlp:")) {
            &s[4..]
        } else {
            s
        };
        let lower = s.trim().to_ascii_lowercase();
        Some(match lower.as_str() {
            "clear" => Tlp::Clear,
            "white" => Tlp::White,
            "green" => Tlp::Green,
            "amber" => Tlp::Amber,
            "amber+strict" => Tlp::AmberStrict,
            "red" => Tlp::Red,
            _ => return None,
        })
    }

    /// The lower-case name (`amber+strict` for [`Tlp::AmberStrict`]).
    pub fn as_str(self) -> &'static str {
        match self {
            Tlp::Clear => "clear",
            Tlp::White => "white",
            Tlp::Green => "green",
            Tlp::Amber => "amber",
            Tlp::AmberStrict => "amber+strict",
            Tlp::Red => "red",
        }
    }
}

/// Hashes of a file indicator, lower-case hex. Any subset may be present.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct FileHashes {
    pub md5: Option<String>,
    pub sha1: Option<String>,
    pub sha256: Option<String>,
    pub sha512: Option<String>,
}

impl FileHashes {
    /// How many hashes are present.
    pub fn count(&self) -> usize {
        [&self.md5, &self.sha1, &self.sha256, &self.sha512]
            .iter()
            .filter(|h| h.is_some())
            .count()
    }
}

/// An indicator's [`FileHashes`], boxed when there are any: most
/// indicators have none, and four inline options would take 96 bytes of
/// every record a compile holds. Reads and writes go through `Deref`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Hashes(Option<Box<FileHashes>>);

impl From<FileHashes> for Hashes {
    fn from(h: FileHashes) -> Self {
        Hashes((h.count() > 0).then(|| Box::new(h)))
    }
}

impl std::ops::Deref for Hashes {
    type Target = FileHashes;
    fn deref(&self) -> &FileHashes {
        static NONE: FileHashes = FileHashes {
            md5: None,
            sha1: None,
            sha256: None,
            sha512: None,
        };
        self.0.as_deref().unwrap_or(&NONE)
    }
}

impl std::ops::DerefMut for Hashes {
    fn deref_mut(&mut self) -> &mut FileHashes {
        self.0.get_or_insert_with(Box::default)
    }
}

/// Which input profile produced a record; decides the default mappings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    Threatconnect,
    Xsoar,
    Native,
    Stix,
}

impl Profile {
    /// Every profile, in a fixed order.
    pub const ALL: [Profile; 4] = [
        Profile::Threatconnect,
        Profile::Xsoar,
        Profile::Native,
        Profile::Stix,
    ];

    /// The profile's place in [`Profile::ALL`], for tables indexed by
    /// profile.
    pub fn index(self) -> usize {
        Profile::ALL.iter().position(|p| *p == self).unwrap_or(0)
    }

    /// The name used in config and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Threatconnect => "threatconnect",
            Profile::Xsoar => "xsoar",
            Profile::Native => "native",
            Profile::Stix => "stix",
        }
    }

    /// The inverse of [`Profile::as_str`].
    pub fn parse(s: &str) -> Option<Profile> {
        Profile::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

/// Which top-level members of a source record a compile reads (its
/// mappings and `source.` filters); a record keeps only those, since the
/// source text was most of a record's memory. [`Keep::Whole`] keeps it all.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Keep {
    #[default]
    Whole,
    /// Only these members (none at all when empty).
    Members(Vec<String>),
}

impl Keep {
    /// What both `self` and `other` need.
    pub fn union(self, other: Keep) -> Keep {
        match (self, other) {
            (Keep::Members(mut a), Keep::Members(b)) => {
                for m in b {
                    if !a.contains(&m) {
                        a.push(m);
                    }
                }
                Keep::Members(a)
            }
            _ => Keep::Whole,
        }
    }
}

/// Where a record came from, for error messages and reports: the input
/// file (an index into the compile's list of files) and the 1-based line
/// (NDJSON) or 0-based record index (JSON containers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Origin {
    /// Index into the list of input files of this compile.
    pub file: u32,
    /// Line number (1-based) for NDJSON, record index (0-based) otherwise.
    pub position: u64,
    /// Whether `position` is a line number or a record index.
    pub is_line: bool,
}

/// The source record's JSON text, exactly as it was in the input (one
/// record, not the container). Shared because a record may feed several
/// collections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source(pub Arc<str>);

impl Source {
    /// The JSON text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The canonical indicator (docs/input-formats.md#canonical-indicator). Everything is normalised: values
/// trimmed and refanged, domains lower-case, hashes lower-case, IPv6 in
/// RFC 5952 form, timestamps truncated to milliseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Indicator {
    pub kind: IndicatorType,
    /// The normalised value (for `File`, the strongest hash).
    pub value: String,
    /// File hashes (for the hash types and `File`); empty otherwise.
    pub hashes: Hashes,
    /// Registry value name (ThreatConnect `Value Name`), if any.
    pub registry_value_name: Option<String>,
    pub owner: Option<String>,
    /// 0–100.
    pub confidence: Option<u8>,
    /// ThreatConnect threat rating, 0–5.
    pub rating: Option<f64>,
    /// XSOAR score: 0 unknown, 1 good, 2 suspicious, 3 bad.
    pub score: Option<u8>,
    pub tags: Vec<String>,
    pub tlp: Option<Tlp>,
    /// False for inactive / expired records (STIX `revoked`).
    pub active: bool,
    pub created: Option<Micros>,
    pub last_modified: Option<Micros>,
    /// The source's own expiry (XSOAR `expiration`), if any.
    pub expiration: Option<Micros>,
    pub description: Option<String>,
    pub profile: Profile,
    pub origin: Origin,
    pub source: Source,
}

/// Why a passthrough STIX object failed the compiler's structural check
/// (`input::stix_check`). The names ([`StixProblemKind::as_str`]) are the
/// keys of the compile summary's `stix_check` counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StixProblemKind {
    /// An identifier (`id`, a `*_ref`, an item of a `*_refs`) or the type
    /// name is not of the form the object's spec version requires.
    Id,
    /// A timestamp property is not a STIX timestamp (RFC 3339, UTC, `Z`;
    /// `created`/`modified` to the millisecond).
    Timestamp,
    /// A property that the object's spec version requires of every object
    /// of its kind, or of its type, is missing.
    MissingProperty,
    /// `spec_version` is not `2.0`/`2.1`, or breaks the rules for
    /// cyber-observables (2.1 only) or SDOs/SROs (must state 2.1).
    SpecVersion,
}

impl StixProblemKind {
    /// Every kind, in a fixed order.
    pub const ALL: [StixProblemKind; 4] = [
        StixProblemKind::Id,
        StixProblemKind::Timestamp,
        StixProblemKind::MissingProperty,
        StixProblemKind::SpecVersion,
    ];

    /// The name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            StixProblemKind::Id => "id",
            StixProblemKind::Timestamp => "timestamp",
            StixProblemKind::MissingProperty => "missing-property",
            StixProblemKind::SpecVersion => "spec-version",
        }
    }
}

/// One structural problem of a passthrough STIX object: its kind and what
/// exactly is wrong (all problems of one kind in one sentence).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StixProblem {
    pub kind: StixProblemKind,
    pub detail: String,
}

impl fmt::Display for StixProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.as_str(), self.detail)
    }
}

/// A STIX object read from a STIX input and passed through unchanged.
#[derive(Debug, Clone, PartialEq)]
pub struct StixRecord {
    /// `type--uuid`.
    pub id: String,
    /// The STIX `type` property (`indicator`, `malware`, `relationship`…).
    pub stix_type: String,
    /// `"2.0"` or `"2.1"` (objects without `spec_version` are 2.0 unless the
    /// bundle says otherwise).
    pub spec_version: String,
    pub created: Option<Micros>,
    /// `modified`, or `created` for objects without one (SCOs have neither:
    /// then `None`).
    pub modified: Option<Micros>,
    /// A date_added given by the input (`__meta.date_added` or a manifest
    /// entry), to be reproduced exactly.
    pub date_added: Option<Micros>,
    /// The object as compact JSON, without any `__meta` property.
    pub json: Arc<str>,
    pub origin: Origin,
    pub source: Source,
    /// What the structural check found (empty for a clean object); the
    /// compile keeps or rejects the object according to `compile.stix_check`.
    pub problems: Vec<StixProblem>,
    /// The ids of the medallion collections this object version came from
    /// (the `collection` query field): one per collection that holds it,
    /// once duplicates are merged; empty for other inputs.
    pub collections: Vec<Arc<str>>,
    /// The input files this object version came from (indices like
    /// [`Origin::file`]; the `file` query field): its own file, plus the
    /// files of identical copies merged into it.
    pub files: Vec<u32>,
}

/// One usable record of any input.
// Indicators are nearly every record: boxing them would cost an
// allocation each to shrink the few others.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Indicator(Indicator),
    /// Boxed: passthrough objects are few beside indicators, and every
    /// record of a compile takes the size of the largest variant.
    Stix(Box<StixRecord>),
}

impl Record {
    /// Where the record came from.
    pub fn origin(&self) -> Origin {
        match self {
            Record::Indicator(i) => i.origin,
            Record::Stix(s) => s.origin,
        }
    }

    /// The source record's JSON text.
    pub fn source(&self) -> &Source {
        match self {
            Record::Indicator(i) => &i.source,
            Record::Stix(s) => &s.source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_names_round_trip() {
        for t in IndicatorType::ALL {
            assert_eq!(IndicatorType::parse(t.as_str()), Some(t));
        }
        assert_eq!(IndicatorType::parse("IPv4"), None);
    }

    #[test]
    fn tlp_parses_platform_spellings() {
        assert_eq!(Tlp::parse("TLP:AMBER+STRICT"), Some(Tlp::AmberStrict));
        assert_eq!(Tlp::parse("tlp:clear"), Some(Tlp::Clear));
        assert_eq!(Tlp::parse("GREEN"), Some(Tlp::Green));
        assert_eq!(Tlp::parse("TLP:PURPLE"), None);
        // Found by fuzzing: byte 4 inside a multi-byte character.
        assert_eq!(Tlp::parse("gueſOen"), None);
    }

    #[test]
    fn a_record_without_hashes_holds_no_hash_storage() {
        let none = Hashes::from(FileHashes::default());
        assert!(none.0.is_none() && none.md5.is_none() && none.count() == 0);
        let mut h = none.clone();
        h.sha256 = Some("e3b0".into());
        assert_eq!(h.count(), 1);
        assert_eq!(
            h,
            Hashes::from(FileHashes {
                sha256: Some("e3b0".into()),
                ..FileHashes::default()
            })
        );
        // Every record a compile holds takes the size of the largest
        // variant: keep it small (boxed hashes and STIX objects).
        assert!(
            std::mem::size_of::<Record>() <= 240,
            "{}",
            std::mem::size_of::<Record>()
        );
    }
}
