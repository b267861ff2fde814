//! Compact JSON for indicators (STIX 2.1 and 2.0), identities and
//! tombstones.
//!
//! Objects are written by hand into one `String`, in a fixed property order
//! (the order a reader expects: identity first, then what it says, then
//! provenance and custom properties), because the feed stores these bytes
//! and serves them as they are: the output must be deterministic, so that an
//! unchanged indicator gives byte-identical JSON and the same
//! [`content_hash`] from one compile to the next (docs/decisions.md#d11). Strings are
//! escaped exactly as `serde_json` (and RFC 8785) do: `"`, `\`, and control
//! characters only; everything else is raw UTF-8.

use super::json::{push_json_str, push_value};
use super::{marking, Draft};
use crate::time::{self, Micros, MILLI};
use serde_json::{Map, Value};

/// Mapped or builder properties written before `pattern` (STIX 2.1 order).
const BEFORE_PATTERN: [&str; 3] = ["name", "description", "indicator_types"];
/// Mapped or builder properties written after `valid_until`.
const AFTER_VALIDITY: [&str; 4] = ["kill_chain_phases", "labels", "confidence", "lang"];
/// Properties with a fixed place; everything else in `fields` follows
/// `external_references` in its own order.
const PLACED: [&str; 8] = [
    "name",
    "description",
    "indicator_types",
    "kill_chain_phases",
    "labels",
    "confidence",
    "lang",
    "external_references",
];
/// Properties STIX 2.0 indicators do not have (docs/decisions.md#d17).
const NOT_IN_20: [&str; 3] = ["indicator_types", "confidence", "lang"];

fn key(out: &mut String, k: &str) {
    out.push(',');
    push_json_str(out, k);
    out.push(':');
}

fn ts(out: &mut String, k: &str, t: Micros) {
    key(out, k);
    out.push('"');
    time::push_ms(out, t);
    out.push('"');
}

fn field(out: &mut String, fields: &Map<String, Value>, k: &str) {
    if let Some(v) = fields.get(k) {
        key(out, k);
        push_value(out, v);
    }
}

fn str_list<'a>(out: &mut String, k: &str, items: impl Iterator<Item = &'a str>) {
    key(out, k);
    out.push('[');
    for (i, s) in items.enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_json_str(out, s);
    }
    out.push(']');
}

/// The `modified` actually written: never earlier than `created` (STIX
/// requires `modified >= created`).
fn clamp_modified(d: &Draft, modified: Micros) -> Micros {
    modified.max(d.created)
}

/// The STIX 2.1 indicator, compact JSON. `revoked` forces `revoked: true`
/// (a tombstone); the draft's own `revoked` (inactive record) also sets it.
/// A `modified` earlier than `created` is raised to `created`.
pub fn serialize21(d: &Draft, modified: Micros, revoked: bool) -> String {
    let mut out = String::with_capacity(512);
    write21(&mut out, d, modified, revoked);
    out
}

/// Where [`write21`] put the parts that differ between the hashed form and
/// the published one.
struct Layout21 {
    /// Byte range of the `modified` timestamp (inside its quotes).
    modified: std::ops::Range<usize>,
    /// Where `,"revoked":true` is (or would be) written.
    revoked_at: usize,
}

fn write21(out: &mut String, d: &Draft, modified: Micros, revoked: bool) -> Layout21 {
    out.push_str("{\"type\":\"indicator\",\"spec_version\":\"2.1\",\"id\":");
    push_json_str(out, &d.id);
    if let Some(by) = &d.created_by_ref {
        key(out, "created_by_ref");
        push_json_str(out, by);
    }
    ts(out, "created", d.created);
    key(out, "modified");
    out.push('"');
    let m0 = out.len();
    time::push_ms(out, clamp_modified(d, modified));
    let m1 = out.len();
    out.push('"');
    for k in BEFORE_PATTERN {
        field(out, &d.fields, k);
    }
    key(out, "pattern");
    push_json_str(out, &d.pattern);
    out.push_str(",\"pattern_type\":\"stix\",\"pattern_version\":\"2.1\"");
    ts(out, "valid_from", d.valid_from);
    if let Some(u) = d.valid_until {
        ts(out, "valid_until", u);
    }
    for k in AFTER_VALIDITY {
        field(out, &d.fields, k);
    }
    let revoked_at = out.len();
    if revoked || d.revoked {
        out.push_str(REVOKED_TRUE);
    }
    if !d.markings.is_empty() {
        str_list(out, "object_marking_refs", d.markings.iter().copied());
    }
    field(out, &d.fields, "external_references");
    for (k, v) in &d.fields {
        if !PLACED.contains(&k.as_str()) {
            key(out, k);
            push_value(out, v);
        }
    }
    out.push('}');
    Layout21 {
        modified: m0..m1,
        revoked_at,
    }
}

const REVOKED_TRUE: &str = ",\"revoked\":true";

/// One serialization of a draft serving both the change check and the
/// published bytes. The lifecycle needs the [`content_hash`] (the 2.1 form
/// with `modified = created`, not revoked) before it can choose `modified`;
/// serializing again afterwards was ~8% of compile CPU. This keeps the
/// hashed form and patches it: the `modified` timestamp is rewritten in
/// place and `,"revoked":true` inserted where [`serialize21`] writes it,
/// so [`Canonical21::finish`] is byte-identical to `serialize21`.
pub struct Canonical21 {
    json: String,
    layout: Layout21,
    created: Micros,
    /// The draft itself is revoked (already in the hashed form).
    draft_revoked: bool,
}

impl Canonical21 {
    /// Serializes `d` once, in its hashed form.
    pub fn new(d: &Draft) -> Canonical21 {
        let mut json = String::with_capacity(512);
        let layout = write21(&mut json, d, d.created, false);
        Canonical21 {
            json,
            layout,
            created: d.created,
            draft_revoked: d.revoked,
        }
    }

    /// Equal to [`content_hash`] of the same draft.
    pub fn hash(&self) -> u64 {
        xxhash_rust::xxh3::xxh3_64(self.json.as_bytes())
    }

    /// The published form: `serialize21(d, modified, revoked)`.
    pub fn finish(mut self, modified: Micros, revoked: bool) -> String {
        if revoked && !self.draft_revoked {
            // After `modified`, so its range stays valid.
            self.json.insert_str(self.layout.revoked_at, REVOKED_TRUE);
        }
        let modified = modified.max(self.created);
        if modified != self.created {
            let mut ts = String::with_capacity(24);
            time::push_ms(&mut ts, modified);
            // Same width in years 0000-9999, so no bytes move.
            self.json.replace_range(self.layout.modified.clone(), &ts);
        }
        self.json
    }
}

/// The `labels` of the STIX 2.0 form, where they are required: the mapped
/// `labels`, else the `indicator_types`, else the profile's fallback
/// ([`Draft::labels20_fallback`]).
fn labels20(d: &Draft) -> Value {
    for k in ["labels", "indicator_types"] {
        if let Some(Value::Array(a)) = d.fields.get(k) {
            if !a.is_empty() {
                return Value::Array(a.clone());
            }
        }
    }
    Value::Array(vec![Value::String(d.labels20_fallback.into())])
}

/// What the STIX 2.0 form adds to [`content_hash`], which covers only the
/// 2.1 form: the fallback label, when it is used and is not the
/// `malicious-activity` every fallback was before profiles had their own
/// (so the hashes of objects whose 2.0 form never changed stay as they
/// were). Mixed into the hash of collections that serve 2.0, a change of
/// the 2.0 form then makes a new version like any other change
/// (`docs/decisions.md#d11`) instead of new bytes under the same `modified`.
pub fn hash20_extra(d: &Draft) -> u64 {
    let mapped = ["labels", "indicator_types"]
        .iter()
        .any(|k| matches!(d.fields.get(*k), Some(Value::Array(a)) if !a.is_empty()));
    if mapped || d.labels20_fallback == "malicious-activity" {
        0
    } else {
        xxhash_rust::xxh3::xxh3_64(d.labels20_fallback.as_bytes())
    }
}

/// The STIX 2.0 indicator (docs/decisions.md#d17): no `spec_version`, `pattern_type`,
/// `pattern_version`, `indicator_types`, `confidence` or `lang`; `labels`
/// always present (see [`labels20`]); TLP 2.0 marking ids replaced by their
/// TLP 1.0 equivalents, amber+strict by red ([`marking::ref_for_20`]).
pub fn serialize20(d: &Draft, modified: Micros, revoked: bool) -> String {
    let mut out = String::with_capacity(512);
    out.push_str("{\"type\":\"indicator\",\"id\":");
    push_json_str(&mut out, &d.id);
    if let Some(by) = &d.created_by_ref {
        key(&mut out, "created_by_ref");
        push_json_str(&mut out, by);
    }
    ts(&mut out, "created", d.created);
    ts(&mut out, "modified", clamp_modified(d, modified));
    for k in BEFORE_PATTERN {
        if !NOT_IN_20.contains(&k) {
            field(&mut out, &d.fields, k);
        }
    }
    key(&mut out, "pattern");
    push_json_str(&mut out, &d.pattern);
    ts(&mut out, "valid_from", d.valid_from);
    if let Some(u) = d.valid_until {
        ts(&mut out, "valid_until", u);
    }
    field(&mut out, &d.fields, "kill_chain_phases");
    key(&mut out, "labels");
    push_value(&mut out, &labels20(d));
    if revoked || d.revoked {
        out.push_str(",\"revoked\":true");
    }
    if !d.markings.is_empty() {
        let mut refs: Vec<&str> = Vec::with_capacity(d.markings.len());
        for m in &d.markings {
            let r = marking::ref_for_20(m);
            if !refs.contains(&r) {
                refs.push(r);
            }
        }
        str_list(&mut out, "object_marking_refs", refs.into_iter());
    }
    field(&mut out, &d.fields, "external_references");
    for (k, v) in &d.fields {
        if !PLACED.contains(&k.as_str()) {
            key(&mut out, k);
            push_value(&mut out, v);
        }
    }
    out.push('}');
    out
}

/// A hash of everything in the object except `modified`, for change
/// detection (docs/decisions.md#d11): equal hashes mean the compile may keep the
/// previous version (and its `modified` and `date_added`). The STIX 2.0
/// form is derived from the same draft, so hashing the 2.1 form covers it.
///
/// Serializes into a reused per-thread buffer (no allocation); when the
/// published JSON is needed too, [`Canonical21`] serializes only once.
pub fn content_hash(d: &Draft) -> u64 {
    thread_local! {
        static BUF: std::cell::RefCell<String> = std::cell::RefCell::new(String::with_capacity(1024));
    }
    BUF.with(|b| {
        let mut b = b.borrow_mut();
        b.clear();
        write21(&mut b, d, d.created, false);
        let h = xxhash_rust::xxh3::xxh3_64(b.as_bytes());
        if b.capacity() > 64 * 1024 {
            *b = String::with_capacity(1024);
        }
        h
    })
}

/// Where `revoked` goes when it is added to a stored object: before the
/// first of these properties, else at the end.
const AFTER_REVOKED: [&str; 2] = ["object_marking_refs", "external_references"];

/// A tombstone of a stored STIX 2.1 object: `revoked: true` and a new
/// `modified`, everything else unchanged. `modified` is raised to one
/// millisecond after the stored `modified` when it is not later (a new
/// version must have a later `modified`). `None` when `previous` is not a
/// JSON object with a `modified` timestamp.
pub fn revoke_json21(previous_object_json: &str, modified: Micros) -> Option<String> {
    revoke(previous_object_json, modified)
}

/// [`revoke_json21`] for a stored STIX 2.0 object (the operation is the
/// same: both versions have `revoked` and `modified`).
pub fn revoke_json20(previous_object_json: &str, modified: Micros) -> Option<String> {
    revoke(previous_object_json, modified)
}

fn revoke(previous: &str, modified: Micros) -> Option<String> {
    let obj: Map<String, Value> = serde_json::from_str(previous).ok()?;
    let prev_modified = obj
        .get("modified")
        .and_then(Value::as_str)
        .and_then(|s| time::parse_rfc3339(s).ok())?;
    let modified = time::truncate_ms(modified).max(time::truncate_ms(prev_modified) + MILLI);
    let mut out = String::with_capacity(previous.len() + 20);
    out.push('{');
    let mut first = true;
    let mut revoked_written = false;
    let mut put = |out: &mut String, k: &str, v: &Value| {
        if !first {
            out.push(',');
        }
        first = false;
        push_json_str(out, k);
        out.push(':');
        push_value(out, v);
    };
    let revoked_v = Value::Bool(true);
    for (k, v) in &obj {
        match k.as_str() {
            "revoked" => {
                put(&mut out, k, &revoked_v);
                revoked_written = true;
            }
            "modified" => put(&mut out, k, &Value::String(time::fmt_ms(modified))),
            _ => {
                let custom = !AFTER_REVOKED.contains(&k.as_str())
                    && (k.starts_with("x_") || k == "extensions");
                if !revoked_written && (AFTER_REVOKED.contains(&k.as_str()) || custom) {
                    put(&mut out, "revoked", &revoked_v);
                    revoked_written = true;
                }
                put(&mut out, k, v);
            }
        }
    }
    if !revoked_written {
        put(&mut out, "revoked", &revoked_v);
    }
    out.push('}');
    Some(out)
}

/// The producer identity (`created_by_ref` target): its id and its STIX
/// 2.1 and 2.0 JSON. Without a configured id, the id is derived from the
/// name ([`super::id::name_based_v4`] in [`super::NAMESPACE`] over
/// `identity:<name>`), so it is
/// stable across compiles. `created` is also its `modified`; pass a stable
/// value (e.g. the first generation's time) or the object changes.
pub fn identity_object(
    name: &str,
    id: Option<&str>,
    identity_class: &str,
    created: Micros,
) -> (String, String, String) {
    let id = match id {
        Some(i) => i.to_string(),
        None => format!(
            "identity--{}",
            super::id::name_based_v4(&super::NAMESPACE, format!("identity:{name}").as_bytes())
                .hyphenated()
        ),
    };
    let created = time::truncate_ms(created);
    let body = |with_spec: bool| {
        let mut out = String::with_capacity(200);
        out.push_str("{\"type\":\"identity\"");
        if with_spec {
            out.push_str(",\"spec_version\":\"2.1\"");
        }
        key(&mut out, "id");
        push_json_str(&mut out, &id);
        ts(&mut out, "created", created);
        ts(&mut out, "modified", created);
        key(&mut out, "name");
        push_json_str(&mut out, name);
        key(&mut out, "identity_class");
        push_json_str(&mut out, identity_class);
        out.push('}');
        out
    };
    let j21 = body(true);
    let j20 = body(false);
    (id, j21, j20)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_escape_like_serde_json() {
        for s in [
            "plain",
            "q\"b\\s",
            "nl\n\r\t\u{8}\u{c}",
            "\u{0}\u{1f}\u{7f}",
            "ü €😀\u{2028}",
            "]'",
        ] {
            let mut out = String::new();
            push_json_str(&mut out, s);
            assert_eq!(out, serde_json::to_string(s).unwrap());
        }
    }

    #[test]
    fn revoke_sets_revoked_before_markings_and_bumps_modified() {
        let prev = r#"{"type":"indicator","id":"indicator--1","created":"2024-01-01T00:00:00.000Z","modified":"2024-01-02T00:00:00.000Z","pattern":"[a:b = 'c']","object_marking_refs":["m"],"x_a":1}"#;
        let t = time::parse_rfc3339("2024-03-01T00:00:00.123456Z").unwrap();
        assert_eq!(
            revoke_json21(prev, t).unwrap(),
            r#"{"type":"indicator","id":"indicator--1","created":"2024-01-01T00:00:00.000Z","modified":"2024-03-01T00:00:00.123Z","pattern":"[a:b = 'c']","revoked":true,"object_marking_refs":["m"],"x_a":1}"#
        );
        let early = time::parse_rfc3339("2023-01-01T00:00:00Z").unwrap();
        let out = revoke_json20(prev, early).unwrap();
        assert!(
            out.contains(r#""modified":"2024-01-02T00:00:00.001Z""#),
            "{out}"
        );
        let already =
            r#"{"type":"indicator","modified":"2024-01-02T00:00:00.000Z","revoked":false}"#;
        assert_eq!(
            revoke_json21(already, t).unwrap(),
            r#"{"type":"indicator","modified":"2024-03-01T00:00:00.123Z","revoked":true}"#
        );
        assert_eq!(revoke_json21("[1]", t), None);
        assert_eq!(revoke_json21(r#"{"type":"x"}"#, t), None);
    }

    #[test]
    fn identity_id_is_derived_from_the_name() {
        let t = time::parse_rfc3339("2024-01-02T03:04:05.678Z").unwrap();
        let (id, j21, j20) = identity_object("ACME CTI", None, "organization", t);
        assert_eq!(id, identity_object("ACME CTI", None, "x", 0).0);
        assert!(id.starts_with("identity--"));
        assert_eq!(
            j21,
            format!(
                r#"{{"type":"identity","spec_version":"2.1","id":"{id}","created":"2024-01-02T03:04:05.678Z","modified":"2024-01-02T03:04:05.678Z","name":"ACME CTI","identity_class":"organization"}}"#
            )
        );
        assert_eq!(j20, j21.replace(r#","spec_version":"2.1""#, ""));
        let (given, _, _) = identity_object(
            "x",
            Some("identity--0d5a2b5c-1f6e-4b8a-9c3d-2e4f6a8b0c1d"),
            "individual",
            t,
        );
        assert_eq!(given, "identity--0d5a2b5c-1f6e-4b8a-9c3d-2e4f6a8b0c1d");
    }
}

#[cfg(test)]
mod canonical_tests {
    use super::*;
    use proptest::prelude::*;

    fn draft(
        created: Micros,
        valid_until: Option<Micros>,
        draft_revoked: bool,
        name: String,
        custom: Option<String>,
        marked: bool,
    ) -> Draft {
        let mut fields = Map::new();
        fields.insert("name".into(), Value::String(name));
        fields.insert("labels".into(), serde_json::json!(["a", "b\"c"]));
        if let Some(c) = custom {
            fields.insert("x_custom".into(), Value::String(c));
        }
        Draft {
            id: "indicator--6b1c3f44-1d2a-4e7b-9b9e-0d5b2c1a7f00".into(),
            created_by_ref: None,
            created,
            pattern: "[ipv4-addr:value = '198.51.100.1']".into(),
            valid_from: created,
            valid_until,
            revoked: draft_revoked,
            markings: if marked {
                vec![marking::TLP2_AMBER_STRICT]
            } else {
                vec![]
            },
            fields,
            labels20_fallback: "malicious-activity",
            scos: vec![],
            warnings: vec![],
        }
    }

    proptest! {
        #[test]
        fn canonical_finish_is_serialize21_and_hash_is_content_hash(
            created in -30_000_000_000_000_000i64..250_000_000_000_000_000i64,
            delta in prop_oneof![Just(0i64), -5_000_000i64..0, 0i64..400_000_000_000_000],
            valid_for in proptest::option::of(0i64..100_000_000_000),
            draft_revoked in any::<bool>(),
            revoked in any::<bool>(),
            name in ".{0,40}",
            custom in proptest::option::of("[a-z\\\"\\n]{0,20}"),
            marked in any::<bool>(),
        ) {
            let d = draft(created, valid_for.map(|v| created + v), draft_revoked, name, custom, marked);
            let modified = created + delta;
            let c = Canonical21::new(&d);
            prop_assert_eq!(c.hash(), content_hash(&d));
            prop_assert_eq!(
                c.hash(),
                xxhash_rust::xxh3::xxh3_64(serialize21(&d, d.created, false).as_bytes())
            );
            prop_assert_eq!(c.finish(modified, revoked), serialize21(&d, modified, revoked));
        }
    }

    #[test]
    fn canonical_handles_far_years_and_revocation() {
        // Year 10000+ takes the chrono path with a wider timestamp.
        let d = draft(0, None, false, "n".into(), None, false);
        let far = 300_000_000_000 * 1_000_000;
        assert_eq!(
            Canonical21::new(&d).finish(far, true),
            serialize21(&d, far, true)
        );
        let s = Canonical21::new(&d).finish(1_000, true);
        assert!(
            s.contains(r#""modified":"1970-01-01T00:00:00.001Z""#),
            "{s}"
        );
        assert_eq!(s.matches(",\"revoked\":true").count(), 1, "{s}");
    }
}
