//! An upstream's local cache beside the feed: per collection, the objects
//! fetched so far (NDJSON, appended page by page, exact duplicates
//! dropped), and one cursor file saying how far each collection has been
//! fetched (docs/decisions.md#d73).
//!
//! Each page is appended and synced before the cursor that covers it is
//! written (to a temporary file, renamed over the old one), so the cursor
//! never runs ahead of the objects: after a crash the next compile asks
//! again for at most what it already has, and the duplicates are dropped.

use super::taxii::Position;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use xxhash_rust::xxh3::xxh3_64;

/// Bumped when the cursor file changes meaning; an older one is an error
/// naming the file.
const CURSOR_FORMAT: u32 = 1;
const CURSOR_FILE: &str = "cursor.json";

/// The cursor file of one source.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct Cursors {
    pub format: u32,
    /// The source URL the cache was filled from.
    pub url: String,
    pub collections: BTreeMap<String, Cursor>,
}

/// How far one upstream collection has been fetched.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub(super) struct Cursor {
    pub title: String,
    /// Everything the server had added up to this time (its
    /// `X-TAXII-Date-Added-Last`) is in the cache; the next fetch asks for
    /// what was added after it. `None` before the first complete fetch.
    pub added_after: Option<String>,
    /// A fetch that stopped part-way: where to go on from.
    pub resume: Option<Resume>,
    /// Objects in the cache file.
    pub objects: u64,
}

/// A fetch in progress: the query it was making and the page it reached.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Resume {
    pub added_after: Option<String>,
    pub next: Option<String>,
    pub offset: Option<u64>,
    /// The latest `X-TAXII-Date-Added-Last` of the pages fetched so far.
    pub last: Option<String>,
}

impl Resume {
    pub fn position(&self) -> Position {
        match (&self.next, self.offset) {
            (Some(t), _) => Position::Next(t.clone()),
            (None, Some(o)) => Position::Offset(o),
            (None, None) => Position::Start,
        }
    }
}

impl Cursors {
    /// The cursor file in `dir`; an empty one when there is none yet.
    pub fn load(dir: &Path) -> Result<Cursors, String> {
        let path = dir.join(CURSOR_FILE);
        let text = match std::fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Cursors {
                    format: CURSOR_FORMAT,
                    ..Cursors::default()
                })
            }
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        let c: Cursors = serde_json::from_slice(&text).map_err(|e| {
            format!(
                "{}: damaged cursor file ({e}); move the directory away to fetch again from scratch",
                path.display()
            )
        })?;
        if c.format != CURSOR_FORMAT {
            return Err(format!(
                "{}: cursor format {} is not {CURSOR_FORMAT} (written by another taxii-edge version); move the directory away to fetch again from scratch",
                path.display(),
                c.format
            ));
        }
        Ok(c)
    }

    /// Writes the cursor file atomically.
    pub fn save(&self, dir: &Path) -> Result<(), String> {
        let path = dir.join(CURSOR_FILE);
        let fail = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| fail(&e))?;
        serde_json::to_writer_pretty(&mut tmp, self).map_err(|e| fail(&e))?;
        tmp.as_file().sync_data().map_err(|e| fail(&e))?;
        tmp.persist(&path).map_err(|e| fail(&e.error))?;
        Ok(())
    }
}

/// Holds the cache directory `dir` for one compile: a second compile of
/// the same feed fetching the same source at the same time is refused
/// rather than let the two interleave their appends and cursors. The lock
/// is released when the returned file is dropped (or the process ends).
pub(super) fn lock(dir: &Path) -> Result<File, String> {
    let path = dir.join(".lock");
    let f = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    use std::os::fd::AsRawFd;
    // SAFETY: flock on a descriptor this function owns; no memory involved.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
        return Ok(f);
    }
    let e = std::io::Error::last_os_error();
    if e.kind() == std::io::ErrorKind::WouldBlock {
        Err(format!(
            "{}: another compile is fetching this source now",
            dir.display()
        ))
    } else {
        Err(format!("{}: {e}", path.display()))
    }
}

/// The cache file of collection `id` in `dir`: the id itself when it is a
/// plain name (UUIDs are), else a hash of it.
pub(super) fn objects_path(dir: &Path, id: &str) -> PathBuf {
    let plain = !id.is_empty()
        && id.len() <= 128
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if plain {
        dir.join(format!("{id}.ndjson"))
    } else {
        dir.join(format!("{:016x}.ndjson", xxh3_64(id.as_bytes())))
    }
}

/// The native records of collection `id`'s simple indicators
/// ([`super::indicators`]), beside [`objects_path`].
pub(super) fn indicators_path(dir: &Path, id: &str) -> PathBuf {
    let objects = objects_path(dir, id);
    objects.with_extension("indicators.ndjson")
}

/// One collection's cache file, open for appending.
pub(super) struct Objects {
    file: File,
    path: PathBuf,
    /// Hashes of the lines in the file.
    seen: HashSet<u64>,
    /// The file's length.
    len: u64,
    /// How a line names what it is about, for [`Objects::latest`]
    /// (`None`: the lines are not keyed).
    key_of: Option<KeyOf>,
    /// Per key hash, the offset and length of the last line with it.
    latest: HashMap<u64, (u64, u32)>,
}

/// The key of a line, if it has one.
pub(super) type KeyOf = fn(&[u8]) -> Option<&[u8]>;

impl Objects {
    /// Opens (or creates) the file and learns its lines; a last line cut
    /// short by a crash is cut off.
    pub fn open(path: &Path) -> Result<Objects, String> {
        Objects::open_keyed(path, None)
    }

    /// [`Objects::open`], remembering where the last line of each key is.
    pub fn open_keyed(path: &Path, key_of: Option<KeyOf>) -> Result<Objects, String> {
        let fail = |e: std::io::Error| format!("{}: {e}", path.display());
        let mut latest = HashMap::new();
        let mut file = File::options()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(fail)?;
        let mut seen = HashSet::new();
        let mut good = 0u64;
        let mut reader = BufReader::new(&file);
        let mut line = Vec::new();
        loop {
            line.clear();
            let n = reader.read_until(b'\n', &mut line).map_err(fail)?;
            if n == 0 || line.last() != Some(&b'\n') {
                break;
            }
            let text = &line[..n - 1];
            if let Some(k) = key_of.and_then(|f| f(text)) {
                latest.insert(xxh3_64(k), (good, text.len() as u32));
            }
            good += n as u64;
            seen.insert(xxh3_64(text));
        }
        drop(reader);
        if file.metadata().map_err(fail)?.len() != good {
            file.set_len(good).map_err(fail)?;
        }
        file.seek(SeekFrom::End(0)).map_err(fail)?;
        Ok(Objects {
            file,
            path: path.to_path_buf(),
            seen,
            len: good,
            key_of,
            latest,
        })
    }

    /// The last line with key `key`, if any.
    pub fn latest(&self, key: &[u8]) -> Result<Option<Vec<u8>>, String> {
        use std::os::unix::fs::FileExt;
        let Some(&(at, len)) = self.latest.get(&xxh3_64(key)) else {
            return Ok(None);
        };
        let mut buf = vec![0; len as usize];
        self.file
            .read_exact_at(&mut buf, at)
            .map_err(|e| format!("{}: {e}", self.path.display()))?;
        Ok(Some(buf))
    }

    /// Objects in the file.
    pub fn count(&self) -> u64 {
        self.seen.len() as u64
    }

    /// Appends the objects not in the file yet, one compact JSON line
    /// each, and syncs; returns how many were new.
    pub fn append(&mut self, objects: &[serde_json::Value]) -> Result<u64, String> {
        let mut out = Vec::new();
        let mut added = 0;
        for o in objects {
            let line = serde_json::to_vec(o).map_err(|e| e.to_string())?;
            if self.seen.insert(xxh3_64(&line)) {
                if let Some(k) = self.key_of.and_then(|f| f(&line)) {
                    let at = self.len + out.len() as u64;
                    self.latest.insert(xxh3_64(k), (at, line.len() as u32));
                }
                out.extend_from_slice(&line);
                out.push(b'\n');
                added += 1;
            }
        }
        if added > 0 {
            let fail = |e: std::io::Error| format!("{}: {e}", self.path.display());
            self.file.write_all(&out).map_err(fail)?;
            self.file.sync_data().map_err(fail)?;
            self.len += out.len() as u64;
        }
        Ok(added)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn appends_once_and_cuts_a_torn_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = objects_path(dir.path(), "c1");
        let a = json!({"type": "indicator", "id": "indicator--1"});
        let b = json!({"type": "indicator", "id": "indicator--2"});
        let mut o = Objects::open(&path).unwrap();
        assert_eq!(o.append(&[a.clone(), a.clone(), b.clone()]).unwrap(), 2);
        drop(o);
        // A crash in the middle of a write leaves half a line.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"type\":\"ind")
            .unwrap();
        let mut o = Objects::open(&path).unwrap();
        assert_eq!(o.count(), 2);
        assert_eq!(o.append(&[b, json!({"id": "x--3"})]).unwrap(), 1);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 3, "{text}");
        assert!(text.ends_with("{\"id\":\"x--3\"}\n"), "{text}");
    }

    #[test]
    fn one_compile_at_a_time_per_source() {
        let dir = tempfile::tempdir().unwrap();
        let held = lock(dir.path()).unwrap();
        let e = lock(dir.path()).unwrap_err();
        assert!(e.contains("another compile"), "{e}");
        drop(held);
        lock(dir.path()).unwrap();
    }

    #[test]
    fn keyed_lines_remember_the_last_of_each_key() {
        fn key(line: &[u8]) -> Option<&[u8]> {
            let v = line.strip_prefix(b"{\"k\":\"")?;
            Some(&v[..v.iter().position(|&b| b == b'"')?])
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.ndjson");
        let mut o = Objects::open_keyed(&path, Some(key)).unwrap();
        o.append(&[json!({"k": "a", "v": 1}), json!({"k": "b", "v": 1})])
            .unwrap();
        o.append(&[json!({"k": "a", "v": 2})]).unwrap();
        assert_eq!(o.latest(b"a").unwrap().unwrap(), br#"{"k":"a","v":2}"#);
        drop(o);
        let o = Objects::open_keyed(&path, Some(key)).unwrap();
        assert_eq!(o.latest(b"a").unwrap().unwrap(), br#"{"k":"a","v":2}"#);
        assert_eq!(o.latest(b"b").unwrap().unwrap(), br#"{"k":"b","v":1}"#);
        assert_eq!(o.latest(b"c").unwrap(), None);
    }

    #[test]
    fn odd_collection_ids_get_a_hashed_file_name() {
        let d = Path::new("/c");
        assert_eq!(
            objects_path(d, "abc-1").file_name().unwrap(),
            "abc-1.ndjson"
        );
        let odd = objects_path(d, "../x");
        assert_eq!(odd.parent(), Some(d));
        assert_ne!(odd.file_name().unwrap(), "../x.ndjson");
    }

    #[test]
    fn cursor_round_trip_and_format_check() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Cursors::load(dir.path()).unwrap();
        c.url = "https://u/".into();
        c.collections.insert(
            "c1".into(),
            Cursor {
                added_after: Some("2026-01-01T00:00:00.000Z".into()),
                ..Cursor::default()
            },
        );
        c.save(dir.path()).unwrap();
        let back = Cursors::load(dir.path()).unwrap();
        assert_eq!(
            back.collections["c1"].added_after,
            c.collections["c1"].added_after
        );
        std::fs::write(
            dir.path().join(CURSOR_FILE),
            r#"{"format": 9, "url": "", "collections": {}}"#,
        )
        .unwrap();
        let e = Cursors::load(dir.path()).unwrap_err();
        assert!(e.contains("cursor format 9"), "{e}");
    }
}
