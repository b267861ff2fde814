//! User states (`active`, `disabled`, `locked`), per-user request rates,
//! and users changing on a config reload without a restart; over real
//! sockets (and real TLS for the certificate case).

use crate::common::pki;
use crate::common::server_support;

use pki::*;
use server_support::*;

const GENERIC: &str = "valid HTTP Basic credentials are required for this resource";
const LOCKED: &str = "this account is locked; ask the feed's administrator to unlock it";

async fn status_and_description(
    addr: std::net::SocketAddr,
    col: &str,
    auth: &str,
) -> (u16, String) {
    let r = get(addr, &objects_path(col), &[("authorization", auth)]).await;
    let d = if r.status == 200 {
        String::new()
    } else {
        r.json()["description"].as_str().unwrap_or("").to_string()
    };
    (r.status, d)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_state_disabled_and_locked() {
    let text = config_text("").replace("name = \"bob\"\n", "name = \"bob\"\nstate = \"locked\"\n");
    let s = start_text(&spec1(), &text).await;
    // carol is disabled: the right password is a plain 401.
    assert_eq!(
        status_and_description(s.addr, PRIVATE, &basic("carol", "carol-pw")).await,
        (401, GENERIC.to_string())
    );
    // bob is locked: the right password learns it, a wrong one does not.
    assert_eq!(
        status_and_description(s.addr, SECRET, &basic("bob", "bob-pw")).await,
        (401, LOCKED.to_string())
    );
    assert_eq!(
        status_and_description(s.addr, SECRET, &basic("bob", "bob-guess")).await,
        (401, GENERIC.to_string())
    );
    // Twice: the cached outcome of a locked login is still "locked".
    assert_eq!(
        status_and_description(s.addr, SECRET, &basic("bob", "bob-pw")).await,
        (401, LOCKED.to_string())
    );
    // Active users are unaffected.
    assert_eq!(
        status_and_description(s.addr, PRIVATE, &basic("alice", "alice-pw")).await,
        (200, String::new())
    );
    s.running.shutdown().await;
}

/// Users are re-read from the config file on reload (SIGHUP, a feed
/// rename, or `Running::reload`): disabling, locking, re-enabling and a
/// new password take effect on the running server, even for credentials
/// that were cached before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_state_changes_take_effect_on_reload() {
    let text = config_text("");
    let s = start_text(&spec1(), &text).await;
    let cfg_path = s.dir.path().join("taxii-edge.toml");
    let alice = basic("alice", "alice-pw");
    assert_eq!(status_and_description(s.addr, PRIVATE, &alice).await.0, 200);

    let reload_to = |t: String| {
        std::fs::write(&cfg_path, t).unwrap();
        s.running.reload();
    };
    let alice_is = |state: &'static str| {
        text.replace(
            "name = \"alice\"\n",
            &format!("name = \"alice\"\nstate = \"{state}\"\n"),
        )
    };
    reload_to(alice_is("disabled"));
    eventually("alice disabled", || async {
        status_and_description(s.addr, PRIVATE, &alice).await == (401, GENERIC.to_string())
    })
    .await;
    reload_to(alice_is("locked"));
    eventually("alice locked", || async {
        status_and_description(s.addr, PRIVATE, &alice).await == (401, LOCKED.to_string())
    })
    .await;
    // carol enabled (state removed), alice active again.
    reload_to(text.replace("state = \"disabled\"\n", ""));
    eventually("carol enabled", || async {
        status_and_description(s.addr, PRIVATE, &basic("carol", "carol-pw"))
            .await
            .0
            == 200
    })
    .await;
    assert_eq!(status_and_description(s.addr, PRIVATE, &alice).await.0, 200);
    // A new password for alice: the old one (cached before) stops working.
    let (a, b, _) = hashes();
    reload_to(text.replacen(a.as_str(), b.as_str(), 1));
    eventually("alice's new password", || async {
        status_and_description(s.addr, PRIVATE, &basic("alice", "bob-pw"))
            .await
            .0
            == 200
    })
    .await;
    assert_eq!(status_and_description(s.addr, PRIVATE, &alice).await.0, 401);
    // A config that fails validation keeps the previous users.
    reload_to(text.replace("name = \"bob\"\n", "name = \"bob\"\nstate = \"asleep\"\n"));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        status_and_description(s.addr, PRIVATE, &basic("alice", "bob-pw"))
            .await
            .0,
        200
    );
    s.running.shutdown().await;
}

/// A disabled user is refused even with a valid, mapped client
/// certificate; a locked one gets the locked description.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_state_applies_to_certificate_logins() {
    let dir = tempfile::tempdir().unwrap();
    let mut ca = Ca::new("state CA");
    let server = ca.server();
    let carol = ca.client("carol.client", &[], &[]);
    let bob = ca.client("bob.client", &[], &[]);
    let alice = ca.client("alice.client", &[], &[]);
    let extra = format!(
        "tls_cert = {:?}\ntls_key = {:?}\n[server.client_certs]\nmode = \"optional\"\nca = {:?}\n",
        write(dir.path(), "s.pem", &server.cert_pem),
        write(dir.path(), "s.key", &server.key_pem),
        write(dir.path(), "ca.pem", &ca.pair.cert_pem),
    );
    let text = config_text(&extra)
        .replace(
            "name = \"alice\"\n",
            "name = \"alice\"\ncert_cn = \"alice.client\"\n",
        )
        .replace(
            "name = \"bob\"\n",
            "name = \"bob\"\ncert_cn = \"bob.client\"\nstate = \"locked\"\n",
        )
        .replace(
            "name = \"carol\"\n",
            "name = \"carol\"\ncert_cn = \"carol.client\"\n",
        );
    let s = start_text(&spec1(), &text).await;
    let cfg = |p: &Pair| client_config(&ca.pair.cert_pem, Some((&p.cert_pem, &p.key_pem)));
    let r = tls_get(s.addr, cfg(&carol), &objects_path(PRIVATE), &[])
        .await
        .unwrap();
    assert_eq!(
        (r.status, r.json()["description"].clone()),
        (401, GENERIC.into())
    );
    let r = tls_get(s.addr, cfg(&bob), &objects_path(SECRET), &[])
        .await
        .unwrap();
    assert_eq!(
        (r.status, r.json()["description"].clone()),
        (401, LOCKED.into())
    );
    let r = tls_get(s.addr, cfg(&alice), &objects_path(PRIVATE), &[])
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    s.running.shutdown().await;
}

/// `rate_limit_per_minute = 3`: three requests pass, the fourth gets 429
/// with `Retry-After` (a token every 20 s); other users and anonymous
/// requests are not counted against alice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_state_rate_limit_answers_429_with_retry_after() {
    let text = config_text("").replace(
        "name = \"alice\"\n",
        "name = \"alice\"\nrate_limit_per_minute = 3\n",
    );
    let s = start_text(&spec1(), &text).await;
    let alice = basic("alice", "alice-pw");
    for i in 0..3 {
        let r = get(s.addr, &objects_path(PRIVATE), &[("authorization", &alice)]).await;
        assert_eq!(r.status, 200, "request {i}");
    }
    let r = get(s.addr, &objects_path(PRIVATE), &[("authorization", &alice)]).await;
    assert_eq!(r.status, 429, "{}", r.text());
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=20).contains(&retry), "Retry-After {retry}");
    assert_eq!(
        r.json()["description"],
        "this user's request rate limit is exhausted; retry later"
    );
    // Discovery counts too (every authenticated request does).
    let r = get(s.addr, "/taxii2/", &[("authorization", &alice)]).await;
    assert_eq!(r.status, 429);
    let bob = basic("bob", "bob-pw");
    for _ in 0..5 {
        let r = get(s.addr, &objects_path(SECRET), &[("authorization", &bob)]).await;
        assert_eq!(r.status, 200);
    }
    assert_eq!(get(s.addr, &objects_path(PUBLIC), &[]).await.status, 200);
    s.running.shutdown().await;
}
