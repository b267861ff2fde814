//! The STIX builder: canonical indicators → STIX 2.1 (and 2.0) indicator
//! objects, their SCOs and the TLP marking definitions they reference.
//!
//! Building is split in two because of versioning (docs/decisions.md#d11): the
//! compile first builds a [`Draft`] (everything but `modified`), compares
//! its [`content_hash`] with the previous generation's, and only then
//! serializes with either the previous `modified` (unchanged) or a new one
//! (changed). [`serialize21`] and [`serialize20`] render the same draft for
//! TAXII 2.1 and 2.0 collections.
//!
//! Modules: [`pattern`] (patterns and string-literal escaping), [`id`]
//! (deterministic ids), [`marking`] (TLP definitions), [`serialize`]
//! (compact JSON). Field mappings live in [`crate::mapping`].
//!
//! Dates (all truncated to milliseconds, the precision we write):
//! - `created` = the record's created, else its last_modified, else
//!   [`BuildSettings::undated`] (with a warning);
//! - `valid_from` = `created` by default, or `last_modified` when the
//!   profile follows its platform ([`ValidFrom::default_for`]: ThreatConnect's
//!   own TAXII app uses lastModified) or the settings say so;
//! - `valid_until` = the source's own expiration (XSOAR `expiration`) when
//!   present, else last_modified (else created) + the TTL hours of the type
//!   (collection → global → default, `-1` = none). STIX requires
//!   `valid_until > valid_from`; when the data says otherwise (a short TTL
//!   on an old last_modified with a later valid_from, an expiration before
//!   the first sighting) `valid_until` becomes `valid_from + 1 ms` and the
//!   draft carries a warning: the object stays valid and is, in effect,
//!   already expired, which is what the source meant.

pub mod id;
pub mod json;
pub mod marking;
pub mod pattern;
pub mod serialize;

pub use id::{indicator_id, sco, Sco, NAMESPACE};
pub use marking::{marking_object, marking_ref};
pub use pattern::{decode_string_literal, pattern};
pub use serialize::{
    content_hash, identity_object, revoke_json20, revoke_json21, serialize20, serialize21,
};

use crate::config::{resolve_ttl, TtlTable};
use crate::mapping::Mappings;
use crate::record::{Indicator, Profile, Tlp};
use crate::time::{self, Micros, HOUR, MILLI};
use serde_json::{Map, Value};
use uuid::Uuid;

/// An SCO as carried by a [`Draft`]: already complete (SCOs have no
/// `modified`).
pub type ScoDraft = Sco;

/// Which date becomes `valid_from`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValidFrom {
    /// The record's created (first seen): the STIX meaning of valid_from.
    Created,
    /// The record's last_modified, as ThreatConnect's own TAXII app does.
    LastModified,
}

impl ValidFrom {
    /// What each profile's platform does: ThreatConnect's TAXII app uses
    /// lastModified, every other profile created.
    pub fn default_for(profile: Profile) -> ValidFrom {
        match profile {
            Profile::Threatconnect => ValidFrom::LastModified,
            _ => ValidFrom::Created,
        }
    }
}

/// Per-collection settings of the builder (built once per compile).
#[derive(Debug, Clone)]
pub struct BuildSettings<'a> {
    /// Part of every indicator id (docs/decisions.md#d19).
    pub collection_id: Uuid,
    /// The collection's TTL table (`collections[i].ttl`).
    pub ttl_collection: &'a TtlTable,
    /// The global TTL table (`[ttl]`).
    pub ttl_global: &'a TtlTable,
    /// `created_by_ref` of every indicator (the configured identity).
    pub identity_ref: Option<&'a str>,
    /// `server.tlp2_markings`: TLP 2.0 marking definitions instead of 1.0.
    pub tlp2: bool,
    /// Also build the SCO of each indicator (`collections[i].emit_scos`).
    pub emit_scos: bool,
    /// Overrides the profile's choice of `valid_from` ([`ValidFrom::default_for`]);
    /// `None` follows the profile.
    pub valid_from: Option<ValidFrom>,
    /// `created` of a record that carries no date at all. Must be stable
    /// from one compile to the next (e.g. the time the feed was first
    /// generated), or such indicators change version on every compile.
    pub undated: Micros,
}

/// An indicator ready to serialize, minus `modified` (which the compile
/// lifecycle decides: it keeps the previous `modified` when nothing else
/// changed, see docs/decisions.md#d11).
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    /// `indicator--<uuid>` ([`indicator_id`]).
    pub id: String,
    /// The configured identity, when there is one.
    pub created_by_ref: Option<String>,
    pub created: Micros,
    pub pattern: String,
    pub valid_from: Micros,
    pub valid_until: Option<Micros>,
    /// True when the record itself is revoked ([`is_revoked`]; written as
    /// `revoked: true`).
    pub revoked: bool,
    /// STIX 2.1 marking-definition ids ([`marking_ref`]); the 2.0 form maps
    /// them with [`marking::ref_for_20`].
    pub markings: Vec<&'static str>,
    /// Every other property (builder defaults, then mappings), in insertion
    /// order; the serializer places the known ones and appends the rest.
    pub fields: Map<String, Value>,
    /// The STIX 2.0 `labels` when nothing is mapped to `labels` or
    /// `indicator_types` ([`crate::mapping::stix20_fallback_label`]).
    pub labels20_fallback: &'static str,
    /// The indicator's SCO when the collection asks for SCOs (2.1 only).
    pub scos: Vec<ScoDraft>,
    /// Data problems worth a line in the compile summary (clamped
    /// valid_until, dropped mapping values…); the object is valid anyway.
    pub warnings: Vec<String>,
}

impl Draft {
    /// The warning to report when this draft is also served as STIX 2.0 and
    /// its marking cannot be represented there without tightening it.
    pub fn stix20_warning(&self) -> Option<&'static str> {
        self.markings
            .contains(&marking::TLP2_AMBER_STRICT)
            .then_some(marking::AMBER_STRICT_IN_20_WARNING)
    }
}

/// Whether an indicator is published `revoked: true`: when its record is
/// inactive, except an expired XSOAR record that has an expiration date,
/// which stays unrevoked with that date as `valid_until`, as XSOAR's own
/// TAXII server publishes it (it never revokes; a client that honours
/// `valid_until` sees the expiry, and the indicator keeps its id when XSOAR
/// extends it). An expired XSOAR record without a date has nothing else to
/// say it, so it is revoked.
pub fn is_revoked(ind: &Indicator) -> bool {
    let expiry_dated = ind.profile == Profile::Xsoar && ind.expiration.is_some();
    !ind.active && !expiry_dated
}

/// The dates of an indicator's object (`created`, `valid_from`,
/// `valid_until`, see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dates {
    pub created: Micros,
    pub valid_from: Micros,
    pub valid_until: Option<Micros>,
}

/// [`Dates`] of one indicator: what [`build_indicator`] writes, and what
/// the compile decides expiry by without building the object
/// (`compile::lifecycle::reuse`).
pub fn dates(ind: &Indicator, s: &BuildSettings, warnings: &mut Vec<String>) -> Dates {
    let created = match ind.created.or(ind.last_modified) {
        Some(t) => t,
        None => {
            warnings.push(format!(
                "record has no created or last-modified date; created set to {}",
                time::fmt_ms(s.undated)
            ));
            s.undated
        }
    };
    let created = time::truncate_ms(created);
    let last_modified = time::truncate_ms(ind.last_modified.unwrap_or(created));
    let valid_from = match s.valid_from.unwrap_or(ValidFrom::default_for(ind.profile)) {
        ValidFrom::Created => created,
        ValidFrom::LastModified => last_modified,
    };
    let mut valid_until = match ind.expiration {
        Some(e) => Some(time::truncate_ms(e)),
        None => resolve_ttl(ind.kind, s.ttl_collection, s.ttl_global)
            .map(|h| last_modified.saturating_add(h.saturating_mul(HOUR))),
    };
    if let Some(u) = valid_until {
        if u <= valid_from {
            let fixed = valid_from + MILLI;
            warnings.push(format!(
                "valid_until {} is not after valid_from {}; set to {}",
                time::fmt_ms(u),
                time::fmt_ms(valid_from),
                time::fmt_ms(fixed)
            ));
            valid_until = Some(fixed);
        }
    }
    Dates {
        created,
        valid_from,
        valid_until,
    }
}

/// Builds the draft of one indicator in one collection. `epoch` is the
/// indicator's revocation epoch (0 until it has been revoked once, see
/// docs/decisions.md#d12); `maps` are the collection's compiled mappings.
pub fn build_indicator(ind: &Indicator, epoch: u32, s: &BuildSettings, maps: &Mappings) -> Draft {
    let id = indicator_id(&s.collection_id, ind.kind, &ind.value, epoch);
    build_indicator_as(ind, id, s, maps)
}

/// [`build_indicator`] with an id chosen by the caller (a collection with
/// XSOAR's ids, [`id::xsoar_indicator_id`]).
pub fn build_indicator_as(
    ind: &Indicator,
    id: String,
    s: &BuildSettings,
    maps: &Mappings,
) -> Draft {
    let mut warnings = Vec::new();
    let Dates {
        created,
        valid_from,
        valid_until,
    } = dates(ind, s, &mut warnings);

    let mut fields = Map::new();
    fields.insert("name".into(), Value::String(ind.value.clone()));
    if let Some(d) = ind.description.as_deref().filter(|d| !d.trim().is_empty()) {
        fields.insert("description".into(), Value::String(d.to_string()));
    }
    if let Some(c) = ind.confidence {
        fields.insert("confidence".into(), Value::from(c.min(100)));
    }
    maps.apply(ind.profile, &ind.source, &mut fields, &mut warnings);

    let markings = ind
        .tlp
        .map(|t: Tlp| vec![marking_ref(t, s.tlp2)])
        .unwrap_or_default();
    let scos = if s.emit_scos {
        sco(ind).into_iter().collect()
    } else {
        Vec::new()
    };
    Draft {
        id,
        created_by_ref: s.identity_ref.map(str::to_string),
        created,
        pattern: pattern(ind),
        valid_from,
        valid_until,
        revoked: is_revoked(ind),
        markings,
        fields,
        labels20_fallback: crate::mapping::stix20_fallback_label(ind.profile),
        scos,
        warnings,
    }
}

#[cfg(test)]
mod tests;
