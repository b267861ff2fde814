//! Recursive-descent parser and type checker: query text → [`Node`] tree.
//!
//! Grammar (keywords case-insensitive):
//! ```text
//! query    := ε | or
//! or       := and ("or" and)*
//! and      := not ("and" not)*
//! not      := "not" not | primary
//! primary  := "(" or ")" | field test
//! field    := NAME | "source" ("." (NAME | STRING) | "[" "-"? INT "]")+
//! test     := ("=" | "!=" | "<" | "<=" | ">" | ">=") literal
//!           | "not"? ("in" "(" literal ("," literal)* ")" | "contains" literal
//!                    | "startswith" literal | "endswith" literal | "~" STRING | "exists")
//!           | "!~" STRING
//! literal  := STRING (("+" | "-") DURATION)* | "-"? NUMBER | "true" | "false"
//!           | "now" "(" ")" (("+" | "-") DURATION)*
//! ```
//! Each test is type-checked against its field as soon as it is parsed, so
//! the first error in reading order is the one reported.

use super::error::{QueryError, QueryErrorKind as K};
use super::lexer::{Lexer, Tok};
use super::pred::{tlp_rank, CmpOp, Field, Lit, Node, Op, Seg, Test, TypeSet};
use crate::record::{IndicatorType, Profile, Tlp, STIX_SCO_TYPES};
use crate::time::{parse_lenient, Micros};

/// Deep enough for any real query, shallow enough that neither the parser
/// nor the evaluator can overflow the stack on hostile input.
pub(crate) const MAX_DEPTH: usize = 64;

/// Field names as written in queries (compared case-insensitively).
const FIELDS: [&str; 18] = [
    "type",
    "value",
    "owner",
    "confidence",
    "rating",
    "score",
    "tags",
    "tlp",
    "active",
    "created",
    "last_modified",
    "expiration",
    "description",
    "profile",
    "spec_version",
    "collection",
    "file",
    "source",
];

/// Names people bring from ThreatConnect TQL or other tools, for "did you
/// mean" only (they are not accepted as fields, to keep one spelling).
const ALIASES: [(&str, &str); 8] = [
    ("summary", "value"),
    ("indicator", "value"),
    ("dateadded", "created"),
    ("typename", "type"),
    ("ownername", "owner"),
    ("tag", "tags"),
    ("lastmodified", "last_modified"),
    ("modified", "last_modified"),
];

/// STIX 2.1 SDO, SRO and meta object types accepted by `type =` besides
/// indicator types, the SCO types ([`STIX_SCO_TYPES`]) and custom `x-` types.
const STIX_TYPES: [&str; 24] = [
    "attack-pattern",
    "campaign",
    "course-of-action",
    "grouping",
    "identity",
    "incident",
    "indicator",
    "infrastructure",
    "intrusion-set",
    "location",
    "malware",
    "malware-analysis",
    "note",
    "observed-data",
    "opinion",
    "report",
    "threat-actor",
    "tool",
    "vulnerability",
    "relationship",
    "sighting",
    "marking-definition",
    "language-content",
    "extension-definition",
];

/// What kind of value a field holds; decides operators and literal types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Type,
    Text,
    Number,
    Bool,
    Time,
    Tags,
    Tlp,
    Profile,
    /// A `source.` path: dynamically typed, checked per record.
    Json,
}

impl Class {
    fn of(field: &Field) -> Class {
        match field {
            Field::Type => Class::Type,
            Field::Value
            | Field::Owner
            | Field::Description
            | Field::SpecVersion
            | Field::Collection
            | Field::File => Class::Text,
            Field::Confidence | Field::Rating | Field::Score => Class::Number,
            Field::Tags => Class::Tags,
            Field::Tlp => Class::Tlp,
            Field::Active => Class::Bool,
            Field::Created | Field::LastModified | Field::Expiration => Class::Time,
            Field::Profile => Class::Profile,
            Field::Source(_) => Class::Json,
        }
    }

    fn what(self) -> &'static str {
        match self {
            Class::Type => "a type name",
            Class::Text => "a string",
            Class::Number => "a number",
            Class::Bool => "true or false",
            Class::Time => "a timestamp",
            Class::Tags => "a list of strings",
            Class::Tlp => "a TLP level",
            Class::Profile => "an input profile",
            Class::Json => "a JSON value",
        }
    }

    fn allowed(self) -> &'static str {
        match self {
            Class::Type | Class::Tags => "=, !=, in, contains, startswith, endswith, ~ or exists",
            Class::Number | Class::Time | Class::Tlp => "=, !=, <, <=, >, >=, in or exists",
            Class::Bool | Class::Profile => "=, !=, in or exists",
            Class::Text | Class::Json => "any operator",
        }
    }
}

/// A literal before it meets its field.
#[derive(Debug)]
enum Raw {
    Str(String),
    Num(f64, String),
    Bool(bool),
    Time(Micros),
}

impl Raw {
    fn describe(&self) -> String {
        match self {
            Raw::Str(s) => format!("the string {s:?}"),
            Raw::Num(_, t) => format!("the number {t}"),
            Raw::Bool(b) => b.to_string(),
            Raw::Time(_) => "a time".to_owned(),
        }
    }
}

/// The operator as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RawOp {
    Cmp(CmpOp),
    In,
    Contains,
    StartsWith,
    EndsWith,
    Regex,
    Exists,
}

pub(crate) struct Parser<'a> {
    text: &'a str,
    lx: Lexer<'a>,
    /// One token of lookahead: (token, start, end).
    peeked: Option<(Tok<'a>, usize, usize)>,
    /// End offset of the last consumed token.
    last_end: usize,
    now: Micros,
    /// Whether the query read `now()`: its result then depends on when it
    /// runs.
    read_now: bool,
    depth: usize,
}

type PResult<T> = Result<T, QueryError>;

impl<'a> Parser<'a> {
    pub(crate) fn new(text: &'a str, now: Micros) -> Parser<'a> {
        Parser {
            text,
            lx: Lexer::new(text),
            peeked: None,
            last_end: 0,
            now,
            read_now: false,
            depth: 0,
        }
    }

    /// Parses the whole (non-empty) query; also says whether it reads
    /// `now()`.
    pub(crate) fn parse(mut self) -> PResult<(Node, bool)> {
        let node = self.or()?;
        let (tok, col) = self.next()?;
        match tok {
            Tok::End => Ok((node, self.read_now)),
            Tok::RParen => Err(self.err(
                col,
                K::Unexpected {
                    expected: "and, or or the end of the query".into(),
                    found: "\")\" without a matching \"(\"".into(),
                },
            )),
            t => Err(self.unexpected(col, "and, or or the end of the query", &t)),
        }
    }

    fn err(&self, col: usize, kind: K) -> QueryError {
        QueryError::new(self.text, col, kind)
    }

    fn unexpected(&self, col: usize, expected: &str, found: &Tok<'_>) -> QueryError {
        self.err(
            col,
            K::Unexpected {
                expected: expected.to_owned(),
                found: found.describe(),
            },
        )
    }

    fn fill(&mut self) -> PResult<()> {
        if self.peeked.is_none() {
            let (tok, start) = self
                .lx
                .next_token()
                .map_err(|(col, kind)| QueryError::new(self.text, col, kind))?;
            self.peeked = Some((tok, start, self.lx_pos()));
        }
        Ok(())
    }

    fn lx_pos(&self) -> usize {
        self.lx.pos()
    }

    fn peek(&mut self) -> PResult<(&Tok<'a>, usize)> {
        self.fill()?;
        match &self.peeked {
            Some((t, s, _)) => Ok((t, *s)),
            None => unreachable!("fill() always leaves a token"),
        }
    }

    fn next(&mut self) -> PResult<(Tok<'a>, usize)> {
        self.fill()?;
        match self.peeked.take() {
            Some((t, s, e)) => {
                self.last_end = e;
                Ok((t, s))
            }
            None => unreachable!("fill() always leaves a token"),
        }
    }

    fn peek_kw(&mut self, kw: &str) -> PResult<bool> {
        Ok(matches!(self.peek()?.0, Tok::Ident(s) if s.eq_ignore_ascii_case(kw)))
    }

    fn eat_kw(&mut self, kw: &str) -> PResult<bool> {
        let yes = self.peek_kw(kw)?;
        if yes {
            self.next()?;
        }
        Ok(yes)
    }

    fn enter(&mut self, col: usize) -> PResult<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err(col, K::TooDeep { limit: MAX_DEPTH }));
        }
        Ok(())
    }

    fn or(&mut self) -> PResult<Node> {
        let mut items = vec![self.and()?];
        while self.eat_kw("or")? {
            items.push(self.and()?);
        }
        Ok(combine(items, false))
    }

    fn and(&mut self) -> PResult<Node> {
        let mut items = vec![self.not()?];
        while self.eat_kw("and")? {
            items.push(self.not()?);
        }
        Ok(combine(items, true))
    }

    fn not(&mut self) -> PResult<Node> {
        let col = self.peek()?.1;
        if self.eat_kw("not")? {
            self.enter(col)?;
            let inner = self.not()?;
            self.depth -= 1;
            return Ok(negate(inner));
        }
        self.primary()
    }

    fn primary(&mut self) -> PResult<Node> {
        let (tok, col) = self.next()?;
        match tok {
            Tok::LParen => {
                self.enter(col)?;
                let inner = self.or()?;
                self.depth -= 1;
                let (tok, c) = self.next()?;
                if tok != Tok::RParen {
                    return Err(self.unexpected(c, "and, or or \")\"", &tok));
                }
                Ok(inner)
            }
            Tok::Ident(name) if is_keyword(name) => Err(self.unexpected(
                col,
                "a field name (type, value, confidence, tags, source.…) or \"(\"",
                &tok,
            )),
            Tok::Ident(name) => {
                let field = self.field(name, col)?;
                let field_text = self.text[col..self.last_end].to_owned();
                self.test(field, field_text)
            }
            t => Err(self.unexpected(
                col,
                "a field name (type, value, confidence, tags, source.…) or \"(\"",
                &t,
            )),
        }
    }

    fn field(&mut self, name: &'a str, col: usize) -> PResult<Field> {
        let lower = name.to_ascii_lowercase();
        Ok(match lower.as_str() {
            "type" => Field::Type,
            "value" => Field::Value,
            "owner" => Field::Owner,
            "confidence" => Field::Confidence,
            "rating" => Field::Rating,
            "score" => Field::Score,
            "tags" => Field::Tags,
            "tlp" => Field::Tlp,
            "active" => Field::Active,
            "created" => Field::Created,
            "last_modified" => Field::LastModified,
            "expiration" => Field::Expiration,
            "description" => Field::Description,
            "profile" => Field::Profile,
            "spec_version" => Field::SpecVersion,
            "collection" => Field::Collection,
            "file" => Field::File,
            "source" => Field::Source(self.path()?),
            _ => {
                let suggestion = ALIASES
                    .iter()
                    .find(|(a, _)| *a == lower)
                    .map(|(_, f)| *f)
                    .or_else(|| closest(&lower, FIELDS.iter().copied()));
                return Err(self.err(
                    col,
                    K::UnknownField {
                        name: name.to_owned(),
                        suggestion,
                    },
                ));
            }
        })
    }

    /// The segments after `source`.
    fn path(&mut self) -> PResult<Box<[Seg]>> {
        let mut segs = Vec::new();
        loop {
            let (tok, col) = self.peek()?;
            match tok {
                Tok::Dot => {
                    self.next()?;
                    let (tok, col) = self.next()?;
                    match tok {
                        Tok::Ident(k) => segs.push(Seg::Key(k.into())),
                        Tok::Str(k) => segs.push(Seg::Key(k.into())),
                        _ => {
                            return Err(self.err(
                                col,
                                K::BadPath {
                                    message: format!(
                                        "expected a key after \".\", found {}; quote keys that are not plain words: source.\"odd key\", and write indices as [0]",
                                        tok.describe()
                                    ),
                                },
                            ))
                        }
                    }
                }
                Tok::LBracket => {
                    self.next()?;
                    let (mut tok, mut col) = self.next()?;
                    let neg = tok == Tok::Minus;
                    if neg {
                        (tok, col) = self.next()?;
                    }
                    let idx = match tok {
                        Tok::Num(_, t) => t.parse::<i64>().ok(),
                        _ => None,
                    };
                    let Some(idx) = idx else {
                        return Err(self.err(
                            col,
                            K::BadPath {
                                message: format!(
                                    "expected an integer index in [ ], found {}",
                                    tok.describe()
                                ),
                            },
                        ));
                    };
                    segs.push(Seg::Index(if neg { -idx } else { idx }));
                    let (tok, col) = self.next()?;
                    if tok != Tok::RBracket {
                        return Err(self.unexpected(col, "\"]\"", &tok));
                    }
                }
                _ if segs.is_empty() => {
                    let found = tok.describe();
                    return Err(self.err(
                        col,
                        K::BadPath {
                            message: format!(
                                "expected \".\" or \"[\" after source (e.g. source.tags[0].name), found {found}"
                            ),
                        },
                    ));
                }
                _ => return Ok(segs.into_boxed_slice()),
            }
        }
    }

    /// The operator and operand(s) after a field.
    fn test(&mut self, field: Field, fname: String) -> PResult<Node> {
        let (tok, col) = self.next()?;
        let mut negated = false;
        let mut not_col = col;
        let mut tok = tok;
        let mut op_col = col;
        if matches!(tok, Tok::Ident(s) if s.eq_ignore_ascii_case("not")) {
            negated = true;
            not_col = col;
            (tok, op_col) = self.next()?;
            let ok = match &tok {
                Tok::Tilde => true,
                Tok::Ident(s) => ["in", "contains", "startswith", "endswith", "exists"]
                    .iter()
                    .any(|k| s.eq_ignore_ascii_case(k)),
                _ => false,
            };
            if !ok {
                return Err(self.unexpected(
                    op_col,
                    "in, contains, startswith, endswith, ~ or exists after \"not\"",
                    &tok,
                ));
            }
        }
        let raw_op = match &tok {
            Tok::Eq => RawOp::Cmp(CmpOp::Eq),
            Tok::Ne => {
                negated = true;
                RawOp::Cmp(CmpOp::Eq)
            }
            Tok::Lt => RawOp::Cmp(CmpOp::Lt),
            Tok::Le => RawOp::Cmp(CmpOp::Le),
            Tok::Gt => RawOp::Cmp(CmpOp::Gt),
            Tok::Ge => RawOp::Cmp(CmpOp::Ge),
            Tok::Tilde => RawOp::Regex,
            Tok::NotTilde => {
                negated = true;
                RawOp::Regex
            }
            Tok::Ident(s) if s.eq_ignore_ascii_case("in") => RawOp::In,
            Tok::Ident(s) if s.eq_ignore_ascii_case("contains") => RawOp::Contains,
            Tok::Ident(s) if s.eq_ignore_ascii_case("startswith") => RawOp::StartsWith,
            Tok::Ident(s) if s.eq_ignore_ascii_case("endswith") => RawOp::EndsWith,
            Tok::Ident(s) if s.eq_ignore_ascii_case("exists") => RawOp::Exists,
            _ => {
                return Err(self.unexpected(
                    op_col,
                    &format!("an operator after {fname} (=, !=, <, <=, >, >=, in, not in, contains, startswith, endswith, ~, exists)"),
                    &tok,
                ))
            }
        };
        let op_name = op_name(raw_op, negated, &tok);
        let class = Class::of(&field);
        let col = if negated && matches!(tok, Tok::Ident(_) | Tok::Tilde) {
            not_col
        } else {
            op_col
        };
        let applies = match raw_op {
            RawOp::Exists => true,
            RawOp::Cmp(CmpOp::Eq) | RawOp::In => true,
            RawOp::Cmp(_) => matches!(
                class,
                Class::Text | Class::Number | Class::Time | Class::Tlp | Class::Json
            ),
            RawOp::Contains | RawOp::StartsWith | RawOp::EndsWith | RawOp::Regex => {
                matches!(class, Class::Text | Class::Type | Class::Tags | Class::Json)
            }
        };
        if !applies {
            return Err(self.err(
                col,
                K::NotApplicable {
                    op: op_name,
                    field: fname,
                    what: class.what(),
                    allowed: class.allowed(),
                },
            ));
        }
        let op = match raw_op {
            RawOp::Exists => {
                let t = Node::Test(Test {
                    field,
                    op: Op::Exists,
                    negate: false,
                });
                return Ok(if negated { negate(t) } else { t });
            }
            RawOp::Cmp(CmpOp::Eq) if class == Class::Type => {
                let (raw, c) = self.literal()?;
                let mut set = TypeSet::default();
                set.insert(&self.type_name(raw, c)?);
                Op::TypeIn(set)
            }
            RawOp::In if class == Class::Type => {
                let mut set = TypeSet::default();
                for (raw, c) in self.list()? {
                    set.insert(&self.type_name(raw, c)?);
                }
                Op::TypeIn(set)
            }
            RawOp::Cmp(op) => {
                let (raw, c) = self.literal()?;
                Op::Cmp(op, self.convert(class, &fname, raw, c)?)
            }
            RawOp::In => {
                let mut lits = Vec::new();
                for (raw, c) in self.list()? {
                    lits.push(self.convert(class, &fname, raw, c)?);
                }
                Op::In(lits.into_boxed_slice())
            }
            RawOp::Contains => {
                let (raw, c) = self.literal()?;
                let lit = if class == Class::Json {
                    self.convert(class, &fname, raw, c)?
                } else {
                    Lit::Str(self.string_operand(class, &fname, raw, c)?)
                };
                Op::Contains(lit)
            }
            RawOp::StartsWith => {
                let (raw, c) = self.literal()?;
                Op::StartsWith(self.string_operand(class, &fname, raw, c)?)
            }
            RawOp::EndsWith => {
                let (raw, c) = self.literal()?;
                Op::EndsWith(self.string_operand(class, &fname, raw, c)?)
            }
            RawOp::Regex => {
                let (tok, c) = self.next()?;
                let Tok::Str(pattern) = tok else {
                    return Err(self.unexpected(c, "a quoted regular expression", &tok));
                };
                match regex::Regex::new(&pattern) {
                    Ok(re) => Op::Regex(re),
                    Err(e) => {
                        return Err(self.err(
                            c,
                            K::BadRegex {
                                message: regex_message(&e),
                            },
                        ))
                    }
                }
            }
        };
        Ok(Node::Test(Test {
            field,
            op,
            negate: negated,
        }))
    }

    /// `( literal, … )` for `in`.
    fn list(&mut self) -> PResult<Vec<(Raw, usize)>> {
        let (tok, col) = self.next()?;
        if tok != Tok::LParen {
            return Err(self.unexpected(col, "\"(\" to open the list after in", &tok));
        }
        if let (Tok::RParen, col) = self.peek()? {
            return Err(self.err(col, K::EmptyList));
        }
        let mut out = Vec::new();
        loop {
            out.push(self.literal()?);
            let (tok, col) = self.next()?;
            match tok {
                Tok::Comma => continue,
                Tok::RParen => return Ok(out),
                t => return Err(self.unexpected(col, "\",\" or \")\"", &t)),
            }
        }
    }

    /// One literal and its column.
    fn literal(&mut self) -> PResult<(Raw, usize)> {
        let (tok, col) = self.next()?;
        let raw = match tok {
            Tok::Str(s) => {
                if matches!(self.peek()?.0, Tok::Plus | Tok::Minus) {
                    let Ok(t) = parse_lenient(&s) else {
                        return Err(self.err(col, K::BadTime { text: s }));
                    };
                    Raw::Time(self.offsets(t, col)?)
                } else {
                    Raw::Str(s)
                }
            }
            Tok::Num(v, t) => Raw::Num(v, t.to_owned()),
            Tok::Minus => {
                let (tok, c) = self.next()?;
                match tok {
                    Tok::Num(v, t) => Raw::Num(-v, format!("-{t}")),
                    t => return Err(self.unexpected(c, "a number after \"-\"", &t)),
                }
            }
            Tok::Ident(s) if s.eq_ignore_ascii_case("true") => Raw::Bool(true),
            Tok::Ident(s) if s.eq_ignore_ascii_case("false") => Raw::Bool(false),
            Tok::Ident(s) if s.eq_ignore_ascii_case("now") => {
                for want in [Tok::LParen, Tok::RParen] {
                    let (tok, c) = self.next()?;
                    if tok != want {
                        return Err(self.unexpected(c, "now()", &tok));
                    }
                }
                self.read_now = true;
                Raw::Time(self.offsets(self.now, col)?)
            }
            Tok::Ident(s) => {
                return Err(self.err(
                    col,
                    K::Unexpected {
                        expected: "a value".into(),
                        found: format!("the bare word {s:?}; strings are quoted: \"{s}\""),
                    },
                ))
            }
            Tok::Dur(_) => {
                return Err(self.err(
                    col,
                    K::Unexpected {
                        expected: "a value".into(),
                        found: "a duration; durations are added to a time: now() - 30d".into(),
                    },
                ))
            }
            t => return Err(self.unexpected(col, "a value", &t)),
        };
        Ok((raw, col))
    }

    /// `(+|-) DURATION` repeated after a time.
    fn offsets(&mut self, mut t: Micros, col: usize) -> PResult<Micros> {
        loop {
            let sign = match self.peek()?.0 {
                Tok::Plus => 1,
                Tok::Minus => -1,
                _ => return Ok(t),
            };
            self.next()?;
            let (tok, c) = self.next()?;
            let Tok::Dur(d) = tok else {
                return Err(self.unexpected(c, "a duration like 30d, 12h, 15m, 10s or 2w", &tok));
            };
            t = match if sign > 0 {
                t.checked_add(d)
            } else {
                t.checked_sub(d)
            } {
                Some(t) => t,
                None => return Err(self.err(col, K::TimeOverflow)),
            };
        }
    }

    fn mismatch(
        &self,
        col: usize,
        fname: &str,
        class: Class,
        expected: &'static str,
        raw: &Raw,
    ) -> QueryError {
        self.err(
            col,
            K::TypeMismatch {
                field: fname.to_owned(),
                what: class.what(),
                expected,
                found: raw.describe(),
            },
        )
    }

    /// Converts a literal to the type of its field.
    fn convert(&self, class: Class, fname: &str, raw: Raw, col: usize) -> PResult<Lit> {
        Ok(match (class, raw) {
            (Class::Json, Raw::Str(s)) => Lit::Str(s.into()),
            (Class::Json, Raw::Num(n, _)) => Lit::Num(n),
            (Class::Json, Raw::Bool(b)) => Lit::Bool(b),
            (Class::Json, Raw::Time(t)) => Lit::Time(t),
            (Class::Text | Class::Tags, Raw::Str(s)) => Lit::Str(s.into()),
            (Class::Type, Raw::Str(s)) => Lit::Str(s.to_lowercase().into()),
            (Class::Number, Raw::Num(n, _)) => Lit::Num(n),
            (Class::Bool, Raw::Bool(b)) => Lit::Bool(b),
            (Class::Time, Raw::Time(t)) => Lit::Time(t),
            (Class::Time, Raw::Str(s)) => match parse_lenient(&s) {
                Ok(t) => Lit::Time(t),
                Err(_) => return Err(self.err(col, K::BadTime { text: s })),
            },
            // TLP names are ASCII. The guard also keeps non-ASCII text away
            // from `Tlp::parse`, which slices `s[..4]` and panics when byte 4
            // is inside a character (reported to the owner of record/).
            (Class::Tlp, Raw::Str(s)) => match Some(&s)
                .filter(|s| s.is_ascii())
                .and_then(|s| Tlp::parse(s))
            {
                Some(t) => Lit::Tlp(tlp_rank(t)),
                None => return Err(self.err(col, K::UnknownTlp { value: s })),
            },
            (Class::Profile, Raw::Str(s)) => match Profile::parse(&s.to_ascii_lowercase()) {
                Some(p) => Lit::Profile(p),
                None => return Err(self.err(col, K::UnknownProfile { value: s })),
            },
            (class, raw) => {
                let expected = match class {
                    Class::Number => "a number like 70",
                    Class::Bool => "true or false",
                    Class::Time => {
                        "a quoted time like \"2024-01-01T00:00:00Z\" or \"2024-01-01\", or now() - 30d"
                    }
                    Class::Tlp => "a quoted TLP level like \"amber\"",
                    Class::Profile => "a quoted profile like \"xsoar\"",
                    Class::Type => "a quoted type name like \"ipv4\"",
                    Class::Text | Class::Tags | Class::Json => "a quoted string",
                };
                return Err(self.mismatch(col, fname, class, expected, &raw));
            }
        })
    }

    /// The string operand of contains / startswith / endswith.
    fn string_operand(&self, class: Class, fname: &str, raw: Raw, col: usize) -> PResult<Box<str>> {
        match raw {
            // Type names are ASCII and compared case-insensitively.
            Raw::Str(s) if class == Class::Type => Ok(s.to_ascii_lowercase().into()),
            Raw::Str(s) => Ok(s.into()),
            raw => Err(self.mismatch(col, fname, class, "a quoted string", &raw)),
        }
    }

    /// A validated, lower-case type name for `type =` / `type in`.
    fn type_name(&self, raw: Raw, col: usize) -> PResult<String> {
        let Raw::Str(s) = raw else {
            return Err(self.mismatch(
                col,
                "type",
                Class::Type,
                "a quoted type name like \"ipv4\"",
                &raw,
            ));
        };
        let l = s.to_ascii_lowercase();
        if IndicatorType::parse(&l).is_some()
            || STIX_TYPES.contains(&l.as_str())
            || STIX_SCO_TYPES.contains(&l.as_str())
            || l.starts_with("x-")
        {
            return Ok(l);
        }
        let names = IndicatorType::ALL
            .iter()
            .map(|t| t.as_str())
            .chain(STIX_TYPES.iter().copied())
            .chain(STIX_SCO_TYPES.iter().copied());
        Err(self.err(
            col,
            K::UnknownType {
                value: s,
                suggestion: closest(&l, names),
            },
        ))
    }
}

fn is_keyword(s: &str) -> bool {
    [
        "and",
        "or",
        "not",
        "in",
        "contains",
        "startswith",
        "endswith",
        "exists",
        "true",
        "false",
        "now",
    ]
    .iter()
    .any(|k| s.eq_ignore_ascii_case(k))
}

fn op_name(op: RawOp, negated: bool, tok: &Tok<'_>) -> &'static str {
    match (op, negated) {
        (RawOp::Cmp(CmpOp::Eq), false) => "=",
        (RawOp::Cmp(CmpOp::Eq), true) => "!=",
        (RawOp::Cmp(CmpOp::Lt), _) => "<",
        (RawOp::Cmp(CmpOp::Le), _) => "<=",
        (RawOp::Cmp(CmpOp::Gt), _) => ">",
        (RawOp::Cmp(CmpOp::Ge), _) => ">=",
        (RawOp::In, false) => "in",
        (RawOp::In, true) => "not in",
        (RawOp::Contains, false) => "contains",
        (RawOp::Contains, true) => "not contains",
        (RawOp::StartsWith, false) => "startswith",
        (RawOp::StartsWith, true) => "not startswith",
        (RawOp::EndsWith, false) => "endswith",
        (RawOp::EndsWith, true) => "not endswith",
        (RawOp::Regex, false) => "~",
        (RawOp::Regex, true) if *tok == Tok::NotTilde => "!~",
        (RawOp::Regex, true) => "not ~",
        (RawOp::Exists, false) => "exists",
        (RawOp::Exists, true) => "not exists",
    }
}

/// The regex crate's message without its own multi-line rendering of the
/// pattern (we already point at the pattern).
fn regex_message(e: &regex::Error) -> String {
    let full = e.to_string();
    full.lines()
        .rev()
        .find_map(|l| l.strip_prefix("error: "))
        .unwrap_or(full.lines().last().unwrap_or("invalid pattern"))
        .trim()
        .to_owned()
}

/// Builds an `and`/`or` node: flattens nested nodes of the same kind and
/// orders children cheapest first (the evaluation short-circuits).
fn combine(items: Vec<Node>, and: bool) -> Node {
    let mut flat = Vec::with_capacity(items.len());
    for n in items {
        match n {
            Node::And(v) if and => flat.extend(v.into_vec()),
            Node::Or(v) if !and => flat.extend(v.into_vec()),
            n => flat.push(n),
        }
    }
    if flat.len() == 1 {
        return flat.pop().unwrap_or(Node::And(Box::new([])));
    }
    flat.sort_by_key(Node::cost);
    let flat = flat.into_boxed_slice();
    if and {
        Node::And(flat)
    } else {
        Node::Or(flat)
    }
}

fn negate(n: Node) -> Node {
    match n {
        Node::Not(inner) => *inner,
        n => Node::Not(Box::new(n)),
    }
}

/// The candidate closest to `name` by edit distance, if close enough to be
/// a plausible typo.
fn closest<'c>(name: &str, candidates: impl Iterator<Item = &'c str>) -> Option<&'c str> {
    let len = name.chars().count();
    candidates
        .map(|c| (levenshtein(name, c), c))
        .filter(|&(d, _)| d == 1 || (d == 2 && len >= 6))
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}
