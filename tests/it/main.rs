//! The integration tests: one test binary (linking the crate once), one
//! module per family. `cargo test --test it FAMILY` runs one family (the
//! filter matches the module path, e.g. `server_api`, `feed::`, `lifecycle`);
//! helpers shared by the families are in `common`.

mod common;

mod access_leaks;
mod access_log;
mod access_matrix;
mod base_path;
mod client_logpoint;
mod clients;
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
mod server_api;
mod server_ops;
mod spec_versions;
mod static_export;
mod stix_check;
mod taxii20;
mod user_state;
mod workers;
