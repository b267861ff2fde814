//! The overview: which generation is served, what its compile read, how
//! big it is, and where the TAXII endpoints are.

use super::{copyable, layout, when, Caller, Ctx, Nav};
use maud::{html, Markup};

pub(super) fn page(ctx: &Ctx<'_>) -> Markup {
    let feed = &ctx.served.feed;
    let meta = feed.meta();
    let uptime = ctx.shared.settings.started.elapsed().as_secs();
    let readable = ctx.readable();
    let body = html! {
        h1 { "Overview" }
        div.card {
            dl.facts {
                dt { "Generation" } dd { code { (meta.generation) } }
                dt { "Compiled" } dd { (when(meta.created_us)) }
                dt { "Feed file size" } dd { (bytes(feed.file_len())) }
                dt { "Server" } dd { "taxii-edge " (env!("CARGO_PKG_VERSION")) ", up " (duration(uptime)) }
                dt { "TAXII base URL" } dd { (copyable(&ctx.api_base, "URL")) }
                dt { "Discovery" } dd {
                    a href=(ctx.taxii_href("taxii2/")) { "taxii2/" } " (TAXII 2.1) · "
                    a href=(ctx.taxii_href("taxii/")) { "taxii/" } " (TAXII 2.0)"
                }
                dt { "API roots" } dd {
                    @for r in &meta.api_roots {
                        a href=(ctx.taxii_href(&format!("{}/", super::enc(&r.name)))) { (r.name) "/" }
                        " " span.muted { (r.title) }
                        @if r.default { " " span.label { "default" } }
                        br;
                    }
                }
            }
        }
        h2 { "Collections you can read" }
        @if readable.is_empty() {
            p.muted { "None." @if ctx.can_log_in() { " Log in to see more." } }
        } @else {
            table {
                tr { th { "Collection" } th { "API root" } th { "Object versions" } }
                @for &i in &readable {
                    @let m = &meta.collections[i];
                    tr {
                        td { a href={ (ctx.ui) "collections/" (super::enc(&m.api_root)) "/" (super::enc(&m.id)) } { (m.title) } }
                        td { (m.api_root) }
                        td.num { (feed.collections()[i].len()) }
                    }
                }
            }
        }
        h2 { "Compile" }
        @match &meta.compile {
            // Input paths and reject reasons describe the server, not a
            // collection: shown to signed-in users only (docs/decisions.md#d68).
            Some(_) if *ctx.caller == Caller::Anonymous => p.muted { "Log in to see what the compile read." },
            None => p.muted { "Not recorded: this feed was written before compiles recorded their inputs." },
            Some(c) => {
                p {
                    (c.records_read) " records read, " (c.records_ok) " usable, "
                    (c.records_read.saturating_sub(c.records_ok)) " rejected"
                    @if c.duplicates > 0 { ", " (c.duplicates) " merged duplicates" }
                    "."
                }
                @if !c.files.is_empty() {
                    table {
                        tr { th { "Input file" } th { "Profile" } th { "Size" } th { "Records" } th { "Rejected" } }
                        @for f in &c.files {
                            tr {
                                td { code { (f.path) } }
                                td { (f.profile) }
                                td.num { (bytes(f.bytes)) }
                                td.num { (f.records) }
                                td.num { (f.rejected) }
                            }
                        }
                    }
                }
                @if !c.rejected.is_empty() {
                    table {
                        tr { th { "Rejected because" } th { "Records" } }
                        @for (why, n) in &c.rejected {
                            tr { td { (why) } td.num { (n) } }
                        }
                    }
                }
            }
        }
    };
    layout(ctx, "Overview", Nav::Overview, body)
}

/// `1.2 MB` style sizes (decimal units).
pub(super) fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < UNITS.len() {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// `3d 4h 5m` style durations.
fn duration(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {s}s"),
        (0, _, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h {m}m"),
    }
}
