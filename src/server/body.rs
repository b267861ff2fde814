//! The response body: a list of [`Bytes`] chunks with an exact length,
//! handed to hyper as ONE data frame.
//!
//! A page is a static prefix, one slice of the mapping per contiguous run of
//! matching objects (a refcount bump each) and a static suffix. The chunks
//! are never copied: the frame is a [`Chunks`] buffer whose
//! `chunks_vectored` lists every chunk, so hyper's HTTP/1.1 write queue
//! sends head + prefix + objects + suffix in one `writev`. (Sending the
//! chunks as separate frames made hyper flush after the first chunk that
//! crossed its `max_buf_size` and send the 2-byte `]}` suffix in a second
//! `writev`, a second TCP segment and a second wake-up of the client.) The
//! exact size hint makes hyper send `Content-Length` on HTTP/1.1 and h2
//! instead of chunked encoding (`StreamBody` has no size hint:
//! docs/decisions.md#d29).

use crate::feed::Coding;
use bytes::{Buf, Bytes};
use http_body::{Body as HttpBody, Frame, SizeHint};
use std::borrow::Cow;
use std::convert::Infallible;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};

/// Chunks sent in order; cheap to build, never fails.
#[derive(Debug, Default)]
pub struct Body {
    data: Chunks,
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
            self.data.remaining += b.len();
            self.data.chunks.push(b);
        }
    }

    /// Total bytes still to send.
    pub fn len(&self) -> u64 {
        self.data.remaining as u64
    }

    /// Whether there is nothing to send.
    pub fn is_empty(&self) -> bool {
        self.data.remaining == 0
    }

    /// How many chunks the body holds (what one `writev` will list).
    pub fn chunk_count(&self) -> usize {
        self.data.chunks.len() - self.data.head
    }

    /// All chunks joined (tests and ETag-free callers only: copies).
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.data.remaining);
        for c in self.data.live() {
            v.extend_from_slice(c);
        }
        v
    }

    /// The bytes in one piece: the only chunk as it is, else every chunk
    /// copied into one buffer.
    pub(crate) fn contiguous(&self) -> Cow<'_, [u8]> {
        match self.data.live() {
            [] => Cow::Borrowed(&[]),
            [one] => Cow::Borrowed(one),
            _ => Cow::Owned(self.to_vec()),
        }
    }

    /// The body compressed with `coding` at the on-the-fly levels
    /// ([`FLY_GZIP_LEVEL`], [`FLY_ZSTD_LEVEL`]), as one chunk: the chunks
    /// are gathered first (libdeflate compresses whole buffers only), and
    /// each thread keeps its own compressor.
    pub fn encode(&self, coding: Coding) -> io::Result<Body> {
        let plain = self.contiguous();
        let packed = match coding {
            Coding::Gzip => crate::feed::gzip(&plain, FLY_GZIP_LEVEL)?,
            Coding::Zstd => crate::feed::zstd(&plain, FLY_ZSTD_LEVEL)?,
        };
        Ok(Body::from_bytes(packed))
    }
}

/// libdeflate level of gzip made per request (docs/decisions.md#d23,
/// `docs/decisions.md#d23`; stored copies use level 6).
pub const FLY_GZIP_LEVEL: u32 = 1;
/// zstd level of zstd made per request (stored copies use level 3).
pub const FLY_ZSTD_LEVEL: i32 = 1;

impl HttpBody for Body {
    type Data = Chunks;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Chunks>, Infallible>>> {
        let this = self.get_mut();
        if this.data.remaining == 0 {
            return Poll::Ready(None);
        }
        Poll::Ready(Some(Ok(Frame::data(std::mem::take(&mut this.data)))))
    }

    fn is_end_stream(&self) -> bool {
        self.data.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.data.remaining as u64)
    }
}

/// The body's bytes as one [`Buf`]: the chunks in order, listed one
/// `IoSlice` each by `chunks_vectored`.
#[derive(Debug, Default)]
pub struct Chunks {
    chunks: Vec<Bytes>,
    /// Chunks before this index are sent.
    head: usize,
    remaining: usize,
}

impl Chunks {
    fn live(&self) -> &[Bytes] {
        &self.chunks[self.head..]
    }
}

impl Buf for Chunks {
    fn remaining(&self) -> usize {
        self.remaining
    }

    fn chunk(&self) -> &[u8] {
        self.live().first().map_or(&[], |b| b.as_ref())
    }

    fn advance(&mut self, mut cnt: usize) {
        assert!(cnt <= self.remaining, "advance past the end of the body");
        self.remaining -= cnt;
        while cnt > 0 {
            let front = &mut self.chunks[self.head];
            if cnt < front.len() {
                front.advance(cnt);
                return;
            }
            cnt -= front.len();
            // Drop the sent chunk now: it may pin an old feed generation.
            *front = Bytes::new();
            self.head += 1;
        }
    }

    fn chunks_vectored<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let mut n = 0;
        for (slot, c) in dst.iter_mut().zip(self.live()) {
            *slot = IoSlice::new(c);
            n += 1;
        }
        n
    }

    fn copy_to_bytes(&mut self, len: usize) -> Bytes {
        // A prefix of the front chunk is a refcount bump, not a copy (h2
        // cuts DATA frames this way).
        if let Some(front) = self.chunks.get_mut(self.head) {
            if len <= front.len() {
                let b = front.split_to(len);
                self.remaining -= len;
                if front.is_empty() {
                    self.head += 1;
                }
                return b;
            }
        }
        assert!(
            len <= self.remaining,
            "copy_to_bytes past the end of the body"
        );
        let mut v = Vec::with_capacity(len);
        let mut left = len;
        while left > 0 {
            let c = self.chunk();
            let k = c.len().min(left);
            v.extend_from_slice(&c[..k]);
            self.advance(k);
            left -= k;
        }
        Bytes::from(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    fn body() -> Body {
        let mut b = Body::empty();
        b.push(Bytes::from_static(b"{\"a\":["));
        b.push(Bytes::new());
        b.push(Bytes::from_static(b"1,2,3"));
        b.push(Bytes::from_static(b"]}"));
        b
    }

    #[test]
    fn one_frame_with_every_chunk() {
        let b = body();
        assert_eq!(b.len(), 13);
        assert_eq!(b.chunk_count(), 3);
        assert_eq!(b.to_vec(), b"{\"a\":[1,2,3]}");
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let mut b = body();
        let frame = rt.block_on(b.frame()).unwrap().unwrap();
        assert!(b.is_end_stream());
        assert!(rt.block_on(b.frame()).is_none());
        let data = frame.into_data().unwrap();
        assert_eq!(data.remaining(), 13);
        let mut io = [IoSlice::new(&[]); 8];
        assert_eq!(data.chunks_vectored(&mut io), 3);
        assert_eq!(&*io[1], b"1,2,3");
    }

    #[test]
    fn encode_gathers_every_chunk() {
        use std::io::Read;
        let mut big = Body::empty();
        let mut want = Vec::new();
        for i in 0..200 {
            let c = format!("{{\"n\":{i},\"s\":\"abcdefghij\"}},");
            want.extend_from_slice(c.as_bytes());
            big.push(Bytes::from(c));
        }
        assert_eq!(&*big.contiguous(), &want[..]);
        let gz = big.encode(Coding::Gzip).unwrap();
        assert_eq!(gz.chunk_count(), 1);
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&gz.to_vec()[..])
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, want);
        let zs = big.encode(Coding::Zstd).unwrap();
        assert_eq!(zstd::decode_all(&zs.to_vec()[..]).unwrap(), want);
        assert!(zs.len() < big.len() / 4 && gz.len() < big.len() / 4);
        // Same input, same bytes (strong ETags).
        assert_eq!(big.encode(Coding::Gzip).unwrap().to_vec(), gz.to_vec());
        assert_eq!(&*Body::empty().contiguous(), b"");
    }

    #[test]
    fn advance_and_copy_across_chunks() {
        let mut d = body().data;
        d.advance(5);
        assert_eq!(d.chunk(), b"[");
        assert_eq!(d.remaining(), 8);
        assert_eq!(&d.copy_to_bytes(1)[..], b"[");
        assert_eq!(&d.copy_to_bytes(2)[..], b"1,");
        assert_eq!(&d.copy_to_bytes(4)[..], b"2,3]");
        assert_eq!(d.remaining(), 1);
        {
            let mut io = [IoSlice::new(&[]); 1];
            assert_eq!(d.chunks_vectored(&mut io), 1);
            assert_eq!(&*io[0], b"}");
        }
        d.advance(1);
        assert_eq!(d.remaining(), 0);
        assert_eq!(d.chunk(), b"");
        let mut io = [IoSlice::new(&[]); 1];
        assert_eq!(d.chunks_vectored(&mut io), 0);
    }
}
