//! The TAXII 2.1 resources: discovery, api root, status, collections,
//! collection, and the list endpoints (objects, manifest, object,
//! versions) answered from [`super::list`] (TAXII 2.1 sections 4 and 5).

use super::auth::Caller;
use super::body::Body;
use super::list::{self, Target};
use super::negotiate::{self, TaxiiVersion::V21};
use super::resource::{
    api_root_json, collection_resource, collections_json, date_headers, discovery_fields,
    encoding_value, finish, json_resource, offered, readable_collection, status, Tag,
};
use super::response::{TaxiiError, TAXII21};
use super::route::Route;
use super::shared::Shared;
use super::state::Served;
use crate::feed::token::Endpoint;
use crate::feed::Coding;
use http::header::{HeaderValue, ACCEPT_ENCODING, CONTENT_ENCODING};
use http::{Request, Response};
use serde_json::Value;

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
    let json = |v: Value| Ok(json_resource(req, served, caller, s, TAXII21, v));
    match route {
        Route::Discovery => {
            let url = |name: &str| match &s.public_url {
                Some(base) => format!("{}{}{}/", base.trim_end_matches('/'), s.base_path, name),
                None => format!("{}{}/", s.base_path, name),
            };
            json(Value::Object(discovery_fields(served.feed.meta(), url)))
        }
        Route::ApiRoot(root) => json(api_root_json(served, s, root, V21)?),
        Route::Status(root) => Err(status(served, root)),
        Route::Collections(root) => {
            let cols = collections_json(served, caller, root, V21, list_unreadable)?;
            json(if cols.is_empty() {
                serde_json::json!({})
            } else {
                serde_json::json!({ "collections": cols })
            })
        }
        Route::Collection(root, c) => json(collection_resource(
            served,
            caller,
            root,
            c,
            V21,
            list_unreadable,
        )?),
        Route::Objects(root, c) | Route::Manifest(root, c) => {
            let write = (!read).then_some("objects cannot be added");
            let i = readable_collection(served, caller, root, c, list_unreadable, write)?;
            offered(served, i, V21)?;
            let endpoint = if matches!(route, Route::Objects(..)) {
                Endpoint::Objects
            } else {
                Endpoint::Manifest
            };
            let t = Target {
                endpoint,
                root,
                col_idx: i,
                col_id: &served.feed.meta().collections[i].id,
                object_id: None,
            };
            list_response(shared, served, req, caller, &t, None)
        }
        Route::Object(root, c, oid) | Route::Versions(root, c, oid) => {
            // Access first: whether an object exists is itself information
            // a caller who cannot read the collection must not get.
            let write = (!read).then_some("objects cannot be deleted");
            let i = readable_collection(served, caller, root, c, list_unreadable, write)?;
            let versions = served.feed.collections()[i].versions_of(oid);
            if versions.is_empty() {
                return Err(TaxiiError::not_found("no such object in this collection"));
            }
            offered(served, i, V21)?;
            let endpoint = if matches!(route, Route::Object(..)) {
                Endpoint::Object
            } else {
                Endpoint::Versions
            };
            let t = Target {
                endpoint,
                root,
                col_idx: i,
                col_id: &served.feed.meta().collections[i].id,
                object_id: Some(oid),
            };
            list_response(shared, served, req, caller, &t, Some(&versions))
        }
        Route::Health
        | Route::Metrics
        | Route::Console(_)
        | Route::NotFound
        | Route::Discovery20 => Err(TaxiiError::not_found("no TAXII resource at this path")),
    }
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
    date_headers(h, cf, &page.idx, plan.filters.added_after);
    if let Some(c) = coding {
        h.insert(CONTENT_ENCODING, encoding_value(c));
    }
    Ok(finish(req, s, caller, TAXII21, tag, resp))
}
