//! Test support for the edge-server tests: hand-made feeds, a config with
//! users, a started server, and a tiny HTTP client over real sockets.
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use taxii_edge::config::Config;
use taxii_edge::feed::{
    self, ApiRootMeta, CollectionData, CollectionMeta, FeedMeta, FeedSpec, ObjectVersion,
    SpecVersion, WriteOptions,
};
use taxii_edge::server::{self, Running, ServeOptions};

pub const PUBLIC: &str = "11111111-1111-4111-8111-111111111111";
pub const PRIVATE: &str = "22222222-2222-4222-8222-222222222222";
pub const SECRET: &str = "33333333-3333-4333-8333-333333333333";
pub const ORPHAN: &str = "44444444-4444-4444-8444-444444444444";
pub const KEY_HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
/// 2024-01-01T00:00:00Z in µs.
pub const T0: i64 = 1_704_067_200_000_000;

/// Password hashes, computed once per test binary (argon2 is slow).
pub fn hashes() -> &'static (String, String, String) {
    static H: OnceLock<(String, String, String)> = OnceLock::new();
    H.get_or_init(|| {
        (
            server::hash_password("alice-pw"),
            server::hash_password("bob-pw"),
            server::hash_password("carol-pw"),
        )
    })
}

pub fn basic(user: &str, pw: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pw}"))
    )
}

/// Gives each object a STIX 2.0 form (for collections that also offer
/// TAXII 2.0): its type, id, `created` at [`T0`], its version as
/// `modified`, and the `labels` STIX 2.0 requires.
pub fn add_stix20_forms<'a>(objects: impl IntoIterator<Item = &'a mut ObjectVersion>) {
    for o in objects {
        o.json20 = Some(
            format!(
                "{{\"type\":\"{}\",\"id\":\"{}\",\"created\":\"{}\",\"modified\":\"{}\",\"labels\":[\"x\"]}}",
                o.stix_type,
                o.id,
                taxii_edge::time::fmt_ms(T0),
                taxii_edge::time::fmt_ms(o.version_us)
            )
            .into(),
        );
    }
}

/// One object version: `indicator--…{n:012}` etc.
pub fn ov(stix_type: &str, n: u32, version: u32, date_added_us: i64) -> ObjectVersion {
    let id = format!("{stix_type}--00000000-0000-4000-8000-{n:012}");
    let version_us = T0 + i64::from(version) * 1_000_000;
    let ms = taxii_edge::time::fmt_ms(version_us);
    let json = format!(
        "{{\"type\":\"{stix_type}\",\"spec_version\":\"2.1\",\"id\":\"{id}\",\"created\":\"{c}\",\"modified\":\"{ms}\",\"name\":\"o{n} v{version}\"}}",
        c = taxii_edge::time::fmt_ms(T0)
    );
    ObjectVersion {
        id,
        stix_type: stix_type.into(),
        spec_version: SpecVersion::V21,
        version_us,
        date_added_us,
        json21: json.into(),
        json20: None,
    }
}

/// `n` objects; every 3rd is a malware, the rest indicators; objects with
/// n % 4 == 0 get a second version later. date_added strictly increasing
/// by 1 s from T0 + 1 s.
pub fn objects(n: u32, da_base: i64) -> Vec<ObjectVersion> {
    let mut v = Vec::new();
    let mut da = da_base;
    for i in 0..n {
        da += 1_000_000;
        let ty = if i % 3 == 2 { "malware" } else { "indicator" };
        v.push(ov(ty, i, 1, da));
    }
    for i in (0..n).step_by(4) {
        da += 1_000_000;
        let ty = if i % 3 == 2 { "malware" } else { "indicator" };
        v.push(ov(ty, i, 2, da));
    }
    v
}

pub fn meta(generation: &str, page_size: u32) -> FeedMeta {
    let col = |id: &str, alias: &str, title: &str| CollectionMeta {
        id: id.to_string(),
        alias: Some(alias.to_string()),
        title: title.to_string(),
        description: Some(format!("the {alias} one")),
        api_root: "feeds".to_string(),
        taxii_versions: vec!["2.1".to_string()],
    };
    FeedMeta {
        generation: generation.to_string(),
        created_us: T0,
        title: "Test feed".to_string(),
        description: Some("for tests".to_string()),
        contact: None,
        api_roots: vec![ApiRootMeta {
            name: "feeds".to_string(),
            title: "Feeds".to_string(),
            description: None,
            default: true,
        }],
        collections: vec![
            col(PUBLIC, "public", "Public"),
            col(PRIVATE, "private", "Private"),
            col(SECRET, "secret", "Secret"),
            col(ORPHAN, "orphan", "Orphan"),
        ],
        page_size,
        token_key: KEY_HEX.to_string(),
        compile: None,
    }
}

/// Generation `gen-1`: 8 objects in `public`, pages of 5.
pub fn spec1() -> FeedSpec {
    spec("gen-1", 5, objects(8, T0))
}

/// A spec: `public` holds `objs`, the others a few objects each.
pub fn spec(generation: &str, page_size: u32, objs: Vec<ObjectVersion>) -> FeedSpec {
    let small = objects(3, T0);
    FeedSpec {
        meta: meta(generation, page_size),
        collections: vec![
            CollectionData {
                objects: objs,
                state: Default::default(),
                cuts: Vec::new(),
            },
            CollectionData {
                objects: small.clone(),
                state: Default::default(),
                cuts: Vec::new(),
            },
            CollectionData {
                objects: small.clone(),
                state: Default::default(),
                cuts: Vec::new(),
            },
            CollectionData {
                objects: small,
                state: Default::default(),
                cuts: Vec::new(),
            },
        ],
    }
}

pub fn write_opts() -> WriteOptions {
    WriteOptions {
        zstd_level: 3,
        gzip_level: 6,
        release: None,
        previous: None,
    }
}

pub fn config_text(server_extra: &str) -> String {
    let (a, b, c) = hashes();
    format!(
        r#"
[server]
listen = "127.0.0.1:0"
{server_extra}

[[api_roots]]
name = "feeds"
title = "Feeds"
default = true

[[collections]]
id = "{PUBLIC}"
alias = "public"
title = "Public"
anonymous = true

[[collections]]
id = "{PRIVATE}"
alias = "private"
title = "Private"
readers = ["alice", "carol"]

[[collections]]
id = "{SECRET}"
alias = "secret"
title = "Secret"
readers = ["bob"]

[[users]]
name = "alice"
password_hash = "{a}"

[[users]]
name = "bob"
password_hash = "{b}"

[[users]]
name = "carol"
password_hash = "{c}"
state = "disabled"
"#
    )
}

/// A running server over a fresh feed in a temp dir.
pub struct TestServer {
    pub dir: tempfile::TempDir,
    pub feed_path: PathBuf,
    pub running: Running,
    pub addr: std::net::SocketAddr,
}

pub async fn start_with(spec: &FeedSpec, server_extra: &str) -> TestServer {
    start_text(spec, &config_text(server_extra)).await
}

/// Starts a server over `spec` with the complete config `text` (written to
/// `taxii-edge.toml` in a fresh temp dir, so a reload re-reads it).
pub async fn start_text(spec: &FeedSpec, text: &str) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let feed_path = dir.path().join("live.taxii");
    feed::write(spec, &feed_path, &write_opts()).unwrap();
    let cfg_path = dir.path().join("taxii-edge.toml");
    std::fs::write(&cfg_path, text).unwrap();
    let config = Config::load(&cfg_path).unwrap();
    let running = server::start(ServeOptions {
        config,
        feed_path: feed_path.clone(),
        listen: Some("127.0.0.1:0".to_string()),
    })
    .await
    .unwrap();
    let addr = running.local_addr;
    TestServer {
        dir,
        feed_path,
        running,
        addr,
    }
}

/// A free port on 127.0.0.1 (bound, then released for the caller: a child
/// process or a restart binds it).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Publishes a new generation by rename onto the live path.
pub fn publish(spec: &FeedSpec, live: &Path) {
    feed::publish(spec.clone(), live, &write_opts()).unwrap();
}

/// A response, fully read.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

fn build(
    method: &str,
    addr: std::net::SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> http::Request<Empty<Bytes>> {
    let mut b = http::Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"))
        .header("host", addr.to_string());
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(Empty::new()).unwrap()
}

async fn read(resp: http::Response<hyper::body::Incoming>) -> Resp {
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.unwrap().to_bytes().to_vec();
    Resp {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body,
    }
}

/// One HTTP/1.1 request on a fresh connection.
pub async fn req(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Resp {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let resp = send
        .send_request(build(method, addr, path, headers))
        .await
        .unwrap();
    read(resp).await
}

pub async fn get(addr: std::net::SocketAddr, path: &str, headers: &[(&str, &str)]) -> Resp {
    req(addr, "GET", path, headers).await
}

/// One HTTP/2 request (prior knowledge) over any stream.
pub async fn get_h2<S>(io: S, addr: std::net::SocketAddr, path: &str) -> Resp
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(io))
            .await
            .unwrap();
    tokio::spawn(conn);
    let mut r = build("GET", addr, path, &[]);
    r.headers_mut().remove("host");
    *r.version_mut() = http::Version::HTTP_2;
    let resp = send.send_request(r).await.unwrap();
    assert_eq!(resp.version(), http::Version::HTTP_2);
    read(resp).await
}

pub fn objects_path(col: &str) -> String {
    format!("/feeds/collections/{col}/objects/")
}

/// Follows `next` with the original query until `more` is false; returns
/// every object id+modified in order and the number of pages.
pub async fn page_all(
    addr: std::net::SocketAddr,
    path: &str,
    query: &str,
    headers: &[(&str, &str)],
    key: &str,
) -> (Vec<String>, usize) {
    let mut out = Vec::new();
    let mut pages = 0;
    let mut next: Option<String> = None;
    loop {
        let mut q = query.to_string();
        if let Some(n) = &next {
            if !q.is_empty() {
                q.push('&');
            }
            q.push_str("next=");
            q.push_str(n);
        }
        let url = if q.is_empty() {
            path.to_string()
        } else {
            format!("{path}?{q}")
        };
        let r = get(addr, &url, headers).await;
        assert_eq!(r.status, 200, "{url}: {}", r.text());
        pages += 1;
        let v = r.json();
        if v.as_object().unwrap().is_empty() {
            break;
        }
        for o in v[key].as_array().unwrap() {
            let s = if let Some(s) = o.as_str() {
                s.to_string()
            } else {
                format!(
                    "{} {}",
                    o["id"].as_str().unwrap(),
                    o.get("modified")
                        .or(o.get("version"))
                        .unwrap()
                        .as_str()
                        .unwrap()
                )
            };
            out.push(s);
        }
        if v["more"] == true {
            next = Some(v["next"].as_str().expect("next when more").to_string());
            assert!(pages < 10_000);
        } else {
            assert!(v.get("next").is_none());
            break;
        }
    }
    (out, pages)
}

/// Polls `cond` up to ~10 s (a bounded wait for an asynchronous reload,
/// not a timing assertion).
pub async fn eventually<F, Fut>(what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..400 {
        if cond().await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("gave up waiting for {what}");
}

/// A self-signed `localhost` certificate and key written into `dir`: the
/// certificate (for the client's trust store) and the `tls_cert`/`tls_key`
/// server settings that use them.
pub fn self_signed_tls(dir: &Path) -> (rustls::pki_types::CertificateDer<'static>, String) {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert_path = dir.join("cert.pem");
    let key_path = dir.join("key.pem");
    std::fs::write(&cert_path, ck.cert.pem()).unwrap();
    std::fs::write(&key_path, ck.signing_key.serialize_pem()).unwrap();
    let settings = format!(
        "tls_cert = {:?}\ntls_key = {:?}",
        cert_path.display().to_string(),
        key_path.display().to_string()
    );
    (ck.cert.der().clone(), settings)
}
