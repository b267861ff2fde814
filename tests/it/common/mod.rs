//! Helpers shared by the test families.

pub mod compile_support;
pub mod feed_support;
pub mod generations;
pub mod pki;
pub mod server_support;
