//! TAXII 2.0 (OASIS cs01) next to 2.1: the same feed, other media types,
//! bundles instead of envelopes, 2.0 manifests, and item-range pagination.
//!
//! Decisions taken here (docs/decisions.md#d6, #d13, #d15, #d16, #d17 bind the
//! rest):
//! - **Which entries exist in 2.0.** An entry is visible over 2.0 when the
//!   feed stores a STIX 2.0 serialization for it (compiled indicators of a
//!   2.0 collection, passthrough STIX 2.0 objects); passthrough 2.1 objects
//!   have none and never appear. `first`/`last` are taken among the
//!   versions that have a 2.0 form (only passthrough 2.0 versions in a
//!   collection that also holds 2.1 versions need the id index for that):
//!   having a 2.0 form plays the part `match[spec_version]` plays in 2.1,
//!   and version selection happens among those versions, as in 2.1
//!   (docs/decisions.md#d21).
//! - **Filters** (TAXII 2.0 section 3.5): `added_after` (strictly later,
//!   on date_added, as in 2.1), `match[id]`, `match[type]`,
//!   `match[version]` with the default `last`; `match[spec_version]`,
//!   `limit` and `next` do not exist in 2.0 and are ignored. Object by id
//!   honours `match[version]` and `added_after`.
//! - **Pagination** ([`super::range`]): `Content-Range` on every list
//!   answer (objects, manifest, collections), TOTAL = the number of items
//!   matching the filters. An unfiltered objects or manifest request costs
//!   O(1) for TOTAL and O(64 + page) to find its start, thanks to a
//!   per-generation [`View20`] built once on first use (one pass over the
//!   entry table, one checkpoint per 64 items); a filtered one walks the
//!   candidates once to count and once to collect: O(entries after
//!   `added_after`), or O(versions of the ids) with `match[id]`.
//! - **Bundle ids** are derived from (generation, endpoint, api root,
//!   collection, object id, canonical filters, window), so identical
//!   requests get identical bytes (strong ETags, CDN). They are laid out as
//!   version-4 UUIDs (hash bytes with the version and variant bits set),
//!   not UUIDv5: STIX 2.0 requires identifiers to carry a version 4 UUID.
//! - **Manifest**: one entry per object id, grouping exactly the versions
//!   the objects endpoint would return for the same filters
//!   (`versions` most recent first). Its position and `date_added` are
//!   those of its most recently added matching version, so items stay in
//!   date_added order and a new version moves its id to the end (what an
//!   `added_after` poller expects). With the default `match[version]=last`
//!   (or `first`) every id has one matching version, so an entry is built
//!   from one entry-table row with no lookup; other filters cost one id
//!   index lookup per matching version.
//! - **Discovery** lists every api root as an absolute URL built from
//!   `server.public_url` (else `http(s)://<bound address>`) + base path;
//!   `default` is one of those strings (docs/decisions.md#d16). API roots say
//!   `versions: ["taxii-2.0"]` (TAXII 2.0 section 4.2). Collections list
//!   only collections offering 2.0, without `alias` (not a 2.0 property),
//!   with `media_types: ["application/vnd.oasis.stix+json; version=2.0"]`.
//! - No precompressed copies exist for 2.0 bodies: they are compressed on
//!   the fly like every other answer without one (`docs/decisions.md#d23`).

use super::auth::Caller;
use super::body::Body;
use super::list20::{bundle_body, manifest_body, Matcher, View20};
use super::negotiate::TaxiiVersion::V20;
use super::query::{self, Filters, ListKind};
use super::range::{self, ItemsRange, Window};
use super::resource::{
    api_root_json, collection_resource, collections_json, date_headers, discovery_fields, finish,
    json_resource, offered, readable_collection, status, Tag,
};
use super::response::{TaxiiError, STIX20, TAXII20};
use super::route::Route;
use super::shared::Shared;
use super::state::Served;
use http::header::{HeaderValue, ACCEPT_RANGES, CONTENT_RANGE, RANGE, VARY};
use http::{Request, Response, StatusCode};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Every TAXII 2.0 resource (errors are turned into 2.0 error bodies by the
/// caller).
pub(super) fn resource<B>(
    shared: &Shared,
    served: &Served,
    req: &Request<B>,
    route: &Route<'_>,
    caller: &Caller,
    read: bool,
) -> Result<Response<Body>, TaxiiError> {
    let s = &shared.settings;
    let list_unreadable = s.server.list_unreadable_collections;
    let json = |v: Value| Ok(json_resource(req, served, caller, s, TAXII20, v));
    match route {
        Route::Discovery20 => {
            let url = |name: &str| format!("{}{}{}/", s.public_base20, s.base_path, name);
            json(Value::Object(discovery_fields(served.feed.meta(), url)))
        }
        Route::ApiRoot(root) => json(api_root_json(served, s, root, V20)?),
        Route::Status(root) => Err(status(served, root)),
        Route::Collections(root) => {
            let cols = collections_json(served, caller, root, V20, list_unreadable)?;
            collections_page(shared, served, req, caller, cols)
        }
        Route::Collection(root, c) => json(collection_resource(
            served,
            caller,
            root,
            c,
            V20,
            list_unreadable,
        )?),
        Route::Objects(root, c) | Route::Manifest(root, c) => {
            let write = (!read).then_some("objects cannot be added");
            let i = readable_collection(served, caller, root, c, list_unreadable, write)?;
            offered(served, i, V20)?;
            let manifest = matches!(route, Route::Manifest(..));
            list(shared, served, req, caller, root, i, manifest)
        }
        Route::Object(root, c, oid) => {
            let write = (!read).then_some("objects cannot be deleted");
            let i = readable_collection(served, caller, root, c, list_unreadable, write)?;
            offered(served, i, V20)?;
            object(shared, served, req, caller, root, i, oid)
        }
        Route::Versions(..)
        | Route::Discovery
        | Route::Health
        | Route::Metrics
        | Route::Console(_)
        | Route::NotFound => Err(TaxiiError::not_found("no TAXII 2.0 resource at this path")),
    }
}

fn parse_range<B>(req: &Request<B>) -> Result<ItemsRange, TaxiiError> {
    range::parse(
        req.headers()
            .get_all(RANGE)
            .iter()
            .map(HeaderValue::as_bytes),
    )
    .map_err(TaxiiError::from)
}

fn unsatisfiable(w: &Window) -> TaxiiError {
    let mut e = TaxiiError::new(
        StatusCode::RANGE_NOT_SATISFIABLE,
        "Requested Range Not Satisfiable",
        format!(
            "the range starts past the last item ({}); items are numbered from 0",
            w.content_range()
        ),
    );
    e.content_range = Some(w.content_range());
    e
}

/// Vary of a paginated answer: `Range` selects the items too (shared
/// caches must not answer one range with another).
const VARY_RANGE: &str = "Accept, Accept-Encoding, Authorization, Range";

fn vary_range(mut resp: Response<Body>) -> Response<Body> {
    resp.headers_mut()
        .insert(VARY, HeaderValue::from_static(VARY_RANGE));
    resp
}

/// Status, `Content-Range` and `Accept-Ranges` of a list answer (`Vary`
/// is set after [`finish`] by [`vary_range`]).
fn range_headers(resp: &mut Response<Body>, w: &Window) {
    if matches!(w, Window::Items { partial: true, .. }) {
        *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
    }
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&w.content_range()) {
        h.insert(CONTENT_RANGE, v);
    }
    h.insert(ACCEPT_RANGES, HeaderValue::from_static("items"));
}

/// `GET {root}/collections/` (paginated in TAXII 2.0 section 5.1).
fn collections_page<B>(
    shared: &Shared,
    served: &Served,
    req: &Request<B>,
    caller: &Caller,
    cols: Vec<serde_json::Value>,
) -> Result<Response<Body>, TaxiiError> {
    let s = &shared.settings.server;
    let w = range::window(
        parse_range(req)?,
        cols.len() as u64,
        u64::from(s.max_page_size),
        u64::from(s.max_range_items),
    );
    let (first, n) = match w {
        Window::Unsatisfiable { .. } => return Err(unsatisfiable(&w)),
        _ => w.span(),
    };
    let page: Vec<serde_json::Value> = cols
        .into_iter()
        .skip(first as usize)
        .take(n as usize)
        .collect();
    let v = if page.is_empty() {
        serde_json::json!({})
    } else {
        serde_json::json!({ "collections": page })
    };
    let body = v.to_string();
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    hasher.update(TAXII20.as_bytes());
    hasher.update(body.as_bytes());
    hasher.update(w.content_range().as_bytes());
    let tag = Tag {
        gen: served.etag_gen,
        hash: hasher.digest(),
    };
    let mut resp = Response::new(Body::from_bytes(body));
    range_headers(&mut resp, &w);
    Ok(vary_range(finish(
        req,
        &shared.settings,
        caller,
        TAXII20,
        tag,
        resp,
    )))
}

/// Parses a 2.0 list query: the 2.1 parser with the parameters 2.0 does
/// not have dropped.
fn filters(query: Option<&str>, kind: ListKind) -> Result<(Filters, String), TaxiiError> {
    let mut raw = query::parse_raw(query, kind)?;
    raw.remove_filter("match[spec_version]");
    raw.limit = None;
    raw.next = None;
    let canonical = raw.canonical();
    let f = Filters::from_raw(&raw, kind)?;
    Ok((f, canonical))
}

/// A deterministic bundle id (see the module docs).
fn bundle_id(served: &Served, parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    h.update(b"taxii-edge bundle v1\0");
    h.update(served.feed.meta().generation.as_bytes());
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    let d = h.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    format!(
        "bundle--{}",
        uuid::Builder::from_random_bytes(b).into_uuid()
    )
}

/// Objects and manifest.
fn list<B>(
    shared: &Shared,
    served: &Served,
    req: &Request<B>,
    caller: &Caller,
    root: &str,
    col: usize,
    manifest: bool,
) -> Result<Response<Body>, TaxiiError> {
    let s = &shared.settings.server;
    let cf = &served.feed.collections()[col];
    let state = &served.cols[col];
    let mixed = state.mixed_spec(cf);
    let (f, canonical) = filters(req.uri().query(), ListKind::Collection)?;
    let rng = parse_range(req)?;
    let m = Matcher::new(cf, &f, mixed);
    let start = f.added_after.map_or(0, |t| cf.first_after(t));
    let ids: Option<Vec<usize>> = f.ids.as_ref().map(|ids| {
        let mut all: Vec<usize> = ids.iter().flat_map(|id| cf.versions_of(id)).collect();
        all.sort_unstable();
        all.dedup();
        all
    });

    // TOTAL, then the window, then the items in it.
    let unfiltered = canonical.is_empty();
    let view = unfiltered.then(|| state.view20.get_or_init(|| View20::build(cf, mixed)));
    let total = match view {
        Some(v) => v.total,
        None => {
            let mut n = 0u64;
            m.items(start, ids.as_deref(), manifest, |_| {
                n += 1;
                true
            });
            n
        }
    };
    let w = range::window(
        rng,
        total,
        u64::from(s.max_page_size),
        u64::from(s.max_range_items),
    );
    if let Window::Unsatisfiable { .. } = w {
        return Err(unsatisfiable(&w));
    }
    let (first, count) = w.span();
    let mut idx = Vec::with_capacity(count.min(4096) as usize);
    if count > 0 {
        let (from, mut k) = match view {
            Some(v) => v.seek(first, cf.len()),
            None => (start, 0),
        };
        m.items(from, ids.as_deref(), manifest, |i| {
            if k >= first {
                idx.push(i);
            }
            k += 1;
            (idx.len() as u64) < count
        });
    }

    let endpoint: &[u8] = if manifest { b"manifest" } else { b"objects" };
    let win = w.content_range();
    let (body, ctype) = if manifest {
        (manifest_body(&m, start, &idx), TAXII20)
    } else {
        let id = bundle_id(
            served,
            &[
                endpoint,
                root.as_bytes(),
                served.feed.meta().collections[col].id.as_bytes(),
                canonical.as_bytes(),
                win.as_bytes(),
            ],
        );
        (bundle_body(&id, cf, &idx), STIX20)
    };
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    for p in [
        b"2.0".as_slice(),
        endpoint,
        root.as_bytes(),
        served.feed.meta().collections[col].id.as_bytes(),
        canonical.as_bytes(),
        win.as_bytes(),
    ] {
        hasher.update(p);
        hasher.update(b"\0");
    }
    let tag = Tag {
        gen: served.etag_gen,
        hash: hasher.digest(),
    };
    let mut resp = Response::new(body);
    range_headers(&mut resp, &w);
    date_headers(resp.headers_mut(), cf, &idx, f.added_after);
    Ok(vary_range(finish(
        req,
        &shared.settings,
        caller,
        ctype,
        tag,
        resp,
    )))
}

/// `GET …/objects/{oid}/`: a bundle of the object's matching versions (not
/// paginated in TAXII 2.0 section 5.5).
fn object<B>(
    shared: &Shared,
    served: &Served,
    req: &Request<B>,
    caller: &Caller,
    root: &str,
    col: usize,
    oid: &str,
) -> Result<Response<Body>, TaxiiError> {
    let cf = &served.feed.collections()[col];
    let versions: Vec<usize> = cf
        .versions_of(oid)
        .into_iter()
        .filter(|&j| cf.has_object20(j))
        .collect();
    if versions.is_empty() {
        return Err(TaxiiError::not_found("no such object in this collection"));
    }
    let (f, canonical) = filters(req.uri().query(), ListKind::Object)?;
    let mixed = served.cols[col].mixed_spec(cf);
    let m = Matcher::new(cf, &f, mixed);
    let start = f.added_after.map_or(0, |t| cf.first_after(t));
    let cap = shared.settings.server.max_range_items as usize;
    let mut idx = Vec::new();
    m.items(start, Some(&versions), false, |i| {
        idx.push(i);
        idx.len() < cap
    });
    let col_id = served.feed.meta().collections[col].id.as_bytes();
    let id = bundle_id(
        served,
        &[
            b"object",
            root.as_bytes(),
            col_id,
            oid.as_bytes(),
            canonical.as_bytes(),
        ],
    );
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    for p in [
        b"2.0 object".as_slice(),
        root.as_bytes(),
        col_id,
        oid.as_bytes(),
        canonical.as_bytes(),
    ] {
        hasher.update(p);
        hasher.update(b"\0");
    }
    let tag = Tag {
        gen: served.etag_gen,
        hash: hasher.digest(),
    };
    let mut resp = Response::new(bundle_body(&id, cf, &idx));
    date_headers(resp.headers_mut(), cf, &idx, f.added_after);
    Ok(finish(req, &shared.settings, caller, STIX20, tag, resp))
}

#[cfg(test)]
mod tests {
    #[test]
    fn bundle_ids_are_uuid_v4_shaped() {
        let mut b = [7u8; 16];
        b[0] = 0xff;
        let u = uuid::Builder::from_random_bytes(b).into_uuid();
        assert_eq!(u.get_version_num(), 4);
        assert_eq!(u.get_variant(), uuid::Variant::RFC4122);
    }
}
