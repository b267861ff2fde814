//! Files: read-only memory mappings, and publishing by rename. Every
//! mapping taxii-edge makes and every rename that publishes something (a
//! feed file, a static export generation, its `current` link) goes through
//! here, so the safety argument and the durability steps are written once.

use bytes::Bytes;
use std::fs::{self, File};
use std::io::{self, Seek, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Maps `file` read-only.
///
/// # Safety
/// Nobody may modify the file while the mapping lives (truncating it makes
/// the OS raise SIGBUS on access; writing to it changes bytes under
/// `&[u8]`s). Every file taxii-edge maps is immutable by construction:
/// feed files are written under a temporary name and renamed into place,
/// spill files are unnamed, and exports are only read (a user editing one
/// during a compile is outside that contract).
pub(crate) unsafe fn map(file: &File) -> io::Result<memmap2::Mmap> {
    // SAFETY: the caller's promise above.
    unsafe { memmap2::Mmap::map(file) }
}

/// Keeps a mapping alive inside `Bytes` (`Bytes::from_owner` needs
/// `AsRef<[u8]>`, docs/decisions.md#d29).
struct SharedMap(Arc<memmap2::Mmap>);

impl AsRef<[u8]> for SharedMap {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// The bytes of a mapping as `Bytes`: slices of it are zero-copy and keep
/// the mapping alive.
pub(crate) fn shared_bytes(map: Arc<memmap2::Mmap>) -> Bytes {
    Bytes::from_owner(SharedMap(map))
}

/// Drops this process's resident pages of `range` (clamped to the
/// mapping) of a read-only file mapping. The mapped files are never
/// modified (see [`map`]), so MADV_DONTNEED only discards page-table
/// entries and a later read faults the same bytes back in from the page
/// cache: whole-file passes call it behind them so a file read once is not
/// resident all at once.
pub(crate) fn release_pages(m: &memmap2::Mmap, range: Range<usize>) {
    let end = range.end.min(m.len());
    if range.start >= end {
        return;
    }
    // SAFETY: see above: a read-only mapping of an unmodified file.
    #[cfg(unix)]
    unsafe {
        let _ = m.unchecked_advise_range(
            memmap2::UncheckedAdvice::DontNeed,
            range.start,
            end - range.start,
        );
    }
}

/// Gives the allocator's free memory back to the system. glibc keeps what
/// a parallel stage freed in its per-thread arenas, where the resident
/// size still counts it; a compile calls this between stages so that the
/// next one starts from what is really live (docs/decisions.md#d64).
pub(crate) fn trim_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free memory to the system.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// A file being written from start to end that asks the kernel to start
/// writing each [`Writeback::EVERY`] bytes to disk as soon as they are
/// written (`sync_file_range`, without waiting), so that the disk works
/// while the writer computes and the `fsync` before publishing finds
/// little left to do. The system would otherwise hold a whole feed file's
/// pages dirty until that fsync (a file smaller than the dirty-page limit
/// is not written back early). Advisory only: the final fsync reports any
/// error.
pub(crate) struct Writeback {
    file: File,
    pos: u64,
    /// Everything before this offset has been handed to writeback.
    started: u64,
}

impl Writeback {
    const EVERY: u64 = 32 << 20;

    pub(crate) fn new(file: File) -> Self {
        Writeback {
            file,
            pos: 0,
            started: 0,
        }
    }

    pub(crate) fn into_inner(self) -> File {
        self.file
    }
}

impl Write for Writeback {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        let n = self.file.write(b)?;
        self.pos += n as u64;
        if self.pos >= self.started + Self::EVERY {
            #[cfg(target_os = "linux")]
            {
                use std::os::fd::AsRawFd;
                // SAFETY: an advisory call on a file descriptor we own.
                unsafe {
                    libc::sync_file_range(
                        self.file.as_raw_fd(),
                        self.started as libc::off64_t,
                        (self.pos - self.started) as libc::off64_t,
                        libc::SYNC_FILE_RANGE_WRITE,
                    );
                }
            }
            self.started = self.pos;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Seek for Writeback {
    fn seek(&mut self, to: io::SeekFrom) -> io::Result<u64> {
        self.pos = self.file.seek(to)?;
        // Rewriting earlier bytes (the header, last): hand back nothing.
        self.started = self.started.max(self.pos);
        Ok(self.pos)
    }
}

/// The directory that holds `path` (`.` for a bare file name): where
/// temporary files, spill files and the directory fsync go.
pub(crate) fn containing_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Publishes `tmp` (a complete, fsynced file, directory or symlink beside
/// `dest`) as `dest`: an atomic rename, then an fsync of the directory
/// that holds `dest`, so the new name survives a crash. Readers see the
/// old `dest` or the new one, never a mix. On error, which step failed is
/// in the message; `tmp` is left for the caller to remove.
pub(crate) fn rename_durably(tmp: &Path, dest: &Path) -> io::Result<()> {
    fs::rename(tmp, dest)?;
    #[cfg(unix)]
    {
        let dir = containing_dir(dest);
        File::open(&dir).and_then(|d| d.sync_all()).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "renamed into place, but fsync of {} failed: {e}",
                    dir.display()
                ),
            )
        })?;
    }
    Ok(())
}
