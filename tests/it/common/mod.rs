//! Helpers shared by the test families.

pub mod compile_support;
pub mod feed_support;
pub mod generations;
pub mod pki;
pub mod server_support;

use std::io::Read;

/// Inflates a gzip stream.
pub fn gunzip(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(b)
        .read_to_end(&mut out)
        .unwrap();
    out
}
