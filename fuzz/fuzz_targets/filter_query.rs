#![no_main]
// Filled in by the filter_query work.
libfuzzer_sys::fuzz_target!(|_data: &[u8]| {});
