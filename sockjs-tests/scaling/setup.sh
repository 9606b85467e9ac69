#!/usr/bin/env bash
# Installs what the multi-instance tests need, and only what is missing:
#   * HAProxy at /usr/sbin/haproxy and nginx at /usr/sbin/nginx
#     (sockjs-tests/tests/scaling.rs);
#   * redis-server at /usr/bin/redis-server and redis-cli (with --cluster) at
#     /usr/bin/redis-cli, from redis-tools (sockjs-tests/tests/rooms_redis.rs).
# All from Debian through apt-get (needs root, as in CI). Idempotent; fails
# loudly. The tests fail (never skip) when these are missing.
set -euo pipefail

fail() {
  echo "scaling setup: FAILED: $*" >&2
  exit 1
}

missing=()
[ -x /usr/sbin/haproxy ] || missing+=(haproxy)
[ -x /usr/sbin/nginx ] || missing+=(nginx)
[ -x /usr/bin/redis-server ] || missing+=(redis-server)
[ -x /usr/bin/redis-cli ] || missing+=(redis-tools)

if [ ${#missing[@]} -eq 0 ]; then
  echo "scaling setup: haproxy present ($(/usr/sbin/haproxy -v 2>/dev/null | head -n 1)), nginx present ($(/usr/sbin/nginx -v 2>&1)), redis-server present ($(/usr/bin/redis-server --version 2>/dev/null)), redis-cli present"
  exit 0
fi

[ "$(id -u)" = 0 ] || fail "${missing[*]} missing and installing needs root: run 'apt-get install -y ${missing[*]}' as root"
command -v apt-get >/dev/null || fail "${missing[*]} missing and there is no apt-get to install it"
echo "scaling setup: installing ${missing[*]} with apt-get"
apt-get update || fail "apt-get update"
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" || fail "apt-get install ${missing[*]}"
[ -x /usr/sbin/haproxy ] || fail "haproxy installed but /usr/sbin/haproxy is missing"
[ -x /usr/sbin/nginx ] || fail "nginx installed but /usr/sbin/nginx is missing"
[ -x /usr/bin/redis-server ] || fail "redis-server installed but /usr/bin/redis-server is missing"
[ -x /usr/bin/redis-cli ] || fail "redis-tools installed but /usr/bin/redis-cli is missing"
/usr/bin/redis-cli --cluster help >/dev/null 2>&1 || fail "/usr/bin/redis-cli has no --cluster (Redis 5 or later needed)"
# Debian starts a system-wide redis-server on port 6379 and nginx on port 80
# after installing them (where services may start); the tests start their
# own on free ports, with their own configuration, and do not use them.
echo "scaling setup: installed ${missing[*]}"
