//! Paths to resources: which TAXII resource a request path names, which
//! methods it answers and in which TAXII versions it exists.

use super::metrics::EndpointLabel;
use super::negotiate::{Offer, TaxiiVersion};
use std::borrow::Cow;

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
    /// `ui/…`: the web console ([`super::console`]); the path below `ui/`,
    /// not decoded (the console's own paths are plain ASCII).
    Console(&'a str),
    NotFound,
}

impl Route<'_> {
    pub(super) fn label(&self) -> EndpointLabel {
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
            Route::Console(_) | Route::NotFound => EndpointLabel::Other,
        }
    }

    /// Methods this resource answers (docs/decisions.md#d13).
    pub(super) fn allow(&self) -> &'static str {
        match self {
            Route::Objects(..) => "GET, HEAD, POST",
            Route::Object(..) => "GET, HEAD, DELETE",
            _ => "GET, HEAD",
        }
    }

    /// The (api root, collection) segments of a collection path.
    pub(super) fn collection(&self) -> Option<(&str, &str)> {
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
    if rest == "ui" {
        return Route::Console("");
    }
    if let Some(page) = rest.strip_prefix("ui/") {
        return Route::Console(page);
    }
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
        assert_eq!(route("/ui", b), Route::Console(""));
        assert_eq!(route("/ui/", b), Route::Console(""));
        assert_eq!(
            route("/ui/collections/feeds/x", b),
            Route::Console("collections/feeds/x")
        );
        assert_eq!(route("/uix/", b), Route::ApiRoot("uix".into()));
        let b = "/edge/";
        assert_eq!(route("/edge/taxii2/", b), Route::Discovery);
        assert_eq!(route("/taxii2/", b), Route::NotFound);
        assert_eq!(route("/edge", b), Route::NotFound);
        assert_eq!(route("/healthz", b), Route::Health);
        assert_eq!(
            route("/edge/ui/assets/x.css", b),
            Route::Console("assets/x.css")
        );
        assert_eq!(route("/ui/", b), Route::NotFound);
    }
}
