//! Reader tests over real files in a temporary directory: compression,
//! sniffing, chunk boundaries, order under parallelism, globs, and the
//! generator's exports read back with zero rejects.

use super::*;
use crate::synth::{self, Container};
use std::io::Write;

fn sample(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/inputs")
        .join(name)
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn read_one(path: PathBuf, format: Option<Profile>) -> ReadOutcome {
    read_files(&[InputFile { path, format }], None).unwrap()
}

#[test]
fn gz_and_zst_read_like_the_plain_file() {
    let dir = tempfile::tempdir().unwrap();
    let plain = std::fs::read(sample("threatconnect-page.json")).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&plain).unwrap();
    let gz_path = write(dir.path(), "tc.json.gz", &gz.finish().unwrap());
    let zst_path = write(
        dir.path(),
        "tc.json.zst",
        &zstd::encode_all(&plain[..], 3).unwrap(),
    );
    let a = read_one(sample("threatconnect-page.json"), None);
    let b = read_one(gz_path.clone(), None);
    let c = read_one(zst_path, None);
    assert_eq!(a.records.len(), 14);
    assert_eq!(a.records, b.records);
    assert_eq!(a.records, c.records);
    assert_eq!(b.files[0].bytes, std::fs::metadata(&gz_path).unwrap().len());
    assert_eq!(b.files[0].profile, Profile::Threatconnect);

    // Corrupt compressed data is a whole-file error naming the format.
    let bad = write(dir.path(), "bad.json.gz", b"\x1f\x8b\x08\x00garbage");
    let e = read_files(
        &[InputFile {
            path: bad,
            format: None,
        }],
        None,
    )
    .unwrap_err();
    assert!(
        matches!(e, InputError::Decompress { format: "gzip", .. }),
        "{e}"
    );
    let bad = write(dir.path(), "bad.json.zst", b"not zstd at all");
    let e = read_files(
        &[InputFile {
            path: bad,
            format: None,
        }],
        None,
    )
    .unwrap_err();
    assert!(
        matches!(e, InputError::Decompress { format: "zstd", .. }),
        "{e}"
    );
}

#[test]
fn sniffing_and_forcing() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &str, Profile, &str); 8] = [
        (
            "a.json",
            r#"{"iocObjects":[{"indicator_type":"IP","value":"192.0.2.1"}],"total":1}"#,
            Profile::Xsoar,
            "iocObjects",
        ),
        (
            "b.json",
            r#"{"iocs":null,"total":0}"#,
            Profile::Xsoar,
            "iocs",
        ),
        (
            "c.json",
            r#"[{"type":"URL","value":"http://a.example/"}]"#,
            Profile::Xsoar,
            "array",
        ),
        (
            "d.json",
            r#"[{"type":"URL","text":"http://a.example/","ownerName":"X"}]"#,
            Profile::Threatconnect,
            "array",
        ),
        (
            "e.json",
            r#"{"data":{"type":"Host","hostName":"a.example"},"status":"Success"}"#,
            Profile::Threatconnect,
            "data-object",
        ),
        (
            "f.ndjson",
            "{\"type\":\"url\",\"value\":\"http://a.example/\"}\n",
            Profile::Native,
            "ndjson",
        ),
        (
            "g.json",
            "{\n  \"type\": \"domain\",\n  \"value\": \"a.example\"\n}\n",
            Profile::Native,
            "object",
        ),
        (
            "h.json",
            r#"[{"type":"indicator","id":"indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f","spec_version":"2.1"}]"#,
            Profile::Stix,
            "array",
        ),
    ];
    for (name, text, profile, container) in cases {
        let o = read_one(write(dir.path(), name, text.as_bytes()), None);
        assert_eq!(
            (o.files[0].profile, o.files[0].container),
            (profile, container),
            "{name}"
        );
        assert_eq!(o.rejects, vec![], "{name}");
    }
    // Forcing wins over sniffing: a native-looking record read as xsoar.
    let p = write(
        dir.path(),
        "forced.ndjson",
        b"{\"type\":\"domain\",\"value\":\"a.example\"}\n",
    );
    let o = read_one(p, Some(Profile::Xsoar));
    assert_eq!(o.files[0].profile, Profile::Xsoar);
    match &o.records[0] {
        Record::Indicator(i) => assert_eq!(
            (i.profile, i.kind),
            (Profile::Xsoar, crate::record::IndicatorType::Domain)
        ),
        r => panic!("{r:?}"),
    }
    // Unknown shape: a clear error naming the file.
    let p = write(dir.path(), "unknown.ndjson", b"{\"foo\":1}\n{\"bar\":2}\n");
    let e = read_files(
        &[InputFile {
            path: p,
            format: None,
        }],
        None,
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("unknown.ndjson: cannot tell which export format"),
        "{e}"
    );
    // Empty files read as nothing.
    let o = read_one(
        write(dir.path(), "empty.ndjson", b""),
        Some(Profile::Native),
    );
    assert_eq!((o.records.len(), o.files[0].container), (0, "ndjson"));
    // Trailing garbage after a document.
    let p = write(
        dir.path(),
        "trail.json",
        b"[{\"type\":\"ipv4\",\"value\":\"192.0.2.1\"}] x",
    );
    assert!(matches!(
        read_files(
            &[InputFile {
                path: p,
                format: None
            }],
            None
        ),
        Err(InputError::NotJson { .. })
    ));
}

#[test]
fn records_split_across_task_edges_and_tricky_strings() {
    // Records large enough that tasks end mid-file, with strings holding
    // brackets, quotes and escapes.
    let dir = tempfile::tempdir().unwrap();
    let pad = "x".repeat(3000);
    let mut text = String::from("{\"data\": [\n");
    let n = 400;
    for i in 0..n {
        if i > 0 {
            text.push_str(",\n");
        }
        text.push_str(&format!(
            r#"{{"type":"Mutex","Mutex":"m]}}\"{{[\\{i}","description":"{pad} ] }} \" \\ \u005d","ownerName":"o"}}"#
        ));
    }
    text.push_str("\n]}");
    let o = read_one(write(dir.path(), "big.json", text.as_bytes()), None);
    assert_eq!((o.records.len(), o.rejects.len()), (n, 0));
    for (i, r) in o.records.iter().enumerate() {
        let Record::Indicator(ind) = r else { panic!() };
        assert_eq!(ind.origin.position, i as u64);
        assert_eq!(ind.value, format!("m]}}\"{{[\\{i}"));
        assert!(ind.description.as_deref().unwrap().ends_with("] } \" \\ ]"));
    }
}

#[test]
fn order_is_deterministic_with_parallelism_and_progress_sums_to_size() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (k, f) in [Profile::Native, Profile::Xsoar, Profile::Threatconnect]
        .into_iter()
        .enumerate()
    {
        let mut buf = Vec::new();
        synth::write_export(
            f,
            99,
            &mut (0..3000u64).map(|i| (i, 0)),
            Container::Ndjson,
            &mut buf,
        )
        .unwrap();
        files.push(InputFile {
            path: write(dir.path(), &format!("{k}.ndjson"), &buf),
            format: None,
        });
    }
    let total: u64 = files
        .iter()
        .map(|f| std::fs::metadata(&f.path).unwrap().len())
        .sum();
    let seen = AtomicU64::new(0);
    let progress = |n: u64| {
        seen.fetch_add(n, Ordering::Relaxed);
    };
    let a = read_files(&files, Some(&progress)).unwrap();
    assert_eq!(seen.load(Ordering::Relaxed), total);
    assert_eq!(a.bytes_in, total);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let b = pool.install(|| read_files(&files, None).unwrap());
    assert_eq!(a.records, b.records);
    let origins: Vec<(u32, u64)> = a
        .records
        .iter()
        .map(|r| (r.origin().file, r.origin().position))
        .collect();
    let mut sorted = origins.clone();
    sorted.sort();
    assert_eq!(origins, sorted);
    assert_eq!(a.records.len(), 9000);
}

#[test]
fn a_file_of_several_parse_windows_keeps_every_record_in_order() {
    // More tasks than one window holds (TASK_ITEMS records each), with a
    // broken line inside the second window.
    let n = TASK_ITEMS * WINDOW_TASKS * 2 + 100;
    let bad = TASK_ITEMS * WINDOW_TASKS + 7;
    let mut text = String::with_capacity(n * 48);
    for i in 1..=n {
        if i == bad {
            text.push_str("{\"type\":\"ipv4\",\"value\":\n");
            continue;
        }
        let ip = format!("10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255);
        text.push_str(&format!("{{\"type\":\"ipv4\",\"value\":\"{ip}\"}}\n"));
    }
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "many.ndjson", text.as_bytes());
    let o = read_one(path.clone(), Some(Profile::Native));
    assert_eq!(o.records.len(), n - 1);
    assert_eq!(o.files[0].records, (n - 1) as u64);
    assert_eq!(o.rejects.len(), 1);
    assert_eq!(o.rejects[0].origin.position, bad as u64);
    let lines: Vec<u64> = o.records.iter().map(|r| r.origin().position).collect();
    let want: Vec<u64> = (1..=n as u64).filter(|&l| l != bad as u64).collect();
    assert_eq!(lines, want);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    assert_eq!(
        pool.install(|| read_one(path, Some(Profile::Native)))
            .records,
        o.records
    );
}

#[test]
fn expand_globs_and_missing_patterns() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "b.json", b"[]");
    write(dir.path(), "a.json", b"[]");
    write(dir.path(), "c.txt", b"");
    let d = dir.path().display();
    let got = expand(&[
        (format!("{d}/*.json"), Some(Profile::Native)),
        (format!("{d}/a.json"), None),
        (format!("{d}/c.txt"), None),
    ])
    .unwrap();
    let names: Vec<(String, Option<Profile>)> = got
        .iter()
        .map(|f| {
            (
                f.path.file_name().unwrap().to_string_lossy().into_owned(),
                f.format,
            )
        })
        .collect();
    assert_eq!(
        names,
        vec![
            ("a.json".into(), Some(Profile::Native)),
            ("b.json".into(), Some(Profile::Native)),
            ("c.txt".into(), None)
        ]
    );
    let e = expand(&[(format!("{d}/*.ndjson"), None)]).unwrap_err();
    assert_eq!(
        e.to_string().split(';').next().unwrap(),
        format!("input pattern \"{d}/*.ndjson\" matches no file")
    );
    let e = expand(&[(format!("{d}/nope.json"), None)]).unwrap_err();
    assert!(matches!(e, InputError::NoMatch { .. }));
    assert!(matches!(
        expand(&[(d.to_string(), None)]).unwrap_err(),
        InputError::IsDirectory { .. }
    ));
}

#[test]
fn generated_exports_read_with_zero_rejects() {
    let dir = tempfile::tempdir().unwrap();
    for f in Profile::ALL {
        for c in [Container::Ndjson, Container::Json] {
            let mut buf = Vec::new();
            let n = synth::write_export(
                f,
                2024,
                &mut (0..10_000u64).map(|i| (i, (i % 3) as u32)),
                c,
                &mut buf,
            )
            .unwrap();
            assert_eq!(n, 10_000);
            let mut again = Vec::new();
            synth::write_export(
                f,
                2024,
                &mut (0..10_000u64).map(|i| (i, (i % 3) as u32)),
                c,
                &mut again,
            )
            .unwrap();
            assert!(buf == again, "same seed must give the same bytes");
            let o = read_one(
                write(dir.path(), &format!("{}-{c:?}.json", f.as_str()), &buf),
                None,
            );
            assert_eq!(o.files[0].profile, f, "{f:?} {c:?}");
            assert_eq!(
                o.rejects.first().map(|r| r.to_string()),
                None,
                "{f:?} {c:?}"
            );
            assert_eq!(o.records.len(), 10_000);
            assert_eq!(o.warnings.len(), 0);
            if f != Profile::Stix {
                let mut values = std::collections::HashSet::new();
                let mut kinds = std::collections::HashSet::new();
                for r in &o.records {
                    let Record::Indicator(i) = r else { panic!() };
                    assert!(
                        values.insert((i.kind, i.value.clone())),
                        "duplicate {}",
                        i.value
                    );
                    kinds.insert(i.kind);
                }
                let expected = match f {
                    Profile::Threatconnect => 15,
                    Profile::Xsoar => 14,
                    _ => 16,
                };
                assert_eq!(kinds.len(), expected, "{f:?}");
            }
        }
    }
}

#[test]
fn revision_keeps_type_and_value_but_changes_last_modified() {
    let r0 = parse_record(
        Profile::Native,
        synth::record_json(Profile::Native, 5, 77, 0).as_bytes(),
        Origin {
            file: 0,
            position: 0,
            is_line: true,
        },
    )
    .unwrap()
    .0;
    let r1 = parse_record(
        Profile::Native,
        synth::record_json(Profile::Native, 5, 77, 1).as_bytes(),
        Origin {
            file: 0,
            position: 0,
            is_line: true,
        },
    )
    .unwrap()
    .0;
    let (Record::Indicator(a), Record::Indicator(b)) = (r0, r1) else {
        panic!()
    };
    assert_eq!((a.kind, &a.value), (b.kind, &b.value));
    assert_eq!(
        b.last_modified.unwrap() - a.last_modified.unwrap(),
        crate::time::HOUR
    );
    assert_ne!(a.description, b.description);
}

#[test]
fn parse_record_never_panics_on_odd_json() {
    let o = Origin {
        file: 0,
        position: 0,
        is_line: false,
    };
    for text in [
        &b"null"[..],
        b"[]",
        b"{}",
        b"{\"type\":5}",
        b"{\"type\":\"File\",\"summary\":\" : : \"}",
        b"{\"type\":\"ipv4\",\"value\":[1]}",
        b"{\"indicator_type\":\"File\",\"value\":\"d41d8cd98f00b204e9800998ecf8427e\",\"CustomFields\":{\"md5\":\"00000000000000000000000000000000\"}}",
        b"\xff\xfe",
    ] {
        for p in Profile::ALL {
            let _ = parse_record(p, text, o);
        }
    }
    let e = parse_record(Profile::Xsoar, b"{\"indicator_type\":\"File\",\"value\":\"d41d8cd98f00b204e9800998ecf8427e\",\"CustomFields\":{\"md5\":\"00000000000000000000000000000000\"}}", o).unwrap_err();
    assert_eq!(e.0, RejectReason::InvalidValue);
}

#[test]
fn records_keep_only_the_source_members_the_compile_reads() {
    let text = r#" {"id":1, "tags" : {"data":[{"name":"a"}]},"big":"xxxxxxxx","rating":2.0,"t\u0061gs":3,"nested":{"tags":1}}"#;
    let keep = |v: &[&str]| Keep::Members(v.iter().map(|s| s.to_string()).collect());
    assert_eq!(
        &*kept(text, &keep(&["tags", "rating"])),
        r#"{"tags":{"data":[{"name":"a"}]},"rating":2.0,"t\u0061gs":3}"#
    );
    assert_eq!(&*kept(text, &keep(&[])), r#"{"t\u0061gs":3}"#);
    assert_eq!(&*kept(text, &Keep::Whole), text);
    // Not an object (cannot happen for a parsed record): kept whole.
    assert_eq!(&*kept("[1]", &keep(&["a"])), "[1]");

    // Through the reader: a ThreatConnect record keeps what is asked.
    let dir = tempfile::tempdir().unwrap();
    let line = r#"{"id":7,"type":"Address","summary":"198.51.100.7","rating":3,"webLink":"https://x.example/7","tags":{"data":[{"name":"t"}]}}"#;
    let path = write(dir.path(), "tc.ndjson", format!("{line}\n").as_bytes());
    let file = InputFile {
        path,
        format: Some(Profile::Threatconnect),
    };
    let mut per_profile: [Keep; 4] = Default::default();
    per_profile[0] = keep(&["rating", "tags"]);
    let out = read_files_keeping(std::slice::from_ref(&file), None, &per_profile).unwrap();
    assert_eq!(out.rejects.len(), 0, "{:?}", out.rejects);
    assert_eq!(
        out.records[0].source().as_str(),
        r#"{"rating":3,"tags":{"data":[{"name":"t"}]}}"#
    );
    let whole = read_files(std::slice::from_ref(&file), None).unwrap();
    assert_eq!(whole.records[0].source().as_str(), line);
}
