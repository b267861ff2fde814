//! Interoperability with the OASIS reference tools, run as real processes
//! from the virtualenv `tools/test.sh` creates (`TAXII_EDGE_PYTHON`):
//! - every object of the demo feed (the example config over the bundled
//!   samples, passthrough STIX objects included) passes `stix2-validator`
//!   under the STIX version it is served as, and every pattern parses with
//!   `stix2-patterns`; so do the objects compiled from generated
//!   100,000-record exports of each input format: a spread sample of them
//!   covering every shape of object (see `Sample`; every type and id of
//!   them is checked here), all of them with `tools/validate-full`;
//! - the OASIS `taxii2-client` reads discovery, api roots and collections
//!   and pages through every readable collection with `as_pages`, getting
//!   exactly the compiled objects.

use crate::common::compile_support::{compile_into, interop_script, python};
use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use taxii_edge::config::Config;
use taxii_edge::feed::{Feed, SpecVersion};
use taxii_edge::record::Profile;
use taxii_edge::{server, synth, time};

fn run_py(args: &[&std::ffi::OsStr]) -> (bool, String) {
    let out = Command::new(python())
        .args(args)
        .output()
        .expect("run python");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Which objects go to `stix2-validator`. All 500,000 objects of the
/// generated exports take the validator about 13 minutes on 2 cores, most
/// of the test command's time. So the test command validates a sample of them, deterministic and spread over
/// the whole feed, and `tools/validate-full` (`TAXII_EDGE_VALIDATE_ALL=1`)
/// validates every object. The sample is, per collection and STIX version:
/// the first and last default page of objects, every `every`-th object
/// (a prime, so no periodic pattern of the generator can hide from it), and
/// the first object of each shape not sampled yet, where the shapes of an
/// object are its type with its set of properties, the form of its pattern
/// ([`pattern_form`]: one per indicator type), and each value of the
/// vocabulary properties (`indicator_types`, `labels`, the TLP markings in
/// `object_marking_refs`, ...): every kind of object the compiler builds
/// is validated at least once.
struct Sample {
    every: usize,
    edge: usize,
    shapes: HashSet<String>,
}

/// Properties whose values come from a small set: each value is a shape.
const VOCABULARY: &[&str] = &[
    "indicator_types",
    "labels",
    "pattern_type",
    "pattern_version",
    "identity_class",
    "relationship_type",
    "definition_type",
    "object_marking_refs",
    "revoked",
];

impl Sample {
    fn all() -> Sample {
        Sample {
            every: 1,
            edge: 0,
            shapes: HashSet::new(),
        }
    }

    /// The test command's sample (see [`Sample`]), or every object when
    /// `TAXII_EDGE_VALIDATE_ALL` is set.
    fn spread(page: usize) -> Sample {
        if std::env::var_os("TAXII_EDGE_VALIDATE_ALL").is_some_and(|v| v != "0") {
            return Sample::all();
        }
        Sample {
            every: 97,
            edge: page,
            shapes: HashSet::new(),
        }
    }

    /// Whether the object at `position` of a list of `len` (one
    /// collection's objects in one STIX version) goes to the validator.
    /// Records the object's shapes either way.
    fn take(
        &mut self,
        version: &str,
        position: usize,
        len: usize,
        obj: &serde_json::Value,
    ) -> bool {
        let mut new_shape = false;
        for shape in shapes(version, obj) {
            new_shape |= self.shapes.insert(shape);
        }
        self.every == 1
            || position < self.edge
            || position + self.edge >= len
            || position % self.every == 0
            || new_shape
    }
}

/// The shapes of `obj` (see [`Sample`]).
fn shapes(version: &str, obj: &serde_json::Value) -> Vec<String> {
    let ty = obj["type"].as_str().unwrap_or("");
    let mut keys: Vec<&str> = obj
        .as_object()
        .map(|m| m.keys().map(String::as_str).collect())
        .unwrap_or_default();
    keys.sort_unstable();
    let mut out = vec![format!("{version} {ty} {}", keys.join(","))];
    if let Some(p) = obj["pattern"].as_str() {
        out.push(format!("{version} pattern {}", pattern_form(p)));
    }
    for &k in VOCABULARY {
        match &obj[k] {
            serde_json::Value::Array(a) => {
                out.extend(a.iter().map(|v| format!("{version} {ty} {k}={v}")));
            }
            serde_json::Value::Null => {}
            v => out.push(format!("{version} {ty} {k}={v}")),
        }
    }
    out
}

/// A STIX pattern with the letters and digits of its comparison values
/// left out: `[ipv4-addr:value = '198.51.100.0/24']` is
/// `[ipv4-addr:value = '.../']` (the punctuation tells a CIDR from an
/// address, an escape from none), a number is `0`, and a quoted path step
/// (`file:hashes.'SHA-256'`) stays whole.
fn pattern_form(p: &str) -> String {
    let mut out = String::new();
    let mut chars = p.chars().peekable();
    let mut prev = ' ';
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() && !(prev.is_alphanumeric() || "_-.:'".contains(prev)) {
            // A number literal (not a digit of a name like ipv4-addr).
            while chars
                .peek()
                .is_some_and(|d| d.is_alphanumeric() || ".+-".contains(*d))
            {
                chars.next();
            }
            out.push('0');
            prev = '0';
            continue;
        }
        if c != '\'' {
            out.push(c);
            prev = c;
            continue;
        }
        let path_step = prev == '.';
        out.push('\'');
        while let Some(c) = chars.next() {
            match c {
                '\'' => break,
                '\\' => {
                    out.push(c);
                    if let Some(e) = chars.next().filter(|e| path_step || !e.is_alphanumeric()) {
                        out.push(e);
                    }
                }
                _ if path_step || !c.is_alphanumeric() => out.push(c),
                _ => {}
            }
        }
        out.push('\'');
        prev = '\'';
    }
    out
}

#[test]
fn pattern_forms_tell_indicator_types_apart() {
    let forms: Vec<String> = [
        "[ipv4-addr:value = '198.51.100.7']",
        "[ipv4-addr:value = '198.51.100.0/24']",
        "[ipv6-addr:value = '2001:db8::1']",
        "[autonomous-system:number = 64512]",
        "[file:hashes.'SHA-256' = 'ab12']",
        "[file:hashes.MD5 = 'cd34' OR file:hashes.'SHA-1' = 'ef56']",
        "[email-message:subject = 'Tom\\'s \\\\ invoice']",
    ]
    .iter()
    .map(|p| pattern_form(p))
    .collect();
    assert_eq!(
        forms,
        [
            "[ipv4-addr:value = '...']",
            "[ipv4-addr:value = '.../']",
            "[ipv6-addr:value = ':::']",
            "[autonomous-system:number = 0]",
            "[file:hashes.'SHA-256' = '']",
            "[file:hashes.MD5 = '' OR file:hashes.'SHA-1' = '']",
            "[email-message:subject = '\\' \\\\ ']",
        ]
    );
    // Same form, same shape: the second indicator adds nothing new.
    let mut sample = Sample {
        every: 97,
        edge: 1,
        shapes: HashSet::new(),
    };
    let ind = |p: &str| serde_json::json!({"type": "indicator", "pattern": p});
    assert!(sample.take("2.1", 5, 10, &ind("[ipv4-addr:value = '198.51.100.7']")));
    assert!(!sample.take("2.1", 6, 10, &ind("[ipv4-addr:value = '203.0.113.9']")));
    assert!(sample.take("2.1", 7, 10, &ind("[ipv4-addr:value = '203.0.113.0/24']")));
    // The edges and every 97th are taken whatever their shape.
    assert!(sample.take("2.1", 0, 200, &ind("[ipv4-addr:value = '1.1.1.1']")));
    assert!(sample.take("2.1", 199, 200, &ind("[ipv4-addr:value = '1.1.1.1']")));
    assert!(sample.take("2.1", 97, 200, &ind("[ipv4-addr:value = '1.1.1.1']")));
    assert!(!sample.take("2.1", 98, 200, &ind("[ipv4-addr:value = '1.1.1.1']")));
}

/// What [`dump_objects`] wrote: the two files, how many objects each
/// version has in the feed, and how many of them are in the files.
struct Dump {
    p21: PathBuf,
    p20: PathBuf,
    n21: usize,
    n20: usize,
    sampled21: usize,
    sampled20: usize,
}

/// Writes the stored objects of the feed as NDJSON, each under the STIX
/// version it is served as: the TAXII 2.1 serialization of every object
/// (passthrough STIX 2.0 objects are 2.0 objects there too), and the 2.0
/// serialization where present; of those, the ones `sample` takes. Every
/// object, sampled or not, must be a JSON object whose `id` is its `type`,
/// `--` and a UUID. `with_21(collection index)` says whether that
/// collection's TAXII 2.1 objects are written (a collection there only for
/// its 2.0 form can be skipped).
fn dump_objects(
    feed: &Feed,
    dir: &Path,
    with_21: impl Fn(usize) -> bool,
    sample: &mut Sample,
) -> Dump {
    let p21 = dir.join("objects21.ndjson");
    let p20 = dir.join("objects20.ndjson");
    let mut f21 = std::io::BufWriter::new(std::fs::File::create(&p21).unwrap());
    let mut f20 = std::io::BufWriter::new(std::fs::File::create(&p20).unwrap());
    let mut d = Dump {
        p21: p21.clone(),
        p20: p20.clone(),
        n21: 0,
        n20: 0,
        sampled21: 0,
        sampled20: 0,
    };
    for (ci, c) in feed.collections().iter().enumerate() {
        // Each collection's objects per version, in feed order.
        let (mut list21, mut list20) = (Vec::new(), Vec::new());
        for i in 0..c.len() {
            // A passthrough STIX 2.0 object is the same bytes over TAXII
            // 2.1 and 2.0: validated once, as STIX 2.0.
            if c.entry(i).spec_version == SpecVersion::V20 {
                list20.push(
                    c.object20_bytes(i)
                        .unwrap_or_else(|| c.objects_run(i, i + 1)),
                );
                continue;
            }
            if with_21(ci) {
                list21.push(c.objects_run(i, i + 1));
            }
            if let Some(b) = c.object20_bytes(i) {
                list20.push(b);
            }
        }
        for (version, list, file, n, sampled) in [
            ("2.1", list21, &mut f21, &mut d.n21, &mut d.sampled21),
            ("2.0", list20, &mut f20, &mut d.n20, &mut d.sampled20),
        ] {
            let len = list.len();
            for (position, b) in list.into_iter().enumerate() {
                let obj: serde_json::Value = serde_json::from_slice(&b).unwrap_or_else(|e| {
                    panic!(
                        "{version} object is not JSON ({e}): {}",
                        String::from_utf8_lossy(&b)
                    )
                });
                check_type_and_id(&obj);
                *n += 1;
                if sample.take(version, position, len, &obj) {
                    file.write_all(&b).unwrap();
                    file.write_all(b"\n").unwrap();
                    *sampled += 1;
                }
            }
        }
    }
    f21.flush().unwrap();
    f20.flush().unwrap();
    d
}

/// `obj` has a `type` and an `id` that is that type, `--` and a UUID.
fn check_type_and_id(obj: &serde_json::Value) {
    let ty = obj["type"].as_str().filter(|t| !t.is_empty());
    let id = obj["id"].as_str();
    let ok = match (ty, id) {
        (Some(ty), Some(id)) => id
            .strip_prefix(ty)
            .and_then(|rest| rest.strip_prefix("--"))
            .is_some_and(|u| uuid::Uuid::parse_str(u).is_ok()),
        _ => false,
    };
    assert!(ok, "type and id do not agree: {obj}");
}

fn validate(path: &Path, version: &str) {
    let (ok, text) = run_py(&[
        interop_script("validate_stix.py").as_os_str(),
        "--version".as_ref(),
        version.as_ref(),
        path.as_os_str(),
    ]);
    assert!(
        ok,
        "stix2-validator --version {version} refused objects:\n{text}"
    );
    eprintln!("stix2-validator {version}: {text}");
}

fn sample_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    taxii_edge::cli::demo::write_samples(dir.path()).unwrap();
    dir
}

#[test]
fn sample_objects_pass_stix2_validator() {
    let dir = sample_dir();
    let feed_path = compile_into(&dir.path().join("example.toml"), dir.path());
    let feed = Feed::open(&feed_path).unwrap();
    let d = dump_objects(&feed, dir.path(), |_| true, &mut Sample::all());
    let (n21, n20) = (d.n21, d.n20);
    assert!(n21 > 50 && n20 > 20, "{n21} / {n20} objects");
    assert_eq!((d.sampled21, d.sampled20), (n21, n20));
    validate(&d.p21, "2.1");
    validate(&d.p20, "2.0");
}

/// Records per input format (default 100,000).
fn generated_records() -> u64 {
    std::env::var("TAXII_EDGE_INTEROP_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
}

#[test]
fn generated_exports_pass_stix2_validator() {
    let n = generated_records();
    let dir = tempfile::tempdir().unwrap();
    let mut inputs = String::new();
    for (i, p) in [
        Profile::Threatconnect,
        Profile::Xsoar,
        Profile::Native,
        Profile::Stix,
    ]
    .into_iter()
    .enumerate()
    {
        let path = dir.path().join(format!("{}.ndjson", p.as_str()));
        let mut w = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        let mut items = (0..n).map(|i| (i, 0u32));
        synth::write_export(
            p,
            7 + i as u64,
            &mut items,
            synth::Container::Ndjson,
            &mut w,
        )
        .unwrap();
        w.flush().unwrap();
        inputs.push_str(&format!(
            "[[inputs]]\npath = \"{}\"\nformat = \"{}\"\n",
            path.file_name().unwrap().to_str().unwrap(),
            p.as_str()
        ));
    }
    // STIX 2.1 over a 100,000-record export of each format, STIX 2.0 over
    // one: "All" is served in 2.1, "Native" (the native export) in 2.0 too.
    let config = format!(
        "[[api_roots]]\nname = \"feeds\"\ntitle = \"Feeds\"\n{inputs}\n[ttl]\ndefault = 720\n\
         [[collections]]\nid = \"0f0e0d0c-0b0a-4908-8706-050403020100\"\ntitle = \"All\"\n\
         [[collections]]\nid = \"1f0e0d0c-0b0a-4908-8706-050403020100\"\ntitle = \"Native\"\n\
         query = 'profile = \"native\"'\ntaxii_versions = [\"2.1\", \"2.0\"]\n"
    );
    std::fs::write(dir.path().join("gen.toml"), config).unwrap();
    let feed_path = compile_into(&dir.path().join("gen.toml"), dir.path());
    let feed = Feed::open(&feed_path).unwrap();
    let mut sample = Sample::spread(feed.meta().page_size as usize);
    let d = dump_objects(&feed, dir.path(), |ci| ci == 0, &mut sample);
    let (n21, n20) = (d.n21, d.n20);
    // Generated values of different formats may coincide (the same
    // indicator from two sources is one object), so allow a few percent.
    assert!(
        n21 as u64 >= n * 4 * 95 / 100,
        "{n21} objects from {} records",
        n * 4
    );
    assert!(
        n20 as u64 >= n * 95 / 100,
        "{n20} 2.0 objects from {n} native records"
    );
    eprintln!(
        "stix2-validator sample: {} of {n21} STIX 2.1 objects, {} of {n20} STIX 2.0 \
         ({} shapes); tools/validate-full validates them all",
        d.sampled21,
        d.sampled20,
        sample.shapes.len()
    );
    validate(&d.p21, "2.1");
    validate(&d.p20, "2.0");
}

/// The expectations file of `taxii21_client.py`: per collection readable by
/// the user, the latest version of each object in date_added order.
fn expectations(feed: &Feed, readable: &[&str], max_page: u32) -> serde_json::Value {
    let mut cols = serde_json::Map::new();
    for (meta, c) in feed.meta().collections.iter().zip(feed.collections()) {
        if !readable.contains(&meta.alias.as_deref().unwrap_or("")) {
            continue;
        }
        let (mut ids, mut manifest, mut added) = (vec![], vec![], vec![]);
        for i in 0..c.len() {
            let e = c.entry(i);
            if !e.last {
                continue;
            }
            let obj: serde_json::Value = serde_json::from_slice(&c.objects_run(i, i + 1)).unwrap();
            let man: serde_json::Value = serde_json::from_slice(&c.manifest_run(i, i + 1)).unwrap();
            ids.push(obj["id"].clone());
            manifest.push(serde_json::json!([man["id"], man["version"]]));
            added.push(serde_json::Value::String(time::fmt_us(e.date_added_us)));
        }
        cols.insert(
            meta.id.clone(),
            serde_json::json!({"ids": ids, "manifest": manifest, "date_added": added}),
        );
    }
    serde_json::json!({
        "title": feed.meta().title,
        "max_page": max_page,
        "sizes": [1, 7, 100, max_page + 500],
        "collections": cols,
    })
}

#[test]
fn taxii2_client_pages_through_every_collection() {
    let dir = sample_dir();
    // A generated native export makes the collections span many pages.
    let gen = dir.path().join("inputs/generated.ndjson");
    let mut w = std::io::BufWriter::new(std::fs::File::create(&gen).unwrap());
    let mut items = (0..1_500u64).map(|i| (i, 0u32));
    synth::write_export(
        Profile::Native,
        3,
        &mut items,
        synth::Container::Ndjson,
        &mut w,
    )
    .unwrap();
    w.flush().unwrap();
    let text = std::fs::read_to_string(dir.path().join("example.toml")).unwrap()
        + "\n[[inputs]]\npath = \"inputs/generated.ndjson\"\n";
    std::fs::write(dir.path().join("example.toml"), text).unwrap();
    let feed_path = compile_into(&dir.path().join("example.toml"), dir.path());
    let feed = Feed::open(&feed_path).unwrap();

    let mut config = Config::load(&dir.path().join("example.toml")).unwrap();
    config.server.max_page_size = 1000;
    let max_page = config.server.max_page_size;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let running = rt
        .block_on(server::start(server::ServeOptions {
            config,
            feed_path: feed_path.clone(),
            listen: Some("127.0.0.1:0".into()),
        }))
        .expect("server starts");
    let url = format!("http://{}/taxii2/", running.local_addr);

    for (user, readable) in [
        (
            "demo",
            &["all", "network-high", "stix-passthrough", "public-hashes"][..],
        ),
        (
            "analyst",
            &["all", "apt28", "stix-passthrough", "public-hashes"][..],
        ),
    ] {
        let expect = dir.path().join(format!("expect-{user}.json"));
        std::fs::write(
            &expect,
            serde_json::to_vec(&expectations(&feed, readable, max_page)).unwrap(),
        )
        .unwrap();
        let (ok, text) = run_py(&[
            interop_script("taxii21_client.py").as_os_str(),
            "--url".as_ref(),
            url.as_ref(),
            "--user".as_ref(),
            user.as_ref(),
            "--password".as_ref(),
            user.as_ref(),
            "--expect".as_ref(),
            expect.as_os_str(),
        ]);
        assert!(ok, "taxii2-client as {user}:\n{text}");
        eprintln!("taxii2-client as {user}: {text}");
    }
    rt.block_on(running.shutdown());
}
