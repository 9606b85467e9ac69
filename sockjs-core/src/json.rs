//! JSON string encoding with the SockJS escape set (PROTOCOL.md §8).
//!
//! `serde_json` writes most non-ASCII characters raw. Browsers and proxies
//! mangle some of them (zero-width joiners, line and paragraph separators,
//! specials), so SockJS servers escape these ranges as `\uXXXX` with lower
//! case hex digits:
//!
//! `U+0000–U+001F`, `U+200C–U+200F`, `U+2028–U+202F`, `U+2060–U+206F`,
//! `U+FFF0–U+FFFF` (lone surrogates, also in the set, cannot occur in a Rust
//! `str`).
//!
//! The encoder works on bytes: ASCII runs and ordinary multi-byte characters
//! are copied in bulk, and only the few lead bytes that can start an escaped
//! character are inspected.

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Which extra characters to escape on top of the SockJS set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Extra {
    /// Nothing beyond the SockJS set.
    None,
    /// Also `<` and `>`, for strings embedded in an HTML `<script>` element,
    /// so that a message can never contain `</script>` or `<!--`.
    Html,
}

/// Bytes that may need escaping: control characters, `"`, `\\`, and the
/// lead bytes of the three-byte sequences holding the escaped ranges
/// (0xE2 for U+2000..U+2FFF, 0xEF for U+F000..U+FFFF). `HTML_SPECIAL` adds
/// `<` and `>`.
const SPECIAL: [bool; 256] = special(false);
const HTML_SPECIAL: [bool; 256] = special(true);

const fn special(html: bool) -> [bool; 256] {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = true;
        b += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table[0xE2] = true;
    table[0xEF] = true;
    if html {
        table[b'<' as usize] = true;
        table[b'>' as usize] = true;
    }
    table
}

/// Appends `s` to `out` as a JSON string literal, quotes included.
pub(crate) fn quote_into(out: &mut Vec<u8>, s: &str, extra: Extra) {
    let bytes = s.as_bytes();
    let table = if extra == Extra::Html { &HTML_SPECIAL } else { &SPECIAL };
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut copied = 0;
    let mut i = 0;
    loop {
        // Skip plain bytes: one table load each.
        while i < bytes.len() && !table[bytes[i] as usize] {
            i += 1;
        }
        let Some(&b) = bytes.get(i) else { break };
        let (escape, width): (Escape, usize) = match b {
            b'"' => (Escape::Short(b'"'), 1),
            b'\\' => (Escape::Short(b'\\'), 1),
            b'\n' => (Escape::Short(b'n'), 1),
            b'\r' => (Escape::Short(b'r'), 1),
            b'\t' => (Escape::Short(b't'), 1),
            0x08 => (Escape::Short(b'b'), 1),
            0x0c => (Escape::Short(b'f'), 1),
            0x00..=0x1f | b'<' | b'>' => (Escape::Unicode(u32::from(b)), 1),
            // 0xE2 or 0xEF: `s` is valid UTF-8, so both continuation bytes
            // exist.
            _ => {
                let cp = (u32::from(b & 0x0F) << 12)
                    | (u32::from(bytes[i + 1] & 0x3F) << 6)
                    | u32::from(bytes[i + 2] & 0x3F);
                if !in_escape_set(cp) {
                    i += 3;
                    continue;
                }
                (Escape::Unicode(cp), 3)
            }
        };
        out.extend_from_slice(&bytes[copied..i]);
        match escape {
            Escape::Short(c) => out.extend_from_slice(&[b'\\', c]),
            Escape::Unicode(cp) => out.extend_from_slice(&[
                b'\\',
                b'u',
                HEX[(cp >> 12) as usize & 0xF],
                HEX[(cp >> 8) as usize & 0xF],
                HEX[(cp >> 4) as usize & 0xF],
                HEX[cp as usize & 0xF],
            ]),
        }
        i += width;
        copied = i;
    }
    out.extend_from_slice(&bytes[copied..]);
    out.push(b'"');
}

/// Returns `s` as a JSON string literal with SockJS escaping.
#[cfg(test)]
pub(crate) fn quote(s: &str) -> String {
    let mut out = Vec::new();
    quote_into(&mut out, s, Extra::None);
    String::from_utf8(out).expect("quoting keeps UTF-8 valid")
}

enum Escape {
    Short(u8),
    Unicode(u32),
}

/// Whether a code point of the U+2000..U+FFFF range is in the SockJS
/// escape set.
fn in_escape_set(cp: u32) -> bool {
    matches!(cp, 0x200C..=0x200F | 0x2028..=0x202F | 0x2060..=0x206F | 0xFFF0..=0xFFFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escape_set() -> impl Iterator<Item = char> {
        (0x200Cu32..=0x200F)
            .chain(0x2028..=0x202F)
            .chain(0x2060..=0x206F)
            .chain(0xFFF0..=0xFFFF)
            .map(|c| char::from_u32(c).unwrap())
    }

    /// §8 Server encoding: the 44 characters are escaped as lowercase
    /// `\uXXXX` and nothing else changes.
    #[test]
    fn escapes_the_44_characters_lowercase() {
        let input: String = escape_set().collect();
        assert_eq!(input.chars().count(), 44);
        let expected: String = std::iter::once("\"".to_string())
            .chain(escape_set().map(|c| format!("\\u{:04x}", c as u32)))
            .chain(std::iter::once("\"".to_string()))
            .collect();
        assert_eq!(quote(&input), expected);
        assert!(quote(&input).contains("\\u200c\\u200d"));
        assert!(quote(&input).ends_with("\\uffff\""));
    }

    /// §8: characters just outside the set stay raw.
    #[test]
    fn neighbours_of_the_set_stay_raw() {
        for c in ['\u{200B}', '\u{2010}', '\u{2027}', '\u{2030}', '\u{205F}', '\u{2070}', '\u{FFEF}', 'é', '☃', '😀']
        {
            assert_eq!(quote(&c.to_string()), format!("\"{c}\""), "U+{:04X}", c as u32);
        }
    }

    /// §8: control characters are escaped as JSON.stringify does.
    #[test]
    fn control_characters_as_json_stringify() {
        assert_eq!(quote("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(quote("\n\r\t\u{8}\u{c}"), r#""\n\r\t\b\f""#);
        assert_eq!(quote("\u{0}\u{1}\u{1f}\u{7f}"), "\"\\u0000\\u0001\\u001f\u{7f}\"");
        assert_eq!(quote("</script>"), "\"</script>\"");
    }

    #[test]
    fn html_extra_escapes_angle_brackets() {
        let mut out = Vec::new();
        quote_into(&mut out, "</script><!--", Extra::Html);
        assert_eq!(out, b"\"\\u003c/script\\u003e\\u003c!--\"");
    }

    #[test]
    fn output_is_valid_json_for_every_bmp_char() {
        let all: String = (0u32..=0xFFFF).filter_map(char::from_u32).collect();
        let quoted = quote(&all);
        let back: String = serde_json::from_str(&quoted).unwrap();
        assert_eq!(back, all);
    }
}
