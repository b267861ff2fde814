//! Golden files: the exact STIX 2.1 and 2.0 objects compiled from each
//! bundled sample export (`testdata/inputs/*`) are kept in
//! `testdata/golden/`. Any change to parsing, mapping or serialization shows
//! up here as a diff to review. After a deliberate change, regenerate with
//! `TAXII_EDGE_BLESS=1 cargo test --test it golden` and review the diff.

use std::path::Path;
use taxii_edge::compile::{self, CompileOptions};
use taxii_edge::config::Config;
use taxii_edge::feed::{Feed, SpecVersion};

const SAMPLES: &[&str] = &[
    "threatconnect-page.json",
    "threatconnect.ndjson",
    "xsoar-iocs.json",
    "xsoar-export.ndjson",
    "native.ndjson",
    "stix-bundle.json",
    "medallion-default_data.json",
];

/// Compiles one sample into a one-collection feed offering 2.1 and 2.0 and
/// returns (2.1 objects, 2.0 objects), one JSON object per line, sorted.
fn compile_sample(sample: &str) -> (String, String) {
    let dir = tempfile::tempdir().unwrap();
    let input = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/inputs")
        .join(sample);
    let config = format!(
        r#"
[compile]
out = "feed.taxii"
[compile.identity]
name = "Golden SOC"
[[api_roots]]
name = "feeds"
title = "Feeds"
[[inputs]]
path = "{}"
[ttl]
default = 720
ipv4 = 168
md5 = -1
[[collections]]
id = "6a5b4c3d-2e1f-4a0b-9c8d-7e6f5a4b3c2d"
title = "Golden"
taxii_versions = ["2.1", "2.0"]
"#,
        input.display()
    );
    let cfg_path = dir.path().join("golden.toml");
    std::fs::write(&cfg_path, config).unwrap();
    compile::run(&CompileOptions {
        config: Config::load(&cfg_path).unwrap(),
        out: None,
        previous: None,
        strict: true,
        allow_shrink: false,
        progress: false,
        now: None,
        force: false,
    })
    .unwrap_or_else(|e| panic!("{sample}: {e}"));
    let feed = Feed::open(&dir.path().join("feed.taxii")).unwrap();
    let c = &feed.collections()[0];
    let (mut v21, mut v20) = (Vec::new(), Vec::new());
    for i in 0..c.len() {
        let line = String::from_utf8(c.objects_run(i, i + 1).to_vec()).unwrap();
        if c.entry(i).spec_version == SpecVersion::V21 {
            v21.push(line);
        }
        if let Some(b) = c.object20_bytes(i) {
            v20.push(String::from_utf8(b.to_vec()).unwrap());
        }
    }
    v21.sort();
    v20.sort();
    (v21.join("\n") + "\n", v20.join("\n") + "\n")
}

fn check(name: &str, got: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/golden")
        .join(name);
    if std::env::var_os("TAXII_EDGE_BLESS").is_some() {
        std::fs::write(&path, got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (create it with TAXII_EDGE_BLESS=1)",
            path.display()
        )
    });
    if want != got {
        let (w, g): (Vec<&str>, Vec<&str>) = (want.lines().collect(), got.lines().collect());
        let first = w
            .iter()
            .zip(&g)
            .position(|(a, b)| a != b)
            .unwrap_or(w.len().min(g.len()));
        panic!(
            "{name} differs from the golden file (first difference at object {first}):\n want: {}\n  got: {}\n({} vs {} objects; bless deliberate changes with TAXII_EDGE_BLESS=1)",
            w.get(first).unwrap_or(&"<none>"),
            g.get(first).unwrap_or(&"<none>"),
            w.len(),
            g.len()
        );
    }
}

#[test]
fn every_sample_compiles_to_its_golden_stix() {
    for sample in SAMPLES {
        let (v21, v20) = compile_sample(sample);
        assert!(v21.lines().count() > 3, "{sample}: {v21}");
        check(&format!("{sample}.stix21.ndjson"), &v21);
        check(&format!("{sample}.stix20.ndjson"), &v20);
    }
}
