#![no_main]
//! The request headers parsed on every request: `Accept`
//! (docs/decisions.md#d6), `Accept-Encoding` (which precompressed copy) and
//! `If-None-Match` (304s). The input is split at `\n` into several header
//! values, as a client sending the header more than once would. Beyond
//! "never panics": an `If-None-Match` listing the exact ETag always matches,
//! and `*` always matches.

use taxii_edge::server::negotiate::{accepts_taxii21, none_match, pick_coding};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let values = || data.split(|&c| c == b'\n');
    let _ = accepts_taxii21(values());
    let _ = pick_coding(values());
    let etag = "\"0123456789abcdef\"";
    let _ = none_match(values(), etag);
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = none_match(std::iter::once(data), s);
        let _ = none_match(std::iter::once(data), "*");
    }
    let mut with = data.to_vec();
    with.extend_from_slice(b", ");
    with.extend_from_slice(etag.as_bytes());
    if !data.contains(&b'\n') {
        assert!(none_match(std::iter::once(&with[..]), etag));
    }
    assert!(none_match(std::iter::once(&b"*"[..]).chain(values()), etag));
});
