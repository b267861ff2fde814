//! TAXII 2.0 item pagination: the `Range: items=A-B` request header and the
//! window a list answer covers (TAXII 2.0 section 3.4, RFC 7233).
//!
//! Forms accepted: `items=A-B` (RFC 7233 syntax, what the OASIS client
//! sends first), `items A-B` (the form of the TAXII 2.0 example, which the
//! OASIS client retries with after an error), `items=A-` (open end) and
//! `items=-N` (the last N items). The unit is case-insensitive; spaces
//! around the numbers are allowed.
//!
//! Malformed headers (RFC 9110 section 14.2): a range unit other than
//! `items` MUST be ignored, so `bytes=0-10` is treated as no Range at all;
//! an `items` range that is syntactically invalid (`items=5-2`, `items=x`,
//! several `Range` headers) MAY be ignored or rejected: we reject it with a
//! 400, because ignoring it would silently hand a client that asked for a
//! page the whole collection. Several ranges in one header (`items=0-1,5-6`)
//! are valid HTTP, but TAXII 2.0 defines no multipart answer and a server
//! MAY ignore any Range; we answer 400 for the same reason (a deliberate
//! choice: no TAXII client sends them).
//!
//! The window rules are docs/decisions.md#d15; see [`window`].

use super::query::ParamError;

/// A parsed `Range` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemsRange {
    /// No `Range` header, or one in a unit we ignore.
    None,
    /// `items=first-last` (`last` = `None`: open end).
    From { first: u64, last: Option<u64> },
    /// `items=-n`: the last `n` items.
    Suffix(u64),
}

/// Parses the `Range` header values (`Err` = 400 with this description).
pub fn parse<'a>(mut values: impl Iterator<Item = &'a [u8]>) -> Result<ItemsRange, ParamError> {
    let Some(first) = values.next() else {
        return Ok(ItemsRange::None);
    };
    let one = parse_one(first)?;
    if values.next().is_some() && one != ItemsRange::None {
        return Err(ParamError(
            "send one Range header (items=FIRST-LAST)".into(),
        ));
    }
    Ok(one)
}

fn parse_one(value: &[u8]) -> Result<ItemsRange, ParamError> {
    let bad = || {
        ParamError(format!(
            "Range {:?} is not an items range; send items=FIRST-LAST (zero-based, inclusive), e.g. items=0-99",
            String::from_utf8_lossy(&value[..value.len().min(64)])
        ))
    };
    let Ok(s) = std::str::from_utf8(value) else {
        return Err(bad());
    };
    let s = s.trim();
    let unit_end = s
        .find(|c: char| c == '=' || c.is_ascii_whitespace())
        .unwrap_or(s.len());
    if !s[..unit_end].eq_ignore_ascii_case("items") {
        // Another unit (bytes…): ignored, RFC 9110 section 14.2.
        return Ok(ItemsRange::None);
    }
    let rest = s[unit_end..].trim_start();
    let spec = rest.strip_prefix('=').unwrap_or(rest).trim();
    if spec.contains(',') {
        return Err(ParamError(
            "several ranges in one Range header are not supported; send one items=FIRST-LAST"
                .into(),
        ));
    }
    let (a, b) = spec.split_once('-').ok_or_else(bad)?;
    let (a, b) = (a.trim(), b.trim());
    let num = |t: &str| -> Result<u64, ParamError> {
        if t.is_empty() || !t.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        t.parse::<u64>().map_err(|_| bad())
    };
    match (a.is_empty(), b.is_empty()) {
        (true, true) => Err(bad()),
        (true, false) => Ok(ItemsRange::Suffix(num(b)?)),
        (false, true) => Ok(ItemsRange::From {
            first: num(a)?,
            last: None,
        }),
        (false, false) => {
            let (first, last) = (num(a)?, num(b)?);
            if last < first {
                return Err(ParamError(format!(
                    "Range items={first}-{last}: the last item comes before the first"
                )));
            }
            Ok(ItemsRange::From {
                first,
                last: Some(last),
            })
        }
    }
}

/// What a list answer covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// Nothing matches: 200, `Content-Range: items 0-0/0` (docs/decisions.md#d15:
    /// never 416 on an empty result).
    Empty,
    /// Items `first..=last` of `total`; `partial` = 206.
    Items {
        first: u64,
        last: u64,
        total: u64,
        partial: bool,
    },
    /// The start is at or past the end of a non-empty result: 416 with
    /// `Content-Range: items */TOTAL`.
    Unsatisfiable { total: u64 },
}

impl Window {
    /// The `Content-Range` value.
    pub fn content_range(&self) -> String {
        match *self {
            Window::Empty => "items 0-0/0".to_string(),
            Window::Items {
                first, last, total, ..
            } => format!("items {first}-{last}/{total}"),
            Window::Unsatisfiable { total } => format!("items */{total}"),
        }
    }

    /// Items `(first, count)` to emit.
    pub fn span(&self) -> (u64, u64) {
        match *self {
            Window::Items { first, last, .. } => (first, last - first + 1),
            _ => (0, 0),
        }
    }
}

/// The window for `total` matching items (docs/decisions.md#d15):
/// - no Range: everything, up to `hard_cap` items (206 when capped, else
///   200);
/// - a Range: 206 with exactly the items sent; the requested size is
///   clamped to `max_page` only when `total` is larger than the requested
///   size (the OASIS client adapts its page size to the first answer only
///   when the total exceeds what it asked for; clamping otherwise would
///   make it skip items), and always to `hard_cap`;
/// - `first >= total > 0`: 416.
pub fn window(range: ItemsRange, total: u64, max_page: u64, hard_cap: u64) -> Window {
    let (max_page, hard_cap) = (max_page.max(1), hard_cap.max(1));
    if total == 0 {
        return Window::Empty;
    }
    let (first, want) = match range {
        ItemsRange::None => {
            let n = total.min(hard_cap);
            return Window::Items {
                first: 0,
                last: n - 1,
                total,
                partial: n < total,
            };
        }
        ItemsRange::From { first, last } => (
            first,
            last.map_or(u64::MAX, |l| l.saturating_sub(first).saturating_add(1)),
        ),
        ItemsRange::Suffix(n) => {
            if n == 0 {
                return Window::Unsatisfiable { total };
            }
            (total.saturating_sub(n), n)
        }
    };
    if first >= total {
        return Window::Unsatisfiable { total };
    }
    let mut n = want.min(total - first);
    if total > want {
        n = n.min(max_page);
    }
    n = n.min(hard_cap);
    Window::Items {
        first,
        last: first + n - 1,
        total,
        partial: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(v: &str) -> Result<ItemsRange, ParamError> {
        parse(std::iter::once(v.as_bytes()))
    }

    #[test]
    fn forms() {
        let r = |first, last| ItemsRange::From { first, last };
        assert_eq!(p("items=0-49").unwrap(), r(0, Some(49)));
        assert_eq!(p("items 0-49").unwrap(), r(0, Some(49)));
        assert_eq!(p(" Items = 5 - 9 ").unwrap(), r(5, Some(9)));
        assert_eq!(p("items=7-").unwrap(), r(7, None));
        assert_eq!(p("items=-3").unwrap(), ItemsRange::Suffix(3));
        assert_eq!(p("bytes=0-10").unwrap(), ItemsRange::None);
        assert_eq!(parse(std::iter::empty()).unwrap(), ItemsRange::None);
        for bad in [
            "items=5-2",
            "items=a-b",
            "items=",
            "items=-",
            "items=1",
            "items=0-1,3-4",
            "items=+1-2",
            "items=99999999999999999999999-1",
        ] {
            assert!(p(bad).is_err(), "{bad}");
        }
        let two = ["items=0-1".as_bytes(), "items=2-3".as_bytes()];
        assert!(parse(two.into_iter()).is_err());
    }

    fn items(first: u64, last: u64, total: u64, partial: bool) -> Window {
        Window::Items {
            first,
            last,
            total,
            partial,
        }
    }

    #[test]
    fn windows() {
        let r = |first, last| ItemsRange::From { first, last };
        // Empty: 200 items 0-0/0 whatever was asked.
        assert_eq!(window(r(5, Some(9)), 0, 10, 100), Window::Empty);
        assert_eq!(Window::Empty.content_range(), "items 0-0/0");
        // No Range: all, or capped.
        assert_eq!(window(ItemsRange::None, 7, 2, 100), items(0, 6, 7, false));
        assert_eq!(
            window(ItemsRange::None, 700, 2, 100),
            items(0, 99, 700, true)
        );
        // First item only, last item, beyond the end.
        assert_eq!(window(r(0, Some(0)), 7, 10, 100), items(0, 0, 7, true));
        assert_eq!(window(r(6, Some(6)), 7, 10, 100), items(6, 6, 7, true));
        assert_eq!(window(r(5, Some(20)), 7, 10, 100), items(5, 6, 7, true));
        assert_eq!(
            window(r(7, Some(9)), 7, 10, 100),
            Window::Unsatisfiable { total: 7 }
        );
        assert_eq!(
            Window::Unsatisfiable { total: 7 }.content_range(),
            "items */7"
        );
        // Clamped to the max page only when the total exceeds the request.
        assert_eq!(window(r(0, Some(49)), 60, 10, 100), items(0, 9, 60, true));
        assert_eq!(window(r(0, Some(49)), 40, 10, 100), items(0, 39, 40, true));
        assert_eq!(window(r(0, Some(49)), 50, 10, 100), items(0, 49, 50, true));
        // The hard cap always holds.
        assert_eq!(
            window(r(0, Some(499)), 400, 10, 100),
            items(0, 99, 400, true)
        );
        // Open and suffix ranges.
        assert_eq!(window(r(3, None), 7, 2, 100), items(3, 6, 7, true));
        assert_eq!(
            window(ItemsRange::Suffix(2), 7, 10, 100),
            items(5, 6, 7, true)
        );
        assert_eq!(
            window(ItemsRange::Suffix(20), 7, 10, 100),
            items(0, 6, 7, true)
        );
        assert_eq!(
            window(ItemsRange::Suffix(0), 7, 10, 100),
            Window::Unsatisfiable { total: 7 }
        );
        assert_eq!(items(3, 5, 9, true).span(), (3, 3));
        assert_eq!(items(3, 5, 9, true).content_range(), "items 3-5/9");
    }
}
