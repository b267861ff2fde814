//! Default pages of the previous generation that the writer copies instead
//! of compressing again (docs/decisions.md#d67).
//!
//! Stable boundaries (docs/decisions.md#d31) make most default pages of a
//! regeneration byte-identical to a page of the generation before, and
//! compressing them again is most of a compile's write stage. A new page
//! can only equal the previous page that ends at the same boundary (its
//! `next` token names it) or, for the final page, the previous final page;
//! [`Reuse::find`] compares the new page's items with that page's, byte for
//! byte, and the writer then copies its four compressed copies.
//!
//! The copies are what this build would write only when the previous one
//! compressed with the same levels and libraries and minted tokens the
//! same way, and only when the previous file still holds what was written.
//! So before any copy the writer compresses the first copyable page all
//! the same, and [`Reuse::trust`] compares the result with the stored
//! copies and checks the checksums of every section a copy depends on; if
//! either fails, every page of the collection is compressed as before.

use super::format::*;
use super::{CollectionFeed, CollectionMeta, Feed, ObjectVersion, Position};
use bytes::Bytes;
use std::collections::HashMap;
use std::ops::Range;

/// The previous generation's default pages of one collection.
pub(super) struct Reuse<'a> {
    feed: &'a Feed,
    c: &'a CollectionFeed,
    /// Each previous page that has a `next` token, by the boundary the
    /// token names.
    by_end: HashMap<Position, usize>,
    /// The previous final page (no `next` token).
    last: Option<usize>,
}

/// The sections a copied page depends on: the entries and their bytes it
/// is compared with, and the page rows, boundaries and compressed bytes it
/// takes.
const COMPARED: [Kind; 7] = [
    Kind::Entries,
    Kind::Objects,
    Kind::Manifest,
    Kind::Pages,
    Kind::PageData,
    Kind::Cuts,
    Kind::CutIds,
];

impl<'a> Reuse<'a> {
    /// The pages of the collection `cm` in `previous`, when it has the
    /// same api root and token key (else no `next` token can match).
    pub(super) fn new(
        previous: Option<&'a Feed>,
        cm: &CollectionMeta,
        key: &[u8; 32],
    ) -> Option<Reuse<'a>> {
        let feed = previous?;
        let ci = feed
            .meta()
            .collections
            .iter()
            .position(|m| m.id == cm.id && m.api_root == cm.api_root)?;
        if feed.token_key() != key {
            return None;
        }
        let c = &feed.collections()[ci];
        let count = c.default_page_count();
        if count == 0 {
            return None;
        }
        let by_end = (0..count - 1)
            .filter_map(|p| Some((c.page_end_cut(p)?, p)))
            .collect();
        Some(Reuse {
            feed,
            c,
            by_end,
            last: Some(count - 1),
        })
    }

    /// The previous page a new page ending at `next` (`None`: the final
    /// page) could equal.
    pub(super) fn candidate(&self, next: Option<&Position>) -> Option<usize> {
        match next {
            Some(cut) => self.by_end.get(cut).copied(),
            None => self.last,
        }
    }

    /// The previous page whose body equals the body of a new page of
    /// `items` ending at `next`, if it has all four compressed copies. The
    /// heads are equal when the boundaries are (same token key, api root
    /// and collection, checked by [`Reuse::new`]; the token code itself
    /// by [`Reuse::trust`]), so the items are compared: each object's
    /// JSON and manifest record, byte for byte. `scratch` holds manifest
    /// records.
    pub(super) fn find(
        &self,
        next: Option<&Position>,
        items: &[usize],
        objs: &[ObjectVersion],
        scratch: &mut String,
    ) -> Option<usize> {
        let p = self.candidate(next)?;
        let range = self.c.default_page_entries(p)?;
        // First the positions, from the entry rows alone: a page that lost
        // or gained an object (the common change) fails here without
        // reading any JSON.
        let mut new = items.iter();
        for j in range.clone() {
            let r = self.c.raw(j);
            if r.flags & FLAG_LAST == 0 {
                continue;
            }
            let o = &objs[*new.next()?];
            if (r.date_added_us, r.version_us) != (o.date_added_us, o.version_us) {
                return None;
            }
        }
        if new.next().is_some() {
            return None;
        }
        let mut new = items.iter();
        for j in range {
            let r = self.c.raw(j);
            if r.flags & FLAG_LAST == 0 {
                continue;
            }
            let o = &objs[*new.next()?];
            if span(&self.c.objects, r.obj_off, r.obj_len)? != o.json21.as_bytes() {
                return None;
            }
            scratch.clear();
            push_manifest(
                scratch,
                &o.id,
                o.date_added_us,
                o.version_us,
                o.spec_version,
            );
            if span(&self.c.manifest, r.man_off, r.man_len)? != scratch.as_bytes() {
                return None;
            }
        }
        self.copies(p).map(|_| p)
    }

    /// The four compressed copies of previous page `p` in PAGES row order,
    /// if all are stored.
    pub(super) fn copies(&self, p: usize) -> Option<[Bytes; 4]> {
        use super::{Coding, PageKind};
        let get = |kind, coding| self.c.precompressed(kind, p, coding);
        Some([
            get(PageKind::Objects, Coding::Gzip)?,
            get(PageKind::Objects, Coding::Zstd)?,
            get(PageKind::Manifest, Coding::Gzip)?,
            get(PageKind::Manifest, Coding::Zstd)?,
        ])
    }

    /// Whether copies can stand in for compression: `fresh` (the copies
    /// this build made of a page [`Reuse::find`] matched with previous
    /// page `p`) equal the stored ones, and the previous collection's
    /// sections a copy depends on match their checksums. A different
    /// compression level, library or token code changes every page, so one
    /// page shows it.
    pub(super) fn trust(&self, p: usize, fresh: &[Bytes; 4]) -> bool {
        if self.copies(p).as_ref() != Some(fresh) {
            tracing::info!(
                collection = %self.feed.meta().collections[self.c.index()].id,
                "the previous generation's compressed pages differ from this build's (other compression levels or another version): every page is compressed again"
            );
            return false;
        }
        match self
            .feed
            .check_collection_checksums(self.c.index(), &COMPARED)
        {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!("{e}; the previous generation's compressed pages are not reused");
                false
            }
        }
    }

    /// Drops the resident pages of the previous file that pages
    /// `pages` (previous page indices, ascending) were compared with or
    /// copied from, so that reuse does not make the previous file resident.
    pub(super) fn release(&self, pages: Range<usize>) {
        let (Some(a), Some(b)) = (
            self.c.default_page_entries(pages.start),
            pages
                .end
                .checked_sub(1)
                .and_then(|l| self.c.default_page_entries(l)),
        ) else {
            return;
        };
        let (first, end) = (a.start, b.end);
        let feed = self.feed;
        feed.release(feed.range_of(&self.c.objects_run(first, end)));
        feed.release(feed.range_of(&self.c.manifest_run(first, end)));
        let rows = first * ENTRY_LEN..end * ENTRY_LEN;
        if let Some(rows) = self.c.entries.get(rows) {
            feed.release(feed.range_of(rows));
        }
        if let (Some(from), Some(to)) = (self.copies(pages.start), self.copies(pages.end - 1)) {
            let (from, to) = (feed.range_of(&from[0]), feed.range_of(&to[3]));
            if from.start < to.end {
                feed.release(from.start..to.end);
            }
        }
    }
}

/// `len` bytes at `off` of `b`, if in bounds.
fn span(b: &Bytes, off: u64, len: u32) -> Option<&[u8]> {
    let start = usize::try_from(off).ok()?;
    b.get(start..start.checked_add(len as usize)?)
}
