//! Checks of the repository itself, run by `cargo test --workspace`:
//!
//! * [`layers`]: every crate's modules form layers. The module graph is
//!   built from the code's `use` declarations and paths (re-exports
//!   followed to the module that defines an item; comments, doc comments
//!   and test-only code left out), and a cycle fails with its modules and
//!   the lines that make it.
//! * [`citations`]: every section of `PROTOCOL.md` or `DESIGN.md` that a
//!   source file or a document cites exists as a heading in `docs/`.
//!
//! `tests/workspace.rs` runs both over the whole workspace; the modules'
//! own tests run them on small made-up inputs, failing ones included.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod citations;
pub mod layers;
pub mod tree;
pub mod workspace;
