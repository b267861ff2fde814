//! The edge server: TAXII 2.1 and 2.0 over a memory-mapped feed.
