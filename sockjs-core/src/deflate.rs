//! permessage-deflate (RFC 7692): the settings, the negotiation of the
//! `Sec-WebSocket-Extensions` header, and compressing and inflating
//! messages with bounded memory.
//!
//! A deflate context is large: zlib's compressor holds about
//! `(1 << (window_bits + 2)) + (1 << (mem_level + 9))` bytes (256 KiB at 15
//! and 8) and its decompressor `1 << window_bits` plus about 7 KiB. With
//! context takeover a connection keeps both for its whole life, against an
//! idle session of a few KiB. So by default both directions are negotiated
//! without context takeover (RFC 7692 §7.1.1): a context is needed only while one
//! message is compressed or inflated, and it is borrowed from the
//! endpoint's [`Pool`] for exactly that long, synchronously, then reset and
//! given back. An idle connection holds no context; the contexts alive at
//! once are at most the threads compressing at that moment plus what the
//! pool keeps ([`POOL_KEEPS`] per kind). Context takeover can be allowed
//! per direction ([`Deflate::server_no_context_takeover`],
//! [`Deflate::client_no_context_takeover`]); the connection then owns its
//! contexts, at the cost above.
//!
//! Inflation stops at the message size limit: the output buffer never
//! grows past the limit plus one byte, however small the compressed
//! message, and a message that would inflate further fails (1009).

use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// The permessage-deflate settings of an endpoint's websockets
/// ([`crate::Options::websocket_deflate()`]). Compression is negotiated only
/// when the client offers it and the endpoint enables it.
///
/// ```
/// use sockjs_core::{Deflate, Options};
///
/// let options = Options::new("/echo").websocket_deflate(Deflate::new().level(6).min_size(128));
/// assert!(options.validate().is_ok());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deflate {
    level: u32,
    max_window_bits: u8,
    min_size: usize,
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
}

impl Default for Deflate {
    fn default() -> Deflate {
        Deflate::new()
    }
}

impl Deflate {
    /// The defaults: level 1, a 32 KiB window (15 bits), messages of at
    /// least 256 bytes compressed, no context takeover either way.
    pub const fn new() -> Deflate {
        Deflate {
            level: 1,
            max_window_bits: 15,
            min_size: 256,
            server_no_context_takeover: true,
            client_no_context_takeover: true,
        }
    }

    /// The compression level, 0 (none) to 9 (smallest, slowest). Level 1
    /// costs the least CPU per message, which is what a real-time server
    /// spends most on; higher levels save few bytes on short messages.
    pub const fn level(mut self, level: u32) -> Deflate {
        self.level = level;
        self
    }

    /// The largest LZ77 window the server compresses with, as a base-2
    /// logarithm, 9 to 15. Smaller windows hold less memory while a
    /// message is compressed and compress less. A client's
    /// `server_max_window_bits` may lower it further; an offer that asks
    /// for 8 is declined (zlib's raw deflate cannot make 8-bit streams).
    pub const fn max_window_bits(mut self, bits: u8) -> Deflate {
        self.max_window_bits = bits;
        self
    }

    /// Messages shorter than this are sent uncompressed (a deflate block
    /// costs more than it saves on a few bytes). Default: 256.
    pub const fn min_size(mut self, bytes: usize) -> Deflate {
        self.min_size = bytes;
        self
    }

    /// Whether the server starts every message with a fresh compressor
    /// (default true). False keeps a compressor per connection for its
    /// whole life: better compression of similar messages, about 256 KiB
    /// (at 15 window bits) per connection that sent one.
    pub const fn server_no_context_takeover(mut self, on: bool) -> Deflate {
        self.server_no_context_takeover = on;
        self
    }

    /// Whether the client is asked to start every message with a fresh
    /// compressor (default true), so that the server needs no inflater
    /// between messages. False keeps an inflater per connection, about
    /// 40 KiB, for its whole life.
    pub const fn client_no_context_takeover(mut self, on: bool) -> Deflate {
        self.client_no_context_takeover = on;
        self
    }

    /// The compression level set.
    pub const fn level_value(&self) -> u32 {
        self.level
    }

    /// What is out of range, for [`crate::Options::validate`].
    pub(crate) fn problem(&self) -> Option<&'static str> {
        if self.level > 9 {
            Some("level must be 0 to 9")
        } else if !(9..=15).contains(&self.max_window_bits) {
            Some("max_window_bits must be 9 to 15")
        } else {
            None
        }
    }
}

/// What was agreed with one client (RFC 7692 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Agreed {
    /// The window the server compresses with.
    window_bits: u8,
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    /// The `server_max_window_bits` to answer, when the client asked.
    answer_server_bits: bool,
}

/// The negotiation: the first `permessage-deflate` offer in the
/// request's `Sec-WebSocket-Extensions` headers that the server can
/// accept (§5: offers are in the client's order of preference), or `None`.
pub(crate) fn negotiate<'a>(headers: impl Iterator<Item = &'a [u8]>, config: &Deflate) -> Option<Agreed> {
    let mut offers = Vec::new();
    for value in headers {
        let Ok(value) = std::str::from_utf8(value) else { continue };
        offers.extend(split_unquoted(value, ',').filter(|o| !o.trim().is_empty()));
    }
    offers.into_iter().find_map(|offer| accept(offer, config))
}

/// Accepts one offer (`permessage-deflate; a; b=1`), or declines it: an
/// unknown, repeated or malformed parameter declines it (§7.1).
fn accept(offer: &str, config: &Deflate) -> Option<Agreed> {
    let mut parts = split_unquoted(offer, ';');
    if !parts.next()?.trim().eq_ignore_ascii_case("permessage-deflate") {
        return None;
    }
    let mut agreed = Agreed {
        window_bits: config.max_window_bits,
        server_no_context_takeover: config.server_no_context_takeover,
        client_no_context_takeover: config.client_no_context_takeover,
        answer_server_bits: false,
    };
    let mut seen = [false; 4];
    for param in parts {
        let (name, value) = match param.split_once('=') {
            Some((name, value)) => (name.trim(), Some(value.trim().trim_matches('"'))),
            None => (param.trim(), None),
        };
        let index = match name.to_ascii_lowercase().as_str() {
            "server_no_context_takeover" if value.is_none() => {
                agreed.server_no_context_takeover = true;
                0
            }
            "client_no_context_takeover" if value.is_none() => 1,
            "server_max_window_bits" => {
                let bits = window_bits(value?)?;
                // zlib cannot make raw deflate streams with an 8-bit window.
                if bits < 9 {
                    return None;
                }
                agreed.window_bits = agreed.window_bits.min(bits);
                agreed.answer_server_bits = true;
                2
            }
            // Valueless: the client could limit its window; the server
            // needs no limit, since it inflates with the largest window.
            "client_max_window_bits" => {
                if let Some(value) = value {
                    window_bits(value)?;
                }
                3
            }
            _ => return None,
        };
        if std::mem::replace(&mut seen[index], true) {
            return None;
        }
    }
    Some(agreed)
}

fn window_bits(value: &str) -> Option<u8> {
    if value.is_empty() || value.len() > 2 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok().filter(|bits| (8..=15).contains(bits))
}

/// `s` split at `sep` outside double quotes.
fn split_unquoted(s: &str, sep: char) -> impl Iterator<Item = &str> {
    let mut quoted = false;
    s.split(move |c| {
        if c == '"' {
            quoted = !quoted;
        }
        c == sep && !quoted
    })
}

impl Agreed {
    /// The `Sec-WebSocket-Extensions` value of the 101 response.
    pub(crate) fn response(&self) -> String {
        let mut out = String::from("permessage-deflate");
        if self.server_no_context_takeover {
            out.push_str("; server_no_context_takeover");
        }
        if self.client_no_context_takeover {
            out.push_str("; client_no_context_takeover");
        }
        if self.answer_server_bits {
            out.push_str(&format!("; server_max_window_bits={}", self.window_bits));
        }
        out
    }
}

/// A client's offer for `config` (RFC 7692 §5, §7.1): the parameters
/// whose answers [`check_answer`] then requires. `client_max_window_bits`
/// is always offered (valueless at 15 bits), so that a server may limit
/// the client's window.
pub(crate) fn offer(config: &Deflate) -> String {
    let mut out = String::from("permessage-deflate");
    if config.server_no_context_takeover {
        out.push_str("; server_no_context_takeover");
    }
    if config.client_no_context_takeover {
        out.push_str("; client_no_context_takeover");
    }
    out.push_str("; client_max_window_bits");
    if config.max_window_bits < 15 {
        out.push_str(&format!("={}", config.max_window_bits));
    }
    out
}

/// What a server answered to a client's [`offer`] (RFC 7692 §7.1), as the
/// client applies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Answer {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
    client_max_window_bits: Option<u8>,
}

/// Checks the `Sec-WebSocket-Extensions` headers of a 101 response to a
/// request that offered [`offer`]`(config)`: none means no compression;
/// otherwise one `permessage-deflate` element that is a valid answer to the
/// offer, or the reason the client must fail the connection (RFC 6455 §9.1:
/// a server may only answer with an offered extension; RFC 7692 §7.1).
pub(crate) fn check_answer<'a>(
    headers: impl Iterator<Item = &'a [u8]>,
    config: &Deflate,
) -> Result<Option<Answer>, &'static str> {
    let mut elements = Vec::new();
    for value in headers {
        let value = std::str::from_utf8(value).map_err(|_| "a Sec-WebSocket-Extensions header that is not text")?;
        elements.extend(split_unquoted(value, ',').filter(|e| !e.trim().is_empty()));
    }
    let element = match elements.as_slice() {
        [] => return Ok(None),
        [one] => *one,
        _ => return Err("more than one extension in the answer to one offer"),
    };
    let mut parts = split_unquoted(element, ';');
    if !parts.next().is_some_and(|name| name.trim().eq_ignore_ascii_case("permessage-deflate")) {
        return Err("an extension that was not offered");
    }
    let mut answer = Answer {
        server_no_context_takeover: false,
        client_no_context_takeover: false,
        server_max_window_bits: None,
        client_max_window_bits: None,
    };
    let mut seen = [false; 4];
    for param in parts {
        let (name, value) = match param.split_once('=') {
            Some((name, value)) => (name.trim(), Some(value.trim().trim_matches('"'))),
            None => (param.trim(), None),
        };
        let index = match (name.to_ascii_lowercase().as_str(), value) {
            ("server_no_context_takeover", None) => {
                answer.server_no_context_takeover = true;
                0
            }
            ("client_no_context_takeover", None) => {
                answer.client_no_context_takeover = true;
                1
            }
            // §7.1.2.1: any window up to 15; the client inflates with 15.
            ("server_max_window_bits", Some(value)) => {
                answer.server_max_window_bits = Some(window_bits(value).ok_or("a bad server_max_window_bits")?);
                2
            }
            // §7.1.2.2: with a value; zlib cannot make 8-bit raw streams.
            ("client_max_window_bits", Some(value)) => {
                let bits = window_bits(value).ok_or("a bad client_max_window_bits")?;
                if bits < 9 {
                    return Err("client_max_window_bits=8, which raw deflate cannot make");
                }
                answer.client_max_window_bits = Some(bits);
                3
            }
            _ => return Err("an unknown or malformed permessage-deflate parameter"),
        };
        if std::mem::replace(&mut seen[index], true) {
            return Err("a repeated permessage-deflate parameter");
        }
    }
    // §7.1.1.1: a server accepts this parameter only by answering it.
    if config.server_no_context_takeover && !answer.server_no_context_takeover {
        return Err("server_no_context_takeover was offered and not answered");
    }
    Ok(Some(answer))
}

impl Answer {
    /// The agreed parameters, as a `Sec-WebSocket-Extensions` value.
    pub(crate) fn describe(&self) -> String {
        let mut out = String::from("permessage-deflate");
        if self.server_no_context_takeover {
            out.push_str("; server_no_context_takeover");
        }
        if self.client_no_context_takeover {
            out.push_str("; client_no_context_takeover");
        }
        if let Some(bits) = self.server_max_window_bits {
            out.push_str(&format!("; server_max_window_bits={bits}"));
        }
        if let Some(bits) = self.client_max_window_bits {
            out.push_str(&format!("; client_max_window_bits={bits}"));
        }
        out
    }
}

/// The two halves of a client connection's permessage-deflate: the roles
/// of [`for_connection`] swapped. The client compresses with at most the
/// window the server allowed, without context takeover when either side
/// asked for none; it keeps an inflater between messages only when the
/// server may take its context over.
pub(crate) fn for_client(answer: Answer, config: &Deflate, pool: &Arc<Pool>) -> (Deflater, Inflater) {
    let bits = config.max_window_bits.min(answer.client_max_window_bits.unwrap_or(15));
    let takeover = !(answer.client_no_context_takeover || config.client_no_context_takeover);
    let deflater = Deflater { pool: pool.clone(), bits, min_size: config.min_size, own: takeover.then_some(None) };
    let inflater = Inflater { pool: pool.clone(), own: (!answer.server_no_context_takeover).then_some(None) };
    (deflater, inflater)
}

/// How many idle contexts of each kind a [`Pool`] keeps; more are freed
/// when given back.
pub(crate) const POOL_KEEPS: usize = 8;

/// An endpoint's idle deflate contexts, lent for one message at a time.
/// See the module docs.
#[derive(Debug)]
pub(crate) struct Pool {
    level: u32,
    /// Idle compressors by window bits (index `bits - 9`).
    compressors: [Mutex<Vec<Compress>>; 7],
    decompressors: Mutex<Vec<Decompress>>,
}

impl Pool {
    pub(crate) fn new(config: &Deflate) -> Pool {
        Pool { level: config.level, compressors: Default::default(), decompressors: Mutex::default() }
    }

    fn compressor(&self, bits: u8) -> Compress {
        let idle = lock(&self.compressors[usize::from(bits - 9)]).pop();
        idle.unwrap_or_else(|| Compress::new_with_window_bits(Compression::new(self.level), false, bits))
    }

    fn give_compressor(&self, bits: u8, mut c: Compress) {
        c.reset();
        let mut idle = lock(&self.compressors[usize::from(bits - 9)]);
        if idle.len() < POOL_KEEPS {
            idle.push(c);
        }
    }

    fn decompressor(&self) -> Decompress {
        lock(&self.decompressors).pop().unwrap_or_else(|| Decompress::new_with_window_bits(false, 15))
    }

    fn give_decompressor(&self, mut d: Decompress) {
        d.reset(false);
        let mut idle = lock(&self.decompressors);
        if idle.len() < POOL_KEEPS {
            idle.push(d);
        }
    }

    /// Idle contexts held: (compressors, decompressors).
    #[cfg(test)]
    pub(crate) fn idle(&self) -> (usize, usize) {
        (self.compressors.iter().map(|c| lock(c).len()).sum(), lock(&self.decompressors).len())
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The 4 bytes a sender removes from the end of each compressed message
/// and the receiver puts back (RFC 7692 §7.2.1, §7.2.2).
const TAIL: [u8; 4] = [0x00, 0x00, 0xFF, 0xFF];

/// Compresses one connection's messages.
#[derive(Debug)]
pub(crate) struct Deflater {
    pool: Arc<Pool>,
    bits: u8,
    min_size: usize,
    /// The connection's own compressor (context takeover), once used.
    own: Option<Option<Compress>>,
}

/// Why a message could not be inflated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InflateError {
    /// It inflates past the size limit.
    TooBig,
    /// It is not a deflate stream.
    Corrupt,
}

/// Inflates one connection's messages.
#[derive(Debug)]
pub(crate) struct Inflater {
    pool: Arc<Pool>,
    /// The connection's own decompressor (context takeover), once used.
    own: Option<Option<Decompress>>,
}

/// The two halves of a connection's permessage-deflate.
pub(crate) fn for_connection(agreed: Agreed, config: &Deflate, pool: &Arc<Pool>) -> (Deflater, Inflater) {
    let deflater = Deflater {
        pool: pool.clone(),
        bits: agreed.window_bits,
        min_size: config.min_size,
        own: (!agreed.server_no_context_takeover).then_some(None),
    };
    let inflater = Inflater { pool: pool.clone(), own: (!agreed.client_no_context_takeover).then_some(None) };
    (deflater, inflater)
}

impl Deflater {
    /// `payload` compressed as one message (without the trailing 4 bytes),
    /// or `None` when it is too short to be worth it or does not shrink.
    pub(crate) fn compress(&mut self, payload: &[u8]) -> Option<Bytes> {
        if payload.len() < self.min_size {
            return None;
        }
        let mut c = match &mut self.own {
            Some(own) => own.take().unwrap_or_else(|| self.pool.compressor(self.bits)),
            None => self.pool.compressor(self.bits),
        };
        let mut out = Vec::with_capacity(payload.len() / 2 + 64);
        let start_in = c.total_in();
        let ok = loop {
            let consumed = (c.total_in() - start_in) as usize;
            if out.len() == out.capacity() {
                out.reserve(out.capacity().max(64));
            }
            match c.compress_vec(&payload[consumed..], &mut out, FlushCompress::Sync) {
                // Done once all input is in and the flush left room to spare.
                Ok(_) if (c.total_in() - start_in) as usize == payload.len() && out.len() < out.capacity() => {
                    break true
                }
                Ok(_) => {}
                Err(_) => break false,
            }
        };
        match &mut self.own {
            Some(own) if ok => *own = Some(c),
            // A failed context is dropped, not reused.
            Some(_) => {}
            None if ok => self.pool.give_compressor(self.bits, c),
            None => {}
        }
        if !ok || !out.ends_with(&TAIL) {
            return None;
        }
        out.truncate(out.len() - TAIL.len());
        // With context takeover the peer's window now has this message,
        // so it must be sent compressed even if it did not shrink.
        if out.len() >= payload.len() && self.own.is_none() {
            return None;
        }
        Some(out.into())
    }
}

impl Inflater {
    /// Inflates one message's payload (the 4 bytes put back), into at most
    /// `limit` bytes.
    pub(crate) fn inflate(&mut self, payload: &[u8], limit: usize) -> Result<BytesMut, InflateError> {
        let mut d = match &mut self.own {
            Some(own) => own.take().unwrap_or_else(|| self.pool.decompressor()),
            None => self.pool.decompressor(),
        };
        let mut out = Vec::new();
        let result = inflate_into(&mut d, payload, limit, &mut out).map(|()| out.as_slice().into());
        match &mut self.own {
            // After an error the connection fails; nothing reuses it.
            Some(own) => *own = Some(d),
            None => self.pool.give_decompressor(d),
        }
        result
    }
}

/// Inflates `payload` and the tail into `out`, whose capacity never
/// exceeds `limit + 1`.
fn inflate_into(d: &mut Decompress, payload: &[u8], limit: usize, out: &mut Vec<u8>) -> Result<(), InflateError> {
    for input in [payload, &TAIL[..]] {
        let mut at = 0;
        loop {
            if out.len() == out.capacity() {
                // Grow geometrically, never past the limit plus one byte.
                let room = (limit + 1).saturating_sub(out.len()).min(out.len().max(4096));
                if room == 0 {
                    return Err(InflateError::TooBig);
                }
                out.reserve_exact(room);
            }
            let (in_before, out_before) = (d.total_in(), out.len());
            let status = d.decompress_vec(&input[at..], out, FlushDecompress::Sync);
            at += (d.total_in() - in_before) as usize;
            if out.len() > limit {
                return Err(InflateError::TooBig);
            }
            match status {
                Err(_) => return Err(InflateError::Corrupt),
                Ok(Status::StreamEnd) => return Ok(()),
                Ok(_) if at == input.len() && out.len() < out.capacity() => break,
                // No progress with input left and room to write: stuck.
                Ok(_) if out.len() == out_before && at < input.len() && out.len() < out.capacity() => {
                    return Err(InflateError::Corrupt)
                }
                Ok(_) => {}
            }
        }
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn offer(header: &str) -> Option<Agreed> {
        negotiate(std::iter::once(header.as_bytes()), &Deflate::new())
    }

    /// RFC 7692 §7.1: what is accepted, declined and answered.
    #[test]
    fn negotiation() {
        let plain = offer("permessage-deflate").expect("accepted");
        assert_eq!(plain.response(), "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
        // What Chromium offers.
        let chromium = offer("permessage-deflate; client_max_window_bits").expect("accepted");
        assert_eq!(chromium, plain);
        let small = offer("permessage-deflate; server_max_window_bits=10").expect("accepted");
        assert_eq!(small.window_bits, 10);
        assert!(small.response().ends_with("; server_max_window_bits=10"));
        // Declined: 8 bits, bad values, unknown or repeated parameters,
        // values on valueless ones; then the next offer is taken.
        for bad in [
            "permessage-deflate; server_max_window_bits=8",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; server_max_window_bits=",
            "permessage-deflate; client_max_window_bits=7",
            "permessage-deflate; foo",
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "permessage-deflate; client_no_context_takeover=1",
            "x-webkit-deflate-frame",
        ] {
            assert_eq!(offer(bad), None, "{bad}");
        }
        let second =
            offer("permessage-deflate; server_max_window_bits=8, permessage-deflate; client_max_window_bits=9");
        assert_eq!(second, Some(plain));
        // Quoted values (§5 allows quoted-string) and case.
        assert_eq!(offer("Permessage-Deflate; server_max_window_bits=\"12\"").map(|a| a.window_bits), Some(12));
        // Context takeover allowed by the endpoint, unless the client asks.
        let config = Deflate::new().server_no_context_takeover(false).client_no_context_takeover(false);
        let agreed = negotiate(std::iter::once(&b"permessage-deflate"[..]), &config).expect("accepted");
        assert_eq!(agreed.response(), "permessage-deflate");
        let asked =
            negotiate(std::iter::once(&b"permessage-deflate; server_no_context_takeover"[..]), &config).expect("ok");
        assert_eq!(asked.response(), "permessage-deflate; server_no_context_takeover");
    }

    fn pair(config: Deflate) -> (Deflater, Inflater, Arc<Pool>) {
        let pool = Arc::new(Pool::new(&config));
        let agreed = negotiate(std::iter::once(&b"permessage-deflate"[..]), &config).expect("accepted");
        let (d, i) = for_connection(agreed, &config, &pool);
        (d, i, pool)
    }

    /// What the deflater makes inflates back; short messages stay plain;
    /// without context takeover the contexts go back to the pool.
    #[test]
    fn round_trip_and_pooling() {
        let (mut deflater, mut inflater, pool) = pair(Deflate::new());
        let text = "the same words again and again, ".repeat(40);
        let compressed = deflater.compress(text.as_bytes()).expect("worth compressing");
        assert!(compressed.len() < text.len() / 5, "{} bytes", compressed.len());
        assert_eq!(&inflater.inflate(&compressed, 1 << 20).expect("inflates")[..], text.as_bytes());
        assert_eq!(deflater.compress(b"short"), None);
        assert_eq!(pool.idle(), (1, 1), "one of each, given back");
        // The same message twice compresses the same: nothing carried over.
        assert_eq!(deflater.compress(text.as_bytes()), Some(compressed));
    }

    /// With context takeover the second copy of a message costs almost
    /// nothing, and the connection keeps its contexts.
    #[test]
    fn context_takeover() {
        let config = Deflate::new().server_no_context_takeover(false).client_no_context_takeover(false);
        let (mut deflater, mut inflater, pool) = pair(config);
        let text = "a message with some entropy: 8f2a9c1e77b3 ".repeat(8);
        let first = deflater.compress(text.as_bytes()).expect("compressed");
        let second = deflater.compress(text.as_bytes()).expect("compressed");
        assert!(second.len() < first.len() / 4, "{} then {}", first.len(), second.len());
        assert_eq!(&inflater.inflate(&first, 1 << 20).unwrap()[..], text.as_bytes());
        assert_eq!(&inflater.inflate(&second, 1 << 20).unwrap()[..], text.as_bytes());
        assert_eq!(pool.idle(), (0, 0), "the connection holds its own");
    }

    /// The inflation bound: a few hundred bytes that inflate to 10 MiB
    /// fail once past the limit, and the buffer never grows beyond it.
    #[test]
    fn inflation_stops_at_the_limit() {
        let (mut deflater, mut inflater, _) = pair(Deflate::new().level(9));
        let bomb = deflater.compress(&vec![b'a'; 10 << 20]).expect("compressed");
        assert!(bomb.len() < 20_000, "{} bytes", bomb.len());
        let limit = 64 * 1024;
        assert_eq!(inflater.inflate(&bomb, limit).map(|b| b.len()), Err(InflateError::TooBig));
        // The buffer the bounded loop filled, when it gave up.
        let mut out = Vec::new();
        let mut d = Decompress::new_with_window_bits(false, 15);
        assert_eq!(inflate_into(&mut d, &bomb, limit, &mut out), Err(InflateError::TooBig));
        assert!(out.capacity() <= limit + 1, "capacity {} for a limit of {limit}", out.capacity());
        // Exactly at the limit is fine.
        let exact = deflater.compress(&vec![b'b'; limit]).expect("compressed");
        assert_eq!(inflater.inflate(&exact, limit).map(|b| b.len()), Ok(limit));
        assert_eq!(inflater.inflate(b"\xff\xff\xff garbage", limit), Err(InflateError::Corrupt));
    }
}
