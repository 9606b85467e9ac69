//! URL routing (PROTOCOL.md §3).
//!
//! Paths are matched raw, as they arrived: no percent-decoding and no
//! normalisation of `//` or `/./`.

use http::Method;

use crate::Transport;

/// What a request path addresses under an endpoint's prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route<'a> {
    /// `<prefix>` or `<prefix>/`: the greeting.
    Greeting,
    /// `<prefix>/info`.
    Info,
    /// `<prefix>/iframe.html` and its variants.
    Iframe,
    /// `<prefix>/websocket`: the raw WebSocket endpoint.
    RawWebSocket,
    /// `<prefix>/<server>/<session>/<kind>`.
    Session {
        /// The server id segment, which routing ignores.
        server_id: &'a str,
        /// The session id segment.
        session_id: &'a str,
        /// Which session URL.
        kind: SessionUrl,
    },
}

/// The URLs under `<prefix>/<server>/<session>/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionUrl {
    /// `xhr`: xhr-polling receive.
    Xhr,
    /// `xhr_send`: send for the xhr transports, eventsource and htmlfile.
    XhrSend,
    /// `xhr_streaming`: xhr-streaming receive.
    XhrStreaming,
    /// `eventsource`: EventSource receive.
    EventSource,
    /// `htmlfile`: htmlfile receive.
    HtmlFile,
    /// `jsonp`: jsonp-polling receive.
    Jsonp,
    /// `jsonp_send`: jsonp send.
    JsonpSend,
    /// `websocket`: SockJS-framed WebSocket.
    WebSocket,
}

impl SessionUrl {
    fn from_segment(segment: &str) -> Option<SessionUrl> {
        Some(match segment {
            "xhr" => SessionUrl::Xhr,
            "xhr_send" => SessionUrl::XhrSend,
            "xhr_streaming" => SessionUrl::XhrStreaming,
            "eventsource" => SessionUrl::EventSource,
            "htmlfile" => SessionUrl::HtmlFile,
            "jsonp" => SessionUrl::Jsonp,
            "jsonp_send" => SessionUrl::JsonpSend,
            "websocket" => SessionUrl::WebSocket,
            _ => return None,
        })
    }

    /// The transport a receiving URL opens, `None` for the send URLs.
    pub fn receiving_transport(self) -> Option<Transport> {
        Some(match self {
            SessionUrl::Xhr => Transport::XhrPolling,
            SessionUrl::XhrStreaming => Transport::XhrStreaming,
            SessionUrl::EventSource => Transport::EventSource,
            SessionUrl::HtmlFile => Transport::HtmlFile,
            SessionUrl::Jsonp => Transport::JsonpPolling,
            SessionUrl::WebSocket => Transport::WebSocket,
            SessionUrl::XhrSend | SessionUrl::JsonpSend => return None,
        })
    }
}

impl Route<'_> {
    /// The methods this route answers, as the `Allow` header of a 405 lists
    /// them.
    pub fn allow(&self) -> &'static str {
        match self {
            Route::Info => "OPTIONS, GET",
            Route::Session { kind: SessionUrl::Xhr | SessionUrl::XhrSend | SessionUrl::XhrStreaming, .. } => {
                "POST, OPTIONS"
            }
            Route::Session { kind: SessionUrl::JsonpSend, .. } => "POST",
            _ => "GET",
        }
    }

    /// Whether the route answers `method`.
    pub fn allows(&self, method: &Method) -> bool {
        match self.allow() {
            "OPTIONS, GET" => method == Method::GET || method == Method::OPTIONS,
            "POST, OPTIONS" => method == Method::POST || method == Method::OPTIONS,
            "POST" => method == Method::POST,
            _ => method == Method::GET,
        }
    }
}

/// Matches a raw request path (without the query) against the URL layout
/// of an endpoint served under `prefix`.
///
/// Returns `None` for a path that is not SockJS's (a 404).
pub fn route<'a>(prefix: &str, path: &'a str) -> Option<Route<'a>> {
    let rest = path.strip_prefix(prefix)?;
    match rest {
        "" | "/" => return Some(Route::Greeting),
        "/info" | "/info/" => return Some(Route::Info),
        "/websocket" | "/websocket/" => return Some(Route::RawWebSocket),
        _ => {}
    }
    let rest = rest.strip_prefix('/')?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if is_iframe(rest) {
        return Some(Route::Iframe);
    }
    let mut parts = rest.split('/');
    let (server_id, session_id, kind) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || !is_id(server_id) || !is_id(session_id) {
        return None;
    }
    Some(Route::Session { server_id, session_id, kind: SessionUrl::from_segment(kind)? })
}

/// `iframe[0-9a-z._-]*.html`, lower case only.
fn is_iframe(name: &str) -> bool {
    name.strip_prefix("iframe")
        .and_then(|n| n.strip_suffix(".html"))
        .is_some_and(|middle| middle.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'z' | b'.' | b'_' | b'-')))
}

/// One non-empty path segment without `.` (`[^/.]+`).
fn is_id(segment: &str) -> bool {
    !segment.is_empty() && !segment.contains('.')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(path: &str) -> Option<Route<'_>> {
        route("/echo", path)
    }

    fn session(path: &str) -> Option<(&str, &str, SessionUrl)> {
        match r(path)? {
            Route::Session { server_id, session_id, kind } => Some((server_id, session_id, kind)),
            _ => None,
        }
    }

    /// §3: the URL table.
    #[test]
    fn url_table() {
        assert_eq!(r("/echo"), Some(Route::Greeting));
        assert_eq!(r("/echo/"), Some(Route::Greeting));
        assert_eq!(r("/echo/info"), Some(Route::Info));
        assert_eq!(r("/echo/info/"), Some(Route::Info));
        assert_eq!(r("/echo/websocket"), Some(Route::RawWebSocket));
        assert_eq!(r("/echo/iframe.html"), Some(Route::Iframe));
        let kinds = [
            ("xhr", SessionUrl::Xhr),
            ("xhr_send", SessionUrl::XhrSend),
            ("xhr_streaming", SessionUrl::XhrStreaming),
            ("eventsource", SessionUrl::EventSource),
            ("htmlfile", SessionUrl::HtmlFile),
            ("jsonp", SessionUrl::Jsonp),
            ("jsonp_send", SessionUrl::JsonpSend),
            ("websocket", SessionUrl::WebSocket),
        ];
        for (name, kind) in kinds {
            assert_eq!(session(&format!("/echo/000/s/{name}")), Some(("000", "s", kind)));
            assert_eq!(session(&format!("/echo/000/s/{name}/")), Some(("000", "s", kind)), "trailing /");
        }
    }

    /// §3: server and session ids are any `[^/.]+`, matched raw.
    #[test]
    fn ids_are_raw_segments_without_dots() {
        for id in ["_", "1", "a", "abcdefgh_i-j%20", "ÿ", "a b"] {
            assert_eq!(session(&format!("/echo/{id}/{id}/xhr")), Some((id, id, SessionUrl::Xhr)));
        }
    }

    /// §3: the 404 list.
    #[test]
    fn not_found_paths() {
        for path in ["/echo/a", "/echo/a.html", "/echo//", "/echo///", "/echo/a/a", "/echo/a/a/", "/echo/a/"] {
            assert_eq!(r(path), None, "{path}");
        }
        for bad in ["//", "/a./a", "/a/a.", "/./.", "/", "///"] {
            let path = format!("/echo{bad}/xhr");
            assert_eq!(r(&path), None, "{path}");
        }
        assert_eq!(r("/echoes"), None);
        assert_eq!(r("/other/info"), None);
        assert_eq!(r("/echo/000/s/unknown"), None);
        assert_eq!(r("/echo/000/s/xhr//"), None);
    }

    /// §3: iframe names are lower case `iframe[0-9a-z._-]*.html`.
    #[test]
    fn iframe_names() {
        for ok in [
            "/iframe.html",
            "/iframe-a.html",
            "/iframe-.html",
            "/iframe-0.1.2.html",
            "/iframe-0.1.2abc-dirty.2144.html",
        ] {
            assert_eq!(r(&format!("/echo{ok}")), Some(Route::Iframe), "{ok}");
        }
        for bad in [
            "/IFRAME.HTML",
            "/iframe.HTML",
            "/IFRAME",
            "/iframe",
            "/iframe.htm",
            "/iframe.xml",
            "/iframe-/.html",
            "/iframeXhtml",
        ] {
            assert_eq!(r(&format!("/echo{bad}")), None, "{bad}");
        }
    }

    /// §3 and §10: the Allow lists.
    #[test]
    fn allowed_methods() {
        assert_eq!(Route::Info.allow(), "OPTIONS, GET");
        assert!(Route::Info.allows(&Method::OPTIONS));
        assert!(!Route::Info.allows(&Method::POST));
        let xhr = r("/echo/0/0/xhr").unwrap();
        assert_eq!(xhr.allow(), "POST, OPTIONS");
        assert!(!xhr.allows(&Method::GET));
        let ws = r("/echo/0/0/websocket").unwrap();
        assert_eq!(ws.allow(), "GET");
        assert!(!ws.allows(&Method::POST));
        assert_eq!(r("/echo/0/0/jsonp_send").unwrap().allow(), "POST");
    }

    #[test]
    fn empty_prefix() {
        assert_eq!(route("", "/"), Some(Route::Greeting));
        assert_eq!(route("", ""), Some(Route::Greeting));
        assert_eq!(route("", "/info"), Some(Route::Info));
    }
}
