//! Support objects: the marking definitions and the identity the
//! collection's objects reference.

use crate::time::{self, Micros};

/// `modified` (or `created`) of a small support object's JSON, µs.
pub(super) fn version_of(json: &str) -> Option<Micros> {
    let v: serde_json::Value = serde_json::from_str(json).ok()?;
    let t = v.get("modified").or_else(|| v.get("created"))?.as_str()?;
    time::parse_rfc3339(t).ok()
}
