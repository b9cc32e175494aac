-- The PostgreSQL ceiling for recordUsage: the very statement saaskit runs for a call with an
-- idempotency key (src/services/usage/rule_as_update.rs, COUNTED_AND_RECORDED: the conditional counter update
-- and the event insert in one statement), without HTTP, GraphQL or auth around it.
-- bench_targets maps 1..:businesses to the businesses that bench/setup.py signed up (run with
-- -D businesses=N: with one business every transaction must hit it, not 1 in 100).
\set n random(1, :businesses)
\set r random(1, 1000000000000)
WITH t AS (SELECT business_id FROM bench_targets WHERE n = :n),
counted AS (
  UPDATE usage_counters SET used = used + 1
  WHERE metric = 'recordings'
    AND subscription_id =
        (SELECT id FROM subscriptions WHERE business_id = (SELECT business_id FROM t) AND status = 'active')
    AND used + 1 >= 0
    AND EXISTS (SELECT 1 FROM plan_limits l JOIN subscriptions s ON l.plan_id = s.plan_id
                WHERE s.business_id = (SELECT business_id FROM t) AND l.metric = 'recordings'
                  AND (l.max IS NULL OR usage_counters.used + 1 <= l.max)
                  AND (1 > 0 OR NOT l.resets_each_period))
  RETURNING used,
    (SELECT l.max FROM plan_limits l JOIN subscriptions s ON l.plan_id = s.plan_id
     WHERE s.business_id = (SELECT business_id FROM t) AND l.metric = 'recordings') AS max
), recorded AS (
  INSERT INTO usage_events
    (id, business_id, idempotency_key, metric, quantity, accepted, used_after, created_at)
  SELECT gen_random_uuid(), (SELECT business_id FROM t), 'pgbench-' || :client_id || '-' || :r,
         'recordings', 1, TRUE, used, now() FROM counted)
SELECT used, max FROM counted;
