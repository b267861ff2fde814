use super::*;
use std::sync::Arc;

fn src(json: &str) -> Source {
    Source(Arc::from(json))
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Applies `m` for `profile` on an empty field map and returns the fields
/// as compact JSON plus the warnings.
fn run(m: &Mappings, profile: Profile, json: &str) -> (String, Vec<String>) {
    let mut fields = Map::new();
    let mut warnings = Vec::new();
    m.apply(profile, &src(json), &mut fields, &mut warnings);
    (serde_json::to_string(&fields).unwrap(), warnings)
}

#[test]
fn every_default_compiles() {
    for p in Profile::ALL {
        for (f, e) in default_mappings(p) {
            compile_one(f, e).unwrap_or_else(|err| panic!("{p:?} {f}: {err}"));
        }
        assert_eq!(
            Mappings::defaults().effective(p).len(),
            default_mappings(p).len()
        );
    }
}

const TC: &str = r#"{"id":42,"type":"Address","ip":"198.51.100.1","rating":3.00,"confidence":80,
  "tags":{"data":[{"id":1,"name":"apt28"},{"id":2,"name":"c2"}]},"active":true}"#;

/// The properties ThreatConnect's TAXII app adds, after the value-derived
/// ones: `lang`, the integer rating and app 2.0's `x_threatconnect_*`.
const TC_TAIL: &str =
    r#""lang":"en","x_threat_rating":3,"x_threatconnect_id":42,"x_threatconnect_type":"Address""#;

#[test]
fn threatconnect_defaults_reproduce_the_tc_app() {
    let (out, w) = run(&Mappings::defaults(), Profile::Threatconnect, TC);
    assert_eq!(
        out,
        format!(
            r#"{{"indicator_types":["malicious-activity"],"labels":["apt28","c2","Threat Rating: Moderate"],{TC_TAIL}}}"#
        )
    );
    assert!(w.is_empty(), "{w:?}");
    // An empty tag list arrives as {}; no rating → no rating label and
    // x_threat_rating 0, as ThreatConnect's app writes it.
    let (out, w) = run(
        &Mappings::defaults(),
        Profile::Threatconnect,
        r#"{"id":9,"type":"Host","hostName":"x.test","ownerName":"Acme","tags":{}}"#,
    );
    assert_eq!(
        out,
        r#"{"indicator_types":["malicious-activity"],"lang":"en","x_threat_rating":0,"x_threatconnect_id":9,"x_threatconnect_owner":"Acme","x_threatconnect_type":"Host"}"#
    );
    assert!(w.is_empty(), "{w:?}");
}

#[test]
fn threatconnect_rating_words_and_integers() {
    // ThreatConnect's words (its TAXII docs show 2, 4 and 5; tcex's
    // x_threat_rating_map has 1 and 3); a fractional rating counts by its
    // whole part, a numeric string like a number; 0 gets no label.
    for (rating, word, int) in [
        ("0", None, 0),
        ("0.5", None, 0),
        ("1", Some("Suspicious"), 1),
        ("1.99", Some("Suspicious"), 1),
        ("2.00", Some("Low"), 2),
        ("\"3.00\"", Some("Moderate"), 3),
        ("4", Some("High"), 4),
        ("4.5", Some("High"), 4),
        ("5", Some("Very High"), 5),
        ("null", None, 0),
    ] {
        let json = format!(r#"{{"rating":{rating},"tags":{{"data":[{{"name":"t"}}]}}}}"#);
        let (out, w) = run(&Mappings::defaults(), Profile::Threatconnect, &json);
        assert!(w.is_empty(), "{rating}: {w:?}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let mut labels = vec![serde_json::json!("t")];
        labels.extend(word.map(|w| serde_json::json!(format!("Threat Rating: {w}"))));
        assert_eq!(v["labels"], serde_json::Value::Array(labels), "{rating}");
        assert_eq!(v["x_threat_rating"], serde_json::json!(int), "{rating}");
        assert!(
            v["x_threat_rating"].is_u64(),
            "{rating}: an integer, not {}",
            v["x_threat_rating"]
        );
    }
}

#[test]
fn xsoar_defaults_label_by_score_only() {
    // XSOAR's TAXII2 server writes the score label and nothing else
    // (get_labels_for_indicator); an unknown score gets no label.
    let m = Mappings::defaults();
    let cases = [
        (
            r#"{"score":3,"CustomFields":{"tags":["apt","c2"]}}"#,
            r#"{"labels":["malicious-activity"]}"#,
        ),
        (
            r#"{"score":"2","CustomFields":null}"#,
            r#"{"labels":["anomalous-activity"]}"#,
        ),
        (r#"{"score":1}"#, r#"{"labels":["benign"]}"#),
        (r#"{"score":0,"CustomFields":{"tags":["t"]}}"#, r#"{}"#),
        (r#"{"score":"x"}"#, r#"{}"#),
        (r#"{"value":"x"}"#, r#"{}"#),
    ];
    for (json, want) in cases {
        let (out, w) = run(&m, Profile::Xsoar, json);
        assert_eq!(out, want, "{json}");
        assert!(w.is_empty(), "{w:?}");
    }
}

#[test]
fn native_labels_are_tags_and_stix_has_none() {
    let m = Mappings::defaults();
    assert_eq!(
        run(&m, Profile::Native, r#"{"tags":["a","b"]}"#).0,
        r#"{"labels":["a","b"]}"#
    );
    assert_eq!(run(&m, Profile::Native, r#"{"tags":[]}"#).0, "{}");
    assert_eq!(run(&m, Profile::Stix, r#"{"tags":["a"]}"#).0, "{}");
}

#[test]
fn collection_overrides_global_overrides_profile() {
    let global = map(&[("labels", "`[\"g\"]`"), ("x_source_id", "id")]);
    let col = map(&[("labels", "['c', type]")]);
    let m = Mappings::new(&global, &col, "collections[0].mappings").unwrap();
    let (out, w) = run(&m, Profile::Threatconnect, TC);
    assert_eq!(
        out,
        format!(
            r#"{{"indicator_types":["malicious-activity"],"labels":["c","Address"],{TC_TAIL},"x_source_id":42}}"#
        )
    );
    assert!(w.is_empty(), "{w:?}");
    let only_global = Mappings::new(&global, &BTreeMap::new(), "c").unwrap();
    assert_eq!(
        run(&only_global, Profile::Native, r#"{"id":"n1","tags":["t"]}"#).0,
        r#"{"labels":["g"],"x_source_id":"n1"}"#
    );
    assert_eq!(
        only_global.effective(Profile::Xsoar),
        vec![("labels", "`[\"g\"]`"), ("x_source_id", "id")]
    );
}

#[test]
fn null_leaves_the_field_out_even_a_builder_one() {
    let col = map(&[("description", "no_such_field"), ("x_missing", "a.b.c")]);
    let m = Mappings::new(&BTreeMap::new(), &col, "collections[0].mappings").unwrap();
    let mut fields = Map::new();
    fields.insert("name".into(), Value::from("v"));
    fields.insert("description".into(), Value::from("from the builder"));
    let mut w = Vec::new();
    m.apply(
        Profile::Native,
        &src(r#"{"tags":["t"]}"#),
        &mut fields,
        &mut w,
    );
    assert_eq!(
        serde_json::to_string(&fields).unwrap(),
        r#"{"name":"v","labels":["t"]}"#
    );
    assert!(w.is_empty(), "{w:?}");
}

#[test]
fn wrong_type_is_dropped_with_a_warning_naming_the_field() {
    let col = map(&[
        ("confidence", "level"),
        ("labels", "nested"),
        ("name", "count"),
        ("external_references", "refs"),
        ("indicator_types", "single"),
    ]);
    let m = Mappings::new(&BTreeMap::new(), &col, "collections[0].mappings").unwrap();
    let mut fields = Map::new();
    fields.insert("name".into(), Value::from("v"));
    fields.insert("confidence".into(), Value::from(70));
    let mut w = Vec::new();
    m.apply(
        Profile::Native,
        &src(r#"{"level":"high","nested":[["a"]],"count":3,"refs":[{"url":"http://x"}],"single":"malicious-activity"}"#),
        &mut fields,
        &mut w,
    );
    assert_eq!(
        serde_json::to_string(&fields).unwrap(),
        r#"{"name":"v","confidence":70,"indicator_types":["malicious-activity"]}"#
    );
    assert_eq!(
        w,
        vec![
            // labels first: it replaces the native default in its place.
            "mapping labels: expected a list of strings, got a list containing a list; value dropped",
            "mapping confidence: expected an integer from 0 to 100, got a string; value dropped",
            "mapping external_references: expected a list of objects, each with a string source_name, got a list; value dropped",
            "mapping name: expected a string, got a number; value dropped",
        ]
    );
    let mut w = Vec::new();
    m.apply(
        Profile::Native,
        &src(r#"{"level":101}"#),
        &mut Map::new(),
        &mut w,
    );
    assert_eq!(
        w,
        vec!["mapping confidence: expected an integer from 0 to 100, got 101; value dropped"]
    );
}

#[test]
fn static_problems_name_their_keys() {
    let global = map(&[
        ("pattern", "value"),
        ("foo", "value"),
        ("x_ok", "value"),
        ("x_Bad", "value"),
    ]);
    let col = map(&[
        ("labels", "tags["),
        ("confidence", "'high'"),
        ("x_fine", "`1`"),
        ("object_marking_refs", "tlp"),
    ]);
    let err = Mappings::new(&global, &col, "collections[1].mappings").unwrap_err();
    let keys: Vec<&str> = err.problems.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        vec![
            "mappings.foo",
            "mappings.pattern",
            "mappings.x_Bad",
            "collections[1].mappings.confidence",
            "collections[1].mappings.labels",
            "collections[1].mappings.object_marking_refs",
        ]
    );
    let text = err.to_string();
    assert!(
        text.contains("mappings.foo: is not a STIX indicator property"),
        "{text}"
    );
    assert!(text.contains("e.g. x_foo"), "{text}");
    assert!(
        text.contains("mappings.pattern: is set by the STIX builder and cannot be mapped"),
        "{text}"
    );
    assert!(
        text.contains("collections[1].mappings.confidence: literal of the wrong type: expected an integer from 0 to 100, got a string"),
        "{text}"
    );
    assert!(
        text.contains("collections[1].mappings.labels: invalid JMESPath expression \"tags[\""),
        "{text}"
    );
}

#[test]
fn literal_mappings_do_not_need_the_source() {
    let col = map(&[("x_feed", "'edge'"), ("indicator_types", "`[]`")]);
    let m = Mappings::new(&BTreeMap::new(), &col, "c").unwrap();
    // Not JSON at all: only literals apply, and no warning is raised since
    // nothing had to read the record.
    let mut fields = Map::new();
    fields.insert("indicator_types".into(), Value::from(vec!["x"]));
    let mut w = Vec::new();
    m.apply(Profile::Stix, &src("not json"), &mut fields, &mut w);
    assert_eq!(
        serde_json::to_string(&fields).unwrap(),
        r#"{"x_feed":"edge"}"#
    );
    assert!(w.is_empty());
    // With a mapping that reads the record, one warning, literals still apply.
    let mut fields = Map::new();
    let mut w = Vec::new();
    m.apply(Profile::Native, &src("not json"), &mut fields, &mut w);
    assert_eq!(
        serde_json::to_string(&fields).unwrap(),
        r#"{"x_feed":"edge"}"#
    );
    assert_eq!(w.len(), 1);
    assert!(
        w[0].starts_with("mappings that read the record skipped: source record is not JSON"),
        "{w:?}"
    );
}

#[test]
fn table_lists_built_ins_and_expressions() {
    let t = render_table(Profile::Threatconnect);
    assert!(
        t.starts_with("Default mappings of the threatconnect profile\n"),
        "{t}"
    );
    // A mapped row: the meaning, then the whole expression on its own line.
    let rows: Vec<&str> = t.lines().collect();
    let at = rows
        .iter()
        .position(|l| l.starts_with("x_threat_rating "))
        .unwrap();
    assert!(rows[at].contains("integer"), "{t}");
    assert_eq!(
        rows[at + 1].trim_start(),
        format!(
            "= {}",
            default_mappings(Profile::Threatconnect)
                .iter()
                .find(|m| m.0 == "x_threat_rating")
                .unwrap()
                .1
        )
    );
    assert!(
        t.lines().any(|l| l.starts_with("valid_from")
            && l.contains("(built in)")
            && l.contains("lastModified")),
        "{t}"
    );
    let x = render_table(Profile::Xsoar);
    assert!(
        x.contains("1 benign, 2 anomalous-activity, 3 malicious-activity"),
        "{x}"
    );
}

#[test]
fn mappings_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Mappings>();
}

fn fields_of(expr: &str) -> Option<Vec<String>> {
    let e = jmespath::compile(expr).unwrap();
    let mut out = Vec::new();
    root_fields(e.as_ast(), &mut out).then_some(out)
}

#[test]
fn root_fields_are_the_top_level_members_an_expression_can_reach() {
    let some = |v: &[&str]| Some(v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    assert_eq!(
        fields_of(default_mappings(Profile::Threatconnect)[1].1),
        some(&["tags", "rating"])
    );
    assert_eq!(
        fields_of(default_mappings(Profile::Xsoar)[0].1),
        some(&["score"])
    );
    // A pipe's right side reads the left side's result, not the root.
    assert_eq!(fields_of("a || b | c.d"), some(&["a", "b"]));
    assert_eq!(fields_of("a.b.c"), some(&["a"]));
    assert_eq!(
        fields_of("{x: foo, y: bar.baz, z: foo}"),
        some(&["foo", "bar"])
    );
    assert_eq!(fields_of("sort_by(items, &name)[].id"), some(&["items"]));
    assert_eq!(
        fields_of("attributes.data[?type == 'Description'].value"),
        some(&["attributes"])
    );
    assert_eq!(fields_of("`1`"), some(&[]));
    // The root as a whole: every member must be converted.
    for whole in [
        "@",
        "keys(@)",
        "[?a]",
        "*.b",
        "to_string(@)",
        "[0]",
        "a || @",
    ] {
        assert_eq!(fields_of(whole), None, "{whole}");
    }
}

/// Evaluates `expr` on `json` converted as `needs` says.
fn eval_with(expr: &str, json: &str, needs: &Needs) -> Result<String, String> {
    let e = jmespath::compile(expr).unwrap();
    let doc = source_doc(json, needs)?;
    let mut ctx = Context::new(e.as_str(), &DEFAULT_RUNTIME);
    jmespath::interpret(&doc, e.as_ast(), &mut ctx)
        .map(|r| serde_json::to_string(&*r).unwrap())
        .map_err(|e| e.to_string())
}

#[test]
fn partial_conversion_answers_exactly_like_the_whole_record() {
    let mut records: Vec<String> = Vec::new();
    for p in Profile::ALL {
        let mut out = Vec::new();
        let mut items = (0..60u64).map(|i| (i, 0u32));
        crate::synth::write_export(p, 7, &mut items, crate::synth::Container::Ndjson, &mut out)
            .unwrap();
        records.extend(String::from_utf8(out).unwrap().lines().map(str::to_string));
    }
    records.extend(
        [
            // A repeated key: the last value wins in both paths.
            r#"{"tags":{"data":[{"name":"first"}]},"rating":1,"tags":{"data":[{"name":"last"}]}}"#,
            // An escaped key names the same member.
            r#"{"ta\u0067s":{"data":[{"name":"escaped"}]},"rating":null}"#,
            // A nested member named like a wanted root member.
            r#"{"other":{"tags":{"data":[{"name":"nested"}]}},"score":"3"}"#,
            r#"[{"tags":1}]"#,
            r#""just a string""#,
            r#"{"tags": [1, 2"#,
            "not json",
            r#"{"a":1} trailing"#,
            "{}",
        ]
        .map(str::to_string),
    );
    let mut exprs: Vec<&str> = Profile::ALL
        .iter()
        .flat_map(|p| default_mappings(*p).iter().map(|(_, e)| *e))
        .collect();
    exprs.extend([
        "ownerName",
        "[{source_name: 'threatconnect', url: webLink, external_id: to_string(id)}]",
        "attributes.data[?type == 'Description'].value",
        "CustomFields.tags[0]",
        "moduleToFeedMap.*.score",
        "length(tags.data || `[]`)",
        "other.tags.data[].name",
    ]);
    let mut compared = 0;
    for expr in &exprs {
        let mut fields = Vec::new();
        let e = jmespath::compile(expr).unwrap();
        assert!(root_fields(e.as_ast(), &mut fields), "{expr}");
        let partial = Needs::Fields(fields);
        for json in &records {
            assert_eq!(
                eval_with(expr, json, &partial),
                eval_with(expr, json, &Needs::Whole),
                "{expr} on {json}"
            );
            compared += 1;
        }
    }
    assert_eq!(compared, exprs.len() * records.len());
}

#[test]
fn needs_follow_the_profile_list() {
    let empty = BTreeMap::new();
    let d = Mappings::defaults();
    assert_eq!(
        d.needs[Profile::Native.index()],
        Needs::Fields(vec!["tags".to_string()])
    );
    assert_eq!(d.needs[Profile::Stix.index()], Needs::Nothing);
    let whole = Mappings::new(&map(&[("x_all", "@")]), &empty, "m").unwrap();
    assert_eq!(whole.needs[Profile::Native.index()], Needs::Whole);
    // An `@` mapping still sees the whole record.
    let (out, w) = run(&whole, Profile::Native, r#"{"tags":["a"],"z":1}"#);
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(out, r#"{"labels":["a"],"x_all":{"tags":["a"],"z":1}}"#);
}
