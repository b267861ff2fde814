//! The commands an installation needs around the real work: shell
//! completions and man pages generated from the clap definitions (so they
//! cannot drift from the flags), and `check-config`, which validates a
//! configuration without compiling anything (docs/decisions.md#d65).

use super::{print_out, write_stdout, Cli, Failure};
use crate::config::Config;
use crate::input;
use clap::CommandFactory;
use std::io::Write;
use std::path::{Path, PathBuf};

/// `taxii-edge completions SHELL`: the completion script on stdout.
pub(super) fn completions(shell: clap_complete::Shell) -> Result<(), Failure> {
    let mut cmd = Cli::command();
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut cmd, "taxii-edge", &mut buf);
    write_stdout(&buf)
}

/// `taxii-edge man [--out-dir DIR]`: the main page on stdout, or every
/// page (`taxii-edge.1` and one `taxii-edge-COMMAND.1` per command) in DIR.
pub(super) fn man(out_dir: Option<&Path>) -> Result<(), Failure> {
    // No page for clap's `help` subcommand (`--help` is on every page).
    let mut cmd = Cli::command().disable_help_subcommand(true);
    // Building sets each subcommand's display name (`taxii-edge-compile`),
    // which names its page.
    cmd.build();
    let Some(dir) = out_dir else {
        let mut buf = Vec::new();
        render_main_page(&cmd, &mut buf).map_err(Failure::error)?;
        return write_stdout(&buf);
    };
    let fail = |path: &Path, e: std::io::Error| {
        Failure::error(format!("cannot write {}: {e}", path.display()))
    };
    std::fs::create_dir_all(dir).map_err(|e| fail(dir, e))?;
    let main = dir.join("taxii-edge.1");
    let mut buf = Vec::new();
    render_main_page(&cmd, &mut buf).map_err(|e| fail(&main, e))?;
    std::fs::write(&main, buf).map_err(|e| fail(&main, e))?;
    let mut written = vec![main];
    for sub in cmd.get_subcommands() {
        let man = clap_mangen::Man::new(sub.clone())
            .source(format!("taxii-edge {}", env!("CARGO_PKG_VERSION")));
        let path = dir.join(man.get_filename());
        let mut buf = Vec::new();
        man.render(&mut buf).map_err(|e| fail(&path, e))?;
        std::fs::write(&path, buf).map_err(|e| fail(&path, e))?;
        written.push(path);
    }
    let names: Vec<String> = written.iter().map(|p| p.display().to_string()).collect();
    print_out(&names.join("\n"))
}

/// The main page: clap_mangen's sections plus exit status and files.
fn render_main_page(cmd: &clap::Command, out: &mut dyn Write) -> std::io::Result<()> {
    let man = clap_mangen::Man::new(cmd.clone());
    man.render_title(out)?;
    man.render_name_section(out)?;
    man.render_synopsis_section(out)?;
    man.render_description_section(out)?;
    man.render_options_section(out)?;
    man.render_subcommands_section(out)?;
    out.write_all(EXTRA_SECTIONS.as_bytes())?;
    man.render_version_section(out)?;
    Ok(())
}

/// Exit status and files, in roff (README "Exit codes" and "Install").
const EXTRA_SECTIONS: &str = r#".SH "EXIT STATUS"
.TP
\fB0\fR
success
.TP
\fB1\fR
configuration or input error (bad config key, unreadable file, damaged previous generation)
.TP
\fB2\fR
a guard refused to publish: too many rejected records or a collection shrank past compile.shrink_guard; the live feed is untouched
.TP
\fB3\fR
the feed file could not be written or verified (the previous feed stays live)
.SH FILES
.TP
\fI/etc/taxii\-edge/config.toml\fR
the configuration of the packaged service units; every key is documented in it
.TP
\fI/var/lib/taxii\-edge/\fR
inputs/ (the exports to compile), feed.taxii (the live feed), static/ (the static export)
.TP
\fItaxii\-edge.service\fR, \fItaxii\-edge\-compile.service\fR, \fItaxii\-edge\-compile.timer\fR, \fItaxii\-edge\-export.service\fR
the systemd units: serve (reload = SIGHUP), the scheduled compile, the static export after a successful compile
"#;

/// `taxii-edge check-config FILE`: everything `Config::load` validates
/// (every problem named by its key, exit 1), then notes about what only a
/// compile would find out: input patterns that match no file yet, an
/// upstream's missing secret variable or file, an output directory that
/// does not exist.
pub(super) fn check_config(path: &Path) -> Result<(), Failure> {
    let config = Config::load(path)?;
    for (i, path) in config
        .inputs
        .iter()
        .enumerate()
        .filter_map(|(i, inp)| Some((i, inp.path.as_ref()?)))
    {
        let pattern = if Path::new(path).is_absolute() {
            path.clone()
        } else {
            config.base_dir().join(path).display().to_string()
        };
        if let Err(input::InputError::NoMatch { pattern }) = input::expand(&[(pattern, None)]) {
            eprintln!("note: inputs[{i}].path: {pattern:?} matches no file yet (compile fails until it does)");
        }
    }
    for (i, src) in config
        .inputs
        .iter()
        .enumerate()
        .filter_map(|(i, inp)| Some((i, inp.taxii.as_ref()?)))
    {
        for note in src.local_notes(&config.base_dir()) {
            eprintln!("note: inputs[{i}].taxii.{note}");
        }
    }
    let out = config.resolve(&config.compile.out);
    let out_dir = out
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    if !out_dir.is_dir() {
        eprintln!(
            "note: compile.out: directory {} does not exist (compile cannot publish there)",
            out_dir.display()
        );
    }
    let owners = match &config.owner_collections {
        Some(o) if o.enabled => ", owner collections on",
        _ => "",
    };
    print_out(&format!(
        "{}: ok ({} api roots, {} collections{owners}, {} inputs, {} users; feed {})",
        path.display(),
        config.api_roots.len(),
        config.collections.len(),
        config.inputs.len(),
        config.users.len(),
        out.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_has_a_man_page_and_the_main_page_the_exit_codes() {
        let dir = tempfile::tempdir().unwrap();
        man(Some(dir.path())).unwrap();
        let mut cmd = Cli::command();
        cmd.build();
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            let page = dir.path().join(format!("taxii-edge-{}.1", sub.get_name()));
            let text = std::fs::read_to_string(&page).unwrap();
            assert!(text.contains(".SH OPTIONS") || sub.get_arguments().count() == 0);
        }
        assert!(!dir.path().join("taxii-edge-help.1").exists());
        let main = std::fs::read_to_string(dir.path().join("taxii-edge.1")).unwrap();
        for want in [
            ".SH \"EXIT STATUS\"",
            "\\fB2\\fR",
            "taxii\\-edge\\-compile(1)",
        ] {
            assert!(main.contains(want), "{want} missing:\n{main}");
        }
    }

    #[test]
    fn completions_know_every_command() {
        for shell in [clap_complete::Shell::Bash, clap_complete::Shell::Zsh] {
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "taxii-edge", &mut buf);
            let text = String::from_utf8(buf).unwrap();
            for sub in ["check-config", "export-static", "--allow-shrink"] {
                assert!(text.contains(sub), "{shell}: {sub}");
            }
        }
    }
}
