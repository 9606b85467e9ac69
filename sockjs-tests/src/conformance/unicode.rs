//! §8 JSON and Unicode: the server's escape set and the decode round trip.

use super::client::{
    open_xhr, poll_expect, send_ok, ws_connect, ws_expect_text, ws_next, ws_send, xhr, WsEvent, WS_TIMEOUT,
};
use super::{bytes_eq, context, fail, show, status, Check, CheckResult, Failure, Target};

pub(super) fn checks() -> Vec<Check> {
    vec![
        Check::new("§8 xhr: U+200C-F, U+2028-F, U+2060-F, U+FFF0-F go out as lowercase \\uXXXX", escape_xhr),
        Check::new("§8 websocket: the 44 characters go out as lowercase \\uXXXX", escape_ws),
        Check::new("§8 other non-ASCII characters go out unescaped", others_raw),
        Check::new("§8 xhr: all 1093 client-escaped code points round-trip", round_trip_xhr),
        Check::new("§8 websocket: all 1093 client-escaped code points round-trip", round_trip_ws),
        Check::new("§8 [node] non-string messages are echoed as strings", non_strings),
    ]
}

/// The 44 characters the server must escape (§8 server encoding).
fn server_escaped() -> String {
    [(0x200c, 0x200f), (0x2028, 0x202f), (0x2060, 0x206f), (0xfff0, 0xffff)]
        .iter()
        .flat_map(|&(a, b)| a..=b)
        .filter_map(char::from_u32)
        .collect()
}

/// `s` as a JSON string with every character escaped as lowercase `\uXXXX`.
fn all_escaped(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        out.push_str(&format!("\\u{:04x}", c as u32));
    }
    out.push('"');
    out
}

/// The 1093 code points a client escapes (§8 server decoding).
pub(crate) fn client_escaped() -> String {
    const RANGES: &[(u32, u32)] = &[
        (0x0000, 0x001f),
        (0x0022, 0x0022),
        (0x007f, 0x009f),
        (0x00ad, 0x00ad),
        (0x0300, 0x0333),
        (0x033d, 0x0346),
        (0x034a, 0x034c),
        (0x0350, 0x0352),
        (0x0357, 0x0358),
        (0x035c, 0x0362),
        (0x0374, 0x0374),
        (0x037e, 0x037e),
        (0x0387, 0x0387),
        (0x0591, 0x05af),
        (0x05c4, 0x05c4),
        (0x0600, 0x0604),
        (0x0610, 0x0617),
        (0x0653, 0x0654),
        (0x0657, 0x065b),
        (0x065d, 0x065e),
        (0x06df, 0x06e2),
        (0x06eb, 0x06ec),
        (0x070f, 0x070f),
        (0x0730, 0x0730),
        (0x0732, 0x0733),
        (0x0735, 0x0736),
        (0x073a, 0x073a),
        (0x073d, 0x073d),
        (0x073f, 0x0741),
        (0x0743, 0x0743),
        (0x0745, 0x0745),
        (0x0747, 0x0747),
        (0x07eb, 0x07f1),
        (0x0951, 0x0951),
        (0x0958, 0x095f),
        (0x09dc, 0x09dd),
        (0x09df, 0x09df),
        (0x0a33, 0x0a33),
        (0x0a36, 0x0a36),
        (0x0a59, 0x0a5b),
        (0x0a5e, 0x0a5e),
        (0x0b5c, 0x0b5d),
        (0x0e38, 0x0e39),
        (0x0f43, 0x0f43),
        (0x0f4d, 0x0f4d),
        (0x0f52, 0x0f52),
        (0x0f57, 0x0f57),
        (0x0f5c, 0x0f5c),
        (0x0f69, 0x0f69),
        (0x0f72, 0x0f76),
        (0x0f78, 0x0f78),
        (0x0f80, 0x0f83),
        (0x0f93, 0x0f93),
        (0x0f9d, 0x0f9d),
        (0x0fa2, 0x0fa2),
        (0x0fa7, 0x0fa7),
        (0x0fac, 0x0fac),
        (0x0fb9, 0x0fb9),
        (0x17b4, 0x17b5),
        (0x1939, 0x193a),
        (0x1a17, 0x1a17),
        (0x1b6b, 0x1b6b),
        (0x1cda, 0x1cdb),
        (0x1dc0, 0x1dcf),
        (0x1dfc, 0x1dfc),
        (0x1dfe, 0x1dfe),
        (0x1f71, 0x1f71),
        (0x1f73, 0x1f73),
        (0x1f75, 0x1f75),
        (0x1f77, 0x1f77),
        (0x1f79, 0x1f79),
        (0x1f7b, 0x1f7b),
        (0x1f7d, 0x1f7d),
        (0x1fbb, 0x1fbb),
        (0x1fbe, 0x1fbe),
        (0x1fc9, 0x1fc9),
        (0x1fcb, 0x1fcb),
        (0x1fd3, 0x1fd3),
        (0x1fdb, 0x1fdb),
        (0x1fe3, 0x1fe3),
        (0x1feb, 0x1feb),
        (0x1fee, 0x1fef),
        (0x1ff9, 0x1ff9),
        (0x1ffb, 0x1ffb),
        (0x1ffd, 0x1ffd),
        (0x2000, 0x20ff),
        (0x2126, 0x2126),
        (0x212a, 0x212b),
        (0x2329, 0x232a),
        (0x2adc, 0x2adc),
        (0x302b, 0x302c),
        (0xaab2, 0xaab3),
        (0xf900, 0xfa0d),
        (0xfa10, 0xfa10),
        (0xfa12, 0xfa12),
        (0xfa15, 0xfa1e),
        (0xfa20, 0xfa20),
        (0xfa22, 0xfa22),
        (0xfa25, 0xfa26),
        (0xfa2a, 0xfa2d),
        (0xfa30, 0xfa6d),
        (0xfa70, 0xfad9),
        (0xfb1d, 0xfb1d),
        (0xfb1f, 0xfb1f),
        (0xfb2a, 0xfb36),
        (0xfb38, 0xfb3c),
        (0xfb3e, 0xfb3e),
        (0xfb40, 0xfb41),
        (0xfb43, 0xfb44),
        (0xfb46, 0xfb4e),
        (0xfeff, 0xfeff),
        (0xfff0, 0xffff),
    ];
    RANGES.iter().flat_map(|&(a, b)| a..=b).filter_map(char::from_u32).collect()
}

async fn escape_xhr(t: Target) -> CheckResult {
    let s = t.session("/echo");
    open_xhr(&t, &s).await?;
    let raw = server_escaped();
    send_ok(&t, &s, &serde_json::to_string(&[&raw])?).await?;
    poll_expect(&t, &s, &format!("a[{}]\n", all_escaped(&raw))).await
}

async fn escape_ws(t: Target) -> CheckResult {
    let s = t.session("/echo");
    let mut ws = ws_connect(&t, &format!("{s}/websocket")).await?;
    ws_expect_text(&mut ws, "o").await?;
    let raw = server_escaped();
    ws_send(&mut ws, &serde_json::to_string(&[&raw])?).await?;
    ws_expect_text(&mut ws, &format!("a[{}]", all_escaped(&raw))).await
}

async fn others_raw(t: Target) -> CheckResult {
    let s = t.session("/echo");
    open_xhr(&t, &s).await?;
    let raw = "\u{e9}\u{2000}\u{2027}\u{2030}\u{ffef}";
    send_ok(&t, &s, &serde_json::to_string(&[raw])?).await?;
    poll_expect(&t, &s, &format!("a[\"{raw}\"]\n")).await
}

/// Parses `a[...]` (without the transport's delimiter) as a list of strings.
fn messages(frame: &str) -> Result<Vec<String>, Failure> {
    let Some(json) = frame.strip_prefix('a') else {
        fail!("expected an a[...] frame, got {}", show(frame.as_bytes()));
    };
    Ok(serde_json::from_str(json)?)
}

fn same_string(got: &[String], expected: &str) -> CheckResult {
    match got {
        [one] if one == expected => Ok(()),
        [one] => {
            let first_diff = one
                .chars()
                .zip(expected.chars())
                .position(|(a, b)| a != b)
                .unwrap_or(one.chars().count().min(expected.chars().count()));
            fail!(
                "decoded message differs from the sent one at character {first_diff} (lengths {} vs {})",
                one.chars().count(),
                expected.chars().count()
            )
        }
        other => fail!("expected one message, got {}", other.len()),
    }
}

async fn round_trip_xhr(t: Target) -> CheckResult {
    let s = t.session("/echo");
    open_xhr(&t, &s).await?;
    let original = client_escaped();
    send_ok(&t, &s, &format!("[{}]", all_escaped(&original))).await?;
    let r = xhr(&t, &s).await?;
    status(&r, 200)?;
    let text = std::str::from_utf8(&r.body).map_err(|_| Failure("the poll body is not UTF-8".into()))?;
    let Some(frame) = text.strip_suffix('\n') else {
        fail!("the poll body does not end in \\n");
    };
    same_string(&messages(frame)?, &original)
}

async fn round_trip_ws(t: Target) -> CheckResult {
    let s = t.session("/echo");
    let mut ws = ws_connect(&t, &format!("{s}/websocket")).await?;
    ws_expect_text(&mut ws, "o").await?;
    let original = client_escaped();
    ws_send(&mut ws, &format!("[{}]", all_escaped(&original))).await?;
    match ws_next(&mut ws, WS_TIMEOUT).await? {
        WsEvent::Text(frame) => same_string(&messages(&frame)?, &original),
        other => fail!("expected the echo frame, got {}", super::client::describe(&other)),
    }
}

async fn non_strings(t: Target) -> CheckResult {
    let s = t.session("/echo");
    open_xhr(&t, &s).await?;
    send_ok(&t, &s, "[1,true]").await?;
    let r = xhr(&t, &s).await?;
    // The application echoes one message at a time; a poll that comes
    // between the two echoes gets the first alone (§6: a poll answers with
    // what is queued), and the next poll the second.
    if r.body.as_slice() == b"a[\"1\"]\n" {
        let second = xhr(&t, &s).await?;
        return context("second poll", bytes_eq("poll body", &second.body, b"a[\"true\"]\n"));
    }
    bytes_eq("poll body", &r.body, b"a[\"1\",\"true\"]\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sets_have_the_documented_sizes() {
        assert_eq!(server_escaped().chars().count(), 44);
        assert_eq!(client_escaped().chars().count(), 1093);
    }
}
