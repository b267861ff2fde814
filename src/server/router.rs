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
//! version the client asked for. The resources live in [`super::v21`] and
//! [`super::v20`]; what both share in [`super::resource`]. Paths under
//! `ui/` go to the web console ([`super::console`], docs/decisions.md#d68)
//! right after routing: it applies the same challenge rule and credential
//! check itself and answers in HTML (a 404 when the console is off).

use super::auth::{Caller, ConnInfo};
use super::body::Body;
use super::metrics::EndpointLabel;
use super::negotiate::{self, Offer, TaxiiVersion};
use super::resource::{coding_of, etag_of, Encode, OnTheFly};
use super::response::TaxiiError;
use super::route::{route, Route};
use super::shared::Shared;
use super::state::{AnonScope, Served};
use super::{v20, v21};
use http::header::{
    HeaderValue, ACCEPT, AUTHORIZATION, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_LENGTH,
    CONTENT_TYPE, ETAG, WWW_AUTHENTICATE,
};
use http::{Method, Request, Response, StatusCode};
use std::sync::Arc;
use std::time::Instant;

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
    let route = match route(req.uri().path(), &shared.settings.base_path) {
        Route::Console(page) if shared.settings.server.console.enabled => {
            let (r, caller) = super::console::answer(shared, served, conn, req, page).await;
            return (r, EndpointLabel::Other, caller);
        }
        Route::Console(_) => Route::NotFound,
        r => r,
    };
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
    let caller = match shared.caller(served, req.headers(), conn).await {
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
        .and_then(|(r, c)| served.find_collection(r, c))
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
        TaxiiVersion::V21 => v21::resource(shared, served, req, &route, &caller, read),
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
