//! Websockets over HTTP/2 (RFC 8441): an extended CONNECT with
//! `:protocol websocket` stands for the HTTP/1.1 upgrade of RFC 6455, and
//! is answered with 200 instead of 101.

use http::{header, HeaderValue, Method};

/// Presents an extended CONNECT to the engine as the HTTP/1.1 upgrade it
/// stands for. HTTP/2 has no `Sec-WebSocket-Key` (and so no accept value
/// to check); the engine's upgrade check wants one, so it gets a fixed
/// one, whose answer [`answer`] removes.
pub(crate) fn present_as_upgrade(head: &mut http::request::Parts) {
    if head.method != Method::CONNECT {
        return;
    }
    head.method = Method::GET;
    let h = &mut head.headers;
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(header::SEC_WEBSOCKET_KEY, HeaderValue::from_static("AAAAAAAAAAAAAAAAAAAAAA=="));
}

/// The engine's 101 as RFC 8441 §5 answers: 200, without HTTP/1.1's
/// upgrade headers; a negotiated extension stays.
pub(crate) fn answer(response: &mut http::Response<()>) {
    if response.status() != http::StatusCode::SWITCHING_PROTOCOLS {
        return;
    }
    *response.status_mut() = http::StatusCode::OK;
    let h = response.headers_mut();
    for name in [header::UPGRADE, header::CONNECTION, header::SEC_WEBSOCKET_ACCEPT] {
        h.remove(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_is_presented_and_answered() {
        let mut head = http::Request::connect("/echo/websocket").body(()).unwrap().into_parts().0;
        present_as_upgrade(&mut head);
        assert_eq!(head.method, Method::GET);
        assert_eq!(head.headers[header::UPGRADE], "websocket");
        let mut response = http::Response::new(());
        *response.status_mut() = http::StatusCode::SWITCHING_PROTOCOLS;
        response.headers_mut().insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        response.headers_mut().insert(header::SEC_WEBSOCKET_EXTENSIONS, HeaderValue::from_static("permessage-deflate"));
        answer(&mut response);
        assert_eq!(response.status(), 200);
        assert!(response.headers().get(header::UPGRADE).is_none());
        assert_eq!(response.headers()[header::SEC_WEBSOCKET_EXTENSIONS], "permessage-deflate");
    }
}
