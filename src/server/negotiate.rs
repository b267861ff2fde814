//! Content negotiation: `Accept` (docs/decisions.md#d6), `Accept-Encoding`
//! (which content coding, if any) and `If-None-Match`.
//!
//! These run on every request, so they scan the header bytes in place
//! without allocating.

use crate::feed::Coding;

/// Whether the `Accept` header admits a TAXII 2.1 answer.
///
/// Accepted (docs/decisions.md#d6): no header; `application/taxii+json` with
/// `version=2.1` (spaces and quotes allowed) or with no version (= the
/// latest, TAXII 2.1 section 1.6.8.1 media types); `*/*`; `application/*`.
/// A media range with `q=0` is refused explicitly. Several headers or a
/// comma list: any acceptable range is enough.
pub fn accepts_taxii21<'a>(values: impl Iterator<Item = &'a [u8]>) -> bool {
    let mut seen = false;
    for value in values {
        seen = true;
        let Ok(s) = std::str::from_utf8(value) else {
            continue;
        };
        for range in split_unquoted(s, b',') {
            if range_ok(range) {
                return true;
            }
        }
    }
    !seen
}

/// A TAXII protocol version this server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaxiiVersion {
    V20,
    V21,
}

/// What a path offers: which versions, and which one `*/*` (or no
/// `Accept` at all) means there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offer {
    pub v20: bool,
    pub v21: bool,
    pub default: TaxiiVersion,
}

/// The outcome of version negotiation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    /// The version to answer in; `None` = 406.
    pub chosen: Option<TaxiiVersion>,
    /// The chosen version, else the one the client named (else the path
    /// default): the media type of a 406 and of errors raised before the
    /// version is settled.
    pub asked: TaxiiVersion,
}

/// Picks the TAXII version of the answer from `Accept` (docs/decisions.md#d6 for
/// 2.1, TAXII 2.0 section 1.5 media types for 2.0).
///
/// - `application/taxii+json` with `version=2.1` or no version → 2.1;
/// - `application/vnd.oasis.taxii+json` or `application/vnd.oasis.stix+json`
///   with `version=2.0` or no version → 2.0 (either type on every 2.0
///   endpoint: the answer carries the endpoint's own type);
/// - `*/*`, `application/*` and no header at all → the path's default;
/// - spaces, quotes, q-values and lists are allowed; `q=0` refuses a
///   range. Between acceptable versions the higher q wins, then an
///   explicitly named version over a wildcard, then the path default.
pub fn negotiate<'a>(values: impl Iterator<Item = &'a [u8]>, offer: Offer) -> Negotiated {
    negotiate_with(values, offer, true)
}

/// [`negotiate`] counting only explicitly named TAXII media types: used
/// when the path-level choice is a version the collection does not offer,
/// to honour an `Accept` that also names the version it does offer
/// (wildcards keep meaning the path default, so they still get a 406).
pub(crate) fn negotiate_named<'a>(
    values: impl Iterator<Item = &'a [u8]>,
    offer: Offer,
) -> Negotiated {
    negotiate_with(values, offer, false)
}

fn negotiate_with<'a>(
    values: impl Iterator<Item = &'a [u8]>,
    offer: Offer,
    wildcards: bool,
) -> Negotiated {
    let (mut q20, mut q21, mut qw): (Option<f32>, Option<f32>, Option<f32>) = (None, None, None);
    let mut seen = false;
    let mut named20 = false;
    let mut named21 = false;
    let max = |slot: &mut Option<f32>, q: f32| {
        *slot = Some(slot.map_or(q, |o| o.max(q)));
    };
    for value in values {
        seen = true;
        let Ok(s) = std::str::from_utf8(value) else {
            continue;
        };
        for range in split_unquoted(s, b',') {
            let Some((class, q)) = classify(range) else {
                continue;
            };
            match class {
                Class::V20 => named20 = true,
                Class::V21 => named21 = true,
                Class::Any => {}
            }
            if q <= 0.0 {
                continue;
            }
            match class {
                Class::V20 => max(&mut q20, q),
                Class::V21 => max(&mut q21, q),
                Class::Any if wildcards => max(&mut qw, q),
                Class::Any => {}
            }
        }
    }
    let asked = if named20 && !named21 {
        TaxiiVersion::V20
    } else if named21 && !named20 {
        TaxiiVersion::V21
    } else {
        offer.default
    };
    if !seen {
        return Negotiated {
            chosen: wildcards.then_some(offer.default),
            asked: offer.default,
        };
    }
    // (q, explicitly named, is the default) — the larger wins.
    let score = |v: TaxiiVersion, named: Option<f32>| -> Option<(f32, bool, bool)> {
        let best = match (named, qw) {
            (Some(a), Some(b)) if b > a => (b, false),
            (Some(a), _) => (a, true),
            (None, Some(b)) => (b, false),
            (None, None) => return None,
        };
        Some((best.0, best.1, v == offer.default))
    };
    let s20 = if offer.v20 {
        score(TaxiiVersion::V20, q20)
    } else {
        None
    };
    let s21 = if offer.v21 {
        score(TaxiiVersion::V21, q21)
    } else {
        None
    };
    let chosen = match (s20, s21) {
        (Some(a), Some(b)) => {
            if a.partial_cmp(&b) == Some(std::cmp::Ordering::Greater) {
                Some(TaxiiVersion::V20)
            } else {
                Some(TaxiiVersion::V21)
            }
        }
        (Some(_), None) => Some(TaxiiVersion::V20),
        (None, Some(_)) => Some(TaxiiVersion::V21),
        (None, None) => None,
    };
    Negotiated {
        chosen,
        asked: chosen.unwrap_or(asked),
    }
}

enum Class {
    V20,
    V21,
    Any,
}

/// A media range's TAXII class and q-value, or `None` if it names nothing
/// we serve.
fn classify(range: &str) -> Option<(Class, f32)> {
    let mut parts = split_unquoted(range, b';');
    let mt = parts.next()?.trim();
    let mut version: Option<&str> = None;
    let mut q = 1.0f32;
    for p in parts {
        let Some((k, v)) = p.split_once('=') else {
            continue;
        };
        let k = k.trim();
        let v = v.trim().trim_matches('"').trim();
        if k.eq_ignore_ascii_case("q") {
            q = v.parse::<f32>().unwrap_or(1.0);
        } else if k.eq_ignore_ascii_case("version") {
            version = Some(v);
        }
    }
    if mt == "*/*" || mt.eq_ignore_ascii_case("application/*") {
        return Some((Class::Any, q));
    }
    if mt.eq_ignore_ascii_case("application/taxii+json") {
        return matches!(version, None | Some("2.1")).then_some((Class::V21, q));
    }
    if mt.eq_ignore_ascii_case("application/vnd.oasis.taxii+json")
        || mt.eq_ignore_ascii_case("application/vnd.oasis.stix+json")
    {
        return matches!(version, None | Some("2.0")).then_some((Class::V20, q));
    }
    None
}

fn range_ok(range: &str) -> bool {
    let mut parts = split_unquoted(range, b';');
    let Some(mt) = parts.next() else { return false };
    let mt = mt.trim();
    let mut version: Option<&str> = None;
    for p in parts {
        let Some((k, v)) = p.split_once('=') else {
            continue;
        };
        let k = k.trim();
        let v = v.trim().trim_matches('"').trim();
        if k.eq_ignore_ascii_case("q") {
            if q_is_zero(v) {
                return false;
            }
        } else if k.eq_ignore_ascii_case("version") {
            version = Some(v);
        }
    }
    if mt == "*/*" || mt.eq_ignore_ascii_case("application/*") {
        return true;
    }
    if mt.eq_ignore_ascii_case("application/taxii+json") {
        return matches!(version, None | Some("2.1"));
    }
    false
}

fn q_is_zero(v: &str) -> bool {
    v.parse::<f32>().map(|q| q <= 0.0).unwrap_or(false)
}

/// Splits on `sep` outside double quotes.
fn split_unquoted(s: &str, sep: u8) -> impl Iterator<Item = &str> {
    let b = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    let mut quoted = false;
    let mut done = false;
    std::iter::from_fn(move || {
        if done {
            return None;
        }
        while i < b.len() {
            let c = b[i];
            i += 1;
            if c == b'"' {
                quoted = !quoted;
            } else if c == sep && !quoted {
                let part = &s[start..i - 1];
                start = i;
                return Some(part);
            }
        }
        done = true;
        Some(&s[start..])
    })
}

/// The content coding of the answer, `None` for identity (docs/decisions.md#d23,
/// `docs/decisions.md#d23`): zstd or gzip, whichever the client ranks
/// higher by q-value, zstd on a tie (smaller, and cheaper to make). `q=0`
/// refuses a coding; `*` stands for the codings not named (RFC 9110
/// 12.5.3); an `identity` named with a higher q than every acceptable
/// coding keeps the answer uncompressed. A q-value that does not parse
/// counts as 1.
pub fn pick_coding<'a>(values: impl Iterator<Item = &'a [u8]>) -> Option<Coding> {
    let mut zstd: Option<f32> = None;
    let mut gzip: Option<f32> = None;
    let mut identity: Option<f32> = None;
    let mut star: Option<f32> = None;
    for value in values {
        let Ok(s) = std::str::from_utf8(value) else {
            continue;
        };
        for item in s.split(',') {
            let mut parts = item.split(';');
            let name = parts.next().unwrap_or("").trim();
            let mut q = 1.0f32;
            for p in parts {
                if let Some((k, v)) = p.split_once('=') {
                    if k.trim().eq_ignore_ascii_case("q") {
                        q = v.trim().parse::<f32>().unwrap_or(1.0);
                    }
                }
            }
            let q = if q.is_nan() { 1.0 } else { q.clamp(0.0, 1.0) };
            if name.eq_ignore_ascii_case("zstd") {
                zstd = Some(q);
            } else if name.eq_ignore_ascii_case("gzip") || name.eq_ignore_ascii_case("x-gzip") {
                gzip = Some(q);
            } else if name.eq_ignore_ascii_case("identity") {
                identity = Some(q);
            } else if name == "*" {
                star = Some(q);
            }
        }
    }
    let qz = zstd.or(star).unwrap_or(0.0);
    let qg = gzip.or(star).unwrap_or(0.0);
    let best = qz.max(qg);
    if best <= 0.0 || identity.is_some_and(|qi| qi > best) {
        None
    } else if qz >= qg {
        Some(Coding::Zstd)
    } else {
        Some(Coding::Gzip)
    }
}

/// Whether `If-None-Match` matches `etag` (weak comparison, RFC 9110
/// 13.1.2: `W/` prefixes are ignored; `*` matches any current resource).
pub fn none_match<'a>(values: impl Iterator<Item = &'a [u8]>, etag: &str) -> bool {
    let want = etag.trim_start_matches("W/").as_bytes();
    for value in values {
        for tag in value.split(|&c| c == b',') {
            let tag = trim(tag);
            if tag == b"*" {
                return true;
            }
            let tag = tag.strip_prefix(b"W/").unwrap_or(tag);
            if tag == want {
                return true;
            }
        }
    }
    false
}

fn trim(mut b: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = b {
        if first.is_ascii_whitespace() {
            b = rest;
        } else {
            break;
        }
    }
    while let [rest @ .., last] = b {
        if last.is_ascii_whitespace() {
            b = rest;
        } else {
            break;
        }
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acc(v: &[&str]) -> bool {
        accepts_taxii21(v.iter().map(|s| s.as_bytes()))
    }

    #[test]
    fn accept_forms() {
        assert!(acc(&[]));
        assert!(acc(&["application/taxii+json;version=2.1"]));
        assert!(acc(&["application/taxii+json; version=2.1"]));
        assert!(acc(&["application/taxii+json; version=\"2.1\""]));
        assert!(acc(&["Application/TAXII+json ; version=2.1 ; q=0.5"]));
        assert!(acc(&["application/taxii+json"]));
        assert!(acc(&[
            "text/html, application/taxii+json;version=2.1;q=0.9"
        ]));
        assert!(acc(&["*/*"]));
        assert!(acc(&["application/*"]));
        assert!(acc(&["text/html", "*/*;q=0.1"]));
        assert!(!acc(&["application/taxii+json;version=2.0"]));
        assert!(!acc(&["application/vnd.oasis.taxii+json; version=2.0"]));
        assert!(!acc(&["application/json"]));
        assert!(!acc(&["text/html"]));
        assert!(!acc(&["application/taxii+json;version=2.1;q=0"]));
        assert!(!acc(&[""]));
    }

    fn neg(v: &[&str], offer: Offer) -> (Option<TaxiiVersion>, TaxiiVersion) {
        let n = negotiate(v.iter().map(|s| s.as_bytes()), offer);
        (n.chosen, n.asked)
    }

    #[test]
    fn version_negotiation() {
        use TaxiiVersion::*;
        let both = Offer {
            v20: true,
            v21: true,
            default: V21,
        };
        let only20 = Offer {
            v20: true,
            v21: false,
            default: V20,
        };
        let only21 = Offer {
            v20: false,
            v21: true,
            default: V21,
        };
        assert_eq!(neg(&[], both), (Some(V21), V21));
        assert_eq!(neg(&[], only20), (Some(V20), V20));
        assert_eq!(neg(&["*/*"], both), (Some(V21), V21));
        assert_eq!(neg(&["*/*"], only20), (Some(V20), V20));
        assert_eq!(neg(&["application/*"], only20), (Some(V20), V20));
        for v20 in [
            "application/vnd.oasis.taxii+json; version=2.0",
            "application/vnd.oasis.taxii+json;version=2.0",
            "application/vnd.oasis.stix+json; version=\"2.0\"",
            "Application/VND.OASIS.STIX+JSON ; Version = 2.0 ; q=0.5",
            "application/vnd.oasis.taxii+json",
            "text/html, application/vnd.oasis.taxii+json; version=2.0",
            "application/taxii+json;version=2.1;q=0.5, application/vnd.oasis.taxii+json; version=2.0",
            "*/*;q=0.1, application/vnd.oasis.stix+json; version=2.0;q=0.1",
        ] {
            assert_eq!(neg(&[v20], both), (Some(V20), V20), "{v20}");
            assert_eq!(neg(&[v20], only20).0, Some(V20), "{v20}");
            if !v20.contains("2.1") && !v20.contains("*/*") {
                assert_eq!(neg(&[v20], only21), (None, V20), "{v20}");
            } else {
                assert_eq!(neg(&[v20], only21), (Some(V21), V21), "{v20}");
            }
        }
        for v21 in [
            "application/taxii+json;version=2.1",
            "application/taxii+json",
            "application/taxii+json;version=2.1, application/vnd.oasis.taxii+json; version=2.0;q=0.9",
        ] {
            assert_eq!(neg(&[v21], both).0, Some(V21), "{v21}");
            if !v21.contains("2.0") {
                assert_eq!(neg(&[v21], only20), (None, V21), "{v21}");
            }
        }
        // Equal q: the path default.
        assert_eq!(
            neg(
                &["application/taxii+json;version=2.1, application/vnd.oasis.taxii+json; version=2.0"],
                both
            ),
            (Some(V21), V21)
        );
        // Refused explicitly, or not a TAXII type.
        assert_eq!(
            neg(
                &["application/vnd.oasis.taxii+json; version=2.0; q=0"],
                both
            ),
            (None, V20)
        );
        assert_eq!(
            neg(&["application/vnd.oasis.taxii+json; version=2.1"], both).0,
            None
        );
        assert_eq!(neg(&["text/html"], only20), (None, V20));
        assert_eq!(neg(&["text/html"], both), (None, V21));
        assert_eq!(neg(&[""], both).0, None);
        // Named only: wildcards do not count.
        let named = |v: &[&str], offer| {
            negotiate_named(v.iter().map(|s: &&str| s.as_bytes()), offer).chosen
        };
        assert_eq!(named(&["*/*"], only20), None);
        assert_eq!(named(&[], only20), None);
        assert_eq!(
            named(
                &["application/taxii+json;version=2.1, application/vnd.oasis.taxii+json; version=2.0;q=0.5"],
                only20
            ),
            Some(V20)
        );
        // A wildcard with a higher q than the named version.
        assert_eq!(
            neg(
                &["application/vnd.oasis.taxii+json; version=2.0;q=0.2, */*"],
                both
            ),
            (Some(V21), V21)
        );
    }

    fn enc(v: &str) -> Option<Coding> {
        pick_coding(std::iter::once(v.as_bytes()))
    }

    #[test]
    fn encoding_choice() {
        assert_eq!(enc("gzip, deflate"), Some(Coding::Gzip));
        assert_eq!(enc("gzip, zstd"), Some(Coding::Zstd));
        assert_eq!(enc("zstd;q=0, gzip"), Some(Coding::Gzip));
        assert_eq!(enc("gzip;q=0"), None);
        assert_eq!(enc("*"), Some(Coding::Zstd));
        assert_eq!(enc("*, zstd;q=0"), Some(Coding::Gzip));
        assert_eq!(enc("identity"), None);
        assert_eq!(pick_coding(std::iter::empty()), None);
        // q-values rank the codings; identity wins only when named higher.
        assert_eq!(enc("gzip;q=0.5, zstd;q=0.4"), Some(Coding::Gzip));
        assert_eq!(enc("zstd;q=0.5, gzip;q=0.5"), Some(Coding::Zstd));
        assert_eq!(enc("identity;q=1, gzip;q=0"), None);
        assert_eq!(enc("identity, gzip;q=0.5"), None);
        assert_eq!(enc("gzip, identity;q=0.5"), Some(Coding::Gzip));
        assert_eq!(enc("GZIP ; Q=0.8"), Some(Coding::Gzip));
        assert_eq!(enc("x-gzip"), Some(Coding::Gzip));
        assert_eq!(enc("gzip;q=bogus"), Some(Coding::Gzip));
        assert_eq!(enc("*;q=0"), None);
        assert_eq!(enc("br, deflate"), None);
    }

    #[test]
    fn if_none_match() {
        let inm = |v: &str| none_match(std::iter::once(v.as_bytes()), "\"abc\"");
        assert!(inm("\"abc\""));
        assert!(inm("\"x\", W/\"abc\""));
        assert!(inm("*"));
        assert!(!inm("\"abd\""));
    }
}
