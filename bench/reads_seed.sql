-- Bulk data for bench/reads.sh, written by SQL (not through the API) so that 100,000
-- businesses take minutes: each business has an owner and two members, a subscription on the
-- default plan with a `recordings` counter, ten audit events and three archived usage
-- periods. Run by psql with -v businesses=N on a database saaskit has migrated and seeded.
\set ON_ERROR_STOP on
BEGIN;
CREATE TEMP TABLE seed AS
SELECT n,
       gen_random_uuid() AS business_id,
       gen_random_uuid() AS subscription_id,
       now() - make_interval(days => 400) + make_interval(secs => n) AS at
FROM generate_series(1, :businesses) AS n;

INSERT INTO businesses (id, name, created_at, updated_at)
SELECT business_id,
       (ARRAY['Acme', 'Globex', 'Initech', 'Umbrella', 'Hooli', 'Vandelay', 'Stark', 'Wonka'])[1 + n % 8]
         || ' ' || n || ' Ltd',
       at, at
FROM seed;

CREATE TEMP TABLE seed_members AS
SELECT s.n, m, s.business_id, s.at, gen_random_uuid() AS user_id
FROM seed s, generate_series(1, 3) AS m;

INSERT INTO users (id, email, name, password_hash, is_active, is_staff, is_bot, created_at, updated_at)
SELECT user_id, 'member' || m || '.' || n || '@company' || n || '.example',
       'Member ' || m || ' of ' || n, NULL, true, false, false, at, at
FROM seed_members;

INSERT INTO team_members (id, business_id, user_id, role, status, invited_by, activation_key_hash,
                          activation_expires_at, joined_at, created_at, updated_at)
SELECT gen_random_uuid(), business_id, user_id, CASE WHEN m = 1 THEN 'owner' ELSE 'member' END,
       'active', NULL, NULL, NULL, at, at, at
FROM seed_members;

INSERT INTO subscriptions (id, business_id, plan_id, status, current_period_start,
                           current_period_end, cancel_at_period_end, scheduled_plan_id,
                           credit_periods, created_at, updated_at, period_anchor)
SELECT subscription_id, business_id, (SELECT id FROM plans WHERE is_default), 'active',
       now() - interval '10 days', now() + interval '20 days', false, NULL, 0, at, at,
       now() - interval '10 days'
FROM seed;

INSERT INTO usage_counters (subscription_id, metric, used, period_start)
SELECT subscription_id, 'recordings', n % 90, now() - interval '10 days' FROM seed;

INSERT INTO usage_periods (id, subscription_id, metric, period_start, period_end, used)
SELECT gen_random_uuid(), subscription_id, 'recordings',
       now() - make_interval(days => 10 + 30 * p), now() - make_interval(days => 10 + 30 * (p - 1)),
       (n + p) % 100
FROM seed, generate_series(1, 3) AS p;

INSERT INTO audit_events (id, business_id, actor_user_id, action, target, data, created_at)
SELECT gen_random_uuid(), business_id, NULL, 'usage.recorded', 'recordings',
       json_build_object('n', e), at + make_interval(secs => e)
FROM seed, generate_series(1, 10) AS e;
COMMIT;
ANALYZE;
