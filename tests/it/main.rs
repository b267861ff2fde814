//! The integration tests: one test binary (linking the crate once), one
//! module per family. `cargo test --test it FAMILY` runs one family (the
//! filter matches the module path, e.g. `server_api`, `feed::`, `lifecycle`);
//! helpers shared by the families are in `common`.

mod common;

mod access_leaks;
mod access_log;
mod access_matrix;
mod auth_challenge;
mod base_path;
mod client_logpoint;
mod clients;
mod console;
mod content_coding;
mod faults;
mod feed;
mod golden;
mod hostile_http;
mod input_samples;
mod interop;
mod interop_v20;
mod lifecycle;
mod medallion_migration;
mod migration_parity;
mod mtls;
mod owner_collections;
mod package;
mod server_api;
mod server_ops;
mod spec_versions;
mod static_export;
mod stix_check;
mod taxii20;
mod upstream;
mod user_state;
mod workers;

/// Every test file is compiled: a `.rs` file under tests/it that its parent
/// module does not declare would never run, and a file directly in tests/
/// would be a test binary of its own, linking the whole crate again.
#[test]
fn every_test_file_is_a_module_of_this_binary() {
    use std::path::Path;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tests = root.join("tests");
    let mut problems = Vec::new();
    for e in std::fs::read_dir(&tests).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        if let Some(stem) = name.strip_suffix(".rs") {
            problems.push(format!(
                "tests/{name} is a test binary of its own: move it to tests/it/{name}, \
                 declare `mod {stem};` in tests/it/main.rs, and write its \
                 `#[path = \"common/X.rs\"] mod X;` lines as `use crate::common::X;`"
            ));
        }
    }
    let mut dirs = vec![tests.join("it")];
    while let Some(dir) = dirs.pop() {
        // The file declaring the modules of `dir`'s files: main.rs for
        // tests/it, else `dir/mod.rs` or the sibling `dir.rs`.
        let parent = if dir == tests.join("it") {
            dir.join("main.rs")
        } else if dir.join("mod.rs").exists() {
            dir.join("mod.rs")
        } else {
            dir.with_extension("rs")
        };
        let declared = std::fs::read_to_string(&parent).unwrap_or_default();
        for e in std::fs::read_dir(&dir).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let Some(stem) = name.strip_suffix(".rs") else {
                continue;
            };
            if path == parent || name == "main.rs" || name == "mod.rs" {
                continue;
            }
            let declares = declared.lines().any(|l| {
                let l = l.trim();
                l == format!("mod {stem};") || l == format!("pub mod {stem};")
            });
            if !declares {
                problems.push(format!(
                    "{} is not compiled: declare `mod {stem};` in {}",
                    path.strip_prefix(root).unwrap().display(),
                    parent.strip_prefix(root).unwrap().display()
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
