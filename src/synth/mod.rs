//! A seeded, deterministic generator of synthetic exports in every input
//! format, for tests and benchmarks.
