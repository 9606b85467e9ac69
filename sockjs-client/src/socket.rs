//! The connections every transport runs on: TCP, or TLS over TCP for an
//! `https://` base URL (with the `rustls` feature).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::Uri;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// A connection to the server.
#[derive(Debug)]
pub(crate) enum Io {
    /// `http://`, `ws://`.
    Plain(TcpStream),
    /// `https://`, `wss://`.
    #[cfg(feature = "rustls")]
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl Io {
    fn tcp(&self) -> &TcpStream {
        match self {
            Io::Plain(tcp) => tcp,
            #[cfg(feature = "rustls")]
            Io::Tls(tls) => tls.get_ref().0,
        }
    }
}

impl AsyncRead for Io {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Plain(tcp) => Pin::new(tcp).poll_read(cx, buf),
            #[cfg(feature = "rustls")]
            Io::Tls(tls) => Pin::new(tls.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Io {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Io::Plain(tcp) => Pin::new(tcp).poll_write(cx, buf),
            #[cfg(feature = "rustls")]
            Io::Tls(tls) => Pin::new(tls.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Plain(tcp) => Pin::new(tcp).poll_flush(cx),
            #[cfg(feature = "rustls")]
            Io::Tls(tls) => Pin::new(tls.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Plain(tcp) => Pin::new(tcp).poll_shutdown(cx),
            #[cfg(feature = "rustls")]
            Io::Tls(tls) => Pin::new(tls.as_mut()).poll_shutdown(cx),
        }
    }
}

impl Connection for Io {
    fn connected(&self) -> Connected {
        self.tcp().connected()
    }
}

/// How `https://` connections are made: the caller's rustls
/// configuration (or the default one), offering HTTP/1.1 alone by ALPN.
#[derive(Clone)]
pub(crate) struct Tls {
    #[cfg(feature = "rustls")]
    connector: tokio_rustls::TlsConnector,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tls")
    }
}

#[cfg(feature = "rustls")]
impl Tls {
    /// From the caller's configuration. Every transport speaks HTTP/1.1
    /// (the websocket handshake needs it; the HTTP client is HTTP/1.1
    /// only), so ALPN offers `http/1.1` whatever the configuration says:
    /// a server that prefers h2 must not pick it.
    pub(crate) fn new(config: &rustls::ClientConfig) -> Tls {
        let mut config = config.clone();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Tls { connector: tokio_rustls::TlsConnector::from(std::sync::Arc::new(config)) }
    }

    /// Mozilla's root certificates (webpki-roots), TLS 1.2 and 1.3, the
    /// ring provider.
    pub(crate) fn with_webpki_roots() -> Result<Tls, crate::Error> {
        let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| crate::Error::Http(format!("TLS configuration: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Tls::new(&config))
    }
}

/// Opens a TCP connection to `uri`'s host and port, then makes the TLS
/// handshake when `tls` is given.
pub(crate) async fn connect(tcp: TcpStream, uri: &Uri, tls: Option<&Tls>) -> io::Result<Io> {
    let Some(tls) = tls else { return Ok(Io::Plain(tcp)) };
    #[cfg(feature = "rustls")]
    {
        let host = uri.host().unwrap_or_default();
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let name = rustls::pki_types::ServerName::try_from(host.to_owned())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("TLS server name {host:?}: {e}")))?;
        let stream = tls
            .connector
            .connect(name, tcp)
            .await
            .map_err(|e| io::Error::new(e.kind(), format!("TLS handshake with {host}: {e}")))?;
        Ok(Io::Tls(Box::new(stream)))
    }
    #[cfg(not(feature = "rustls"))]
    {
        let _ = (tls, uri);
        Err(io::Error::new(io::ErrorKind::Unsupported, "https needs sockjs-client's `rustls` feature"))
    }
}

/// hyper-util's connector for the HTTP transports: hyper-util's TCP
/// connector (resolving, `TCP_NODELAY`), then TLS for `https://`.
#[derive(Clone)]
pub(crate) struct Connector {
    tcp: HttpConnector,
    tls: Option<Tls>,
}

impl Connector {
    pub(crate) fn new(tls: Option<Tls>) -> Connector {
        let mut tcp = HttpConnector::new();
        // Frames are small and must not wait for delayed ACKs.
        tcp.set_nodelay(true);
        // https URIs too: TLS is this connector's to add.
        tcp.enforce_http(false);
        Connector { tcp, tls }
    }
}

impl tower_service::Service<Uri> for Connector {
    type Response = TokioIo<Io>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<TokioIo<Io>>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.tcp.poll_ready(cx).map_err(io::Error::other)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let tls = if uri.scheme_str() == Some("https") { self.tls.clone() } else { None };
        let tcp = self.tcp.call(uri.clone());
        Box::pin(async move {
            if uri.scheme_str() == Some("https") && tls.is_none() {
                return Err(io::Error::new(io::ErrorKind::Unsupported, "an https URL and no TLS configuration"));
            }
            let tcp = tcp.await.map_err(io::Error::other)?.into_inner();
            connect(tcp, &uri, tls.as_ref()).await.map(TokioIo::new)
        })
    }
}
