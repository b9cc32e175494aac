//! Everything but the common case: first uses, refusals and their reasons, replays.

use chrono::{DateTime, Utc};
use entity::SubscriptionStatus;
use sea_orm::{ConnectionTrait, Statement};
use uuid::Uuid;

use super::Recorded;
use super::rule::{self, Standing};
use super::rule_as_update::add_fast;
use crate::error::AppError;

/// The subscription and the limit of one metric, read in one query.
pub(super) struct Metered {
    subscription_id: Uuid,
    pub(super) status: SubscriptionStatus,
    period_start: DateTime<Utc>,
    max: Option<i64>,
    resets_each_period: bool,
}

impl Metered {
    pub(super) fn subscription_id(&self) -> Uuid {
        self.subscription_id
    }

    /// How the counter stands for [`rule::judge`] when it is at `used`.
    pub(super) fn standing(&self, used: i64) -> Standing {
        Standing {
            active: self.status == SubscriptionStatus::Active,
            max: self.max,
            resets_each_period: self.resets_each_period,
            used,
        }
    }
}

pub(super) enum Added {
    Counted { used: i64, limit: Option<i64> },
    Refused(AppError),
}

/// How many times a refusal that the rule does not explain (the counter, plan or subscription
/// changed between the write and the look) is tried again.
const ATTEMPTS: usize = 3;

/// After the fast statement missed: creates the counter on a metric's first use, runs the
/// very same statement again, and when it still refuses, asks [`rule::judge`] why.
///
/// # Errors
/// `SUBSCRIPTION_INACTIVE` without a subscription; `BAD_USER_INPUT` on `metric` when the plan
/// does not have it; `CONFLICT` when the standing kept changing under the call.
pub(super) async fn add_slow<C: ConnectionTrait>(
    txn: &C,
    business_id: Uuid,
    metric: &str,
    quantity: i64,
) -> Result<Added, AppError> {
    for _ in 0..ATTEMPTS {
        let metered = metered(txn, business_id, metric).await?;
        if metered.status == SubscriptionStatus::Active {
            create_counter(txn, &metered, metric).await?;
        }
        if let Some((used, limit)) = add_fast(txn, business_id, metric, quantity).await? {
            return Ok(Added::Counted { used, limit });
        }
        let standing = metered.standing(current(txn, &metered, metric).await?);
        if let Err(refusal) = rule::judge(standing, quantity) {
            return Ok(Added::Refused(refusal.into_error(metric, standing)));
        }
    }
    Err(AppError::Conflict {
        field: None,
        message: "the usage changed while this call was judged; try again".to_owned(),
    })
}

/// The first answer, to a call that repeats an earlier one with its key: the same whatever
/// has changed since (plan, limit, subscription).
///
/// # Errors
/// `CONFLICT` on `idempotencyKey` when the key was used for another metric or quantity.
pub(super) fn replay(first: Earlier, metric: &str, quantity: i64) -> Result<Recorded, AppError> {
    if first.metric != metric || first.quantity != quantity {
        return Err(AppError::conflict(
            "idempotencyKey",
            "this key was used for another metric or quantity",
        ));
    }
    Ok(Recorded {
        metric: first.metric,
        used: first.used_after,
        limit: first.limit_after,
        duplicate: true,
    })
}

/// The recorded answer to the first call with a key.
#[derive(Debug, Clone)]
pub(super) struct Earlier {
    pub(super) metric: String,
    pub(super) quantity: i64,
    pub(super) used_after: i64,
    pub(super) limit_after: Option<i64>,
}

pub(super) async fn earlier<C: ConnectionTrait>(
    db: &C,
    business_id: Uuid,
    key: &str,
) -> Result<Option<Earlier>, AppError> {
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            "SELECT metric, quantity, used_after, limit_after FROM usage_events \
             WHERE business_id = $1 AND idempotency_key = $2",
            [business_id.into(), key.to_owned().into()],
        ))
        .await?;
    row.map(|row| {
        Ok(Earlier {
            metric: row.try_get("", "metric")?,
            quantity: row.try_get("", "quantity")?,
            used_after: row.try_get("", "used_after")?,
            limit_after: row.try_get("", "limit_after")?,
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

pub(super) async fn current<C: ConnectionTrait>(
    db: &C,
    m: &Metered,
    metric: &str,
) -> Result<i64, AppError> {
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
pub(super) async fn create_counter<C: ConnectionTrait>(
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
