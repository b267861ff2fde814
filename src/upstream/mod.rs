//! Upstream TAXII servers as inputs (`[[inputs]]` with `taxii = { … }`):
//! at the start of a compile, each source's collections are fetched from
//! where the last compile stopped into a local cache beside the feed, and
//! the cached objects are read like a `stix` input (docs/decisions.md#d73).
//!
//! - [`http`]: the agent (TLS, client certificate, proxy, time limit) and
//!   retries with backoff.
//! - [`taxii`]: discovery, collections and pages, TAXII 2.1 and 2.0.
//! - [`cache`]: the cached objects and the cursor file.
//! - [`indicators`]: STIX indicators with a simple pattern as native
//!   records, so that they also compile as canonical indicators.
//!
//! A source that fails (the server down past `retry_for`, an HTTP error, a
//! bad answer) keeps what its cache already holds, so the new generation
//! still carries its objects, and the summary names the failure; with
//! `--strict` the compile stops instead. A source whose config cannot be
//! used (a key file missing, a wrong passphrase) always stops it.

mod cache;
mod http;
mod indicators;
mod taxii;

use crate::config::upstream::TaxiiSource;
use crate::config::Config;
use crate::record::Profile;
use crate::time::{self, Micros};
use cache::{Cursor, Cursors, Objects, Resume};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;
use taxii::{Collection, Position, Version};

/// What one source's fetch did, for the compile summary.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SourceReport {
    /// The input's `name`.
    pub name: String,
    pub url: String,
    /// The TAXII version spoken (`None` when discovery failed).
    pub version: Option<String>,
    /// HTTP requests sent, retries included.
    pub requests: u64,
    pub retries: u64,
    /// Why the source, or one of its collections, was not fetched whole
    /// this time (its cached objects are still compiled).
    pub failed: Option<String>,
    pub collections: Vec<CollectionFetch>,
    pub ms: u64,
}

/// One upstream collection's fetch.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CollectionFetch {
    pub id: String,
    pub title: String,
    /// New objects fetched this time.
    pub fetched: u64,
    /// Objects in the cache now (what the compile reads).
    pub cached: u64,
    /// Of the cached objects, the indicators with a simple pattern, also
    /// compiled as canonical indicators (native records).
    pub indicators: u64,
    /// The cursor after this fetch: objects added up to it are cached.
    pub cursor: Option<String>,
    pub failed: Option<String>,
    /// Something the server did that costs refetching (no
    /// `X-TAXII-Date-Added-Last`).
    pub warning: Option<String>,
}

/// One cache file to compile.
#[derive(Debug, Clone)]
pub struct CacheFile {
    pub path: PathBuf,
    /// The `file` query field of its records: `taxii:NAME` for the STIX
    /// objects, `taxii:NAME/indicators` for the canonical indicators.
    pub label: String,
    /// `stix` or `native`.
    pub profile: Profile,
}

/// The cache files to compile, and the reports.
pub struct Refreshed {
    pub files: Vec<CacheFile>,
    pub reports: Vec<SourceReport>,
    /// The cache directories stay locked until this is dropped: the
    /// compile keeps it until it has read the files.
    locks: Vec<std::fs::File>,
}

/// An upstream problem that stops the compile.
#[derive(Debug, thiserror::Error)]
#[error("upstream {name}: {message}")]
pub struct UpstreamError {
    pub name: String,
    pub message: String,
}

/// The directory of the upstream caches of the feed `live`:
/// `<feed>.upstream/` beside it.
pub fn cache_root(live: &Path) -> PathBuf {
    let mut name = live.file_name().unwrap_or_default().to_os_string();
    name.push(".upstream");
    live.with_file_name(name)
}

/// Fetches every `taxii` input of `cfg` into its cache under
/// [`cache_root`]`(live)`.
pub fn refresh(
    cfg: &Config,
    live: &Path,
    strict: bool,
    now: Micros,
) -> Result<Refreshed, UpstreamError> {
    let mut out = Refreshed {
        files: Vec::new(),
        reports: Vec::new(),
        locks: Vec::new(),
    };
    for (name, src) in cfg.inputs.iter().filter_map(|i| i.upstream()) {
        let fail = |message: String| UpstreamError {
            name: name.to_string(),
            message,
        };
        let dir = cache_root(live).join(name);
        std::fs::create_dir_all(&dir).map_err(|e| fail(format!("{}: {e}", dir.display())))?;
        out.locks.push(cache::lock(&dir).map_err(fail)?);
        let started = Instant::now();
        let mut client = http::Client::new(src, &cfg.base_dir()).map_err(fail)?;
        let mut cursors = Cursors::load(&dir).map_err(fail)?;
        if cursors.url != src.url {
            // Another server: its cache is not this one's. The emptied
            // cursor file is written before the objects go, so that no
            // cursor ever outlives the objects it covers.
            let old: Vec<String> = std::mem::take(&mut cursors.collections)
                .into_keys()
                .collect();
            cursors.url = src.url.clone();
            cursors.save(&dir).map_err(fail)?;
            for id in old {
                let _ = std::fs::remove_file(cache::objects_path(&dir, &id));
                let _ = std::fs::remove_file(cache::indicators_path(&dir, &id));
            }
        }
        let mut report = SourceReport {
            name: name.to_string(),
            url: src.url.clone(),
            ..SourceReport::default()
        };
        let fetched = fetch_source(&mut client, src, &dir, &mut cursors, now, &mut report);
        report.requests = client.requests;
        report.retries = client.retries;
        report.ms = started.elapsed().as_millis() as u64;
        match fetched {
            Ok(()) => {}
            Err(Stop::Cache(m)) => return Err(fail(m)),
            Err(Stop::Server(m)) => report.failed = Some(m),
        }
        if report.failed.is_none() {
            if let Some(m) = report.collections.iter().find_map(|c| c.failed.clone()) {
                report.failed = Some(m);
            }
        }
        if let (true, Some(m)) = (strict, &report.failed) {
            return Err(fail(format!("{m} (--strict)")));
        }
        for (id, c) in &cursors.collections {
            if selected(src, id, &c.title) {
                for (path, label, profile) in [
                    (
                        cache::objects_path(&dir, id),
                        format!("taxii:{name}"),
                        Profile::Stix,
                    ),
                    (
                        cache::indicators_path(&dir, id),
                        format!("taxii:{name}/indicators"),
                        Profile::Native,
                    ),
                ] {
                    if path.exists() {
                        out.files.push(CacheFile {
                            path,
                            label,
                            profile,
                        });
                    }
                }
            }
        }
        out.reports.push(report);
    }
    Ok(out)
}

/// Why a fetch stopped: the server (the compile goes on with the cache)
/// or the cache itself (the compile stops).
enum Stop {
    Server(String),
    Cache(String),
}

fn selected(src: &TaxiiSource, id: &str, title: &str) -> bool {
    src.collections.is_empty() || src.collections.iter().any(|c| c == id || c == title)
}

fn fetch_source(
    client: &mut http::Client,
    src: &TaxiiSource,
    dir: &Path,
    cursors: &mut Cursors,
    now: Micros,
    report: &mut SourceReport,
) -> Result<(), Stop> {
    let version = src.version.as_deref().and_then(Version::parse);
    let (version, roots) = taxii::discover(client, &src.url, version).map_err(Stop::Server)?;
    report.version = Some(version.as_str().to_string());
    let mut readable = Vec::new();
    for root in &roots {
        readable.extend(taxii::collections(client, version, root).map_err(Stop::Server)?);
    }
    for want in &src.collections {
        if !readable.iter().any(|c| &c.id == want || &c.title == want) {
            let names: Vec<String> = readable
                .iter()
                .map(|c| format!("{} {:?}", c.id, c.title))
                .collect();
            return Err(Stop::Server(format!(
                "collection {want:?} is not among the collections this account can read at {} ({})",
                src.url,
                if names.is_empty() {
                    "none".to_string()
                } else {
                    names.join(", ")
                }
            )));
        }
    }
    let window_start = src
        .initial_window()
        .map(|w| time::fmt_ms(now - w.as_micros() as Micros));
    for col in readable.iter().filter(|c| selected(src, &c.id, &c.title)) {
        let cursor = cursor_of(cursors, &col.id);
        cursor.title = col.title.clone();
        let mut fetch = CollectionFetch {
            id: col.id.clone(),
            title: col.title.clone(),
            ..CollectionFetch::default()
        };
        let mut cached = Cached::open(dir, &report.name, &col.id).map_err(Stop::Cache)?;
        let first_query = cursor.added_after.clone().or_else(|| window_start.clone());
        let result = fetch_collection(
            client,
            version,
            col,
            src.page_size,
            first_query,
            &mut cached,
            cursors,
            dir,
            &mut fetch,
        );
        let cursor = cursor_of(cursors, &col.id);
        cursor.objects = cached.objects.count();
        fetch.cached = cursor.objects;
        fetch.indicators = cached.natives.count();
        fetch.cursor = cursor.added_after.clone();
        cursors.save(dir).map_err(Stop::Cache)?;
        match result {
            Ok(()) => {}
            Err(Stop::Server(m)) => fetch.failed = Some(format!("collection {}: {m}", col.id)),
            Err(e) => return Err(e),
        }
        tracing::info!(
            source = %report.name,
            collection = %col.id,
            fetched = fetch.fetched,
            cached = fetch.cached,
            "upstream: collection fetched"
        );
        report.collections.push(fetch);
    }
    Ok(())
}

/// One upstream collection's two cache files.
struct Cached {
    /// The input's name: the owner of the canonical indicators.
    owner: String,
    collection: String,
    /// The STIX objects as fetched.
    objects: Objects,
    /// The simple indicators among them as native records.
    natives: Objects,
}

impl Cached {
    fn open(dir: &Path, owner: &str, collection: &str) -> Result<Cached, String> {
        Ok(Cached {
            owner: owner.to_string(),
            collection: collection.to_string(),
            objects: Objects::open(&cache::objects_path(dir, collection))?,
            natives: Objects::open_keyed(
                &cache::indicators_path(dir, collection),
                Some(indicators::key),
            )?,
        })
    }

    /// Appends a page: its objects, and the native records of its simple
    /// indicators (with the old value of an indicator whose value changed
    /// marked inactive); returns how many objects were new.
    fn append(&mut self, page: &[serde_json::Value]) -> Result<u64, String> {
        let mut canonical: Vec<serde_json::Value> = Vec::new();
        // Per upstream id, its latest record in this page so far.
        let mut in_page: std::collections::HashMap<String, usize> = Default::default();
        for o in page {
            let Some(n) = indicators::native(o, &self.owner, &self.collection) else {
                continue;
            };
            let id = n["upstream_id"].as_str().unwrap_or_default().to_string();
            let before = match in_page.get(&id) {
                Some(&i) => Some(canonical[i].clone()),
                None => self
                    .natives
                    .latest(id.as_bytes())?
                    .and_then(|line| serde_json::from_slice(&line).ok()),
            };
            match before.map(|b| indicators::change(&b, &n)) {
                Some(indicators::Change::Stale) => continue,
                Some(indicators::Change::Retire(gone)) => canonical.push(gone),
                Some(indicators::Change::Keep) | None => {}
            }
            in_page.insert(id, canonical.len());
            canonical.push(n);
        }
        self.natives.append(&canonical)?;
        self.objects.append(page)
    }
}

/// Fetches `col` page by page from its resume point (or from
/// `first_query`), appending each page to `cached` and saving the cursor
/// after it.
#[allow(clippy::too_many_arguments)]
fn fetch_collection(
    client: &mut http::Client,
    version: Version,
    col: &Collection,
    page_size: u32,
    first_query: Option<String>,
    cached: &mut Cached,
    cursors: &mut Cursors,
    dir: &Path,
    fetch: &mut CollectionFetch,
) -> Result<(), Stop> {
    let resume = cursor_of(cursors, &col.id).resume.take();
    let (mut query, mut at, mut last) = match resume {
        Some(r) => (
            r.added_after.clone(),
            r.position(),
            r.last.as_deref().and_then(|l| time::parse_rfc3339(l).ok()),
        ),
        None => (first_query, Position::Start, None),
    };
    let mut restarted = false;
    let mut unlabelled = false;
    let mut pages = 0u64;
    loop {
        let page = match taxii::page(client, version, col, query.as_deref(), &at, page_size) {
            Ok(p) => p,
            Err(e)
                if at != Position::Start
                    && !restarted
                    && e.status.is_some_and(|s| (400..500).contains(&s)) =>
            {
                // A resume token the server no longer knows: start the
                // query again (what is cached already is not added twice).
                tracing::warn!(collection = %col.id, error = %e.message, "upstream: resume point refused; starting the query again");
                restarted = true;
                at = Position::Start;
                continue;
            }
            Err(e) => {
                cursor_of(cursors, &col.id).resume = Some(resume_at(&query, &at, last));
                return Err(Stop::Server(e.message));
            }
        };
        let new = cached.append(&page.objects).map_err(Stop::Cache)?;
        fetch.fetched += new;
        pages += 1;
        if pages % 20 == 0 {
            tracing::info!(collection = %col.id, pages, fetched = fetch.fetched, "upstream: fetching");
        }
        // Only a date that parses moves the cursor; it is kept in one
        // form (microseconds, UTC) whatever the server wrote.
        let page_last = page
            .added_last
            .as_deref()
            .and_then(|l| time::parse_rfc3339(l).ok());
        match page_last {
            Some(t) => last = Some(last.map_or(t, |l: Micros| l.max(t))),
            None if !page.objects.is_empty() => unlabelled = true,
            None => {}
        }
        // The caller names the collection.
        let stuck = |why: &str| {
            Stop::Server(format!(
                "{why}; stopped after {pages} pages so as not to page forever"
            ))
        };
        at = match (page.following, page.more_without_next) {
            // Some servers keep one token for every page of a query
            // (medallion): the same token is progress as long as the page
            // brought something new.
            (Some(next), _) if page.objects.is_empty() || (next == at && new == 0) => {
                cursor_of(cursors, &col.id).resume = Some(resume_at(&query, &at, last));
                return Err(stuck(
                    "the server says there is more but its pages bring nothing new",
                ));
            }
            (Some(next), _) => next,
            // TAXII 2.1 `more` without `next`: go on from this page's last
            // date_added, the spec's other way to page.
            (None, true) => match page_last.map(time::fmt_us) {
                Some(t) if !page.objects.is_empty() && query.as_deref() != Some(&t) => {
                    query = Some(t);
                    Position::Start
                }
                _ => {
                    return Err(stuck(
                        "the server says there is more but gives neither a next token nor a new X-TAXII-Date-Added-Last",
                    ))
                }
            },
            (None, false) => break,
        };
        cursor_of(cursors, &col.id).resume = Some(resume_at(&query, &at, last));
        cursors.save(dir).map_err(Stop::Cache)?;
    }
    let c = cursor_of(cursors, &col.id);
    c.resume = None;
    if let Some(l) = last {
        c.added_after = Some(time::fmt_us(l));
    } else if unlabelled {
        fetch.warning = Some(
            "the server sent no usable X-TAXII-Date-Added-Last, so the cursor cannot move: the next compile asks for the same objects again (duplicates are dropped)".into(),
        );
        c.added_after = query;
    }
    Ok(())
}

fn cursor_of<'a>(c: &'a mut Cursors, id: &str) -> &'a mut Cursor {
    c.collections.entry(id.to_string()).or_default()
}

fn resume_at(query: &Option<String>, at: &Position, last: Option<Micros>) -> Resume {
    Resume {
        added_after: query.clone(),
        next: match at {
            Position::Next(t) => Some(t.clone()),
            _ => None,
        },
        offset: match at {
            Position::Offset(o) => Some(*o),
            _ => None,
        },
        last: last.map(time::fmt_us),
    }
}
