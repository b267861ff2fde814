//! Tests of the filter language on hand-built records: every field and
//! operator with true and false cases, the semantics the module doc
//! promises, and each error with its exact text and column.

use super::*;
use crate::record::{Indicator, IndicatorType, Origin, Profile, Record, Source, StixRecord, Tlp};
use crate::time::parse_rfc3339;
use proptest::prelude::*;
use std::sync::Arc;

fn t(s: &str) -> Micros {
    parse_rfc3339(s).expect("test timestamp")
}

/// The fixed "now" of every test.
fn now() -> Micros {
    t("2024-06-01T00:00:00Z")
}

const TC_SOURCE: &str = r#"{"id": 42, "summary": "198.51.100.7", "rating": 3.5,
 "attributes": {"data": [{"type": "Description", "value": "first"}, {"type": "Source", "value": "feed-x"}]},
 "tags": {"data": [{"name": "APT28"}, {"name": "phishing"}]},
 "odd key": {"x": "y"}, "ports": [80, 443], "names": ["alpha", "beta"],
 "nothing": null, "seen": "2024-05-30T10:00:00Z", "flag": false, "nested": [[1, 2], [3]]}"#;

fn origin() -> Origin {
    Origin {
        file: 0,
        position: 1,
        is_line: true,
    }
}

fn indicator() -> Indicator {
    Indicator {
        kind: IndicatorType::Ipv4,
        value: "198.51.100.7".into(),
        hashes: Default::default(),
        registry_value_name: None,
        owner: Some("Acme Intel".into()),
        confidence: Some(80),
        rating: Some(3.5),
        score: Some(3),
        tags: vec!["APT28".into(), "phishing".into()],
        tlp: Some(Tlp::Amber),
        active: true,
        created: Some(t("2024-01-10T08:00:00Z")),
        last_modified: Some(t("2024-05-20T00:00:00Z")),
        expiration: None,
        description: Some("C2 server seen in campaign".into()),
        profile: Profile::Threatconnect,
        origin: origin(),
        source: Source(Arc::from(TC_SOURCE)),
    }
}

fn rec() -> Record {
    Record::Indicator(indicator())
}

/// An indicator with every optional field empty.
fn bare() -> Record {
    Record::Indicator(Indicator {
        kind: IndicatorType::Domain,
        value: "example.org".into(),
        hashes: Default::default(),
        registry_value_name: None,
        owner: None,
        confidence: None,
        rating: None,
        score: None,
        tags: vec![],
        tlp: None,
        active: false,
        created: None,
        last_modified: None,
        expiration: None,
        description: None,
        profile: Profile::Xsoar,
        origin: origin(),
        source: Source(Arc::from("not json {")),
    })
}

fn stix() -> Record {
    let json = r#"{"type":"indicator","spec_version":"2.1","id":"indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f","created":"2024-02-01T00:00:00.000Z","modified":"2024-03-01T00:00:00.000Z","name":"Evil C2","pattern":"[ipv4-addr:value = '198.51.100.7']","labels":["apt28"]}"#;
    Record::Stix(Box::new(StixRecord {
        id: "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f".into(),
        stix_type: "indicator".into(),
        spec_version: "2.1".into(),
        created: Some(t("2024-02-01T00:00:00Z")),
        modified: Some(t("2024-03-01T00:00:00Z")),
        date_added: None,
        json: Arc::from(json),
        origin: origin(),
        source: Source(Arc::from(json)),
        problems: Vec::new(),
        collections: Vec::new(),
        files: vec![0],
    }))
}

fn stix_sco() -> Record {
    let json = r#"{"type":"ipv4-addr","spec_version":"2.1","id":"ipv4-addr--ff26c055-6336-5bc5-b98d-13d6226742dd","value":"198.51.100.3"}"#;
    Record::Stix(Box::new(StixRecord {
        id: "ipv4-addr--ff26c055-6336-5bc5-b98d-13d6226742dd".into(),
        stix_type: "ipv4-addr".into(),
        spec_version: "2.1".into(),
        created: None,
        modified: None,
        date_added: None,
        json: Arc::from(json),
        origin: origin(),
        source: Source(Arc::from(json)),
        problems: Vec::new(),
        collections: Vec::new(),
        files: vec![0],
    }))
}

fn q(text: &str) -> Query {
    Query::parse(text, now()).unwrap_or_else(|e| panic!("{e}"))
}

/// Whether `text` selects `r`.
fn m(text: &str, r: &Record) -> bool {
    q(text).matches(r, &mut EvalContext::new())
}

fn err(text: &str) -> QueryError {
    match Query::parse(text, now()) {
        Ok(_) => panic!("query {text:?} parsed but should not"),
        Err(e) => e,
    }
}

/// Asserts each query is true (`yes`) or false (`no`) on `r`.
fn check(r: &Record, yes: &[&str], no: &[&str]) {
    for y in yes {
        assert!(m(y, r), "expected true: {y}");
    }
    for n in no {
        assert!(!m(n, r), "expected false: {n}");
    }
}

#[test]
fn empty_query_matches_everything() {
    for text in ["", "   ", "\n\t "] {
        let query = q(text);
        assert!(query.matches_all());
        assert!(!query.uses_source());
        for r in [rec(), bare(), stix()] {
            assert!(query.matches(&r, &mut EvalContext::new()));
        }
    }
    assert!(!q("type = \"ipv4\"").matches_all());
}

#[test]
fn brief_example() {
    let r = rec();
    check(
        &r,
        &[
            r#"type in ("ipv4", "domain") and confidence >= 70 and tags contains "apt28" and last_modified > now() - 30d"#,
        ],
        &[
            r#"type in ("ipv6", "domain") and confidence >= 70 and tags contains "apt28" and last_modified > now() - 30d"#,
            r#"type in ("ipv4", "domain") and confidence >= 90 and tags contains "apt28" and last_modified > now() - 30d"#,
            r#"type in ("ipv4", "domain") and confidence >= 70 and tags contains "apt29" and last_modified > now() - 30d"#,
            r#"type in ("ipv4", "domain") and confidence >= 70 and tags contains "apt28" and last_modified > now() - 10d"#,
        ],
    );
}

#[test]
fn type_field() {
    let r = rec();
    check(
        &r,
        &[
            r#"type = "ipv4""#,
            r#"type = "IPv4""#,
            r#"type != "ipv6""#,
            r#"type in ("md5", "ipv4")"#,
            r#"type not in ("md5", "sha1")"#,
            r#"type contains "PV""#,
            r#"type startswith "ip""#,
            r#"type endswith "v4""#,
            r#"type ~ "^ipv[46]$""#,
            r#"type exists"#,
        ],
        &[
            r#"type = "ipv6""#,
            r#"type != "ipv4""#,
            r#"type in ("md5", "sha1")"#,
            r#"type not in ("ipv4")"#,
            r#"type = "ipv4-addr""#,
            r#"type contains "6""#,
            r#"type startswith "v4""#,
            r#"type ~ "^v4""#,
            r#"not type exists"#,
        ],
    );
}

#[test]
fn string_fields_value_owner_description() {
    let r = rec();
    check(
        &r,
        &[
            r#"value = "198.51.100.7""#,
            r#"value != "198.51.100.8""#,
            r#"value in ("x", "198.51.100.7")"#,
            r#"value not in ("x", "y")"#,
            r#"value contains "51.100""#,
            r#"value startswith "198.""#,
            r#"value endswith ".7""#,
            r#"value ~ "^198\\.51\\.""#,
            r#"value !~ "^10\\.""#,
            r#"value not ~ "^10\\.""#,
            r#"value not contains "10.0""#,
            r#"value not startswith "10.""#,
            r#"value not endswith ".8""#,
            r#"value > "198.51.100.6""#,
            r#"value <= "198.51.100.7""#,
            r#"owner = "Acme Intel""#,
            r#"owner contains "Intel""#,
            r#"owner ~ "(?i)^acme""#,
            r#"description contains "campaign""#,
            r#"description ~ "seen""#,
        ],
        &[
            r#"value = "198.51.100.8""#,
            r#"value != "198.51.100.7""#,
            r#"value not in ("198.51.100.7")"#,
            r#"value contains "10.0""#,
            r#"value startswith "51""#,
            r#"value endswith "100""#,
            r#"value ~ "^10\\.""#,
            r#"value !~ "51""#,
            r#"value < "198.51.100.7""#,
            r#"owner = "acme intel""#,
            r#"owner contains "intel""#,
            r#"owner ~ "^acme""#,
            r#"description = "C2""#,
        ],
    );
}

#[test]
fn number_fields() {
    let r = rec();
    check(
        &r,
        &[
            "confidence = 80",
            "confidence != 79",
            "confidence >= 80",
            "confidence > 79.5",
            "confidence <= 80",
            "confidence < 81",
            "confidence in (70, 80, 90)",
            "confidence not in (70, 90)",
            "rating = 3.5",
            "rating > -1",
            "rating >= 3.5",
            "score = 3",
            "score in (2, 3)",
        ],
        &[
            "confidence > 80",
            "confidence < 80",
            "confidence != 80",
            "confidence in (70, 90)",
            "confidence not in (80)",
            "rating > 3.5",
            "rating = 3",
            "score < 3",
        ],
    );
}

#[test]
fn bool_tlp_profile_fields() {
    let r = rec();
    check(
        &r,
        &[
            "active = true",
            "active != false",
            "ACTIVE = TRUE",
            "active in (true)",
            r#"tlp = "amber""#,
            r#"tlp = "TLP:AMBER""#,
            r#"tlp >= "green""#,
            r#"tlp < "amber+strict""#,
            r#"tlp <= "amber""#,
            r#"tlp in ("red", "amber")"#,
            r#"tlp != "red""#,
            r#"profile = "threatconnect""#,
            r#"profile = "ThreatConnect""#,
            r#"profile in ("xsoar", "threatconnect")"#,
            r#"profile != "native""#,
        ],
        &[
            "active = false",
            "active != true",
            r#"tlp = "red""#,
            r#"tlp > "amber""#,
            r#"tlp <= "green""#,
            r#"tlp not in ("amber")"#,
            r#"profile = "xsoar""#,
            r#"profile not in ("threatconnect")"#,
        ],
    );
    // clear and white are one level.
    let mut i = indicator();
    i.tlp = Some(Tlp::Clear);
    let clear = Record::Indicator(i);
    check(
        &clear,
        &[r#"tlp = "white""#, r#"tlp = "clear""#, r#"tlp < "green""#],
        &[r#"tlp != "white""#, r#"tlp > "white""#],
    );
}

#[test]
fn a_query_says_whether_it_reads_now() {
    for (text, reads) in [
        ("last_modified > now() - 30d", true),
        (
            r#"type = "ipv4" or (created < NOW() and tlp = "red")"#,
            true,
        ),
        (r#"last_modified > "2024-01-01" + 12h"#, false),
        (r#"description contains "now()""#, false),
        ("", false),
    ] {
        assert_eq!(q(text).reads_now(), reads, "{text}");
    }
}

#[test]
fn time_fields_and_arithmetic() {
    let r = rec();
    // now = 2024-06-01; last_modified = 2024-05-20 (12 days ago);
    // created = 2024-01-10T08:00:00Z.
    check(
        &r,
        &[
            "last_modified > now() - 30d",
            "last_modified > now() - 13d",
            "last_modified = now() - 12d",
            "last_modified < now() - 11d",
            "last_modified > now() - 2w",
            "last_modified < now() - 1w",
            "last_modified = now() - 288h",
            "last_modified = now() - 17280m",
            "last_modified = now() - 1036800s",
            "last_modified = now() - 13d + 24h",
            "last_modified < now() + 12h",
            r#"last_modified = "2024-05-20""#,
            r#"created > "2024-01-01""#,
            r#"created = "2024-01-10T08:00:00Z""#,
            r#"created = "2024-01-10T10:00:00+02:00""#,
            r#"created = "2024-01-10" + 8h"#,
            r#"created >= "2024-01-10T08:00:00.000Z""#,
            r#"created in ("2023-01-01", "2024-01-10T08:00:00Z")"#,
        ],
        &[
            "last_modified > now() - 10d",
            "last_modified < now() - 12d",
            "last_modified > now()",
            r#"created < "2024-01-01T00:00:00Z""#,
            r#"created > "2024-01-10T08:00:00Z""#,
            r#"created != "2024-01-10T08:00:00Z""#,
            "expiration < now()",
            "expiration > now()",
            "expiration exists",
        ],
    );
    let mut i = indicator();
    i.expiration = Some(t("2024-07-01T00:00:00Z"));
    check(
        &Record::Indicator(i),
        &["expiration > now()", "expiration exists"],
        &["expiration < now() + 4w"],
    );
}

#[test]
fn now_is_the_parse_parameter() {
    let query =
        Query::parse("last_modified > now() - 1d", t("2024-05-20T12:00:00Z")).expect("parses");
    assert!(query.matches(&rec(), &mut EvalContext::new()));
    let query =
        Query::parse("last_modified > now() - 1d", t("2024-05-21T12:00:00Z")).expect("parses");
    assert!(!query.matches(&rec(), &mut EvalContext::new()));
}

#[test]
fn tags_are_a_case_insensitive_set() {
    let r = rec();
    check(
        &r,
        &[
            r#"tags = "apt28""#,
            r#"tags = "APT28""#,
            r#"tags contains "Phishing""#,
            r#"tags in ("x", "PHISHING")"#,
            r#"tags != "other""#,
            r#"tags not in ("x", "y")"#,
            r#"tags not contains "x""#,
            r#"tags startswith "apt""#,
            r#"tags endswith "ING""#,
            r#"tags ~ "^APT\\d+$""#,
            r#"tags !~ "^zzz""#,
            "tags exists",
        ],
        &[
            r#"tags contains "apt""#,
            r#"tags = "apt2""#,
            r#"tags != "apt28""#,
            r#"tags not in ("APT28")"#,
            r#"tags not contains "phishing""#,
            r#"tags startswith "x""#,
            r#"tags ~ "^apt\\d+$""#,
            r#"tags !~ "^APT""#,
        ],
    );
    // Unicode case folding without allocation.
    let mut i = indicator();
    i.tags = vec!["Équipe".into()];
    check(
        &Record::Indicator(i),
        &[
            r#"tags = "éQUIPE""#,
            r#"tags startswith "éq""#,
            r#"tags endswith "PE""#,
        ],
        &[r#"tags = "equipe""#, r#"tags endswith "Q""#],
    );
}

#[test]
fn precedence_not_and_or() {
    let r = rec();
    const T: &str = "confidence = 80";
    const F: &str = "confidence = 1";
    // `and` binds tighter than `or`: T or (F and F).
    assert!(m(&format!("{T} or {F} and {F}"), &r));
    assert!(m(&format!("{F} and {F} or {T}"), &r));
    // Parentheses override it.
    assert!(!m(&format!("({T} or {F}) and {F}"), &r));
    // `not` binds tighter than `and`: (not F) and F.
    assert!(!m(&format!("not {F} and {F}"), &r));
    assert!(m(&format!("not ({F} and {F})"), &r));
    // `not` binds tighter than `or`: (not T) or T.
    assert!(m(&format!("not {T} or {T}"), &r));
    assert!(!m(&format!("not ({T} or {T})"), &r));
    assert!(m(&format!("not not {T}"), &r));
    assert!(m(&format!("(({T}))"), &r));
    // Keywords are case-insensitive.
    assert!(m(&format!("{F} OR {T} AnD NOT {F}"), &r));
    // Chains.
    assert!(m(
        &format!("{T} and {T} and {T} and ({F} or {F} or {T})"),
        &r
    ));
    assert!(!m(&format!("{T} and {T} and {F}"), &r));
}

#[test]
fn absent_fields_are_false_except_for_exists() {
    let r = bare();
    check(
        &r,
        &[
            "not owner exists",
            "owner not exists",
            r#"not owner = "x""#,
            "not confidence > 50",
            "not tags exists",
            "tags not exists",
            "not tlp exists",
            "not created exists",
            "active = false",
            "spec_version not exists",
        ],
        &[
            r#"owner = "x""#,
            r#"owner != "x""#,
            r#"owner not in ("x")"#,
            r#"owner not contains "x""#,
            r#"owner !~ "x""#,
            "owner exists",
            "confidence > 50",
            "confidence != 50",
            "confidence not in (1)",
            "rating < 10",
            "score != 1",
            r#"tags != "x""#,
            r#"tags not contains "x""#,
            r#"tags not in ("x")"#,
            "tags exists",
            r#"tlp != "red""#,
            r#"description !~ "x""#,
            "created < now()",
            "created != now()",
            "last_modified exists",
            r#"spec_version = "2.1""#,
        ],
    );
}

#[test]
fn string_escapes_and_quotes() {
    let mut i = indicator();
    i.value = r#"C:\Temp\it's "bad".exe"#.into();
    let r = Record::Indicator(i);
    check(
        &r,
        &[
            r#"value = "C:\\Temp\\it's \"bad\".exe""#,
            r#"value = 'C:\\Temp\\it\'s "bad".exe'"#,
            r#"value contains '\\it\'s'"#,
        ],
        &[r#"value = "C:\\Temp\\it's \"bad\".ex""#],
    );
}

#[test]
fn source_paths() {
    let r = rec();
    check(
        &r,
        &[
            "source.id = 42",
            "source.id >= 41.5",
            "source.id != 7",
            "source.id in (1, 42)",
            r#"source.summary = "198.51.100.7""#,
            r#"source.summary startswith "198.""#,
            r#"source.summary endswith ".7""#,
            r#"source.summary contains "51""#,
            r#"source.summary ~ "^198""#,
            r#"source.attributes.data[1].value = "feed-x""#,
            r#"source.attributes.data[-1].value = "feed-x""#,
            r#"source.attributes.data[0].type = "Description""#,
            r#"source.tags.data[0].name = "APT28""#,
            r#"source."odd key".x = "y""#,
            r#"source.'odd key'."x" = "y""#,
            "source.ports contains 443",
            "source.ports = 80",
            "source.ports > 400",
            "source.ports not contains 22",
            r#"source.names contains "beta""#,
            r#"source.names startswith "al""#,
            r#"source.names ~ "^b""#,
            r#"source.names not in ("gamma")"#,
            "source.nested[0][1] = 2",
            "source.nested[-1][0] = 3",
            "source.flag = false",
            "source.flag exists",
            "source.attributes exists",
            "source.seen > now() - 7d",
            r#"source.seen > "2024-05-30" + 0s"#,
            r#"source.seen > "2024-05-30""#,
            "not source.nothing exists",
            "not source.missing.deeper exists",
            "rating = 3.5 and source.rating = 3.5",
        ],
        &[
            r#"source.id = "42""#,
            "source.id = 41",
            "source.id != 42",
            r#"source.summary = 198"#,
            r#"source.summary contains "x""#,
            r#"source.attributes.data[2].value = "feed-x""#,
            r#"source.attributes.data[-3].value exists"#,
            r#"source.Attributes exists"#,
            r#"source."odd key".x = "Y""#,
            "source.ports contains 22",
            "source.ports != 80",
            r#"source.ports contains "443""#,
            r#"source.names contains "bet""#,
            "source.flag = true",
            "source.flag = 0",
            "source.nothing exists",
            r#"source.nothing != "x""#,
            "source.seen > now()",
            r#"source.attributes = "x""#,
            "source.summary.x exists",
            "source.id[0] exists",
        ],
    );
    assert!(q("source.id = 42").uses_source());
    assert!(q("not (source.id = 42 or type = \"md5\")").uses_source());
    assert!(!q("type = \"md5\" and confidence > 5").uses_source());
    // A source that is not JSON has no source paths.
    check(&bare(), &[], &["source.id exists", "source.id != 1"]);
}

#[test]
fn stix_records() {
    let r = stix();
    check(
        &r,
        &[
            r#"type = "indicator""#,
            r#"type = "Indicator""#,
            r#"type in ("malware", "indicator")"#,
            r#"type != "malware""#,
            r#"value = "Evil C2""#,
            r#"spec_version = "2.1""#,
            r#"created = "2024-02-01""#,
            r#"last_modified = "2024-03-01""#,
            r#"profile = "stix""#,
            r#"source.labels contains "apt28""#,
            r#"source.pattern contains "198.51.100.7""#,
            "not confidence exists",
            "not tags exists",
            "not active exists",
        ],
        &[
            r#"type = "ipv4""#,
            r#"type = "ipv4-addr""#,
            r#"owner exists"#,
            "confidence >= 0",
            r#"tags contains "apt28""#,
            "active = true",
            "expiration exists",
            r#"tlp exists"#,
            r#"value = "198.51.100.7""#,
        ],
    );
    let sco = stix_sco();
    check(
        &sco,
        &[
            r#"type = "ipv4-addr""#,
            r#"value = "198.51.100.3""#,
            "not created exists",
        ],
        &[r#"type = "ipv4""#, "last_modified < now()"],
    );
    assert!(q(r#"value = "x""#).uses_source());
}

#[test]
fn types_shared_by_stix_and_indicators_match_both() {
    let mut i = indicator();
    i.kind = IndicatorType::Url;
    i.value = "http://example.org/".into();
    let url_ind = Record::Indicator(i);
    let json = r#"{"type":"url","id":"url--1","value":"http://example.org/"}"#;
    let url_sco = Record::Stix(Box::new(StixRecord {
        id: "url--1".into(),
        stix_type: "url".into(),
        spec_version: "2.1".into(),
        created: None,
        modified: None,
        date_added: None,
        json: Arc::from(json),
        origin: origin(),
        source: Source(Arc::from(json)),
        problems: Vec::new(),
        collections: Vec::new(),
        files: vec![0],
    }));
    for r in [&url_ind, &url_sco] {
        check(
            r,
            &[
                r#"type = "url""#,
                r#"type in ("url")"#,
                r#"type = "x-thing" or type = "URL""#,
            ],
            &[],
        );
    }
}

#[test]
fn eval_context_caches_per_record_and_resets() {
    let a = rec();
    let mut other = indicator();
    other.source = Source(Arc::from(r#"{"id": 7}"#));
    let b = Record::Indicator(other);
    let q1 = q("source.id = 42");
    let q2 = q("source.id = 7");
    let mut ctx = EvalContext::new();
    assert!(q1.matches(&a, &mut ctx));
    assert!(!q2.matches(&a, &mut ctx));
    ctx.reset();
    assert!(!q1.matches(&b, &mut ctx));
    assert!(q2.matches(&b, &mut ctx));
    // Even without a reset, a different source text is not confused with
    // the cached one.
    assert!(q1.matches(&a, &mut ctx));
    assert!(!q2.matches(&a, &mut ctx));
    assert_eq!(ctx.parses, 3);
}

#[test]
fn several_queries_parse_a_source_once() {
    let queries = [
        q("source.id = 42"),
        q(r#"source."odd key".x = "y" and type = "ipv4""#),
        q("source.ports contains 443 or source.flag = true"),
        q("confidence > 5"),
    ];
    let mut ctx = EvalContext::new();
    for r in [rec(), bare(), stix()] {
        ctx.reset();
        let before = ctx.parses;
        let hits: Vec<bool> = queries.iter().map(|q| q.matches(&r, &mut ctx)).collect();
        assert_eq!(ctx.parses - before, 1, "{hits:?}");
    }
    let r = rec();
    ctx.reset();
    let hits: Vec<bool> = queries.iter().map(|q| q.matches(&r, &mut ctx)).collect();
    assert_eq!(hits, [true, true, true, true]);
    // A query without source paths never parses.
    ctx.reset();
    let before = ctx.parses;
    assert!(queries[3].matches(&r, &mut ctx));
    assert_eq!(ctx.parses, before);
}

#[test]
fn unicode_whitespace_separates_tokens() {
    assert!(m("confidence\u{a0}=\u{2003}80", &rec()));
    assert!(q("\u{a0}\u{3000}").matches_all());
}

#[test]
fn query_is_send_sync_and_keeps_its_text() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Query>();
    fn assert_send<T: Send>() {}
    assert_send::<EvalContext>();
    assert_eq!(q(" type = 'md5' ").as_str(), " type = 'md5' ");
}

#[test]
fn and_or_children_run_cheapest_first() {
    // The source test comes first in the text but is ordered last; the
    // result is the same either way (pure predicates).
    let query = q(r#"source.id = 42 and type = "ipv4" and value ~ "x" or confidence = 80"#);
    let Some(Node::Or(children)) = &query.root else {
        panic!("expected or at the root: {query:?}");
    };
    assert_eq!(children.len(), 2);
    let Node::And(and) = &children[1] else {
        panic!("expected the and last: {children:?}");
    };
    let fields: Vec<&pred::Field> = and
        .iter()
        .map(|n| match n {
            Node::Test(t) => &t.field,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(fields[0], &pred::Field::Type);
    assert_eq!(fields[1], &pred::Field::Value);
    assert!(matches!(fields[2], pred::Field::Source(_)));
}

// ---- errors: exact text and column ----

fn assert_err(text: &str, column: usize, message: &str) {
    let e = err(text);
    assert_eq!(e.column, column, "column of {text:?}: {e}");
    assert_eq!(e.query, text);
    assert_eq!(e.kind.to_string(), message, "message of {text:?}");
    let caret_line = format!(
        "{}^ {message}",
        " ".repeat(10 + text[..column].chars().count())
    );
    assert_eq!(
        e.to_string(),
        format!(
            "in query: {}\n{caret_line}",
            text.replace(['\n', '\t'], " ")
        ),
    );
}

#[test]
fn error_display_matches_the_brief() {
    let e = err(r#"type = "ipv4" and confidnce >= 70"#);
    assert_eq!(
        e.to_string(),
        "in query: type = \"ipv4\" and confidnce >= 70\n                            ^ unknown field \"confidnce\"; did you mean \"confidence\"?"
    );
    assert_eq!(e.column, 18);
    assert_eq!(
        e.kind,
        QueryErrorKind::UnknownField {
            name: "confidnce".into(),
            suggestion: Some("confidence"),
        }
    );
}

#[test]
fn error_unknown_fields() {
    assert_err(
        "foo = 1",
        0,
        "unknown field \"foo\"; fields are type, value, owner, confidence, rating, score, tags, tlp, active, created, last_modified, expiration, description, profile, spec_version, collection, file and source.<path>",
    );
    assert_err(
        r#"summary = "x""#,
        0,
        "unknown field \"summary\"; did you mean \"value\"?",
    );
    assert_err(
        r#"tag = "x""#,
        0,
        "unknown field \"tag\"; did you mean \"tags\"?",
    );
    assert_err(
        "lastModified > now()",
        0,
        "unknown field \"lastModified\"; did you mean \"last_modified\"?",
    );
}

#[test]
fn error_literal_types() {
    assert_err(
        r#"confidence > "abc""#,
        13,
        "confidence is a number: expected a number like 70, found the string \"abc\"",
    );
    assert_err(
        "created > 5",
        10,
        "created is a timestamp: expected a quoted time like \"2024-01-01T00:00:00Z\" or \"2024-01-01\", or now() - 30d, found the number 5",
    );
    assert_err(
        r#"created > "yesterday""#,
        10,
        "\"yesterday\" is not a timestamp; expected RFC 3339 like \"2024-01-01T00:00:00Z\", a date like \"2024-01-01\", or now() - 30d",
    );
    assert_err(
        r#"created > "2024-13-01" - 1d"#,
        10,
        "\"2024-13-01\" is not a timestamp; expected RFC 3339 like \"2024-01-01T00:00:00Z\", a date like \"2024-01-01\", or now() - 30d",
    );
    assert_err(
        "value = 5",
        8,
        "value is a string: expected a quoted string, found the number 5",
    );
    assert_err(
        r#"active = "yes""#,
        9,
        "active is true or false: expected true or false, found the string \"yes\"",
    );
    assert_err(
        "confidence in (1, now())",
        18,
        "confidence is a number: expected a number like 70, found a time",
    );
    assert_err(
        "source.x startswith 5",
        20,
        "source.x is a JSON value: expected a quoted string, found the number 5",
    );
    assert_err(
        "type = 4",
        7,
        "type is a type name: expected a quoted type name like \"ipv4\", found the number 4",
    );
    assert_err(
        "type = ipv4",
        7,
        "expected a value, found the bare word \"ipv4\"; strings are quoted: \"ipv4\"",
    );
}

#[test]
fn error_unknown_enum_values() {
    assert_err(
        r#"type = "ipv5""#,
        7,
        "unknown type \"ipv5\"; did you mean \"ipv4\"?; indicator types are ipv4, ipv6, cidr, domain, url, email, email-subject, md5, sha1, sha256, sha512, file, asn, mutex, registry-key, user-agent, and STIX records have their STIX type (indicator, malware, ipv4-addr, x-…)",
    );
    assert_err(
        r#"type in ("md5", "hash")"#,
        16,
        "unknown type \"hash\"; indicator types are ipv4, ipv6, cidr, domain, url, email, email-subject, md5, sha1, sha256, sha512, file, asn, mutex, registry-key, user-agent, and STIX records have their STIX type (indicator, malware, ipv4-addr, x-…)",
    );
    assert_err(
        r#"tlp = "purple""#,
        6,
        "unknown TLP level \"purple\"; expected clear, white, green, amber, amber+strict or red",
    );
    // Found by the fuzzer: a multi-byte character across byte 4 must be
    // an error, not a panic.
    assert_err(
        r#"tlp = "gueſOen""#,
        6,
        "unknown TLP level \"gueſOen\"; expected clear, white, green, amber, amber+strict or red",
    );
    assert_err(
        r#"tlp in ("red", "ééé")"#,
        15,
        "unknown TLP level \"ééé\"; expected clear, white, green, amber, amber+strict or red",
    );
    assert_err(
        r#"profile = "misp""#,
        10,
        "unknown profile \"misp\"; expected threatconnect, xsoar, native or stix",
    );
}

#[test]
fn error_operator_does_not_apply() {
    assert_err(
        r#"tags > "a""#,
        5,
        "\">\" does not apply to tags (a list of strings); use =, !=, in, contains, startswith, endswith, ~ or exists",
    );
    assert_err(
        r#"confidence contains "7""#,
        11,
        "\"contains\" does not apply to confidence (a number); use =, !=, <, <=, >, >=, in or exists",
    );
    assert_err(
        r#"created not ~ "2024""#,
        8,
        "\"not ~\" does not apply to created (a timestamp); use =, !=, <, <=, >, >=, in or exists",
    );
    assert_err(
        r#"type < "md5""#,
        5,
        "\"<\" does not apply to type (a type name); use =, !=, in, contains, startswith, endswith, ~ or exists",
    );
    assert_err(
        "active >= true",
        7,
        "\">=\" does not apply to active (true or false); use =, !=, in or exists",
    );
    assert_err(
        r#"profile !~ "x""#,
        8,
        "\"!~\" does not apply to profile (an input profile); use =, !=, in or exists",
    );
}

#[test]
fn error_regex() {
    assert_err(r#"value ~ "(abc""#, 8, "invalid regex: unclosed group");
    assert_err(
        r#"tags !~ "a{2,1}""#,
        8,
        "invalid regex: invalid repetition count range, the start must be <= the end",
    );
    assert!(matches!(
        err(r#"value ~ "(abc""#).kind,
        QueryErrorKind::BadRegex { .. }
    ));
    assert_err(
        r#"value ~ 5"#,
        8,
        "expected a quoted regular expression, found the number 5",
    );
}

#[test]
fn error_syntax() {
    assert_err(
        "confidence >= ",
        14,
        "expected a value, found the end of the query",
    );
    assert_err("confidence", 10, "expected an operator after confidence (=, !=, <, <=, >, >=, in, not in, contains, startswith, endswith, ~, exists), found the end of the query");
    assert_err("confidence is 5", 11, "expected an operator after confidence (=, !=, <, <=, >, >=, in, not in, contains, startswith, endswith, ~, exists), found \"is\"");
    assert_err(
        r#"value not = "x""#,
        10,
        "expected in, contains, startswith, endswith, ~ or exists after \"not\", found \"=\"",
    );
    assert_err(
        r#"value = "abc"#,
        8,
        "unterminated string: the closing \" is missing",
    );
    assert_err(
        "value = 'abc\\'",
        8,
        "unterminated string: the closing ' is missing",
    );
    assert_err(
        r#"value = "a\nb""#,
        10,
        "unknown escape \\n in string; only \\\", \\' and \\\\ are allowed",
    );
    assert_err(
        "score = 1 && score = 2",
        10,
        "unexpected character '&'; use `and`",
    );
    assert_err(
        "score = 1 || score = 2",
        10,
        "unexpected character '|'; use `or`",
    );
    assert_err(
        "score == 1",
        6,
        "unexpected character '='; equality is a single =",
    );
    assert_err(
        "! score = 1",
        0,
        "unexpected character '!'; negation is the keyword `not`",
    );
    assert_err("score = 1 # note", 10, "unexpected character '#'");
    assert_err("value = «x»", 8, "unexpected character '«'");
    assert_err(
        "score in ()",
        10,
        "empty list: in ( ) needs at least one value",
    );
    assert_err("score in (1,)", 12, "expected a value, found \")\"");
    assert_err(
        "score in 1",
        9,
        "expected \"(\" to open the list after in, found the number 1",
    );
    assert_err(
        "score in (1 2)",
        12,
        "expected \",\" or \")\", found the number 2",
    );
    assert_err(
        "score = 1)",
        9,
        "expected and, or or the end of the query, found \")\" without a matching \"(\"",
    );
    assert_err(
        "(score = 1",
        10,
        "expected and, or or \")\", found the end of the query",
    );
    assert_err(
        "score = 1 score = 2",
        10,
        "expected and, or or the end of the query, found \"score\"",
    );
    assert_err(
        "and score = 1",
        0,
        "expected a field name (type, value, confidence, tags, source.…) or \"(\", found \"and\"",
    );
    assert_err("score = 1 and", 13, "expected a field name (type, value, confidence, tags, source.…) or \"(\", found the end of the query");
    assert_err(
        "score = 12ab",
        8,
        "invalid number \"12ab\"; a duration is a whole number and a unit s, m, h, d or w (30d)",
    );
    assert_err(
        "created > now() - 30x",
        18,
        "invalid number \"30x\"; a duration is a whole number and a unit s, m, h, d or w (30d)",
    );
    assert_err(
        "created > now() - 1.5d",
        18,
        "invalid number \"1.5d\"; a duration is a whole number and a unit s, m, h, d or w (30d)",
    );
    assert_err(
        "created > now() - 30",
        18,
        "expected a duration like 30d, 12h, 15m, 10s or 2w, found the number 30",
    );
    assert_err("created > now - 1d", 14, "expected now(), found \"-\"");
    assert_err(
        "created > 30d",
        10,
        "expected a value, found a duration; durations are added to a time: now() - 30d",
    );
    assert_err(
        "created > now() - 99999999999999999d",
        18,
        "time arithmetic out of range",
    );
    assert_err(
        "created > now() - 10000000w - 10000000w",
        10,
        "time arithmetic out of range",
    );
}

#[test]
fn error_source_paths() {
    assert_err("source = 1", 7, "invalid source path: expected \".\" or \"[\" after source (e.g. source.tags[0].name), found \"=\"");
    assert_err("source.", 7, "invalid source path: expected a key after \".\", found the end of the query; quote keys that are not plain words: source.\"odd key\", and write indices as [0]");
    assert_err("source.a.0 = 1", 9, "invalid source path: expected a key after \".\", found the number 0; quote keys that are not plain words: source.\"odd key\", and write indices as [0]");
    assert_err(
        "source.a[x] = 1",
        9,
        "invalid source path: expected an integer index in [ ], found \"x\"",
    );
    assert_err(
        "source.a[1.5] = 1",
        9,
        "invalid source path: expected an integer index in [ ], found the number 1.5",
    );
    assert_err("source.a[1 = 1", 11, "expected \"]\", found \"=\"");
}

#[test]
fn error_nesting_limit() {
    let deep = format!("{}score = 1{}", "(".repeat(65), ")".repeat(65));
    assert_err(
        &deep,
        64,
        "query nests deeper than 64 levels of parentheses and `not`",
    );
    let ok = format!("{}score = 3{}", "(".repeat(64), ")".repeat(64));
    assert!(m(&ok, &rec()));
    let nots = format!("{}score = 1", "not ".repeat(65));
    assert_err(
        &nots,
        256,
        "query nests deeper than 64 levels of parentheses and `not`",
    );
}

#[test]
fn error_caret_counts_characters_and_flattens_lines() {
    // Non-ASCII before the error: the column is a byte offset, the caret
    // is placed by characters.
    let text = "value = \"é\" and\n  bogus = 1";
    let e = err(text);
    assert_eq!(e.column, 19);
    assert_eq!(
        e.to_string(),
        "in query: value = \"é\" and   bogus = 1\n                            ^ unknown field \"bogus\"; fields are type, value, owner, confidence, rating, score, tags, tlp, active, created, last_modified, expiration, description, profile, spec_version, collection, file and source.<path>"
    );
}

// ---- robustness ----

fn records() -> [Record; 4] {
    [rec(), bare(), stix(), stix_sco()]
}

/// Fragments that make random input likely to get far into the parser.
fn token_soup() -> impl Strategy<Value = String> {
    let tokens = prop::sample::select(vec![
        "type",
        "value",
        "tags",
        "confidence",
        "created",
        "tlp",
        "source",
        "profile",
        "active",
        ".",
        "[",
        "]",
        "-1",
        "0",
        "(",
        ")",
        ",",
        "=",
        "!=",
        "<",
        ">=",
        "~",
        "!~",
        "in",
        "not",
        "and",
        "or",
        "contains",
        "startswith",
        "exists",
        "now()",
        "-",
        "+",
        "30d",
        "\"ipv4\"",
        "\"amber\"",
        "'x'",
        "\"2024-01-01\"",
        "\"(?i)a\"",
        "true",
        "70",
        "4.5",
        "\"",
        "\\",
        "é",
        " ",
    ]);
    prop::collection::vec(tokens, 0..24).prop_map(|v| v.join(" "))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_ascii_never_panics(text in "[ -~\t\n]{0,80}") {
        if let Ok(query) = Query::parse(&text, now()) {
            let mut ctx = EvalContext::new();
            for r in records() {
                query.matches(&r, &mut ctx);
                ctx.reset();
            }
        }
    }

    #[test]
    fn token_soup_never_panics(text in token_soup()) {
        match Query::parse(&text, now()) {
            Ok(query) => {
                let mut ctx = EvalContext::new();
                for r in records() {
                    query.matches(&r, &mut ctx);
                    ctx.reset();
                }
            }
            Err(e) => {
                // The column is on a char boundary inside the query and
                // the message renders.
                prop_assert!(e.column <= text.len());
                prop_assert!(text.is_char_boundary(e.column));
                prop_assert!(e.to_string().contains('^'));
            }
        }
    }
}

/// A STIX object version found in two medallion collections and two files
/// (merged by the compile), read through a context that names the files.
fn stix_in(collections: &[&str], files: Vec<u32>) -> Record {
    let Record::Stix(mut s) = stix() else {
        unreachable!()
    };
    s.collections = collections.iter().map(|c| Arc::from(*c)).collect();
    s.files = files;
    Record::Stix(s)
}

fn m_files(text: &str, r: &Record) -> bool {
    let names: Arc<[Box<str>]> = vec![
        Box::from("inputs/stix-bundle.json"),
        Box::from("inputs/medallion-default_data.json"),
        Box::from("/srv/exports/tc.json"),
    ]
    .into();
    q(text).matches(r, &mut EvalContext::with_files(names))
}

#[test]
fn collection_field_tests_every_medallion_collection() {
    let r = stix_in(
        &[
            "91a7b528-80eb-42ed-a74d-c6fbd5a26116",
            "52892447-4d7e-4f70-b94d-d7f22742ff63",
        ],
        vec![1],
    );
    check(
        &r,
        &[
            r#"collection = "91a7b528-80eb-42ed-a74d-c6fbd5a26116""#,
            r#"collection = "52892447-4d7e-4f70-b94d-d7f22742ff63""#,
            r#"collection in ("x", "52892447-4d7e-4f70-b94d-d7f22742ff63")"#,
            r#"collection startswith "9a" or collection startswith "91""#,
            r#"collection contains "d7f2""#,
            r#"collection ~ "^5289""#,
            "collection exists",
            r#"collection != "nope""#,
            r#"collection not in ("a", "b")"#,
        ],
        &[
            r#"collection = "91A7B528-80EB-42ED-A74D-C6FBD5A26116""#,
            // Negative forms: true only when no collection matches.
            r#"collection != "91a7b528-80eb-42ed-a74d-c6fbd5a26116""#,
            r#"collection not contains "d7f2""#,
            "not collection exists",
        ],
    );
    // Objects of other inputs, and indicators, have no collection.
    for r in [stix_in(&[], vec![0]), rec()] {
        check(
            &r,
            &["not collection exists"],
            &[r#"collection != "x""#, r#"collection = """#],
        );
    }
}

#[test]
fn file_field_names_the_input_files() {
    let both = stix_in(&[], vec![0, 1]);
    for (text, want) in [
        (r#"file = "inputs/stix-bundle.json""#, true),
        (r#"file = "inputs/medallion-default_data.json""#, true),
        (r#"file endswith "medallion-default_data.json""#, true),
        (r#"file != "inputs/stix-bundle.json""#, false),
        (r#"file not in ("a", "b")"#, true),
        (r#"file = "/srv/exports/tc.json""#, false),
    ] {
        assert_eq!(m_files(text, &both), want, "{text}");
    }
    // Indicator records: their own file.
    let mut ind = indicator();
    ind.origin.file = 2;
    let ind = Record::Indicator(ind);
    assert!(m_files(r#"file = "/srv/exports/tc.json""#, &ind));
    assert!(m_files(r#"file startswith "/srv/""#, &ind));
    assert!(!m_files(r#"file = "inputs/stix-bundle.json""#, &ind));
    // Without file names (a context from `new`) the field is absent, and
    // an index past the table names nothing.
    assert!(m(r#"not file exists"#, &ind));
    assert!(m_files("not file exists", &stix_in(&[], vec![7])));
    // Type errors as for any string field.
    assert!(err("file > 3").to_string().contains("file"));
    assert!(err("collection = true").to_string().contains("collection"));
}
