//! [`Json`]: an object's JSON text as shared bytes.
//!
//! The writer takes every object version's JSON as given. Holding it as
//! `Bytes` (not `Box<str>`) lets the compiler hand over JSON that lives in
//! a mapped file (its spill file of serialized objects) without copying it
//! back into the heap, so a compile's resident memory does not grow with
//! the serialized size of the feed. Owned strings convert without a copy
//! too.

use bytes::Bytes;
use std::fmt;
use std::ops::Deref;

/// UTF-8 JSON text in shared bytes (owned, or a slice of a mapping).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Json(Bytes);

impl Json {
    /// Wraps bytes that must be UTF-8 (checked once, here).
    pub fn from_shared(bytes: Bytes) -> Result<Json, std::str::Utf8Error> {
        std::str::from_utf8(&bytes)?;
        Ok(Json(bytes))
    }

    /// The bytes themselves (cheap to clone).
    pub fn bytes(&self) -> &Bytes {
        &self.0
    }
}

impl Deref for Json {
    type Target = str;

    fn deref(&self) -> &str {
        // SAFETY: every constructor checks or inherits UTF-8 validity
        // (`from_shared` checks; `String` and `&str` are UTF-8), and the
        // bytes are immutable.
        unsafe { std::str::from_utf8_unchecked(&self.0) }
    }
}

impl From<String> for Json {
    fn from(s: String) -> Json {
        Json(Bytes::from(s))
    }
}

impl From<&str> for Json {
    fn from(s: &str) -> Json {
        Json(Bytes::copy_from_slice(s.as_bytes()))
    }
}

impl From<Box<str>> for Json {
    fn from(s: Box<str>) -> Json {
        Json(Bytes::from(s.into_boxed_bytes()))
    }
}

impl fmt::Debug for Json {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl fmt::Display for Json {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owned_and_shared_json_read_the_same() {
        let a = Json::from(String::from("{\"a\":\"é\"}"));
        let b = Json::from_shared(Bytes::from_static("{\"a\":\"é\"}".as_bytes())).unwrap();
        assert_eq!(a, b);
        assert_eq!(&*a, "{\"a\":\"é\"}");
        assert_eq!(a.len(), 10);
        assert_eq!(format!("{b:?}"), "\"{\\\"a\\\":\\\"é\\\"}\"");
    }

    #[test]
    fn shared_bytes_must_be_utf8() {
        assert!(Json::from_shared(Bytes::from_static(b"{\"a\":\"\xff\"}")).is_err());
    }
}
