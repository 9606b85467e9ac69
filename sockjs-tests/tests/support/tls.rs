//! A self-signed certificate for 127.0.0.1 and localhost, made at test
//! time (rcgen, ring), with what servers and clients need to use it.

use std::sync::{Arc, OnceLock};

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// The test certificate and its key.
pub struct TestCertificate {
    certificate: CertificateDer<'static>,
    key: Vec<u8>,
    spki: Vec<u8>,
}

/// The one certificate of this test binary (made once, on first use).
pub fn certificate() -> &'static TestCertificate {
    static CERTIFICATE: OnceLock<TestCertificate> = OnceLock::new();
    CERTIFICATE.get_or_init(|| {
        let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .expect("rcgen makes a self-signed certificate");
        use rcgen::PublicKeyData as _;
        TestCertificate {
            certificate: made.cert.der().clone(),
            key: made.signing_key.serialize_der(),
            spki: made.signing_key.subject_public_key_info(),
        }
    })
}

impl TestCertificate {
    /// The reference servers' configuration (ALPN h2, http/1.1; each
    /// server narrows it to what it speaks).
    pub fn server_config(&self) -> Arc<rustls::ServerConfig> {
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key.clone()));
        sockjs_examples::tls::server_config(vec![self.certificate.clone()], key, &sockjs_examples::tls::ALPN_H2_HTTP1)
            .expect("a server configuration with the test certificate")
    }

    /// A client configuration that trusts this certificate alone, offering
    /// `alpn` (sockjs-client replaces it with http/1.1).
    pub fn client_config(&self, alpn: &[&[u8]]) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.certificate.clone()).expect("the test certificate as a root");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS 1.2 and 1.3")
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Arc::new(config)
    }

    /// Base64 of the SHA-256 of the certificate's SubjectPublicKeyInfo:
    /// what Chromium's `--ignore-certificate-errors-spki-list` takes.
    pub fn spki_sha256_base64(&self) -> String {
        base64(ring::digest::digest(&ring::digest::SHA256, &self.spki).as_ref())
    }
}

/// Standard base64 with padding (RFC 4648 §4), as Chromium's pin list
/// takes it.
pub fn base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
