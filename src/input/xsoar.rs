//! The `xsoar` profile: Cortex XSOAR indicator records → canonical
//! indicators, exactly as docs/input-formats.md#xsoar describes.
//!
//! Type: `indicator_type`, else `type`, compared case-insensitively:
//! `IP` → ipv4 (an IPv6 value under `IP` is taken as ipv6), `IPv6` → ipv6,
//! `CIDR`/`IPv6CIDR` → cidr, `Domain`/`Host` → domain, `URL` → url, `Email`
//! → email, `File` → by hash length (plus `CustomFields.md5/sha1/sha256/
//! sha512`; several hashes → file), `File MD5`/`File SHA-1`/`File SHA-256`
//! → md5/sha1/sha256, `Registry Key` → registry-key, `ASN` → asn, `Mutex` →
//! mutex. Every other type (`CVE`, `DomainGlob`, `Account`…) is
//! `unsupported-type`.
//!
//! Dates: 0–9 fraction digits and any offset; `0001-01-01T00:00:00Z` means
//! unset. created = `timestamp`, else `firstSeen`, else `modified`;
//! last_modified = `modified`; expiration = `expiration`.
//! `expirationStatus: "expired"` → inactive. `score` is an int or a numeric
//! string 0–3. From `CustomFields` (which may be missing or null): `tags`,
//! `description`, `trafficlightprotocol` (else `CustomFields.tlp`, else a
//! top-level `tlp`). Owner, confidence and rating do not exist in XSOAR.
//! `moduleToFeedMap`, `comments`, `insightCache`, `sortValues` are ignored.

use super::normalize::{self, put_hash, shown};
use super::{
    get_date, get_int, get_nonempty, get_str, ip_value, string_list, value_of, Fixes, RejectReason,
    Rejection,
};
use crate::record::{FileHashes, Indicator, IndicatorType, Origin, Profile, Source, Tlp};
use simd_json::tape::Value as JValue;

/// The canonical type for an XSOAR type name; `None` for unsupported ones.
/// `File` returns `File` and is resolved by hash length.
fn kind_of(ty: &str) -> Option<IndicatorType> {
    let t = ty.trim().to_ascii_lowercase();
    Some(match t.as_str() {
        "ip" => IndicatorType::Ipv4,
        "ipv6" => IndicatorType::Ipv6,
        "cidr" | "ipv6cidr" => IndicatorType::Cidr,
        "domain" | "host" => IndicatorType::Domain,
        "url" => IndicatorType::Url,
        "email" => IndicatorType::Email,
        "file" => IndicatorType::File,
        "file md5" => IndicatorType::Md5,
        "file sha-1" | "file sha1" => IndicatorType::Sha1,
        "file sha-256" | "file sha256" => IndicatorType::Sha256,
        "registry key" => IndicatorType::RegistryKey,
        "asn" => IndicatorType::Asn,
        "mutex" => IndicatorType::Mutex,
        _ => return None,
    })
}

/// Converts one XSOAR indicator object.
pub(crate) fn parse(
    v: JValue<'_, '_>,
    origin: Origin,
    source: impl FnOnce() -> Source,
    fixes: &mut Fixes,
) -> Result<Indicator, Rejection> {
    let ty = get_nonempty(v, "indicator_type").or_else(|| get_nonempty(v, "type"));
    let Some(ty) = ty else {
        return Err((
            RejectReason::MissingValue,
            "the record has no \"indicator_type\" (or \"type\")".into(),
        ));
    };
    let Some(kind) = kind_of(ty) else {
        return Err((
            RejectReason::UnsupportedType,
            format!("XSOAR type {:?} is not supported", ty.trim()),
        ));
    };
    let Some(raw) = get_nonempty(v, "value") else {
        return Err((
            RejectReason::MissingValue,
            format!("XSOAR {} has no \"value\"", ty.trim()),
        ));
    };
    let custom = v.get("CustomFields").filter(|c| c.as_object().is_some());
    let mut hashes = FileHashes::default();
    let (kind, value) = match kind {
        IndicatorType::Ipv4 => ip_value(raw, fixes)?,
        IndicatorType::File | IndicatorType::Md5 | IndicatorType::Sha1 | IndicatorType::Sha256 => {
            let c = super::cleaned(kind, raw, fixes)?;
            let (hk, h) = if kind == IndicatorType::File {
                normalize::hash_any(&c)
                    .map_err(|e| (RejectReason::InvalidValue, format!("File value: {e}")))?
            } else {
                (
                    kind,
                    normalize::canonical(kind, &c).map_err(|e| (RejectReason::InvalidValue, e))?,
                )
            };
            put_hash(&mut hashes, hk, h);
            if let Some(cf) = custom {
                for (key, k) in [
                    ("md5", IndicatorType::Md5),
                    ("sha1", IndicatorType::Sha1),
                    ("sha256", IndicatorType::Sha256),
                    ("sha512", IndicatorType::Sha512),
                ] {
                    if let Some(extra) = get_nonempty(cf, key) {
                        let x = value_of(k, extra, fixes)
                            .map_err(|(r, e)| (r, format!("CustomFields.{key}: {e}")))?;
                        if !put_hash(&mut hashes, k, x) {
                            return Err((
                                RejectReason::InvalidValue,
                                format!(
                                    "CustomFields.{key} {} differs from the {k} value",
                                    shown(extra)
                                ),
                            ));
                        }
                    }
                }
            }
            normalize::file_kind(&hashes).unwrap_or((hk, String::new()))
        }
        k => (k, value_of(k, raw, fixes)?),
    };

    let score = get_int(v, "score", 3).map_err(|e| (RejectReason::InvalidValue, e))?;
    let timestamp = get_date(v, "timestamp")?;
    let first_seen = get_date(v, "firstSeen")?;
    let modified = get_date(v, "modified")?;
    let expiration = get_date(v, "expiration")?;
    let active =
        get_str(v, "expirationStatus").is_none_or(|s| !s.trim().eq_ignore_ascii_case("expired"));
    let (tags, description, tlp) = match custom {
        Some(cf) => (
            string_list(cf.get("tags")),
            get_nonempty(cf, "description").map(str::to_string),
            get_nonempty(cf, "trafficlightprotocol")
                .and_then(Tlp::parse)
                .or_else(|| get_nonempty(cf, "tlp").and_then(Tlp::parse)),
        ),
        None => (Vec::new(), None, None),
    };
    let tlp = tlp.or_else(|| get_nonempty(v, "tlp").and_then(Tlp::parse));
    Ok(Indicator {
        kind,
        value,
        hashes: hashes.into(),
        registry_value_name: None,
        owner: None,
        confidence: None,
        rating: None,
        score,
        tags,
        tlp,
        active,
        created: timestamp.or(first_seen).or(modified),
        last_modified: modified,
        expiration,
        description,
        profile: Profile::Xsoar,
        origin,
        source: source(),
    })
}
