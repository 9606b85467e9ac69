//! Header rules shared by all responses (PROTOCOL.md §4).

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

use crate::options::{Jsessionid, Options};

pub(crate) const TEXT_PLAIN: HeaderValue = HeaderValue::from_static("text/plain; charset=UTF-8");
pub(crate) const TEXT_HTML: HeaderValue = HeaderValue::from_static("text/html; charset=UTF-8");
pub(crate) const APPLICATION_JSON: HeaderValue = HeaderValue::from_static("application/json; charset=UTF-8");
pub(crate) const APPLICATION_JAVASCRIPT: HeaderValue =
    HeaderValue::from_static("application/javascript; charset=UTF-8");
pub(crate) const EVENT_STREAM: HeaderValue = HeaderValue::from_static("text/event-stream");

const NO_CACHE: HeaderValue = HeaderValue::from_static("no-store, no-cache, no-transform, must-revalidate, max-age=0");
const ONE_YEAR_SECS: u64 = 31_536_000;
const LONG_CACHE: HeaderValue = HeaderValue::from_static("public, max-age=31536000");
const MAX_AGE: HeaderValue = HeaderValue::from_static("31536000");

/// `Cache-Control` that forbids caching (§4.2).
pub(crate) fn no_cache(h: &mut HeaderMap) {
    h.insert(header::CACHE_CONTROL, NO_CACHE);
}

/// One year of caching with `Expires` (§4.3).
pub(crate) fn long_cache(h: &mut HeaderMap, wall_clock: SystemTime) {
    h.insert(header::CACHE_CONTROL, LONG_CACHE);
    let expires = http_date(wall_clock + Duration::from_secs(ONE_YEAR_SECS));
    h.insert(header::EXPIRES, HeaderValue::from_str(&expires).expect("an HTTP date is a valid header value"));
}

/// The extra headers of an OPTIONS preflight answer (§4.5).
pub(crate) fn preflight(h: &mut HeaderMap, methods: &'static str, wall_clock: SystemTime) {
    long_cache(h, wall_clock);
    h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static(methods));
    h.insert(header::ACCESS_CONTROL_MAX_AGE, MAX_AGE);
}

/// How a response echoes the request's origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cors {
    /// No CORS headers (htmlfile, jsonp, the greeting, the iframe).
    None,
    /// Echo `Origin`, including `null` (§4.4).
    Echo,
    /// Echo `Origin` but answer `null` with `*` (eventsource, §4.4).
    NullAsStar,
}

/// CORS headers (§4.4).
pub(crate) fn cors(h: &mut HeaderMap, request: &HeaderMap, options: &Options, mode: Cors) {
    if mode == Cors::None || !options.cors {
        return;
    }
    match request.get(header::ORIGIN) {
        Some(origin) if !options.origins.allows(Some(origin.to_str().unwrap_or("\u{0}"))) => return,
        Some(origin) if !(mode == Cors::NullAsStar && origin == "null") => {
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
            h.insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
        }
        _ => {
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
        }
    }
    h.insert(header::VARY, HeaderValue::from_static("Origin"));
    if let Some(requested) = request.get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
        if !requested.is_empty() {
            h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, requested.clone());
        }
    }
}

/// The `JSESSIONID` cookie, when the endpoint has it enabled (§4.6).
pub(crate) fn cookie(h: &mut HeaderMap, request: &HeaderMap, options: &Options) {
    let value = match &options.jsessionid {
        Jsessionid::Off => return,
        Jsessionid::On => {
            let id = request_jsessionid(request).unwrap_or("dummy");
            format!("JSESSIONID={id}; path=/")
        }
        Jsessionid::Custom(make) => make(request_jsessionid(request)),
    };
    if let Ok(value) = HeaderValue::from_str(&value) {
        h.insert(header::SET_COOKIE, value);
    }
}

/// The request's `JSESSIONID` value, if it is a valid cookie value.
fn request_jsessionid(request: &HeaderMap) -> Option<&str> {
    request
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().strip_prefix("JSESSIONID="))
        .find(|value| !value.is_empty() && value.bytes().all(is_cookie_octet))
}

/// RFC 6265 `cookie-octet`.
fn is_cookie_octet(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x2B | 0x2D..=0x3A | 0x3C..=0x5B | 0x5D..=0x7E)
}

/// Formats a time as an RFC 7231 IMF-fixdate, e.g.
/// `Sun, 06 Nov 1994 08:49:37 GMT`.
pub(crate) fn http_date(time: SystemTime) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let secs = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = secs / 86_400;
    let (year, month, day) = civil_from_days(days);
    let rem = secs % 86_400;
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        day,
        MONTHS[month as usize - 1],
        year,
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month 1-12, day 1-31), after Howard
/// Hinnant's `civil_from_days`.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// The client's address: the peer, or, behind `trusted_proxies` proxies
/// that append to `X-Forwarded-For`, the entry that many places from the
/// right (entries further left are the client's own claims). The port of
/// an address taken from the header is 0.
pub(crate) fn client_addr(request: &HeaderMap, peer: Option<SocketAddr>, trusted_proxies: usize) -> Option<SocketAddr> {
    if trusted_proxies == 0 {
        return peer;
    }
    let entries: Vec<&str> = request
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let Some(index) = entries.len().checked_sub(trusted_proxies) else {
        return entries.first().and_then(|e| e.parse().ok()).map(|ip| SocketAddr::new(ip, 0)).or(peer);
    };
    entries[index].parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, 0)).or(peer)
}

/// Marks a request that arrived over TLS, in its extensions: a server
/// that terminates TLS itself inserts it (sockjs-actix does when
/// actix-web's listener is TLS; with hyper, insert it in the service of
/// each TLS connection). Hixie-76 websockets then answer with a `wss://`
/// location. Behind a proxy that terminates TLS,
/// [`crate::Options::trusted_proxies`] makes the engine read
/// `X-Forwarded-Proto` instead; HTTP/2 requests say `https` themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tls;

/// Whether the client's connection is TLS: the server marked the request
/// with [`Tls`], its URI says `https` (HTTP/2's `:scheme`), or,
/// behind `trusted_proxies` proxies, `X-Forwarded-Proto` says `https` at
/// the entry [`client_addr`] would take (the first one when there are
/// fewer: proxies usually set one value rather than append).
pub(crate) fn secure(request: &http::request::Parts, trusted_proxies: usize) -> bool {
    if request.extensions.get::<Tls>().is_some() || request.uri.scheme() == Some(&http::uri::Scheme::HTTPS) {
        return true;
    }
    if trusted_proxies == 0 {
        return false;
    }
    let entries: Vec<&str> = request
        .headers
        .get_all("x-forwarded-proto")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let entry = entries.len().checked_sub(trusted_proxies).map_or(entries.first(), |i| entries.get(i));
    entry.is_some_and(|e| e.eq_ignore_ascii_case("https"))
}

/// Copies the listed request headers.
pub(crate) fn exposed(request: &HeaderMap, names: &[HeaderName]) -> HeaderMap {
    // Sized to what it will hold: a session keeps it for its lifetime
    // (a map grown one insert at a time holds room for 6 or 12).
    let count = names.iter().map(|name| request.get_all(name).iter().count()).sum();
    let mut out = HeaderMap::with_capacity(count);
    for name in names {
        for value in request.get_all(name) {
            out.append(name.clone(), owned(value));
        }
    }
    out
}

/// A copy of `value` in memory of its own. A server's parsed header values
/// share the bytes of its whole read buffer; a session that kept such a
/// value for its lifetime would keep that buffer (8 KiB or more) alive.
pub(crate) fn owned(value: &HeaderValue) -> HeaderValue {
    let mut copy = HeaderValue::from_bytes(value.as_bytes()).unwrap_or_else(|_| value.clone());
    copy.set_sensitive(value.is_sensitive());
    copy
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(HeaderName::from_static(k), HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn http_dates() {
        assert_eq!(http_date(UNIX_EPOCH), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(UNIX_EPOCH + Duration::from_secs(784_111_777)), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(http_date(UNIX_EPOCH + Duration::from_secs(951_782_400)), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(http_date(UNIX_EPOCH + Duration::from_secs(1_798_761_599)), "Thu, 31 Dec 2026 23:59:59 GMT");
    }

    /// §4.4: origin echoed with credentials; `*` without.
    #[test]
    fn cors_rules() {
        let o = Options::default();
        let mut h = HeaderMap::new();
        cors(&mut h, &request(&[("origin", "null")]), &o, Cors::Echo);
        assert_eq!(h["access-control-allow-origin"], "null");
        assert_eq!(h["access-control-allow-credentials"], "true");
        assert!(h.get("access-control-allow-headers").is_none());

        let mut h = HeaderMap::new();
        cors(&mut h, &request(&[("access-control-request-headers", "a, b, c")]), &o, Cors::Echo);
        assert_eq!(h["access-control-allow-origin"], "*");
        assert!(h.get("access-control-allow-credentials").is_none());
        assert_eq!(h["access-control-allow-headers"], "a, b, c");

        let mut h = HeaderMap::new();
        cors(&mut h, &request(&[("origin", "null"), ("access-control-request-headers", "")]), &o, Cors::NullAsStar);
        assert_eq!(h["access-control-allow-origin"], "*");
        assert!(h.get("access-control-allow-headers").is_none());

        let mut h = HeaderMap::new();
        cors(&mut h, &request(&[("origin", "http://a")]), &o.clone().cors(false), Cors::Echo);
        assert!(h.is_empty());
    }

    /// §4.6: `JSESSIONID=dummy; path=/` or the request's value.
    #[test]
    fn jsessionid_cookie() {
        let on = Options::default().jsessionid(Jsessionid::On);
        let mut h = HeaderMap::new();
        cookie(&mut h, &HeaderMap::new(), &on);
        assert_eq!(h["set-cookie"], "JSESSIONID=dummy; path=/");
        let mut h = HeaderMap::new();
        cookie(&mut h, &request(&[("cookie", "a=b; JSESSIONID=abcdef")]), &on);
        assert_eq!(h["set-cookie"], "JSESSIONID=abcdef; path=/");
        let mut h = HeaderMap::new();
        cookie(&mut h, &request(&[("cookie", "JSESSIONID=a;b")]), &on);
        assert_eq!(h["set-cookie"], "JSESSIONID=a; path=/");
        let mut h = HeaderMap::new();
        cookie(&mut h, &request(&[("cookie", "JSESSIONID=\"x\\y\"")]), &on);
        assert_eq!(h["set-cookie"], "JSESSIONID=dummy; path=/", "invalid values are not reflected");
        let mut h = HeaderMap::new();
        cookie(&mut h, &HeaderMap::new(), &Options::default());
        assert!(h.is_empty());
    }

    #[test]
    fn client_addr_behind_proxies() {
        let peer: SocketAddr = "10.0.0.1:5000".parse().unwrap();
        let h = request(&[("x-forwarded-for", "6.6.6.6, 1.2.3.4"), ("x-forwarded-for", "5.6.7.8")]);
        assert_eq!(client_addr(&h, Some(peer), 0), Some(peer), "untrusted: the header is ignored");
        assert_eq!(client_addr(&h, Some(peer), 1), Some("5.6.7.8:0".parse().unwrap()));
        assert_eq!(client_addr(&h, Some(peer), 2), Some("1.2.3.4:0".parse().unwrap()));
        assert_eq!(client_addr(&h, Some(peer), 9), Some("6.6.6.6:0".parse().unwrap()));
        assert_eq!(client_addr(&HeaderMap::new(), Some(peer), 1), Some(peer));
        assert_eq!(client_addr(&request(&[("x-forwarded-for", "junk")]), Some(peer), 1), Some(peer));
    }

    /// Kept headers own their bytes: they do not pin the buffer the
    /// request was parsed from.
    #[test]
    fn exposed_headers_are_copied() {
        let buffer = bytes::Bytes::from_static(b"GET / HTTP/1.1\r\nuser-agent: test-agent\r\n\r\n");
        let mut request = HeaderMap::new();
        let value = HeaderValue::from_maybe_shared(buffer.slice(28..38)).unwrap();
        request.insert("user-agent", value);
        let h = exposed(&request, &[HeaderName::from_static("user-agent")]);
        assert_eq!(h["user-agent"], "test-agent");
        let kept = h["user-agent"].as_bytes().as_ptr_range();
        let original = buffer.as_ptr_range();
        assert!(kept.end <= original.start || kept.start >= original.end, "a copy, not a view of the buffer");
    }

    #[test]
    fn exposed_headers_never_include_cookies() {
        let names = crate::Options::default().session_headers;
        let r =
            request(&[("cookie", "a=b"), ("authorization", "x"), ("user-agent", "t"), ("x-forwarded-for", "1.2.3.4")]);
        let h = exposed(&r, &names);
        assert_eq!(h.len(), 2);
        assert_eq!(h["user-agent"], "t");
        assert!(h.get("cookie").is_none() && h.get("authorization").is_none(), "not by default");
        let h = exposed(&r, &[HeaderName::from_static("cookie")]);
        assert_eq!((h.len(), h["cookie"].to_str().unwrap()), (1, "a=b"), "only when named");
    }
}
