//! The read-only web console under `<base_path>ui/` (`docs/console.md`):
//! server-rendered HTML pages over the generation being served, behind the
//! same authentication and collection access as TAXII.
//!
//! Safety (docs/decisions.md#d68): every value goes into the HTML through
//! `maud`, which escapes by default (indicator values are chosen by whoever
//! wrote the source record); the only script is a copy-button handler
//! served from `assets/`, and every answer carries a strict
//! `Content-Security-Policy`, `nosniff`, `no-referrer` and `no-store`
//! ([`secure`]). Only GET and HEAD exist: the console changes nothing.
//!
//! Access: a request without credentials gets the Basic challenge where
//! the TAXII discovery would (no anonymous collection, and logging in
//! would show more: [`Served::challenges_anonymous`]); otherwise the
//! anonymous view with a "Log in" link whose page answers 401 with the
//! challenge until the browser sends credentials. A caller sees exactly
//! the collections [`Served::readable`] lets it read.
//!
//! One file per page: [`overview`], [`collections`], [`preview`],
//! [`settings`]; [`stats`] computes the per-collection figures the feed
//! does not store. The console imports what both TAXII versions share
//! (`resource`, `state`, `shared`, `auth`), never `v20`/`v21`.

mod collections;
mod overview;
mod preview;
mod settings;
pub(crate) mod stats;

use super::auth::{Caller, ConnInfo, Denied};
use super::body::Body;
use super::shared::Shared;
use super::state::{AnonScope, Served};
use http::header::{
    HeaderName, HeaderValue, ALLOW, AUTHORIZATION, CACHE_CONTROL, CONTENT_SECURITY_POLICY,
    CONTENT_TYPE, HOST, LOCATION, REFERRER_POLICY, RETRY_AFTER, X_CONTENT_TYPE_OPTIONS,
};
use http::{Method, Request, Response, StatusCode};
use maud::{html, Markup, DOCTYPE};

/// Every console answer's policy: nothing but this server's own stylesheet,
/// script and images; no framing, no `<base>`, forms only to itself.
const CSP: &str = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; \
                   frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

const STYLE: &str = include_str!("assets/console.css");
const SCRIPT: &str = include_str!("assets/console.js");
const ICON: &str = include_str!("assets/favicon.svg");

/// What every page needs to know about the request.
pub(super) struct Ctx<'a> {
    shared: &'a Shared,
    served: &'a Served,
    caller: &'a Caller,
    /// `<base_path>ui/`: the prefix of every console link.
    ui: String,
    /// Absolute URL of `base_path` (`https://host/base/`): what a TAXII
    /// client is given to copy.
    api_base: String,
    /// The query string, if any.
    query: Option<&'a str>,
}

impl Ctx<'_> {
    /// Relative link to a TAXII path under `base_path` (`feeds/collections/…`).
    fn taxii_href(&self, rest: &str) -> String {
        format!("{}{}", self.shared.settings.base_path, rest)
    }

    /// Absolute URL of a TAXII path under `base_path`.
    fn taxii_url(&self, rest: &str) -> String {
        format!("{}{}", self.api_base, rest)
    }

    /// Whether logging in could show more than this caller sees.
    fn can_log_in(&self) -> bool {
        *self.caller == Caller::Anonymous
            && self.served.users.any()
            && self
                .served
                .cols
                .iter()
                .any(|c| c.configured && !c.anonymous)
    }

    /// Indexes of the collections the caller may read, in feed order.
    fn readable(&self) -> Vec<usize> {
        (0..self.served.cols.len())
            .filter(|&i| self.served.readable(i, self.caller))
            .collect()
    }
}

/// Answers one console request (`page`: the path below `ui/`).
pub(super) async fn answer<B>(
    shared: &Shared,
    served: &Served,
    conn: &ConnInfo,
    req: &Request<B>,
    page: &str,
) -> (Response<Body>, Caller) {
    let anon = Caller::Anonymous;
    let ui = format!("{}ui/", shared.settings.base_path);
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = plain(
            &ui,
            StatusCode::METHOD_NOT_ALLOWED,
            "Method Not Allowed",
            "The console is read-only: GET and HEAD only.",
        );
        r.headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return (r, anon);
    }
    // The stylesheet and script hold no data: served to anyone, so the
    // login page is styled too.
    if let Some(name) = page.strip_prefix("assets/") {
        return (asset(&ui, name), anon);
    }
    let sent_credentials = conn.cert.is_some() || req.headers().contains_key(AUTHORIZATION);
    if !sent_credentials
        && shared.settings.challenge_anonymous
        && served.challenges_anonymous(AnonScope::Unknown)
    {
        return (login_required(&ui), anon);
    }
    let caller = match shared.caller(served, req.headers(), conn).await {
        Ok(c) => c,
        Err(d) => return (denied(&ui, d), anon),
    };
    let ctx = Ctx {
        shared,
        served,
        caller: &caller,
        ui: ui.clone(),
        api_base: api_base(shared, req),
        query: req.uri().query(),
    };
    let page = page.strip_suffix('/').unwrap_or(page);
    let parts: Vec<&str> = page.split('/').collect();
    let r = match parts.as_slice() {
        [""] => html_response(overview::page(&ctx)),
        ["login"] => {
            if caller == Caller::Anonymous {
                login_required(&ui)
            } else {
                let mut r = secure(Response::new(Body::empty()));
                *r.status_mut() = StatusCode::SEE_OTHER;
                if let Ok(v) = HeaderValue::from_str(&ctx.ui) {
                    r.headers_mut().insert(LOCATION, v);
                }
                r
            }
        }
        ["collections"] => html_response(collections::page(&ctx)),
        ["collections", root, col] => match preview::page(&ctx, &decode(root), &decode(col)) {
            Some(m) => html_response(m),
            None => not_found(&ctx),
        },
        ["settings"] => html_response(settings::page(&ctx)),
        _ => not_found(&ctx),
    };
    (r, caller)
}

/// `public_url`, else the scheme of the listener with the request's `Host`
/// (when it is a plain host\[:port\]), else the bound address; with
/// `base_path`.
fn api_base<B>(shared: &Shared, req: &Request<B>) -> String {
    let s = &shared.settings;
    let origin = match &s.public_url {
        Some(u) => u.clone(),
        None => {
            let host = req
                .headers()
                .get(HOST)
                .and_then(|h| h.to_str().ok())
                .or_else(|| req.uri().authority().map(|a| a.as_str()))
                .filter(|h| {
                    !h.is_empty()
                        && h.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
                });
            let scheme = s.public_base20.split("://").next().unwrap_or("http");
            match host {
                Some(h) => format!("{scheme}://{h}"),
                None => s.public_base20.clone(),
            }
        }
    };
    format!("{}{}", origin.trim_end_matches('/'), s.base_path)
}

/// Percent-decodes a path segment (lossy: a bad one names nothing).
fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// What [`enc`] escapes: everything but RFC 3986's unreserved characters.
const ESCAPED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes a path segment or query value.
fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, ESCAPED).to_string()
}

/// The `key=value` pairs of a query string, `+` and percent escapes decoded.
fn query_pairs(q: Option<&str>) -> Vec<(String, String)> {
    q.unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(&k.replace('+', " ")), decode(&v.replace('+', " ")))
        })
        .collect()
}

/// Adds the headers every console answer carries.
fn secure(mut r: Response<Body>) -> Response<Body> {
    let h = r.headers_mut();
    h.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        HeaderName::from_static("x-frame-options"),
        HeaderValue::from_static("DENY"),
    );
    r
}

fn html_response(m: Markup) -> Response<Body> {
    let mut r = Response::new(Body::from_bytes(m.into_string()));
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    secure(r)
}

fn asset(ui: &str, name: &str) -> Response<Body> {
    let (body, ty) = match name {
        "console.css" => (STYLE, "text/css; charset=utf-8"),
        "console.js" => (SCRIPT, "text/javascript; charset=utf-8"),
        "favicon.svg" => (ICON, "image/svg+xml"),
        _ => {
            return plain(
                ui,
                StatusCode::NOT_FOUND,
                "Not Found",
                "No such console asset.",
            )
        }
    };
    let mut r = Response::new(Body::from_bytes(body));
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(ty));
    secure(r)
}

/// A small page for errors met before the caller is known.
fn plain(ui: &str, status: StatusCode, title: &str, text: &str) -> Response<Body> {
    let m = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { (title) " · taxii-edge" }
                link rel="stylesheet" href={ (ui) "assets/console.css" };
                link rel="icon" href={ (ui) "assets/favicon.svg" };
            }
            body { main { h1 { (title) } p { (text) } } }
        }
    };
    let mut r = html_response(m);
    *r.status_mut() = status;
    r
}

/// 401: the router adds the Basic challenge (`WWW-Authenticate`) to every
/// 401, so the browser asks for a user name and password and retries.
fn login_required(ui: &str) -> Response<Body> {
    plain(
        ui,
        StatusCode::UNAUTHORIZED,
        "Log in",
        "This console needs a user name and password (or a client certificate).",
    )
}

fn denied(ui: &str, d: Denied) -> Response<Body> {
    match d {
        Denied::Unauthorized => login_required(ui),
        Denied::Locked => plain(
            ui,
            StatusCode::UNAUTHORIZED,
            "Account locked",
            "This account is locked; ask the feed's administrator to unlock it.",
        ),
        Denied::Throttled { retry_after_secs } | Denied::RateLimited { retry_after_secs } => {
            let mut r = plain(
                ui,
                StatusCode::TOO_MANY_REQUESTS,
                "Too many requests",
                "Too many requests or failed logins; retry later.",
            );
            r.headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(retry_after_secs.max(1)));
            r
        }
    }
}

fn not_found(ctx: &Ctx<'_>) -> Response<Body> {
    let m = layout(
        ctx,
        "Not found",
        Nav::None,
        html! {
            h1 { "Not found" }
            p { "There is no such page, or no collection by that name you may read." }
        },
    );
    let mut r = html_response(m);
    *r.status_mut() = StatusCode::NOT_FOUND;
    r
}

/// Which navigation entry is the current page.
#[derive(PartialEq, Eq)]
enum Nav {
    Overview,
    Collections,
    Settings,
    None,
}

/// The frame of every page: head, navigation, who is logged in.
fn layout(ctx: &Ctx<'_>, title: &str, nav: Nav, body: Markup) -> Markup {
    let ui = &ctx.ui;
    let item = |n: Nav, href: String, label: &str| {
        let current = n == nav;
        html! {
            a href=(href) aria-current=[current.then_some("page")] { (label) }
        }
    };
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · " (ctx.served.feed.meta().title) }
                link rel="stylesheet" href={ (ui) "assets/console.css" };
                link rel="icon" href={ (ui) "assets/favicon.svg" };
                script src={ (ui) "assets/console.js" } defer {}
            }
            body {
                header {
                    span.brand { (ctx.served.feed.meta().title) }
                    nav {
                        (item(Nav::Overview, ui.clone(), "Overview"))
                        (item(Nav::Collections, format!("{ui}collections"), "Collections"))
                        (item(Nav::Settings, format!("{ui}settings"), "TTLs and mappings"))
                    }
                    span.who {
                        @match ctx.caller {
                            Caller::User(u) => { "Signed in as " strong { (u.as_ref()) } }
                            Caller::Anonymous => {
                                "Anonymous"
                                @if ctx.can_log_in() {
                                    " · " a id="login" href={ (ui) "login" } { "Log in" }
                                }
                            }
                        }
                    }
                }
                main { (body) }
                footer { "taxii-edge " (env!("CARGO_PKG_VERSION")) " · read-only console" }
            }
        }
    }
}

/// A value with a copy button (the script copies `data-copy`).
fn copyable(value: &str, label: &str) -> Markup {
    html! {
        code { (value) }
        " "
        button.copy type="button" data-copy=(value) title={ "Copy " (label) } { "Copy " (label) }
    }
}

/// `2024-01-01T00:00:00.000Z` of µs since the epoch.
fn when(t: crate::time::Micros) -> String {
    crate::time::fmt_ms(t)
}
