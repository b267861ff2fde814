//! Test support shared by the tests that compile real exports: write a
//! generated native export, run the compiler on a config file, find the
//! Python of the OASIS tools and their scripts in tools/interop.
use std::io::Write;
use std::path::{Path, PathBuf};
use taxii_edge::compile::{self, CompileError, CompileOptions, Summary};
use taxii_edge::config::Config;
use taxii_edge::record::Profile;
use taxii_edge::synth;

/// Writes the generated native NDJSON records `(index, revision)` of
/// `seed` to `path`.
pub fn write_native_export(path: &Path, seed: u64, items: impl Iterator<Item = (u64, u32)>) {
    let mut w = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut items = items;
    synth::write_export(
        Profile::Native,
        seed,
        &mut items,
        synth::Container::Ndjson,
        &mut w,
    )
    .unwrap();
    w.flush().unwrap();
}

/// Compiles with the config file at `config` and default options (no
/// `--strict`, no `--allow-shrink`, no progress bar, no `--force`).
pub fn compile_config(config: &Path) -> Result<Summary, CompileError> {
    compile_config_with(config, false)
}

/// [`compile_config`], with `--force` when `force`: a recompile of
/// unchanged inputs then builds and publishes a new generation instead of
/// leaving the live one alone.
pub fn compile_config_with(config: &Path, force: bool) -> Result<Summary, CompileError> {
    compile::run(&CompileOptions {
        config: Config::load(config).unwrap(),
        out: None,
        previous: None,
        strict: false,
        allow_shrink: false,
        progress: false,
        now: None,
        force,
    })
}

/// Compiles `config` (a path inside `dir`) into `dir/feed.taxii`, which
/// must hold at least one object.
pub fn compile_into(config: &Path, dir: &Path) -> PathBuf {
    let out = dir.join("feed.taxii");
    let cfg = Config::load(config).expect("config");
    let summary = compile::run(&CompileOptions {
        config: cfg,
        out: Some(out.clone()),
        previous: None,
        strict: false,
        allow_shrink: false,
        progress: false,
        now: None,
        force: false,
    })
    .unwrap_or_else(|e| panic!("compile failed: {e}"));
    assert!(
        summary.collections.iter().any(|c| c.objects > 0),
        "{summary:?}"
    );
    out
}

/// The Python of the OASIS tools: `TAXII_EDGE_PYTHON` (`tools/test.sh`
/// sets it), else the `.venv` that `tools/interop/setup.sh` creates.
pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("TAXII_EDGE_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    assert!(
        venv.exists(),
        "TAXII_EDGE_PYTHON is not set and .venv is missing: run tools/interop/setup.sh (tools/test.sh does)"
    );
    venv
}

/// A script of tools/interop (run with [`python`]).
pub fn interop_script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tools/interop")
        .join(name)
}
