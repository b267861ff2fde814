//! Owner collections (`[owner_collections]`, src/config/owners.rs and src/compile/owners.rs) end to
//! end: real compiles of a native export whose records rotate over three
//! owners (one needing escaping), plus records without an owner and one
//! whose owner differs only in case.

use crate::common::generations;
use crate::common::server_support;
use taxii_edge::exit::ExitStatus;

use generations::*;
use std::collections::BTreeSet;
use taxii_edge::config::owners;
use taxii_edge::feed::Feed;

const OWNERS_ON: &str = "\n[owner_collections]\nenabled = true\ntitle = \"{owner} (owner)\"\n\
                         description = \"Everything {owner} publishes\"\nanonymous = true\n";
/// A query collection selecting what the "Acme Intel" owner collection
/// must hold.
const ACME_QUERY: &str = "\n[[collections]]\nid = \"7a7a7a7a-0000-4000-8000-000000000001\"\n\
                          title = \"Acme by query\"\nquery = 'owner = \"Acme Intel\"'\nanonymous = true\n";

/// Generation-1 owners: the rotating three, except every 10th record has no
/// owner and record 27 is owned by "acme intel" (lower case).
fn owners_gen1(i: u32) -> Option<String> {
    match i {
        27 => Some("acme intel".into()),
        _ if i % 10 == 0 => None,
        _ => Some(owner_of(i).to_string()),
    }
}

/// (id, title) of every collection in the live feed.
fn collections(s: &Scenario) -> Vec<(String, String)> {
    let feed = Feed::open(&s.feed_path).unwrap();
    feed.meta()
        .collections
        .iter()
        .map(|m| (m.id.clone(), m.title.clone()))
        .collect()
}

/// The indicator patterns collection `id` serves (latest versions).
fn patterns(s: &Scenario, id: &str) -> BTreeSet<String> {
    let feed = Feed::open(&s.feed_path).unwrap();
    let ci = feed
        .meta()
        .collections
        .iter()
        .position(|m| m.id == id)
        .unwrap();
    let c = &feed.collections()[ci];
    (0..c.len())
        .filter(|&i| c.entry(i).last)
        .map(|i| {
            let o: serde_json::Value = serde_json::from_slice(&c.objects_run(i, i + 1)).unwrap();
            o["pattern"].as_str().unwrap_or_default().to_string()
        })
        .collect()
}

fn expected_owner_collections() -> Vec<(String, String)> {
    let mut names: Vec<&str> = OWNERS.iter().copied().chain(["acme intel"]).collect();
    names.sort();
    names
        .iter()
        .map(|o| {
            (
                owners::collection_id("feeds", o).to_string(),
                format!("{o} (owner)"),
            )
        })
        .collect()
}

#[test]
fn owner_collections_ids_are_stable_across_compiles() {
    let s = Scenario::new("", OWNERS_ON);
    s.write_export(1, owners_gen1);
    s.compile(false).unwrap();
    let first = collections(&s);
    // The query collection first, then one per owner, sorted by owner.
    let mut want = vec![(ALL.to_string(), "All".to_string())];
    want.extend(expected_owner_collections());
    assert_eq!(first, want);

    // Generation 2 changes and adds records: the same ids.
    s.write_export(2, owners_gen1);
    s.compile(false).unwrap();
    assert_eq!(collections(&s), want);

    // A fresh history elsewhere (another replica) derives the same ids.
    let other = Scenario::new("", OWNERS_ON);
    other.write_export(1, owners_gen1);
    other.compile(false).unwrap();
    assert_eq!(collections(&other), want);
}

#[test]
fn owner_collections_select_exactly_the_owners_records() {
    let s = Scenario::new("", &format!("{ACME_QUERY}{OWNERS_ON}"));
    s.write_export(1, owners_gen1);
    let summary = s.compile(false).unwrap();
    let acme = owners::collection_id("feeds", "Acme Intel").to_string();
    let got = patterns(&s, &acme);
    // The same selection as the query `owner = "Acme Intel"`…
    assert_eq!(got, patterns(&s, "7a7a7a7a-0000-4000-8000-000000000001"));
    // …which is exactly these records: i % 3 == 0, not every 10th, not 7.
    let want: BTreeSet<String> = (0..240u32)
        .filter(|i| i % 3 == 0 && i % 10 != 0 && *i != 27)
        .map(|i| format!("[domain-name:value = 'host{i}.example.org']"))
        .collect();
    assert_eq!(got, want);
    // The escaped owner and the lower-case one are collections of their own.
    let gamma = owners::collection_id("feeds", OWNERS[2]).to_string();
    assert_eq!(
        patterns(&s, &gamma).len(),
        (0..240u32).filter(|i| i % 3 == 2 && i % 10 != 0).count()
    );
    let lower = owners::collection_id("feeds", "acme intel").to_string();
    assert_eq!(
        patterns(&s, &lower),
        BTreeSet::from(["[domain-name:value = 'host27.example.org']".to_string()])
    );
    let report = summary.collections.iter().find(|c| c.id == acme).unwrap();
    assert_eq!(report.title, "Acme Intel (owner)");
    assert_eq!(report.objects, want.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owner_collections_are_listed_and_readable() {
    let s = Scenario::new("", OWNERS_ON);
    s.write_export(1, owners_gen1);
    s.compile(false).unwrap();
    let running = serve(&s).await;
    let accept = [("accept", "application/taxii+json;version=2.1")];
    let r = server_support::get(running.local_addr, "/feeds/collections/", &accept).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let listed: Vec<(String, String, String)> = r.json()["collections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_string(),
                c["title"].as_str().unwrap().to_string(),
                c["description"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let mut want = vec![(ALL.to_string(), "All".to_string(), String::new())];
    for (id, title) in expected_owner_collections() {
        let owner = title.trim_end_matches(" (owner)").to_string();
        want.push((id, title, format!("Everything {owner} publishes")));
    }
    assert_eq!(listed, want);
    // Readable under the owner settings (anonymous here): the objects are
    // the owner's.
    let acme = owners::collection_id("feeds", "Acme Intel").to_string();
    let r = server_support::get(
        running.local_addr,
        &format!("/feeds/collections/{acme}/objects/?limit=1000"),
        &accept,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json()["objects"].as_array().unwrap().len(),
        patterns(&s, &acme).len()
    );
    running.shutdown().await;
}

#[test]
fn owner_collections_colliding_with_a_configured_id_is_a_config_error() {
    let id = owners::collection_id("feeds", "Beta CERT");
    let extra = format!("\n[[collections]]\nid = \"{id}\"\ntitle = \"Squatter\"\n{OWNERS_ON}");
    let s = Scenario::new("", &extra);
    s.write_export(1, owners_gen1);
    let err = s.compile(false).unwrap_err();
    assert_eq!(err.exit_code(), 1);
    let msg = err.to_string();
    assert!(msg.starts_with("collections[1].id: "), "{msg}");
    assert!(
        msg.contains(&id.to_string()) && msg.contains("\"Beta CERT\""),
        "{msg}"
    );
    assert!(!s.feed_path.exists());
}

#[test]
fn owner_collections_vanished_owner_is_a_removed_collection() {
    let s = Scenario::new("", OWNERS_ON);
    s.write_export(1, |i| Some(owner_of(i).to_string()));
    s.compile(false).unwrap();
    // Beta CERT's records move to Acme Intel: its collection would vanish.
    let moved = |i: u32| {
        Some(
            if owner_of(i) == "Beta CERT" {
                "Acme Intel"
            } else {
                owner_of(i)
            }
            .to_string(),
        )
    };
    s.write_export(1, moved);
    let beta = owners::collection_id("feeds", "Beta CERT").to_string();
    let err = s.compile(false).unwrap_err();
    assert_eq!(err.exit_code(), 2, "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains(&beta) && msg.contains("no longer in the config"),
        "{msg}"
    );
    // With --allow-shrink it goes, like a collection removed from the
    // config; the others stay with their ids.
    s.compile(true).unwrap();
    let ids: Vec<String> = collections(&s).into_iter().map(|(id, _)| id).collect();
    assert_eq!(
        ids,
        vec![
            ALL.to_string(),
            owners::collection_id("feeds", "Acme Intel").to_string(),
            owners::collection_id("feeds", OWNERS[2]).to_string(),
        ]
    );
}
