//! The common case, in as few round trips as the database allows.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use uuid::Uuid;

use crate::error::{AppError, is_unique_violation};

/// The common case as one conditional write — [`super::rule::judge`] as SQL: the counter
/// exists, the subscription ($3's) is active, its plan has the metric ($2), a resetting metric
/// does not shrink, `used + $1` stays at or above 0, and an increase stays within `max`.
/// Returns `used, max`. `$sub` names the active subscription's row (`id`, `plan_id`).
macro_rules! counted_update {
    ($sub:literal) => {
        concat!(
            "UPDATE usage_counters SET used = used + $1 \
             WHERE metric = $2 \
               AND subscription_id = (SELECT id FROM ", $sub, ") \
               AND used + $1 >= 0 \
               AND EXISTS (SELECT 1 FROM plan_limits l \
                           WHERE l.plan_id = (SELECT plan_id FROM ", $sub, ") AND l.metric = $2 \
                             AND ($1 >= 0 OR NOT l.resets_each_period) \
                             AND ($1 <= 0 OR l.max IS NULL OR usage_counters.used + $1 <= l.max)) \
             RETURNING used, \
               (SELECT l.max FROM plan_limits l \
                WHERE l.plan_id = (SELECT plan_id FROM ", $sub, ") AND l.metric = $2) AS max"
        )
    };
}

/// SQLite: the subscription as the statement reads it (the write lock is the database's).
const SQLITE_COUNTED: &str = concat!(
    "WITH active AS (SELECT id, plan_id FROM subscriptions \
                     WHERE business_id = $3 AND status = 'active') ",
    counted_update!("active")
);

/// PostgreSQL: the subscription as the statement's snapshot read it, locked shared (step 1 of
/// [`crate::services::locks`]) only if it is still that row. A plan change, a renewal or a
/// cancellation committed since the snapshot makes `held` empty, and the statement counts
/// nothing: the transaction path then locks first and reads after.
macro_rules! held {
    () => {
        "seen AS MATERIALIZED (SELECT id, plan_id, xmin::text AS version FROM subscriptions \
                               WHERE business_id = $3 AND status = 'active'), \
         held AS MATERIALIZED (SELECT s.id, seen.plan_id FROM subscriptions s \
                               JOIN seen ON seen.id = s.id AND s.xmin::text = seen.version \
                               FOR SHARE OF s) "
    };
}

const POSTGRES_COUNTED: &str = concat!("WITH ", held!(), counted_update!("held"));

/// PostgreSQL only: the conditional write and the event's insert in one statement, so the
/// common case with a key is one round trip. A key seen before violates the unique key and the
/// whole statement — the count included — is undone.
const COUNTED_AND_RECORDED: &str = concat!(
    "WITH ",
    held!(),
    ", counted AS (",
    counted_update!("held"),
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
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => POSTGRES_COUNTED,
        _ => SQLITE_COUNTED,
    };
    let statement = Statement::from_sql_and_values(
        backend,
        sql,
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
