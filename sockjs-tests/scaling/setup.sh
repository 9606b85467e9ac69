#!/usr/bin/env bash
# Installs what the multi-instance tests need, and only what is missing:
#   * HAProxy at /usr/sbin/haproxy and nginx at /usr/sbin/nginx
#     (sockjs-tests/tests/scaling.rs);
#   * redis-server at /usr/bin/redis-server and redis-cli (with --cluster) at
#     /usr/bin/redis-cli, from redis-tools (sockjs-tests/tests/rooms_redis.rs);
#   * nats-server at /usr/sbin/nats-server (sockjs-tests/tests/nats_rooms.rs,
#     rooms_nats.rs).
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
[ -x /usr/sbin/nats-server ] || missing+=(nats-server)

if [ ${#missing[@]} -eq 0 ]; then
  echo "scaling setup: haproxy present ($(/usr/sbin/haproxy -v 2>/dev/null | head -n 1)), nginx present ($(/usr/sbin/nginx -v 2>&1)), redis-server present ($(/usr/bin/redis-server --version 2>/dev/null)), redis-cli present, nats-server present ($(/usr/sbin/nats-server --version 2>/dev/null))"
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
# `redis-cli --cluster help` prints the commands and exits 1 (Redis 7.0):
# look for them rather than at its exit status (which, under pipefail, a
# pipe into grep would report).
cluster_help=$(/usr/bin/redis-cli --cluster help 2>&1 || true)
grep -q '^ *create ' <<<"$cluster_help" || fail "/usr/bin/redis-cli has no --cluster (Redis 5 or later needed)"
[ -x /usr/sbin/nats-server ] || fail "nats-server installed but /usr/sbin/nats-server is missing"
# Debian starts a system-wide redis-server on port 6379, nginx on port 80
# and nats-server on port 4222 after installing them (where services may
# start); the tests start their own on free ports, with their own
# configuration, and do not use them.
echo "scaling setup: installed ${missing[*]}"
