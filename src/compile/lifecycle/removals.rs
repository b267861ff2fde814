//! Keys the previous generation published that this one no longer has:
//! revoked once, kept as tombstones until the retention ends, or dropped.

/// The marking-definition ids and `created_by_ref` a stored object
/// references (tombstones keep their references, so the collection must
/// keep serving what they point to).
pub(super) fn references(json: &str) -> (Vec<String>, Option<String>) {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(json) else {
        return (Vec::new(), None);
    };
    let refs = v
        .get("object_marking_refs")
        .and_then(|r| r.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let by = v
        .get("created_by_ref")
        .and_then(|b| b.as_str())
        .map(str::to_string);
    (refs, by)
}
