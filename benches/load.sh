#!/usr/bin/env bash
# Load benchmark of the issue targets (see BENCHMARKS.md):
#   - POST /api/v1/tickets at 32 clients (throughput, p99)
#   - GET /api/v1/tickets/{number} at 32 clients
#   - idle resident memory of `serve` (after start and after the load)
#   - SQLite start-to-ready time (process start until /readyz answers 200)
#   - SIGTERM stops the daemon with exit status 0
#
# Usage: bash benches/load.sh
# Environment:
#   BENCH_DATABASE_URL  Postgres server URL (default postgres://postgres@127.0.0.1:5432);
#                       the database switchboard_bench on it is dropped and re-created.
#   BENCH_SECONDS       seconds per scenario after a 2 s warm-up (default 20)
#   BENCH_CONCURRENCY   concurrent clients (default 32)
#   BENCH_SSLMODE       sslmode of the daemon's connection (default disable: TLS on the
#                       loopback cost ~25 % of Postgres CPU in the profile; set prefer to
#                       measure with TLS as sqlx negotiates it by default)
#   BENCH_PIDSTAT=1     also sample CPU of daemon / load generator / postgres with pidstat
#   BENCH_BIN           run this binary instead of building the checkout (A/B runs)
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
BIN=${BENCH_BIN:-"$ROOT/target/release/switchboard"}
PG_URL=${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432}
PG_URL=${PG_URL%/}
DB_NAME=switchboard_bench
SECONDS_PER_RUN=${BENCH_SECONDS:-20}
CONCURRENCY=${BENCH_CONCURRENCY:-32}

WORK=$(mktemp -d -t switchboard-bench.XXXXXX)
SERVE_PID=""
LITE_PID=""
SAMPLER_PID=""

cleanup() {
    local pid
    for pid in "$SAMPLER_PID" "$LITE_PID" "$SERVE_PID"; do
        if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
    psql "$PG_URL/postgres" -qAt -c "DROP DATABASE IF EXISTS $DB_NAME WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '== %s\n' "$*" >&2; }

# A TCP port nobody listens on at 127.0.0.1 (random pick checked with ss).
free_port() {
    local port
    for _ in $(seq 1 50); do
        port=$(( (RANDOM % 20000) + 30000 ))
        if ! ss -Htln "sport = :$port" | grep -q .; then
            echo "$port"
            return 0
        fi
    done
    echo "no free port found" >&2
    return 1
}

now_ns() { date +%s%N; }

# Waits until GET $1/readyz answers 200; prints nothing; fails after ~30 s.
wait_ready() {
    local url=$1 pid=$2
    for _ in $(seq 1 3000); do
        if curl -fsS -o /dev/null --max-time 1 "$url/readyz" 2>/dev/null; then
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || { echo "daemon exited before it was ready" >&2; return 1; }
        sleep 0.01
    done
    echo "daemon not ready after 30 s" >&2
    return 1
}

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# Sends SIGTERM, waits, and sets STOP_STATUS to the exit status. Not run in
# $(...): `wait` only works on children of this very shell.
stop_daemon() {
    local pid=$1
    STOP_STATUS=0
    kill -TERM "$pid"
    wait "$pid" || STOP_STATUS=$?
}

# ---------------------------------------------------------------------------
if [[ -z "${BENCH_BIN:-}" ]]; then
    log "building release binary"
    cargo build --release --quiet
fi

log "machine (other load right now: loadavg $(cut -d' ' -f1-3 /proc/loadavg))"
MACHINE="nproc=$(nproc) ram=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2/1048576 }' /proc/meminfo) cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
echo "$MACHINE" >&2

# ---------------------------------------------------------------------------
log "fresh database $DB_NAME"
psql "$PG_URL/postgres" -qAt -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS $DB_NAME WITH (FORCE)" -c "CREATE DATABASE $DB_NAME" >/dev/null

PORT=$(free_port)
BASE="http://127.0.0.1:$PORT"
export SWITCHBOARD__DATABASE__URL="$PG_URL/$DB_NAME?sslmode=${BENCH_SSLMODE:-disable}"
export SWITCHBOARD__SERVER__LISTEN="127.0.0.1:$PORT"
export SWITCHBOARD__LOG__FILTER=warn
export RUST_LOG=warn
export SWITCHBOARD__STORAGE__DATA_DIR="$WORK/data-pg"

log "starting serve on Postgres at $BASE"
"$BIN" serve >"$WORK/serve-pg.out" 2>"$WORK/serve-pg.err" &
SERVE_PID=$!
wait_ready "$BASE" "$SERVE_PID"
sleep 2 # let start-up allocations settle before reading RSS
RSS_START=$(rss_kb "$SERVE_PID")
log "idle RSS after start: ${RSS_START} kB"

TOKEN=$("$BIN" token create --org default --role admin --name bench)
[[ -n "$TOKEN" ]] || { echo "token create printed nothing" >&2; exit 1; }

run_bench() {
    local scenario=$1 out=$2
    if [[ "${BENCH_PIDSTAT:-0}" == 1 ]] && command -v pidstat >/dev/null; then
        # CPU of every process while the bench runs (daemon, bench, postgres backends).
        pidstat -u -h 1 > "$WORK/pidstat-$scenario.txt" &
        SAMPLER_PID=$!
    fi
    # Run through a symlink so the load generator shows as `sb-loadgen` in
    # pidstat/top, apart from the daemon (`switchboard`).
    ln -sf "$BIN" "$WORK/sb-loadgen"
    SWITCHBOARD_TOKEN="$TOKEN" "$WORK/sb-loadgen" bench --url "$BASE" --scenario "$scenario" \
        --concurrency "$CONCURRENCY" --seconds "$SECONDS_PER_RUN" | tee "$out"
    if [[ -n "$SAMPLER_PID" ]]; then
        kill -INT "$SAMPLER_PID" 2>/dev/null || true
        wait "$SAMPLER_PID" 2>/dev/null || true
        SAMPLER_PID=""
        # Average %CPU per command over the samples (100 % = one core).
        awk '!/^#/ && NF >= 9 && $1 ~ /^[0-9:]+$/ { cpu[$NF] += $(NF-2); n[$NF]++; t[$1]=1 }
             END { s = length(t); for (c in cpu) if (cpu[c]/s >= 1) printf "  %-16s %6.1f %%CPU\n", c, cpu[c]/s }' \
            "$WORK/pidstat-$scenario.txt" | sort -k2 -nr >&2 || true
    fi
}

log "scenario create ($CONCURRENCY clients, ${SECONDS_PER_RUN}s)"
run_bench create "$WORK/create.txt"
log "scenario get ($CONCURRENCY clients, ${SECONDS_PER_RUN}s)"
run_bench get "$WORK/get.txt"

sleep 5 # idle again
RSS_AFTER=$(rss_kb "$SERVE_PID")
log "idle RSS after load: ${RSS_AFTER} kB"

stop_daemon "$SERVE_PID"
PG_EXIT=$STOP_STATUS
SERVE_PID=""
log "serve (Postgres) exit status after SIGTERM: $PG_EXIT"

# ---------------------------------------------------------------------------
log "SQLite start-to-ready"
READY_MS=()
for run in 1 2 3 4 5; do
    dir="$WORK/lite-$run"
    mkdir -p "$dir"
    PORT=$(free_port)
    start=$(now_ns)
    SWITCHBOARD__DATABASE__URL="sqlite://$dir/switchboard.db" \
        SWITCHBOARD__SERVER__LISTEN="127.0.0.1:$PORT" \
        SWITCHBOARD__STORAGE__DATA_DIR="$dir/data" \
        "$BIN" serve >"$dir/out" 2>"$dir/err" &
    LITE_PID=$!
    # Tight loop: no sleep, curl's own start-up (~2-5 ms) bounds the resolution.
    until curl -fs -o /dev/null --max-time 1 "http://127.0.0.1:$PORT/readyz" 2>/dev/null; do
        kill -0 "$LITE_PID" 2>/dev/null || { echo "sqlite serve exited early" >&2; cat "$dir/err" >&2; exit 1; }
    done
    end=$(now_ns)
    READY_MS+=( $(( (end - start) / 1000000 )) )
    if [[ $run == 1 ]]; then
        sleep 2
        RSS_LITE=$(rss_kb "$LITE_PID")
    fi
    stop_daemon "$LITE_PID"
    LITE_EXIT=$STOP_STATUS
    LITE_PID=""
    [[ "$LITE_EXIT" == 0 ]] || { echo "sqlite serve exited $LITE_EXIT on SIGTERM" >&2; exit 1; }
done
READY_SORTED=$(printf '%s\n' "${READY_MS[@]}" | sort -n | tr '\n' ' ')
READY_MEDIAN=$(printf '%s\n' "${READY_MS[@]}" | sort -n | sed -n 3p)

# ---------------------------------------------------------------------------
field() { grep -o "$1=[^ ]*" "$2" | cut -d= -f2; }
CREATE_TPS=$(field throughput "$WORK/create.txt" | tr -d '/s')
CREATE_P99=$(field p99 "$WORK/create.txt" | tr -d 'ms')
GET_TPS=$(field throughput "$WORK/get.txt" | tr -d '/s')
GET_P99=$(field p99 "$WORK/get.txt" | tr -d 'ms')
verdict() { if awk "BEGIN { exit !($1) }"; then echo met; else echo MISSED; fi; }

cat <<EOF

Switchboard load benchmark — $(date -u +%Y-%m-%dT%H:%MZ)
$MACHINE
clients=$CONCURRENCY seconds=$SECONDS_PER_RUN database=$SWITCHBOARD__DATABASE__URL

target                                   measured                          verdict
POST /api/v1/tickets >= 2500/s, p99<25ms ${CREATE_TPS}/s p99=${CREATE_P99}ms $(verdict "$CREATE_TPS >= 2500 && $CREATE_P99 < 25")
GET /api/v1/tickets/{n} >= 10000/s       ${GET_TPS}/s p99=${GET_P99}ms     $(verdict "$GET_TPS >= 10000")
idle RSS of serve (Postgres) < 30 MB     start ${RSS_START} kB, after load ${RSS_AFTER} kB $(verdict "$RSS_AFTER < 30720 && $RSS_START < 30720")
idle RSS of serve (SQLite)               ${RSS_LITE} kB
SQLite start-to-ready < 300 ms           median ${READY_MEDIAN} ms (runs: ${READY_SORTED}) $(verdict "$READY_MEDIAN < 300")
SIGTERM exits 0                          postgres=$PG_EXIT sqlite=0        $(verdict "$PG_EXIT == 0")
EOF
[[ "$PG_EXIT" == 0 ]]
