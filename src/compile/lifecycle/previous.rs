//! What the previous generation of a collection published.

use crate::feed::CollectionFeed;

/// The stored JSON (2.1 and, when present, 2.0) of the latest version of
/// `id` in a previous generation.
pub(super) fn stored_json(c: &CollectionFeed, id: &str) -> Option<(String, Option<String>)> {
    let i = *c.versions_of(id).last()?;
    let j21 = String::from_utf8(c.objects_run(i, i + 1).to_vec()).ok()?;
    let j20 = c
        .object20_bytes(i)
        .and_then(|b| String::from_utf8(b.to_vec()).ok());
    Some((j21, j20))
}
