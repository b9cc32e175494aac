//! A business changes its plan: now (a new period on the new plan) or at the end of the
//! period (scheduled, taken up by the cycle). Refused when what cannot shrink by itself —
//! seats, counters that do not reset — already exceeds the new plan's limits.

use chrono::{DateTime, Utc};
use entity::{SubscriptionStatus, plan_limits, plans, subscriptions, usage_counters};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, TransactionTrait,
};
use serde_json::json;
use uuid::Uuid;

use super::{cadence, ended, write};
use crate::error::AppError;
use crate::services::billing::cycle::{Span, archive_and_reset};
use crate::services::locks;
use crate::services::usage::seats;

/// When a plan change takes effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timing {
    /// A new period on the new plan starts now; resetting counters are archived and reset.
    Immediately,
    /// The plan is scheduled and taken up by the cycle when the current period ends.
    AtPeriodEnd,
}

/// Moves `business_id` to the public plan `plan_id`, now or at the end of the period.
///
/// # Errors
/// `NOT_FOUND` for an unknown plan; `BAD_USER_INPUT` on `planId` for a hidden or archived plan
/// (staff use `grantPlan`) or the current plan; `QUOTA_EXCEEDED` naming the metric when the
/// members or a non-resetting counter already exceed the plan's limit; `CONFLICT` when an
/// expired subscription is asked to change at a period end it no longer has.
#[tracing::instrument(skip_all, fields(%business_id, %plan_id))]
pub async fn change_plan<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    actor: Uuid,
    business_id: Uuid,
    plan_id: Uuid,
    timing: Timing,
    now: DateTime<Utc>,
) -> Result<subscriptions::Model, AppError> {
    let txn = crate::db::begin_write(db).await?;
    let plan = plans::Entity::find_by_id(plan_id)
        .one(&txn)
        .await?
        .ok_or(AppError::NotFound { what: "plan" })?;
    if !plan.is_public || plan.archived_at.is_some() {
        return Err(AppError::bad_input("planId", "this plan is not offered"));
    }
    let sub = locks::subscription_exclusive(&txn, business_id).await?;
    // `now` was read before the lock was granted; a change that committed meanwhile may have
    // started its period later, and a period never starts before the one it follows.
    let now = now.max(sub.current_period_start);
    if sub.plan_id == plan.id {
        return Err(AppError::bad_input(
            "planId",
            "the subscription is on this plan",
        ));
    }
    fits(&txn, &sub, &plan).await?;
    let mut active: subscriptions::ActiveModel = sub.clone().into();
    active.updated_at = Set(now);
    let (action, data) = match timing {
        Timing::Immediately => {
            if sub.current_period_start < now {
                let span = Span {
                    start: sub.current_period_start,
                    end: now,
                };
                archive_and_reset(&txn, sub.id, sub.plan_id, span, now).await?;
            }
            let end = cadence(&plan)
                .boundary(now, 1)
                .ok_or_else(|| AppError::Internal(anyhow::anyhow!("period past the calendar")))?;
            active.plan_id = Set(plan.id);
            active.status = Set(SubscriptionStatus::Active);
            active.current_period_start = Set(now);
            active.current_period_end = Set(end);
            active.period_anchor = Set(Some(now));
            active.scheduled_plan_id = Set(None);
            if ended(&sub) {
                active.cancel_at_period_end = Set(false);
            }
            ("subscription.plan_changed", "immediately")
        }
        Timing::AtPeriodEnd => {
            if ended(&sub) {
                return Err(AppError::conflict(
                    "timing",
                    "the subscription has ended; change the plan IMMEDIATELY to start again",
                ));
            }
            active.scheduled_plan_id = Set(Some(plan.id));
            ("subscription.plan_change_scheduled", "at_period_end")
        }
    };
    let data = json!({ "from": sub.plan_id, "to": plan.id, "timing": data });
    write(
        txn,
        active,
        business_id,
        actor,
        action,
        Some(plan.code),
        data,
        now,
    )
    .await
}

/// Refuses a plan whose limits what cannot shrink by itself already exceeds: the members
/// (seats), and each counter that does not reset. Resetting counters start over anyway.
async fn fits<C: ConnectionTrait>(
    txn: &C,
    sub: &subscriptions::Model,
    plan: &plans::Model,
) -> Result<(), AppError> {
    let limits = plan_limits::Entity::find()
        .filter(plan_limits::Column::PlanId.eq(plan.id))
        .filter(plan_limits::Column::ResetsEachPeriod.eq(false))
        .all(txn)
        .await?;
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
