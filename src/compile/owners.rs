//! Owner collections at compile time: one collection per owner the
//! inputs name, added to a copy of the config before planning (what each
//! gets, and why ids never change: `config::owners`).

use super::CompileError;
use crate::config::owners::collection_config;
use crate::config::{Config, OwnerCollectionsConfig};
use crate::record::Record;
use std::collections::BTreeSet;

/// The distinct owners of `records` that get a collection, sorted (so the
/// feed lists them in a stable order).
pub fn owners_of(oc: &OwnerCollectionsConfig, records: &[Record]) -> Vec<String> {
    let mut set = BTreeSet::new();
    for r in records {
        if let Record::Indicator(i) = r {
            if let Some(o) = i.owner.as_deref() {
                if !set.contains(o) && !oc.exclude.iter().any(|x| x == o) {
                    set.insert(o.to_string());
                }
            }
        }
    }
    set.into_iter().collect()
}

/// The config with one collection appended per owner of `records`, or
/// `None` when owner collections are off. A derived id that a configured
/// collection already uses is a config error naming both.
pub fn expand(cfg: &Config, records: &[Record]) -> Result<Option<Config>, CompileError> {
    let Some(oc) = cfg.owner_collections.as_ref().filter(|o| o.enabled) else {
        return Ok(None);
    };
    let mut out = cfg.clone();
    for owner in owners_of(oc, records) {
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
