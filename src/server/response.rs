//! Response building shared by every endpoint: the TAXII error resource,
//! the common headers, and the header names TAXII adds.
//!
//! TAXII 2.1 section 3.6.1 and TAXII 2.0 section 3.6 ("Error Message")
//! define the same resource: `title` is required; `description`,
//! `error_id`, `error_code`, `http_status` (a string), `external_details`
//! and `details` are optional. Every TAXII 2.1 response, errors included,
//! carries `Content-Type: application/taxii+json;version=2.1` (docs/decisions.md#d6);
//! every TAXII 2.0 error carries `application/vnd.oasis.taxii+json;
//! version=2.0`.

use super::body::Body;
use super::negotiate::TaxiiVersion;
use super::query::ParamError;
use http::header::{HeaderValue, ALLOW, CACHE_CONTROL, CONTENT_TYPE, VARY, WWW_AUTHENTICATE};
use http::{Response, StatusCode};

/// The TAXII 2.1 media type, exactly as docs/decisions.md#d6 spells it.
pub const TAXII21: &str = "application/taxii+json;version=2.1";
/// STIX media type listed on collections.
pub(crate) const STIX21: &str = "application/stix+json;version=2.1";
/// The TAXII 2.0 media type, spelled as TAXII 2.0 section 1.5 and the
/// OASIS client spell it (with the space).
pub const TAXII20: &str = "application/vnd.oasis.taxii+json; version=2.0";
/// The STIX 2.0 media type: bundles and `media_types`.
pub const STIX20: &str = "application/vnd.oasis.stix+json; version=2.0";
/// Responses vary on these request headers.
pub(crate) const VARY_VALUE: &str = "Accept, Accept-Encoding, Authorization";

/// A TAXII error about to be sent.
#[derive(Debug, Clone)]
pub struct TaxiiError {
    pub status: StatusCode,
    pub title: &'static str,
    pub description: String,
    /// `Allow` header value for 405s.
    pub allow: Option<&'static str>,
    /// Which TAXII version's media type the error is sent in.
    pub version: TaxiiVersion,
    /// `Content-Range` of a TAXII 2.0 416 (`items */TOTAL`).
    pub content_range: Option<String>,
}

impl TaxiiError {
    pub fn new(status: StatusCode, title: &'static str, description: impl Into<String>) -> Self {
        TaxiiError {
            status,
            title,
            description: description.into(),
            allow: None,
            version: TaxiiVersion::V21,
            content_range: None,
        }
    }

    /// The same error in `v`'s media type.
    pub(crate) fn in_version(mut self, v: TaxiiVersion) -> Self {
        self.version = v;
        self
    }

    pub(crate) fn bad_request(description: impl Into<String>) -> Self {
        TaxiiError::new(StatusCode::BAD_REQUEST, "Bad Request", description)
    }

    pub(crate) fn not_found(description: impl Into<String>) -> Self {
        TaxiiError::new(StatusCode::NOT_FOUND, "Not Found", description)
    }

    pub(crate) fn unauthorized() -> Self {
        TaxiiError::new(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "valid HTTP Basic credentials are required for this resource",
        )
    }

    pub(crate) fn forbidden(description: impl Into<String>) -> Self {
        TaxiiError::new(StatusCode::FORBIDDEN, "Forbidden", description)
    }

    /// The JSON body; serde_json escapes every string properly.
    pub(crate) fn body_json(&self) -> String {
        serde_json::json!({
            "title": self.title,
            "description": self.description,
            "http_status": self.status.as_u16().to_string(),
        })
        .to_string()
    }

    /// The complete response.
    pub(crate) fn into_response(self) -> Response<Body> {
        let body = self.body_json();
        let mut r = Response::new(Body::from_bytes(body));
        *r.status_mut() = self.status;
        let h = r.headers_mut();
        h.insert(
            CONTENT_TYPE,
            HeaderValue::from_static(match self.version {
                TaxiiVersion::V21 => TAXII21,
                TaxiiVersion::V20 => TAXII20,
            }),
        );
        if let Some(cr) = self.content_range.as_deref() {
            if let Ok(v) = HeaderValue::from_str(cr) {
                h.insert(http::header::CONTENT_RANGE, v);
            }
            h.insert(
                http::header::ACCEPT_RANGES,
                HeaderValue::from_static("items"),
            );
        }
        h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(VARY, HeaderValue::from_static(VARY_VALUE));
        if self.status == StatusCode::UNAUTHORIZED {
            // `router::handle` puts the configured realm in.
            h.insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"taxii-edge\""),
            );
        }
        if let Some(allow) = self.allow {
            h.insert(ALLOW, HeaderValue::from_static(allow));
        }
        r
    }
}

/// A bad parameter is a 400 with its text as the description.
impl From<ParamError> for TaxiiError {
    fn from(e: ParamError) -> TaxiiError {
        TaxiiError::bad_request(e.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_body_is_escaped_json() {
        let e = TaxiiError::bad_request("bad \"x\"\n\\");
        let v: serde_json::Value = serde_json::from_str(&e.body_json()).unwrap();
        assert_eq!(v["title"], "Bad Request");
        assert_eq!(v["description"], "bad \"x\"\n\\");
        assert_eq!(v["http_status"], "400");
        let r = e.into_response();
        assert_eq!(r.headers()[CONTENT_TYPE], TAXII21);
    }
}
