#!/usr/bin/env bash
# Alert intake benchmark of issue 19's targets (see BENCHMARKS.md), on
# local Postgres:
#   - Alertmanager notifications of 1,000 alerts, each a new group (a new
#     incident and 1,000 alert rows): p99 accepted < 50 ms
#   - notifications of 10-alert groups cycling over 100 groups (each post
#     updates its incident, one alert flipping): >= 1,000 posts/s sustained
#   - notifications of 10-alert groups, each a new group (a new incident per post)
#
# Usage: bash benches/alerts.sh
# Environment:
#   BENCH_DATABASE_URL  Postgres server URL (default postgres://postgres@127.0.0.1:5432);
#                       the database switchboard_bench_alerts on it is dropped and re-created.
#   BENCH_SECONDS       seconds per scenario after a 2 s warm-up (default 20)
#   BENCH_BIN           run this binary instead of building the checkout (A/B runs)
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
BIN=${BENCH_BIN:-"$ROOT/target/release/switchboard"}
PG_URL=${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432}
PG_URL=${PG_URL%/}
DB_NAME=switchboard_bench_alerts
SECONDS_PER_RUN=${BENCH_SECONDS:-20}
WORK=$(mktemp -d -t switchboard-bench-alerts.XXXXXX)
SERVE_PID=""

cleanup() {
    if [[ -n "$SERVE_PID" ]] && kill -0 "$SERVE_PID" 2>/dev/null; then
        kill -TERM "$SERVE_PID" 2>/dev/null || true
        wait "$SERVE_PID" 2>/dev/null || true
    fi
    psql "$PG_URL/postgres" -qAt -c "DROP DATABASE IF EXISTS $DB_NAME WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '== %s\n' "$*" >&2; }

if [[ -z "${BENCH_BIN:-}" ]]; then
    log "building release binary"
    cargo build --release --quiet
fi
log "machine: nproc=$(nproc) loadavg $(cut -d' ' -f1-3 /proc/loadavg)"

psql "$PG_URL/postgres" -qAt -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS $DB_NAME WITH (FORCE)" -c "CREATE DATABASE $DB_NAME" >/dev/null
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE="http://127.0.0.1:$PORT"
export SWITCHBOARD__DATABASE__URL="$PG_URL/$DB_NAME?sslmode=disable"
export SWITCHBOARD__SERVER__LISTEN="127.0.0.1:$PORT"
export SWITCHBOARD__LOG__FILTER=warn
export RUST_LOG=warn
export SWITCHBOARD__STORAGE__DATA_DIR="$WORK/data"

"$BIN" serve >"$WORK/serve.out" 2>"$WORK/serve.err" &
SERVE_PID=$!
for _ in $(seq 1 3000); do
    curl -fsS -o /dev/null --max-time 1 "$BASE/readyz" 2>/dev/null && break
    kill -0 "$SERVE_PID" 2>/dev/null || { cat "$WORK/serve.err" >&2; exit 1; }
    sleep 0.01
done
TOKEN=$("$BIN" token create --org default --role admin --name bench)

run() {
    local label=$1
    shift
    log "$label"
    SWITCHBOARD_TOKEN="$TOKEN" "$BIN" bench --url "$BASE" --scenario alertmanager \
        --seconds "$SECONDS_PER_RUN" "$@"
}
run "1,000 alerts per notification, a new group each (1 client)" --alerts 1000 --groups 0 --concurrency 1
run "1,000 alerts per notification, a new group each (4 clients)" --alerts 1000 --groups 0 --concurrency 4
run "1,000 alerts per notification, 20 groups updated (1 client)" --alerts 1000 --groups 20 --concurrency 1
run "10 alerts, 100 groups updated (32 clients)" --alerts 10 --groups 100 --concurrency 32
run "10 alerts, a new group each (32 clients)" --alerts 10 --groups 0 --concurrency 32
INCIDENTS=$(psql "$PG_URL/$DB_NAME" -qAt -c "SELECT count(*) FROM tickets WHERE kind = 'incident'")
ALERTS=$(psql "$PG_URL/$DB_NAME" -qAt -c "SELECT count(*) FROM alerts")
log "in the database: $INCIDENTS incidents, $ALERTS alerts"
