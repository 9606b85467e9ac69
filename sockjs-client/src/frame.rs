//! The client side of SockJS framing (PROTOCOL.md §5): frames, and the
//! delimiters each transport wraps them in (§7.4, §7.6, §7.7, §7.10).
//!
//! Everything here is pure: bytes in, frames out, each buffer bounded by
//! the caller's maximum frame size. Partial input is kept for the next
//! chunk, never an error.

use crate::Error;

/// One SockJS frame, as a server sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// `o`: the session is open.
    Open,
    /// `h`: a heartbeat.
    Heartbeat,
    /// The xhr-streaming prelude, a line of 2048 `h` (§7.6): not a frame,
    /// but sockjs-client reads it as one heartbeat; it is taken silently.
    Prelude,
    /// `a[...]`: messages, in order.
    Messages(Vec<String>),
    /// `c[code,"reason"]`: the server closed the session.
    Close(u16, String),
}

impl Frame {
    /// Parses one frame, without its transport's delimiter.
    pub fn parse(text: &str) -> Result<Frame, Error> {
        let bad = |why: &str| Error::Protocol(format!("{why}: {}", preview(text)));
        match text.as_bytes().first() {
            Some(b'o') if text.len() == 1 => Ok(Frame::Open),
            Some(b'h') if text.len() == 1 => Ok(Frame::Heartbeat),
            Some(b'h') if text.bytes().all(|b| b == b'h') => Ok(Frame::Prelude),
            Some(b'a') => {
                let values: Vec<serde_json::Value> =
                    serde_json::from_str(&text[1..]).map_err(|_| bad("an a frame that is not a JSON array"))?;
                // Servers send strings (§8); anything else arrives as its
                // JSON text, as sockjs-client's String conversion would not
                // (it would hand the value itself to a JavaScript caller).
                Ok(Frame::Messages(
                    values
                        .into_iter()
                        .map(|v| match v {
                            serde_json::Value::String(s) => s,
                            other => other.to_string(),
                        })
                        .collect(),
                ))
            }
            Some(b'c') => match serde_json::from_str::<(u16, String)>(&text[1..]) {
                Ok((code, reason)) => Ok(Frame::Close(code, reason)),
                Err(_) => Err(bad("a c frame that is not [code, \"reason\"]")),
            },
            _ => Err(bad("not a SockJS frame")),
        }
    }
}

/// The start of `text`, for error messages.
fn preview(text: &str) -> String {
    let end = text.char_indices().nth(60).map_or(text.len(), |(i, _)| i);
    format!("{:?}{}", &text[..end], if end < text.len() { "…" } else { "" })
}

/// The body the client sends: one JSON array of messages (§5).
pub fn encode_messages<S: AsRef<str>>(messages: &[S]) -> String {
    let strings: Vec<&str> = messages.iter().map(AsRef::as_ref).collect();
    // Serializing a list of strings cannot fail.
    serde_json::to_string(&strings).unwrap_or_else(|_| "[]".to_owned())
}

/// Splits newline-delimited frames (xhr-polling and xhr-streaming bodies,
/// §7.4, §7.6) out of a byte stream, one chunk at a time.
#[derive(Debug)]
pub struct LineSplitter {
    buffer: Vec<u8>,
    max: usize,
}

impl LineSplitter {
    /// A splitter that refuses lines longer than `max` bytes.
    pub fn new(max: usize) -> LineSplitter {
        LineSplitter { buffer: Vec::new(), max }
    }

    /// Adds `chunk` and returns the frames it completed. Empty lines are
    /// skipped, as sockjs-client does.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<Frame>, Error> {
        let mut frames = Vec::new();
        let mut rest = chunk;
        while let Some(end) = rest.iter().position(|&b| b == b'\n') {
            self.extend(&rest[..end])?;
            let line = std::mem::take(&mut self.buffer);
            if !line.is_empty() {
                frames.push(Frame::parse(utf8(&line)?)?);
            }
            rest = &rest[end + 1..];
        }
        self.extend(rest)?;
        Ok(frames)
    }

    /// Whether an incomplete line is waiting for the rest of it.
    pub fn has_partial(&self) -> bool {
        !self.buffer.is_empty()
    }

    fn extend(&mut self, bytes: &[u8]) -> Result<(), Error> {
        if self.buffer.len() + bytes.len() > self.max {
            return Err(Error::FrameTooLarge { limit: self.max });
        }
        self.buffer.extend_from_slice(bytes);
        Ok(())
    }
}

fn utf8(bytes: &[u8]) -> Result<&str, Error> {
    std::str::from_utf8(bytes).map_err(|_| Error::Protocol("a frame that is not UTF-8".into()))
}

/// Reads SockJS frames out of an EventSource stream (§7.7): events
/// separated by a blank line, the frame in its `data:` lines, `%`, CR, LF
/// and NUL percent-encoded by the server (sockjs-client runs `decodeURI`
/// on every event). Lines may end in CRLF or LF; comments and other
/// fields are ignored.
#[derive(Debug)]
pub struct EventStreamParser {
    line: LineSplitterBytes,
    data: Option<String>,
    max: usize,
}

/// A line buffer for [`EventStreamParser`] (raw lines, not frames).
#[derive(Debug)]
struct LineSplitterBytes {
    buffer: Vec<u8>,
}

impl EventStreamParser {
    /// A parser that refuses events longer than `max` bytes.
    pub fn new(max: usize) -> EventStreamParser {
        EventStreamParser { line: LineSplitterBytes { buffer: Vec::new() }, data: None, max }
    }

    /// Adds `chunk` and returns the frames of the events it completed.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<Frame>, Error> {
        let mut frames = Vec::new();
        let mut rest = chunk;
        while let Some(end) = rest.iter().position(|&b| b == b'\n') {
            self.extend(&rest[..end])?;
            let mut line = std::mem::take(&mut self.line.buffer);
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            if line.is_empty() {
                if let Some(data) = self.data.take() {
                    frames.push(Frame::parse(&percent_decode(&data)?)?);
                }
            } else if let Some(value) = line.strip_prefix(b"data:") {
                let value = utf8(value.strip_prefix(b" ").unwrap_or(value))?;
                let data = self.data.get_or_insert_with(String::new);
                if !data.is_empty() {
                    data.push('\n');
                }
                data.push_str(value);
                if data.len() > self.max {
                    return Err(Error::FrameTooLarge { limit: self.max });
                }
            }
            rest = &rest[end + 1..];
        }
        self.extend(rest)?;
        Ok(frames)
    }

    /// Whether an incomplete event is waiting for the rest of it.
    pub fn has_partial(&self) -> bool {
        !self.line.buffer.is_empty() || self.data.is_some()
    }

    fn extend(&mut self, bytes: &[u8]) -> Result<(), Error> {
        if self.line.buffer.len() + bytes.len() > self.max {
            return Err(Error::FrameTooLarge { limit: self.max });
        }
        self.line.buffer.extend_from_slice(bytes);
        Ok(())
    }
}

/// Decodes `%XX` escapes (what `decodeURI` undoes for an EventSource
/// frame); a `%` not followed by two hex digits stays as it is.
pub fn percent_decode(text: &str) -> Result<String, Error> {
    if !text.contains('%') {
        return Ok(text.to_owned());
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(high), Some(low)) => {
                out.push((high * 16 + low) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| Error::Protocol("an eventsource frame whose escapes are not UTF-8".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Table-driven: frame text -> parsed frame (PROTOCOL.md §5).
    macro_rules! frames {
        ($($text:expr => $frame:expr),* $(,)?) => {
            $( assert_eq!(Frame::parse($text).unwrap(), $frame, "parsing {:?}", $text); )*
        };
    }

    fn strings(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_every_frame_kind() {
        // §5: o, h, a[...], c[code,"reason"]; §7.6 the prelude.
        frames! {
            "o" => Frame::Open,
            "h" => Frame::Heartbeat,
            &"h".repeat(2048) => Frame::Prelude,
            "a[\"a\"]" => Frame::Messages(strings(&["a"])),
            "a[\"a\",\"b\",\"\"]" => Frame::Messages(strings(&["a", "b", ""])),
            "a[]" => Frame::Messages(vec![]),
            "c[3000,\"Go away!\"]" => Frame::Close(3000, "Go away!".into()),
            "c[2010,\"Another connection still open\"]" => Frame::Close(2010, "Another connection still open".into()),
            "c[1002, \"Connection interrupted\"]" => Frame::Close(1002, "Connection interrupted".into()),
        }
    }

    #[test]
    fn decodes_the_escapes_servers_send() {
        // §8: the server escapes U+200C-U+200F, U+2028-U+202F, U+2060-U+206F
        // and U+FFF0-U+FFFF with lowercase \uXXXX; astral characters come
        // raw or as surrogate pairs.
        let frame = r#"a["\u200c\u2028\u2060\ufff0\uffff","\ud83d\ude00","😀","\u0000\n"]"#;
        assert_eq!(
            Frame::parse(frame).unwrap(),
            Frame::Messages(strings(&["\u{200c}\u{2028}\u{2060}\u{fff0}\u{ffff}", "😀", "😀", "\0\n"]))
        );
    }

    #[test]
    fn non_string_messages_arrive_as_json_text() {
        frames! { "a[1,{\"x\":null}]" => Frame::Messages(strings(&["1", "{\"x\":null}"])) }
    }

    #[test]
    fn rejects_what_is_not_a_frame() {
        for text in ["", "x", "oo", "hx", "a", "a[\"x", "a{}", "c[]", "c[3000]", "c[\"a\",\"b\"]", "c[70000,\"x\"]"] {
            assert!(matches!(Frame::parse(text), Err(Error::Protocol(_))), "{text:?} must be refused");
        }
    }

    #[test]
    fn encodes_a_json_array() {
        assert_eq!(encode_messages(&["a", "\"b\"", "\u{1f600}"]), "[\"a\",\"\\\"b\\\"\",\"\u{1f600}\"]");
        assert_eq!(encode_messages::<&str>(&[]), "[]");
    }

    #[test]
    fn lines_split_across_chunks() {
        // §7.6: the prelude, then o, then frames; chunk boundaries are not
        // frame boundaries once a proxy re-chunks.
        let mut s = LineSplitter::new(4096);
        let mut stream = "h".repeat(2048);
        stream.push_str("\no\na[\"x\"]\n\nh\nc[3000,\"Go away!\"]\n");
        let mut frames = Vec::new();
        for chunk in stream.as_bytes().chunks(7) {
            frames.extend(s.push(chunk).unwrap());
        }
        assert_eq!(
            frames,
            [
                Frame::Prelude,
                Frame::Open,
                Frame::Messages(strings(&["x"])),
                Frame::Heartbeat,
                Frame::Close(3000, "Go away!".into())
            ]
        );
        assert!(!s.has_partial());
        assert!(s.push(b"a[\"y").unwrap().is_empty());
        assert!(s.has_partial(), "an unfinished line is kept");
    }

    #[test]
    fn a_line_longer_than_the_limit_is_refused() {
        let mut s = LineSplitter::new(8);
        assert!(s.push(b"a[\"123").unwrap().is_empty());
        assert!(matches!(s.push(b"45\"]\n"), Err(Error::FrameTooLarge { limit: 8 })));
        let mut s = LineSplitter::new(8);
        assert_eq!(s.push(b"a[\"1234\"]\n").unwrap_err().to_string(), Error::FrameTooLarge { limit: 8 }.to_string());
    }

    #[test]
    fn eventsource_events_with_crlf_and_percent_escapes() {
        // §7.7: "\r\n" prelude, then "data: F\r\n\r\n"; % arrives as %25.
        let mut p = EventStreamParser::new(4096);
        let stream = "\r\ndata: o\r\n\r\ndata: a[\"100%25\",\"%2561bc\"]\r\n\r\n: comment\r\n\r\ndata: h\n\n";
        let mut frames = Vec::new();
        for chunk in stream.as_bytes().chunks(3) {
            frames.extend(p.push(chunk).unwrap());
        }
        assert_eq!(frames, [Frame::Open, Frame::Messages(strings(&["100%", "%61bc"])), Frame::Heartbeat]);
        assert!(!p.has_partial());
    }

    #[test]
    fn eventsource_keeps_json_escapes_and_decodes_raw_control_escapes() {
        // §7.7: NUL, LF, CR inside messages stay JSON escapes.
        let mut p = EventStreamParser::new(4096);
        let frames = p.push(b"data: a[\"  \\u0000\\n\\r \"]\r\n\r\n").unwrap();
        assert_eq!(frames, [Frame::Messages(strings(&["  \0\n\r "]))]);
        assert_eq!(percent_decode("a%0Ab%0dc%00").unwrap(), "a\nb\rc\0");
        assert_eq!(percent_decode("50% off %zz").unwrap(), "50% off %zz");
    }

    #[test]
    fn an_event_longer_than_the_limit_is_refused() {
        let mut p = EventStreamParser::new(16);
        assert!(matches!(p.push(b"data: a[\"0123456789abcdef\"]"), Err(Error::FrameTooLarge { limit: 16 })));
    }
}
