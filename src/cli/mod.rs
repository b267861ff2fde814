//! The command line: flags parsed by clap into plain data, and one function
//! per subcommand that calls the library. `main.rs` only turns the result
//! into an exit code.

mod admin;
pub mod demo;

use crate::compile::{self, CompileOptions};
use crate::config::Config;
use crate::exit::{self, ExitStatus};
use crate::feed::{self, Feed};
use crate::record::Profile;
use crate::server::access_log::{AccessLog, Target};
use crate::{export, mapping, server, synth};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::io::Write;
use std::path::PathBuf;

/// A TAXII 2.1/2.0 threat-intelligence feed compiler and edge server.
#[derive(Debug, Parser)]
#[command(name = "taxii-edge", version, about, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Compile indicator exports into a feed file and publish it atomically.
    Compile(CompileArgs),
    /// Serve a feed file over TAXII 2.1 (and 2.0).
    Serve {
        /// The configuration file (TOML).
        #[arg(long)]
        config: PathBuf,
        /// The feed file (default: compile.out in the config).
        #[arg(long)]
        feed: Option<PathBuf>,
        /// Listen address, e.g. 127.0.0.1:8080 (default: server.listen).
        #[arg(long)]
        listen: Option<String>,
        /// Access log: off, stderr or a file path (appended; reopened on SIGHUP).
        /// Default: stderr, or off when RUST_LOG turns off taxii_edge::access.
        #[arg(long, value_name = "off|stderr|FILE")]
        access_log: Option<String>,
    },
    /// Compile the bundled sample data and serve it on 127.0.0.1.
    Demo {
        /// Listen address.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
    },
    /// Check every checksum and invariant of a feed file.
    Verify {
        /// The feed file.
        file: PathBuf,
        /// The publish-time depth: checksums, structure and every object's JSON,
        /// without inflating every precompressed page.
        #[arg(long)]
        quick: bool,
    },
    /// Describe a feed file: generation, collections, counts, sizes.
    Inspect {
        /// The feed file.
        file: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Print an input profile's default mappings (what config mappings override).
    Mappings {
        /// threatconnect, xsoar, native or stix.
        #[arg(long)]
        profile: String,
    },
    /// Hash a password for a [[users]] entry (reads it from stdin).
    HashPassword,
    /// Write the feed as static files (for nginx, object stores, CDNs) and
    /// swap the `current` generation atomically.
    ExportStatic(ExportStaticArgs),
    /// Write a deterministic synthetic export (for tests and benchmarks).
    GenExport(GenExportArgs),
    /// Validate a configuration file without compiling (exit 1 naming every
    /// bad key).
    CheckConfig {
        /// The configuration file (TOML).
        file: PathBuf,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), or write one page per command into a directory.
    Man {
        /// Write taxii-edge.1 and taxii-edge-COMMAND.1 into this directory.
        #[arg(long)]
        out_dir: Option<PathBuf>,
    },
}

/// `compile` flags.
#[derive(Debug, Args)]
pub struct CompileArgs {
    /// The configuration file (TOML).
    #[arg(long)]
    pub config: PathBuf,
    /// The live feed file to replace (default: compile.out in the config).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// The previous generation to carry date_added from (default: the live file).
    #[arg(long)]
    pub previous: Option<PathBuf>,
    /// Print a machine-readable JSON summary on stdout.
    #[arg(long)]
    pub json: bool,
    /// Fail on any rejected record (default: fail above compile.reject_threshold).
    #[arg(long)]
    pub strict: bool,
    /// Publish even when a collection shrinks by more than compile.shrink_guard.
    #[arg(long)]
    pub allow_shrink: bool,
    /// Publish a new generation even when the live one was compiled from the
    /// same inputs, config and binary and nothing in it has expired since
    /// (without it, such a compile leaves the live file alone).
    #[arg(long)]
    pub force: bool,
}

/// `export-static` flags.
#[derive(Debug, Args)]
pub struct ExportStaticArgs {
    /// The configuration file (TOML).
    #[arg(long)]
    pub config: PathBuf,
    /// The feed file (default: compile.out in the config).
    #[arg(long)]
    pub feed: Option<PathBuf>,
    /// The export root: holds generations/ and the current symlink.
    #[arg(long)]
    pub out: PathBuf,
    /// Absolute base URL for discovery's api roots (default: server.public_url).
    #[arg(long)]
    pub public_url: Option<String>,
    /// Generations kept, the new one included.
    #[arg(long, default_value_t = 3)]
    pub retention: usize,
    /// Also write object-by-id and versions files (two per object).
    #[arg(long)]
    pub objects_by_id: bool,
    /// Also write an nginx configuration.
    #[arg(long)]
    pub nginx_conf: Option<PathBuf>,
    /// How nginx checks credentials: `origin` asks the `serve` origin
    /// (auth_request); `htpasswd` writes htpasswd files beside the
    /// configuration from the users' `htpasswd` hashes (1–2 ms of CPU
    /// per request).
    #[arg(long, value_enum, default_value = "origin")]
    pub nginx_auth: export::nginx::NginxAuth,
    /// nginx `listen` value for --nginx-conf.
    #[arg(long, default_value = "127.0.0.1:8081")]
    pub nginx_listen: String,
    /// The `taxii-edge serve` origin for what files cannot answer.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub origin: String,
    /// Print a machine-readable JSON summary on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `gen-export` flags.
#[derive(Debug, Args)]
pub struct GenExportArgs {
    /// threatconnect, xsoar, native or stix.
    #[arg(long)]
    pub format: String,
    /// Number of records.
    #[arg(long, default_value_t = 100_000)]
    pub count: u64,
    /// Seed of the generator.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Layout: one record per line, or the format's JSON container.
    #[arg(long, value_enum, default_value_t = ContainerArg::Ndjson)]
    pub container: ContainerArg,
    /// Output file (default: stdout).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Revise one record in N (a new revision of the same indicator, as
    /// a changed source would export it): `--revise-every 100` changes
    /// 1% of the records, spread evenly. 0: none.
    #[arg(long, default_value_t = 0)]
    pub revise_every: u64,
}

/// `--container` values.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ContainerArg {
    Ndjson,
    Json,
}

/// A failed command: its message and exit code.
#[derive(Debug)]
pub struct Failure {
    pub code: i32,
    pub message: String,
}

impl Failure {
    /// A failure of the command itself (a flag, stdin, stdout, a file it
    /// was asked to write): [`exit::ERROR`].
    fn error(message: impl ToString) -> Failure {
        Failure {
            code: exit::ERROR,
            message: message.to_string(),
        }
    }
}

/// A library error exits with the code its type names.
impl<E: ExitStatus + std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Failure {
        Failure {
            code: e.exit_code(),
            message: e.to_string(),
        }
    }
}

/// Runs one command.
pub fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Compile(args) => compile(args),
        Command::Serve {
            config,
            feed,
            listen,
            access_log,
        } => serve(&config, feed, listen, access_log.as_deref()),
        Command::Demo { listen } => demo::run(&listen),
        Command::ExportStatic(args) => export_static(args),
        Command::Verify { file, quick } => verify(&file, quick),
        Command::Inspect { file, json } => inspect(&file, json),
        Command::Mappings { profile } => {
            let p = parse_profile(&profile)?;
            print_out(&mapping::render_table(p))
        }
        Command::HashPassword => hash_password(),
        Command::GenExport(args) => gen_export(args),
        Command::CheckConfig { file } => admin::check_config(&file),
        Command::Completions { shell } => admin::completions(shell),
        Command::Man { out_dir } => admin::man(out_dir.as_deref()),
    }
}

/// `compile`: build and publish, then print the summary.
fn compile(args: CompileArgs) -> Result<(), Failure> {
    let CompileArgs {
        config,
        out,
        previous,
        json,
        strict,
        allow_shrink,
        force,
    } = args;
    let config = Config::load(&config)?;
    let opts = CompileOptions {
        config,
        out,
        previous,
        strict,
        allow_shrink,
        progress: !json,
        now: None,
        force,
    };
    let summary = compile::run(&opts)?;
    if json {
        let text = serde_json::to_string_pretty(&summary).map_err(Failure::error)?;
        print_out(&text)
    } else {
        print_out(&compile::render_summary(&summary))
    }
}

/// `serve`: runs until SIGINT/SIGTERM.
fn serve(
    config: &std::path::Path,
    feed: Option<PathBuf>,
    listen: Option<String>,
    access_log: Option<&str>,
) -> Result<(), Failure> {
    let config = Config::load(config)?;
    let feed_path = feed.unwrap_or_else(|| config.resolve(&config.compile.out));
    let log = open_access_log(access_log)?;
    server::run(
        server::ServeOptions {
            config,
            feed_path,
            listen,
        },
        log,
    )
    .map_err(Failure::from)
}

/// `export-static`: the static files, and optionally the nginx configuration.
fn export_static(args: ExportStaticArgs) -> Result<(), Failure> {
    let ExportStaticArgs {
        config,
        feed,
        out,
        public_url,
        retention,
        objects_by_id,
        nginx_conf,
        nginx_auth,
        nginx_listen,
        origin,
        json,
    } = args;
    let config = Config::load(&config)?;
    let feed = feed.unwrap_or_else(|| config.resolve(&config.compile.out));
    let report = export::export(export::ExportOptions {
        config: config.clone(),
        feed: feed.clone(),
        out: out.clone(),
        public_url,
        retention,
        objects_by_id,
    })?;
    if let Some(path) = nginx_conf {
        let meta = Feed::open(&feed)?.meta().clone();
        let htpasswd_dir = path
            .parent()
            .map(|d| d.join("htpasswd"))
            .unwrap_or_else(|| PathBuf::from("htpasswd"));
        let opts = export::nginx::NginxOptions {
            listen: nginx_listen,
            export_root: std::path::absolute(&out).map_err(Failure::error)?,
            origin,
            auth: nginx_auth,
            htpasswd_dir: std::path::absolute(htpasswd_dir).map_err(Failure::error)?,
        };
        let (text, warnings) = export::nginx::write(&config, &meta, &opts)
            .map_err(|e| Failure::error(format!("{}: {e}", path.display())))?;
        for w in warnings {
            eprintln!("warning: {w}");
        }
        export::nginx::write_conf(&path, &text)
            .map_err(|e| Failure::error(format!("{}: {e}", path.display())))?;
    }
    if json {
        let text = serde_json::to_string_pretty(&report).map_err(Failure::error)?;
        print_out(&text)
    } else {
        print_out(&format!(
            "exported generation {} to {}: {} files ({} written, {} hard-linked from the previous generation), {} bytes, {} pages, {:.1} s{}",
            report.generation,
            report.dir.display(),
            report.files,
            report.written,
            report.linked,
            report.bytes,
            report.pages,
            report.seconds,
            if report.removed.is_empty() {
                String::new()
            } else {
                format!("; removed old generations {}", report.removed.join(", "))
            }
        ))
    }
}

/// `verify`.
fn verify(file: &std::path::Path, quick: bool) -> Result<(), Failure> {
    let feed = Feed::open(file)?;
    let depth = if quick {
        feed::Depth::Publish
    } else {
        feed::Depth::Full
    };
    feed.verify_with(depth)?;
    print_out(&format!(
        "{}: ok{} (generation {}, {} collections, {} object versions)",
        file.display(),
        if quick {
            " (checksums and structure)"
        } else {
            ""
        },
        feed.meta().generation,
        feed.collections().len(),
        feed.collections().iter().map(|c| c.len()).sum::<usize>()
    ))
}

/// `inspect`.
fn inspect(file: &std::path::Path, json: bool) -> Result<(), Failure> {
    let feed = Feed::open(file)?;
    let report = feed::inspect(&feed);
    if json {
        let text = serde_json::to_string_pretty(&report).map_err(Failure::error)?;
        print_out(&text)
    } else {
        print_out(&report.to_string())
    }
}

/// `hash-password`: reads one line from stdin.
fn hash_password() -> Result<(), Failure> {
    let mut line = String::new();
    if atty_stdin() {
        eprint!("password: ");
    }
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| Failure::error(format!("cannot read the password from stdin: {e}")))?;
    let pw = line.trim_end_matches(['\n', '\r']);
    if pw.is_empty() {
        return Err(Failure::error("empty password"));
    }
    print_out(&server::hash_password(pw))
}

/// `gen-export`.
fn gen_export(args: GenExportArgs) -> Result<(), Failure> {
    let GenExportArgs {
        format,
        count,
        seed,
        container,
        out,
        revise_every,
    } = args;
    let p = parse_profile(&format)?;
    let container = match container {
        ContainerArg::Ndjson => synth::Container::Ndjson,
        ContainerArg::Json => synth::Container::Json,
    };
    let revised = |i: u64| revise_every > 0 && i % revise_every == revise_every / 3;
    let mut items = (0..count).map(|i| (i, u32::from(revised(i))));
    let result = match out {
        Some(path) => {
            let f = std::fs::File::create(&path)
                .map_err(|e| Failure::error(format!("cannot create {}: {e}", path.display())))?;
            let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
            synth::write_export(p, seed, &mut items, container, &mut w).and_then(|_| w.flush())
        }
        None => {
            let stdout = std::io::stdout();
            let mut w = std::io::BufWriter::with_capacity(1 << 20, stdout.lock());
            synth::write_export(p, seed, &mut items, container, &mut w).and_then(|_| w.flush())
        }
    };
    result.map_err(|e| Failure::error(format!("writing the export failed: {e}")))
}

/// Opens the `--access-log` target. Unset means stderr, unless `RUST_LOG`
/// turns off the `taxii_edge::access` target (how the access log was
/// silenced before the flag existed, e.g. `RUST_LOG=info,taxii_edge::access=warn`).
pub(crate) fn open_access_log(flag: Option<&str>) -> Result<AccessLog, Failure> {
    let target = match flag {
        Some(v) => Target::parse(v),
        None if tracing::enabled!(target: "taxii_edge::access", tracing::Level::INFO) => {
            Target::Stderr
        }
        None => Target::Off,
    };
    AccessLog::open(&target).map_err(|e| {
        let what = match &target {
            Target::File(p) => p.display().to_string(),
            _ => "stderr".into(),
        };
        Failure::error(format!("cannot open the access log {what}: {e}"))
    })
}

fn atty_stdin() -> bool {
    use std::io::IsTerminal;
    std::io::stdin().is_terminal()
}

fn parse_profile(s: &str) -> Result<Profile, Failure> {
    Profile::parse(s).ok_or_else(|| {
        Failure::error(format!(
            "unknown profile {s:?}; expected threatconnect, xsoar, native or stix"
        ))
    })
}

/// Prints a line to stdout; a closed pipe (`| head`) is not an error.
fn print_out(text: &str) -> Result<(), Failure> {
    write_stdout(format!("{text}\n").as_bytes())
}

/// Writes to stdout; a closed pipe (`| head`) is not an error.
fn write_stdout(bytes: &[u8]) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|_| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Failure::error(format!("cannot write to stdout: {e}"))),
    }
}
