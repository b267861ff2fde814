//! Owner collections (`[owner_collections]`): what collection an owner
//! gets, and at serve time which feed collection is one. The compiler adds
//! them to the config from the owners its inputs name
//! (`compile::owners`); the server and the static export's nginx
//! configuration recognise them from the feed's metadata alone.
//!
//! Why it is shaped this way:
//! - **Ids never change.** A collection id is a client's cursor key, so it
//!   is derived, not stored: UUIDv5 over a fixed namespace, the api root and
//!   the owner name (with the version digit set to 4, like indicator ids and
//!   for the same reason: docs/decisions.md#d18, and STIX 2.0 identifiers
//!   accept only v4). The same owner under the same api root gets the same
//!   id in every run and on every replica, with nothing to remember.
//! - **No new selection mechanism.** An owner collection is an ordinary
//!   [`CollectionConfig`] with `owners = ["X"]` (exactly what a `owner = "X"`
//!   query selects: case-sensitive equality on the canonical owner), added
//!   to a copy of the config after the inputs are read; planning, building,
//!   the lifecycle and the shrink guard then treat it like any other
//!   collection. An owner that disappears from the inputs is a collection
//!   that left the config: the shrink guard refuses to publish without
//!   `--allow-shrink`.
//! - **The server needs no new state.** `serve` does not read the inputs,
//!   so it recognises an owner collection from the feed's metadata: the
//!   title must fit the configured template and the id must be the one
//!   derived from the owner name the title gives. Access rules (readers,
//!   anonymous) then come from `[owner_collections]`. A feed collection
//!   that fits neither a `[[collections]]` entry nor this check stays
//!   unreadable, as before.
//!
//! Only indicator records carry an owner (ThreatConnect `ownerName`, native
//! `owner`); XSOAR records have none (docs/input-formats.md#xsoar) and passthrough
//! STIX objects are never owner-selected, so neither appears in an owner
//! collection.

use super::{name_based_v4, CollectionConfig, Config, IdScheme, OwnerCollectionsConfig};
use crate::feed::CollectionMeta;
use uuid::Uuid;

/// The namespace of owner collection ids. Fixed forever: changing it would
/// move every owner collection to a new id.
pub const NAMESPACE: Uuid = Uuid::from_u128(0x6f1d_3b0e_8a52_4c47_9e2b_71c4_d0a9_53e8);

/// The collection id of `owner` under api root `api_root`: UUIDv5 over
/// `"<api_root>/<owner>"` (an api root name has no `/`, so the pair is
/// unambiguous), version digit set to 4.
pub fn collection_id(api_root: &str, owner: &str) -> Uuid {
    let name = format!("{api_root}/{owner}");
    name_based_v4(&NAMESPACE, name.as_bytes())
}

/// The api root owner collections live in.
pub(crate) fn root_of<'a>(cfg: &'a Config, oc: &'a OwnerCollectionsConfig) -> &'a str {
    oc.api_root
        .as_deref()
        .unwrap_or_else(|| cfg.default_api_root())
}

/// The collection of one owner, as if written in `[[collections]]`.
pub fn collection_config(
    cfg: &Config,
    oc: &OwnerCollectionsConfig,
    owner: &str,
) -> CollectionConfig {
    let root = root_of(cfg, oc);
    CollectionConfig {
        id: Some(collection_id(root, owner).to_string()),
        alias: None,
        title: oc.title.replacen("{owner}", owner, 1),
        description: oc.description.as_ref().map(|d| d.replace("{owner}", owner)),
        api_root: Some(root.to_string()),
        query: String::new(),
        owners: vec![owner.to_string()],
        ttl: oc.ttl.clone(),
        mappings: oc.mappings.clone(),
        readers: oc.readers.clone(),
        anonymous: oc.anonymous,
        taxii_versions: oc.taxii_versions.clone(),
        drop_expired: oc.drop_expired,
        emit_scos: oc.emit_scos,
        ids: IdScheme::TaxiiEdge,
        xsoar_license_id: None,
    }
}

/// At serve time: the access rules of feed collection `cm` when it is an
/// owner collection of this config (its title fits the template, its id is
/// the one derived from the owner that title names, and that owner is not
/// excluded), else `None`.
pub fn served_config(cfg: &Config, cm: &CollectionMeta) -> Option<CollectionConfig> {
    let oc = cfg.owner_collections.as_ref().filter(|o| o.enabled)?;
    if cm.api_root != root_of(cfg, oc) {
        return None;
    }
    let (prefix, suffix) = oc.title.split_once("{owner}")?;
    let owner = cm
        .title
        .strip_prefix(prefix)?
        .strip_suffix(suffix)
        .filter(|o| !o.is_empty() && !oc.exclude.iter().any(|x| x == o))?;
    (collection_id(&cm.api_root, owner).to_string() == cm.id)
        .then(|| collection_config(cfg, oc, owner))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn cfg(extra: &str) -> Config {
        let text = format!(
            "[[api_roots]]\nname = \"feeds\"\ntitle = \"Feeds\"\n\
             [[api_roots]]\nname = \"other\"\ntitle = \"Other\"\n{extra}"
        );
        Config::from_toml(&text, Path::new("t.toml")).unwrap()
    }

    #[test]
    fn ids_are_derived_from_root_and_owner_only() {
        let a = collection_id("feeds", "Acme Intel");
        assert_eq!(a, collection_id("feeds", "Acme Intel"));
        assert_ne!(a, collection_id("other", "Acme Intel"));
        assert_ne!(a, collection_id("feeds", "acme intel"));
        assert_eq!(a.get_version_num(), 4);
        // Pinned (Python: uuid5(NAMESPACE, "feeds/Acme Intel") with the
        // version digit set to 4): a change would move every deployed owner
        // collection to a new id.
        assert_eq!(a.to_string(), "9827b6e6-8503-4ced-a595-fefa8da059d6");
    }

    #[test]
    fn served_config_recognises_only_matching_title_and_id() {
        let c = cfg(
            "[owner_collections]\nenabled = true\ntitle = \"Owner: {owner}\"\nreaders = [\"*\"]\n",
        );
        let oc = c.owner_collections.as_ref().unwrap();
        let col = collection_config(&c, oc, "Acme");
        assert_eq!(col.title, "Owner: Acme");
        let meta = |id: &str, title: &str, root: &str| CollectionMeta {
            id: id.to_string(),
            alias: None,
            title: title.to_string(),
            description: None,
            api_root: root.to_string(),
            taxii_versions: vec!["2.1".into()],
        };
        let id = col.id.clone().unwrap();
        let got = served_config(&c, &meta(&id, "Owner: Acme", "feeds")).unwrap();
        assert_eq!(got.readers, vec!["*".to_string()]);
        assert_eq!(got.owners, vec!["Acme".to_string()]);
        // A title naming another owner, another root, or a foreign id.
        assert!(served_config(&c, &meta(&id, "Owner: Evil", "feeds")).is_none());
        assert!(served_config(&c, &meta(&id, "Owner: Acme", "other")).is_none());
        assert!(served_config(
            &c,
            &meta(
                "11111111-1111-4111-8111-111111111111",
                "Owner: Acme",
                "feeds"
            )
        )
        .is_none());
        // An owner excluded since the feed was compiled is closed at once.
        let excl = cfg("[owner_collections]\nenabled = true\ntitle = \"Owner: {owner}\"\nexclude = [\"Acme\"]\n");
        assert!(served_config(&excl, &meta(&id, "Owner: Acme", "feeds")).is_none());
        // Disabled: nothing is an owner collection.
        let off = cfg("[owner_collections]\nenabled = false\n");
        assert!(served_config(&off, &meta(&id, "Acme", "feeds")).is_none());
    }

    #[test]
    fn config_problems_name_their_keys() {
        let text =
            "[[api_roots]]\nname = \"feeds\"\ntitle = \"F\"\n[owner_collections]\nenabled = true\n\
                    title = \"no placeholder\"\napi_root = \"nope\"\nreaders = [\"ghost\"]\n\
                    taxii_versions = [\"3.0\"]\n[owner_collections.ttl]\nipv5 = 1\n";
        let err = Config::from_toml(text, Path::new("t.toml"))
            .unwrap_err()
            .to_string();
        for key in [
            "owner_collections.title",
            "owner_collections.api_root",
            "owner_collections.readers",
            "owner_collections.taxii_versions",
            "owner_collections.ttl.ipv5",
        ] {
            assert!(err.contains(key), "{key} missing from: {err}");
        }
    }
}
