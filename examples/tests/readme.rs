//! The Rust code in the READMEs is the crates' compiled doc examples: every
//! ```` ```rust ```` block of the workspace README and of each crate's README
//! must be, line for line, the visible part of a doc example in the named
//! sources, which `cargo test` compiles. Editing one without the other
//! fails here.

use std::path::Path;

/// Each README, and the sources whose doc examples it may show.
const READMES: &[(&str, &[&str])] = &[
    (
        "README.md",
        &[
            "sockjs-actix/src/lib.rs",
            "sockjs-warp/src/lib.rs",
            "sockjs-tower/src/lib.rs",
            "sockjs-client/src/lib.rs",
            "sockjs-redis/src/lib.rs",
            "sockjs-nats/src/lib.rs",
            "sockjs-core/src/rooms.rs",
            "sockjs-core/src/multiplex.rs",
            "examples/src/metrics.rs",
            "examples/src/tls.rs",
        ],
    ),
    ("sockjs-core/README.md", &["sockjs-core/src/lib.rs"]),
    ("sockjs-actix/README.md", &["sockjs-actix/src/lib.rs"]),
    ("sockjs-warp/README.md", &["sockjs-warp/src/lib.rs"]),
    ("sockjs-tower/README.md", &["sockjs-tower/src/lib.rs"]),
    ("sockjs-client/README.md", &["sockjs-client/src/lib.rs"]),
    ("sockjs-redis/README.md", &["sockjs-redis/src/lib.rs"]),
    ("sockjs-nats/README.md", &["sockjs-nats/src/lib.rs"]),
];

fn read(path: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The code blocks of a markdown text whose info string starts with `rust`.
fn readme_blocks(text: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.starts_with("```rust") {
            let code: Vec<&str> = lines.by_ref().take_while(|l| !l.starts_with("```")).collect();
            blocks.push(code.join("\n"));
        }
    }
    blocks
}

/// The doc examples of a source file, without their hidden (`# `) lines.
fn doc_examples(source: &str) -> Vec<String> {
    let docs: Vec<&str> = source
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("//!"))
        .map(|l| l.strip_prefix(' ').unwrap_or(l))
        .collect();
    let mut examples = Vec::new();
    let mut lines = docs.into_iter();
    while let Some(line) = lines.next() {
        if line.starts_with("```") && !line.starts_with("```text") {
            let code: Vec<&str> = lines
                .by_ref()
                .take_while(|l| !l.starts_with("```"))
                .filter(|l| *l != "#" && !l.starts_with("# "))
                .collect();
            examples.push(code.join("\n"));
        }
    }
    examples
}

#[test]
fn readme_code_is_compiled_doc_examples() {
    let mut shown = 0;
    for (readme, sources) in READMES {
        let examples: Vec<String> = sources.iter().flat_map(|s| doc_examples(&read(s))).collect();
        let blocks = readme_blocks(&read(readme));
        assert!(!blocks.is_empty(), "{readme} shows no quick start");
        for block in blocks {
            assert!(
                examples.iter().any(|e| e.trim_end() == block.trim_end()),
                "a block of {readme} is no doc example of {sources:?}:\n{block}"
            );
            shown += 1;
        }
    }
    // The workspace README: actix, warp, axum, bare hyper, the client,
    // Redis, rooms, metrics, TLS; one quick start per crate README.
    assert!(shown >= 9 + READMES.len() - 1, "{shown} blocks");
}
