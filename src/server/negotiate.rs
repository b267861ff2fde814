//! Content negotiation: `Accept` (TAXII-NOTES decision 6), `Accept-Encoding`
//! (which precompressed copy, if any) and `If-None-Match`.
//!
//! These run on every request, so they scan the header bytes in place
//! without allocating.

use crate::feed::Coding;

/// Whether the `Accept` header admits a TAXII 2.1 answer.
///
/// Accepted (decision 6): no header; `application/taxii+json` with
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

/// The best precompressed coding the client accepts: zstd, then gzip;
/// `q=0` refuses a coding, `*` covers codings not named (RFC 9110 12.5.3).
pub fn pick_coding<'a>(values: impl Iterator<Item = &'a [u8]>) -> Option<Coding> {
    let mut zstd: Option<bool> = None;
    let mut gzip: Option<bool> = None;
    let mut star: Option<bool> = None;
    for value in values {
        let Ok(s) = std::str::from_utf8(value) else {
            continue;
        };
        for item in s.split(',') {
            let mut parts = item.split(';');
            let name = parts.next().unwrap_or("").trim();
            let mut ok = true;
            for p in parts {
                if let Some((k, v)) = p.split_once('=') {
                    if k.trim().eq_ignore_ascii_case("q") && q_is_zero(v.trim()) {
                        ok = false;
                    }
                }
            }
            if name.eq_ignore_ascii_case("zstd") {
                zstd = Some(ok);
            } else if name.eq_ignore_ascii_case("gzip") || name.eq_ignore_ascii_case("x-gzip") {
                gzip = Some(ok);
            } else if name == "*" {
                star = Some(ok);
            }
        }
    }
    if zstd.or(star).unwrap_or(false) {
        Some(Coding::Zstd)
    } else if gzip.or(star).unwrap_or(false) {
        Some(Coding::Gzip)
    } else {
        None
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
