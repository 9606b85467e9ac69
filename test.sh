#!/usr/bin/env bash
# Runs every test of the workspace: unit and property tests, doctests, the
# conformance suite against our servers started on loopback, and the browser
# end-to-end tests (sockjs-client in headless Chromium), whose browser and
# node modules sockjs-tests/browser/setup.sh installs first when missing, and
# the Autobahn|Testsuite run against every adapter's raw websocket
# (sockjs-tests/autobahn/setup.sh installs its fuzzing client).
set -euo pipefail
cd "$(dirname "$0")"
sockjs-tests/browser/setup.sh
sockjs-tests/scaling/setup.sh
sockjs-tests/autobahn/setup.sh
# sockjs-node 0.3.24 and websocket-multiplex 0.1.0: the peers of the client
# interop test (tests/client.rs).
[ -f sockjs-tests/node/node_modules/sockjs/package.json ] &&
    [ -f sockjs-tests/node/node_modules/websocket-multiplex/package.json ] ||
    (cd sockjs-tests/node && npm install --no-package-lock --no-audit --no-fund)
cargo test --workspace "$@"
