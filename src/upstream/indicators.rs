//! Upstream STIX indicators with a simple pattern as canonical indicators:
//! each becomes a line of taxii-edge's native NDJSON (docs/input-formats.md
//! "Native NDJSON"), cached beside the STIX objects and compiled as a
//! `native` input, so that collection queries (`type`, `owner`,
//! `confidence`…), TTLs and mappings apply to it as to a platform export
//! (docs/decisions.md#d73).

use crate::stix::marking;
use crate::stix::pattern::parse_simple;
use serde_json::{json, Map, Value};

/// The native record of `o` if it is a STIX indicator whose pattern is one
/// comparison ([`parse_simple`]); `owner` is the upstream's name. The
/// upstream's id and collection travel as `upstream_id` and
/// `upstream_collection` (`source.` queries and mappings read them).
pub(super) fn native(o: &Value, owner: &str, collection: &str) -> Option<Value> {
    let o = o.as_object()?;
    if o.get("type")?.as_str()? != "indicator" {
        return None;
    }
    if o.get("pattern_type")
        .and_then(Value::as_str)
        .is_some_and(|t| t != "stix")
    {
        return None;
    }
    let (kind, value) = parse_simple(o.get("pattern")?.as_str()?)?;
    let mut n = Map::new();
    n.insert("type".into(), json!(kind.as_str()));
    n.insert("value".into(), json!(value));
    n.insert("owner".into(), json!(owner));
    let text = |k: &str| o.get(k).filter(|v| v.is_string()).cloned();
    for (from, to) in [
        ("created", "created"),
        ("modified", "last_modified"),
        ("valid_until", "expiration"),
    ] {
        if let Some(v) = text(from) {
            n.insert(to.into(), v);
        }
    }
    if let Some(d) = text("description").or_else(|| text("name")) {
        n.insert("description".into(), d);
    }
    if let Some(c) = o
        .get("confidence")
        .and_then(Value::as_u64)
        .filter(|c| *c <= 100)
    {
        n.insert("confidence".into(), json!(c));
    }
    let labels: Vec<&str> = o
        .get("labels")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if !labels.is_empty() {
        n.insert("tags".into(), json!(labels));
    }
    if let Some(tlp) = o
        .get("object_marking_refs")
        .and_then(Value::as_array)
        .and_then(|refs| refs.iter().filter_map(Value::as_str).find_map(tlp_of))
    {
        n.insert("tlp".into(), json!(tlp));
    }
    if o.get("revoked").and_then(Value::as_bool) == Some(true) {
        n.insert("active".into(), json!(false));
    }
    n.insert("upstream_id".into(), o.get("id")?.clone());
    n.insert("upstream_collection".into(), json!(collection));
    Some(Value::Object(n))
}

/// The `upstream_id` of a native record line as [`native`] writes it
/// (compact JSON; ids have no escapes): the key of the cache file's
/// index of each upstream indicator's latest record.
pub(super) fn key(line: &[u8]) -> Option<&[u8]> {
    const TAG: &[u8] = b"\"upstream_id\":\"";
    let start = memchr::memmem::find(line, TAG)? + TAG.len();
    let len = memchr::memchr(b'"', &line[start..])?;
    Some(&line[start..start + len])
}

/// What a new native record of an upstream indicator means for its
/// previous one (`before`, the same `upstream_id`).
pub(super) enum Change {
    /// Publish `new`.
    Keep,
    /// Publish `new`, and this copy of `before` marked inactive: the
    /// indicator's value changed, and the old value must not stay live.
    Retire(Value),
    /// `new` is an older version than `before` (fetched again): drop it.
    Stale,
}

pub(super) fn change(before: &Value, new: &Value) -> Change {
    let modified = |v: &Value| {
        v.get("last_modified")
            .and_then(Value::as_str)
            .and_then(|t| crate::time::parse_rfc3339(t).ok())
    };
    if let (Some(b), Some(n)) = (modified(before), modified(new)) {
        if n < b {
            return Change::Stale;
        }
    }
    let same = before.get("type") == new.get("type") && before.get("value") == new.get("value");
    if same || before.get("active") == Some(&json!(false)) {
        return Change::Keep;
    }
    let mut gone = before.clone();
    gone["active"] = json!(false);
    if let Some(m) = new.get("last_modified") {
        gone["last_modified"] = m.clone();
    }
    Change::Retire(gone)
}

/// The TLP of a well-known TLP 1.0 or 2.0 marking definition id.
fn tlp_of(id: &str) -> Option<&'static str> {
    Some(match id {
        marking::TLP1_WHITE => "white",
        marking::TLP1_GREEN | marking::TLP2_GREEN => "green",
        marking::TLP1_AMBER | marking::TLP2_AMBER => "amber",
        marking::TLP1_RED | marking::TLP2_RED => "red",
        marking::TLP2_CLEAR => "clear",
        marking::TLP2_AMBER_STRICT => "amber+strict",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_simple_indicator_becomes_a_native_record() {
        let o = json!({
            "type": "indicator", "spec_version": "2.1",
            "id": "indicator--11111111-1111-4111-8111-111111111111",
            "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-02T00:00:00.000Z",
            "name": "bad host", "confidence": 85, "labels": ["apt", "c2"],
            "pattern": "[domain-name:value = 'bad.example']", "pattern_type": "stix",
            "valid_from": "2026-01-01T00:00:00Z", "valid_until": "2026-03-01T00:00:00Z",
            "object_marking_refs": [marking::TLP2_AMBER], "revoked": true,
        });
        let n = native(&o, "isac", "c1").unwrap();
        assert_eq!(
            n,
            json!({
                "type": "domain", "value": "bad.example", "owner": "isac",
                "created": "2026-01-01T00:00:00.000Z", "last_modified": "2026-01-02T00:00:00.000Z",
                "expiration": "2026-03-01T00:00:00Z", "description": "bad host",
                "confidence": 85, "tags": ["apt", "c2"], "tlp": "amber", "active": false,
                "upstream_id": "indicator--11111111-1111-4111-8111-111111111111",
                "upstream_collection": "c1",
            })
        );
    }

    #[test]
    fn a_changed_value_retires_the_old_one() {
        let v1 = json!({"type": "ipv4", "value": "198.51.100.1", "last_modified": "2026-01-01T00:00:00Z", "upstream_id": "indicator--1"});
        let mut v2 = v1.clone();
        v2["value"] = json!("198.51.100.2");
        v2["last_modified"] = json!("2026-02-01T00:00:00Z");
        match change(&v1, &v2) {
            Change::Retire(gone) => {
                assert_eq!(gone["value"], "198.51.100.1");
                assert_eq!(gone["active"], false);
                assert_eq!(gone["last_modified"], "2026-02-01T00:00:00Z");
            }
            _ => panic!("the old value must be retired"),
        }
        assert!(matches!(change(&v2, &v1), Change::Stale));
        let mut same = v1.clone();
        same["last_modified"] = json!("2026-03-01T00:00:00Z");
        assert!(matches!(change(&v1, &same), Change::Keep));
        let line = serde_json::to_vec(&v1).unwrap();
        assert_eq!(key(&line), Some(&b"indicator--1"[..]));
    }

    #[test]
    fn other_objects_and_patterns_stay_stix_only() {
        let base = json!({"type": "indicator", "id": "indicator--1", "pattern": "[ipv4-addr:value = '198.51.100.1']"});
        assert!(native(&base, "u", "c").is_some());
        let mut sigma = base.clone();
        sigma["pattern_type"] = json!("sigma");
        assert!(native(&sigma, "u", "c").is_none());
        let mut two = base.clone();
        two["pattern"] =
            json!("[ipv4-addr:value = '198.51.100.1'] OR [ipv4-addr:value = '198.51.100.2']");
        assert!(native(&two, "u", "c").is_none());
        assert!(native(&json!({"type": "malware", "id": "malware--1"}), "u", "c").is_none());
    }
}
