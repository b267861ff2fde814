//! JMESPath field mappings: `stix_property = "<JMESPath over the source
//! record>"`.
//!
//! Three layers, later wins per property: the profile's defaults (which
//! reproduce what that platform's own TAXII server emits,
//! docs/input-formats.md#platform-defaults), the global `[mappings]`, then the
//! collection's `mappings`. One [`Mappings`] is compiled per collection and
//! holds the merged list for every profile, because a collection may mix
//! records of several inputs.
//!
//! Output must stay valid STIX whatever the data says, so:
//! - statically (config load): protected properties (the builder's, see
//!   [`crate::config::PROTECTED_PROPERTIES`]) and unknown names are errors,
//!   custom names must be `x_` + STIX's custom-name characters, expressions
//!   must compile, and a literal must have the property's type;
//! - at run time: a mapping that yields `null` (or an empty list) leaves the
//!   property out; a value of the wrong type is dropped with a warning that
//!   names the property (so the compile can count them per property), and
//!   the builder's own value, if any, stays.
//!
//! Evaluation follows docs/decisions.md#d61: expressions are compiled once and run with
//! `jmespath::interpret` on the AST (`Expression::search` re-serializes the
//! document each time); the source record is converted to a `Variable` once
//! per record, and only when a mapping of that profile reads it (literal
//! mappings are evaluated at load time).
//!
//! That conversion was half the mapping cost (a `BTreeMap` and an `Arc` per
//! JSON node of the whole record). At load time each profile's expressions
//! are analysed for the top-level fields they can reach ([`root_fields`]);
//! at run time only those members are converted, in one pass that skips
//! the others without allocating (`source_doc`). An expression that may
//! see the root as a whole (`@`, `*`, `keys(@)`…) converts everything, as
//! before. The result is identical: a JMESPath expression cannot tell a
//! member it never names from one that is absent.

use crate::config::{Problem, PROTECTED_PROPERTIES};
use crate::record::{Profile, Source};
use jmespath::ast::Ast;
use jmespath::{Context, Expression, Rcvar, Variable, DEFAULT_RUNTIME};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt;

/// Collects the top-level fields of the document that `ast`, evaluated
/// against the document root, can read; `false` if it may read the root as
/// a whole (then every member must be converted). Right-hand sides of
/// sub-expressions and projections, and `&expr` arguments, run on values
/// below the root, so their field names are not root fields.
pub(crate) fn root_fields(ast: &Ast, out: &mut Vec<String>) -> bool {
    match ast {
        Ast::Field { name, .. } => {
            if !out.iter().any(|f| f == name) {
                out.push(name.clone());
            }
            true
        }
        Ast::Literal { .. } | Ast::Expref { .. } => true,
        Ast::Subexpr { lhs, .. } | Ast::Projection { lhs, .. } => root_fields(lhs, out),
        Ast::Flatten { node, .. } | Ast::ObjectValues { node, .. } | Ast::Not { node, .. } => {
            root_fields(node, out)
        }
        Ast::Comparison { lhs, rhs, .. } | Ast::And { lhs, rhs, .. } | Ast::Or { lhs, rhs, .. } => {
            root_fields(lhs, out) && root_fields(rhs, out)
        }
        Ast::Condition {
            predicate, then, ..
        } => root_fields(predicate, out) && root_fields(then, out),
        Ast::Function { args, .. } => args.iter().all(|a| root_fields(a, out)),
        Ast::MultiList { elements, .. } => elements.iter().all(|a| root_fields(a, out)),
        Ast::MultiHash { elements, .. } => elements.iter().all(|kv| root_fields(&kv.value, out)),
        // `@` is the root itself; an index or slice of the root is
        // harmless on an object, but rare enough not to special-case.
        Ast::Identity { .. } | Ast::Index { .. } | Ast::Slice { .. } => false,
    }
}

/// What of the source record a profile's mappings need converted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
enum Needs {
    /// No mapping reads the record (only literals).
    #[default]
    Nothing,
    /// Only these top-level members.
    Fields(Vec<String>),
    /// The whole record.
    Whole,
}

impl Needs {
    fn of(list: &[Compiled]) -> Needs {
        let mut fields = Vec::new();
        let mut any = false;
        for c in list.iter().filter(|c| c.literal.is_none()) {
            any = true;
            if !root_fields(c.expr.as_ast(), &mut fields) {
                return Needs::Whole;
            }
        }
        if any {
            Needs::Fields(fields)
        } else {
            Needs::Nothing
        }
    }
}

/// The source record as a JMESPath document, converted once for every
/// mapping of one profile: the whole record, or only the members some
/// expression can reach (`needs`). A record whose top level is not an
/// object, or that is not JSON, takes the whole-record path (same result,
/// same error text).
fn source_doc(json: &str, needs: &Needs) -> Result<Rcvar, String> {
    if let Needs::Fields(fields) = needs {
        let mut de = serde_json::Deserializer::from_str(json);
        if let Ok(map) = serde::Deserializer::deserialize_any(&mut de, PartialObject { fields }) {
            if de.end().is_ok() {
                return Ok(Rcvar::new(Variable::Object(map)));
            }
        }
    }
    Variable::from_json(json).map(Rcvar::new)
}

/// A serde visitor that keeps only `fields` of a JSON object, converting
/// their values to `Variable` and skipping every other member without
/// building it. A repeated key keeps its last value, as
/// `Variable::from_json` does.
struct PartialObject<'f> {
    fields: &'f [String],
}

/// Deserializes one object key into "wanted (owned) or not".
struct WantedKey<'f>(&'f [String]);

impl<'de> serde::de::DeserializeSeed<'de> for WantedKey<'_> {
    type Value = Option<String>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl serde::de::Visitor<'_> for WantedKey<'_> {
    type Value = Option<String>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(self.0.iter().any(|f| f == v).then(|| v.to_string()))
    }
}

impl<'de> serde::de::Visitor<'de> for PartialObject<'_> {
    type Value = BTreeMap<String, Rcvar>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = BTreeMap::new();
        while let Some(key) = map.next_key_seed(WantedKey(self.fields))? {
            match key {
                Some(k) => {
                    let v: Variable = map.next_value()?;
                    out.insert(k, Rcvar::new(v));
                }
                None => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        Ok(out)
    }
}

/// Static mapping problems, each naming its config key
/// (`collections[1].mappings.labels`), ready to merge into the config's own
/// problem list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct MappingError {
    pub problems: Vec<Problem>,
}

impl fmt::Display for MappingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

/// The JSON type a mapped property must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `name`, `description`, `lang`.
    Str,
    /// `labels`, `indicator_types`; a single string is taken as a list of one.
    StrList,
    /// `confidence`: an integer 0–100.
    Confidence,
    /// `external_references`: objects with a string `source_name`.
    ExternalRefs,
    /// `kill_chain_phases`: objects with string `kill_chain_name` and `phase_name`.
    KillChain,
    /// `x_*` custom properties: any JSON value.
    Any,
}

impl Kind {
    fn describe(self) -> &'static str {
        match self {
            Kind::Str => "a string",
            Kind::StrList => "a list of strings",
            Kind::Confidence => "an integer from 0 to 100",
            Kind::ExternalRefs => "a list of objects, each with a string source_name",
            Kind::KillChain => "a list of objects, each with string kill_chain_name and phase_name",
            Kind::Any => "any value",
        }
    }
}

/// What a property name may be mapped to, or why it may not.
fn kind_of(field: &str) -> Result<Kind, String> {
    if PROTECTED_PROPERTIES.contains(&field) {
        return Err(
            "is set by the STIX builder and cannot be mapped (it is required or derived)".into(),
        );
    }
    match field {
        "name" | "description" | "lang" => Ok(Kind::Str),
        "labels" | "indicator_types" => Ok(Kind::StrList),
        "confidence" => Ok(Kind::Confidence),
        "external_references" => Ok(Kind::ExternalRefs),
        "kill_chain_phases" => Ok(Kind::KillChain),
        "created_by_ref" => {
            Err("is set by the builder from [compile.identity]; it cannot be mapped".into())
        }
        "object_marking_refs" | "granular_markings" => {
            Err("is set by the builder from the record's TLP; it cannot be mapped".into())
        }
        f if f.starts_with("x_") => {
            if (3..=250).contains(&f.len())
                && f.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            {
                Ok(Kind::Any)
            } else {
                Err("custom property names must be 3 to 250 characters of a-z, 0-9 and _ (STIX 2.1 §3.1)".into())
            }
        }
        _ => Err(
            "is not a STIX indicator property a mapping may set (name, description, lang, labels, \
             indicator_types, confidence, external_references, kill_chain_phases); custom \
             properties must start with x_, e.g. x_"
                .to_string()
                + &field
                    .to_ascii_lowercase()
                    .replace(|c: char| !(c.is_ascii_alphanumeric() || c == '_'), "_"),
        ),
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Checks and normalises a mapped value: `Ok(None)` leaves the property
/// out, `Err` says what was wrong.
fn conform(kind: Kind, v: Value) -> Result<Option<Value>, String> {
    let wrong = |v: &Value| {
        Err(format!(
            "expected {}, got {}",
            kind.describe(),
            type_name(v)
        ))
    };
    if v.is_null() {
        return Ok(None);
    }
    match kind {
        Kind::Any => Ok(Some(v)),
        Kind::Str => match v {
            Value::String(_) => Ok(Some(v)),
            _ => wrong(&v),
        },
        Kind::StrList => match v {
            Value::String(s) => Ok(Some(Value::Array(vec![Value::String(s)]))),
            Value::Array(ref a) if a.iter().all(Value::is_string) => {
                Ok((!a.is_empty()).then_some(v))
            }
            Value::Array(ref a) => Err(format!(
                "expected {}, got a list containing {}",
                kind.describe(),
                a.iter()
                    .find(|x| !x.is_string())
                    .map(type_name)
                    .unwrap_or("?")
            )),
            _ => wrong(&v),
        },
        Kind::Confidence => {
            let n = v
                .as_f64()
                .filter(|n| n.fract() == 0.0 && (0.0..=100.0).contains(n));
            match n {
                Some(n) => Ok(Some(Value::from(n as u8))),
                None if v.is_number() => Err(format!("expected {}, got {v}", kind.describe())),
                None => wrong(&v),
            }
        }
        Kind::ExternalRefs | Kind::KillChain => {
            let required: &[&str] = if kind == Kind::ExternalRefs {
                &["source_name"]
            } else {
                &["kill_chain_name", "phase_name"]
            };
            match v {
                Value::Array(ref a)
                    if a.iter().all(|o| {
                        o.as_object().is_some_and(|o| {
                            required
                                .iter()
                                .all(|k| o.get(*k).is_some_and(Value::is_string))
                        })
                    }) =>
                {
                    Ok((!a.is_empty()).then_some(v))
                }
                _ => wrong(&v),
            }
        }
    }
}

/// One compiled mapping.
#[derive(Clone)]
struct Compiled {
    field: String,
    kind: Kind,
    expr: Expression<'static>,
    /// The value of a literal expression, conformed at load time; such a
    /// mapping never needs the source record.
    literal: Option<Option<Value>>,
}

impl fmt::Debug for Compiled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} = {:?}", self.field, self.expr.as_str())
    }
}

/// Compiles one mapping, or says (without the key) what is wrong.
fn compile_one(field: &str, expr: &str) -> Result<Compiled, String> {
    let kind = kind_of(field)?;
    let compiled = jmespath::compile(expr)
        .map_err(|e| format!("invalid JMESPath expression {expr:?}: {e}"))?;
    let literal = match compiled.as_ast() {
        Ast::Literal { value, .. } => {
            let v = serde_json::to_value(&**value).map_err(|e| e.to_string())?;
            Some(conform(kind, v).map_err(|e| format!("literal of the wrong type: {e}"))?)
        }
        _ => None,
    };
    Ok(Compiled {
        field: field.to_string(),
        kind,
        expr: compiled,
        literal,
    })
}

/// The profile defaults: (property, JMESPath). See [`render_table`] for
/// what each means and what the builder does on its own.
///
/// ThreatConnect's defaults follow its TAXII Server app (the objects in
/// ThreatConnect's developer docs, `docs/rest_api/taxii/taxii_2.1.rst`, app
/// 1.0 and 2.0): an integer `x_threat_rating` (0 when unset), the rating as
/// a word label (`tcex/stix/model.py` in ThreatConnect's tcex library has
/// the words for 1 and 3, which the docs do not show), `lang`, and app
/// 2.0's `x_threatconnect_*` properties. A fractional rating counts by its
/// whole part (`>=` thresholds: 4.5 is 4, "High"), so the number and the
/// word always agree. XSOAR's follow its TAXII2 server
/// (`XSOAR2STIXParser.get_labels_for_indicator` in demisto/content's
/// `TAXII2ApiModule.py`): the score label only.
pub fn default_mappings(profile: Profile) -> &'static [(&'static str, &'static str)] {
    match profile {
        Profile::Threatconnect => &[
            ("indicator_types", "`[\"malicious-activity\"]`"),
            (
                "labels",
                "[tags.data[].name, to_number(rating) || `0` | \
                 (@ >= `5` && 'Threat Rating: Very High') || (@ >= `4` && 'Threat Rating: High') || \
                 (@ >= `3` && 'Threat Rating: Moderate') || (@ >= `2` && 'Threat Rating: Low') || \
                 (@ >= `1` && 'Threat Rating: Suspicious') || `null`][]",
            ),
            ("lang", "'en'"),
            (
                "x_threat_rating",
                "to_number(rating) || `0` | (@ >= `5` && `5`) || (@ >= `4` && `4`) || \
                 (@ >= `3` && `3`) || (@ >= `2` && `2`) || (@ >= `1` && `1`) || `0`",
            ),
            ("x_threatconnect_id", "id"),
            ("x_threatconnect_owner", "ownerName"),
            ("x_threatconnect_type", "type"),
        ],
        Profile::Xsoar => &[(
            "labels",
            "to_number(score) | (@ == `1` && 'benign') || (@ == `2` && 'anomalous-activity') || \
             (@ == `3` && 'malicious-activity') || `null`",
        )],
        Profile::Native => &[("labels", "tags")],
        Profile::Stix => &[],
    }
}

/// The label of a STIX 2.0 indicator that has neither mapped `labels` nor
/// `indicator_types` (STIX 2.0 requires at least one label). XSOAR records
/// without a score label have an unknown score, and calling them malicious
/// would be false: they get `unknown`, the STIX 2.1 indicator-type word for
/// it (STIX 2.0's label vocabulary has none; the vocabulary is open, so
/// validators only warn). Other profiles keep `malicious-activity`, what
/// they label everything they export.
pub fn stix20_fallback_label(profile: Profile) -> &'static str {
    match profile {
        Profile::Xsoar => "unknown",
        _ => "malicious-activity",
    }
}

/// Compiled mappings of one collection, for every profile. Cheap to share
/// between threads (`Send + Sync`).
#[derive(Debug, Clone)]
pub struct Mappings {
    /// Indexed like [`Profile::ALL`]: the merged list of that profile, in
    /// first-definition order.
    per_profile: [Vec<Compiled>; 4],
    /// Indexed the same way: what of the source the list reads.
    needs: [Needs; 4],
}

fn merge(list: &mut Vec<Compiled>, c: Compiled) {
    match list.iter_mut().find(|x| x.field == c.field) {
        Some(slot) => *slot = c,
        None => list.push(c),
    }
}

impl Mappings {
    /// Compiles profile defaults + `global` (`[mappings]`) + `collection`
    /// (`collection_key`, e.g. `collections[1].mappings`). Every problem is
    /// reported, each under its key (`mappings.labels`,
    /// `collections[1].mappings.x_score`).
    pub fn new(
        global: &BTreeMap<String, String>,
        collection: &BTreeMap<String, String>,
        collection_key: &str,
    ) -> Result<Mappings, MappingError> {
        let mut problems = Vec::new();
        let mut user = Vec::new();
        for (map, key) in [(global, "mappings"), (collection, collection_key)] {
            for (field, expr) in map {
                match compile_one(field, expr) {
                    Ok(c) => user.push(c),
                    Err(message) => problems.push(Problem {
                        key: format!("{key}.{field}"),
                        message,
                    }),
                }
            }
        }
        if !problems.is_empty() {
            return Err(MappingError { problems });
        }
        let per_profile = Profile::ALL.map(|p| {
            let mut list = Vec::new();
            for (field, expr) in default_mappings(p) {
                // The defaults are ours and tested (every default compiles).
                if let Ok(c) = compile_one(field, expr) {
                    merge(&mut list, c);
                }
            }
            for c in &user {
                merge(&mut list, c.clone());
            }
            list
        });
        let needs = [0, 1, 2, 3].map(|i| Needs::of(&per_profile[i]));
        Ok(Mappings { per_profile, needs })
    }

    /// The top-level members of a `profile` source record these mappings
    /// read.
    pub fn reads(&self, profile: Profile) -> crate::record::Keep {
        match &self.needs[profile.index()] {
            Needs::Nothing => crate::record::Keep::Members(Vec::new()),
            Needs::Fields(f) => crate::record::Keep::Members(f.clone()),
            Needs::Whole => crate::record::Keep::Whole,
        }
    }

    /// Only the profile defaults (no config mappings).
    pub fn defaults() -> Mappings {
        let empty = BTreeMap::new();
        // Defaults always compile (tested), so this cannot fail.
        Mappings::new(&empty, &empty, "mappings").unwrap_or(Mappings {
            per_profile: Default::default(),
            needs: Default::default(),
        })
    }

    /// The (property, expression) pairs in force for a profile.
    pub fn effective(&self, profile: Profile) -> Vec<(&str, &str)> {
        self.per_profile[profile.index()]
            .iter()
            .map(|c| (c.field.as_str(), c.expr.as_str()))
            .collect()
    }

    /// Applies the profile's mappings to `fields`: a conforming value
    /// replaces the property, null or an empty list removes it, a value of
    /// the wrong type is dropped with a warning (`mapping <property>: …`).
    pub fn apply(
        &self,
        profile: Profile,
        source: &Source,
        fields: &mut Map<String, Value>,
        warnings: &mut Vec<String>,
    ) {
        let pi = profile.index();
        let list = &self.per_profile[pi];
        if list.is_empty() {
            return;
        }
        let mut data: Option<Rcvar> = None;
        let mut unreadable = false;
        for c in list {
            let result = match &c.literal {
                Some(v) => Ok(v.clone()),
                None if unreadable => continue,
                None => {
                    if data.is_none() {
                        match source_doc(source.as_str(), &self.needs[pi]) {
                            Ok(v) => data = Some(v),
                            Err(e) => {
                                warnings.push(format!(
                                    "mappings that read the record skipped: source record is not JSON: {e}"
                                ));
                                unreadable = true;
                                continue;
                            }
                        }
                    }
                    let Some(d) = data.as_ref() else { continue };
                    let mut ctx = Context::new(c.expr.as_str(), &DEFAULT_RUNTIME);
                    match jmespath::interpret(d, c.expr.as_ast(), &mut ctx) {
                        Ok(r) => serde_json::to_value(&*r)
                            .map_err(|e| e.to_string())
                            .and_then(|v| conform(c.kind, v)),
                        Err(e) => Err(format!("expression {:?} failed: {e}", c.expr.as_str())),
                    }
                }
            };
            match result {
                Ok(Some(v)) => {
                    fields.insert(c.field.clone(), v);
                }
                Ok(None) => {
                    fields.shift_remove(&c.field);
                }
                Err(e) => warnings.push(format!("mapping {}: {e}; value dropped", c.field)),
            }
        }
    }
}

/// What the builder sets on its own, per profile: (property, meaning).
fn built_in(profile: Profile) -> Vec<(&'static str, &'static str)> {
    let mut v = vec![
        ("pattern", "(built in) from type and value, e.g. [ipv4-addr:value = '…']"),
        ("name", "(built in) the indicator value"),
        (
            "description",
            "(built in) the record's description (ThreatConnect: description or the default Description attribute; XSOAR: CustomFields.description)",
        ),
        ("confidence", "(built in) the record's confidence 0-100, when it has one"),
        (
            "valid_from",
            if profile == Profile::Threatconnect {
                "(built in) lastModified, as ThreatConnect's TAXII app does"
            } else {
                "(built in) created (first seen)"
            },
        ),
        (
            "valid_until",
            "(built in) the source's expiration (XSOAR), else last modified + TTL hours of the type; none for -1",
        ),
        (
            "revoked",
            if profile == Profile::Xsoar {
                "(built in) true when the record is expired without an expiration date; an expired record with one is not revoked, its valid_until says it (XSOAR's own server never revokes)"
            } else {
                "(built in) true when the record is inactive"
            },
        ),
        (
            "labels (STIX 2.0)",
            if profile == Profile::Xsoar {
                "(built in) required in 2.0: the mapped labels, else indicator_types, else \"unknown\" (an unknown score is not malicious)"
            } else {
                "(built in) required in 2.0: the mapped labels, else indicator_types, else \"malicious-activity\""
            },
        ),
        ("object_marking_refs", "(built in) the record's TLP marking definition"),
        ("created_by_ref", "(built in) [compile.identity], when configured"),
        (
            "id",
            if profile == Profile::Xsoar {
                "(built in) derived from collection, type and value; collections[i].ids = \"xsoar\" gives XSOAR's own ids (CustomFields.stixid first)"
            } else {
                "(built in) derived from collection, type and value; collections[i].ids = \"xsoar\" gives XSOAR's ids"
            },
        ),
    ];
    if profile == Profile::Stix {
        v = vec![(
            "(all)",
            "(built in) STIX objects pass through unchanged; mappings do not apply",
        )];
    }
    v
}

fn meaning(profile: Profile, field: &str) -> &'static str {
    match (profile, field) {
        (Profile::Threatconnect, "indicator_types") => {
            "always malicious-activity, like ThreatConnect's TAXII app"
        }
        (Profile::Threatconnect, "labels") => {
            "the tag names, plus ThreatConnect's rating word: 1 Suspicious, 2 Low, 3 Moderate, 4 High, 5 Very High (none for 0 or no rating)"
        }
        (Profile::Threatconnect, "lang") => "always en, like ThreatConnect's TAXII app (STIX 2.1 only)",
        (Profile::Threatconnect, "x_threat_rating") => {
            "the threat rating as an integer 0-5 (its whole part), 0 when unset"
        }
        (Profile::Threatconnect, "x_threatconnect_id") => "the indicator's numeric id (app 2.0)",
        (Profile::Threatconnect, "x_threatconnect_owner") => "ownerName (app 2.0)",
        (Profile::Threatconnect, "x_threatconnect_type") => {
            "the ThreatConnect type name, e.g. Host, CIDR (app 2.0)"
        }
        (Profile::Xsoar, "labels") => {
            "from score only, like XSOAR's TAXII2 server: 1 benign, 2 anomalous-activity, 3 malicious-activity; none for 0 (unknown)"
        }
        (Profile::Native, "labels") => "the tags",
        _ => "",
    }
}

/// The table `taxii-edge mappings --profile NAME` prints: every property the
/// profile sets and what it means, the built-in ones marked "(built in)",
/// the mapped ones followed by their JMESPath expression on a line of its
/// own (`= …`, whole, so it can be copied into a config mapping; config
/// mappings override these rows and may add `x_*` properties).
pub fn render_table(profile: Profile) -> String {
    let built = built_in(profile);
    let mapped = default_mappings(profile);
    let w = built
        .iter()
        .map(|r| r.0.len())
        .chain(mapped.iter().map(|r| r.0.len()))
        .max()
        .unwrap_or(0)
        .max("property".len());
    let mut out = format!("Default mappings of the {} profile\n\n", profile.as_str());
    out.push_str(&format!("{:w$}  meaning\n", "property"));
    out.push_str(&format!("{}  {}\n", "-".repeat(w), "-".repeat(7)));
    for (f, m) in built {
        out.push_str(&format!("{f:w$}  {m}\n"));
    }
    for (f, e) in mapped {
        out.push_str(format!("{f:w$}  {}", meaning(profile, f)).trim_end());
        out.push('\n');
        out.push_str(&format!("{:w$}    = {e}\n", ""));
    }
    out
}

#[cfg(test)]
mod tests;
