//! The sample exports in testdata/inputs read through the public API, with
//! exact canonical fields for chosen records, and every reject reason in
//! testdata/bad with its origin.

use std::path::PathBuf;
use taxii_edge::input::{self, InputError, InputFile, ReadOutcome, RejectReason, WarningKind};
use taxii_edge::record::{Indicator, IndicatorType, Profile, Record, StixRecord, Tlp};
use taxii_edge::time::{fmt_ms, fmt_us};

fn data(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(rel)
}

fn read(rel: &str, format: Option<Profile>) -> ReadOutcome {
    input::read_files(
        &[InputFile {
            path: data(rel),
            format,
        }],
        None,
    )
    .unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn ind(o: &ReadOutcome, position: u64) -> &Indicator {
    o.records
        .iter()
        .find_map(|r| match r {
            Record::Indicator(i) if i.origin.position == position => Some(i),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no indicator at {position}"))
}

fn ms(t: Option<i64>) -> Option<String> {
    t.map(fmt_ms)
}

#[test]
fn threatconnect_page() {
    let o = read("inputs/threatconnect-page.json", None);
    assert_eq!(o.files[0].profile, Profile::Threatconnect);
    assert_eq!(o.files[0].container, "data");
    assert_eq!(o.rejects, vec![]);
    assert_eq!(o.records.len(), 14);
    assert_eq!(o.records_seen, 14);

    let a = ind(&o, 0);
    assert_eq!(
        (a.kind, a.value.as_str()),
        (IndicatorType::Ipv4, "198.51.100.23")
    );
    assert_eq!(a.owner.as_deref(), Some("Acme Corp"));
    assert_eq!((a.confidence, a.rating), (Some(85), Some(3.0)));
    assert_eq!(a.tags, vec!["apt28", "c2"]);
    assert_eq!(a.tlp, Some(Tlp::Amber));
    assert_eq!(ms(a.created).as_deref(), Some("2021-11-02T13:07:08.000Z"));
    assert_eq!(
        ms(a.last_modified).as_deref(),
        Some("2022-01-05T10:11:12.000Z")
    );
    assert_eq!(a.description.as_deref(), Some("Fancy Bear C2 node"));
    assert!(a.active);
    assert!(!a.origin.is_line);

    let v6 = ind(&o, 1);
    assert_eq!(
        (v6.kind, v6.value.as_str()),
        (IndicatorType::Ipv6, "2001:db8:85a3::8a2e:370:7334")
    );
    assert_eq!(v6.tags, Vec::<String>::new());

    let host = ind(&o, 2);
    assert_eq!(
        (host.kind, host.value.as_str()),
        (IndicatorType::Domain, "login-update.example.com")
    );
    assert_eq!(
        host.description.as_deref(),
        Some("Credential phishing landing page")
    );
    assert_eq!(host.tlp, Some(Tlp::AmberStrict));

    assert_eq!(ind(&o, 3).tlp, Some(Tlp::Red));
    assert_eq!(
        ind(&o, 3).value,
        "http://malicious.example.net/gate.php?id=1&t='x'"
    );
    let email = ind(&o, 4);
    assert_eq!(email.value, "Billing.Dept@invoice-example.org");
    assert_eq!((email.confidence, email.rating), (Some(0), None));

    let file = ind(&o, 5);
    assert_eq!(file.kind, IndicatorType::File);
    assert_eq!(
        file.value,
        "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"
    );
    assert_eq!(
        file.hashes.md5.as_deref(),
        Some("8743b52063cd84097a65d1633f5c74f5")
    );
    assert_eq!(
        file.hashes.sha1.as_deref(),
        Some("0d1a0fe1adf2d8f9c1df0d0d4aa9b23e0e1d8a4f")
    );
    assert_eq!(file.hashes.count(), 3);
    assert!(!file.active);
    assert_eq!(file.rating, Some(4.5));

    let md5 = ind(&o, 6);
    assert_eq!(
        (md5.kind, md5.value.as_str()),
        (IndicatorType::Md5, "d41d8cd98f00b204e9800998ecf8427e")
    );
    assert_eq!(md5.hashes.count(), 1);
    assert_eq!(ind(&o, 7).value, "204288");
    assert_eq!(ind(&o, 7).kind, IndicatorType::Asn);
    assert_eq!(
        (ind(&o, 8).kind, ind(&o, 8).tlp),
        (IndicatorType::Cidr, Some(Tlp::Clear))
    );
    assert_eq!(ind(&o, 9).value, "Global\\MsWinZonesCacheCounterMutexA");
    let reg = ind(&o, 10);
    assert_eq!(reg.kind, IndicatorType::RegistryKey);
    assert_eq!(
        reg.value,
        "HKEY_CURRENT_USER\\Software\\Microsoft\\Windows\\CurrentVersion\\Run"
    );
    assert_eq!(reg.registry_value_name.as_deref(), Some("Updater"));
    assert_eq!(ind(&o, 11).kind, IndicatorType::UserAgent);
    let subj = ind(&o, 12);
    assert_eq!(
        (subj.kind, subj.value.as_str()),
        (
            IndicatorType::EmailSubject,
            "Urgent: Invoice #4471 überfällig"
        )
    );
    // The source text is the record itself, nested records included.
    assert!(subj.source.as_str().starts_with("{\n      \"id\": 1013,"));
    assert!(subj.source.as_str().contains("associatedIndicators"));
    // File from summary only, no lastModified, no confidence.
    let sum = ind(&o, 13);
    assert_eq!(sum.kind, IndicatorType::File);
    assert_eq!(
        sum.value,
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
    );
    assert_eq!(
        sum.hashes.sha1.as_deref(),
        Some("aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d")
    );
    assert_eq!(sum.last_modified, sum.created);
    assert_eq!((sum.confidence, sum.tlp), (None, Some(Tlp::White)));
}

#[test]
fn threatconnect_ndjson() {
    let o = read("inputs/threatconnect.ndjson", None);
    assert_eq!(
        (o.files[0].profile, o.files[0].container),
        (Profile::Threatconnect, "ndjson")
    );
    assert_eq!((o.records.len(), o.rejects.len()), (10, 0));
    let positions: Vec<u64> = o.records.iter().map(|r| r.origin().position).collect();
    assert_eq!(positions, vec![1, 2, 4, 5, 6, 7, 8, 9, 10, 11]);
    assert!(o.records[0].origin().is_line);
    assert_eq!(ind(&o, 5).kind, IndicatorType::Sha256);
    assert_eq!(ind(&o, 6).value, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    assert_eq!(
        (ind(&o, 7).value.as_str(), ind(&o, 7).active),
        ("64500", false)
    );
    assert_eq!(ind(&o, 8).value, "2001:db8:abcd::/48");
    assert_eq!(ind(&o, 9).value, "o'brien@mail.example.com");
    let reg = ind(&o, 11);
    assert_eq!(
        reg.value,
        "HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\evilsvc"
    );
    assert_eq!(reg.registry_value_name.as_deref(), Some("ImagePath"));
}

#[test]
fn xsoar_iocs() {
    let o = read("inputs/xsoar-iocs.json", None);
    assert_eq!(
        (o.files[0].profile, o.files[0].container),
        (Profile::Xsoar, "iocs")
    );
    assert_eq!(o.rejects, vec![]);
    assert_eq!(o.records.len(), 14);
    let ip = ind(&o, 0);
    assert_eq!(
        (ip.kind, ip.value.as_str(), ip.score),
        (IndicatorType::Ipv4, "203.0.113.77", Some(3))
    );
    assert_eq!(ip.tags, vec!["apt28", "c2"]);
    assert_eq!(ip.tlp, Some(Tlp::Amber));
    assert_eq!(ip.description.as_deref(), Some("Beacon endpoint"));
    assert_eq!(ms(ip.created).as_deref(), Some("2021-12-01T08:00:00.000Z"));
    assert_eq!(
        ip.last_modified.map(fmt_us).as_deref(),
        Some("2021-12-08T07:32:24.104000Z")
    );
    assert_eq!(
        ms(ip.expiration).as_deref(),
        Some("2022-01-07T07:32:24.104Z")
    );
    assert_eq!(
        (ip.owner.clone(), ip.confidence, ip.rating),
        (None, None, None)
    );

    let v6 = ind(&o, 1);
    assert_eq!(v6.value, "2001:db8::1:0:0:1");
    assert_eq!(v6.score, Some(2));
    // timestamp unset → firstSeen; expiration unset → None; CustomFields null.
    assert_eq!(ms(v6.created).as_deref(), Some("2021-12-02T09:00:00.500Z"));
    assert_eq!(
        ms(v6.last_modified).as_deref(),
        Some("2021-12-09T08:00:05.226Z")
    );
    assert_eq!((v6.expiration, v6.tlp, v6.tags.len()), (None, None, 0));

    let dom = ind(&o, 2);
    assert_eq!(
        (dom.value.as_str(), dom.active, dom.tlp),
        ("update-check.example.net", false, Some(Tlp::Red))
    );
    assert_eq!(ms(dom.created).as_deref(), Some("2020-03-05T14:44:15.000Z"));
    assert_eq!(
        ms(dom.last_modified).as_deref(),
        Some("2021-12-10T11:12:13.540Z")
    );
    assert_eq!(ind(&o, 3).value, "1.2.3.4:89/wget");
    assert_eq!(ind(&o, 4).value, "http://*.badcdn.example/*");
    let file = ind(&o, 5);
    assert_eq!(file.kind, IndicatorType::File);
    assert_eq!(
        file.value,
        "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"
    );
    assert_eq!(
        file.hashes.md5.as_deref(),
        Some("8743b52063cd84097a65d1633f5c74f5")
    );
    assert_eq!(file.hashes.count(), 2);
    assert_eq!(ind(&o, 6).kind, IndicatorType::Sha512);
    assert_eq!(
        (ind(&o, 7).kind, ind(&o, 7).tlp),
        (IndicatorType::Cidr, Some(Tlp::White))
    );
    assert_eq!(
        (ind(&o, 8).value.as_str(), ind(&o, 8).tags.clone()),
        ("Payroll@hr-example.com", vec!["phishing".to_string()])
    );
    assert_eq!(
        (ind(&o, 9).kind, ind(&o, 9).value.as_str(), ind(&o, 9).score),
        (IndicatorType::Asn, "15169", Some(0))
    );
    assert_eq!(ind(&o, 10).kind, IndicatorType::RegistryKey);
    assert_eq!(ind(&o, 11).value, "Global\\8b1f'qbot");
    assert_eq!(
        (ind(&o, 12).kind, ind(&o, 12).value.as_str()),
        (
            IndicatorType::Sha1,
            "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3"
        )
    );
    let c6 = ind(&o, 13);
    assert_eq!(
        (c6.kind, c6.value.as_str(), c6.tlp),
        (IndicatorType::Cidr, "2001:db8:1::/64", Some(Tlp::Green))
    );
    assert_eq!(ms(c6.created).as_deref(), Some("2021-12-15T00:30:00.000Z"));
}

#[test]
fn xsoar_json_seq_with_crlf() {
    let o = read("inputs/xsoar-export.ndjson", None);
    assert_eq!(
        (o.files[0].profile, o.files[0].container),
        (Profile::Xsoar, "ndjson")
    );
    assert_eq!((o.records.len(), o.rejects.len()), (10, 0));
    let first = ind(&o, 1);
    assert_eq!(
        ms(first.last_modified).as_deref(),
        Some("2023-02-01T10:00:00.123Z")
    );
    assert_eq!(
        ms(first.created).as_deref(),
        Some("2023-02-01T08:00:00.000Z")
    );
    assert!(!first.source.as_str().ends_with('\r'));
    assert_eq!(
        ind(&o, 2).description.as_deref(),
        Some("File sharing lure \"Q1 report\"")
    );
    assert_eq!(
        ms(ind(&o, 4).created).as_deref(),
        Some("2023-02-03T09:59:00.000Z")
    );
    let f = ind(&o, 5);
    assert_eq!(
        (f.kind, f.value.as_str(), f.hashes.count()),
        (
            IndicatorType::File,
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            3
        )
    );
    assert_eq!(
        (ind(&o, 6).kind, ind(&o, 6).value.as_str()),
        (IndicatorType::Md5, "5d41402abc4b2a76b9719d911017c592")
    );
    assert_eq!((ind(&o, 7).score, ind(&o, 7).active), (Some(3), false));
    assert_eq!(ind(&o, 8).value, "fe80::202:b3ff:fe1e:8329");
    assert_eq!(ind(&o, 11).value, "64496");
}

#[test]
fn native_ndjson() {
    let o = read("inputs/native.ndjson", None);
    assert_eq!(
        (o.files[0].profile, o.files[0].container),
        (Profile::Native, "ndjson")
    );
    assert_eq!(
        (o.records.len(), o.rejects.len(), o.warnings.len()),
        (16, 0, 0)
    );
    let a = ind(&o, 1);
    assert_eq!(
        (a.kind, a.value.as_str(), a.confidence),
        (IndicatorType::Ipv4, "198.51.100.7", Some(80))
    );
    assert_eq!(
        ms(a.last_modified).as_deref(),
        Some("2024-01-03T03:04:05.678Z")
    );
    assert_eq!(ind(&o, 3).tlp, Some(Tlp::Clear));
    assert!(ind(&o, 3).source.as_str().contains("INC-1042"));
    assert_eq!(
        ind(&o, 5).value,
        "http://example.com/it's/a\\path?q=ünïcode"
    );
    assert_eq!(ind(&o, 6).value, "O'Neil@example.com");
    assert_eq!(
        ind(&o, 7).value,
        "Your parcel \"DHL-2024\"\nis waiting – ¡Atención!"
    );
    assert_eq!(
        ind(&o, 10).hashes.md5.as_deref(),
        Some("098f6bcd4621d373cade4e832627b4f6")
    );
    assert_eq!(ind(&o, 10).kind, IndicatorType::Sha256);
    assert_eq!(ind(&o, 11).value, "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e");
    let f = ind(&o, 12);
    assert_eq!(
        (f.kind, f.tlp),
        (IndicatorType::File, Some(Tlp::AmberStrict))
    );
    assert_eq!(
        f.value,
        "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"
    );
    assert_eq!(ind(&o, 13).value, "64511");
    assert_eq!(ind(&o, 14).value, "Global\\{DE4D-'quoted'-BEEF}");
    assert_eq!(
        ind(&o, 15).registry_value_name.as_deref(),
        Some("DelegateExecute")
    );
    let ua = ind(&o, 16);
    assert_eq!((ua.kind, ua.active), (IndicatorType::UserAgent, false));
    assert_eq!(
        ua.expiration.map(fmt_us).as_deref(),
        Some("2024-06-30T23:59:59.999000Z")
    );
}

fn stix_records(o: &ReadOutcome) -> Vec<&StixRecord> {
    o.records
        .iter()
        .map(|r| match r {
            Record::Stix(s) => &**s,
            other => panic!("not stix: {other:?}"),
        })
        .collect()
}

#[test]
fn stix_bundle() {
    let o = read("inputs/stix-bundle.json", None);
    assert_eq!(
        (o.files[0].profile, o.files[0].container),
        (Profile::Stix, "bundle")
    );
    assert_eq!(o.rejects, vec![]);
    let s = stix_records(&o);
    assert_eq!(s.len(), 8);
    // Clean objects, from no medallion collection.
    assert!(s
        .iter()
        .all(|r| r.problems.is_empty() && r.collections.is_empty() && r.files == vec![0]));
    let types: Vec<&str> = s.iter().map(|r| r.stix_type.as_str()).collect();
    assert_eq!(
        types,
        vec![
            "identity",
            "indicator",
            "indicator",
            "indicator",
            "malware",
            "relationship",
            "marking-definition",
            "ipv4-addr"
        ]
    );
    let i = s[1];
    assert_eq!(i.id, "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f");
    assert_eq!(i.spec_version, "2.1");
    assert_eq!(
        i.created.map(fmt_us).as_deref(),
        Some("2023-03-02T10:15:30.123000Z")
    );
    assert_eq!(
        i.modified.map(fmt_us).as_deref(),
        Some("2023-03-04T08:00:00.456789Z")
    );
    assert_eq!(i.date_added, None);
    assert!(i
        .json
        .starts_with(r#"{"type":"indicator","spec_version":"2.1","id":"indicator--8e2e2d2b"#));
    assert!(i
        .json
        .contains(r#""description":"Command and control \"primary\" node""#));
    assert_eq!(
        s[3].json.matches(r"Global\\\\it\\'s-me").count(),
        1,
        "{}",
        s[3].json
    );
    // marking-definition has no modified: created stands in.
    assert_eq!(s[6].modified, s[6].created);
    // The SCO without spec_version is 2.1 and has no timestamps.
    assert_eq!(
        (s[7].spec_version.as_str(), s[7].created, s[7].modified),
        ("2.1", None, None)
    );
}

#[test]
fn medallion_layouts() {
    let o = read("inputs/medallion-default_data.json", None);
    assert_eq!(
        (o.files[0].profile, o.files[0].container),
        (Profile::Stix, "medallion")
    );
    assert_eq!(o.rejects, vec![]);
    let s = stix_records(&o);
    assert_eq!(s.len(), 9);
    let added: Vec<Option<String>> = s.iter().map(|r| r.date_added.map(fmt_us)).collect();
    assert_eq!(
        added,
        vec![
            Some("2014-05-08T09:00:00.000000Z".into()),
            Some("2016-11-01T03:04:05.000000Z".into()),
            Some("2016-11-03T12:30:59.001000Z".into()),
            Some("2016-12-27T13:49:59.000000Z".into()),
            Some("2017-01-27T13:49:59.997000Z".into()),
            Some("2018-02-24T08:00:00.000000Z".into()),
            Some("2018-02-24T08:00:00.000001Z".into()),
            Some("2023-06-01T12:00:00.123456Z".into()),
            Some("2023-06-01T12:00:00.500000Z".into()),
        ]
    );
    // The malware without spec_version takes 2.0 from its media type.
    assert_eq!(
        (s[4].stix_type.as_str(), s[4].spec_version.as_str()),
        ("malware", "2.0")
    );
    assert_eq!(s[8].spec_version, "2.0");
    assert!(!s[7].json.contains("__meta"));
    assert!(s[7]
        .json
        .starts_with(r#"{"type":"indicator","spec_version":"2.1","id":"indicator--b81f86b9"#));
    let pos: Vec<u64> = s.iter().map(|r| r.origin.position).collect();
    assert_eq!(pos, (0..9).collect::<Vec<u64>>());
    // Each object knows its medallion collection (older layout: the
    // collection's `id`; newer layout: the key), and every object passes
    // the structural check.
    let cols: Vec<&str> = s.iter().map(|r| &*r.collections[0]).collect();
    let (high, ivy, day) = (
        "91a7b528-80eb-42ed-a74d-c6fbd5a26116",
        "472c94ae-3113-4e3e-a4dd-a9f4ac7471d4",
        "52892447-4d7e-4f70-b94d-d7f22742ff63",
    );
    assert_eq!(cols, vec![high, high, high, high, high, ivy, ivy, day, day]);
    assert!(s
        .iter()
        .all(|r| r.collections.len() == 1 && r.files == vec![0]));
    assert!(s.iter().all(|r| r.problems.is_empty()), "{s:?}");
}

fn rejects(o: &ReadOutcome) -> Vec<(u64, RejectReason)> {
    o.rejects
        .iter()
        .map(|r| (r.origin.position, r.reason))
        .collect()
}

#[test]
fn bad_native_every_reason_with_lines() {
    let o = read("bad/native-rejects.ndjson", Some(Profile::Native));
    assert_eq!(
        rejects(&o),
        vec![
            (2, RejectReason::ParseError),
            (3, RejectReason::UnsupportedType),
            (4, RejectReason::MissingValue),
            (5, RejectReason::InvalidValue),
        ]
    );
    assert_eq!(o.records.len(), 2);
    assert_eq!(o.records_seen, 6);
    assert_eq!((o.files[0].records, o.files[0].rejected), (2, 4));
    let shown = o.rejects[3].to_string();
    assert!(
        shown.ends_with(
            "native-rejects.ndjson: line 5: invalid-value: \"999.1.1.1\" is not an IPv4 address"
        ),
        "{shown}"
    );
    assert_eq!(ind(&o, 6).value, "evil.example.com");
    let kinds: Vec<(u64, WarningKind)> = o
        .warnings
        .iter()
        .map(|w| (w.origin.position, w.kind))
        .collect();
    assert_eq!(
        kinds,
        vec![(6, WarningKind::Trimmed), (6, WarningKind::Refanged)]
    );
}

#[test]
fn bad_threatconnect_rejects_with_indexes() {
    let o = read("bad/threatconnect-rejects.json", None);
    assert_eq!(
        rejects(&o),
        vec![
            (1, RejectReason::UnsupportedType),
            (2, RejectReason::MissingValue),
            (3, RejectReason::InvalidValue),
            (4, RejectReason::InvalidValue),
            (5, RejectReason::ParseError),
            (6, RejectReason::InvalidValue),
        ]
    );
    let shown = o.rejects[0].to_string();
    assert!(
        shown.ends_with("threatconnect-rejects.json: record 1: unsupported-type: ThreatConnect type \"Hashtag\" is not supported"),
        "{shown}"
    );
    assert!(
        o.rejects[3].detail.contains("dateAdded \"yesterday\""),
        "{}",
        o.rejects[3].detail
    );
    assert!(
        o.rejects[5].detail.contains("confidence 101"),
        "{}",
        o.rejects[5].detail
    );
    assert_eq!(o.records.len(), 1);
}

#[test]
fn bad_xsoar_rejects() {
    let o = read("bad/xsoar-rejects.json", Some(Profile::Xsoar));
    assert_eq!(o.files[0].container, "array");
    assert_eq!(
        rejects(&o),
        vec![
            (0, RejectReason::UnsupportedType),
            (1, RejectReason::MissingValue),
            (2, RejectReason::InvalidValue),
            (3, RejectReason::InvalidValue),
        ]
    );
    assert_eq!(ind(&o, 4).value, "https://bad.example/path");
    assert_eq!(o.warnings.len(), 1);
    assert_eq!(o.warnings[0].kind, WarningKind::Refanged);
}

#[test]
fn bad_stix_rejects() {
    let o = read("bad/stix-rejects.ndjson", None);
    assert_eq!(o.files[0].profile, Profile::Stix);
    assert_eq!(
        rejects(&o),
        vec![
            (1, RejectReason::MissingValue),
            (2, RejectReason::InvalidValue),
            (3, RejectReason::ParseError)
        ]
    );
    assert_eq!(o.records.len(), 1);
}

#[test]
fn truncated_container_is_a_file_error() {
    let e = input::read_files(
        &[InputFile {
            path: data("bad/truncated.json"),
            format: None,
        }],
        None,
    )
    .unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, InputError::NotJson { .. }), "{msg}");
    assert!(
        msg.contains("truncated.json: not valid JSON: line 3"),
        "{msg}"
    );
}

/// Found by review: byte-offset slicing inside a multi-byte character
/// panicked (and a panic in a rayon worker aborts the whole compile).
#[test]
fn multibyte_characters_at_prefix_offsets_never_panic() {
    let origin = taxii_edge::record::Origin {
        file: 0,
        position: 1,
        is_line: true,
    };
    let asn = r#"{"type":"asn","value":"AS€1"}"#;
    assert!(taxii_edge::input::parse_record(Profile::Native, asn.as_bytes(), origin).is_err());
    let tc = r#"{"type":"Address","ip":"198.51.100.1","dateAdded":"2021-11-02T13:07:08Z","securityLabels":{"data":[{"name":"TLP€x"}]}}"#;
    let (rec, _) =
        taxii_edge::input::parse_record(Profile::Threatconnect, tc.as_bytes(), origin).unwrap();
    let Record::Indicator(ind) = rec else {
        panic!("an indicator")
    };
    assert_eq!(ind.tlp, None);
}
