//! STIX patterns for canonical indicators, and the string-literal grammar
//! they rely on.
//!
//! A value is data, never pattern syntax: every value goes through
//! [`push_string_literal`], which applies the only two escapes the STIX
//! pattern grammar knows (STIX 2.1 §9.2, `StringLiteral`: `\\` and `\'`).
//! Everything else (newlines, `]`, quotes of other kinds, any Unicode)
//! stays as it is inside the quotes, because the grammar allows any other
//! character there. [`decode_string_literal`] is the inverse, written from
//! the grammar rather than from the encoder, so that tests and the fuzz
//! target can check one against the other.

use crate::record::{FileHashes, Indicator, IndicatorType};

/// Appends `value` as a STIX pattern string literal, quotes included.
pub fn push_string_literal(out: &mut String, value: &str) {
    out.reserve(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            _ => out.push(c),
        }
    }
    out.push('\'');
}

/// Decodes one complete STIX pattern string literal (`'…'`, quotes
/// included) back to its value. `None` when `literal` is not exactly one
/// well-formed literal: a missing quote, an escape other than `\\` or `\'`,
/// or anything after the closing quote.
pub fn decode_string_literal(literal: &str) -> Option<String> {
    let inner = literal.strip_prefix('\'')?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next()? {
                '\\' => out.push('\\'),
                '\'' => out.push('\''),
                _ => return None,
            },
            // An unescaped quote ends the literal; it must end the input too.
            '\'' => return chars.next().is_none().then_some(out),
            _ => out.push(c),
        }
    }
    None
}

/// The STIX hash names in the order STIX 2.1 prefers them (§6.7: MD5,
/// SHA-1, SHA-256, SHA-512), paired with the pattern path segment (names
/// with a `-` must be quoted in an object path).
pub(crate) fn present_hashes(
    h: &FileHashes,
) -> impl Iterator<Item = (&'static str, &'static str, &str)> {
    [
        ("MD5", "MD5", h.md5.as_deref()),
        ("SHA-1", "'SHA-1'", h.sha1.as_deref()),
        ("SHA-256", "'SHA-256'", h.sha256.as_deref()),
        ("SHA-512", "'SHA-512'", h.sha512.as_deref()),
    ]
    .into_iter()
    .filter_map(|(name, path, v)| v.map(|v| (name, path, v)))
}

/// The pattern path segment of a single-hash type.
fn hash_path(kind: IndicatorType) -> Option<&'static str> {
    Some(match kind {
        IndicatorType::Md5 => "MD5",
        IndicatorType::Sha1 => "'SHA-1'",
        IndicatorType::Sha256 => "'SHA-256'",
        IndicatorType::Sha512 => "'SHA-512'",
        _ => return None,
    })
}

/// The pattern path segment for a bare hash, guessed from its length (for
/// a `file` indicator that carries no separate hashes).
fn hash_path_by_len(value: &str) -> &'static str {
    match value.len() {
        40 => "'SHA-1'",
        64 => "'SHA-256'",
        128 => "'SHA-512'",
        _ => "MD5",
    }
}

/// Whether a CIDR or address value is IPv6 (IPv4 never contains `:`).
pub(crate) fn is_ipv6(value: &str) -> bool {
    value.contains(':')
}

/// The STIX pattern of an indicator, e.g. `[ipv4-addr:value = '198.51.100.1']`.
///
/// Forms (docs/decisions.md#d39): CIDR blocks use the address
/// object of their family with the prefix in the value; a `file` with
/// several hashes ORs one comparison per present hash (MD5, SHA-1, SHA-256,
/// SHA-512 order); an ASN is compared as a number when its value is
/// digits (the input layer guarantees that), and as a string literal
/// otherwise, so that a bad value can never produce invalid syntax; a
/// registry key with a value name (ThreatConnect `Value Name`) also
/// matches that value's name.
pub fn pattern(ind: &Indicator) -> String {
    let mut out = String::with_capacity(ind.value.len() + 48);
    out.push('[');
    let simple = |out: &mut String, path: &str, value: &str| {
        out.push_str(path);
        out.push_str(" = ");
        push_string_literal(out, value);
    };
    match ind.kind {
        IndicatorType::Ipv4 => simple(&mut out, "ipv4-addr:value", &ind.value),
        IndicatorType::Ipv6 => simple(&mut out, "ipv6-addr:value", &ind.value),
        IndicatorType::Cidr => {
            let path = if is_ipv6(&ind.value) {
                "ipv6-addr:value"
            } else {
                "ipv4-addr:value"
            };
            simple(&mut out, path, &ind.value)
        }
        IndicatorType::Domain => simple(&mut out, "domain-name:value", &ind.value),
        IndicatorType::Url => simple(&mut out, "url:value", &ind.value),
        IndicatorType::Email => simple(&mut out, "email-addr:value", &ind.value),
        IndicatorType::EmailSubject => simple(&mut out, "email-message:subject", &ind.value),
        IndicatorType::Md5
        | IndicatorType::Sha1
        | IndicatorType::Sha256
        | IndicatorType::Sha512 => {
            let seg = hash_path(ind.kind).unwrap_or("MD5");
            out.push_str("file:hashes.");
            simple(&mut out, seg, &ind.value)
        }
        IndicatorType::File => {
            let mut any = false;
            for (_, seg, v) in present_hashes(&ind.hashes) {
                if any {
                    out.push_str(" OR ");
                }
                out.push_str("file:hashes.");
                simple(&mut out, seg, v);
                any = true;
            }
            if !any {
                out.push_str("file:hashes.");
                simple(&mut out, hash_path_by_len(&ind.value), &ind.value);
            }
        }
        IndicatorType::Asn => {
            if asn_number(&ind.value).is_some() {
                out.push_str("autonomous-system:number = ");
                out.push_str(&ind.value);
            } else {
                simple(&mut out, "autonomous-system:number", &ind.value)
            }
        }
        IndicatorType::Mutex => simple(&mut out, "mutex:name", &ind.value),
        IndicatorType::RegistryKey => {
            simple(&mut out, "windows-registry-key:key", &ind.value);
            if let Some(name) = ind.registry_value_name.as_deref().filter(|n| !n.is_empty()) {
                out.push_str(" AND ");
                simple(&mut out, "windows-registry-key:values[*].name", name);
            }
        }
        IndicatorType::UserAgent => simple(
            &mut out,
            "network-traffic:extensions.'http-request-ext'.request_header.'User-Agent'",
            &ind.value,
        ),
    }
    out.push(']');
    out
}

/// The indicator type and value of a pattern that is one comparison of
/// one observable path with `=` (`[ipv4-addr:value = '198.51.100.1']`,
/// `[file:hashes.'SHA-256' = '…']`, `[autonomous-system:number = 64496]`):
/// the forms [`pattern`] writes for a single value, with hash names in any
/// case and with or without quotes and dashes. `None` for anything else
/// (several comparisons, other operators, qualifiers, other paths): such
/// an indicator has no one canonical value.
pub fn parse_simple(pattern: &str) -> Option<(IndicatorType, String)> {
    let inner = pattern.trim().strip_prefix('[')?.strip_suffix(']')?;
    let eq = inner.find('=')?;
    let (path, rhs) = (inner[..eq].trim(), inner[eq + 1..].trim());
    if path.ends_with(['!', '<', '>']) || rhs.starts_with('=') {
        return None;
    }
    let path: String = path.chars().filter(|c| !c.is_whitespace()).collect();
    let value = match decode_string_literal(rhs) {
        Some(v) => v,
        None if path == "autonomous-system:number" && asn_number(rhs).is_some() => rhs.to_string(),
        None => return None,
    };
    let kind = match path.as_str() {
        "ipv4-addr:value" | "ipv6-addr:value" if value.contains('/') => IndicatorType::Cidr,
        "ipv4-addr:value" => IndicatorType::Ipv4,
        "ipv6-addr:value" => IndicatorType::Ipv6,
        "domain-name:value" => IndicatorType::Domain,
        "url:value" => IndicatorType::Url,
        "email-addr:value" => IndicatorType::Email,
        "email-message:subject" => IndicatorType::EmailSubject,
        "autonomous-system:number" => IndicatorType::Asn,
        "mutex:name" => IndicatorType::Mutex,
        "windows-registry-key:key" => IndicatorType::RegistryKey,
        "network-traffic:extensions.'http-request-ext'.request_header.'User-Agent'" => {
            IndicatorType::UserAgent
        }
        p => {
            let hash = p.strip_prefix("file:hashes.")?.trim_matches('\'');
            match hash.to_ascii_uppercase().replace('-', "").as_str() {
                "MD5" => IndicatorType::Md5,
                "SHA1" => IndicatorType::Sha1,
                "SHA256" => IndicatorType::Sha256,
                "SHA512" => IndicatorType::Sha512,
                _ => return None,
            }
        }
    };
    Some((kind, value))
}

/// An ASN value as a number: ASCII digits only, no leading zero (other
/// than `0` itself), fits in u32 (AS numbers are 32-bit, RFC 6793).
pub(crate) fn asn_number(value: &str) -> Option<u32> {
    if value.is_empty()
        || !value.bytes().all(|b| b.is_ascii_digit())
        || (value.len() > 1 && value.starts_with('0'))
    {
        return None;
    }
    value.parse().ok()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::record::{Origin, Profile, Source};
    use proptest::prelude::*;

    pub(crate) fn ind(kind: IndicatorType, value: &str) -> Indicator {
        Indicator {
            kind,
            value: value.to_string(),
            hashes: Default::default(),
            registry_value_name: None,
            owner: None,
            confidence: None,
            rating: None,
            score: None,
            tags: vec![],
            tlp: None,
            active: true,
            created: None,
            last_modified: None,
            expiration: None,
            description: None,
            profile: Profile::Native,
            origin: Origin {
                file: 0,
                position: 1,
                is_line: true,
            },
            source: Source("{}".into()),
        }
    }

    #[test]
    fn every_type_has_its_documented_form() {
        let cases = [
            (IndicatorType::Ipv4, "198.51.100.1", "[ipv4-addr:value = '198.51.100.1']"),
            (IndicatorType::Ipv6, "2001:db8::1", "[ipv6-addr:value = '2001:db8::1']"),
            (IndicatorType::Cidr, "198.51.100.0/24", "[ipv4-addr:value = '198.51.100.0/24']"),
            (IndicatorType::Cidr, "2001:db8::/32", "[ipv6-addr:value = '2001:db8::/32']"),
            (IndicatorType::Domain, "example.com", "[domain-name:value = 'example.com']"),
            (IndicatorType::Url, "http://x.test/a?b=c", "[url:value = 'http://x.test/a?b=c']"),
            (IndicatorType::Email, "a@example.com", "[email-addr:value = 'a@example.com']"),
            (IndicatorType::EmailSubject, "Invoice", "[email-message:subject = 'Invoice']"),
            (IndicatorType::Md5, "d41d8cd98f00b204e9800998ecf8427e", "[file:hashes.MD5 = 'd41d8cd98f00b204e9800998ecf8427e']"),
            (IndicatorType::Sha1, "da39a3ee5e6b4b0d3255bfef95601890afd80709", "[file:hashes.'SHA-1' = 'da39a3ee5e6b4b0d3255bfef95601890afd80709']"),
            (IndicatorType::Sha256, "e3b0", "[file:hashes.'SHA-256' = 'e3b0']"),
            (IndicatorType::Sha512, "cf83", "[file:hashes.'SHA-512' = 'cf83']"),
            (IndicatorType::Asn, "64500", "[autonomous-system:number = 64500]"),
            (IndicatorType::Asn, "AS1", "[autonomous-system:number = 'AS1']"),
            (IndicatorType::Mutex, "Global\\m", "[mutex:name = 'Global\\\\m']"),
            (IndicatorType::RegistryKey, "HKEY_LOCAL_MACHINE\\Run", "[windows-registry-key:key = 'HKEY_LOCAL_MACHINE\\\\Run']"),
            (IndicatorType::UserAgent, "Mozilla/5.0 (it's)", "[network-traffic:extensions.'http-request-ext'.request_header.'User-Agent' = 'Mozilla/5.0 (it\\'s)']"),
        ];
        for (kind, value, want) in cases {
            assert_eq!(pattern(&ind(kind, value)), want, "{kind}");
            // What `pattern` writes for one value reads back as that value.
            assert_eq!(
                parse_simple(want),
                Some((kind, value.to_string())),
                "{want}"
            );
        }
    }

    #[test]
    fn simple_patterns_from_other_producers() {
        let ok = [
            ("[file:hashes.'MD5' = 'aa']", IndicatorType::Md5, "aa"),
            ("[file:hashes.SHA256 = 'bb']", IndicatorType::Sha256, "bb"),
            ("[file:hashes.'sha-1' = 'cc']", IndicatorType::Sha1, "cc"),
            (
                "  [ domain-name:value='x.test' ]  ",
                IndicatorType::Domain,
                "x.test",
            ),
            (
                "[url:value = 'http://x.test/a]b']",
                IndicatorType::Url,
                "http://x.test/a]b",
            ),
        ];
        for (p, kind, value) in ok {
            assert_eq!(parse_simple(p), Some((kind, value.to_string())), "{p}");
        }
        for p in [
            "[ipv4-addr:value = '1.2.3.4'] AND [domain-name:value = 'x.test']",
            "[ipv4-addr:value = '1.2.3.4' OR ipv4-addr:value = '1.2.3.5']",
            "[ipv4-addr:value != '1.2.3.4']",
            "[ipv4-addr:value ISSUBSET '1.2.3.0/24']",
            "[ipv4-addr:value = '1.2.3.4'] WITHIN 10 SECONDS",
            "[file:hashes.'SHA-3' = 'dd']",
            "[file:name = 'a.exe']",
            "[autonomous-system:number = 012]",
            "ipv4-addr:value = '1.2.3.4'",
        ] {
            assert_eq!(parse_simple(p), None, "{p}");
        }
    }

    #[test]
    fn file_ors_every_present_hash_in_preference_order() {
        let mut i = ind(IndicatorType::File, "bb");
        i.hashes = FileHashes {
            md5: Some("aa".into()),
            sha1: None,
            sha256: Some("bb".into()),
            sha512: None,
        }
        .into();
        assert_eq!(
            pattern(&i),
            "[file:hashes.MD5 = 'aa' OR file:hashes.'SHA-256' = 'bb']"
        );
        let bare = ind(IndicatorType::File, &"a".repeat(64));
        assert_eq!(
            pattern(&bare),
            format!("[file:hashes.'SHA-256' = '{}']", "a".repeat(64))
        );
    }

    #[test]
    fn registry_value_name_is_matched_too() {
        let mut i = ind(IndicatorType::RegistryKey, "HKCU\\Software\\X");
        i.registry_value_name = Some("Run'me".into());
        assert_eq!(
            pattern(&i),
            "[windows-registry-key:key = 'HKCU\\\\Software\\\\X' AND windows-registry-key:values[*].name = 'Run\\'me']"
        );
    }

    #[test]
    fn decoder_rejects_malformed_literals() {
        assert_eq!(decode_string_literal("'a\\'b'"), Some("a'b".into()));
        assert_eq!(decode_string_literal("''"), Some(String::new()));
        assert_eq!(decode_string_literal("'a'b'"), None);
        assert_eq!(decode_string_literal("'a\\nb'"), None);
        assert_eq!(decode_string_literal("'abc"), None);
        assert_eq!(decode_string_literal("abc'"), None);
        assert_eq!(decode_string_literal("'a\\"), None);
    }

    /// A reference reader of STIX 2.1 §9 `StringLiteral`, independent of
    /// [`decode_string_literal`]: `'` then any run of (a char that is neither
    /// `'` nor `\`) | `\'` | `\\`, then `'`. It scans a whole pattern from a
    /// given offset and returns the value and the offset after the literal.
    fn reference_literal(p: &str, start: usize) -> Option<(String, usize)> {
        let b: Vec<char> = p[start..].chars().collect();
        if b.first() != Some(&'\'') {
            return None;
        }
        let mut v = String::new();
        let mut i = 1;
        loop {
            match b.get(i)? {
                '\'' => {
                    let consumed: usize = b[..=i].iter().map(|c| c.len_utf8()).sum();
                    return Some((v, start + consumed));
                }
                '\\' => {
                    match b.get(i + 1)? {
                        c @ ('\'' | '\\') => v.push(*c),
                        _ => return None,
                    }
                    i += 2;
                }
                c => {
                    v.push(*c);
                    i += 1;
                }
            }
        }
    }

    fn nasty() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop_oneof![
                Just('\''),
                Just('\\'),
                Just(']'),
                Just('['),
                Just('\n'),
                Just('\r'),
                Just('\0'),
                Just('"'),
                Just(' '),
                any::<char>(),
            ],
            0..40,
        )
        .prop_map(|v| v.into_iter().collect())
    }

    proptest! {
        #[test]
        fn any_value_round_trips_through_the_pattern(value in nasty()) {
            for (kind, prefix) in [
                (IndicatorType::Url, "[url:value = "),
                (IndicatorType::Mutex, "[mutex:name = "),
                (IndicatorType::EmailSubject, "[email-message:subject = "),
            ] {
                let p = pattern(&ind(kind, &value));
                prop_assert!(p.starts_with(prefix));
                let (decoded, end) = reference_literal(&p, prefix.len()).expect("literal parses");
                prop_assert_eq!(&decoded, &value);
                prop_assert_eq!(&p[end..], "]");
                prop_assert_eq!(decode_string_literal(&p[prefix.len()..end]), Some(value.clone()));
            }
        }
    }
}
