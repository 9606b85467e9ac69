//! The README's axum and bare-hyper quick starts are the crate docs'
//! examples, which compile as doctests: this pins that they stay the same
//! text, so that the README shows code that compiles.

#[test]
fn readme_quick_starts_are_the_compiled_doc_examples() {
    let readme = include_str!("../../README.md");
    let docs: String = include_str!("../src/lib.rs")
        .lines()
        .filter_map(|line| line.strip_prefix("//!"))
        .map(|line| line.strip_prefix(' ').unwrap_or(line))
        .collect::<Vec<_>>()
        .join("\n");
    let mut found = 0;
    for block in readme.split("```rust\n").skip(1) {
        let code = &block[..block.find("```").expect("a closed code block")];
        // The TLS example is examples/src/tls.rs's (examples/tests/readme.rs).
        if code.contains("sockjs_tower") && !code.contains("tokio_rustls") {
            found += 1;
            assert!(docs.contains(code.trim_end()), "README block not among the crate docs' examples:\n{code}");
        }
    }
    assert_eq!(found, 2, "the README shows the axum and the bare hyper quick starts");
}
