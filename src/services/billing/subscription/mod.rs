//! Subscriptions: the one a business starts with, and every change to it.
//!
//! Files, in reading order:
//! - this file: starting a business on the default plan, reading a subscription, and what the
//!   changes below share (the exclusive lock on the subscription row, the audited write);
//! - [`change`]: the business moves to another public plan, now (paid for when dearer) or at
//!   the period's end;
//! - [`cancel`]: cancel (at the period's end or at once) and resume;
//! - [`grant`]: staff's grants of a plan or of free renewals.
//!
//! Each change locks the subscription exclusive ([`crate::services::locks`]), checks
//! everything before it writes, and writes the change with its audit entry in the same
//! transaction: a refused call leaves the subscription as it was. A change that must be paid
//! for is claimed, charged and committed ([`super::charges`]); while a payment is in progress
//! every other change is refused with `CONFLICT`.

use chrono::{DateTime, Utc};
use entity::{PeriodUnit, SubscriptionStatus, plans, subscriptions};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, TransactionSession};
use uuid::Uuid;

use super::periods::Cadence;
use crate::error::AppError;
use crate::services::audit;

mod cancel;
mod change;
mod fit;
mod grant;

pub use cancel::{cancel, resume};
pub(crate) use change::commit as commit_paid_change;
pub use change::{Timing, change_plan};
pub(crate) use fit::{Scope, fits};
pub use grant::{MAX_CREDIT_GRANT, grant_credit_periods, grant_plan};

/// The end of `periods` billing periods of `count` `unit`s from `anchor` (see
/// [`Cadence::boundary`]); the calendar's last instant when that lies beyond it.
pub fn period_end(
    anchor: DateTime<Utc>,
    periods: u32,
    count: u32,
    unit: PeriodUnit,
) -> DateTime<Utc> {
    Cadence { count, unit }
        .boundary(anchor, periods)
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// A plan's billing period.
pub fn cadence(plan: &plans::Model) -> Cadence {
    Cadence::of(plan.period_count, plan.period_unit)
}

/// The default plan new businesses start on.
///
/// # Errors
/// Internal when no default plan exists (the seed guarantees one).
pub async fn default_plan<C: ConnectionTrait>(db: &C) -> Result<plans::Model, AppError> {
    plans::Entity::find()
        .filter(plans::Column::IsDefault.eq(true))
        .one(db)
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("there is no default plan")))
}

/// Starts `business_id` on the default plan, active from `now` for one period.
pub async fn start<C: ConnectionTrait>(
    db: &C,
    business_id: Uuid,
    now: DateTime<Utc>,
) -> Result<subscriptions::Model, AppError> {
    let plan = default_plan(db).await?;
    let subscription = subscriptions::Model {
        id: Uuid::now_v7(),
        business_id,
        plan_id: plan.id,
        status: SubscriptionStatus::Active,
        current_period_start: now,
        current_period_end: period_end(now, 1, cadence(&plan).count, plan.period_unit),
        period_anchor: Some(now),
        cancel_at_period_end: false,
        scheduled_plan_id: None,
        credit_periods: 0,
        created_at: now,
        updated_at: now,
    };
    subscriptions::Entity::insert(subscriptions::ActiveModel::from(subscription.clone()))
        .exec_without_returning(db)
        .await?;
    Ok(subscription)
}

/// The subscription of `business_id`.
///
/// # Errors
/// `NOT_FOUND` when the business has none (it does not exist).
pub async fn subscription_of<C: ConnectionTrait>(
    db: &C,
    business_id: Uuid,
) -> Result<subscriptions::Model, AppError> {
    subscriptions::Entity::find()
        .filter(subscriptions::Column::BusinessId.eq(business_id))
        .one(db)
        .await?
        .ok_or(AppError::NotFound { what: "business" })
}

pub(super) fn ended(sub: &subscriptions::Model) -> bool {
    matches!(
        sub.status,
        SubscriptionStatus::Expired | SubscriptionStatus::Canceled
    )
}

#[allow(clippy::too_many_arguments)]
pub(super) async fn write<T: ConnectionTrait + TransactionSession>(
    txn: T,
    active: subscriptions::ActiveModel,
    business_id: Uuid,
    actor: Uuid,
    action: &str,
    target: Option<String>,
    data: serde_json::Value,
    now: DateTime<Utc>,
) -> Result<subscriptions::Model, AppError> {
    let updated = subscriptions::Entity::update(active).exec(&txn).await?;
    let entry = audit::Entry {
        business_id: Some(business_id),
        actor_user_id: Some(actor),
        action,
        target,
        data: Some(data),
    };
    audit::record(&txn, entry, now).await?;
    txn.commit().await?;
    Ok(updated)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, 12, 0, 0)
            .single()
            .expect("a date")
    }

    #[test]
    fn months_are_anchored_on_the_start_day() {
        let jan31 = at(2027, 1, 31);
        assert_eq!(period_end(jan31, 1, 1, PeriodUnit::Month), at(2027, 2, 28));
        assert_eq!(period_end(jan31, 2, 1, PeriodUnit::Month), at(2027, 3, 31));
        assert_eq!(
            period_end(at(2028, 1, 31), 1, 1, PeriodUnit::Month),
            at(2028, 2, 29)
        );
        assert_eq!(period_end(jan31, 1, 1, PeriodUnit::Year), at(2028, 1, 31));
        assert_eq!(period_end(jan31, 3, 2, PeriodUnit::Week), at(2027, 3, 14));
        assert_eq!(period_end(jan31, 1, 10, PeriodUnit::Day), at(2027, 2, 10));
    }
}
