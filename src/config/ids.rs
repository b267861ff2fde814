//! `collections[i].ids`: how a collection's indicator ids are made, and the
//! combinations a shared id scheme cannot serve.
//!
//! The default ids are per collection and carry a revocation epoch
//! (`docs/decisions.md#d19`, `#d12`). `ids = "xsoar"` reproduces the ids of
//! Cortex XSOAR's own TAXII2 server instead (`CustomFields.stixid`, else
//! UUIDv5 of `indicator:<value>` in the tenant's namespace), so that a SIEM
//! rule or a client cursor keyed on them keeps working after a migration.
//! Such an id depends on the value only, which decides what the scheme
//! allows:
//! - version-5 UUIDs are invalid in STIX 2.0: TAXII 2.1 only;
//! - the id cannot change after a revocation (docs/decisions.md#d12 would need a new
//!   one), and it is the same in every collection of the tenant, so one
//!   collection's revocation would contradict another's live copy: such a
//!   collection never revokes. Indicators that leave it, or that the
//!   source marks inactive, are left out, as XSOAR's server does, and
//!   expiry shows in `valid_until` (see `compile::lifecycle`);
//! - two collections of one tenant give an indicator the same id, so they
//!   must build the same object from it: their `ttl` and `mappings` must
//!   be equal.

use super::CollectionConfig;
use serde::Deserialize;
use uuid::Uuid;

/// A deterministic UUID for an SDO: the UUIDv5 (SHA-1, name-based)
/// computation with the version nibble set to 4.
///
/// Why not plain v5: STIX 2.0 (Part 1, the Identifier type) requires the UUID part of
/// every id to be an RFC 4122 *version 4* UUID; the OASIS validator rejects
/// anything else in 2.0 and warns in 2.1 ("SHOULD be UUIDv4" for SDOs), and
/// the `stix2` library refuses to parse 2.0 objects with other versions.
/// Version 4 only promises 122 unpredictable bits, which the SHA-1 output
/// provides, so the id stays deterministic and is valid in both versions
/// (one id per indicator in both serializations). SCO ids stay true v5:
/// STIX 2.1 defines them that way.
pub fn name_based_v4(namespace: &Uuid, name: &[u8]) -> Uuid {
    let mut b = *Uuid::new_v5(namespace, name).as_bytes();
    b[6] = (b[6] & 0x0f) | 0x40;
    Uuid::from_bytes(b)
}

/// `collections[i].ids`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
pub enum IdScheme {
    /// Name-based ids per collection, with a revocation epoch.
    #[default]
    #[serde(rename = "taxii-edge")]
    TaxiiEdge,
    /// Cortex XSOAR's TAXII2 server ids (needs `xsoar_license_id`).
    #[serde(rename = "xsoar")]
    Xsoar,
}

/// The checks above, each problem under the key to change.
pub(super) fn check(collections: &[CollectionConfig], add: &mut impl FnMut(String, String)) {
    // (index, license id) of the first XSOAR-id collection of each tenant.
    let mut first: Vec<(usize, &str)> = Vec::new();
    for (i, col) in collections.iter().enumerate() {
        let key = |k: &str| format!("collections[{i}].{k}");
        let license = col
            .xsoar_license_id
            .as_deref()
            .map(str::trim)
            .filter(|l| !l.is_empty());
        if col.ids != IdScheme::Xsoar {
            if col.xsoar_license_id.is_some() {
                add(
                    key("xsoar_license_id"),
                    "is only used with ids = \"xsoar\"; set that too, or remove this key".into(),
                );
            }
            continue;
        }
        if col.versions().iter().any(|v| v == "2.0") {
            add(
                key("ids"),
                "\"xsoar\" ids are version-5 UUIDs, which STIX 2.0 refuses (it allows version 4 \
                 only): serve this collection in TAXII 2.1 only (taxii_versions = [\"2.1\"]), or \
                 keep the default ids"
                    .into(),
            );
        }
        let Some(license) = license else {
            add(
                key("xsoar_license_id"),
                "required with ids = \"xsoar\": XSOAR derives its ids from the tenant's license \
                 id (what demisto.getLicenseID() returns in an XSOAR automation)"
                    .into(),
            );
            continue;
        };
        match first.iter().find(|(_, l)| *l == license) {
            None => first.push((i, license)),
            Some(&(j, _)) => {
                let other = &collections[j];
                for (k, same) in [
                    ("ttl", col.ttl == other.ttl),
                    ("mappings", col.mappings == other.mappings),
                ] {
                    if !same {
                        add(
                            key(k),
                            format!(
                                "differs from collections[{j}].{k}, but both collections use \
                                 ids = \"xsoar\" with the same license id, which gives an \
                                 indicator the same id in both; one id must not carry two \
                                 different objects (docs/decisions.md#d19): make them equal, or \
                                 keep the default ids in one of them"
                            ),
                        );
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use std::path::Path;

    const HEAD: &str = "[[api_roots]]\nname = \"feeds\"\ntitle = \"Feeds\"\n";

    fn col(n: u8, extra: &str) -> String {
        format!(
            "\n[[collections]]\nid = \"00000000-0000-4000-8000-0000000000{n:02}\"\ntitle = \"c{n}\"\n{extra}\n"
        )
    }

    /// The problems of a config (`Ok` text when valid).
    fn problems(cols: &[String]) -> String {
        let text = format!("{HEAD}{}", cols.concat());
        match Config::from_toml(&text, Path::new("t.toml")) {
            Ok(_) => "valid".into(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn xsoar_ids_need_a_license_and_taxii_21_only() {
        let lic = "ids = \"xsoar\"\nxsoar_license_id = \"abc\"";
        assert_eq!(problems(&[col(1, lic)]), "valid");
        let e = problems(&[col(1, "ids = \"xsoar\"")]);
        assert!(
            e.contains("collections[0].xsoar_license_id: required with ids = \"xsoar\""),
            "{e}"
        );
        let e = problems(&[col(1, "ids = \"xsoar\"\nxsoar_license_id = \"  \"")]);
        assert!(
            e.contains("collections[0].xsoar_license_id: required"),
            "{e}"
        );
        let e = problems(&[col(
            1,
            &format!("{lic}\ntaxii_versions = [\"2.1\", \"2.0\"]"),
        )]);
        assert!(
            e.contains(
                "collections[0].ids: \"xsoar\" ids are version-5 UUIDs, which STIX 2.0 refuses"
            ),
            "{e}"
        );
        let e = problems(&[col(1, "xsoar_license_id = \"abc\"")]);
        assert!(
            e.contains("collections[0].xsoar_license_id: is only used with ids = \"xsoar\""),
            "{e}"
        );
        let e = problems(&[col(1, "ids = \"XSOAR\"")]);
        assert!(e.contains("unknown variant") && e.contains("xsoar"), "{e}");
        assert_eq!(problems(&[col(1, "ids = \"taxii-edge\"")]), "valid");
    }

    #[test]
    fn collections_sharing_xsoar_ids_must_build_the_same_objects() {
        let lic = |l: &str| format!("ids = \"xsoar\"\nxsoar_license_id = \"{l}\"");
        let same = [
            col(1, &format!("{}\nquery = 'type = \"ipv4\"'", lic("a"))),
            col(2, &format!("{}\ndrop_expired = true", lic("a"))),
        ];
        assert_eq!(problems(&same), "valid");
        let e = problems(&[
            col(1, &lic("a")),
            col(2, &format!("{}\nttl = {{ ipv4 = 24 }}", lic("a"))),
            col(3, &format!("{}\nmappings = {{ x_a = \"id\" }}", lic("a"))),
            // Another tenant: other ids, no constraint.
            col(4, &format!("{}\nttl = {{ ipv4 = 1 }}", lic("b"))),
        ]);
        assert!(
            e.contains("collections[1].ttl: differs from collections[0].ttl"),
            "{e}"
        );
        assert!(
            e.contains("collections[2].mappings: differs from collections[0].mappings"),
            "{e}"
        );
        assert!(!e.contains("collections[3]"), "{e}");
    }
}
