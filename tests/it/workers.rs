//! The thread-per-core shape `serve` runs (docs/decisions.md#d57): connections
//! the accept loop hands to worker runtimes get exactly the answers the
//! inline (in-process) server gives, over HTTP/1.1 keep-alive and h2; they
//! are spread over the workers (fewest open connections first); and the
//! server drains and stops with its workers.

use crate::common::server_support;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use server_support::*;
use taxii_edge::config::Config;
use taxii_edge::server::access_log::AccessLog;
use taxii_edge::server::listener::WorkerPool;
use taxii_edge::server::{self, ServeOptions};

/// A keep-alive HTTP/1.1 connection.
struct Conn {
    send: hyper::client::conn::http1::SendRequest<Empty<Bytes>>,
    addr: std::net::SocketAddr,
}

impl Conn {
    async fn open(addr: std::net::SocketAddr) -> Conn {
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(conn);
        Conn { send, addr }
    }

    async fn get(&mut self, path: &str) -> (u16, Option<String>, Vec<u8>) {
        let r = http::Request::get(format!("http://{}{path}", self.addr))
            .header("host", self.addr.to_string())
            .body(Empty::new())
            .unwrap();
        let resp = self.send.send_request(r).await.unwrap();
        let status = resp.status().as_u16();
        let etag = resp
            .headers()
            .get("etag")
            .map(|v| v.to_str().unwrap().to_string());
        let body = resp
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec();
        (status, etag, body)
    }
}

#[tokio::test]
async fn worker_runtimes_answer_like_inline_spread_and_drain() {
    let spec = spec("g1", 10, objects(35, T0));
    let inline = start_with(&spec, "").await;
    let config = Config::load(&inline.dir.path().join("taxii-edge.toml")).unwrap();
    let pool = WorkerPool::start(2).unwrap();
    let workers = pool.workers();
    assert_eq!(workers.len(), 2);
    let running = server::start_on(
        ServeOptions {
            config,
            feed_path: inline.feed_path.clone(),
            listen: Some("127.0.0.1:0".into()),
        },
        AccessLog::Off,
        workers.clone(),
    )
    .await
    .unwrap();
    let addr = running.local_addr;

    let objs = objects_path(PUBLIC);
    let paths = [
        "/taxii2/".to_string(),
        objs.clone(),
        format!("{objs}?limit=7&match[type]=indicator"),
        format!("{objs}?added_after=2024-01-01T00:00:00.000010Z"),
        "/feeds/collections/no-such/objects/".to_string(),
    ];
    // Four keep-alive connections, opened one after the other: 2 per worker.
    let mut conns = Vec::new();
    for _ in 0..4 {
        let mut c = Conn::open(addr).await;
        let (status, _, _) = c.get("/healthz").await;
        assert_eq!(status, 200);
        conns.push(c);
    }
    assert_eq!(workers.open_counts(), vec![2, 2]);
    for round in 0..3 {
        for c in &mut conns {
            for p in &paths {
                let want = get(inline.addr, p, &[]).await;
                let (status, etag, body) = c.get(p).await;
                assert_eq!(status, want.status, "{p} (round {round})");
                assert_eq!(etag.as_deref(), want.header("etag"), "{p}");
                assert_eq!(body, want.body, "{p}");
            }
        }
    }
    // A whole page is one body: 10 objects, more to come.
    let (_, _, body) = conns[0].get(&objs).await;
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["objects"].as_array().unwrap().len(), 10);
    assert_eq!(v["more"], true);

    // h2 (prior knowledge) on a worker too.
    let h2 = tokio::net::TcpStream::connect(addr).await.unwrap();
    let r = get_h2(h2, addr, &objs).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, get(inline.addr, &objs, &[]).await.body);

    drop(conns);
    eventually("every worker connection closed", || {
        let w = workers.clone();
        async move { w.open_counts() == vec![0, 0] }
    })
    .await;

    running.shutdown().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    tokio::task::spawn_blocking(move || pool.stop())
        .await
        .unwrap();
    inline.running.shutdown().await;
}
