//! Operations over real sockets: HTTP/2 (prior knowledge and ALPN on TLS),
//! hot reload while paging, a corrupt replacement, config reload, health,
//! metrics and graceful shutdown.

use crate::common::server_support;
use server_support::*;
use std::sync::Arc;
use std::time::Duration;
use taxii_edge::feed::ObjectVersion;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_prior_knowledge_on_plain_tcp() {
    let s = start_with(&spec("gen-1", 5, objects(12, T0)), "").await;
    let tcp = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let r = get_h2(tcp, s.addr, &objects_path(PUBLIC)).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("application/taxii+json;version=2.1")
    );
    let h1 = get(s.addr, &objects_path(PUBLIC), &[]).await;
    assert_eq!(r.body, h1.body);
    assert_eq!(
        r.header("content-length"),
        Some(h1.body.len().to_string().as_str())
    );
    s.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_alpn_h2_and_http11() {
    let certdir = tempfile::tempdir().unwrap();
    let (cert, extra) = self_signed_tls(certdir.path());
    let s = start_with(&spec("gen-1", 5, objects(12, T0)), &extra).await;

    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let connect = |alpn: &'static [u8]| {
        let mut cfg = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots.clone())
            .with_no_client_auth();
        cfg.alpn_protocols = vec![alpn.to_vec()];
        let connector = tokio_rustls::TlsConnector::from(Arc::new(cfg));
        let addr = s.addr;
        async move {
            let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
            let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
            connector.connect(name, tcp).await.unwrap()
        }
    };
    let tls = connect(b"h2").await;
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let r = get_h2(tls, s.addr, "/taxii2/").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["title"], "Test feed");

    let tls = connect(b"http/1.1").await;
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    let (mut send, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(conn);
    let req = http::Request::builder()
        .uri("/feeds/")
        .header("host", "localhost")
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let resp = send.send_request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.version(), http::Version::HTTP_11);

    // Plain HTTP on a TLS port gets nothing useful (no sniffing on TLS).
    let plain = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let r = tokio::time::timeout(Duration::from_secs(20), async {
        hyper::client::conn::http1::handshake::<_, http_body_util::Empty<bytes::Bytes>>(
            hyper_util::rt::TokioIo::new(plain),
        )
        .await
        .map(|(mut send, conn)| {
            tokio::spawn(conn);
            async move {
                send.send_request(
                    http::Request::builder()
                        .uri("/taxii2/")
                        .header("host", "x")
                        .body(http_body_util::Empty::new())
                        .unwrap(),
                )
                .await
            }
        })
        .unwrap()
        .await
    })
    .await
    .unwrap();
    assert!(r.is_err());
    s.running.shutdown().await;
}

/// Generation 2 keeps every date_added of generation 1, supersedes object
/// 1 with a new version and appends 4 new objects (docs/decisions.md#d35: date_added is
/// stable across generations).
fn gen2(gen1: &[ObjectVersion]) -> Vec<ObjectVersion> {
    let mut v = gen1.to_vec();
    let mut da = v.iter().map(|o| o.date_added_us).max().unwrap();
    da += 1_000_000;
    let mut newer = ov(&v[1].stix_type.clone(), 1, 3, da);
    newer.id = v[1].id.clone();
    v.push(newer);
    for n in 100..104 {
        da += 1_000_000;
        v.push(ov("indicator", n, 1, da));
    }
    v
}

fn lasts_of(objs: &[ObjectVersion]) -> Vec<(i64, String)> {
    let mut v: Vec<&ObjectVersion> = objs.iter().collect();
    v.sort_by_key(|o| o.date_added_us);
    v.iter()
        .filter(|o| {
            objs.iter()
                .filter(|p| p.id == o.id)
                .all(|p| p.version_us <= o.version_us)
        })
        .map(|o| {
            (
                o.date_added_us,
                format!("{} {}", o.id, taxii_edge::time::fmt_ms(o.version_us)),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_reload_while_paging_and_corrupt_replacement() {
    let g1 = objects(20, T0);
    let s = start_with(&spec("gen-1", 5, g1.clone()), "").await;
    let path = objects_path(PUBLIC);
    let h = get(s.addr, "/healthz", &[]).await;
    assert_eq!(h.status, 200);
    assert_eq!(h.text(), "ok gen-1\n");

    // Page 1 and 2 from generation 1.
    let mut got = Vec::new();
    let mut last_da = String::new();
    let mut next = String::new();
    for page in 0..2 {
        let url = if page == 0 {
            format!("{path}?limit=4")
        } else {
            format!("{path}?next={next}")
        };
        let r = get(s.addr, &url, &[]).await;
        let v = r.json();
        for o in v["objects"].as_array().unwrap() {
            got.push(format!(
                "{} {}",
                o["id"].as_str().unwrap(),
                o["modified"].as_str().unwrap()
            ));
        }
        last_da = r.header("x-taxii-date-added-last").unwrap().to_string();
        next = v["next"].as_str().unwrap().to_string();
    }
    assert_eq!(got.len(), 8);

    // Publish generation 2 by rename; the watcher picks it up.
    let g2 = gen2(&g1);
    publish(&spec("gen-2", 5, g2.clone()), &s.feed_path);
    eventually("generation 2", || async {
        get(s.addr, "/healthz", &[]).await.text() == "ok gen-2\n"
    })
    .await;
    assert_eq!(s.running.generation(), "gen-2");

    // Continue with the old token: no error, no duplicate, no gap.
    loop {
        let r = get(s.addr, &format!("{path}?next={next}"), &[]).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let v = r.json();
        for o in v["objects"].as_array().unwrap() {
            got.push(format!(
                "{} {}",
                o["id"].as_str().unwrap(),
                o["modified"].as_str().unwrap()
            ));
        }
        if v["more"] != true {
            break;
        }
        next = v["next"].as_str().unwrap().to_string();
        assert!(got.len() < 1000);
    }
    let cursor = taxii_edge::time::parse_rfc3339(&last_da).unwrap();
    let mut want: Vec<String> = lasts_of(&g1).into_iter().take(8).map(|x| x.1).collect();
    want.extend(
        lasts_of(&g2)
            .into_iter()
            .filter(|(d, _)| *d > cursor)
            .map(|x| x.1),
    );
    assert_eq!(got, want);
    let mut dedup = got.clone();
    dedup.sort();
    dedup.dedup();
    assert_eq!(dedup.len(), got.len());

    // A corrupt replacement is refused; generation 2 keeps serving.
    let tmp = s.feed_path.with_extension("broken");
    std::fs::write(&tmp, b"\x89TXFEED\nthis is not a feed").unwrap();
    std::fs::rename(&tmp, &s.feed_path).unwrap();
    eventually("the failed reload", || async {
        get(s.addr, "/metrics", &[])
            .await
            .text()
            .contains("taxii_edge_reloads_total{result=\"failed\"} 1\n")
    })
    .await;
    assert_eq!(get(s.addr, "/healthz", &[]).await.text(), "ok gen-2\n");
    let r = get(s.addr, &format!("{path}?limit=100"), &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json()["objects"].as_array().unwrap().len(),
        lasts_of(&g2).len()
    );

    let m = get(s.addr, "/metrics", &[]).await.text();
    assert!(
        m.contains("taxii_edge_reloads_total{result=\"ok\"} 1\n"),
        "{m}"
    );
    assert!(
        m.contains("taxii_edge_feed_generation_info{generation=\"gen-2\"} 1\n"),
        "{m}"
    );
    assert!(
        m.contains("taxii_edge_requests_total{endpoint=\"objects\",status=\"200\"}"),
        "{m}"
    );
    assert!(
        m.contains("taxii_edge_request_duration_seconds_count"),
        "{m}"
    );
    s.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_rereads_users_and_readers() {
    let s = start_with(&spec("gen-1", 5, objects(5, T0)), "").await;
    let alice = basic("alice", "alice-pw");
    assert_eq!(
        get(s.addr, &objects_path(PRIVATE), &[("authorization", &alice)])
            .await
            .status,
        200
    );
    // Take alice off the private collection and reload explicitly.
    let cfg_path = s.dir.path().join("taxii-edge.toml");
    let text = std::fs::read_to_string(&cfg_path)
        .unwrap()
        .replace("readers = [\"alice\", \"carol\"]", "readers = [\"bob\"]");
    std::fs::write(&cfg_path, text).unwrap();
    s.running.reload();
    eventually("alice losing access", || async {
        get(s.addr, &objects_path(PRIVATE), &[("authorization", &alice)])
            .await
            .status
            == 404
    })
    .await;
    let bob = basic("bob", "bob-pw");
    assert_eq!(
        get(s.addr, &objects_path(PRIVATE), &[("authorization", &bob)])
            .await
            .status,
        200
    );
    s.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_stops_listening() {
    let s = start_with(&spec("gen-1", 5, objects(5, T0)), "shutdown_grace_secs = 2").await;
    // A keep-alive connection stays open across the shutdown request.
    let tcp = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let (mut send, conn) = hyper::client::conn::http1::handshake::<
        _,
        http_body_util::Empty<bytes::Bytes>,
    >(hyper_util::rt::TokioIo::new(tcp))
    .await
    .unwrap();
    let conn_task = tokio::spawn(conn);
    let resp = send
        .send_request(
            http::Request::builder()
                .uri("/taxii2/")
                .header("host", "x")
                .body(http_body_util::Empty::new())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let addr = s.addr;
    s.running.shutdown().await;
    // The idle keep-alive connection was closed, and nobody listens.
    assert!(conn_task.await.unwrap().is_ok());
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}
