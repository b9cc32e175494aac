#!/usr/bin/env bash
# Batched recording on PostgreSQL (issue 12), side by side in one run: recordUsage for 100
# businesses and for one hot business, recordUsages of 100 events per call, recordUsage at low
# load (8 connections), and two pgbench ceilings with one event per statement — (a) hot: the
# conditional increment of one counter row plus its event insert; (b) spread: the same over
# 1,000 counters on a minimal schema. Prints a table.
#
#   bench/batch.sh                     # 64 connections, 5 s warm-up, 15 s runs
#   BENCH_SECONDS=10 bench/batch.sh
#   BENCH_BIN=path/to/saaskit bench/batch.sh   # a binary built before, e.g. to compare two
#   SAASKIT_USAGE_WRITERS=1 bench/batch.sh     # the server's settings pass through
#
# Needs wrk, pgbench and the PostgreSQL of scripts/ensure-postgres.sh; creates and drops the
# database saaskit_bench.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_RUN=${BENCH_SECONDS:-15}
WARMUP=${BENCH_WARMUP:-5}
CONNECTIONS=${BENCH_CONNECTIONS:-64}
PORT=${BENCH_PORT:-18080}
PG=${BENCH_PG:-postgres://postgres@127.0.0.1:5432}
WORK=$(mktemp -d)
RESULTS=$WORK/results
URL=http://127.0.0.1:$PORT
STAFF_EMAIL=bench-staff@example.com
STAFF_PASSWORD="bench staff password"
PGDB=$PG/saaskit_bench

for tool in wrk pgbench psql python3; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is missing (apt-get install wrk postgresql-client)"; exit 1; }
done
if [ -n "${BENCH_BIN:-}" ]; then
  BIN=$BENCH_BIN
else
  echo "bench: building (release)"
  cargo build --release --quiet --bin saaskit
  BIN=target/release/saaskit
fi
KEY=$($BIN keygen)
SERVER=
stop_server() { if [ -n "$SERVER" ]; then kill -INT "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; SERVER=; fi; }
trap 'stop_server; rm -rf "$WORK"' EXIT

psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS saaskit_bench WITH (FORCE)" -qc "CREATE DATABASE saaskit_bench"
DATABASE_URL=$PGDB "$BIN" staff create --email $STAFF_EMAIL --password "$STAFF_PASSWORD" >/dev/null
# The setup signs up 100 businesses from one address.
env DATABASE_URL="$PGDB" SAASKIT_BIND=127.0.0.1:$PORT SAASKIT_ROOT_KEY="$KEY" SAASKIT_LOG=warn \
  SAASKIT_AUTH_ATTEMPTS_PER_MINUTE=100000 SAASKIT_USAGE_RATE_PER_SECOND=1000000 SAASKIT_USAGE_RATE_BURST=1000000 \
  SAASKIT_MAIL_DIR="$WORK/mail" "$BIN" serve >"$WORK/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 1 100); do curl -sf "$URL/ready" >/dev/null 2>&1 && break; sleep 0.1; done
python3 bench/setup.py "$URL" $STAFF_EMAIL "$STAFF_PASSWORD" 100 "$WORK/keys" "$WORK/logins"
head -1 "$WORK/keys" >"$WORK/hot"

load() { # NAME KEYS CONNECTIONS EVENTS SECONDS
  local run="$1-$RANDOM" line events
  line=$(BENCH_RUN="$run" BENCH_KEYS="$2" BENCH_EVENTS="$4" \
    wrk -t2 -c"$3" -d"$5"s --latency -s bench/record_usage.lua "$URL" | grep '^{"requests"')
  sleep 0.5 # requests still in flight when wrk stopped
  events=$(psql "$PGDB" -Atc "SELECT count(*) FROM usage_events WHERE idempotency_key LIKE '$run-%'")
  # Every event of a request that succeeded is recorded under its own key; the rest failed.
  python3 -c 'import json, sys; r = json.loads(sys.argv[1]); n = int(sys.argv[3]); r["events_per_s"] = int(sys.argv[2]) / float(sys.argv[5]); r["errors"] = r.pop("http_errors") + max(0, r["requests"] * n - int(sys.argv[2])); print(sys.argv[4], json.dumps(r))' \
    "$line" "$events" "$4" "$1" "$5" >>"$RESULTS"
}

echo "bench: saaskit"
load warmup "$WORK/keys" "$CONNECTIONS" 1 "$WARMUP"
load spread "$WORK/keys" "$CONNECTIONS" 1 "$SECONDS_RUN"
load hot "$WORK/hot" "$CONNECTIONS" 1 "$SECONDS_RUN"
load batch "$WORK/keys" "$CONNECTIONS" 100 "$SECONDS_RUN"
load low "$WORK/keys" 8 1 "$SECONDS_RUN"
echo "rss {\"kib\": $(awk '/VmHWM/ {print $2}' /proc/"$SERVER"/status)}" >>"$RESULTS"
stop_server

echo "bench: ceilings (pgbench, $CONNECTIONS clients, one event per statement)"
ceiling() { # NAME FILE [-D ...]
  local name=$1 file=$2; shift 2
  pgbench -n -M prepared -c "$CONNECTIONS" -j 2 -T "$WARMUP" "$@" -f "$file" "$PGDB" >/dev/null
  echo "$name {\"tps\": $(pgbench -n -M prepared -c "$CONNECTIONS" -j 2 -T "$SECONDS_RUN" "$@" -f "$file" "$PGDB" | awk '/^tps/ {print $3; exit}')}" >>"$RESULTS"
}
psql "$PGDB" -qc "CREATE TABLE bench_targets AS SELECT row_number() OVER (ORDER BY id) AS n, business_id, id AS subscription_id FROM subscriptions WHERE plan_id = (SELECT id FROM plans WHERE code = 'bench')"
ceiling hot_ceiling bench/pgbench_record_usage.sql -D businesses=1
psql "$PGDB" -q <<'SQL'
CREATE TABLE min_counters (id integer PRIMARY KEY, used bigint NOT NULL, max bigint NOT NULL);
CREATE TABLE min_events (id bigserial PRIMARY KEY, business_id integer NOT NULL,
  idempotency_key text NOT NULL, used_after bigint NOT NULL, UNIQUE (business_id, idempotency_key));
INSERT INTO min_counters SELECT n, 0, 2000000000 FROM generate_series(1, 1000) AS n;
SQL
ceiling spread_ceiling bench/pgbench_spread_ceiling.sql
psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS saaskit_bench WITH (FORCE)"

python3 - "$RESULTS" "$CONNECTIONS" "$SECONDS_RUN" <<'PY'
import json, sys
r = {}
for line in open(sys.argv[1]):
    name, _, payload = line.partition(" ")
    r[name] = json.loads(payload)
hot, spread = r["hot_ceiling"]["tps"], r["spread_ceiling"]["tps"]
print()
print(f"| PostgreSQL, {sys.argv[3]} s runs | connections | req/s | events/s | p50 ms | p99 ms | errors | vs ceiling |")
print("|---|---|---|---|---|---|---|---|")
def row(label, name, conns, ceiling=None, what=""):
    x = r[name]
    vs = f"{x['events_per_s'] / ceiling:.2f}x {what}" if ceiling else ""
    print(f"| {label} | {conns} | {x['rps']:.0f} | {x['events_per_s']:.0f} | {x['p50_ms']:.2f} | {x['p99_ms']:.2f} | {x['errors']} | {vs} |")
row("recordUsage, 1 hot business", "hot", sys.argv[2], hot, "(a)")
row("recordUsage, 100 businesses", "spread", sys.argv[2], spread, "(b)")
row("recordUsages, 100 events per call, 100 businesses", "batch", sys.argv[2])
row("recordUsage, 100 businesses, low load", "low", 8)
print(f"| ceiling (a) hot: pgbench, 1 counter row + event, one statement | {sys.argv[2]} | | {hot:.0f} | | | | |")
print(f"| ceiling (b) spread: pgbench, 1,000 counters, minimal schema | {sys.argv[2]} | | {spread:.0f} | | | | |")
print(f"\npeak RSS of saaskit: {r['rss']['kib'] / 1024:.1f} MiB")
PY
