//! Query strings of the TAXII list endpoints: parsing, validation and the
//! canonical filter string that `next` tokens carry.
//!
//! TAXII 2.1 ("Filtering" in section 3, and the URL parameter tables of
//! 5.3, 5.4, 5.6 and 5.8) defines the filters per endpoint;
//! docs/decisions.md#d5, #d7 and #d8 fix what the spec leaves open:
//! - names and values are percent-decoded (`match%5Btype%5D=a%2Cb`); bad
//!   percent-encoding or invalid UTF-8 is a 400, never a panic; `+` is kept
//!   literally (this is RFC 3986 percent-decoding, not HTML form decoding,
//!   so `+00:00` offsets survive clients that forget to encode them);
//! - a filter given twice is a 400; unknown parameters, and filters the
//!   endpoint does not support, are ignored;
//! - several values of one filter are comma-separated and OR-ed; different
//!   filters are AND-ed.
//!
//! The canonical filter string is what a token remembers: the endpoint's
//! filters sorted by name, `name=value` joined by `&`, values exactly as
//! decoded with `%`, `&` and `=` re-escaped so that the string parses back
//! unambiguously. An unfiltered request has the empty string, which is what
//! the feed writer puts in the tokens of its precompressed default pages.

use crate::feed::SpecVersion;
use crate::time::Micros;

/// A TAXII URL parameter problem (a query string, or the `Range` header
/// of TAXII 2.0); the text becomes the 400's description. Not to be
/// confused with [`crate::filter::ParamError`], an error in a collection's
/// filter query.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParamError(pub String);

/// Which list endpoint a query is for: decides which filters apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListKind {
    /// `…/objects/` and `…/manifest/`: every filter.
    Collection,
    /// `…/objects/{id}/`: `added_after`, `match[version]`, `match[spec_version]`.
    Object,
    /// `…/objects/{id}/versions/`: `added_after`, `match[spec_version]`.
    Versions,
}

/// Filter names, in canonical (sorted) order.
const FILTER_NAMES: [&str; 5] = [
    "added_after",
    "match[id]",
    "match[spec_version]",
    "match[type]",
    "match[version]",
];

fn supported(kind: ListKind, name: &str) -> bool {
    match kind {
        ListKind::Collection => true,
        ListKind::Object => matches!(
            name,
            "added_after" | "match[version]" | "match[spec_version]"
        ),
        ListKind::Versions => matches!(name, "added_after" | "match[spec_version]"),
    }
}

/// The raw parameters of one request, decoded but not yet interpreted.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RawQuery {
    /// Filter values by [`FILTER_NAMES`] index (only those the endpoint
    /// supports).
    pub filters: [Option<String>; 5],
    pub limit: Option<String>,
    pub next: Option<String>,
}

impl RawQuery {
    /// Whether any filter was sent (as opposed to only `limit`/`next`).
    pub(crate) fn has_filters(&self) -> bool {
        self.filters.iter().any(Option::is_some)
    }

    /// Forgets filter `name` (a parameter the TAXII version asked for does
    /// not have, e.g. `match[spec_version]` in 2.0).
    pub(crate) fn remove_filter(&mut self, name: &str) {
        if let Some(i) = FILTER_NAMES.iter().position(|f| *f == name) {
            self.filters[i] = None;
        }
    }

    /// The canonical filter string (see the module docs).
    pub fn canonical(&self) -> String {
        let mut out = String::new();
        for (name, value) in FILTER_NAMES.iter().zip(&self.filters) {
            if let Some(v) = value {
                if !out.is_empty() {
                    out.push('&');
                }
                out.push_str(name);
                out.push('=');
                for c in v.chars() {
                    match c {
                        '%' => out.push_str("%25"),
                        '&' => out.push_str("%26"),
                        '=' => out.push_str("%3D"),
                        c => out.push(c),
                    }
                }
            }
        }
        out
    }
}

/// Splits and decodes a query string, keeping the parameters `kind`
/// supports. `None` query = no parameters.
pub fn parse_raw(query: Option<&str>, kind: ListKind) -> Result<RawQuery, ParamError> {
    let mut raw = RawQuery::default();
    let Some(q) = query else { return Ok(raw) };
    for pair in q.split('&') {
        if pair.is_empty() {
            continue;
        }
        let (n, v) = pair.split_once('=').unwrap_or((pair, ""));
        let name = decode(n)?;
        let slot = match name.as_str() {
            "limit" => &mut raw.limit,
            "next" => &mut raw.next,
            other => match FILTER_NAMES.iter().position(|f| *f == other) {
                Some(i) if supported(kind, other) => &mut raw.filters[i],
                // Unknown or not supported here: ignored (docs/decisions.md#d7).
                _ => continue,
            },
        };
        if slot.is_some() {
            return Err(ParamError(format!(
                "the parameter {name} is given more than once; send one {name} with comma-separated values"
            )));
        }
        let value = decode(v)?;
        if value.is_empty() {
            return Err(ParamError(format!(
                "the parameter {name} has an empty value"
            )));
        }
        *slot = Some(value);
    }
    Ok(raw)
}

/// RFC 3986 percent-decoding into UTF-8; errors instead of replacement
/// characters.
fn decode(s: &str) -> Result<String, ParamError> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = |c: u8| (c as char).to_digit(16);
            match (
                b.get(i + 1).copied().and_then(hex),
                b.get(i + 2).copied().and_then(hex),
            ) {
                (Some(h), Some(l)) => out.push((h * 16 + l) as u8),
                _ => {
                    return Err(ParamError(format!(
                        "bad percent-encoding in the query string near {:?}",
                        s.get(i..)
                            .unwrap_or("")
                            .chars()
                            .take(12)
                            .collect::<String>()
                    )))
                }
            }
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out)
        .map_err(|_| ParamError("the query string decodes to invalid UTF-8".to_string()))
}

/// Inverse of [`RawQuery::canonical`]: parses a token's filter string.
pub fn parse_canonical(s: &str, kind: ListKind) -> Result<RawQuery, ParamError> {
    if s.is_empty() {
        return Ok(RawQuery::default());
    }
    parse_raw(Some(s), kind)
}

/// Which versions of an object `match[version]` selects.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VersionMatch {
    pub all: bool,
    pub first: bool,
    pub last: bool,
    /// Exact versions (µs), sorted.
    pub at: Vec<Micros>,
}

/// The interpreted filters of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filters {
    /// Strictly later than (docs/decisions.md#d8), on date_added.
    pub added_after: Option<Micros>,
    pub ids: Option<Vec<String>>,
    pub types: Option<Vec<String>>,
    /// Default: `last` (TAXII 2.1 filtering: "If no version parameter is
    /// provided, the server MUST return only the latest version").
    pub version: VersionMatch,
    /// `None` = the default, the latest spec version of each object.
    pub spec: Option<SpecSet>,
}

/// Accepted spec versions of an explicit `match[spec_version]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpecSet {
    pub v20: bool,
    pub v21: bool,
}

impl SpecSet {
    pub fn contains(self, v: SpecVersion) -> bool {
        match v {
            SpecVersion::V20 => self.v20,
            SpecVersion::V21 => self.v21,
        }
    }
}

impl Filters {
    /// Interprets raw filters. `kind` decides the `match[version]` default:
    /// the versions endpoint lists every version.
    pub fn from_raw(raw: &RawQuery, kind: ListKind) -> Result<Filters, ParamError> {
        let [added_after, ids, spec, types, version] = &raw.filters;
        let added_after = match added_after {
            Some(v) => Some(parse_added_after(v)?),
            None => None,
        };
        let list = |v: &Option<String>, name: &str| -> Result<Option<Vec<String>>, ParamError> {
            match v {
                None => Ok(None),
                Some(v) => {
                    let items: Vec<String> = v.split(',').map(|s| s.trim().to_string()).collect();
                    if items.iter().any(String::is_empty) {
                        return Err(ParamError(format!("{name} has an empty item in {v:?}")));
                    }
                    Ok(Some(items))
                }
            }
        };
        let ids = list(ids, "match[id]")?;
        let types = list(types, "match[type]")?;
        let mut vm = VersionMatch::default();
        match version {
            None if kind == ListKind::Versions => vm.all = true,
            None => vm.last = true,
            Some(v) => {
                for item in v.split(',').map(str::trim) {
                    match item {
                        "all" => vm.all = true,
                        "first" => vm.first = true,
                        "last" => vm.last = true,
                        t => match crate::time::parse_rfc3339(t) {
                            Ok(us) => vm.at.push(us),
                            Err(_) => {
                                return Err(ParamError(format!(
                                    "match[version] item {t:?} is not first, last, all or a timestamp like 2024-01-02T03:04:05.123Z"
                                )))
                            }
                        },
                    }
                }
                vm.at.sort_unstable();
            }
        }
        let spec = match spec {
            None => None,
            Some(v) => {
                let mut s = SpecSet {
                    v20: false,
                    v21: false,
                };
                for item in v.split(',').map(str::trim) {
                    match item {
                        "2.0" => s.v20 = true,
                        "2.1" => s.v21 = true,
                        other => {
                            return Err(ParamError(format!(
                                "match[spec_version] item {other:?} is not 2.0 or 2.1"
                            )))
                        }
                    }
                }
                Some(s)
            }
        };
        Ok(Filters {
            added_after,
            ids,
            types,
            version: vm,
            spec,
        })
    }
}

/// `added_after` per docs/decisions.md#d8: RFC 3339 with 0–9 fraction digits and `Z`
/// or `+00:00` (a literal `+` may arrive as itself; we never turn it into a
/// space). Truncation to µs keeps "strictly later" exact for µs data: an
/// entry at `…579` ns-truncated µs is earlier than the requested instant.
pub fn parse_added_after(v: &str) -> Result<Micros, ParamError> {
    let err = || {
        ParamError(format!(
            "added_after {:?} is not a UTC timestamp like 2024-01-02T03:04:05.123456Z",
            v.chars().take(64).collect::<String>()
        ))
    };
    let b = v.as_bytes();
    let utc =
        b.ends_with(b"Z") || b.ends_with(b"z") || b.ends_with(b"+00:00") || b.ends_with(b"-00:00");
    // Shape check before chrono: `YYYY-MM-DDTHH:MM:SS` then optional
    // fraction of at most 9 digits.
    if !utc || b.len() < 20 || b[10] != b'T' && b[10] != b't' {
        return Err(err());
    }
    let rest = &b[19..];
    let frac_digits = if rest.first() == Some(&b'.') {
        rest[1..].iter().take_while(|c| c.is_ascii_digit()).count()
    } else {
        0
    };
    if rest.first() == Some(&b'.') && !(1..=9).contains(&frac_digits) {
        return Err(err());
    }
    crate::time::parse_rfc3339(v).map_err(|_| err())
}

/// `limit`: a positive integer, clamped to `max` (TAXII 2.1: the server
/// may return fewer). 0, negatives and garbage are 400s.
pub fn parse_limit(v: &str, max: u32) -> Result<u32, ParamError> {
    match v.trim().parse::<u64>() {
        Ok(0) | Err(_) => Err(ParamError(format!(
            "limit {:?} is not a positive integer",
            v.chars().take(32).collect::<String>()
        ))),
        Ok(n) => Ok(n.min(u64::from(max)) as u32),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(q: &str) -> Result<RawQuery, ParamError> {
        parse_raw(Some(q), ListKind::Collection)
    }

    #[test]
    fn decodes_names_and_values() {
        let r = raw("match%5Btype%5D=indicator%2Cmalware&foo=bar&limit=5").unwrap();
        assert_eq!(r.filters[3].as_deref(), Some("indicator,malware"));
        assert_eq!(r.limit.as_deref(), Some("5"));
        assert_eq!(r.canonical(), "match[type]=indicator,malware");
    }

    #[test]
    fn repeated_filter_is_an_error_unknown_ignored() {
        assert!(raw("match[type]=a&match[type]=b").is_err());
        assert!(raw("limit=1&limit=2").is_err());
        assert_eq!(raw("x=1&x=2").unwrap(), RawQuery::default());
    }

    #[test]
    fn bad_encoding_is_an_error() {
        assert!(raw("match[type]=%zz").is_err());
        assert!(raw("match[type]=%").is_err());
        assert!(raw("match[type]=%ff%fe").is_err());
        assert!(raw("match[type]=").is_err());
    }

    #[test]
    fn canonical_is_sorted_and_round_trips() {
        let r = raw("match[version]=all&added_after=2024-01-01T00:00:00Z&match[id]=a%26b%3Dc%25")
            .unwrap();
        let c = r.canonical();
        assert_eq!(
            c,
            "added_after=2024-01-01T00:00:00Z&match[id]=a%26b%3Dc%25&match[version]=all"
        );
        assert_eq!(parse_canonical(&c, ListKind::Collection).unwrap(), r);
    }

    #[test]
    fn endpoint_decides_supported_filters() {
        let r = parse_raw(Some("match[type]=x&match[version]=all"), ListKind::Versions).unwrap();
        assert!(!r.has_filters());
        let r = parse_raw(Some("match[type]=x&match[version]=all"), ListKind::Object).unwrap();
        assert_eq!(r.canonical(), "match[version]=all");
    }

    #[test]
    fn added_after_forms() {
        let base = crate::time::parse_rfc3339("2024-01-02T03:04:05Z").unwrap();
        assert_eq!(parse_added_after("2024-01-02T03:04:05Z").unwrap(), base);
        assert_eq!(
            parse_added_after("2024-01-02T03:04:05+00:00").unwrap(),
            base
        );
        assert_eq!(
            parse_added_after("2024-01-02T03:04:05.123456789Z").unwrap(),
            base + 123_456
        );
        assert_eq!(
            parse_added_after("2024-01-02T03:04:05.1Z").unwrap(),
            base + 100_000
        );
        for bad in [
            "2024-01-02T03:04:05.1234567890Z",
            "2024-01-02T03:04:05.Z",
            "2024-01-02T03:04:05+02:00",
            "2024-01-02",
            "yesterday",
            "2024-01-02 03:04:05Z",
        ] {
            assert!(parse_added_after(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn limit_rules() {
        assert_eq!(parse_limit("5", 10).unwrap(), 5);
        assert_eq!(parse_limit("50", 10).unwrap(), 10);
        assert_eq!(parse_limit("99999999999999999", 10).unwrap(), 10);
        for bad in ["0", "-1", "abc", "1.5"] {
            assert!(parse_limit(bad, 10).is_err(), "{bad}");
        }
    }

    #[test]
    fn filters_interpretation() {
        let r =
            raw("match[version]=first,2024-01-02T03:04:05.123Z&match[spec_version]=2.1").unwrap();
        let f = Filters::from_raw(&r, ListKind::Collection).unwrap();
        assert!(f.version.first && !f.version.last && !f.version.all);
        assert_eq!(f.version.at.len(), 1);
        assert_eq!(
            f.spec,
            Some(SpecSet {
                v20: false,
                v21: true
            })
        );
        let f = Filters::from_raw(&RawQuery::default(), ListKind::Collection).unwrap();
        assert!(f.version.last && f.spec.is_none());
        let f = Filters::from_raw(&RawQuery::default(), ListKind::Versions).unwrap();
        assert!(f.version.all);
        assert!(
            Filters::from_raw(&raw("match[version]=latest").unwrap(), ListKind::Collection)
                .is_err()
        );
        assert!(Filters::from_raw(
            &raw("match[spec_version]=2.2").unwrap(),
            ListKind::Collection
        )
        .is_err());
        assert!(
            Filters::from_raw(&raw("match[type]=a,,b").unwrap(), ListKind::Collection).is_err()
        );
    }
}
