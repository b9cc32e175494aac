//! Usage metering: `recordUsage`'s exactly-once, limit-enforcing counter, and the dashboard's
//! view of it.
//!
//! A call adds `quantity` to the metric's counter only when the result stays within the plan's
//! limit — one conditional `UPDATE … WHERE used + q <= max`, so concurrent calls never
//! overshoot. With an idempotency key the event is recorded under `(business, key)` in the same
//! transaction; a second call with that key counts nothing and returns the first call's answer.
//! Refused calls count nothing and record nothing, so a key may be retried after a refusal.

use chrono::{DateTime, Utc};
use entity::{MemberStatus, Role, SubscriptionStatus, team_members};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, PaginatorTrait,
    QueryFilter, Statement,
};
use uuid::Uuid;

use crate::error::{AppError, is_unique_violation};

/// Metrics counted from other data, not recorded.
const BUILT_IN: &[&str] = &["members"];
const MAX_KEY: usize = 255;

/// `recordUsage`'s input.
pub struct Record {
    pub metric: String,
    pub quantity: i64,
    pub idempotency_key: Option<String>,
}

/// What a metric stands at after a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub metric: String,
    pub used: i64,
    pub limit: Option<i64>,
    /// This call repeated an earlier one with the same key and counted nothing.
    pub duplicate: bool,
}

/// One metric on the dashboard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usage {
    pub metric: String,
    pub used: i64,
    pub limit: Option<i64>,
    /// When the counter starts again from zero; `None` for metrics that do not reset.
    pub resets_at: Option<DateTime<Utc>>,
}

/// The subscription and the limit of one metric, read in one query.
struct Metered {
    subscription_id: Uuid,
    status: SubscriptionStatus,
    period_start: DateTime<Utc>,
    max: Option<i64>,
    resets_each_period: bool,
}

fn check_key(key: Option<String>) -> Result<Option<String>, AppError> {
    let Some(key) = key else { return Ok(None) };
    let printable = key.bytes().all(|b| (0x20..=0x7e).contains(&b));
    if key.is_empty() || key.len() > MAX_KEY || !printable {
        return Err(AppError::bad_input(
            "idempotencyKey",
            "use 1 to 255 printable ASCII characters",
        ));
    }
    Ok(Some(key))
}

/// Records `input` for `business_id`.
///
/// # Errors
/// `BAD_USER_INPUT` on `metric` (unknown or built in), `quantity` (zero; negative on a
/// resetting metric or below zero) or `idempotencyKey`; `QUOTA_EXCEEDED`;
/// `SUBSCRIPTION_INACTIVE`; `CONFLICT` on `idempotencyKey` reused with another metric or
/// quantity. Nothing is counted on any error.
#[tracing::instrument(skip_all, fields(metric = %input.metric))]
pub async fn record(
    db: &DatabaseConnection,
    business_id: Uuid,
    input: Record,
    now: DateTime<Utc>,
) -> Result<Recorded, AppError> {
    let key = check_key(input.idempotency_key)?;
    let metric = input.metric.trim().to_owned();
    let quantity = input.quantity;
    if quantity == 0 {
        return Err(AppError::bad_input("quantity", "must not be zero"));
    }
    if BUILT_IN.contains(&metric.as_str()) {
        return Err(AppError::bad_input(
            "metric",
            format!("{metric} is counted by saaskit itself"),
        ));
    }

    // Without a key the common case is one statement, with no transaction around it.
    if key.is_none()
        && let Some((used, limit)) = add_fast(db, business_id, &metric, quantity).await?
    {
        return Ok(Recorded {
            metric,
            used,
            limit,
            duplicate: false,
        });
    }
    if let Some(key) = &key
        && db.get_database_backend() == DbBackend::Postgres
    {
        match count_and_record_at_once(db, business_id, &metric, quantity, key, now).await? {
            OneStatement::Counted(used, limit) => {
                return Ok(Recorded {
                    metric,
                    used,
                    limit,
                    duplicate: false,
                });
            }
            OneStatement::Seen => {
                let first = earlier(db, business_id, key).await?.ok_or_else(|| {
                    AppError::Internal(anyhow::anyhow!("idempotency key vanished"))
                })?;
                let recorded = replay(first, &metric, quantity, None)?;
                let limit = metered(db, business_id, &metric).await?.max;
                return Ok(Recorded { limit, ..recorded });
            }
            OneStatement::Missed => {}
        }
    }
    let txn = crate::db::begin_write(db).await?;
    let (used, limit) = match add_fast(&txn, business_id, &metric, quantity).await? {
        Some(added) => added,
        None => match add_slow(&txn, business_id, &metric, quantity).await? {
            Added::Counted { used, limit } => (used, limit),
            Added::Refused { error, limit } => {
                // A retry of a call that has already counted is not a refusal.
                if let Some(key) = &key
                    && let Some(first) = earlier(&txn, business_id, key).await?
                {
                    return replay(first, &metric, quantity, limit);
                }
                return Err(error);
            }
        },
    };
    let backend = txn.get_database_backend();
    if let Some(key) = &key {
        let inserted = txn
            .execute_raw(Statement::from_sql_and_values(
                backend,
                "INSERT INTO usage_events \
                 (id, business_id, idempotency_key, metric, quantity, accepted, used_after, created_at) \
                 VALUES ($1, $2, $3, $4, $5, TRUE, $6, $7) \
                 ON CONFLICT (business_id, idempotency_key) DO NOTHING",
                [
                    Uuid::now_v7().into(),
                    business_id.into(),
                    key.clone().into(),
                    metric.clone().into(),
                    quantity.into(),
                    used.into(),
                    now.into(),
                ],
            ))
            .await?;
        if inserted.rows_affected() == 0 {
            // Someone recorded this key first: undo our count and answer as they were answered.
            txn.rollback().await?;
            let first = earlier(db, business_id, key)
                .await?
                .ok_or_else(|| AppError::Internal(anyhow::anyhow!("idempotency key vanished")))?;
            return replay(first, &metric, quantity, limit);
        }
    }
    txn.commit().await?;
    Ok(Recorded {
        metric,
        used,
        limit,
        duplicate: false,
    })
}

/// The common case as one conditional write: the counter exists, the subscription is active,
/// the plan has the metric ($2), and `used + $1` stays within `0..=max`. Returns `used, max`.
macro_rules! counted_update {
    () => {
        "UPDATE usage_counters SET used = used + $1 \
         WHERE metric = $2 \
           AND subscription_id = \
               (SELECT id FROM subscriptions WHERE business_id = $3 AND status = 'active') \
           AND used + $1 >= 0 \
           AND EXISTS (SELECT 1 FROM plan_limits l JOIN subscriptions s ON l.plan_id = s.plan_id \
                       WHERE s.business_id = $3 AND l.metric = $2 \
                         AND (l.max IS NULL OR usage_counters.used + $1 <= l.max) \
                         AND ($1 > 0 OR NOT l.resets_each_period)) \
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
         (id, business_id, idempotency_key, metric, quantity, accepted, used_after, created_at) \
       SELECT $4, $3, $5, $2, $1, TRUE, used, $6 FROM counted) \
     SELECT used, max FROM counted"
);

/// The common case in one statement (see [`counted_update!`]). `None` when any of its
/// conditions fails; the slow path then tells which.
async fn add_fast<C: ConnectionTrait>(
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
enum OneStatement {
    Counted(i64, Option<i64>),
    /// The key was recorded before: nothing was counted.
    Seen,
    /// A condition failed: the slow path must tell which.
    Missed,
}

async fn count_and_record_at_once(
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

enum Added {
    Counted { used: i64, limit: Option<i64> },
    Refused { error: AppError, limit: Option<i64> },
}

/// Why the fast path refused, step by step; creates the counter on a metric's first use.
async fn add_slow<C: ConnectionTrait>(
    txn: &C,
    business_id: Uuid,
    metric: &str,
    quantity: i64,
) -> Result<Added, AppError> {
    let metered = metered(txn, business_id, metric).await?;
    if metered.status != SubscriptionStatus::Active {
        return Err(AppError::SubscriptionInactive);
    }
    if quantity < 0 && metered.resets_each_period {
        return Err(AppError::bad_input(
            "quantity",
            format!("{metric} only grows within a period"),
        ));
    }
    let mut added = add(txn, &metered, metric, quantity).await?;
    if added.is_none() {
        if !exists(txn, &metered, metric).await? {
            create_counter(txn, &metered, metric).await?;
        }
        // Again: the counter may have been created (by us, or by a concurrent first use that
        // committed in between) since the first attempt looked.
        added = add(txn, &metered, metric, quantity).await?;
    }
    Ok(match added {
        Some(used) => Added::Counted {
            used,
            limit: metered.max,
        },
        None => {
            let used = current(txn, &metered, metric).await?;
            Added::Refused {
                error: refused(metric, &metered, quantity, used),
                limit: metered.max,
            }
        }
    })
}

fn refused(metric: &str, metered: &Metered, quantity: i64, used: i64) -> AppError {
    if quantity < 0 {
        return AppError::bad_input("quantity", format!("{metric} cannot go below zero"));
    }
    AppError::QuotaExceeded {
        metric: metric.to_owned(),
        limit: metered.max.unwrap_or(i64::MAX),
        used,
    }
}

/// The answer to a call that repeats an earlier one.
fn replay(
    first: Earlier,
    metric: &str,
    quantity: i64,
    max: Option<i64>,
) -> Result<Recorded, AppError> {
    if first.metric != metric || first.quantity != quantity {
        return Err(AppError::conflict(
            "idempotencyKey",
            "this key was used for another metric or quantity",
        ));
    }
    Ok(Recorded {
        metric: first.metric,
        used: first.used_after,
        limit: max,
        duplicate: true,
    })
}

struct Earlier {
    metric: String,
    quantity: i64,
    used_after: i64,
}

async fn earlier<C: ConnectionTrait>(
    db: &C,
    business_id: Uuid,
    key: &str,
) -> Result<Option<Earlier>, AppError> {
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            "SELECT metric, quantity, used_after FROM usage_events \
             WHERE business_id = $1 AND idempotency_key = $2",
            [business_id.into(), key.to_owned().into()],
        ))
        .await?;
    row.map(|row| {
        Ok(Earlier {
            metric: row.try_get("", "metric")?,
            quantity: row.try_get("", "quantity")?,
            used_after: row.try_get("", "used_after")?,
        })
    })
    .transpose()
    .map_err(|err: sea_orm::DbErr| err.into())
}

async fn metered<C: ConnectionTrait>(
    db: &C,
    business_id: Uuid,
    metric: &str,
) -> Result<Metered, AppError> {
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            "SELECT s.id, s.status, s.current_period_start, l.metric AS limited, l.max, l.resets_each_period \
             FROM subscriptions s \
             LEFT JOIN plan_limits l ON l.plan_id = s.plan_id AND l.metric = $2 \
             WHERE s.business_id = $1",
            [business_id.into(), metric.to_owned().into()],
        ))
        .await?
        .ok_or(AppError::SubscriptionInactive)?;
    let limited: Option<String> = row.try_get("", "limited")?;
    if limited.is_none() {
        return Err(AppError::bad_input(
            "metric",
            format!("the plan has no metric {metric:?}"),
        ));
    }
    let status: String = row.try_get("", "status")?;
    Ok(Metered {
        subscription_id: row.try_get("", "id")?,
        status: status_from(&status)?,
        period_start: row.try_get("", "current_period_start")?,
        max: row.try_get("", "max")?,
        resets_each_period: row.try_get("", "resets_each_period")?,
    })
}

fn status_from(text: &str) -> Result<SubscriptionStatus, AppError> {
    use sea_orm::ActiveEnum;
    SubscriptionStatus::try_from_value(&text.to_owned()).map_err(AppError::from)
}

/// The conditional write: adds `quantity` when the result stays in `0..=max`; `None` when the
/// counter does not exist or the condition refused it.
async fn add<C: ConnectionTrait>(
    db: &C,
    m: &Metered,
    metric: &str,
    quantity: i64,
) -> Result<Option<i64>, AppError> {
    let backend = db.get_database_backend();
    let statement = match m.max {
        Some(max) => Statement::from_sql_and_values(
            backend,
            "UPDATE usage_counters SET used = used + $1 \
             WHERE subscription_id = $2 AND metric = $3 AND used + $1 >= 0 AND used + $1 <= $4 \
             RETURNING used",
            [
                quantity.into(),
                m.subscription_id.into(),
                metric.to_owned().into(),
                max.into(),
            ],
        ),
        None => Statement::from_sql_and_values(
            backend,
            "UPDATE usage_counters SET used = used + $1 \
             WHERE subscription_id = $2 AND metric = $3 AND used + $1 >= 0 \
             RETURNING used",
            [
                quantity.into(),
                m.subscription_id.into(),
                metric.to_owned().into(),
            ],
        ),
    };
    let row = db.query_one_raw(statement).await?;
    Ok(row.map(|row| row.try_get::<i64>("", "used")).transpose()?)
}

async fn exists<C: ConnectionTrait>(db: &C, m: &Metered, metric: &str) -> Result<bool, AppError> {
    Ok(counter_row(db, m, metric).await?.is_some())
}

async fn current<C: ConnectionTrait>(db: &C, m: &Metered, metric: &str) -> Result<i64, AppError> {
    Ok(counter_row(db, m, metric).await?.unwrap_or(0))
}

async fn counter_row<C: ConnectionTrait>(
    db: &C,
    m: &Metered,
    metric: &str,
) -> Result<Option<i64>, AppError> {
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            "SELECT used FROM usage_counters WHERE subscription_id = $1 AND metric = $2",
            [m.subscription_id.into(), metric.to_owned().into()],
        ))
        .await?;
    Ok(row.map(|row| row.try_get::<i64>("", "used")).transpose()?)
}

/// A metric's first use in a period creates its counter at zero.
async fn create_counter<C: ConnectionTrait>(
    db: &C,
    m: &Metered,
    metric: &str,
) -> Result<(), AppError> {
    db.execute_raw(Statement::from_sql_and_values(
        db.get_database_backend(),
        "INSERT INTO usage_counters (subscription_id, metric, used, period_start) \
         VALUES ($1, $2, 0, $3) ON CONFLICT (subscription_id, metric) DO NOTHING",
        [
            m.subscription_id.into(),
            metric.to_owned().into(),
            m.period_start.into(),
        ],
    ))
    .await?;
    Ok(())
}

/// Every metric of the business's plan with what it has used, in one query (plus one count of
/// seats for `members`).
pub async fn of_business(
    db: &DatabaseConnection,
    business_id: Uuid,
) -> Result<Vec<Usage>, AppError> {
    let backend = db.get_database_backend();
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            backend,
            "SELECT l.metric, l.max, l.resets_each_period, c.used, s.current_period_end \
             FROM subscriptions s \
             JOIN plan_limits l ON l.plan_id = s.plan_id \
             LEFT JOIN usage_counters c ON c.subscription_id = s.id AND c.metric = l.metric \
             WHERE s.business_id = $1 \
             ORDER BY l.metric",
            [business_id.into()],
        ))
        .await?;
    let mut usage = Vec::with_capacity(rows.len());
    for row in rows {
        let metric: String = row.try_get("", "metric")?;
        let resets: bool = row.try_get("", "resets_each_period")?;
        let used = if metric == "members" {
            seats(db, business_id).await?
        } else {
            row.try_get::<Option<i64>>("", "used")?.unwrap_or(0)
        };
        usage.push(Usage {
            metric,
            used,
            limit: row.try_get("", "max")?,
            resets_at: if resets {
                Some(row.try_get("", "current_period_end")?)
            } else {
                None
            },
        });
    }
    Ok(usage)
}

/// Seats taken: invited and active human members.
pub async fn seats<C: ConnectionTrait>(db: &C, business_id: Uuid) -> Result<i64, AppError> {
    let count = team_members::Entity::find()
        .filter(team_members::Column::BusinessId.eq(business_id))
        .filter(team_members::Column::Role.ne(Role::Sdk))
        .filter(team_members::Column::Status.is_in([MemberStatus::Invited, MemberStatus::Active]))
        .count(db)
        .await?;
    Ok(i64::try_from(count).unwrap_or(i64::MAX))
}
