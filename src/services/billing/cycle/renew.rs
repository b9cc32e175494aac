//! One due subscription, settled exactly once.

use chrono::{DateTime, TimeDelta, Utc};
use entity::{SubscriptionStatus, plans, subscriptions};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, TransactionSession,
    TransactionTrait,
};
use serde_json::json;

use super::archive::{Span, archive_and_reset};
use super::decide::{self, Ending, Outcome, Paid};
use super::renew_one_statement;
use crate::error::AppError;
use crate::services::audit;
use crate::services::billing::periods::Period;
use crate::services::billing::provider::{BillingProvider, Charge, Decision};

/// What became of one due subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    Renewed {
        plan_changed: bool,
    },
    Expired {
        plan_changed: bool,
    },
    PastDue {
        plan_changed: bool,
    },
    /// Declined again within the grace period.
    StillPastDue,
    /// Another pass (or a person) changed it since it was read: left to them.
    Skipped,
}

/// Settles `sub` as the rules say. The charge, when one is needed, is asked before the
/// transaction (with a key that is the same for every attempt at this period); the write is
/// one transaction whose first statement updates the subscription only if it is still as
/// read — the period it ends included — so concurrent passes settle it once.
///
/// # Errors
/// The provider failed to answer, a plan is missing, or the database failed; nothing of this
/// subscription is written then.
#[tracing::instrument(skip_all, fields(subscription_id = %sub.id))]
pub async fn settle<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    sub: subscriptions::Model,
    plans: &std::collections::HashMap<uuid::Uuid, plans::Model>,
    provider: &dyn BillingProvider,
    grace: TimeDelta,
    now: DateTime<Utc>,
) -> Result<Settled, AppError> {
    let missing = || AppError::Internal(anyhow::anyhow!("subscription {} has no plan", sub.id));
    let old_plan = plans.get(&sub.plan_id).ok_or_else(missing)?;
    let plan = plans.get(&decide::next_plan_id(&sub)).ok_or_else(missing)?;
    let outcome = match decide::without_payment(&sub, plan) {
        Some(outcome) => outcome,
        None => match provider.charge(&charge_for(&sub, plan)).await? {
            Decision::Approved => Outcome::Renew(Paid::Provider),
            Decision::Declined { reason } => decide::after_decline(&sub, grace, now, reason),
        },
    };
    if outcome == Outcome::Wait {
        return Ok(Settled::StillPastDue);
    }
    let plan_changed = plan.id != sub.plan_id;
    if let Outcome::Renew(paid) = outcome
        && db.get_database_backend() == DbBackend::Postgres
    {
        return renew_in_one_statement(db, &sub, old_plan, plan, paid, now).await;
    }
    let txn = crate::db::begin_write(db).await?;
    let mut update = subscriptions::Entity::update_many()
        .col_expr(subscriptions::Column::PlanId, Expr::value(plan.id))
        .col_expr(
            subscriptions::Column::ScheduledPlanId,
            Expr::value(None::<uuid::Uuid>),
        )
        .col_expr(subscriptions::Column::UpdatedAt, Expr::value(now));
    let mut renewal = None;
    let status = match &outcome {
        Outcome::Renew(paid) => {
            let (anchor, period) = decide::next_period(&sub, old_plan, plan, now)
                .ok_or_else(|| AppError::Internal(anyhow::anyhow!("period past the calendar")))?;
            update = update
                .col_expr(
                    subscriptions::Column::CurrentPeriodStart,
                    Expr::value(period.start),
                )
                .col_expr(
                    subscriptions::Column::CurrentPeriodEnd,
                    Expr::value(period.end),
                )
                .col_expr(subscriptions::Column::PeriodAnchor, Expr::value(anchor));
            if *paid == Paid::Credit {
                update = update.col_expr(
                    subscriptions::Column::CreditPeriods,
                    Expr::col(subscriptions::Column::CreditPeriods).sub(1),
                );
            }
            renewal = Some((*paid, period));
            SubscriptionStatus::Active
        }
        Outcome::Expire(_) => SubscriptionStatus::Expired,
        Outcome::PastDue { .. } | Outcome::Wait => SubscriptionStatus::PastDue,
    };
    let claimed = update
        .col_expr(subscriptions::Column::Status, Expr::value(status))
        .filter(as_read(&sub))
        .exec(&txn)
        .await?;
    if claimed.rows_affected == 0 {
        txn.rollback().await?;
        return Ok(Settled::Skipped);
    }
    let archived = match renewal {
        Some((_, period)) => {
            let span = Span {
                start: sub.current_period_start,
                end: period.start,
            };
            archive_and_reset(&txn, sub.id, sub.plan_id, span, period.start).await?
        }
        None => 0,
    };
    let entry = |action, data| audit::Entry {
        business_id: Some(sub.business_id),
        actor_user_id: None,
        action,
        target: Some(plan.code.clone()),
        data: Some(data),
    };
    if plan_changed {
        let data = plan_change_data(&sub, plan);
        audit::record(&txn, entry("subscription.plan_changed", data), now).await?;
    }
    let (action, data, settled) = match (&outcome, renewal) {
        (_, Some((paid, period))) => {
            let mut data = renewed_data(&sub, paid, period);
            data["countersArchived"] = archived.into();
            (
                "subscription.renewed",
                data,
                Settled::Renewed { plan_changed },
            )
        }
        (Outcome::Expire(ending), _) => (
            "subscription.expired",
            json!({ "reason": match ending { Ending::Canceled => "canceled", Ending::Unpaid => "unpaid" } }),
            Settled::Expired { plan_changed },
        ),
        (Outcome::PastDue { reason }, _) => (
            "subscription.past_due",
            json!({ "reason": reason, "periodEnd": sub.current_period_end }),
            Settled::PastDue { plan_changed },
        ),
        _ => return Err(AppError::Internal(anyhow::anyhow!("unreachable outcome"))),
    };
    audit::record(&txn, entry(action, data), now).await?;
    txn.commit().await?;
    Ok(settled)
}

/// [`settle`]'s renewal on PostgreSQL: the same writes as one statement (see
/// [`renew_one_statement`]).
async fn renew_in_one_statement<C: ConnectionTrait>(
    db: &C,
    sub: &subscriptions::Model,
    old_plan: &plans::Model,
    plan: &plans::Model,
    paid: Paid,
    now: DateTime<Utc>,
) -> Result<Settled, AppError> {
    let (anchor, period) = decide::next_period(sub, old_plan, plan, now)
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("period past the calendar")))?;
    let plan_changed = plan.id != sub.plan_id;
    let renewal = renew_one_statement::Renewal {
        plan_id: plan.id,
        plan_code: &plan.code,
        period,
        anchor,
        credits_spent: i32::from(paid == Paid::Credit),
        renewed: renewed_data(sub, paid, period),
        plan_changed: plan_changed.then(|| plan_change_data(sub, plan)),
    };
    Ok(
        match renew_one_statement::renew(db, sub, renewal, now).await? {
            Some(_) => Settled::Renewed { plan_changed },
            None => Settled::Skipped,
        },
    )
}

/// The `subscription.renewed` audit data, but how many counters were archived.
fn renewed_data(sub: &subscriptions::Model, paid: Paid, period: Period) -> serde_json::Value {
    json!({ "paidWith": paid.as_str(), "periodStart": period.start, "periodEnd": period.end,
            "archivedFrom": sub.current_period_start })
}

fn plan_change_data(sub: &subscriptions::Model, plan: &plans::Model) -> serde_json::Value {
    json!({ "from": sub.plan_id, "to": plan.id, "scheduled": true })
}

/// The subscription exactly as the cycle read it: the period it ends and every input of the
/// rules. A change by anyone else in between makes the update match no row.
fn as_read(sub: &subscriptions::Model) -> sea_orm::Condition {
    let scheduled = match sub.scheduled_plan_id {
        Some(id) => subscriptions::Column::ScheduledPlanId.eq(id),
        None => subscriptions::Column::ScheduledPlanId.is_null(),
    };
    sea_orm::Condition::all()
        .add(subscriptions::Column::Id.eq(sub.id))
        .add(subscriptions::Column::CurrentPeriodEnd.eq(sub.current_period_end))
        .add(subscriptions::Column::Status.eq(sub.status))
        .add(subscriptions::Column::PlanId.eq(sub.plan_id))
        .add(scheduled)
        .add(subscriptions::Column::CancelAtPeriodEnd.eq(sub.cancel_at_period_end))
        .add(subscriptions::Column::CreditPeriods.eq(sub.credit_periods))
}

fn charge_for(sub: &subscriptions::Model, plan: &plans::Model) -> Charge {
    Charge {
        subscription_id: sub.id,
        business_id: sub.business_id,
        plan_id: plan.id,
        amount_cents: plan.price_cents,
        currency: plan.currency.clone(),
        period_end: sub.current_period_end,
        idempotency_key: format!("{}:{}", sub.id, sub.current_period_end.timestamp()),
    }
}
