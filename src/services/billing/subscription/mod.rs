//! Subscriptions: the one a business starts with, and staff's grants.

use chrono::{DateTime, Utc};
use entity::{PeriodUnit, SubscriptionStatus, plans, subscriptions};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, TransactionSession,
    TransactionTrait,
};
use uuid::Uuid;

use super::audit;
use super::periods::Cadence;
use crate::error::AppError;

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

/// Staff puts `business_id` on `plan_id` at once (e.g. `unlimited` for a beta user), keeping
/// the current period; the subscription becomes active and any scheduled change is dropped.
/// The change and its audit entry are one transaction.
///
/// # Errors
/// `NOT_FOUND` for an unknown business or plan; `BAD_USER_INPUT` for an archived plan.
pub async fn grant_plan<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    actor: Uuid,
    business_id: Uuid,
    plan_id: Uuid,
    now: DateTime<Utc>,
) -> Result<subscriptions::Model, AppError> {
    let txn = crate::db::begin_write(db).await?;
    let plan = plans::Entity::find_by_id(plan_id)
        .one(&txn)
        .await?
        .ok_or(AppError::NotFound { what: "plan" })?;
    if plan.archived_at.is_some() {
        return Err(AppError::bad_input("planId", "the plan is archived"));
    }
    let subscription = subscription_of(&txn, business_id).await?;
    let mut active: subscriptions::ActiveModel = subscription.into();
    active.plan_id = Set(plan.id);
    active.status = Set(SubscriptionStatus::Active);
    active.scheduled_plan_id = Set(None);
    active.updated_at = Set(now);
    let updated = subscriptions::Entity::update(active).exec(&txn).await?;
    audit::record(
        &txn,
        audit::Entry {
            business_id: Some(business_id),
            actor_user_id: Some(actor),
            action: "subscription.plan_granted",
            target: Some(plan.code.clone()),
            data: Some(serde_json::json!({ "planId": plan.id })),
        },
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(updated)
}

/// Most credit periods one grant may add.
pub const MAX_CREDIT_GRANT: i32 = 120;

/// Staff gives `business_id` `periods` free renewals of a paid plan; the grant and its audit
/// entry are one transaction.
///
/// # Errors
/// `BAD_USER_INPUT` unless 1 ≤ `periods` ≤ 120; `NOT_FOUND` for an unknown business.
pub async fn grant_credit_periods<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    actor: Uuid,
    business_id: Uuid,
    periods: i32,
    now: DateTime<Utc>,
) -> Result<subscriptions::Model, AppError> {
    if !(1..=MAX_CREDIT_GRANT).contains(&periods) {
        return Err(AppError::bad_input(
            "periods",
            format!("must be between 1 and {MAX_CREDIT_GRANT}"),
        ));
    }
    let txn = crate::db::begin_write(db).await?;
    let result = subscriptions::Entity::update_many()
        .col_expr(
            subscriptions::Column::CreditPeriods,
            Expr::col(subscriptions::Column::CreditPeriods).add(periods),
        )
        .col_expr(subscriptions::Column::UpdatedAt, Expr::value(now))
        .filter(subscriptions::Column::BusinessId.eq(business_id))
        .exec(&txn)
        .await?;
    if result.rows_affected == 0 {
        return Err(AppError::NotFound { what: "business" });
    }
    audit::record(
        &txn,
        audit::Entry {
            business_id: Some(business_id),
            actor_user_id: Some(actor),
            action: "subscription.credit_granted",
            target: None,
            data: Some(serde_json::json!({ "periods": periods })),
        },
        now,
    )
    .await?;
    let granted = subscription_of(&txn, business_id).await?;
    txn.commit().await?;
    Ok(granted)
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
