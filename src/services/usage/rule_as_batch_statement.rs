//! PostgreSQL: the common batch as one statement.
//!
//! The portable batch ([`super::batch`]) is a transaction of six round trips: `BEGIN`, the
//! known keys, the locked counters, the counter update, the event insert, `COMMIT`. When
//! every call of a batch simply counts — each adds to a counter that exists, on an active
//! subscription whose plan has the metric, and the counter's total stays within its limit —
//! the answers need no judging one by one: a counter's calls add up in arrival order, and
//! each call's `used` is the counter as found plus its own running sum. That case is one
//! statement of data-modifying CTEs, committed on its own:
//!
//! - `held` locks each business's subscription shared, in business order, only if it is still
//!   the row the statement's snapshot read (step 1 of [`crate::services::locks`]): one changed
//!   meanwhile (a plan change, a renewal) is missing, and the batch counts nothing;
//! - `locked` locks the batch's counters, in one fixed order, and reads them as they are now
//!   (`FOR UPDATE` in `READ COMMITTED` sees the newest committed row), against the limits of
//!   the plan `held` found;
//! - `fits` is true only when every counter was found and every total fits its limit;
//! - `counted` adds each counter's total, and `recorded` inserts the keyed events, both only
//!   when `fits`.
//!
//! So the statement counts all of the batch or none of it. A key recorded before violates the
//! unique key and undoes the whole statement. In both cases the caller falls back to the
//! portable batch, which tells every call's own answer. Several nodes stay exact: the counters
//! are locked before they are judged, and stay locked until the statement commits.

use std::collections::{HashMap, HashSet};

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};
use serde::Serialize;
use uuid::Uuid;

use super::Recorded;
use super::batch::Call;
use crate::error::{AppError, is_deadlock, is_unique_violation};

/// $1: the batch's counters as a JSON array of [`Total`], $2: its keyed events as a JSON array
/// of [`Event`] (JSON, so that one prepared statement serves every batch size). What can be
/// worked out without the database — each counter's total, each event's running sum — is
/// worked out in Rust: the statement only reads, judges and writes.
const COUNT_ALL_OR_NONE: &str = "\
WITH totals AS (\
   SELECT * FROM json_to_recordset($1::json) AS x(business_id uuid, metric text, total bigint)), \
 events AS (\
   SELECT * FROM json_to_recordset($2::json) AS x(\
     id uuid, business_id uuid, metric text, quantity bigint, key text, upto bigint, \
     created_at timestamptz)), \
 seen AS MATERIALIZED (\
   SELECT s.id, s.business_id, s.plan_id, s.xmin::text AS version FROM subscriptions s \
   WHERE s.business_id IN (SELECT business_id FROM totals) AND s.status = 'active'), \
 held AS MATERIALIZED (\
   SELECT s.id, seen.business_id, seen.plan_id FROM subscriptions s \
   JOIN seen ON seen.id = s.id AND s.xmin::text = seen.version \
   ORDER BY seen.business_id \
   FOR SHARE OF s), \
 locked AS (\
   SELECT t.business_id, c.subscription_id, c.metric, c.used, l.max, t.total \
   FROM totals t \
   JOIN held h ON h.business_id = t.business_id \
   JOIN usage_counters c ON c.subscription_id = h.id AND c.metric = t.metric \
   JOIN plan_limits l ON l.plan_id = h.plan_id AND l.metric = c.metric \
   ORDER BY c.subscription_id, c.metric \
   FOR UPDATE OF c), \
 fits AS (\
   SELECT count(*) = (SELECT count(*) FROM totals) \
     AND coalesce(bool_and(used::numeric + total <= coalesce(max, 9223372036854775807)), TRUE) \
     AS fits \
   FROM locked), \
 counted AS (\
   UPDATE usage_counters c SET used = c.used + k.total FROM locked k \
   WHERE (SELECT fits FROM fits) \
     AND c.subscription_id = k.subscription_id AND c.metric = k.metric \
   RETURNING 1), \
 recorded AS (\
   INSERT INTO usage_events (id, business_id, idempotency_key, metric, quantity, accepted, \
     used_after, limit_after, created_at) \
   SELECT e.id, e.business_id, e.key, e.metric, e.quantity, TRUE, k.used + e.upto, k.max, \
     e.created_at \
   FROM events e JOIN locked k ON k.business_id = e.business_id AND k.metric = e.metric \
   WHERE (SELECT fits FROM fits)) \
SELECT business_id, metric, used, max FROM locked WHERE (SELECT fits FROM fits)";

/// What the batch adds to one counter.
#[derive(Serialize)]
struct Total<'a> {
    business_id: Uuid,
    metric: &'a str,
    total: i64,
}

/// One keyed call, to be recorded: `upto` is what the calls of its counter add up to, in
/// order, up to and including this one.
#[derive(Serialize)]
struct Event<'a> {
    id: Uuid,
    business_id: Uuid,
    metric: &'a str,
    quantity: i64,
    key: &'a str,
    upto: i64,
    created_at: chrono::DateTime<chrono::Utc>,
}

/// Whether `calls` may take the one statement: PostgreSQL, every call adds, and no key is
/// used twice in the batch (a repeat's answer is the first use's, which the statement does
/// not give).
pub(super) fn applies(db: &DatabaseConnection, calls: &[Call]) -> bool {
    if db.get_database_backend() != DbBackend::Postgres || calls.is_empty() {
        return false;
    }
    let mut keys = HashSet::with_capacity(calls.len());
    calls.iter().all(|call| {
        call.valid.quantity > 0
            && call
                .valid
                .key
                .as_deref()
                .is_none_or(|key| keys.insert((call.business_id, key)))
    })
}

/// Counts all of `calls`, answering each, or none of them (`None`: the portable batch must
/// tell each call's answer).
///
/// # Errors
/// The database failed; nothing was counted.
pub(super) async fn count_all_or_none<C: ConnectionTrait>(
    db: &C,
    calls: &[Call],
) -> Result<Option<Vec<Result<Recorded, AppError>>>, AppError> {
    // Each counter's running sum, in arrival order; a sum past what a counter holds cannot fit.
    let mut totals: HashMap<(Uuid, &str), i64> = HashMap::new();
    let mut upto = Vec::with_capacity(calls.len());
    for call in calls {
        let total = totals
            .entry((call.business_id, call.valid.metric.as_str()))
            .or_default();
        let Some(sum) = total.checked_add(call.valid.quantity) else {
            return Ok(None);
        };
        *total = sum;
        upto.push(sum);
    }
    let events: Vec<Event> = calls
        .iter()
        .zip(&upto)
        .filter_map(|(call, upto)| {
            Some(Event {
                id: Uuid::now_v7(),
                business_id: call.business_id,
                metric: &call.valid.metric,
                quantity: call.valid.quantity,
                key: call.valid.key.as_deref()?,
                upto: *upto,
                created_at: call.now,
            })
        })
        .collect();
    let totals: Vec<Total> = totals
        .into_iter()
        .map(|((business_id, metric), total)| Total {
            business_id,
            metric,
            total,
        })
        .collect();
    let statement = Statement::from_sql_and_values(
        DbBackend::Postgres,
        COUNT_ALL_OR_NONE,
        [to_json(&totals)?.into(), to_json(&events)?.into()],
    );
    let found = match db.query_all_raw(statement).await {
        Ok(found) => found,
        // A key was recorded before, or PostgreSQL broke a deadlock: the statement was undone,
        // and the portable batch tells each call's answer.
        Err(err) if is_unique_violation(&err) || is_deadlock(&err) => return Ok(None),
        Err(err) => return Err(err.into()),
    };
    if found.is_empty() {
        return Ok(None);
    }
    let counters = found
        .into_iter()
        .map(|row| {
            let pair: (Uuid, String) =
                (row.try_get("", "business_id")?, row.try_get("", "metric")?);
            let standing: (i64, Option<i64>) = (row.try_get("", "used")?, row.try_get("", "max")?);
            Ok((pair, standing))
        })
        .collect::<Result<HashMap<_, _>, DbErr>>()?;
    let answers = calls
        .iter()
        .zip(upto)
        .map(|(call, upto)| {
            let pair = (call.business_id, call.valid.metric.clone());
            let (used, limit) = counters
                .get(&pair)
                .ok_or_else(|| anyhow::anyhow!("a counted call's counter was not returned"))?;
            Ok(Recorded {
                metric: call.valid.metric.clone(),
                used: used + upto,
                limit: *limit,
                duplicate: false,
            })
        })
        .collect();
    Ok(Some(answers))
}

fn to_json<T: Serialize>(rows: &[T]) -> Result<String, AppError> {
    Ok(serde_json::to_string(rows).map_err(anyhow::Error::from)?)
}
