//! Owner collections at compile time: one collection per owner the
//! inputs name, added to a copy of the config before planning (what each
//! gets, and why ids never change: `config::owners`).

use super::held::{Held, NO_OWNER};
use super::CompileError;
use crate::config::owners::collection_config;
use crate::config::{Config, OwnerCollectionsConfig};
use std::collections::BTreeSet;
use std::sync::Arc;

/// The distinct owners of the indicator `records` (their stubs index
/// `names`) that get a collection, sorted (so the feed lists them in a
/// stable order).
fn owners_of(oc: &OwnerCollectionsConfig, records: &[Held], names: &[Arc<str>]) -> Vec<String> {
    let mut seen = vec![false; names.len()];
    for r in records {
        if let Held::Stub(s) = r {
            if s.owner != NO_OWNER {
                seen[s.owner as usize] = true;
            }
        }
    }
    let set: BTreeSet<&str> = names
        .iter()
        .zip(seen)
        .filter(|(o, seen)| *seen && !oc.exclude.iter().any(|x| **x == ***o))
        .map(|(o, _)| &**o)
        .collect();
    set.into_iter().map(str::to_string).collect()
}

/// The config with one collection appended per owner of `records`, or
/// `None` when owner collections are off. A derived id that a configured
/// collection already uses is a config error naming both.
pub(super) fn expand(
    cfg: &Config,
    records: &[Held],
    names: &[Arc<str>],
) -> Result<Option<Config>, CompileError> {
    let Some(oc) = cfg.owner_collections.as_ref().filter(|o| o.enabled) else {
        return Ok(None);
    };
    let mut out = cfg.clone();
    for owner in owners_of(oc, records, names) {
        let col = collection_config(cfg, oc, &owner);
        let id = col.id.clone().unwrap_or_default();
        if let Some(i) = cfg.collections.iter().position(|c| {
            c.id.as_deref().map(str::to_ascii_lowercase).as_deref() == Some(id.as_str())
        }) {
            return Err(CompileError::Config {
                key: format!("collections[{i}].id"),
                message: format!(
                    "{id} is also the built-in collection id of owner {owner:?} ([owner_collections]); give collections[{i}] another id, or add {owner:?} to owner_collections.exclude"
                ),
            });
        }
        out.collections.push(col);
    }
    Ok(Some(out))
}
