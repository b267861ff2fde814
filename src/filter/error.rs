//! Query errors: one type for everything that can be wrong with a filter
//! query, found at parse time and shown with a caret under the column.
//!
//! A query lives in a config file and is written by a person, so the error
//! is for the reader: it repeats the query, points at the offending byte and
//! says what is wrong and, where we can guess, what was meant. The caller
//! prefixes where the query came from (`collections[2].query: `).

use std::fmt;

/// A filter query that cannot be compiled.
///
/// Display renders two lines:
/// ```text
/// in query: type = "ipv4" and confidnce >= 70
///                             ^ unknown field "confidnce"; did you mean "confidence"?
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError {
    /// The whole query text, so the message stands on its own.
    pub query: String,
    /// Byte offset (0-based) of the offending token in `query`; equal to
    /// `query.len()` when the query ended too early. Tools that highlight
    /// the config file use it; Display turns it into a caret.
    pub column: usize,
    /// What is wrong, as data (tests and tools match on it).
    pub kind: QueryErrorKind,
}

impl QueryError {
    pub(crate) fn new(query: &str, column: usize, kind: QueryErrorKind) -> QueryError {
        QueryError {
            query: query.to_owned(),
            column: column.min(query.len()),
            kind,
        }
    }
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const PREFIX: &str = "in query: ";
        // One display line: newlines and tabs (possible in multi-line TOML
        // strings) become spaces so that the caret stays under its token.
        // The caret counts characters, not bytes, so non-ASCII text before
        // the error does not push it to the right.
        let shown: String = self
            .query
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        let before = self.query.get(..self.column).unwrap_or(&self.query);
        let pad = PREFIX.len() + before.chars().count();
        writeln!(f, "{PREFIX}{shown}")?;
        write!(f, "{:pad$}^ {}", "", self.kind, pad = pad)
    }
}

impl std::error::Error for QueryError {}

/// The kinds of query error. Their Display is the text after the caret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryErrorKind {
    #[error("unexpected character {ch:?}{hint}")]
    UnexpectedChar {
        ch: char,
        /// e.g. "; use `and`" for `&&`.
        hint: &'static str,
    },
    #[error("unterminated string: the closing {quote} is missing")]
    UnterminatedString { quote: char },
    #[error("unknown escape \\{ch} in string; only \\\", \\' and \\\\ are allowed")]
    BadEscape { ch: char },
    #[error("invalid number {text:?}{hint}")]
    BadNumber { text: String, hint: &'static str },
    #[error("expected {expected}, found {found}")]
    Unexpected { expected: String, found: String },
    #[error("unknown field {name:?}{}", suggest_or_list(.suggestion))]
    UnknownField {
        name: String,
        suggestion: Option<&'static str>,
    },
    #[error("{op:?} does not apply to {field} ({what}); use {allowed}")]
    NotApplicable {
        op: &'static str,
        field: String,
        what: &'static str,
        allowed: &'static str,
    },
    #[error("{field} is {what}: expected {expected}, found {found}")]
    TypeMismatch {
        field: String,
        what: &'static str,
        expected: &'static str,
        found: String,
    },
    #[error("{text:?} is not a timestamp; expected RFC 3339 like \"2024-01-01T00:00:00Z\", a date like \"2024-01-01\", or now() - 30d")]
    BadTime { text: String },
    #[error("time arithmetic out of range")]
    TimeOverflow,
    #[error("unknown type {value:?}{}; indicator types are {}, and STIX records have their STIX type (indicator, malware, ipv4-addr, x-…)", did_you_mean(.suggestion), indicator_types())]
    UnknownType {
        value: String,
        suggestion: Option<&'static str>,
    },
    #[error(
        "unknown TLP level {value:?}; expected clear, white, green, amber, amber+strict or red"
    )]
    UnknownTlp { value: String },
    #[error("unknown profile {value:?}; expected threatconnect, xsoar, native or stix")]
    UnknownProfile { value: String },
    #[error("invalid regex: {message}")]
    BadRegex { message: String },
    #[error("invalid source path: {message}")]
    BadPath { message: String },
    #[error("empty list: in ( ) needs at least one value")]
    EmptyList,
    #[error("query nests deeper than {limit} levels of parentheses and `not`")]
    TooDeep { limit: usize },
}

fn did_you_mean(s: &Option<&'static str>) -> String {
    match s {
        Some(s) => format!("; did you mean {s:?}?"),
        None => String::new(),
    }
}

fn suggest_or_list(s: &Option<&'static str>) -> String {
    match s {
        Some(_) => did_you_mean(s),
        None => format!("; fields are {}", super::FIELD_LIST),
    }
}

fn indicator_types() -> String {
    let names: Vec<&str> = crate::record::IndicatorType::ALL
        .iter()
        .map(|t| t.as_str())
        .collect();
    names.join(", ")
}
