//! Value normalisation shared by every indicator profile: trim, refang,
//! validate per type, and bring each value to its one canonical spelling
//! (lower-case hashes and domains, RFC 5952 IPv6, digits-only ASNs).
//!
//! Why one place: the filter language, the deterministic STIX ids and the
//! patterns all key on the normalised value, so two exports spelling the same
//! indicator differently must end up byte-identical here.
//!
//! Policies (docs/decisions.md#d48):
//! - every value is trimmed of surrounding whitespace (a `Trimmed` warning);
//! - network-ish types (ipv4, ipv6, cidr, domain, url, email) are refanged:
//!   `hxxp`→`http` (any case of the `xx`), `[.]`/`(.)`→`.`, `[:]`→`:`,
//!   `[@]`→`@` (a `Refanged` warning). Free-text types (mutex, registry key,
//!   user agent, e-mail subject) and hashes are never refanged: `[.]` may
//!   be part of a real mutex name;
//! - invalid values are rejected with a message saying what is wrong.

use crate::record::{FileHashes, IndicatorType};
use crate::time::{self, Micros};
use std::borrow::Cow;
use std::net::{Ipv4Addr, Ipv6Addr};

/// What normalisation did to a value, reported as a warning by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fix {
    Trimmed,
    Refanged,
}

/// Shortens a value for an error message (values can be huge or binary).
pub(crate) fn shown(s: &str) -> String {
    const MAX: usize = 80;
    if s.chars().count() <= MAX {
        format!("{s:?}")
    } else {
        let head: String = s.chars().take(MAX).collect();
        format!("{head:?}…")
    }
}

fn refang_applies(kind: IndicatorType) -> bool {
    matches!(
        kind,
        IndicatorType::Ipv4
            | IndicatorType::Ipv6
            | IndicatorType::Cidr
            | IndicatorType::Domain
            | IndicatorType::Url
            | IndicatorType::Email
    )
}

/// Undoes common defanging. Returns `None` when nothing changed (the usual
/// case: no allocation).
pub(crate) fn refang(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let has_marker =
        memchr::memchr3(b'[', b'(', b'x', bytes).is_some() || memchr::memchr(b'X', bytes).is_some();
    if !has_marker {
        return None;
    }
    let mut out = String::with_capacity(s.len());
    let mut changed = false;
    let mut i = 0;
    while i < bytes.len() {
        let rest = &bytes[i..];
        // `hxxp` only as a URL scheme (`hxxp://`, `hxxps://`): elsewhere it
        // may be part of a real name.
        if i == 0
            && rest.len() >= 7
            && (rest[4..].starts_with(b"://")
                || (matches!(rest[4], b's' | b'S') && rest[5..].starts_with(b"://")))
            && (rest[0] == b'h' || rest[0] == b'H')
            && (rest[1] == b'x' || rest[1] == b'X')
            && (rest[2] == b'x' || rest[2] == b'X')
            && (rest[3] == b'p' || rest[3] == b'P')
        {
            out.push_str(if rest[0] == b'H' { "HTTP" } else { "http" });
            changed = true;
            i += 4;
            continue;
        }
        if rest.len() >= 3 {
            let rep = match &rest[..3] {
                b"[.]" | b"(.)" => Some('.'),
                b"[:]" => Some(':'),
                b"[@]" => Some('@'),
                _ => None,
            };
            if let Some(c) = rep {
                out.push(c);
                changed = true;
                i += 3;
                continue;
            }
        }
        // Copy one UTF-8 character.
        let ch_len = utf8_len(bytes[i]);
        let end = (i + ch_len).min(bytes.len());
        out.push_str(&s[i..end]);
        i = end;
    }
    changed.then_some(out)
}

fn utf8_len(b: u8) -> usize {
    match b {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    }
}

/// Trims and refangs `raw` for `kind`, reporting each fix through `fix`.
pub(crate) fn clean<'a>(
    kind: IndicatorType,
    raw: &'a str,
    fix: &mut dyn FnMut(Fix, String),
) -> Cow<'a, str> {
    let trimmed = raw.trim();
    if trimmed.len() != raw.len() {
        fix(
            Fix::Trimmed,
            format!("value {} trimmed of surrounding whitespace", shown(raw)),
        );
    }
    if refang_applies(kind) {
        if let Some(r) = refang(trimmed) {
            fix(
                Fix::Refanged,
                format!("value {} refanged to {}", shown(trimmed), shown(&r)),
            );
            return Cow::Owned(r);
        }
    }
    Cow::Borrowed(trimmed)
}

/// Validates a cleaned value of `kind` and returns its canonical form.
/// The error says what is wrong, for an `invalid-value` reject.
pub(crate) fn canonical(kind: IndicatorType, v: &str) -> Result<String, String> {
    if v.is_empty() {
        return Err(format!("empty {kind} value"));
    }
    match kind {
        IndicatorType::Ipv4 => v
            .parse::<Ipv4Addr>()
            .map(|a| a.to_string())
            .map_err(|_| format!("{} is not an IPv4 address", shown(v))),
        IndicatorType::Ipv6 => v
            .parse::<Ipv6Addr>()
            .map(|a| a.to_string())
            .map_err(|_| format!("{} is not an IPv6 address", shown(v))),
        IndicatorType::Cidr => cidr(v),
        IndicatorType::Domain => domain(v),
        IndicatorType::Url => {
            if v.chars().any(|c| c.is_whitespace() || c.is_control()) {
                Err(format!(
                    "URL {} contains whitespace or control characters",
                    shown(v)
                ))
            } else {
                Ok(v.to_string())
            }
        }
        IndicatorType::Email => email(v),
        IndicatorType::Md5 => hash(v, 32, "MD5"),
        IndicatorType::Sha1 => hash(v, 40, "SHA-1"),
        IndicatorType::Sha256 => hash(v, 64, "SHA-256"),
        IndicatorType::Sha512 => hash(v, 128, "SHA-512"),
        IndicatorType::File => hash_any(v).map(|(_, h)| h),
        IndicatorType::Asn => asn(v),
        IndicatorType::Mutex
        | IndicatorType::RegistryKey
        | IndicatorType::UserAgent
        | IndicatorType::EmailSubject => Ok(v.to_string()),
    }
}

fn cidr(v: &str) -> Result<String, String> {
    let bad = || format!("{} is not a CIDR block (address/prefix)", shown(v));
    let (addr, prefix) = v.split_once('/').ok_or_else(bad)?;
    if prefix.is_empty() || prefix.len() > 3 || !prefix.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let p: u32 = prefix.parse().map_err(|_| bad())?;
    if let Ok(a) = addr.parse::<Ipv4Addr>() {
        if p > 32 {
            return Err(format!(
                "CIDR {}: IPv4 prefix {p} is larger than 32",
                shown(v)
            ));
        }
        return Ok(format!("{a}/{p}"));
    }
    if let Ok(a) = addr.parse::<Ipv6Addr>() {
        if p > 128 {
            return Err(format!(
                "CIDR {}: IPv6 prefix {p} is larger than 128",
                shown(v)
            ));
        }
        return Ok(format!("{a}/{p}"));
    }
    Err(bad())
}

/// Lower-cases and checks a host name: 1–253 characters, labels of 1–63,
/// no whitespace, control characters or URL punctuation. Underscores and
/// non-ASCII (IDN) characters are allowed: both occur in real names.
fn domain(v: &str) -> Result<String, String> {
    let d = v.strip_suffix('.').unwrap_or(v);
    if d.is_empty() || d.len() > 253 {
        return Err(format!("domain {} must have 1 to 253 characters", shown(v)));
    }
    if let Some(c) = d
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || "/\\@:?#[]()<>\"',;*%".contains(*c))
    {
        return Err(format!("domain {} contains the character {c:?}", shown(v)));
    }
    for label in d.split('.') {
        if label.is_empty() {
            return Err(format!("domain {} has an empty label", shown(v)));
        }
        if label.len() > 63 {
            return Err(format!(
                "domain {} has a label longer than 63 characters",
                shown(v)
            ));
        }
    }
    Ok(d.to_lowercase())
}

fn email(v: &str) -> Result<String, String> {
    let (local, dom) = v
        .rsplit_once('@')
        .ok_or_else(|| format!("e-mail address {} has no '@'", shown(v)))?;
    if local.is_empty() {
        return Err(format!(
            "e-mail address {} has an empty local part",
            shown(v)
        ));
    }
    if local.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("e-mail address {} contains whitespace", shown(v)));
    }
    let dom = domain(dom).map_err(|e| format!("e-mail address {}: {e}", shown(v)))?;
    Ok(format!("{local}@{dom}"))
}

fn hash(v: &str, len: usize, name: &str) -> Result<String, String> {
    if v.len() != len {
        return Err(format!(
            "{name} hash {} has {} characters, expected {len} hex digits",
            shown(v),
            v.chars().count()
        ));
    }
    if !v.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("{name} hash {} is not hexadecimal", shown(v)));
    }
    Ok(v.to_ascii_lowercase())
}

/// Classifies a hash by its length (32 md5, 40 sha1, 64 sha256, 128 sha512)
/// and returns it lower-case.
pub(crate) fn hash_any(v: &str) -> Result<(IndicatorType, String), String> {
    let kind = match v.len() {
        32 => IndicatorType::Md5,
        40 => IndicatorType::Sha1,
        64 => IndicatorType::Sha256,
        128 => IndicatorType::Sha512,
        _ => {
            return Err(format!(
                "{} is not a file hash (expected 32, 40, 64 or 128 hex digits)",
                shown(v)
            ))
        }
    };
    let h = canonical(kind, v)?;
    Ok((kind, h))
}

fn asn(v: &str) -> Result<String, String> {
    // Compare bytes: slicing a str at 2 or 3 would panic inside a
    // multi-byte character of hostile input; after an ASCII match the cut
    // is on a character boundary.
    let b = v.as_bytes();
    let digits = if b.get(..3).is_some_and(|p| p.eq_ignore_ascii_case(b"asn")) {
        &v[3..]
    } else if b.get(..2).is_some_and(|p| p.eq_ignore_ascii_case(b"as")) {
        &v[2..]
    } else {
        v
    };
    let digits = digits.trim();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "ASN {} is not a number (expected e.g. AS64500 or 64500)",
            shown(v)
        ));
    }
    let n: u32 = digits
        .parse()
        .map_err(|_| format!("ASN {} is larger than 4294967295", shown(v)))?;
    Ok(n.to_string())
}

/// Sets the hash of `kind` in `hashes`. Returns false when a different value
/// of the same kind is already there.
pub(crate) fn put_hash(hashes: &mut FileHashes, kind: IndicatorType, h: String) -> bool {
    let slot = match kind {
        IndicatorType::Md5 => &mut hashes.md5,
        IndicatorType::Sha1 => &mut hashes.sha1,
        IndicatorType::Sha256 => &mut hashes.sha256,
        IndicatorType::Sha512 => &mut hashes.sha512,
        _ => return false,
    };
    match slot {
        Some(old) => *old == h,
        None => {
            *slot = Some(h);
            true
        }
    }
}

/// The type and value of a file known by `hashes`: the single hash's type,
/// or `File` with the strongest hash (sha512 > sha256 > sha1 > md5).
pub(crate) fn file_kind(hashes: &FileHashes) -> Option<(IndicatorType, String)> {
    let strongest = [
        (IndicatorType::Sha512, &hashes.sha512),
        (IndicatorType::Sha256, &hashes.sha256),
        (IndicatorType::Sha1, &hashes.sha1),
        (IndicatorType::Md5, &hashes.md5),
    ]
    .into_iter()
    .find_map(|(k, h)| h.as_ref().map(|h| (k, h.clone())))?;
    if hashes.count() > 1 {
        Some((IndicatorType::File, strongest.1))
    } else {
        Some(strongest)
    }
}

/// The instant `0001-01-01T00:00:00Z`, which XSOAR writes for "unset".
const YEAR_ONE: Micros = -62_135_596_800_000_000;

/// Parses an export timestamp (RFC 3339 with any fraction and offset, or
/// the lenient forms of [`time::parse_lenient`]) truncated to milliseconds.
/// `Ok(None)` for `0001-01-01T00:00:00Z` (and anything in year 1), which
/// exports use for "unset".
pub(crate) fn date(field: &str, s: &str) -> Result<Option<Micros>, String> {
    match time::parse_lenient(s) {
        Ok(t) if t < YEAR_ONE + 366 * time::DAY => Ok(None),
        Ok(t) => Ok(Some(time::truncate_ms(t))),
        Err(_) => Err(format!(
            "{field} {} is not a timestamp (expected RFC 3339, e.g. 2024-01-02T03:04:05Z)",
            shown(s)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(kind: IndicatorType, raw: &str) -> (Result<String, String>, Vec<Fix>) {
        let mut fixes = Vec::new();
        let c = clean(kind, raw, &mut |f, _| fixes.push(f));
        (canonical(kind, &c), fixes)
    }

    #[test]
    fn refangs_and_trims_with_warnings() {
        assert_eq!(
            run(
                IndicatorType::Url,
                " hxxps://evil[.]example(.)com[:]8080/a "
            ),
            (
                Ok("https://evil.example.com:8080/a".into()),
                vec![Fix::Trimmed, Fix::Refanged]
            )
        );
        assert_eq!(
            run(IndicatorType::Email, "Bob[@]Example[.]COM"),
            (Ok("Bob@example.com".into()), vec![Fix::Refanged])
        );
        // Free text is never refanged.
        assert_eq!(
            run(IndicatorType::Mutex, "Global\\[.]x"),
            (Ok("Global\\[.]x".into()), vec![])
        );
        assert_eq!(refang("plain.example.com"), None);
        assert_eq!(refang("hxxp-free.example"), None);
        assert_eq!(refang("HXXPS://a").as_deref(), Some("HTTPS://a"));
        assert_eq!(refang("ünïcode[.]x").as_deref(), Some("ünïcode.x"));
    }

    #[test]
    fn validates_each_type() {
        use IndicatorType::*;
        assert_eq!(canonical(Ipv4, "198.51.100.7").unwrap(), "198.51.100.7");
        assert!(canonical(Ipv4, "198.51.100.256")
            .unwrap_err()
            .contains("not an IPv4"));
        assert_eq!(
            canonical(Ipv6, "2001:0db8:0000:0000:0000:0000:0000:0001").unwrap(),
            "2001:db8::1"
        );
        assert_eq!(
            canonical(Cidr, "198.51.100.0/24").unwrap(),
            "198.51.100.0/24"
        );
        assert_eq!(canonical(Cidr, "2001:DB8::/32").unwrap(), "2001:db8::/32");
        assert!(canonical(Cidr, "198.51.100.0/33")
            .unwrap_err()
            .contains("larger than 32"));
        assert!(canonical(Cidr, "198.51.100.0").is_err());
        assert_eq!(
            canonical(Domain, "Evil.Example.COM.").unwrap(),
            "evil.example.com"
        );
        assert!(canonical(Domain, "evil example.com")
            .unwrap_err()
            .contains("' '"));
        assert!(canonical(Domain, "a..b")
            .unwrap_err()
            .contains("empty label"));
        assert!(canonical(Email, "nobody").unwrap_err().contains("no '@'"));
        assert_eq!(
            canonical(Md5, "D41D8CD98F00B204E9800998ECF8427E").unwrap(),
            "d41d8cd98f00b204e9800998ecf8427e"
        );
        assert!(canonical(Sha1, "abc").unwrap_err().contains("expected 40"));
        assert!(canonical(Md5, "g41d8cd98f00b204e9800998ecf8427e")
            .unwrap_err()
            .contains("not hexadecimal"));
        assert_eq!(canonical(Asn, "ASN204288").unwrap(), "204288");
        assert_eq!(canonical(Asn, "AS15169").unwrap(), "15169");
        assert!(canonical(Asn, "AS-x").is_err());
        assert!(canonical(Url, "http://a b").is_err());
    }

    #[test]
    fn dates_unset_and_truncated() {
        assert_eq!(date("modified", "0001-01-01T00:00:00Z"), Ok(None));
        assert_eq!(
            date("modified", "2021-12-08T09:32:24.104143+02:00")
                .unwrap()
                .map(time::fmt_us)
                .as_deref(),
            Some("2021-12-08T07:32:24.104000Z")
        );
        assert!(date("modified", "yesterday")
            .unwrap_err()
            .contains("modified \"yesterday\""));
    }
}
