#!/usr/bin/env bash
# Email ingest benchmark (see BENCHMARKS.md): messages/s from a local Dovecot
# mailbox into tickets and comments on a local PostgreSQL.
#
# Starts a throwaway Dovecot (config, user and maildir in a temp dir, plain
# IMAP on a free loopback port), re-creates the database switchboard_email_bench,
# then runs `switchboard bench --scenario email`, which fills the mailbox with
# BENCH_MESSAGES mixed messages (20 % with an attachment, some HTML-only, every
# tenth a reply) and times one mailbox worker taking them all in.
#
# Environment:
#   BENCH_DATABASE_URL  Postgres server URL (default postgres://postgres@127.0.0.1:5432)
#   BENCH_MESSAGES      messages (default 5000)
#   BENCH_CORPUS        a directory of .eml files to take in instead (real-world
#                       mail, e.g. from benches/mail-corpus.py); BENCH_MESSAGES
#                       is then ignored
#   BENCH_PROFILE       cargo profile of the binary (default release)
#   BENCH_BIN           a binary to run instead of building one (A/B runs)
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
PROFILE=${BENCH_PROFILE:-release}
PG_URL=${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432}
PG_URL=${PG_URL%/}
DB_NAME=switchboard_email_bench
MESSAGES=${BENCH_MESSAGES:-5000}

DOVECOT=$(command -v dovecot || echo /usr/sbin/dovecot)
if [[ ! -x $DOVECOT ]]; then
    echo "email bench: Dovecot is not installed (apt-get install -y dovecot-imapd)" >&2
    exit 1
fi

WORK=$(mktemp -d -t switchboard-email-bench.XXXXXX)
chmod 755 "$WORK"
DOVECOT_PID=""
cleanup() {
    if [[ -n "$DOVECOT_PID" ]] && kill -0 "$DOVECOT_PID" 2>/dev/null; then
        kill -TERM "$DOVECOT_PID" 2>/dev/null || true
        wait "$DOVECOT_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

if [[ -n ${BENCH_BIN:-} ]]; then
    BIN=$BENCH_BIN
elif [[ $PROFILE == release ]]; then
    cargo build --release --locked --quiet
    BIN="$ROOT/target/release/switchboard"
else
    cargo build --locked --quiet
    BIN="$ROOT/target/debug/switchboard"
fi

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$WORK/run" "$WORK/state" "$WORK/mail" "$WORK/home" "$WORK/data"
chmod 755 "$WORK/run"
if [[ $(id -u) -eq 0 ]]; then
    MAIL_UID=65534 MAIL_GID=65534 INTERNAL=dovecot LOGIN=dovenull
    chown "$MAIL_UID:$MAIL_GID" "$WORK/mail" "$WORK/home"
else
    MAIL_UID=$(id -u) MAIL_GID=$(id -g) INTERNAL=$(id -un) LOGIN=$(id -un)
fi
echo 'bench@corp.example:{PLAIN}bench-secret::::::' > "$WORK/passwd"
cat > "$WORK/dovecot.conf" <<CONF
base_dir = $WORK/run
state_dir = $WORK/state
log_path = $WORK/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
default_internal_user = $INTERNAL
default_login_user = $LOGIN
first_valid_uid = 0
first_valid_gid = 0
mail_location = maildir:$WORK/mail/%u
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $WORK/passwd
}
userdb {
  driver = static
  args = uid=$MAIL_UID gid=$MAIL_GID home=$WORK/home/%u
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $PORT
  }
  inet_listener imaps {
    port = 0
  }
}
CONF
"$DOVECOT" -F -c "$WORK/dovecot.conf" &
DOVECOT_PID=$!
for _ in $(seq 1 200); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then break; fi
    sleep 0.05
done

psql "$PG_URL/postgres" -qc "DROP DATABASE IF EXISTS $DB_NAME" -c "CREATE DATABASE $DB_NAME" >/dev/null

export SWITCHBOARD__DATABASE__URL="$PG_URL/$DB_NAME?sslmode=disable"
export SWITCHBOARD__STORAGE__DATA_DIR="$WORK/data"
export SWITCHBOARD__EMAIL__IMAP_URL="imap://bench%40corp.example:bench-secret@127.0.0.1:$PORT/INBOX"
export SWITCHBOARD__EMAIL__FROM="Help Desk <help@corp.example>"
export SWITCHBOARD__LOG__FILTER=${SWITCHBOARD__LOG__FILTER:-warn}
"$BIN" migrate
if [[ -n ${BENCH_CORPUS:-} ]]; then
    "$BIN" bench --scenario email --corpus "$BENCH_CORPUS"
else
    "$BIN" bench --scenario email --messages "$MESSAGES"
fi
psql "$PG_URL/$DB_NAME" -qAt -c "SELECT 'tickets=' || count(*) FROM tickets" \
    -c "SELECT 'comments=' || count(*) FROM comments" \
    -c "SELECT 'attachments=' || count(*) FROM attachments" \
    -c "SELECT 'acknowledgements=' || count(*) FROM outbox WHERE channel = 'email'"
