//! The Debian package and its systemd units (docs/decisions.md#d65).
//!
//! - `deploy/debian/config.toml` (the package's /etc/taxii-edge/config.toml)
//!   is `testdata/example.toml` with the edits in [`PACKAGE_EDITS`], and
//!   `check-config` accepts it.
//! - A compile refused by the shrink guard, run through the exact command
//!   line of taxii-edge-compile.service, exits 2, is a failed unit by the
//!   unit's own exit-status rules, and leaves the live feed byte-identical;
//!   the export unit only follows a successful compile.
//! - The package, built with dpkg-deb from `[package.metadata.deb]` in
//!   Cargo.toml around the test build's binary, installs with `dpkg -i`
//!   (as root; otherwise it is extracted and inspected), and the installed
//!   binary, config, units (`systemd-analyze verify`), man pages and
//!   completions work; as root the units' command lines run as the
//!   package's system user: compile, serve with a reload by the unit's
//!   `ExecReload`, export, and a refused compile. `dpkg --purge` at the end.
//!
//! `TAXII_EDGE_BLESS=1 cargo test --test it package` rewrites
//! deploy/debian/config.toml after a change to the example.

use crate::common::compile_support::write_native_export;
use crate::common::server_support::{free_port, get};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_taxii-edge");
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Paths of the package layout that unit command lines name.
const BIN_PATH: &str = "/usr/bin/taxii-edge";
const CONFIG_PATH: &str = "/etc/taxii-edge/config.toml";
const STATE_DIR: &str = "/var/lib/taxii-edge";
const UNITS: [&str; 4] = [
    "taxii-edge.service",
    "taxii-edge-compile.service",
    "taxii-edge-compile.timer",
    "taxii-edge-export.service",
];

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

// ---------------------------------------------------------------------------
// The packaged config

/// How the package's config differs from the documented example: each
/// `(old, new)` replaces text that must occur exactly once in
/// testdata/example.toml.
const PACKAGE_EDITS: &[(&str, &str)] = &[
    (
        "# taxii-edge example configuration.
#
# One file drives both halves: `taxii-edge compile --config FILE` reads the
# inputs and publishes the feed file; `taxii-edge serve --config FILE` serves
# it. Relative paths are relative to this file. Unknown keys are errors, so a
# typo never silently falls back to a default. `taxii-edge demo` compiles and
# serves exactly this file over the bundled samples in testdata/inputs/.
",
        "# taxii-edge configuration of the Debian package's systemd units: the
# documented example with the package's paths and its example users
# disabled (generated from testdata/example.toml by tests/it/package.rs).
#
# One file drives both halves: taxii-edge-compile.service (started by
# taxii-edge-compile.timer) reads the exports in /var/lib/taxii-edge/inputs/
# and publishes /var/lib/taxii-edge/feed.taxii; taxii-edge.service serves
# it. Relative paths are relative to this file. Unknown keys are errors, so a
# typo never silently falls back to a default. After a change, run
# `taxii-edge check-config /etc/taxii-edge/config.toml`; then
# `systemctl reload taxii-edge` re-reads [[users]], any other change needs
# `systemctl restart taxii-edge`.
",
    ),
    ("title = \"taxii-edge demo\"", "title = \"taxii-edge\""),
    (
        "description = \"Sample indicators compiled from ThreatConnect, Cortex XSOAR, native and STIX exports\"",
        "description = \"Threat-intelligence indicators\"",
    ),
    ("# realm = \"taxii-edge demo\"", "# realm = \"taxii-edge\""),
    (
        "out = \"demo.taxii\"",
        "out = \"/var/lib/taxii-edge/feed.taxii\"",
    ),
    (
        "[[inputs]]
path = \"inputs/threatconnect-*.json\"
format = \"threatconnect\"

[[inputs]]
path = \"inputs/threatconnect.ndjson\"

[[inputs]]
path = \"inputs/xsoar-*.json\"

[[inputs]]
path = \"inputs/xsoar-export.ndjson\"
format = \"xsoar\"

[[inputs]]
path = \"inputs/native.ndjson\"

[[inputs]]
path = \"inputs/stix-bundle.json\"

[[inputs]]
path = \"inputs/medallion-default_data.json\"
",
        "# Every file in the package's input directory; a format that sniffing
# cannot tell needs an entry of its own with `format`, e.g.
# path = \"/var/lib/taxii-edge/inputs/tc-*.json\" with format = \"threatconnect\".
[[inputs]]
path = \"/var/lib/taxii-edge/inputs/*\"
",
    ),
    (
        "name = \"demo\"
# password: demo
",
        "name = \"demo\"
# The example users are disabled: replace them with your own (password_hash
# from `taxii-edge hash-password`) and the collections' readers with them.
state = \"disabled\"
# password: demo
",
    ),
    (
        "name = \"analyst\"
# password: analyst
",
        "name = \"analyst\"
state = \"disabled\"
# password: analyst
",
    ),
];

/// testdata/example.toml with [`PACKAGE_EDITS`] applied.
fn packaged_config() -> String {
    let mut text = std::fs::read_to_string(repo().join("testdata/example.toml")).unwrap();
    for (old, new) in PACKAGE_EDITS {
        assert_eq!(
            text.matches(old).count(),
            1,
            "testdata/example.toml changed where the packaged config edits it: \
             update PACKAGE_EDITS in tests/it/package.rs for\n{old}"
        );
        text = text.replacen(old, new, 1);
    }
    text
}

#[test]
fn packaged_config_is_the_example_with_the_package_layout() {
    let want = packaged_config();
    let path = repo().join("deploy/debian/config.toml");
    if std::env::var_os("TAXII_EDGE_BLESS").is_some() {
        std::fs::write(&path, &want).unwrap();
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "deploy/debian/config.toml is not testdata/example.toml with the package's edits: \
         run `TAXII_EDGE_BLESS=1 cargo test --test it package` and review the diff"
    );
    let out = run(Command::new(BIN).arg("check-config").arg(&path));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(": ok (1 api roots, 5 collections, 1 inputs, 2 users"),
        "{stdout}"
    );

    // The units hold no capability, so the listener must not need one.
    let cfg = taxii_edge::config::Config::from_toml(&want, Path::new(CONFIG_PATH)).unwrap();
    let port: u16 = cfg
        .server
        .listen
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        port >= 1024,
        "server.listen {} needs CAP_NET_BIND_SERVICE",
        cfg.server.listen
    );
    let serve = Unit::read(&repo().join("deploy/systemd/taxii-edge.service"));
    assert_eq!(serve.values("Service", "CapabilityBoundingSet"), [""]);
}

#[test]
fn check_config_names_every_bad_key_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    let bad = packaged_config()
        .replacen("default_page_size = 100", "default_page_size = 0", 1)
        .replacen("shrink_guard = 0.5", "shrink_guard = 7", 1);
    std::fs::write(&path, bad).unwrap();
    let out = run(Command::new(BIN).arg("check-config").arg(&path));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("server.default_page_size") && err.contains("compile.shrink_guard"),
        "{err}"
    );
    // What only a compile would find out is a note, not an error.
    let ok = dir.path().join("ok.toml");
    std::fs::write(&ok, packaged_config().replace(STATE_DIR, "/nonexistent/te")).unwrap();
    let out = run(Command::new(BIN).arg("check-config").arg(&ok));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("inputs[0].path") && err.contains("compile.out"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------
// Unit files

/// A systemd unit file: `(section, key, value)` in order; continuation
/// lines joined, comments dropped.
struct Unit {
    name: String,
    entries: Vec<(String, String, String)>,
}

impl Unit {
    fn read(path: &Path) -> Unit {
        let text =
            std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut entries = Vec::new();
        let mut section = String::new();
        let mut pending = String::new();
        for line in text.lines() {
            let line = line.trim();
            if pending.is_empty() && (line.starts_with('#') || line.starts_with(';')) {
                continue;
            }
            if let Some(cont) = line.strip_suffix('\\') {
                pending.push_str(cont);
                pending.push(' ');
                continue;
            }
            let full = std::mem::take(&mut pending) + line;
            if full.is_empty() {
                continue;
            }
            if full.starts_with('[') {
                section = full.trim_matches(['[', ']']).to_string();
            } else if let Some((k, v)) = full.split_once('=') {
                entries.push((section.clone(), k.trim().into(), v.trim().into()));
            }
        }
        Unit {
            name: path.file_name().unwrap().to_string_lossy().into_owned(),
            entries,
        }
    }

    fn values(&self, section: &str, key: &str) -> Vec<&str> {
        self.entries
            .iter()
            .filter(|(s, k, _)| s == section && k == key)
            .map(|(_, _, v)| v.as_str())
            .collect()
    }

    /// The one `ExecStart` (oneshot units may have several: ours have one),
    /// as its systemd prefix characters and its words.
    fn exec_start(&self) -> (String, Vec<String>) {
        let v = self.values("Service", "ExecStart");
        assert_eq!(v.len(), 1, "{}: one ExecStart expected", self.name);
        let line = v[0].trim_start_matches(|c| "-@:+!".contains(c));
        let prefix = v[0][..v[0].len() - line.len()].to_string();
        (prefix, words(&self.name, line))
    }

    /// Whether systemd counts `code` as success for this service: exit 0,
    /// a `SuccessExitStatus=` code, or an `ExecStart` prefixed with `-`.
    fn succeeds_with(&self, code: i32) -> bool {
        let (prefix, _) = self.exec_start();
        let listed = self
            .values("Service", "SuccessExitStatus")
            .iter()
            .flat_map(|v| v.split_whitespace())
            .any(|c| c == code.to_string());
        code == 0 || listed || prefix.contains('-')
    }
}

/// Splits a command line into words; quoting, `$VARIABLES` and `%`
/// specifiers are refused, so a line this test cannot read as systemd does
/// fails instead of drifting.
fn words(unit: &str, line: &str) -> Vec<String> {
    assert!(
        !line.contains(['"', '\'', '%', '\\']) && !line.contains('$'),
        "{unit}: the test reads plain command lines only: {line}"
    );
    line.split_whitespace().map(String::from).collect()
}

/// A unit's `ExecStart` with the package paths replaced (`subst`); any
/// other absolute path fails the test.
fn command_line(unit: &Unit, subst: &[(&str, &Path)]) -> Vec<String> {
    let (_, words) = unit.exec_start();
    words
        .into_iter()
        .map(|w| {
            for (from, to) in subst {
                if w == *from {
                    return to.display().to_string();
                }
                if let Some(rest) = w.strip_prefix(&format!("{from}/")) {
                    return to.join(rest).display().to_string();
                }
            }
            assert!(
                !w.starts_with('/'),
                "{}: no substitute for {w}: extend the test's paths",
                unit.name
            );
            w
        })
        .collect()
}

fn command(argv: &[String]) -> Command {
    let mut c = Command::new(&argv[0]);
    c.args(&argv[1..]);
    c
}

fn run(c: &mut Command) -> Output {
    c.stdin(Stdio::null()).output().expect("spawn")
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The shrink scenario on a feed directory: compile 1,000 native records,
/// then 100 (a 90% shrink) through `compile` (the unit's command line).
/// Asserts the first publishes, the second exits 2, is a failed unit and
/// leaves the live feed byte-identical.
fn shrink_is_refused(unit: &Unit, inputs: &Path, feed: &Path, compile: &dyn Fn() -> Output) {
    write_native_export(&inputs.join("export.ndjson"), 7, (0..1000).map(|i| (i, 0)));
    let first = compile();
    assert_eq!(
        first.status.code(),
        Some(0),
        "first compile: {}",
        text(&first)
    );
    assert!(unit.succeeds_with(0));
    let before = std::fs::read(feed).unwrap();

    write_native_export(&inputs.join("export.ndjson"), 7, (0..100).map(|i| (i, 0)));
    let refused = compile();
    assert_eq!(
        refused.status.code(),
        Some(2),
        "a 90% shrink must be refused with exit 2: {}",
        text(&refused)
    );
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("shrink guard"),
        "{}",
        text(&refused)
    );
    assert!(
        !unit.succeeds_with(2),
        "{}: exit 2 (a refused publish) must fail the unit",
        unit.name
    );
    assert!(
        std::fs::read(feed).unwrap() == before,
        "the refused compile changed the live feed"
    );
    let leftovers: Vec<_> = std::fs::read_dir(feed.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_shrink_refused_through_the_compile_unit_fails_the_unit_and_keeps_the_feed() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir_all(state.join("inputs")).unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        packaged_config().replace(STATE_DIR, &state.display().to_string()),
    )
    .unwrap();
    let unit = Unit::read(&repo().join("deploy/systemd/taxii-edge-compile.service"));
    assert_eq!(unit.values("Service", "Type"), ["oneshot"]);
    let argv = command_line(
        &unit,
        &[
            (BIN_PATH, Path::new(BIN)),
            (CONFIG_PATH, &config),
            (STATE_DIR, &state),
        ],
    );
    shrink_is_refused(
        &unit,
        &state.join("inputs"),
        &state.join("feed.taxii"),
        &|| run(&mut command(&argv)),
    );

    // The export follows only a successful compile: it requires the
    // compile and is ordered after it (a failed dependency cancels it), and
    // enabling it hooks it to the compile.
    let export = Unit::read(&repo().join("deploy/systemd/taxii-edge-export.service"));
    assert_eq!(
        export.values("Unit", "Requires"),
        ["taxii-edge-compile.service"]
    );
    assert_eq!(
        export.values("Unit", "After"),
        ["taxii-edge-compile.service"]
    );
    assert_eq!(
        export.values("Install", "WantedBy"),
        ["taxii-edge-compile.service"]
    );
    assert!(!export.succeeds_with(1));
    let timer = Unit::read(&repo().join("deploy/systemd/taxii-edge-compile.timer"));
    assert_eq!(timer.values("Timer", "Persistent"), ["true"]);
}

// ---------------------------------------------------------------------------
// The package

/// `[package.metadata.deb]` of Cargo.toml.
struct DebMeta {
    name: String,
    version: String,
    description: String,
    license: String,
    meta: toml::Table,
}

impl DebMeta {
    fn read() -> DebMeta {
        let manifest: toml::Table = std::fs::read_to_string(repo().join("Cargo.toml"))
            .unwrap()
            .parse()
            .unwrap();
        let package = manifest["package"].as_table().unwrap();
        let s = |k: &str| package[k].as_str().unwrap().to_string();
        DebMeta {
            name: s("name"),
            version: format!("{}-1", s("version")),
            description: s("description"),
            license: s("license"),
            meta: package["metadata"]["deb"].as_table().unwrap().clone(),
        }
    }

    fn str(&self, key: &str) -> &str {
        self.meta[key]
            .as_str()
            .unwrap_or_else(|| panic!("metadata.deb.{key}"))
    }

    /// `(source, destination in the package, mode)`, globs expanded;
    /// sources under `target/release/` are taken from `release`.
    fn assets(&self, release: &Path) -> Vec<(PathBuf, String, u32)> {
        let mut out = Vec::new();
        for a in self.meta["assets"].as_array().unwrap() {
            let a = a.as_array().unwrap();
            let (src, dest, mode) = (
                a[0].as_str().unwrap(),
                a[1].as_str().unwrap(),
                u32::from_str_radix(a[2].as_str().unwrap(), 8).unwrap(),
            );
            let src = match src.strip_prefix("target/release/") {
                Some(rest) => release.join(rest),
                None => repo().join(src),
            };
            let files: Vec<PathBuf> = glob::glob(&src.display().to_string())
                .unwrap()
                .map(Result::unwrap)
                .collect();
            assert!(!files.is_empty(), "asset {} matches no file", src.display());
            for f in files {
                let dest = if dest.ends_with('/') {
                    format!("{dest}{}", f.file_name().unwrap().to_string_lossy())
                } else {
                    dest.to_string()
                };
                out.push((f, dest, mode));
            }
        }
        out
    }
}

/// Builds the package the way cargo-deb does from the same metadata, around
/// the test build's binary (stripped, as cargo-deb strips), with dpkg-deb:
/// installing cargo-deb would cost the test command about two minutes
/// (docs/decisions.md#d65). Returns the .deb.
fn build_deb(work: &Path) -> PathBuf {
    let meta = DebMeta::read();
    let release = work.join("release");
    std::fs::create_dir_all(&release).unwrap();
    let bin = release.join("taxii-edge");
    let st = Command::new("strip").arg("-o").arg(&bin).arg(BIN).status();
    if !matches!(st, Ok(s) if s.success()) {
        std::fs::copy(BIN, &bin).unwrap();
    }
    let gen = run(Command::new(repo().join("deploy/debian/gen-assets"))
        .arg(&bin)
        .arg(release.join("package")));
    assert!(gen.status.success(), "gen-assets: {}", text(&gen));

    let root = work.join("root");
    let mut installed_bytes = 0u64;
    for (src, dest, mode) in meta.assets(&release) {
        let to = root.join(&dest);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&src, &to).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(mode)).unwrap();
        installed_bytes += std::fs::metadata(&to).unwrap().len();
    }
    let copyright = format!(
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\nUpstream-Name: {}\nCopyright: {}\nLicense: {}\n",
        meta.name,
        meta.str("copyright"),
        meta.license
    );
    let doc = root.join(format!("usr/share/doc/{}", meta.name));
    std::fs::create_dir_all(&doc).unwrap();
    std::fs::write(doc.join("copyright"), &copyright).unwrap();

    let debian = root.join("DEBIAN");
    std::fs::create_dir_all(&debian).unwrap();
    let scripts = repo().join(meta.str("maintainer-scripts"));
    for s in ["preinst", "postinst", "prerm", "postrm"] {
        if scripts.join(s).exists() {
            std::fs::copy(scripts.join(s), debian.join(s)).unwrap();
        }
    }
    let conffiles: Vec<&str> = meta.meta["conf-files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    std::fs::write(debian.join("conffiles"), conffiles.join("\n") + "\n").unwrap();
    let arch = run(Command::new("dpkg").arg("--print-architecture"));
    let arch = String::from_utf8_lossy(&arch.stdout).trim().to_string();
    let depends = meta
        .str("depends")
        .split(',')
        .map(str::trim)
        .flat_map(|d| {
            if d == "$auto" {
                shlib_depends(&bin)
            } else {
                vec![d.to_string()]
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    let extended: String = meta
        .str("extended-description")
        .lines()
        .map(|l| {
            if l.trim().is_empty() {
                " .\n".to_string()
            } else {
                format!(" {l}\n")
            }
        })
        .collect();
    let control = format!(
        "Package: {}\nVersion: {}\nArchitecture: {arch}\nMaintainer: {}\nInstalled-Size: {}\nDepends: {depends}\nSection: {}\nPriority: {}\nDescription: {}\n{extended}",
        meta.name,
        meta.version,
        meta.str("maintainer"),
        installed_bytes.div_ceil(1024),
        meta.str("section"),
        meta.str("priority"),
        meta.description,
    );
    std::fs::write(debian.join("control"), control).unwrap();
    let deb = work.join(format!("{}_{}_{arch}.deb", meta.name, meta.version));
    let out = run(Command::new("dpkg-deb")
        .args(["--root-owner-group", "-Zgzip", "-z1", "--build"])
        .arg(&root)
        .arg(&deb));
    assert!(out.status.success(), "dpkg-deb --build: {}", text(&out));
    deb
}

/// `$auto`: the shared-library dependencies, as cargo-deb asks
/// dpkg-shlibdeps (without dpkg-dev: libc6, what a Rust binary needs).
fn shlib_depends(bin: &Path) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("debian")).unwrap();
    std::fs::write(dir.path().join("debian/control"), "").unwrap();
    match Command::new("dpkg-shlibdeps")
        .args(["-xlibgcc", "-O"])
        .arg(bin)
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .output()
    {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("shlibs:Depends="))
            .unwrap_or("")
            .split(',')
            .map(|d| d.trim().to_string())
            .filter(|d| !d.is_empty() && !d.starts_with("libgcc"))
            .collect(),
        _ => {
            println!("PACKAGE | dpkg-shlibdeps unavailable: Depends names libc6 only");
            vec!["libc6".into()]
        }
    }
}

fn is_root() -> bool {
    run(Command::new("id").arg("-u")).stdout == b"0\n"
}

fn have(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {cmd}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Purges the package (and the system user, when the test created it)
/// however the test ends.
struct Installed {
    user_was_there: bool,
}

impl Drop for Installed {
    fn drop(&mut self) {
        let out = run(Command::new("dpkg").args(["--purge", "taxii-edge"]));
        if !out.status.success() {
            eprintln!("dpkg --purge taxii-edge failed: {}", text(&out));
        }
        if !self.user_was_there {
            let _ = run(Command::new("userdel").arg("taxii-edge"));
            let _ = run(Command::new("groupdel").arg("taxii-edge"));
        }
    }
}

#[test]
fn the_package_installs_and_its_units_run() {
    let t0 = std::time::Instant::now();
    let root = is_root();
    if !have("dpkg-deb") {
        println!("PACKAGE | skipped: dpkg-deb is missing (not a Debian system)");
        return;
    }
    let installed_already =
        run(Command::new("dpkg-query").args(["-W", "-f=${Status}", "taxii-edge"])).stdout
            == b"install ok installed";
    let install = root && !installed_already;
    if !install {
        println!(
            "PACKAGE | not installing ({}): extracting the package instead",
            if root {
                "taxii-edge is installed on this machine; `dpkg --purge taxii-edge` lets the test install"
            } else {
                "not root"
            }
        );
    }
    let work = tempfile::tempdir().unwrap();
    let deb = build_deb(work.path());
    let built = t0.elapsed();

    // The package's files and metadata.
    let listing = run(Command::new("dpkg-deb").arg("-c").arg(&deb));
    let listing = String::from_utf8_lossy(&listing.stdout).into_owned();
    let mode_of = |path: &str| {
        listing
            .lines()
            .find(|l| l.ends_with(&format!(" .{path}")))
            .unwrap_or_else(|| panic!("{path} not in the package:\n{listing}"))
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(mode_of(BIN_PATH), "-rwxr-xr-x root/root");
    // Its group is set by postinst, once the system user exists.
    assert_eq!(mode_of(CONFIG_PATH), "-rw-r----- root/root");
    for unit in UNITS {
        assert_eq!(
            mode_of(&format!("/usr/lib/systemd/system/{unit}")),
            "-rw-r--r-- root/root"
        );
    }
    for page in [
        "taxii-edge",
        "taxii-edge-compile",
        "taxii-edge-serve",
        "taxii-edge-check-config",
    ] {
        mode_of(&format!("/usr/share/man/man1/{page}.1.gz"));
    }
    mode_of("/usr/share/bash-completion/completions/taxii-edge");
    mode_of("/usr/share/zsh/vendor-completions/_taxii-edge");
    mode_of("/usr/share/fish/vendor_completions.d/taxii-edge.fish");
    let conffiles = run(Command::new("dpkg-deb")
        .arg("-I")
        .arg(&deb)
        .arg("conffiles"));
    assert_eq!(
        String::from_utf8_lossy(&conffiles.stdout).trim(),
        CONFIG_PATH
    );

    let (prefix, _guard) = if install {
        let user_was_there = run(Command::new("getent").args(["passwd", "taxii-edge"]))
            .status
            .success();
        let out = run(Command::new("dpkg").arg("-i").arg(&deb));
        let guard = Installed { user_was_there };
        assert!(out.status.success(), "dpkg -i: {}", text(&out));
        (PathBuf::from("/"), Some(guard))
    } else {
        let dir = work.path().join("extracted");
        let out = run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&dir));
        assert!(out.status.success(), "dpkg-deb -x: {}", text(&out));
        (dir, None)
    };
    let at = |p: &str| prefix.join(p.trim_start_matches('/'));

    // The installed binary and config.
    let out = run(Command::new(at(BIN_PATH)).arg("--version"));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("taxii-edge {VERSION}")
    );
    let out = run(Command::new(at(BIN_PATH))
        .arg("check-config")
        .arg(at(CONFIG_PATH)));
    assert_eq!(out.status.code(), Some(0), "check-config: {}", text(&out));
    let out = run(Command::new("bash").arg("-c").arg(format!(
        "source {}; complete -p taxii-edge",
        at("/usr/share/bash-completion/completions/taxii-edge").display()
    )));
    assert!(out.status.success(), "bash completion: {}", text(&out));

    // The units.
    let units: Vec<PathBuf> = UNITS
        .iter()
        .map(|u| at(&format!("/usr/lib/systemd/system/{u}")))
        .collect();
    if have("systemd-analyze") {
        let mut c = Command::new("systemd-analyze");
        c.arg("verify");
        let units = if install {
            // Documentation=man:… pages must exist, ExecStart binaries too.
            c.arg("--man=yes");
            units.clone()
        } else {
            // Copies naming the extracted binary, which must exist.
            c.arg("--man=no");
            let dir = work.path().join("units");
            std::fs::create_dir_all(&dir).unwrap();
            units
                .iter()
                .map(|u| {
                    let to = dir.join(u.file_name().unwrap());
                    let text = std::fs::read_to_string(u).unwrap();
                    let bin = at(BIN_PATH).display().to_string();
                    std::fs::write(&to, text.replace(BIN_PATH, &bin)).unwrap();
                    to
                })
                .collect()
        };
        let out = run(c.args(&units));
        let report = text(&out);
        assert!(out.status.success(), "systemd-analyze verify: {report}");
        let ours: Vec<String> = String::from_utf8_lossy(&out.stderr)
            .lines()
            .filter(|l| l.contains("taxii-edge"))
            .map(String::from)
            .collect();
        assert!(ours.is_empty(), "systemd-analyze verify warns: {report}");
    } else {
        println!("PACKAGE | systemd-analyze missing (tools/need-apt systemd-analyze:systemd): units not verified");
    }
    if !install {
        println!(
            "PACKAGE | extracted and inspected in {:.1?} (built in {built:.1?})",
            t0.elapsed()
        );
        return;
    }

    // The system user and the layout postinst made.
    let stat = |p: &str| {
        let o = run(Command::new("stat").args(["-c", "%U:%G %a"]).arg(p));
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    assert_eq!(stat(CONFIG_PATH), "root:taxii-edge 640");
    assert_eq!(stat(STATE_DIR), "taxii-edge:taxii-edge 750");
    assert_eq!(
        stat("/var/lib/taxii-edge/inputs"),
        "taxii-edge:taxii-edge 750"
    );
    let out = run(Command::new("man").args(["-w", "taxii-edge-check-config"]));
    assert!(out.status.success(), "man -w: {}", text(&out));

    // The units' command lines, verbatim, as the units' user.
    let unit = |name: &str| Unit::read(&at(&format!("/usr/lib/systemd/system/{name}")));
    let as_user = |u: &Unit, argv: &[String]| {
        let user = u.values("Service", "User");
        assert_eq!(user, ["taxii-edge"], "{}", u.name);
        let umask = u.values("Service", "UMask");
        assert_eq!(umask.len(), 1, "{}: UMask", u.name);
        // sh sets the unit's umask and setpriv its user, each exec'ing the
        // next (as systemd does): the pid is the service's main pid.
        let mut c = Command::new("sh");
        c.args(["-c", &format!("umask {} && exec \"$@\"", umask[0]), "sh"])
            .args([
                "setpriv",
                "--reuid=taxii-edge",
                "--regid=taxii-edge",
                "--init-groups",
            ])
            .args(argv);
        c
    };
    let compile = unit("taxii-edge-compile.service");
    let (_, compile_argv) = compile.exec_start();
    let inputs = Path::new(STATE_DIR).join("inputs");
    let feed = Path::new(STATE_DIR).join("feed.taxii");
    let export_file = inputs.join("export.ndjson");
    let chown = || {
        let st = Command::new("chown")
            .arg("taxii-edge:")
            .arg(&export_file)
            .status()
            .unwrap();
        assert!(st.success());
    };
    write_native_export(&export_file, 7, (0..1000).map(|i| (i, 0)));
    chown();
    let out = run(&mut as_user(&compile, &compile_argv));
    assert_eq!(out.status.code(), Some(0), "compile unit: {}", text(&out));
    assert_eq!(
        stat(&feed.display().to_string()),
        "taxii-edge:taxii-edge 640"
    );

    // serve, reloaded the unit's way.
    let serve = unit("taxii-edge.service");
    let (_, mut serve_argv) = serve.exec_start();
    let port = free_port();
    serve_argv.extend(["--listen".into(), format!("127.0.0.1:{port}")]);
    let mut child = as_user(&serve, &serve_argv)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let metrics = || {
        rt.block_on(async {
            String::from_utf8_lossy(&get(addr, "/metrics", &[]).await.body).into_owned()
        })
    };
    rt.block_on(async {
        for _ in 0..400 {
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    });
    assert!(metrics().contains("taxii_edge_reloads_total{result=\"ok\"} 0\n"));
    let main_pid = child.id();
    let reload = serve.values("Service", "ExecReload");
    assert_eq!(reload.len(), 1);
    let reload_argv = words(&serve.name, &reload[0].replace("$MAINPID", "MAINPID"))
        .into_iter()
        .map(|w| {
            if w == "MAINPID" {
                main_pid.to_string()
            } else {
                w
            }
        })
        .collect::<Vec<_>>();
    let out = run(&mut command(&reload_argv));
    assert!(out.status.success(), "ExecReload: {}", text(&out));
    let mut reloaded = false;
    for _ in 0..200 {
        if metrics().contains("taxii_edge_reloads_total{result=\"ok\"} 1\n") {
            reloaded = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    assert!(
        reloaded,
        "ExecReload did not reload the server:\n{}",
        metrics()
    );
    let _ = Command::new("kill")
        .args(["-TERM", &main_pid.to_string()])
        .status();
    let status = child.wait().unwrap();
    assert!(status.success(), "serve after SIGTERM: {status:?}");

    // The export unit.
    let export = unit("taxii-edge-export.service");
    let (_, export_argv) = export.exec_start();
    let out = run(&mut as_user(&export, &export_argv));
    assert_eq!(out.status.code(), Some(0), "export unit: {}", text(&out));
    assert!(Path::new(STATE_DIR).join("static/current").exists());

    // A refused compile, verbatim: exit 2, a failed unit, the feed kept.
    write_native_export(&export_file, 7, (0..100).map(|i| (i, 0)));
    chown();
    let before = std::fs::read(&feed).unwrap();
    let out = run(&mut as_user(&compile, &compile_argv));
    assert_eq!(
        out.status.code(),
        Some(2),
        "refused compile: {}",
        text(&out)
    );
    assert!(!compile.succeeds_with(2));
    assert!(
        std::fs::read(&feed).unwrap() == before,
        "the refused compile changed the feed"
    );

    drop(_guard);
    for gone in [BIN_PATH, CONFIG_PATH, STATE_DIR] {
        assert!(!Path::new(gone).exists(), "{gone} left after dpkg --purge");
    }
    println!(
        "PACKAGE | built in {built:.1?}, installed, checked, ran and purged in {:.1?}",
        t0.elapsed()
    );
}

/// Files of an extracted package: path → (mode, bytes).
fn tree(dir: &Path) -> std::collections::BTreeMap<String, (u32, Vec<u8>)> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = std::collections::BTreeMap::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else {
                let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o7777;
                let rel = p.strip_prefix(dir).unwrap().display().to_string();
                out.insert(rel, (mode, std::fs::read(&p).unwrap()));
            }
        }
    }
    out
}

/// The test's dpkg-deb package against cargo-deb's from the same metadata
/// (when cargo-deb is installed, e.g. by tools/package): the same files
/// with the same modes and bytes (the binary aside: both strip it, with
/// their own flags), the same control fields, conffiles and scripts.
#[test]
fn the_test_package_matches_cargo_deb() {
    let v = Command::new("cargo").args(["deb", "--version"]).output();
    if !matches!(&v, Ok(o) if o.status.success()) {
        println!("PACKAGE | cargo-deb not installed (tools/package installs it): not compared");
        return;
    }
    let work = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(work.path().join("ours")).unwrap();
    let ours = build_deb(&work.path().join("ours"));
    // cargo-deb packs target/<profile>/: the test build's binary, and the
    // generated files written beside it.
    let profile_dir = Path::new(BIN).parent().unwrap();
    let gen = run(Command::new(repo().join("deploy/debian/gen-assets"))
        .arg(BIN)
        .arg(profile_dir.join("package")));
    assert!(gen.status.success(), "gen-assets: {}", text(&gen));
    let theirs = work.path().join("theirs.deb");
    let out = run(Command::new("cargo")
        .args(["deb", "--no-build", "--quiet", "--fast", "--profile"])
        .arg(if profile_dir.ends_with("debug") {
            "dev"
        } else {
            "release"
        })
        .arg("--output")
        .arg(&theirs)
        .current_dir(repo())
        .env("CARGO_TARGET_DIR", profile_dir.parent().unwrap()));
    assert!(out.status.success(), "cargo deb: {}", text(&out));

    let unpack = |deb: &Path, name: &str| {
        let dir = work.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        for (flag, sub) in [("-x", "data"), ("-e", "control")] {
            let o = run(Command::new("dpkg-deb")
                .arg(flag)
                .arg(deb)
                .arg(dir.join(sub)));
            assert!(o.status.success(), "dpkg-deb {flag}: {}", text(&o));
        }
        dir
    };
    let (a, b) = (unpack(&ours, "a"), unpack(&theirs, "b"));
    let (mut ta, mut tb) = (tree(&a.join("data")), tree(&b.join("data")));
    let bin = BIN_PATH.trim_start_matches('/');
    assert_eq!(ta.remove(bin).map(|f| f.0), tb.remove(bin).map(|f| f.0));
    let (ca, cb) = (tree(&a.join("control")), tree(&b.join("control")));
    ta.extend(
        ca.into_iter()
            .filter(|(k, _)| k != "control")
            .map(|(k, v)| (format!("DEBIAN/{k}"), v)),
    );
    tb.extend(
        cb.into_iter()
            .filter(|(k, _)| k != "control")
            .map(|(k, v)| (format!("DEBIAN/{k}"), v)),
    );
    let names = |t: &std::collections::BTreeMap<String, (u32, Vec<u8>)>| {
        t.iter()
            .map(|(k, v)| format!("{:o} {k}", v.0))
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&ta), names(&tb), "files differ (ours, cargo-deb's)");
    for (k, v) in &ta {
        assert!(tb[k].1 == v.1, "{k} differs");
    }
    let field = |deb: &Path, f: &str| {
        let o = run(Command::new("dpkg-deb").arg("-f").arg(deb).arg(f));
        let mut v: Vec<String> = String::from_utf8_lossy(&o.stdout)
            .split(',')
            .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        v.sort();
        v
    };
    for f in [
        "Package",
        "Version",
        "Architecture",
        "Maintainer",
        "Section",
        "Priority",
        "Depends",
        "Description",
    ] {
        assert_eq!(field(&ours, f), field(&theirs, f), "control field {f}");
    }
    println!("PACKAGE | the dpkg-deb package matches cargo-deb's");
}
