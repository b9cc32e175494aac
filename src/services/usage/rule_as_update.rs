//! The common case, in as few round trips as the database allows.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use uuid::Uuid;

use crate::error::{AppError, is_unique_violation};

/// The common case as one conditional write — [`super::rule::judge`] as SQL: the counter
/// exists, the subscription is active, the plan has the metric ($2), a resetting metric does
/// not shrink, `used + $1` stays at or above 0, and an increase stays within `max`.
/// Returns `used, max`.
macro_rules! counted_update {
    () => {
        "UPDATE usage_counters SET used = used + $1 \
         WHERE metric = $2 \
           AND subscription_id = \
               (SELECT id FROM subscriptions WHERE business_id = $3 AND status = 'active') \
           AND used + $1 >= 0 \
           AND EXISTS (SELECT 1 FROM plan_limits l JOIN subscriptions s ON l.plan_id = s.plan_id \
                       WHERE s.business_id = $3 AND l.metric = $2 \
                         AND ($1 >= 0 OR NOT l.resets_each_period) \
                         AND ($1 <= 0 OR l.max IS NULL OR usage_counters.used + $1 <= l.max)) \
         RETURNING used, \
           (SELECT l.max FROM plan_limits l JOIN subscriptions s ON l.plan_id = s.plan_id \
            WHERE s.business_id = $3 AND l.metric = $2) AS max"
    };
}

/// PostgreSQL only: the conditional write and the event's insert in one statement, so the
/// common case with a key is one round trip. A key seen before violates the unique key and the
/// whole statement — the count included — is undone.
const COUNTED_AND_RECORDED: &str = concat!(
    "WITH counted AS (",
    counted_update!(),
    "), recorded AS (\
       INSERT INTO usage_events \
         (id, business_id, idempotency_key, metric, quantity, accepted, used_after, limit_after, \
          created_at) \
       SELECT $4, $3, $5, $2, $1, TRUE, used, max, $6 FROM counted) \
     SELECT used, max FROM counted"
);

/// The common case in one statement (see [`counted_update!`]). `None` when any of its
/// conditions fails; the slow path then tells which.
pub(super) async fn add_fast<C: ConnectionTrait>(
    db: &C,
    business_id: Uuid,
    metric: &str,
    quantity: i64,
) -> Result<Option<(i64, Option<i64>)>, AppError> {
    let statement = Statement::from_sql_and_values(
        db.get_database_backend(),
        counted_update!(),
        [
            quantity.into(),
            metric.to_owned().into(),
            business_id.into(),
        ],
    );
    used_and_max(db.query_one_raw(statement).await?)
}

fn used_and_max(row: Option<sea_orm::QueryResult>) -> Result<Option<(i64, Option<i64>)>, AppError> {
    Ok(row
        .map(|row| Ok::<_, sea_orm::DbErr>((row.try_get("", "used")?, row.try_get("", "max")?)))
        .transpose()?)
}

/// What the one-statement path of PostgreSQL found.
pub(super) enum OneStatement {
    Counted(i64, Option<i64>),
    /// The key was recorded before: nothing was counted.
    Seen,
    /// A condition failed: the slow path must tell which.
    Missed,
}

pub(super) async fn count_and_record_at_once(
    db: &DatabaseConnection,
    business_id: Uuid,
    metric: &str,
    quantity: i64,
    key: &str,
    now: DateTime<Utc>,
) -> Result<OneStatement, AppError> {
    let statement = Statement::from_sql_and_values(
        DbBackend::Postgres,
        COUNTED_AND_RECORDED,
        [
            quantity.into(),
            metric.to_owned().into(),
            business_id.into(),
            Uuid::now_v7().into(),
            key.to_owned().into(),
            now.into(),
        ],
    );
    match db.query_one_raw(statement).await {
        Ok(row) => Ok(match used_and_max(row)? {
            Some((used, max)) => OneStatement::Counted(used, max),
            None => OneStatement::Missed,
        }),
        Err(err) if is_unique_violation(&err) => Ok(OneStatement::Seen),
        Err(err) => Err(err.into()),
    }
}
