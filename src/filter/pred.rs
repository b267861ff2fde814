//! The compiled predicate and its evaluation.
//!
//! Everything the parser could decide is decided: fields are enum variants,
//! literals are converted to the field's type (timestamps to [`Micros`], TLP
//! levels to ranks, type names to a bit set), regexes are compiled. Evaluation
//! is a `match` on the field, a borrow of the record's value, and a
//! comparison: no string-keyed lookup and no allocation per record, except
//! the one parse of the source JSON that `source.` paths need, which
//! [`EvalContext`] shares between all queries run on the same record.

use crate::record::{IndicatorType, Profile, Record, Source, Tlp};
use crate::time::{parse_lenient, Micros};
use regex::Regex;
use simd_json::prelude::*;
use simd_json::OwnedValue;
use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

/// A node of the predicate tree.
#[derive(Debug, Clone)]
pub(crate) enum Node {
    /// All children match. Children are ordered cheapest first.
    And(Box<[Node]>),
    /// Any child matches. Children are ordered cheapest first.
    Or(Box<[Node]>),
    Not(Box<Node>),
    Test(Test),
}

/// One comparison: `field op literal`.
#[derive(Debug, Clone)]
pub(crate) struct Test {
    pub field: Field,
    pub op: Op,
    /// The negative operators (`!=`, `not in`, `not contains`, `!~`…): the
    /// field must be present and the positive test false. Kept apart from
    /// [`Node::Not`] because an absent field makes both the positive and the
    /// negative comparison false.
    pub negate: bool,
}

/// A field of a record, resolved at parse time.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Field {
    Type,
    Value,
    Owner,
    Confidence,
    Rating,
    Score,
    Tags,
    Tlp,
    Active,
    Created,
    LastModified,
    Expiration,
    Description,
    Profile,
    SpecVersion,
    /// The medallion collection(s) a STIX record came from.
    Collection,
    /// The input file(s) a record came from.
    File,
    /// A path into the source record's JSON.
    Source(Box<[Seg]>),
}

/// One step of a `source.` path.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Seg {
    Key(Box<str>),
    /// An array index; negative counts from the end (`[-1]` is the last).
    Index(i64),
}

/// The operator with its pre-converted operand.
#[derive(Debug, Clone)]
pub(crate) enum Op {
    Exists,
    /// `=` (and `!=` through [`Test::negate`]), `<`, `<=`, `>`, `>=`.
    Cmp(CmpOp, Lit),
    In(Box<[Lit]>),
    /// `type =`, `type in`: a set of type names.
    TypeIn(TypeSet),
    /// Substring on strings, membership on lists (tags, JSON arrays).
    Contains(Lit),
    StartsWith(Box<str>),
    EndsWith(Box<str>),
    Regex(Regex),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    fn test(self, o: Ordering) -> bool {
        match self {
            CmpOp::Eq => o == Ordering::Equal,
            CmpOp::Lt => o == Ordering::Less,
            CmpOp::Le => o != Ordering::Greater,
            CmpOp::Gt => o == Ordering::Greater,
            CmpOp::Ge => o != Ordering::Less,
        }
    }
}

/// A literal converted to the type of the field it is compared with.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Lit {
    /// For type names, already lower-case.
    Str(Box<str>),
    Num(f64),
    Bool(bool),
    Time(Micros),
    /// A TLP rank (see [`tlp_rank`]).
    Tlp(u8),
    Profile(Profile),
}

/// TLP levels in order of restriction. `clear` and `white` are the same
/// level (TLP 2.0 renamed it), so they compare equal.
pub(crate) fn tlp_rank(t: Tlp) -> u8 {
    match t {
        Tlp::Clear | Tlp::White => 0,
        Tlp::Green => 1,
        Tlp::Amber => 2,
        Tlp::AmberStrict => 3,
        Tlp::Red => 4,
    }
}

/// The type names of `type = …` / `type in (…)`: indicator types as a bit
/// set, and the lower-case names for STIX records (whose type is a string).
#[derive(Debug, Clone, Default)]
pub(crate) struct TypeSet {
    pub mask: u32,
    pub names: Box<[Box<str>]>,
}

fn type_bit(t: IndicatorType) -> u32 {
    1 << (t as u32)
}

impl TypeSet {
    pub(crate) fn insert(&mut self, name: &str) {
        if let Some(t) = IndicatorType::parse(name) {
            self.mask |= type_bit(t);
        }
        if !self.names.iter().any(|n| &**n == name) {
            let mut v = std::mem::take(&mut self.names).into_vec();
            v.push(name.into());
            self.names = v.into_boxed_slice();
        }
    }

    fn contains(&self, t: &TypeVal<'_>) -> bool {
        match t {
            TypeVal::Indicator(k) => self.mask & type_bit(*k) != 0,
            TypeVal::Stix(s) => self.names.iter().any(|n| n.eq_ignore_ascii_case(s)),
        }
    }
}

/// A record's type: an indicator type, or the STIX type of a STIX record.
#[derive(Debug, Clone, Copy)]
enum TypeVal<'a> {
    Indicator(IndicatorType),
    Stix(&'a str),
}

impl TypeVal<'_> {
    fn name(&self) -> &str {
        match self {
            TypeVal::Indicator(k) => k.as_str(),
            TypeVal::Stix(s) => s,
        }
    }
}

/// A field's value in one record, borrowed.
#[derive(Clone, Copy)]
enum Val<'a> {
    Type(TypeVal<'a>),
    Str(&'a str),
    Num(f64),
    Bool(bool),
    Time(Micros),
    /// Never empty: a record without tags has no `tags` field.
    Tags(&'a [String]),
    Tlp(Tlp),
    Profile(Profile),
    /// Never JSON null: null counts as absent.
    Json(&'a OwnedValue),
    /// Strings with exact semantics, any of which may match (`collection`,
    /// `file`). Never empty.
    Strs(StrList<'a>),
}

/// The values of a several-valued string field, borrowed.
#[derive(Clone, Copy)]
enum StrList<'a> {
    Shared(&'a [Arc<str>]),
    /// Input file indices and the names they index.
    Files(&'a [u32], &'a [Box<str>]),
}

impl<'a> StrList<'a> {
    fn any(self, f: impl Fn(&str) -> bool) -> bool {
        match self {
            StrList::Shared(v) => v.iter().any(|s| f(s)),
            StrList::Files(ix, names) => ix
                .iter()
                .filter_map(|&i| names.get(i as usize))
                .any(|s| f(s)),
        }
    }

    /// `None` when there is no value (the field is then absent).
    fn nonempty(self) -> Option<Self> {
        self.any(|_| true).then_some(self)
    }
}

impl Node {
    pub(crate) fn eval(&self, rec: &Record, ctx: &mut EvalContext) -> bool {
        match self {
            Node::And(v) => v.iter().all(|n| n.eval(rec, ctx)),
            Node::Or(v) => v.iter().any(|n| n.eval(rec, ctx)),
            Node::Not(n) => !n.eval(rec, ctx),
            Node::Test(t) => t.eval(rec, ctx),
        }
    }

    /// Whether evaluation may parse the source JSON.
    pub(crate) fn uses_source(&self) -> bool {
        match self {
            Node::And(v) | Node::Or(v) => v.iter().any(Node::uses_source),
            Node::Not(n) => n.uses_source(),
            Node::Test(t) => t.field.uses_source(),
        }
    }

    /// Adds the top-level source members this node reads to `keep`.
    pub(crate) fn source_members(&self, keep: &mut crate::record::Keep) {
        match self {
            Node::And(v) | Node::Or(v) => v.iter().for_each(|n| n.source_members(keep)),
            Node::Not(n) => n.source_members(keep),
            Node::Test(t) => {
                if let Field::Source(path) = &t.field {
                    let add = match path.first() {
                        Some(Seg::Key(k)) => crate::record::Keep::Members(vec![k.to_string()]),
                        _ => crate::record::Keep::Whole,
                    };
                    *keep = std::mem::take(keep).union(add);
                }
            }
        }
    }

    /// A rough cost, to evaluate cheap tests first: `and`/`or` are
    /// commutative here (no side effects), so order is free to choose.
    pub(crate) fn cost(&self) -> u32 {
        match self {
            Node::And(v) | Node::Or(v) => v.iter().map(Node::cost).sum(),
            Node::Not(n) => n.cost(),
            Node::Test(t) => {
                let field = if matches!(t.field, Field::Source(_)) {
                    20
                } else {
                    1
                };
                let op = match &t.op {
                    Op::Regex(_) => 5,
                    Op::In(l) => 1 + l.len() as u32 / 8,
                    _ => 1,
                };
                field + op
            }
        }
    }
}

impl Field {
    pub(crate) fn uses_source(&self) -> bool {
        // `value` of a STIX record is its `name`, read from the source.
        matches!(self, Field::Source(_) | Field::Value)
    }

    fn get<'a>(&self, rec: &'a Record, ctx: &'a mut EvalContext) -> Option<Val<'a>> {
        match rec {
            Record::Indicator(i) => match self {
                Field::Type => Some(Val::Type(TypeVal::Indicator(i.kind))),
                Field::Value => Some(Val::Str(&i.value)),
                Field::Owner => i.owner.as_deref().map(Val::Str),
                Field::Confidence => i.confidence.map(|c| Val::Num(f64::from(c))),
                Field::Rating => i.rating.map(Val::Num),
                Field::Score => i.score.map(|s| Val::Num(f64::from(s))),
                Field::Tags if i.tags.is_empty() => None,
                Field::Tags => Some(Val::Tags(&i.tags)),
                Field::Tlp => i.tlp.map(Val::Tlp),
                Field::Active => Some(Val::Bool(i.active)),
                Field::Created => i.created.map(Val::Time),
                Field::LastModified => i.last_modified.map(Val::Time),
                Field::Expiration => i.expiration.map(Val::Time),
                Field::Description => i.description.as_deref().map(Val::Str),
                Field::Profile => Some(Val::Profile(i.profile)),
                Field::SpecVersion | Field::Collection => None,
                Field::File => StrList::Files(std::slice::from_ref(&i.origin.file), &ctx.files)
                    .nonempty()
                    .map(Val::Strs),
                Field::Source(path) => ctx.source(&i.source).and_then(|v| resolve(v, path)),
            },
            Record::Stix(s) => match self {
                Field::Type => Some(Val::Type(TypeVal::Stix(&s.stix_type))),
                Field::Value => ctx.source(&s.source).and_then(stix_value).map(Val::Str),
                Field::Created => s.created.map(Val::Time),
                Field::LastModified => s.modified.map(Val::Time),
                Field::SpecVersion => Some(Val::Str(&s.spec_version)),
                Field::Profile => Some(Val::Profile(Profile::Stix)),
                Field::Collection => StrList::Shared(&s.collections).nonempty().map(Val::Strs),
                Field::File => StrList::Files(&s.files, &ctx.files)
                    .nonempty()
                    .map(Val::Strs),
                Field::Source(path) => ctx.source(&s.source).and_then(|v| resolve(v, path)),
                _ => None,
            },
        }
    }
}

/// The `value` of a STIX record: its `name` (SDOs), else its `value`
/// (SCOs such as ipv4-addr, domain-name, url).
fn stix_value(root: &OwnedValue) -> Option<&str> {
    let obj = root.as_object()?;
    obj.get("name")
        .and_then(|v| v.as_str())
        .or_else(|| obj.get("value").and_then(|v| v.as_str()))
}

fn resolve<'v>(root: &'v OwnedValue, path: &[Seg]) -> Option<Val<'v>> {
    let mut cur = root;
    for seg in path {
        cur = match seg {
            Seg::Key(k) => cur.as_object()?.get(&**k)?,
            Seg::Index(i) => {
                let a = cur.as_array()?;
                let idx = if *i < 0 {
                    a.len()
                        .checked_sub(usize::try_from(i.unsigned_abs()).ok()?)?
                } else {
                    usize::try_from(*i).ok()?
                };
                a.get(idx)?
            }
        };
    }
    if cur.is_null() {
        None
    } else {
        Some(Val::Json(cur))
    }
}

impl Test {
    fn eval(&self, rec: &Record, ctx: &mut EvalContext) -> bool {
        match self.field.get(rec, ctx) {
            Some(v) => self.op.test(v) != self.negate,
            None => false,
        }
    }
}

impl Op {
    fn test(&self, v: Val<'_>) -> bool {
        match self {
            Op::Exists => true,
            Op::TypeIn(set) => match v {
                Val::Type(t) => set.contains(&t),
                _ => false,
            },
            Op::Cmp(op, lit) => cmp(v, *op, lit),
            Op::In(lits) => lits.iter().any(|l| cmp(v, CmpOp::Eq, l)),
            Op::Contains(lit) => contains(v, lit),
            Op::StartsWith(s) => str_test(
                v,
                |h| h.starts_with(&**s),
                |h| ci_starts_with(h, s),
                |h| ascii_ci_starts_with(h, s),
            ),
            Op::EndsWith(s) => str_test(
                v,
                |h| h.ends_with(&**s),
                |h| ci_ends_with(h, s),
                |h| ascii_ci_ends_with(h, s),
            ),
            Op::Regex(re) => str_test(
                v,
                |h| re.is_match(h),
                |h| re.is_match(h),
                |h| re.is_match(h),
            ),
        }
    }
}

/// Applies a string test to any string-like value: `exact` for plain
/// strings (exact semantics), `ci` for tags (any tag, case-insensitive),
/// `type_ci` for type names (ASCII names, case-insensitive). JSON arrays
/// match when any string element does.
fn str_test(
    v: Val<'_>,
    exact: impl Fn(&str) -> bool,
    ci: impl Fn(&str) -> bool,
    type_ci: impl Fn(&str) -> bool,
) -> bool {
    match v {
        Val::Str(s) => exact(s),
        Val::Type(t) => type_ci(t.name()),
        Val::Tags(ts) => ts.iter().any(|t| ci(t)),
        Val::Json(j) => json_any(j, |x| x.as_str().is_some_and(&exact)),
        Val::Strs(l) => l.any(exact),
        _ => false,
    }
}

fn contains(v: Val<'_>, lit: &Lit) -> bool {
    match (v, lit) {
        (Val::Str(s), Lit::Str(l)) => s.contains(&**l),
        (Val::Strs(v), Lit::Str(l)) => v.any(|s| s.contains(&**l)),
        (Val::Type(t), Lit::Str(l)) => ascii_ci_contains(t.name(), l),
        (Val::Tags(ts), Lit::Str(l)) => ts.iter().any(|t| ci_eq(t, l)),
        (Val::Json(j), _) => match j.as_array() {
            Some(a) => a.iter().any(|x| json_cmp(x, CmpOp::Eq, lit)),
            None => match (j.as_str(), lit) {
                (Some(s), Lit::Str(l)) => s.contains(&**l),
                _ => false,
            },
        },
        _ => false,
    }
}

fn cmp(v: Val<'_>, op: CmpOp, lit: &Lit) -> bool {
    match (v, lit) {
        (Val::Str(s), Lit::Str(l)) => op.test(s.cmp(l)),
        (Val::Strs(v), Lit::Str(l)) => v.any(|s| op.test(s.cmp(l))),
        (Val::Num(n), Lit::Num(l)) => n.partial_cmp(l).is_some_and(|o| op.test(o)),
        (Val::Bool(b), Lit::Bool(l)) => op == CmpOp::Eq && b == *l,
        (Val::Time(t), Lit::Time(l)) => op.test(t.cmp(l)),
        (Val::Tlp(t), Lit::Tlp(r)) => op.test(tlp_rank(t).cmp(r)),
        (Val::Profile(p), Lit::Profile(l)) => op == CmpOp::Eq && p == *l,
        (Val::Tags(ts), Lit::Str(l)) => op == CmpOp::Eq && ts.iter().any(|t| ci_eq(t, l)),
        (Val::Json(j), _) => json_any(j, |x| json_cmp(x, op, lit)),
        _ => false,
    }
}

/// `f` on a JSON value, or on any element if it is an array.
fn json_any(j: &OwnedValue, f: impl Fn(&OwnedValue) -> bool) -> bool {
    match j.as_array() {
        Some(a) => a.iter().any(f),
        None => f(j),
    }
}

/// A JSON scalar against a literal: no coercion between strings, numbers
/// and booleans; a time literal reads a JSON string as a timestamp.
fn json_cmp(x: &OwnedValue, op: CmpOp, lit: &Lit) -> bool {
    match lit {
        Lit::Str(l) => x.as_str().is_some_and(|s| op.test(s.cmp(l))),
        Lit::Num(l) => {
            x.as_bool().is_none()
                && x.cast_f64()
                    .and_then(|n| n.partial_cmp(l))
                    .is_some_and(|o| op.test(o))
        }
        Lit::Bool(l) => op == CmpOp::Eq && x.as_bool() == Some(*l),
        Lit::Time(l) => x
            .as_str()
            .and_then(|s| parse_lenient(s).ok())
            .is_some_and(|t| op.test(t.cmp(l))),
        Lit::Tlp(_) | Lit::Profile(_) => false,
    }
}

fn lower(s: &str) -> impl DoubleEndedIterator<Item = char> + '_ {
    s.chars().flat_map(char::to_lowercase)
}

/// Unicode case-insensitive equality without allocating.
fn ci_eq(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        return a.eq_ignore_ascii_case(b);
    }
    lower(a).eq(lower(b))
}

fn ci_starts_with(hay: &str, needle: &str) -> bool {
    let mut h = lower(hay);
    lower(needle).all(|c| h.next() == Some(c))
}

fn ci_ends_with(hay: &str, needle: &str) -> bool {
    let mut h = lower(hay).rev();
    lower(needle).rev().all(|c| h.next() == Some(c))
}

fn ascii_ci_contains(hay: &str, needle: &str) -> bool {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    n.is_empty() || h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
}

fn ascii_ci_starts_with(hay: &str, needle: &str) -> bool {
    hay.as_bytes()
        .get(..needle.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(needle.as_bytes()))
}

fn ascii_ci_ends_with(hay: &str, needle: &str) -> bool {
    hay.len() >= needle.len()
        && hay.as_bytes()[hay.len() - needle.len()..].eq_ignore_ascii_case(needle.as_bytes())
}

/// Per-record scratch shared by all collections' queries: caches the parsed
/// source JSON so that several queries with `source.` paths parse the record
/// at most once. Call [`EvalContext::reset`] between records.
///
/// One per thread (it is mutable scratch); creating one is cheap and it
/// keeps its buffers across records, so the steady state does not allocate
/// beyond the JSON tree itself.
pub struct EvalContext {
    /// Identity (address, length) of the source text `parsed` belongs to.
    /// It guards against a forgotten `reset` between two different records;
    /// `reset` is still required because a freed record's address can be
    /// reused by the next one.
    key: Option<(usize, usize)>,
    /// The parsed source, or `None` when it is not valid JSON (every
    /// `source.` path is then absent).
    parsed: Option<OwnedValue>,
    /// simd-json parses in place: the source is copied here first.
    scratch: Vec<u8>,
    /// simd-json's internal buffers, reused across records.
    buffers: simd_json::Buffers,
    /// How many times a source was parsed (tests check the sharing).
    pub(super) parses: u64,
    /// The names of the input files (the `file` field), indexed like
    /// `Origin::file`; empty when the caller gave none.
    files: Arc<[Box<str>]>,
}

impl EvalContext {
    pub fn new() -> Self {
        EvalContext {
            key: None,
            parsed: None,
            scratch: Vec::new(),
            buffers: simd_json::Buffers::default(),
            parses: 0,
            files: Arc::from(Vec::new()),
        }
    }

    /// A context for records read from `files` (their names, indexed like
    /// `Origin::file`), for the `file` field. Without them (`new`), `file`
    /// is absent on every record.
    pub fn with_files(files: Arc<[Box<str>]>) -> Self {
        EvalContext {
            files,
            ..EvalContext::new()
        }
    }

    /// Forgets the current record's parsed source.
    pub fn reset(&mut self) {
        self.key = None;
        self.parsed = None;
    }

    /// The parsed source JSON of the record, parsing it on first use.
    fn source(&mut self, src: &Source) -> Option<&OwnedValue> {
        let key = (src.0.as_ptr() as usize, src.0.len());
        if self.key != Some(key) {
            self.scratch.clear();
            self.scratch.extend_from_slice(src.as_str().as_bytes());
            self.parsed =
                simd_json::owned::to_value_with_buffers(&mut self.scratch, &mut self.buffers).ok();
            self.key = Some(key);
            self.parses += 1;
        }
        self.parsed.as_ref()
    }
}

impl Default for EvalContext {
    fn default() -> Self {
        EvalContext::new()
    }
}

impl fmt::Debug for EvalContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EvalContext")
            .field("has_source", &self.key.is_some())
            .finish_non_exhaustive()
    }
}
