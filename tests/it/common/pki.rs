//! Test PKI for the mTLS and client tests: a CA generated at test time
//! (never a committed key), a server certificate for `localhost`, client
//! certificates with chosen subject names, an expired one, a revoked one
//! with its CRL, and one from a foreign CA; plus a TLS client over real
//! sockets that presents (or not) a client certificate.
use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, CertificateRevocationListParams, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose, SanType,
    SerialNumber,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// A certificate and its key, PEM.
pub struct Pair {
    pub cert_pem: String,
    pub key_pem: String,
    pub der: Vec<u8>,
}

impl Pair {
    /// SHA-256 fingerprint, `AB:CD:…` as openssl prints it.
    pub fn sha256_colons(&self) -> String {
        use sha2::Digest;
        sha2::Sha256::digest(&self.der)
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(":")
    }
}

/// A certificate authority able to sign leaves and CRLs.
pub struct Ca {
    pub pair: Pair,
    issuer: Issuer<'static, KeyPair>,
    next_serial: u64,
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name.push(DnType::CommonName, name);
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = p.self_signed(&key).unwrap();
        let pair = Pair {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().to_vec(),
        };
        Ca {
            pair,
            issuer: Issuer::new(p, key),
            next_serial: 100,
        }
    }

    fn leaf(&mut self, mut p: CertificateParams) -> (Pair, u64) {
        let serial = self.next_serial;
        self.next_serial += 1;
        p.serial_number = Some(SerialNumber::from(serial));
        let key = KeyPair::generate().unwrap();
        let cert = p.signed_by(&key, &self.issuer).unwrap();
        (
            Pair {
                cert_pem: cert.pem(),
                key_pem: key.serialize_pem(),
                der: cert.der().to_vec(),
            },
            serial,
        )
    }

    /// The server certificate for `localhost` and 127.0.0.1.
    pub fn server(&mut self) -> Pair {
        let mut p =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        p.distinguished_name.push(DnType::CommonName, "localhost");
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.leaf(p).0
    }

    /// A client certificate with subject CN `cn` and e-mail / DNS SANs.
    pub fn client(&mut self, cn: &str, emails: &[&str], dns: &[&str]) -> Pair {
        self.client_with_serial(cn, emails, dns, false).0
    }

    /// A client certificate, valid or expired, and its serial number.
    pub fn client_with_serial(
        &mut self,
        cn: &str,
        emails: &[&str],
        dns: &[&str],
        expired: bool,
    ) -> (Pair, u64) {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name.push(DnType::CommonName, cn);
        for e in emails {
            p.subject_alt_names
                .push(SanType::Rfc822Name((*e).try_into().unwrap()));
        }
        for d in dns {
            p.subject_alt_names
                .push(SanType::DnsName((*d).try_into().unwrap()));
        }
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        if expired {
            p.not_before = date_time_ymd(2020, 1, 1);
            p.not_after = date_time_ymd(2021, 1, 1);
        }
        self.leaf(p)
    }

    /// A CRL (PEM) revoking `serials`.
    pub fn crl(&self, serials: &[u64]) -> String {
        let p = CertificateRevocationListParams {
            this_update: date_time_ymd(2024, 1, 1),
            next_update: date_time_ymd(2099, 1, 1),
            crl_number: SerialNumber::from(1u64),
            issuing_distribution_point: None,
            revoked_certs: serials
                .iter()
                .map(|s| rcgen::RevokedCertParams {
                    serial_number: SerialNumber::from(*s),
                    revocation_time: date_time_ymd(2024, 1, 1),
                    reason_code: Some(rcgen::RevocationReason::KeyCompromise),
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: KeyIdMethod::Sha256,
        };
        p.signed_by(&self.issuer).unwrap().pem().unwrap()
    }
}

/// Writes `text` to `dir/name` and returns the path as a TOML string value.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// A TLS client trusting `ca_pem`, presenting `client` (cert PEM, key PEM)
/// if given, offering HTTP/1.1.
pub fn client_config(ca_pem: &str, client: Option<(&str, &str)>) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let b = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let mut cfg = match client {
        Some((cert, key)) => {
            let chain: Vec<CertificateDer<'static>> =
                CertificateDer::pem_slice_iter(cert.as_bytes())
                    .collect::<Result<_, _>>()
                    .unwrap();
            let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap();
            b.with_client_auth_cert(chain, key).unwrap()
        }
        None => b.with_no_client_auth(),
    };
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(cfg)
}

/// A keep-alive HTTP/1.1 connection over TLS.
pub struct TlsConn {
    send: hyper::client::conn::http1::SendRequest<http_body_util::Empty<bytes::Bytes>>,
}

/// A response, fully read (the same type as the plain-HTTP helpers'; every
/// test that uses this module also declares `server_support`).
pub use super::server_support::Resp as TResp;

impl TlsConn {
    /// Connects and completes the TLS handshake (the server may still
    /// refuse the client certificate afterwards in TLS 1.3: the first
    /// request then fails).
    pub async fn connect(
        addr: std::net::SocketAddr,
        cfg: Arc<rustls::ClientConfig>,
    ) -> Result<TlsConn, String> {
        let fut = async {
            let tcp = tokio::net::TcpStream::connect(addr)
                .await
                .map_err(|e| e.to_string())?;
            let name = ServerName::try_from("localhost").unwrap();
            let tls = tokio_rustls::TlsConnector::from(cfg)
                .connect(name, tcp)
                .await
                .map_err(|e| format!("handshake: {e}"))?;
            let (send, conn) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
                    .await
                    .map_err(|e| e.to_string())?;
            tokio::spawn(conn);
            Ok(TlsConn { send })
        };
        tokio::time::timeout(Duration::from_secs(20), fut)
            .await
            .map_err(|_| "timeout".to_string())?
    }

    /// One GET on this connection.
    pub async fn get(&mut self, path: &str, headers: &[(&str, &str)]) -> Result<TResp, String> {
        use http_body_util::BodyExt;
        let mut b = http::Request::builder()
            .uri(path)
            .header("host", "localhost");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let req = b.body(http_body_util::Empty::new()).unwrap();
        let fut = async {
            self.send.ready().await.map_err(|e| e.to_string())?;
            let resp = self
                .send
                .send_request(req)
                .await
                .map_err(|e| format!("request: {e}"))?;
            let (parts, body) = resp.into_parts();
            let body = body
                .collect()
                .await
                .map_err(|e| e.to_string())?
                .to_bytes()
                .to_vec();
            Ok(TResp {
                status: parts.status.as_u16(),
                headers: parts.headers,
                body,
            })
        };
        tokio::time::timeout(Duration::from_secs(20), fut)
            .await
            .map_err(|_| "timeout".to_string())?
    }
}

/// One GET on a fresh TLS connection; `Err` when the handshake or the
/// request fails (a refused client certificate).
pub async fn tls_get(
    addr: std::net::SocketAddr,
    cfg: Arc<rustls::ClientConfig>,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<TResp, String> {
    let mut c = TlsConn::connect(addr, cfg).await?;
    c.get(path, headers).await
}
