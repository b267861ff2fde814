//! One request in, one response out: routing, methods, authentication,
//! negotiation, the small TAXII resources, conditional requests, and the
//! access log and metrics.
//!
//! Order of checks: no credentials where logging in would show more (401,
//! `docs/decisions.md#d22`, see [`challenge`]) → path (404) → method (405
//! with `Allow`, docs/decisions.md#d13) → request body size (413) → credentials
//! (401) → `Accept` (406) → collection access (401/403/404) → the
//! collection offers the negotiated version (406) → the resource. TAXII 2.1
//! section 4 and 5 list the endpoints; every TAXII 2.1 answer, errors
//! included, is `application/taxii+json;version=2.1`.
//!
//! Versions: `Accept` decides between TAXII 2.1 and 2.0 on the shared
//! api-root paths (see [`negotiate::negotiate`]); `*/*` and no `Accept`
//! mean 2.1 there, `/taxii2/` is 2.1 only, `/taxii/` is 2.0 only (where
//! `*/*` and no `Accept` mean 2.0), and `…/versions/` exists in 2.1 only.
//! On a collection offering one version only, an `Accept` that names both
//! gets the one it offers (a wildcard still means 2.1 there, hence a 406).
//! Errors raised before the version is settled use the media type of the
//! version the client asked for. The TAXII 2.0 resources live in
//! [`super::v20`].

use super::auth::{Caller, ConnInfo};
use super::body::Body;
use super::list::{self, Target};
use super::metrics::EndpointLabel;
use super::negotiate::{self, Offer, TaxiiVersion};
use super::response::{TaxiiError, STIX21, TAXII21, VARY_VALUE};
use super::state::{Access, AnonScope, Served};
use super::v20;
use super::Shared;
use crate::feed::token::Endpoint;
use crate::feed::Coding;
use http::header::{
    HeaderName, HeaderValue, ACCEPT, ACCEPT_ENCODING, AUTHORIZATION, CACHE_CONTROL,
    CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, ETAG, IF_NONE_MATCH, VARY, WWW_AUTHENTICATE,
};
use http::{Method, Request, Response, StatusCode};
use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

pub(super) static DATE_ADDED_FIRST: HeaderName =
    HeaderName::from_static("x-taxii-date-added-first");
pub(super) static DATE_ADDED_LAST: HeaderName = HeaderName::from_static("x-taxii-date-added-last");

/// A parsed path. Segments are percent-decoded.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Route<'a> {
    Health,
    Metrics,
    Discovery,
    /// `/taxii/`: TAXII 2.0 discovery.
    Discovery20,
    ApiRoot(Cow<'a, str>),
    Status(Cow<'a, str>),
    Collections(Cow<'a, str>),
    Collection(Cow<'a, str>, Cow<'a, str>),
    Objects(Cow<'a, str>, Cow<'a, str>),
    Object(Cow<'a, str>, Cow<'a, str>, Cow<'a, str>),
    Versions(Cow<'a, str>, Cow<'a, str>, Cow<'a, str>),
    Manifest(Cow<'a, str>, Cow<'a, str>),
    NotFound,
}

impl Route<'_> {
    fn label(&self) -> EndpointLabel {
        match self {
            Route::Health => EndpointLabel::Health,
            Route::Metrics => EndpointLabel::Metrics,
            Route::Discovery | Route::Discovery20 => EndpointLabel::Discovery,
            Route::ApiRoot(_) => EndpointLabel::ApiRoot,
            Route::Status(_) => EndpointLabel::Status,
            Route::Collections(_) => EndpointLabel::Collections,
            Route::Collection(..) => EndpointLabel::Collection,
            Route::Objects(..) => EndpointLabel::Objects,
            Route::Object(..) => EndpointLabel::Object,
            Route::Versions(..) => EndpointLabel::Versions,
            Route::Manifest(..) => EndpointLabel::Manifest,
            Route::NotFound => EndpointLabel::Other,
        }
    }

    /// Methods this resource answers (docs/decisions.md#d13).
    fn allow(&self) -> &'static str {
        match self {
            Route::Objects(..) => "GET, HEAD, POST",
            Route::Object(..) => "GET, HEAD, DELETE",
            _ => "GET, HEAD",
        }
    }

    /// The (api root, collection) segments of a collection path.
    fn collection(&self) -> Option<(&str, &str)> {
        match self {
            Route::Collection(r, c)
            | Route::Objects(r, c)
            | Route::Manifest(r, c)
            | Route::Object(r, c, _)
            | Route::Versions(r, c, _) => Some((r, c)),
            _ => None,
        }
    }

    /// The TAXII versions this path exists in.
    pub(super) fn offer(&self) -> Offer {
        use TaxiiVersion::*;
        let (v20, v21, default) = match self {
            Route::Discovery => (false, true, V21),
            Route::Discovery20 => (true, false, V20),
            Route::Versions(..) => (false, true, V21),
            _ => (true, true, V21),
        };
        Offer { v20, v21, default }
    }
}

fn seg(s: &str) -> Option<Cow<'_, str>> {
    if s.is_empty() {
        return None;
    }
    if !s.contains('%') {
        return Some(Cow::Borrowed(s));
    }
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .ok()
        .map(|c| Cow::Owned(c.into_owned()))
}

/// Splits `path` under `base` (which starts and ends with `/`). A trailing
/// slash is optional (docs/decisions.md#d7); empty inner segments are not found.
pub(super) fn route<'a>(path: &'a str, base: &str) -> Route<'a> {
    match path {
        "/healthz" => return Route::Health,
        "/metrics" => return Route::Metrics,
        _ => {}
    }
    let rest = if let Some(r) = path.strip_prefix(base) {
        r
    } else if path.len() + 1 == base.len() && base.starts_with(path) {
        ""
    } else {
        return Route::NotFound;
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.is_empty() {
        return Route::NotFound;
    }
    let mut parts: [Option<Cow<'a, str>>; 6] = Default::default();
    let mut n = 0;
    for s in rest.split('/') {
        if n == parts.len() {
            return Route::NotFound;
        }
        match seg(s) {
            Some(c) => parts[n] = Some(c),
            None => return Route::NotFound,
        }
        n += 1;
    }
    let [a, b, c, d, e, f] = parts;
    let is = |x: &Option<Cow<'_, str>>, lit: &str| x.as_deref() == Some(lit);
    match n {
        1 if is(&a, "taxii2") => Route::Discovery,
        1 if is(&a, "taxii") => Route::Discovery20,
        1 => Route::ApiRoot(a.unwrap_or_default()),
        2 if is(&b, "collections") => Route::Collections(a.unwrap_or_default()),
        3 if is(&b, "status") => Route::Status(a.unwrap_or_default()),
        3 if is(&b, "collections") => {
            Route::Collection(a.unwrap_or_default(), c.unwrap_or_default())
        }
        4 if is(&b, "collections") && is(&d, "objects") => {
            Route::Objects(a.unwrap_or_default(), c.unwrap_or_default())
        }
        4 if is(&b, "collections") && is(&d, "manifest") => {
            Route::Manifest(a.unwrap_or_default(), c.unwrap_or_default())
        }
        5 if is(&b, "collections") && is(&d, "objects") => Route::Object(
            a.unwrap_or_default(),
            c.unwrap_or_default(),
            e.unwrap_or_default(),
        ),
        6 if is(&b, "collections") && is(&d, "objects") && is(&f, "versions") => Route::Versions(
            a.unwrap_or_default(),
            c.unwrap_or_default(),
            e.unwrap_or_default(),
        ),
        _ => Route::NotFound,
    }
}

/// Serves one request and records it.
pub async fn handle<B>(shared: Arc<Shared>, conn: &ConnInfo, req: Request<B>) -> Response<Body> {
    let t0 = Instant::now();
    let served = shared.served.load_full();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let (mut resp, label, caller) = dispatch(&shared, &served, conn, &req).await;
    if resp.status() == StatusCode::UNAUTHORIZED {
        resp.headers_mut()
            .insert(WWW_AUTHENTICATE, shared.settings.www_authenticate.clone());
    }
    let bytes = resp.body().len();
    if method == Method::HEAD {
        // Same headers as GET, no body (RFC 9110 9.3.2).
        if !resp.headers().contains_key(CONTENT_LENGTH) {
            resp.headers_mut()
                .insert(CONTENT_LENGTH, HeaderValue::from(bytes));
        }
        *resp.body_mut() = Body::empty();
    }
    let sent = resp.body().len();
    if let Some(c) = coding_of(resp.headers()) {
        let fly = resp.extensions().get::<OnTheFly>().is_some();
        shared.metrics.encoded(c, fly);
    }
    let us = t0.elapsed().as_micros() as u64;
    shared
        .metrics
        .record(label, resp.status().as_u16(), sent, us);
    shared.access_log.log(&super::access_log::Entry {
        method: method.as_str(),
        path: &path,
        status: resp.status().as_u16(),
        bytes: sent,
        us,
        user: caller.name(),
    });
    resp
}

pub(super) async fn dispatch<B>(
    shared: &Shared,
    served: &Served,
    conn: &ConnInfo,
    req: &Request<B>,
) -> (Response<Body>, EndpointLabel, Caller) {
    if req.uri().path() == super::auth_request::PATH {
        let (r, caller) = super::auth_request::answer(shared, served, conn, req).await;
        return (r, EndpointLabel::AuthRequest, caller);
    }
    let route = route(req.uri().path(), &shared.settings.base_path);
    let label = route.label();
    let anon = Caller::Anonymous;
    if let Some(r) = challenge(shared, served, conn, req, &route) {
        return (r, label, anon);
    }
    match route {
        Route::Health => {
            let body = format!("ok {}\n", served.feed.meta().generation);
            let mut r = Response::new(Body::from_bytes(body));
            r.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            r.headers_mut()
                .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
            return (r, label, anon);
        }
        Route::Metrics => {
            let mut r = Response::new(Body::from_bytes(shared.metrics.render()));
            r.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            r.headers_mut()
                .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
            return (r, label, anon);
        }
        Route::NotFound => {
            return (
                TaxiiError::not_found("no TAXII resource at this path").into_response(),
                label,
                anon,
            )
        }
        _ => {}
    }
    let neg = negotiate::negotiate(
        req.headers()
            .get_all(ACCEPT)
            .iter()
            .map(HeaderValue::as_bytes),
        route.offer(),
    );
    let asked = neg.asked;
    let method = req.method();
    let read = method == Method::GET || method == Method::HEAD;
    let write_allowed = match &route {
        Route::Objects(..) => method == Method::POST,
        Route::Object(..) => method == Method::DELETE,
        _ => false,
    };
    if !read && !write_allowed {
        let mut e = TaxiiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "Method Not Allowed",
            format!("{method} is not supported here; this server is read-only"),
        );
        e.allow = Some(route.allow());
        return (e.in_version(asked).into_response(), label, anon);
    }
    let too_big = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|n| n > shared.settings.server.max_body_bytes as u64);
    if too_big {
        let e = TaxiiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Payload Too Large",
            format!(
                "request bodies are limited to {} bytes",
                shared.settings.server.max_body_bytes
            ),
        );
        return (e.in_version(asked).into_response(), label, anon);
    }
    let caller = match shared
        .gate
        .check(
            &served.users,
            req.headers().get(AUTHORIZATION).map(HeaderValue::as_bytes),
            conn,
        )
        .await
    {
        Ok(c) => c,
        Err(denied) => return (denied.into_response(asked), label, anon),
    };
    let Some(version) = neg.chosen else {
        let offer = route.offer();
        let what = match (offer.v20, offer.v21) {
            (true, true) => "application/taxii+json;version=2.1 or application/vnd.oasis.taxii+json; version=2.0 (application/vnd.oasis.stix+json; version=2.0 for objects)",
            (true, false) => "application/vnd.oasis.taxii+json; version=2.0 (TAXII 2.0 discovery; TAXII 2.1 is at taxii2/)",
            _ => "application/taxii+json;version=2.1 (TAXII 2.1 only at this path)",
        };
        let e = TaxiiError::new(
            StatusCode::NOT_ACCEPTABLE,
            "Not Acceptable",
            format!("this resource is available as {what}"),
        );
        return (e.in_version(asked).into_response(), label, caller);
    };
    // The path-level choice is a version this collection does not offer,
    // but the Accept also names one it does: answer in that one.
    let version = match route
        .collection()
        .and_then(|(r, c)| find_collection(served, r, c))
    {
        Some(i) if !served.cols[i].offers(version) => {
            let offer = route.offer();
            negotiate::negotiate_named(
                req.headers()
                    .get_all(ACCEPT)
                    .iter()
                    .map(HeaderValue::as_bytes),
                Offer {
                    v20: offer.v20 && served.cols[i].v20,
                    v21: offer.v21 && served.cols[i].v21,
                    default: version,
                },
            )
            .chosen
            .unwrap_or(version)
        }
        _ => version,
    };
    let result = match version {
        TaxiiVersion::V21 => resource(shared, served, req, &route, &caller, read),
        TaxiiVersion::V20 => v20::resource(shared, served, req, &route, &caller, read),
    };
    let r = match result {
        Ok(r) => encode(r, version).await,
        Err(e) => e.in_version(version).into_response(),
    };
    (r, label, caller)
}

/// docs/decisions.md#d22 (`docs/decisions.md#d22`): 401 with the Basic challenge for
/// a request that carries no credentials at all (no `Authorization`, no
/// client certificate: a certificate user is authenticated and never
/// challenged) where logging in would show more than the anonymous view
/// ([`Served::challenges_anonymous`]). Checked before every other answer
/// (404, 405 and 413 included), so what such a caller gets does not depend
/// on what exists; `/healthz`, `/metrics` and paths outside `base_path` are
/// never challenged. The error is in the media type of the version asked
/// for.
fn challenge<B>(
    shared: &Shared,
    served: &Served,
    conn: &ConnInfo,
    req: &Request<B>,
    route: &Route<'_>,
) -> Option<Response<Body>> {
    if !shared.settings.challenge_anonymous
        || conn.cert.is_some()
        || req.headers().contains_key(AUTHORIZATION)
    {
        return None;
    }
    let neg = || {
        negotiate::negotiate(
            req.headers()
                .get_all(ACCEPT)
                .iter()
                .map(HeaderValue::as_bytes),
            route.offer(),
        )
    };
    let scope = match route {
        Route::Discovery => AnonScope::Discovery(TaxiiVersion::V21),
        Route::Discovery20 => AnonScope::Discovery(TaxiiVersion::V20),
        Route::ApiRoot(r) | Route::Status(r) | Route::Collections(r) => {
            let n = neg();
            AnonScope::Root(r, n.chosen.unwrap_or(n.asked))
        }
        Route::NotFound => {
            let (path, base) = (req.uri().path(), &shared.settings.base_path);
            if !path.starts_with(base.as_str()) && base.strip_suffix('/') != Some(path) {
                return None;
            }
            AnonScope::Unknown
        }
        _ => {
            let (r, c) = route.collection()?;
            AnonScope::Collection(r, c)
        }
    };
    served.challenges_anonymous(scope).then(|| {
        TaxiiError::unauthorized()
            .in_version(neg().asked)
            .into_response()
    })
}

/// Bodies up to this size are compressed on the worker thread (about
/// 0.1 ms per 60 KB page with libdeflate level 1); larger ones (big
/// `limit`s, TAXII 2.0 ranges of thousands of items) on the blocking pool,
/// so one big answer does not stall the other connections of its core.
const ENCODE_INLINE_MAX: u64 = 256 * 1024;

/// Compresses an answer [`finish`] marked with [`Encode`]. Should the
/// compressor fail (it cannot with its worst-case output buffer), the
/// identity body goes out with the identity ETag.
async fn encode(mut resp: Response<Body>, version: TaxiiVersion) -> Response<Body> {
    let Some(Encode { coding, tag }) = resp.extensions_mut().remove::<Encode>() else {
        return resp;
    };
    let body = std::mem::take(resp.body_mut());
    let (body, packed) = if body.len() <= ENCODE_INLINE_MAX {
        let packed = body.encode(coding);
        (body, packed)
    } else {
        match tokio::task::spawn_blocking(move || {
            let packed = body.encode(coding);
            (body, packed)
        })
        .await
        {
            Ok(done) => done,
            Err(e) => {
                tracing::error!("on-the-fly {coding:?} task failed: {e}");
                return TaxiiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Internal Server Error",
                    "the answer could not be compressed; retry, or ask without Accept-Encoding",
                )
                .in_version(version)
                .into_response();
            }
        }
    };
    match packed {
        Ok(b) => {
            *resp.body_mut() = b;
            resp.extensions_mut().insert(OnTheFly);
        }
        Err(e) => {
            tracing::warn!("on-the-fly {coding:?} failed, sending identity: {e}");
            *resp.body_mut() = body;
            let h = resp.headers_mut();
            h.remove(CONTENT_ENCODING);
            if let Ok(v) = HeaderValue::from_str(&etag_of(tag.gen, tag.hash, None)) {
                h.insert(ETAG, v);
            }
        }
    }
    resp
}

/// 406 for a collection that does not offer `v` (checked after access, so
/// a hidden collection stays a 404).
pub(super) fn not_offered(v: TaxiiVersion) -> TaxiiError {
    TaxiiError::new(
        StatusCode::NOT_ACCEPTABLE,
        "Not Acceptable",
        match v {
            TaxiiVersion::V20 => "this collection is not offered over TAXII 2.0; ask for application/taxii+json;version=2.1",
            TaxiiVersion::V21 => "this collection is offered over TAXII 2.0 only; ask for application/vnd.oasis.taxii+json; version=2.0",
        },
    )
}

/// Finds collection `c` (id or alias, docs/decisions.md#d18) of root `root`,
/// whichever TAXII versions it offers.
pub(super) fn find_collection(served: &Served, root: &str, c: &str) -> Option<usize> {
    served
        .feed
        .meta()
        .collections
        .iter()
        .position(|m| m.api_root == root && (m.id == c || m.alias.as_deref() == Some(c)))
}

pub(super) fn root_exists(served: &Served, root: &str) -> bool {
    served.feed.meta().api_roots.iter().any(|r| r.name == root)
}

pub(super) fn access_error(a: Access) -> TaxiiError {
    match a {
        Access::Read => unreachable!("not an error"),
        Access::Unauthenticated => TaxiiError::unauthorized(),
        Access::Forbidden => TaxiiError::forbidden("you may not read this collection"),
        Access::Hidden => TaxiiError::not_found("no such collection"),
    }
}

fn resource<B>(
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
            if !root_exists(served, root) {
                return Err(TaxiiError::not_found("no such API root"));
            }
            // Read-only: no add-objects request ever creates a status.
            Err(TaxiiError::not_found("no such status resource"))
        }
        Route::Collections(root) => {
            if !root_exists(served, root) {
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
            let i = find_collection(served, root, c)
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

/// The collection behind a list endpoint, or the access error. Write
/// methods reach here too: their answer depends on readability.
pub(super) fn collection_for(served: &Served, root: &str, c: &str) -> Result<usize, TaxiiError> {
    find_collection(served, root, c).ok_or_else(|| TaxiiError::not_found("no such collection"))
}

/// docs/decisions.md#d13: 403 on a collection the caller can see (`can_write` is
/// false everywhere; a collection listed with `can_read: false` is seen
/// too), 404 on one it cannot (TAXII 2.1 section 5.7 for DELETE), 401 when
/// credentials could change that.
pub(super) fn write_refused(
    served: &Served,
    i: usize,
    caller: &Caller,
    list_unreadable: bool,
    what: &str,
) -> Result<Response<Body>, TaxiiError> {
    match served.access(i, caller, list_unreadable) {
        Access::Read | Access::Forbidden => Err(TaxiiError::forbidden(format!(
            "this collection is read-only (can_write: false): {what}"
        ))),
        Access::Unauthenticated => Err(TaxiiError::unauthorized()),
        _ => Err(TaxiiError::not_found("no such collection")),
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

pub(super) fn cache_control(s: &super::Settings, caller: &Caller) -> HeaderValue {
    match caller {
        Caller::Anonymous => {
            HeaderValue::from_str(&format!("public, max-age={}", s.server.cache_max_age_secs))
                .unwrap_or_else(|_| HeaderValue::from_static("public"))
        }
        Caller::User(_) => HeaderValue::from_static("private"),
    }
}

/// The "generation" part of content-derived ETags of default pages.
const PAGE_ETAG: u64 = 0x7061_6765_0000_0000; // "page"

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
    coding: Coding,
    tag: Tag,
}

/// The coding a response's `Content-Encoding` names.
pub(super) fn coding_of(h: &http::HeaderMap) -> Option<Coding> {
    match h.get(CONTENT_ENCODING)?.as_bytes() {
        b"gzip" => Some(Coding::Gzip),
        b"zstd" => Some(Coding::Zstd),
        _ => None,
    }
}

fn encoding_value(c: Coding) -> HeaderValue {
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
    s: &super::Settings,
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
    s: &super::Settings,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let b = "/";
        assert_eq!(route("/taxii2/", b), Route::Discovery);
        assert_eq!(route("/taxii2", b), Route::Discovery);
        assert_eq!(route("/taxii/", b), Route::Discovery20);
        assert_eq!(route("/taxii", b), Route::Discovery20);
        assert_eq!(route("/healthz", b), Route::Health);
        assert_eq!(route("/feeds", b), Route::ApiRoot("feeds".into()));
        assert_eq!(
            route("/feeds/collections/", b),
            Route::Collections("feeds".into())
        );
        assert_eq!(
            route("/feeds/collections/x/objects/indicator--1/versions/", b),
            Route::Versions("feeds".into(), "x".into(), "indicator--1".into())
        );
        assert_eq!(
            route("/feeds/collections/x/objects/a%2Db", b),
            Route::Object("feeds".into(), "x".into(), "a-b".into())
        );
        assert_eq!(
            route("/feeds/status/abc/", b),
            Route::Status("feeds".into())
        );
        assert_eq!(route("/feeds//collections", b), Route::NotFound);
        assert_eq!(route("/", b), Route::NotFound);
        assert_eq!(
            route("/feeds/collections/x/objects/%ff", b),
            Route::NotFound
        );
        assert_eq!(route("/a/b/c/d/e/f/g", b), Route::NotFound);
        let b = "/edge/";
        assert_eq!(route("/edge/taxii2/", b), Route::Discovery);
        assert_eq!(route("/taxii2/", b), Route::NotFound);
        assert_eq!(route("/edge", b), Route::NotFound);
        assert_eq!(route("/healthz", b), Route::Health);
    }
}
