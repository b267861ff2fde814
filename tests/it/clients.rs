//! One test per real client's polling pattern (docs/testing.md), each over
//! the same three-generation scenario (common/generations.rs): compile
//! generation 1, the client polls, compile generation 2 (records added,
//! changed, removed), the server reloads, the client polls, and again for
//! generation 3. The server is the real `serve` code on a real 127.0.0.1
//! socket; the compiles are real compiles into the live feed path.
//!
//! For every client: no object version is missed (every `id modified` each
//! generation served is received by the end of that generation's polls),
//! the duplicates it re-fetched are counted, and one line
//! `client=X objects=N duplicates=D misses=0` is printed
//! (`cargo test client_ -- --nocapture` shows them). Where the client's
//! pattern makes the duplicate count deterministic, it is asserted exactly.
//!
//! The request patterns are taken from the clients' code (see
//! docs/decisions.md, d1-d9): OpenCTI's ingestion manager, Elastic's
//! `ti_custom` CEL program, Microsoft Sentinel's look-back window, and the
//! OASIS `taxii2-client` run as a real Python process.

use crate::common::compile_support::{interop_script, python};
use crate::common::generations;
use crate::common::server_support;

use generations::*;
use server_support::{get, Resp};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use taxii_edge::time;

const ACCEPT21: &str = "application/taxii+json;version=2.1";
const ACCEPT20: &str = "application/vnd.oasis.stix+json; version=2.0";

fn objects_of(r: &Resp) -> Vec<serde_json::Value> {
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
        .get("objects")
        .and_then(|o| o.as_array())
        .cloned()
        .unwrap_or_default()
}

/// The versions each generation served.
type Served = Vec<BTreeSet<String>>;
/// The same with their date_added, in date_added order.
type Added = Vec<Vec<(String, i64)>>;

/// Runs `poll` after each of three generations; returns the ledger, the
/// versions each generation served, and the same with their date_added.
async fn three_generations<F>(server_extra: &str, mut poll: F) -> (Ledger, Served, Added)
where
    F: for<'a> FnMut(
        SocketAddr,
        &'a mut Ledger,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>>,
{
    let mut s = Scenario::new(server_extra, "");
    let first = s.next_generation();
    let running = serve(&s).await;
    wait_for(&running, &first.generation).await;
    let mut ledger = Ledger::default();
    let mut served = Vec::new();
    let mut added = Vec::new();
    for g in 1..=3 {
        if g > 1 {
            let sum = s.next_generation();
            wait_for(&running, &sum.generation).await;
        }
        let live = s.live_added(ALL);
        poll(running.local_addr, &mut ledger).await;
        let keys: BTreeSet<String> = live.iter().map(|(k, _)| k.clone()).collect();
        ledger.check(&keys);
        served.push(keys);
        added.push(live);
    }
    running.shutdown().await;
    (ledger, served, added)
}

fn union(sets: &[BTreeSet<String>]) -> BTreeSet<String> {
    sets.iter().flatten().cloned().collect()
}

// ---------------------------------------------------------------- OpenCTI

/// OpenCTI's TAXII ingestion state (`ingestionManager.ts`): a `next`
/// cursor and `added_after_start`.
#[derive(Default)]
struct OpenCti {
    next: Option<String>,
    added_after: Option<String>,
}

impl OpenCti {
    /// One scheduler tick: one request. Returns (objects received, whether
    /// the traversal ended with this page).
    async fn tick(&mut self, addr: SocketAddr, ledger: &mut Ledger) -> (Vec<String>, bool) {
        // axios params in object order: next, added_after, limit.
        let mut q = Vec::new();
        if let Some(n) = &self.next {
            q.push(format!("next={n}"));
        }
        if let Some(a) = &self.added_after {
            q.push(format!("added_after={a}"));
        }
        q.push("limit=25".to_string());
        let url = format!("{}?{}", objects_url(ALL), q.join("&"));
        let r = get(addr, &url, &[("accept", ACCEPT21)]).await;
        ledger.requests += 1;
        let objs = objects_of(&r);
        let body = r.json();
        let keys: Vec<String> = objs.iter().map(version_key).collect();
        for o in &objs {
            ledger.take(o);
        }
        if objs.is_empty() {
            // Nothing sent: reset the cursor, keep added_after_start.
            self.next = None;
            return (keys, true);
        }
        let more = body["more"] == true;
        match body.get("next").and_then(|n| n.as_str()) {
            Some(n) if more && !n.is_empty() => {
                // "Do not touch to added_after_start".
                self.next = Some(n.to_string());
                (keys, false)
            }
            _ => {
                self.next = None;
                // utcDate(addedLastHeader).toISOString(): milliseconds.
                let last = r
                    .header("x-taxii-date-added-last")
                    .map(|h| time::parse_rfc3339(h).expect("header is RFC 3339"))
                    .unwrap_or_else(time::now);
                self.added_after = Some(time::fmt_ms(time::truncate_ms(last)));
                (keys, true)
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_opencti_one_page_per_tick_with_millisecond_cursor() {
    let state = std::sync::Arc::new(tokio::sync::Mutex::new(OpenCti::default()));
    let st = state.clone();
    let (ledger, served, added) = three_generations("", move |addr, ledger| {
        let st = st.clone();
        Box::pin(async move {
            let mut c = st.lock().await;
            // Tick until a whole traversal brings nothing new: the
            // millisecond truncation makes every traversal re-fetch the
            // versions of the last millisecond, forever, so "nothing new"
            // is when an operator would call it caught up.
            let mut new_in_traversal = false;
            for _ in 0..1000 {
                let (keys, done) = c.tick(addr, ledger).await;
                new_in_traversal |= keys.iter().any(|k| ledger.seen[k] == 1);
                if done {
                    if !new_in_traversal {
                        return;
                    }
                    new_in_traversal = false;
                }
            }
            panic!("OpenCTI never caught up");
        })
    })
    .await;
    let line = ledger.summary("opencti");
    assert_eq!(ledger.seen.len(), union(&served).len(), "{line}");
    // The exact model: per generation, one traversal from the cursor (the
    // previous generation's last date_added truncated to the millisecond),
    // then one more from this generation's truncated last date_added that
    // brings nothing new. Both re-fetch the versions of that millisecond.
    let mut cursor = i64::MIN;
    let mut expected = 0u64;
    for live in &added {
        let after = |c: i64| live.iter().filter(|(_, da)| *da > c).count() as u64;
        expected += after(cursor);
        let last = live.iter().map(|(_, da)| *da).max().unwrap();
        cursor = time::truncate_ms(last);
        expected += after(cursor);
    }
    assert_eq!(ledger.objects, expected, "{line}");
}

// ---------------------------------------------------------------- Elastic

/// Elastic's `ti_custom` CEL program state.
#[derive(Default)]
struct Elastic {
    want_more: bool,
    next_url: String,
    last_timestamp: Option<String>,
}

/// Go's `url.Values.Encode` escaping of a query value.
fn go_query_escape(s: &str) -> String {
    let mut o = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            o.push(b as char);
        } else if b == b' ' {
            o.push('+');
        } else {
            o.push_str(&format!("%{b:02X}"));
        }
    }
    o
}

impl Elastic {
    /// One interval: the program runs again at once while `want_more`.
    /// Returns the objects received.
    async fn interval(&mut self, addr: SocketAddr, ledger: &mut Ledger) -> u64 {
        let mut got = 0;
        loop {
            let url = if self.want_more {
                self.next_url.clone()
            } else {
                // `initial_interval: 24h`, formatted RFC 3339 (seconds).
                let since = self.last_timestamp.clone().unwrap_or_else(|| {
                    let t = time::now() - 24 * time::HOUR;
                    let ms = time::fmt_ms(t);
                    format!("{}Z", &ms[..19])
                });
                // format_query sorts keys: added_after, limit.
                format!(
                    "{}?added_after={}&limit=50",
                    objects_url(ALL),
                    go_query_escape(&since)
                )
            };
            let r = get(addr, &url, &[("accept", ACCEPT21)]).await;
            ledger.requests += 1;
            assert_eq!(r.status, 200, "{url}: {}", r.text());
            let body = r.json();
            // `body.objects.map(...)`: unguarded, an answer without
            // `objects` fails the whole program.
            let objs = body["objects"]
                .as_array()
                .unwrap_or_else(|| panic!("Elastic fails on a body without objects: {body}"));
            for o in objs {
                ledger.take(o);
                got += 1;
            }
            let next = body.get("next").and_then(|n| n.as_str()).unwrap_or("");
            self.want_more = !next.is_empty();
            self.next_url = format!(
                "{}?limit=50&next={}",
                objects_url(ALL),
                go_query_escape(next)
            );
            // `cursor: {?last_timestamp: resp.Header[?"X-Taxii-Date-Added-Last"][0]}`:
            // a missing header drops the cursor.
            self.last_timestamp = r.header("x-taxii-date-added-last").map(str::to_string);
            if !self.want_more {
                return got;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_elastic_follows_next_only_and_keeps_cursor_on_empty_answers() {
    let state = std::sync::Arc::new(tokio::sync::Mutex::new(Elastic::default()));
    let st = state.clone();
    // Elastic reads `body.objects` unguarded: the documented opt-in.
    let (ledger, served, _) = three_generations("empty_as_list = true", move |addr, ledger| {
        let st = st.clone();
        Box::pin(async move {
            let mut c = st.lock().await;
            let got = c.interval(addr, ledger).await;
            assert!(got > 0);
            // The next interval finds nothing new: an empty answer, whose
            // date header keeps the cursor (docs/decisions.md#d2).
            let before = c.last_timestamp.clone();
            assert_eq!(c.interval(addr, ledger).await, 0);
            assert!(before.is_some());
            assert_eq!(c.last_timestamp, before, "cursor lost on an empty answer");
        })
    })
    .await;
    let line = ledger.summary("elastic");
    // The header is exact to the microsecond and added_after exclusive:
    // every version exactly once.
    assert_eq!(ledger.duplicates(), 0, "{line}");
    assert_eq!(ledger.seen.len(), union(&served).len(), "{line}");
}

// ---------------------------------------------------------------- Sentinel

/// Microsoft Sentinel: every poll asks for everything added in the last
/// `window` (its "look-back"), whatever it got before.
const SENTINEL_WINDOW: i64 = time::HOUR;

async fn sentinel_poll_21(addr: SocketAddr, ledger: &mut Ledger) {
    let since = time::fmt_ms(time::now() - SENTINEL_WINDOW);
    let base_q = format!("added_after={since}&limit=100");
    let mut url = format!("{}?{base_q}", objects_url(ALL));
    for _ in 0..1000 {
        let r = get(addr, &url, &[("accept", ACCEPT21)]).await;
        ledger.requests += 1;
        for o in objects_of(&r) {
            ledger.take(&o);
        }
        let body = r.json();
        if body["more"] != true {
            return;
        }
        let next = body["next"].as_str().expect("next when more");
        url = format!("{}?{base_q}&next={next}", objects_url(ALL));
    }
    panic!("runaway paging");
}

async fn sentinel_poll_20(addr: SocketAddr, ledger: &mut Ledger) {
    let since = time::fmt_ms(time::now() - SENTINEL_WINDOW);
    let url = format!("{}?added_after={since}", objects_url(ALL));
    let mut start = 0u64;
    for _ in 0..1000 {
        let range = format!("items={}-{}", start, start + 99);
        let r = get(addr, &url, &[("accept", ACCEPT20), ("range", &range)]).await;
        ledger.requests += 1;
        assert!(r.status == 200 || r.status == 206, "{}", r.text());
        let body = r.json();
        assert_eq!(body["type"], "bundle", "{body}");
        for o in body
            .get("objects")
            .and_then(|o| o.as_array())
            .into_iter()
            .flatten()
        {
            assert!(o.get("spec_version").is_none(), "a 2.0 object: {o}");
            ledger.take(o);
        }
        let cr = r
            .header("content-range")
            .expect("Content-Range")
            .to_string();
        // `items A-B/TOTAL`.
        let (span, total) = cr
            .strip_prefix("items ")
            .and_then(|s| s.split_once('/'))
            .unwrap_or_else(|| panic!("bad Content-Range {cr}"));
        let total: u64 = total.parse().unwrap();
        let end: u64 = span.split_once('-').unwrap().1.parse().unwrap();
        start = end + 1;
        if total == 0 || start >= total {
            return;
        }
    }
    panic!("runaway paging");
}

/// Sentinel re-reads the whole window every poll: with every generation
/// inside the window, it fetches each generation's full set again.
fn sentinel_expected_duplicates(served: &[BTreeSet<String>]) -> u64 {
    let total: usize = served.iter().map(BTreeSet::len).sum();
    (total - union(served).len()) as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_sentinel_21_look_back_window() {
    let (ledger, served, _) =
        three_generations("", |addr, ledger| Box::pin(sentinel_poll_21(addr, ledger))).await;
    let line = ledger.summary("sentinel-2.1");
    assert_eq!(
        ledger.duplicates(),
        sentinel_expected_duplicates(&served),
        "{line}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_sentinel_20_look_back_window_with_range() {
    let (ledger, served, _) =
        three_generations("", |addr, ledger| Box::pin(sentinel_poll_20(addr, ledger))).await;
    let line = ledger.summary("sentinel-2.0");
    assert_eq!(
        ledger.duplicates(),
        sentinel_expected_duplicates(&served),
        "{line}"
    );
}

// ---------------------------------------------------------- taxii2-client

async fn taxii2client(version: &str) {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let label = format!("taxii2client-{}.{}", &version[..1], &version[1..]);
    let version = version.to_string();
    let (ledger, served, _) = three_generations("", move |addr, ledger| {
        let state = state.clone();
        let version = version.clone();
        Box::pin(async move {
            let discovery = if version == "20" { "taxii" } else { "taxii2" };
            let url = format!("{}/{discovery}/", base(addr));
            let out = tokio::task::spawn_blocking(move || {
                std::process::Command::new(python())
                    .arg(interop_script("client_taxii2client.py"))
                    .args(["--url", &url, "--version", &version, "--collection", ALL])
                    .args(["--per-request", "40", "--state"])
                    .arg(&state)
                    .output()
                    .expect("run python")
            })
            .await
            .unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "taxii2-client failed:\n{text}{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let v: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
            ledger.requests += v["requests"].as_u64().unwrap();
            for pair in v["seen"].as_array().unwrap() {
                ledger.take(&serde_json::json!({"id": pair[0], "modified": pair[1]}));
            }
        })
    })
    .await;
    let line = ledger.summary(&label);
    assert_eq!(ledger.duplicates(), 0, "{line}");
    assert_eq!(ledger.seen.len(), union(&served).len(), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_taxii2client_20() {
    taxii2client("20").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_taxii2client_21() {
    taxii2client("21").await;
}
