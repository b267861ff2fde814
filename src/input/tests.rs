//! Unit tests of the reader over small in-memory files.
