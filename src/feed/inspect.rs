//! `inspect`: a human (and `--json`) summary of a feed file, for operators
//! checking what a generation holds before or after it goes live.
//!
//! It walks the entry table (O(entries), no JSON parsing), so it is cheap
//! even on large feeds, and reports the section sizes straight from the
//! section table.

use super::format::*;
use super::{Coding, Feed, PageKind};
use crate::time;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct InspectReport {
    pub path: String,
    pub generation: String,
    /// RFC 3339, microseconds.
    pub created: String,
    pub file_bytes: u64,
    pub format_version: u32,
    pub title: String,
    pub page_size: u32,
    pub api_roots: Vec<String>,
    pub collections: Vec<CollectionReport>,
}

/// One collection.
#[derive(Debug, Clone, Serialize)]
pub struct CollectionReport {
    pub id: String,
    pub alias: Option<String>,
    pub title: String,
    pub api_root: String,
    pub taxii_versions: Vec<String>,
    /// Object versions.
    pub entries: u64,
    /// Distinct object ids.
    pub objects: u64,
    /// Per STIX type: versions and distinct objects.
    pub types: BTreeMap<String, TypeCount>,
    /// Versions per STIX spec version.
    pub spec_versions: BTreeMap<String, u64>,
    pub date_added_first: Option<String>,
    pub date_added_last: Option<String>,
    pub has_stix20: bool,
    pub sections: Vec<SectionReport>,
    pub pages: PageReport,
}

/// Counts of one STIX type.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TypeCount {
    pub entries: u64,
    pub objects: u64,
}

/// Size of one section.
#[derive(Debug, Clone, Serialize)]
pub struct SectionReport {
    pub kind: String,
    pub bytes: u64,
}

/// Precompressed default pages.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PageReport {
    pub count: u64,
    pub objects_gzip_bytes: u64,
    pub objects_zstd_bytes: u64,
    pub manifest_gzip_bytes: u64,
    pub manifest_zstd_bytes: u64,
}

/// Summarizes `feed` (see [`InspectReport`]).
pub fn inspect(feed: &Feed) -> InspectReport {
    let meta = feed.meta();
    let collections = feed
        .collections()
        .iter()
        .map(|c| {
            let cm = &meta.collections[c.index()];
            let mut types: BTreeMap<String, TypeCount> = BTreeMap::new();
            let mut spec_versions: BTreeMap<String, u64> = BTreeMap::new();
            let mut objects = 0;
            for i in 0..c.len() {
                let e = c.entry(i);
                let name = c
                    .types()
                    .get(usize::from(e.type_id))
                    .map_or("?", |s| s.as_str());
                let t = types.entry(name.to_string()).or_default();
                t.entries += 1;
                if e.last {
                    t.objects += 1;
                    objects += 1;
                }
                *spec_versions
                    .entry(e.spec_version.as_str().to_string())
                    .or_default() += 1;
            }
            let mut sections: Vec<SectionReport> = feed
                .sections
                .iter()
                .filter(|s| s.collection == c.index() as u32)
                .map(|s| SectionReport {
                    kind: Kind::from_code(s.kind)
                        .map_or("?", |k| k.name())
                        .to_string(),
                    bytes: s.len,
                })
                .collect();
            sections.sort_by_key(|s| std::cmp::Reverse(s.bytes));
            let mut pages = PageReport {
                count: c.default_page_count() as u64,
                ..Default::default()
            };
            for p in 0..c.default_page_count() {
                let size = |k, cd| c.precompressed(k, p, cd).map_or(0, |b| b.len() as u64);
                pages.objects_gzip_bytes += size(PageKind::Objects, Coding::Gzip);
                pages.objects_zstd_bytes += size(PageKind::Objects, Coding::Zstd);
                pages.manifest_gzip_bytes += size(PageKind::Manifest, Coding::Gzip);
                pages.manifest_zstd_bytes += size(PageKind::Manifest, Coding::Zstd);
            }
            CollectionReport {
                id: cm.id.clone(),
                alias: cm.alias.clone(),
                title: cm.title.clone(),
                api_root: cm.api_root.clone(),
                taxii_versions: cm.taxii_versions.clone(),
                entries: c.len() as u64,
                objects,
                types,
                spec_versions,
                date_added_first: (!c.is_empty()).then(|| time::fmt_us(c.date_added(0))),
                date_added_last: (!c.is_empty()).then(|| time::fmt_us(c.date_added(c.len() - 1))),
                has_stix20: c.has_objects20(),
                sections,
                pages,
            }
        })
        .collect();
    InspectReport {
        path: feed.path().display().to_string(),
        generation: meta.generation.clone(),
        created: time::fmt_us(meta.created_us),
        file_bytes: feed.file_len(),
        format_version: FORMAT_VERSION,
        title: meta.title.clone(),
        page_size: meta.page_size,
        api_roots: meta.api_roots.iter().map(|r| r.name.clone()).collect(),
        collections,
    }
}

impl fmt::Display for InspectReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "feed file   {}", self.path)?;
        writeln!(f, "generation  {}", self.generation)?;
        writeln!(f, "created     {}", self.created)?;
        writeln!(
            f,
            "size        {} bytes (format version {})",
            self.file_bytes, self.format_version
        )?;
        writeln!(f, "title       {}", self.title)?;
        writeln!(f, "api roots   {}", self.api_roots.join(", "))?;
        writeln!(f, "page size   {}", self.page_size)?;
        for c in &self.collections {
            writeln!(f)?;
            writeln!(f, "collection  {} ({})", c.id, c.title)?;
            if let Some(a) = &c.alias {
                writeln!(f, "  alias         {a}")?;
            }
            writeln!(
                f,
                "  api root      {} (TAXII {})",
                c.api_root,
                c.taxii_versions.join(", ")
            )?;
            writeln!(
                f,
                "  entries       {} versions of {} objects",
                c.entries, c.objects
            )?;
            for (name, t) in &c.types {
                writeln!(
                    f,
                    "    {name:<24} {:>10} versions {:>10} objects",
                    t.entries, t.objects
                )?;
            }
            let specs: Vec<String> = c
                .spec_versions
                .iter()
                .map(|(v, n)| format!("{v}: {n}"))
                .collect();
            writeln!(
                f,
                "  spec versions {}",
                if specs.is_empty() {
                    "-".into()
                } else {
                    specs.join(", ")
                }
            )?;
            match (&c.date_added_first, &c.date_added_last) {
                (Some(a), Some(b)) => writeln!(f, "  date_added    {a} .. {b}")?,
                _ => writeln!(f, "  date_added    - (empty)")?,
            }
            writeln!(
                f,
                "  STIX 2.0      {}",
                if c.has_stix20 { "yes" } else { "no" }
            )?;
            let p = &c.pages;
            writeln!(
                f,
                "  pages         {} (objects gzip {} / zstd {} bytes, manifest gzip {} / zstd {} bytes)",
                p.count, p.objects_gzip_bytes, p.objects_zstd_bytes, p.manifest_gzip_bytes, p.manifest_zstd_bytes
            )?;
            let secs: Vec<String> = c
                .sections
                .iter()
                .map(|s| format!("{} {}", s.kind, s.bytes))
                .collect();
            writeln!(f, "  sections      {}", secs.join(", "))?;
        }
        Ok(())
    }
}
