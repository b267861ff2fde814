//! The `stix` profile: STIX 2.0/2.1 objects passed through as they are.
//!
//! Accepted layouts: a bundle (`{"type":"bundle","objects":[…]}`), a bare
//! array of objects, NDJSON of objects, and the two layouts of the OASIS
//! reference server medallion's data file (`default_data.json`):
//! - older: API roots whose `collections` is an array of collections, each
//!   with `objects` and a parallel `manifest` list of `{id, date_added,
//!   version | versions, media_type | media_types}`;
//! - newer: API roots whose `collections` is an object keyed by collection
//!   id, each object carrying `__meta: {date_added, media_type}`.
//!
//! Objects are not re-modelled: the record keeps the object as compact JSON
//! with its keys in their original order and without `__meta`, plus what the
//! feed needs to index it (id, type, spec_version, created, modified and a
//! date_added given by the input).
//!
//! `spec_version` of an object, first match wins: its own `spec_version`;
//! the version in its medallion media type (`…;version=2.0`); the bundle's
//! `spec_version` (STIX 2.0 bundles carry one, 2.1 bundles do not); `2.1`
//! for cyber-observable types (STIX 2.1 SCOs may omit it); otherwise `2.0`
//! (STIX 2.1 requires `spec_version` on every SDO, SRO and marking, so an
//! object without one is a STIX 2.0 object).
//!
//! Every object read is also put through the structural check of
//! [`super::stix_check`]; what it finds travels with the record, and the
//! compile decides by `compile.stix_check` whether the object is kept.
//! Objects of a medallion file remember the id of the collection they are
//! in (the `collection` query field), so a config can rebuild medallion's
//! collections with one query each.

use super::stix_check::{self, SpecFrom};
use super::{chunk, RejectReason, Rejection};
use crate::record::{Origin, Source, StixRecord};
use crate::time::{self, Micros};
use serde_json::{Map, Value};
use std::sync::Arc;

/// What the input says about an object besides the object itself.
#[derive(Default)]
struct Meta {
    date_added: Option<Micros>,
    spec_version: Option<String>,
    /// The id of the medallion collection holding the object.
    collection: Option<Arc<str>>,
}

/// The version in a media type such as `application/stix+json;version=2.1`.
fn media_version(mt: &str) -> Option<String> {
    let i = mt.find("version=")?;
    let v = mt[i + 8..].trim().trim_matches('"');
    let v: String = v
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    (!v.is_empty()).then_some(v)
}

fn date(field: &str, v: &Value) -> Result<Micros, Rejection> {
    let s = v.as_str().ok_or_else(|| {
        (
            RejectReason::InvalidValue,
            format!("{field} is not a string timestamp"),
        )
    })?;
    time::parse_rfc3339(s).map_err(|_| {
        (
            RejectReason::InvalidValue,
            format!("{field} {s:?} is not an RFC 3339 timestamp"),
        )
    })
}

/// Parses one STIX object from its JSON text.
pub(crate) fn parse_object(
    text: &str,
    origin: Origin,
    bundle_spec: Option<&str>,
) -> Result<StixRecord, Rejection> {
    let v: Value = serde_json::from_str(text)
        .map_err(|e| (RejectReason::ParseError, format!("invalid JSON: {e}")))?;
    let Value::Object(map) = v else {
        return Err((
            RejectReason::ParseError,
            "the record is not a JSON object".into(),
        ));
    };
    build(
        map,
        origin,
        Source(Arc::from(text)),
        Meta::default(),
        bundle_spec,
    )
}

fn build(
    mut map: Map<String, Value>,
    origin: Origin,
    source: Source,
    mut meta: Meta,
    bundle_spec: Option<&str>,
) -> Result<StixRecord, Rejection> {
    if let Some(m) = map.shift_remove("__meta") {
        if let Some(d) = m.get("date_added") {
            meta.date_added = Some(date("__meta.date_added", d)?);
        }
        if let Some(mt) = m.get("media_type").and_then(Value::as_str) {
            meta.spec_version = media_version(mt).or(meta.spec_version);
        }
    }
    let stix_type = match map.get("type") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => {
            return Err((
                RejectReason::MissingValue,
                "the object has no \"type\"".into(),
            ))
        }
    };
    if stix_type == "bundle" {
        return Err((
            RejectReason::UnsupportedType,
            "a bundle inside a list of objects; give the bundle as its own file".into(),
        ));
    }
    let id = match map.get("id") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => {
            return Err((
                RejectReason::MissingValue,
                format!("the {stix_type} object has no \"id\""),
            ))
        }
    };
    let well_formed = id
        .strip_prefix(stix_type.as_str())
        .and_then(|r| r.strip_prefix("--"))
        .is_some_and(|u| uuid::Uuid::try_parse(u).is_ok());
    if !well_formed {
        return Err((
            RejectReason::InvalidValue,
            format!("id {id:?} is not of the form {stix_type}--<uuid>"),
        ));
    }
    let created = map.get("created").map(|c| date("created", c)).transpose()?;
    let modified = map
        .get("modified")
        .map(|c| date("modified", c))
        .transpose()?
        .or(created);
    let (spec_version, from) = match map.get("spec_version") {
        Some(Value::String(s)) => (s.clone(), SpecFrom::Object),
        Some(_) => {
            return Err((
                RejectReason::InvalidValue,
                "spec_version is not a string".into(),
            ))
        }
        None => match (meta.spec_version, bundle_spec) {
            (Some(v), _) => (v, SpecFrom::MediaType),
            (None, Some(v)) => (v.to_string(), SpecFrom::Bundle),
            (None, None) => {
                let v = if crate::record::STIX_SCO_TYPES.contains(&stix_type.as_str()) {
                    "2.1"
                } else {
                    "2.0"
                };
                (v.to_string(), SpecFrom::Default)
            }
        },
    };
    let problems = stix_check::check(&map, &stix_type, &id, &spec_version, from);
    let json = serde_json::to_string(&Value::Object(map))
        .map_err(|e| (RejectReason::ParseError, e.to_string()))?;
    Ok(StixRecord {
        id,
        stix_type,
        spec_version,
        created,
        modified,
        date_added: meta.date_added,
        json: Arc::from(json),
        origin,
        source,
        problems,
        collections: meta.collection.into_iter().collect(),
        files: vec![origin.file],
    })
}

/// True when a top-level member holds an object with `collections` (a
/// medallion API root), for data files without `/discovery`.
pub(crate) fn looks_like_medallion(bytes: &[u8], members: &[chunk::Member]) -> bool {
    members.iter().any(|m| {
        bytes.get(m.value.start) == Some(&b'{')
            && chunk::object_members(bytes, m.value.start)
                .map(|(inner, _)| {
                    inner.iter().any(|i| {
                        &bytes[i.key.clone()] == b"collections"
                            && matches!(bytes.get(i.value.start), Some(b'[' | b'{'))
                    })
                })
                .unwrap_or(false)
    })
}

/// One object of a medallion data file: where it is and what it became.
pub(crate) type Medallion = Vec<(Origin, Result<StixRecord, Rejection>)>;

/// Reads every object of every collection of a medallion data file, in
/// file order (API roots, then collections, then objects); `position` is
/// the object's 0-based index across the whole file.
pub(crate) fn medallion(bytes: &[u8], file: u32) -> Result<Medallion, String> {
    let doc: Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    let Value::Object(top) = doc else {
        return Err("a medallion data file is a JSON object".into());
    };
    let mut out = Vec::new();
    let mut position = 0u64;
    for (name, root) in top {
        if name == "/discovery" {
            continue;
        }
        // (collection id, collection): the newer layout keys collections
        // by id, the older one has an `id` member.
        let collections: Vec<(Option<String>, Value)> = match root.get("collections") {
            Some(Value::Array(a)) => a
                .iter()
                .map(|c| {
                    (
                        c.get("id").and_then(Value::as_str).map(String::from),
                        c.clone(),
                    )
                })
                .collect(),
            Some(Value::Object(m)) => m
                .iter()
                .map(|(k, c)| (Some(k.clone()), c.clone()))
                .collect(),
            _ => continue,
        };
        for (coll_id, coll) in collections {
            let coll_id: Option<Arc<str>> = coll_id.map(Arc::from);
            let manifest = coll
                .get("manifest")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let Some(objects) = coll.get("objects").and_then(Value::as_array) else {
                continue;
            };
            for obj in objects {
                let origin = Origin {
                    file,
                    position,
                    is_line: false,
                };
                position += 1;
                let result = match obj {
                    Value::Object(map) => {
                        let source = Source(Arc::from(obj.to_string()));
                        let mut meta = manifest_meta(&manifest, map);
                        meta.collection = coll_id.clone();
                        build(map.clone(), origin, source, meta, None)
                    }
                    _ => Err((
                        RejectReason::ParseError,
                        "the object is not a JSON object".into(),
                    )),
                };
                out.push((origin, result));
            }
        }
    }
    Ok(out)
}

/// The manifest entry of an object version: same id, and `version` (or one
/// of `versions`) equal to the object's `modified` (else `created`); an
/// entry without version information matches any version of its id.
fn manifest_meta(manifest: &[Value], obj: &Map<String, Value>) -> Meta {
    let mut meta = Meta::default();
    let Some(id) = obj.get("id").and_then(Value::as_str) else {
        return meta;
    };
    let version = obj
        .get("modified")
        .or_else(|| obj.get("created"))
        .and_then(Value::as_str)
        .and_then(|s| time::parse_rfc3339(s).ok());
    let same = |s: &Value| s.as_str().and_then(|s| time::parse_rfc3339(s).ok()) == version;
    let entry = manifest.iter().find(|e| {
        e.get("id").and_then(Value::as_str) == Some(id)
            && match (e.get("version"), e.get("versions")) {
                (Some(v), _) => same(v),
                (None, Some(Value::Array(vs))) => vs.iter().any(same),
                (None, _) => true,
            }
    });
    if let Some(e) = entry {
        meta.date_added = e
            .get("date_added")
            .and_then(Value::as_str)
            .and_then(|s| time::parse_rfc3339(s).ok());
        let mt = e.get("media_type").and_then(Value::as_str).or_else(|| {
            e.get("media_types")
                .and_then(|m| m.get(0))
                .and_then(Value::as_str)
        });
        meta.spec_version = mt.and_then(media_version);
    }
    meta
}
