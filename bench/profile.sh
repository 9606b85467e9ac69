#!/usr/bin/env bash
# Where a server's time goes in one benchmark scenario (BENCHMARKS.md,
# "Where the time goes"): the syscalls it makes per unit of work, counted
# by the kernel's syscall tracepoints, and a sampled CPU profile (user and
# kernel stacks), both of the server process only.
#
#     bench/profile.sh PEER CASE [OUT_DIR]
#
# PEER: actix, warp, axum (our test-server), node (sockjs-node 0.3.24),
# bare (the tokio-tungstenite echo) or bare-actix, bare-hyper, bare-warp
# (`bare-floor --stack ...`, the floor of each HTTP stack). CASE:
# ws-pingpong-100, ws-pingpong-1, ws-echo-32, raw-ws-echo-32 (the same
# without SockJS framing, on /websocket), fanout-eventsource,
# fanout-xhr-streaming, room-fanout-1000x10-eventsource,
# room-fanout-1000x10-xhr-streaming, room-fanout-1x10000-eventsource,
# room-fanout-1x10000-xhr-streaming, xhr-polling. The bare echo runs the
# raw-websocket form of the ping-pong and echo cases only; the stack floors
# run the fan-out cases only.
# Needs `perf` (Debian's linux-perf) with the syscalls tracepoints and
# cpu-clock sampling; builds the release binaries like bench/run.sh does.
# Writes OUT_DIR/PEER-CASE.{json,syscalls.txt,perf.data,report.txt,symbols.txt,split.txt}
# (default OUT_DIR: target-bench/profiles) and prints the summary. The
# server is killed on every exit path.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target-bench}
BIN=$CARGO_TARGET_DIR/release
PEER=${1:?usage: bench/profile.sh PEER CASE [OUT_DIR]}
CASE=${2:?usage: bench/profile.sh PEER CASE [OUT_DIR]}
OUT=${3:-$CARGO_TARGET_DIR/profiles}
mkdir -p "$OUT"
NAME=$OUT/$PEER-$CASE

case $CASE in
    ws-pingpong-100) ARGS=(--scenario ws-echo --sessions 100 --size 32 --inflight 1 --duration-ms 6000) UNIT=msg ;;
    ws-pingpong-1) ARGS=(--scenario ws-echo --sessions 1 --size 32 --inflight 1 --duration-ms 6000) UNIT=msg ;;
    ws-echo-32) ARGS=(--scenario ws-echo --sessions 100 --size 32 --inflight 4 --duration-ms 6000) UNIT=msg ;;
    raw-ws-echo-32) ARGS=(--scenario raw-ws-echo --sessions 100 --size 32 --inflight 4 --duration-ms 6000) UNIT=msg ;;
    xhr-polling) ARGS=(--scenario xhr-polling --sessions 50 --duration-ms 6000) UNIT=msg ;;
    fanout-eventsource | fanout-xhr-streaming)
        ARGS=(--scenario fanout --sessions 10000 --rounds 5 --fanout-transport "${CASE#fanout-}" --concurrency 128)
        UNIT=delivery ;;
    room-fanout-1000x10-eventsource | room-fanout-1000x10-xhr-streaming)
        ARGS=(--scenario room-fanout --sessions 10000 --rooms 1000 --rounds 5
            --fanout-transport "${CASE#room-fanout-1000x10-}" --concurrency 128)
        UNIT=delivery ;;
    room-fanout-1x10000-eventsource | room-fanout-1x10000-xhr-streaming)
        ARGS=(--scenario room-fanout --sessions 10000 --rooms 1 --rounds 5
            --fanout-transport "${CASE#room-fanout-1x10000-}" --concurrency 128)
        UNIT=delivery ;;
    *) echo "unknown case $CASE" >&2; exit 2 ;;
esac
case $PEER in
    bare)
        case $CASE in
            ws-pingpong-* | ws-echo-32) ARGS[1]=raw-ws-echo ;;
            raw-ws-echo-32) ;;
            *) echo "the bare echo runs the ping-pong and echo cases only" >&2; exit 2 ;;
        esac ;;
    bare-*)
        case $CASE in
            fanout-*) ;;
            *) echo "the stack floors run the fan-out cases only" >&2; exit 2 ;;
        esac ;;
esac

(cd "$ROOT" && cargo build --release --quiet -p sockjs-examples --bin test-server \
    -p sockjs-tests --bin sockjs-bench --bin bare-echo --bin bare-floor)

SERVER_PID=
PERF_PIDS=()
cleanup() {
    for pid in "${PERF_PIDS[@]}" $SERVER_PID; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT

LOG=$NAME.server.log
case $PEER in
    actix | warp | axum) "$BIN/test-server" --framework "$PEER" --listen 127.0.0.1:0 >"$LOG" 2>&1 & ;;
    node) node "$ROOT/sockjs-tests/node/server.js" 0 >"$LOG" 2>&1 & ;;
    bare) "$BIN/bare-echo" --listen 127.0.0.1:0 --workers 2 >"$LOG" 2>&1 & ;;
    bare-actix | bare-hyper | bare-warp)
        "$BIN/bare-floor" --stack "${PEER#bare-}" --listen 127.0.0.1:0 --workers 2 >"$LOG" 2>&1 & ;;
    *) echo "unknown peer $PEER" >&2; exit 2 ;;
esac
SERVER_PID=$!
ADDR=
for _ in $(seq 100); do
    ADDR=$(grep -o '127\.0\.0\.1:[0-9]*' "$LOG" | head -1 || true)
    [ -n "$ADDR" ] && break
    sleep 0.1
done
[ -n "$ADDR" ] || { echo "$PEER did not start" >&2; cat "$LOG" >&2; exit 1; }

SYSCALLS=read,write,writev,readv,recvfrom,sendto,sendmsg,recvmsg,epoll_wait,epoll_pwait,futex,sched_yield
EVENTS=$(echo "$SYSCALLS" | tr ',' '\n' | sed 's/^/syscalls:sys_enter_/' | paste -sd,)
# Both tools watch the server for the whole run (setup included); the
# syscalls are divided by the scenario's own count of units, so setup
# adds a little to each figure (the fan-out's 10,000 opens: about one
# read and one write each, against 50,000 deliveries).
perf stat -e "$EVENTS" -p "$SERVER_PID" -o "$NAME.syscalls.txt" &
PERF_PIDS+=($!)
perf record -q -e cpu-clock -F 2000 -g -p "$SERVER_PID" -o "$NAME.perf.data" 2>/dev/null &
PERF_PIDS+=($!)
sleep 0.5
"$BIN/sockjs-bench" run --addr "$ADDR" --pid "$SERVER_PID" "${ARGS[@]}" >"$NAME.json"
for pid in "${PERF_PIDS[@]}"; do kill -INT "$pid" 2>/dev/null || true; done
for pid in "${PERF_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
PERF_PIDS=()

UNITS=$(python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(d.get('messages') or d.get('delivered') or 0)" "$NAME.json")
# Self time by binary (kernel, server, libc, ...); then, from one report
# of every symbol (percentages of all samples), the top symbols outside
# the kernel and the user-space part split by who runs it.
perf report -i "$NAME.perf.data" --stdio --no-children --sort dso 2>/dev/null \
    | grep -E '^ +[0-9.]+%' >"$NAME.report.txt" || true
perf report -i "$NAME.perf.data" --stdio --no-children --sort dso,sym 2>/dev/null \
    | grep -E '^ +[0-9.]+%' | sed 's/ *$//' >"$NAME.symbols.txt" || true
awk '$2 !~ /kernel/' "$NAME.symbols.txt" | head -20 >"$NAME.user.txt" || true
# Each sampled symbol goes to the crate its path starts with (the type's
# crate for `<T as Trait>::f`).
python3 -c '
import re, sys
ours = ("sockjs_", "bare_echo", "bare_floor", "test_server")
framework = ("actix", "hyper", "warp", "axum", "h2", "http", "tower", "tungstenite", "tokio_tungstenite")
runtime = ("tokio", "mio", "futures", "std", "core", "alloc", "parking_lot", "crossbeam", "tracing")
libraries = ("serde_json", "bytes", "flate2", "miniz_oxide", "memchr", "sha1", "base64")
cpu = {}
for line in sys.stdin:
    m = re.match(r"\s+([0-9.]+)%\s+(\S+)\s+\[(.)\]\s+(.*)", line)
    if not m:
        continue
    share, dso, kind, sym = float(m[1]), m[2], m[3], m[4].lstrip("<&")
    crate = re.split(r"::|<| ", sym, maxsplit=1)[0]
    if kind == "k":
        who = "kernel"
    elif dso.startswith("lib") or crate.startswith("__rust"):
        who = "libc and the allocator (malloc, memcpy, syscall stubs)"
    elif crate.startswith(ours):
        who = "ours (sockjs-*, the bare peers)"
    elif crate.startswith(framework):
        who = "framework (actix, hyper, warp, axum, tungstenite)"
    elif crate.startswith(libraries):
        who = "libraries our code calls (serde_json, bytes, flate2)"
    elif crate.startswith(runtime):
        who = "runtime (tokio, futures, std)"
    else:
        who = "other (" + dso + ")"
    cpu[who] = cpu.get(who, 0) + share
for who, share in sorted(cpu.items(), key=lambda kv: -kv[1]):
    print("    %6.2f%%  %s" % (share, who))
' <"$NAME.symbols.txt" >"$NAME.split.txt"
{
    echo "== $PEER $CASE: $UNITS ${UNIT}s"
    python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print({k: v for k, v in d.items() if 'us_per' in k or k in ('msgs_per_s', 'all_delivered_ms')})" "$NAME.json"
    awk -v n="$UNITS" -v unit="$UNIT" '/syscalls:sys_enter_/ { gsub(",", "", $1); if ($1 > 0) printf "  %-12s %8.3f per %s\n", substr($2, 20), $1 / n, unit }' "$NAME.syscalls.txt"
    echo "  self time by binary:"
    sed 's/ *$//' "$NAME.report.txt" | head -6
    echo "  self time by who runs it:"
    cat "$NAME.split.txt"
    echo "  top symbols outside the kernel (% of all samples):"
    cat "$NAME.user.txt"
} | tee "$NAME.summary.txt"
