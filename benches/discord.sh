#!/usr/bin/env bash
# Discord intake benchmark: signed interactions (a /ticket modal submission
# each, opening a ticket) → committed change → response, at a fixed rate
# (default 200/s) and then back to back, against a release build on local
# PostgreSQL. Outbound Discord calls (the requesters' confirmations) go to
# a closed port: they retry in the background and do not block intake.
set -euo pipefail
cd "$(dirname "$0")/.."

BASE=${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432}
DB=switchboard_discord_bench
RATE=${BENCH_RATE:-200}
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# A fixed test key: 32 bytes of 0x2a and its public key.
SEED=2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a
PUBLIC_KEY=197f6b23e16c8532c6abc838facd5ea789be0c76b2920334039bfa8b3d368d61
SERVER_PID=
trap '[[ -n $SERVER_PID ]] && kill $SERVER_PID 2>/dev/null || true' EXIT

cargo build --release --quiet
BIN=target/release/switchboard
psql "$BASE/postgres" -qc "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
export SWITCHBOARD__DATABASE__URL="$BASE/$DB?sslmode=disable"
export SWITCHBOARD__LOG__FILTER=error
export SWITCHBOARD__SERVER__LISTEN="127.0.0.1:$PORT"
export SWITCHBOARD__DISCORD__APPLICATION_ID=1100000000000000001
export SWITCHBOARD__DISCORD__PUBLIC_KEY=$PUBLIC_KEY
export SWITCHBOARD__DISCORD__BOT_TOKEN=bench-bot-token
export SWITCHBOARD__DISCORD__API_BASE_URL=http://127.0.0.1:9/api/v10
TOKEN=$("$BIN" token create --org default --role admin)
"$BIN" serve & SERVER_PID=$!
until curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null; do sleep 0.1; done
"$BIN" bench --url "http://127.0.0.1:$PORT" --token "$TOKEN" --scenario discord --discord-seed "$SEED" --rate "$RATE" --concurrency 32 --seconds 20
"$BIN" bench --url "http://127.0.0.1:$PORT" --token "$TOKEN" --scenario discord --discord-seed "$SEED" --concurrency 32 --seconds 20
