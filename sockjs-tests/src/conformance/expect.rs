//! Expectations on responses: each returns a [`Failure`] that says what was
//! expected and what arrived.

use crate::http1::{Framing, Response};

use super::{CheckResult, Failure};

/// The exact no-cache value of §4.2.
pub(crate) const NO_CACHE: &str = "no-store, no-cache, no-transform, must-revalidate, max-age=0";
/// §4.1 content types.
pub(crate) const TEXT_PLAIN: &str = "text/plain; charset=UTF-8";
/// §4.1 content types.
pub(crate) const APP_JSON: &str = "application/json; charset=UTF-8";
/// §4.1 content types.
pub(crate) const TEXT_HTML: &str = "text/html; charset=UTF-8";
/// §4.1 content types.
pub(crate) const APP_JS: &str = "application/javascript; charset=UTF-8";
/// The standard 404 body (**[node]**, §3).
pub(crate) const NOT_FOUND_BODY: &str = "404 Error: Page not found\n";
/// The greeting body (§7.1).
pub(crate) const WELCOME: &str = "Welcome to SockJS!\n";
/// The close frame of the `/close` service.
pub(crate) const GO_AWAY: &str = "c[3000,\"Go away!\"]";
/// The close frame of a second receiver.
pub(crate) const C2010: &str = "c[2010,\"Another connection still open\"]";
/// The close frame of an interrupted session.
pub(crate) const C1002: &str = "c[1002,\"Connection interrupted\"]";

/// Printable, bounded form of some bytes for failure messages.
pub(crate) fn show(bytes: &[u8]) -> String {
    const MAX: usize = 240;
    let text = String::from_utf8_lossy(bytes);
    let escaped: String = text.escape_debug().collect();
    if escaped.chars().count() > MAX {
        let head: String = escaped.chars().take(MAX).collect();
        format!("\"{head}\"… ({} bytes)", bytes.len())
    } else {
        format!("\"{escaped}\"")
    }
}

/// Status must be `code`.
pub(crate) fn status(r: &Response, code: u16) -> CheckResult {
    if r.status != code {
        return Err(Failure(format!("expected status {code}, got {} with body {}", r.status, show(&r.body))));
    }
    Ok(())
}

/// Header `name` must be present; returns its (last) value.
pub(crate) fn header<'r>(r: &'r Response, name: &str) -> Result<&'r str, Failure> {
    r.headers.get(name).ok_or_else(|| Failure(format!("missing header {name} (status {})", r.status)))
}

/// Header `name` must equal `value` exactly.
pub(crate) fn header_eq(r: &Response, name: &str, value: &str) -> CheckResult {
    match r.headers.get(name) {
        Some(v) if v == value => Ok(()),
        Some(v) => Err(Failure(format!("header {name}: expected {value:?}, got {v:?}"))),
        None => Err(Failure(format!("missing header {name} (expected {value:?})"))),
    }
}

/// Header `name` must appear once, and its whole value must equal `value`
/// ignoring ASCII case (the official suite compares `value.lower()`, so a
/// list such as `close, upgrade` does not pass for `upgrade`).
pub(crate) fn header_is(r: &Response, name: &str, value: &str) -> CheckResult {
    match r.headers.get_all(name).as_slice() {
        [v] if v.trim().eq_ignore_ascii_case(value) => Ok(()),
        [] => Err(Failure(format!("missing header {name} (expected {value:?})"))),
        all => Err(Failure(format!("header {name}: expected exactly {value:?} (any case), got {all:?}"))),
    }
}

/// Header `name` must be absent.
pub(crate) fn no_header(r: &Response, name: &str) -> CheckResult {
    match r.headers.get(name) {
        None => Ok(()),
        Some(v) => Err(Failure(format!("unexpected header {name}: {v:?}"))),
    }
}

/// §4.1: `Content-Type` must be exactly `value`, spaces ignored.
pub(crate) fn content_type(r: &Response, value: &str) -> CheckResult {
    let got = header(r, "content-type")?;
    let squash = |s: &str| s.chars().filter(|c| *c != ' ').collect::<String>();
    if squash(got) != squash(value) {
        return Err(Failure(format!("Content-Type: expected {value:?}, got {got:?}")));
    }
    Ok(())
}

/// The body must equal `expected` byte for byte.
pub(crate) fn body_eq(r: &Response, expected: &[u8]) -> CheckResult {
    if r.body != expected {
        return Err(Failure(format!("body: expected {}, got {}", show(expected), show(&r.body))));
    }
    Ok(())
}

/// The body must contain `needle`.
pub(crate) fn body_contains(r: &Response, needle: &str) -> CheckResult {
    if !r.text().contains(needle) {
        return Err(Failure(format!("body {} does not contain {needle:?}", show(&r.body))));
    }
    Ok(())
}

/// Bytes must be equal.
pub(crate) fn bytes_eq(what: &str, got: &[u8], expected: &[u8]) -> CheckResult {
    if got != expected {
        return Err(Failure(format!("{what}: expected {}, got {}", show(expected), show(got))));
    }
    Ok(())
}

/// §2: the body is framed by Content-Length, chunked encoding, or
/// `Connection: close` (the socket closing is checked by the reader).
pub(crate) fn framed(r: &Response) -> CheckResult {
    match r.framing {
        Framing::Chunked | Framing::Length(_) | Framing::None => Ok(()),
        Framing::UntilClose if r.headers.has_token("connection", "close") => Ok(()),
        Framing::UntilClose => Err(Failure(format!(
            "status {} has no body framing (no Content-Length, not chunked, no Connection: close)",
            r.status
        ))),
    }
}

/// §4.2: exact no-cache header, no `Expires`, no `Last-Modified`.
pub(crate) fn no_cache(r: &Response) -> CheckResult {
    header_eq(r, "cache-control", NO_CACHE)?;
    no_header(r, "expires")?;
    no_header(r, "last-modified")
}

/// §4.3: `public`, `max-age=` with 7+ digits not starting with 0, `Expires`.
pub(crate) fn long_cache(r: &Response) -> CheckResult {
    let cc = header(r, "cache-control")?;
    let ok_public = cc.split(',').any(|p| p.trim() == "public");
    let ok_age = cc.split(',').any(|p| {
        p.trim()
            .strip_prefix("max-age=")
            .is_some_and(|d| d.len() >= 7 && d.bytes().all(|b| b.is_ascii_digit()) && !d.starts_with('0'))
    });
    if !ok_public || !ok_age {
        return Err(Failure(format!("Cache-Control {cc:?} is not long caching (public, max-age= 7+ digits)")));
    }
    header(r, "expires")?;
    Ok(())
}

/// §4.5: `Access-Control-Max-Age` parses as an integer > 1000000.
pub(crate) fn max_age(r: &Response) -> CheckResult {
    let v = header(r, "access-control-max-age")?;
    match v.trim().parse::<u64>() {
        Ok(n) if n > 1_000_000 => Ok(()),
        _ => Err(Failure(format!("Access-Control-Max-Age {v:?} is not > 1000000"))),
    }
}

/// §4.4: CORS answer to a request that carried `Origin: origin`.
pub(crate) fn cors_echo(r: &Response, origin: &str) -> CheckResult {
    header_eq(r, "access-control-allow-origin", origin)?;
    header_eq(r, "access-control-allow-credentials", "true")
}

/// §4.4: CORS answer to a request without `Origin`.
pub(crate) fn cors_star(r: &Response) -> CheckResult {
    header_eq(r, "access-control-allow-origin", "*")?;
    no_header(r, "access-control-allow-credentials")
}

/// §4.6: exactly one `Set-Cookie`, first part `JSESSIONID=value`, second
/// part `path=/` (case and spaces aside).
pub(crate) fn cookie(r: &Response, value: &str) -> CheckResult {
    let all = r.headers.get_all("set-cookie");
    if all.len() != 1 {
        return Err(Failure(format!("expected exactly one Set-Cookie, got {}: {all:?}", all.len())));
    }
    let mut parts = all[0].split(';');
    let first = parts.next().unwrap_or("");
    let second = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    let want = format!("JSESSIONID={value}");
    if first != want || second != "path=/" {
        return Err(Failure(format!("Set-Cookie {:?}: expected \"{want}; path=/\"", all[0])));
    }
    Ok(())
}

/// §4.6: no `Set-Cookie` at all.
pub(crate) fn no_cookie(r: &Response) -> CheckResult {
    no_header(r, "set-cookie")
}

/// The standard 404 of §3, framed.
pub(crate) fn not_found(r: &Response) -> CheckResult {
    status(r, 404)?;
    framed(r)?;
    body_eq(r, NOT_FOUND_BODY.as_bytes())
}

/// The 405 shape of §3: no Content-Type, non-empty `Allow`, empty body,
/// framed. Returns the `Allow` value.
pub(crate) fn method_not_allowed(r: &Response) -> Result<String, Failure> {
    status(r, 405)?;
    no_header(r, "content-type")?;
    framed(r)?;
    body_eq(r, b"")?;
    let allow = header(r, "allow")?;
    if allow.trim().is_empty() {
        return Err(Failure("empty Allow header".into()));
    }
    Ok(allow.to_owned())
}

/// Prefixes a failure with some context.
pub(crate) fn context<T>(what: &str, r: Result<T, Failure>) -> Result<T, Failure> {
    r.map_err(|Failure(why)| Failure(format!("{what}: {why}")))
}
