//! Staff's grants: a plan given at once (the seed's "unlimited plan for beta users"), and
//! free renewals of a paid plan. Each is one transaction with its audit entry.

use chrono::{DateTime, Utc};
use entity::{SubscriptionStatus, plans, subscriptions};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, TransactionSession,
    TransactionTrait,
};
use uuid::Uuid;

use super::subscription_of;
use crate::error::AppError;
use crate::services::billing::charges;
use crate::services::{audit, locks};

/// Staff puts `business_id` on `plan_id` at once (e.g. `unlimited` for a beta user), keeping
/// the current period; the subscription becomes active and any scheduled change is dropped.
/// The change and its audit entry are one transaction.
///
/// # Errors
/// `NOT_FOUND` for an unknown business or plan; `BAD_USER_INPUT` for an archived plan;
/// `CONFLICT` while a payment for the subscription is in progress. Like an edit of a plan's
/// limits, a grant does not ask that what is in use fits: staff may put a business on a
/// smaller plan, whose limits then apply to increases only.
pub async fn grant_plan<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    actor: Uuid,
    business_id: Uuid,
    plan_id: Uuid,
    now: DateTime<Utc>,
) -> Result<subscriptions::Model, AppError> {
    locks::retrying(|| grant_plan_once(db, actor, business_id, plan_id, now)).await
}

async fn grant_plan_once<C: ConnectionTrait + TransactionTrait>(
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
    let subscription = locks::subscription_exclusive(&txn, business_id).await?;
    charges::ensure_none_pending(&txn, subscription.id).await?;
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
/// `BAD_USER_INPUT` unless 1 ≤ `periods` ≤ 120; `NOT_FOUND` for an unknown business;
/// `CONFLICT` while a payment for the subscription is in progress.
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
    locks::retrying(|| grant_credit_periods_once(db, actor, business_id, periods, now)).await
}

async fn grant_credit_periods_once<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    actor: Uuid,
    business_id: Uuid,
    periods: i32,
    now: DateTime<Utc>,
) -> Result<subscriptions::Model, AppError> {
    let txn = crate::db::begin_write(db).await?;
    let subscription = locks::subscription_exclusive(&txn, business_id).await?;
    charges::ensure_none_pending(&txn, subscription.id).await?;
    subscriptions::Entity::update_many()
        .col_expr(
            subscriptions::Column::CreditPeriods,
            Expr::col(subscriptions::Column::CreditPeriods).add(periods),
        )
        .col_expr(subscriptions::Column::UpdatedAt, Expr::value(now))
        .filter(subscriptions::Column::Id.eq(subscription.id))
        .exec(&txn)
        .await?;
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
