//! Tokens of the filter language, produced one at a time on demand.
//!
//! The parser pulls tokens lazily (one token of lookahead) so that errors
//! come out in the order they appear in the query: a typo in a field name is
//! reported before an unterminated string further right.

use super::error::QueryErrorKind;
use crate::time::{Micros, DAY, HOUR, SECOND};

/// One token. Identifiers borrow from the query; strings are unescaped
/// copies (parsing is a cold path).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok<'a> {
    /// A bare word: a field name, a keyword (compared case-insensitively by
    /// the parser) or a source path key.
    Ident(&'a str),
    Str(String),
    /// A number and its text (the text tells integers from decimals).
    Num(f64, &'a str),
    /// `30d`, `12h`…: a duration in microseconds.
    Dur(Micros),
    LParen,
    RParen,
    Comma,
    Dot,
    LBracket,
    RBracket,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Tilde,
    NotTilde,
    Plus,
    Minus,
    End,
}

impl Tok<'_> {
    /// How the token is named in "expected X, found Y" messages.
    pub(crate) fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("{s:?}"),
            Tok::Str(s) => format!("the string {s:?}"),
            Tok::Num(_, t) => format!("the number {t}"),
            Tok::Dur(_) => "a duration".to_owned(),
            Tok::LParen => "\"(\"".to_owned(),
            Tok::RParen => "\")\"".to_owned(),
            Tok::Comma => "\",\"".to_owned(),
            Tok::Dot => "\".\"".to_owned(),
            Tok::LBracket => "\"[\"".to_owned(),
            Tok::RBracket => "\"]\"".to_owned(),
            Tok::Eq => "\"=\"".to_owned(),
            Tok::Ne => "\"!=\"".to_owned(),
            Tok::Lt => "\"<\"".to_owned(),
            Tok::Le => "\"<=\"".to_owned(),
            Tok::Gt => "\">\"".to_owned(),
            Tok::Ge => "\">=\"".to_owned(),
            Tok::Tilde => "\"~\"".to_owned(),
            Tok::NotTilde => "\"!~\"".to_owned(),
            Tok::Plus => "\"+\"".to_owned(),
            Tok::Minus => "\"-\"".to_owned(),
            Tok::End => "the end of the query".to_owned(),
        }
    }
}

/// A lexing failure at a byte offset.
pub(crate) type LexError = (usize, QueryErrorKind);

pub(crate) struct Lexer<'a> {
    text: &'a str,
    pos: usize,
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b == b'$' || b == b'@'
}

fn is_ident_continue(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'$' | b'@' | b'-')
}

impl<'a> Lexer<'a> {
    pub(crate) fn new(text: &'a str) -> Lexer<'a> {
        Lexer { text, pos: 0 }
    }

    /// The byte offset just past the last token produced.
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    fn byte(&self, at: usize) -> Option<u8> {
        self.text.as_bytes().get(at).copied()
    }

    /// The next token and its starting byte offset.
    pub(crate) fn next_token(&mut self) -> Result<(Tok<'a>, usize), LexError> {
        // Any Unicode whitespace separates tokens (a non-breaking space
        // pasted from a web page is not an error).
        while let Some(c) = self.text[self.pos..].chars().next() {
            if !c.is_whitespace() {
                break;
            }
            self.pos += c.len_utf8();
        }
        let start = self.pos;
        let Some(b) = self.byte(start) else {
            return Ok((Tok::End, start));
        };
        let next = self.byte(start + 1);
        let (tok, len) = match b {
            b'(' => (Tok::LParen, 1),
            b')' => (Tok::RParen, 1),
            b',' => (Tok::Comma, 1),
            b'.' => (Tok::Dot, 1),
            b'[' => (Tok::LBracket, 1),
            b']' => (Tok::RBracket, 1),
            b'+' => (Tok::Plus, 1),
            b'-' => (Tok::Minus, 1),
            b'~' => (Tok::Tilde, 1),
            b'=' if next == Some(b'=') => {
                return Err((
                    start,
                    QueryErrorKind::UnexpectedChar {
                        ch: '=',
                        hint: "; equality is a single =",
                    },
                ))
            }
            b'=' => (Tok::Eq, 1),
            b'!' if next == Some(b'=') => (Tok::Ne, 2),
            b'!' if next == Some(b'~') => (Tok::NotTilde, 2),
            b'!' => {
                return Err((
                    start,
                    QueryErrorKind::UnexpectedChar {
                        ch: '!',
                        hint: "; negation is the keyword `not`",
                    },
                ))
            }
            b'<' if next == Some(b'=') => (Tok::Le, 2),
            b'<' => (Tok::Lt, 1),
            b'>' if next == Some(b'=') => (Tok::Ge, 2),
            b'>' => (Tok::Gt, 1),
            b'"' | b'\'' => return self.string(b),
            b'0'..=b'9' => return self.number(),
            b if is_ident_start(b) => {
                let mut end = start + 1;
                while self.byte(end).is_some_and(is_ident_continue) {
                    end += 1;
                }
                self.pos = end;
                return Ok((Tok::Ident(&self.text[start..end]), start));
            }
            _ => {
                let ch = self.text[start..].chars().next().unwrap_or('\u{fffd}');
                let hint = match ch {
                    '&' => "; use `and`",
                    '|' => "; use `or`",
                    _ => "",
                };
                return Err((start, QueryErrorKind::UnexpectedChar { ch, hint }));
            }
        };
        self.pos = start + len;
        Ok((tok, start))
    }

    fn string(&mut self, quote: u8) -> Result<(Tok<'a>, usize), LexError> {
        let start = self.pos;
        let mut out = String::new();
        let mut i = start + 1;
        let bytes = self.text.as_bytes();
        loop {
            // Copy the run up to the next quote or backslash in one go; both
            // are ASCII, so the cut is always on a char boundary.
            let run = bytes[i..]
                .iter()
                .position(|&c| c == quote || c == b'\\')
                .map(|p| i + p);
            let Some(stop) = run else {
                return Err((
                    start,
                    QueryErrorKind::UnterminatedString {
                        quote: quote as char,
                    },
                ));
            };
            out.push_str(&self.text[i..stop]);
            if bytes[stop] == quote {
                self.pos = stop + 1;
                return Ok((Tok::Str(out), start));
            }
            match self.byte(stop + 1) {
                Some(c @ (b'"' | b'\'' | b'\\')) => {
                    out.push(c as char);
                    i = stop + 2;
                }
                Some(_) => {
                    let ch = self.text[stop + 1..].chars().next().unwrap_or('\u{fffd}');
                    return Err((stop, QueryErrorKind::BadEscape { ch }));
                }
                None => {
                    return Err((
                        start,
                        QueryErrorKind::UnterminatedString {
                            quote: quote as char,
                        },
                    ))
                }
            }
        }
    }

    fn number(&mut self) -> Result<(Tok<'a>, usize), LexError> {
        let start = self.pos;
        let mut end = start;
        let digits = |from: usize| {
            let mut e = from;
            while self.byte(e).is_some_and(|b| b.is_ascii_digit()) {
                e += 1;
            }
            e
        };
        end = digits(end);
        let mut integer = true;
        if self.byte(end) == Some(b'.') && self.byte(end + 1).is_some_and(|b| b.is_ascii_digit()) {
            end = digits(end + 1);
            integer = false;
        }
        let num_end = end;
        while self.byte(end).is_some_and(is_ident_continue) {
            end += 1;
        }
        self.pos = end;
        let text = &self.text[start..end];
        if end > num_end {
            // A number glued to letters: a duration or a typo.
            let unit = &self.text[num_end..end];
            let scale = match unit {
                "s" => Some(SECOND),
                "m" => Some(60 * SECOND),
                "h" => Some(HOUR),
                "d" => Some(DAY),
                "w" => Some(7 * DAY),
                _ => None,
            };
            return match (scale, integer) {
                (Some(scale), true) => {
                    let amount: Option<i64> = self.text[start..num_end].parse().ok();
                    match amount.and_then(|a| a.checked_mul(scale)) {
                        Some(d) => Ok((Tok::Dur(d), start)),
                        None => Err((start, QueryErrorKind::TimeOverflow)),
                    }
                }
                _ => Err((
                    start,
                    QueryErrorKind::BadNumber {
                        text: text.to_owned(),
                        hint: "; a duration is a whole number and a unit s, m, h, d or w (30d)",
                    },
                )),
            };
        }
        match text.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok((Tok::Num(v, text), start)),
            _ => Err((
                start,
                QueryErrorKind::BadNumber {
                    text: text.to_owned(),
                    hint: "; out of range",
                },
            )),
        }
    }
}
