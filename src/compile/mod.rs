//! The compile job: inputs → records → collections → STIX objects → one
//! published feed file.
//!
//! Stages, each timed in the summary:
//! 1. **plan**: parse every collection's query and mappings first, so a
//!    config mistake fails in milliseconds, before any input is read;
//! 2. **read**: [`crate::input`] parses all files in parallel; passthrough
//!    STIX objects that failed the structural check are kept with a warning
//!    or rejected (`compile.stix_check`); rejected records are counted per
//!    reason and fail the run above the threshold;
//! 3. **select**: one parallel pass evaluates every collection's query on
//!    every record;
//! 4. **build**: per collection, STIX objects are built and compared with
//!    the previous generation ([`lifecycle`]) to keep `date_added` and
//!    `modified` of unchanged objects, version changed ones, and publish
//!    removals once as revocations;
//! 5. **guard + publish**: the shrink guard, then date_added assignment and
//!    the atomic publish of the feed file ([`crate::feed::publish`]).
//!
//! Exit codes ([`CompileError::exit_code`]): 1 config or input error, 2 a
//! guard refused to publish (reject threshold, shrink guard), 3 the output
//! could not be written.

pub mod lifecycle;
pub mod owners;
mod spill;
pub mod state;

use crate::config::{Config, IdScheme, StixCheckMode};
use crate::feed::{self, ApiRootMeta, CollectionMeta, Feed, FeedMeta, WriteOptions};
use crate::filter::{EvalContext, Query};
use crate::input::{self, ReadOutcome};
use crate::mapping::Mappings;
use crate::record::{Keep, Profile, Record, StixProblemKind};
use crate::time::{self, Micros};
use rayon::prelude::*;
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
}

impl crate::exit::ExitStatus for CompileError {
    fn exit_code(&self) -> i32 {
        use crate::exit::{ERROR, NOT_WRITTEN, REFUSED};
        match self {
            CompileError::Config { .. }
            | CompileError::Input(_)
            | CompileError::Previous { .. } => ERROR,
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

    // Read.
    let t = Instant::now();
    let patterns: Vec<(String, Option<Profile>)> = cfg
        .inputs
        .iter()
        .map(|i| {
            let p = if Path::new(&i.path).is_absolute() {
                i.path.clone()
            } else {
                cfg.base_dir().join(&i.path).display().to_string()
            };
            (p, i.format.as_deref().and_then(Profile::parse))
        })
        .collect();
    let files = input::expand(&patterns)?;
    let keep = source_reads(cfg, &plans)?;
    let mut outcome = read_with_progress(&files, opts.progress, &keep)?;
    let stix_problems = apply_stix_check(&mut outcome, cfg.compile.stix_check);
    summary.timings.read_ms = t.elapsed().as_millis() as u64;
    report_input(&outcome, &mut summary);
    summary.stix_check = stix_problems;
    let file_names = file_names(cfg, &outcome);
    check_rejects(&outcome, cfg.compile.reject_threshold, opts.strict)?;

    // Merge duplicates over all records before any query runs: a query that
    // matched only a stale copy (an old TLP, an old active flag) must not
    // publish it.
    let t = Instant::now();
    let (records, duplicates) = dedupe(outcome.records);
    summary.duplicates = duplicates;

    // Owner collections depend on the records read: append them to a copy
    // of the config and plan again (configured ones keep their indices).
    let expanded = owners::expand(cfg, &records)?;
    let (cfg, plans) = match &expanded {
        Some(c) => (c, plan_collections(c, now)?),
        None => (cfg, plans),
    };

    // Select.
    let selected = select(&records, &plans, &file_names);
    summary.timings.select_ms = t.elapsed().as_millis() as u64;

    // Build.
    let t = Instant::now();
    // The token MAC key: derived from the configured secret (replicas that
    // compile independently then agree), else carried over from the
    // previous generation (tokens survive a regeneration), else new.
    let token_key = match (&cfg.server.token_secret, &previous) {
        (Some(secret), _) => hex(&feed::token::key_from_secret(secret)),
        (None, Some(prev)) => prev.meta().token_key.clone(),
        (None, None) => hex(&feed::token::new_key()),
    };
    // Serialized objects wait in an unnamed file beside the output (same
    // filesystem as the feed, not a tmpfs) until the writer runs.
    let spill_dir = crate::files::containing_dir(&live);
    let spill = spill::Spill::new_in(&spill_dir)?;
    let mut built = Vec::with_capacity(plans.len());
    for plan in &plans {
        let col = &cfg.collections[plan.index];
        let prev_col = previous.as_ref().and_then(|f| {
            f.meta()
                .collections
                .iter()
                .position(|m| m.id == plan.id.to_string())
                .map(|i| &f.collections()[i])
        });
        let b = lifecycle::build_collection(
            cfg,
            col,
            plan,
            &records,
            &selected[plan.index],
            prev_col,
            now,
            &spill,
        )?;
        built.push(b);
    }
    summary.timings.build_ms = t.elapsed().as_millis() as u64;
    // The records and the previous generation's object bytes are not read
    // again: give their memory back before the writer needs its own.
    drop(selected);
    drop(records);
    let parked = spill.finish()?;
    if let Some(prev) = &previous {
        prev.release_all();
    }

    // Guard.
    for (plan, b) in plans.iter().zip(&built) {
        let col = &cfg.collections[plan.index];
        if opts.allow_shrink || b.previous_live == 0 {
            continue;
        }
        let after = b.live;
        if after < b.previous_live {
            let lost = (b.previous_live - after) as f64 / b.previous_live as f64;
            if lost > cfg.compile.shrink_guard {
                return Err(CompileError::Shrink {
                    collection: format!(
                        "{} ({})",
                        col.alias.as_deref().unwrap_or(&col.title),
                        plan.id
                    ),
                    before: b.previous_live,
                    after,
                    lost_pct: lost * 100.0,
                    guard_pct: cfg.compile.shrink_guard * 100.0,
                });
            }
        }
    }

    // A collection that left the config loses all its objects: the same
    // guard applies (and its revocation history goes with it, see README).
    if let (Some(prev), false) = (&previous, opts.allow_shrink) {
        for (m, c) in prev.meta().collections.iter().zip(prev.collections()) {
            if !c.is_empty() && !plans.iter().any(|p| p.id.to_string() == m.id) {
                return Err(CompileError::Shrink {
                    collection: format!("{} ({}, no longer in the config)", m.title, m.id),
                    before: c.len() as u64,
                    after: 0,
                    lost_pct: 100.0,
                    guard_pct: cfg.compile.shrink_guard * 100.0,
                });
            }
        }
    }

    // Publish.
    let t = Instant::now();
    let generation = hex(&rand::random::<[u8; 16]>());
    let meta = FeedMeta {
        generation: generation.clone(),
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
    };
    let wopts = WriteOptions {
        zstd_level: cfg.compile.zstd_level,
        gzip_level: cfg.compile.gzip_level,
        release: None,
        previous,
    };
    let (stats, reports) = lifecycle::publish(meta, built, parked, &live, &wopts)?;
    summary.timings.write_ms = t.elapsed().as_millis() as u64;
    summary.generation = generation;
    summary.output_bytes = stats.bytes;
    summary.precompressed_pages = stats.precompressed_pages;
    summary.pages_reused = stats.pages_reused;
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
    summary.timings.total_ms = started.elapsed().as_millis() as u64;
    Ok(summary)
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

/// Per profile (indexed like `Profile::ALL`), the members of a source
/// record that any collection's mappings or `source.` filters read, owner
/// collections included: records keep only those (see `record::Keep`).
/// STIX records keep their whole source (`value` filters read it).
fn source_reads(cfg: &Config, plans: &[Plan]) -> Result<[Keep; 4], CompileError> {
    let owner_mappings = match cfg.owner_collections.as_ref().filter(|o| o.enabled) {
        Some(oc) => Some(
            Mappings::new(&cfg.mappings, &oc.mappings, "owner_collections.mappings").map_err(
                |e| CompileError::Config {
                    key: "owner_collections.mappings".into(),
                    message: e.to_string(),
                },
            )?,
        ),
        None => None,
    };
    // XSOAR's ids are made from the record's own `value` and
    // `CustomFields.stixid` (lifecycle::xsoar_ids).
    let xsoar_ids = plans.iter().any(|p| p.xsoar_ids.is_some());
    Ok(Profile::ALL.map(|p| {
        if p == Profile::Stix {
            return Keep::Whole;
        }
        let ids = (p == Profile::Xsoar && xsoar_ids)
            .then(|| Keep::Members(vec!["value".into(), "CustomFields".into()]));
        plans
            .iter()
            .flat_map(|plan| [plan.mappings.reads(p), plan.query.reads()])
            .chain(owner_mappings.as_ref().map(|m| m.reads(p)))
            .chain(ids)
            .fold(Keep::Members(Vec::new()), Keep::union)
    }))
}

fn read_with_progress(
    files: &[input::InputFile],
    progress: bool,
    keep: &[Keep; 4],
) -> Result<ReadOutcome, CompileError> {
    use std::io::IsTerminal;
    let total: u64 = files
        .iter()
        .filter_map(|f| std::fs::metadata(&f.path).ok())
        .map(|m| m.len())
        .sum();
    if progress && std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new(total);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "reading {bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        let tick = |n: u64| bar.inc(n);
        let out = input::read_files_keeping(files, Some(&tick), keep);
        bar.finish_and_clear();
        Ok(out?)
    } else {
        Ok(input::read_files_keeping(files, None, keep)?)
    }
}

/// Applies `compile.stix_check` to the passthrough STIX objects that failed
/// the structural check: under `warn` each one is kept and gets a warning,
/// under `reject` it leaves the records for the rejects (its file's counts
/// follow). Returns the per-reason counts of the objects found.
fn apply_stix_check(o: &mut ReadOutcome, mode: StixCheckMode) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    let flagged = |r: &Record| matches!(r, Record::Stix(s) if !s.problems.is_empty());
    if !o.records.iter().any(flagged) {
        return counts;
    }
    let path_of = |files: &[input::FileSummary], file: u32| {
        files
            .get(file as usize)
            .map(|f| f.path.clone())
            .unwrap_or_default()
    };
    let records = std::mem::take(&mut o.records);
    let mut kept = Vec::with_capacity(records.len());
    for rec in records {
        let Record::Stix(s) = &rec else {
            kept.push(rec);
            continue;
        };
        if s.problems.is_empty() {
            kept.push(rec);
            continue;
        }
        let mut kinds: Vec<StixProblemKind> = s.problems.iter().map(|p| p.kind).collect();
        kinds.sort_unstable();
        kinds.dedup();
        for k in kinds {
            *counts.entry(k.as_str().to_string()).or_default() += 1;
        }
        let detail = s
            .problems
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ");
        let path = path_of(&o.files, s.origin.file);
        match mode {
            StixCheckMode::Warn => {
                o.warnings.push(input::Warning {
                    origin: s.origin,
                    path,
                    kind: input::WarningKind::StixCheck,
                    detail: format!("{}: {detail}", s.id),
                });
                kept.push(rec);
            }
            StixCheckMode::Reject => {
                if let Some(f) = o.files.get_mut(s.origin.file as usize) {
                    f.records -= 1;
                    f.rejected += 1;
                }
                o.rejects.push(input::Reject {
                    origin: s.origin,
                    path,
                    reason: input::RejectReason::StixCheck,
                    detail: format!("{}: {detail}", s.id),
                });
            }
        }
    }
    o.records = kept;
    // Keep reports in file order, then position, as the reader leaves them.
    o.rejects
        .sort_by_key(|r| (r.origin.file, r.origin.position));
    o.warnings
        .sort_by_key(|w| (w.origin.file, w.origin.position));
    counts
}

/// The `file` query field's names of the input files (indexed like
/// `Origin::file`): the path relative to the config file's directory, as
/// `[[inputs]]` names it, or the path as found for files elsewhere.
fn file_names(cfg: &Config, o: &ReadOutcome) -> std::sync::Arc<[Box<str>]> {
    let base = cfg.base_dir();
    o.files
        .iter()
        .map(|f| {
            let p = f.path.strip_prefix(&base).unwrap_or(&f.path);
            p.to_string_lossy().into()
        })
        .collect()
}

fn report_input(o: &ReadOutcome, s: &mut Summary) {
    s.bytes_in = o.bytes_in;
    s.records_read = o.records_seen;
    s.records_ok = o.records.len() as u64;
    for r in &o.rejects {
        *s.rejected.entry(r.reason.as_str().to_string()).or_default() += 1;
    }
    s.reject_examples = o.rejects.iter().take(50).map(|r| r.to_string()).collect();
    for w in &o.warnings {
        *s.warnings.entry(w.kind.as_str().to_string()).or_default() += 1;
    }
    s.warning_examples = o.warnings.iter().take(50).map(|w| w.to_string()).collect();
    s.files = o
        .files
        .iter()
        .map(|f| FileReport {
            path: f.path.display().to_string(),
            profile: f.profile.as_str().to_string(),
            container: f.container.to_string(),
            bytes: f.bytes,
            records: f.records,
            rejected: f.rejected,
        })
        .collect();
}

fn check_rejects(o: &ReadOutcome, threshold: f64, strict: bool) -> Result<(), CompileError> {
    let rejected = o.rejects.len() as u64;
    let seen = o.records_seen.max(1);
    let share = rejected as f64 / seen as f64;
    if rejected > 0 && (strict || share > threshold) {
        let mut examples: Vec<String> = o.rejects.iter().take(10).map(|r| r.to_string()).collect();
        if o.rejects.len() > 10 {
            examples.push(format!("… and {} more", o.rejects.len() - 10));
        }
        return Err(CompileError::TooManyRejects {
            rejected,
            seen: o.records_seen,
            share: share * 100.0,
            threshold: if strict { 0.0 } else { threshold * 100.0 },
            examples: examples.join("\n"),
        });
    }
    Ok(())
}

/// One pass over all records evaluating every collection's query: for each
/// collection, the indices of the records it selects, in record order.
/// `files` names the input files for the `file` field.
fn select(records: &[Record], plans: &[Plan], files: &std::sync::Arc<[Box<str>]>) -> Vec<Vec<u32>> {
    let hits: Vec<Vec<u32>> = records
        .par_iter()
        .enumerate()
        .fold(
            || {
                (
                    EvalContext::with_files(files.clone()),
                    vec![Vec::new(); plans.len()],
                )
            },
            |(mut ctx, mut acc), (i, rec)| {
                ctx.reset();
                for (p, plan) in plans.iter().enumerate() {
                    if owner_ok(plan, rec)
                        && (plan.query.matches_all() || plan.query.matches(rec, &mut ctx))
                    {
                        acc[p].push(i as u32);
                    }
                }
                (ctx, acc)
            },
        )
        .map(|(_, acc)| acc)
        .reduce(
            || vec![Vec::new(); plans.len()],
            |mut a, b| {
                for (x, y) in a.iter_mut().zip(b) {
                    x.extend(y);
                }
                a
            },
        );
    // rayon's fold/reduce keeps chunks in order, but make it explicit.
    hits.into_iter()
        .map(|mut v| {
            v.sort_unstable();
            v
        })
        .collect()
}

/// One record per indicator (type, value) and per STIX (id, version): the
/// most recently modified indicator record wins (ties: the later one in
/// input order); the first copy of a STIX object version wins, and takes
/// over the medallion collections and input files of the copies merged
/// into it (an object in two medallion collections or two bundles is
/// selected by the `collection` / `file` of either). Returns the winners in
/// input order and how many records were merged away.
fn dedupe(mut records: Vec<Record>) -> (Vec<Record>, u64) {
    use std::collections::hash_map::Entry;
    use std::collections::HashMap;
    let mut winner: HashMap<String, usize> = HashMap::with_capacity(records.len());
    let mut keep = vec![true; records.len()];
    // (winner, merged copy) of STIX object versions.
    let mut stix_merges: Vec<(usize, usize)> = Vec::new();
    for (i, rec) in records.iter().enumerate() {
        let key = match rec {
            Record::Indicator(ind) => format!("ind:{}:{}", ind.kind.as_str(), ind.value),
            Record::Stix(s) => format!("obj:{}:{:?}", s.id, s.modified),
        };
        match winner.entry(key) {
            Entry::Vacant(v) => {
                v.insert(i);
            }
            Entry::Occupied(mut o) => {
                let prev = *o.get();
                let later = match (&records[prev], rec) {
                    (Record::Indicator(a), Record::Indicator(b)) => {
                        b.last_modified >= a.last_modified
                    }
                    _ => false,
                };
                if later {
                    keep[prev] = false;
                    o.insert(i);
                } else {
                    keep[i] = false;
                    if matches!(rec, Record::Stix(_)) {
                        stix_merges.push((prev, i));
                    }
                }
            }
        }
    }
    for (w, m) in stix_merges {
        let (collections, files) = match &records[m] {
            Record::Stix(s) => (s.collections.clone(), s.files.clone()),
            Record::Indicator(_) => continue,
        };
        if let Record::Stix(s) = &mut records[w] {
            for c in collections {
                if !s.collections.contains(&c) {
                    s.collections.push(c);
                }
            }
            for f in files {
                if !s.files.contains(&f) {
                    s.files.push(f);
                }
            }
        }
    }
    let merged = keep.iter().filter(|k| !**k).count() as u64;
    let winners = records
        .into_iter()
        .zip(keep)
        .filter_map(|(r, k)| k.then_some(r))
        .collect();
    (winners, merged)
}

fn owner_ok(plan: &Plan, rec: &Record) -> bool {
    if plan.owners.is_empty() {
        return true;
    }
    match rec {
        Record::Indicator(i) => i
            .owner
            .as_deref()
            .is_some_and(|o| plan.owners.iter().any(|x| x == o)),
        Record::Stix(_) => false,
    }
}

/// The human-readable summary printed after a compile.
pub fn render_summary(s: &Summary) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    let _ = writeln!(
        o,
        "published {} (generation {}, {} bytes) in {} ms",
        s.output, s.generation, s.output_bytes, s.timings.total_ms
    );
    let _ = writeln!(
        o,
        "read {} records from {} files ({} bytes): {} usable, {} rejected",
        s.records_read,
        s.files.len(),
        s.bytes_in,
        s.records_ok,
        s.rejected.values().sum::<u64>()
    );
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
            "collection {} {:?}{}: {} objects (added {}, changed {}, unchanged {}, revoked {}, dropped {}, expired {})",
            c.id,
            c.title,
            c.alias.as_deref().map(|a| format!(" [{a}]")).unwrap_or_default(),
            c.objects,
            c.added,
            c.changed,
            c.unchanged,
            c.revoked,
            c.dropped,
            c.expired
        );
    }
    let t = &s.timings;
    let _ = write!(
        o,
        "timings: read {} ms, select {} ms, build {} ms, write {} ms",
        t.read_ms, t.select_ms, t.build_ms, t.write_ms
    );
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keep_of(extra: &str) -> [Keep; 4] {
        let text = format!(
            "[[api_roots]]\nname = \"feeds\"\ntitle = \"Feeds\"\n\
             [[collections]]\nid = \"0f0e0d0c-0b0a-4908-8706-050403020100\"\ntitle = \"A\"\n\
             query = 'source.attributes.x = 1 and type = \"ipv4\"'\nreaders = [\"*\"]\n{extra}"
        );
        let cfg = Config::from_toml(&text, Path::new("t.toml")).unwrap();
        let plans = plan_collections(&cfg, 0).unwrap();
        source_reads(&cfg, &plans).unwrap()
    }

    fn members(v: &[&str]) -> Keep {
        Keep::Members(v.iter().map(|s| s.to_string()).collect())
    }

    fn stix_copy(modified: i64, collection: &str, file: u32, position: u64) -> Record {
        use crate::record::{Origin, Source, StixRecord};
        let json: std::sync::Arc<str> = r#"{"type":"malware"}"#.into();
        Record::Stix(StixRecord {
            id: "malware--31b940d4-6f7f-459a-80ea-9c1f17b5891b".into(),
            stix_type: "malware".into(),
            spec_version: "2.1".into(),
            created: Some(modified),
            modified: Some(modified),
            date_added: None,
            json: json.clone(),
            origin: Origin {
                file,
                position,
                is_line: false,
            },
            source: Source(json),
            problems: Vec::new(),
            collections: vec![collection.into()],
            files: vec![file],
        })
    }

    #[test]
    fn merged_stix_copies_keep_every_collection_and_file() {
        let records = vec![
            stix_copy(1, "a", 0, 0),
            stix_copy(1, "b", 0, 1),
            stix_copy(2, "c", 0, 2),
            stix_copy(1, "a", 1, 0),
        ];
        let (kept, merged) = dedupe(records);
        assert_eq!(merged, 2);
        let got: Vec<(Vec<String>, Vec<u32>, u64)> = kept
            .iter()
            .map(|r| match r {
                Record::Stix(s) => (
                    s.collections.iter().map(|c| c.to_string()).collect(),
                    s.files.clone(),
                    s.origin.position,
                ),
                Record::Indicator(_) => unreachable!(),
            })
            .collect();
        // The first copy of version 1 wins and is in a, b (files 0 and 1);
        // version 2 is its own record.
        assert_eq!(
            got,
            vec![
                (vec!["a".into(), "b".into()], vec![0, 1], 0),
                (vec!["c".into()], vec![0], 2),
            ]
        );
    }

    #[test]
    fn records_keep_what_mappings_filters_and_owner_collections_read() {
        // Profile defaults (threatconnect: tags, rating, id, ownerName,
        // type; xsoar: score; native: tags) plus the query's
        // `source.attributes`.
        let k = keep_of("");
        assert_eq!(
            k[0],
            members(&["tags", "rating", "id", "ownerName", "type", "attributes"])
        );
        assert_eq!(k[1], members(&["score", "attributes"]));
        assert_eq!(k[2], members(&["tags", "attributes"]));
        assert_eq!(k[3], Keep::Whole);
        // A global mapping, and owner collections' own mappings.
        let k = keep_of(
            "[mappings]\nx_a = \"webLink\"\n[owner_collections]\nenabled = true\n\
             title = \"{owner}\"\nreaders = [\"*\"]\n[owner_collections.mappings]\nx_b = \"summary\"\n",
        );
        assert_eq!(k[2], members(&["tags", "webLink", "attributes", "summary"]));
        // A mapping that reads the root needs the whole record.
        let k = keep_of("[mappings]\nx_all = \"@\"\n");
        assert_eq!(k[0], Keep::Whole);
    }
}
