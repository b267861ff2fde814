//! Test support shared by the tests that compile real exports: write a
//! generated native export, run the compiler on a config file, find the
//! Python of the OASIS tools, inflate gzip.
#![allow(dead_code)]

use std::io::{Read, Write};
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
/// `--strict`, no `--allow-shrink`, no progress bar).
pub fn compile_config(config: &Path) -> Result<Summary, CompileError> {
    compile::run(&CompileOptions {
        config: Config::load(config).unwrap(),
        out: None,
        previous: None,
        strict: false,
        allow_shrink: false,
        progress: false,
        now: None,
    })
}

/// The Python of the virtualenv `tools/test.sh` creates.
pub fn python() -> PathBuf {
    PathBuf::from(std::env::var_os("TAXII_EDGE_PYTHON").expect(
        "TAXII_EDGE_PYTHON is not set: run the suite with tools/test.sh, which creates .venv with the OASIS tools",
    ))
}

pub fn gunzip(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(b)
        .read_to_end(&mut out)
        .unwrap();
    out
}
