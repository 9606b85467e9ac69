#!/usr/bin/env bash
# How cost grows with the number of sessions (BENCHMARKS.md, "How cost
# grows"): for each of our servers and each session count, on a fresh
# server each time,
#
#   * scale-idle-ws-N: N idle SockJS websocket sessions, server RSS per
#     session (the idle-ws scenario);
#   * scale-ws-pingpong-N: N SockJS websocket sessions with one 32 B
#     message in flight each, server CPU per message (ws-echo, inflight 1).
#
#     bench/scaling.sh [OUT_DIR]      # default OUT_DIR: target-bench/bench-scaling
#     SCALE_SESSIONS="1000 5000" SCALE_PEERS=warp bench/scaling.sh
#
# Session counts above the file descriptor limit less 1,000 (the client and
# the server each hold one descriptor per session, and each is a process of
# its own with that limit) are lowered to it, with a note on stderr and the
# count used in each JSON line's "sessions". Results: OUT_DIR/scaling.jsonl
# (one JSON line per run), OUT_DIR/scaling.md (`sockjs-bench table`),
# OUT_DIR/machine.txt. Every server is killed on every exit path (trap on
# EXIT); every scenario is bounded in connections and time.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target-bench}
OUT=${1:-$CARGO_TARGET_DIR/bench-scaling}
mkdir -p "$OUT"
RESULTS=$OUT/scaling.jsonl
: >"$RESULTS"
BIN=$CARGO_TARGET_DIR/release

# ---- fixed parameters ------------------------------------------------------
SCALE_SESSIONS=${SCALE_SESSIONS:-1000 5000 19000}
SCALE_PEERS=${SCALE_PEERS:-actix warp axum}
PINGPONG_MS=6000          # measured time of each ping-pong run
IDLE_SETTLE_MS=2000       # the idle scenario's window after the last open
# One loopback source address has ~28,000 ephemeral ports; spreading the
# connections over several keeps TIME_WAIT of earlier runs out of the way.
SOURCES=127.0.0.2,127.0.0.3,127.0.0.4,127.0.0.5

# ---- file descriptors ------------------------------------------------------
ulimit -n 200000 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
FDS=$(ulimit -n)
MAX_SESSIONS=200000
if [ "$FDS" != unlimited ]; then
    MAX_SESSIONS=$((FDS - 1000))
fi

# ---- servers ---------------------------------------------------------------
SERVER_PID=
SERVER_ADDR=
cleanup() {
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_server LOGNAME COMMAND...: starts it, waits for "listening on ADDR".
start_server() {
    local log=$OUT/$1.log
    shift
    "$@" >"$log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 1 300); do
        SERVER_ADDR=$(grep -o 'listening on [0-9.]*:[0-9]*' "$log" | head -1 | cut -d' ' -f3 || true)
        [ -n "$SERVER_ADDR" ] && return 0
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "server did not start: $*" >&2
    cat "$log" >&2
    exit 1
}

# one PEER CASE SCENARIO ARGS...: the scenario on a fresh server of PEER.
one() {
    local peer=$1 case=$2 scenario=$3
    shift 3
    echo "== $peer $case" >&2
    start_server "$peer-$case" "$BIN/test-server" --framework "$peer" --listen 127.0.0.1:0
    if ! timeout 400 "$BIN/sockjs-bench" run --addr "$SERVER_ADDR" --pid "$SERVER_PID" --label "$peer" \
        --case "$case" --scenario "$scenario" --source-ips $SOURCES --concurrency 256 "$@" | tee -a "$RESULTS"; then
        echo "warning: $peer $case failed" >&2
    fi
    cleanup
    sleep 1 # let the kernel reap the sockets
}

# ---- build -----------------------------------------------------------------
echo "building (release, $CARGO_TARGET_DIR)" >&2
(cd "$ROOT" && cargo build --release --quiet -p sockjs-examples --bin test-server -p sockjs-tests --bin sockjs-bench)

{
    echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "nproc: $(nproc)"
    echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
    echo "kernel: $(uname -r)"
    echo "fd limit: $FDS"
    echo "load before: $(uptime)"
} >"$OUT/machine.txt"

for peer in $SCALE_PEERS; do
    for n in $SCALE_SESSIONS; do
        if [ "$n" -gt "$MAX_SESSIONS" ]; then
            echo "note: fd limit $FDS: $n sessions lowered to $MAX_SESSIONS" >&2
            echo "sessions $n lowered to $MAX_SESSIONS (fd limit $FDS)" >>"$OUT/machine.txt"
            n=$MAX_SESSIONS
        fi
        one "$peer" "scale-idle-ws-$n" idle-ws --sessions "$n" --duration-ms $IDLE_SETTLE_MS
        one "$peer" "scale-ws-pingpong-$n" ws-echo --sessions "$n" --size 32 --inflight 1 --duration-ms $PINGPONG_MS
    done
done

echo "load after: $(uptime)" >>"$OUT/machine.txt"
"$BIN/sockjs-bench" table "$RESULTS" >"$OUT/scaling.md"
echo
cat "$OUT/machine.txt"
echo
cat "$OUT/scaling.md"
