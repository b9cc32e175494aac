//! A business changes its plan, as Stripe and Lago do it:
//!
//! - **now** keeps the current period and every counter (nothing resets, so switching plans
//!   never gives quota back); it needs everything in use — every counter, resetting ones
//!   included, and the seats — to fit the new plan;
//! - a **dearer** plan now costs the prorated difference for the rest of the period
//!   ([`charges::prorated`]), taken through the billing provider by claim, charge, commit: a
//!   decline changes nothing and says why (`PAYMENT_DECLINED`);
//! - **at the period's end** schedules the plan for the cycle; it needs the lasting metrics
//!   and the seats to fit now, and the cycle checks them again before it applies the plan;
//! - by **default** (no timing): a dearer plan now; anything else now when it fits, else at
//!   the period's end;
//! - a subscription that is **not active** (past due, expired, canceled) starts a new period
//!   on the new plan from now, paid in full first (nothing to pay on a free plan).

use chrono::{DateTime, Utc};
use entity::{
    ChargePurpose, ChargeStatus, SubscriptionStatus, billing_charges, plans, subscriptions,
};
use sea_orm::{
    ActiveValue::Set, ConnectionTrait, EntityTrait, TransactionSession, TransactionTrait,
};
use serde_json::json;
use uuid::Uuid;

use super::fit::{Scope, fits};
use super::{cadence, write};
use crate::error::AppError;
use crate::services::billing::charges::{self, Claim};
use crate::services::billing::cycle::{Span, archive_and_reset};
use crate::services::billing::provider::{BillingProvider, Decision};
use crate::services::{audit, locks};

/// When a plan change takes effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timing {
    /// Now, keeping the period and the counters; refused when what is in use does not fit.
    Immediately,
    /// The plan is scheduled and taken up by the cycle when the current period ends.
    AtPeriodEnd,
}

/// What the first transaction decided.
enum Step {
    Done(subscriptions::Model),
    /// Claimed: the provider must be asked, then [`commit`] writes the answer.
    Charge(billing_charges::Model),
}

/// Moves `business_id` to the public plan `plan_id` by the rules above.
///
/// # Errors
/// `NOT_FOUND` for an unknown plan; `BAD_USER_INPUT` on `planId` for a hidden or archived plan
/// (staff use `grantPlan`), the current plan, or a plan priced in another currency asked for
/// now; `QUOTA_EXCEEDED` naming the metric when what is in use does not fit; `CONFLICT` when
/// an ended subscription is asked to change at a period end it no longer has, or a payment
/// for the subscription is in progress; `PAYMENT_DECLINED` with the provider's reason; an
/// internal error when the provider gave no answer (the cycle asks it again later and
/// applies its answer).
#[tracing::instrument(skip_all, fields(%business_id, %plan_id))]
pub async fn change_plan<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    provider: &dyn BillingProvider,
    actor: Uuid,
    business_id: Uuid,
    plan_id: Uuid,
    timing: Option<Timing>,
    now: DateTime<Utc>,
) -> Result<subscriptions::Model, AppError> {
    let step = locks::retrying(|| decide(db, actor, business_id, plan_id, timing, now)).await?;
    let charge = match step {
        Step::Done(changed) => return Ok(changed),
        Step::Charge(charge) => charge,
    };
    let decision = match provider.charge(&charges::request(&charge)).await {
        Ok(decision) => decision,
        Err(error) => {
            // Still pending: the next pass of the cycle asks again with the same key.
            if let Err(err) = charges::release(db, charge.id, now).await {
                tracing::warn!(error = %err, "cannot release a charge's lease");
            }
            return Err(AppError::Internal(error));
        }
    };
    let committed = locks::retrying(|| commit(db, &charge, Some(actor), &decision, now)).await?;
    match decision {
        Decision::Approved => Ok(committed),
        Decision::Declined { reason } => Err(AppError::PaymentDeclined { reason }),
    }
}

/// The first transaction: checks, then changes at once, schedules, or claims a charge.
async fn decide<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    actor: Uuid,
    business_id: Uuid,
    plan_id: Uuid,
    timing: Option<Timing>,
    now: DateTime<Utc>,
) -> Result<Step, AppError> {
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
    if sub.plan_id == plan.id && sub.status == SubscriptionStatus::Active {
        return Err(AppError::bad_input(
            "planId",
            "the subscription is on this plan",
        ));
    }
    charges::ensure_none_pending(&txn, sub.id).await?;

    if sub.status != SubscriptionStatus::Active {
        if timing == Some(Timing::AtPeriodEnd) {
            return Err(AppError::conflict(
                "timing",
                "the subscription is not active; change the plan IMMEDIATELY to start again",
            ));
        }
        fits(&txn, &sub, &plan, restart_scope(&sub, now)).await?;
        if plan.price_cents <= 0 {
            let changed = apply(&txn, &sub, &plan, ChargePurpose::Restart, now).await?;
            audit_change(&txn, &sub, &plan, Some(actor), "immediately", 0, now).await?;
            txn.commit().await?;
            return Ok(Step::Done(changed));
        }
        charges::ensure_may_try(&txn, sub.id, now).await?;
        let claim = Claim {
            purpose: ChargePurpose::Restart,
            plan: &plan,
            from_plan_id: Some(sub.plan_id),
            amount_cents: plan.price_cents,
        };
        let charge = charges::claim(&txn, &sub, claim, now).await?;
        txn.commit().await?;
        return Ok(Step::Charge(charge));
    }

    let current = plans::Entity::find_by_id(sub.plan_id)
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("the subscription has no plan")))?;
    let same_currency = current.currency == plan.currency;
    let cost = if same_currency {
        charges::prorated(
            &current,
            &plan,
            sub.current_period_start,
            sub.current_period_end,
            now,
        )
    } else {
        0
    };
    let now_wanted = match timing {
        Some(Timing::Immediately) => true,
        Some(Timing::AtPeriodEnd) => false,
        None if !same_currency => false,
        None if cost > 0 => true,
        // Now when everything fits; a database error is an error, not "does not fit".
        None => match fits(&txn, &sub, &plan, Scope::Every).await {
            Ok(()) => true,
            Err(AppError::QuotaExceeded { .. }) => false,
            Err(other) => return Err(other),
        },
    };
    if !now_wanted {
        fits(&txn, &sub, &plan, Scope::Lasting).await?;
        let mut active: subscriptions::ActiveModel = sub.clone().into();
        active.scheduled_plan_id = Set(Some(plan.id));
        active.updated_at = Set(now);
        let data = json!({ "from": sub.plan_id, "to": plan.id, "timing": "at_period_end" });
        let action = "subscription.plan_change_scheduled";
        let changed = write(
            txn,
            active,
            business_id,
            actor,
            action,
            Some(plan.code),
            data,
            now,
        );
        return Ok(Step::Done(changed.await?));
    }
    if !same_currency {
        return Err(AppError::bad_input(
            "planId",
            "this plan is priced in another currency; change to it at the period's end",
        ));
    }
    fits(&txn, &sub, &plan, Scope::Every).await?;
    if cost > 0 {
        charges::ensure_may_try(&txn, sub.id, now).await?;
        let claim = Claim {
            purpose: ChargePurpose::PlanChange,
            plan: &plan,
            from_plan_id: Some(sub.plan_id),
            amount_cents: cost,
        };
        let charge = charges::claim(&txn, &sub, claim, now).await?;
        txn.commit().await?;
        return Ok(Step::Charge(charge));
    }
    let changed = apply(&txn, &sub, &plan, ChargePurpose::PlanChange, now).await?;
    audit_change(&txn, &sub, &plan, Some(actor), "immediately", 0, now).await?;
    txn.commit().await?;
    Ok(Step::Done(changed))
}

/// Step 3 of a paid change: writes the provider's answer for `charge` — the change when it was
/// approved and the subscription is still as claimed, the decline otherwise — and returns the
/// subscription as it then stands. Also how the cycle finishes a change that was cut off.
///
/// # Errors
/// `CONFLICT` when the charge was approved but what it paid for no longer fits (the charge is
/// left `unapplied` for staff to refund, and audited); database errors.
pub(crate) async fn commit<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    charge: &billing_charges::Model,
    actor: Option<Uuid>,
    decision: &Decision,
    now: DateTime<Utc>,
) -> Result<subscriptions::Model, AppError> {
    let txn = crate::db::begin_write(db).await?;
    let sub = locks::subscription_exclusive(&txn, charge.business_id).await?;
    let plan = plans::Entity::find_by_id(charge.plan_id)
        .one(&txn)
        .await?
        .ok_or(AppError::NotFound { what: "plan" })?;
    match decision {
        Decision::Declined { reason } => {
            if charges::settle(
                &txn,
                charge.id,
                ChargeStatus::Declined,
                Some(reason.clone()),
                now,
            )
            .await?
            {
                let data = json!({ "amountCents": charge.amount_cents, "reason": reason,
                                   "purpose": charge.purpose });
                record(
                    &txn,
                    &sub,
                    actor,
                    "subscription.charge_declined",
                    &plan,
                    data,
                    now,
                )
                .await?;
            }
            txn.commit().await?;
            return Ok(sub);
        }
        Decision::Approved => {}
    }
    let as_claimed = sub.current_period_end == charge.period_end
        && Some(sub.plan_id) == charge.from_plan_id
        && (sub.status == SubscriptionStatus::Active)
            == (charge.purpose == ChargePurpose::PlanChange);
    let scope = match charge.purpose {
        ChargePurpose::PlanChange => Scope::Every,
        _ => restart_scope(&sub, now),
    };
    let fit = if as_claimed {
        fits(&txn, &sub, &plan, scope).await
    } else {
        Ok(())
    };
    if !as_claimed || fit.is_err() {
        charges::settle_unapplied(&txn, charge, actor, &plan.code, now).await?;
        txn.commit().await?;
        fit?;
        return Err(AppError::Conflict {
            field: None,
            message: "the subscription changed while it was being paid for; the payment will \
                      be refunded"
                .to_owned(),
        });
    }
    if !charges::settle(&txn, charge.id, ChargeStatus::Applied, None, now).await? {
        // Settled meanwhile (the cycle finished it): nothing more to write.
        txn.commit().await?;
        return Ok(sub);
    }
    let changed = apply(&txn, &sub, &plan, charge.purpose, now).await?;
    audit_change(
        &txn,
        &sub,
        &plan,
        actor,
        "immediately",
        charge.amount_cents,
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(changed)
}

/// Puts `sub` on `plan` at once: a change keeps the period and the counters; a restart
/// archives what resets, starts a new period from `now` and makes the subscription active.
/// What of a restart's plan must fit what is in use: the lasting metrics when the restart
/// starts a new period (its resetting counters are archived and start again), every metric
/// when it cannot — a restart at the very instant the period started, which a time read
/// before the lock was granted can ask for — since [`apply`] then keeps the counters.
fn restart_scope(sub: &subscriptions::Model, now: DateTime<Utc>) -> Scope {
    if sub.current_period_start < now {
        Scope::Lasting
    } else {
        Scope::Every
    }
}

async fn apply<C: ConnectionTrait>(
    txn: &C,
    sub: &subscriptions::Model,
    plan: &plans::Model,
    purpose: ChargePurpose,
    now: DateTime<Utc>,
) -> Result<subscriptions::Model, AppError> {
    // A period never starts before the one it follows (see [`restart_scope`]).
    let now = now.max(sub.current_period_start);
    let mut active: subscriptions::ActiveModel = sub.clone().into();
    active.plan_id = Set(plan.id);
    active.scheduled_plan_id = Set(None);
    active.updated_at = Set(now);
    if purpose != ChargePurpose::PlanChange {
        if sub.current_period_start < now {
            let span = Span {
                start: sub.current_period_start,
                end: now
                    .min(sub.current_period_end)
                    .max(sub.current_period_start),
            };
            archive_and_reset(txn, sub.id, sub.plan_id, span, now).await?;
        }
        let end = cadence(plan)
            .boundary(now, 1)
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("period past the calendar")))?;
        active.status = Set(SubscriptionStatus::Active);
        active.current_period_start = Set(now);
        active.current_period_end = Set(end);
        active.period_anchor = Set(Some(now));
        active.cancel_at_period_end = Set(false);
    }
    Ok(subscriptions::Entity::update(active).exec(txn).await?)
}

async fn audit_change<C: ConnectionTrait>(
    txn: &C,
    sub: &subscriptions::Model,
    plan: &plans::Model,
    actor: Option<Uuid>,
    timing: &str,
    charged_cents: i64,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let data = json!({ "from": sub.plan_id, "to": plan.id, "timing": timing,
                       "chargedCents": charged_cents });
    record(
        txn,
        sub,
        actor,
        "subscription.plan_changed",
        plan,
        data,
        now,
    )
    .await
}

async fn record<C: ConnectionTrait>(
    txn: &C,
    sub: &subscriptions::Model,
    actor: Option<Uuid>,
    action: &'static str,
    plan: &plans::Model,
    data: serde_json::Value,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let entry = audit::Entry {
        business_id: Some(sub.business_id),
        actor_user_id: actor,
        action,
        target: Some(plan.code.clone()),
        data: Some(data),
    };
    audit::record(txn, entry, now).await
}
