//! Pagination tokens (`next`): self-contained, stateless, MAC-signed
//! (docs/decisions.md#d4 and #d5).
//!
//! A token carries the endpoint, api root, collection, object id (for the
//! object and versions endpoints), the canonical filter string, the page
//! size, and the keyset position: the sort key `(date_added, id, version)`
//! of the entry it continues after (the entry table is sorted by that key).
//! A position is a key, not an index or a rank, so it keeps its meaning in
//! every later generation: entries that vanish (superseded versions) leave
//! the order of the rest intact, and new ones sort after it. Encoding is
//! deterministic, so the compiler can pre-mint the tokens of default pages
//! (and the static exporter name files after them) and the server mints
//! byte-identical ones. URL-safe base64 without padding.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// The list endpoint a token continues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Objects,
    Manifest,
    Object,
    Versions,
}

/// A decoded token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageToken {
    pub endpoint: Endpoint,
    pub api_root: String,
    /// Collection UUID, lower-case.
    pub collection: String,
    /// For `Object` and `Versions`.
    pub object_id: Option<String>,
    /// Canonical filter string (empty for none).
    pub filters: String,
    /// Page size the client asked for (0 = default).
    pub limit: u32,
    /// The keyset position the next page starts after.
    pub after: Position,
}

/// A place in a collection's entry order: the sort key `(date_added, id,
/// version)` of an entry (which may since have been superseded). Ordered
/// exactly like the entry table (`id` compares as bytes).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Position {
    pub date_added_us: i64,
    pub id: String,
    pub version_us: i64,
}

/// Why a token was refused (always answered with 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid next token: {0}")]
pub struct TokenError(pub &'static str);

/// Format version of the token layout; bumped whenever the layout changes,
/// so an old token is refused with a clear reason instead of misread.
const TOKEN_VERSION: u8 = 2;
/// Bytes of HMAC-SHA256 kept: 128 bits is ample against forgery and keeps
/// URLs short.
const MAC_LEN: usize = 16;
/// The longest text field a token may carry. Filters of a very long
/// `match[id]` list are the largest legitimate field; URLs longer than this
/// are refused by servers and proxies anyway.
/// Longest string field a token carries (the filters, an object id).
pub const MAX_FIELD: usize = 8 * 1024;
/// The longest encoded token accepted (checked before any decoding work).
const MAX_TOKEN_CHARS: usize = 48 * 1024;

type HmacSha256 = Hmac<Sha256>;

impl Endpoint {
    fn code(self) -> u8 {
        match self {
            Endpoint::Objects => 1,
            Endpoint::Manifest => 2,
            Endpoint::Object => 3,
            Endpoint::Versions => 4,
        }
    }

    fn from_code(c: u8) -> Option<Endpoint> {
        Some(match c {
            1 => Endpoint::Objects,
            2 => Endpoint::Manifest,
            3 => Endpoint::Object,
            4 => Endpoint::Versions,
            _ => return None,
        })
    }
}

impl PageToken {
    /// The token as URL-safe base64 (no padding): version byte, endpoint
    /// byte, length-prefixed fields and varints, then a 16-byte truncated
    /// HMAC-SHA256 of everything before it. Deterministic: the same token
    /// and key always give the same string (the writer pre-mints the
    /// tokens of default pages; the server must produce identical ones).
    pub fn encode(&self, key: &[u8; 32]) -> String {
        let mut buf = Vec::with_capacity(
            32 + self.api_root.len()
                + self.collection.len()
                + self.filters.len()
                + self.object_id.as_ref().map_or(0, |s| s.len()),
        );
        buf.push(TOKEN_VERSION);
        buf.push(self.endpoint.code());
        put_str(&mut buf, &self.api_root);
        put_str(&mut buf, &self.collection);
        match &self.object_id {
            None => buf.push(0),
            Some(id) => {
                buf.push(1);
                put_str(&mut buf, id);
            }
        }
        put_str(&mut buf, &self.filters);
        put_varint(&mut buf, u64::from(self.limit));
        put_varint(&mut buf, zigzag(self.after.date_added_us));
        put_str(&mut buf, &self.after.id);
        put_varint(&mut buf, zigzag(self.after.version_us));
        let mac = mac_of(key, &buf);
        buf.extend_from_slice(&mac[..MAC_LEN]);
        URL_SAFE_NO_PAD.encode(&buf)
    }

    /// Parses and authenticates a token. Refuses (never panics on) bad
    /// base64, short or over-long input, a wrong MAC (compared in constant
    /// time), an unknown version or endpoint, invalid UTF-8, unreasonable
    /// lengths and trailing bytes.
    pub fn decode(s: &str, key: &[u8; 32]) -> Result<PageToken, TokenError> {
        if s.is_empty() {
            return Err(TokenError("empty"));
        }
        if s.len() > MAX_TOKEN_CHARS {
            return Err(TokenError("too long"));
        }
        let raw = URL_SAFE_NO_PAD
            .decode(s.as_bytes())
            .map_err(|_| TokenError("not URL-safe base64"))?;
        if raw.len() < 2 + MAC_LEN {
            return Err(TokenError("too short"));
        }
        if raw[0] != TOKEN_VERSION {
            return Err(TokenError(
                "unknown token version (minted by another release?)",
            ));
        }
        let (payload, tag) = raw.split_at(raw.len() - MAC_LEN);
        let mut mac = HmacSha256::new_from_slice(key).map_err(|_| TokenError("bad key"))?;
        mac.update(payload);
        mac.verify_truncated_left(tag)
            .map_err(|_| TokenError("signature mismatch (tampered, or minted with another key)"))?;

        let mut r = Reader { b: payload, at: 1 };
        let endpoint = Endpoint::from_code(r.byte()?).ok_or(TokenError("unknown endpoint"))?;
        let api_root = r.string()?;
        let collection = r.string()?;
        let object_id = match r.byte()? {
            0 => None,
            1 => Some(r.string()?),
            _ => return Err(TokenError("bad object id flag")),
        };
        let filters = r.string()?;
        let limit = u32::try_from(r.varint()?).map_err(|_| TokenError("limit out of range"))?;
        let after = Position {
            date_added_us: unzigzag(r.varint()?),
            id: r.string()?,
            version_us: unzigzag(r.varint()?),
        };
        if r.at != payload.len() {
            return Err(TokenError("trailing bytes"));
        }
        Ok(PageToken {
            endpoint,
            api_root,
            collection,
            object_id,
            filters,
            limit,
            after,
        })
    }
}

/// Parses a 32-byte key written as 64 hex digits (`FeedMeta::token_key`).
pub fn key_from_hex(s: &str) -> Result<[u8; 32], TokenError> {
    let b = s.trim().as_bytes();
    if b.len() != 64 {
        return Err(TokenError("token key must be 64 hex digits (32 bytes)"));
    }
    let mut key = [0u8; 32];
    for (i, pair) in b.chunks_exact(2).enumerate() {
        let hi = hex_val(pair[0]).ok_or(TokenError("token key is not hex"))?;
        let lo = hex_val(pair[1]).ok_or(TokenError("token key is not hex"))?;
        key[i] = (hi << 4) | lo;
    }
    Ok(key)
}

/// The key as 64 lower-case hex digits (for `FeedMeta::token_key`).
pub fn key_to_hex(key: &[u8; 32]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(64);
    for b in key {
        s.push(HEX[usize::from(b >> 4)] as char);
        s.push(HEX[usize::from(b & 15)] as char);
    }
    s
}

/// A fresh random key, for the first generation of a feed.
pub fn new_key() -> [u8; 32] {
    let mut key = [0u8; 32];
    rand::Rng::fill(&mut rand::rng(), &mut key[..]);
    key
}

/// The key derived from a configured secret (`server.token_secret`), which
/// overrides the feed's key: SHA-256 of the secret's bytes, so any length of
/// secret gives a full-strength key and every replica derives the same one.
pub fn key_from_secret(secret: &str) -> [u8; 32] {
    let digest = Sha256::digest(secret.as_bytes());
    let mut key = [0u8; 32];
    key.copy_from_slice(&digest);
    key
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn mac_of(key: &[u8; 32], payload: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length; a 32-byte key cannot fail.
    let mut mac = match HmacSha256::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    mac.update(payload);
    mac.finalize().into_bytes().into()
}

fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

fn put_str(buf: &mut Vec<u8>, s: &str) {
    put_varint(buf, s.len() as u64);
    buf.extend_from_slice(s.as_bytes());
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// A cursor over the authenticated payload.
struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn byte(&mut self) -> Result<u8, TokenError> {
        let v = *self.b.get(self.at).ok_or(TokenError("truncated"))?;
        self.at += 1;
        Ok(v)
    }

    fn varint(&mut self) -> Result<u64, TokenError> {
        let mut v: u64 = 0;
        for i in 0..10 {
            let b = self.byte()?;
            let part = u64::from(b & 0x7f);
            if i == 9 && part > 1 {
                return Err(TokenError("varint overflow"));
            }
            v |= part << (7 * i);
            if b & 0x80 == 0 {
                if i > 0 && b == 0 {
                    return Err(TokenError("non-canonical varint"));
                }
                return Ok(v);
            }
        }
        Err(TokenError("varint too long"))
    }

    fn string(&mut self) -> Result<String, TokenError> {
        let len = self.varint()?;
        if len > MAX_FIELD as u64 {
            return Err(TokenError("field too long"));
        }
        let len = len as usize;
        let end = self.at.checked_add(len).ok_or(TokenError("truncated"))?;
        let bytes = self.b.get(self.at..end).ok_or(TokenError("truncated"))?;
        self.at = end;
        String::from_utf8(bytes.to_vec()).map_err(|_| TokenError("field is not UTF-8"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> PageToken {
        PageToken {
            endpoint: Endpoint::Versions,
            api_root: "feeds".into(),
            collection: "0b8a1a6c-8f3e-4c4e-9a59-6a2f4d8f1c11".into(),
            object_id: Some("indicator--2f1e4a3b-5c6d-4e7f-8a9b-0c1d2e3f4a5b".into()),
            filters: "match[type]=indicator".into(),
            limit: 250,
            after: Position {
                date_added_us: 1_704_164_645_123_456,
                id: "indicator--2f1e4a3b-5c6d-4e7f-8a9b-0c1d2e3f4a5b".into(),
                version_us: 1_704_164_645_123_000,
            },
        }
    }

    const KEY: [u8; 32] = [7u8; 32];

    #[test]
    fn round_trip_and_deterministic() {
        let t = sample();
        let s = t.encode(&KEY);
        assert_eq!(s, t.encode(&KEY));
        assert!(s
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
        assert_eq!(PageToken::decode(&s, &KEY).unwrap(), t);
        let neg = PageToken {
            after: Position {
                date_added_us: -5,
                id: String::new(),
                version_us: -7,
            },
            object_id: None,
            endpoint: Endpoint::Objects,
            ..t
        };
        assert_eq!(PageToken::decode(&neg.encode(&KEY), &KEY).unwrap(), neg);
    }

    #[test]
    fn foreign_key_and_every_flipped_byte_are_refused() {
        let s = sample().encode(&KEY);
        assert_eq!(
            PageToken::decode(&s, &[8u8; 32]),
            Err(TokenError(
                "signature mismatch (tampered, or minted with another key)"
            ))
        );
        let raw = URL_SAFE_NO_PAD.decode(&s).unwrap();
        for i in 0..raw.len() {
            let mut r = raw.clone();
            r[i] ^= 0x01;
            assert!(
                PageToken::decode(&URL_SAFE_NO_PAD.encode(&r), &KEY).is_err(),
                "byte {i}"
            );
        }
    }

    #[test]
    fn malformed_inputs_are_refused() {
        let s = sample().encode(&KEY);
        assert_eq!(PageToken::decode("", &KEY), Err(TokenError("empty")));
        assert_eq!(
            PageToken::decode("a+b/", &KEY),
            Err(TokenError("not URL-safe base64"))
        );
        assert_eq!(PageToken::decode("AQE", &KEY), Err(TokenError("too short")));
        assert!(PageToken::decode(&s[..s.len() - 4], &KEY).is_err());
        let long = "A".repeat(MAX_TOKEN_CHARS + 1);
        assert_eq!(PageToken::decode(&long, &KEY), Err(TokenError("too long")));
        // A validly signed payload with a trailing byte.
        let mut raw = URL_SAFE_NO_PAD.decode(&s).unwrap();
        raw.truncate(raw.len() - MAC_LEN);
        raw.push(0);
        let mac = mac_of(&KEY, &raw);
        raw.extend_from_slice(&mac[..MAC_LEN]);
        assert_eq!(
            PageToken::decode(&URL_SAFE_NO_PAD.encode(&raw), &KEY),
            Err(TokenError("trailing bytes"))
        );
        // A validly signed payload of another version.
        let mut raw = URL_SAFE_NO_PAD.decode(&s).unwrap();
        raw.truncate(raw.len() - MAC_LEN);
        raw[0] = TOKEN_VERSION + 1;
        let mac = mac_of(&KEY, &raw);
        raw.extend_from_slice(&mac[..MAC_LEN]);
        assert_eq!(
            PageToken::decode(&URL_SAFE_NO_PAD.encode(&raw), &KEY),
            Err(TokenError(
                "unknown token version (minted by another release?)"
            ))
        );
    }

    #[test]
    fn signed_but_unreasonable_lengths_are_refused() {
        let mut raw = vec![TOKEN_VERSION, 1];
        put_varint(&mut raw, u64::MAX);
        let mac = mac_of(&KEY, &raw);
        raw.extend_from_slice(&mac[..MAC_LEN]);
        assert_eq!(
            PageToken::decode(&URL_SAFE_NO_PAD.encode(&raw), &KEY),
            Err(TokenError("field too long"))
        );
    }

    #[test]
    fn keys_round_trip_through_hex() {
        let k = new_key();
        assert_eq!(key_from_hex(&key_to_hex(&k)).unwrap(), k);
        assert_eq!(key_to_hex(&[0xab; 32]), "ab".repeat(32));
        assert!(key_from_hex("zz").is_err());
        assert!(key_from_hex(&"g".repeat(64)).is_err());
        assert_ne!(key_from_secret("a"), key_from_secret("b"));
    }

    proptest::proptest! {
        #[test]
        fn random_strings_never_panic(s in ".{0,200}") {
            let _ = PageToken::decode(&s, &KEY);
        }

        #[test]
        fn random_base64_never_panics(raw in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let _ = PageToken::decode(&URL_SAFE_NO_PAD.encode(&raw), &KEY);
        }
    }
}
