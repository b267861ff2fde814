//! TTLs and mappings: the global tables, each readable collection's
//! overrides, and the input profiles' default mappings (what `taxii-edge
//! mappings --profile` prints), side by side. From the config the server
//! runs with, which is the one its feed was compiled from when both are
//! deployed together.

use super::collections::config_of;
use super::{layout, Ctx, Nav};
use crate::mapping::default_mappings;
use crate::record::{IndicatorType, Profile};
use maud::{html, Markup};
use std::collections::BTreeMap;

fn hours(h: Option<&i64>) -> Markup {
    html! {
        @match h {
            None => span.muted { "—" },
            Some(h) if *h < 0 => { "never expires" }
            Some(h) => { (h) " h" }
        }
    }
}

fn mapping_table(m: &BTreeMap<String, String>) -> Markup {
    html! {
        @if m.is_empty() {
            p.muted { "None: the profile defaults apply." }
        } @else {
            table {
                tr { th { "STIX property" } th { "JMESPath" } }
                @for (k, v) in m { tr { td { code { (k) } } td { code { (v) } } } }
            }
        }
    }
}

pub(super) fn page(ctx: &Ctx<'_>) -> Markup {
    let cfg = ctx.shared.config();
    let meta = ctx.served.feed.meta();
    let cols: Vec<_> = ctx
        .readable()
        .into_iter()
        .filter_map(|i| {
            let m = &meta.collections[i];
            config_of(&cfg, m).map(|(c, _)| (m, c))
        })
        .collect();
    let body = html! {
        h1 { "TTLs and mappings" }
        h2 { "TTL (hours until valid_until)" }
        p.muted { "A collection's entry for a type wins, then the global entry, then the collection's default, then the global default; without any, indicators never expire." }
        table id="ttl" {
            tr {
                th { "Indicator type" } th { "Built-in" } th { "Global" }
                @for (m, _) in &cols { th { (m.title) } }
            }
            @for t in std::iter::once("default").chain(IndicatorType::ALL.iter().map(|t| t.as_str())) {
                tr {
                    td { code { (t) } }
                    td { span.muted { "never expires" } }
                    td { (hours(cfg.ttl.0.get(t))) }
                    @for (_, c) in &cols { td { (hours(c.ttl.0.get(t))) } }
                }
            }
        }
        h2 { "Global mappings" }
        (mapping_table(&cfg.mappings))
        @for (m, c) in &cols {
            h2 { "Mappings of " (m.title) }
            @if c.mappings.is_empty() { p.muted { span.label { "Default" } " global mappings and profile defaults apply." } }
            @else { p { span.label.custom { "Custom" } } (mapping_table(&c.mappings)) }
        }
        h2 { "Profile defaults" }
        p.muted { "What each input profile maps before the global and collection mappings (taxii-edge mappings --profile NAME)." }
        @for prof in Profile::ALL {
            h2 { (prof.as_str()) }
            @let d = default_mappings(prof);
            @if d.is_empty() { p.muted { "No default mappings." } }
            @else {
                table {
                    tr { th { "STIX property" } th { "JMESPath" } }
                    @for (k, v) in d { tr { td { code { (k) } } td { code { (v) } } } }
                }
            }
        }
    };
    layout(ctx, "TTLs and mappings", Nav::Settings, body)
}
