//! The structural check of passthrough STIX objects.
//!
//! Passthrough objects are served as the input gave them, so an invalid one
//! reaches every client. This check catches the structural mistakes that a
//! STIX validator would refuse, cheaply and without re-modelling the
//! object; it is not a validator (no vocabularies, no pattern parsing, no
//! property types beyond what is listed here). Rules, by the spec version
//! the object is read as (see `input::stix` for how that is decided):
//!
//! - **id**: the type name is lower-case letters, digits and hyphens (3–250
//!   characters, starting with a letter); `id` and every identifier in a
//!   top-level `*_ref` / `*_refs` property is `<type>--<UUID>` with an
//!   RFC 4122 UUID: version 4 in STIX 2.0, versions 1–5 in STIX 2.1.
//! - **timestamp**: `created`, `modified`, `valid_from`, `valid_until`,
//!   `first_seen`, `last_seen`, `first_observed`, `last_observed` and
//!   `published` are RFC 3339 timestamps in UTC with `Z`; `created` and
//!   `modified` have exactly three fraction digits in STIX 2.0 and at
//!   least three in STIX 2.1 (millisecond precision).
//! - **missing-property**: the common properties every object of its kind
//!   needs (SDOs and SROs: `created`, `modified`; marking definitions:
//!   `created`, `definition_type` and `definition`, which a STIX 2.1
//!   marking may replace by `extensions`; cyber-observables: only `id`),
//!   and the properties the spec requires of its type (`labels` on a STIX
//!   2.0 malware, `is_family` on a STIX 2.1 malware and `name` when it is a
//!   family, `pattern`/`valid_from` on indicators, `source_ref`/
//!   `target_ref`/`relationship_type` on relationships, …; the table is
//!   [`required`]). JSON `null` counts as missing.
//! - **spec-version**: `spec_version`, when present, is `"2.0"` or `"2.1"`;
//!   a cyber-observable is a STIX 2.1 object (STIX 2.0 has no top-level
//!   observables); an SDO, SRO or marking read as STIX 2.1 states
//!   `spec_version` itself (STIX 2.1 requires it, and without it the object
//!   is a 2.0 object to every other reader). An explicit `"2.0"` on an SDO
//!   is tolerated: STIX 2.1 readers take it as written, and to STIX 2.0 it
//!   is a custom property.
//!
//! Problems that make an object impossible to index (no `type`, no `id`, an
//! `id` that is not `<type>--<uuid>` at all, a `created` or `modified` that
//! is not a timestamp) are not checks: they stay rejects of the reader,
//! whatever `compile.stix_check` says.

use crate::record::{StixProblem, StixProblemKind, STIX_SCO_TYPES};
use serde_json::{Map, Value};

/// Where the spec version an object is read as came from, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SpecFrom {
    /// The object's own `spec_version`.
    Object,
    /// The medallion media type (`…;version=2.x`) of the object.
    MediaType,
    /// The bundle's `spec_version` (STIX 2.0 bundles carry one).
    Bundle,
    /// No version anywhere: 2.1 for a cyber-observable, else 2.0.
    Default,
}

impl SpecFrom {
    fn says(self) -> &'static str {
        match self {
            SpecFrom::Object => "its spec_version",
            SpecFrom::MediaType => "its medallion media type",
            SpecFrom::Bundle => "the bundle's spec_version",
            SpecFrom::Default => "the default for an object without spec_version",
        }
    }
}

/// Timestamp properties checked wherever they appear at the top level.
const TIMESTAMPS: [&str; 9] = [
    "created",
    "modified",
    "valid_from",
    "valid_until",
    "first_seen",
    "last_seen",
    "first_observed",
    "last_observed",
    "published",
];

/// The properties a STIX version requires of one object type, besides the
/// common ones (from the specs' property tables, as the OASIS JSON schemas
/// state them).
pub(crate) fn required(spec: &str, stix_type: &str) -> &'static [&'static str] {
    match (spec, stix_type) {
        ("2.0", "indicator") => &["pattern", "labels", "valid_from"],
        ("2.1", "indicator") => &["pattern", "pattern_type", "valid_from"],
        ("2.0", "malware") => &["name", "labels"],
        ("2.1", "malware") => &["is_family"],
        ("2.0", "report") => &["name", "labels", "object_refs", "published"],
        ("2.1", "report") => &["name", "object_refs", "published"],
        ("2.0", "threat-actor" | "tool") => &["name", "labels"],
        ("2.0", "identity") => &["name", "identity_class"],
        ("2.0", "observed-data") => &[
            "first_observed",
            "last_observed",
            "number_observed",
            "objects",
        ],
        ("2.1", "observed-data") => &["first_observed", "last_observed", "number_observed"],
        (
            "2.0" | "2.1",
            "attack-pattern" | "campaign" | "course-of-action" | "intrusion-set" | "vulnerability",
        )
        | ("2.1", "identity" | "incident" | "infrastructure" | "threat-actor" | "tool") => {
            &["name"]
        }
        ("2.1", "grouping") => &["context", "object_refs"],
        ("2.1", "note") => &["content", "object_refs"],
        ("2.1", "opinion") => &["opinion", "object_refs"],
        ("2.1", "malware-analysis") => &["product"],
        ("2.1", "language-content") => &["object_ref", "contents"],
        ("2.1", "extension-definition") => &["name", "schema", "version", "extension_types"],
        ("2.0" | "2.1", "relationship") => &["relationship_type", "source_ref", "target_ref"],
        ("2.0" | "2.1", "sighting") => &["sighting_of_ref"],
        _ => &[],
    }
}

/// Checks one object. `spec` is the version it is read as and `from` where
/// that came from; `id` is its (already well-formed) identifier.
pub(crate) fn check(
    map: &Map<String, Value>,
    stix_type: &str,
    id: &str,
    spec: &str,
    from: SpecFrom,
) -> Vec<StixProblem> {
    let mut out = Vec::new();
    let mut add = |kind, details: Vec<String>| {
        if !details.is_empty() {
            out.push(StixProblem {
                kind,
                detail: details.join("; "),
            });
        }
    };
    let sco = STIX_SCO_TYPES.contains(&stix_type);
    let what = format!("{stix_type} (STIX {spec})");

    // spec-version.
    let mut sv = Vec::new();
    let known = spec == "2.0" || spec == "2.1";
    if !known {
        sv.push(format!(
            "spec_version {spec:?} is neither \"2.0\" nor \"2.1\""
        ));
    } else if sco && spec == "2.0" {
        sv.push(format!(
            "{stix_type} is a STIX 2.1 cyber-observable, but {} says 2.0 (STIX 2.0 has no top-level observables)",
            from.says()
        ));
    } else if !sco && spec == "2.1" && from != SpecFrom::Object {
        sv.push(format!(
            "{stix_type} is read as STIX 2.1 from {}, but has no spec_version (STIX 2.1 requires \"spec_version\": \"2.1\" on every SDO, SRO and marking)",
            from.says()
        ));
    }
    add(StixProblemKind::SpecVersion, sv);
    if !known {
        // The other rules depend on the version.
        return out;
    }

    // id.
    let mut ids = Vec::new();
    if !type_name_ok(stix_type) {
        ids.push(format!(
            "type {stix_type:?} is not a STIX type name (3–250 lower-case letters, digits and hyphens, starting with a letter)"
        ));
    }
    if let Some(e) = identifier_problem(id, spec) {
        ids.push(format!("id {id:?} {e}"));
    }
    for (k, v) in map {
        if k.ends_with("_ref") {
            match v {
                Value::String(s) => {
                    if let Some(e) = identifier_problem(s, spec) {
                        ids.push(format!("{k} {s:?} {e}"));
                    }
                }
                Value::Null => {}
                _ => ids.push(format!("{k} is not an identifier string")),
            }
        } else if k.ends_with("_refs") {
            match v {
                Value::Array(a) => {
                    for (i, r) in a.iter().enumerate() {
                        match r.as_str() {
                            Some(s) => {
                                if let Some(e) = identifier_problem(s, spec) {
                                    ids.push(format!("{k}[{i}] {s:?} {e}"));
                                }
                            }
                            None => ids.push(format!("{k}[{i}] is not an identifier string")),
                        }
                    }
                }
                Value::Null => {}
                _ => ids.push(format!("{k} is not a list of identifiers")),
            }
        }
    }
    add(StixProblemKind::Id, ids);

    // timestamp.
    let mut ts = Vec::new();
    for k in TIMESTAMPS {
        let Some(v) = map.get(k).filter(|v| !v.is_null()) else {
            continue;
        };
        let Some(s) = v.as_str() else {
            ts.push(format!("{k} is not a string"));
            continue;
        };
        match timestamp_problem(s) {
            Some(e) => ts.push(format!("{k} {s:?} {e}")),
            None if k == "created" || k == "modified" => {
                let digits = fraction_digits(s);
                let ok = if spec == "2.0" {
                    digits == 3
                } else {
                    digits >= 3
                };
                if !ok {
                    let want = if spec == "2.0" {
                        "exactly 3 fraction digits (STIX 2.0: millisecond precision)"
                    } else {
                        "at least 3 fraction digits (STIX 2.1: millisecond precision or finer)"
                    };
                    ts.push(format!("{k} {s:?} must have {want}"));
                }
            }
            None => {}
        }
    }
    add(StixProblemKind::Timestamp, ts);

    // missing-property.
    let has = |k: &str| map.get(k).is_some_and(|v| !v.is_null());
    let mut missing: Vec<&str> = Vec::new();
    if sco {
        // A cyber-observable needs only type and id (already there).
    } else if stix_type == "marking-definition" {
        missing.extend(["created"].into_iter().filter(|k| !has(k)));
        if spec == "2.0" || !has("extensions") {
            missing.extend(
                ["definition_type", "definition"]
                    .into_iter()
                    .filter(|k| !has(k)),
            );
        }
    } else {
        missing.extend(["created", "modified"].into_iter().filter(|k| !has(k)));
    }
    missing.extend(
        required(spec, stix_type)
            .iter()
            .copied()
            .filter(|k| !has(k)),
    );
    if spec == "2.1" && stix_type == "malware" && map.get("is_family") == Some(&Value::Bool(true)) {
        missing.extend(["name"].into_iter().filter(|k| !has(k)));
    }
    if !missing.is_empty() {
        let list: Vec<String> = missing.iter().map(|k| format!("{k:?}")).collect();
        let mut detail = format!("{what} has no {}", list.join(", "));
        if spec == "2.0" && stix_type == "malware" && has("is_family") {
            detail.push_str(
                " (it has the STIX 2.1 property is_family: a 2.1 object needs \"spec_version\": \"2.1\")",
            );
        }
        add(StixProblemKind::MissingProperty, vec![detail]);
    }
    out
}

/// `^[a-z][a-z0-9-]*[a-z0-9]$`, 3 to 250 characters, no `--`.
fn type_name_ok(t: &str) -> bool {
    let b = t.as_bytes();
    (3..=250).contains(&b.len())
        && b[0].is_ascii_lowercase()
        && b[b.len() - 1] != b'-'
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && !t.contains("--")
}

/// Why `s` is not a STIX identifier for `spec`, or `None` when it is one.
fn identifier_problem(s: &str, spec: &str) -> Option<String> {
    let Some((t, u)) = s.split_once("--") else {
        return Some("is not of the form <type>--<uuid>".into());
    };
    if !type_name_ok(t) {
        return Some(format!("has an invalid type part {t:?}"));
    }
    // The hyphenated form only: `Uuid::try_parse` also takes braces, URNs
    // and bare hex, which are not STIX identifiers.
    let hyphenated = u.len() == 36
        && u.bytes()
            .enumerate()
            .all(|(i, c)| matches!(i, 8 | 13 | 18 | 23) == (c == b'-'));
    let Some(uuid) = uuid::Uuid::try_parse(u).ok().filter(|_| hyphenated) else {
        return Some("is not of the form <type>--<uuid>".into());
    };
    if uuid.get_variant() != uuid::Variant::RFC4122 {
        return Some("does not have an RFC 4122 UUID (variant bits)".into());
    }
    let v = uuid.get_version_num();
    if spec == "2.0" && v != 4 {
        return Some(format!(
            "has a version {v} UUID; STIX 2.0 identifiers use version 4"
        ));
    }
    if spec == "2.1" && !(1..=5).contains(&v) {
        return Some(format!(
            "has a version {v} UUID; STIX 2.1 identifiers use versions 1 to 5 (4, or 5 for cyber-observables)"
        ));
    }
    None
}

/// Why `s` is not a STIX timestamp (`YYYY-MM-DDTHH:MM:SS[.s+]Z`, a real
/// date and time), or `None` when it is one.
fn timestamp_problem(s: &str) -> Option<&'static str> {
    let b = s.as_bytes();
    let shape = b.len() >= 20
        && b.last() == Some(&b'Z')
        && b.iter().take(19).enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            _ => c.is_ascii_digit(),
        })
        && match &b[19..b.len() - 1] {
            [] => true,
            [b'.', frac @ ..] => !frac.is_empty() && frac.iter().all(u8::is_ascii_digit),
            _ => false,
        };
    if !shape {
        return Some("is not a STIX timestamp (YYYY-MM-DDTHH:MM:SS[.sss]Z, in UTC with Z)");
    }
    if crate::time::parse_rfc3339(s).is_err() {
        return Some("is not a valid date and time");
    }
    None
}

/// Digits after the decimal point of a timestamp of the checked shape.
fn fraction_digits(s: &str) -> usize {
    match s.find('.') {
        Some(i) => s.len() - i - 2,
        None => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(v: Value, spec: &str, from: SpecFrom) -> Vec<(StixProblemKind, String)> {
        let Value::Object(map) = v else { panic!() };
        let t = map["type"].as_str().unwrap().to_string();
        let id = map["id"].as_str().unwrap().to_string();
        check(&map, &t, &id, spec, from)
            .into_iter()
            .map(|p| (p.kind, p.detail))
            .collect()
    }

    fn kinds(v: Value, spec: &str, from: SpecFrom) -> Vec<StixProblemKind> {
        run(v, spec, from).into_iter().map(|(k, _)| k).collect()
    }

    const T: &str = "2023-03-01T09:30:00.000Z";

    fn malware21() -> Value {
        json!({"type": "malware", "spec_version": "2.1",
               "id": "malware--31b940d4-6f7f-459a-80ea-9c1f17b5891b",
               "created": T, "modified": T, "name": "Poison Ivy", "is_family": true})
    }

    #[test]
    fn clean_objects_have_no_problems() {
        assert_eq!(run(malware21(), "2.1", SpecFrom::Object), vec![]);
        let m20 = json!({"type": "malware", "id": "malware--fdd60b30-b67c-41e3-b0b9-f01faf20d111",
            "created": T, "modified": T, "name": "Poison Ivy", "labels": ["remote-access-trojan"]});
        assert_eq!(run(m20, "2.0", SpecFrom::MediaType), vec![]);
        let sco = json!({"type": "ipv4-addr", "id": "ipv4-addr--c4b8d682-c518-54b1-ac61-0a8de58eb850",
            "value": "198.51.100.99"});
        assert_eq!(run(sco, "2.1", SpecFrom::Default), vec![]);
        let tlp = json!({"type": "marking-definition", "spec_version": "2.1",
            "id": "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82",
            "created": "2017-01-20T00:00:00.000Z", "definition_type": "tlp",
            "definition": {"tlp": "amber"}});
        assert_eq!(run(tlp, "2.1", SpecFrom::Object), vec![]);
        let rel = json!({"type": "relationship", "spec_version": "2.1",
            "id": "relationship--44298a74-ba52-4f0c-87a3-1824e67d7fad", "created": T, "modified": T,
            "relationship_type": "indicates",
            "source_ref": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
            "target_ref": "malware--31b940d4-6f7f-459a-80ea-9c1f17b5891b",
            "object_marking_refs": ["marking-definition--f88d31f6-486f-44da-b317-01333bde0b82"]});
        assert_eq!(run(rel, "2.1", SpecFrom::Object), vec![]);
    }

    #[test]
    fn malware_needs_labels_in_20_and_is_family_in_21() {
        // The 2.1 malware of medallion's data flagged as 2.0 by its manifest.
        let mut m = malware21();
        m.as_object_mut().unwrap().remove("spec_version");
        let p = run(m.clone(), "2.0", SpecFrom::MediaType);
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].0, StixProblemKind::MissingProperty);
        assert!(
            p[0].1.contains("malware (STIX 2.0) has no \"labels\""),
            "{p:?}"
        );
        assert!(p[0].1.contains("is_family"), "{p:?}");
        // Without is_family in 2.1; a family needs a name.
        let mut m = malware21();
        m.as_object_mut().unwrap().remove("is_family");
        assert_eq!(
            run(m, "2.1", SpecFrom::Object),
            vec![(
                StixProblemKind::MissingProperty,
                "malware (STIX 2.1) has no \"is_family\"".into()
            )]
        );
        let mut m = malware21();
        m.as_object_mut().unwrap().remove("name");
        assert_eq!(
            kinds(m, "2.1", SpecFrom::Object),
            vec![StixProblemKind::MissingProperty]
        );
    }

    #[test]
    fn per_type_and_common_properties() {
        let ind = json!({"type": "indicator", "spec_version": "2.1",
            "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f", "created": T,
            "pattern": "[ipv4-addr:value = '198.51.100.1']"});
        let p = run(ind, "2.1", SpecFrom::Object);
        assert_eq!(
            p,
            vec![(
                StixProblemKind::MissingProperty,
                "indicator (STIX 2.1) has no \"modified\", \"pattern_type\", \"valid_from\"".into()
            )]
        );
        let rel = json!({"type": "relationship", "id": "relationship--44298a74-ba52-4f0c-87a3-1824e67d7fad",
            "created": T, "modified": T, "relationship_type": "indicates", "source_ref": null});
        let p = run(rel, "2.0", SpecFrom::Default);
        assert_eq!(p.len(), 1);
        assert!(
            p[0].1.ends_with("has no \"source_ref\", \"target_ref\""),
            "{p:?}"
        );
        // A 2.1 marking may carry an extension instead of a definition; a
        // 2.0 marking may not.
        let ext = json!({"type": "marking-definition", "spec_version": "2.1",
            "id": "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82", "created": T,
            "extensions": {"extension-definition--f88d31f6-486f-44da-b317-01333bde0b82": {}}});
        assert_eq!(run(ext, "2.1", SpecFrom::Object), vec![]);
        let m20 = json!({"type": "marking-definition",
            "id": "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82", "created": T});
        assert_eq!(
            kinds(m20, "2.0", SpecFrom::Default),
            vec![StixProblemKind::MissingProperty]
        );
        // Custom objects: only the common properties.
        let x = json!({"type": "x-acme-thing", "id": "x-acme-thing--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
            "created": T, "modified": T});
        assert_eq!(run(x, "2.0", SpecFrom::Default), vec![]);
    }

    #[test]
    fn spec_version_rules() {
        // An unknown version stops the other checks.
        let mut m = malware21();
        m["spec_version"] = json!("2.2");
        m.as_object_mut().unwrap().remove("is_family");
        assert_eq!(
            kinds(m, "2.2", SpecFrom::Object),
            vec![StixProblemKind::SpecVersion]
        );
        // A cyber-observable in a STIX 2.0 bundle.
        let sco = json!({"type": "domain-name", "id": "domain-name--c4b8d682-c518-54b1-ac61-0a8de58eb850",
            "value": "example.com"});
        let p = run(sco, "2.0", SpecFrom::Bundle);
        assert_eq!(p.len(), 2, "{p:?}");
        assert_eq!(p[0].0, StixProblemKind::SpecVersion);
        assert!(
            p[0].1.contains("the bundle's spec_version says 2.0"),
            "{p:?}"
        );
        // ... whose UUIDv5 is not a 2.0 identifier either.
        assert_eq!(p[1].0, StixProblemKind::Id);
        // An SDO read as 2.1 from its media type must say so itself.
        let mut m = malware21();
        m.as_object_mut().unwrap().remove("spec_version");
        let p = run(m, "2.1", SpecFrom::MediaType);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].0, StixProblemKind::SpecVersion);
        assert!(p[0].1.contains("its medallion media type"), "{p:?}");
        // A 2.0 object that states it is tolerated.
        let m20 = json!({"type": "malware", "spec_version": "2.0",
            "id": "malware--fdd60b30-b67c-41e3-b0b9-f01faf20d111",
            "created": T, "modified": T, "name": "x", "labels": ["trojan"]});
        assert_eq!(kinds(m20, "2.0", SpecFrom::Object), vec![]);
        // A 2.1 SCO may leave spec_version out.
        let sco = json!({"type": "url", "id": "url--c4b8d682-c518-54b1-ac61-0a8de58eb850",
            "value": "http://example.com/"});
        assert_eq!(run(sco, "2.1", SpecFrom::Default), vec![]);
    }

    #[test]
    fn identifiers_follow_the_version() {
        // Version 1 UUID with the NCS variant (medallion's sample data has
        // such ids): not RFC 4122.
        let mut m = malware21();
        m["id"] = json!("malware--fdd60b30-b67c-11e3-b0b9-f01faf20d111");
        let p = run(m.clone(), "2.1", SpecFrom::Object);
        assert_eq!(p, vec![]);
        let p = run(m, "2.0", SpecFrom::Object);
        assert!(
            p.iter()
                .any(|(k, d)| *k == StixProblemKind::Id && d.contains("version 1 UUID")),
            "{p:?}"
        );
        let mut m = malware21();
        m["id"] = json!("malware--a932fcc6-e032-176c-126f-cb970a5a1ade");
        let p = run(m, "2.1", SpecFrom::Object);
        assert_eq!(p.len(), 1);
        assert!(p[0].1.contains("RFC 4122"), "{p:?}");
        // References.
        let mut m = malware21();
        m["created_by_ref"] = json!("identity--not-a-uuid");
        m["object_marking_refs"] = json!([
            "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82",
            7
        ]);
        m["sample_refs"] = json!("file--c4b8d682-c518-54b1-ac61-0a8de58eb850");
        let p = run(m, "2.1", SpecFrom::Object);
        assert_eq!(p.len(), 1);
        assert_eq!(
            p[0].1,
            "created_by_ref \"identity--not-a-uuid\" is not of the form <type>--<uuid>; \
             object_marking_refs[1] is not an identifier string; sample_refs is not a list of identifiers"
        );
        // Upper-case or too short type names.
        let x = json!({"type": "X-Acme", "id": "X-Acme--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
            "created": T, "modified": T});
        assert_eq!(
            kinds(x, "2.0", SpecFrom::Default),
            vec![StixProblemKind::Id]
        );
        assert!(!type_name_ok("ab"));
        assert!(!type_name_ok("a--b"));
        assert!(!type_name_ok("ab-"));
        assert!(type_name_ok("x-mitre-tactic"));
        // Braced or bare-hex UUIDs parse, but are not identifiers.
        assert!(identifier_problem("malware--8e2e2d2b17d44cbf938f98ee46b3cd3f", "2.1").is_some());
        assert!(
            identifier_problem("malware--{8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f}", "2.1").is_some()
        );
    }

    #[test]
    fn timestamps() {
        let mut m = malware21();
        m["created"] = json!("2023-03-01T09:30:00Z");
        m["modified"] = json!("2023-03-01T09:30:00.000+02:00");
        m["first_seen"] = json!("2023-02-30T00:00:00Z");
        m["last_seen"] = json!(17);
        let p = run(m, "2.1", SpecFrom::Object);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].0, StixProblemKind::Timestamp);
        assert_eq!(
            p[0].1,
            "created \"2023-03-01T09:30:00Z\" must have at least 3 fraction digits (STIX 2.1: millisecond precision or finer); \
             modified \"2023-03-01T09:30:00.000+02:00\" is not a STIX timestamp (YYYY-MM-DDTHH:MM:SS[.sss]Z, in UTC with Z); \
             first_seen \"2023-02-30T00:00:00Z\" is not a valid date and time; last_seen is not a string"
        );
        // 2.0: exactly milliseconds for created/modified; other timestamps
        // any precision.
        let m20 = json!({"type": "malware", "id": "malware--fdd60b30-b67c-41e3-b0b9-f01faf20d111",
            "created": "2017-01-27T13:49:53.997123Z", "modified": "2017-01-27T13:49:53.997Z",
            "name": "x", "labels": ["trojan"], "first_seen": "2017-01-27T13:49:53Z"});
        let p = run(m20, "2.0", SpecFrom::Default);
        assert_eq!(p.len(), 1);
        assert!(
            p[0].1.starts_with("created") && p[0].1.contains("exactly 3"),
            "{p:?}"
        );
        assert_eq!(fraction_digits("2017-01-27T13:49:53.997123Z"), 6);
        assert_eq!(fraction_digits("2017-01-27T13:49:53Z"), 0);
        assert!(timestamp_problem("2017-01-27T13:49:53.Z").is_some());
        assert!(timestamp_problem("2017-01-27 13:49:53Z").is_some());
        assert!(timestamp_problem("2017-01-27T13:49:53.1Z").is_none());
    }
}
