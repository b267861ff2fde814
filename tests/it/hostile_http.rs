//! Hostile clients against a real server on 127.0.0.1: slowloris, oversized
//! heads, idle-connection exhaustion, pipelined garbage, bad encodings,
//! HTTP/2 stream floods, TLS garbage, huge `limit`, deep `match[id]` lists
//! and repeated parameters.
//!
//! Every attack runs while an *honest client* polls the objects endpoint on
//! fresh connections; the honest client must succeed every time (100%),
//! however slowly. Its p99 latency is printed (a `HOSTILE |` line per
//! attack, collected with `--nocapture`) and never asserted: this machine
//! is shared and timing assertions would be flaky. What each test asserts
//! is the server's answer to the attacker (exact status, or a closed
//! connection) and the honest client's success.
//!
//! Attacks are bounded in count and time (each test well under 10 s of
//! attack) so the suite stays fast on 2 cores.

use crate::common::server_support;
use server_support::*;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

// ---------------------------------------------------------------------------
// The honest client

/// How an honest client fared during one attack.
struct HonestReport {
    ok: usize,
    failures: Vec<String>,
    latencies: Vec<Duration>,
}

/// Peak RSS of this test process so far (server, attackers and honest
/// client share it, and so do the other families' tests running alongside:
/// `cargo test --test it hostile_http -- --test-threads=1` for one attack
/// at a time).
fn peak_rss() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| format!("process peak RSS {}", l[6..].trim()))
        })
        .unwrap_or_else(|| "peak RSS unknown".into())
}

impl HonestReport {
    fn p99(&self) -> Duration {
        let mut l = self.latencies.clone();
        l.sort();
        if l.is_empty() {
            return Duration::ZERO;
        }
        l[(l.len() * 99).div_ceil(100).saturating_sub(1)]
    }

    /// Prints the report line and asserts a 100% success rate.
    fn check(&self, attack: &str, outcome: &str) {
        let total = self.ok + self.failures.len();
        eprintln!(
            "HOSTILE | {attack} | {}/{} ({:.1}%) | p99 {:.1} ms | {} | {outcome}",
            self.ok,
            total,
            100.0 * self.ok as f64 / total.max(1) as f64,
            self.p99().as_secs_f64() * 1000.0,
            peak_rss()
        );
        assert!(
            self.failures.is_empty(),
            "{attack}: the honest client failed {} of {total} times: {:?}",
            self.failures.len(),
            &self.failures[..self.failures.len().min(5)]
        );
        assert!(
            self.ok >= 3,
            "{attack}: only {} honest requests ran",
            self.ok
        );
    }
}

/// A running honest client; `finish` stops it and returns its report.
struct Honest {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<HonestReport>,
}

impl Honest {
    async fn finish(self) -> HonestReport {
        self.stop.store(true, Ordering::SeqCst);
        self.task.await.expect("honest client task")
    }
}

/// One honest request: GET the first page of 5 public objects over `io`.
async fn honest_once<S>(io: S) -> Result<(), String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(conn);
    let req = http::Request::builder()
        .uri(format!("{}?limit=5", objects_path(PUBLIC)))
        .header("host", "localhost")
        .header("accept", "application/taxii+json;version=2.1")
        .body(Empty::<Bytes>::new())
        .map_err(|e| e.to_string())?;
    let resp = send
        .send_request(req)
        .await
        .map_err(|e| format!("request: {e}"))?;
    let status = resp.status();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("body: {e}"))?
        .to_bytes();
    if status != 200 {
        return Err(format!("status {status}"));
    }
    let v: serde_json::Value = serde_json::from_slice(&body).map_err(|e| format!("json: {e}"))?;
    match v["objects"].as_array() {
        Some(a) if a.len() == 5 => Ok(()),
        _ => Err(format!("unexpected body {v}")),
    }
}

/// Starts an honest client polling `addr` on a fresh connection per
/// request (so it competes with attackers for connection slots), over TLS
/// when `tls` is given. Each request may take up to 20 s before it counts
/// as a failure: the point is that it is served, not how fast. It makes at
/// least `min` requests, even if the attack is over sooner, so that the
/// success rate and p99 rest on a sample.
fn honest(
    addr: std::net::SocketAddr,
    tls: Option<tokio_rustls::TlsConnector>,
    min: usize,
) -> Honest {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    let task = tokio::spawn(async move {
        let mut r = HonestReport {
            ok: 0,
            failures: Vec::new(),
            latencies: Vec::new(),
        };
        while !flag.load(Ordering::SeqCst) || r.ok + r.failures.len() < min {
            let t0 = Instant::now();
            let one = async {
                let tcp = TcpStream::connect(addr)
                    .await
                    .map_err(|e| format!("connect: {e}"))?;
                match &tls {
                    None => honest_once(tcp).await,
                    Some(c) => {
                        let name = rustls_pki_types::ServerName::try_from("localhost")
                            .map_err(|e| e.to_string())?;
                        let s = c
                            .connect(name, tcp)
                            .await
                            .map_err(|e| format!("tls: {e}"))?;
                        honest_once(s).await
                    }
                }
            };
            match tokio::time::timeout(Duration::from_secs(20), one).await {
                Ok(Ok(())) => {
                    r.ok += 1;
                    r.latencies.push(t0.elapsed());
                }
                Ok(Err(e)) => r.failures.push(e),
                Err(_) => r.failures.push("no answer within 20 s".to_string()),
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        r
    });
    Honest { stop, task }
}

// ---------------------------------------------------------------------------
// Raw-socket helpers

/// Sends `bytes` (ignoring a write error: the server may already have
/// closed) and reads until the server closes or `wait` passes. Returns what
/// was read and whether the connection was closed by the server.
async fn raw_exchange(addr: std::net::SocketAddr, bytes: &[u8], wait: Duration) -> (Vec<u8>, bool) {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let _ = s.write_all(bytes).await;
    read_until_close(&mut s, wait).await
}

async fn read_until_close<S: AsyncRead + Unpin>(s: &mut S, wait: Duration) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + wait;
    let mut buf = [0u8; 16384];
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (out, true),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Err(_) => return (out, false),
        }
    }
}

/// Status codes of every HTTP/1.1 response head in `bytes`.
fn statuses(bytes: &[u8]) -> Vec<u16> {
    let text = String::from_utf8_lossy(bytes);
    text.match_indices("HTTP/1.1 ")
        .filter_map(|(i, _)| text.get(i + 9..i + 12)?.parse().ok())
        .collect()
}

/// A feed whose public collection has 120 objects (150 entries).
async fn server(extra: &str) -> TestServer {
    start_with(&spec("gen-1", 100, objects(120, T0)), extra).await
}

// ---------------------------------------------------------------------------
// Attacks

/// Slowloris: 40 connections dribble a request head one byte every 100 ms
/// (half of them the HTTP/2 preface, which our protocol sniff reads before
/// hyper's own header timeout starts). With a 1 s header read timeout
/// every one of them must be closed by the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_is_cut_by_the_header_timeout() {
    let s = server("header_read_timeout_secs = 1").await;
    let h = honest(s.addr, None, 50);
    let closed = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for i in 0..40 {
        let addr = s.addr;
        let closed = Arc::clone(&closed);
        tasks.push(tokio::spawn(async move {
            let head: &[u8] = if i % 2 == 0 {
                b"GET /taxii2/ HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
            } else {
                b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
            };
            let s = TcpStream::connect(addr).await.expect("connect");
            let (mut rd, mut wr) = s.into_split();
            let t0 = Instant::now();
            let dribble = async {
                for b in head {
                    if wr.write_all(&[*b]).await.is_err() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                // Head exhausted (the h2 preface is short): keep silent.
                std::future::pending::<()>().await;
            };
            let mut buf = [0u8; 1024];
            let read_end = async {
                loop {
                    match rd.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        // An h2 server answers the preface with SETTINGS; keep reading.
                        Ok(_) => {}
                    }
                }
            };
            let r = tokio::time::timeout(Duration::from_secs(8), async {
                tokio::select! {
                    _ = dribble => {},
                    _ = read_end => {},
                }
            })
            .await;
            if r.is_ok() {
                closed.fetch_add(1, Ordering::SeqCst);
            }
            t0.elapsed()
        }));
    }
    let mut slowest = Duration::ZERO;
    for t in tasks {
        slowest = slowest.max(t.await.unwrap());
    }
    let report = h.finish().await;
    let n = closed.load(Ordering::SeqCst);
    report.check(
        "slowloris (40 conns, 1 byte/100 ms, h1 + h2 preface)",
        &format!("{n}/40 closed by the server, slowest after {slowest:.1?}"),
    );
    assert_eq!(n, 40, "every dribbling connection must be closed");
    s.running.shutdown().await;
}

/// After an HTTP/2 preface and SETTINGS, a client dribbles a HEADERS frame
/// one byte every 200 ms. HTTP/2 has no header-read timeout in hyper, and
/// the idle timeout only fires when no byte moves, so each such connection
/// holds a connection slot for as long as the attacker likes. With
/// `max_connections = 8`, 8 of them lock every honest client out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2_slow_headers_do_not_exhaust_connection_slots() {
    let s =
        server("header_read_timeout_secs = 1\nidle_timeout_secs = 1\nmax_connections = 8").await;
    let mut attackers = Vec::new();
    for _ in 0..8 {
        let addr = s.addr;
        attackers.push(tokio::spawn(async move {
            let mut st = TcpStream::connect(addr).await.expect("connect");
            // Preface + empty SETTINGS frame.
            let _ = st.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").await;
            let _ = st.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0]).await;
            // HEADERS frame header announcing 16 KiB on stream 1, then the
            // payload one byte at a time.
            let _ = st.write_all(&[0, 0x40, 0, 1, 0x4, 0, 0, 0, 1]).await;
            for _ in 0..60 {
                if st.write_all(&[0x82]).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // With the 1 s header timeout honoured on h2, the slots free up within
    // about a second; 5 s is a liveness bound, not a latency target.
    let t0 = Instant::now();
    let one = async {
        let tcp = TcpStream::connect(s.addr)
            .await
            .map_err(|e| e.to_string())?;
        honest_once(tcp).await
    };
    let r = tokio::time::timeout(Duration::from_secs(5), one).await;
    eprintln!(
        "HOSTILE | h2 slow HEADERS (8 conns, max_connections 8) | {} | {:?} | {} | {}",
        if matches!(r, Ok(Ok(()))) {
            "1/1"
        } else {
            "0/1"
        },
        t0.elapsed(),
        peak_rss(),
        if matches!(r, Ok(Ok(()))) {
            "served"
        } else {
            "honest client locked out"
        }
    );
    for a in attackers {
        a.abort();
    }
    assert_eq!(r, Ok(Ok(())), "the honest client was locked out for 5 s");
    s.running.shutdown().await;
}

/// Heads larger than `max_header_bytes` (one huge header, a huge URL, many
/// headers) are refused with 431 or 414, or the connection is closed;
/// never a 2xx or a 5xx.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_heads_are_refused() {
    let s = server("max_header_bytes = 16384").await;
    let h = honest(s.addr, None, 50);
    let big_header = format!(
        "GET /taxii2/ HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(64 * 1024)
    );
    let big_url = format!(
        "GET /taxii2/?pad={} HTTP/1.1\r\nHost: x\r\n\r\n",
        "a".repeat(100 * 1024)
    );
    let mut many = String::from("GET /taxii2/ HTTP/1.1\r\nHost: x\r\n");
    for i in 0..5000 {
        many.push_str(&format!("X-H{i}: v\r\n"));
    }
    many.push_str("\r\n");
    let mut outcomes = Vec::new();
    for (name, req) in [
        ("64 KiB header", big_header),
        ("100 KiB URL", big_url),
        ("5000 headers", many),
    ] {
        for _ in 0..20 {
            let (got, closed) = raw_exchange(s.addr, req.as_bytes(), Duration::from_secs(5)).await;
            let st = statuses(&got);
            assert!(closed, "{name}: the connection must be closed");
            assert!(
                st.is_empty() || st == [431] || st == [414],
                "{name}: got {st:?}"
            );
            if outcomes.last().map(|(n, _)| n) != Some(&name) {
                outcomes.push((name, st));
            }
        }
    }
    let report = h.finish().await;
    report.check(
        "oversized heads (20× each: 64 KiB header, 100 KiB URL, 5000 headers)",
        &format!("{outcomes:?} then closed"),
    );
    s.running.shutdown().await;
}

/// 500 connections that never send a byte, against `max_connections = 50`:
/// the protocol sniff's timeout (the header read timeout, 1 s) frees their
/// slots, so the honest client is served, late but always.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_do_not_lock_out_honest_clients() {
    let s = server("header_read_timeout_secs = 1\nmax_connections = 50").await;
    let mut idle = Vec::new();
    for _ in 0..500 {
        idle.push(TcpStream::connect(s.addr).await.expect("connect"));
    }
    let h = honest(s.addr, None, 10);
    // Hold them until the honest client has been served a few times.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let report = h.finish().await;
    // Every idle connection has been closed by the server by now, or is
    // still waiting in the backlog (then it gets its turn and its timeout).
    let mut closed = 0;
    for mut c in idle {
        let (_, was_closed) = read_until_close(&mut c, Duration::from_secs(15)).await;
        closed += usize::from(was_closed);
    }
    report.check(
        "500 idle conns, max_connections 50",
        &format!("{closed}/500 idle connections closed by the server"),
    );
    assert_eq!(closed, 500);
    s.running.shutdown().await;
}

/// A valid request followed by garbage on the same connection: the first
/// is answered 200, the garbage gets a 400 or a close; 100 valid pipelined
/// requests get 100 answers in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_garbage() {
    let s = server("").await;
    let h = honest(s.addr, None, 50);
    let mut garbage = b"GET /taxii2/ HTTP/1.1\r\nHost: x\r\n\r\n".to_vec();
    garbage.extend_from_slice(b"\x00\x01\x02\xff\xfe GARBAGE \r\n\r\n\x16\x03\x01");
    garbage.extend((0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    for _ in 0..50 {
        let (got, closed) = raw_exchange(s.addr, &garbage, Duration::from_secs(5)).await;
        let st = statuses(&got);
        assert!(closed);
        assert!(st == [200] || st == [200, 400], "got {st:?}");
    }
    // Pure garbage, no valid request first.
    let (got, closed) = raw_exchange(s.addr, &garbage[34..], Duration::from_secs(5)).await;
    assert!(closed);
    assert!(
        statuses(&got).iter().all(|&c| c == 400),
        "{:?}",
        statuses(&got)
    );

    let mut pipe = Vec::new();
    for _ in 0..100 {
        pipe.extend_from_slice(
            b"GET /feeds/collections/public/objects/?limit=1 HTTP/1.1\r\nHost: x\r\n\r\n",
        );
    }
    pipe.extend_from_slice(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let (got, _) = raw_exchange(s.addr, &pipe, Duration::from_secs(10)).await;
    let st = statuses(&got);
    assert_eq!(st.len(), 101);
    assert!(st.iter().all(|&c| c == 200), "{st:?}");
    let report = h.finish().await;
    report.check(
        "pipelined garbage (50×) + 100 pipelined requests",
        "200 then 400/close; 101 pipelined answers",
    );
    s.running.shutdown().await;
}

/// Invalid UTF-8 and percent-encoding in paths and queries: 4xx with the
/// exact status, never 5xx.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_encodings_are_client_errors() {
    let s = server("").await;
    let h = honest(s.addr, None, 50);
    let o = objects_path(PUBLIC);
    let cases: Vec<(Vec<u8>, u16)> = vec![
        // Queries: every decoding problem is a 400 (docs/decisions.md#d7).
        (format!("{o}?match%5Btype%5D=%ff").into_bytes(), 400),
        (format!("{o}?match[id]=%c3%28").into_bytes(), 400),
        (format!("{o}?added_after=%zz").into_bytes(), 400),
        (format!("{o}?limit=%").into_bytes(), 400),
        (format!("{o}?limit=%4").into_bytes(), 400),
        (format!("{o}?%ff=1").into_bytes(), 400),
        (format!("{o}?match%5Btype%ZZ=1&limit=1").into_bytes(), 400),
        (
            format!("{o}?added_after=2024-01-01T00:00:00%00Z").into_bytes(),
            400,
        ),
        (format!("{o}?next=%e2%82").into_bytes(), 400),
        // Raw non-ASCII bytes are not a valid request target (RFC 9112 3.2).
        ([o.as_bytes(), b"?match[type]=\xff\xfe"].concat(), 400),
        (b"/feeds/collections/\xff\xfe/objects/".to_vec(), 400),
        // Undecodable path segments name no resource.
        (b"/feeds/collections/%ff%fe/objects/".to_vec(), 404),
        // A stray `%` is kept literally: an unknown collection, which a
        // caller without credentials cannot tell from a protected one
        // (docs/decisions.md#d22).
        (b"/feeds/collections/%zz/objects/".to_vec(), 401),
        (b"/feeds/collections/%/objects/".to_vec(), 401),
        (b"/%c0%af%c0%af/taxii2/".to_vec(), 404),
        (b"/feeds/collections/public/objects/%00/".to_vec(), 404),
    ];
    let mut seen = Vec::new();
    for (target, want) in &cases {
        let mut req = b"GET ".to_vec();
        req.extend_from_slice(target);
        req.extend_from_slice(b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let (got, _) = raw_exchange(s.addr, &req, Duration::from_secs(5)).await;
        let st = statuses(&got);
        assert_eq!(
            st,
            [*want],
            "{}: {}",
            String::from_utf8_lossy(target),
            String::from_utf8_lossy(&got)
        );
        seen.push(st[0]);
    }
    let report = h.finish().await;
    report.check(
        "bad UTF-8 / percent-encoding (16 cases)",
        &format!("statuses {seen:?}"),
    );
    s.running.shutdown().await;
}

/// One HTTP/2 connection opens 1,000 concurrent streams (the server caps
/// concurrency at 256; the client queues), then a "rapid reset" flood of
/// 2,000 streams cancelled as soon as they are sent. The first must all be
/// answered; the second may end the flooding connection (GOAWAY); the
/// honest client is served throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_stream_floods() {
    let s = server("").await;
    let h = honest(s.addr, None, 50);
    let tcp = TcpStream::connect(s.addr).await.unwrap();
    let (send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .unwrap();
    tokio::spawn(conn);
    let uri = format!("http://{}{}?limit=2", s.addr, objects_path(PUBLIC));
    let mut tasks = Vec::new();
    for _ in 0..1000 {
        let mut send = send.clone();
        let uri = uri.clone();
        tasks.push(tokio::spawn(async move {
            let req = http::Request::builder()
                .uri(uri)
                .body(Empty::<Bytes>::new())
                .unwrap();
            let resp = send.send_request(req).await?;
            let status = resp.status().as_u16();
            let body = resp.into_body().collect().await?.to_bytes();
            Ok::<_, hyper::Error>((status, body.len()))
        }));
    }
    let mut ok = 0;
    for t in tasks {
        let (status, len) = t.await.unwrap().expect("stream of an honest burst");
        assert_eq!(status, 200);
        assert!(len > 100);
        ok += 1;
    }
    assert_eq!(ok, 1000);

    // Rapid reset: send and drop at once (the client resets the stream).
    let tcp = TcpStream::connect(s.addr).await.unwrap();
    let (send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .unwrap();
    let conn_task = tokio::spawn(conn);
    let mut sent = 0;
    let mut refused = 0;
    for _ in 0..2000 {
        let mut send = send.clone();
        let req = http::Request::builder()
            .uri(uri.clone())
            .body(Empty::<Bytes>::new())
            .unwrap();
        if send.ready().await.is_err() {
            refused += 1;
            break;
        }
        let fut = send.send_request(req);
        // Poll once so the HEADERS frame goes out, then drop (RST_STREAM).
        let _ = tokio::time::timeout(Duration::from_micros(1), fut).await;
        sent += 1;
    }
    let conn_end = tokio::time::timeout(Duration::from_secs(5), conn_task).await;
    let report = h.finish().await;
    report.check(
        "h2 floods (1000 concurrent streams; 2000 rapid resets)",
        &format!(
            "1000/1000 answered; rapid reset: {sent} sent, connection {}",
            match (&conn_end, refused) {
                (_, r) if r > 0 => "refused further streams (GOAWAY)",
                (Ok(_), _) => "closed by the server",
                (Err(_), _) => "still open",
            }
        ),
    );
    // The server is still fine on a fresh h2 connection.
    let tcp = TcpStream::connect(s.addr).await.unwrap();
    let r = get_h2(tcp, s.addr, &objects_path(PUBLIC)).await;
    assert_eq!(r.status, 200);
    s.running.shutdown().await;
}

/// Random bytes to the TLS port: each connection is closed (an alert or
/// EOF) within the handshake timeout; TLS clients are served throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_handshake_garbage() {
    let certdir = tempfile::tempdir().unwrap();
    let (cert, tls) = self_signed_tls(certdir.path());
    let extra = format!("{tls}\nheader_read_timeout_secs = 2");
    let s = server(&extra).await;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    let h = honest(
        s.addr,
        Some(tokio_rustls::TlsConnector::from(Arc::new(cfg))),
        50,
    );

    let mut tasks = Vec::new();
    for i in 0..100u32 {
        let addr = s.addr;
        tasks.push(tokio::spawn(async move {
            // Deterministic pseudo-random garbage; every 4th starts like a
            // TLS record (handshake, TLS 1.0) to get past the first check.
            let mut g: Vec<u8> = (0..4096u32)
                .map(|k| ((k ^ i).wrapping_mul(2_654_435_761) >> 11) as u8)
                .collect();
            if i % 4 == 0 {
                g[..5].copy_from_slice(&[0x16, 0x03, 0x01, 0x0f, 0xff]);
            }
            let (_, closed) = raw_exchange(addr, &g, Duration::from_secs(8)).await;
            closed
        }));
    }
    let mut closed = 0;
    for t in tasks {
        closed += usize::from(t.await.unwrap());
    }
    let report = h.finish().await;
    report.check(
        "TLS handshake garbage (100 conns × 4 KiB)",
        &format!("{closed}/100 closed by the server"),
    );
    assert_eq!(closed, 100);
    s.running.shutdown().await;
}

/// Huge, negative, zero and overflowing `limit` values: clamped to
/// `max_page_size` when they are positive integers, 400 otherwise.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_limits() {
    let s = server("default_page_size = 50\nmax_page_size = 50").await;
    let h = honest(s.addr, None, 50);
    let o = objects_path(PUBLIC);
    for (limit, want) in [
        ("4294967296", Some(50)),
        ("18446744073709551615", Some(50)),
        ("1000000", Some(50)),
        ("50", Some(50)),
        ("49", Some(49)),
        ("18446744073709551616", None),
        ("99999999999999999999999999999999999999999999999999", None),
        ("-1", None),
        ("0", None),
        ("1e9", None),
        ("0x10", None),
        ("%2B5", Some(5)),
    ] {
        let r = get(s.addr, &format!("{o}?limit={limit}"), &[]).await;
        match want {
            Some(n) => {
                assert_eq!(r.status, 200, "limit={limit}: {}", r.text());
                let v = r.json();
                assert_eq!(v["objects"].as_array().unwrap().len(), n, "limit={limit}");
                assert_eq!(v["more"], true);
            }
            None => {
                assert_eq!(r.status, 400, "limit={limit}: {}", r.text());
                assert!(r.json()["title"].is_string());
            }
        }
    }
    let report = h.finish().await;
    report.check("huge limit values (12 cases)", "clamped to 50 or 400");
    s.running.shutdown().await;
}

fn id_of(n: u32) -> String {
    format!("indicator--00000000-0000-4000-8000-{n:012}")
}

/// A `match[id]` list of 10,000 items, 20 of them real ids: the first page
/// is exact. Full STIX ids (≈ 52 bytes each) would make a 520 KB URL, which
/// no hyper server accepts (`http::Uri` stops at 64 KiB: 414, checked
/// below), so the other 9,980 items are short non-matching ids. Twenty
/// attackers repeat the query while the honest client polls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deep_match_id_lists() {
    let s = server("max_header_bytes = 1048576").await;
    let h = honest(s.addr, None, 50);
    // Indicators are the objects whose n % 3 != 2.
    let real: Vec<u32> = (0..120).filter(|n| n % 3 != 2).take(20).collect();
    let mut ids: Vec<String> = (0..10_000u32).map(|k| format!("x{k:04}")).collect();
    for (k, n) in real.iter().enumerate() {
        ids[k * 499] = id_of(*n);
    }
    let query = format!("match%5Bid%5D={}&limit=5", ids.join(","));
    let url = format!("{}?{query}", objects_path(PUBLIC));
    assert!(url.len() < 65_000, "{}", url.len());
    let mut attackers = Vec::new();
    for _ in 0..20 {
        let addr = s.addr;
        let url = url.clone();
        attackers.push(tokio::spawn(async move {
            let mut n = 0;
            for _ in 0..5 {
                let r = get(addr, &url, &[]).await;
                assert_eq!(r.status, 200);
                n += 1;
            }
            n
        }));
    }
    let r = get(s.addr, &url, &[]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    let got: Vec<&str> = v["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    // Objects n % 4 == 0 have a second, later version: that is where they
    // come in date_added order (match[version] defaults to last).
    let mut order = real.clone();
    order.sort_by_key(|n| if n % 4 == 0 { 1000 + n } else { *n });
    let want: Vec<String> = order[..5].iter().map(|n| id_of(*n)).collect();
    assert_eq!(got, want);
    assert_eq!(v["more"], true);
    let mut total = 0;
    for a in attackers {
        total += a.await.unwrap();
    }
    // 10,000 full ids: a 520 KB request target, refused before routing.
    let full: Vec<String> = (0..10_000u32).map(|k| id_of(100_000 + k)).collect();
    let req = format!(
        "GET {}?match%5Bid%5D={} HTTP/1.1\r\nHost: x\r\n\r\n",
        objects_path(PUBLIC),
        full.join(",")
    );
    let (got, closed) = raw_exchange(s.addr, req.as_bytes(), Duration::from_secs(5)).await;
    assert_eq!(statuses(&got), [414]);
    assert!(closed);
    let report = h.finish().await;
    report.check(
        "deep match[id] (10,000 items, 100 requests by 20 clients; 520 KB URL)",
        &format!("{total}/100 answered 200, first page exact; 520 KB URL → 414"),
    );
    s.running.shutdown().await;
}

/// Following `next` after a long `match[id]` list: the server mints a
/// token whose filter string (≈ 10 KB) is longer than the token format's
/// 8 KiB field limit (`feed::token::MAX_FIELD`),
/// then refuses its own token with a 400. Either the list request must be
/// refused up front (a 400 naming the limit, or 414), or the token must
/// carry a digest of the filters instead of the filters.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn next_after_a_long_match_id_list() {
    let s = server("max_header_bytes = 1048576").await;
    let real: Vec<u32> = (0..120).filter(|n| n % 3 != 2).take(20).collect();
    // 200 ids ≈ 10.6 KB of filters: over the 8 KiB field limit, well under
    // every URL limit.
    let mut ids: Vec<String> = (0..200u32).map(|k| id_of(100_000 + k)).collect();
    for (k, n) in real.iter().enumerate() {
        ids[k * 9] = id_of(*n);
    }
    // Filters too long for a token: the token carries their digest, and the
    // client sends the filters again with it (as page_all does).
    let query = format!("match%5Bid%5D={}&limit=5", ids.join(","));
    let (got, pages) = page_all(s.addr, &objects_path(PUBLIC), &query, &[], "objects").await;
    assert_eq!(got.len(), 20);
    assert_eq!(pages, 4);
    // `next` alone cannot work for such a token: a 400 that says why.
    let first = get(s.addr, &format!("{}?{query}", objects_path(PUBLIC)), &[])
        .await
        .json();
    let next = first["next"].as_str().unwrap().to_string();
    let r = get(
        s.addr,
        &format!("{}?next={next}", objects_path(PUBLIC)),
        &[],
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(
        r.text().contains("send the same filters again"),
        "{}",
        r.text()
    );
    s.running.shutdown().await;
}

/// Repeated parameters: a filter, `limit` or `next` given twice is a 400
/// (docs/decisions.md#d7), also when one copy is percent-encoded; thousands of
/// repeated unknown parameters and empty pairs are ignored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_parameters() {
    let s = server("max_header_bytes = 262144").await;
    let h = honest(s.addr, None, 50);
    let o = objects_path(PUBLIC);
    for q in [
        "match[type]=indicator&match[type]=malware",
        "match%5Btype%5D=indicator&match[type]=malware",
        "limit=1&limit=2",
        "limit=1&limit=1",
        "next=abc&next=abc",
        "added_after=2024-01-01T00:00:00Z&added_after=2024-01-01T00:00:00Z",
        "match[id]=a&match%5bid%5d=a",
        "match[version]=all&match[version]=all",
        "match[spec_version]=2.1&match[spec_version]=2.1",
    ] {
        // The client library refuses raw brackets in a URI: encode them.
        let wire = q.replace('[', "%5B").replace(']', "%5D");
        let r = get(s.addr, &format!("{o}?{wire}"), &[]).await;
        assert_eq!(r.status, 400, "{q}: {}", r.text());
        assert!(
            r.json()["description"]
                .as_str()
                .unwrap()
                .contains("more than once"),
            "{q}: {}",
            r.text()
        );
    }
    // 10,000 repeats: just under the 64 KiB request-target limit of hyper.
    let junk = "foo=1&".repeat(10_000) + "&&&&limit=3";
    let r = get(s.addr, &format!("{o}?{junk}"), &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["objects"].as_array().unwrap().len(), 3);
    let report = h.finish().await;
    report.check(
        "repeated parameters (9 duplicates; 10,000 unknown repeats)",
        "400 for each duplicate; unknown ignored",
    );
    s.running.shutdown().await;
}

/// Request bodies on a read-only server: a declared huge `Content-Length`
/// is refused with 413 before any body is read; an endless chunked body to
/// POST objects gets its 403 (the collection is read-only) and the server
/// stops reading: the client cannot push 64 MiB into it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_bodies_are_not_swallowed() {
    let s = server("").await;
    let h = honest(s.addr, None, 50);
    let o = objects_path(PUBLIC);
    let head = format!(
        "POST {o} HTTP/1.1\r\nHost: x\r\nContent-Type: application/taxii+json;version=2.1\r\nContent-Length: 1000000000000\r\n\r\n"
    );
    let (got, _) = raw_exchange(s.addr, head.as_bytes(), Duration::from_secs(5)).await;
    assert_eq!(statuses(&got), [413]);

    let st = TcpStream::connect(s.addr).await.unwrap();
    let (mut rd, mut wr) = st.into_split();
    let head = format!(
        "POST {o} HTTP/1.1\r\nHost: x\r\nContent-Type: application/taxii+json;version=2.1\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    wr.write_all(head.as_bytes()).await.unwrap();
    let writer = tokio::spawn(async move {
        let chunk = format!("10000\r\n{}\r\n", "x".repeat(0x10000));
        let mut sent = 0usize;
        for _ in 0..1024 {
            match tokio::time::timeout(Duration::from_secs(3), wr.write_all(chunk.as_bytes())).await
            {
                Ok(Ok(())) => sent += 0x10000,
                // Write error (closed) or no progress (the server stopped
                // reading and the socket buffers are full).
                _ => break,
            }
        }
        sent
    });
    let (got, _) = read_until_close(&mut rd, Duration::from_secs(10)).await;
    let sent = writer.await.unwrap();
    assert_eq!(statuses(&got), [403], "{}", String::from_utf8_lossy(&got));
    assert!(
        sent < 64 << 20,
        "the server swallowed the whole 64 MiB body"
    );
    let report = h.finish().await;
    report.check(
        "request bodies (1 TB Content-Length; endless chunked POST)",
        &format!("413; 403 after {} KiB of an endless body", sent >> 10),
    );
    s.running.shutdown().await;
}
