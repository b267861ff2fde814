//! Criterion benches of the request path on a 1,000,000-object feed.
//!
//! The feed is made the way production makes it: a seeded native export
//! ([`synth::write_export`]) compiled by [`compile::run`] into a temp dir,
//! once per run (about a minute in release at 1M records). Then two groups
//! measure the same requests:
//!
//! - `serve_inproc`: what a list request costs without HTTP. The router's
//!   entry point needs a `Shared`, which only `server::start` can make, so
//!   this group calls the public steps the router calls itself, in the same
//!   order: `list::plan` (query + token), `list::walk` (binary search +
//!   entry walk), `list::default_page` + `precompressed` or `list::render`
//!   (slices of the mapping). No auth, no headers, no socket.
//! - `serve_http`: the whole server (`server::start`) on 127.0.0.1 with
//!   Basic auth, driven by a keep-alive hyper HTTP/1.1 client, one request
//!   in flight: ops/s here is 1 / latency. `tools/bench-serve` measures
//!   concurrent throughput against nginx.
//!
//! - `serve_coding`: compressing an answer on the fly (docs/decisions.md#d23,
//!   `docs/decisions.md#d23`): the `added_after` page's body through
//!   `Body::encode` (what `serve` does for a client sending
//!   `Accept-Encoding`), next to libdeflate and zstd at other levels and
//!   with a fresh compressor per call, the measurements behind the levels
//!   and the per-thread compressors chosen; each prints its output size.
//!
//! Cases: an unfiltered default page (100 objects), the same page gzip'd
//! (precompressed in the feed), `match[type]=indicator` (filter path, same
//! objects), `match[type]=marking-definition` (rare type: the walk scans
//! the entry table), `added_after` 90% deep, one object by id, discovery.
//! `TAXII_EDGE_BENCH_OBJECTS` overrides the feed size (default 1,000,000).

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use std::io::Write;
use std::time::{Duration, Instant};
use taxii_edge::compile::{self, CompileOptions};
use taxii_edge::config::Config;
use taxii_edge::feed::token::Endpoint;
use taxii_edge::feed::Coding;
use taxii_edge::record::Profile;
use taxii_edge::server::body::Body;
use taxii_edge::server::list::{self, Target};
use taxii_edge::server::state::Served;
use taxii_edge::server::{self, ServeOptions};
use taxii_edge::synth;

const COLLECTION: &str = "0f0e0d0c-0b0a-4908-8706-050403020100";
/// The demo user's argon2id hash (password `demo`), from testdata/example.toml.
const DEMO_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$JXtfT96A7jE03/g8QY3o9Q$lkXI3RrvTMHGdL4VjNZnAXCH0GvyzGgOyq28xmu41XM";
/// `Basic base64("bench:demo")`.
const AUTH: &str = "Basic YmVuY2g6ZGVtbw==";
const ACCEPT: &str = "application/taxii+json;version=2.1";

fn objects() -> u64 {
    std::env::var("TAXII_EDGE_BENCH_OBJECTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(1_000_000)
}

fn config_text() -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:0"
default_page_size = 100
max_page_size = 1000

[compile]
out = "feed.taxii"
reject_threshold = 0.0

[[api_roots]]
name = "feeds"
title = "Feeds"
default = true

[[inputs]]
path = "native.ndjson"
format = "native"

[ttl]
default = 720

[[collections]]
id = "{COLLECTION}"
alias = "all"
title = "All indicators"
query = ""
readers = ["bench"]

[[users]]
name = "bench"
password_hash = "{DEMO_HASH}"
"#
    )
}

/// A compiled feed in a temp dir (the export is deleted after the compile).
struct Fixture {
    _dir: tempfile::TempDir,
    config: Config,
    feed_path: std::path::PathBuf,
}

fn fixture(n: u64) -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let t = Instant::now();
    let export = dir.path().join("native.ndjson");
    {
        let f = std::fs::File::create(&export).expect("create export");
        let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
        let mut items = (0..n).map(|i| (i, 0u32));
        synth::write_export(
            Profile::Native,
            1,
            &mut items,
            synth::Container::Ndjson,
            &mut w,
        )
        .expect("write export");
        w.flush().expect("flush export");
    }
    let cfg_path = dir.path().join("bench.toml");
    std::fs::write(&cfg_path, config_text()).expect("write config");
    let config = Config::load(&cfg_path).unwrap_or_else(|e| panic!("{e}"));
    let summary = compile::run(&CompileOptions {
        config: config.clone(),
        out: None,
        previous: None,
        strict: true,
        allow_shrink: false,
        progress: false,
        now: None,
        force: false,
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let _ = std::fs::remove_file(&export);
    eprintln!(
        "serve fixture: {n} records compiled in {:.1} s, feed {:.0} MB",
        t.elapsed().as_secs_f64(),
        summary.output_bytes as f64 / 1e6
    );
    let feed_path = dir.path().join("feed.taxii");
    Fixture {
        _dir: dir,
        config,
        feed_path,
    }
}

/// One request case: path and query, plus what the in-process run needs.
struct Case {
    name: &'static str,
    endpoint: Endpoint,
    object_id: Option<String>,
    query: Option<String>,
    gzip: bool,
    /// Objects the answer must hold (checked once, before timing).
    expect_items: usize,
}

impl Case {
    fn url(&self) -> String {
        let mut s = format!("/feeds/collections/{COLLECTION}/objects/");
        if let Some(id) = &self.object_id {
            s.push_str(id);
            s.push('/');
        }
        if let Some(q) = &self.query {
            s.push('?');
            s.push_str(q);
        }
        s
    }
}

fn cases(served: &Served) -> Vec<Case> {
    let cf = &served.feed.collections()[0];
    let n = cf.len();
    let deep = cf.entry(n * 9 / 10).date_added_us;
    let after = taxii_edge::time::fmt_us(deep);
    let mid_id = cf.id_of(n / 2).to_string();
    let markings = (0..n.min(200_000))
        .filter(|&i| cf.id_of(i).starts_with("marking-definition--"))
        .count();
    let page = 100usize.min(n);
    eprintln!(
        "match_type_rare: {markings} marking-definition objects among the first 200,000 entries"
    );
    vec![
        Case {
            name: "objects_page",
            endpoint: Endpoint::Objects,
            object_id: None,
            query: None,
            gzip: false,
            expect_items: page,
        },
        Case {
            name: "objects_page_gzip",
            endpoint: Endpoint::Objects,
            object_id: None,
            query: None,
            gzip: true,
            expect_items: page,
        },
        Case {
            name: "match_type",
            endpoint: Endpoint::Objects,
            object_id: None,
            query: Some("match[type]=indicator".into()),
            gzip: false,
            expect_items: page,
        },
        Case {
            name: "match_type_rare",
            endpoint: Endpoint::Objects,
            object_id: None,
            query: Some("match[type]=marking-definition".into()),
            gzip: false,
            expect_items: usize::MAX, // depends on the data; not checked
        },
        Case {
            name: "added_after_deep",
            endpoint: Endpoint::Objects,
            object_id: None,
            query: Some(format!("added_after={after}")),
            gzip: false,
            expect_items: page.min(n - n * 9 / 10 - 1),
        },
        Case {
            name: "object_by_id",
            endpoint: Endpoint::Object,
            object_id: Some(mid_id),
            query: None,
            gzip: false,
            expect_items: 1,
        },
    ]
}

/// What the router does for a list request once routing and auth are done:
/// returns the body length and the number of items walked.
fn answer(served: &Served, t: &Target<'_>, c: &Case, versions: Option<&[usize]>) -> (u64, usize) {
    let plan = list::plan(served, t, c.query.as_deref(), 1000).expect("valid request");
    let page = list::walk(served, t, &plan, versions);
    let mut body = Body::empty();
    let mut done = false;
    if c.gzip {
        if let Some((kind, k)) = list::default_page(t, &page) {
            if let Some(b) =
                served.feed.collections()[t.col_idx].precompressed(kind, k, Coding::Gzip)
            {
                body.push(b);
                done = true;
            }
        }
        assert!(
            done,
            "{}: the gzip case must hit a precompressed page",
            c.name
        );
    }
    if !done {
        list::render(served, t, &plan, &page, false, &mut body);
    }
    (body.len(), page.idx.len())
}

fn bench_inproc(c: &mut Criterion, served: &Served, cases: &[Case]) {
    let cf = &served.feed.collections()[0];
    let col_id = served.feed.meta().collections[0].id.clone();
    let mut g = c.benchmark_group("serve_inproc");
    g.sample_size(30).measurement_time(Duration::from_secs(4));
    g.throughput(Throughput::Elements(1));
    for case in cases {
        let versions = case.object_id.as_deref().map(|id| cf.versions_of(id));
        let t = Target {
            endpoint: case.endpoint,
            root: "feeds",
            col_idx: 0,
            col_id: &col_id,
            object_id: case.object_id.as_deref(),
        };
        let (bytes, items) = answer(served, &t, case, versions.as_deref());
        if case.expect_items != usize::MAX {
            assert_eq!(items, case.expect_items, "{}", case.name);
        }
        eprintln!("{}: {items} items, {bytes} body bytes", case.name);
        g.bench_function(case.name, |b| {
            b.iter(|| {
                // The object endpoint looks the id up on every request.
                let v = case.object_id.as_deref().map(|id| cf.versions_of(id));
                answer(served, &t, case, v.as_deref())
            })
        });
    }
    g.finish();
}

fn bench_coding(c: &mut Criterion, served: &Served, cases: &[Case]) {
    use taxii_edge::server::body::{FLY_GZIP_LEVEL, FLY_ZSTD_LEVEL};
    let case = cases
        .iter()
        .find(|c| c.name == "added_after_deep")
        .expect("the added_after case");
    let col_id = served.feed.meta().collections[0].id.clone();
    let t = Target {
        endpoint: case.endpoint,
        root: "feeds",
        col_idx: 0,
        col_id: &col_id,
        object_id: None,
    };
    let plan = list::plan(served, &t, case.query.as_deref(), 1000).expect("valid request");
    let page = list::walk(served, &t, &plan, None);
    let mut body = Body::empty();
    list::render(served, &t, &plan, &page, false, &mut body);
    let plain = body.to_vec();
    eprintln!(
        "serve_coding: the added_after page, {} items, {} bytes in {} chunks",
        page.idx.len(),
        plain.len(),
        body.chunk_count()
    );
    let mut g = c.benchmark_group("serve_coding");
    g.sample_size(30).measurement_time(Duration::from_secs(3));
    g.throughput(Throughput::Bytes(plain.len() as u64));
    let size = |name: &str, n: usize| {
        eprintln!(
            "serve_coding/{name}: {n} bytes ({:.1}% of identity)",
            n as f64 * 100.0 / plain.len() as f64
        )
    };
    // What serve runs: gather + per-thread compressor at the shipped level.
    size(
        &format!("gzip_fly (level {FLY_GZIP_LEVEL})"),
        body.encode(Coding::Gzip).expect("gzip").len() as usize,
    );
    g.bench_function("gzip_fly", |b| b.iter(|| body.encode(Coding::Gzip)));
    size(
        &format!("zstd_fly (level {FLY_ZSTD_LEVEL})"),
        body.encode(Coding::Zstd).expect("zstd").len() as usize,
    );
    g.bench_function("zstd_fly", |b| b.iter(|| body.encode(Coding::Zstd)));
    // The alternatives.
    for level in [1, 2, 4, 6] {
        let lvl = libdeflater::CompressionLvl::new(level).expect("level");
        let mut comp = libdeflater::Compressor::new(lvl);
        let mut out = vec![0u8; comp.gzip_compress_bound(plain.len())];
        let name = format!("libdeflate_l{level}");
        size(&name, comp.gzip_compress(&plain, &mut out).expect("gzip"));
        g.bench_function(&name, |b| {
            b.iter(|| comp.gzip_compress(&plain, &mut out).expect("gzip"))
        });
    }
    g.bench_function("libdeflate_l1_fresh_compressor", |b| {
        b.iter(|| {
            let lvl = libdeflater::CompressionLvl::new(1).expect("level");
            let mut comp = libdeflater::Compressor::new(lvl);
            let mut out = vec![0u8; comp.gzip_compress_bound(plain.len())];
            comp.gzip_compress(&plain, &mut out).expect("gzip")
        })
    });
    for level in [1, 2, 3] {
        let mut comp = zstd::bulk::Compressor::new(level).expect("zstd");
        let name = format!("zstd_l{level}");
        size(&name, comp.compress(&plain).expect("zstd").len());
        g.bench_function(&name, |b| b.iter(|| comp.compress(&plain).expect("zstd")));
    }
    g.bench_function("zstd_l1_fresh_context", |b| {
        b.iter(|| zstd::bulk::compress(&plain, 1).expect("zstd"))
    });
    g.finish();
}

type Sender = hyper::client::conn::http1::SendRequest<Empty<Bytes>>;

async fn get(
    send: &mut Sender,
    addr: std::net::SocketAddr,
    path: &str,
    gzip: bool,
) -> (u16, usize) {
    let mut b = http::Request::builder()
        .uri(path)
        .header("host", addr.to_string())
        .header("authorization", AUTH)
        .header("accept", ACCEPT);
    if gzip {
        b = b.header("accept-encoding", "gzip");
    }
    let req = b.body(Empty::new()).expect("request");
    send.ready().await.expect("connection ready");
    let resp = send.send_request(req).await.expect("response");
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    (status, body.len())
}

fn bench_http(c: &mut Criterion, fx: &Fixture, cases: &[Case]) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let running = rt
        .block_on(server::start(ServeOptions {
            config: fx.config.clone(),
            feed_path: fx.feed_path.clone(),
            listen: Some("127.0.0.1:0".into()),
        }))
        .unwrap_or_else(|e| panic!("{e}"));
    let addr = running.local_addr;
    let mut send: Sender = rt.block_on(async {
        let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .expect("handshake");
        tokio::spawn(conn);
        send
    });
    let mut all: Vec<(&'static str, String, bool)> =
        vec![("discovery", "/taxii2/".to_string(), false)];
    all.extend(cases.iter().map(|c| (c.name, c.url(), c.gzip)));

    let mut g = c.benchmark_group("serve_http");
    g.sample_size(30).measurement_time(Duration::from_secs(4));
    g.throughput(Throughput::Elements(1));
    for (name, url, gzip) in &all {
        // The first request verifies the credentials (argon2, ~35 ms);
        // later ones hit the verified-credential cache.
        let (status, len) = rt.block_on(get(&mut send, addr, url, *gzip));
        assert_eq!(status, 200, "{name}: {url}");
        eprintln!("http {name}: {len} body bytes");
        g.bench_function(*name, |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let t = Instant::now();
                    for _ in 0..iters {
                        let (status, _) = get(&mut send, addr, url, *gzip).await;
                        debug_assert_eq!(status, 200);
                    }
                    t.elapsed()
                })
            })
        });
    }
    g.finish();
    drop(send);
    rt.block_on(running.shutdown());
}

fn benches(c: &mut Criterion) {
    let fx = fixture(objects());
    let served = Served::load(&fx.feed_path, &fx.config).unwrap_or_else(|e| panic!("{e}"));
    let cases = cases(&served);
    bench_inproc(c, &served, &cases);
    bench_coding(c, &served, &cases);
    drop(served);
    bench_http(c, &fx, &cases);
}

criterion_group!(serve, benches);
criterion_main!(serve);
