//! Fuzzes the collection filter language: any UTF-8 text either parses or
//! yields a `QueryError` whose column is a char boundary of the text; a
//! query that parses is evaluated on fixed records (an indicator with a
//! nested source, an empty one with a non-JSON source, a STIX object). No
//! input may panic, overflow the stack or hang.
//!
//! Run (stable toolchain): `cargo fuzz run --sanitizer none filter_query -- -max_total_time=60`

#![no_main]

use std::sync::{Arc, OnceLock};
use taxii_edge::filter::{EvalContext, Query};
use taxii_edge::record::{
    Indicator, IndicatorType, Origin, Profile, Record, Source, StixRecord, Tlp,
};

/// 2024-06-01T00:00:00Z: a fixed "now" keeps runs reproducible.
const NOW: i64 = 1_717_200_000_000_000;

fn records() -> &'static [Record] {
    static RECORDS: OnceLock<Vec<Record>> = OnceLock::new();
    RECORDS.get_or_init(|| {
        let origin = Origin {
            file: 0,
            position: 1,
            is_line: true,
        };
        let tc = r#"{"id": 42, "summary": "198.51.100.7", "tags": {"data": [{"name": "APT28"}]},
            "odd key": {"x": [1, "two", null, {"y": true}]}, "seen": "2024-05-30T10:00:00Z"}"#;
        let full = Record::Indicator(Indicator {
            kind: IndicatorType::Ipv4,
            value: "198.51.100.7".into(),
            hashes: Default::default(),
            registry_value_name: None,
            owner: Some("Acme".into()),
            confidence: Some(80),
            rating: Some(3.5),
            score: Some(3),
            tags: vec!["APT28".into(), "Équipe".into()],
            tlp: Some(Tlp::AmberStrict),
            active: true,
            created: Some(NOW - 86_400_000_000 * 100),
            last_modified: Some(NOW - 86_400_000_000),
            expiration: Some(NOW + 1),
            description: Some("C2".into()),
            profile: Profile::Threatconnect,
            origin,
            source: Source(Arc::from(tc)),
        });
        let empty = Record::Indicator(Indicator {
            kind: IndicatorType::File,
            value: String::new(),
            hashes: Default::default(),
            registry_value_name: None,
            owner: None,
            confidence: None,
            rating: Some(f64::NAN),
            score: None,
            tags: vec![],
            tlp: None,
            active: false,
            created: None,
            last_modified: None,
            expiration: None,
            description: None,
            profile: Profile::Xsoar,
            origin,
            source: Source(Arc::from("[not json")),
        });
        let sj = r#"{"type":"malware","spec_version":"2.1","id":"malware--1","name":"X","is_family":true}"#;
        let stix = Record::Stix(Box::new(StixRecord {
            id: "malware--1".into(),
            stix_type: "malware".into(),
            spec_version: "2.1".into(),
            created: Some(NOW),
            modified: Some(NOW),
            date_added: None,
            json: Arc::from(sj),
            origin,
            source: Source(Arc::from(sj)),
            problems: Vec::new(),
            collections: Vec::new(),
            files: vec![0],
        }));
        vec![full, empty, stix]
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Query::parse(text, NOW) {
        Ok(query) => {
            let mut ctx = EvalContext::new();
            for r in records() {
                let first = query.matches(r, &mut ctx);
                // Evaluation is deterministic, cached source or not.
                assert_eq!(first, query.matches(r, &mut ctx));
                ctx.reset();
            }
        }
        Err(e) => {
            assert!(e.column <= text.len() && text.is_char_boundary(e.column));
            let _ = e.to_string();
        }
    }
});
