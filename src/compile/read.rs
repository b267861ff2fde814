//! The read stage: every input file parsed in parallel ([`crate::input`]),
//! each record keeping only what the collections read; passthrough STIX
//! objects that fail the structural check kept with a warning or rejected
//! (`compile.stix_check`); rejects counted per reason, failing the run
//! above the threshold.

use super::held::{CompileShelf, Held};
use super::{CompileError, CompileOptions, FileReport, Plan, Summary};
use crate::config::{Config, StixCheckMode};
use crate::input::{self, InputBytes, ReadOutcome};
use crate::mapping::Mappings;
use crate::record::{Keep, Profile, Record, StixProblemKind};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

/// The `file` query field's name of each input file, indexed like
/// `Origin::file`.
pub(super) type FileNames = std::sync::Arc<[Box<str>]>;

/// The input files the `[[inputs]]` patterns name, in the order they are
/// read.
pub(super) fn input_files(cfg: &Config) -> Result<Vec<input::InputFile>, CompileError> {
    Ok(input::expand(&input_patterns(cfg))?)
}

/// What the read stage leaves for the next ones.
pub(super) struct Read {
    /// The accepted records, in file order then position
    /// (`super::held`): indicators as stubs selected by `plans`.
    pub held: Vec<Held>,
    /// Each input file's bytes (the build parses the stubs again).
    pub inputs: Vec<Arc<InputBytes>>,
    /// What records keep of their source, per profile (`Profile::ALL`).
    pub keep: [Keep; 4],
    /// The owner names the stubs index.
    pub owners: Vec<Arc<str>>,
    /// The `file` query field's name of each input file.
    pub files: FileNames,
}

/// The read stage: reads every file ([`input_files`]) keeping what the
/// collections read, evaluates the queries of `plans` on each indicator
/// record as it is parsed ([`CompileShelf`]), applies
/// `compile.stix_check` and the reject threshold, and fills the input half
/// of the summary.
pub(super) fn read_inputs(
    opts: &CompileOptions,
    plans: &[Plan],
    files: &[input::InputFile],
    labels: &[crate::upstream::CacheFile],
    summary: &mut Summary,
) -> Result<Read, CompileError> {
    let cfg = &opts.config;
    let t = Instant::now();
    let keep = source_reads(cfg, plans)?;
    let names = file_names(cfg, files, labels);
    let shelf = CompileShelf::new(plans, names.clone());
    let mut outcome = read_with_progress(files, opts.progress, &keep, &shelf)?;
    let stix_problems = apply_stix_check(&mut outcome, cfg.compile.stix_check);
    summary.timings.read_ms = t.elapsed().as_millis() as u64;
    report_input(&outcome, summary);
    summary.stix_check = stix_problems;
    check_rejects(&outcome, cfg.compile.reject_threshold, opts.strict)?;
    Ok(Read {
        held: outcome.records,
        inputs: outcome.inputs,
        keep,
        owners: shelf.owners(),
        files: names,
    })
}

/// The `[[inputs]]` patterns (relative ones under the config file's
/// directory), each with the profile it declares.
fn input_patterns(cfg: &Config) -> Vec<(String, Option<Profile>)> {
    cfg.inputs
        .iter()
        .filter_map(|i| Some((i, i.path.as_ref()?)))
        .map(|(i, path)| {
            let p = if Path::new(path).is_absolute() {
                path.clone()
            } else {
                cfg.base_dir().join(path).display().to_string()
            };
            (p, i.format.as_deref().and_then(Profile::parse))
        })
        .collect()
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
    // `CustomFields.stixid` (lifecycle::indicators::xsoar_ids).
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
    shelf: &CompileShelf<'_>,
) -> Result<ReadOutcome<Held>, CompileError> {
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
        let out = input::read_files_shelving(files, Some(&tick), keep, shelf);
        bar.finish_and_clear();
        Ok(out?)
    } else {
        Ok(input::read_files_shelving(files, None, keep, shelf)?)
    }
}

/// Applies `compile.stix_check` to the passthrough STIX objects that failed
/// the structural check: under `warn` each one is kept and gets a warning,
/// under `reject` it leaves the records for the rejects (its file's counts
/// follow). Returns the per-reason counts of the objects found.
fn apply_stix_check(o: &mut ReadOutcome<Held>, mode: StixCheckMode) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    let flagged = |h: &Held| matches!(h, Held::Whole(r) if matches!(&**r, Record::Stix(s) if !s.problems.is_empty()));
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
        let Held::Whole(whole) = &rec else {
            kept.push(rec);
            continue;
        };
        let Record::Stix(s) = &**whole else {
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
/// `[[inputs]]` names it, or the path as found for files elsewhere; or the
/// label of an upstream cache file (`taxii:NAME`).
fn file_names(
    cfg: &Config,
    files: &[input::InputFile],
    labels: &[crate::upstream::CacheFile],
) -> FileNames {
    let base = cfg.base_dir();
    files
        .iter()
        .map(|f| {
            if let Some(c) = labels.iter().find(|c| c.path == f.path) {
                return c.label.as_str().into();
            }
            let p = f.path.strip_prefix(&base).unwrap_or(&f.path);
            p.to_string_lossy().into()
        })
        .collect()
}

fn report_input<R>(o: &ReadOutcome<R>, s: &mut Summary) {
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

fn check_rejects<R>(o: &ReadOutcome<R>, threshold: f64, strict: bool) -> Result<(), CompileError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::plan_collections;

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
