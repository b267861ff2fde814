//! The TAXII client requests an upstream needs: discovery (or an API root
//! given directly), the readable collections, and pages of objects added
//! after a time, in TAXII 2.1 (`next` paging) or 2.0 (`Range: items`
//! paging).

use super::http::{Client, Reply};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Version {
    V21,
    V20,
}

impl Version {
    pub fn parse(s: &str) -> Option<Version> {
        match s {
            "2.1" => Some(Version::V21),
            "2.0" => Some(Version::V20),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Version::V21 => "2.1",
            Version::V20 => "2.0",
        }
    }

    /// The media type of discovery, API roots and collections.
    fn taxii(self) -> &'static str {
        match self {
            Version::V21 => "application/taxii+json;version=2.1",
            Version::V20 => "application/vnd.oasis.taxii+json; version=2.0",
        }
    }

    /// The media type of an objects answer.
    fn objects(self) -> &'static str {
        match self {
            Version::V21 => "application/taxii+json;version=2.1",
            Version::V20 => "application/vnd.oasis.stix+json; version=2.0",
        }
    }
}

/// One readable upstream collection.
#[derive(Debug, Clone)]
pub(super) struct Collection {
    pub id: String,
    pub title: String,
    /// Its API root's URL, ending in `/`.
    pub root: String,
}

/// Where the next page starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Position {
    /// The first page of the query.
    Start,
    /// A TAXII 2.1 `next` token.
    Next(String),
    /// A TAXII 2.0 item offset.
    Offset(u64),
}

/// One page of objects.
pub(super) struct Page {
    pub objects: Vec<Value>,
    /// Where the following page starts; `None` when this was the last.
    pub following: Option<Position>,
    /// TAXII 2.1 `more: true` without a `next` token: the rest is asked
    /// for with `added_after` set to this page's last date_added.
    pub more_without_next: bool,
    /// `X-TAXII-Date-Added-Last`: the date_added of the page's last object.
    pub added_last: Option<String>,
}

/// A page request that failed, with the HTTP status when there was one.
pub(super) struct PageError {
    pub status: Option<u16>,
    pub message: String,
}

/// The API roots behind `url` (a discovery URL or an API root) and the
/// TAXII version to speak: `version` if given, else 2.1 unless the server
/// answers only 2.0.
pub(super) fn discover(
    client: &mut Client,
    url: &str,
    version: Option<Version>,
) -> Result<(Version, Vec<String>), String> {
    let url = with_slash(url);
    let (version, reply) = match version {
        Some(v) => (v, client.get(&url, &[("Accept", v.taxii())])?),
        None => {
            let r = client.get(&url, &[("Accept", Version::V21.taxii())])?;
            let only_20 = matches!(r.status, 406 | 415)
                || r.header("content-type")
                    .is_some_and(|c| c.contains("vnd.oasis"));
            if only_20 {
                let v = Version::V20;
                (v, client.get(&url, &[("Accept", v.taxii())])?)
            } else {
                (Version::V21, r)
            }
        }
    };
    let doc = json(&url, &reply)?;
    if let Some(roots) = doc.get("api_roots") {
        let roots: Vec<String> = roots
            .as_array()
            .ok_or_else(|| format!("{url}: api_roots is not a list"))?
            .iter()
            .filter_map(Value::as_str)
            .map(|r| with_slash(&join(&url, r)))
            .collect();
        // The credentials and the client certificate are for the server
        // the config names; an API root elsewhere does not get them.
        if let Some(other) = roots.iter().find(|r| origin(r) != origin(&url)) {
            return Err(format!(
                "{url}: discovery lists the API root {other}, on another host or scheme than the configured URL; to fetch from it, configure its URL as the url of an input"
            ));
        }
        Ok((version, roots))
    } else if doc.get("title").is_some() {
        Ok((version, vec![url]))
    } else {
        Err(format!(
            "{url}: neither a discovery (no api_roots) nor an API root (no title)"
        ))
    }
}

/// The collections of `root` the account can read.
pub(super) fn collections(
    client: &mut Client,
    version: Version,
    root: &str,
) -> Result<Vec<Collection>, String> {
    let url = format!("{root}collections/");
    let reply = client.get(&url, &[("Accept", version.taxii())])?;
    let doc = json(&url, &reply)?;
    let list = match doc.get("collections") {
        None => return Ok(Vec::new()),
        Some(Value::Array(a)) => a,
        Some(_) => return Err(format!("{url}: collections is not a list")),
    };
    Ok(list
        .iter()
        .filter(|c| c.get("can_read").and_then(Value::as_bool) == Some(true))
        .filter_map(|c| {
            Some(Collection {
                id: c.get("id")?.as_str()?.to_string(),
                title: c
                    .get("title")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                root: root.to_string(),
            })
        })
        .collect())
}

/// One page of `col`'s objects added after `added_after`.
pub(super) fn page(
    client: &mut Client,
    version: Version,
    col: &Collection,
    added_after: Option<&str>,
    at: &Position,
    page_size: u32,
) -> Result<Page, PageError> {
    let mut url = format!("{}collections/{}/objects/", col.root, enc(&col.id));
    let mut query = Vec::new();
    if let Some(a) = added_after {
        query.push(format!("added_after={}", enc(a)));
    }
    if version == Version::V21 {
        query.push(format!("limit={page_size}"));
    }
    if let Position::Next(t) = at {
        query.push(format!("next={}", enc(t)));
    }
    if !query.is_empty() {
        url.push('?');
        url.push_str(&query.join("&"));
    }
    let start = match at {
        Position::Offset(o) => *o,
        _ => 0,
    };
    let range = format!(
        "items {}-{}",
        start,
        start.saturating_add(u64::from(page_size) - 1)
    );
    let mut headers = vec![("Accept", version.objects())];
    if version == Version::V20 {
        headers.push(("Range", &range));
    }
    let reply = client.get(&url, &headers).map_err(|message| PageError {
        status: None,
        message,
    })?;
    if version == Version::V20 && reply.status == 416 {
        return Ok(Page {
            objects: Vec::new(),
            following: None,
            more_without_next: false,
            added_last: None,
        });
    }
    let fail = |message: String| PageError {
        status: Some(reply.status),
        message,
    };
    let doc = json(&url, &reply).map_err(fail)?;
    let objects = match doc.get("objects") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.clone(),
        Some(_) => return Err(fail(format!("{url}: objects is not a list"))),
    };
    let added_last = reply.header("x-taxii-date-added-last").map(str::to_string);
    let mut more_without_next = false;
    let following = match version {
        Version::V21 => {
            let more = doc.get("more").and_then(Value::as_bool) == Some(true);
            match doc.get("next").and_then(Value::as_str) {
                Some(t) if more => Some(Position::Next(t.to_string())),
                _ => {
                    more_without_next = more;
                    None
                }
            }
        }
        Version::V20 => {
            // A 206 with `Content-Range: items S-E/T`; the next page starts
            // after the objects received (a server may send fewer than
            // asked). With no total (`*`), a full page means more may
            // follow. A 200 is the whole answer.
            let total = reply
                .header("content-range")
                .filter(|_| reply.status == 206)
                .and_then(|r| r.rsplit_once('/'))
                .map(|(_, t)| t.trim().parse::<u64>().ok());
            let next = start.saturating_add(objects.len() as u64);
            match total {
                _ if objects.is_empty() => None,
                Some(Some(total)) if next < total => Some(Position::Offset(next)),
                Some(None) if objects.len() as u64 >= u64::from(page_size) => {
                    Some(Position::Offset(next))
                }
                _ => None,
            }
        }
    };
    Ok(Page {
        objects,
        following,
        more_without_next,
        added_last,
    })
}

/// The JSON object of a 2xx answer, or an error naming the URL and status
/// (with the start of the body, where servers explain).
fn json(url: &str, reply: &Reply) -> Result<Value, String> {
    if !(200..300).contains(&reply.status) {
        let body = String::from_utf8_lossy(&reply.body);
        let body: String = body.chars().take(300).collect();
        return Err(format!("{url}: HTTP {}: {}", reply.status, body.trim()));
    }
    let v: Value = serde_json::from_slice(&reply.body)
        .map_err(|e| format!("{url}: the answer is not JSON: {e}"))?;
    if !v.is_object() {
        return Err(format!("{url}: the answer is not a JSON object"));
    }
    Ok(v)
}

/// What a path segment or query value keeps as it is: RFC 3986's
/// unreserved characters (a collection id's `-` stays `-`).
const ENCODED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn enc(s: &str) -> String {
    utf8_percent_encode(s, ENCODED).to_string()
}

/// `scheme://host[:port]` of a URL.
fn origin(url: &str) -> &str {
    let end = url
        .find("://")
        .and_then(|i| url[i + 3..].find('/').map(|j| i + 3 + j))
        .unwrap_or(url.len());
    &url[..end]
}

fn with_slash(u: &str) -> String {
    let u = u.trim();
    if u.ends_with('/') {
        u.to_string()
    } else {
        format!("{u}/")
    }
}

/// `reference` (an absolute URL, an absolute path or a relative path)
/// against `base`.
fn join(base: &str, reference: &str) -> String {
    if reference.starts_with("http://") || reference.starts_with("https://") {
        return reference.to_string();
    }
    let base = base.split(['?', '#']).next().unwrap_or(base);
    if let Some(rest) = reference.strip_prefix("//") {
        let scheme = base.split("://").next().unwrap_or("https");
        return format!("{scheme}://{rest}");
    }
    if reference.starts_with('/') {
        format!("{}{reference}", origin(base))
    } else {
        format!("{}{reference}", with_slash(base))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_api_roots() {
        let d = "https://h.example:8443/taxii2/";
        assert_eq!(join(d, "https://o.example/r/"), "https://o.example/r/");
        assert_eq!(join(d, "/feeds/"), "https://h.example:8443/feeds/");
        assert_eq!(join(d, "feeds/"), "https://h.example:8443/taxii2/feeds/");
        assert_eq!(join(d, "//o.example/r/"), "https://o.example/r/");
        assert_eq!(join("https://h/taxii2/?x=1", "/r/"), "https://h/r/");
        assert_eq!(
            origin("https://h.example:8443/taxii2/"),
            "https://h.example:8443"
        );
        assert_eq!(enc("a-b_c.d~e f/g"), "a-b_c.d~e%20f%2Fg");
    }
}
