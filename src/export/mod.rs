//! `export-static`: the feed as plain files, for static hosting, object
//! stores and CDNs (README "Static export").
//!
//! Every file is rendered by the server itself, in process
//! ([`crate::server::Offline`]), so a file holds exactly the bytes `serve`
//! answers for the same unfiltered GET. The URL tree is mirrored:
//! `<path>/index.json` answers `GET <path>/`, and the page after a `next`
//! token `T` of `.../objects/` is `.../objects/next/T.json` (a documented
//! rewrite maps `?next=T` onto it; tokens are URL-safe base64, so they are
//! safe file names). Each file has `.gz` and `.zst` siblings (the feed's
//! precompressed copies for default pages).
//!
//! Default pages end at the feed's stable boundaries, and a `next` token is
//! a boundary, so a regeneration rewrites only pages that changed and the
//! tail. Every boundary the feed remembers gets a file, so tokens handed
//! out by older generations keep resolving.
//!
//! Generations: each export is written to `generations/<id>/` (`<id>.<k>`
//! when the same feed is exported again) beside the
//! previous ones, files whose bytes did not change are hard links into the
//! previous generation (an rsync or object-store sync moves only what
//! changed), then the `current` symlink is swapped atomically and
//! generations beyond the retention are removed.
//!
//! Collections are exported with their readers' view: pages and the
//! collection resource as a reader sees them (access is enforced in front,
//! by the web server, which asks the `serve` origin, see [`nginx`]);
//! discovery, api roots and the collections list as an anonymous client
//! sees them.

pub mod nginx;

use crate::config::Config;
use crate::feed::{self, PageKind, WriteOptions};
use crate::files;
use crate::server::Offline;
use bytes::Bytes;
use std::collections::HashSet;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What `export-static` is asked to do.
pub struct ExportOptions {
    pub config: Config,
    pub feed: PathBuf,
    /// The export root (holds `generations/` and `current`).
    pub out: PathBuf,
    /// Overrides `server.public_url` (absolute api-root URLs in discovery).
    pub public_url: Option<String>,
    /// Generations kept, the new one included (at least 1).
    pub retention: usize,
    /// Also write object-by-id and versions files (one pair per object).
    pub objects_by_id: bool,
}

/// What an export wrote.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct ExportReport {
    pub generation: String,
    /// The generation directory.
    pub dir: PathBuf,
    /// Files in the generation (siblings included).
    pub files: u64,
    /// Bytes of those files.
    pub bytes: u64,
    /// Files written fresh.
    pub written: u64,
    /// Files hard-linked from the previous generation (unchanged bytes).
    pub linked: u64,
    /// Objects and manifest pages (uncompressed files under `objects/` and
    /// `manifest/`).
    pub pages: u64,
    /// Generation directories removed by the retention.
    pub removed: Vec<String>,
    pub seconds: f64,
}

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{0}")]
    Serve(#[from] crate::server::ServeError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("rendering {url} gave HTTP {status}: {body}")]
    Render {
        url: String,
        status: u16,
        body: String,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ExportError + '_ {
    move |source| ExportError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The directory `current` points at, if any.
pub fn current_generation(out: &Path) -> Option<PathBuf> {
    let target = fs::read_link(out.join("current")).ok()?;
    Some(out.join(target))
}

/// Runs one export. Writes to a temporary directory first, so a failed
/// export leaves `current` and every older generation untouched.
pub fn export(opts: ExportOptions) -> Result<ExportReport, ExportError> {
    let t0 = Instant::now();
    let mut config = opts.config;
    if opts.public_url.is_some() {
        config.server.public_url = opts.public_url.clone();
    }
    // The readers' view: every collection readable without credentials.
    let mut open = config.clone();
    for c in &mut open.collections {
        c.anonymous = true;
    }
    let public = Offline::new(config, &opts.feed)?;
    let reader = Offline::new(open, &opts.feed)?;
    let feed = reader.feed();
    let generation = feed.meta().generation.clone();

    let gens = opts.out.join("generations");
    fs::create_dir_all(&gens).map_err(io_err(&gens))?;
    let previous = current_generation(&opts.out);
    // The same feed exported again (after a config change, say) gets a new
    // directory: the one `current` points at may be serving right now.
    let dir_name = (0..)
        .map(|k| match k {
            0 => generation.clone(),
            k => format!("{generation}.{k}"),
        })
        .find(|name| !gens.join(name).exists())
        .unwrap_or_else(|| generation.clone());
    let final_dir = gens.join(&dir_name);
    let tmp = gens.join(format!(".tmp-{generation}-{}", std::process::id()));
    if tmp.exists() {
        fs::remove_dir_all(&tmp).map_err(io_err(&tmp))?;
    }
    let mut w = Writer {
        root: tmp.clone(),
        previous,
        report: ExportReport {
            generation: generation.clone(),
            dir: final_dir.clone(),
            ..ExportReport::default()
        },
        seen: HashSet::new(),
    };

    let base = public.base_path().to_string();
    let rel_base = base.trim_start_matches('/').to_string();
    w.resource(&public, &base, "taxii2/", &rel_base)?;
    for root in &feed.meta().api_roots {
        w.resource(&public, &base, &format!("{}/", root.name), &rel_base)?;
        w.resource(
            &public,
            &base,
            &format!("{}/collections/", root.name),
            &rel_base,
        )?;
    }
    let key = reader.token_key();
    for (ci, cm) in feed.meta().collections.iter().enumerate() {
        if !cm.taxii_versions.iter().any(|v| v == "2.1") {
            continue;
        }
        let col = format!("{}/collections/{}/", cm.api_root, cm.id);
        w.resource(&reader, &base, &col, &rel_base)?;
        let cf = &feed.collections()[ci];
        for (kind, name) in [
            (PageKind::Objects, "objects"),
            (PageKind::Manifest, "manifest"),
        ] {
            let list = format!("{col}{name}/");
            // Every boundary, then whatever chain the pages name (the
            // same tokens, except in collections without default pages).
            let mut next = w.page(&reader, &base, &list, None, &rel_base)?;
            while let Some(t) = next.take() {
                if !w.seen.contains(&page_file(&rel_base, &list, Some(&t))) {
                    next = w.page(&reader, &base, &list, Some(&t), &rel_base)?;
                }
            }
            for cut in cf.cuts() {
                let t = feed::page_token(kind, &cm.api_root, &cm.id, &cut, &key);
                if !w.seen.contains(&page_file(&rel_base, &list, Some(&t))) {
                    w.page(&reader, &base, &list, Some(&t), &rel_base)?;
                }
            }
        }
        if opts.objects_by_id {
            let mut ids: Vec<&str> = (0..cf.len()).map(|i| cf.id_of(i)).collect();
            ids.sort_unstable();
            ids.dedup();
            for id in ids {
                w.resource(&reader, &base, &format!("{col}objects/{id}/"), &rel_base)?;
                w.resource(
                    &reader,
                    &base,
                    &format!("{col}objects/{id}/versions/"),
                    &rel_base,
                )?;
            }
        }
    }

    // Publish: rename into place, then swap `current`.
    let mut report = w.report;
    files::rename_durably(&tmp, &final_dir).map_err(io_err(&final_dir))?;
    swap_current(&opts.out, &dir_name)?;
    report.removed = prune(&gens, &dir_name, opts.retention.max(1))?;
    report.seconds = t0.elapsed().as_secs_f64();
    Ok(report)
}

/// Points `out/current` at `generations/<dir>` atomically (a new
/// symlink renamed over the old one).
fn swap_current(out: &Path, dir: &str) -> Result<(), ExportError> {
    let link = out.join("current");
    let tmp = out.join(format!(".current-{}", std::process::id()));
    let _ = fs::remove_file(&tmp);
    std::os::unix::fs::symlink(Path::new("generations").join(dir), &tmp).map_err(io_err(&tmp))?;
    files::rename_durably(&tmp, &link).map_err(io_err(&link))
}

/// Removes the oldest generations beyond `keep` (by modification time;
/// never the current one) and stale temporary directories.
fn prune(gens: &Path, current: &str, keep: usize) -> Result<Vec<String>, ExportError> {
    let mut dirs: Vec<(std::time::SystemTime, String)> = Vec::new();
    for e in fs::read_dir(gens).map_err(io_err(gens))? {
        let e = e.map_err(io_err(gens))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with(".tmp-") {
            // A killed exporter's leftovers (ours was renamed already).
            let _ = fs::remove_dir_all(e.path());
            continue;
        }
        if name == current {
            continue;
        }
        let mtime = e
            .metadata()
            .and_then(|m| m.modified())
            .unwrap_or(std::time::UNIX_EPOCH);
        dirs.push((mtime, name));
    }
    dirs.sort();
    let excess = dirs.len().saturating_sub(keep - 1);
    let mut removed = Vec::new();
    for (_, name) in dirs.into_iter().take(excess) {
        let p = gens.join(&name);
        fs::remove_dir_all(&p).map_err(io_err(&p))?;
        removed.push(name);
    }
    Ok(removed)
}

/// The file (relative to the generation) holding a list page.
fn page_file(rel_base: &str, list: &str, token: Option<&str>) -> String {
    match token {
        None => format!("{rel_base}{list}index.json"),
        Some(t) => format!("{rel_base}{list}next/{t}.json"),
    }
}

struct Writer {
    root: PathBuf,
    previous: Option<PathBuf>,
    report: ExportReport,
    /// Relative paths written (uncompressed files).
    seen: HashSet<String>,
}

impl Writer {
    /// Renders `GET <base><path>` into `<path>index.json` and siblings.
    fn resource(
        &mut self,
        srv: &Offline,
        base: &str,
        path: &str,
        rel_base: &str,
    ) -> Result<(), ExportError> {
        let url = format!("{base}{path}");
        let body = render(srv, &url, None)?;
        self.store(srv, &url, &format!("{rel_base}{path}index.json"), body)
    }

    /// Renders one list page and returns its `next` token.
    fn page(
        &mut self,
        srv: &Offline,
        base: &str,
        list: &str,
        token: Option<&str>,
        rel_base: &str,
    ) -> Result<Option<String>, ExportError> {
        let url = match token {
            None => format!("{base}{list}"),
            Some(t) => format!("{base}{list}?next={t}"),
        };
        let body = render(srv, &url, None)?;
        let next = next_of(&body);
        self.report.pages += 1;
        self.store(srv, &url, &page_file(rel_base, list, token), body)?;
        Ok(next)
    }

    /// Writes `body` at `rel` plus `.gz` and `.zst` siblings: the server's
    /// precompressed copy when it has one, else compressed here.
    fn store(
        &mut self,
        srv: &Offline,
        url: &str,
        rel: &str,
        body: Bytes,
    ) -> Result<(), ExportError> {
        self.seen.insert(rel.to_string());
        let levels = WriteOptions::default();
        let compressed = |r: std::io::Result<Vec<u8>>| {
            r.map(Bytes::from).map_err(|source| ExportError::Io {
                path: self.root.join(rel),
                source,
            })
        };
        let gz = match render(srv, url, Some("gzip"))? {
            b if b != body => b,
            _ => compressed(feed::gzip(&body, levels.gzip_level))?,
        };
        let zst = match render(srv, url, Some("zstd"))? {
            b if b != body => b,
            _ => compressed(zstd::bulk::compress(&body, levels.zstd_level))?,
        };
        self.file(rel, &body)?;
        self.file(&format!("{rel}.gz"), &gz)?;
        self.file(&format!("{rel}.zst"), &zst)
    }

    /// Writes one file, or hard-links the previous generation's copy when
    /// its bytes are the same.
    fn file(&mut self, rel: &str, bytes: &[u8]) -> Result<(), ExportError> {
        let path = self.root.join(rel);
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(io_err(dir))?;
        }
        self.report.files += 1;
        self.report.bytes += bytes.len() as u64;
        if let Some(prev) = &self.previous {
            let old = prev.join(rel);
            let same = fs::metadata(&old).is_ok_and(|m| m.len() == bytes.len() as u64)
                && fs::read(&old).is_ok_and(|b| b == bytes);
            if same && fs::hard_link(&old, &path).is_ok() {
                self.report.linked += 1;
                return Ok(());
            }
        }
        let mut f = fs::File::create(&path).map_err(io_err(&path))?;
        f.write_all(bytes).map_err(io_err(&path))?;
        self.report.written += 1;
        Ok(())
    }
}

/// `GET url` through the server; any status but 200 is an error (the
/// export must never publish an error page as data).
fn render(srv: &Offline, url: &str, coding: Option<&str>) -> Result<Bytes, ExportError> {
    let mut headers = vec![("accept", "application/taxii+json;version=2.1")];
    if let Some(c) = coding {
        headers.push(("accept-encoding", c));
    }
    let (status, _, body) = srv.get(url, &headers).map_err(|e| ExportError::Render {
        url: url.to_string(),
        status: 0,
        body: e.to_string(),
    })?;
    if status != http::StatusCode::OK {
        return Err(ExportError::Render {
            url: url.to_string(),
            status: status.as_u16(),
            body: String::from_utf8_lossy(&body).into_owned(),
        });
    }
    Ok(body)
}

/// The `next` token of a page body (`{"more":true,"next":"T",...`).
fn next_of(body: &[u8]) -> Option<String> {
    let rest = body.strip_prefix(b"{\"more\":true,\"next\":\"")?;
    let end = memchr::memchr(b'"', rest)?;
    std::str::from_utf8(&rest[..end]).ok().map(str::to_string)
}
