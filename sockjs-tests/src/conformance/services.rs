//! §1 the reference services beyond echo and close: `/ticker`, `/amplify`,
//! `/broadcast`.

use std::time::{Duration, Instant};

use super::client::{chunk, describe, open_xhr_streaming, ws_connect, ws_expect_text, ws_next, ws_send, WsEvent};
use super::{bytes_eq, context, fail, Check, CheckResult, Kind, Target};

pub(super) fn checks() -> Vec<Check> {
    vec![
        Check::new("§1 ticker sends tick! every second, the first one second after open", ticker).kind(Kind::Slow),
        Check::new("§1 amplify replies with 2^n x", amplify),
        Check::new("§1 broadcast reaches every open session, sender included", broadcast).kind(Kind::Exclusive),
    ]
}

async fn ticker(t: Target) -> CheckResult {
    let s = t.session("/ticker");
    let mut conn = open_xhr_streaming(&t, &s, b"o\n").await?;
    let opened = Instant::now();
    let first = chunk(&mut conn, "the first tick").await?;
    let at_first = opened.elapsed();
    bytes_eq("first tick", &first, b"a[\"tick!\"]\n")?;
    if at_first < Duration::from_millis(700) || at_first > Duration::from_millis(1700) {
        fail!("the first tick came {at_first:?} after open, expected about 1 s");
    }
    let second = chunk(&mut conn, "the second tick").await?;
    let gap = opened.elapsed() - at_first;
    bytes_eq("second tick", &second, b"a[\"tick!\"]\n")?;
    if gap < Duration::from_millis(700) || gap > Duration::from_millis(1700) {
        fail!("the second tick came {gap:?} after the first, expected about 1 s");
    }
    Ok(())
}

async fn amplify(t: Target) -> CheckResult {
    let s = t.session("/amplify");
    let mut ws = ws_connect(&t, &format!("{s}/websocket")).await?;
    ws_expect_text(&mut ws, "o").await?;
    for (input, n) in [("3", 3), ("2.7", 2), ("0", 1), ("19", 1), ("abc", 1), ("18", 18), ("1", 1)] {
        ws_send(&mut ws, &format!("[\"{input}\"]")).await?;
        let expected = format!("a[\"{}\"]", "x".repeat(1 << n));
        context(&format!("message {input:?}"), ws_expect_text(&mut ws, &expected).await)?;
    }
    Ok(())
}

async fn broadcast(t: Target) -> CheckResult {
    let mut a = ws_connect(&t, &format!("{}/websocket", t.session("/broadcast"))).await?;
    ws_expect_text(&mut a, "o").await?;
    let mut b = ws_connect(&t, &format!("{}/websocket", t.session("/broadcast"))).await?;
    ws_expect_text(&mut b, "o").await?;
    ws_send(&mut a, "[\"hello\"]").await?;
    context("sender", ws_expect_text(&mut a, "a[\"hello\"]").await)?;
    context("other session", ws_expect_text(&mut b, "a[\"hello\"]").await)?;
    ws_send(&mut b, "[\"back\"]").await?;
    context("other session", ws_expect_text(&mut a, "a[\"back\"]").await)?;
    context("sender", ws_expect_text(&mut b, "a[\"back\"]").await)?;
    b.close(None).await?;
    drop(b);
    tokio::time::sleep(Duration::from_millis(200)).await;
    ws_send(&mut a, "[\"alone\"]").await?;
    context("after the other session closed", ws_expect_text(&mut a, "a[\"alone\"]").await)?;
    match ws_next(&mut a, Duration::from_millis(300)).await? {
        WsEvent::Idle => Ok(()),
        other => fail!("expected nothing more, got {}", describe(&other)),
    }
}
