#![no_main]
//! Feeds arbitrary bytes to every profile's record parser and to the whole
//! reader (container scanner, sniffing, medallion layouts): whatever the
//! input, the result is records, rejects or a file error, never a panic.
use std::path::Path;
use taxii_edge::input::{parse_bytes, parse_record};
use taxii_edge::record::{Origin, Profile};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let origin = Origin {
        file: 0,
        position: 0,
        is_line: true,
    };
    for p in Profile::ALL {
        let _ = parse_record(p, data, origin);
    }
    let path = Path::new("fuzz.json");
    let _ = parse_bytes(path, data, None);
    let _ = parse_bytes(path, data, Some(Profile::Threatconnect));
});
