//! Splitting an export into records without parsing it: a byte scanner that
//! knows just enough JSON (strings, escapes, nesting) to find where each
//! top-level element of a container array starts and ends, and a line
//! splitter for NDJSON.
//!
//! Why a scanner and not a full parse: the container of a multi-gigabyte
//! export would otherwise have to be parsed as one document on one core.
//! Finding element boundaries is a single cheap pass (strings are skipped
//! with `memchr`), after which every record is parsed on its own, in
//! parallel, by simd-json. The scanner checks that brackets match and that
//! array elements are separated by commas, so a truncated or garbled
//! container is refused as a whole; a balanced element that is still not
//! valid JSON becomes a `parse-error` reject of that one record.

use std::ops::Range;

/// A scan hands the pages behind it to `release` every this many bytes.
const RELEASE_EVERY: usize = 64 << 20;

/// Calls `release` behind a sequential pass, every [`RELEASE_EVERY`]
/// bytes: the scan of a multi-gigabyte mapped export would otherwise make
/// all of it resident at once, the compile's peak at ten million records
/// (docs/decisions.md#d64).
pub(crate) struct Behind<'a> {
    release: &'a (dyn Fn(Range<usize>) + Sync),
    done: usize,
    every: usize,
}

impl<'a> Behind<'a> {
    pub fn new(release: &'a (dyn Fn(Range<usize>) + Sync)) -> Self {
        Behind {
            release,
            done: 0,
            every: RELEASE_EVERY,
        }
    }

    /// The pass has read everything before `pos`.
    fn passed(&mut self, pos: usize) {
        if pos >= self.done + self.every {
            (self.release)(self.done..pos);
            self.done = pos;
        }
    }
}

/// A structural problem in the container, at a byte offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ScanError {
    pub offset: usize,
    pub what: String,
}

impl ScanError {
    fn new(offset: usize, what: impl Into<String>) -> Self {
        ScanError {
            offset,
            what: what.into(),
        }
    }

    /// "line L, column C: what" for messages.
    pub fn describe(&self, bytes: &[u8]) -> String {
        let upto = &bytes[..self.offset.min(bytes.len())];
        let line = memchr::memchr_iter(b'\n', upto).count() + 1;
        let col = upto.len() - upto.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1) + 1;
        format!("line {line}, column {col}: {}", self.what)
    }
}

#[inline]
fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// The offset of the first non-whitespace byte at or after `i`.
#[inline]
pub(crate) fn skip_ws(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() && is_ws(bytes[i]) {
        i += 1;
    }
    i
}

/// Skips the string starting at `i` (which holds `"`); returns the offset
/// just past its closing quote.
fn skip_string(bytes: &[u8], i: usize) -> Result<usize, ScanError> {
    let mut j = i + 1;
    loop {
        match memchr::memchr2(b'"', b'\\', &bytes[j..]) {
            None => return Err(ScanError::new(i, "unterminated string")),
            Some(k) => {
                let p = j + k;
                if bytes[p] == b'"' {
                    return Ok(p + 1);
                }
                // A backslash escapes the next byte, whatever it is.
                j = p + 2;
                if j > bytes.len() {
                    return Err(ScanError::new(i, "unterminated string"));
                }
            }
        }
    }
}

/// Skips one JSON value starting at `i` (no leading whitespace); returns the
/// offset just past it. Nesting is checked (`{]` is an error); scalars are
/// taken up to the next delimiter and left for the real parser to judge.
pub(crate) fn skip_value(bytes: &[u8], i: usize) -> Result<usize, ScanError> {
    let Some(&first) = bytes.get(i) else {
        return Err(ScanError::new(
            i,
            "expected a value, found the end of the file",
        ));
    };
    match first {
        b'"' => skip_string(bytes, i),
        b'{' | b'[' => {
            let mut stack: Vec<u8> = Vec::with_capacity(16);
            let mut j = i;
            while j < bytes.len() {
                match bytes[j] {
                    b'"' => {
                        j = skip_string(bytes, j)?;
                        continue;
                    }
                    b'{' => stack.push(b'}'),
                    b'[' => stack.push(b']'),
                    c @ (b'}' | b']') => {
                        if stack.pop() != Some(c) {
                            return Err(ScanError::new(j, format!("unexpected '{}'", c as char)));
                        }
                        if stack.is_empty() {
                            return Ok(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            Err(ScanError::new(
                i,
                format!(
                    "'{}' is never closed (the file is truncated?)",
                    first as char
                ),
            ))
        }
        b',' | b':' | b']' | b'}' => Err(ScanError::new(
            i,
            format!("expected a value, found '{}'", first as char),
        )),
        _ => {
            let mut j = i;
            while j < bytes.len()
                && !is_ws(bytes[j])
                && !matches!(bytes[j], b',' | b']' | b'}' | b':')
            {
                j += 1;
            }
            Ok(j)
        }
    }
}

/// The elements of the array whose `[` is at `open`: their byte ranges, and
/// the offset just past the closing `]`; the pages behind go to `behind`.
pub(crate) fn array_elements(
    bytes: &[u8],
    open: usize,
    behind: &mut Behind<'_>,
) -> Result<(Vec<Range<usize>>, usize), ScanError> {
    debug_assert_eq!(bytes.get(open), Some(&b'['));
    let mut out = Vec::new();
    let mut i = skip_ws(bytes, open + 1);
    if bytes.get(i) == Some(&b']') {
        return Ok((out, i + 1));
    }
    loop {
        let end = skip_value(bytes, i)?;
        out.push(i..end);
        behind.passed(end);
        i = skip_ws(bytes, end);
        match bytes.get(i) {
            Some(b',') => i = skip_ws(bytes, i + 1),
            Some(b']') => return Ok((out, i + 1)),
            Some(&c) => {
                return Err(ScanError::new(
                    i,
                    format!(
                        "expected ',' or ']' after an array element, found '{}'",
                        c as char
                    ),
                ))
            }
            None => {
                return Err(ScanError::new(
                    open,
                    "'[' is never closed (the file is truncated?)",
                ))
            }
        }
    }
}

/// One member of a top-level object: the key's raw text (without quotes,
/// escapes left as they are) and the value's byte range.
#[derive(Debug, Clone)]
pub(crate) struct Member {
    pub key: Range<usize>,
    pub value: Range<usize>,
}

/// The members of the object whose `{` is at `open`, and the offset just
/// past its closing `}`.
pub(crate) fn object_members(bytes: &[u8], open: usize) -> Result<(Vec<Member>, usize), ScanError> {
    debug_assert_eq!(bytes.get(open), Some(&b'{'));
    let mut out = Vec::new();
    let mut i = skip_ws(bytes, open + 1);
    if bytes.get(i) == Some(&b'}') {
        return Ok((out, i + 1));
    }
    loop {
        if bytes.get(i) != Some(&b'"') {
            return Err(ScanError::new(i, "expected a quoted member name"));
        }
        let kend = skip_string(bytes, i)?;
        let key = i + 1..kend - 1;
        i = skip_ws(bytes, kend);
        if bytes.get(i) != Some(&b':') {
            return Err(ScanError::new(i, "expected ':' after a member name"));
        }
        i = skip_ws(bytes, i + 1);
        let vend = skip_value(bytes, i)?;
        out.push(Member {
            key,
            value: i..vend,
        });
        i = skip_ws(bytes, vend);
        match bytes.get(i) {
            Some(b',') => i = skip_ws(bytes, i + 1),
            Some(b'}') => return Ok((out, i + 1)),
            Some(&c) => {
                return Err(ScanError::new(
                    i,
                    format!("expected ',' or '}}' after a member, found '{}'", c as char),
                ))
            }
            None => {
                return Err(ScanError::new(
                    open,
                    "'{' is never closed (the file is truncated?)",
                ))
            }
        }
    }
}

/// One NDJSON record: its byte range (without the line break, a trailing
/// `\r` or a leading RFC 7464 0x1E) and its 1-based line number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Line {
    pub range: Range<usize>,
    pub number: u64,
}

/// The non-blank lines of `bytes` from offset `start` (whose line number is
/// `first_line`); the pages behind go to `behind`.
pub(crate) fn lines(
    bytes: &[u8],
    start: usize,
    first_line: u64,
    behind: &mut Behind<'_>,
) -> Vec<Line> {
    let mut out = Vec::new();
    let mut number = first_line;
    let mut s = start;
    while s < bytes.len() {
        let e = memchr::memchr(b'\n', &bytes[s..]).map_or(bytes.len(), |k| s + k);
        let mut a = s;
        let mut b = e;
        while a < b && (is_ws(bytes[a]) || bytes[a] == 0x1e) {
            a += 1;
        }
        while b > a && is_ws(bytes[b - 1]) {
            b -= 1;
        }
        if a < b {
            out.push(Line {
                range: a..b,
                number,
            });
        }
        number += 1;
        behind.passed(e);
        s = e + 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn nothing() -> Behind<'static> {
        Behind::new(&|_| {})
    }

    #[test]
    fn a_scan_releases_what_it_has_passed_in_order() {
        let src: Vec<u8> = (0..40)
            .flat_map(|i| format!("{{\"n\":{i:04}}}\n").into_bytes())
            .collect();
        let arr = format!(
            "[{}]",
            String::from_utf8(src.clone())
                .unwrap()
                .trim_end()
                .replace('\n', ",")
        );
        for (bytes, is_array) in [(src.clone(), false), (arr.into_bytes(), true)] {
            let got = Mutex::new(Vec::new());
            let release = |r: Range<usize>| got.lock().unwrap().push(r);
            let mut behind = Behind::new(&release);
            behind.every = 100;
            let n = if is_array {
                array_elements(&bytes, 0, &mut behind).unwrap().0.len()
            } else {
                lines(&bytes, 0, 1, &mut behind).len()
            };
            assert_eq!(n, 40);
            let got = got.into_inner().unwrap();
            // Contiguous from the start, each at least `every` long, all
            // behind the end.
            assert!(got.len() >= 3, "{got:?}");
            assert_eq!(got[0].start, 0);
            for w in got.windows(2) {
                assert_eq!(w[0].end, w[1].start);
            }
            assert!(got.iter().all(|r| r.len() >= 100 && r.end <= bytes.len()));
        }
    }

    fn texts<'a>(b: &'a [u8], r: &[Range<usize>]) -> Vec<&'a str> {
        r.iter()
            .map(|r| std::str::from_utf8(&b[r.clone()]).unwrap())
            .collect()
    }

    #[test]
    fn elements_with_tricky_strings() {
        let src =
            br#"[ {"a":"]}\"[{"} , {"b":["x\\",{"c":"}"}]},"s\"]", 12 ,null,{"d":"\u005d"} ]"#;
        let (els, end) = array_elements(src, 0, &mut nothing()).unwrap();
        assert_eq!(end, src.len());
        assert_eq!(
            texts(src, &els),
            vec![
                r#"{"a":"]}\"[{"}"#,
                r#"{"b":["x\\",{"c":"}"}]}"#,
                r#""s\"]""#,
                "12",
                "null",
                r#"{"d":"\u005d"}"#
            ]
        );
    }

    #[test]
    fn empty_array_and_errors() {
        assert_eq!(
            array_elements(b"[ ]", 0, &mut nothing()).unwrap().0.len(),
            0
        );
        let e = array_elements(b"[{\"a\":1}", 0, &mut nothing()).unwrap_err();
        assert!(e.what.contains("never closed"), "{e:?}");
        let e = array_elements(b"[{\"a\":1]]", 0, &mut nothing()).unwrap_err();
        assert_eq!(e.what, "unexpected ']'");
        let e = array_elements(b"[{}\n {}]", 0, &mut nothing()).unwrap_err();
        assert_eq!(
            e.describe(b"[{}\n {}]"),
            "line 2, column 2: expected ',' or ']' after an array element, found '{'"
        );
        let e = array_elements(b"[\"abc]", 0, &mut nothing()).unwrap_err();
        assert_eq!(e.what, "unterminated string");
    }

    #[test]
    fn members_of_top_object() {
        let src = br#"{"status":"Success","data":[{"x":1},{"y":"}"}],"count":2}"#;
        let (m, end) = object_members(src, 0).unwrap();
        assert_eq!(end, src.len());
        let keys: Vec<&str> = m
            .iter()
            .map(|m| std::str::from_utf8(&src[m.key.clone()]).unwrap())
            .collect();
        assert_eq!(keys, vec!["status", "data", "count"]);
        assert_eq!(&src[m[1].value.clone()], br#"[{"x":1},{"y":"}"}]"#);
    }

    #[test]
    fn lines_skip_blank_and_strip_crlf() {
        let src = b"{\"a\":1}\r\n\r\n  \n\x1e{\"b\":2}\r\n{\"c\":3}";
        let l = lines(src, 0, 1, &mut nothing());
        assert_eq!(
            l.iter()
                .map(|l| (l.number, &src[l.range.clone()]))
                .collect::<Vec<_>>(),
            vec![
                (1, &b"{\"a\":1}"[..]),
                (4, &b"{\"b\":2}"[..]),
                (5, &b"{\"c\":3}"[..])
            ]
        );
    }
}
