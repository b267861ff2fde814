#![no_main]
//! The `Authorization` header, through the only public path that reaches
//! its parser: `server::auth::Users::authenticate` (the Basic parser,
//! `parse_basic`, is private).
//!
//! Cost: every header that parses as Basic is verified with argon2. The
//! configured users carry deliberately cheap hashes (m=8 KiB, t=1), but an
//! unknown user name is verified against the server's dummy hash with the
//! default parameters (~35 ms, on purpose: see the timing note in
//! `auth.rs`). Inputs are therefore steered towards the configured names
//! (one input byte picks "alice", "bob" or the raw bytes); the raw half is
//! what finds parser bugs, at a few dozen executions per second once the
//! fuzzer has learnt base64. Making `parse_basic` public (or
//! `#[doc(hidden)] pub`) would let this target run at full speed.
//!
//! Properties: no panic; a header for a configured user with the right
//! password authenticates as that user; any other password does not.

use argon2::password_hash::PasswordHasher;
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use taxii_edge::config::Config;
use taxii_edge::config::LoginThrottleConfig;
use taxii_edge::server::auth::{Caller, ConnInfo, Gate, Users};

fn cheap_hash(pw: &str) -> String {
    let params = Params::new(8, 1, 1, None).expect("argon2 params");
    let a = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    a.hash_password_with_salt(pw.as_bytes(), b"fuzz-salt-16byte")
        .expect("hash")
        .to_string()
}

struct Fixture {
    rt: tokio::runtime::Runtime,
    users: Arc<Users>,
    /// Throttling off: the target checks credentials, not the address table.
    gate: Gate,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let toml = format!(
            "[[api_roots]]\nname = \"feeds\"\ntitle = \"Feeds\"\ndefault = true\n\n[[users]]\nname = \"alice\"\npassword_hash = \"{}\"\n\n[[users]]\nname = \"bob\"\npassword_hash = \"{}\"\nstate = \"disabled\"\n",
            cheap_hash("alice-pw"),
            cheap_hash("bob-pw")
        );
        let cfg = Config::from_toml(&toml, Path::new("fuzz.toml")).expect("fuzz config");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        Fixture {
            rt,
            users: Arc::new(Users::from_config(&cfg)),
            gate: Gate::new(&LoginThrottleConfig {
                enabled: false,
                ..LoginThrottleConfig::default()
            }),
        }
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let b64 = |user: &str| {
        let mut cred = user.as_bytes().to_vec();
        cred.push(b':');
        cred.extend_from_slice(rest);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(cred)
        )
        .into_bytes()
    };
    let header = match mode % 3 {
        0 => b64("alice"),
        1 => b64("bob"),
        _ => rest.to_vec(),
    };
    let got = f
        .rt
        .block_on(f.gate.check(&f.users, Some(&header), &ConnInfo::unknown()))
        .map_err(|_| ());
    match mode % 3 {
        0 => {
            let want_ok = rest == b"alice-pw";
            assert_eq!(
                got,
                if want_ok {
                    Ok(Caller::User(Arc::from("alice")))
                } else {
                    Err(())
                }
            );
        }
        // bob is disabled: never authenticated, right password or not.
        1 => assert_eq!(got, Err(())),
        _ => {
            if let Ok(Caller::User(u)) = &got {
                assert_eq!(&**u, "alice", "a disabled or unknown user authenticated");
            }
        }
    }
});
