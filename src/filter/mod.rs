//! The collection filter language (TQL-like): parsed once, compiled into a
//! predicate over records.
//!
//! Each collection in the config has a query that selects the records it
//! publishes, e.g.
//! ```text
//! type in ("ipv4", "domain") and confidence >= 70 and tags contains "apt28"
//!     and last_modified > now() - 30d
//! ```
//! The compile evaluates every collection's query on every record in one
//! pass, so a query is compiled into a tree of enum nodes (`pred.rs`): fields
//! are resolved to variants, literals are converted to the field's type,
//! regexes are compiled, and every type error is a parse error. Evaluation
//! never looks a name up or allocates, except to parse the source JSON once
//! per record for `source.` paths (shared between queries by [`EvalContext`]).
//!
//! # Language
//! - Operators: `=`, `!=`, `<`, `<=`, `>`, `>=`, `in (…)`, `not in (…)`,
//!   `contains`, `startswith`, `endswith`, `~` (Rust regex syntax, unanchored;
//!   `(?i)` for case-insensitive), `exists`; `not` may precede `in`,
//!   `contains`, `startswith`, `endswith`, `~` and `exists`; `!~` is `not ~`.
//!   Combined with `and`, `or`, `not` and parentheses; `not` binds tighter
//!   than `and`, which binds tighter than `or`. Keywords and field names are
//!   case-insensitive; `source.` keys are not (JSON keys are not).
//! - Literals: strings in double or single quotes with the escapes `\"`,
//!   `\'` and `\\`; integers and decimals (`-` allowed); `true`, `false`;
//!   times: `now()`, an RFC 3339 string or a bare date (`"2024-01-01"`, UTC
//!   midnight), each optionally followed by `+ N` / `- N` durations with the
//!   units `s`, `m`, `h`, `d`, `w` (`now() - 30d`, `"2024-01-01" + 12h`).
//!   `now` is a parameter of [`Query::parse`], so one compile has one "now".
//! - An empty (or all-whitespace) query matches every record.
//!
//! # Fields
//! | field | indicator records | STIX records |
//! |---|---|---|
//! | `type` | canonical type (`ipv4`, `sha256`, …) | the STIX `type` |
//! | `value` | the normalised value | `name` of the source object, else its `value` |
//! | `owner`, `description` | string | absent |
//! | `confidence`, `rating`, `score` | number | absent |
//! | `tags` | list of strings (absent when empty) | absent |
//! | `tlp` | TLP level | absent |
//! | `active` | boolean | absent |
//! | `created`, `last_modified`, `expiration` | timestamp | `created`, `modified` (no `expiration`) |
//! | `profile` | input profile | always `stix` |
//! | `spec_version` | absent | string |
//! | `collection` | absent | the id of the medallion collection it came from (absent for other inputs) |
//! | `file` | the input file it came from | the input file(s) it came from |
//! | `source.<path>` | JSON inside the source record | same |
//!
//! `file` is the path as the config's `[[inputs]]` names it: relative to the
//! config file's directory (`inputs/stix-bundle.json`), or as found for a
//! file elsewhere. A STIX object version found more than once (in two
//! medallion collections, two bundles) is one record with every collection
//! and file it came from: a test is true when any of them matches, and its
//! negative form (`!=`, `not in`, …) when none does.
//!
//! A path is `source` followed by `.key`, `."odd key"` and `[n]` steps
//! (`[-1]` is the last element): `source.attributes[0]."Value Name"`.
//!
//! # Semantics
//! - **Absent fields**: every comparison with an absent field is false,
//!   negative ones (`!=`, `not in`, `not contains`, `!~`…) too. Only
//!   `exists` sees absence: `not owner exists` (or `owner not exists`)
//!   selects records without an owner. The prefix `not` is plain boolean
//!   negation: `not confidence > 50` is true when confidence is absent.
//!   JSON `null` counts as absent; so does an empty tag list.
//! - **Strings**: equality, ordering (byte order), `contains` (substring),
//!   `startswith`, `endswith` are exact; `type`, `tlp` and `profile` compare
//!   case-insensitively. Regexes match as written.
//! - **Tags** (a list): `=`, `in` and `contains` test membership,
//!   case-insensitively; `startswith`/`endswith` are case-insensitive and
//!   `~` as written; all are true when *any* tag matches, and their negative
//!   forms when *no* tag does. Ordering operators are errors.
//! - **TLP**: levels are ordered `clear` = `white` < `green` < `amber` <
//!   `amber+strict` < `red`, so `tlp <= "green"` selects shareable records;
//!   `white` and `clear` are the same level (TLP 2.0 renamed it).
//! - **type**: `=`/`in` values must be an indicator type, a STIX 2.1 object
//!   type or an `x-` custom type (a typo is an error listing the types).
//!   A name matches indicator records of that canonical type and STIX
//!   records of that STIX type (`url`, `file`, `mutex` exist in both).
//! - **source paths** are dynamically typed: a comparison is true only when
//!   the JSON value has the literal's type (no coercion between strings,
//!   numbers and booleans); a time literal (`now()…`, or a string followed by
//!   a duration) reads a JSON string as a timestamp, while a plain string
//!   literal compares as a string. On a JSON array every operator tests the
//!   elements (any matches; `contains` is membership). Objects only answer
//!   `exists`. A record whose source is not valid JSON has no source paths.
//! - **Errors** (unknown field or type, wrong literal type such as
//!   `confidence > "abc"` or `created > 5`, operator that does not apply,
//!   invalid regex, bad timestamp) are all reported by [`Query::parse`] as
//!   a [`QueryError`] that points at the column.

mod error;
mod lexer;
mod parser;
mod pred;

#[cfg(test)]
mod tests;

pub use error::{QueryError, QueryErrorKind};
pub use pred::EvalContext;

use crate::record::Record;
use crate::time::Micros;
use pred::Node;

/// The fields, as listed in "unknown field" errors.
pub(crate) const FIELD_LIST: &str = "type, value, owner, confidence, rating, score, tags, tlp, active, created, last_modified, expiration, description, profile, spec_version, collection, file and source.<path>";

/// A compiled collection filter. Immutable and `Send + Sync`: one query is
/// evaluated from every rayon thread of the compile.
#[derive(Debug, Clone)]
pub struct Query {
    /// The text as written, for messages and reports.
    text: Box<str>,
    /// `None` matches everything (the empty query).
    root: Option<Node>,
    /// Cached [`Query::uses_source`].
    uses_source: bool,
    /// See [`Query::reads_now`].
    reads_now: bool,
}

impl Query {
    /// Parses and type-checks `text`. `now` is the time `now()` stands for,
    /// fixed per compile run so that all collections and all records see
    /// the same instant. Empty or whitespace-only text matches everything.
    pub fn parse(text: &str, now: Micros) -> Result<Query, QueryError> {
        let (root, reads_now) = if text.trim().is_empty() {
            (None, false)
        } else {
            let (node, reads_now) = parser::Parser::new(text, now).parse()?;
            (Some(node), reads_now)
        };
        let uses_source = root.as_ref().is_some_and(Node::uses_source);
        Ok(Query {
            text: text.into(),
            root,
            uses_source,
            reads_now,
        })
    }

    /// Whether `record` is selected. `ctx` is the calling thread's scratch,
    /// [`EvalContext::reset`] between records.
    pub fn matches(&self, record: &Record, ctx: &mut EvalContext) -> bool {
        match &self.root {
            Some(n) => n.eval(record, ctx),
            None => true,
        }
    }

    /// Whether evaluating may parse the record's source JSON (`source.`
    /// paths, and `value` of STIX records, which is read from the source).
    /// A compile whose queries never use it can skip keeping sources hot.
    pub fn uses_source(&self) -> bool {
        self.uses_source
    }

    /// The top-level members of an indicator's source record the query
    /// reads (`source.` paths); STIX records keep their whole source.
    pub fn reads(&self) -> crate::record::Keep {
        let mut keep = crate::record::Keep::Members(Vec::new());
        if let Some(root) = &self.root {
            root.source_members(&mut keep);
        }
        keep
    }

    /// Whether the query reads `now()`: what it selects from the same
    /// records then changes with the time it runs.
    pub fn reads_now(&self) -> bool {
        self.reads_now
    }

    /// Whether the query selects every record (it is empty), so the caller
    /// can skip evaluation altogether.
    pub fn matches_all(&self) -> bool {
        self.root.is_none()
    }

    /// The query as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}
