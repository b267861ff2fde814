//! The list endpoints (objects, manifest, one object, versions): decide
//! where to start, walk the entry table applying the filters, and emit the
//! page as slices of the mapping.
//!
//! Cost per request: parse the query, one binary search (added_after or
//! the token's keyset position), a walk over at most `limit` matches plus
//! the look-ahead for `more` (docs/decisions.md#d3), then one `Bytes` slice per
//! contiguous run of matches. No JSON is parsed and nothing is allocated
//! per object (the index list is one `Vec` of at most `limit` entries).
//! Collections that mix STIX 2.0 and 2.1 versions are the exception: there
//! version selection looks at an object's other versions ([`Selection`]).
//!
//! Keyset resume (docs/decisions.md#d4): a token holds a [`Position`], the sort key
//! `(date_added, id, version)` the page continues after. Because date_added
//! is stable across generations, superseded versions simply vanish and new
//! ones sort later, a token keeps its meaning across a reload.
//!
//! Default pages (no filters, the default page size) follow the feed's
//! stable page boundaries instead of counting `limit` items: a walk ends
//! where its default page ends and the `next` token is that page's
//! boundary. So the same request returns the same bytes in every
//! generation where that page did not change, and those bytes are exactly
//! the precompressed copies and the static export's files.

use super::query::{self, Filters, ListKind, ParamError, RawQuery, SpecSet, VersionMatch};
use super::response::TaxiiError;
use super::state::Served;
use crate::feed::token::{Endpoint, PageToken, Position};
use crate::feed::{CollectionFeed, Entry, PageKind, SpecVersion};
use crate::time;
use bytes::Bytes;

/// Which list resource, where.
pub struct Target<'a> {
    pub endpoint: Endpoint,
    pub root: &'a str,
    pub col_idx: usize,
    pub col_id: &'a str,
    pub object_id: Option<&'a str>,
}

impl Target<'_> {
    fn kind(&self) -> ListKind {
        match self.endpoint {
            Endpoint::Objects | Endpoint::Manifest => ListKind::Collection,
            Endpoint::Object => ListKind::Object,
            Endpoint::Versions => ListKind::Versions,
        }
    }
}

/// A request resolved against its token: what to walk and how far.
#[derive(Debug)]
pub struct Plan {
    pub filters: Filters,
    /// Canonical filter string (what the next token carries).
    pub canonical: String,
    /// Page size in effect.
    pub limit: u32,
    /// `limit` as the token records it: 0 when it is the default page size,
    /// so default pages mint the same tokens as the feed writer.
    pub token_limit: u32,
    /// Keyset position from `next`.
    pub resume: Option<Position>,
}

impl Plan {
    /// A default page request: unfiltered at the default page size.
    fn is_default(&self, served: &Served) -> bool {
        self.canonical.is_empty() && self.limit == served.page_size
    }
}

/// What a `next` token carries for these filters: the canonical string
/// itself (docs/decisions.md#d4: a client may send only `next`), or, when it would
/// not fit in a token, `#` + its digest (the client then sends the filters
/// again; a canonical string never starts with `#`).
fn token_filters(canonical: &str) -> String {
    if canonical.len() <= crate::feed::token::MAX_FIELD {
        canonical.to_string()
    } else {
        format!("#{}", filters_digest(canonical))
    }
}

fn filters_digest(canonical: &str) -> String {
    format!("{:032x}", xxhash_rust::xxh3::xxh3_128(canonical.as_bytes()))
}

fn bad(e: ParamError) -> TaxiiError {
    TaxiiError::bad_request(e.0)
}

fn processing(description: impl Into<String>) -> TaxiiError {
    TaxiiError::new(
        http::StatusCode::BAD_REQUEST,
        "ProcessingError",
        description,
    )
}

/// Parses the query and checks the token (docs/decisions.md#d4, #d5, #d7).
pub fn plan(
    served: &Served,
    t: &Target<'_>,
    query: Option<&str>,
    max_page: u32,
) -> Result<Plan, TaxiiError> {
    let kind = t.kind();
    let raw = query::parse_raw(query, kind).map_err(bad)?;
    let default_limit = served.page_size.min(max_page).max(1);
    let mut limit = match &raw.limit {
        Some(v) => Some(query::parse_limit(v, max_page).map_err(bad)?),
        None => None,
    };
    let (filters_raw, canonical, resume): (RawQuery, String, _) = match &raw.next {
        None => (raw.clone(), raw.canonical(), None),
        Some(next) => {
            let tok = PageToken::decode(next, &served.key)
                .map_err(|e| processing(format!("{e}; start again without next")))?;
            let same_place = tok.endpoint == t.endpoint
                && tok.api_root == t.root
                && tok.collection == t.col_id
                && tok.object_id.as_deref() == t.object_id;
            if !same_place {
                return Err(processing(
                    "this next token belongs to another endpoint, collection or object",
                ));
            }
            if limit.is_none() && tok.limit > 0 {
                limit = Some(tok.limit.min(max_page));
            }
            let resume = Some(tok.after);
            if let Some(digest) = tok.filters.strip_prefix('#') {
                // Filters too long to carry: the token holds their digest,
                // and the client must send them again (as taxii2-client
                // does).
                if !raw.has_filters() {
                    return Err(processing(
                        "this next token was issued for filters too long to carry in it: send the same filters again with it",
                    ));
                }
                let canonical = raw.canonical();
                if filters_digest(&canonical) != digest {
                    return Err(processing(
                        "the filters differ from those of the request that returned this next token; send the same filters",
                    ));
                }
                (raw.clone(), canonical, resume)
            } else {
                if raw.has_filters() && raw.canonical() != tok.filters {
                    return Err(processing(
                        "the filters differ from those of the request that returned this next token; send the same filters, or none",
                    ));
                }
                let parsed = query::parse_canonical(&tok.filters, kind).map_err(bad)?;
                (parsed, tok.filters, resume)
            }
        }
    };
    let filters = Filters::from_raw(&filters_raw, kind).map_err(bad)?;
    let limit = limit.unwrap_or(default_limit);
    Ok(Plan {
        filters,
        canonical,
        token_limit: if limit == served.page_size { 0 } else { limit },
        limit,
        resume,
    })
}

/// The result of a walk.
#[derive(Debug)]
pub struct Page {
    /// Entry indices returned, ascending.
    pub idx: Vec<usize>,
    /// Another item matches after the last one.
    pub more: bool,
    /// For a default page request: the default page the items come from,
    /// and whether they are all of it (not a tail of it).
    pub default: Option<(usize, bool)>,
}

/// First entry index at or after the keyset/added_after position.
fn start_index(cf: &CollectionFeed, plan: &Plan) -> usize {
    let mut lo = 0;
    if let Some(t) = plan.filters.added_after {
        lo = cf.first_after(t);
    }
    if let Some(p) = &plan.resume {
        lo = lo.max(cf.resume_after(p));
    }
    lo
}

/// Walks the entries for `t` under `plan`. `versions` is the object's entry
/// list for the object/versions endpoints.
pub fn walk(served: &Served, t: &Target<'_>, plan: &Plan, versions: Option<&[usize]>) -> Page {
    let cf = &served.feed.collections()[t.col_idx];
    if let Some(page) = default_walk(served, t, plan) {
        return page;
    }
    let f = &plan.filters;
    let type_ok: Option<Vec<bool>> = f.types.as_ref().map(|want| {
        cf.types()
            .iter()
            .map(|name| want.iter().any(|w| w == name))
            .collect()
    });
    let select = Selection {
        cf,
        spec: f.spec,
        version: &f.version,
        mixed: served.cols[t.col_idx].mixed_spec(cf),
        versions,
    };
    let matches = |i: usize, e: &Entry| -> bool {
        if let Some(mask) = &type_ok {
            if !mask.get(usize::from(e.type_id)).copied().unwrap_or(false) {
                return false;
            }
        }
        select.selects(i, e)
    };
    let start = start_index(cf, plan);
    let limit = plan.limit as usize;
    let mut idx = Vec::with_capacity(limit.min(1024));
    let mut more = false;

    // Candidates: the object's versions, the union of match[id]'s
    // versions, or the whole table from `start`.
    let id_list: Option<Vec<usize>> = match (versions, &f.ids) {
        (Some(v), _) => Some(v.to_vec()),
        (None, Some(ids)) => {
            let mut all: Vec<usize> = ids.iter().flat_map(|id| cf.versions_of(id)).collect();
            all.sort_unstable();
            all.dedup();
            Some(all)
        }
        (None, None) => None,
    };
    let mut visit = |i: usize| -> bool {
        let e = cf.entry(i);
        if matches(i, &e) {
            if idx.len() == limit {
                more = true;
                return false;
            }
            idx.push(i);
        }
        true
    };
    match id_list {
        Some(list) => {
            let from = list.partition_point(|&i| i < start);
            for &i in &list[from..] {
                if !visit(i) {
                    break;
                }
            }
        }
        None => {
            for i in start..cf.len() {
                if !visit(i) {
                    break;
                }
            }
        }
    }
    Page {
        idx,
        more,
        default: None,
    }
}

/// `match[spec_version]` and `match[version]` of one request, applied in
/// that order (docs/decisions.md#d21): the spec-version filter (default:
/// the latest spec version each object has) decides which versions of an
/// object take part, and `first`/`last` are chosen among those, so an
/// object never disappears because its newest version is of another spec
/// version (TAXII 2.1 sections 3.4.2 and 3.4.3: the server returns the
/// versions of the objects matching the rest of the request).
///
/// Whether an entry is selected depends on the entry and its object only,
/// never on where a walk starts: `more` look-ahead and `next` tokens see
/// the same selection on every page.
struct Selection<'a> {
    cf: &'a CollectionFeed,
    /// `None`: the default, the latest spec version of each object.
    spec: Option<SpecSet>,
    version: &'a VersionMatch,
    /// The collection holds both 2.0 and 2.1 versions. When it does not,
    /// every version of an object has the same spec version: the filter
    /// keeps all of them or none, and the feed's `first`/`last` flags are
    /// exact, so the common case costs nothing beyond the flags.
    mixed: bool,
    /// The object's entries, when the walk is over one object (object and
    /// versions endpoints): saves the id index lookup.
    versions: Option<&'a [usize]>,
}

impl Selection<'_> {
    fn selects(&self, i: usize, e: &Entry) -> bool {
        let v = self.version;
        if let Some(set) = self.spec {
            if !set.contains(e.spec_version) {
                return false;
            }
        }
        let any_version = v.all || v.at.binary_search(&e.version_us).is_ok();
        let flagged = (v.first && e.first) || (v.last && e.last);
        if !self.mixed {
            return any_version || flagged;
        }
        if !any_version && !v.first && !v.last {
            return false;
        }
        // The object's only version: of its latest spec version, and its
        // own first and last.
        if e.first && e.last {
            return true;
        }
        // Entries known to take part without looking at the object: any
        // entry an explicit filter kept, and a 2.1 version under the
        // default (2.1 is the latest spec version there is). A flag the
        // feed set over all versions stays true among fewer.
        let takes_part = self.spec.is_some() || e.spec_version == SpecVersion::V21;
        if takes_part && (any_version || flagged) {
            return true;
        }
        if self.spec.is_some_and(|s| s.v20 && s.v21) {
            // Every version takes part: the flags are exact.
            return false;
        }
        // Look at the object's versions: one id index lookup, paid only
        // in mixed collections, by entries of objects with several
        // versions that the shortcuts above could not decide.
        let looked_up;
        let all: &[usize] = match self.versions {
            Some(vs) => vs,
            None => {
                looked_up = self.cf.versions_of(self.cf.id_of(i));
                &looked_up
            }
        };
        let spec_of = |j: usize| {
            if j == i {
                e.spec_version
            } else {
                self.cf.entry(j).spec_version
            }
        };
        let latest = match self.spec {
            Some(_) => None,
            None => all.iter().map(|&j| spec_of(j)).max(),
        };
        let keep = |s: SpecVersion| match self.spec {
            Some(set) => set.contains(s),
            None => Some(s) == latest,
        };
        if !keep(e.spec_version) {
            return false;
        }
        if any_version {
            return true;
        }
        // The feed's order of versions: by version, then date_added, then
        // position (what its first/last flags use).
        let key = |j: usize, x: &Entry| (x.version_us, x.date_added_us, j);
        let mine = key(i, e);
        let (mut first, mut last) = (true, true);
        for &j in all {
            if j == i {
                continue;
            }
            let x = self.cf.entry(j);
            if !keep(x.spec_version) {
                continue;
            }
            if key(j, &x) < mine {
                first = false;
            } else {
                last = false;
            }
        }
        (v.first && first) || (v.last && last)
    }
}

/// The walk of a default page request: the items of the default page the
/// start falls in, from the start on. `None` when the request is not one
/// (filters, another page size, another endpoint, or a collection that
/// mixes STIX 2.0 and 2.1: the writer's default pages hold the latest
/// version of every object, but there the default selection is the latest
/// version of each object's latest spec version, see [`Selection`]).
fn default_walk(served: &Served, t: &Target<'_>, plan: &Plan) -> Option<Page> {
    if !matches!(t.endpoint, Endpoint::Objects | Endpoint::Manifest) || !plan.is_default(served) {
        return None;
    }
    let cf = &served.feed.collections()[t.col_idx];
    if served.cols[t.col_idx].mixed_spec(cf) {
        return None;
    }
    let start = start_index(cf, plan);
    let Some(p) = cf.page_at(start) else {
        return Some(Page {
            idx: Vec::new(),
            more: false,
            default: None,
        });
    };
    let r = cf.default_page_entries(p)?;
    let from = start.max(r.start);
    let idx = (from..r.end).filter(|&i| cf.entry(i).last).collect();
    Some(Page {
        idx,
        more: p + 1 < cf.default_page_count(),
        default: Some((p, from == r.start)),
    })
}

/// The `next` token for a page that has more.
pub fn next_token(served: &Served, t: &Target<'_>, plan: &Plan, page: &Page) -> String {
    let cf = &served.feed.collections()[t.col_idx];
    let after = page
        .default
        .and_then(|(p, _)| cf.page_end_cut(p))
        .unwrap_or_else(|| cf.position(page.idx[page.idx.len() - 1]));
    PageToken {
        endpoint: t.endpoint,
        api_root: t.root.to_string(),
        collection: t.col_id.to_string(),
        object_id: t.object_id.map(str::to_string),
        filters: token_filters(&plan.canonical),
        limit: plan.token_limit,
        after,
    }
    .encode(&served.key)
}

/// The uncompressed body, as chunks: exactly the feed's default-page bytes
/// when the request is a default page (FORMAT.md).
pub fn render(
    served: &Served,
    t: &Target<'_>,
    plan: &Plan,
    page: &Page,
    empty_as_list: bool,
    out: &mut super::body::Body,
) {
    let cf = &served.feed.collections()[t.col_idx];
    let key: &'static str = if t.endpoint == Endpoint::Versions {
        "versions"
    } else {
        "objects"
    };
    if page.idx.is_empty() {
        // docs/decisions.md#d1.
        out.push(Bytes::from_static(match (empty_as_list, key) {
            (false, _) => b"{}",
            (true, "versions") => b"{\"more\":false,\"versions\":[]}",
            (true, _) => b"{\"more\":false,\"objects\":[]}",
        }));
        return;
    }
    if page.more {
        let tok = next_token(served, t, plan, page);
        let mut head = String::with_capacity(tok.len() + 40);
        head.push_str("{\"more\":true,\"next\":\"");
        head.push_str(&tok);
        head.push_str("\",\"");
        head.push_str(key);
        head.push_str("\":[");
        out.push(Bytes::from(head));
    } else {
        out.push(Bytes::from_static(if key == "versions" {
            b"{\"more\":false,\"versions\":["
        } else {
            b"{\"more\":false,\"objects\":["
        }));
    }
    if t.endpoint == Endpoint::Versions {
        let mut s = String::with_capacity(page.idx.len() * 30);
        for (n, &i) in page.idx.iter().enumerate() {
            if n > 0 {
                s.push(',');
            }
            s.push('"');
            time::push_version(&mut s, cf.entry(i).version_us);
            s.push('"');
        }
        out.push(Bytes::from(s));
    } else {
        let manifest = t.endpoint == Endpoint::Manifest;
        let mut run_start = page.idx[0];
        let mut prev = run_start;
        let mut first_run = true;
        let mut emit = |a: usize, b: usize, out: &mut super::body::Body| {
            if !first_run {
                out.push(Bytes::from_static(b","));
            }
            first_run = false;
            out.push(if manifest {
                cf.manifest_run(a, b)
            } else {
                cf.objects_run(a, b)
            });
        };
        for &i in &page.idx[1..] {
            if i != prev + 1 {
                emit(run_start, prev + 1, out);
                run_start = i;
            }
            prev = i;
        }
        emit(run_start, prev + 1, out);
    }
    out.push(Bytes::from_static(b"]}"));
}

/// The precompressed page this request may use: a whole default page.
pub fn default_page(t: &Target<'_>, page: &Page) -> Option<(PageKind, usize)> {
    let kind = match t.endpoint {
        Endpoint::Objects => PageKind::Objects,
        Endpoint::Manifest => PageKind::Manifest,
        _ => return None,
    };
    match page.default {
        Some((p, true)) => Some((kind, p)),
        _ => None,
    }
}
