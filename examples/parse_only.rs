//! Parse-only timing of exports: runs just `input::read_files` (map or
//! inflate, split, simd-json, canonical records, in parallel) over the given
//! files, the read stage of a compile, and prints one JSON line.
//!
//! `tools/bench-compile` runs it on the same files as `taxii-edge compile`,
//! so the ratio compile / parse-only says how much of a compile is spent
//! after reading (selection, STIX building, mappings, the feed writer).
//!
//! ```text
//! cargo run --release --example parse_only -- [--format F] [--repeat N] FILE...
//! {"files":1,"records":1000000,"rejected":0,"bytes":539000000,"seconds":1.92,"records_per_s":520833,"mb_per_s":280.7}
//! ```
//! With `--repeat N` the fastest of N runs is reported (the first run may
//! pay page faults a compile that just read the same file would not).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;
use taxii_edge::input::{self, InputFile};
use taxii_edge::record::Profile;

fn main() -> ExitCode {
    let mut format: Option<Profile> = None;
    let mut repeat = 1u32;
    let mut files = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--format" => {
                let v = args.next().unwrap_or_default();
                match Profile::parse(&v) {
                    Some(p) => format = Some(p),
                    None => {
                        eprintln!("parse_only: unknown format {v:?}; expected threatconnect, xsoar, native or stix");
                        return ExitCode::from(2);
                    }
                }
            }
            "--repeat" => {
                repeat = match args.next().and_then(|v| v.parse().ok()) {
                    Some(n) if n > 0 => n,
                    _ => {
                        eprintln!("parse_only: --repeat needs a positive number");
                        return ExitCode::from(2);
                    }
                }
            }
            "-h" | "--help" => {
                eprintln!("usage: parse_only [--format F] [--repeat N] FILE...");
                return ExitCode::SUCCESS;
            }
            _ => files.push(InputFile {
                path: PathBuf::from(a),
                format: None,
            }),
        }
    }
    if files.is_empty() {
        eprintln!("usage: parse_only [--format F] [--repeat N] FILE...");
        return ExitCode::from(2);
    }
    for f in &mut files {
        f.format = format;
    }
    let mut best = f64::INFINITY;
    let mut last = None;
    for _ in 0..repeat {
        let t = Instant::now();
        let out = match input::read_files(&files, None) {
            Ok(o) => o,
            Err(e) => {
                eprintln!("parse_only: {e}");
                return ExitCode::from(1);
            }
        };
        best = best.min(t.elapsed().as_secs_f64());
        // Dropping 1M records takes time too; keep it out of the timing.
        last = Some((out.records.len(), out.rejects.len(), out.bytes_in));
        drop(out);
    }
    let (records, rejected, bytes) = last.unwrap_or_default();
    println!(
        "{{\"files\":{},\"records\":{records},\"rejected\":{rejected},\"bytes\":{bytes},\"seconds\":{best:.3},\"records_per_s\":{:.0},\"mb_per_s\":{:.1}}}",
        files.len(),
        records as f64 / best,
        bytes as f64 / 1e6 / best
    );
    ExitCode::SUCCESS
}
