//! The `threatconnect` profile: ThreatConnect API v3 indicator records →
//! canonical indicators, exactly as docs/input-formats.md#threatconnect describes.
//!
//! | `type` | value key (else `summary`) | canonical |
//! |---|---|---|
//! | `Address` | `ip` | ipv4 / ipv6 by parsing |
//! | `Host` | `hostName` | domain |
//! | `URL` | `text` | url |
//! | `EmailAddress` | `address` | email |
//! | `File` | `md5`, `sha1`, `sha256` | md5 / sha1 / sha256, or file if several |
//! | `ASN` | `AS Number` | asn (digits only) |
//! | `CIDR` | `Block` | cidr |
//! | `Mutex` | `Mutex` | mutex |
//! | `Registry Key` | `Key Name` (+ `Value Name`) | registry-key |
//! | `User Agent` | `User Agent String` | user-agent |
//! | `Email Subject` | `Subject` | email-subject |
//!
//! Anything else (`Hashtag`, custom types) is `unsupported-type`. Multi-part
//! `summary` values are split on ` : ` (File: hashes, classified by length;
//! Registry Key: key, value name, value type). Nested records
//! (`associatedIndicators`, `fileActions`…) are never emitted; they stay in
//! the source text only.

use super::normalize::{self, put_hash, shown};
use super::{
    absent, get_date, get_int, get_nonempty, get_number, get_str, ip_value, value_of, Fixes,
    RejectReason, Rejection,
};
use crate::record::{FileHashes, Indicator, IndicatorType, Origin, Profile, Source, Tlp};
use simd_json::prelude::*;
use simd_json::tape::Value as JValue;

/// Converts one ThreatConnect v3 indicator object.
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
    let summary = get_nonempty(v, "summary");
    let missing = |key: &str| {
        (
            RejectReason::MissingValue,
            format!("ThreatConnect {ty} has no {key:?} and no \"summary\""),
        )
    };
    let simple = |key: &str,
                  kind: IndicatorType,
                  fixes: &mut Fixes|
     -> Result<(IndicatorType, String), Rejection> {
        let raw = get_nonempty(v, key)
            .or(summary)
            .ok_or_else(|| missing(key))?;
        Ok((kind, value_of(kind, raw, fixes)?))
    };
    let mut hashes = FileHashes::default();
    let mut registry_value_name = None;
    let (kind, value) = match ty {
        "Address" => {
            let raw = get_nonempty(v, "ip")
                .or(summary)
                .ok_or_else(|| missing("ip"))?;
            ip_value(raw, fixes)?
        }
        "Host" => simple("hostName", IndicatorType::Domain, fixes)?,
        "URL" => simple("text", IndicatorType::Url, fixes)?,
        "EmailAddress" => simple("address", IndicatorType::Email, fixes)?,
        "ASN" => simple("AS Number", IndicatorType::Asn, fixes)?,
        "CIDR" => simple("Block", IndicatorType::Cidr, fixes)?,
        "Mutex" => simple("Mutex", IndicatorType::Mutex, fixes)?,
        "User Agent" => simple("User Agent String", IndicatorType::UserAgent, fixes)?,
        "Email Subject" => simple("Subject", IndicatorType::EmailSubject, fixes)?,
        "Registry Key" => {
            let mut parts = summary.map(|s| s.split(" : "));
            let from_summary = parts.as_mut().and_then(|p| p.next());
            let key = get_nonempty(v, "Key Name")
                .or(from_summary)
                .ok_or_else(|| missing("Key Name"))?;
            let vn =
                get_nonempty(v, "Value Name").or_else(|| parts.as_mut().and_then(|p| p.next()));
            registry_value_name = vn.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
            (
                IndicatorType::RegistryKey,
                value_of(IndicatorType::RegistryKey, key, fixes)?,
            )
        }
        "File" => {
            let mut any = false;
            for (key, kind) in [
                ("md5", IndicatorType::Md5),
                ("sha1", IndicatorType::Sha1),
                ("sha256", IndicatorType::Sha256),
            ] {
                if let Some(raw) = get_nonempty(v, key) {
                    any = true;
                    let h = value_of(kind, raw, fixes)?;
                    put_hash(&mut hashes, kind, h);
                }
            }
            if !any {
                let s = summary.ok_or_else(|| missing("md5/sha1/sha256"))?;
                for part in s.split(" : ") {
                    let part = part.trim();
                    if part.is_empty() {
                        continue;
                    }
                    let (kind, h) =
                        normalize::hash_any(part).map_err(|e| (RejectReason::InvalidValue, e))?;
                    if !put_hash(&mut hashes, kind, h) {
                        return Err((
                            RejectReason::InvalidValue,
                            format!("summary {} holds two different {kind} hashes", shown(s)),
                        ));
                    }
                }
            }
            normalize::file_kind(&hashes).ok_or_else(|| missing("md5/sha1/sha256"))?
        }
        other => {
            return Err((
                RejectReason::UnsupportedType,
                format!("ThreatConnect type {other:?} is not supported"),
            ))
        }
    };

    let rating = get_number(v, "rating").map_err(|e| (RejectReason::InvalidValue, e))?;
    if let Some(r) = rating {
        if !(0.0..=5.0).contains(&r) {
            return Err((
                RejectReason::InvalidValue,
                format!("rating {r} is not between 0 and 5"),
            ));
        }
    }
    let confidence = get_int(v, "confidence", 100).map_err(|e| (RejectReason::InvalidValue, e))?;
    let created = get_date(v, "dateAdded")?;
    let last_modified = get_date(v, "lastModified")?.or(created);
    let active = v.get("active").and_then(|a| a.as_bool()).unwrap_or(true);
    let description = get_nonempty(v, "description")
        .map(str::to_string)
        .or_else(|| default_description(v));
    let tags = named_list(v, "tags");
    let tlp = v
        .get("securityLabels")
        .and_then(|s| s.get("data"))
        .and_then(|d| d.as_array())
        .and_then(|a| {
            a.iter().find_map(|l| {
                let name = l.get("name")?.into_string()?.trim();
                if name.len() > 4 && name.as_bytes()[..4].eq_ignore_ascii_case(b"tlp:") {
                    Tlp::parse(name)
                } else {
                    None
                }
            })
        });
    if kind.as_str().starts_with("sha") || kind == IndicatorType::Md5 {
        put_hash(&mut hashes, kind, value.clone());
    }
    Ok(Indicator {
        kind,
        value,
        hashes: hashes.into(),
        registry_value_name,
        owner: get_nonempty(v, "ownerName").map(|s| s.trim().to_string()),
        confidence,
        rating,
        score: None,
        tags,
        tlp,
        active,
        created,
        last_modified,
        expiration: None,
        description,
        profile: Profile::Threatconnect,
        origin,
        source: source(),
    })
}

/// The default `Description` attribute, used when there is no top-level
/// `description`.
fn default_description(v: JValue<'_, '_>) -> Option<String> {
    if absent(v, "attributes") {
        return None;
    }
    let data = v.get("attributes")?.get("data")?.as_array()?;
    data.iter().find_map(|a| {
        let is_desc = a.get("type")?.as_str()? == "Description";
        let is_default = a.get("default").and_then(|d| d.as_bool()).unwrap_or(false);
        if is_desc && is_default {
            a.get("value")?.as_str().map(str::to_string)
        } else {
            None
        }
    })
}

/// `{"data": [{"name": …}, …]}` → names; `{}` (ThreatConnect's empty list)
/// or absent → empty.
fn named_list(v: JValue<'_, '_>, key: &str) -> Vec<String> {
    let Some(a) = v
        .get(key)
        .and_then(|t| t.get("data"))
        .and_then(|d| d.as_array())
    else {
        return Vec::new();
    };
    a.iter()
        .filter_map(|t| t.get("name").and_then(|n| n.into_string()))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}
