//! Pagination tokens (`next`): self-contained, stateless, MAC-signed
//! (TAXII-NOTES decisions 4 and 5).
//!
//! A token carries the endpoint, api root, collection, object id (for the
//! object and versions endpoints), the canonical filter string, the page
//! size, and the keyset position (last returned date_added plus its rank
//! among entries with that same date_added). Encoding is deterministic, so
//! the compiler can pre-mint the tokens of default pages and the server
//! mints byte-identical ones. URL-safe base64 without padding.

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
    /// date_added of the last item returned.
    pub after_us: i64,
    /// How many entries with exactly `after_us` were returned (≥ 1).
    pub rank: u32,
}

/// Why a token was refused (always answered with 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid next token: {0}")]
pub struct TokenError(pub &'static str);
