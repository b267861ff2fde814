//! TLP marking definitions: the standard objects, verbatim, and which one an
//! indicator references (docs/decisions.md#d20).
//!
//! Clients recognise TLP by the marking-definition *id*, so the ids and the
//! objects must be exactly the published ones:
//! - TLP 1.0: the four objects of STIX 2.1 §7.2.1.4 (also shipped by the
//!   OASIS `stix2` library as `TLP_WHITE` …), in a 2.1 form (with
//!   `spec_version` and `name`) and a 2.0 form (STIX 2.0 marking definitions
//!   have neither);
//!   the JSON below is byte for byte what `stix2` 3.0.2 serializes, minus
//!   whitespace.
//! - TLP 2.0: the five objects published by OASIS CTI in
//!   `cti-stix-common-objects` (`objects/marking-definition/`), defined
//!   through the property extension
//!   `extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d`. They
//!   exist only in STIX 2.1 (2.0 has no extensions).
//!
//! Policy: TLP 1.0 ids by default (every client knows them), `clear` →
//! white; the `tlp2_markings` server setting switches to TLP 2.0. A marking
//! is never loosened: `amber+strict` has no TLP 1.0 equivalent, so STIX 2.1
//! always uses its TLP 2.0 definition, and STIX 2.0 (no extensions) uses
//! TLP:RED, which the compile reports as a warning.

use crate::record::Tlp;

/// TLP 1.0 WHITE.
pub const TLP1_WHITE: &str = "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9";
/// TLP 1.0 GREEN.
pub const TLP1_GREEN: &str = "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da";
/// TLP 1.0 AMBER.
pub const TLP1_AMBER: &str = "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82";
/// TLP 1.0 RED.
pub const TLP1_RED: &str = "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed";
/// TLP 2.0 CLEAR.
pub const TLP2_CLEAR: &str = "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487";
/// TLP 2.0 GREEN.
pub const TLP2_GREEN: &str = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb";
/// TLP 2.0 AMBER.
pub const TLP2_AMBER: &str = "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421";
/// TLP 2.0 AMBER+STRICT.
pub const TLP2_AMBER_STRICT: &str = "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003";
/// TLP 2.0 RED.
pub const TLP2_RED: &str = "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1";

/// The extension definition the TLP 2.0 marking objects use.
pub const TLP2_EXTENSION: &str = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d";

/// The warning the compile summary shows when an `amber+strict` object is
/// also served as STIX 2.0.
pub const AMBER_STRICT_IN_20_WARNING: &str =
    "TLP:AMBER+STRICT has no STIX 2.0 marking definition; STIX 2.0 output marks it TLP:RED";

/// Every marking definition we can emit: (id, STIX 2.1 JSON, STIX 2.0 JSON).
const ALL: [(&str, &str, Option<&str>); 9] = [
    (
        TLP1_WHITE,
        r#"{"type":"marking-definition","spec_version":"2.1","id":"marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9","created":"2017-01-20T00:00:00.000Z","definition_type":"tlp","name":"TLP:WHITE","definition":{"tlp":"white"}}"#,
        Some(
            r#"{"type":"marking-definition","id":"marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9","created":"2017-01-20T00:00:00.000Z","definition_type":"tlp","definition":{"tlp":"white"}}"#,
        ),
    ),
    (
        TLP1_GREEN,
        r#"{"type":"marking-definition","spec_version":"2.1","id":"marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da","created":"2017-01-20T00:00:00.000Z","definition_type":"tlp","name":"TLP:GREEN","definition":{"tlp":"green"}}"#,
        Some(
            r#"{"type":"marking-definition","id":"marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da","created":"2017-01-20T00:00:00.000Z","definition_type":"tlp","definition":{"tlp":"green"}}"#,
        ),
    ),
    (
        TLP1_AMBER,
        r#"{"type":"marking-definition","spec_version":"2.1","id":"marking-definition--f88d31f6-486f-44da-b317-01333bde0b82","created":"2017-01-20T00:00:00.000Z","definition_type":"tlp","name":"TLP:AMBER","definition":{"tlp":"amber"}}"#,
        Some(
            r#"{"type":"marking-definition","id":"marking-definition--f88d31f6-486f-44da-b317-01333bde0b82","created":"2017-01-20T00:00:00.000Z","definition_type":"tlp","definition":{"tlp":"amber"}}"#,
        ),
    ),
    (
        TLP1_RED,
        r#"{"type":"marking-definition","spec_version":"2.1","id":"marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed","created":"2017-01-20T00:00:00.000Z","definition_type":"tlp","name":"TLP:RED","definition":{"tlp":"red"}}"#,
        Some(
            r#"{"type":"marking-definition","id":"marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed","created":"2017-01-20T00:00:00.000Z","definition_type":"tlp","definition":{"tlp":"red"}}"#,
        ),
    ),
    (
        TLP2_CLEAR,
        r#"{"type":"marking-definition","spec_version":"2.1","id":"marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487","created":"2022-10-01T00:00:00.000Z","name":"TLP:CLEAR","extensions":{"extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d":{"extension_type":"property-extension","tlp_2_0":"clear"}}}"#,
        None,
    ),
    (
        TLP2_GREEN,
        r#"{"type":"marking-definition","spec_version":"2.1","id":"marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb","created":"2022-10-01T00:00:00.000Z","name":"TLP:GREEN","extensions":{"extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d":{"extension_type":"property-extension","tlp_2_0":"green"}}}"#,
        None,
    ),
    (
        TLP2_AMBER,
        r#"{"type":"marking-definition","spec_version":"2.1","id":"marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421","created":"2022-10-01T00:00:00.000Z","name":"TLP:AMBER","extensions":{"extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d":{"extension_type":"property-extension","tlp_2_0":"amber"}}}"#,
        None,
    ),
    (
        TLP2_AMBER_STRICT,
        r#"{"type":"marking-definition","spec_version":"2.1","id":"marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003","created":"2022-10-01T00:00:00.000Z","name":"TLP:AMBER+STRICT","extensions":{"extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d":{"extension_type":"property-extension","tlp_2_0":"amber+strict"}}}"#,
        None,
    ),
    (
        TLP2_RED,
        r#"{"type":"marking-definition","spec_version":"2.1","id":"marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1","created":"2022-10-01T00:00:00.000Z","name":"TLP:RED","extensions":{"extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d":{"extension_type":"property-extension","tlp_2_0":"red"}}}"#,
        None,
    ),
];

/// The marking-definition id a STIX 2.1 object with this TLP references.
/// `tlp2` is the `server.tlp2_markings` setting.
pub fn marking_ref(tlp: Tlp, tlp2: bool) -> &'static str {
    match (tlp, tlp2) {
        (Tlp::AmberStrict, _) => TLP2_AMBER_STRICT,
        (Tlp::Clear | Tlp::White, false) => TLP1_WHITE,
        (Tlp::Green, false) => TLP1_GREEN,
        (Tlp::Amber, false) => TLP1_AMBER,
        (Tlp::Red, false) => TLP1_RED,
        (Tlp::Clear | Tlp::White, true) => TLP2_CLEAR,
        (Tlp::Green, true) => TLP2_GREEN,
        (Tlp::Amber, true) => TLP2_AMBER,
        (Tlp::Red, true) => TLP2_RED,
    }
}

/// The id a STIX 2.0 object uses in place of a 2.1 marking reference: TLP
/// 2.0 ids become their TLP 1.0 equivalents (clear → white), and
/// amber+strict becomes red (never loosened). Other ids pass unchanged.
pub fn ref_for_20(id: &str) -> &str {
    match id {
        TLP2_CLEAR => TLP1_WHITE,
        TLP2_GREEN => TLP1_GREEN,
        TLP2_AMBER => TLP1_AMBER,
        TLP2_AMBER_STRICT | TLP2_RED => TLP1_RED,
        other => other,
    }
}

/// The standard marking-definition object with this id: its STIX 2.1 JSON
/// and, for TLP 1.0, its STIX 2.0 JSON. `None` for an id we do not ship.
pub fn marking_object(id: &str) -> Option<(&'static str, Option<&'static str>)> {
    ALL.iter()
        .find(|(i, _, _)| *i == id)
        .map(|(_, j21, j20)| (*j21, *j20))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_tlp1_with_clear_as_white_and_strict_stays_strict() {
        assert_eq!(marking_ref(Tlp::Clear, false), TLP1_WHITE);
        assert_eq!(marking_ref(Tlp::White, false), TLP1_WHITE);
        assert_eq!(marking_ref(Tlp::Green, false), TLP1_GREEN);
        assert_eq!(marking_ref(Tlp::Amber, false), TLP1_AMBER);
        assert_eq!(marking_ref(Tlp::Red, false), TLP1_RED);
        assert_eq!(marking_ref(Tlp::AmberStrict, false), TLP2_AMBER_STRICT);
        assert_eq!(marking_ref(Tlp::White, true), TLP2_CLEAR);
        assert_eq!(marking_ref(Tlp::Amber, true), TLP2_AMBER);
        assert_eq!(marking_ref(Tlp::AmberStrict, true), TLP2_AMBER_STRICT);
        assert_eq!(ref_for_20(TLP2_AMBER_STRICT), TLP1_RED);
        assert_eq!(ref_for_20(TLP2_CLEAR), TLP1_WHITE);
        assert_eq!(ref_for_20(TLP1_AMBER), TLP1_AMBER);
    }

    #[test]
    fn every_referenced_id_has_its_object() {
        for tlp in [
            Tlp::Clear,
            Tlp::White,
            Tlp::Green,
            Tlp::Amber,
            Tlp::AmberStrict,
            Tlp::Red,
        ] {
            for tlp2 in [false, true] {
                let id = marking_ref(tlp, tlp2);
                let (j21, _) = marking_object(id).expect(id);
                let v: serde_json::Value = serde_json::from_str(j21).unwrap();
                assert_eq!(v["id"], id);
                assert_eq!(v["spec_version"], "2.1");
                let (_, j20) = marking_object(ref_for_20(id)).unwrap();
                let v20: serde_json::Value = serde_json::from_str(j20.unwrap()).unwrap();
                assert_eq!(v20["id"], ref_for_20(id));
                assert!(v20.get("spec_version").is_none());
            }
        }
        assert_eq!(marking_object("marking-definition--nope"), None);
    }

    #[test]
    fn tlp2_objects_carry_the_published_extension() {
        let (j, j20) = marking_object(TLP2_AMBER_STRICT).unwrap();
        let v: serde_json::Value = serde_json::from_str(j).unwrap();
        assert_eq!(v["name"], "TLP:AMBER+STRICT");
        assert_eq!(v["created"], "2022-10-01T00:00:00.000Z");
        assert_eq!(
            v["extensions"][TLP2_EXTENSION],
            serde_json::json!({"extension_type": "property-extension", "tlp_2_0": "amber+strict"})
        );
        assert_eq!(j20, None);
    }
}
