-- The PostgreSQL ceiling for recordUsage: the transaction saaskit runs (record the event under
-- its idempotency key, add to the counter only within the limit), without HTTP, GraphQL or auth.
-- bench_targets maps 1..100 to the businesses that bench/setup.py signed up.
\set n random(1, 100)
\set r random(1, 1000000000000)
BEGIN;
INSERT INTO usage_events (id, business_id, idempotency_key, metric, quantity, accepted, used_after, created_at)
  SELECT gen_random_uuid(), business_id, 'pgbench-' || :client_id || '-' || :r, 'recordings', 1, TRUE, 0, now()
  FROM bench_targets WHERE n = :n
  ON CONFLICT (business_id, idempotency_key) DO NOTHING;
UPDATE usage_counters SET used = used + 1
  WHERE subscription_id = (SELECT subscription_id FROM bench_targets WHERE n = :n)
    AND metric = 'recordings' AND used + 1 <= 2000000000
  RETURNING used;
END;
