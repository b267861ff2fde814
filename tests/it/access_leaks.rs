//! Regression tests from the adversarial review of the server: object
//! existence must not leak before the access check.

use crate::common::server_support;
use server_support::*;

/// An anonymous caller can tell which object ids exist in a private
/// collection: 401 for an existing id, 404 for a missing one. A non-reader
/// gets two different 404 descriptions.
#[tokio::test]
async fn object_existence_leaks_before_the_access_check() {
    let s = start_with(&spec("g1", 5, objects(10, T0)), "").await;
    let existing = format!(
        "/feeds/collections/{PRIVATE}/objects/indicator--00000000-0000-4000-8000-000000000000/"
    );
    let missing = format!(
        "/feeds/collections/{PRIVATE}/objects/indicator--00000000-0000-4000-8000-000000000999/"
    );
    let a = get(s.addr, &existing, &[]).await;
    let b = get(s.addr, &missing, &[]).await;
    // Both should be the same answer (401: credentials are required).
    assert_eq!(
        (a.status, b.status),
        (401, 401),
        "{} / {}",
        a.text(),
        b.text()
    );
}

#[tokio::test]
async fn object_existence_leaks_to_a_non_reader() {
    let s = start_with(&spec("g1", 5, objects(10, T0)), "").await;
    let bob = basic("bob", "bob-pw");
    let h = [("authorization", bob.as_str())];
    let existing = format!(
        "/feeds/collections/{PRIVATE}/objects/indicator--00000000-0000-4000-8000-000000000000/versions/"
    );
    let missing = format!(
        "/feeds/collections/{PRIVATE}/objects/indicator--00000000-0000-4000-8000-000000000999/versions/"
    );
    let a = get(s.addr, &existing, &h).await;
    let b = get(s.addr, &missing, &h).await;
    assert_eq!(a.status, b.status);
    assert_eq!(a.text(), b.text(), "different bodies reveal the object");
}

/// docs/decisions.md#d13: a collection listed to the caller (`can_read: false`) is
/// seen, so POST answers 403 (read-only), not 404.
#[tokio::test]
async fn post_to_a_listed_unreadable_collection_is_403() {
    let s = start_with(
        &spec("g1", 5, objects(10, T0)),
        "list_unreadable_collections = true\n",
    )
    .await;
    let bob = basic("bob", "bob-pw");
    let path = format!("/feeds/collections/{PRIVATE}/objects/");
    let r = req(s.addr, "POST", &path, &[("authorization", bob.as_str())]).await;
    assert_eq!(r.status, 403, "{}", r.text());
}
