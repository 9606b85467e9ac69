//! Decoding what clients send: send bodies, websocket messages, query
//! strings and callbacks (PROTOCOL.md §5, §7.5, §7.8–§7.10).

use std::borrow::Cow;
use std::fmt;

use serde_json::Value;

/// Why a payload from a client was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PayloadError {
    /// The body was empty, had no `d` field, or was not a JSON array
    /// (answered with 500 `Payload expected.`).
    Expected,
    /// The body was not valid JSON (answered with 500 `Broken JSON encoding.`).
    BrokenJson,
    /// The body was larger than the endpoint accepts (answered with 413).
    TooLarge,
}

impl PayloadError {
    /// The text of the error response, as clients expect it.
    pub fn message(self) -> &'static str {
        match self {
            PayloadError::Expected => "Payload expected.",
            PayloadError::BrokenJson => "Broken JSON encoding.",
            PayloadError::TooLarge => "Payload too large.",
        }
    }
}

impl fmt::Display for PayloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for PayloadError {}

/// Decodes a send body: one JSON array, one message per element.
///
/// Strings are delivered as they are; any other JSON value as its JSON text.
pub fn decode_messages(body: &[u8]) -> Result<Vec<String>, PayloadError> {
    if body.is_empty() {
        return Err(PayloadError::Expected);
    }
    match serde_json::from_slice::<Value>(body).map_err(|_| PayloadError::BrokenJson)? {
        Value::Array(items) => Ok(items.into_iter().map(value_to_message).collect()),
        _ => Err(PayloadError::Expected),
    }
}

/// Decodes one websocket text message of a SockJS-framed websocket: a JSON
/// array gives one message per element, a bare JSON value one message, and
/// an empty text nothing. Broken JSON is an error: the connection must be
/// closed without a `c` frame.
pub fn decode_websocket_text(text: &str) -> Result<Vec<String>, PayloadError> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    match serde_json::from_str::<Value>(text).map_err(|_| PayloadError::BrokenJson)? {
        Value::Array(items) => Ok(items.into_iter().map(value_to_message).collect()),
        other => Ok(vec![value_to_message(other)]),
    }
}

fn value_to_message(value: Value) -> String {
    match value {
        Value::String(s) => s,
        other => other.to_string(),
    }
}

/// Whether an `xhr_send` body with this `Content-Type` is read as JSON
/// (PROTOCOL.md §7.5); other media types get `Payload expected.`.
pub(crate) fn xhr_send_accepts(content_type: Option<&[u8]>) -> bool {
    let Some(value) = content_type else { return true };
    let media = value.split(|&b| b == b';').next().unwrap_or_default();
    let media = media.trim_ascii();
    ["text/plain", "t", "application/json", "application/xml", "", "text/xml"]
        .iter()
        .any(|accepted| media.eq_ignore_ascii_case(accepted.as_bytes()))
}

/// Whether a `jsonp_send` body with this `Content-Type` is a form whose
/// `d` field holds the payload (PROTOCOL.md §7.9).
pub(crate) fn is_form(content_type: Option<&[u8]>) -> bool {
    content_type.is_some_and(|value| {
        let media = value.split(|&b| b == b';').next().unwrap_or_default();
        media.trim_ascii().eq_ignore_ascii_case(b"application/x-www-form-urlencoded")
    })
}

/// The URL-decoded value of the first `name=` field of a form or query
/// string (`+` is a space).
pub(crate) fn form_field<'a>(form: &'a [u8], name: &str) -> Option<Cow<'a, [u8]>> {
    form.split(|&b| b == b'&').find_map(|pair| {
        let (key, value) = match pair.iter().position(|&b| b == b'=') {
            Some(eq) => (&pair[..eq], &pair[eq + 1..]),
            None => (pair, &pair[pair.len()..]),
        };
        (percent_decode(key).as_ref() == name.as_bytes()).then(|| percent_decode(value))
    })
}

/// Decodes `%XX` escapes and `+`; malformed escapes are kept as they are.
pub(crate) fn percent_decode(input: &[u8]) -> Cow<'_, [u8]> {
    if !input.iter().any(|&b| b == b'%' || b == b'+') {
        return Cow::Borrowed(input);
    }
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < input.len() => match (hex(input[i + 1]), hex(input[i + 2])) {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    Cow::Owned(out)
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Why a jsonp or htmlfile callback was rejected (PROTOCOL.md §7.8, §7.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CallbackError {
    Missing,
    Invalid,
}

impl CallbackError {
    pub(crate) fn message(self) -> &'static str {
        match self {
            CallbackError::Missing => "\"callback\" parameter required",
            CallbackError::Invalid => "invalid \"callback\" parameter",
        }
    }
}

/// The longest callback name accepted.
pub(crate) const MAX_CALLBACK_LEN: usize = 32;

/// Reads the callback from a query string: `c`, else `callback`,
/// URL-decoded, `[a-zA-Z0-9-_.]{1,32}`.
pub(crate) fn callback(query: Option<&str>) -> Result<Box<str>, CallbackError> {
    let query = query.unwrap_or_default().as_bytes();
    let raw = form_field(query, "c").or_else(|| form_field(query, "callback")).ok_or(CallbackError::Missing)?;
    if raw.is_empty() {
        return Err(CallbackError::Missing);
    }
    let valid = raw.len() <= MAX_CALLBACK_LEN
        && raw.iter().all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !valid {
        return Err(CallbackError::Invalid);
    }
    Ok(String::from_utf8_lossy(&raw).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// §7.5 and §11: send bodies.
    #[test]
    fn send_bodies() {
        assert_eq!(decode_messages(br#"["x"]"#), Ok(vec!["x".into()]));
        assert_eq!(decode_messages(br#"["%61bc"]"#), Ok(vec!["%61bc".into()]));
        assert_eq!(decode_messages(b"[]"), Ok(vec![]));
        assert_eq!(decode_messages(b""), Err(PayloadError::Expected));
        assert_eq!(decode_messages(br#"["x"#), Err(PayloadError::BrokenJson));
        assert_eq!(decode_messages(b" "), Err(PayloadError::BrokenJson));
        for not_array in [&b"{}"[..], b"\"a\"", b"null", b"1"] {
            assert_eq!(decode_messages(not_array), Err(PayloadError::Expected));
        }
        assert_eq!(
            decode_messages(br#"[1,{"a":null},true]"#),
            Ok(vec!["1".into(), r#"{"a":null}"#.into(), "true".into()])
        );
        assert_eq!(decode_messages(b"[\"\xff\"]"), Err(PayloadError::BrokenJson), "invalid UTF-8");
        let deep = "[".repeat(100_000);
        assert_eq!(decode_messages(deep.as_bytes()), Err(PayloadError::BrokenJson), "deep nesting");
    }

    /// §8: noncharacters and U+0000 survive decoding.
    #[test]
    fn decoding_keeps_noncharacters() {
        assert_eq!(
            decode_messages(br#"["\u0000\ufffe\uffff\u2028"]"#),
            Ok(vec!["\u{0}\u{fffe}\u{ffff}\u{2028}".into()])
        );
    }

    /// §7.10: websocket messages.
    #[test]
    fn websocket_text() {
        assert_eq!(decode_websocket_text("[]"), Ok(vec![]));
        assert_eq!(decode_websocket_text(""), Ok(vec![]));
        assert_eq!(decode_websocket_text("1"), Ok(vec!["1".into()]));
        assert_eq!(decode_websocket_text(r#"["a"#), Err(PayloadError::BrokenJson));
    }

    /// §7.5: accepted xhr_send content types.
    #[test]
    fn xhr_send_content_types() {
        for ok in [
            "text/plain",
            "T",
            "application/json",
            "application/xml",
            "",
            "application/json; charset=utf-8",
            "text/xml; charset=utf-8",
            "text/xml",
        ] {
            assert!(xhr_send_accepts(Some(ok.as_bytes())), "{ok}");
        }
        assert!(xhr_send_accepts(None));
        assert!(!xhr_send_accepts(Some(b"application/x-www-form-urlencoded")));
    }

    /// §7.9: the `d` form field.
    #[test]
    fn form_fields() {
        assert_eq!(form_field(b"d=%5B%22x%22%5D", "d").as_deref(), Some(&br#"["x"]"#[..]));
        assert_eq!(form_field(b"p=p", "d"), None);
        assert_eq!(form_field(b"d=", "d").as_deref(), Some(&b""[..]));
        assert_eq!(form_field(b"a=1&d=a+b%2", "d").as_deref(), Some(&b"a b%2"[..]));
        assert!(is_form(Some(b"application/x-www-form-urlencoded; charset=UTF-8")));
        assert!(!is_form(Some(b"text/plain")));
        assert!(!is_form(None));
    }

    /// §7.8 and §7.9: callbacks.
    #[test]
    fn callbacks() {
        assert_eq!(callback(Some("c=callback")).as_deref(), Ok("callback"));
        assert_eq!(callback(Some("c=%63allback")).as_deref(), Ok("callback"));
        assert_eq!(callback(Some("callback=x")).as_deref(), Ok("x"));
        assert_eq!(callback(Some("callback=x&c=y")).as_deref(), Ok("y"), "c wins");
        assert_eq!(callback(Some("t=1&c=_jp.a-b_1")).as_deref(), Ok("_jp.a-b_1"));
        assert_eq!(callback(None), Err(CallbackError::Missing));
        assert_eq!(callback(Some("c=")), Err(CallbackError::Missing));
        for bad in ["c=%20", "c=*", "c=abc(", "c=abc%28", "c=%E2%80%A8", "c=</script>"] {
            assert_eq!(callback(Some(bad)), Err(CallbackError::Invalid), "{bad}");
        }
        assert!(callback(Some(&format!("c={}", "a".repeat(32)))).is_ok());
        assert_eq!(callback(Some(&format!("c={}", "a".repeat(33)))), Err(CallbackError::Invalid));
        assert_eq!(CallbackError::Missing.message(), "\"callback\" parameter required");
        assert_eq!(CallbackError::Invalid.message(), "invalid \"callback\" parameter");
    }

    #[test]
    fn percent_decoding_keeps_malformed_escapes() {
        assert_eq!(percent_decode(b"%").as_ref(), b"%");
        assert_eq!(percent_decode(b"%4").as_ref(), b"%4");
        assert_eq!(percent_decode(b"%zz%41").as_ref(), b"%zzA");
        assert_eq!(percent_decode(b"%41").as_ref(), b"A");
    }
}
