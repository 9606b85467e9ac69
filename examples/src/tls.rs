//! The reference servers over TLS: rustls with the ring crypto provider,
//! a certificate chain and key read from PEM files.
//!
//! * axum (sockjs-tower, hyper-util's auto builder): ALPN offers `h2` and
//!   `http/1.1`; over h2, websockets use extended CONNECT (RFC 8441), as in
//!   h2c.
//! * actix-web: its own rustls listener (the `rustls-0_23` feature), which
//!   offers `h2` and `http/1.1` by ALPN itself; websockets over HTTP/1.1.
//! * warp 0.4 has no TLS of its own any more (0.3's `tls` feature is
//!   gone), so [`serve_warp_tls`] gives `sockjs_warp::serve_with` a
//!   tokio-rustls handshake: HTTP/1.1 only (ALPN `http/1.1`), like warp's
//!   server.
//!
//! Every handshake must end within the request timeout, counted from the
//! connection's opening, like a request head (DESIGN.md §1.4: everything
//! a peer can fill has a bound).
//!
//! The same in a program of your own, with sockjs-tower in hyper
//! (dependencies: rustls with its `ring` feature, tokio-rustls,
//! hyper-util with `server-auto`; the README's TLS section shows this
//! very text):
//!
//! ```no_run
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
//! use hyper_util::server::conn::auto;
//! use rustls::pki_types::pem::PemObject;
//! use rustls::pki_types::{CertificateDer, PrivateKeyDer};
//! use sockjs_tower::{Options, Session, SockJsService};
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     // The chain (leaf first) and its key, PEM files.
//!     let chain = CertificateDer::pem_file_iter("cert.pem")?.collect::<Result<Vec<_>, _>>()?;
//!     let key = PrivateKeyDer::from_pem_file("key.pem")?;
//!     let provider = Arc::new(rustls::crypto::ring::default_provider());
//!     let mut tls = rustls::ServerConfig::builder_with_provider(provider)
//!         .with_safe_default_protocol_versions()?
//!         .with_no_client_auth()
//!         .with_single_cert(chain, key)?;
//!     // HTTP/2 when the client offers it: browsers then send every
//!     // transport over one connection, websockets included (RFC 8441).
//!     tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
//!     let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
//!
//!     let echo = SockJsService::new(Options::new("/echo"), |mut session: Session| async move {
//!         while let Some(message) = session.recv().await {
//!             let _ = session.send(message);
//!         }
//!     });
//!     let mut builder = auto::Builder::new(TokioExecutor::new());
//!     builder.http2().enable_connect_protocol();
//!     builder.http1().timer(TokioTimer::new()).header_read_timeout(Duration::from_secs(10));
//!     let listener = tokio::net::TcpListener::bind(("127.0.0.1", 8443)).await?;
//!     loop {
//!         let (tcp, peer) = listener.accept().await?;
//!         tcp.set_nodelay(true)?;
//!         let (acceptor, builder, service) = (acceptor.clone(), builder.clone(), echo.clone().with_peer(peer));
//!         tokio::spawn(async move {
//!             // A client must not hold a connection by stalling its handshake.
//!             let handshake = tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp));
//!             let Ok(Ok(tls)) = handshake.await else { return };
//!             let _ = builder.serve_connection_with_upgrades(TokioIo::new(tls), service).await;
//!         });
//!     }
//! }
//! ```

use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;

/// ALPN protocols of a server that speaks HTTP/2 and HTTP/1.1, in order of
/// preference.
pub const ALPN_H2_HTTP1: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// The certificate chain (leaf first) and private key in `cert` and `key`,
/// two PEM files (the same file twice works too). Errors name the file
/// and what is missing.
pub fn load_pem(cert: &Path, key: &Path) -> io::Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
    let invalid =
        |path: &Path, what: &str| io::Error::new(io::ErrorKind::InvalidData, format!("{}: {what}", path.display()));
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|e| invalid(cert, &format!("cannot read certificates: {e}")))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(cert, &format!("bad PEM: {e}")))?;
    if chain.is_empty() {
        return Err(invalid(cert, "no CERTIFICATE in this PEM file"));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| invalid(key, &format!("no usable private key (PKCS#8, PKCS#1 or SEC1 PEM): {e}")))?;
    Ok((chain, key))
}

/// A rustls server configuration with the ring provider, TLS 1.2 and 1.3,
/// no client certificates, and `alpn` as the protocols offered.
pub fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    alpn: &[&[u8]],
) -> io::Result<Arc<ServerConfig>> {
    // The provider is named, not taken from the process default: that
    // default is ambiguous (and panics) when another crate turns on
    // rustls's aws-lc-rs feature too.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|builder| builder.with_no_client_auth().with_single_cert(chain, key))
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("TLS configuration: {e}")))?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

/// [`load_pem`], then [`server_config`] with [`ALPN_H2_HTTP1`]: what
/// `test-server --tls-cert PEM --tls-key PEM` uses. Each server adjusts
/// the ALPN list to what it speaks.
pub fn server_config_from_pem(cert: &Path, key: &Path) -> io::Result<Arc<ServerConfig>> {
    let (chain, key) = load_pem(cert, key)?;
    server_config(chain, key, &ALPN_H2_HTTP1)
}

/// `config` with `alpn` as the protocols offered.
pub(crate) fn with_alpn(config: &ServerConfig, alpn: &[&[u8]]) -> ServerConfig {
    let mut config = config.clone();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    config
}

/// The TLS handshake on an accepted connection, within `limit`; `None`
/// when it fails or takes too long (the connection is then dropped).
pub(crate) async fn handshake(
    acceptor: &tokio_rustls::TlsAcceptor,
    tcp: tokio::net::TcpStream,
    limit: Duration,
) -> Option<tokio_rustls::server::TlsStream<tokio::net::TcpStream>> {
    tokio::time::timeout(limit, acceptor.accept(tcp)).await.ok()?.ok()
}

/// Serves a warp `filter` over TLS on `listener` (HTTP/1.1; `config`'s
/// ALPN is replaced by `http/1.1`) with `sockjs_warp::serve_with`: the
/// bounds of `sockjs_warp::serve` (`TCP_NODELAY`, the handshake and every
/// request head within `request_timeout`) and the client's address.
pub async fn serve_warp_tls<F>(
    filter: F,
    listener: tokio::net::TcpListener,
    config: &ServerConfig,
    request_timeout: Duration,
) where
    F: warp::Filter + Clone + Send + Sync + 'static,
    F::Extract: warp::Reply,
{
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(with_alpn(config, &[b"http/1.1"])));
    sockjs_warp::serve_with(filter, listener, request_timeout, move |tcp| {
        let accept = acceptor.accept(tcp);
        async move { accept.await.ok() }
    })
    .await;
}
