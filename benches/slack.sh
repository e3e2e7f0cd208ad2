#!/usr/bin/env bash
# Slack intake benchmark: signed direct-message events → committed ticket →
# 200, at a fixed rate (default 200/s) and then back to back, against a
# release build on local PostgreSQL. Outbound Slack calls go to a closed
# port (they retry in the background and do not block intake).
set -euo pipefail
cd "$(dirname "$0")/.."

BASE=${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432}
DB=switchboard_slack_bench
RATE=${BENCH_RATE:-200}
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
SERVER_PID=
trap '[[ -n $SERVER_PID ]] && kill $SERVER_PID 2>/dev/null || true' EXIT

cargo build --release --quiet
BIN=target/release/switchboard
psql "$BASE/postgres" -qc "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
export SWITCHBOARD__DATABASE__URL="$BASE/$DB?sslmode=disable"
export SWITCHBOARD__LOG__FILTER=error
export SWITCHBOARD__SERVER__LISTEN="127.0.0.1:$PORT"
export SWITCHBOARD__SLACK__SIGNING_SECRET=bench-secret
export SWITCHBOARD__SLACK__BOT_TOKEN=xoxb-bench
export SWITCHBOARD__SLACK__API_BASE_URL=http://127.0.0.1:9/api
TOKEN=$("$BIN" token create --org default --role admin)
"$BIN" serve & SERVER_PID=$!
until curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null; do sleep 0.1; done
"$BIN" bench --url "http://127.0.0.1:$PORT" --token "$TOKEN" --scenario slack --rate "$RATE" --concurrency 32 --seconds 20
"$BIN" bench --url "http://127.0.0.1:$PORT" --token "$TOKEN" --scenario slack --concurrency 32 --seconds 20
