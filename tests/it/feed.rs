//! The feed file on its own (no compiler, no server): hand-built feeds
//! (`common::feed_support`) written, opened, verified, damaged and published.

mod corruption;
mod publish;
mod reuse;
mod roundtrip;
mod verify_depth;
