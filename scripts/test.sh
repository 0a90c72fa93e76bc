#!/usr/bin/env bash
# The whole test suite, from a clean checkout: starts (or installs) PostgreSQL and Redis,
# installs the Node test client's packages, runs every Rust test (SQLite and PostgreSQL),
# then starts a fresh server (SQLite, then PostgreSQL) and runs the socket.io-client suite.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

log() { printf '\n==> %s\n' "$*"; }
need_apt_update=1
apt_install() {
  if [ "$need_apt_update" = 1 ]; then apt-get update -qq; need_apt_update=0; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# --- Patched crates: patches/<crate>/ must be the pinned upstream release + patches/<crate>.diff
# (offline and well under a second once cargo's cache holds the two upstream .crate files; the
# first run on a machine has cargo download them).
log "patches: copies match the diffs against upstream"
patches/apply.sh --check

# --- PostgreSQL (127.0.0.1:5432, trust auth) ---------------------------------------------
PG_BASE=${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432}
export TEST_POSTGRES_URL=$PG_BASE
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  log "starting PostgreSQL"
  if ! command -v pg_ctlcluster >/dev/null 2>&1; then apt_install postgresql; fi
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n1)" main start || true
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi
pg_isready -h 127.0.0.1 -p 5432
# Drop the databases the tests create (each test has its own), before the run (left behind
# by an earlier one) and when this script ends, however it ends: hundreds of them slow
# PostgreSQL (autovacuum visits each) and fill the disk.
drop_test_databases() {
  psql "$PG_BASE/postgres" -Atqc "SELECT datname FROM pg_database WHERE datname LIKE 'chatdesk\_test\_%'" 2>/dev/null |
    while read -r db; do psql "$PG_BASE/postgres" -qc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 || true; done
}
drop_test_databases
trap drop_test_databases EXIT

# --- Redis (127.0.0.1:6379) ----------------------------------------------------------------
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  log "starting Redis"
  if ! command -v redis-server >/dev/null 2>&1; then apt_install redis-server; fi
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  for _ in $(seq 1 30); do redis-cli ping >/dev/null 2>&1 && break; sleep 1; done
fi
export TEST_REDIS_URL=${TEST_REDIS_URL:-redis://127.0.0.1:6379}

# --- Node test client ----------------------------------------------------------------------
if ! command -v node >/dev/null 2>&1; then apt_install nodejs npm; fi
log "installing test-client packages"
(cd test-client && npm ci --no-audit --no-fund --loglevel=error)

# --- Rust: unit + integration tests on SQLite and PostgreSQL -------------------------------
log "cargo test (unit + integration, SQLite and PostgreSQL)"
cargo build --bins
# The server binary (CARGO_TARGET_DIR, when set, is only a build cache).
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug/chatdesk"
case "$BIN" in /*) ;; *) BIN="$ROOT/$BIN" ;; esac
# Most tests wait on sockets and timers, not the CPU: 6 at a time per binary keeps a 2-core
# machine busy without starving the servers they start.
cargo test --workspace -- --test-threads="${TEST_THREADS:-6}"

# --- socket.io-client suite against freshly started servers --------------------------------
run_node_suite() {
  local label=$1 db_url=$2
  local dir port pid
  dir=$(mktemp -d)
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  log "socket.io-client suite against a fresh server ($label, port $port)"
  (cd "$dir" && PORT=$port HOST=127.0.0.1 DATABASE_URL=$db_url RUST_LOG=warn \
     ADMIN_EMAIL=admin@test.local ADMIN_PASSWORD=node-suite-password \
     exec "$BIN") >"$dir/server.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break; sleep 0.1; done
  local token
  token=$(curl -fs -H 'content-type: application/json' \
    -d '{"email":"admin@test.local","password":"node-suite-password"}' \
    "http://127.0.0.1:$port/api/auth/login" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
  local rc=0
  (cd test-client && CHATDESK_TOKEN=$token node index.js --url "http://127.0.0.1:$port" &&
     CHATDESK_URL="http://127.0.0.1:$port" CHATDESK_ADMIN_TOKEN=$token node --test) || rc=$?
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  if [ "$rc" != 0 ]; then echo "--- server log ($label)"; tail -n 50 "$dir/server.log"; exit "$rc"; fi
  rm -rf "$dir"
}
run_node_suite sqlite "sqlite://chatdesk.db?mode=rwc"
PGDB="chatdesk_test_node_$$"
psql "$PG_BASE/postgres" -qc "CREATE DATABASE $PGDB" >/dev/null
run_node_suite postgresql "$PG_BASE/$PGDB"
psql "$PG_BASE/postgres" -qc "DROP DATABASE IF EXISTS $PGDB" >/dev/null 2>&1 || true

# --- Browser side (web/, e2e/): vendored socket.io client, console and widget in Chromium --
# The socket.io client compiled into the binary must be the pinned npm package's, byte for
# byte; then the e2e suite starts its own fresh servers (the binary built above) and drives
# the console and the widget in Debian's chromium through playwright-core (which never
# downloads a browser of its own). Screenshots land in test-output/screenshots/.
log "web: vendored socket.io client is the pinned npm package's"
web/check-vendor.sh
if ! [ -x /usr/bin/chromium ]; then
  log "installing chromium"
  apt_install chromium
fi
log "e2e: console and widget in Chromium"
(cd e2e && npm ci --no-audit --no-fund --loglevel=error)
(cd e2e && CHATDESK_BIN="$BIN" node --test)

log "all tests passed"
