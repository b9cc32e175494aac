//! One due subscription, settled exactly once.

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Utc};
use entity::{
    ChargePurpose, ChargeStatus, MemberStatus, Role, SubscriptionStatus, billing_charges,
    businesses, plans, subscriptions, team_members, users,
};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, TransactionSession, TransactionTrait,
};
use serde_json::json;
use uuid::Uuid;

use super::archive::{Span, archive_and_reset};
use super::decide::{self, Ending, Outcome, Paid};
use super::renew_one_statement::{self, Renewed};
use crate::error::AppError;
use crate::services::billing::charges::{self, Claim};
use crate::services::billing::periods::Period;
use crate::services::billing::provider::{BillingProvider, Decision};
use crate::services::billing::subscription::{Scope, fits};
use crate::services::outbox::{self, NewMail, Template};
use crate::services::{audit, locks};

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

/// Settles `sub` as the rules say, exactly once however many passes run at once.
///
/// - **No payment** (cancel at the period's end, a free plan, a credit period): one write,
///   conditional on the subscription as read — on PostgreSQL one statement when no plan change
///   is scheduled.
/// - **A payment**: claim, charge, commit ([`charges`]): a pending charge is written holding the
///   subscription exclusive, the provider is asked with no lock held, and its answer is written
///   holding it exclusive again. A declined renewal is asked again after
///   [`charges::RETRY_AFTER_DECLINE`], as a new attempt with a new key; one whose provider gave
///   no answer is asked again by the next pass with the same key.
/// - **A scheduled plan that no longer fits** what cannot shrink by itself (the seats, each
///   counter that does not reset) is declined: the subscription keeps its plan, the owner is
///   told by mail, and the renewal goes on on the current plan. The check and the renewal hold
///   the subscription exclusive, so nothing counts in between.
///
/// # Errors
/// The provider failed to answer (its attempt stays pending for the next pass), a plan is
/// missing, or the database failed; nothing of the renewal is written then.
#[tracing::instrument(skip_all, fields(subscription_id = %sub.id))]
pub async fn settle<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    sub: subscriptions::Model,
    plans: &HashMap<Uuid, plans::Model>,
    provider: &dyn BillingProvider,
    grace: TimeDelta,
    now: DateTime<Utc>,
) -> Result<Settled, AppError> {
    let mut sub = sub;
    // A declined schedule leaves a subscription with none: the second round cannot decline.
    for _ in 0..2 {
        let old_plan = plan_of(plans, sub.plan_id)?;
        let plan = plan_of(plans, decide::next_plan_id(&sub))?;
        let step = match decide::without_payment(&sub, plan) {
            Some(outcome) => without_charge(db, &sub, old_plan, plan, &outcome, now).await?,
            None => match claim(db, &sub, plan, grace, now).await? {
                Claimed::Charge(charge) => {
                    let decision = match provider.charge(&charges::request(&charge)).await {
                        Ok(decision) => decision,
                        Err(error) => {
                            if let Err(err) = charges::release(db, charge.id, now).await {
                                tracing::warn!(error = %err, "cannot release a charge's lease");
                            }
                            return Err(AppError::Internal(error));
                        }
                    };
                    Step::Settled(commit(db, &charge, plans, &decision, grace, now).await?)
                }
                Claimed::Not(step) => step,
            },
        };
        match step {
            Step::Settled(settled) => return Ok(settled),
            Step::Again(declined) => sub = declined,
        }
    }
    Ok(Settled::Skipped)
}

/// Where one round of [`settle`] ended.
enum Step {
    Settled(Settled),
    /// The scheduled plan was declined: settle the subscription as it is now.
    Again(subscriptions::Model),
}

enum Claimed {
    Charge(billing_charges::Model),
    Not(Step),
}

fn plan_of(plans: &HashMap<Uuid, plans::Model>, id: Uuid) -> Result<&plans::Model, AppError> {
    plans
        .get(&id)
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("plan {id} is missing")))
}

/// A renewal, expiry or decline that needs no payment, written at once.
async fn without_charge<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    sub: &subscriptions::Model,
    old_plan: &plans::Model,
    plan: &plans::Model,
    outcome: &Outcome,
    now: DateTime<Utc>,
) -> Result<Step, AppError> {
    let renews = matches!(outcome, Outcome::Renew(_));
    let plan_changed = plan.id != sub.plan_id;
    if let Outcome::Renew(paid) = outcome
        && !plan_changed
        && db.get_database_backend() == DbBackend::Postgres
    {
        let settled = renew_in_one_statement(db, sub, old_plan, plan, *paid, now).await?;
        return Ok(Step::Settled(settled));
    }
    let txn = crate::db::begin_write(db).await?;
    let locked = locks::subscription_exclusive(&txn, sub.business_id).await?;
    // A plan change being paid for settles first (nothing moves under a charge).
    if !same(&locked, sub) || charges::pending_of(&txn, sub.id).await?.is_some() {
        txn.rollback().await?;
        return Ok(Step::Settled(Settled::Skipped));
    }
    if renews
        && plan_changed
        && let Some(declined) = decline_unless_fits(&txn, sub, old_plan, plan, now).await?
    {
        txn.commit().await?;
        return Ok(Step::Again(declined));
    }
    let settled = write(&txn, sub, old_plan, plan, outcome, now).await?;
    txn.commit().await?;
    Ok(Step::Settled(settled))
}

/// Step 1 of a paid renewal: a pending charge for the plan the subscription continues on,
/// unless one is in flight, a decline is too recent to ask again, or the scheduled plan no
/// longer fits (then it is declined instead).
async fn claim<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    sub: &subscriptions::Model,
    plan: &plans::Model,
    grace: TimeDelta,
    now: DateTime<Utc>,
) -> Result<Claimed, AppError> {
    let txn = crate::db::begin_write(db).await?;
    let locked = locks::subscription_exclusive(&txn, sub.business_id).await?;
    // In flight, or cut off (then `run_once` asks again with its key).
    if !same(&locked, sub) || charges::pending_of(&txn, sub.id).await?.is_some() {
        txn.rollback().await?;
        return Ok(Claimed::Not(Step::Settled(Settled::Skipped)));
    }
    let grace_over = sub
        .current_period_end
        .checked_add_signed(grace)
        .is_some_and(|until| now >= until);
    if sub.status == SubscriptionStatus::PastDue && !grace_over {
        let last = charges::last_declined_renewal(&txn, sub).await?;
        if last.is_some_and(|at| now < at + charges::RETRY_AFTER_DECLINE) {
            txn.rollback().await?;
            return Ok(Claimed::Not(Step::Settled(Settled::StillPastDue)));
        }
    }
    if plan.id != sub.plan_id {
        let old_plan = plans::Entity::find_by_id(sub.plan_id)
            .one(&txn)
            .await?
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("the subscription has no plan")))?;
        if let Some(declined) = decline_unless_fits(&txn, sub, &old_plan, plan, now).await? {
            txn.commit().await?;
            return Ok(Claimed::Not(Step::Again(declined)));
        }
    }
    let claim = Claim {
        purpose: ChargePurpose::Renewal,
        plan,
        from_plan_id: Some(sub.plan_id),
        amount_cents: plan.price_cents,
    };
    let charge = charges::claim(&txn, sub, claim, now).await?;
    txn.commit().await?;
    Ok(Claimed::Charge(charge))
}

/// Step 3 of a paid renewal: writes the provider's answer for `charge` — the renewal when it
/// was approved and the subscription is still as claimed, past due or expired when declined —
/// holding the subscription exclusive. Also how the cycle finishes a renewal that was cut off.
///
/// # Errors
/// A plan is missing, or the database failed.
pub(super) async fn commit<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    charge: &billing_charges::Model,
    plans: &HashMap<Uuid, plans::Model>,
    decision: &Decision,
    grace: TimeDelta,
    now: DateTime<Utc>,
) -> Result<Settled, AppError> {
    let txn = crate::db::begin_write(db).await?;
    let sub = locks::subscription_exclusive(&txn, charge.business_id).await?;
    let old_plan = plan_of(plans, sub.plan_id)?;
    let plan = plan_of(plans, charge.plan_id)?;
    let as_claimed = sub.id == charge.subscription_id
        && sub.current_period_end == charge.period_end
        && matches!(
            sub.status,
            SubscriptionStatus::Active | SubscriptionStatus::PastDue
        )
        && Some(sub.plan_id) == charge.from_plan_id
        && decide::next_plan_id(&sub) == charge.plan_id
        && !sub.cancel_at_period_end;
    let settled = match decision {
        Decision::Declined { reason } => {
            let status = ChargeStatus::Declined;
            if !charges::settle(&txn, charge.id, status, Some(reason.clone()), now).await?
                || !as_claimed
            {
                Settled::Skipped
            } else {
                match decide::after_decline(&sub, grace, now, reason.clone()) {
                    Outcome::Wait => Settled::StillPastDue,
                    outcome => write(&txn, &sub, old_plan, plan, &outcome, now).await?,
                }
            }
        }
        Decision::Approved => {
            let declined = if as_claimed && plan.id != sub.plan_id {
                decline_unless_fits(&txn, &sub, old_plan, plan, now).await?
            } else {
                None
            };
            if !as_claimed || declined.is_some() {
                charges::settle_unapplied(&txn, charge, None, &plan.code, now).await?;
                Settled::Skipped
            } else if charges::settle(&txn, charge.id, ChargeStatus::Applied, None, now).await? {
                let outcome = Outcome::Renew(Paid::Provider);
                write(&txn, &sub, old_plan, plan, &outcome, now).await?
            } else {
                // Settled meanwhile by another pass: nothing more to write.
                Settled::Skipped
            }
        }
    };
    txn.commit().await?;
    Ok(settled)
}

/// Whether the row locked now is the subscription the pass read.
fn same(locked: &subscriptions::Model, read: &subscriptions::Model) -> bool {
    locked.current_period_end == read.current_period_end
        && locked.status == read.status
        && locked.plan_id == read.plan_id
        && locked.scheduled_plan_id == read.scheduled_plan_id
        && locked.cancel_at_period_end == read.cancel_at_period_end
        && locked.credit_periods == read.credit_periods
}

/// Declines `sub`'s scheduled `plan` when what cannot shrink by itself no longer fits it: the
/// schedule is cleared, audited, and the owner told by mail. Returns the subscription as it
/// then is; `None` when the plan fits (nothing written). Call it holding the subscription
/// exclusive.
async fn decline_unless_fits<C: ConnectionTrait>(
    txn: &C,
    sub: &subscriptions::Model,
    old_plan: &plans::Model,
    plan: &plans::Model,
    now: DateTime<Utc>,
) -> Result<Option<subscriptions::Model>, AppError> {
    let (metric, limit, used) = match fits(txn, sub, plan, Scope::Lasting).await {
        Ok(()) => return Ok(None),
        Err(AppError::QuotaExceeded {
            metric,
            limit,
            used,
        }) => (metric, limit, used),
        Err(other) => return Err(other),
    };
    let mut active: subscriptions::ActiveModel = sub.clone().into();
    active.scheduled_plan_id = Set(None);
    active.updated_at = Set(now);
    let declined = subscriptions::Entity::update(active).exec(txn).await?;
    let entry = audit::Entry {
        business_id: Some(sub.business_id),
        actor_user_id: None,
        action: "subscription.plan_change_declined",
        target: Some(plan.code.clone()),
        data: Some(
            json!({ "from": sub.plan_id, "to": plan.id, "metric": metric,
                           "limit": limit, "used": used }),
        ),
    };
    audit::record(txn, entry, now).await?;
    if let Some((to, name, business)) = owner(txn, sub.business_id).await? {
        let data = json!({ "name": name, "business": business, "from_plan": old_plan.name,
                           "to_plan": plan.name, "metric": metric, "used": used,
                           "limit": limit });
        let mail = NewMail {
            template: Template::PlanChangeDeclined,
            to,
            data,
        };
        // Handed to the queue by the outbox sweep within seconds.
        outbox::record(txn, mail, now).await?;
    }
    tracing::info!(
        metric,
        used,
        limit,
        "a scheduled plan change no longer fits; declined"
    );
    Ok(Some(declined))
}

/// The business's first active owner: e-mail, name, and the business's name.
async fn owner<C: ConnectionTrait>(
    db: &C,
    business_id: Uuid,
) -> Result<Option<(String, Option<String>, String)>, AppError> {
    let Some(member) = team_members::Entity::find()
        .filter(team_members::Column::BusinessId.eq(business_id))
        .filter(team_members::Column::Role.eq(Role::Owner))
        .filter(team_members::Column::Status.eq(MemberStatus::Active))
        .order_by_asc(team_members::Column::JoinedAt)
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let user = users::Entity::find_by_id(member.user_id).one(db).await?;
    let business = businesses::Entity::find_by_id(business_id).one(db).await?;
    Ok(user.zip(business).map(|(u, b)| (u.email, u.name, b.name)))
}

/// Writes `outcome` for `sub`: the new plan, period or status, the archived counters and the
/// audit entries, conditional on the subscription as read (`Skipped` when it changed).
async fn write<C: ConnectionTrait>(
    txn: &C,
    sub: &subscriptions::Model,
    old_plan: &plans::Model,
    plan: &plans::Model,
    outcome: &Outcome,
    now: DateTime<Utc>,
) -> Result<Settled, AppError> {
    let plan_changed = plan.id != sub.plan_id;
    let mut update = subscriptions::Entity::update_many()
        .col_expr(subscriptions::Column::PlanId, Expr::value(plan.id))
        .col_expr(
            subscriptions::Column::ScheduledPlanId,
            Expr::value(None::<uuid::Uuid>),
        )
        .col_expr(subscriptions::Column::UpdatedAt, Expr::value(now));
    let mut renewal = None;
    let status = match outcome {
        Outcome::Renew(paid) => {
            let (anchor, period) = decide::next_period(sub, old_plan, plan, now)
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
        .filter(as_read(sub))
        .exec(txn)
        .await?;
    if claimed.rows_affected == 0 {
        return Ok(Settled::Skipped);
    }
    let archived = match renewal {
        Some((_, period)) => {
            let span = Span {
                start: sub.current_period_start,
                end: period.start,
            };
            archive_and_reset(txn, sub.id, sub.plan_id, span, period.start).await?
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
        let data = plan_change_data(sub, plan);
        audit::record(txn, entry("subscription.plan_changed", data), now).await?;
    }
    let (action, data, settled) = match (outcome, renewal) {
        (_, Some((paid, period))) => {
            let mut data = renewed_data(sub, paid, period);
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
    audit::record(txn, entry(action, data), now).await?;
    Ok(settled)
}

/// [`settle`]'s renewal on PostgreSQL: the same writes as one statement (see
/// [`renew_one_statement`]).
async fn renew_in_one_statement<C: ConnectionTrait + TransactionTrait>(
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
    let renewal = || renew_one_statement::Renewal {
        plan_id: plan.id,
        plan_code: &plan.code,
        period,
        anchor,
        credits_spent: i32::from(paid == Paid::Credit),
        renewed: renewed_data(sub, paid, period),
        plan_changed: plan_changed.then(|| plan_change_data(sub, plan)),
    };
    // Alone, the statement is exact only when every resetting counter already exists: it
    // waits for the usage writes in flight at its UPDATE but reads the counters in the
    // snapshot it took before, so a counter created by a first use in flight would be neither
    // archived nor reset, and the old period's use would stay in the new one
    // (`billing_cycle::races::recordings_racing_a_renewal_…`). When one is missing it writes
    // nothing, and the renewal runs again after the subscription is locked in a statement of
    // its own: the statement then begins after every such write has committed.
    let renewed = match renew_one_statement::renew(db, sub, renewal(), true, now).await? {
        Renewed::CounterMissing => {
            let txn = crate::db::begin_write(db).await?;
            locks::subscription_exclusive(&txn, sub.business_id).await?;
            let renewed = renew_one_statement::renew(&txn, sub, renewal(), false, now).await?;
            txn.commit().await?;
            renewed
        }
        renewed => renewed,
    };
    Ok(match renewed {
        Renewed::Archived(_) => Settled::Renewed { plan_changed },
        Renewed::Skipped | Renewed::CounterMissing => Settled::Skipped,
    })
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
