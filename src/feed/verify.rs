//! Full verification (placeholder, filled next).
use super::{Feed, FeedError};
impl Feed {
    /// Full verification: every checksum and invariant, every object's JSON.
    pub fn verify(&self) -> Result<(), FeedError> {
        Ok(())
    }
}
