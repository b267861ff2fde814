#![no_main]
//! The TAXII 2.0 `Range: items=A-B` header and the window computed from it
//! (docs/decisions.md#d15). The input's first 24 bytes choose the
//! collection size, `max_page` and `hard_cap`; the rest, split at `\n`, are
//! the header values. Beyond "never panics" (the arithmetic meets u64::MAX
//! here), the window's invariants:
//! - an empty collection is `Empty`, never 416;
//! - `Items` lie inside the collection, start where the client asked, never
//!   exceed the hard cap, and `span` agrees with `Content-Range`;
//! - 416 only when the start is at or past the end (or `items=-0`).

use taxii_edge::server::range::{parse, window, ItemsRange, Window};

fn num(d: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    if let Some(b) = d.get(at..at + 8) {
        a.copy_from_slice(b);
    }
    u64::from_le_bytes(a)
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let (head, rest) = data.split_at(data.len().min(24));
    // Mostly small totals (realistic), sometimes huge ones.
    let raw_total = num(head, 0);
    let total = if raw_total & 1 == 0 { raw_total % 1000 } else { raw_total };
    let max_page = num(head, 8) % 2000;
    let hard_cap = num(head, 16) % 200_000;
    let Ok(range) = parse(rest.split(|&c| c == b'\n')) else {
        return;
    };
    let w = window(range, total, max_page, hard_cap);
    let cr = w.content_range();
    match w {
        Window::Empty => assert_eq!(total, 0),
        Window::Items {
            first,
            last,
            total: t,
            partial,
        } => {
            assert_eq!(t, total);
            assert!(first <= last && last < total, "{range:?} → {cr}");
            let (f, n) = w.span();
            assert_eq!((f, n), (first, last - first + 1));
            assert!(n <= hard_cap.max(1), "{range:?} → {cr} over the cap");
            assert_eq!(cr, format!("items {first}-{last}/{total}"));
            match range {
                ItemsRange::From { first: want, last: l } => {
                    assert_eq!(first, want);
                    assert!(partial);
                    if let Some(l) = l {
                        assert!(last <= l, "{range:?} → {cr}: more than asked");
                    }
                }
                ItemsRange::Suffix(k) => {
                    assert!(partial);
                    assert!(n <= k);
                }
                ItemsRange::None => assert_eq!(first, 0),
            }
        }
        Window::Unsatisfiable { total: t } => {
            assert_eq!(t, total);
            assert!(total > 0);
            match range {
                ItemsRange::From { first, .. } => assert!(first >= total, "{range:?} → {cr}"),
                ItemsRange::Suffix(k) => assert_eq!(k, 0),
                ItemsRange::None => panic!("416 without a Range"),
            }
            assert_eq!(cr, format!("items */{total}"));
        }
    }
});
