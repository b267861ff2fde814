//! The `taxii-edge` binary: parse flags, run the command, turn failures
//! into a message on stderr and an exit code (README "Exit codes").

use clap::Parser;
use taxii_edge::cli::{self, Cli};

fn main() {
    let cli = Cli::parse();
    init_logging();
    if let Err(f) = cli::run(cli) {
        eprintln!("taxii-edge: {}", f.message);
        std::process::exit(f.code);
    }
}

/// Logs go to stderr; `RUST_LOG` filters them (default `info`).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
}
