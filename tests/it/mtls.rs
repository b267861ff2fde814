//! Client certificates (mTLS) over real TLS sockets with a PKI generated at
//! test time: a verified certificate logs in as the user it maps to (by
//! subject CN, SAN or SHA-256 fingerprint); an unmapped one is answered like
//! a wrong password; expired, revoked and foreign certificates fail the
//! handshake; `optional` falls back to Basic; a reload re-maps an open
//! connection.

use crate::common::pki;
use crate::common::server_support;

use pki::*;
use server_support::*;

/// The PKI and the config of one test.
struct Setup {
    ca: Ca,
    alice: Pair,
    bob: Pair,
    dave: Pair,
    stranger: Pair,
    expired: Pair,
    revoked: Pair,
    foreign: Pair,
    text: String,
}

fn setup(dir: &std::path::Path, mode: &str) -> Setup {
    let mut ca = Ca::new("taxii-edge test CA");
    let server = ca.server();
    // alice by CN, bob by fingerprint (his CN maps to nobody), dave by an
    // e-mail SAN, the stranger by nothing.
    let alice = ca.client("alice.client", &[], &[]);
    let bob = ca.client("unmapped-bob-cn", &[], &["bob.example"]);
    let dave = ca.client("dave-cn", &["dave@example.org"], &[]);
    let stranger = ca.client("stranger", &["stranger@example.org"], &[]);
    let (expired, _) = ca.client_with_serial("alice.client", &[], &[], true);
    let (revoked, serial) = ca.client_with_serial("alice.client", &[], &[], false);
    let mut other = Ca::new("some other CA");
    let foreign = other.client("alice.client", &[], &[]);
    let cert = write(dir, "server.pem", &server.cert_pem);
    let key = write(dir, "server.key", &server.key_pem);
    let cap = write(dir, "clients-ca.pem", &ca.pair.cert_pem);
    let crl = write(dir, "revoked.crl.pem", &ca.crl(&[serial]));
    let extra = format!(
        "tls_cert = {:?}\ntls_key = {:?}\n[server.client_certs]\nmode = {mode:?}\nca = {:?}\ncrls = [{:?}]\n",
        cert.display().to_string(),
        key.display().to_string(),
        cap.display().to_string(),
        crl.display().to_string(),
    );
    let text = config_text(&extra)
        .replace(
            "name = \"alice\"\n",
            "name = \"alice\"\ncert_cn = \"alice.client\"\n",
        )
        .replace(
            "name = \"bob\"\n",
            &format!("name = \"bob\"\ncert_sha256 = {:?}\n", bob.sha256_colons()),
        )
        .replace("readers = [\"bob\"]", "readers = [\"bob\", \"dave\"]")
        + "\n[[users]]\nname = \"dave\"\ncert_san = \"dave@example.org\"\n";
    Setup {
        ca,
        alice,
        bob,
        dave,
        stranger,
        expired,
        revoked,
        foreign,
        text,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mtls_required_maps_certificates_to_users() {
    let dir = tempfile::tempdir().unwrap();
    let st = setup(dir.path(), "required");
    let s = start_text(&spec1(), &st.text).await;
    let ca = &st.ca.pair.cert_pem;
    let with = |p: &Pair| client_config(ca, Some((&p.cert_pem, &p.key_pem)));

    // alice by subject CN: reads PRIVATE, not SECRET (hidden: 404).
    let mut c = TlsConn::connect(s.addr, with(&st.alice)).await.unwrap();
    let r = c.get(&objects_path(PRIVATE), &[]).await.unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["objects"].as_array().unwrap().len(), 3);
    let r = c.get(&objects_path(SECRET), &[]).await.unwrap();
    assert_eq!(r.status, 404, "{}", r.text());
    // An Authorization header next to a verified certificate is ignored:
    // the certificate decides.
    let r = c
        .get(
            &objects_path(SECRET),
            &[("authorization", &basic("bob", "bob-pw"))],
        )
        .await
        .unwrap();
    assert_eq!(r.status, 404, "{}", r.text());

    // bob by fingerprint (his CN and DNS SAN map to nobody).
    let r = tls_get(s.addr, with(&st.bob), &objects_path(SECRET), &[])
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let r = tls_get(s.addr, with(&st.bob), &objects_path(PRIVATE), &[])
        .await
        .unwrap();
    assert_eq!(r.status, 404);

    // dave by e-mail SAN (no password at all).
    let r = tls_get(s.addr, with(&st.dave), &objects_path(SECRET), &[])
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());

    // A valid certificate that maps to no user: exactly a wrong password
    // (401 with the Basic challenge, even on the anonymous collection),
    // and Basic credentials do not rescue it.
    let mut c = TlsConn::connect(s.addr, with(&st.stranger)).await.unwrap();
    for (path, auth) in [
        (objects_path(PRIVATE), None),
        (objects_path(PUBLIC), None),
        (objects_path(PRIVATE), Some(basic("alice", "alice-pw"))),
    ] {
        let h: Vec<(&str, &str)> = auth.iter().map(|a| ("authorization", a.as_str())).collect();
        let r = c.get(&path, &h).await.unwrap();
        assert_eq!(r.status, 401, "{path}: {}", r.text());
        assert_eq!(
            r.header("www-authenticate"),
            Some("Basic realm=\"taxii-edge\"")
        );
        assert_eq!(
            r.json()["description"],
            "valid HTTP Basic credentials are required for this resource"
        );
    }

    // Refused at the TLS layer: no certificate, expired, revoked by the
    // CRL, issued by another CA. None of them gets an HTTP answer.
    for (what, cfg) in [
        ("no certificate", client_config(ca, None)),
        ("expired", with(&st.expired)),
        ("revoked", with(&st.revoked)),
        ("foreign CA", with(&st.foreign)),
    ] {
        let r = tls_get(s.addr, cfg, &objects_path(PUBLIC), &[]).await;
        assert!(
            r.is_err(),
            "{what} certificate was accepted: {:?}",
            r.map(|r| r.status)
        );
    }
    s.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mtls_optional_falls_back_to_basic() {
    let dir = tempfile::tempdir().unwrap();
    let st = setup(dir.path(), "optional");
    let s = start_text(&spec1(), &st.text).await;
    let ca = &st.ca.pair.cert_pem;
    let none = || client_config(ca, None);

    // No certificate: anonymous and Basic work as without mTLS.
    let r = tls_get(s.addr, none(), &objects_path(PUBLIC), &[])
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    let r = tls_get(s.addr, none(), &objects_path(PRIVATE), &[])
        .await
        .unwrap();
    assert_eq!(r.status, 401);
    let alice = basic("alice", "alice-pw");
    let r = tls_get(
        s.addr,
        none(),
        &objects_path(PRIVATE),
        &[("authorization", &alice)],
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let wrong = basic("alice", "nope");
    let r = tls_get(
        s.addr,
        none(),
        &objects_path(PRIVATE),
        &[("authorization", &wrong)],
    )
    .await
    .unwrap();
    assert_eq!(r.status, 401);

    // A certificate, when presented, is verified and decides.
    let cfg = client_config(ca, Some((&st.alice.cert_pem, &st.alice.key_pem)));
    let r = tls_get(s.addr, cfg, &objects_path(PRIVATE), &[])
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    let cfg = client_config(ca, Some((&st.stranger.cert_pem, &st.stranger.key_pem)));
    let r = tls_get(
        s.addr,
        cfg,
        &objects_path(PRIVATE),
        &[("authorization", &alice)],
    )
    .await
    .unwrap();
    assert_eq!(r.status, 401);
    for (what, p) in [
        ("expired", &st.expired),
        ("revoked", &st.revoked),
        ("foreign", &st.foreign),
    ] {
        let cfg = client_config(ca, Some((&p.cert_pem, &p.key_pem)));
        let r = tls_get(s.addr, cfg, &objects_path(PUBLIC), &[]).await;
        assert!(r.is_err(), "{what} certificate was accepted");
    }
    s.running.shutdown().await;
}

/// The certificate is mapped once per connection; a config reload re-maps
/// an open connection (alice's CN mapping removed → 401 on the same
/// connection, without reconnecting).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mtls_mapping_follows_a_config_reload_on_an_open_connection() {
    let dir = tempfile::tempdir().unwrap();
    let st = setup(dir.path(), "required");
    let s = start_text(&spec1(), &st.text).await;
    let cfg = client_config(
        &st.ca.pair.cert_pem,
        Some((&st.alice.cert_pem, &st.alice.key_pem)),
    );
    let mut c = TlsConn::connect(s.addr, cfg).await.unwrap();
    for _ in 0..3 {
        assert_eq!(
            c.get(&objects_path(PRIVATE), &[]).await.unwrap().status,
            200
        );
    }
    let cfg_path = s.dir.path().join("taxii-edge.toml");
    std::fs::write(
        &cfg_path,
        st.text.replace("cert_cn = \"alice.client\"\n", ""),
    )
    .unwrap();
    s.running.reload();
    let mut last = 0;
    for _ in 0..400 {
        last = c.get(&objects_path(PRIVATE), &[]).await.unwrap().status;
        if last == 401 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(last, 401, "the reload never unmapped alice's certificate");
    s.running.shutdown().await;
}

#[test]
fn mtls_config_errors_name_their_keys() {
    let bad = config_text("[server.client_certs]\nmode = \"required\"\n")
        + "\n[[users]]\nname = \"erin\"\ncert_sha256 = \"12:34\"\n\n[[users]]\nname = \"frank\"\n";
    let err = taxii_edge::config::Config::from_toml(&bad, std::path::Path::new("t.toml"))
        .unwrap_err()
        .to_string();
    for key in [
        "server.client_certs.ca",
        "server.client_certs.mode",
        "users[3].cert_sha256[0]",
        "users[4].password_hash",
    ] {
        assert!(err.contains(key), "{key} missing from: {err}");
    }
    let bad = config_text("[server.client_certs]\nmode = \"sometimes\"\n");
    let err = taxii_edge::config::Config::from_toml(&bad, std::path::Path::new("t.toml"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("sometimes"), "{err}");
}
