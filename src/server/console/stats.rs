//! What the console shows of a collection's objects that the feed does not
//! store: counts by indicator kind, revoked and expired objects. One pass
//! over the collection's latest versions, once per generation, kept in the
//! collection's [`super::super::state::ColState`] (like the TAXII 2.0 view),
//! so only the first collections page after a reload pays for it.
//!
//! The pass reads each object's bytes with byte searches and decodes only
//! the `pattern` and `valid_until` strings: no JSON tree per object.

use crate::feed::CollectionFeed;
use crate::time::Micros;
use std::collections::BTreeMap;

/// Per-collection figures of one generation.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    /// Objects (latest versions) per kind: the pattern's first object path
    /// (`ipv4-addr:value`) for indicators, the STIX type otherwise.
    pub kinds: BTreeMap<String, u64>,
    /// Objects whose latest version is revoked.
    pub revoked: u64,
    /// `valid_until` of every object that has one, sorted: how many have
    /// expired is a binary search at any later time.
    pub valid_until: Vec<Micros>,
    /// Distinct objects (entries flagged as the latest version of their id).
    pub objects: u64,
}

impl Stats {
    /// Objects whose `valid_until` is `now` or earlier.
    pub fn expired(&self, now: Micros) -> u64 {
        self.valid_until.partition_point(|&t| t <= now) as u64
    }

    /// One pass over `cf`'s latest versions.
    pub fn compute(cf: &CollectionFeed) -> Stats {
        let mut s = Stats::default();
        let types = cf.types();
        for i in 0..cf.len() {
            let e = cf.entry(i);
            if !e.last {
                continue;
            }
            s.objects += 1;
            let obj = cf.object_bytes(i);
            let stix_type = types.get(usize::from(e.type_id)).map_or("", String::as_str);
            let kind = match string_field(&obj, b"\"pattern\":") {
                Some(p) if stix_type == "indicator" => pattern_path(&p).to_string(),
                _ => stix_type.to_string(),
            };
            *s.kinds.entry(kind).or_default() += 1;
            if memchr::memmem::find(&obj, b"\"revoked\":true").is_some() {
                s.revoked += 1;
            }
            if let Some(t) = string_field(&obj, b"\"valid_until\":")
                .and_then(|v| crate::time::parse_rfc3339(&v).ok())
            {
                s.valid_until.push(t);
            }
        }
        s.valid_until.sort_unstable();
        s
    }
}

/// The string value of the first `key` (`"name":`, compact JSON as the
/// feed stores it) in `obj`, JSON escapes decoded. `None` when absent or
/// not a string. A nested property of the same name earlier in the object
/// would be found first; the builder writes `pattern` and `valid_until`
/// at the top level before any extension, which is all the console needs.
pub(crate) fn string_field(obj: &[u8], key: &[u8]) -> Option<String> {
    let at = memchr::memmem::find(obj, key)? + key.len();
    let mut values = serde_json::Deserializer::from_slice(&obj[at..]).into_iter::<String>();
    values.next()?.ok()
}

/// The object path of a pattern's first comparison: `ipv4-addr:value` of
/// `[ipv4-addr:value = '1.2.3.4']`.
pub(crate) fn pattern_path(pattern: &str) -> &str {
    let p = pattern.trim_start_matches(['[', '(', ' ']);
    let end = p.find([' ', '=', '!', '<', '>']).unwrap_or(p.len());
    &p[..end]
}

/// The value of a pattern's first comparison (`1.2.3.4` of
/// `[ipv4-addr:value = '1.2.3.4']`): the first string literal after the
/// object path (which may quote names of its own, `hashes.'SHA-256'`),
/// `\'` and `\\` decoded; `None` when there is no complete literal.
pub(crate) fn pattern_value(pattern: &str) -> Option<String> {
    let lead = pattern.len() - pattern.trim_start_matches(['[', '(', ' ']).len();
    let after_path = lead + pattern_path(pattern).len();
    let start = after_path + pattern[after_path..].find('\'')?;
    let mut out = String::new();
    let mut chars = pattern[start + 1..].chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?),
            '\'' => return Some(out),
            _ => out.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_parts() {
        let p = r"[url:value = 'http://x/\'a\\b' AND url:value = 'y']";
        assert_eq!(pattern_path(p), "url:value");
        assert_eq!(pattern_value(p).as_deref(), Some(r"http://x/'a\b"));
        assert_eq!(
            pattern_path("[file:hashes.'SHA-256' = 'ab']"),
            "file:hashes.'SHA-256'"
        );
        assert_eq!(pattern_value("[x:y = 'open"), None);
        assert_eq!(
            pattern_value("[file:hashes.'SHA-256' = 'ab' OR file:hashes.MD5 = 'cd']").as_deref(),
            Some("ab")
        );
    }

    #[test]
    fn string_fields_are_json_decoded() {
        let o = br#"{"type":"indicator","pattern":"[x:value = '<img src=\"a\">']","valid_until":"2030-01-01T00:00:00Z"}"#;
        assert_eq!(
            string_field(o, b"\"pattern\":").as_deref(),
            Some(r#"[x:value = '<img src="a">']"#)
        );
        assert!(string_field(o, b"\"name\":").is_none());
    }
}
