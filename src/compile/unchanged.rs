//! Recognising a recompile that would publish what is already live, so
//! that it publishes nothing (docs/decisions.md#d70).
//!
//! A regeneration keeps every unchanged object's bytes and `date_added`
//! and every unchanged page's bytes, so compiling the inputs of the live
//! generation again against it rebuilds the same collections. Only two
//! things can make it differ: what the compile was given, and the clock.
//! - What it was given is one fingerprint, which each generation records
//!   in META (`compile.fingerprint`): this binary, the config (passwords
//!   and the token secret aside: the token key is compared instead), the
//!   flags that change the outcome, and each input file's name, format and
//!   bytes.
//! - The clock enters where the build compares a time with "now": an
//!   indicator `drop_expired` keeps until its `valid_until`, a tombstone
//!   kept until its retention ends. The build notes the earliest such
//!   instant ([`StableUntil`]), recorded as `compile.stable_until_us`. A
//!   query that reads `now()` selects differently as time passes: a config
//!   with one records no fingerprint, and every compile rebuilds.
//!
//! A compile whose fingerprint equals the live generation's, before that
//! instant and with the live file as its previous generation, leaves the
//! live file as it is; `--force` rebuilds anyway.

use super::{CompileOptions, Plan};
use crate::feed::Feed;
use crate::input::InputFile;
use crate::time::Micros;
use rayon::prelude::*;
use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use xxhash_rust::xxh3::Xxh3;

/// The earliest instant at which a decision the build took from the clock
/// would go the other way (see the module doc). Shared by the
/// collections' builds.
#[derive(Debug)]
pub(crate) struct StableUntil(AtomicI64);

impl StableUntil {
    pub fn new() -> Self {
        StableUntil(AtomicI64::new(i64::MAX))
    }

    /// Notes a decision that holds while the clock is before `t`.
    pub fn holds_before(&self, t: Micros) {
        self.0.fetch_min(t, Ordering::Relaxed);
    }

    /// `None` when no decision depended on the clock.
    pub fn get(&self) -> Option<Micros> {
        let t = self.0.load(Ordering::Relaxed);
        (t != i64::MAX).then_some(t)
    }
}

/// Bumped whenever what the fingerprint covers changes meaning.
const SCHEME: &[u8] = b"taxii-edge compile fingerprint 1\0";

/// The fingerprint of what this compile was given, as hex; `None` when a
/// query reads `now()` or a part cannot be read (the compile then always
/// rebuilds; an unreadable input fails in the read stage with its own
/// message).
pub(crate) fn fingerprint(
    opts: &CompileOptions,
    plans: &[Plan],
    files: &[InputFile],
) -> Option<String> {
    if plans.iter().any(|p| p.query.reads_now()) {
        return None;
    }
    let binary = std::env::current_exe().ok().and_then(|p| file_hash(&p))?;
    let inputs: Vec<u128> = files
        .par_iter()
        .map(|f| file_hash(&f.path))
        .collect::<Option<_>>()?;
    let mut h = Xxh3::new();
    h.update(SCHEME);
    h.update(&binary.to_le_bytes());
    h.update(config_text(&opts.config).as_bytes());
    h.update(&[u8::from(opts.strict)]);
    for (f, content) in files.iter().zip(inputs) {
        h.update(f.path.as_os_str().as_encoded_bytes());
        h.update(format!("\0{:?}\0", f.format).as_bytes());
        h.update(&content.to_le_bytes());
    }
    Some(format!("{:032x}", h.digest128()))
}

/// The config as the fingerprint sees it: everything, in its `Debug` form
/// (this binary's, which the fingerprint also covers), except secrets. A
/// change to a setting the compile does not read (a listen address)
/// costs one rebuild; leaving out one it does read would publish a stale
/// feed, so nothing else is left out.
fn config_text(cfg: &crate::config::Config) -> String {
    let mut c = cfg.clone();
    c.server.token_secret = None;
    for u in &mut c.users {
        u.password_hash = None;
        u.htpasswd = None;
    }
    format!("{c:?}")
}

/// xxh3-128 of a file's bytes, read in blocks (a mapping would leave the
/// whole file resident).
fn file_hash(path: &Path) -> Option<u128> {
    let mut f = std::fs::File::open(path).ok()?;
    let mut h = Xxh3::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match f.read(&mut buf) {
            Ok(0) => return Some(h.digest128()),
            Ok(n) => h.update(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
}

/// Whether the live generation `prev` is what this compile would publish:
/// it is the live file itself (not another `--previous`), it was compiled
/// with the same fingerprint and token key, and the clock has not reached
/// its `stable_until`.
pub(crate) fn is_current(
    prev: &Feed,
    live: &Path,
    fingerprint: &str,
    token_key: &str,
    now: Micros,
) -> bool {
    let meta = prev.meta();
    let Some(record) = &meta.compile else {
        return false;
    };
    same_file(prev.path(), live)
        && record.fingerprint.as_deref() == Some(fingerprint)
        && meta.token_key == token_key
        && record.stable_until_us.is_none_or(|t| now < t)
}

fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_until_keeps_the_earliest_instant() {
        let s = StableUntil::new();
        assert_eq!(s.get(), None);
        s.holds_before(50);
        s.holds_before(70);
        s.holds_before(20);
        assert_eq!(s.get(), Some(20));
    }

    #[test]
    fn secrets_do_not_enter_the_fingerprint_but_settings_do() {
        let text = "[server]\ntoken_secret = \"s3cret-value\"\n\
            [[api_roots]]\nname = \"feeds\"\ntitle = \"Feeds\"\n\
            [[users]]\nname = \"u\"\nhtpasswd = \"$6$crypt-value\"\n\
            password_hash = \"$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA\"\n";
        let cfg = crate::config::Config::from_toml(text, Path::new("t.toml")).unwrap();
        let seen = config_text(&cfg);
        for secret in ["s3cret-value", "crypt-value", "argon2id"] {
            assert!(!seen.contains(secret), "{secret} in {seen}");
        }
        let mut other = cfg.clone();
        other.compile.revoked_retention_days += 1;
        assert_ne!(config_text(&other), seen);
    }
}
