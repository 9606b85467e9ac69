//! Frame encoding and payload decoding (BENCHMARKS.md, "micro-benchmarks").
//!
//! `Frame::message` escapes with the SockJS set (PROTOCOL.md §8) in one
//! pass; the baseline is `serde_json::to_string` of the same string, which
//! escapes less. `decode_messages` parses an `xhr_send` body.
//!
//! Run with `cargo bench -p sockjs-core` (about a minute).

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sockjs_core::internals::{decode_messages, Frame};
use std::hint::black_box;
use std::time::Duration;

/// Text of about `len` bytes: ASCII, or a mix of Latin-1, CJK, emoji and
/// characters of the SockJS escape set.
fn text(len: usize, unicode: bool) -> String {
    let unit =
        if unicode { "héllo wörld 你好 🎉 \u{2028}\u{200d} \"q\" \\ " } else { "hello world, plain ascii! " };
    let mut s = String::with_capacity(len + unit.len());
    while s.len() < len {
        s.push_str(unit);
    }
    s
}

fn encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("encode");
    for (name, unicode) in [("ascii", false), ("unicode", true)] {
        for len in [32usize, 4096] {
            let input = text(len, unicode);
            group.throughput(Throughput::Bytes(input.len() as u64));
            let id = format!("{name}/{len}");
            group.bench_with_input(BenchmarkId::new("sockjs_frame", &id), &input, |b, s| {
                b.iter(|| Frame::message(black_box(s)))
            });
            group.bench_with_input(BenchmarkId::new("serde_json_to_string", &id), &input, |b, s| {
                b.iter(|| serde_json::to_string(black_box(s)).unwrap())
            });
        }
    }
    group.finish();
}

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode_messages");
    for (name, unicode) in [("ascii", false), ("unicode", true)] {
        for (count, len) in [(1usize, 32usize), (1, 4096), (16, 32)] {
            let messages: Vec<String> = (0..count).map(|_| text(len, unicode)).collect();
            let body = serde_json::to_vec(&messages).unwrap();
            group.throughput(Throughput::Bytes(body.len() as u64));
            let id = format!("{name}/{count}x{len}");
            group.bench_with_input(BenchmarkId::from_parameter(&id), &body, |b, body| {
                b.iter(|| decode_messages(black_box(body)).unwrap())
            });
        }
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
}

criterion_group! {
    name = benches;
    config = config();
    targets = encode, decode
}
criterion_main!(benches);
