//! A business cancels its subscription (at the period's end, or at once) and takes a pending
//! cancellation back.

use chrono::{DateTime, Utc};
use entity::SubscriptionStatus;
use sea_orm::{ActiveValue::Set, ConnectionTrait, TransactionTrait};
use serde_json::json;
use uuid::Uuid;

use super::{ended, write};
use crate::error::AppError;
use crate::services::billing::charges;
use crate::services::locks;
use entity::subscriptions;

/// Ends the subscription at the end of its period (`at_period_end`, undone by [`resume`]), or
/// at once (EXPIRED). Asking again for a cancellation already pending changes nothing.
///
/// # Errors
/// `CONFLICT` when the subscription has already ended.
#[tracing::instrument(skip_all, fields(%business_id))]
pub async fn cancel<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    actor: Uuid,
    business_id: Uuid,
    at_period_end: bool,
    now: DateTime<Utc>,
) -> Result<subscriptions::Model, AppError> {
    locks::retrying(|| cancel_once(db, actor, business_id, at_period_end, now)).await
}

async fn cancel_once<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    actor: Uuid,
    business_id: Uuid,
    at_period_end: bool,
    now: DateTime<Utc>,
) -> Result<subscriptions::Model, AppError> {
    let txn = crate::db::begin_write(db).await?;
    let sub = locks::subscription_exclusive(&txn, business_id).await?;
    charges::ensure_none_pending(&txn, sub.id).await?;
    if ended(&sub) {
        return Err(AppError::conflict(
            "atPeriodEnd",
            "the subscription has already ended",
        ));
    }
    if at_period_end && sub.cancel_at_period_end {
        return Ok(sub);
    }
    let mut active: subscriptions::ActiveModel = sub.clone().into();
    active.updated_at = Set(now);
    let action = if at_period_end {
        active.cancel_at_period_end = Set(true);
        "subscription.cancel_scheduled"
    } else {
        active.status = Set(SubscriptionStatus::Expired);
        active.cancel_at_period_end = Set(false);
        active.scheduled_plan_id = Set(None);
        "subscription.canceled"
    };
    let data = json!({ "atPeriodEnd": at_period_end, "periodEnd": sub.current_period_end });
    write(txn, active, business_id, actor, action, None, data, now).await
}

/// Withdraws a pending cancellation: the subscription renews as before.
///
/// # Errors
/// `CONFLICT` when no cancellation is pending (or the subscription has already ended).
#[tracing::instrument(skip_all, fields(%business_id))]
pub async fn resume<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    actor: Uuid,
    business_id: Uuid,
    now: DateTime<Utc>,
) -> Result<subscriptions::Model, AppError> {
    locks::retrying(|| resume_once(db, actor, business_id, now)).await
}

async fn resume_once<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    actor: Uuid,
    business_id: Uuid,
    now: DateTime<Utc>,
) -> Result<subscriptions::Model, AppError> {
    let txn = crate::db::begin_write(db).await?;
    let sub = locks::subscription_exclusive(&txn, business_id).await?;
    charges::ensure_none_pending(&txn, sub.id).await?;
    if ended(&sub) || !sub.cancel_at_period_end {
        return Err(AppError::Conflict {
            field: None,
            message: "no cancellation is pending".to_owned(),
        });
    }
    let mut active: subscriptions::ActiveModel = sub.clone().into();
    active.cancel_at_period_end = Set(false);
    active.updated_at = Set(now);
    let data = json!({ "periodEnd": sub.current_period_end });
    write(
        txn,
        active,
        business_id,
        actor,
        "subscription.resumed",
        None,
        data,
        now,
    )
    .await
}
