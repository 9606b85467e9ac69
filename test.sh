#!/usr/bin/env bash
# Runs every test of the workspace: unit and property tests, doctests, and
# the conformance suite against our servers started on loopback.
set -euo pipefail
cd "$(dirname "$0")"
cargo test --workspace "$@"
