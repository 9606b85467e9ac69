//! [`Client`]: where to connect and how; `connect` probes `/info` and
//! tries the transports.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http::header::{HeaderMap, HeaderName, HeaderValue};
use sockjs_core::client::ClientDeflate;
use sockjs_core::Deflate;

use crate::connection::{self, Connection};
use crate::endpoint::{Base, Endpoint};
use crate::http::HttpClient;
use crate::session::Limits;
use crate::socket::Tls;
use crate::{Error, Info, Transport};

/// A SockJS server to connect to, and how.
///
/// Build it once; [`Client::connect`] opens a new session each time it is
/// called (the HTTP connection pool is shared).
#[derive(Debug, Clone)]
pub struct Client {
    endpoint: Endpoint,
    transports: Vec<Transport>,
    session_id: Option<String>,
}

impl Client {
    /// A client of the SockJS service at `url` (`http://host:port/prefix`,
    /// the URL a browser would give to `new SockJS(url)`).
    ///
    /// `https://` URLs need the `rustls` feature; they trust Mozilla's
    /// root certificates (webpki-roots) unless `tls_config` says
    /// otherwise. Without the feature they are refused with
    /// [`Error::InvalidUrl`].
    pub fn new(url: &str) -> Result<Client, Error> {
        let base = Base::parse(url)?;
        let tls = if base.secure { Some(default_tls()?) } else { None };
        Ok(Client {
            endpoint: Endpoint {
                base,
                headers: HeaderMap::new(),
                limits: Limits::default(),
                http: HttpClient::new(tls.clone()),
                tls,
                deflate: Some(ClientDeflate::new(Deflate::new())),
            },
            transports: Transport::ALL.to_vec(),
            session_id: None,
        })
    }

    /// The TLS configuration of `https://` (and `wss://`) connections:
    /// your root certificates (a private CA, a test's self-signed
    /// certificate), client certificates, a crypto provider. Its ALPN
    /// protocols are replaced by `http/1.1` alone: this client speaks
    /// HTTP/1.1 on every transport. Has no effect on an `http://` URL.
    /// Needs the `rustls` feature.
    ///
    /// ```no_run
    /// # fn demo(ca_pem: &[u8]) -> Result<(), Box<dyn std::error::Error>> {
    /// use std::sync::Arc;
    /// use sockjs_client::rustls::{self, pki_types::pem::PemObject, pki_types::CertificateDer};
    ///
    /// let mut roots = rustls::RootCertStore::empty();
    /// for certificate in CertificateDer::pem_slice_iter(ca_pem) {
    ///     roots.add(certificate?)?;
    /// }
    /// let provider = Arc::new(rustls::crypto::ring::default_provider());
    /// let config = rustls::ClientConfig::builder_with_provider(provider)
    ///     .with_safe_default_protocol_versions()?
    ///     .with_root_certificates(roots)
    ///     .with_no_client_auth();
    /// let client = sockjs_client::Client::new("https://example.com/echo")?.tls_config(Arc::new(config));
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "rustls")]
    pub fn tls_config(mut self, config: Arc<rustls::ClientConfig>) -> Client {
        let endpoint = &mut self.endpoint;
        if endpoint.base.secure {
            let tls = Some(Tls::new(&config));
            endpoint.http = endpoint.http.with_tls(tls.clone());
            endpoint.tls = tls;
        }
        self
    }

    /// permessage-deflate (RFC 7692) offered on websockets, with these
    /// settings, or not offered (`None`). Default: offered with
    /// [`Deflate::new()`], as browsers offer it: compression happens only
    /// when the server also enables it, and then messages of at least 256
    /// bytes go compressed both ways, with no deflate context held
    /// between messages (neither side takes its context over). Read from
    /// the client's side, the settings are: `level`, `min_size` and
    /// `max_window_bits` for what the client compresses;
    /// `client_no_context_takeover` to compress each message afresh;
    /// `server_no_context_takeover` to ask the server for the same (a
    /// server that does not agree is refused, and the transport fails).
    /// [`Connection::websocket_extension`] says what was agreed.
    ///
    /// # Panics
    ///
    /// When the level is over 9 or the window outside 9 to 15 bits.
    pub fn websocket_deflate(mut self, deflate: Option<Deflate>) -> Client {
        self.endpoint.deflate = deflate.map(ClientDeflate::new);
        self
    }

    /// Only this transport.
    pub fn transport(self, transport: Transport) -> Client {
        self.transports([transport])
    }

    /// Only these transports, tried in this order (default: all four, in
    /// sockjs-client's order).
    pub fn transports(mut self, transports: impl IntoIterator<Item = Transport>) -> Client {
        self.transports = transports.into_iter().collect();
        self
    }

    /// A header sent with every request (`/info`, receiving, sending, the
    /// websocket handshake): authentication, a tenant, a tracing id.
    /// Adding a name again adds a second header of that name.
    pub fn header(mut self, name: &str, value: &str) -> Result<Client, Error> {
        let name =
            HeaderName::from_bytes(name.as_bytes()).map_err(|e| Error::InvalidHeader(format!("{name:?}: {e}")))?;
        let value = HeaderValue::from_str(value).map_err(|e| Error::InvalidHeader(format!("{name}: {e}")))?;
        self.endpoint.headers.append(name, value);
        Ok(self)
    }

    /// The session id to use (default: 8 random characters; a test may
    /// want to know it). The `<server>` segment stays random.
    pub fn session_id(mut self, id: &str) -> Client {
        self.session_id = Some(id.to_owned());
        self
    }

    /// Longest frame, eventsource event or websocket message accepted
    /// from the server, and longest message [`Connection::send`] takes
    /// (default 1 MiB).
    pub fn max_frame_size(mut self, bytes: usize) -> Client {
        self.endpoint.limits.max_frame = bytes.max(64);
        self
    }

    /// Received messages held for the application; when full, the client
    /// stops reading from the server (default 64).
    pub fn receive_queue(mut self, messages: usize) -> Client {
        self.endpoint.limits.receive_queue = messages.max(1);
        self
    }

    /// Bytes of messages waiting to be sent; [`Connection::send`] waits
    /// for room beyond (default 1 MiB; a message longer than this goes
    /// alone).
    pub fn send_queue(mut self, bytes: usize) -> Client {
        self.endpoint.limits.send_queue = bytes.clamp(1, u32::MAX as usize >> 4);
        self
    }

    /// Largest `xhr_send` body (or websocket frame) made of several
    /// queued messages (default 64 KiB, well below the 256 KiB servers
    /// accept by default; a longer single message still goes alone).
    pub fn max_send_batch(mut self, bytes: usize) -> Client {
        self.endpoint.limits.send_batch = bytes.max(1);
        self
    }

    /// How long connecting, the websocket handshake, and a transport's
    /// wait for its open frame may take before the next transport is
    /// tried (default 10 s).
    pub fn open_timeout(mut self, limit: Duration) -> Client {
        self.endpoint.limits.open_timeout = limit;
        self
    }

    /// How long `/info`, an `xhr_send`, or a clean close may take
    /// (default 30 s: a server whose application is slow holds a send
    /// while its inbox is full, 10 s by default).
    pub fn request_timeout(mut self, limit: Duration) -> Client {
        self.endpoint.limits.request_timeout = limit;
        self
    }

    /// How long the receiving side may stay silent before the connection
    /// is considered dead (default 60 s: servers send a heartbeat every
    /// 25 s).
    pub fn idle_timeout(mut self, limit: Duration) -> Client {
        self.endpoint.limits.idle_timeout = limit;
        self
    }

    /// Asks `<base>/info` what the server offers.
    pub async fn info(&self) -> Result<Info, Error> {
        let Endpoint { base, headers, limits, http, .. } = &self.endpoint;
        let uri = base.http("/info");
        let body = tokio::time::timeout(limits.request_timeout, http.get_small(uri, headers))
            .await
            .map_err(|_| Error::Timeout { waiting_for: "/info", after: limits.request_timeout })?
            .map_err(|e| Error::Info(e.to_string()))?;
        parse_info(&body)
    }

    /// Opens a session: probes `/info`, then tries each transport in turn
    /// until one gets the open frame.
    pub async fn connect(&self) -> Result<Connection, Error> {
        let info = self.info().await?;
        let candidates: Vec<Transport> =
            self.transports.iter().copied().filter(|t| info.websocket || *t != Transport::WebSocket).collect();
        if candidates.is_empty() {
            return Err(match self.transports.as_slice() {
                [only] => Error::TransportDisabled(*only),
                _ => Error::AllTransportsFailed(Vec::new()),
            });
        }
        let mut attempts = Vec::new();
        for transport in candidates {
            let session = self.session_path();
            match connection::open(&self.endpoint, &info, transport, &session).await {
                Ok(connection) => return Ok(connection),
                Err(e) => attempts.push((transport, e)),
            }
        }
        Err(Error::AllTransportsFailed(attempts))
    }

    /// `/<server>/<session>`: three digits, then the session id.
    fn session_path(&self) -> String {
        let server = random() % 1000;
        let session = self.session_id.clone().unwrap_or_else(|| {
            const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz012345";
            let mut bits = random();
            (0..8)
                .map(|_| {
                    let c = ALPHABET[(bits % 32) as usize] as char;
                    bits /= 32;
                    c
                })
                .collect()
        });
        format!("/{server:03}/{session}")
    }
}

#[cfg(feature = "rustls")]
fn default_tls() -> Result<Tls, Error> {
    Tls::with_webpki_roots()
}

#[cfg(not(feature = "rustls"))]
fn default_tls() -> Result<Tls, Error> {
    // Base::parse refuses https:// without the feature.
    Err(Error::InvalidUrl("https needs sockjs-client's `rustls` feature".into()))
}

/// 64 random-enough bits for ids (not for secrets): the standard
/// library's per-process random hash keys over a counter.
pub(crate) fn random() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    static KEYS: std::sync::OnceLock<Arc<RandomState>> = std::sync::OnceLock::new();
    let keys = KEYS.get_or_init(|| Arc::new(RandomState::new()));
    let mut hasher = keys.build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.finish()
}

fn parse_info(body: &[u8]) -> Result<Info, Error> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| Error::Info(format!("not JSON ({e}): {}", preview(body))))?;
    let object = value.as_object().ok_or_else(|| Error::Info(format!("not a JSON object: {}", preview(body))))?;
    Ok(Info {
        websocket: object.get("websocket").and_then(|v| v.as_bool()).unwrap_or(true),
        cookie_needed: object.get("cookie_needed").and_then(|v| v.as_bool()).unwrap_or(false),
        origins: object
            .get("origins")
            .and_then(|v| v.as_array())
            .map(|a| a.iter().filter_map(|o| o.as_str().map(str::to_owned)).collect())
            .unwrap_or_default(),
        entropy: object.get("entropy").and_then(|v| v.as_u64()).unwrap_or(0),
    })
}

fn preview(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(80)]);
    format!("{text:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "rustls")]
    #[test]
    fn https_urls_use_tls_schemes_and_port_443() {
        let b = Base::parse("https://example.com/echo").unwrap();
        assert_eq!(b.http("/info").to_string(), "https://example.com:443/echo/info");
        assert_eq!(b.ws("/000/s/websocket").to_string(), "wss://example.com:443/echo/000/s/websocket");
        assert!(Client::new("https://example.com/echo").unwrap().endpoint.tls.is_some());
        assert!(Client::new("http://example.com/echo").unwrap().endpoint.tls.is_none());
    }

    #[cfg(not(feature = "rustls"))]
    #[test]
    fn https_without_the_feature_says_which_feature() {
        let Err(Error::InvalidUrl(why)) = Client::new("https://example.com/echo") else { panic!("accepted https") };
        assert!(why.contains("`rustls` feature"), "{why}");
    }

    #[test]
    fn session_paths_are_server_and_session_segments() {
        let client = Client::new("http://127.0.0.1:1/echo").unwrap();
        let (a, b) = (client.session_path(), client.session_path());
        assert_ne!(a, b);
        for path in [a, b] {
            let parts: Vec<&str> = path.split('/').collect();
            assert_eq!(parts.len(), 3, "{path}");
            assert!(parts[1].len() == 3 && parts[1].bytes().all(|c| c.is_ascii_digit()), "{path}");
            assert!(parts[2].len() == 8 && !parts[2].contains('.'), "{path}");
        }
        assert!(client.session_id("fixed").session_path().ends_with("/fixed"));
    }

    #[test]
    fn info_is_read_leniently() {
        // §7.2: websocket, cookie_needed, origins, entropy.
        let info =
            parse_info(br#"{"websocket":false,"cookie_needed":true,"origins":["*:*"],"entropy":4294967295}"#).unwrap();
        assert_eq!(
            info,
            Info { websocket: false, cookie_needed: true, origins: vec!["*:*".into()], entropy: 4294967295 }
        );
        assert!(parse_info(b"{}").unwrap().websocket, "websocket defaults to on");
        assert!(matches!(parse_info(b"[1]"), Err(Error::Info(_))));
        assert!(matches!(parse_info(b"Welcome"), Err(Error::Info(_))));
    }

    #[test]
    fn transports_parse_from_sockjs_client_names() {
        for t in Transport::ALL {
            assert_eq!(t.name().parse::<Transport>().unwrap(), t);
        }
        assert!("jsonp-polling".parse::<Transport>().is_err());
    }
}
