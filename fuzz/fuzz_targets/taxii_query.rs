#![no_main]
//! The TAXII list query string, as a client can send it: splitting,
//! percent-decoding, the duplicate and empty-value rules, filter
//! interpretation (`added_after`, `match[version]`, `match[spec_version]`,
//! `limit`), for each list endpoint. Beyond "never panics", two properties
//! that `next` tokens rely on (docs/decisions.md#d4 and #d5):
//! - the canonical filter string parses back to exactly the same filters
//!   (`parse_canonical(canonical(q)) == q`), or a token would carry
//!   different filters than the page that minted it;
//! - the canonical string is a fixed point (canonicalising twice changes
//!   nothing), so a client repeating its filters beside `next` matches.

use taxii_edge::server::query::{
    parse_added_after, parse_canonical, parse_limit, parse_raw, Filters, ListKind,
};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(q) = std::str::from_utf8(data) else {
        return;
    };
    for kind in [ListKind::Collection, ListKind::Object, ListKind::Versions] {
        let Ok(raw) = parse_raw(Some(q), kind) else {
            continue;
        };
        let canon = raw.canonical();
        let back = parse_canonical(&canon, kind)
            .unwrap_or_else(|e| panic!("canonical {canon:?} of {q:?} does not parse back: {e}"));
        assert_eq!(
            back.filters, raw.filters,
            "canonical {canon:?} of {q:?} parses back to other filters"
        );
        assert_eq!(
            back.canonical(),
            canon,
            "canonical form is not a fixed point"
        );
        let _ = Filters::from_raw(&raw, kind);
        if let Some(l) = &raw.limit {
            if let Ok(n) = parse_limit(l, 1000) {
                assert!(n <= 1000, "limit {l:?} gave {n}, above the maximum");
            }
        }
    }
    let _ = parse_added_after(q);
    let _ = parse_canonical(q, ListKind::Collection);
});
