//! The TAXII 2.1 resources: discovery, api root, status, collections,
//! collection, and the list endpoints (objects, manifest, object,
//! versions) answered from [`super::list`] (TAXII 2.1 sections 4 and 5).

use super::auth::Caller;
use super::body::Body;
use super::list::{self, Target};
use super::negotiate::{self, TaxiiVersion};
use super::resource::{
    access_error, collection_for, discovery_fields, encoding_value, finish, json_resource,
    not_offered, write_refused, Tag, DATE_ADDED_FIRST, DATE_ADDED_LAST,
};
use super::response::{TaxiiError, STIX21, TAXII21};
use super::route::Route;
use super::shared::Shared;
use super::state::{Access, Served};
use crate::feed::token::Endpoint;
use crate::feed::Coding;
use http::header::{HeaderValue, ACCEPT_ENCODING, CONTENT_ENCODING};
use http::{Request, Response};

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
    match route {
        Route::Discovery => {
            let meta = served.feed.meta();
            let url = |name: &str| match &s.public_url {
                Some(base) => format!("{}{}{}/", base.trim_end_matches('/'), s.base_path, name),
                None => format!("{}{}/", s.base_path, name),
            };
            let v = discovery_fields(meta, url);
            Ok(json_resource(
                req,
                served,
                caller,
                s,
                TAXII21,
                serde_json::Value::Object(v),
            ))
        }
        Route::ApiRoot(root) => {
            let r = served
                .feed
                .meta()
                .api_roots
                .iter()
                .find(|r| r.name == **root)
                .ok_or_else(|| TaxiiError::not_found("no such API root"))?;
            let mut v = serde_json::Map::new();
            v.insert("title".into(), r.title.clone().into());
            if let Some(d) = &r.description {
                v.insert("description".into(), d.clone().into());
            }
            v.insert("versions".into(), serde_json::json!([TAXII21]));
            v.insert(
                "max_content_length".into(),
                (s.server.max_body_bytes as u64).into(),
            );
            Ok(json_resource(
                req,
                served,
                caller,
                s,
                TAXII21,
                serde_json::Value::Object(v),
            ))
        }
        Route::Status(root) => {
            if !served.root_exists(root) {
                return Err(TaxiiError::not_found("no such API root"));
            }
            // Read-only: no add-objects request ever creates a status.
            Err(TaxiiError::not_found("no such status resource"))
        }
        Route::Collections(root) => {
            if !served.root_exists(root) {
                return Err(TaxiiError::not_found("no such API root"));
            }
            let meta = served.feed.meta();
            let cols: Vec<serde_json::Value> = meta
                .collections
                .iter()
                .enumerate()
                .filter(|(i, m)| served.cols[*i].v21 && m.api_root == **root)
                .filter_map(|(i, m)| {
                    let can_read = served.readable(i, caller);
                    (can_read || (list_unreadable && served.cols[i].configured))
                        .then(|| collection_json(m, can_read))
                })
                .collect();
            let v = if cols.is_empty() {
                serde_json::json!({})
            } else {
                serde_json::json!({ "collections": cols })
            };
            Ok(json_resource(req, served, caller, s, TAXII21, v))
        }
        Route::Collection(root, c) => {
            let i = served
                .find_collection(root, c)
                .ok_or_else(|| TaxiiError::not_found("no such collection"))?;
            match served.access(i, caller, list_unreadable) {
                Access::Read => {}
                // A listed collection may be described (can_read: false).
                Access::Forbidden => {}
                a => return Err(access_error(a)),
            }
            if !served.cols[i].v21 {
                return Err(not_offered(TaxiiVersion::V21));
            }
            let m = &served.feed.meta().collections[i];
            let v = collection_json(m, served.readable(i, caller));
            Ok(json_resource(req, served, caller, s, TAXII21, v))
        }
        Route::Objects(root, c) | Route::Manifest(root, c) => {
            let i = collection_for(served, root, c)?;
            if !read {
                return write_refused(
                    served,
                    i,
                    caller,
                    list_unreadable,
                    "objects cannot be added",
                );
            }
            let ep = if matches!(route, Route::Objects(..)) {
                Endpoint::Objects
            } else {
                Endpoint::Manifest
            };
            let t = Target {
                endpoint: ep,
                root,
                col_idx: i,
                col_id: &served.feed.meta().collections[i].id,
                object_id: None,
            };
            list_response(shared, served, req, caller, &t, None)
        }
        Route::Object(root, c, oid) | Route::Versions(root, c, oid) => {
            let i = collection_for(served, root, c)?;
            if !read {
                return write_refused(
                    served,
                    i,
                    caller,
                    list_unreadable,
                    "objects cannot be deleted",
                );
            }
            let ep = if matches!(route, Route::Object(..)) {
                Endpoint::Object
            } else {
                Endpoint::Versions
            };
            // Access first: whether an object exists is itself information
            // a caller who cannot read the collection must not get.
            match served.access(i, caller, list_unreadable) {
                Access::Read => {}
                a => return Err(access_error(a)),
            }
            let cf = &served.feed.collections()[i];
            let versions = cf.versions_of(oid);
            if versions.is_empty() {
                return Err(TaxiiError::not_found("no such object in this collection"));
            }
            let t = Target {
                endpoint: ep,
                root,
                col_idx: i,
                col_id: &served.feed.meta().collections[i].id,
                object_id: Some(oid),
            };
            list_response(shared, served, req, caller, &t, Some(&versions))
        }
        Route::Health | Route::Metrics | Route::NotFound | Route::Discovery20 => {
            Err(TaxiiError::not_found("no TAXII resource at this path"))
        }
    }
}

fn collection_json(m: &crate::feed::CollectionMeta, can_read: bool) -> serde_json::Value {
    let mut v = serde_json::Map::new();
    v.insert("id".into(), m.id.clone().into());
    v.insert("title".into(), m.title.clone().into());
    if let Some(d) = &m.description {
        v.insert("description".into(), d.clone().into());
    }
    if let Some(a) = &m.alias {
        v.insert("alias".into(), a.clone().into());
    }
    v.insert("can_read".into(), can_read.into());
    v.insert("can_write".into(), false.into());
    v.insert("media_types".into(), serde_json::json!([STIX21]));
    serde_json::Value::Object(v)
}

/// The "generation" part of content-derived ETags of default pages.
const PAGE_ETAG: u64 = 0x7061_6765_0000_0000; // "page"

fn list_response<B>(
    shared: &Shared,
    served: &Served,
    req: &Request<B>,
    caller: &Caller,
    t: &Target<'_>,
    versions: Option<&[usize]>,
) -> Result<Response<Body>, TaxiiError> {
    match served.access(
        t.col_idx,
        caller,
        shared.settings.server.list_unreadable_collections,
    ) {
        Access::Read => {}
        a => return Err(access_error(a)),
    }
    if !served.cols[t.col_idx].v21 {
        return Err(not_offered(TaxiiVersion::V21));
    }
    let s = &shared.settings;
    let plan = list::plan(served, t, req.uri().query(), s.server.max_page_size)?;
    let page = list::walk(served, t, &plan, versions);
    let cf = &served.feed.collections()[t.col_idx];

    let mut body = Body::empty();
    let mut coding = None;
    let whole_page = list::default_page(t, &page);
    if let Some((kind, k)) = whole_page {
        if let Some(c) = negotiate::pick_coding(
            req.headers()
                .get_all(ACCEPT_ENCODING)
                .iter()
                .map(HeaderValue::as_bytes),
        ) {
            if let Some(b) = cf.precompressed(kind, k, c) {
                body.push(b);
                coding = Some(c);
            }
        }
    }
    if coding.is_none() {
        list::render(served, t, &plan, &page, s.server.empty_as_list, &mut body);
    }

    // A whole default page keeps its bytes in every generation where it
    // did not change (stable boundaries), so its ETag derives from those
    // bytes (its stored zstd copy, a few KB) rather than the generation: a
    // cache revalidating after a regeneration gets a 304. Any other answer:
    // generation + the normalized request (what decides the bytes).
    let content = whole_page.and_then(|(kind, k)| cf.precompressed(kind, k, Coding::Zstd));
    let tag = match content {
        Some(blob) => Tag {
            gen: PAGE_ETAG,
            hash: xxhash_rust::xxh3::xxh3_64_with_seed(&blob, t.endpoint as u64),
        },
        None => {
            let mut hasher = xxhash_rust::xxh3::Xxh3::new();
            hasher.update(&[t.endpoint as u8]);
            hasher.update(t.root.as_bytes());
            hasher.update(b"\0");
            hasher.update(t.col_id.as_bytes());
            hasher.update(b"\0");
            hasher.update(t.object_id.unwrap_or("").as_bytes());
            hasher.update(b"\0");
            hasher.update(plan.canonical.as_bytes());
            hasher.update(b"\0");
            hasher.update(&plan.limit.to_le_bytes());
            if let Some(p) = &plan.resume {
                hasher.update(&p.date_added_us.to_le_bytes());
                hasher.update(p.id.as_bytes());
                hasher.update(&p.version_us.to_le_bytes());
            }
            hasher.update(&[u8::from(s.server.empty_as_list)]);
            Tag {
                gen: served.etag_gen,
                hash: hasher.digest(),
            }
        }
    };

    let mut resp = Response::new(body);
    let h = resp.headers_mut();
    // X-TAXII-Date-Added-First/Last: the returned items' first and last
    // date_added (TAXII 2.1 section 3.2, custom headers); docs/decisions.md#d2 for empty results.
    let dates = match (page.idx.first(), page.idx.last()) {
        (Some(&a), Some(&b)) => Some((cf.entry(a).date_added_us, cf.entry(b).date_added_us)),
        _ => plan.filters.added_after.map(|t| (t, t)),
    };
    if let Some((a, b)) = dates {
        for (name, t) in [(&DATE_ADDED_FIRST, a), (&DATE_ADDED_LAST, b)] {
            if let Ok(v) = HeaderValue::from_str(&crate::time::fmt_us(t)) {
                h.insert(name.clone(), v);
            }
        }
    }
    if let Some(c) = coding {
        h.insert(CONTENT_ENCODING, encoding_value(c));
    }
    Ok(finish(req, s, caller, TAXII21, tag, resp))
}
