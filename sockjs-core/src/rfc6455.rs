//! RFC 6455 framing, sans-IO, for either end of a connection: what the
//! peer's bytes mean, every rule of §5 that an endpoint must enforce on
//! them, and the frames it sends. The one difference between the roles
//! is masking (RFC 6455 §5.1): a client masks every frame it sends, a server
//! none, and each fails the connection on a frame masked the wrong way.
//!
//! [`Decoder`] takes the peer's bytes as they come and yields one
//! [`Inbound`] at a time: a whole message (reassembled from its fragments,
//! inflated when permessage-deflate compressed it, its text checked as
//! UTF-8), a control frame, or the [`Failure`] that ends the connection
//! with the close code RFC 6455 §7.4.1 names. Nothing it is given can make it hold
//! more than the message size limit plus one frame header: a frame's
//! payload is moved into its message as it arrives, a message whose frames
//! announce more than the limit fails (1009) before its bytes come, and
//! inflation stops at the limit.
//!
//! [`encode`] makes a server frame (never masked, RFC 6455 §5.1), [`encode_masked`]
//! a client frame with the caller's masking key.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::deflate::{InflateError, Inflater};

/// RFC 6455 §5.2 opcodes.
pub(crate) mod opcode {
    pub(crate) const CONTINUATION: u8 = 0x0;
    pub(crate) const TEXT: u8 = 0x1;
    pub(crate) const BINARY: u8 = 0x2;
    pub(crate) const CLOSE: u8 = 0x8;
    pub(crate) const PING: u8 = 0x9;
    pub(crate) const PONG: u8 = 0xA;
}

/// The largest payload of a control frame (RFC 6455 §5.5).
pub(crate) const MAX_CONTROL_PAYLOAD: usize = 125;
/// The longest close reason: a control frame's payload less the code.
pub(crate) const MAX_CLOSE_REASON: usize = MAX_CONTROL_PAYLOAD - 2;

/// Why the connection fails: the close code and reason the server sends
/// (RFC 6455 §7.4.1) before it closes the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Failure {
    pub(crate) code: u16,
    pub(crate) reason: &'static str,
}

/// A frame or message sequence that breaks §5: 1002.
pub(crate) const PROTOCOL_ERROR: Failure = Failure { code: 1002, reason: "Protocol error" };
/// A text message or close reason that is not UTF-8 (RFC 6455 §8.1): 1007.
pub(crate) const INVALID_UTF8: Failure = Failure { code: 1007, reason: "Invalid UTF-8" };
/// A message over the size limit: 1009.
pub(crate) const TOO_BIG: Failure = Failure { code: 1009, reason: "Message too big" };
/// A binary message on an endpoint that carries text: 1003.
pub(crate) const BINARY_REFUSED: Failure = Failure { code: 1003, reason: "Binary messages are not accepted" };

/// Which end of the connection a [`Decoder`] reads for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// Reads a client's frames: each must be masked.
    Server,
    /// Reads a server's frames: none may be masked.
    Client,
}

/// What the peer sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Inbound {
    /// A whole text message, valid UTF-8.
    Text(String),
    /// A whole binary message.
    Binary(Bytes),
    /// A ping, with its payload to answer.
    Ping(Bytes),
    /// A pong.
    Pong,
    /// The peer's close frame, with its code if it had one (valid by
    /// §7.4) and its reason (valid UTF-8).
    Close(Option<u16>, String),
    /// The peer broke the protocol.
    Fail(Failure),
}

/// Whether a client may send this close code (RFC 6455 §7.4.1, §7.4.2): the
/// defined codes a peer may put on the wire, and the ranges kept for
/// libraries, frameworks and applications. 1004-1006 and 1015 are never
/// sent; 1012-1014 are registered with IANA since.
pub(crate) fn valid_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// A header read, its payload not yet.
#[derive(Debug, Clone, Copy)]
struct Head {
    fin: bool,
    opcode: u8,
    /// The masking key; all zeros (a no-op) for an unmasked frame.
    mask: [u8; 4],
    /// Payload bytes still to come.
    remaining: usize,
    /// Payload bytes already unmasked (the mask's offset).
    done: usize,
}

/// A data message whose frames are still arriving.
#[derive(Debug)]
struct Partial {
    text: bool,
    compressed: bool,
    payload: BytesMut,
    /// How far the payload is known to be valid UTF-8 (uncompressed text).
    checked: usize,
}

/// The peer's bytes, read as frames and messages. See the module docs.
#[derive(Debug)]
pub(crate) struct Decoder {
    role: Role,
    buffer: BytesMut,
    max_message: usize,
    head: Option<Head>,
    message: Option<Partial>,
    /// permessage-deflate, when negotiated (boxed: an idle connection
    /// without it holds one pointer).
    inflater: Option<Box<Inflater>>,
    /// A close or a failure was yielded: nothing more is read.
    done: bool,
}

impl Decoder {
    /// A server's decoder of a client's frames, for messages of at most
    /// `max_message` bytes (after inflation), inflating with `inflater`
    /// when permessage-deflate was negotiated.
    pub(crate) fn new(max_message: usize, inflater: Option<Box<Inflater>>) -> Decoder {
        Decoder::with_role(Role::Server, max_message, inflater)
    }

    /// The same for the given role: [`Role::Client`] reads a server's frames.
    pub(crate) fn with_role(role: Role, max_message: usize, inflater: Option<Box<Inflater>>) -> Decoder {
        Decoder { role, buffer: BytesMut::new(), max_message, head: None, message: None, inflater, done: false }
    }

    /// Appends bytes read from the connection.
    pub(crate) fn extend(&mut self, data: &[u8]) {
        if !self.done {
            self.buffer.extend_from_slice(data);
        }
    }

    /// Bytes held that are not yet part of a message.
    #[cfg(test)]
    pub(crate) fn buffered(&self) -> usize {
        self.buffer.len()
    }

    /// The next thing the client sent, once its bytes are all there.
    pub(crate) fn next(&mut self) -> Option<Inbound> {
        if self.done {
            return None;
        }
        let result = self.step();
        if matches!(result, Some(Inbound::Close(..) | Inbound::Fail(_))) {
            self.done = true;
            self.buffer = BytesMut::new();
            self.message = None;
        }
        result
    }

    fn step(&mut self) -> Option<Inbound> {
        loop {
            let head = match self.head {
                Some(head) => head,
                None => match self.read_head() {
                    Ok(Some(head)) => head,
                    Ok(None) => return None,
                    Err(failure) => return Some(Inbound::Fail(failure)),
                },
            };
            if head.opcode >= opcode::CLOSE {
                // Control frames come whole (RFC 6455 §5.5: at most 125 bytes).
                if self.buffer.len() < head.remaining {
                    self.head = Some(head);
                    return None;
                }
                self.head = None;
                let mut payload = self.buffer.split_to(head.remaining);
                unmask(&mut payload, head.mask, 0);
                return Some(control(head.opcode, payload.freeze()));
            }
            let take = head.remaining.min(self.buffer.len());
            let message = self.message.as_mut().expect("a data frame belongs to a message");
            let start = message.payload.len();
            message.payload.extend_from_slice(&self.buffer[..take]);
            self.buffer.advance(take);
            unmask(&mut message.payload[start..], head.mask, head.done);
            if message.text && !message.compressed && check_utf8(message).is_err() {
                // Fail fast: the rest of the message cannot mend it.
                return Some(Inbound::Fail(INVALID_UTF8));
            }
            let head = Head { remaining: head.remaining - take, done: head.done + take, ..head };
            if head.remaining > 0 {
                self.head = Some(head);
                return None;
            }
            self.head = None;
            if head.fin {
                let message = self.message.take().expect("checked above");
                return Some(self.finish(message));
            }
        }
    }

    /// Reads and checks the next frame header (RFC 6455 §5.2).
    fn read_head(&mut self) -> Result<Option<Head>, Failure> {
        let Some(&[b0, b1]) = self.buffer.get(..2).map(|b| <&[u8; 2]>::try_from(b).expect("two bytes")) else {
            return Ok(None);
        };
        let (fin, rsv1, op) = (b0 & 0x80 != 0, b0 & 0x40 != 0, b0 & 0x0F);
        let (masked, len7) = (b1 & 0x80 != 0, usize::from(b1 & 0x7F));
        // RFC 6455 §5.1: every client frame is masked, no server frame is.
        if b0 & 0x30 != 0 || masked != (self.role == Role::Server) {
            return Err(PROTOCOL_ERROR);
        }
        let control = op >= opcode::CLOSE;
        match op {
            opcode::CONTINUATION | opcode::TEXT | opcode::BINARY | opcode::CLOSE | opcode::PING | opcode::PONG => {}
            _ => return Err(PROTOCOL_ERROR),
        }
        // RFC 6455 §5.5: control frames are short and never fragmented.
        if control && (!fin || len7 > MAX_CONTROL_PAYLOAD) {
            return Err(PROTOCOL_ERROR);
        }
        // RFC 7692 §6: RSV1 marks the first frame of a compressed message.
        let compressible = self.inflater.is_some() && (op == opcode::TEXT || op == opcode::BINARY);
        if rsv1 && !compressible {
            return Err(PROTOCOL_ERROR);
        }
        let extended = match len7 {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        let key_len = if masked { 4 } else { 0 };
        let head_len = 2 + extended + key_len;
        if self.buffer.len() < head_len {
            return Ok(None);
        }
        let len = match extended {
            2 => u64::from(u16::from_be_bytes([self.buffer[2], self.buffer[3]])),
            8 => {
                let len = u64::from_be_bytes(self.buffer[2..10].try_into().expect("eight bytes"));
                // RFC 6455 §5.2: the most significant bit must be 0.
                if len >> 63 != 0 {
                    return Err(PROTOCOL_ERROR);
                }
                len
            }
            _ => len7 as u64,
        };
        let mut mask = [0; 4];
        mask[..key_len].copy_from_slice(&self.buffer[head_len - key_len..head_len]);
        if !control {
            let message = match (&mut self.message, op) {
                (None, opcode::CONTINUATION) | (Some(_), opcode::TEXT | opcode::BINARY) => {
                    return Err(PROTOCOL_ERROR);
                }
                (Some(message), _) => message,
                (None, _) => self.message.insert(Partial {
                    text: op == opcode::TEXT,
                    compressed: rsv1,
                    payload: BytesMut::new(),
                    checked: 0,
                }),
            };
            if (message.payload.len() as u64).saturating_add(len) > self.max_message as u64 {
                return Err(TOO_BIG);
            }
            // Within the limit, so it fits a usize.
            message.payload.reserve((len as usize).min(64 * 1024));
        }
        self.buffer.advance(head_len);
        let remaining = usize::try_from(len).map_err(|_| TOO_BIG)?;
        // `step` keeps it in `self.head` while its payload is still coming.
        Ok(Some(Head { fin, opcode: op, mask, remaining, done: 0 }))
    }

    /// A message whose last frame came.
    fn finish(&mut self, message: Partial) -> Inbound {
        let payload = if message.compressed {
            let Some(inflater) = &mut self.inflater else { return Inbound::Fail(PROTOCOL_ERROR) };
            match inflater.inflate(&message.payload, self.max_message) {
                Ok(payload) => payload,
                Err(InflateError::TooBig) => return Inbound::Fail(TOO_BIG),
                Err(InflateError::Corrupt) => return Inbound::Fail(PROTOCOL_ERROR),
            }
        } else {
            message.payload
        };
        if !message.text {
            return Inbound::Binary(payload.freeze());
        }
        match String::from_utf8(payload.into()) {
            Ok(text) => Inbound::Text(text),
            Err(_) => Inbound::Fail(INVALID_UTF8),
        }
    }
}

/// Checks what arrived of an uncompressed text message; an incomplete
/// character at its end may still be completed by the next bytes.
fn check_utf8(message: &mut Partial) -> Result<(), ()> {
    match std::str::from_utf8(&message.payload[message.checked..]) {
        Ok(_) => {
            message.checked = message.payload.len();
            Ok(())
        }
        Err(e) if e.error_len().is_none() => {
            message.checked += e.valid_up_to();
            Ok(())
        }
        Err(_) => Err(()),
    }
}

/// A whole control frame's meaning.
fn control(op: u8, payload: Bytes) -> Inbound {
    match op {
        opcode::PING => Inbound::Ping(payload),
        opcode::PONG => Inbound::Pong,
        _ => match payload.len() {
            0 => Inbound::Close(None, String::new()),
            // RFC 6455 §5.5.1: a body starts with a two-byte code.
            1 => Inbound::Fail(PROTOCOL_ERROR),
            _ => {
                let code = u16::from_be_bytes([payload[0], payload[1]]);
                if !valid_close_code(code) {
                    Inbound::Fail(PROTOCOL_ERROR)
                } else if std::str::from_utf8(&payload[2..]).is_err() {
                    Inbound::Fail(INVALID_UTF8)
                } else {
                    Inbound::Close(Some(code), String::from_utf8_lossy(&payload[2..]).into_owned())
                }
            }
        },
    }
}

/// Applies (or removes) a mask to `data`, which starts `offset` bytes
/// into the frame's payload (RFC 6455 §5.3).
fn unmask(data: &mut [u8], mask: [u8; 4], offset: usize) {
    if mask == [0; 4] {
        return;
    }
    let mut mask = mask;
    mask.rotate_left(offset % 4);
    let mut chunks = data.chunks_exact_mut(4);
    let word = u32::from_ne_bytes(mask);
    for chunk in &mut chunks {
        let value = u32::from_ne_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]) ^ word;
        chunk.copy_from_slice(&value.to_ne_bytes());
    }
    for (byte, m) in chunks.into_remainder().iter_mut().zip(mask) {
        *byte ^= m;
    }
}

/// One unfragmented server frame (RFC 6455 §5.2; unmasked, §5.1), with RSV1 set
/// when `compressed` (RFC 7692 §6).
pub(crate) fn encode(op: u8, payload: &[u8], compressed: bool) -> Bytes {
    encode_frame(op, payload, compressed, None)
}

/// One unfragmented client frame: [`encode`]'s, masked with `mask`
/// (RFC 6455 §5.3: a fresh, unpredictable key for every frame).
pub(crate) fn encode_masked(op: u8, payload: &[u8], compressed: bool, mask: [u8; 4]) -> Bytes {
    encode_frame(op, payload, compressed, Some(mask))
}

fn encode_frame(op: u8, payload: &[u8], compressed: bool, mask: Option<[u8; 4]>) -> Bytes {
    let mut out = BytesMut::with_capacity(payload.len() + 14);
    out.put_u8(0x80 | if compressed { 0x40 } else { 0 } | op);
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n @ 0..=125 => out.put_u8(mask_bit | n as u8),
        n @ 126..=0xFFFF => {
            out.put_u8(mask_bit | 126);
            out.put_u16(n as u16);
        }
        n => {
            out.put_u8(mask_bit | 127);
            out.put_u64(n as u64);
        }
    }
    if let Some(mask) = mask {
        out.put_slice(&mask);
    }
    let start = out.len();
    out.put_slice(payload);
    if let Some(mask) = mask {
        unmask(&mut out[start..], mask, 0);
    }
    out.freeze()
}

/// A server's close frame with `code` and `reason`, the reason cut to
/// [`MAX_CLOSE_REASON`] bytes at a character boundary (RFC 6455 §5.5.1).
pub(crate) fn encode_close(code: u16, reason: &str) -> Bytes {
    encode_frame(opcode::CLOSE, &close_payload(code, reason), false, None)
}

/// A client's close frame: [`encode_close`]'s, masked with `mask`.
pub(crate) fn encode_close_masked(code: u16, reason: &str, mask: [u8; 4]) -> Bytes {
    encode_frame(opcode::CLOSE, &close_payload(code, reason), false, Some(mask))
}

fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut end = reason.len().min(MAX_CLOSE_REASON);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let mut payload = Vec::with_capacity(2 + end);
    payload.extend_from_slice(&code.to_be_bytes());
    payload.extend_from_slice(&reason.as_bytes()[..end]);
    payload
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A client frame: masked with a fixed key, `rsv` ORed into the first
    /// byte.
    pub(crate) fn frame(fin: bool, rsv: u8, op: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [0x37, 0xfa, 0x21, 0x3d];
        let mut out = vec![if fin { 0x80 } else { 0 } | rsv | op];
        match payload.len() {
            n @ 0..=125 => out.push(0x80 | n as u8),
            n @ 126..=0xFFFF => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(0x80 | 127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        out
    }

    fn decode_all(bytes: &[u8], max: usize) -> Vec<Inbound> {
        let mut d = Decoder::new(max, None);
        d.extend(bytes);
        std::iter::from_fn(|| d.next()).collect()
    }

    fn one(bytes: &[u8]) -> Inbound {
        let mut all = decode_all(bytes, 1000);
        assert_eq!(all.len(), 1, "{all:?}");
        all.remove(0)
    }

    /// RFC 6455 §5.7's examples: a single-frame masked text "Hello", and the same
    /// split in two fragments.
    #[test]
    fn rfc_examples() {
        let hello = [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];
        assert_eq!(one(&hello), Inbound::Text("Hello".into()));
        let mut split = frame(false, 0, opcode::TEXT, b"Hel");
        split.extend(frame(true, 0, opcode::CONTINUATION, b"lo"));
        assert_eq!(one(&split), Inbound::Text("Hello".into()));
        // The server's unmasked "Hello".
        assert_eq!(&encode(opcode::TEXT, b"Hello", false)[..], [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
        // 256 bytes and 64 KiB: the 16-bit and 64-bit length forms.
        assert_eq!(&encode(opcode::BINARY, &[0; 256], false)[..4], [0x82, 0x7E, 0x01, 0x00]);
        assert_eq!(&encode(opcode::BINARY, &[0; 65536], false)[..10], [0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0]);
    }

    /// However the bytes are split, the same messages come out, and a frame
    /// does not wait in the buffer once its bytes are there.
    #[test]
    fn any_split_reads_the_same() {
        let mut bytes = frame(false, 0, opcode::TEXT, "héllo ".as_bytes());
        bytes.extend(frame(true, 0, opcode::PING, b"p"));
        bytes.extend(frame(true, 0, opcode::CONTINUATION, "wörld €".as_bytes()));
        bytes.extend(frame(true, 0, opcode::BINARY, &[1, 2, 3]));
        let expected = vec![
            Inbound::Ping(Bytes::from_static(b"p")),
            Inbound::Text("héllo wörld €".into()),
            Inbound::Binary(Bytes::from_static(&[1, 2, 3])),
        ];
        for size in 1..bytes.len() {
            let mut d = Decoder::new(1000, None);
            let mut got = Vec::new();
            for chunk in bytes.chunks(size) {
                d.extend(chunk);
                got.extend(std::iter::from_fn(|| d.next()));
                assert!(d.buffered() < 14, "a data frame's payload moves into its message");
            }
            assert_eq!(got, expected, "chunks of {size}");
        }
    }

    /// RFC 6455 §5.2, §5.3, §5.4, §5.5: what fails with 1002.
    #[test]
    fn protocol_errors_are_1002() {
        let fail = Inbound::Fail(PROTOCOL_ERROR);
        // Reserved bits without an extension that defines them.
        for rsv in [0x40, 0x20, 0x10] {
            assert_eq!(one(&frame(true, rsv, opcode::TEXT, b"a")), fail, "rsv {rsv:#x}");
        }
        // Reserved opcodes.
        for op in [3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF] {
            assert_eq!(one(&frame(true, 0, op, b"")), fail, "opcode {op}");
        }
        // An unmasked client frame.
        assert_eq!(one(&[0x81, 0x01, b'a']), fail);
        // Fragmented or long control frames.
        assert_eq!(one(&frame(false, 0, opcode::PING, b"")), fail);
        assert_eq!(one(&frame(true, 0, opcode::PING, &[0; 126])), fail);
        // A continuation with no message, a new message inside one.
        assert_eq!(one(&frame(true, 0, opcode::CONTINUATION, b"a")), fail);
        let mut nested = frame(false, 0, opcode::TEXT, b"a");
        nested.extend(frame(true, 0, opcode::TEXT, b"b"));
        assert_eq!(one(&nested), fail);
        // A 64-bit length with its top bit set.
        let mut huge = vec![0x82, 0xFF];
        huge.extend_from_slice(&u64::MAX.to_be_bytes());
        huge.extend_from_slice(&[0; 4]);
        assert_eq!(one(&huge), fail);
    }

    /// RFC 6455 §5.5.1, §7.4: close frames.
    #[test]
    fn close_frames() {
        assert_eq!(one(&frame(true, 0, opcode::CLOSE, b"")), Inbound::Close(None, String::new()));
        assert_eq!(one(&frame(true, 0, opcode::CLOSE, b"\x03\xe8bye")), Inbound::Close(Some(1000), "bye".into()));
        assert_eq!(one(&frame(true, 0, opcode::CLOSE, b"\x03")), Inbound::Fail(PROTOCOL_ERROR), "one byte");
        for code in [0u16, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535] {
            let payload = code.to_be_bytes();
            assert_eq!(one(&frame(true, 0, opcode::CLOSE, &payload)), Inbound::Fail(PROTOCOL_ERROR), "{code}");
        }
        for code in [1000u16, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999] {
            let payload = code.to_be_bytes();
            assert_eq!(
                one(&frame(true, 0, opcode::CLOSE, &payload)),
                Inbound::Close(Some(code), String::new()),
                "{code}"
            );
        }
        assert_eq!(one(&frame(true, 0, opcode::CLOSE, b"\x03\xe8\xff")), Inbound::Fail(INVALID_UTF8));
        // Nothing is read after a close.
        let mut after = frame(true, 0, opcode::CLOSE, b"");
        after.extend(frame(true, 0, opcode::TEXT, b"late"));
        assert_eq!(decode_all(&after, 100), vec![Inbound::Close(None, String::new())]);
        // The server's close reason is cut at a character, within 123 bytes.
        let close = encode_close(1000, &"é".repeat(100));
        assert_eq!(close[1] as usize, 2 + 122);
        assert!(std::str::from_utf8(&close[4..]).is_ok());
    }

    /// RFC 6455 §8.1: invalid UTF-8 fails with 1007, as soon as the fragment that
    /// breaks it arrives; a character split between fragments is fine.
    #[test]
    fn text_must_be_utf8() {
        assert_eq!(
            one(&frame(true, 0, opcode::TEXT, b"\xce\xba\xe1\xbd\xb9\xcf\x83\xed\xa0\x80")),
            Inbound::Fail(INVALID_UTF8)
        );
        let euro = "€".as_bytes();
        let mut split = frame(false, 0, opcode::TEXT, &euro[..1]);
        split.extend(frame(false, 0, opcode::CONTINUATION, &euro[1..2]));
        split.extend(frame(true, 0, opcode::CONTINUATION, &euro[2..]));
        assert_eq!(one(&split), Inbound::Text("€".into()));
        // An unfinished character at the end is invalid.
        assert_eq!(one(&frame(true, 0, opcode::TEXT, &euro[..2])), Inbound::Fail(INVALID_UTF8));
        // Fail fast: the first fragment is enough.
        let mut d = Decoder::new(100, None);
        d.extend(&frame(false, 0, opcode::TEXT, b"ok\xff"));
        assert_eq!(d.next(), Some(Inbound::Fail(INVALID_UTF8)));
    }

    /// A message over the limit fails with 1009 when its frame's header
    /// says so, before its payload arrives; fragments count together.
    #[test]
    fn size_limit_is_1009() {
        let mut d = Decoder::new(10, None);
        let big = frame(true, 0, opcode::TEXT, &[b'a'; 11]);
        d.extend(&big[..8]);
        assert_eq!(d.next(), Some(Inbound::Fail(TOO_BIG)));
        let mut parts = frame(false, 0, opcode::TEXT, &[b'a'; 6]);
        parts.extend(frame(true, 0, opcode::CONTINUATION, &[b'a'; 5]));
        assert_eq!(decode_all(&parts, 10), vec![Inbound::Fail(TOO_BIG)]);
        assert_eq!(decode_all(&frame(true, 0, opcode::TEXT, &[b'a'; 10]), 10), vec![Inbound::Text("a".repeat(10))]);
        // A 64-bit length far over any limit.
        let mut huge = vec![0x81, 0xFF];
        huge.extend_from_slice(&(1u64 << 40).to_be_bytes());
        huge.extend_from_slice(&[0; 4]);
        assert_eq!(decode_all(&huge, 1 << 20), vec![Inbound::Fail(TOO_BIG)]);
    }

    #[test]
    fn masking_at_every_offset() {
        let mask = [1, 2, 3, 4];
        let data: Vec<u8> = (0..23).collect();
        for split in 0..data.len() {
            let mut masked = data.clone();
            unmask(&mut masked[..split], mask, 0);
            unmask(&mut masked[split..], mask, split);
            let expected: Vec<u8> = data.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]).collect();
            assert_eq!(masked, expected, "split at {split}");
        }
    }
}
