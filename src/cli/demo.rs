//! `taxii-edge demo`: compile the bundled sample exports with the bundled
//! example config and serve them on loopback, so a new user sees a working
//! TAXII server with one command. The samples are embedded in the binary,
//! so the command works from any directory.

use super::Failure;
use crate::compile::{self, CompileOptions};
use crate::config::Config;
use crate::server;
use std::path::Path;

/// The example config and every sample export it reads, by relative path.
const FILES: &[(&str, &str)] = &[
    ("example.toml", include_str!("../../testdata/example.toml")),
    (
        "inputs/threatconnect-page.json",
        include_str!("../../testdata/inputs/threatconnect-page.json"),
    ),
    (
        "inputs/threatconnect.ndjson",
        include_str!("../../testdata/inputs/threatconnect.ndjson"),
    ),
    (
        "inputs/xsoar-iocs.json",
        include_str!("../../testdata/inputs/xsoar-iocs.json"),
    ),
    (
        "inputs/xsoar-export.ndjson",
        include_str!("../../testdata/inputs/xsoar-export.ndjson"),
    ),
    (
        "inputs/native.ndjson",
        include_str!("../../testdata/inputs/native.ndjson"),
    ),
    (
        "inputs/stix-bundle.json",
        include_str!("../../testdata/inputs/stix-bundle.json"),
    ),
    (
        "inputs/medallion-default_data.json",
        include_str!("../../testdata/inputs/medallion-default_data.json"),
    ),
];

/// Writes the samples to `dir` (the layout the example config expects).
pub fn write_samples(dir: &Path) -> std::io::Result<()> {
    for (name, text) in FILES {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, text)?;
    }
    Ok(())
}

pub(super) fn run(listen: &str) -> Result<(), Failure> {
    let dir = std::env::temp_dir().join("taxii-edge-demo");
    write_samples(&dir).map_err(|e| {
        Failure::error(format!(
            "cannot write the demo files to {}: {e}",
            dir.display()
        ))
    })?;
    let config = Config::load(&dir.join("example.toml"))?;
    let out = dir.join("demo.taxii");
    // A demo feed left by an older build (another format version) is only
    // a sample: start its history afresh instead of refusing it.
    if out.exists() && crate::feed::Feed::open(&out).is_err() {
        let _ = std::fs::remove_file(&out);
    }
    let opts = CompileOptions {
        config: config.clone(),
        out: Some(out.clone()),
        previous: None,
        strict: false,
        allow_shrink: true,
        progress: false,
        now: None,
        force: false,
    };
    let summary = compile::run(&opts)?;
    println!("{}", compile::render_summary(&summary));
    println!();
    println!("TAXII 2.1 discovery: http://{listen}/taxii2/");
    if config.server.console.enabled {
        let base = crate::server::shared::normalize_base(&config.server.base_path);
        println!("web console:         http://{listen}{base}ui/");
    }
    println!("user: demo  password: demo");
    println!("try:  curl -u demo:demo -H 'Accept: application/taxii+json;version=2.1' http://{listen}/taxii2/");
    println!("      curl -u demo:demo 'http://{listen}/feeds/collections/'");
    println!("Ctrl-C stops the server.");
    server::run(
        server::ServeOptions {
            config,
            feed_path: out,
            listen: Some(listen.to_string()),
        },
        super::open_access_log(None)?,
    )
    .map_err(Failure::from)
}
