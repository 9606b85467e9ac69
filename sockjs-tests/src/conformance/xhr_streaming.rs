//! §7.6 xhr-streaming: prelude, one chunk per frame, response_limit.

use std::time::Duration;

use crate::http1::{Activity, Request};

use super::client::{
    expect_chunk, expect_end, head_only, open_xhr_streaming, prelude, send_ok, stream, streaming_head,
};
use super::{content_type, cors_star, fail, no_cache, Check, CheckResult, Target, APP_JS};

pub(super) fn checks() -> Vec<Check> {
    vec![
        Check::new("§7.6 xhr_streaming headers, prelude chunk and o chunk", head_and_prelude),
        Check::new("§7.6 xhr_streaming one chunk per frame", one_chunk_per_frame),
        Check::new("§7.6 xhr_streaming response_limit (31 × 134 bytes, prelude not counted)", response_limit),
        Check::new("§7.6 xhr_streaming reconnect after response_limit continues the session", reconnect),
    ]
}

async fn head_and_prelude(t: Target) -> CheckResult {
    let s = t.session("/echo");
    let (head, mut conn) = stream(&t, Request::post(&format!("{s}/xhr_streaming"))).await?;
    streaming_head(&head)?;
    let r = head_only(&head);
    content_type(&r, APP_JS)?;
    no_cache(&r)?;
    cors_star(&r)?;
    expect_chunk(&mut conn, &prelude(), "the prelude (2048 × h + \\n) as its own chunk").await?;
    expect_chunk(&mut conn, b"o\n", "o\\n as its own chunk").await
}

async fn one_chunk_per_frame(t: Target) -> CheckResult {
    let s = t.session("/echo");
    let mut conn = open_xhr_streaming(&t, &s, b"o\n").await?;
    send_ok(&t, &s, "[\"a\"]").await?;
    expect_chunk(&mut conn, b"a[\"a\"]\n", "the first message frame").await?;
    send_ok(&t, &s, "[\"b\"]").await?;
    expect_chunk(&mut conn, b"a[\"b\"]\n", "the second message frame").await
}

async fn response_limit(t: Target) -> CheckResult {
    let s = t.session("/echo");
    let mut conn = open_xhr_streaming(&t, &s, b"o\n").await?;
    let message = "x".repeat(128);
    let frame = format!("a[\"{message}\"]\n");
    debug_assert_eq!(frame.len(), 134);
    for i in 1..=31 {
        send_ok(&t, &s, &format!("[\"{message}\"]")).await?;
        expect_chunk(&mut conn, frame.as_bytes(), &format!("frame {i} of 31")).await?;
        if i == 30 {
            // 2 + 30 × 134 = 4022 < 4096: the stream must stay open.
            match conn.wait_activity(Duration::from_millis(300)).await? {
                Activity::Idle => {}
                Activity::Closed => {
                    fail!("the response ended after 30 frames (4022 bytes < 4096); is the prelude counted?")
                }
                Activity::Data => {
                    let more = conn.read_chunk().await?;
                    fail!(
                        "after 30 frames (4022 bytes < 4096) the response must stay open, got {:?}",
                        more.map(|c| super::show(&c))
                    )
                }
            }
        }
    }
    expect_end(&mut conn, "after the 31st frame (4156 bytes ≥ 4096)").await
}

async fn reconnect(t: Target) -> CheckResult {
    let s = t.session("/echo");
    let mut conn = open_xhr_streaming(&t, &s, b"o\n").await?;
    let big = "x".repeat(4096);
    send_ok(&t, &s, &format!("[\"{big}\"]")).await?;
    expect_chunk(&mut conn, format!("a[\"{big}\"]\n").as_bytes(), "the 4096-x frame").await?;
    expect_end(&mut conn, "after a frame that reaches response_limit").await?;
    let (head, mut conn) = stream(&t, Request::post(&format!("{s}/xhr_streaming"))).await?;
    streaming_head(&head)?;
    expect_chunk(&mut conn, &prelude(), "the prelude of the second request").await?;
    send_ok(&t, &s, "[\"z\"]").await?;
    expect_chunk(&mut conn, b"a[\"z\"]\n", "the next frame of the same session (no new o)").await
}
