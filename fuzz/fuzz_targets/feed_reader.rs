#![no_main]
// Filled in by the feed_reader work.
libfuzzer_sys::fuzz_target!(|_data: &[u8]| {});
