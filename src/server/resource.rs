//! What the TAXII 2.1 and 2.0 resources share: access errors, the
//! discovery fields, cache headers, ETags, the 304 check and the choice of
//! an on-the-fly content coding ([`finish`]).

use super::auth::Caller;
use super::body::Body;
use super::negotiate::{self, TaxiiVersion};
use super::response::{TaxiiError, STIX20, STIX21, TAXII21, VARY_VALUE};
use super::shared::Settings;
use super::state::{Access, Served};
use crate::feed::{Coding, CollectionFeed, CollectionMeta};
use crate::time::{self, Micros};
use http::header::{
    HeaderName, HeaderValue, ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE, ETAG,
    IF_NONE_MATCH, VARY,
};
use http::{HeaderMap, Request, Response, StatusCode};
use serde_json::Value;

static DATE_ADDED_FIRST: HeaderName = HeaderName::from_static("x-taxii-date-added-first");
static DATE_ADDED_LAST: HeaderName = HeaderName::from_static("x-taxii-date-added-last");

/// 406 for a collection that does not offer `v` (checked after access, so
/// a hidden collection stays a 404).
fn not_offered(v: TaxiiVersion) -> TaxiiError {
    TaxiiError::new(
        StatusCode::NOT_ACCEPTABLE,
        "Not Acceptable",
        match v {
            TaxiiVersion::V20 => "this collection is not offered over TAXII 2.0; ask for application/taxii+json;version=2.1",
            TaxiiVersion::V21 => "this collection is offered over TAXII 2.0 only; ask for application/vnd.oasis.taxii+json; version=2.0",
        },
    )
}

pub(super) fn access_error(a: Access) -> TaxiiError {
    match a {
        Access::Read => unreachable!("not an error"),
        Access::Unauthenticated => TaxiiError::unauthorized(),
        Access::Forbidden => TaxiiError::forbidden("you may not read this collection"),
        Access::Hidden => TaxiiError::not_found("no such collection"),
    }
}

/// The collection a list or object request names, checked for reading
/// (docs/decisions.md#d13): 404 when it does not exist; for a write method
/// (`write` says what cannot be done), 403 on a collection the caller can
/// see (`can_write` is false everywhere; a collection listed with
/// `can_read: false` is seen too), 404 on one it cannot (TAXII 2.1 section
/// 5.7 for DELETE), 401 when credentials could change that; for a read,
/// the access decision. Whether the collection offers the TAXII version
/// asked for is [`offered`], checked by the caller where its order matters.
pub(super) fn readable_collection(
    served: &Served,
    caller: &Caller,
    root: &str,
    c: &str,
    list_unreadable: bool,
    write: Option<&str>,
) -> Result<usize, TaxiiError> {
    let i = served
        .find_collection(root, c)
        .ok_or_else(|| TaxiiError::not_found("no such collection"))?;
    match (served.access(i, caller, list_unreadable), write) {
        (Access::Read, None) => Ok(i),
        (Access::Read | Access::Forbidden, Some(what)) => Err(TaxiiError::forbidden(format!(
            "this collection is read-only (can_write: false): {what}"
        ))),
        (Access::Hidden, Some(_)) => Err(TaxiiError::not_found("no such collection")),
        (a, _) => Err(access_error(a)),
    }
}

/// 406 for a collection that does not offer TAXII version `v` (checked
/// after access, so a hidden collection stays a 404).
pub(super) fn offered(served: &Served, i: usize, v: TaxiiVersion) -> Result<(), TaxiiError> {
    if served.cols[i].offers(v) {
        Ok(())
    } else {
        Err(not_offered(v))
    }
}

/// The api root resource: the same fields in TAXII 2.1 and 2.0 (section
/// 4.2 of both) but `versions`.
pub(super) fn api_root_json(
    served: &Served,
    s: &Settings,
    root: &str,
    version: TaxiiVersion,
) -> Result<Value, TaxiiError> {
    let r = served
        .feed
        .meta()
        .api_roots
        .iter()
        .find(|r| r.name == root)
        .ok_or_else(|| TaxiiError::not_found("no such API root"))?;
    let mut v = serde_json::Map::new();
    v.insert("title".into(), r.title.clone().into());
    if let Some(d) = &r.description {
        v.insert("description".into(), d.clone().into());
    }
    let versions = match version {
        TaxiiVersion::V21 => TAXII21,
        TaxiiVersion::V20 => "taxii-2.0",
    };
    v.insert("versions".into(), serde_json::json!([versions]));
    v.insert(
        "max_content_length".into(),
        (s.server.max_body_bytes as u64).into(),
    );
    Ok(Value::Object(v))
}

/// `GET {root}/status/{id}/`: this read-only server never creates a
/// status (no add-objects request succeeds), so it is always a 404.
pub(super) fn status(served: &Served, root: &str) -> TaxiiError {
    if served.root_exists(root) {
        TaxiiError::not_found("no such status resource")
    } else {
        TaxiiError::not_found("no such API root")
    }
}

/// The collection resources of api root `root` offered in `version` that
/// `caller` may read, or may see listed (`list_unreadable_collections`).
pub(super) fn collections_json(
    served: &Served,
    caller: &Caller,
    root: &str,
    version: TaxiiVersion,
    list_unreadable: bool,
) -> Result<Vec<Value>, TaxiiError> {
    if !served.root_exists(root) {
        return Err(TaxiiError::not_found("no such API root"));
    }
    Ok(served
        .feed
        .meta()
        .collections
        .iter()
        .enumerate()
        .filter(|(i, m)| served.cols[*i].offers(version) && m.api_root == root)
        .filter_map(|(i, m)| {
            let can_read = served.readable(i, caller);
            (can_read || (list_unreadable && served.cols[i].configured))
                .then(|| collection_json(m, can_read, version))
        })
        .collect())
}

/// `GET {root}/collections/{id}/`: a collection the caller can read, or
/// may see listed (described with `can_read: false`).
pub(super) fn collection_resource(
    served: &Served,
    caller: &Caller,
    root: &str,
    c: &str,
    version: TaxiiVersion,
    list_unreadable: bool,
) -> Result<Value, TaxiiError> {
    let i = served
        .find_collection(root, c)
        .ok_or_else(|| TaxiiError::not_found("no such collection"))?;
    match served.access(i, caller, list_unreadable) {
        Access::Read | Access::Forbidden => {}
        a => return Err(access_error(a)),
    }
    offered(served, i, version)?;
    let m = &served.feed.meta().collections[i];
    Ok(collection_json(m, served.readable(i, caller), version))
}

/// A collection resource; `alias` is not a TAXII 2.0 property.
fn collection_json(m: &CollectionMeta, can_read: bool, version: TaxiiVersion) -> Value {
    let mut v = serde_json::Map::new();
    v.insert("id".into(), m.id.clone().into());
    v.insert("title".into(), m.title.clone().into());
    if let Some(d) = &m.description {
        v.insert("description".into(), d.clone().into());
    }
    if let (Some(a), TaxiiVersion::V21) = (&m.alias, version) {
        v.insert("alias".into(), a.clone().into());
    }
    v.insert("can_read".into(), can_read.into());
    v.insert("can_write".into(), false.into());
    let media_type = match version {
        TaxiiVersion::V21 => STIX21,
        TaxiiVersion::V20 => STIX20,
    };
    v.insert("media_types".into(), serde_json::json!([media_type]));
    Value::Object(v)
}

/// `X-TAXII-Date-Added-First/Last` (TAXII 2.1 and 2.0 section 3.2): the
/// first and last `date_added` of the returned entries `idx`, or
/// `added_after` for an empty answer (docs/decisions.md#d2).
pub(super) fn date_headers(
    h: &mut HeaderMap,
    cf: &CollectionFeed,
    idx: &[usize],
    added_after: Option<Micros>,
) {
    let dates = match (idx.first(), idx.last()) {
        (Some(&a), Some(&b)) => Some((cf.entry(a).date_added_us, cf.entry(b).date_added_us)),
        _ => added_after.map(|t| (t, t)),
    };
    if let Some((a, b)) = dates {
        for (name, t) in [(&DATE_ADDED_FIRST, a), (&DATE_ADDED_LAST, b)] {
            if let Ok(v) = HeaderValue::from_str(&time::fmt_us(t)) {
                h.insert(name.clone(), v);
            }
        }
    }
}

/// The discovery resource's fields (TAXII 2.1 and 2.0 share them; only
/// how an api root becomes a URL differs, hence `url`).
pub(super) fn discovery_fields(
    meta: &crate::feed::FeedMeta,
    url: impl Fn(&str) -> String,
) -> serde_json::Map<String, serde_json::Value> {
    let mut v = serde_json::Map::new();
    v.insert("title".into(), meta.title.clone().into());
    if let Some(d) = &meta.description {
        v.insert("description".into(), d.clone().into());
    }
    if let Some(c) = &meta.contact {
        v.insert("contact".into(), c.clone().into());
    }
    let default = meta
        .api_roots
        .iter()
        .find(|r| r.default)
        .or(meta.api_roots.first());
    if let Some(d) = default {
        v.insert("default".into(), url(&d.name).into());
    }
    let roots: Vec<serde_json::Value> =
        meta.api_roots.iter().map(|r| url(&r.name).into()).collect();
    if !roots.is_empty() {
        v.insert("api_roots".into(), roots.into());
    }
    v
}

pub(super) fn cache_control(s: &Settings, caller: &Caller) -> HeaderValue {
    match caller {
        Caller::Anonymous => {
            HeaderValue::from_str(&format!("public, max-age={}", s.server.cache_max_age_secs))
                .unwrap_or_else(|_| HeaderValue::from_static("public"))
        }
        Caller::User(_) => HeaderValue::from_static("private"),
    }
}

/// What an answer's ETag is made of: [`finish`] adds the content coding
/// once it knows which one is sent (one ETag per coding).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Tag {
    pub gen: u64,
    pub hash: u64,
}

pub(super) fn etag_of(gen: u64, h: u64, coding: Option<Coding>) -> String {
    let c = match coding {
        None => "",
        Some(Coding::Gzip) => "-gz",
        Some(Coding::Zstd) => "-zst",
    };
    format!("\"{gen:016x}{h:016x}{c}\"")
}

/// Marks an answer compressed on the fly (for the metrics).
#[derive(Debug, Clone, Copy)]
pub(super) struct OnTheFly;

/// An answer [`finish`] chose to compress on the fly; [`encode`] does it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Encode {
    pub coding: Coding,
    pub tag: Tag,
}

/// The coding a response's `Content-Encoding` names.
pub(super) fn coding_of(h: &http::HeaderMap) -> Option<Coding> {
    match h.get(CONTENT_ENCODING)?.as_bytes() {
        b"gzip" => Some(Coding::Gzip),
        b"zstd" => Some(Coding::Zstd),
        _ => None,
    }
}

pub(super) fn encoding_value(c: Coding) -> HeaderValue {
    HeaderValue::from_static(match c {
        Coding::Gzip => "gzip",
        Coding::Zstd => "zstd",
    })
}

/// Headers common to every successful TAXII answer, the content coding,
/// and the 304 check.
///
/// Content coding (docs/decisions.md#d23, `docs/decisions.md#d23`): a body that is
/// already a stored copy (`Content-Encoding` set) is sent as it is; any
/// other body of at least `compress_min_bytes` is marked for [`encode`]
/// when `Accept-Encoding` allows gzip or zstd, after the 304 check (a
/// revalidation costs no compression). The ETag names the coding sent.
/// Clients that accept no coding keep the zero-copy identity body.
pub(super) fn finish<B>(
    req: &Request<B>,
    s: &Settings,
    caller: &Caller,
    content_type: &'static str,
    tag: Tag,
    mut resp: Response<Body>,
) -> Response<Body> {
    let stored = coding_of(resp.headers());
    let fly = if stored.is_none() && resp.body().len() >= s.compress_min_bytes {
        negotiate::pick_coding(
            req.headers()
                .get_all(ACCEPT_ENCODING)
                .iter()
                .map(HeaderValue::as_bytes),
        )
    } else {
        None
    };
    let etag = etag_of(tag.gen, tag.hash, stored.or(fly));
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(VARY, HeaderValue::from_static(VARY_VALUE));
    h.insert(CACHE_CONTROL, cache_control(s, caller));
    let not_modified = negotiate::none_match(
        req.headers()
            .get_all(IF_NONE_MATCH)
            .iter()
            .map(HeaderValue::as_bytes),
        &etag,
    );
    if not_modified {
        *resp.status_mut() = StatusCode::NOT_MODIFIED;
        resp.headers_mut().remove(CONTENT_TYPE);
        resp.headers_mut().remove(CONTENT_ENCODING);
        *resp.body_mut() = Body::empty();
    } else if let Some(coding) = fly {
        resp.headers_mut()
            .insert(CONTENT_ENCODING, encoding_value(coding));
        resp.extensions_mut().insert(Encode { coding, tag });
    }
    if let Ok(v) = HeaderValue::from_str(&etag) {
        resp.headers_mut().insert(ETAG, v);
    }
    resp
}

/// A small JSON resource; its ETag hashes the body (it may depend on the
/// caller, e.g. `can_read`) and the media type (a 2.0 and a 2.1
/// representation are different representations).
pub(super) fn json_resource<B>(
    req: &Request<B>,
    served: &Served,
    caller: &Caller,
    s: &Settings,
    content_type: &'static str,
    v: serde_json::Value,
) -> Response<Body> {
    let body = v.to_string();
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    hasher.update(content_type.as_bytes());
    hasher.update(body.as_bytes());
    let tag = Tag {
        gen: served.etag_gen,
        hash: hasher.digest(),
    };
    finish(
        req,
        s,
        caller,
        content_type,
        tag,
        Response::new(Body::from_bytes(body)),
    )
}
