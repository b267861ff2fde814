#![no_main]
//! `next` tokens, the one piece of client-supplied binary the server
//! decodes (docs/decisions.md#d4).
//!
//! Two halves, chosen by the first byte:
//! - arbitrary text as a token: `PageToken::decode` must refuse it without
//!   panicking (a random string essentially never carries a valid MAC, so
//!   this half exercises the base64, length and MAC checks);
//! - a token built from the input, encoded with the key, then (a) decoded:
//!   it must round-trip exactly, and (b) mutated at one input-chosen byte
//!   of its text: it must then be refused or decode to the very same token
//!   (base64 has don't-care bits in its last character). The mutated half
//!   reaches the field parser behind the MAC only through valid tokens, which
//!   is why it signs first and tampers second.

use taxii_edge::feed::token::{Endpoint, PageToken, Position};

const KEY: [u8; 32] = [7; 32];

fn take<'a>(d: &mut &'a [u8], n: usize) -> &'a [u8] {
    let n = n.min(d.len());
    let (a, b) = d.split_at(n);
    *d = b;
    a
}

fn text(d: &mut &[u8]) -> String {
    let n = take(d, 1).first().copied().unwrap_or(0) as usize;
    String::from_utf8_lossy(take(d, n)).into_owned()
}

fn num(d: &mut &[u8]) -> u64 {
    let b = take(d, 8);
    let mut a = [0u8; 8];
    a[..b.len()].copy_from_slice(b);
    u64::from_le_bytes(a)
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&mode, mut d)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        if let Ok(s) = std::str::from_utf8(d) {
            let _ = PageToken::decode(s, &KEY);
        }
        return;
    }
    let endpoint = match mode >> 1 & 3 {
        0 => Endpoint::Objects,
        1 => Endpoint::Manifest,
        2 => Endpoint::Object,
        _ => Endpoint::Versions,
    };
    let api_root = text(&mut d);
    let collection = text(&mut d);
    let object_id = (mode & 8 != 0).then(|| text(&mut d));
    let filters = text(&mut d);
    let limit = num(&mut d) as u32;
    let after = Position {
        date_added_us: num(&mut d) as i64,
        id: text(&mut d),
        version_us: num(&mut d) as i64,
    };
    let t = PageToken {
        endpoint,
        api_root,
        collection,
        object_id,
        filters,
        limit,
        after,
    };
    let s = t.encode(&KEY);
    assert_eq!(
        PageToken::decode(&s, &KEY).as_ref(),
        Ok(&t),
        "round trip of {s}"
    );
    // Tamper with one character, chosen and replaced by the rest of the input.
    let at = num(&mut d) as usize % s.len();
    let with = take(&mut d, 1).first().copied().unwrap_or(b'A');
    let mut b = s.into_bytes();
    b[at] = with;
    if let Ok(s2) = std::str::from_utf8(&b) {
        if let Ok(t2) = PageToken::decode(s2, &KEY) {
            assert_eq!(t2, t, "a tampered token {s2} decoded to another token");
        }
    }
    let other = [8u8; 32];
    assert!(PageToken::decode(&String::from_utf8_lossy(&b), &other).is_err());
});
