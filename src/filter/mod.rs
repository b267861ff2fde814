//! The collection filter language (TQL-like): parsed once, compiled into a
//! predicate over records.
