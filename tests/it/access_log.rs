//! The access log of the real `taxii-edge serve` binary: `--access-log
//! FILE` gets exactly one line per request with the documented fields,
//! flushed by the time a SIGTERM'd server exits; with no flag the lines go
//! to stderr, unless `RUST_LOG` turns off `taxii_edge::access` (the switch
//! that existed before the flag).

use crate::common::server_support;
use server_support::*;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_taxii-edge");

/// Starts `serve` with `extra` arguments and `rust_log`, sends three
/// requests (anonymous page, alice's page, a 404), stops it with SIGTERM
/// and returns its stderr.
fn run_server(dir: &Path, extra: &[&str], rust_log: &str) -> String {
    let feed = dir.join("live.taxii");
    taxii_edge::feed::write(&spec("gen-1", 100, objects(20, T0)), &feed, &write_opts()).unwrap();
    std::fs::write(dir.join("taxii-edge.toml"), config_text("")).unwrap();
    let port = free_port();
    let stderr_path = dir.join("stderr.log");
    let mut child = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(dir.join("taxii-edge.toml"))
        .arg("--feed")
        .arg(&feed)
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .args(extra)
        .env("RUST_LOG", rust_log)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .expect("spawn taxii-edge");
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        for _ in 0..400 {
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let r = get(addr, &objects_path("public"), &[]).await;
        assert_eq!(r.status, 200);
        let auth = basic("alice", "alice-pw");
        let r = get(addr, &objects_path("private"), &[("authorization", &auth)]).await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let r = get(addr, "/nothing/here", &[]).await;
        assert_eq!(r.status, 404);
    });
    let st = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "serve exited with {status}");
    std::fs::read_to_string(&stderr_path).unwrap()
}

fn access_lines(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.contains(" access method="))
        .map(|l| {
            // Drop the timestamp and the latency (they vary).
            let (ts, rest) = l.split_once(' ').unwrap();
            assert_eq!(ts.len(), 27, "timestamp of {l:?}");
            assert!(ts.ends_with('Z'));
            rest.split(' ')
                .filter(|f| !f.starts_with("us="))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

fn expected() -> Vec<String> {
    vec![
        format!(
            "access method=GET path={} status=200 bytes=",
            objects_path("public")
        ),
        format!(
            "access method=GET path={} status=200 bytes=",
            objects_path("private")
        ),
        "access method=GET path=/nothing/here status=404 bytes=".to_string(),
    ]
}

fn assert_lines(got: &[String]) {
    let want = expected();
    assert_eq!(got.len(), want.len(), "{got:#?}");
    for (g, w) in got.iter().zip(&want) {
        assert!(g.starts_with(w), "{g:?} should start with {w:?}");
    }
    assert!(got[0].ends_with(" user=-"), "{}", got[0]);
    assert!(got[1].ends_with(" user=alice"), "{}", got[1]);
}

#[test]
fn access_log_file_gets_one_line_per_request() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let stderr = run_server(dir.path(), &["--access-log", log.to_str().unwrap()], "info");
    assert!(access_lines(&stderr).is_empty(), "{stderr}");
    let text = std::fs::read_to_string(&log).unwrap();
    assert_lines(&access_lines(&text));
    assert_eq!(text.lines().count(), 3, "{text}");
}

#[test]
fn access_log_defaults_to_stderr_and_honours_rust_log() {
    let dir = tempfile::tempdir().unwrap();
    let stderr = run_server(dir.path(), &[], "info");
    assert_lines(&access_lines(&stderr));
    assert!(stderr.contains("listening on"), "{stderr}");

    let dir = tempfile::tempdir().unwrap();
    let stderr = run_server(dir.path(), &[], "info,taxii_edge::access=warn");
    assert!(access_lines(&stderr).is_empty(), "{stderr}");
    assert!(stderr.contains("listening on"), "{stderr}");

    let dir = tempfile::tempdir().unwrap();
    let stderr = run_server(dir.path(), &["--access-log", "off"], "info");
    assert!(access_lines(&stderr).is_empty(), "{stderr}");
}
