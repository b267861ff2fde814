//! The response body: a queue of [`Bytes`] chunks with an exact length.
//!
//! A page is a static prefix, one slice of the mapping per contiguous run of
//! matching objects (a refcount bump each) and a static suffix. Sending them
//! as separate frames avoids copying the objects; the exact size hint makes
//! hyper send `Content-Length` on HTTP/1.1 and h2 instead of chunked
//! encoding (CRATES.md: `StreamBody` has no size hint).

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Chunks sent in order; cheap to build, never fails.
#[derive(Debug, Default)]
pub struct Body {
    chunks: VecDeque<Bytes>,
    remaining: u64,
}

impl Body {
    /// No body (304, HEAD).
    pub fn empty() -> Body {
        Body::default()
    }

    /// One chunk.
    pub fn from_bytes(b: impl Into<Bytes>) -> Body {
        let mut body = Body::default();
        body.push(b.into());
        body
    }

    /// Appends a chunk (empty ones are dropped).
    pub fn push(&mut self, b: Bytes) {
        if !b.is_empty() {
            self.remaining += b.len() as u64;
            self.chunks.push_back(b);
        }
    }

    /// Total bytes still to send.
    pub fn len(&self) -> u64 {
        self.remaining
    }

    /// Whether there is nothing to send.
    pub fn is_empty(&self) -> bool {
        self.remaining == 0
    }

    /// All chunks joined (tests and ETag-free callers only: copies).
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.remaining as usize);
        for c in &self.chunks {
            v.extend_from_slice(c);
        }
        v
    }
}

impl HttpBody for Body {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        match this.chunks.pop_front() {
            Some(b) => {
                this.remaining -= b.len() as u64;
                Poll::Ready(Some(Ok(Frame::data(b))))
            }
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.chunks.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}
