//! Where and how a client's connections connect: the base URL taken
//! apart, the headers, the bounds, the pooled HTTP client and TLS. The
//! [`Client`](crate::Client) holds one; every transport is opened from it.

use http::header::HeaderMap;
use http::Uri;
use sockjs_core::client::ClientDeflate;

use crate::http::HttpClient;
use crate::session::Limits;
use crate::socket::Tls;
use crate::Error;

/// What opening a connection needs of its client.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    /// The server's base URL.
    pub(crate) base: Base,
    /// Sent with every request.
    pub(crate) headers: HeaderMap,
    /// The bounds and timeouts of each connection.
    pub(crate) limits: Limits,
    /// The pooled HTTP client and its cookies.
    pub(crate) http: HttpClient,
    /// For an `https://` base URL.
    pub(crate) tls: Option<Tls>,
    /// permessage-deflate offered on websockets, with the deflate
    /// contexts the client's connections share.
    pub(crate) deflate: Option<ClientDeflate>,
}

/// The base URL, taken apart.
#[derive(Debug, Clone)]
pub(crate) struct Base {
    /// `https://` (and so `wss://`).
    pub(crate) secure: bool,
    /// `host:port`.
    pub(crate) authority: String,
    /// The path prefix, without a trailing `/` (may be empty).
    pub(crate) path: String,
    /// The query string of the base URL, added to every request.
    pub(crate) query: Option<String>,
}

impl Base {
    /// Takes `url` (`http://host:port/prefix?query`) apart.
    pub(crate) fn parse(url: &str) -> Result<Base, Error> {
        let uri: Uri = url.parse().map_err(|e| Error::InvalidUrl(format!("{url:?}: {e}")))?;
        let secure = match uri.scheme_str() {
            Some("http") => false,
            Some("https") if cfg!(feature = "rustls") => true,
            Some("https") => {
                return Err(Error::InvalidUrl(format!(
                    "{url:?}: https needs TLS, which is sockjs-client's `rustls` feature (off in this build)"
                )))
            }
            _ => return Err(Error::InvalidUrl(format!("{url:?}: expected an http:// or https:// URL"))),
        };
        let authority = uri.authority().ok_or_else(|| Error::InvalidUrl(format!("{url:?}: no host")))?;
        let port = authority.port_u16().unwrap_or(if secure { 443 } else { 80 });
        Ok(Base {
            secure,
            authority: format!("{}:{port}", authority.host()),
            path: uri.path().trim_end_matches('/').to_owned(),
            query: uri.query().map(str::to_owned),
        })
    }

    /// `http(s)://host:port<prefix><path>?<query>`.
    pub(crate) fn http(&self, path: &str) -> Uri {
        self.uri(if self.secure { "https" } else { "http" }, path)
    }

    /// `ws(s)://host:port<prefix><path>?<query>`.
    pub(crate) fn ws(&self, path: &str) -> Uri {
        self.uri(if self.secure { "wss" } else { "ws" }, path)
    }

    fn uri(&self, scheme: &str, path: &str) -> Uri {
        let query = self.query.as_deref().map(|q| format!("?{q}")).unwrap_or_default();
        // Every part was valid when parsed; the session path is made of
        // [0-9a-z] and the transport names.
        format!("{scheme}://{}{}{path}{query}", self.authority, self.path)
            .parse()
            .unwrap_or_else(|_| Uri::from_static("http://invalid/"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_keep_prefix_and_query() {
        let b = Base::parse("http://127.0.0.1:8081/a/echo/?x=1").unwrap();
        assert_eq!(b.http("/info").to_string(), "http://127.0.0.1:8081/a/echo/info?x=1");
        assert_eq!(b.ws("/000/s/websocket").to_string(), "ws://127.0.0.1:8081/a/echo/000/s/websocket?x=1");
        let b = Base::parse("http://localhost").unwrap();
        assert_eq!(b.http("/info").to_string(), "http://localhost:80/info");
    }

    #[test]
    fn refuses_what_it_cannot_speak() {
        for url in ["ws://example.com/echo", "wss://example.com/echo", "example.com/echo", "http://", "https://"] {
            assert!(matches!(Base::parse(url), Err(Error::InvalidUrl(_))), "{url}");
        }
    }
}
