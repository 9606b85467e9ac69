//! The README's TLS example is the doc example of `src/tls.rs`, which
//! compiles as a doctest: this pins that they stay the same text.

/// The `//!` (or `///`) doc lines of `source`, without the marker.
fn docs(source: &str, marker: &str) -> String {
    source
        .lines()
        .filter_map(|line| line.trim_start().strip_prefix(marker))
        .map(|line| line.strip_prefix(' ').unwrap_or(line))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The README's ```rust blocks.
fn readme_blocks() -> Vec<&'static str> {
    include_str!("../../README.md")
        .split("```rust\n")
        .skip(1)
        .map(|block| block[..block.find("```").expect("a closed code block")].trim_end())
        .collect()
}

#[test]
fn readme_tls_example_is_the_compiled_doc_example() {
    let docs = docs(include_str!("../src/tls.rs"), "//!");
    let tls: Vec<&str> = readme_blocks().into_iter().filter(|code| code.contains("TlsAcceptor")).collect();
    assert_eq!(tls.len(), 1, "the README shows one TLS server example");
    assert!(docs.contains(tls[0]), "README block not the doc example of examples/src/tls.rs:\n{}", tls[0]);
}
