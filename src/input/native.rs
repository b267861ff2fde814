//! The `native` profile: taxii-edge's own indicator format, for feeds built
//! by scripts rather than exported from a platform. It maps one to one onto
//! the canonical indicator, so it is the format to use when nothing else
//! fits.
//!
//! # The native format
//! NDJSON: one JSON object per line (UTF-8; blank lines skipped; CRLF
//! allowed). A JSON array of the same objects is accepted too.
//!
//! | field | type | meaning |
//! |---|---|---|
//! | `type` | string, **required** | a canonical type: `ipv4`, `ipv6`, `cidr`, `domain`, `url`, `email`, `email-subject`, `md5`, `sha1`, `sha256`, `sha512`, `file`, `asn`, `mutex`, `registry-key`, `user-agent` |
//! | `value` | string, **required** (except `file`) | the indicator; normalised like every profile (trimmed, refanged, lower-case hashes/domains, RFC 5952 IPv6, ASN digits) |
//! | `hashes` | object | `{"md5", "sha1", "sha256", "sha512"}`, any subset; for `file` at least one, and the value is the strongest (sha512 > sha256 > sha1 > md5); for a hash type, extra hashes of the same file |
//! | `owner` | string | who published it |
//! | `confidence` | integer 0–100 | |
//! | `rating` | number 0–5 | ThreatConnect-style threat rating |
//! | `score` | integer 0–3 | XSOAR-style verdict |
//! | `tags` | array of strings | |
//! | `tlp` | string | `clear`, `white`, `green`, `amber`, `amber+strict`, `red` (any case, optional `TLP:`) |
//! | `created`, `last_modified`, `expiration` | RFC 3339 string | truncated to milliseconds; `last_modified` defaults to `created` |
//! | `description` | string | |
//! | `registry_value_name` | string | for `registry-key` |
//! | `active` | boolean, default `true` | `false` → revoked |
//!
//! Any other field is allowed and kept in the record's source text, where
//! JMESPath mappings and `source.<path>` filters can read it.
//!
//! ```text
//! {"type":"ipv4","value":"198.51.100.7","owner":"SOC","confidence":80,"tags":["apt28"],"tlp":"amber","created":"2024-01-02T03:04:05Z"}
//! {"type":"file","hashes":{"md5":"…","sha256":"…"},"description":"dropper"}
//! ```

use super::normalize::{self, put_hash, shown};
use super::{
    get_date, get_int, get_nonempty, get_number, get_str, string_list, value_of, Fixes,
    RejectReason, Rejection,
};
use crate::record::{FileHashes, Indicator, IndicatorType, Origin, Profile, Source, Tlp};
use simd_json::prelude::*;
use simd_json::tape::Value as JValue;

/// Converts one native record.
pub(crate) fn parse(
    v: JValue<'_, '_>,
    origin: Origin,
    source: impl FnOnce() -> Source,
    fixes: &mut Fixes,
) -> Result<Indicator, Rejection> {
    let Some(ty) = get_str(v, "type") else {
        return Err((
            RejectReason::MissingValue,
            "the record has no \"type\"".into(),
        ));
    };
    let Some(kind) = IndicatorType::parse(ty) else {
        return Err((
            RejectReason::UnsupportedType,
            format!("type {ty:?} is not a canonical type (ipv4, domain, url, sha256, …)"),
        ));
    };
    let mut hashes = FileHashes::default();
    if let Some(h) = v.get("hashes").filter(|h| h.as_object().is_some()) {
        for (key, k) in [
            ("md5", IndicatorType::Md5),
            ("sha1", IndicatorType::Sha1),
            ("sha256", IndicatorType::Sha256),
            ("sha512", IndicatorType::Sha512),
        ] {
            if let Some(raw) = get_nonempty(h, key) {
                let x =
                    value_of(k, raw, fixes).map_err(|(r, e)| (r, format!("hashes.{key}: {e}")))?;
                put_hash(&mut hashes, k, x);
            }
        }
    }
    let value = match kind {
        IndicatorType::File => {
            if let Some(raw) = get_nonempty(v, "value") {
                let (k, h) =
                    normalize::hash_any(raw.trim()).map_err(|e| (RejectReason::InvalidValue, e))?;
                if !put_hash(&mut hashes, k, h) {
                    return Err((
                        RejectReason::InvalidValue,
                        format!("value {} differs from hashes.{k}", shown(raw)),
                    ));
                }
            }
            match normalize::file_kind(&hashes) {
                Some((_, strongest)) => strongest,
                None => {
                    return Err((
                        RejectReason::MissingValue,
                        "a file record needs \"hashes\" (or a hash \"value\")".into(),
                    ))
                }
            }
        }
        k => {
            let Some(raw) = get_nonempty(v, "value") else {
                return Err((
                    RejectReason::MissingValue,
                    format!("the {k} record has no \"value\""),
                ));
            };
            let val = value_of(k, raw, fixes)?;
            if matches!(
                k,
                IndicatorType::Md5
                    | IndicatorType::Sha1
                    | IndicatorType::Sha256
                    | IndicatorType::Sha512
            ) && !put_hash(&mut hashes, k, val.clone())
            {
                return Err((
                    RejectReason::InvalidValue,
                    format!("value {} differs from hashes.{k}", shown(raw)),
                ));
            }
            val
        }
    };
    let invalid = |e: String| (RejectReason::InvalidValue, e);
    let rating = get_number(v, "rating").map_err(invalid)?;
    if let Some(r) = rating {
        if !(0.0..=5.0).contains(&r) {
            return Err(invalid(format!("rating {r} is not between 0 and 5")));
        }
    }
    let tlp = match get_nonempty(v, "tlp") {
        None => None,
        Some(s) => Some(Tlp::parse(s).ok_or_else(|| {
            invalid(format!(
                "tlp {} is not one of clear, white, green, amber, amber+strict, red",
                shown(s)
            ))
        })?),
    };
    let created = get_date(v, "created")?;
    Ok(Indicator {
        kind,
        value,
        hashes: hashes.into(),
        registry_value_name: get_nonempty(v, "registry_value_name").map(|s| s.trim().to_string()),
        owner: get_nonempty(v, "owner").map(|s| s.trim().to_string()),
        confidence: get_int(v, "confidence", 100).map_err(invalid)?,
        rating,
        score: get_int(v, "score", 3).map_err(invalid)?,
        tags: string_list(v.get("tags")),
        tlp,
        active: v.get("active").and_then(|a| a.as_bool()).unwrap_or(true),
        created,
        last_modified: get_date(v, "last_modified")?.or(created),
        expiration: get_date(v, "expiration")?,
        description: get_nonempty(v, "description").map(str::to_string),
        profile: Profile::Native,
        origin,
        source: source(),
    })
}
