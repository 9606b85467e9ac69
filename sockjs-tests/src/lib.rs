//! Tests and tools for sockjs-rs that talk to a running server over the
//! network.
//!
//! * [`conformance`]: the PROTOCOL.md conformance suite, runnable against any
//!   base URL (`cargo run -p sockjs-tests --bin sockjs-conformance -- URL`).
//! * [`bench`](mod@bench): the load generator behind `sockjs-bench` (BENCHMARKS.md).
//! * [`churn`]: session churn for the leak and soak tests.
//! * [`http1`]: the small raw HTTP/1.x client the suite uses wherever the
//!   wire matters (chunk boundaries, framing headers, socket closure).
//!
//! Citations such as `PROTOCOL.md §7.4` (or `§7.4` alone) in this crate's
//! documentation and sources name sections of `docs/PROTOCOL.md` in the
//! sockjs-rs repository; `DESIGN.md §1.4` names a section of
//! `docs/DESIGN.md`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod bench;
pub mod churn;
pub mod conformance;
pub mod http1;
