//! Builder tests: whole objects, exact JSON.

use super::pattern::tests::ind;
use super::*;
use crate::record::{FileHashes, IndicatorType, Source};
use crate::time::parse_rfc3339;
use std::collections::BTreeMap;
use std::sync::Arc;

const COL: Uuid = Uuid::from_u128(0x6f0c7e2a_1d3b_4c5e_8f90_a1b2c3d4e5f6);

fn t(s: &str) -> Micros {
    parse_rfc3339(s).unwrap()
}

fn settings<'a>(col: &'a TtlTable, global: &'a TtlTable) -> BuildSettings<'a> {
    BuildSettings {
        collection_id: COL,
        ttl_collection: col,
        ttl_global: global,
        identity_ref: None,
        tlp2: false,
        emit_scos: false,
        valid_from: None,
        undated: t("2020-01-01T00:00:00Z"),
    }
}

fn ttl(pairs: &[(&str, i64)]) -> TtlTable {
    TtlTable(pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect())
}

fn tc_indicator() -> Indicator {
    let mut i = ind(IndicatorType::Ipv4, "198.51.100.1");
    i.profile = Profile::Threatconnect;
    i.confidence = Some(80);
    i.rating = Some(3.0);
    i.tags = vec!["apt28".into()];
    i.tlp = Some(Tlp::Amber);
    i.created = Some(t("2021-11-02T13:07:08Z"));
    i.last_modified = Some(t("2021-11-03T10:00:00.123456Z"));
    i.description = Some("C2 \"server\"\nline two".into());
    i.source = Source(Arc::from(
        r#"{"id":7,"type":"Address","ip":"198.51.100.1","rating":3.0,"confidence":80,"tags":{"data":[{"name":"apt28"}]}}"#,
    ));
    i
}

#[test]
fn threatconnect_indicator_exact_json_21_and_20() {
    let global = ttl(&[("ipv4", 24)]);
    let none = TtlTable::default();
    let mut s = settings(&none, &global);
    s.identity_ref = Some("identity--0d5a2b5c-1f6e-4b8a-9c3d-2e4f6a8b0c1d");
    let d = build_indicator(&tc_indicator(), 0, &s, &Mappings::defaults());
    assert!(d.warnings.is_empty(), "{:?}", d.warnings);
    let id = indicator_id(&COL, IndicatorType::Ipv4, "198.51.100.1", 0);
    let modified = t("2024-05-06T07:08:09.999999Z");
    assert_eq!(
        serialize21(&d, modified, false),
        format!(
            concat!(
                r#"{{"type":"indicator","spec_version":"2.1","id":"{id}","#,
                r#""created_by_ref":"identity--0d5a2b5c-1f6e-4b8a-9c3d-2e4f6a8b0c1d","#,
                r#""created":"2021-11-02T13:07:08.000Z","modified":"2024-05-06T07:08:09.999Z","#,
                r#""name":"198.51.100.1","description":"C2 \"server\"\nline two","#,
                r#""indicator_types":["malicious-activity"],"#,
                r#""pattern":"[ipv4-addr:value = '198.51.100.1']","pattern_type":"stix","pattern_version":"2.1","#,
                r#""valid_from":"2021-11-03T10:00:00.123Z","valid_until":"2021-11-04T10:00:00.123Z","#,
                r#""labels":["apt28","Threat Rating: Moderate"],"confidence":80,"lang":"en","#,
                r#""object_marking_refs":["marking-definition--f88d31f6-486f-44da-b317-01333bde0b82"],"#,
                r#""x_threat_rating":3,"x_threatconnect_id":7,"x_threatconnect_type":"Address"}}"#
            ),
            id = id
        )
    );
    assert_eq!(
        serialize20(&d, modified, true),
        format!(
            concat!(
                r#"{{"type":"indicator","id":"{id}","#,
                r#""created_by_ref":"identity--0d5a2b5c-1f6e-4b8a-9c3d-2e4f6a8b0c1d","#,
                r#""created":"2021-11-02T13:07:08.000Z","modified":"2024-05-06T07:08:09.999Z","#,
                r#""name":"198.51.100.1","description":"C2 \"server\"\nline two","#,
                r#""pattern":"[ipv4-addr:value = '198.51.100.1']","#,
                r#""valid_from":"2021-11-03T10:00:00.123Z","valid_until":"2021-11-04T10:00:00.123Z","#,
                r#""labels":["apt28","Threat Rating: Moderate"],"revoked":true,"#,
                r#""object_marking_refs":["marking-definition--f88d31f6-486f-44da-b317-01333bde0b82"],"#,
                r#""x_threat_rating":3,"x_threatconnect_id":7,"x_threatconnect_type":"Address"}}"#
            ),
            id = id
        )
    );
}

#[test]
fn xsoar_expiration_is_valid_until_and_created_is_valid_from() {
    let mut i = ind(IndicatorType::Domain, "evil.test");
    i.profile = Profile::Xsoar;
    i.score = Some(3);
    i.created = Some(t("2021-12-08T09:32:24.104143+02:00"));
    i.last_modified = Some(t("2022-01-01T00:00:00Z"));
    i.expiration = Some(t("2022-02-01T00:00:00Z"));
    i.source = Source(Arc::from(r#"{"value":"evil.test","score":3}"#));
    let global = ttl(&[("default", 1)]);
    let none = TtlTable::default();
    let d = build_indicator(&i, 0, &settings(&none, &global), &Mappings::defaults());
    assert_eq!(d.valid_from, t("2021-12-08T07:32:24.104Z"));
    assert_eq!(d.valid_until, Some(t("2022-02-01T00:00:00Z")));
    let json = serialize21(&d, d.created, false);
    assert!(
        json.contains(r#""valid_from":"2021-12-08T07:32:24.104Z","valid_until":"2022-02-01T00:00:00.000Z","labels":["malicious-activity"]}"#),
        "{json}"
    );
    // No confidence, no marking for a record without them.
    assert!(
        !json.contains("confidence") && !json.contains("object_marking_refs"),
        "{json}"
    );
}

#[test]
fn ttl_resolution_none_and_clamping() {
    let mut i = ind(IndicatorType::Url, "http://x.test/");
    i.created = Some(t("2024-01-10T00:00:00Z"));
    i.last_modified = Some(t("2024-01-01T00:00:00Z"));
    let none = TtlTable::default();
    let m = Mappings::defaults();
    // Collection TTL wins over global.
    let col = ttl(&[("url", 48)]);
    let global = ttl(&[("url", 1000)]);
    let d = build_indicator(&i, 0, &settings(&col, &global), &m);
    // last_modified + 48 h = Jan 3, before valid_from (created, Jan 10): clamped.
    assert_eq!(d.valid_until, Some(t("2024-01-10T00:00:00.001Z")));
    assert_eq!(
        d.warnings,
        vec!["valid_until 2024-01-03T00:00:00.000Z is not after valid_from 2024-01-10T00:00:00.000Z; set to 2024-01-10T00:00:00.001Z"]
    );
    let d = build_indicator(&i, 0, &settings(&none, &global), &m);
    assert_eq!(d.valid_until, Some(t("2024-02-11T16:00:00Z")));
    assert!(d.warnings.is_empty());
    // -1 = never expires, even over a global value.
    let never = ttl(&[("default", -1)]);
    let d = build_indicator(&i, 0, &settings(&never, &ttl(&[("default", 5)])), &m);
    assert_eq!(d.valid_until, None);
    let d = build_indicator(&i, 0, &settings(&none, &none), &m);
    assert_eq!(d.valid_until, None);
    assert!(!serialize21(&d, 0, false).contains("valid_until"));
    // valid_from = last_modified when asked.
    let mut s = settings(&none, &none);
    s.valid_from = Some(ValidFrom::LastModified);
    assert_eq!(
        build_indicator(&i, 0, &s, &m).valid_from,
        t("2024-01-01T00:00:00Z")
    );
}

#[test]
fn collection_never_overrides_a_global_type_entry_with_its_default() {
    // resolve_ttl: a global entry for the type beats the collection default.
    let mut i = ind(IndicatorType::Ipv4, "198.51.100.9");
    i.last_modified = Some(t("2024-01-01T00:00:00Z"));
    let col = ttl(&[("default", -1)]);
    let global = ttl(&[("ipv4", 2)]);
    let d = build_indicator(&i, 0, &settings(&col, &global), &Mappings::defaults());
    assert_eq!(d.valid_until, Some(t("2024-01-01T02:00:00Z")));
}

#[test]
fn undated_record_uses_the_stable_fallback_with_a_warning() {
    let i = ind(IndicatorType::Mutex, "m");
    let none = TtlTable::default();
    let d = build_indicator(&i, 0, &settings(&none, &none), &Mappings::defaults());
    assert_eq!(d.created, t("2020-01-01T00:00:00Z"));
    assert_eq!(d.valid_from, d.created);
    assert_eq!(
        d.warnings,
        vec![
            "record has no created or last-modified date; created set to 2020-01-01T00:00:00.000Z"
        ]
    );
}

#[test]
fn inactive_records_are_revoked_and_modified_never_precedes_created() {
    let mut i = tc_indicator();
    i.active = false;
    let none = TtlTable::default();
    let d = build_indicator(&i, 0, &settings(&none, &none), &Mappings::defaults());
    assert!(d.revoked);
    let j = serialize21(&d, 0, false);
    assert!(
        j.contains(r#""confidence":80,"lang":"en","revoked":true,"object_marking_refs""#),
        "{j}"
    );
    assert!(
        j.contains(r#""created":"2021-11-02T13:07:08.000Z","modified":"2021-11-02T13:07:08.000Z""#),
        "{j}"
    );
}

#[test]
fn expired_xsoar_records_rely_on_valid_until_not_revoked() {
    let mut i = ind(IndicatorType::Domain, "old.test");
    i.profile = Profile::Xsoar;
    i.active = false; // expirationStatus: expired
    i.created = Some(t("2021-01-01T00:00:00Z"));
    i.expiration = Some(t("2021-02-01T00:00:00Z"));
    let none = TtlTable::default();
    let d = build_indicator(&i, 0, &settings(&none, &none), &Mappings::defaults());
    assert!(!d.revoked && !is_revoked(&i));
    assert_eq!(d.valid_until, Some(t("2021-02-01T00:00:00Z")));
    assert!(!serialize21(&d, 0, false).contains("revoked"));
    // Without an expiration date nothing else would say it: revoked.
    i.expiration = None;
    assert!(is_revoked(&i));
    assert!(build_indicator(&i, 0, &settings(&none, &none), &Mappings::defaults()).revoked);
    // Other profiles: inactive is revoked, whatever their dates.
    i.profile = Profile::Native;
    i.expiration = Some(t("2021-02-01T00:00:00Z"));
    assert!(is_revoked(&i));
}

#[test]
fn xsoar_unknown_score_is_never_labelled_malicious() {
    let mut i = ind(IndicatorType::Ipv4, "198.51.100.7");
    i.profile = Profile::Xsoar;
    i.created = Some(t("2024-01-01T00:00:00Z"));
    let none = TtlTable::default();
    let s = settings(&none, &none);
    for score in ["0", "null"] {
        i.source = Source(Arc::from(format!(
            r#"{{"value":"198.51.100.7","score":{score},"CustomFields":{{"tags":["t"]}}}}"#
        )));
        let d = build_indicator(&i, 0, &s, &Mappings::defaults());
        assert!(!serialize21(&d, 0, false).contains("labels"), "{score}");
        let j20 = serialize20(&d, 0, false);
        assert!(j20.contains(r#""labels":["unknown"]"#), "{score}: {j20}");
        assert_ne!(serialize::hash20_extra(&d), 0);
    }
    i.source = Source(Arc::from(r#"{"value":"198.51.100.7","score":3}"#));
    let d = build_indicator(&i, 0, &s, &Mappings::defaults());
    assert!(serialize20(&d, 0, false).contains(r#""labels":["malicious-activity"]"#));
    assert_eq!(serialize::hash20_extra(&d), 0);
}

#[test]
fn amber_strict_stays_strict_in_21_and_becomes_red_in_20() {
    let mut i = tc_indicator();
    i.tlp = Some(Tlp::AmberStrict);
    let none = TtlTable::default();
    let d = build_indicator(&i, 0, &settings(&none, &none), &Mappings::defaults());
    assert_eq!(d.markings, vec![marking::TLP2_AMBER_STRICT]);
    assert!(serialize21(&d, 0, false).contains(marking::TLP2_AMBER_STRICT));
    let j20 = serialize20(&d, 0, false);
    assert!(
        j20.contains(&format!(
            r#""object_marking_refs":["{}"]"#,
            marking::TLP1_RED
        )),
        "{j20}"
    );
    assert_eq!(
        d.stix20_warning(),
        Some(marking::AMBER_STRICT_IN_20_WARNING)
    );
    i.tlp = Some(Tlp::Clear);
    let mut s = settings(&none, &none);
    let d = build_indicator(&i, 0, &s, &Mappings::defaults());
    assert_eq!(d.markings, vec![marking::TLP1_WHITE]);
    assert_eq!(d.stix20_warning(), None);
    s.tlp2 = true;
    let d = build_indicator(&i, 0, &s, &Mappings::defaults());
    assert_eq!(d.markings, vec![marking::TLP2_CLEAR]);
    assert!(serialize20(&d, 0, false).contains(marking::TLP1_WHITE));
}

#[test]
fn stix20_labels_are_always_present() {
    let mut i = ind(IndicatorType::Domain, "x.test");
    i.created = Some(t("2024-01-01T00:00:00Z"));
    let none = TtlTable::default();
    let s = settings(&none, &none);
    // Native, no tags: no labels in 2.1, the default label in 2.0.
    let d = build_indicator(&i, 0, &s, &Mappings::defaults());
    assert!(!serialize21(&d, 0, false).contains("labels"));
    assert!(serialize20(&d, 0, false).contains(r#""labels":["malicious-activity"]"#));
    // indicator_types stand in when there are no labels.
    let col: BTreeMap<String, String> =
        [("indicator_types".to_string(), "`[\"benign\"]`".to_string())].into();
    let m = Mappings::new(&BTreeMap::new(), &col, "c").unwrap();
    let d = build_indicator(&i, 0, &s, &m);
    let j20 = serialize20(&d, 0, false);
    assert!(j20.contains(r#""labels":["benign"]"#), "{j20}");
    assert!(
        !j20.contains("indicator_types")
            && !j20.contains("spec_version")
            && !j20.contains("pattern_type"),
        "{j20}"
    );
}

#[test]
fn content_hash_ignores_modified_but_sees_everything_else() {
    let none = TtlTable::default();
    let global = ttl(&[("ipv4", 24)]);
    let m = Mappings::defaults();
    let a = build_indicator(&tc_indicator(), 0, &settings(&none, &global), &m);
    let b = build_indicator(&tc_indicator(), 0, &settings(&none, &global), &m);
    assert_eq!(content_hash(&a), content_hash(&b));
    let mut later = tc_indicator();
    later.last_modified = Some(t("2021-11-05T00:00:00Z"));
    let c = build_indicator(&later, 0, &settings(&none, &global), &m);
    assert_ne!(content_hash(&a), content_hash(&c));
    let d = build_indicator(
        &tc_indicator(),
        0,
        &settings(&none, &ttl(&[("ipv4", 25)])),
        &m,
    );
    assert_ne!(content_hash(&a), content_hash(&d));
    let e = build_indicator(&tc_indicator(), 1, &settings(&none, &global), &m);
    assert_ne!(a.id, e.id);
}

#[test]
fn scos_only_when_asked() {
    let mut i = ind(IndicatorType::File, "bb");
    i.hashes = FileHashes {
        md5: Some("aa".into()),
        sha256: Some("bb".into()),
        ..FileHashes::default()
    }
    .into();
    i.created = Some(t("2024-01-01T00:00:00Z"));
    let none = TtlTable::default();
    let mut s = settings(&none, &none);
    assert!(build_indicator(&i, 0, &s, &Mappings::defaults())
        .scos
        .is_empty());
    s.emit_scos = true;
    let d = build_indicator(&i, 0, &s, &Mappings::defaults());
    assert_eq!(d.scos.len(), 1);
    let sco = &d.scos[0];
    assert_eq!(sco.stix_type, "file");
    assert_eq!(
        sco.json,
        format!(
            r#"{{"type":"file","spec_version":"2.1","id":"{}","hashes":{{"MD5":"aa","SHA-256":"bb"}}}}"#,
            sco.id
        )
    );
    // Only MD5 contributes to the id.
    let mut md5_only = ind(IndicatorType::Md5, "aa");
    md5_only.hashes.md5 = Some("aa".into());
    assert_eq!(id::sco(&md5_only).unwrap().id, sco.id);
}

/// Writes objects of every type with nasty values to `$STIX_DUMP_DIR`
/// (one JSON bundle per STIX version, plus the patterns) for checking with
/// the OASIS `stix2_validator` and `validate-patterns`. Run with
/// `STIX_DUMP_DIR=/tmp/x cargo test --lib stix::tests::dump -- --ignored`.
#[test]
#[ignore]
fn dump_for_validator() {
    let Ok(dir) = std::env::var("STIX_DUMP_DIR") else {
        return;
    };
    let nasty = [
        "plain",
        "it's",
        "back\\slash",
        "\\'",
        "]",
        "[x] OR [y",
        "new\nline",
        "tab\there",
        "ünïcödé 😀",
        "quote\"d",
        "' OR 1=1 --",
        "\\",
        "''",
    ];
    let values = |k: IndicatorType| -> Vec<String> {
        match k {
            IndicatorType::Ipv4 => vec!["198.51.100.1".into()],
            IndicatorType::Ipv6 => vec!["2001:db8::1".into()],
            IndicatorType::Cidr => vec!["198.51.100.0/24".into(), "2001:db8::/32".into()],
            IndicatorType::Domain => vec!["example.com".into(), "xn--bcher-kva.example".into()],
            IndicatorType::Md5 => vec!["d41d8cd98f00b204e9800998ecf8427e".into()],
            IndicatorType::Sha1 => vec!["da39a3ee5e6b4b0d3255bfef95601890afd80709".into()],
            IndicatorType::Sha256 | IndicatorType::File => {
                vec!["e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".into()]
            }
            IndicatorType::Sha512 => vec!["cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e".into()],
            IndicatorType::Asn => vec!["64500".into()],
            IndicatorType::Email => vec!["a@example.com".into(), "o'brien@example.com".into()],
            IndicatorType::Url => nasty.iter().map(|v| format!("http://example.com/{v}")).collect(),
            _ => nasty.iter().map(|v| v.to_string()).collect(),
        }
    };
    let none = TtlTable::default();
    let global = ttl(&[("default", 24)]);
    let mut objs21 = Vec::new();
    let mut objs20 = Vec::new();
    let mut patterns = Vec::new();
    let mut markings = std::collections::BTreeSet::new();
    let tlps = [
        None,
        Some(Tlp::Clear),
        Some(Tlp::Green),
        Some(Tlp::Amber),
        Some(Tlp::AmberStrict),
        Some(Tlp::Red),
    ];
    let mut n = 0;
    for tlp2 in [false, true] {
        for kind in IndicatorType::ALL {
            for v in values(kind) {
                n += 1;
                let mut i = tc_indicator();
                i.kind = kind;
                i.value = v.clone();
                i.tlp = tlps[n % tlps.len()];
                i.active = n % 7 != 0;
                i.profile = Profile::ALL[n % 3];
                if kind == IndicatorType::File {
                    i.hashes.md5 = Some("d41d8cd98f00b204e9800998ecf8427e".into());
                    i.hashes.sha256 = Some(v.clone());
                }
                if kind == IndicatorType::RegistryKey && n % 2 == 0 {
                    i.registry_value_name = Some(format!("val{v}"));
                }
                let mut s = settings(&none, &global);
                s.tlp2 = tlp2;
                s.emit_scos = true;
                let d = build_indicator(&i, (n % 3) as u32, &s, &Mappings::defaults());
                patterns.push(d.pattern.clone());
                objs21.push(serialize21(&d, t("2024-06-01T00:00:00Z"), false));
                objs20.push(serialize20(&d, t("2024-06-01T00:00:00Z"), n % 5 == 0));
                for sco in &d.scos {
                    objs21.push(sco.json.clone());
                }
                for m in &d.markings {
                    markings.insert(*m);
                }
            }
        }
    }
    let mut m20 = std::collections::BTreeSet::new();
    for m in &markings {
        let (j21, _) = marking_object(m).unwrap();
        objs21.push(j21.to_string());
        let (_, j20) = marking_object(marking::ref_for_20(m)).unwrap();
        m20.insert(j20.unwrap());
    }
    objs20.extend(m20.into_iter().map(str::to_string));
    let (_, ident21, ident20) = identity_object("ACME", None, "organization", 0);
    objs21.push(ident21);
    objs20.push(ident20);
    let bundle = |objs: &[String], v20: bool| {
        format!(
            r#"{{"type":"bundle","id":"bundle--{}",{}"objects":[{}]}}"#,
            Uuid::new_v4(),
            if v20 { r#""spec_version":"2.0","# } else { "" },
            objs.join(",")
        )
    };
    std::fs::write(format!("{dir}/bundle21.json"), bundle(&objs21, false)).unwrap();
    std::fs::write(format!("{dir}/bundle20.json"), bundle(&objs20, true)).unwrap();
    std::fs::write(format!("{dir}/patterns.txt"), patterns.join("\n") + "\n").unwrap();
}
