#!/usr/bin/env bash
# The subscription cycle benchmark (not a test): one `saaskit cycle --once` pass over N due
# subscriptions on PostgreSQL, each with three resetting counters, beside the ceiling — the
# same statements run by PostgreSQL itself (a PL/pgSQL function per renewal, driven by
# pgbench with as many clients as saaskit has renewals in flight), measured in the same run.
#
#   bench/cycle.sh                        # 10,000 subscriptions
#   BENCH_SUBSCRIPTIONS=1000 bench/cycle.sh
#   BENCH_BIN=target/debug/saaskit bench/cycle.sh   # an already built binary
#
# Needs psql, pgbench and /usr/bin/time; creates and drops the database saaskit_bench_cycle.
set -euo pipefail
cd "$(dirname "$0")/.."

N=${BENCH_SUBSCRIPTIONS:-10000}
PG=${BENCH_PG:-postgres://postgres@127.0.0.1:5432}
DB=$PG/saaskit_bench_cycle
CLIENTS=${BENCH_CLIENTS:-8}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"; psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS saaskit_bench_cycle WITH (FORCE)" >/dev/null 2>&1 || true' EXIT

for tool in psql pgbench /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is missing"; exit 1; }
done
BIN=${BENCH_BIN:-}
if [ -z "$BIN" ]; then
  echo "bench: building (release)"
  cargo build --release --quiet --bin saaskit
  BIN=target/release/saaskit
fi

psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS saaskit_bench_cycle WITH (FORCE)" >/dev/null
psql "$PG/postgres" -qc "CREATE DATABASE saaskit_bench_cycle" >/dev/null
DATABASE_URL=$DB SAASKIT_LOG=warn "$BIN" migrate

seed() { # N due subscriptions on one free plan with three resetting metrics, 7 used each
  psql "$DB" -q -v ON_ERROR_STOP=1 <<SQL
SET client_min_messages = warning;
TRUNCATE usage_periods, usage_counters, audit_events, subscriptions, businesses, plan_limits, plans CASCADE;
INSERT INTO plans (id, code, name, price_cents, currency, period_count, period_unit, is_public,
                   is_default, created_at, updated_at)
  VALUES ('00000000-0000-7000-8000-000000000001', 'bench', 'Bench', 0, 'USD', 1, 'month', true,
          true, now(), now());
INSERT INTO plan_limits (plan_id, metric, max, resets_each_period)
  SELECT '00000000-0000-7000-8000-000000000001', m, NULL, true
  FROM unnest(ARRAY['api_calls', 'exports', 'minutes']) m;
INSERT INTO businesses (id, name, created_at, updated_at)
  SELECT gen_random_uuid(), 'b' || i, now(), now() FROM generate_series(1, $N) i;
INSERT INTO subscriptions (id, business_id, plan_id, status, current_period_start,
    current_period_end, period_anchor, cancel_at_period_end, credit_periods, created_at, updated_at)
  SELECT gen_random_uuid(), id, '00000000-0000-7000-8000-000000000001', 'active',
         now() - interval '40 days', now() - interval '40 days' + interval '1 month',
         now() - interval '40 days',
         false, 0, now(), now()
  FROM businesses;
INSERT INTO usage_counters (subscription_id, metric, used, period_start)
  SELECT s.id, m, 7, s.current_period_start FROM subscriptions s,
         unnest(ARRAY['api_calls', 'exports', 'minutes']) m;
VACUUM ANALYZE;
SQL
}

# The ceiling: what saaskit's renewal does, statement for statement, inside PostgreSQL.
psql "$DB" -q <<'SQL'
CREATE FUNCTION bench_renew_one() RETURNS void LANGUAGE plpgsql AS $$
DECLARE s subscriptions%ROWTYPE; metrics text[];
BEGIN
  SELECT * INTO s FROM subscriptions WHERE status IN ('active', 'past_due')
    AND current_period_end <= now() ORDER BY current_period_end, id LIMIT 1 FOR UPDATE SKIP LOCKED;
  IF NOT FOUND THEN RETURN; END IF;
  UPDATE subscriptions SET plan_id = s.plan_id, scheduled_plan_id = NULL, updated_at = now(),
      current_period_start = s.period_anchor + interval '1 month',
      current_period_end = s.period_anchor + interval '2 months', period_anchor = s.period_anchor,
      status = 'active'
    WHERE id = s.id AND current_period_end = s.current_period_end AND status = s.status
      AND plan_id = s.plan_id AND scheduled_plan_id IS NULL AND cancel_at_period_end = false
      AND credit_periods = s.credit_periods;
  SELECT array_agg(c.metric) INTO metrics FROM (SELECT c.metric FROM usage_counters c
    JOIN plan_limits l ON l.plan_id = s.plan_id AND l.metric = c.metric
    WHERE c.subscription_id = s.id AND l.resets_each_period FOR UPDATE OF c) c;
  INSERT INTO usage_periods (id, subscription_id, metric, period_start, period_end, used)
    SELECT gen_random_uuid(), s.id, c.metric, s.current_period_start,
           s.period_anchor + interval '1 month', c.used
    FROM usage_counters c WHERE c.subscription_id = s.id AND c.metric = ANY(metrics)
    ON CONFLICT DO NOTHING;
  UPDATE usage_counters SET used = 0, period_start = s.period_anchor + interval '1 month'
    WHERE subscription_id = s.id AND metric = ANY(metrics);
  INSERT INTO audit_events (id, business_id, action, target, data, created_at)
    VALUES (gen_random_uuid(), s.business_id, 'subscription.renewed', 'bench', '{}', now());
END $$;
SQL
echo "SELECT bench_renew_one();" > "$WORK/renew.sql"

seed
echo "bench: saaskit cycle --once over $N due subscriptions"
DATABASE_URL=$DB SAASKIT_LOG=warn /usr/bin/time -v "$BIN" cycle --once >"$WORK/summary" 2>"$WORK/time"
cat "$WORK/summary"
SAASKIT_SECS=$(awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, t, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + t[i]; print s }' "$WORK/time")
RSS_KB=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$WORK/time")
ARCHIVED=$(psql "$DB" -Atc "SELECT count(*) FROM usage_periods")
[ "$ARCHIVED" = $((N * 3)) ] || { echo "bench: expected $((N * 3)) archived counters, found $ARCHIVED"; exit 1; }

seed
echo "bench: ceiling (pgbench, $CLIENTS clients, the same statements in PL/pgSQL)"
PER_CLIENT=$(( (N + CLIENTS - 1) / CLIENTS ))
START=$(date +%s.%N)
pgbench -n -c "$CLIENTS" -j 2 -t "$PER_CLIENT" -f "$WORK/renew.sql" "$DB" >"$WORK/pgbench" 2>&1
CEILING_SECS=$(echo "$(date +%s.%N) - $START" | bc)
LEFT=$(psql "$DB" -Atc "SELECT count(*) FROM subscriptions WHERE current_period_end <= now()")
[ "$LEFT" = 0 ] || { echo "bench: the ceiling left $LEFT due"; exit 1; }

python3 - "$N" "$SAASKIT_SECS" "$CEILING_SECS" "$RSS_KB" <<'PY'
import sys
n, ours, ceiling, rss = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
print(f"{'':24}{'time s':>10}{'renewals/s':>14}{'peak RSS MiB':>15}")
print(f"{'saaskit cycle --once':24}{ours:>10.2f}{n / ours:>14.0f}{rss / 1024:>15.1f}")
print(f"{'PostgreSQL ceiling':24}{ceiling:>10.2f}{n / ceiling:>14.0f}{'':>15}")
share = ceiling / ours
print(f"saaskit reaches {share:.0%} of the ceiling (goal >= 50%), "
      f"{'under' if ours < 10 else 'OVER'} 10 s, RSS {'<=' if rss <= 100 * 1024 else '>'} 100 MiB")
PY
