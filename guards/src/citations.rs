//! Citations of the project's documents, `docs/PROTOCOL.md` and
//! `docs/DESIGN.md`, and whether each cited section exists.
//!
//! The convention: a citation names the document and a section by its
//! number, `PROTOCOL.md §7.4` or `DESIGN.md §1.4` (the short names; each
//! crate's documentation says once where the files are). A `§` alone
//! cites the document named last before it in the same file: in a
//! passage on RFC 6455, `§5.5` is the RFC's and is not checked; after
//! `PROTOCOL.md`, or in a file that names no document before it, `§7.4`
//! is the protocol's (in docs/DESIGN.md, that page's own). So a file that
//! cites an RFC and then the protocol names PROTOCOL.md again.
//! `PROTOCOL.md section 1` is read as `§1`; ranges cite both ends
//! (`§7.4-§7.6`).

use std::collections::BTreeSet;
use std::fmt;

/// A document that citations may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Doc {
    /// docs/PROTOCOL.md.
    Protocol,
    /// docs/DESIGN.md.
    Design,
    /// A document outside the repository (an RFC): its sections are not
    /// checked.
    Other,
}

impl Doc {
    /// Its name as citations write it.
    pub fn name(self) -> &'static str {
        match self {
            Doc::Protocol => "PROTOCOL.md",
            Doc::Design => "DESIGN.md",
            Doc::Other => "another document",
        }
    }
}

/// One citation found in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Citation {
    /// The document cited.
    pub doc: Doc,
    /// The section number (`7.10`); `None` when the document alone is
    /// named.
    pub section: Option<String>,
    /// The line, from 1.
    pub line: usize,
}

impl fmt::Display for Citation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.section {
            Some(s) => write!(f, "{} §{s}", self.doc.name()),
            None => f.write_str(self.doc.name()),
        }
    }
}

/// The section numbers of a Markdown document's headings: `## 7.
/// Transports` is `7`, `### 7.10 SockJS WebSocket` is `7.10`. Headings in
/// fenced code blocks are not headings.
pub fn headings(markdown: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut in_code = false;
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        let hashes = line.len() - line.trim_start_matches('#').len();
        if in_code || hashes == 0 || !line[hashes..].starts_with(' ') {
            continue;
        }
        let (number, len) = section_number(line[hashes..].trim_start());
        let rest = &line[hashes..].trim_start()[len..];
        if !number.is_empty() && (rest.starts_with(". ") || rest.starts_with(' ') || rest.is_empty()) {
            found.insert(number);
        }
    }
    found
}

/// The section number at the start of `text` (`7.10` of `7.10 xhr`, `7`
/// of `7. Transports`; a full stop not followed by a digit ends it), and
/// how many bytes it takes.
fn section_number(text: &str) -> (String, usize) {
    let bytes = text.as_bytes();
    let mut end = 0;
    loop {
        let start = end;
        while end < bytes.len() && bytes[end].is_ascii_digit() {
            end += 1;
        }
        // A dot is taken only when a digit follows it, so a number is
        // either empty or ends in a digit.
        if end > start && end + 1 < bytes.len() && bytes[end] == b'.' && bytes[end + 1].is_ascii_digit() {
            end += 1;
        } else {
            break;
        }
    }
    (text[..end].to_owned(), end)
}

/// What a line holds, in order: document names and sections.
#[derive(Debug, PartialEq, Eq)]
enum Token {
    /// A document's name.
    Name(Doc),
    /// `§N`, or `section N` right after a name.
    Section(String),
}

fn tokens(line: &str) -> Vec<Token> {
    let mut found = Vec::new();
    let mut i = 0;
    while i < line.len() {
        let rest = &line[i..];
        let named = [("PROTOCOL.md", Doc::Protocol), ("DESIGN.md", Doc::Design)]
            .into_iter()
            .find(|(name, _)| rest.starts_with(name) && !preceded_by_word(line, i));
        if let Some((name, doc)) = named {
            let end = i + name.len();
            found.push(Token::Name(doc));
            i = end;
            // `PROTOCOL.md section 1`, `PROTOCOL.md` sections 3-9.
            let tail = line[end..].trim_start_matches(['`', ' ']);
            let offset = line.len() - tail.len();
            for word in ["sections ", "section "] {
                if let Some(number) = tail.strip_prefix(word) {
                    let (n, len) = section_number(number);
                    if !n.is_empty() {
                        found.push(Token::Section(n));
                        i = offset + word.len() + len;
                    }
                    break;
                }
            }
            continue;
        }
        if rest.starts_with("RFC") && !preceded_by_word(line, i) {
            let digits = rest[3..].trim_start_matches(' ');
            let n = digits.len() - digits.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            if n > 0 {
                found.push(Token::Name(Doc::Other));
                i = line.len() - digits.len() + n;
                continue;
            }
        }
        if let Some(number) = rest.strip_prefix('§') {
            let number = number.strip_prefix(' ').unwrap_or(number);
            let (n, _) = section_number(number);
            if !n.is_empty() {
                found.push(Token::Section(n));
            }
        }
        i += rest.chars().next().map_or(1, char::len_utf8);
    }
    found
}

fn preceded_by_word(line: &str, i: usize) -> bool {
    line[..i].chars().next_back().is_some_and(|c| c.is_alphanumeric() || c == '_')
}

/// Every citation in `text`, a file whose `§` before any document's
/// name cites `default`.
pub fn citations(text: &str, default: Doc) -> Vec<Citation> {
    let mut found = Vec::new();
    let mut current = default;
    for (index, line) in text.lines().enumerate() {
        for token in tokens(line) {
            match token {
                Token::Name(doc) => {
                    current = doc;
                    if doc != Doc::Other {
                        found.push(Citation { doc, section: None, line: index + 1 });
                    }
                }
                Token::Section(section) if current != Doc::Other => {
                    found.push(Citation { doc: current, section: Some(section), line: index + 1 });
                }
                Token::Section(_) => {}
            }
        }
    }
    found
}

/// The sections of docs/PROTOCOL.md and docs/DESIGN.md.
#[derive(Debug, Clone, Default)]
pub struct Sections {
    /// docs/PROTOCOL.md's section numbers.
    pub protocol: BTreeSet<String>,
    /// docs/DESIGN.md's section numbers.
    pub design: BTreeSet<String>,
}

impl Sections {
    /// Whether `citation` names something that exists.
    pub fn resolves(&self, citation: &Citation) -> bool {
        let sections = match citation.doc {
            Doc::Protocol => &self.protocol,
            Doc::Design => &self.design,
            Doc::Other => return true,
        };
        // A document alone resolves once it has sections at all.
        !sections.is_empty() && citation.section.as_ref().is_none_or(|s| sections.contains(s))
    }

    /// The citations of `text` (from the file `file`, whose bare `§` cite
    /// `default`) that do not resolve, each as `file:line: why`.
    pub fn unresolved(&self, file: &str, text: &str, default: Doc) -> Vec<String> {
        citations(text, default)
            .into_iter()
            .filter(|c| !self.resolves(c))
            .map(|c| match c.section {
                Some(_) => format!("{file}:{}: {c} is not a heading of docs/{}", c.line, c.doc.name()),
                None => format!("{file}:{}: cites docs/{}, which has no sections", c.line, c.doc.name()),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `§` and a number, built so that this file cites nothing itself.
    fn s(number: &str) -> String {
        format!("{}{number}", '§')
    }

    fn sections() -> Sections {
        Sections {
            protocol: headings(
                "# Title\n## 1. One\n## 7. Transports\n### 7.4 xhr\n### 7.10 ws\n```\n## 9. code\n```\n",
            ),
            design: headings("## 1. The shape\n### 1.4 Bounds\n"),
        }
    }

    fn found(text: &str) -> Vec<String> {
        citations(text, Doc::Protocol).iter().map(ToString::to_string).collect()
    }

    #[test]
    fn headings_are_numbered_sections_outside_code() {
        let h = sections();
        assert_eq!(h.protocol, BTreeSet::from(["1", "7", "7.4", "7.10"].map(String::from)));
        assert_eq!(h.design, BTreeSet::from(["1", "1.4"].map(String::from)));
    }

    #[test]
    fn citations_name_a_document_and_sections() {
        let text = format!(
            "/// PROTOCOL.md {}, {} and {}-{}\n// DESIGN.md {} (bounds)\n`PROTOCOL.md` section 7.",
            s("7.4"),
            s("7.10"),
            s("1"),
            s("7"),
            s("1.4")
        );
        let p = Doc::Protocol.name();
        let d = Doc::Design.name();
        assert_eq!(
            found(&text),
            [
                p.to_owned(),
                format!("{p} {}", s("7.4")),
                format!("{p} {}", s("7.10")),
                format!("{p} {}", s("1")),
                format!("{p} {}", s("7")),
                d.to_owned(),
                format!("{d} {}", s("1.4")),
                p.to_owned(),
                format!("{p} {}", s("7")),
            ]
        );
    }

    #[test]
    fn a_bare_section_cites_the_document_named_last() {
        let text = format!(
            "check(\"{} xhr\");\n// RFC 6455 {}, then {}\n\n/// later, still the RFC's: {}\n// PROTOCOL.md: {} again",
            s("7.4"),
            s("5.5.1"),
            s("7.1.1"),
            s("4.2.2"),
            s("7.10")
        );
        let p = Doc::Protocol.name();
        assert_eq!(found(&text), [format!("{p} {}", s("7.4")), p.to_owned(), format!("{p} {}", s("7.10"))]);
        let design = citations(&format!("see {}", s("1.4")), Doc::Design);
        assert_eq!(design, [Citation { doc: Doc::Design, section: Some("1.4".into()), line: 1 }]);
    }

    #[test]
    fn a_made_up_section_fails() {
        let h = sections();
        let text = format!(
            "ok: PROTOCOL.md {}\nbad: PROTOCOL.md {}\n{} bare and bad\nDESIGN.md {} bad\nRFC 6455 {} fine",
            s("7.10"),
            s("7.12"),
            s("12"),
            s("2"),
            s("9.9")
        );
        let problems = h.unresolved("x.rs", &text, Doc::Protocol);
        assert_eq!(
            problems,
            [
                format!("x.rs:2: PROTOCOL.md {} is not a heading of docs/PROTOCOL.md", s("7.12")),
                format!("x.rs:3: PROTOCOL.md {} is not a heading of docs/PROTOCOL.md", s("12")),
                format!("x.rs:4: DESIGN.md {} is not a heading of docs/DESIGN.md", s("2")),
            ]
        );
        // A heading inside a code block is no section.
        assert_eq!(h.unresolved("y.md", &s("9"), Doc::Protocol).len(), 1);
    }

    #[test]
    fn a_document_without_sections_does_not_resolve() {
        let none = Sections::default();
        assert_eq!(
            none.unresolved("z.rs", "see PROTOCOL.md", Doc::Protocol),
            ["z.rs:1: cites docs/PROTOCOL.md, which has no sections"]
        );
    }

    #[test]
    fn names_inside_words_and_numbers_after_the_section_sign_only() {
        assert!(found("XPROTOCOL.md, MY_DESIGN.md, RFCs, § alone, §x").is_empty());
    }
}
