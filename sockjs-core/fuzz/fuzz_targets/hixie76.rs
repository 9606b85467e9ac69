//! `Hixie76Decoder` on arbitrary byte chunks: it never panics, never
//! returns a text frame longer than the limit, and every frame it returns
//! is exactly what the stream holds at that point.

#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use sockjs_core::internals::{Hixie76Decoder, Hixie76Frame};
use sockjs_core::Hixie76;

#[derive(Arbitrary, Debug)]
enum Limit {
    /// The interesting range: limits about as long as the frames.
    Small(u8),
    Medium(u16),
    /// Any `usize`, such as `usize::MAX` for "no limit".
    Any(usize),
}

#[derive(Arbitrary, Debug)]
struct Input {
    limit: Limit,
    chunks: Vec<Vec<u8>>,
}

/// Whether `rest` (what the decoder holds, starting with a frame) justifies
/// an `Invalid`: a bad first byte, a bad closing frame, a complete frame
/// that is too long or not UTF-8, or an incomplete frame already too long.
fn invalid_is_justified(rest: &[u8], limit: usize) -> bool {
    match rest.first() {
        Some(0x00) => match rest.iter().position(|&b| b == 0xFF) {
            Some(end) => end - 1 > limit || std::str::from_utf8(&rest[1..end]).is_err(),
            None => rest.len() - 1 > limit,
        },
        Some(0xFF) => rest.get(1).is_some_and(|&b| b != 0x00),
        Some(_) => true,
        None => false,
    }
}

/// Whether `rest` is the start of a frame that needs more bytes.
fn is_incomplete(rest: &[u8], limit: usize) -> bool {
    match rest.first() {
        None => true,
        Some(0x00) => !rest.contains(&0xFF) && rest.len() - 1 <= limit,
        Some(0xFF) => rest.len() == 1,
        Some(_) => false,
    }
}

fuzz_target!(|input: Input| {
    let limit = match input.limit {
        Limit::Small(n) => usize::from(n),
        Limit::Medium(n) => usize::from(n),
        Limit::Any(n) => n,
    };
    let mut decoder = Hixie76Decoder::new();
    let mut stream = Vec::new();
    let mut consumed = 0;
    for chunk in &input.chunks {
        decoder.extend(chunk);
        stream.extend_from_slice(chunk);
        loop {
            let rest = &stream[consumed..];
            match decoder.next_frame(limit) {
                None => {
                    assert!(is_incomplete(rest, limit), "no frame from {rest:02x?} (limit {limit})");
                    break;
                }
                Some(Hixie76Frame::Text(text)) => {
                    assert!(text.len() <= limit, "text of {} bytes over the limit {limit}", text.len());
                    let encoded = Hixie76::encode(text.as_bytes());
                    assert!(rest.starts_with(&encoded), "{text:?} is not the start of {rest:02x?}");
                    consumed += encoded.len();
                }
                Some(Hixie76Frame::Close) => {
                    assert!(rest.starts_with(&[0xFF, 0x00]), "close from {rest:02x?}");
                    // The connection closes here.
                    return;
                }
                Some(Hixie76Frame::Invalid) => {
                    assert!(invalid_is_justified(rest, limit), "invalid from {rest:02x?} (limit {limit})");
                    // The connection closes here.
                    return;
                }
            }
        }
    }
});
