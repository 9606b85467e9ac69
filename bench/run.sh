#!/usr/bin/env bash
# Regenerates the tables of BENCHMARKS.md in one go (about 22 minutes on 2026-12-02):
#
#     bench/run.sh [OUT_DIR]        # default OUT_DIR: target-bench/bench-results
#     BENCH_ONLY=flood,poll-flat-out bench/run.sh   # only the cases whose
#         names contain one of these words (default OUT_DIR: ...-only)
#     BENCH_PEERS=actix,warp bench/run.sh           # only these peers
#
# Builds the release binaries, installs sockjs-node's npm dependencies when
# they are missing, then for each peer (our actix, warp and axum servers,
# sockjs-node 0.3.24, the bare tokio-tungstenite echo, and the floor of each
# HTTP stack: bare-actix, bare-hyper, bare-warp, `bare-floor --stack ...`,
# which hold the fan-out's and the idle scenarios' connections with nothing
# of SockJS) starts the server on
# an ephemeral 127.0.0.1 port, runs the scenarios against it with the fixed
# parameters below and stops it. Every server is killed on every exit path
# (trap on EXIT). Results: OUT_DIR/results.jsonl (one JSON line per
# scenario), OUT_DIR/table.md (printed at the end), OUT_DIR/machine.txt.
#
# BENCH_ONLY (comma-separated words) runs only the cases whose names contain
# one of them, and starts only the servers those cases need; for example
# BENCH_ONLY=flood (the three floods), BENCH_ONLY=poll-flat-out,idle-ws,
# BENCH_ONLY=room (the room cases, with the fanout cases they are compared
# with), BENCH_ONLY=deflate,inflate-bomb (permessage-deflate on our servers).
#
# The room-cross-node cases run two test-servers on one broker: the script
# starts redis-server (/usr/bin/redis-server) and nats-server
# (/usr/sbin/nats-server, Debian's packages; sockjs-tests/scaling/setup.sh
# installs them) itself on free 127.0.0.1 ports and kills them with the
# servers. Without them it stops with an error rather than skip those cases.
# BENCH_PEERS (comma-separated labels: actix, warp, axum, node, bare,
# bare-actix, bare-hyper, bare-warp) likewise
# selects peers. A partial run's results go to target-bench/
# bench-results-only unless OUT_DIR is given, so that it does not overwrite
# the full one.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target-bench}
BENCH_ONLY=${BENCH_ONLY:-}
BENCH_PEERS=${BENCH_PEERS:-}
PARTIAL=$BENCH_ONLY$BENCH_PEERS
OUT=${1:-$CARGO_TARGET_DIR/bench-results${PARTIAL:+-only}}
mkdir -p "$OUT"
RESULTS=$OUT/results.jsonl
: >"$RESULTS"
BIN=$CARGO_TARGET_DIR/release

# ---- fixed parameters ------------------------------------------------------
ECHO_SECONDS_MS=6000      # measured time of each echo scenario
WS_SESSIONS=100           # ws echo sessions
WS_INFLIGHT=4             # messages in flight per ws session
XHR_CLIENTS=50            # xhr-polling / xhr-streaming clients
FANOUT_SESSIONS=10000     # broadcast receivers
FANOUT_ROUNDS=${FANOUT_ROUNDS:-10}  # rounds per fan-out run
IDLE_SESSIONS=5000        # idle sessions for RSS per session
TIMER_SESSIONS=50000      # idle sessions for the timer scenario
# The servers' heartbeat delay in the timer scenario: longer than it takes to
# open every session, so that there is a quiet window before the first
# heartbeats come due, then one whole heartbeat period is measured.
TIMER_HEARTBEAT_MS=30000
# Source addresses of the timer scenario's connections: one loopback address
# has ~28,000 ephemeral ports (32768-60999), so 50,000 connections to one
# server port need several. All of 127.0.0.0/8 is loopback.
TIMER_SOURCES=127.0.0.2,127.0.0.3,127.0.0.4,127.0.0.5,127.0.0.6,127.0.0.7
# Floods of the push-only service (/push) by one client, and xhr-polling
# flat out; each on a fresh server, whose RSS is read before, at the end and
# FLOOD_PAUSE_MS after the load (the clients gone by then).
FLOOD_MS=10000
FLOOD_PAUSE_MS=10000
FLOOD_XHR_SIZE=200000     # one xhr_send body: one JSON string of this size
FLOOD_WS_SIZE=100000      # one websocket message
POLL_CLIENTS=50
# Rooms (/rooms, issue 23): FANOUT_SESSIONS receivers in ROOMS_MANY rooms of
# FANOUT_SESSIONS/ROOMS_MANY, and in one room of FANOUT_SESSIONS; one sender
# (a websocket session of the room) per room; FANOUT_ROUNDS rounds of one
# send per room. Across nodes: the same receivers in ROOMS_MANY rooms over
# two test-servers on one Redis / NATS, half on each, senders on the first.
ROOMS_MANY=1000
REDIS_SERVER=/usr/bin/redis-server
NATS_SERVER=/usr/sbin/nats-server
# permessage-deflate (RFC 7692) on servers started with --ws-deflate: the
# inflation attack's sessions, each sending one message of BOMB_SIZE bytes
# compressed to about a thousandth of it (over test-server's max_payload of
# 256 KiB: the server must stop inflating at its limit and close with 1009).
BOMB_SESSIONS=100
BOMB_SIZE=1048576

# ---- file descriptors ------------------------------------------------------
# Client and server each hold one descriptor per connection.
ulimit -n 200000 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
FDS=$(ulimit -n)
if [ "$FDS" != unlimited ] && [ "$FDS" -lt $((TIMER_SESSIONS + 1000)) ]; then
    TIMER_SESSIONS=$((FDS - 1000))
    echo "note: fd limit $FDS: the timer scenario uses $TIMER_SESSIONS sessions" >&2
fi
if [ "$FDS" != unlimited ] && [ "$FDS" -lt $((FANOUT_SESSIONS + 1000)) ]; then
    FANOUT_SESSIONS=$((FDS - 1000))
fi
# The room cases hold a sender per room and up to 256 pooled join
# connections besides their receivers.
ROOM_SESSIONS=$FANOUT_SESSIONS
if [ "$FDS" != unlimited ] && [ "$FDS" -lt $((ROOM_SESSIONS + ROOMS_MANY + 1300)) ]; then
    ROOM_SESSIONS=$((FDS - ROOMS_MANY - 1300))
fi

# ---- servers ---------------------------------------------------------------
# At most one server runs at a time, or two on one broker (room-cross-node);
# SERVER_PID and SERVER2_PID are they (empty when none), REDIS_PID and
# NATS_PID the brokers, so the EXIT trap never signals a PID that has been
# reused.
SERVER_PID=
SERVER_ADDR=
SERVER2_PID=
SERVER2_ADDR=
REDIS_PID=
REDIS_URL=
NATS_PID=
NATS_URL=
# stop_pid VAR: kills the process whose PID is in VAR, waits for it, empties VAR.
stop_pid() {
    local pid=${!1}
    if [ -n "$pid" ]; then
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        printf -v "$1" ''
    fi
}
cleanup() {
    stop_pid SERVER_PID
    stop_pid SERVER2_PID
}
cleanup_all() {
    cleanup
    stop_pid REDIS_PID
    stop_pid NATS_PID
}
trap cleanup_all EXIT
trap 'exit 130' INT TERM

# await_listening LOG PID: the ADDR of "listening on ADDR" in LOG, printed
# once PID has written it; exits the script if PID ends first or takes 30 s.
await_listening() {
    local log=$1 pid=$2 addr
    for _ in $(seq 1 300); do
        addr=$(grep -o 'listening on [0-9.]*:[0-9]*' "$log" | head -1 | cut -d' ' -f3 || true)
        if [ -n "$addr" ]; then
            echo "$addr"
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    echo "server did not start (log $log):" >&2
    cat "$log" >&2
    exit 1
}

# start_server LOGNAME COMMAND...: starts it, waits for "listening on ADDR".
start_server() {
    local log=$OUT/$1.log
    shift
    "$@" >"$log" 2>&1 &
    SERVER_PID=$!
    SERVER_ADDR=$(await_listening "$log" "$SERVER_PID") || exit 1
}

# start_server2 LOGNAME COMMAND...: the same for the second server.
start_server2() {
    local log=$OUT/$1.log
    shift
    "$@" >"$log" 2>&1 &
    SERVER2_PID=$!
    SERVER2_ADDR=$(await_listening "$log" "$SERVER2_PID") || exit 1
}

stop_server() {
    cleanup
    sleep 1 # let the kernel reap the sockets
}

# require BINARY PACKAGE: stops the run when BINARY is missing.
require() {
    if [ ! -x "$1" ]; then
        echo "error: $1 is missing: the room-cross-node cases need it (Debian package $2;" \
            "sockjs-tests/scaling/setup.sh installs it). Select other cases with BENCH_ONLY." >&2
        exit 1
    fi
}

# start_redis: redis-server on a free 127.0.0.1 port (random in 20000-32767,
# below the ephemeral range, tried again when taken), no persistence;
# REDIS_URL is its URL.
start_redis() {
    require "$REDIS_SERVER" redis-server
    local log=$OUT/redis.log port
    for _ in $(seq 1 20); do
        port=$((20000 + RANDOM % 12768))
        "$REDIS_SERVER" --port "$port" --bind 127.0.0.1 --save '' --appendonly no >"$log" 2>&1 &
        REDIS_PID=$!
        for _ in $(seq 1 50); do
            if grep -q 'Ready to accept connections' "$log"; then
                REDIS_URL=redis://127.0.0.1:$port/
                return 0
            fi
            kill -0 "$REDIS_PID" 2>/dev/null || break
            sleep 0.1
        done
        stop_pid REDIS_PID
    done
    echo "error: redis-server did not start (log $log):" >&2
    cat "$log" >&2
    exit 1
}

# start_nats: nats-server on an ephemeral 127.0.0.1 port (-p -1: it picks
# one and logs it); NATS_URL is its URL.
start_nats() {
    require "$NATS_SERVER" nats-server
    local log=$OUT/nats.log addr
    "$NATS_SERVER" -a 127.0.0.1 -p -1 >"$log" 2>&1 &
    NATS_PID=$!
    for _ in $(seq 1 100); do
        addr=$(grep -o 'Listening for client connections on [0-9.]*:[0-9]*' "$log" | head -1 | awk '{print $NF}' || true)
        if [ -n "$addr" ]; then
            NATS_URL=nats://$addr
            return 0
        fi
        kill -0 "$NATS_PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "error: nats-server did not start (log $log):" >&2
    cat "$log" >&2
    exit 1
}

# wanted LABEL CASE...: whether BENCH_PEERS selects the peer and BENCH_ONLY
# one of these cases.
wanted() {
    local label=$1 case word
    shift
    if [ -n "$BENCH_PEERS" ] && [[ ,$BENCH_PEERS, != *",$label,"* ]]; then
        return 1
    fi
    [ -z "$BENCH_ONLY" ] && return 0
    for case in "$@"; do
        for word in ${BENCH_ONLY//,/ }; do
            [[ $case == *"$word"* ]] && return 0
        done
    done
    return 1
}

# The cases round three's targets hold against a floor (ping-pong, the
# raw echo, the fan-outs and the rooms) move by about ±10 % from one run to
# the next even on a quiet machine, more than the margins they are held
# to: each runs REPEATS times on the same server, and the table takes its
# median run (`sockjs-bench table`, median_of_repeats). The fan-outs and
# the rooms, held to 1.1x them, close to their spread (±8 % at ten or
# twenty rounds, mostly kernel time), run FANOUT_REPEATS times: on our
# servers in passes that take turns (echo_scenarios), on the floors back
# to back; the other cases REPEATS times back to back.
REPEATS=${REPEATS:-3}
FANOUT_REPEATS=${FANOUT_REPEATS:-5}
repeats_of() {
    case $1 in
        fanout-* | room-fanout-*) echo "$FANOUT_REPEATS" ;;
        ws-pingpong-* | raw-ws-echo-32 | raw-ws-pingpong-*) echo "$REPEATS" ;;
        *) echo 1 ;;
    esac
}

# bench LABEL CASE SCENARIO [ARGS...]: one scenario against the running
# server (repeats_of CASE times).
bench() {
    local label=$1 case=$2 scenario=$3 run
    shift 3
    # BENCH_FORCE: run the case whatever BENCH_ONLY says (the fanout cases
    # the room cases are compared with).
    [ -n "${BENCH_FORCE:-}" ] || wanted "$label" "$case" || return 0
    for run in $(seq "${BENCH_RUNS:-$(repeats_of "$case")}"); do
        echo "== $label $case (run $run)" >&2
        if ! timeout 400 "$BIN/sockjs-bench" run --addr "$SERVER_ADDR" --pid "$SERVER_PID" \
            --label "$label" --case "$case" --scenario "$scenario" "$@" | tee -a "$RESULTS"; then
            echo "warning: $label $case failed" >&2
        fi
    done
}

echo_scenarios() {
    local label=$1
    bench "$label" ws-echo-32 ws-echo --sessions $WS_SESSIONS --size 32 --inflight $WS_INFLIGHT --duration-ms $ECHO_SECONDS_MS
    bench "$label" ws-echo-4k ws-echo --sessions $WS_SESSIONS --size 4096 --inflight $WS_INFLIGHT --duration-ms $ECHO_SECONDS_MS
    # One message in flight (ping-pong: a chat, an RPC), many sessions and one.
    bench "$label" ws-pingpong-100 ws-echo --sessions $WS_SESSIONS --size 32 --inflight 1 --duration-ms $ECHO_SECONDS_MS
    bench "$label" ws-pingpong-1 ws-echo --sessions 1 --size 32 --inflight 1 --duration-ms $ECHO_SECONDS_MS
    bench "$label" raw-ws-echo-32 raw-ws-echo --sessions $WS_SESSIONS --size 32 --inflight $WS_INFLIGHT --duration-ms $ECHO_SECONDS_MS
    bench "$label" xhr-polling xhr-polling --sessions $XHR_CLIENTS --size 32 --duration-ms $ECHO_SECONDS_MS
    bench "$label" xhr-streaming xhr-streaming --sessions $XHR_CLIENTS --size 32 --duration-ms $ECHO_SECONDS_MS
    # The room cases are compared with fanout in the same run: selecting
    # one selects these too.
    local force=
    # shellcheck disable=SC2086
    if wanted "$label" $(room_cases "$label"); then
        force=1
    fi
    # The fan-outs and the room cases compared with them take turns, one
    # run of each per pass: a server's cost per delivery moves over a
    # series of runs on it (axum, xhr-streaming: 14.4, 14.8, 15.2 and
    # 16.0 µs over four fan-outs back to back), and three repeats of one
    # case before the next would put that movement into the rooms' ratio
    # to fanout.
    local transport size=$((ROOM_SESSIONS / ROOMS_MANY)) pass
    for pass in $(seq "$FANOUT_REPEATS"); do
        for transport in eventsource xhr-streaming; do
            BENCH_RUNS=1 BENCH_FORCE=$force bench "$label" fanout-$transport fanout --sessions $FANOUT_SESSIONS \
                --rounds $FANOUT_ROUNDS --fanout-transport $transport --concurrency 128
        done
        [ -n "$(room_cases "$label")" ] || continue
        for transport in eventsource xhr-streaming; do
            BENCH_RUNS=1 bench "$label" room-fanout-${ROOMS_MANY}x$size-$transport room-fanout \
                --sessions $ROOM_SESSIONS --rooms $ROOMS_MANY --rounds $FANOUT_ROUNDS --fanout-transport $transport \
                --concurrency 128
            BENCH_RUNS=1 bench "$label" room-fanout-1x$ROOM_SESSIONS-$transport room-fanout \
                --sessions $ROOM_SESSIONS --rooms 1 --rounds $FANOUT_ROUNDS --fanout-transport $transport \
                --concurrency 128
        done
    done
}

ROOM_CASES="room-fanout-${ROOMS_MANY}x$((ROOM_SESSIONS / ROOMS_MANY))-eventsource room-fanout-1x$ROOM_SESSIONS-eventsource
    room-fanout-${ROOMS_MANY}x$((ROOM_SESSIONS / ROOMS_MANY))-xhr-streaming room-fanout-1x$ROOM_SESSIONS-xhr-streaming"
CROSS_CASES="room-cross-node-redis room-cross-node-nats"
# room_cases LABEL: the room cases of the peer (only our servers have /rooms).
room_cases() {
    case $1 in
        actix | warp | axum) echo $ROOM_CASES $CROSS_CASES ;;
    esac
}
ECHO_CASES="ws-echo-32 ws-echo-4k ws-pingpong-100 ws-pingpong-1 raw-ws-echo-32 xhr-polling xhr-streaming fanout-eventsource fanout-xhr-streaming"

# fresh LABEL CASE SCENARIO ARGS... -- START_COMMAND...: one scenario on a
# server of its own.
fresh() {
    local label=$1 case=$2 args=()
    shift 2
    while [ "$1" != -- ]; do
        args+=("$1")
        shift
    done
    shift
    wanted "$label" "$case" || return 0
    start_server "$label-$case" "$@"
    bench "$label" "$case" "${args[@]}"
    stop_server
}

# floods LABEL START_COMMAND...: one client flooding the push-only service,
# each flood on a fresh server (sockjs-node has no /push: not for node).
floods() {
    local label=$1
    shift
    fresh "$label" flood-xhr-send flood-xhr-send --size $FLOOD_XHR_SIZE --duration-ms $FLOOD_MS \
        --pause-ms $FLOOD_PAUSE_MS -- "$@"
    fresh "$label" flood-ws flood-ws --size $FLOOD_WS_SIZE --duration-ms $FLOOD_MS --pause-ms $FLOOD_PAUSE_MS -- "$@"
    fresh "$label" flood-raw-ws flood-raw-ws --size $FLOOD_WS_SIZE --duration-ms $FLOOD_MS \
        --pause-ms $FLOOD_PAUSE_MS -- "$@"
}

# peer LABEL START_COMMAND...: idle figures on fresh servers, then the load,
# then xhr-polling flat out on a fresh server.
peer() {
    local label=$1
    shift
    fresh "$label" idle-ws idle-ws --sessions $IDLE_SESSIONS --duration-ms 2000 --concurrency 128 -- "$@"
    fresh "$label" idle-xhr-streaming idle-xhr-streaming --sessions $IDLE_SESSIONS --duration-ms 2000 \
        --concurrency 128 -- "$@"
    # shellcheck disable=SC2086
    if wanted "$label" $ECHO_CASES $(room_cases "$label"); then
        start_server "$label-load" "$@"
        echo_scenarios "$label"
        stop_server
    fi
    fresh "$label" poll-flat-out poll-flat-out --sessions $POLL_CLIENTS --size 32 --duration-ms $FLOOD_MS \
        --pause-ms $FLOOD_PAUSE_MS -- "$@"
}

# cross_node LABEL BROKER: room-cross-node over BROKER (redis or nats) with
# two test-servers of framework LABEL, started for it; the broker is started
# at its first use and runs until the script ends.
cross_node() {
    local label=$1 broker=$2 flag url
    wanted "$label" "room-cross-node-$broker" || return 0
    case $broker in
        redis)
            [ -n "$REDIS_PID" ] || start_redis
            flag=--redis url=$REDIS_URL
            ;;
        nats)
            [ -n "$NATS_PID" ] || start_nats
            flag=--nats url=$NATS_URL
            ;;
    esac
    start_server "$label-cross-$broker-1" "$BIN/test-server" --framework "$label" --listen 127.0.0.1:0 $flag "$url"
    start_server2 "$label-cross-$broker-2" "$BIN/test-server" --framework "$label" --listen 127.0.0.1:0 $flag "$url"
    bench "$label" "room-cross-node-$broker" room-cross-node --addr2 "$SERVER2_ADDR" --pid2 "$SERVER2_PID" \
        --sessions $ROOM_SESSIONS --rooms $ROOMS_MANY --rounds $FANOUT_ROUNDS --fanout-transport eventsource \
        --concurrency 128
    stop_server
}

# compression LABEL START_COMMAND...: permessage-deflate, the server started
# with --ws-deflate and the load generator offering it (--deflate): idle
# sessions with compression negotiated, the ws echo at 32 B (under the
# 256-byte minimum: negotiated, sent plain) and 4 KiB (compressed both
# ways), and the inflation attack, each of the first and last on a fresh
# server. The echo's figures without compression are ws-echo-32 and
# ws-echo-4k; every ws echo reports its wire bytes.
compression() {
    local label=$1
    shift
    fresh "$label" idle-ws-deflate idle-ws --sessions $IDLE_SESSIONS --duration-ms 2000 --concurrency 128 --deflate \
        -- "$@" --ws-deflate
    if wanted "$label" ws-echo-32-deflate ws-echo-4k-deflate; then
        start_server "$label-deflate" "$@" --ws-deflate
        bench "$label" ws-echo-32-deflate ws-echo --sessions $WS_SESSIONS --size 32 --inflight $WS_INFLIGHT \
            --duration-ms $ECHO_SECONDS_MS --deflate
        bench "$label" ws-echo-4k-deflate ws-echo --sessions $WS_SESSIONS --size 4096 --inflight $WS_INFLIGHT \
            --duration-ms $ECHO_SECONDS_MS --deflate
        stop_server
    fi
    fresh "$label" inflate-bomb inflate-bomb --sessions $BOMB_SESSIONS --size $BOMB_SIZE --pause-ms $FLOOD_PAUSE_MS \
        -- "$@" --ws-deflate
}

# ---- build -----------------------------------------------------------------
echo "building (release, $CARGO_TARGET_DIR)" >&2
(cd "$ROOT" && cargo build --release --quiet -p sockjs-examples --bin test-server \
    -p sockjs-tests --bin sockjs-bench --bin bare-echo --bin bare-floor)
if wanted node idle-ws idle-xhr-streaming $ECHO_CASES poll-flat-out \
    && [ ! -d "$ROOT/sockjs-tests/node/node_modules/sockjs" ]; then
    echo "installing sockjs-node (npm, no lockfile)" >&2
    (cd "$ROOT/sockjs-tests/node" && npm install --no-package-lock --no-audit --no-fund --silent)
fi

{
    echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "nproc: $(nproc)"
    echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
    echo "memory: $(grep MemTotal /proc/meminfo | awk '{printf "%.1f GiB", $2/1048576}')"
    echo "kernel: $(uname -r)"
    echo "rustc: $(rustc --version)"
    echo "node: $(node --version)"
    echo "fd limit: $FDS"
    echo "load before: $(uptime)"
} >"$OUT/machine.txt"

# ---- the peers -------------------------------------------------------------
peer actix "$BIN/test-server" --framework actix --listen 127.0.0.1:0
peer warp "$BIN/test-server" --framework warp --listen 127.0.0.1:0
peer axum "$BIN/test-server" --framework axum --listen 127.0.0.1:0
peer node node "$ROOT/sockjs-tests/node/server.js" 0

# Rooms across two nodes, through Redis and through NATS.
for framework in actix warp axum; do
    cross_node $framework redis
    cross_node $framework nats
done

# The floors of the HTTP stacks (bare-floor, built in the same cargo
# invocation as test-server, so with the same actix-web features): the idle
# connections on fresh servers like ours, and the fan-out (hyper, which warp
# and axum run on, and actix).
floor() {
    local label=$1 stack=$2 fanout=${3:-}
    local command=("$BIN/bare-floor" --stack "$stack" --listen 127.0.0.1:0 --workers 2)
    fresh "$label" idle-ws idle-ws --sessions $IDLE_SESSIONS --duration-ms 2000 --concurrency 128 -- "${command[@]}"
    fresh "$label" idle-xhr-streaming idle-xhr-streaming --sessions $IDLE_SESSIONS --duration-ms 2000 \
        --concurrency 128 -- "${command[@]}"
    if [ -n "$fanout" ] && wanted "$label" fanout-eventsource fanout-xhr-streaming; then
        start_server "$label-load" "${command[@]}"
        for transport in eventsource xhr-streaming; do
            bench "$label" fanout-$transport fanout --sessions $FANOUT_SESSIONS --rounds $FANOUT_ROUNDS \
                --fanout-transport $transport --concurrency 128
        done
        stop_server
    fi
}
floor bare-actix actix fanout
floor bare-hyper hyper fanout
floor bare-warp warp

fresh bare raw-ws-echo-32 raw-ws-echo --sessions $WS_SESSIONS --size 32 --inflight $WS_INFLIGHT \
    --duration-ms $ECHO_SECONDS_MS -- "$BIN/bare-echo" --listen 127.0.0.1:0 --workers 2
fresh bare raw-ws-pingpong-100 raw-ws-echo --sessions $WS_SESSIONS --size 32 --inflight 1 \
    --duration-ms $ECHO_SECONDS_MS -- "$BIN/bare-echo" --listen 127.0.0.1:0 --workers 2
fresh bare raw-ws-pingpong-1 raw-ws-echo --sessions 1 --size 32 --inflight 1 \
    --duration-ms $ECHO_SECONDS_MS -- "$BIN/bare-echo" --listen 127.0.0.1:0 --workers 2

# Timer scaling: many idle websocket sessions with heartbeats due.
for framework in actix warp axum; do
    fresh $framework timers timers --sessions $TIMER_SESSIONS --heartbeat-ms $TIMER_HEARTBEAT_MS \
        --duration-ms $TIMER_HEARTBEAT_MS --source-ips $TIMER_SOURCES --concurrency 256 -- \
        "$BIN/test-server" --framework $framework --listen 127.0.0.1:0 --heartbeat-ms $TIMER_HEARTBEAT_MS
done

# Floods: what one client can make the server hold through the inbound side.
floods actix "$BIN/test-server" --framework actix --listen 127.0.0.1:0
floods warp "$BIN/test-server" --framework warp --listen 127.0.0.1:0
floods axum "$BIN/test-server" --framework axum --listen 127.0.0.1:0

# Compression: permessage-deflate on our servers.
compression actix "$BIN/test-server" --framework actix --listen 127.0.0.1:0
compression warp "$BIN/test-server" --framework warp --listen 127.0.0.1:0
compression axum "$BIN/test-server" --framework axum --listen 127.0.0.1:0

echo "load after: $(uptime)" >>"$OUT/machine.txt"
"$BIN/sockjs-bench" table "$RESULTS" >"$OUT/table.md"
echo
cat "$OUT/machine.txt"
echo
cat "$OUT/table.md"
