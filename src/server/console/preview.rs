//! A collection's objects, a page at a time, in the feed's own order
//! (date_added): the latest version of each object, as the TAXII objects
//! endpoint lists them by default, so the two can be compared id for id.
//!
//! Paging is by position in the entry table: `start` is an entry index,
//! and `page=N` jumps to index `(N - 1) × size`, so page 5,000 of a
//! million objects costs what page 1 does (no pass over what comes
//! before). Filters (STIX type, text in the indicator value,
//! `added_after`) walk forward from there until the page is full, reading
//! at most [`SCAN_BUDGET`] entries per request; a page cut short by the
//! budget says so and links to where it stopped. Only the rows shown are
//! parsed.

use super::stats::{pattern_value, string_field};
use super::{layout, query_pairs, when, Ctx, Nav};
use crate::feed::CollectionFeed;
use crate::stix::marking;
use maud::{html, Markup};
use serde_json::Value;

/// Rows per page unless `size` says otherwise.
const DEFAULT_SIZE: usize = 50;
/// Largest `size` honoured.
const MAX_SIZE: usize = 500;
/// Entries one request reads at most while filtering.
const SCAN_BUDGET: usize = 200_000;

/// The filters and position of one preview request.
#[derive(Default)]
struct Params {
    start: usize,
    size: usize,
    stix_type: String,
    text: String,
    added_after: String,
}

impl Params {
    fn parse(q: Option<&str>, n: usize) -> Params {
        let mut p = Params {
            size: DEFAULT_SIZE,
            ..Params::default()
        };
        let mut page = None;
        for (k, v) in query_pairs(q) {
            match k.as_str() {
                "start" => p.start = v.parse().unwrap_or(0),
                "page" => page = v.parse::<usize>().ok(),
                "size" => p.size = v.parse().unwrap_or(DEFAULT_SIZE).clamp(1, MAX_SIZE),
                "type" => p.stix_type = v.trim().to_string(),
                "q" => p.text = v.trim().to_string(),
                "added_after" => p.added_after = v.trim().to_string(),
                _ => {}
            }
        }
        if let Some(page) = page {
            p.start = page.saturating_sub(1).saturating_mul(p.size);
        }
        p.start = p.start.min(n);
        p
    }

    /// The query string of this request at entry `start`.
    fn at(&self, start: usize) -> String {
        let mut s = format!("?start={start}&size={}", self.size);
        for (k, v) in [
            ("type", &self.stix_type),
            ("q", &self.text),
            ("added_after", &self.added_after),
        ] {
            if !v.is_empty() {
                s.push_str(&format!("&{k}={}", super::enc(v)));
            }
        }
        s
    }

    fn filtered(&self) -> bool {
        !(self.stix_type.is_empty() && self.text.is_empty() && self.added_after.is_empty())
    }
}

/// What one page found.
struct Walk {
    rows: Vec<usize>,
    /// The entry index to continue from (`None`: the end was reached).
    next: Option<usize>,
    /// The walk stopped on [`SCAN_BUDGET`], not on a full page.
    budget_hit: bool,
    /// The first entry index looked at (after `added_after`).
    from: usize,
}

fn walk(cf: &CollectionFeed, p: &Params, after: Option<i64>) -> Walk {
    let n = cf.len();
    let mut i = p.start;
    if let Some(t) = after {
        i = i.max(cf.first_after(t));
    }
    let from = i;
    let type_id = if p.stix_type.is_empty() {
        None
    } else {
        // A type no entry has: nothing matches.
        Some(cf.type_id(&p.stix_type).unwrap_or(u16::MAX))
    };
    let needle = p.text.to_lowercase();
    let mut rows = Vec::with_capacity(p.size);
    let mut scanned = 0;
    while i < n && rows.len() < p.size && scanned < SCAN_BUDGET {
        let e = cf.entry(i);
        scanned += 1;
        let keep = e.last
            && type_id.is_none_or(|t| t == e.type_id)
            && (needle.is_empty()
                || value_of(&cf.object_bytes(i))
                    .to_lowercase()
                    .contains(&needle));
        if keep {
            rows.push(i);
        }
        i += 1;
    }
    Walk {
        budget_hit: i < n && rows.len() < p.size,
        next: (i < n).then_some(i),
        rows,
        from,
    }
}

/// The indicator value of an object (its pattern's first literal), else
/// its `name`, else nothing.
fn value_of(obj: &[u8]) -> String {
    string_field(obj, b"\"pattern\":")
        .and_then(|p| pattern_value(&p))
        .or_else(|| string_field(obj, b"\"name\":"))
        .unwrap_or_default()
}

/// The TLP name of a standard marking-definition id.
fn tlp_name(id: &str) -> Option<&'static str> {
    Some(match id {
        marking::TLP1_WHITE => "TLP:WHITE",
        marking::TLP1_GREEN => "TLP:GREEN",
        marking::TLP1_AMBER => "TLP:AMBER",
        marking::TLP1_RED => "TLP:RED",
        marking::TLP2_CLEAR => "TLP:CLEAR",
        marking::TLP2_GREEN => "TLP:GREEN",
        marking::TLP2_AMBER => "TLP:AMBER",
        marking::TLP2_AMBER_STRICT => "TLP:AMBER+STRICT",
        marking::TLP2_RED => "TLP:RED",
        _ => return None,
    })
}

/// `None` when `root`/`col` is no collection the caller may read (a 404
/// either way, so the page tells nothing about collections it hides).
pub(super) fn page(ctx: &Ctx<'_>, root: &str, col: &str) -> Option<Markup> {
    let i = ctx.served.find_collection(root, col)?;
    if !ctx.served.readable(i, ctx.caller) {
        return None;
    }
    let m = &ctx.served.feed.meta().collections[i];
    let cf = &ctx.served.feed.collections()[i];
    let n = cf.len();
    let p = Params::parse(ctx.query, n);
    let after = (!p.added_after.is_empty())
        .then(|| crate::time::parse_lenient(&p.added_after).ok())
        .flatten();
    let bad_after = !p.added_after.is_empty() && after.is_none();
    let w = walk(cf, &p, after);
    let now = crate::time::now();
    let here = format!(
        "{}collections/{}/{}",
        ctx.ui,
        super::enc(&m.api_root),
        super::enc(&m.id)
    );
    let objects = format!(
        "{}/collections/{}/objects/",
        super::enc(&m.api_root),
        super::enc(&m.id)
    );
    let last_shown = w.rows.last().map_or(w.from, |&r| r + 1);
    let body = html! {
        h1 { (m.title) }
        p {
            "API root " code { (m.api_root) } " · TAXII objects: "
            a href=(ctx.taxii_href(&objects)) { code { (ctx.taxii_url(&objects)) } }
        }
        form.filters method="get" action=(here) {
            label { "Type" select name="type" {
                option value="" selected[p.stix_type.is_empty()] { "any" }
                @for t in cf.types() {
                    option value=(t) selected[*t == p.stix_type] { (t) }
                }
            } }
            label { "Value contains" input type="search" name="q" value=(p.text); }
            label { "Added after" input type="text" name="added_after" placeholder="2024-01-01T00:00:00Z" value=(p.added_after); }
            label { "Rows" input type="number" name="size" min="1" max=(MAX_SIZE) value=(p.size); }
            button type="submit" { "Filter" }
        }
        @if bad_after {
            p.expired { "added_after is not a timestamp (2024-01-01T00:00:00Z); ignored." }
        }
        p.muted {
            @if w.rows.is_empty() { "No objects" } @else { "Entries " (w.from + 1) "–" (last_shown) }
            " of " (n) " object versions in date_added order (latest version of each object shown)."
            @if !p.filtered() && n > 0 { " Page " (p.start / p.size + 1) " of " (n.div_ceil(p.size)) "." }
        }
        @if w.budget_hit {
            p.expired { "Searched " (SCAN_BUDGET) " entries without filling the page; continue with Next." }
        }
        table id="objects" {
            tr {
                th { "Type" } th { "Value" } th { "Name" } th { "Confidence" } th { "TLP" }
                th { "Valid from" } th { "Valid until" } th { "Revoked" } th { "Added" } th { "JSON" }
            }
            @for &r in &w.rows {
                @let id = cf.id_of(r);
                @let obj: Value = serde_json::from_slice(&cf.object_bytes(r)).unwrap_or(Value::Null);
                @let s = |k: &str| obj.get(k).and_then(Value::as_str).map(str::to_string);
                @let value = s("pattern").and_then(|p| pattern_value(&p));
                @let until = s("valid_until");
                @let expired = until.as_deref().and_then(|u| crate::time::parse_rfc3339(u).ok()).is_some_and(|u| u <= now);
                @let tlp = obj.get("object_marking_refs").and_then(Value::as_array)
                    .and_then(|a| a.iter().filter_map(Value::as_str).find_map(tlp_name));
                @let href = ctx.taxii_href(&format!("{objects}{}/", super::enc(id)));
                tr.object data-id=(id) {
                    td { (s("type").unwrap_or_default()) }
                    td.value { @if let Some(v) = &value { code { (v) } } }
                    td { (s("name").unwrap_or_default()) }
                    td.num { @if let Some(c) = obj.get("confidence") { (c) } }
                    td { (tlp.unwrap_or("")) }
                    td { (s("valid_from").unwrap_or_default()) }
                    td { (until.clone().unwrap_or_default()) @if expired { " " span.expired { "expired" } } }
                    td { @if obj.get("revoked").and_then(Value::as_bool) == Some(true) { span.revoked { "revoked" } } }
                    td { (when(cf.date_added(r))) }
                    td { a href=(href) title=(id) { "object" } " · " a href={ (href) "versions/" } { "versions" } }
                }
            }
        }
        p.pager {
            @if p.start > 0 || w.from > 0 {
                a id="first" href={ (here) (p.at(0)) } { "First" }
                @if !p.filtered() { a id="prev" href={ (here) (p.at(p.start.saturating_sub(p.size))) } { "Previous" } }
            }
            @if let Some(next) = w.next { a id="next" href={ (here) (p.at(next)) } { "Next" } }
        }
    };
    Some(layout(ctx, &m.title, Nav::Collections, body))
}
