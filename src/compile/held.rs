//! What the compile holds of each record between the read and the build
//! (docs/decisions.md#d71). An indicator record is parsed, selected by the
//! configured collections' queries and reduced to a [`Stub`] in the
//! read's parallel parse: its natural key's hash, its `last_modified`,
//! its owner, the collections that select it and its place in the file.
//! The build parses it again from that place ([`Records::indicator`]) in
//! the parallel batch that builds it, and drops it once built, so the
//! compile never holds every record's fields at once: what it holds per
//! record between the two parses is a stub (96 bytes) until the selection,
//! then its [`Place`] (40 bytes), whatever the record's size.
//!
//! Passthrough STIX objects are held whole: their selection depends on
//! the copies merged into them (the `collection` and `file` of either),
//! and the build reads their ids and references before building.

use super::read::FileNames;
use super::{CompileError, Plan};
use crate::filter::EvalContext;
use crate::input::{self, InputBytes, Scratch, Shelf};
use crate::record::{Indicator, Keep, Origin, Record, StixRecord};
use rayon::prelude::*;
use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Arc, Mutex};

/// One accepted record as the compile holds it until the build.
pub(crate) enum Held {
    /// A passthrough STIX object (boxed: a `Record` is as large as an
    /// indicator's fields).
    Whole(Box<Record>),
    /// An indicator, to be parsed again at the build.
    Stub(Stub),
}

/// What the compile remembers of an indicator record between its two
/// parses.
pub(crate) struct Stub {
    /// [`key_hash`] of the record's (type, value).
    pub key: u128,
    /// The record's `last_modified` (`i64::MIN` when it has none): among
    /// records of one key the latest wins.
    pub last_modified: i64,
    pub origin: Origin,
    /// The record's bytes in its file (`origin.file`).
    pub start: u64,
    pub end: u64,
    /// Index into the read's owner names ([`Read::owners`]), or
    /// [`NO_OWNER`].
    pub owner: u32,
    /// Which of the collections planned before the read select the
    /// record (owner collections, planned after it, select by `owner`).
    pub selected: Selection,
}

/// A stub's owner when the record names none.
pub(crate) const NO_OWNER: u32 = u32::MAX;

/// One bit per planned collection.
pub(crate) enum Selection {
    Few(u64),
    Many(Box<[u64]>),
}

impl Selection {
    fn new(plans: usize) -> Self {
        if plans <= 64 {
            Selection::Few(0)
        } else {
            Selection::Many(vec![0; plans.div_ceil(64)].into_boxed_slice())
        }
    }

    fn set(&mut self, i: usize) {
        match self {
            Selection::Few(w) => *w |= 1 << i,
            Selection::Many(ws) => ws[i / 64] |= 1 << (i % 64),
        }
    }

    /// Whether collection `i` selects the record (false past the planned
    /// ones).
    pub fn has(&self, i: usize) -> bool {
        match self {
            Selection::Few(w) => i < 64 && w & (1 << i) != 0,
            Selection::Many(ws) => ws.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0),
        }
    }
}

/// The hash an indicator's natural key (type, value) is known by: 128
/// bits, so that two keys of one compile never share one (the dedupe
/// compares these hashes, not the values, which the stubs do not hold).
pub(crate) fn key_hash(ind: &Indicator) -> u128 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    h.update(ind.kind.as_str().as_bytes());
    h.update(b"\0");
    h.update(ind.value.as_bytes());
    h.digest128()
}

/// The read's [`Shelf`]: evaluates the planned collections' queries on
/// each indicator record as it is parsed and keeps a [`Stub`].
pub(crate) struct CompileShelf<'a> {
    plans: &'a [Plan],
    files: FileNames,
    owners: Mutex<HashMap<Arc<str>, u32>>,
}

/// Per-worker state of the shelf.
pub(crate) struct ShelfScratch {
    ctx: EvalContext,
    /// The owners this worker has met, with their index.
    owners: HashMap<Arc<str>, u32>,
}

impl<'a> CompileShelf<'a> {
    pub fn new(plans: &'a [Plan], files: FileNames) -> Self {
        CompileShelf {
            plans,
            files,
            owners: Mutex::new(HashMap::new()),
        }
    }

    /// The owner names, indexed like [`Stub::owner`].
    pub fn owners(self) -> Vec<Arc<str>> {
        let map = self
            .owners
            .into_inner()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut names = vec![Arc::<str>::from(""); map.len()];
        for (name, i) in map {
            names[i as usize] = name;
        }
        names
    }

    fn owner_index(&self, local: &mut HashMap<Arc<str>, u32>, owner: &str) -> u32 {
        if let Some(&i) = local.get(owner) {
            return i;
        }
        let mut all = self
            .owners
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let next = all.len() as u32;
        let (name, i) = match all.get_key_value(owner) {
            Some((name, &i)) => (name.clone(), i),
            None => {
                let name = Arc::<str>::from(owner);
                all.insert(name.clone(), next);
                (name, next)
            }
        };
        local.insert(name, i);
        i
    }
}

impl Shelf for CompileShelf<'_> {
    type Held = Held;
    type Scratch = ShelfScratch;
    const KEEP_BYTES: bool = true;

    fn scratch(&self) -> ShelfScratch {
        ShelfScratch {
            ctx: EvalContext::with_files(self.files.clone()),
            owners: HashMap::new(),
        }
    }

    fn shelve(&self, s: &mut ShelfScratch, record: Record, range: Range<usize>) -> Held {
        let Record::Indicator(ind) = &record else {
            return Held::Whole(Box::new(record));
        };
        let mut selected = Selection::new(self.plans.len());
        s.ctx.reset();
        for (i, plan) in self.plans.iter().enumerate() {
            if super::select::selects(plan, &record, &mut s.ctx) {
                selected.set(i);
            }
        }
        let owner = match ind.owner.as_deref() {
            Some(o) => self.owner_index(&mut s.owners, o),
            None => NO_OWNER,
        };
        Held::Stub(Stub {
            key: key_hash(ind),
            last_modified: ind.last_modified.unwrap_or(i64::MIN),
            origin: ind.origin,
            start: range.start as u64,
            end: range.end as u64,
            owner,
            selected,
        })
    }
}

/// What the build needs of a stub: where to parse the record again, and
/// a check that it still reads as the key it was read with (40 bytes, where
/// a stub, which also serves the dedupe and the selection, takes 96).
pub(crate) struct Place {
    start: u64,
    end: u64,
    position: u64,
    /// The low 64 bits of the stub's key hash.
    key: u64,
    file: u32,
    is_line: bool,
}

impl Place {
    fn of(s: &Stub) -> Self {
        Place {
            start: s.start,
            end: s.end,
            position: s.origin.position,
            key: s.key as u64,
            file: s.origin.file,
            is_line: s.origin.is_line,
        }
    }

    fn origin(&self) -> Origin {
        Origin {
            file: self.file,
            position: self.position,
            is_line: self.is_line,
        }
    }
}

/// A record as the build holds it.
enum Slot {
    Whole(Box<Record>),
    Place(Place),
}

/// The compile's records after the selection, deduplicated (one per
/// natural key), indicators as their [`Place`], with what the build needs
/// to parse one again: each file's bytes and what its records keep of
/// their source.
pub(crate) struct Records {
    slots: Vec<Slot>,
    inputs: Vec<Arc<InputBytes>>,
    /// Indexed like `Profile::ALL`.
    keep: [Keep; 4],
}

/// Stubs parsed again per parallel task.
const REPARSE_TASK: usize = 1024;

impl Records {
    /// `held` (selected already: the stubs' selection is dropped).
    pub fn new(held: Vec<Held>, inputs: Vec<Arc<InputBytes>>, keep: [Keep; 4]) -> Self {
        let slots = held
            .into_iter()
            .map(|h| match h {
                Held::Whole(r) => Slot::Whole(r),
                Held::Stub(s) => Slot::Place(Place::of(&s)),
            })
            .collect();
        Records {
            slots,
            inputs,
            keep,
        }
    }

    /// Whether record `ri` is an indicator.
    pub fn is_indicator(&self, ri: u32) -> bool {
        matches!(self.slots[ri as usize], Slot::Place(_))
    }

    /// The passthrough STIX record `ri`, if it is one.
    pub fn stix(&self, ri: u32) -> Option<&StixRecord> {
        match &self.slots[ri as usize] {
            Slot::Whole(r) => match &**r {
                Record::Stix(s) => Some(s),
                Record::Indicator(_) => None,
            },
            Slot::Place(_) => None,
        }
    }

    /// The indicator records `ris`, parsed again from their files (in
    /// parallel, in the order given). The files' pages they were read
    /// from are released behind them. A record that no longer parses to
    /// the key it was read with means its file changed during the compile:
    /// an error naming the file and the record.
    pub fn indicators(&self, ris: &[u32]) -> Result<Vec<Indicator>, CompileError> {
        let parts: Vec<Vec<Indicator>> = ris
            .par_chunks(REPARSE_TASK)
            .map_init(Scratch::default, |scratch, chunk| {
                chunk
                    .iter()
                    .map(|&ri| self.indicator(scratch, ri))
                    .collect::<Result<Vec<_>, _>>()
            })
            .collect::<Result<_, _>>()?;
        self.release(ris);
        Ok(parts.into_iter().flatten().collect())
    }

    /// Indicator record `ri`, parsed again from its file with `scratch`
    /// (see [`Records::indicators`]; its pages are not released).
    pub fn indicator(&self, scratch: &mut Scratch, ri: u32) -> Result<Indicator, CompileError> {
        let Slot::Place(place) = &self.slots[ri as usize] else {
            unreachable!("record {ri} is listed as an indicator");
        };
        let input = &self.inputs[place.file as usize];
        let keep = &self.keep[input.profile().index()];
        let range = place.start as usize..place.end as usize;
        match input.reparse(scratch, range, place.origin(), keep) {
            Ok(Record::Indicator(ind)) if key_hash(&ind) as u64 == place.key => Ok(ind),
            Ok(_) | Err(_) => Err(CompileError::Input(input::InputError::Changed {
                path: input.path().to_path_buf(),
                origin: place.origin(),
            })),
        }
    }

    /// Releases the pages of the files' bytes that `ris` were read from.
    pub fn release(&self, ris: &[u32]) {
        let mut spans: HashMap<u32, Range<u64>> = HashMap::new();
        for &ri in ris {
            if let Slot::Place(s) = &self.slots[ri as usize] {
                let span = spans.entry(s.file).or_insert(s.start..s.end);
                span.start = span.start.min(s.start);
                span.end = span.end.max(s.end);
            }
        }
        for (file, span) in spans {
            self.inputs[file as usize].release(span.start as usize..span.end as usize);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::InputFile;

    const LINES: &str = concat!(
        r#"{"type":"domain","value":"a.example","owner":"Acme","last_modified":"2026-01-02T00:00:00Z","tags":["x"]}"#,
        "\n",
        r#"{"type":"ipv4","value":"192.0.2.1","owner":"Other"}"#,
        "\n",
        r#"{"type":"url","value":"http://b.example/p","owner":"Acme"}"#,
        "\n",
    );

    /// The records of `path` as the build holds them, as a plain read
    /// gives them, the owner names, and the first stub's (owner, key).
    fn read(path: &std::path::Path) -> (Records, Vec<Record>, Vec<Arc<str>>, (u32, u128)) {
        let files = [InputFile {
            path: path.to_path_buf(),
            format: None,
        }];
        let keep: [Keep; 4] = Default::default();
        let shelf = CompileShelf::new(&[], Arc::from(Vec::new()));
        let o = input::read_files_shelving(&files, None, &keep, &shelf).unwrap();
        let whole = input::read_files_keeping(&files, None, &keep).unwrap();
        let Held::Stub(first) = &o.records[0] else {
            panic!("an indicator is held as a stub")
        };
        let first = (first.owner, first.key);
        (
            Records::new(o.records, o.inputs, keep),
            whole.records,
            shelf.owners(),
            first,
        )
    }

    #[test]
    fn a_stub_parses_again_to_the_record_the_read_parsed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.ndjson");
        std::fs::write(&path, LINES).unwrap();
        let (records, whole, owners, first) = read(&path);
        let again = records.indicators(&[2, 0, 1]).unwrap();
        let want: Vec<&Indicator> = [2, 0, 1]
            .iter()
            .map(|&i| match &whole[i] {
                Record::Indicator(ind) => ind,
                Record::Stix(_) => unreachable!(),
            })
            .collect();
        assert_eq!(again.iter().collect::<Vec<_>>(), want);
        // One owner name per owner, whichever worker met it first.
        let mut names: Vec<&str> = owners.iter().map(|o| &**o).collect();
        names.sort_unstable();
        assert_eq!(names, ["Acme", "Other"]);
        assert_eq!(&*owners[first.0 as usize], "Acme");
        assert_eq!(first.1, key_hash(want[1]));
    }

    #[test]
    fn an_export_rewritten_during_the_compile_is_an_error_naming_the_record() {
        use std::io::{Seek, SeekFrom, Write};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.ndjson");
        std::fs::write(&path, LINES).unwrap();
        let (records, _, _, _) = read(&path);
        // The second line's value changes in place, same length.
        let at = LINES.find("192.0.2.1").unwrap();
        let mut f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        f.seek(SeekFrom::Start(at as u64)).unwrap();
        f.write_all(b"192.0.2.9").unwrap();
        f.sync_all().unwrap();
        assert!(records.indicators(&[0]).is_ok());
        let err = records.indicators(&[0, 1]).unwrap_err().to_string();
        assert!(err.contains("in.ndjson: line 2: the file changed"), "{err}");
    }

    #[test]
    fn a_selection_holds_any_number_of_collections() {
        for plans in [1, 64, 65, 200] {
            let mut s = Selection::new(plans);
            for i in (0..plans).step_by(3) {
                s.set(i);
            }
            for i in 0..plans + 2 {
                assert_eq!(s.has(i), i < plans && i % 3 == 0, "{plans} plans, bit {i}");
            }
        }
    }
}

#[cfg(test)]
mod size_tests {
    use super::*;

    /// What the compile holds per record is what bounds its memory
    /// (docs/decisions.md#d71): keep these from growing unnoticed.
    #[test]
    fn a_record_is_held_in_a_fixed_small_size() {
        assert!(
            std::mem::size_of::<Held>() <= 96,
            "{}",
            std::mem::size_of::<Held>()
        );
        assert!(
            std::mem::size_of::<Slot>() <= 48,
            "{}",
            std::mem::size_of::<Slot>()
        );
    }
}
