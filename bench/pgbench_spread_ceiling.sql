-- The most PostgreSQL does one event at a time (bench/batch.sh, ceiling b): a conditional
-- increment of one of 1,000 integer-keyed counters and its event's insert under a unique
-- (business_id, idempotency_key), in one statement, on the minimal schema batch.sh creates.
\set n random(1, 1000)
\set r random(1, 1000000000000)
WITH counted AS (
  UPDATE min_counters SET used = used + 1 WHERE id = :n AND used + 1 <= max RETURNING used)
INSERT INTO min_events (business_id, idempotency_key, used_after)
SELECT :n, 'pgbench-' || :client_id || '-' || :r, used FROM counted;
