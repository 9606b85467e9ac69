#!/usr/bin/env bash
# Installs what the browser end-to-end tests need, and only what is missing:
#   * Debian's chromium at /usr/bin/chromium (apt-get; needs root, as in CI);
#   * playwright-core, sockjs-client 1.6.1 and websocket-multiplex 0.1.0 in
#     node_modules (npm, no lockfile).
# Never downloads a browser of its own. Idempotent; fails loudly.
set -euo pipefail
cd "$(dirname "$0")"

fail() {
  echo "browser setup: FAILED: $*" >&2
  exit 1
}

if [ -x /usr/bin/chromium ]; then
  echo "browser setup: chromium present ($(/usr/bin/chromium --version 2>/dev/null || echo 'version unknown'))"
else
  [ "$(id -u)" = 0 ] || fail "/usr/bin/chromium is missing and installing it needs root: run 'apt-get install -y chromium' as root"
  command -v apt-get >/dev/null || fail "/usr/bin/chromium is missing and there is no apt-get to install it"
  echo "browser setup: installing chromium with apt-get"
  apt-get update || fail "apt-get update"
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium || fail "apt-get install chromium"
  [ -x /usr/bin/chromium ] || fail "chromium installed but /usr/bin/chromium is missing"
  echo "browser setup: installed $(/usr/bin/chromium --version 2>/dev/null || echo chromium)"
fi

command -v node >/dev/null || fail "node is not installed"
command -v npm >/dev/null || fail "npm is not installed"

if [ -f node_modules/playwright-core/package.json ] && [ -f node_modules/sockjs-client/dist/sockjs.min.js ] &&
  [ -f node_modules/websocket-multiplex/multiplex_client.js ]; then
  echo "browser setup: node_modules present (playwright-core $(node -p "require('./node_modules/playwright-core/package.json').version"), sockjs-client $(node -p "require('./node_modules/sockjs-client/package.json').version"))"
else
  echo "browser setup: npm install --no-package-lock"
  # Playwright must never fetch a browser of its own.
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-package-lock --no-audit --no-fund || fail "npm install"
  [ -f node_modules/playwright-core/package.json ] || fail "playwright-core missing after npm install"
  [ -f node_modules/sockjs-client/dist/sockjs.min.js ] || fail "sockjs-client missing after npm install"
  [ -f node_modules/websocket-multiplex/multiplex_client.js ] || fail "websocket-multiplex missing after npm install"
  echo "browser setup: installed node_modules"
fi
version=$(node -p "require('./node_modules/sockjs-client/package.json').version")
[ "$version" = 1.6.1 ] || fail "sockjs-client is $version, expected 1.6.1 (delete node_modules and rerun)"
