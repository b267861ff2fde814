//! The compile job: inputs → records → collections → STIX objects → one
//! published feed file.
//!
//! Stages, each timed in the summary:
//! 1. **plan**: parse every collection's query and mappings first, so a
//!    config mistake fails in milliseconds, before any input is read;
//! 2. **read** (`read.rs`): [`crate::input`] parses all files in parallel;
//!    passthrough STIX objects that failed the structural check are kept
//!    with a warning or rejected (`compile.stix_check`); rejected records
//!    are counted per reason and fail the run above the threshold;
//! 3. **select** (`select.rs`): duplicates are merged, then one parallel
//!    pass evaluates every collection's query on every record;
//! 4. **build**: per collection, STIX objects are built and compared with
//!    the previous generation ([`lifecycle`]) to keep `date_added` and
//!    `modified` of unchanged objects, version changed ones, and publish
//!    removals once as revocations;
//! 5. **guard + publish**: the shrink guard (`guard.rs`), then date_added
//!    assignment and the atomic publish of the feed file
//!    ([`lifecycle::publish`], [`crate::feed::publish`]).
//!
//! Exit codes ([`CompileError::exit_code`]): 1 config or input error, 2 a
//! guard refused to publish (reject threshold, shrink guard), 3 the output
//! could not be written.

mod guard;
mod held;
pub mod lifecycle;
pub mod owners;
mod read;
mod select;
mod spill;
pub mod state;
mod unchanged;

use guard::{retired_guard, shrink_guard};
use read::{input_files, read_inputs};
use select::{dedupe, select};

use crate::config::{Config, IdScheme};
use crate::feed::{
    self, ApiRootMeta, CollectionMeta, CompileRecord, Feed, FeedMeta, InputRecord, WriteOptions,
};
use crate::filter::Query;
use crate::input;
use crate::mapping::Mappings;
use crate::time::{self, Micros};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What the command line passes to a compile.
#[derive(Debug, Clone)]
pub struct CompileOptions {
    pub config: Config,
    /// The live feed path (default: `compile.out` of the config).
    pub out: Option<PathBuf>,
    /// The previous generation (default: the live file, when it exists).
    pub previous: Option<PathBuf>,
    /// Fail on any rejected record.
    pub strict: bool,
    /// Publish even if a collection shrinks past the guard.
    pub allow_shrink: bool,
    /// Show progress bars (only on a terminal).
    pub progress: bool,
    /// The compile's "now" (tests pin it); default: the wall clock.
    pub now: Option<Micros>,
    /// Publish a new generation even when the live one was compiled from
    /// the same inputs, config and binary and is still current
    /// (docs/decisions.md#d70).
    pub force: bool,
}

/// Why a compile did not publish.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    #[error("{key}: {message}")]
    Config { key: String, message: String },
    #[error(transparent)]
    Input(#[from] input::InputError),
    #[error("{rejected} of {seen} records were rejected ({share:.2}%), more than the allowed {threshold:.2}%; nothing was written.\n{examples}")]
    TooManyRejects {
        rejected: u64,
        seen: u64,
        share: f64,
        threshold: f64,
        examples: String,
    },
    #[error("previous generation {path}: {message}\n(use --previous to name another file, or move the damaged file away to start a fresh history)")]
    Previous { path: PathBuf, message: String },
    #[error("shrink guard: collection {collection} would go from {before} to {after} objects (-{lost_pct:.1}%, guard {guard_pct:.0}%); nothing was published. If this is intended, run again with --allow-shrink.")]
    Shrink {
        collection: String,
        before: u64,
        after: u64,
        lost_pct: f64,
        guard_pct: f64,
    },
    #[error(transparent)]
    Feed(#[from] feed::FeedError),
    #[error(transparent)]
    Upstream(#[from] crate::upstream::UpstreamError),
}

impl crate::exit::ExitStatus for CompileError {
    fn exit_code(&self) -> i32 {
        use crate::exit::{ERROR, NOT_WRITTEN, REFUSED};
        match self {
            CompileError::Config { .. }
            | CompileError::Input(_)
            | CompileError::Previous { .. }
            | CompileError::Upstream(_) => ERROR,
            CompileError::TooManyRejects { .. } | CompileError::Shrink { .. } => REFUSED,
            CompileError::Feed(_) => NOT_WRITTEN,
        }
    }
}

/// One input file in the summary.
#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    pub path: String,
    pub profile: String,
    pub container: String,
    pub bytes: u64,
    pub records: u64,
    pub rejected: u64,
}

/// One collection in the summary.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CollectionReport {
    pub id: String,
    pub alias: Option<String>,
    pub title: String,
    /// Records the query selected.
    pub selected: u64,
    /// Object versions in the published collection.
    pub objects: u64,
    pub added: u64,
    pub changed: u64,
    pub unchanged: u64,
    /// Of the unchanged, indicators whose bytes were reused from the
    /// previous generation without building them
    /// (docs/decisions.md#d66).
    pub reused: u64,
    /// Revocations published this generation for indicators that left.
    pub revoked: u64,
    /// Tombstones dropped after their retention, removals under
    /// `removal = "drop"`, and indicators a collection with XSOAR's ids
    /// leaves out (revoked, or their id taken).
    pub dropped: u64,
    /// Left out by `drop_expired`.
    pub expired: u64,
    pub by_type: BTreeMap<String, u64>,
}

/// Stage timings in milliseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Timings {
    /// Hashing the binary, config and inputs (docs/decisions.md#d70).
    pub fingerprint_ms: u64,
    pub read_ms: u64,
    pub select_ms: u64,
    pub build_ms: u64,
    pub write_ms: u64,
    pub total_ms: u64,
}

/// The machine-readable result of a compile (`--json`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub output: String,
    /// True when nothing was published: the live generation was compiled
    /// from the same inputs, config and binary, and none of its decisions
    /// taken from the clock has changed since (docs/decisions.md#d70).
    /// `generation` is then the live one, and the input counts are those
    /// it recorded.
    pub unchanged: bool,
    pub generation: String,
    pub output_bytes: u64,
    /// Default pages written, objects and manifest pages counted apart.
    pub precompressed_pages: u64,
    /// Of those, pages whose compressed copies were copied from the
    /// previous generation instead of compressed (docs/decisions.md#d67).
    pub pages_reused: u64,
    pub bytes_in: u64,
    pub records_read: u64,
    pub records_ok: u64,
    pub rejected: BTreeMap<String, u64>,
    /// Up to 50 rejects, each "file: position: reason: detail".
    pub reject_examples: Vec<String>,
    pub warnings: BTreeMap<String, u64>,
    /// Up to 50 warnings with their location.
    pub warning_examples: Vec<String>,
    /// Passthrough STIX objects that failed the structural check, per
    /// reason (`id`, `timestamp`, `missing-property`, `spec-version`; an
    /// object counts once under each reason it has). Whether they were kept
    /// (warnings `stix-check`) or left out (rejects `stix-check`) is
    /// `compile.stix_check`.
    pub stix_check: BTreeMap<String, u64>,
    /// Builder and mapping warnings (clamped valid_until, dropped mapped
    /// values, TLP downgrades), counted by message.
    pub build_warnings: BTreeMap<String, u64>,
    /// Records merged because the same indicator (type and value) or the
    /// same STIX object version appeared more than once; the most recently
    /// modified copy is the one published.
    pub duplicates: u64,
    pub files: Vec<FileReport>,
    /// What each upstream TAXII input fetched (`[[inputs]]` with `taxii`).
    pub upstream: Vec<crate::upstream::SourceReport>,
    pub collections: Vec<CollectionReport>,
    pub timings: Timings,
}

/// A collection ready to select and build: its query, its mappings per
/// input profile, and its config.
pub(crate) struct Plan {
    pub index: usize,
    pub id: uuid::Uuid,
    pub query: Query,
    pub owners: Vec<String>,
    /// Profile defaults + global + collection mappings, per profile.
    pub mappings: Mappings,
    pub offers_20: bool,
    /// `ids = "xsoar"`: the tenant's id namespace
    /// ([`crate::stix::id::xsoar_namespace`]); `None` for our own ids.
    pub xsoar_ids: Option<uuid::Uuid>,
}

fn plan_collections(cfg: &Config, now: Micros) -> Result<Vec<Plan>, CompileError> {
    let mut plans = Vec::with_capacity(cfg.collections.len());
    for (i, c) in cfg.collections.iter().enumerate() {
        let key = |k: &str| format!("collections[{i}].{k}");
        // Validation guarantees a valid id; stay defensive all the same.
        let id =
            c.id.as_deref()
                .and_then(|s| uuid::Uuid::parse_str(s).ok())
                .ok_or_else(|| CompileError::Config {
                    key: key("id"),
                    message: "missing or invalid".into(),
                })?;
        let query = Query::parse(&c.query, now).map_err(|e| CompileError::Config {
            key: key("query"),
            message: e.to_string(),
        })?;
        let mappings =
            Mappings::new(&cfg.mappings, &c.mappings, &key("mappings")).map_err(|e| {
                CompileError::Config {
                    key: key("mappings"),
                    message: e.to_string(),
                }
            })?;
        plans.push(Plan {
            index: i,
            id,
            query,
            owners: c.owners.clone(),
            mappings,
            offers_20: c.versions().iter().any(|v| v == "2.0"),
            xsoar_ids: match (c.ids, c.xsoar_license_id.as_deref()) {
                (IdScheme::Xsoar, Some(license)) => {
                    Some(crate::stix::id::xsoar_namespace(license.trim()))
                }
                (IdScheme::Xsoar, None) => {
                    return Err(CompileError::Config {
                        key: key("xsoar_license_id"),
                        message: "required with ids = \"xsoar\"".into(),
                    })
                }
                (IdScheme::TaxiiEdge, _) => None,
            },
        });
    }
    Ok(plans)
}

/// Runs a whole compile and publishes the feed file.
pub fn run(opts: &CompileOptions) -> Result<Summary, CompileError> {
    let started = Instant::now();
    let cfg = &opts.config;
    let now = opts.now.unwrap_or_else(time::now);
    let plans = plan_collections(cfg, now)?;
    let live = opts
        .out
        .clone()
        .unwrap_or_else(|| cfg.resolve(&cfg.compile.out));

    // The previous generation is read before the inputs so that a damaged
    // history fails fast.
    let previous = open_previous(opts.previous.as_deref(), &live)?.map(std::sync::Arc::new);

    let mut summary = Summary {
        output: live.display().to_string(),
        ..Summary::default()
    };

    // Upstream TAXII inputs: fetch what was added since the last compile
    // into their caches, which are then read like any stix input.
    let upstream = crate::upstream::refresh(cfg, &live, opts.strict, now)?;
    summary.upstream = upstream.reports;

    // Fingerprint, and leave a live generation that is current alone.
    let t = Instant::now();
    let mut files = input_files(cfg)?;
    files.extend(upstream.files.iter().map(|f| input::InputFile {
        path: f.path.clone(),
        format: Some(f.profile),
    }));
    let fingerprint = unchanged::fingerprint(opts, &plans, &files);
    summary.timings.fingerprint_ms = t.elapsed().as_millis() as u64;
    if let (Some(prev), Some(fp), false) = (&previous, &fingerprint, opts.force) {
        if unchanged::is_current(prev, &live, fp, &token_key(cfg, Some(prev)), now) {
            unchanged_summary(prev, &mut summary);
            summary.timings.total_ms = started.elapsed().as_millis() as u64;
            return Ok(summary);
        }
    }

    // Read: indicator records are tested against the queries as they are
    // parsed, and held as stubs until the build parses them again.
    let read = read_inputs(opts, &plans, &files, &upstream.files, &mut summary)?;
    let read_plans = plans.len();

    // Merge duplicates over all records: the selection of a record that
    // lost to a later copy (an old TLP, an old active flag) is dropped with
    // it, so a query that matched only a stale copy does not publish it.
    let t = Instant::now();
    let (records, duplicates) = dedupe(read.held);
    summary.duplicates = duplicates;
    crate::files::trim_heap();

    // Owner collections depend on the records read: append them to a copy
    // of the config and plan again (configured ones keep their indices).
    let expanded = owners::expand(cfg, &records, &read.owners)?;
    let (cfg, plans) = match &expanded {
        Some(c) => (c, plan_collections(c, now)?),
        None => (cfg, plans),
    };

    // Select.
    let selected = select(&records, &plans, read_plans, &read.owners, &read.files);
    summary.timings.select_ms = t.elapsed().as_millis() as u64;

    // Build.
    let t = Instant::now();
    let token_key = token_key(cfg, previous.as_deref());
    // Serialized objects wait in an unnamed file beside the output (same
    // filesystem as the feed, not a tmpfs) until the writer runs.
    let spill = spill::Spill::new_in(&crate::files::containing_dir(&live))?;
    let records = held::Records::new(records, read.inputs, read.keep);
    let stable_until = unchanged::StableUntil::new();
    let built = build_collections(
        cfg,
        &plans,
        records,
        &selected,
        Around {
            previous: previous.as_deref(),
            now,
            spill: &spill,
            stable_until: &stable_until,
        },
    )?;
    summary.timings.build_ms = t.elapsed().as_millis() as u64;
    // The records are gone, and the previous generation's bytes are not
    // read before the writer reads the reused ones: give their memory back
    // before the writer needs its own.
    drop(selected);
    crate::files::trim_heap();
    // Reused objects are slices of the previous generation's mapping: the
    // writer releases its pages behind it as it does the spill's.
    let parked = spill.finish()?.with_previous(previous.as_deref());
    if let Some(prev) = &previous {
        prev.release_all();
    }

    // Guard.
    if !opts.allow_shrink {
        shrink_guard(cfg, &plans, &built)?;
        if let Some(prev) = &previous {
            retired_guard(cfg, &plans, prev)?;
        }
    }

    // Publish.
    write_feed(
        cfg,
        &plans,
        Written {
            built,
            parked,
            previous,
        },
        &live,
        token_key,
        fingerprint.map(|f| (f, stable_until.get())),
        &mut summary,
    )?;
    summary.timings.total_ms = started.elapsed().as_millis() as u64;
    Ok(summary)
}

/// The token MAC key: derived from the configured secret (replicas that
/// compile independently then agree), else carried over from the previous
/// generation (tokens survive a regeneration), else new.
fn token_key(cfg: &Config, previous: Option<&Feed>) -> String {
    match (&cfg.server.token_secret, previous) {
        (Some(secret), _) => hex(&feed::token::key_from_secret(secret)),
        (None, Some(prev)) => prev.meta().token_key.clone(),
        (None, None) => hex(&feed::token::new_key()),
    }
}

/// What every collection's build shares besides the config and records.
struct Around<'a> {
    previous: Option<&'a Feed>,
    now: Micros,
    spill: &'a spill::Spill,
    stable_until: &'a unchanged::StableUntil,
}

/// The build stage: each collection's objects, compared with its previous
/// generation ([`lifecycle::build_collection`]), in plan order. Each
/// indicator record is parsed again from its file as it is built
/// (docs/decisions.md#d71).
fn build_collections(
    cfg: &Config,
    plans: &[Plan],
    records: held::Records,
    selected: &[Vec<u32>],
    around: Around<'_>,
) -> Result<Vec<lifecycle::Built>, CompileError> {
    let Around {
        previous,
        now,
        spill,
        stable_until,
    } = around;
    let mut built = Vec::with_capacity(plans.len());
    for plan in plans {
        let prev_col = previous.and_then(|f| {
            f.meta()
                .collections
                .iter()
                .position(|m| m.id == plan.id.to_string())
                .map(|i| &f.collections()[i])
        });
        let b = lifecycle::build_collection(
            &lifecycle::CollectionBuild {
                cfg,
                plan,
                selected: &selected[plan.index],
                prev_col,
                prev_feed: previous,
                now,
                spill,
                stable_until,
            },
            &records,
        )?;
        built.push(b);
    }
    Ok(built)
}

/// The publish stage: dates the new versions, writes the feed file and
/// renames it into place ([`lifecycle::publish`]), then fills the output
/// half of the summary.
/// What the writer receives from the build: the collections, their parked
/// JSON, and the previous generation (unchanged pages copy its compressed
/// copies, docs/decisions.md#d67).
struct Written {
    built: Vec<lifecycle::Built>,
    parked: spill::Parked,
    previous: Option<std::sync::Arc<Feed>>,
}

fn write_feed(
    cfg: &Config,
    plans: &[Plan],
    written: Written,
    live: &Path,
    token_key: String,
    fingerprint: Option<(String, Option<Micros>)>,
    summary: &mut Summary,
) -> Result<(), CompileError> {
    let t = Instant::now();
    let generation = hex(&rand::random::<[u8; 16]>());
    let mut meta = feed_meta(cfg, plans, generation.clone(), token_key);
    let (fingerprint, stable_until_us) = fingerprint.unzip();
    meta.compile = Some(CompileRecord {
        fingerprint,
        stable_until_us: stable_until_us.flatten(),
        ..compile_record(summary)
    });
    let wopts = WriteOptions {
        zstd_level: cfg.compile.zstd_level,
        gzip_level: cfg.compile.gzip_level,
        release: None,
        previous: written.previous,
    };
    let (stats, reports) = lifecycle::publish(meta, written.built, written.parked, live, &wopts)?;
    summary.timings.write_ms = t.elapsed().as_millis() as u64;
    summary.generation = generation;
    summary.output_bytes = stats.bytes;
    summary.precompressed_pages = stats.precompressed_pages;
    summary.pages_reused = stats.pages_reused;
    report_collections(cfg, plans, reports, summary);
    Ok(())
}

/// The summary of a compile that left the live generation `prev` alone:
/// its generation, size and collections, and the input counts it recorded.
fn unchanged_summary(prev: &Feed, s: &mut Summary) {
    let meta = prev.meta();
    s.unchanged = true;
    s.generation = meta.generation.clone();
    s.output_bytes = prev.file_len();
    if let Some(r) = &meta.compile {
        s.records_read = r.records_read;
        s.records_ok = r.records_ok;
        s.rejected = r.rejected.clone();
        s.duplicates = r.duplicates;
        s.bytes_in = r.files.iter().map(|f| f.bytes).sum();
        s.files = r
            .files
            .iter()
            .map(|f| FileReport {
                path: f.path.clone(),
                profile: f.profile.clone(),
                container: String::new(),
                bytes: f.bytes,
                records: f.records,
                rejected: f.rejected,
            })
            .collect();
    }
    s.collections = meta
        .collections
        .iter()
        .zip(prev.collections())
        .map(|(m, c)| CollectionReport {
            id: m.id.clone(),
            alias: m.alias.clone(),
            title: m.title.clone(),
            objects: c.len() as u64,
            unchanged: c.len() as u64,
            ..CollectionReport::default()
        })
        .collect();
}

/// What the feed keeps of this compile's summary for the web console
/// (docs/decisions.md#d68).
fn compile_record(s: &Summary) -> CompileRecord {
    CompileRecord {
        records_read: s.records_read,
        records_ok: s.records_ok,
        rejected: s.rejected.clone(),
        duplicates: s.duplicates,
        files: s
            .files
            .iter()
            .map(|f| InputRecord {
                path: f.path.clone(),
                profile: f.profile.clone(),
                bytes: f.bytes,
                records: f.records,
                rejected: f.rejected,
            })
            .collect(),
        fingerprint: None,
        stable_until_us: None,
    }
}

/// The new generation's metadata: the server's and api roots' titles,
/// one entry per planned collection, and the token key.
fn feed_meta(cfg: &Config, plans: &[Plan], generation: String, token_key: String) -> FeedMeta {
    FeedMeta {
        generation,
        created_us: time::now(),
        title: cfg.server.title.clone(),
        description: cfg.server.description.clone(),
        contact: cfg.server.contact.clone(),
        api_roots: cfg
            .api_roots
            .iter()
            .map(|r| ApiRootMeta {
                name: r.name.clone(),
                title: r.title.clone(),
                description: r.description.clone(),
                default: r.name == cfg.default_api_root(),
            })
            .collect(),
        collections: plans
            .iter()
            .map(|p| {
                let c = &cfg.collections[p.index];
                CollectionMeta {
                    id: p.id.to_string(),
                    alias: c.alias.clone(),
                    title: c.title.clone(),
                    description: c.description.clone(),
                    api_root: c
                        .api_root
                        .clone()
                        .unwrap_or_else(|| cfg.default_api_root().to_string()),
                    taxii_versions: c.versions(),
                }
            })
            .collect(),
        page_size: cfg.server.default_page_size,
        token_key,
        compile: None,
    }
}

/// Adds each collection's report (named after its config entry) and
/// build warnings to the summary.
fn report_collections(
    cfg: &Config,
    plans: &[Plan],
    reports: Vec<lifecycle::Outcomes>,
    summary: &mut Summary,
) {
    for (plan, (mut r, warnings)) in plans.iter().zip(reports) {
        let c = &cfg.collections[plan.index];
        r.id = plan.id.to_string();
        r.alias = c.alias.clone();
        r.title = c.title.clone();
        for (msg, n) in warnings {
            *summary.build_warnings.entry(msg).or_default() += n;
        }
        summary.collections.push(r);
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn open_previous(explicit: Option<&Path>, live: &Path) -> Result<Option<Feed>, CompileError> {
    let path = match explicit {
        Some(p) => p,
        None if live.exists() => live,
        None => return Ok(None),
    };
    Feed::open(path)
        .map(Some)
        .map_err(|e| CompileError::Previous {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
}

/// The human-readable summary printed after a compile.
pub fn render_summary(s: &Summary) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    if s.unchanged {
        return render_unchanged(s);
    }
    let _ = writeln!(
        o,
        "published {} (generation {}, {} bytes) in {} ms",
        s.output, s.generation, s.output_bytes, s.timings.total_ms
    );
    let _ = writeln!(o, "{}", read_line(s));
    upstream_lines(s, &mut o);
    for (reason, n) in &s.rejected {
        let _ = writeln!(o, "  rejected {reason}: {n}");
    }
    for e in s.reject_examples.iter().take(10) {
        let _ = writeln!(o, "    {e}");
    }
    for (kind, n) in &s.warnings {
        let _ = writeln!(o, "  warning {kind}: {n}");
    }
    if !s.stix_check.is_empty() {
        let reasons: Vec<String> = s
            .stix_check
            .iter()
            .map(|(r, n)| format!("{r} {n}"))
            .collect();
        let _ = writeln!(o, "  stix check: {}", reasons.join(", "));
        // Rejected ones are among the reject examples above.
        for e in s
            .warning_examples
            .iter()
            .filter(|e| e.contains(": stix-check: "))
            .take(10)
        {
            let _ = writeln!(o, "    {e}");
        }
    }
    for (msg, n) in &s.build_warnings {
        let _ = writeln!(o, "  build warning ({n}×): {msg}");
    }
    for c in &s.collections {
        let _ = writeln!(
            o,
            "collection {} {:?}{}: {} objects (added {}, changed {}, unchanged {} of which {} reused, revoked {}, dropped {}, expired {})",
            c.id,
            c.title,
            c.alias.as_deref().map(|a| format!(" [{a}]")).unwrap_or_default(),
            c.objects,
            c.added,
            c.changed,
            c.unchanged,
            c.reused,
            c.revoked,
            c.dropped,
            c.expired
        );
    }
    let t = &s.timings;
    let _ = write!(
        o,
        "timings: fingerprint {} ms, read {} ms, select {} ms, build {} ms, write {} ms",
        t.fingerprint_ms, t.read_ms, t.select_ms, t.build_ms, t.write_ms
    );
    o
}

/// One line per upstream source, and one per collection fetched; a
/// source that failed says that its cached objects were compiled instead.
fn upstream_lines(s: &Summary, o: &mut String) {
    use std::fmt::Write;
    for u in &s.upstream {
        let fetched: u64 = u.collections.iter().map(|c| c.fetched).sum();
        let _ = writeln!(
            o,
            "upstream {} ({}, TAXII {}): {} new objects in {} requests ({} retries), {} ms",
            u.name,
            u.url,
            u.version.as_deref().unwrap_or("?"),
            fetched,
            u.requests,
            u.retries,
            u.ms
        );
        for c in &u.collections {
            let _ = writeln!(
                o,
                "  collection {} {:?}: {} new, {} cached ({} also as canonical indicators), cursor {}",
                c.id,
                c.title,
                c.fetched,
                c.cached,
                c.indicators,
                c.cursor.as_deref().unwrap_or("none")
            );
            if let Some(w) = &c.warning {
                let _ = writeln!(o, "    warning: {w}");
            }
        }
        if let Some(f) = &u.failed {
            let _ = writeln!(
                o,
                "  FAILED: {f}; the objects cached by earlier compiles are compiled as they are"
            );
        }
    }
}

/// What the compile read, for [`render_summary`].
fn read_line(s: &Summary) -> String {
    format!(
        "read {} records from {} files ({} bytes): {} usable, {} rejected",
        s.records_read,
        s.files.len(),
        s.bytes_in,
        s.records_ok,
        s.rejected.values().sum::<u64>()
    )
}

/// [`render_summary`] of a compile that published nothing.
fn render_unchanged(s: &Summary) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    let _ = writeln!(
        o,
        "unchanged: {} (generation {}, {} bytes) was compiled from the same inputs, config and binary, and nothing in it has expired since; nothing published ({} ms; --force publishes anyway)",
        s.output, s.generation, s.output_bytes, s.timings.total_ms
    );
    upstream_lines(s, &mut o);
    let _ = writeln!(o, "its compile {}", read_line(s));
    for c in &s.collections {
        let _ = writeln!(
            o,
            "collection {} {:?}: {} objects",
            c.id, c.title, c.objects
        );
    }
    let _ = write!(o, "timings: fingerprint {} ms", s.timings.fingerprint_ms);
    o
}
