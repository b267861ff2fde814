//! The servers the upstream tests fetch from, all on 127.0.0.1 and all
//! stopping by themselves: a scripted TAXII 2.1 server that fails on
//! purpose, medallion and OpenTAXII from PyPI, and tinyproxy from Debian.
//! A process is killed by PID when its guard is dropped.

use crate::common::pki::write;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A child process, killed and reaped when dropped.
pub(super) struct Guard(pub std::process::Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// POSTs `objects` in a TAXII 2.1 envelope as `admin` / `Password0` and
/// expects 202 (the status resource).
fn post_objects(url: &str, objects: &[serde_json::Value]) {
    let r = ureq::post(url)
        .header("Accept", "application/taxii+json;version=2.1")
        .header("Content-Type", "application/taxii+json;version=2.1")
        .header("Authorization", "Basic YWRtaW46UGFzc3dvcmQw")
        .send(serde_json::json!({ "objects": objects }).to_string())
        .unwrap();
    assert_eq!(r.status().as_u16(), 202, "POST {url}");
}

/// What the scripted server does with one objects request.
#[derive(Clone, Copy, Debug)]
pub(super) enum Act {
    Page,
    Fail500,
    /// 429 with `Retry-After: 1`.
    Busy,
    /// Headers and half the body, then nothing for 3 s.
    Stall,
    /// A page that says `more` but gives no `next` token (the client
    /// must go on with `added_after`).
    NoNext,
    /// A page whose `next` is always the same token.
    Loop,
}

/// A TAXII 2.1 server on 127.0.0.1 with one collection of five indicators
/// served two per page; the n-th objects request (0-based) gets
/// `script[n]` (`Page` after the script ends). It logs every request line
/// and stops by itself after 60 s.
pub(super) struct Scripted {
    pub(super) addr: SocketAddr,
    pub(super) log: Arc<Mutex<Vec<String>>>,
}

pub(super) const UP_COLLECTION: &str = "91a7b3c5-2d4e-4f60-8a1b-c2d3e4f5a6b7";

/// A STIX 2.1 indicator with `id` whose pattern compares `path` to
/// `value`.
fn stix_indicator(id: String, path: &str, value: &str) -> serde_json::Value {
    serde_json::json!({
        "type": "indicator",
        "spec_version": "2.1",
        "id": id,
        "created": "2026-01-01T00:00:00.000Z",
        "modified": "2026-01-01T00:00:00.000Z",
        "name": value,
        "pattern": format!("[{path} = '{value}']"),
        "pattern_type": "stix",
        "valid_from": "2026-01-01T00:00:00Z",
    })
}

/// The scripted server's object `i` (a domain).
pub(super) fn indicator(i: u32) -> serde_json::Value {
    stix_indicator(
        format!("indicator--00000000-0000-4000-8000-00000000000{i}"),
        "domain-name:value",
        &format!("bad{i}.example.net"),
    )
}

impl Scripted {
    pub(super) fn start(script: Vec<Act>) -> Scripted {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let l = log.clone();
        std::thread::spawn(move || {
            let until = Instant::now() + Duration::from_secs(60);
            let mut objects_requests = 0usize;
            while Instant::now() < until {
                let Ok((conn, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                conn.set_nonblocking(false).unwrap();
                let line = read_request(&conn);
                l.lock().unwrap().push(line.clone());
                let act = if line.contains("/objects/") {
                    objects_requests += 1;
                    script
                        .get(objects_requests - 1)
                        .copied()
                        .unwrap_or(Act::Page)
                } else {
                    Act::Page
                };
                // Each connection on its own thread, so a stall does not
                // hold up the retry that follows it.
                std::thread::spawn(move || answer(conn, addr, &line, act));
            }
        });
        Scripted { addr, log }
    }

    pub(super) fn url(&self) -> String {
        format!("http://{}/taxii2/", self.addr)
    }

    pub(super) fn requests(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

pub(super) fn read_request(conn: &TcpStream) -> String {
    let mut r = BufReader::new(conn);
    let mut first = String::new();
    let _ = r.read_line(&mut first);
    loop {
        let mut h = String::new();
        match r.read_line(&mut h) {
            Ok(n) if n > 2 => continue,
            _ => break,
        }
    }
    first.trim().to_string()
}

pub(super) fn answer(mut conn: TcpStream, addr: SocketAddr, line: &str, act: Act) {
    let path = line.split(' ').nth(1).unwrap_or("/");
    let (status, extra, body) = match act {
        Act::Fail500 => ("500 Internal Server Error", String::new(), "{}".to_string()),
        Act::Busy => (
            "429 Too Many Requests",
            "Retry-After: 1\r\n".to_string(),
            "{}".to_string(),
        ),
        Act::Page | Act::Stall | Act::NoNext | Act::Loop => route(addr, path, act),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/taxii+json;version=2.1\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n",
        body.len()
    );
    let _ = conn.write_all(head.as_bytes());
    if let Act::Stall = act {
        let _ = conn.write_all(&body.as_bytes()[..body.len() / 2]);
        let _ = conn.flush();
        std::thread::sleep(Duration::from_secs(3));
        return;
    }
    let _ = conn.write_all(body.as_bytes());
}

/// Discovery, the API root's collections, and the objects pages (`next`
/// is the offset of the following page).
pub(super) fn route(addr: SocketAddr, path: &str, act: Act) -> (&'static str, String, String) {
    let ok = "200 OK";
    if path == "/taxii2/" {
        let d =
            serde_json::json!({"title": "scripted", "api_roots": [format!("http://{addr}/api/")]});
        return (ok, String::new(), d.to_string());
    }
    if path == "/api/collections/" {
        let c = serde_json::json!({"collections": [
            {"id": UP_COLLECTION, "title": "Scripted", "can_read": true, "can_write": false},
            {"id": "unreadable", "title": "Closed", "can_read": false, "can_write": false},
        ]});
        return (ok, String::new(), c.to_string());
    }
    // Object i was added at 2026-01-01T00:00:0i; `added_after` is
    // honoured (exclusive), and `next` is the index of the next object.
    let param = |name: &str| {
        path.split(['?', '&'])
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
    };
    let after: u32 = param("added_after")
        .map(|a| a.replace("%3A", ":"))
        .and_then(|a| a.get(17..19).map(str::to_string))
        .and_then(|secs| secs.parse::<u32>().ok())
        .map_or(0, |secs| secs + 1);
    // A token this server never gave out: 400, as servers answer an
    // expired or unknown one.
    if param("next").is_some_and(|n| n.parse::<u32>().is_err()) {
        let e = serde_json::json!({"title": "unknown next token", "http_status": "400"});
        return ("400 Bad Request", String::new(), e.to_string());
    }
    let start = param("next")
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
        .max(after)
        .min(5);
    let end = (start + 2).min(5);
    let objects: Vec<_> = (start..end).map(indicator).collect();
    let mut env = serde_json::json!({"more": end < 5, "objects": objects});
    match act {
        Act::Loop => env["next"] = serde_json::json!("0"),
        Act::NoNext => {}
        _ if end < 5 => env["next"] = serde_json::json!(end.to_string()),
        _ => {}
    }
    if start == end {
        return (ok, String::new(), env.to_string());
    }
    let last = format!(
        "X-TAXII-Date-Added-First: 2026-01-01T00:00:0{start}.000Z\r\nX-TAXII-Date-Added-Last: 2026-01-01T00:00:0{}.000Z\r\n",
        end - 1
    );
    (ok, last, env.to_string())
}

/// medallion (the OASIS TAXII 2.1 reference server, from PyPI) started on
/// 127.0.0.1 over a generated data file; killed by PID when dropped.
pub(super) struct Medallion {
    _child: Guard,
    pub(super) port: u16,
}

pub(super) const MED_COLLECTION: &str = "64993447-4d7e-4f70-b94d-d7f33742ee63";

/// Object `i` of the medallion and OpenTAXII tests (an IPv4 address).
pub(super) fn med_indicator(i: u32) -> serde_json::Value {
    stix_indicator(
        format!("indicator--{i:08x}-0000-4000-8000-000000000000"),
        "ipv4-addr:value",
        &format!("198.51.100.{i}"),
    )
}

impl Medallion {
    /// `old` objects added 30 days ago and `recent` added an hour ago, in
    /// one writable collection; user `admin`, password `Password0`.
    pub(super) fn start(dir: &Path, old: u32, recent: u32) -> Medallion {
        let port = crate::common::server_support::free_port();
        let now = taxii_edge::time::now();
        let day = 86_400_000_000i64;
        // medallion 3.0's layout: a collections list, each with its
        // objects and a manifest that holds their date_added.
        let objects: Vec<serde_json::Value> = (0..old + recent).map(med_indicator).collect();
        let manifest: Vec<serde_json::Value> = (0..old + recent)
            .map(|i| {
                let added = if i < old {
                    now - 30 * day + i64::from(i) * 1_000_000
                } else {
                    now - day / 24 + i64::from(i) * 1_000_000
                };
                serde_json::json!({
                    "id": med_indicator(i)["id"],
                    "date_added": taxii_edge::time::fmt_us(added),
                    "version": "2026-01-01T00:00:00.000Z",
                    "media_type": "application/stix+json;version=2.1",
                })
            })
            .collect();
        let data = serde_json::json!({
            "/discovery": {
                "title": "medallion under test",
                "default": format!("http://127.0.0.1:{port}/root1/"),
                "api_roots": [format!("http://127.0.0.1:{port}/root1/")],
            },
            "root1": {
                "information": {
                    "title": "Root 1",
                    "versions": ["application/taxii+json;version=2.1"],
                    "max_content_length": 9_765_625,
                },
                "status": [],
                "collections": [{
                    "id": MED_COLLECTION,
                    "title": "Medallion indicators",
                    "can_read": true,
                    "can_write": true,
                    "media_types": ["application/stix+json;version=2.1"],
                    "objects": objects,
                    "manifest": manifest,
                }],
            },
        });
        let data_path = dir.join("medallion-data.json");
        std::fs::write(&data_path, data.to_string()).unwrap();
        let conf = dir.join("medallion.json");
        std::fs::write(
            &conf,
            serde_json::json!({
                "backend": {
                    "module": "medallion.backends.memory_backend",
                    "module_class": "MemoryBackend",
                    "filename": data_path,
                },
                "users": {"admin": "Password0"},
                "taxii": {"max_page_size": 100},
            })
            .to_string(),
        )
        .unwrap();
        let bin = crate::common::compile_support::python().with_file_name("medallion");
        let child = std::process::Command::new(&bin)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .arg(&conf)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "{}: {e} (tools/interop/setup.sh installs medallion)",
                    bin.display()
                )
            });
        let m = Medallion {
            _child: Guard(child),
            port,
        };
        // Up when it answers discovery; bounded.
        for _ in 0..200 {
            if m.get("/taxii2/").is_ok() {
                return m;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("medallion did not start on port {port}");
    }

    fn get(&self, path: &str) -> Result<u16, ureq::Error> {
        let r = ureq::get(format!("http://127.0.0.1:{}{path}", self.port))
            .header("Accept", "application/taxii+json;version=2.1")
            .header("Authorization", "Basic YWRtaW46UGFzc3dvcmQw")
            .call()?;
        Ok(r.status().as_u16())
    }

    /// Adds objects through medallion's own POST (it stamps date_added).
    pub(super) fn add(&self, objects: &[serde_json::Value]) {
        post_objects(
            &format!(
                "http://127.0.0.1:{}/root1/collections/{MED_COLLECTION}/objects/",
                self.port
            ),
            objects,
        );
    }
}

/// tinyproxy (Debian's package) on 127.0.0.1 in the foreground, its log
/// on stdout in a file; killed by PID when dropped.
pub(super) struct Tinyproxy {
    _child: Guard,
    pub(super) port: u16,
    pub(super) log: PathBuf,
}

impl Tinyproxy {
    pub(super) fn start(dir: &Path) -> Tinyproxy {
        let port = crate::common::server_support::free_port();
        let conf = write(
            dir,
            "tinyproxy.conf",
            &format!(
                "User nobody\nGroup nogroup\nPort {port}\nListen 127.0.0.1\nTimeout 30\nLogLevel Connect\nMaxClients 10\nAllow 127.0.0.1\n"
            ),
        );
        let log = dir.join("tinyproxy.log");
        let child = std::process::Command::new("tinyproxy")
            .arg("-d")
            .arg("-c")
            .arg(&conf)
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("tinyproxy runs (tools/test.sh installs it)");
        let t = Tinyproxy {
            _child: Guard(child),
            port,
            log,
        };
        for _ in 0..200 {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return t;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("tinyproxy did not start on port {port}");
    }
}

/// OpenTAXII (PyPI) through `tools/interop/opentaxii_server.py`: SQLite
/// under `dir`, account `admin`, one API root and collection; the script
/// stops by itself after 120 s and is killed by PID when dropped.
pub(super) struct OpenTaxii {
    _child: Guard,
    pub(super) port: u16,
    pub(super) api_root: String,
    pub(super) collection: String,
}

impl OpenTaxii {
    pub(super) fn start(dir: &Path) -> OpenTaxii {
        let port = crate::common::server_support::free_port();
        let mut child = std::process::Command::new(crate::common::compile_support::python())
            .arg(crate::common::compile_support::interop_script(
                "opentaxii_server.py",
            ))
            .arg(dir)
            .arg(port.to_string())
            .arg("120")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("python runs (tools/interop/setup.sh installs opentaxii)");
        let mut first = String::new();
        let stdout = child.stdout.take().unwrap();
        let _ = BufReader::new(stdout).read_line(&mut first);
        let ids: serde_json::Value = serde_json::from_str(&first).unwrap_or_default();
        let mut o = OpenTaxii {
            _child: Guard(child),
            port,
            api_root: ids["api_root"].as_str().unwrap_or_default().to_string(),
            collection: ids["collection"].as_str().unwrap_or_default().to_string(),
        };
        assert!(
            !o.collection.is_empty(),
            "OpenTAXII did not set up: {first:?}"
        );
        for _ in 0..200 {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return o;
            }
            if let Ok(Some(st)) = o._child.0.try_wait() {
                panic!("OpenTAXII exited: {st}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("OpenTAXII did not start on port {port}");
    }

    /// Adds objects through OpenTAXII's own POST (it stamps date_added).
    pub(super) fn add(&self, objects: &[serde_json::Value]) {
        post_objects(
            &format!(
                "http://127.0.0.1:{}/taxii2/{}/collections/{}/objects/",
                self.port, self.api_root, self.collection
            ),
            objects,
        );
    }
}
