//! The fixed responses the engine answers with.

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Response, StatusCode};

use crate::headers;
use crate::metrics::Counters;
use crate::options::Refusal;

const NOT_FOUND_BODY: &str = "404 Error: Page not found\n";

/// 403 for a disallowed origin.
pub(crate) fn forbidden(h: HeaderMap) -> Response<Bytes> {
    refused(StatusCode::FORBIDDEN.into(), h)
}

pub(crate) fn response(status: StatusCode, headers: HeaderMap, body: Bytes) -> Response<Bytes> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

pub(crate) fn with_content_type(mut h: HeaderMap, content_type: HeaderValue) -> HeaderMap {
    h.insert(header::CONTENT_TYPE, content_type);
    h
}

pub(crate) fn text(status: StatusCode, content_type: HeaderValue, body: &'static str) -> Response<Bytes> {
    response(status, with_content_type(HeaderMap::new(), content_type), Bytes::from_static(body.as_bytes()))
}

/// The standard 404, keeping the headers the URL normally carries (§11).
pub(crate) fn not_found(h: HeaderMap) -> Response<Bytes> {
    let h = with_content_type(h, headers::TEXT_PLAIN);
    response(StatusCode::NOT_FOUND, h, Bytes::from_static(NOT_FOUND_BODY.as_bytes()))
}

/// A refused session request: its status, and its reason as the body.
pub(crate) fn refused(refusal: Refusal, h: HeaderMap) -> Response<Bytes> {
    let h = with_content_type(h, headers::TEXT_PLAIN);
    response(refusal.status(), h, Bytes::from(format!("{}\n", refusal.reason())))
}

/// 400 for a request the engine never got whole (a body that failed to
/// arrive, a request the server could not convert or upgrade), with the
/// headers `h` of the URL's other answers, counted as a rejection like
/// every other 4xx. Every such 400 is built here.
pub(crate) fn bad_request(counters: &Counters, h: HeaderMap, reason: &'static str) -> Response<Bytes> {
    counters.rejected(StatusCode::BAD_REQUEST.as_u16());
    tracing::debug!(target: "sockjs", status = 400, reason, "request rejected");
    let h = with_content_type(h, headers::TEXT_PLAIN);
    response(StatusCode::BAD_REQUEST, h, Bytes::from(format!("{reason}\n")))
}

/// The refusal when the endpoint holds `max_sessions` sessions.
pub(crate) fn too_many_sessions() -> Refusal {
    Refusal::new(StatusCode::SERVICE_UNAVAILABLE, "Too many sessions.")
}

/// 405 with `Allow`, no `Content-Type` and an empty body (§3).
pub(crate) fn method_not_allowed(allow: &'static str) -> Response<Bytes> {
    let mut h = HeaderMap::new();
    h.insert(header::ALLOW, HeaderValue::from_static(allow));
    response(StatusCode::METHOD_NOT_ALLOWED, h, Bytes::new())
}
