//! Everything but the common case: first uses, refusals and their reasons, replays.

use chrono::{DateTime, Utc};
use entity::SubscriptionStatus;
use sea_orm::{ConnectionTrait, Statement};
use uuid::Uuid;

use super::Recorded;
use crate::error::AppError;

/// The subscription and the limit of one metric, read in one query.
pub(super) struct Metered {
    subscription_id: Uuid,
    status: SubscriptionStatus,
    period_start: DateTime<Utc>,
    pub(super) max: Option<i64>,
    resets_each_period: bool,
}

pub(super) enum Added {
    Counted { used: i64, limit: Option<i64> },
    Refused { error: AppError, limit: Option<i64> },
}

/// Why the fast path refused, step by step; creates the counter on a metric's first use.
pub(super) async fn add_slow<C: ConnectionTrait>(
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
pub(super) fn replay(
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

pub(super) struct Earlier {
    metric: String,
    quantity: i64,
    used_after: i64,
}

pub(super) async fn earlier<C: ConnectionTrait>(
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

pub(super) async fn metered<C: ConnectionTrait>(
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
