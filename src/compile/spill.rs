//! The spill file: serialized objects parked on disk between the build and
//! the write.
//!
//! A compile builds every object before it can sort them by `date_added`
//! and write the feed; holding their JSON in the heap made the compile's
//! peak memory grow by the serialized size of the whole feed (~700 bytes
//! per indicator). Instead each build task appends its batch of JSON to an
//! unnamed temporary file beside the output (same filesystem, gone when
//! the process exits, even on a kill) and keeps only (offset, length).
//! After the build the file is mapped once; the writer reads the JSON
//! through the mapping and releases its pages behind it
//! ([`crate::feed::WriteOptions::release`]), so the page cache, not the
//! process, holds the bytes. Bodies reused from the previous generation
//! ([`Body::Kept`]) are spans of its file: the same hook releases that
//! mapping's pages too ([`Parked::with_previous`]).

use crate::feed::{Feed, FeedError, Json, ReleaseHook};
use crate::files::{release_pages, shared_bytes};
use bytes::Bytes;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// An object's JSON (or its STATE key, or its id) during the build: in
/// the heap, parked in the spill, or kept where the previous generation's
/// feed file has it.
///
/// 16 bytes, as three or four are held per built object until the write:
/// a body in the heap is boxed, and a kept one is a span of the previous
/// file rather than a `Bytes` handle (32 bytes).
#[derive(Debug, Clone)]
pub(crate) enum Body {
    Ready(Box<Json>),
    Spilled {
        offset: u64,
        len: u32,
    },
    /// Bytes reused from the previous generation (`lifecycle::reuse`): a
    /// span of its file, already on disk, so never parked or copied.
    /// Checked as UTF-8 only when resolved, behind which the writer
    /// releases the pages: the build does not make them resident.
    Kept {
        offset: u64,
        len: u32,
    },
}

impl Body {
    pub fn len(&self) -> usize {
        match self {
            Body::Ready(j) => j.len(),
            Body::Spilled { len, .. } | Body::Kept { len, .. } => *len as usize,
        }
    }

    /// `part`, a slice of the previous generation's bytes, as a kept body
    /// (`None` when it is empty or not inside them).
    pub fn kept(previous: &Feed, part: &[u8]) -> Option<Body> {
        let r = previous.range_of(part);
        Some(Body::Kept {
            offset: r.start as u64,
            len: u32::try_from(r.len()).ok().filter(|&l| l > 0)?,
        })
    }
}

impl From<String> for Body {
    fn from(s: String) -> Body {
        Body::Ready(Box::new(s.into()))
    }
}

impl From<&str> for Body {
    fn from(s: &str) -> Body {
        Body::Ready(Box::new(s.into()))
    }
}

/// An append-only spill file (see the module doc).
pub(crate) struct Spill {
    file: Mutex<(File, u64)>,
    /// Named in errors: the directory the unnamed file lives in.
    dir: PathBuf,
}

impl Spill {
    /// An unnamed temporary file in `dir`.
    pub fn new_in(dir: &Path) -> Result<Spill, FeedError> {
        let file = tempfile::tempfile_in(dir).map_err(|e| FeedError::Io {
            path: dir.to_path_buf(),
            source: io::Error::new(e.kind(), format!("cannot create a spill file: {e}")),
        })?;
        Ok(Spill {
            file: Mutex::new((file, 0)),
            dir: dir.to_path_buf(),
        })
    }

    fn io(&self, e: io::Error) -> FeedError {
        FeedError::Io {
            path: self.dir.clone(),
            source: io::Error::new(e.kind(), format!("writing the spill file: {e}")),
        }
    }

    /// Moves every `Ready` body of the batch to the file (one write for the
    /// batch) and turns it into `Spilled`.
    pub fn park<'a>(
        &self,
        bodies: impl IntoIterator<Item = &'a mut Body>,
    ) -> Result<(), FeedError> {
        let mut batch = Vec::new();
        let mut parked: Vec<(&'a mut Body, u64, u32)> = Vec::new();
        for b in bodies {
            if let Body::Ready(j) = &*b {
                let len = u32::try_from(j.len())
                    .map_err(|_| self.io(io::Error::other("an object's JSON is over 4 GiB")))?;
                let at = batch.len() as u64;
                batch.extend_from_slice(j.as_bytes());
                parked.push((b, at, len));
            }
        }
        if batch.is_empty() {
            return Ok(());
        }
        let base = {
            let mut g = self.file.lock().unwrap_or_else(|p| p.into_inner());
            let base = g.1;
            g.0.write_all(&batch).map_err(|e| self.io(e))?;
            g.1 += batch.len() as u64;
            base
        };
        for (b, at, len) in parked {
            *b = Body::Spilled {
                offset: base + at,
                len,
            };
        }
        Ok(())
    }

    /// Maps the file for reading: the bodies resolve against it, and the
    /// hook releases its resident pages.
    pub fn finish(self) -> Result<Parked, FeedError> {
        let (file, len) = self.file.into_inner().unwrap_or_else(|p| p.into_inner());
        if len == 0 {
            return Ok(Parked {
                bytes: Bytes::new(),
                previous: Bytes::new(),
                maps: Vec::new(),
            });
        }
        // SAFETY: the file is unnamed (no other process can open it) and
        // this process no longer writes it: the mapping cannot change.
        let map = unsafe { crate::files::map(&file) }.map_err(|e| FeedError::Io {
            path: self.dir.clone(),
            source: io::Error::new(e.kind(), format!("mapping the spill file: {e}")),
        })?;
        let map = Arc::new(map);
        Ok(Parked {
            bytes: shared_bytes(Arc::clone(&map)),
            previous: Bytes::new(),
            maps: vec![map],
        })
    }
}

/// The mapped spill file.
pub(crate) struct Parked {
    bytes: Bytes,
    /// The previous generation's whole file, which [`Body::Kept`] bodies
    /// are spans of.
    previous: Bytes,
    /// The spill's mapping (when anything was parked) and the mappings
    /// kept bodies point into: [`Parked::release`] drops their pages.
    maps: Vec<Arc<memmap2::Mmap>>,
}

impl Parked {
    /// Resolves [`Body::Kept`] bodies against `previous`, and releases
    /// its pages (when it is mapped) wherever the spill's are.
    pub fn with_previous(mut self, previous: Option<&Feed>) -> Parked {
        if let Some(f) = previous {
            self.previous = f.bytes().clone();
            self.maps.extend(f.mapping());
        }
        self
    }

    /// The file a parked body (or, `kept`, a reused one) lies in, and its
    /// name in errors.
    fn file(&self, kept: bool) -> (&Bytes, &'static str) {
        if kept {
            (&self.previous, "<previous generation>")
        } else {
            (&self.bytes, "<spill>")
        }
    }

    /// The bytes of a body, without checks: empty when out of range, an
    /// error [`Parked::resolve`] reports.
    pub fn peek<'a>(&'a self, body: &'a Body) -> &'a [u8] {
        match body {
            Body::Ready(j) => j.as_bytes(),
            Body::Spilled { offset, len } | Body::Kept { offset, len } => {
                let (from, _) = self.file(matches!(body, Body::Kept { .. }));
                let start = *offset as usize;
                from.get(start..start + *len as usize).unwrap_or_default()
            }
        }
    }

    /// The JSON of a body (a slice of a mapping when spilled or kept).
    pub fn resolve(&self, body: Body) -> Result<Json, FeedError> {
        let (offset, len) = match body {
            Body::Ready(j) => return Ok(*j),
            Body::Spilled { offset, len } | Body::Kept { offset, len } => (offset, len),
        };
        let (from, name) = self.file(matches!(body, Body::Kept { .. }));
        let (start, end) = (offset as usize, offset as usize + len as usize);
        let invalid = |what: String| FeedError::Invalid {
            path: PathBuf::from(name),
            what,
        };
        if end > from.len() {
            return Err(invalid(format!(
                "an object ({start}..{end}) lies past the file's {} bytes",
                from.len()
            )));
        }
        Json::from_shared(from.slice(start..end))
            .map_err(|e| invalid(format!("an object ({start}..{end}) is not UTF-8: {e}")))
    }

    /// Drops the resident pages of the mappings.
    pub fn release(&self) {
        for map in &self.maps {
            release_pages(map, 0..map.len());
        }
    }

    /// [`Parked::release`] for the writer (see the module doc).
    pub fn release_hook(&self) -> Option<ReleaseHook> {
        if self.maps.is_empty() {
            return None;
        }
        let maps = self.maps.clone();
        Some(ReleaseHook(Arc::new(move || {
            for map in &maps {
                release_pages(map, 0..map.len());
            }
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parked_bodies_resolve_to_the_same_json() {
        let dir = tempfile::tempdir().unwrap();
        let spill = Spill::new_in(dir.path()).unwrap();
        let mut a: Vec<Body> = vec!["{\"a\":1}".into(), "{\"b\":\"é\"}".into()];
        let mut b: Vec<Body> = vec!["{\"c\":[]}".into(), Body::Kept { offset: 3, len: 7 }];
        spill.park(a.iter_mut()).unwrap();
        spill.park(b.iter_mut()).unwrap();
        // Kept bodies stay where they are.
        assert!(matches!(b[1], Body::Kept { offset: 3, len: 7 }));
        assert!(matches!(a[1], Body::Spilled { offset: 7, len: 10 }));
        assert!(matches!(b[0], Body::Spilled { offset: 17, len: 8 }));
        assert_eq!(a[1].len(), 10);
        // The temporary file is unnamed: nothing is left in the directory.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        let mut parked = spill.finish().unwrap();
        parked.previous = Bytes::from_static(b"xx,{\"k\":0}]");
        let hook = parked.release_hook().unwrap();
        let got: Vec<String> = a
            .into_iter()
            .chain(b)
            .map(|x| parked.resolve(x).unwrap().to_string())
            .collect();
        (hook.0)();
        assert_eq!(
            got,
            ["{\"a\":1}", "{\"b\":\"é\"}", "{\"c\":[]}", "{\"k\":0}"]
        );
        assert!(parked
            .resolve(Body::Spilled { offset: 20, len: 8 })
            .is_err());
        assert!(parked.resolve(Body::Kept { offset: 6, len: 7 }).is_err());
    }

    #[test]
    fn a_body_is_16_bytes_and_an_optional_one_too() {
        assert_eq!(std::mem::size_of::<Body>(), 16);
        assert_eq!(std::mem::size_of::<Option<Body>>(), 16);
    }

    #[test]
    fn an_empty_spill_maps_to_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let parked = Spill::new_in(dir.path()).unwrap().finish().unwrap();
        assert!(parked.release_hook().is_none());
        assert_eq!(&*parked.resolve("{}".into()).unwrap(), "{}");
    }
}
