//! inspect (placeholder)
use super::Feed;
pub struct InspectReport;
pub struct CollectionReport;
pub struct PageReport;
pub struct SectionReport;
pub fn inspect(_feed: &Feed) -> InspectReport {
    InspectReport
}
