//! The shrink guard: nothing is published when a collection would lose
//! more than `compile.shrink_guard` of its objects (`--allow-shrink`
//! overrides).

use super::{lifecycle, CompileError, Plan};
use crate::config::Config;
use crate::feed::Feed;

/// The shrink guard: refuses to publish when a collection would lose more
/// than `compile.shrink_guard` of its live objects.
pub(super) fn shrink_guard(
    cfg: &Config,
    plans: &[Plan],
    built: &[lifecycle::Built],
) -> Result<(), CompileError> {
    for (plan, b) in plans.iter().zip(built) {
        let col = &cfg.collections[plan.index];
        if b.previous_live == 0 {
            continue;
        }
        let after = b.live;
        if after < b.previous_live {
            let lost = (b.previous_live - after) as f64 / b.previous_live as f64;
            if lost > cfg.compile.shrink_guard {
                return Err(CompileError::Shrink {
                    collection: format!(
                        "{} ({})",
                        col.alias.as_deref().unwrap_or(&col.title),
                        plan.id
                    ),
                    before: b.previous_live,
                    after,
                    lost_pct: lost * 100.0,
                    guard_pct: cfg.compile.shrink_guard * 100.0,
                });
            }
        }
    }
    Ok(())
}

/// A collection that left the config loses all its objects: the shrink
/// guard applies to it too (and its revocation history goes with it, see
/// README).
pub(super) fn retired_guard(cfg: &Config, plans: &[Plan], prev: &Feed) -> Result<(), CompileError> {
    for (m, c) in prev.meta().collections.iter().zip(prev.collections()) {
        if !c.is_empty() && !plans.iter().any(|p| p.id.to_string() == m.id) {
            return Err(CompileError::Shrink {
                collection: format!("{} ({}, no longer in the config)", m.title, m.id),
                before: c.len() as u64,
                after: 0,
                lost_pct: 100.0,
                guard_pct: cfg.compile.shrink_guard * 100.0,
            });
        }
    }
    Ok(())
}
