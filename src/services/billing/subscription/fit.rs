//! What must fit a plan before a business is moved onto it: the seats and the counters in use,
//! read while the subscription is held exclusive so that nothing counts meanwhile.

use entity::{plan_limits, plans, subscriptions, usage_counters};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};

use crate::error::AppError;
use crate::services::usage::seats;

/// What must fit a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// What cannot shrink by itself: the seats and each counter that does not reset.
    Lasting,
    /// Everything in use now: the seats and every counter.
    Every,
}

/// Refuses `plan` when what is in use (by `scope`) exceeds its limits. Call it holding the
/// subscription exclusive, so that nothing counts meanwhile.
///
/// # Errors
/// `QUOTA_EXCEEDED` naming the first metric, in name order, that does not fit.
pub(crate) async fn fits<C: ConnectionTrait>(
    txn: &C,
    sub: &subscriptions::Model,
    plan: &plans::Model,
    scope: Scope,
) -> Result<(), AppError> {
    let mut limits = plan_limits::Entity::find()
        .filter(plan_limits::Column::PlanId.eq(plan.id))
        .order_by_asc(plan_limits::Column::Metric);
    if scope == Scope::Lasting {
        limits = limits.filter(plan_limits::Column::ResetsEachPeriod.eq(false));
    }
    let limits = limits.all(txn).await?;
    let counters = usage_counters::Entity::find()
        .filter(usage_counters::Column::SubscriptionId.eq(sub.id))
        .all(txn)
        .await?;
    for limit in limits {
        let Some(max) = limit.max else { continue };
        let used = if limit.metric == "members" {
            seats(txn, sub.business_id).await?
        } else {
            counters
                .iter()
                .find(|c| c.metric == limit.metric)
                .map_or(0, |c| c.used)
        };
        if used > max {
            return Err(AppError::QuotaExceeded {
                metric: limit.metric,
                limit: max,
                used,
            });
        }
    }
    Ok(())
}
