#!/usr/bin/env bash
# The recordUsage benchmark: saaskit against the ceiling of its own database, side by side in
# one run, on PostgreSQL and on SQLite, then again beside a login storm. Prints a table.
#
#   bench/run.sh                       # 100 businesses, 64 connections, 5 s warm-up, 20 s runs
#   BENCH_SECONDS=10 bench/run.sh      # shorter
#
# Needs wrk and pgbench (apt-get install wrk postgresql-client) and the PostgreSQL server of
# scripts/ensure-postgres.sh. It creates and drops the database saaskit_bench.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_RUN=${BENCH_SECONDS:-20}
WARMUP=${BENCH_WARMUP:-5}
CONNECTIONS=${BENCH_CONNECTIONS:-64}
BUSINESSES=${BENCH_BUSINESSES:-100}
PORT=${BENCH_PORT:-18080}
PG=${BENCH_PG:-postgres://postgres@127.0.0.1:5432}
WORK=$(mktemp -d)
RESULTS=$WORK/results
URL=http://127.0.0.1:$PORT
STAFF_EMAIL=bench-staff@example.com
STAFF_PASSWORD="bench staff password"
export BENCH_KEYS=$WORK/keys BENCH_LOGINS=$WORK/logins

for tool in wrk pgbench psql python3; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is missing (apt-get install wrk postgresql-client)"; exit 1; }
done

echo "bench: building (release)"
cargo build --release --quiet --bin saaskit --example sqlite_ceiling
BIN=target/release/saaskit
KEY=$($BIN keygen)
SERVER=
stop_server() { if [ -n "$SERVER" ]; then kill -INT "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; SERVER=; fi; }
trap 'stop_server; rm -rf "$WORK"' EXIT

start_server() { # DATABASE_URL
  env DATABASE_URL="$1" SAASKIT_BIND=127.0.0.1:$PORT SAASKIT_ROOT_KEY="$KEY" SAASKIT_LOG=warn \
    SAASKIT_AUTH_ATTEMPTS_PER_MINUTE=100000 SAASKIT_USAGE_RATE_PER_SECOND=1000000 SAASKIT_USAGE_RATE_BURST=1000000 \
    SAASKIT_MAIL_DIR="$WORK/mail" ${BENCH_DB_CONNECTIONS:+SAASKIT_DB_MAX_CONNECTIONS=$BENCH_DB_CONNECTIONS} \
    "$BIN" serve >"$WORK/server.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 1 100); do curl -sf "$URL/ready" >/dev/null 2>&1 && return; sleep 0.1; done
  echo "bench: saaskit did not start"; cat "$WORK/server.log"; exit 1
}

prepare() { # DATABASE_URL
  DATABASE_URL=$1 "$BIN" staff create --email $STAFF_EMAIL --password "$STAFF_PASSWORD" >/dev/null
  start_server "$1"
  python3 bench/setup.py "$URL" $STAFF_EMAIL "$STAFF_PASSWORD" "$BUSINESSES" "$BENCH_KEYS" "$BENCH_LOGINS"
}

DB_NOW=
events_of() { # RUN: how many events the run's requests recorded
  case "$DB_NOW" in
    postgres*) psql "$DB_NOW" -Atc "SELECT count(*) FROM usage_events WHERE idempotency_key LIKE '$1-%'" ;;
    *) python3 -c "import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute(\"SELECT count(*) FROM usage_events WHERE idempotency_key LIKE ?\", (sys.argv[2] + '-%',)).fetchone()[0])" "$WORK/bench.db" "$1" ;;
  esac
}

sdk_load() { # NAME SECONDS
  local run="$1-$RANDOM" line
  line=$(BENCH_RUN="$run" wrk -t2 -c"$CONNECTIONS" -d"$2"s --latency -s bench/record_usage.lua "$URL" \
    | grep '^{"requests"')
  sleep 0.5 # requests still in flight when wrk stopped
  # Every request that succeeded recorded one event under its unique key; the rest failed.
  python3 -c 'import json, sys; r = json.loads(sys.argv[1]); r["errors"] = r.pop("http_errors") + max(0, r["requests"] - int(sys.argv[2])); print(sys.argv[3], json.dumps(r))' \
    "$line" "$(events_of "$run")" "$1" >>"$RESULTS"
}

peak_rss() { echo "$1 {\"kib\": $(awk '/VmHWM/ {print $2}' /proc/"$SERVER"/status)}" >>"$RESULTS"; }

# --- PostgreSQL ------------------------------------------------------------------------------
echo "bench: PostgreSQL"
psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS saaskit_bench WITH (FORCE)" -qc "CREATE DATABASE saaskit_bench"
PGDB=$PG/saaskit_bench
DB_NOW=$PGDB
prepare "$PGDB"
sdk_load warmup "$WARMUP"
sdk_load pg "$SECONDS_RUN"
wrk -t1 -c8 -d"$SECONDS_RUN"s -s bench/login.lua "$URL" | grep '^{"logins"' | sed 's/^/pg_logins /' >>"$RESULTS" &
STORM=$!
sdk_load pg_storm "$SECONDS_RUN"
wait $STORM
peak_rss pg_rss
stop_server

echo "bench: PostgreSQL ceiling (pgbench, the same statement, $CONNECTIONS clients)"
psql "$PGDB" -qc "CREATE TABLE bench_targets AS SELECT row_number() OVER (ORDER BY id) AS n, business_id, id AS subscription_id FROM subscriptions WHERE plan_id = (SELECT id FROM plans WHERE code = 'bench')"
pgbench -n -M prepared -c "$CONNECTIONS" -j 2 -T "$WARMUP" -D businesses="$BUSINESSES" -f bench/pgbench_record_usage.sql "$PGDB" >/dev/null
TPS=$(pgbench -n -M prepared -c "$CONNECTIONS" -j 2 -T "$SECONDS_RUN" -D businesses="$BUSINESSES" -f bench/pgbench_record_usage.sql "$PGDB" \
  | awk '/^tps/ {print $3; exit}')
echo "pg_ceiling {\"tps\": $TPS}" >>"$RESULTS"
psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS saaskit_bench WITH (FORCE)"

# --- SQLite ----------------------------------------------------------------------------------
echo "bench: SQLite"
SQLITE="sqlite://$WORK/bench.db?mode=rwc"
DB_NOW=$SQLITE
prepare "$SQLITE"
sdk_load warmup "$WARMUP"
sdk_load sqlite "$SECONDS_RUN"
peak_rss sqlite_rss
stop_server
echo "bench: SQLite ceiling (same transaction, same driver, $CONNECTIONS tasks)"
target/release/examples/sqlite_ceiling "$SQLITE" "$CONNECTIONS" "$SECONDS_RUN" | sed 's/^/sqlite_ceiling /' >>"$RESULTS"

python3 bench/report.py "$RESULTS"
