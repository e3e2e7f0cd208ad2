#!/usr/bin/env bash
# CMDB benchmark: generate 100,000 CIs and 500,000 relationships, import
# them with `switchboard cmdb import` (timed), then time impact analysis to
# depth 5 from several CIs with `switchboard bench --scenario impact`.
# Needs a local PostgreSQL (trust auth) and python3. See BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."

CIS=${BENCH_CIS:-100000}
RELS=${BENCH_RELATIONSHIPS:-500000}
BASE=${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432}
DB=switchboard_cmdb_bench
WORK=$(mktemp -d)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
SERVER_PID=
cleanup() {
    [[ -n $SERVER_PID ]] && kill "$SERVER_PID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

cargo build --release --quiet
BIN=target/release/switchboard
python3 benches/gen_cmdb.py "$CIS" "$RELS" "$WORK"
psql "$BASE/postgres" -qc "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
export SWITCHBOARD__DATABASE__URL="$BASE/$DB?sslmode=disable"
export SWITCHBOARD__LOG__FILTER=error
export SWITCHBOARD__SERVER__LISTEN="127.0.0.1:$PORT"

start=$(date +%s%N)
"$BIN" cmdb import --quiet "$WORK/items.jsonl"
mid=$(date +%s%N)
"$BIN" cmdb import --quiet --batch 5000 "$WORK/relationships.jsonl"
end=$(date +%s%N)
echo "import: items $(( (mid - start) / 1000000 )) ms, relationships $(( (end - mid) / 1000000 )) ms, total $(( (end - start) / 1000000 )) ms"

TOKEN=$("$BIN" token create --org default --role admin)
"$BIN" serve & SERVER_PID=$!
until curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null; do sleep 0.1; done
for ext in server-0 database-0 application-0 service-10 virtual_machine-100; do
    ci=$(psql "$BASE/$DB" -tAc "SELECT id FROM configuration_items WHERE external_id = '$ext'")
    printf '%-20s ' "$ext"
    "$BIN" bench --url "http://127.0.0.1:$PORT" --token "$TOKEN" --scenario impact --ci "$ci" --depth 5 \
        --concurrency 1 --seconds 10 | sed 's/^/  /'
done
