//! Arbitrary value → STIX pattern → the library's string-literal decoder
//! must give back exactly the value, for a string-typed and a compound
//! (registry key + value name) pattern. A failure means a value could
//! change the meaning of a pattern.
#![no_main]

use std::sync::Arc;
use taxii_edge::record::{Indicator, IndicatorType, Origin, Profile, Source};
use taxii_edge::stix::pattern::{decode_string_literal, pattern};

fn indicator(kind: IndicatorType, value: &str) -> Indicator {
    Indicator {
        kind,
        value: value.to_string(),
        hashes: Default::default(),
        registry_value_name: None,
        owner: None,
        confidence: None,
        rating: None,
        score: None,
        tags: Vec::new(),
        tlp: None,
        active: true,
        created: None,
        last_modified: None,
        expiration: None,
        description: None,
        profile: Profile::Native,
        origin: Origin {
            file: 0,
            position: 0,
            is_line: false,
        },
        source: Source(Arc::from("{}")),
    }
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(value) = std::str::from_utf8(data) else {
        return;
    };
    let prefix = "[mutex:name = ";
    let p = pattern(&indicator(IndicatorType::Mutex, value));
    let literal = p
        .strip_prefix(prefix)
        .and_then(|r| r.strip_suffix(']'))
        .expect("pattern shape");
    assert_eq!(decode_string_literal(literal).as_deref(), Some(value));

    // Compound: the first literal must end exactly where the AND starts.
    let sep = " AND windows-registry-key:values[*].name = ";
    if value.is_empty() || value.contains(sep) {
        return; // no value name is emitted / the split below could cut inside a literal
    }
    let mut reg = indicator(IndicatorType::RegistryKey, value);
    reg.registry_value_name = Some(value.to_string());
    let p = pattern(&reg);
    let body = p
        .strip_prefix("[windows-registry-key:key = ")
        .and_then(|r| r.strip_suffix(']'))
        .expect("pattern shape");
    let (first, second) = body.split_once(sep).expect("AND");
    assert_eq!(decode_string_literal(first).as_deref(), Some(value));
    assert_eq!(decode_string_literal(second).as_deref(), Some(value));
});
