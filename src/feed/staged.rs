//! Bytes of a section made before the writer copies them into the feed
//! file: in memory, or in an unnamed temporary file beside the output
//! (removed by the system however the process ends).
//!
//! Two sections are staged: a collection's PAGEDATA, compressed by the
//! other workers while the writer's thread writes the sections before it
//! (docs/decisions.md#d69), and its STATE, encoded row by row while the
//! compiler converts its objects for the writer (docs/decisions.md#d72).
//! At ten million objects STATE alone is about 1.5 GB; held in memory it
//! was a third of the write stage's peak.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

/// Copies are made in reads of this size.
const COPY_CHUNK: usize = 1 << 20;

/// Where a section is written before the writer takes it.
pub(crate) enum Spool {
    File(BufWriter<File>),
    Memory(Vec<u8>),
}

impl Spool {
    /// An unnamed file in `dir`, or memory when there is no `dir` (a feed
    /// written to memory).
    pub fn new(dir: Option<&Path>) -> io::Result<Spool> {
        Ok(match dir {
            Some(dir) => Spool::File(BufWriter::with_capacity(
                COPY_CHUNK,
                tempfile::tempfile_in(dir)?,
            )),
            None => Spool::Memory(Vec::new()),
        })
    }

    /// Everything written, ready to be read (and patched in place).
    pub fn finish(self) -> io::Result<Staged> {
        Ok(match self {
            Spool::File(b) => {
                let file = b.into_inner().map_err(|e| e.into_error())?;
                let len = file.metadata()?.len();
                Staged::File {
                    file: Arc::new(file),
                    len,
                }
            }
            Spool::Memory(v) => Staged::Memory(v),
        })
    }
}

impl Write for Spool {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        match self {
            Spool::File(f) => f.write(b),
            Spool::Memory(v) => v.write(b),
        }
    }

    fn write_all(&mut self, b: &[u8]) -> io::Result<()> {
        match self {
            Spool::File(f) => f.write_all(b),
            Spool::Memory(v) => {
                v.extend_from_slice(b);
                Ok(())
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Spool::File(f) => f.flush(),
            Spool::Memory(_) => Ok(()),
        }
    }
}

/// A finished section's bytes, in memory or in a file.
#[derive(Debug, Clone)]
pub enum Staged {
    Memory(Vec<u8>),
    File { file: Arc<File>, len: u64 },
}

impl Default for Staged {
    fn default() -> Self {
        Staged::Memory(Vec::new())
    }
}

impl From<Vec<u8>> for Staged {
    fn from(v: Vec<u8>) -> Self {
        Staged::Memory(v)
    }
}

impl Staged {
    pub fn len(&self) -> u64 {
        match self {
            Staged::Memory(v) => v.len() as u64,
            Staged::File { len, .. } => *len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Overwrites `bytes.len()` bytes at `at`, which must lie within what
    /// was written.
    pub fn patch(&mut self, at: u64, bytes: &[u8]) -> io::Result<()> {
        let end = at.checked_add(bytes.len() as u64);
        if end.is_none_or(|end| end > self.len()) {
            return Err(io::Error::other(format!(
                "patching {} bytes at {at} of a staged section of {} bytes",
                bytes.len(),
                self.len()
            )));
        }
        match self {
            Staged::Memory(v) => v[at as usize..][..bytes.len()].copy_from_slice(bytes),
            Staged::File { file, .. } => file.write_all_at(bytes, at)?,
        }
        Ok(())
    }

    /// Hands every byte to `sink`, in order, and returns how many there
    /// were.
    pub fn copy_to(&self, mut sink: impl FnMut(&[u8]) -> io::Result<()>) -> io::Result<u64> {
        match self {
            Staged::Memory(v) => sink(v)?,
            Staged::File { file, len } => {
                let mut buf = vec![0u8; COPY_CHUNK.min(*len as usize)];
                let mut at = 0u64;
                while at < *len {
                    let n = buf.len().min((*len - at) as usize);
                    file.read_exact_at(&mut buf[..n], at)?;
                    sink(&buf[..n])?;
                    at += n as u64;
                }
            }
        }
        Ok(self.len())
    }

    /// The bytes in memory (a staged file is read whole).
    pub fn to_vec(&self) -> io::Result<Vec<u8>> {
        let mut v = Vec::with_capacity(self.len() as usize);
        self.copy_to(|b| {
            v.extend_from_slice(b);
            Ok(())
        })?;
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn staged(dir: Option<&Path>, parts: &[&[u8]]) -> Staged {
        let mut s = Spool::new(dir).unwrap();
        for p in parts {
            s.write_all(p).unwrap();
        }
        s.finish().unwrap()
    }

    #[test]
    fn a_file_and_memory_give_back_the_same_bytes_patched() {
        let dir = tempfile::tempdir().unwrap();
        let big: Vec<u8> = (0..(COPY_CHUNK * 2 + 17))
            .map(|i| (i % 251) as u8)
            .collect();
        for d in [Some(dir.path()), None] {
            let mut s = staged(d, &[b"head", &big, b"tail"]);
            assert_eq!(s.len(), big.len() as u64 + 8);
            s.patch(2, b"XY").unwrap();
            let mut chunks = 0;
            let mut back = Vec::new();
            let n = s
                .copy_to(|b| {
                    chunks += 1;
                    back.extend_from_slice(b);
                    Ok(())
                })
                .unwrap();
            assert_eq!(n, back.len() as u64);
            assert_eq!(&back[..4], b"heXY");
            assert_eq!(&back[4..4 + big.len()], &big[..]);
            assert_eq!(&back[back.len() - 4..], b"tail");
            assert_eq!(s.to_vec().unwrap(), back);
            // A file is read in bounded chunks, memory in one.
            assert_eq!(chunks, if d.is_some() { 3 } else { 1 });
        }
    }

    #[test]
    fn a_patch_past_the_end_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        for d in [Some(dir.path()), None] {
            let mut s = staged(d, &[b"12345"]);
            assert!(s.patch(4, b"ab").is_err());
            assert!(s.patch(u64::MAX, b"a").is_err());
            s.patch(3, b"ab").unwrap();
            assert_eq!(s.to_vec().unwrap(), b"123ab");
        }
    }
}
