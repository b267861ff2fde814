//! The collections page: every collection the caller may read, with what
//! the config says about it (query, owners, TTL, mappings, readers) and
//! what its objects are (counts by kind, expired, revoked, date_added
//! range).

use super::stats::Stats;
use super::{copyable, layout, when, Ctx, Nav};
use crate::config::{CollectionConfig, Config};
use crate::feed::CollectionMeta;
use maud::{html, Markup};

/// The config entry serving collection `m`: its `[[collections]]` entry,
/// or the built-in owner collection it is (`true`).
pub(super) fn config_of(cfg: &Config, m: &CollectionMeta) -> Option<(CollectionConfig, bool)> {
    let own = cfg
        .collections
        .iter()
        .find(|c| c.id.as_deref().map(str::to_ascii_lowercase).as_deref() == Some(m.id.as_str()));
    match own {
        Some(c) => Some((c.clone(), false)),
        None => crate::config::owners::served_config(cfg, m).map(|c| (c, true)),
    }
}

/// The figures of collection `i`, computed on first use in this generation.
pub(super) fn stats<'a>(ctx: &Ctx<'a>, i: usize) -> &'a Stats {
    ctx.served.cols[i]
        .console
        .get_or_init(|| Stats::compute(&ctx.served.feed.collections()[i]))
}

/// Reader names in a stable order.
fn sorted(names: &std::collections::HashSet<String>) -> Vec<&str> {
    let mut v: Vec<&str> = names.iter().map(String::as_str).collect();
    v.sort_unstable();
    v
}

fn custom(is_custom: bool) -> Markup {
    html! {
        @if is_custom { span.label.custom { "Custom" } } @else { span.label { "Default" } }
    }
}

pub(super) fn page(ctx: &Ctx<'_>) -> Markup {
    let cfg = ctx.shared.config();
    let meta = ctx.served.feed.meta();
    let readable = ctx.readable();
    let now = crate::time::now();
    let body = html! {
        h1 { "Collections" }
        @if readable.is_empty() {
            p.muted { "You cannot read any collection." @if ctx.can_log_in() { " Log in to see more." } }
        }
        table id="collections" {
            tr {
                th { "Collection" } th { "Selection" } th { "Settings" } th { "Access" } th { "Objects" }
            }
            @for &i in &readable {
                @let m = &meta.collections[i];
                @let cf = &ctx.served.feed.collections()[i];
                @let st = stats(ctx, i);
                @let conf = config_of(&cfg, m);
                @let objects = format!("{}/collections/{}/objects/", super::enc(&m.api_root), super::enc(&m.id));
                @let col = &ctx.served.cols[i];
                tr.collection data-id=(m.id) {
                    td {
                        a.title href={ (ctx.ui) "collections/" (super::enc(&m.api_root)) "/" (super::enc(&m.id)) } { strong { (m.title) } }
                        @if conf.as_ref().is_some_and(|c| c.1) { " " span.label.builtin { "Built-In" } }
                        br;
                        @if let Some(a) = &m.alias { "alias " code { (a) } br; }
                        "id " (copyable(&m.id, "id")) br;
                        span.objects-url { (copyable(&ctx.taxii_url(&objects), "URL")) }
                        @if let Some(d) = &m.description { br; span.muted { (d) } }
                    }
                    td {
                        @match &conf {
                            Some((c, _)) => {
                                "query " @if c.query.trim().is_empty() { span.muted { "(every record)" } } @else { code { (c.query) } }
                                @if !c.owners.is_empty() {
                                    br; "owners "
                                    @for (k, o) in c.owners.iter().enumerate() {
                                        @if k > 0 { ", " } code { (o) }
                                    }
                                }
                            }
                            None => span.muted { "not in the config" },
                        }
                    }
                    td {
                        @if let Some((c, _)) = &conf {
                            "TTL " (custom(!c.ttl.0.is_empty())) br;
                            "mappings " (custom(!c.mappings.is_empty())) br;
                        }
                        "TAXII " (m.taxii_versions.join(", "))
                    }
                    td {
                        @if col.anonymous { "anonymous" br; }
                        @if col.all_users { "every user" br; }
                        @else if !col.readers.is_empty() {
                            "readers " (sorted(&col.readers).join(", "))
                        }
                    }
                    td {
                        (st.objects) " objects (" (cf.len()) " versions)"
                        @if !st.kinds.is_empty() {
                            table.kinds {
                                @for (k, n) in &st.kinds { tr { td { code { (k) } } td.num { (n) } } }
                            }
                        }
                        span.expired { (st.expired(now)) " expired" } ", "
                        span.revoked { (st.revoked) " revoked" }
                        @if !cf.is_empty() {
                            br; "added " (when(cf.date_added(0))) " – " (when(cf.date_added(cf.len() - 1)))
                        }
                    }
                }
            }
        }
    };
    layout(ctx, "Collections", Nav::Collections, body)
}
